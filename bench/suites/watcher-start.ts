// Suite 10, watcher start on a big repository (issue 16): a watcher's first run on an
// empty log, and a restart, each in a fresh process (bench/lib/watcher-start-child.ts)
// so nothing is warm that would not be after a real start. Repository: 10,000 route
// files in 100 folders, built with `git fast-import` (one pack, blobs delta-chained).
//
// - First start: the head's tree read, every file parsed (the watcher's parse pool:
//   workers on idle cores), the set validated, its 10,001 events appended with
//   fsync, the parse cache written. Floor: reading the same files (ObjectReader) and
//   parsing them on one thread, in a fresh process: what any first load must do.
// - Restart: a new process, the log holding the previous commit, one new commit: the
//   accepted state loaded with the parse cache (nothing parsed), the commit processed
//   and appended. Floor: the next one-file commit in the same, now running, watcher.
// - Restart without a parse cache (none configured): every file parsed again, beside
//   the restart with it.
// Medians over rounds; each round uses fresh logs and the same repository.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateLoad } from '../../src/git/process-commits.js';
import { buildRouteRepo, setRef } from '../lib/route-repo.js';
import { median } from '../lib/stats.js';
import { runSuite } from '../lib/suite.js';

const CHILD = fileURLToPath(new URL('../lib/watcher-start-child.ts', import.meta.url));
const REF = 'refs/heads/bench';

function child<T>(args: string[]): T {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CHILD, ...args], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 10 * 60_000 });
  if (res.status !== 0) throw new Error(`watcher-start child ${args[0]} exited ${res.status ?? res.signal}: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as T;
}

interface Floor {
  files: number;
  readMs: number;
  parseMs: number;
}
interface First {
  ms: number;
  runMs: number;
  /** of runMs, in the log's append (schema checks, encoding, write, fsync) */
  appendMs: number;
  appended: number;
  /** parse workers the run started */
  threads: number;
}
interface Restart {
  ms: number;
  loaded?: StateLoad;
  appended: number;
  nextMs: number;
  nextAppended: number;
}

await runSuite(
  'watcher-start',
  async (s) => {
    const files = s.size(10_000, 10_000, 500);
    const rounds = s.size(3, 1, 1);
    const big = files.toLocaleString('en-US');
    const root = s.ctx.tmpRoot;
    s.log(`building a repo of ${big} files (git fast-import)`);
    const repo = path.join(root, `repo-${files}.git`);
    const revs = buildRouteRepo(repo, files, 4);

    const floors: Floor[] = [];
    const firsts: First[] = [];
    const oneThread: First[] = [];
    const restarts: Restart[] = [];
    const uncached: Restart[] = [];
    for (let r = 0; r < rounds; r++) {
      s.log(`round ${r + 1} of ${rounds}`);
      const dir = path.join(root, `round-${r}`);
      spawnSync('mkdir', ['-p', dir]);
      const log = path.join(dir, 'events.log');
      const cache = `${log}.parse-cache`;
      floors.push(child<Floor>(['floor', repo, revs[0]!]));
      setRef(repo, REF, revs[0]!);
      firsts.push(child<First>(['first', repo, log, cache, 'default']));
      if (firsts.at(-1)!.appended !== files + 1) throw new Error(`first start appended ${firsts.at(-1)!.appended} events, expected ${files + 1}`);
      oneThread.push(child<First>(['first', repo, path.join(dir, 'one-thread.log'), '-', '0']));
      setRef(repo, REF, revs[1]!);
      const restart = child<Restart>(['restart', repo, log, cache, revs[2]!]);
      if (restart.appended !== 2 || restart.nextAppended !== 2)
        throw new Error(`a one-file commit appends 2 events, got ${restart.appended} and ${restart.nextAppended}`);
      restarts.push(restart);
      setRef(repo, REF, revs[3]!);
      uncached.push(child<Restart>(['restart', repo, log, '-', revs[4]!]));
    }

    const med = <T>(xs: T[], f: (x: T) => number): number => median(xs.map(f));
    const floorRead = med(floors, (f) => f.readMs);
    const floorParse = med(floors, (f) => f.parseMs);
    const firstMs = med(firsts, (f) => f.ms);
    const parsedOnRestart = Math.max(...restarts.map((r) => r.loaded?.parsed ?? Infinity));
    s.row({
      name: `first start, ${big}-file repo: every file read, parsed and validated, ${(files + 1).toLocaleString('en-US')} events appended (fresh process, median of ${rounds})`,
      value: firstMs,
      unit: 'ms',
      baseline: { name: 'read + parse the same files on one thread (fresh process)', value: floorRead + floorParse },
      goal: { max: 2000, text: '< 2 s' },
      note:
        `parse workers started (on idle cores) per round: ${firsts.map((f) => f.threads).join(', ')}; with none, in the same rounds: ${med(oneThread, (f) => f.ms).toFixed(0)} ms. ` +
        `Floor split: reading ${floorRead.toFixed(0)} ms, parsing (YAML + schema checks) ${floorParse.toFixed(0)} ms (${((floorParse / files) * 1000).toFixed(0)} µs a file). ` +
        `The rest: appending the events (the log's checks, encoding, write and fsync) ${med(firsts, (f) => f.appendMs).toFixed(0)} ms; tree walk, validation of the set, building the events, encoding the parse cache; ` +
        `writing the parse cache (still pending after the run: ${med(firsts, (f) => f.ms - f.runMs).toFixed(0)} ms). Process start and module loading not included`,
    });
    s.row({
      name: `restart, ${big}-file repo, one new commit: state from the parse cache (fresh process, median of ${rounds})`,
      value: med(restarts, (r) => r.ms),
      unit: 'ms',
      baseline: { name: 'the next one-file commit in the running watcher', value: med(restarts, (r) => r.nextMs) },
      goal: { holds: parsedOnRestart === 0, text: 'parses only what changed' },
      note: `loading the accepted state: ${med(restarts, (r) => r.loaded?.ms ?? NaN).toFixed(0)} ms for ${restarts[0]?.loaded?.files ?? '?'} files, ${parsedOnRestart} parsed (cache: ${restarts[0]?.loaded?.cache ?? '?'}); then the commit's diff, parse, validation and append`,
    });
    s.row({
      name: `restart without a parse cache, ${big}-file repo, one new commit (fresh process, median of ${rounds})`,
      value: med(uncached, (r) => r.ms),
      unit: 'ms',
      baseline: { name: 'restart with the parse cache', value: med(restarts, (r) => r.ms) },
      note: `every file read and parsed again (${uncached[0]?.loaded?.parsed ?? '?'} files); what a restart cost before the cache, minus the faster reads`,
    });
  },
  ['git'],
);
