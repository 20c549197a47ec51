// Suite 6, git diff: time to turn a one-file commit into events in a repo of
// 10,000 route files, beside the same in a repo of 100 files, interleaved
// commit by commit in the same run (goal: ratio ≈ 1 and < 20 ms, because the
// tree diff skips unchanged subtrees by oid and only changed files are parsed).
// Two figures per repo: the core (read commit, diff, parse, validate, events,
// state update) and processNewCommits end to end (ref, log reads, the core,
// file-log append with fsync). Repos are built with `git fast-import`.
import path from 'node:path';
import { applyDelta, commitToEvents, emptyState, ParseCache } from '../../src/git/commit-to-events.js';
import { GitStore } from '../../src/git/git-store.js';
import { CommitProcessor } from '../../src/git/process-commits.js';
import { openEventLog } from '../../src/events/event-log.js';
import { buildRouteRepo, setRef } from '../lib/route-repo.js';
import { median, percentile } from '../lib/stats.js';
import { runSuite } from '../lib/suite.js';

let COMMITS = 60;
let WARMUP = 10;

interface Subject {
  files: number;
  revs: string[];
  /** one-file commit: read commit, diff, parse, validate, events, state update */
  core: number[];
  /** the batch's append to a file log (fsync) */
  append: number[];
  /** processNewCommits end to end on a second file log (ref, log reads, all of the above, append) */
  endToEnd: number[];
  step(n: number): Promise<void>;
  close(): Promise<void>;
}

async function prepare(files: number, root: string): Promise<Subject> {
  const dir = path.join(root, `repo-${files}.git`);
  const revs = buildRouteRepo(dir, files, COMMITS + WARMUP);
  const store = new GitStore(dir);
  const cache = new ParseCache();
  const state = emptyState();
  const log = await openEventLog(path.join(root, `events-${files}.log`), { writer: true });
  const e2eLog = await openEventLog(path.join(root, `e2e-${files}.log`), { writer: true });
  // 10,000 one-route files need more than the default map capacity (4,096 routes): raise it as an operator would.
  const capacity = { routes: files, listeners: 256, nexthops: 2 * files };
  const processor = new CommitProcessor(new GitStore(dir), { ref: 'refs/heads/bench', root: 'routes', capacity });

  // The initial full load (once per watcher start) is the watcher-start suite's subject.
  let t0 = performance.now();
  const first = await commitToEvents({ reader: store, base: state, commit: await store.readCommit(revs[0]!), root: 'routes', cache });
  if (!first.delta) throw new Error(`initial commit rejected: ${JSON.stringify(first.events.at(-1))}`);
  applyDelta(state, first.delta);
  await log.append(first.events, { expectedHead: 0 });
  setRef(dir, 'refs/heads/bench', revs[0]!);
  await processor.processNewCommits(e2eLog);

  const subject: Subject = {
    files,
    revs,
    core: [],
    append: [],
    endToEnd: [],
    async step(n) {
      const rev = revs[n + 1]!;
      t0 = performance.now();
      const result = await commitToEvents({ reader: store, base: state, commit: await store.readCommit(rev), root: 'routes', cache });
      if (!result.delta) throw new Error(`commit ${rev} rejected`);
      applyDelta(state, result.delta);
      const core = performance.now() - t0;
      if (result.events.length !== 2) throw new Error(`expected one upsert + marker, got ${result.events.map((e) => e.type).join(',')}`);
      t0 = performance.now();
      await log.append(result.events, { expectedHead: await log.head() });
      const append = performance.now() - t0;
      setRef(dir, 'refs/heads/bench', rev);
      t0 = performance.now();
      const r = await processor.processNewCommits(e2eLog);
      const endToEnd = performance.now() - t0;
      if (r.commits !== 1) throw new Error(`expected one commit per step, got ${r.commits}`);
      if (n >= WARMUP) {
        subject.core.push(core);
        subject.append.push(append);
        subject.endToEnd.push(endToEnd);
      }
    },
    async close() {
      await log.close();
      await e2eLog.close();
    },
  };
  return subject;
}

await runSuite(
  'git-diff',
  async (s) => {
    COMMITS = s.size(60, 20, 3);
    WARMUP = s.size(10, 10, 1);
    // smoke: a 500-file repo (the 10,000-file initial load alone takes seconds)
    const files = s.size(10_000, 10_000, 500);
    const big = files.toLocaleString('en-US');
    const root = s.ctx.tmpRoot;
    s.log(`building repos of 100 and ${big} files (git fast-import)`);
    const small = await prepare(100, root);
    const large = await prepare(files, root);
    try {
      // Interleave the two repos commit by commit, so machine load hits both alike.
      for (let n = 0; n < COMMITS + WARMUP; n++) {
        await small.step(n);
        await large.step(n);
      }
    } finally {
      await small.close();
      await large.close();
    }
    const goal = { max: 20, ratioMax: 1.5, text: '< 20 ms, ratio ≈ 1 (≤ 1.5)' };
    const p90 = (xs: number[]) => `p90 ${percentile(xs, 0.9).toFixed(2)} ms`;
    s.row({
      name: `one-file commit → events, ${big}-file repo (median of ${COMMITS})`,
      value: median(large.core),
      unit: 'ms',
      baseline: { name: 'same in a 100-file repo', value: median(small.core) },
      goal,
      note: `${p90(large.core)} (100 files: ${p90(small.core)}); read commit, diff, parse, validate, events, state update`,
    });
    s.row({
      name: `one-file commit, processNewCommits end to end incl. file-log fsync, ${big} files (median of ${COMMITS})`,
      value: median(large.endToEnd),
      unit: 'ms',
      baseline: { name: 'same in a 100-file repo', value: median(small.endToEnd) },
      goal,
      note: `${p90(large.endToEnd)} (100 files: ${p90(small.endToEnd)}); the file-log append alone: median ${median(large.append).toFixed(2)} ms`,
    });
  },
  ['git'],
);
