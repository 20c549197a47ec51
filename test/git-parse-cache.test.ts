// A restarted watcher parses only what changed: the parse cache file next to the log,
// used when every check passes and ignored (a full parse, the same events) when anything
// about it is off. And ParsePool: the same ParsedFiles as parsing on one thread.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { openEventLog, type EventLog } from '../src/events/event-log.js';
import type { RautaEvent } from '../src/routes/route-events.js';
import { GitStore } from '../src/git/git-store.js';
import { encodeParseCache, loadParseCache, writeParseCache, type CacheEntry } from '../src/git/parse-cache-file.js';
import { inlineParser, ParsePool } from '../src/git/parse-pool.js';
import { CommitProcessor, commitsToEvents, type ProcessResult } from '../src/git/process-commits.js';
import { parseRouteFile } from '../src/git/route-rules.js';
import { listenerYaml, routeYaml, tempDir, TestRepo, watchLocalRepo } from '../testbed/git-repo.js';

const FILES = 30;

function routeFile(i: number, version = 1): string {
  return routeYaml([{ name: `svc-${i}`, path: `/svc/${i}`, backends: [`10.1.0.${(i % 250) + 1}:8080`, `10.2.0.${version}:80`] }]);
}

interface Setup {
  repo: TestRepo;
  dir: string;
  cacheFile: string;
  /** run when the test ends, before its folder is removed */
  closers: Array<() => Promise<void>>;
}

function setup(t: TestContext): Setup {
  const tmp = tempDir('parse-cache');
  const closers: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
    tmp.cleanup();
  });
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  for (let i = 0; i < FILES; i++) repo.write(`routes/team-${i % 4}/svc-${i}.yaml`, routeFile(i));
  repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
  repo.commit('initial routes');
  return { repo, dir: tmp.dir, cacheFile: path.join(tmp.dir, 'events.log.parse-cache'), closers };
}

async function openLog(env: Setup): Promise<EventLog> {
  const log = await openEventLog(path.join(env.dir, 'events.log'), { writer: true });
  env.closers.push(() => log.close());
  return log;
}

/** One watcher lifetime: a new processor (as after a restart), one run, close. */
async function runOnce(repo: TestRepo, log: EventLog, cacheFile: string | null): Promise<ProcessResult> {
  const processor = new CommitProcessor(GitStore.open(repo.dir), { ref: 'main', root: 'routes', cacheFile, parser: inlineParser });
  try {
    return await processor.processNewCommits(log);
  } finally {
    await processor.close();
  }
}

/** What a rebuild from Git gives: the events the log must hold, numbered. */
async function expected(repo: TestRepo): Promise<RautaEvent[]> {
  return (await commitsToEvents({ dir: repo.dir, ref: 'main', root: 'routes' })).flat().map((e, i) => ({ ...e, seq: i + 1 }) as RautaEvent);
}

test('a restart with the parse cache parses only the files that changed, and appends the same events', async (t) => {
  const env = setup(t);
  const { repo, cacheFile } = env;
  const log = await openLog(env);
  await runOnce(repo, log, cacheFile);
  assert.ok(fs.existsSync(cacheFile), 'close() wrote the cache next to the log');

  repo.write('routes/team-1/svc-5.yaml', routeFile(5, 2));
  repo.write('routes/team-2/svc-6.yaml', routeFile(6, 2));
  repo.commit('two backends move');
  const restarted = await runOnce(repo, log, cacheFile);
  assert.equal(restarted.commits, 1);
  assert.equal(restarted.loaded?.files, FILES + 1, 'the whole accepted tree was loaded');
  assert.equal(restarted.loaded?.parsed, 0, 'every file of it came from the cache');
  assert.match(restarted.loaded!.cache, /^hit \(31 files of tree [0-9a-f]{12}\)$/);
  assert.deepEqual(await log.read(1, 10_000), await expected(repo), 'the log holds what a rebuild from Git gives');
});

test('a cache written for an older tree still serves the files that did not change', async (t) => {
  const env = setup(t);
  const { repo, cacheFile } = env;
  const log = await openLog(env);
  await runOnce(repo, log, cacheFile); // cache of tree 1
  for (let c = 0; c < 3; c++) {
    repo.write(`routes/team-${c}/svc-${c}.yaml`, routeFile(c, 3 + c));
    repo.commit(`change ${c}`);
    await runOnce(repo, log, null); // watchers that do not write the cache
  }
  repo.write('routes/team-3/svc-7.yaml', routeFile(7, 9));
  repo.commit('one more');
  const restarted = await runOnce(repo, log, cacheFile);
  assert.equal(restarted.loaded?.parsed, 3, 'only the three files that changed since the cached tree were parsed');
  assert.match(restarted.loaded!.cache, /^hit/);
  assert.deepEqual(await log.read(1, 10_000), await expected(repo));
});

