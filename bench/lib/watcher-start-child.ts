// One watcher start for the watcher-start suite, in a fresh process (cold JIT, nothing
// cached in memory), as a restarted `rauta run` would be. Modes:
//   floor REPO REV                  read every route file of REV with ObjectReader, then
//                                   parse each with parseRouteFile on this thread: the
//                                   floor of any first load
//   first REPO LOG CACHE|- THREADS  a watcher's first run on an empty log (ref at one commit);
//                                   THREADS: parse worker threads, or "default" (the watcher's)
//   restart REPO LOG CACHE|- NEXT   a restarted watcher: one new commit (the ref is there
//                                   already), then NEXT: the ref moved again and the same
//                                   processor runs once more (a running watcher's commit)
// Prints one JSON line of timings (ms, after module loading) on stdout.
import { spawnSync } from 'node:child_process';
import { openEventLog } from '../../src/events/event-log.js';
import { GitStore } from '../../src/git/git-store.js';
import { ObjectReader } from '../../src/git/object-reader.js';
import { ParsePool } from '../../src/git/parse-pool.js';
import { CommitProcessor } from '../../src/git/process-commits.js';
import { parseRouteFile } from '../../src/git/route-rules.js';
import { listBlobs, resolveSubtree } from '../../src/git/tree-diff.js';

const [mode, repo, logPath, cache, extra] = process.argv.slice(2);
const REF = 'refs/heads/bench';
/** 10,000 one-route files need more than the default map capacity, as in the git-diff suite */
const capacity = { routes: 1_000_000, listeners: 256, nexthops: 2_000_000 };
const out = (v: object): void => void process.stdout.write(`${JSON.stringify(v)}\n`);

if (mode === 'floor') {
  const store = new GitStore(repo!);
  const commit = await store.readCommit(logPath!); // the REV argument
  const files = await listBlobs(store, await resolveSubtree(store, commit.tree, 'routes'), 'routes');
  const reader = new ObjectReader(repo!);
  let t0 = performance.now();
  const bytes = files.map((f) => reader.read(f.newOid!)!.data);
  const readMs = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < files.length; i++) parseRouteFile(files[i]!.path, bytes[i]!);
  out({ files: files.length, readMs, parseMs: performance.now() - t0 });
} else {
  const opened = await openEventLog(logPath!, { writer: true });
  // the log as the processor sees it, with the time its appends take (checks, encoding, write, fsync)
  let appendMs = 0;
  const log: Parameters<CommitProcessor['processNewCommits']>[0] = {
    head: () => opened.head(),
    lastCommitMarker: () => opened.lastCommitMarker(),
    lastAccepted: () => opened.lastAccepted(),
    async append(events, options) {
      const t = performance.now();
      try {
        return await opened.append(events, options);
      } finally {
        appendMs += performance.now() - t;
      }
    },
  };
  const cacheFile = cache === '-' ? null : cache!;
  const t0 = performance.now();
  // the watcher's own pool (threads on idle cores), or a given number of threads
  const pool = new ParsePool(mode === 'first' && extra !== 'default' ? { threads: Number(extra) } : {});
  const processor = new CommitProcessor(new GitStore(repo!), { ref: REF, root: 'routes', capacity, cacheFile, parser: pool });
  const first = await processor.processNewCommits(log);
  const runMs = performance.now() - t0;
  if (mode === 'first') {
    await processor.close(); // the cache file write the run started
    out({ ms: performance.now() - t0, runMs, appendMs, appended: first.appended, threads: pool.lastThreads });
  } else {
    spawnSync('git', ['-C', repo!, 'update-ref', REF, extra!]);
    const t1 = performance.now();
    const next = await processor.processNewCommits(log);
    const nextMs = performance.now() - t1;
    await processor.close();
    out({ ms: runMs, loaded: first.loaded, appended: first.appended, nextMs, nextAppended: next.appended, threads: pool.lastThreads });
  }
  await opened.close();
}
