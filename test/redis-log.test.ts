// Redis Streams backend of the event log against a real redis-server (AOF on, fsync always):
// the shared contract, plus explicit IDs (duplicates impossible), fencing, a Redis crash and
// restart, bad URL / wrong password failing fast, and rebuild by atomic rename.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openEventLog } from '../src/events/event-log.js';
import { beginRedisLogRebuild, openRedisLog, redactRedisUrl } from '../src/events/redis-log.js';
import { eventLogContract, rejectsWith } from './helpers/event-log-contract.js';
import { startRedisServer, type RedisServer } from '../testbed/redis-server.js';
import { batchNumber, commitBatch } from '../testbed/sample-events.js';

const quiet = { warn: () => undefined };

// One server for the whole file; every test gets its own key prefix.
let shared: Promise<RedisServer> | null = null;
function server(): Promise<RedisServer> {
  shared ??= startRedisServer();
  return shared;
}
test.after(async () => {
  if (shared) await (await shared).dispose();
});

function uniquePrefix(): string {
  return `rauta-test-${randomUUID().slice(0, 8)}`;
}

function raw(t: TestContext, url: string): Redis {
  const r = new Redis(url, { protocol: 2, lazyConnect: false });
  t.after(() => r.disconnect());
  return r;
}

eventLogContract('redis', async () => {
  const s = await server();
  const prefix = uniquePrefix();
  return {
    openWriter: () => openRedisLog(s.url, { prefix, writer: true, logger: quiet }),
    openReader: () => openRedisLog(s.url, { prefix, logger: quiet }),
  };
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the test name quotes the ID format
test('redis: stream IDs are `${seq}-0`; a duplicate or out-of-order entry is refused by Redis itself', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => w.close());
  await w.append(commitBatch(1, 2));
  const r = raw(t, s.url);
  const ids = ((await r.xrange(`${prefix}:events`, '-', '+')) as Array<[string, string[]]>).map(([id]) => id);
  assert.deepEqual(ids, ['1-0', '2-0', '3-0'], 'entry IDs are derived from seq');
  await assert.rejects(r.xadd(`${prefix}:events`, '3-0', 'e', '{}'), /equal or smaller/, 'a duplicate ID is refused');
  await assert.rejects(r.xadd(`${prefix}:events`, '2-0', 'e', '{}'), /equal or smaller/, 'an out-of-order ID is refused');
  // a stale writer view (expectedHead behind) cannot append a duplicate either
  await assert.rejects(w.append(commitBatch(2, 1), { expectedHead: 2 }), rejectsWith('RAUTA_ERR_LOG_SEQUENCE'));
  assert.equal(await w.head(), 3);
});

test('redis: fencing — a writer whose lock was taken cannot append', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  const lost: string[] = [];
  const a = await openRedisLog(s.url, { prefix, writer: true, logger: quiet, lockTtlMs: 60_000, onLockLost: (e) => lost.push(e.message) });
  t.after(() => a.close());
  await a.append(commitBatch(1, 1));
  // A stalls past its TTL (simulated by deleting the key) and B takes over
  await raw(t, s.url).del(`${prefix}:lock`);
  const b = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => b.close());
  await assert.rejects(a.append(commitBatch(2, 1)), rejectsWith('RAUTA_ERR_LOG_LOCKED', /lost its lock/));
  assert.equal(lost.length, 1, 'onLockLost was called once');
  const out = await b.append(commitBatch(2, 1), { expectedHead: 2 });
  assert.deepEqual(
    out.map((e) => e.seq),
    [3, 4],
    'the new writer continues gap-free',
  );
  await assert.rejects(a.append(commitBatch(3, 1)), rejectsWith('RAUTA_ERR_LOG_LOCKED'), 'the fenced writer stays fenced');
  assert.equal(await b.head(), 4);
});

test('redis: the writer lock is renewed while its writer lives', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  const a = await openRedisLog(s.url, { prefix, writer: true, logger: quiet, lockTtlMs: 300 });
  t.after(() => a.close());
  await new Promise((r) => setTimeout(r, 900));
  await a.append(commitBatch(1, 1)); // three lifetimes later, still ours: renewed every 100 ms
  await assert.rejects(openRedisLog(s.url, { prefix, writer: true, logger: quiet }), rejectsWith('RAUTA_ERR_LOG_LOCKED', /already has a writer \(pid \d+/));
  await a.close();
  const b = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => b.close());
  assert.equal(await b.head(), 2);
});