/** Rewrites the cache file's body with `edit` and a matching header (checksum and size), as only a deliberate writer could. */
function forge(cacheFile: string, edit: (entries: CacheEntry[]) => void, header: (h: Record<string, unknown>) => void = () => undefined): void {
  const bytes = fs.readFileSync(cacheFile);
  const nl = bytes.indexOf(0x0a);
  const h = JSON.parse(bytes.toString('utf8', 0, nl)) as Record<string, unknown>;
  const entries = JSON.parse(bytes.toString('utf8', nl + 1)) as CacheEntry[];
  edit(entries);
  const body = Buffer.from(JSON.stringify(entries));
  Object.assign(h, { files: entries.length, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  header(h);
  fs.writeFileSync(cacheFile, Buffer.concat([Buffer.from(`${JSON.stringify(h)}\n`), body]));
}

test('a damaged, foreign or stale-rules cache is not used: every file is parsed and the events are the same', async (t) => {
  const damage: Array<{ what: string; why: RegExp; apply: (file: string) => void }> = [
    { what: 'missing', why: /no cache file yet/, apply: (f) => fs.rmSync(f) },
    {
      what: 'a flipped body byte',
      why: /does not match its checksum/,
      apply: (f) => {
        const b = fs.readFileSync(f);
        b[b.length - 10] = b[b.length - 10]! ^ 0x01;
        fs.writeFileSync(f, b);
      },
    },
    { what: 'torn', why: /torn/, apply: (f) => fs.truncateSync(f, fs.statSync(f).size - 100) },
    { what: 'not a cache', why: /header is not JSON|no header line/, apply: (f) => fs.writeFileSync(f, 'RAUTALOG garbage\n{}') },
    {
      what: 'other parsing rules',
      why: /other parsing rules/,
      apply: (f) =>
        forge(
          f,
          () => undefined,
          (h) => (h.rules = 'f'.repeat(64)),
        ),
    },
    {
      what: 'another root',
      why: /written for root "deploy"/,
      apply: (f) =>
        forge(
          f,
          () => undefined,
          (h) => (h.root = 'deploy'),
        ),
    },
    { what: 'an entry naming another file', why: /names another file/, apply: (f) => forge(f, (e) => (e[1]![2].file = e[0]![0])) },
    {
      what: 'an entry failing the schema',
      why: /fails its schema \(2\.routes\.0\.backends\.0\.port\)/,
      apply: (f) =>
        forge(f, (e) => {
          const route = e.find((x) => x[2].routes.length > 0)![2].routes[0]!;
          route.backends[0]!.port = 0;
        }),
    },
    {
      what: 'an entry with issues',
      why: /fails its schema/,
      apply: (f) => forge(f, (e) => e[0]![2].issues.push({ file: e[0]![0], line: 1, col: 1, message: 'x' })),
    },
  ];
  for (const d of damage) {
    await t.test(d.what, async (t) => {
      const env = setup(t);
      const { repo, cacheFile } = env;
      const log = await openLog(env);
      await runOnce(repo, log, cacheFile);
      d.apply(cacheFile);
      repo.write('routes/team-0/svc-0.yaml', routeFile(0, 7));
      repo.commit('change');
      const restarted = await runOnce(repo, log, cacheFile);
      assert.match(restarted.loaded!.cache, /^not used: /, d.what);
      assert.match(restarted.loaded!.cache, d.why, d.what);
      assert.equal(restarted.loaded?.parsed, FILES + 1, `${d.what}: every file was parsed`);
      assert.deepEqual(await log.read(1, 10_000), await expected(repo), `${d.what}: the same events`);
      const again = await loadParseCache(cacheFile, 'routes');
      assert.ok(again.ok, `${d.what}: the cache was written anew on close`);
    });
  }
});

test('the cache file gives back exactly what parsing gives', async (t) => {
  const tmp = tempDir('parse-cache-roundtrip');
  t.after(tmp.cleanup);
  const files = [
    [
      'routes/a.yaml',
      routeYaml([
        { name: 'a', path: '/a', backends: ['10.0.0.1:80'] },
        { name: 'b', method: 'POST', path: '/b/%C3%BC', backends: ['10.0.0.2:8080', '10.0.0.3:8080'] },
      ]),
    ],
    ['routes/l.yaml', listenerYaml('web', '10.0.0.10', 443)],
    ['routes/empty.yaml', '# nothing here\n'],
  ] as const;
  const entries: CacheEntry[] = files.map(([p, text], i) => [p, String(i).repeat(40), parseRouteFile(p, Buffer.from(text))]);
  for (const [p, , parsed] of entries) assert.deepEqual(parsed.issues, [], `${p} is a valid file`);
  const file = path.join(tmp.dir, 'sub', 'cache');
  await writeParseCache(file, encodeParseCache('routes', 'a'.repeat(40), entries));
  const loaded = await loadParseCache(file, 'routes');
  assert.ok(loaded.ok);
  assert.deepStrictEqual(loaded.entries, entries);
});

function sampleFiles(n: number): Array<{ path: string; bytes: Uint8Array }> {
  const invalid = fs.readdirSync(path.join(import.meta.dirname, 'fixtures/invalid')).filter((f) => f.endsWith('.yaml'));
  return Array.from({ length: n }, (_, i) => {
    if (i % 10 === 3) {
      const name = invalid[i % invalid.length]!;
      return { path: `routes/bad/${i}-${name}`, bytes: fs.readFileSync(path.join(import.meta.dirname, 'fixtures/invalid', name)) };
    }
    // every 7th file a Buffer from Node's shared pool (a view of a larger ArrayBuffer)
    const text = routeFile(i);
    return { path: `routes/${i}.yaml`, bytes: i % 7 === 0 ? Buffer.from(text) : new TextEncoder().encode(text) };
  });
}

test('ParsePool: workers parse chunks and the results equal parsing on one thread; no thread stays behind', async () => {
  const files = sampleFiles(2_000);
  const want = await inlineParser.parse(files);
  const pool = new ParsePool({ threads: 1, minFiles: 100 });
  pool.expect(files.length);
  // wait for the worker, so that it surely gets chunks (on a busy machine the caller could finish first)
  for (const deadline = Date.now() + 60_000; pool.readyWorkers < 1; ) {
    assert.ok(Date.now() < deadline, 'the worker started within a minute');
    await new Promise((r) => setTimeout(r, 20));
  }
  const got = await pool.parse(files);
  pool.finish();
  assert.ok(pool.chunksToWorkers > 0, 'the worker was handed chunks');
  assert.equal(pool.readyWorkers, 0, 'finish() stopped the worker');
  assert.deepStrictEqual(got, want);
});

test('ParsePool: a worker that cannot start leaves the caller to parse everything', async (t) => {
  const tmp = tempDir('parse-pool-broken');
  t.after(tmp.cleanup);
  const broken = path.join(tmp.dir, 'broken-worker.mjs');
  fs.writeFileSync(broken, "throw new Error('this worker cannot start');\n");
  const files = sampleFiles(600);
  const pool = new ParsePool({ threads: 2, minFiles: 100, workerModule: new URL(`file://${broken}`) });
  pool.expect(files.length);
  const got = await pool.parse(files);
  pool.finish();
  assert.deepStrictEqual(got, await inlineParser.parse(files));
});

test('startWatcher keeps its parse cache next to a file log and a restarted watcher uses it', async (t) => {
  const { repo, dir, closers } = setup(t);
  const logPath = path.join(dir, 'events.log');
  const start = () => watchLocalRepo(repo, logPath);
  const first = await start();
  assert.equal(first.watcher.stats.lastResult?.commits, 1);
  await first.close();
  assert.ok((await loadParseCache(`${logPath}.parse-cache`, 'routes')).ok, 'close() left a valid cache next to the log');

  repo.write('routes/team-3/svc-3.yaml', routeFile(3, 5));
  repo.commit('while the watcher was down');
  const second = await start();
  closers.push(second.close);
  const loaded = second.watcher.stats.lastResult?.loaded;
  assert.equal(loaded?.files, FILES + 1);
  assert.equal(loaded?.parsed, 0, `nothing was parsed to load the accepted state (cache: ${loaded?.cache})`);
  assert.deepEqual(await second.log.read(1, 10_000), await expected(repo));
});
