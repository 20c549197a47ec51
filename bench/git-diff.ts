// Time to process a one-file commit in a repo of 10,000 route files and in one
// of 100, measured in the same run: goal ratio ≈ 1 and < 20 ms each, because
// the tree diff skips unchanged subtrees and only changed files are parsed.
// Repos are built with `git fast-import` (seconds, not minutes).
//
//   npx tsx bench/git-diff.ts [--commits 60] [--keep]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyDelta, commitToEvents, emptyState, ParseCache } from '../src/git/commit-to-events.js';
import { GitStore } from '../src/git/git-store.js';
import { openEventLog } from '../src/events/event-log.js';

const args = process.argv.slice(2);
const COMMITS = Number(args[args.indexOf('--commits') + 1] ?? 60) || 60;
const WARMUP = 10;

function routeFile(i: number, backend: number): string {
  return [
    'apiVersion: rauta.io/v1',
    'kind: RoutingRule',
    'metadata:',
    `  name: svc-${i}`,
    'spec:',
    '  match:',
    '    method: GET',
    '    path:',
    '      type: Exact',
    `      value: /svc/${i}`,
    '  backends:',
    `    - endpoint: 10.1.${(backend >> 8) & 255}.${(backend & 255) || 1}:8080`,
    `    - endpoint: 10.2.${(i >> 8) & 255}.${(i & 255) || 1}:8080`,
    '',
  ].join('\n');
}

/** files spread over sqrt(n) folders of sqrt(n) files, like a real repo grouped by team/service */
function filePath(i: number, n: number): string {
  const width = Math.ceil(Math.sqrt(n));
  return `routes/team-${String(Math.floor(i / width)).padStart(3, '0')}/svc-${i}.yaml`;
}

function buildRepo(dir: string, files: number, commits: number): string[] {
  spawnSync('git', ['init', '-q', '--bare', dir], { stdio: 'inherit' });
  const chunks: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  let t = 1_700_000_000;
  chunks.push(`commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> ${t} +0000\n${data(`${files} routes`)}`);
  for (let i = 0; i < files; i++) chunks.push(`M 100644 inline ${filePath(i, files)}\n${data(routeFile(i, 1))}`);
  chunks.push('\n');
  // Each later commit changes one file: a backend of a pseudo-random route.
  let seed = 42;
  for (let c = 0; c < commits; c++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const i = seed % files;
    t += 60;
    chunks.push(`commit refs/heads/main\nmark :${c + 2}\ncommitter Bench <bench@example.com> ${t} +0000\n${data(`svc-${i}: move backend`)}from :${c + 1}\n`);
    chunks.push(`M 100644 inline ${filePath(i, files)}\n${data(routeFile(i, c + 2))}\n`);
  }
  const res = spawnSync('git', ['-C', dir, 'fast-import', '--quiet'], { input: chunks.join(''), stdio: ['pipe', 'inherit', 'inherit'], maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error('git fast-import failed');
  const revs = spawnSync('git', ['-C', dir, 'rev-list', '--first-parent', '--reverse', 'main'], { encoding: 'utf8' }).stdout.trim().split('\n');
  return revs;
}

interface Measure {
  files: number;
  loadMs: number;
  medianMs: number;
  p90Ms: number;
  appendMedianMs: number;
}

async function measure(files: number, root: string): Promise<Measure> {
  const dir = path.join(root, `repo-${files}.git`);
  const revs = buildRepo(dir, files, COMMITS + WARMUP);
  const store = new GitStore(dir);
  const cache = new ParseCache();
  const state = emptyState();
  const log = await openEventLog(path.join(root, `events-${files}.log`), { writer: true });

  // The initial full load (once per watcher start), then one-file commits.
  let t0 = performance.now();
  const first = await commitToEvents({ reader: store, base: state, commit: await store.readCommit(revs[0]!), root: 'routes', cache });
  if (!first.delta) throw new Error(`initial commit rejected: ${JSON.stringify(first.events.at(-1))}`);
  applyDelta(state, first.delta);
  const loadMs = performance.now() - t0;
  await log.append(first.events, { expectedHead: 0 });

  const times: number[] = [];
  const appends: number[] = [];
  for (const [n, rev] of revs.slice(1).entries()) {
    t0 = performance.now();
    const result = await commitToEvents({ reader: store, base: state, commit: await store.readCommit(rev), root: 'routes', cache });
    if (!result.delta) throw new Error(`commit ${rev} rejected`);
    applyDelta(state, result.delta);
    const dt = performance.now() - t0;
    if (result.events.length !== 2) throw new Error(`expected one upsert + marker, got ${result.events.map((e) => e.type).join(',')}`);
    t0 = performance.now();
    await log.append(result.events, { expectedHead: await log.head() });
    const da = performance.now() - t0;
    if (n >= WARMUP) {
      times.push(dt);
      appends.push(da);
    }
  }
  await log.close();
  const sorted = [...times].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { files, loadMs, medianMs: q(0.5), p90Ms: q(0.9), appendMedianMs: [...appends].sort((a, b) => a - b)[Math.floor(appends.length / 2)] ?? NaN };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rauta-bench-git-'));
try {
  const small = await measure(100, root);
  const large = await measure(10_000, root);
  const fmt = (m: Measure) =>
    `${String(m.files).padStart(6)} files: one-file commit median ${m.medianMs.toFixed(2)} ms, p90 ${m.p90Ms.toFixed(2)} ms ` +
    `(initial full load ${m.loadMs.toFixed(0)} ms; file-log append+fsync median ${m.appendMedianMs.toFixed(2)} ms)`;
  console.log(`commits measured per repo: ${COMMITS} (after ${WARMUP} warm-up)`);
  console.log(fmt(small));
  console.log(fmt(large));
  console.log(`ratio 10,000 / 100 (median): ${(large.medianMs / small.medianMs).toFixed(2)}`);
} finally {
  if (!args.includes('--keep')) fs.rmSync(root, { recursive: true, force: true });
  else console.log(`repos kept in ${root}`);
}
