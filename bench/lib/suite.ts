// The child side of a suite: run.ts starts each suite as its own process (so
// peak RSS and heap state do not leak between suites) and hands it a context
// through RAUTA_BENCH_CONTEXT; the suite writes its rows to ctx.outFile.
// A suite can also run alone: `npx tsx bench/suites/<name>.ts [--quick]`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfUnavailableReason } from '../../testbed/bpf-env.js';
import { formatTable, makeRow, unavailableRow, type Goal, type Row, type RowInput } from './report.js';

export type BenchLevel = 'full' | 'quick' | 'smoke';

export interface SuiteContext {
  /** full: the figures of record; quick: a fast run with every row; smoke: the smallest sizes (tests) */
  level: BenchLevel;
  /** prefix for bpffs pin dirs; run.ts unpins everything under it after the child exits */
  pinPrefix: string;
  /** scratch dir for repos, logs, redis data; run.ts removes it after the child exits */
  tmpRoot: string;
  outFile: string;
}

export interface SuiteResult {
  suite: string;
  rows: Row[];
  /** process.resourceUsage().maxRSS of this suite's process, in KiB */
  maxRssKb: number;
  wallMs: number;
  error?: string;
}

export interface SuiteApi {
  ctx: SuiteContext;
  /** a size by level */
  size<T>(full: T, quick: T, smoke: T): T;
  row(input: RowInput): void;
  unavailable(name: string, unit: string, why: string, goal?: Goal): void;
  /** progress on stderr (the parent passes it through) */
  log(msg: string): void;
  /** a unique pin dir under the suite's prefix */
  pinDir(tag: string): string;
  /** cleanup that must also run when run.ts stops the suite (SIGTERM): namespaces, child processes */
  onAbort(fn: () => Promise<void> | void): void;
}

function contextFromEnv(): { ctx: SuiteContext; standalone: boolean } {
  const raw = process.env.RAUTA_BENCH_CONTEXT;
  if (raw) return { ctx: JSON.parse(raw) as SuiteContext, standalone: false };
  const tmpRoot = mkdtempSync(join(tmpdir(), 'rauta-bench-'));
  return {
    ctx: {
      level: process.argv.includes('--smoke') ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full',
      pinPrefix: `/sys/fs/bpf/rauta-bench-${process.pid}`,
      tmpRoot,
      outFile: join(tmpRoot, 'result.json'),
    },
    standalone: true,
  };
}

export type Need = 'bpf' | 'git' | 'redis' | 'wrk' | 'nginx';

/** The command that proves a tool is installed, and the Debian package that brings it (scripts/setup.sh installs them). */
const TOOLS: Record<Exclude<Need, 'bpf'>, { cmd: string; args: string[]; pkg: string }> = {
  git: { cmd: 'git', args: ['--version'], pkg: 'git' },
  redis: { cmd: 'redis-server', args: ['--version'], pkg: 'redis-server' },
  wrk: { cmd: 'wrk', args: ['--version'], pkg: 'wrk' }, // exits 1 after printing its version
  nginx: { cmd: 'nginx', args: ['-v'], pkg: 'nginx-light' },
};

/** Why `need` is not met on this machine, or null when it is. */
export function missing(need: Need): string | null {
  if (need === 'bpf') return bpfUnavailableReason();
  const { cmd, args, pkg } = TOOLS[need];
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  const ran = !r.error && r.status !== null && (r.status === 0 || need === 'wrk');
  return ran ? null : `${cmd} is not installed (apt-get install -y ${pkg})`;
}

/**
 * Run one suite body; rows recorded before a failure are kept and the error is
 * reported. When something in `needs` is missing the suite prints one
 * "not available" row with the reason instead of failing or guessing.
 */
export async function runSuite(suite: string, body: (api: SuiteApi) => Promise<void>, needs: Need[] = []): Promise<void> {
  const { ctx, standalone } = contextFromEnv();
  const started = performance.now();
  const rows: Row[] = [];
  let pins = 0;
  const aborts: Array<() => Promise<void> | void> = [];
  const api: SuiteApi = {
    ctx,
    size: (full, quick, smoke) => (ctx.level === 'full' ? full : ctx.level === 'quick' ? quick : smoke),
    row: (input) => void rows.push(makeRow(suite, input)),
    unavailable: (name, unit, why, goal) => void rows.push(unavailableRow(suite, name, unit, why, goal)),
    log: (msg) => process.stderr.write(`[${suite}] ${msg}\n`),
    pinDir: (tag) => `${ctx.pinPrefix}-${tag}-${pins++}`,
    onAbort: (fn) => void aborts.push(fn),
  };
  mkdirSync(ctx.tmpRoot, { recursive: true });
  // run.ts stops an overdue suite with SIGTERM: run the abort cleanups (bounded), then exit
  // through process.exit so 'exit' handlers run (the test redis helper kills its server there).
  process.once('SIGTERM', () => {
    const bounded = Promise.race([Promise.allSettled(aborts.map((fn) => fn())), new Promise((r) => setTimeout(r, 10_000))]);
    void bounded.finally(() => process.exit(143));
  });
  let error: string | undefined;
  const unmet = needs.map(missing).filter((r): r is string => r !== null);
  try {
    if (unmet.length > 0) api.unavailable(`every row of ${suite}`, '–', unmet.join('; '));
    else await body(api);
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`[${suite}] failed: ${error}\n`);
  }
  const result: SuiteResult = { suite, rows, maxRssKb: process.resourceUsage().maxRSS, wallMs: performance.now() - started, ...(error ? { error } : {}) };
  writeFileSync(ctx.outFile, JSON.stringify(result, null, 2));
  if (standalone) {
    console.log(formatTable(rows));
    console.log(`peak RSS ${(result.maxRssKb / 1024).toFixed(0)} MiB, ${(result.wallMs / 1000).toFixed(1)} s`);
    rmSync(ctx.tmpRoot, { recursive: true, force: true });
  }
  process.exitCode = error ? 1 : 0;
}