test('redis: the lock of a writer that stops renewing (a frozen process) expires, and the frozen writer is fenced', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  // A writer process (lock lifetime 500 ms) appending as fast as it can, then frozen with SIGSTOP:
  // it can neither renew nor release its lock.
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/log-writer.ts', import.meta.url)), s.url, '3'], {
    env: { ...process.env, RAUTA_LOG_PREFIX: prefix },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while (!/appended \d+ \d+\n/.test(out)) {
    assert.equal(child.exitCode, null, `the writer runs: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGSTOP');
  await assert.rejects(
    openRedisLog(s.url, { prefix, writer: true, logger: quiet }),
    rejectsWith('RAUTA_ERR_LOG_LOCKED'),
    'right after the freeze the lock is still held',
  );
  // Past its lifetime the lock is gone: a new writer gets it (a hang guard, not a timing assertion).
  let b: Awaited<ReturnType<typeof openRedisLog>> | null = null;
  for (const deadline = Date.now() + 30_000; !b; ) {
    try {
      b = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
    } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'RAUTA_ERR_LOG_LOCKED') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.after(() => b!.close());
  const headAtTakeover = await b.head();
  child.kill('SIGCONT');
  // Thawed, the old writer finds the lock gone at its next renewal or append, and stops: fenced.
  assert.notEqual(await exited, 0, `the fenced writer fails instead of writing: ${out.slice(-300)} ${err.slice(-500)}`);
  assert.match(err, /RAUTA_ERR_LOG_LOCKED|lock/, 'it says the lock is lost');
  assert.equal(await b.head(), headAtTakeover, "nothing was appended behind the new writer's back");
  const appended = await b.append(commitBatch(batchNumber(await b.lastCommitMarker()) + 1, 1));
  assert.equal(appended[0]!.seq, headAtTakeover + 1, 'the new writer continues gap-free');
});

test('redis: killed (SIGKILL) and restarted, the log is all there', async (t) => {
  const s = await startRedisServer(t);
  const prefix = uniquePrefix();
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  for (let n = 1; n <= 20; n++) await w.append(commitBatch(n, n % 3));
  const before = await w.read(1, 1000);
  await w.close();
  await s.restart({ kill: true });
  const r = await openRedisLog(s.url, { prefix, logger: quiet });
  t.after(() => r.close());
  assert.deepEqual(await r.read(1, 1000), before, 'every acknowledged event survived the crash (AOF, fsync always)');
  assert.equal(batchNumber(await r.lastCommitMarker()), 20);
  const w2 = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => w2.close());
  assert.equal((await w2.append(commitBatch(21, 1)))[0]?.seq, before.length + 1);
});

test('redis: a writer that stays open across a Redis crash reconnects and keeps its lock', async (t) => {
  const s = await startRedisServer(t);
  const prefix = uniquePrefix();
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => w.close());
  await w.append(commitBatch(1, 1));
  await s.restart({ kill: true });
  // the first call may see the outage (RAUTA_ERR_LOG_BACKEND); with expectedHead a retry is safe
  let out: Awaited<ReturnType<typeof w.append>> | null = null;
  let backendErrors = 0;
  for (let attempt = 0; attempt < 50 && out === null; attempt++) {
    try {
      out = await w.append(commitBatch(2, 1), { expectedHead: 2 });
    } catch (err) {
      rejectsWith('RAUTA_ERR_LOG_BACKEND')(err);
      backendErrors++;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(
    out?.map((e) => e.seq),
    [3, 4],
    'the append after the restart continued the sequence',
  );
  t.diagnostic(`append attempts that saw the outage: ${backendErrors}`);
  assert.equal(batchNumber(await w.lastAccepted()), 2);
});

test('redis: a reader waiting through a Redis restart still wakes up', async (t) => {
  const s = await startRedisServer(t);
  const prefix = uniquePrefix();
  const r = await openRedisLog(s.url, { prefix, logger: quiet });
  t.after(() => r.close());
  const waiting = r.waitForHead(0, undefined, 30_000);
  await new Promise((res) => setTimeout(res, 100));
  await s.restart({ kill: true });
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => w.close());
  await w.append(commitBatch(1, 1));
  assert.equal(await waiting, 2, 'the wait resolved with the new head after the restart');
});

test('redis: bad URL and wrong password fail fast with a clear error (no password shown)', async (t) => {
  const s = await startRedisServer(t, { password: 'right-password' });
  const good = await openRedisLog(s.url, { prefix: uniquePrefix(), logger: quiet });
  await good.close();
  const wrong = `redis://:wrong-password@127.0.0.1:${s.port}`;
  await assert.rejects(openRedisLog(wrong, { logger: quiet }), (err: unknown) => {
    rejectsWith('RAUTA_ERR_LOG_BACKEND', /WRONGPASS.*check the password/)(err);
    assert.ok(!(err as Error).message.includes('wrong-password'), 'the password is not in the message');
    assert.match((err as Error).message, new RegExp(`redis://127\\.0\\.0\\.1:${s.port}`), 'the message names the server');
    return true;
  });
  await assert.rejects(openRedisLog(`redis://127.0.0.1:${s.port}`, { logger: quiet }), rejectsWith('RAUTA_ERR_LOG_BACKEND', /NOAUTH|auth/i));
  const closed = await startRedisServer(t);
  const deadUrl = closed.url;
  await closed.stop();
  await assert.rejects(openEventLog(deadUrl, { logger: quiet }), rejectsWith('RAUTA_ERR_LOG_BACKEND', /ECONNREFUSED.*check that Redis is running/));
  // an unroutable address: bounded by connectTimeoutMs, no endless retry
  await assert.rejects(openRedisLog('redis://10.255.255.1:6379', { logger: quiet, connectTimeoutMs: 300 }), rejectsWith('RAUTA_ERR_LOG_BACKEND'));
  assert.equal(redactRedisUrl('redis://user:pw@h:1/2'), 'redis://h:1/2');
});

test('redis: rebuild swaps the rebuilt keys in atomically; an empty rebuild resets', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  for (let n = 1; n <= 3; n++) await w.append(commitBatch(n, 2));
  await w.close();
  const reader = await openRedisLog(s.url, { prefix, logger: quiet });
  t.after(() => reader.close());
  const rb = await beginRedisLogRebuild(s.url, { prefix, logger: quiet });
  await assert.rejects(
    openRedisLog(s.url, { prefix, writer: true, logger: quiet }),
    rejectsWith('RAUTA_ERR_LOG_LOCKED'),
    'no watcher may write during a rebuild',
  );
  for (let n = 1; n <= 5; n++) await rb.log.append(commitBatch(n, 1));
  assert.equal(await reader.head(), 9, 'before commit readers see the old log');
  await rb.commit();
  assert.equal(await reader.head(), 10);
  assert.equal(batchNumber(await reader.lastAccepted()), 5);
  assert.equal((await reader.read(1, 100)).length, 10);
  const w2 = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  assert.equal((await w2.append(commitBatch(6, 1)))[0]?.seq, 11, 'the lock was released and appends continue');
  await w2.close();

  const reset = await beginRedisLogRebuild(s.url, { prefix, logger: quiet });
  await reset.commit();
  assert.equal(await reader.head(), 0, 'an empty rebuild resets the log');
  assert.equal(await reader.lastCommitMarker(), null);
  const remaining = await raw(t, s.url).keys(`${prefix}:rebuild*`);
  assert.deepEqual(remaining, [], 'no rebuild keys left behind');
});

test('redis: a stored event that fails the schema is an error naming the field', async (t) => {
  const s = await server();
  const prefix = uniquePrefix();
  const w = await openRedisLog(s.url, { prefix, writer: true, logger: quiet });
  t.after(() => w.close());
  await w.append(commitBatch(1, 1));
  const bad = { ...commitBatch(2, 1)[0]!, commit: 'not-a-sha' };
  await raw(t, s.url).xadd(`${prefix}:events`, '3-0', 'e', JSON.stringify(bad));
  await assert.rejects(w.read(1, 10), rejectsWith('RAUTA_ERR_LOG_CORRUPT', /entry 3-0: event seq 3 is not a valid event, field "commit"/));
  // the head key and the stream now disagree: the next append refuses rather than guess
  await assert.rejects(w.append(commitBatch(2, 1)), rejectsWith('RAUTA_ERR_LOG_CORRUPT', /head key says 2 but the stream ends at seq 3/));
});
