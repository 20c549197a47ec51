// `npm run bench [-- --quick] [-- --only a,b] [-- --json]`: every suite in its own
// child process, one after the other (the machine has 2 cores; parallel suites
// would measure each other). Prints the table, writes bench/results/latest.json,
// and removes every suite's pin dirs and scratch dir, also when a suite fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, type Row } from './lib/report.js';
import type { BenchLevel, SuiteContext, SuiteResult } from './lib/suite.js';

/** In the order of issue 8 (watcher-start, issue 16, beside git-diff), then issue 11's connections, issue 13's Maglev and issue 15's health. */
const SUITES = [
  'datapath',
  'commit-to-applied',
  'full-sync',
  'scale',
  'minimality',
  'git-diff',
  'watcher-start',
  'event-log',
  'connections',
  'maglev',
  'health',
] as const;

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const BPFFS = '/sys/fs/bpf';
/** A suite that runs longer than this is stopped (SIGTERM, then SIGKILL) and reported as failed. */
const SUITE_TIMEOUT_MS = { quick: 5 * 60_000, full: 30 * 60_000 };

interface Args {
  level: BenchLevel;
  only: string[] | null;
  json: boolean;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { level: 'full', only: null, json: false, out: join(BENCH_DIR, 'results', 'latest.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.level = 'quick';
    else if (a === '--smoke') args.level = 'smoke';
    else if (a === '--json') args.json = true;
    else if (a === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--out') args.out = argv[++i] ?? args.out;
    else if (a === '--help' || a === '-h') {
      console.log(`usage: npm run bench -- [--quick | --smoke] [--only ${SUITES.join(',')}] [--json] [--out FILE]`);
      process.exit(0);
    } else {
      console.error(`bench: unknown argument ${a} (try --help)`);
      process.exit(2);
    }
  }
  for (const s of args.only ?? []) {
    if (!(SUITES as readonly string[]).includes(s)) {
      console.error(`bench: unknown suite ${s}; suites: ${SUITES.join(', ')}`);
      process.exit(2);
    }
  }
  return args;
}

/** Remove pins a suite left behind (a crash or a kill skips its own cleanup). */
function sweepPins(prefix: string): string[] {
  const base = prefix.slice(BPFFS.length + 1);
  const removed: string[] = [];
  if (!existsSync(BPFFS)) return removed;
  for (const name of readdirSync(BPFFS)) {
    if (!name.startsWith(base)) continue;
    rmSync(join(BPFFS, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function runChild(suite: string, ctx: SuiteContext, timeoutMs: number): Promise<{ code: number | null; signal: string | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'suites', `${suite}.ts`)], {
      // TMPDIR stays: tsx keeps its compile cache there (a fresh one per child costs seconds)
      env: { ...process.env, RAUTA_BENCH_CONTEXT: JSON.stringify(ctx) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, timeoutMs);
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('SIGINT', stop);
      resolve({ code, signal, timedOut });
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const suites = args.only ?? [...SUITES];
  const started = performance.now();
  const results: SuiteResult[] = [];
  for (const suite of suites) {
    const tmpRoot = mkdtempSync(join(tmpdir(), `rauta-bench-${suite}-`));
    const ctx: SuiteContext = { level: args.level, pinPrefix: `${BPFFS}/rauta-bench-${process.pid}-${suite}`, tmpRoot, outFile: join(tmpRoot, 'result.json') };
    process.stderr.write(`bench: ${suite}${args.level === 'full' ? '' : ` (${args.level})`} ...\n`);
    const t0 = performance.now();
    let result: SuiteResult;
    try {
      const exit = await runChild(suite, ctx, args.level === 'full' ? SUITE_TIMEOUT_MS.full : SUITE_TIMEOUT_MS.quick);
      if (existsSync(ctx.outFile)) result = JSON.parse(readFileSync(ctx.outFile, 'utf8')) as SuiteResult;
      else
        result = {
          suite,
          rows: [],
          maxRssKb: 0,
          wallMs: performance.now() - t0,
          error: exit.timedOut ? 'timed out' : `exited with ${exit.code ?? exit.signal} before writing results`,
        };
      if (exit.timedOut && !result.error) result.error = 'timed out';
    } finally {
      const left = sweepPins(ctx.pinPrefix);
      if (left.length) process.stderr.write(`bench: ${suite} left pins behind, removed: ${left.join(', ')}\n`);
      rmSync(tmpRoot, { recursive: true, force: true });
    }
    process.stderr.write(
      `bench: ${suite} done in ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${(result.maxRssKb / 1024).toFixed(0)} MiB${result.error ? ' (FAILED)' : ''}\n`,
    );
    results.push(result);
  }
  const wallMs = performance.now() - started;
  const rows: Row[] = results.flatMap((r) => r.rows);
  const report = {
    date: new Date().toISOString(),
    level: args.level,
    wallMs,
    host: hostFacts(),
    suites: results.map(({ rows: _rows, ...rest }) => rest),
    rows,
  };
  mkdirSync(join(args.out, '..'), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  if (args.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(formatTable(rows));
    console.log('');
    for (const r of results)
      console.log(
        `${r.suite.padEnd(18)} ${(r.wallMs / 1000).toFixed(1).padStart(6)} s  peak RSS ${(r.maxRssKb / 1024).toFixed(0).padStart(5)} MiB${r.error ? `  FAILED: ${r.error.split('\n')[0]}` : ''}`,
      );
    console.log(`total ${(wallMs / 1000).toFixed(1)} s; results in ${args.out}`);
  }
  process.exitCode = results.some((r) => r.error) ? 1 : 0;
}

function hostFacts(): Record<string, string | number> {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const cpu = /model name\s*:\s*(.*)/.exec(read('/proc/cpuinfo'))?.[1] ?? '?';
  return { node: process.version, kernel: read('/proc/sys/kernel/osrelease'), cpu, cpus: (read('/proc/cpuinfo').match(/^processor/gm) ?? []).length };
}

await main();
