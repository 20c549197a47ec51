// The watcher's writer handle over a real redis-server: when the writer lock
// disappears (it expired during an outage, or a restart dropped it), appends
// are refused (fencing), the handle takes the lock again once it is free and
// appends resume; while another writer holds it, the handle waits (standby).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { WriterLog } from '../src/cluster/writer-log.js';
import { openEventLog } from '../src/events/event-log.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { commitBatch } from '../testbed/sample-events.js';

test('writer log: a lost lock is taken again once free; appends resume without a gap', async (t) => {
  const server = await startRedisServer(t);
  const prefix = `rauta-wl-${uniqueSuffix()}`;
  const warnings: string[] = [];
  const infos: string[] = [];
  const logger = { warn: (_o: object, m: string) => void warnings.push(m), info: (_o: object, m: string) => void infos.push(m) };
  let relocked: () => void = () => undefined;
  let relock = new Promise<void>((r) => (relocked = r));
  const log = await WriterLog.open({ url: server.url, prefix, logger, lockTtlMs: 300, retryMs: 50, onRelocked: () => relocked() });
  const admin = new Redis(server.url);
  t.after(async () => {
    await log.close();
    admin.disconnect();
  });
  await log.append(commitBatch(1, 2), { expectedHead: 0 });

  // The lock vanishes (as after an outage longer than its TTL): the handle notices and takes it again.
  await admin.del(`${prefix}:lock`);
  await relock;
  assert.ok(
    warnings.some((w) => w.includes('lost the event log writer lock')),
    `the loss is reported: ${JSON.stringify(warnings)}`,
  );
  const head1 = await log.head();
  const appended = await log.append(commitBatch(2, 1), { expectedHead: head1 });
  assert.equal(appended[0]!.seq, head1 + 1, 'appends resume right after the head');

  // Another writer holds the lock (no expiry): the handle waits as a standby until it is released.
  relock = new Promise<void>((r) => (relocked = r));
  let released = false;
  let relockedWhileHeld = false;
  void relock.then(() => (relockedWhileHeld = !released));
  const lostBefore = warnings.length;
  await admin.set(`${prefix}:lock`, JSON.stringify({ token: 'other-writer', pid: 1, host: 'elsewhere', since: new Date().toISOString() }));
  for (let i = 0; i < 200 && warnings.length === lostBefore; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(warnings.length > lostBefore, 'the handle notices the other writer');
  await new Promise((r) => setTimeout(r, 300)); // a few of its 50 ms retries fail meanwhile
  released = true;
  await admin.del(`${prefix}:lock`);
  await relock;
  assert.equal(relockedWhileHeld, false, 'no second writer while the other one held the lock');
  const head2 = await log.head();
  await log.append(commitBatch(3, 1), { expectedHead: head2 });
  const reader = await openEventLog(server.url, { prefix });
  try {
    const events = await reader.read(1, 1000);
    assert.equal(events.length, await reader.head(), 'gap-free');
    assert.deepEqual(events.filter((e) => e.type === 'CommitAccepted').length, 3, 'three commits, each once');
  } finally {
    await reader.close();
  }
});
