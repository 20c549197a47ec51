// The EventLog contract, run against every backend (file-log.test.ts, redis-log.test.ts):
// gap-free seq from 1, atomic batches, expectedHead, commit markers, reopen, single writer,
// waitForHead, and throughput figures printed (never asserted).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { EventLog } from '../../src/events/event-log.js';
import { RautaError } from '../../src/errors.js';
import { batchNumber, commitBatch } from '../../testbed/sample-events.js';

export interface LogUnderTest {
  openWriter(): Promise<EventLog>;
  openReader(): Promise<EventLog>;
}

/** A fresh, empty log location for one test (cleaned up through t.after). */
export type FreshLog = (t: TestContext) => Promise<LogUnderTest>;

export function rejectsWith(code: string, pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RautaError, `expected a RautaError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    if (pattern) assert.match(err.message, pattern, `message should match ${pattern}`);
    return true;
  };
}

function closeAfter<T extends EventLog>(t: TestContext, log: T): T {
  t.after(() => log.close());
  return log;
}

export function eventLogContract(backend: string, fresh: FreshLog): void {
  test(`${backend}: empty log has head 0, no events, no markers`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    assert.equal(await w.head(), 0, 'a new log starts empty');
    assert.deepEqual(await w.read(1, 100), [], 'nothing to read from an empty log');
    assert.equal(await w.lastCommitMarker(), null);
    assert.equal(await w.lastAccepted(), null);
  });

  test(`${backend}: append numbers events gap-free from 1; read windows and head agree`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    const batches = [commitBatch(1, 3), commitBatch(2, 1), commitBatch(3, 5)];
    let expectedSeq = 1;
    for (const b of batches) {
      const out = await w.append(b);
      assert.deepEqual(
        out.map((e) => e.seq),
        b.map((_, i) => expectedSeq + i),
        'append returns the batch numbered right after the head',
      );
      expectedSeq += b.length;
    }
    const total = batches.flat().length;
    assert.equal(await w.head(), total);
    const all = await w.read(1, 1000);
    assert.deepEqual(
      all.map((e) => e.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      'seq is gap-free from 1',
    );
    assert.deepEqual(
      all.map(({ seq: _s, ...body }) => body),
      batches.flat(),
      'events read back equal what was appended',
    );
    assert.deepEqual(
      (await w.read(4, 3)).map((e) => e.seq),
      [4, 5, 6],
      'read(from, limit) is a window',
    );
    assert.deepEqual(
      (await w.read(0, 2)).map((e) => e.seq),
      [1, 2],
      'fromSeq below 1 reads from 1',
    );
    assert.deepEqual(await w.read(total + 1, 10), [], 'reading past the head is empty');
    assert.deepEqual(await w.append([]), [], 'an empty batch appends nothing');
    assert.equal(await w.head(), total);
  });

  test(`${backend}: a batch with one invalid event appends nothing`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    await w.append(commitBatch(1, 2));
    const bad = commitBatch(2, 2);
    (bad[1] as { route: { backends: Array<{ port: number }> } }).route.backends[0]!.port = 70000;
    await assert.rejects(w.append(bad), rejectsWith('RAUTA_ERR_LOG_INVALID_EVENT', /route\.backends\.0\.port/));
    assert.equal(await w.head(), 3, 'the whole batch was refused');
    assert.equal(batchNumber(await w.lastAccepted()), 1);
  });

  test(`${backend}: expectedHead guards the append`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    await w.append(commitBatch(1, 1), { expectedHead: 0 });
    await assert.rejects(w.append(commitBatch(2, 1), { expectedHead: 0 }), rejectsWith('RAUTA_ERR_LOG_SEQUENCE', /expected head 0 but the head is 2/));
    await assert.rejects(w.append(commitBatch(2, 1), { expectedHead: 3 }), rejectsWith('RAUTA_ERR_LOG_SEQUENCE'));
    assert.equal(await w.head(), 2, 'refused appends left the log alone');
    const out = await w.append(commitBatch(2, 1), { expectedHead: 2 });
    assert.deepEqual(
      out.map((e) => e.seq),
      [3, 4],
    );
  });

  test(`${backend}: lastCommitMarker and lastAccepted follow the markers`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    await w.append(commitBatch(1, 2));
    let m = await w.lastCommitMarker();
    assert.equal(m?.type, 'CommitAccepted');
    assert.equal(m?.seq, 3);
    await w.append(commitBatch(2, 0, { rejected: true }));
    m = await w.lastCommitMarker();
    assert.equal(m?.type, 'CommitRejected', 'the last marker is the rejection');
    assert.equal(m?.seq, 4);
    const a = await w.lastAccepted();
    assert.equal(a?.seq, 3, 'lastAccepted stays on the last good commit');
    assert.equal(batchNumber(a), 1);
    await w.append([commitBatch(3, 1)[0]!]); // a route event without a marker
    assert.equal((await w.lastCommitMarker())?.seq, 4, 'non-marker events do not move the marker');
  });

  test(`${backend}: reopen sees the same log`, async (t) => {
    const at = await fresh(t);
    const w = await at.openWriter();
    for (let n = 1; n <= 5; n++) await w.append(commitBatch(n, n % 3));
    const before = await w.read(1, 1000);
    const marker = await w.lastCommitMarker();
    await w.close();
    const r = closeAfter(t, await at.openReader());
    assert.deepEqual(await r.read(1, 1000), before, 'a reader after reopen reads the same events');
    assert.equal(await r.head(), before.length);
    assert.deepEqual(await r.lastCommitMarker(), marker);
    const w2 = closeAfter(t, await at.openWriter());
    assert.equal(await w2.head(), before.length, 'a new writer continues at the same head');
    const out = await w2.append(commitBatch(6, 1));
    assert.equal(out[0]?.seq, before.length + 1);
  });

  test(`${backend}: a second writer is refused; readers need no lock`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    await w.append(commitBatch(1, 1));
    await assert.rejects(at.openWriter(), rejectsWith('RAUTA_ERR_LOG_LOCKED', /already has a writer/));
    const r = closeAfter(t, await at.openReader());
    assert.equal(await r.head(), 2);
    await assert.rejects(r.append(commitBatch(2, 1)), rejectsWith('RAUTA_ERR_LOG_LOCKED', /read-only/));
    await w.close();
    const w2 = closeAfter(t, await at.openWriter());
    assert.equal(await w2.head(), 2, 'after the first writer closed, a new one may start');
  });

  test(`${backend}: a reader's waitForHead wakes on appends; timeout and abort`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    const r = closeAfter(t, await at.openReader());
    assert.equal(await r.waitForHead(0, undefined, 50), 0, 'timeout resolves with the current head');
    const waiting = r.waitForHead(0);
    await w.append(commitBatch(1, 2));
    assert.equal(await waiting, 3, 'the wait resolved with the new head');
    assert.equal(await r.waitForHead(1), 3, 'already past: resolves at once');
    const ac = new AbortController();
    const aborted = r.waitForHead(3, ac.signal);
    ac.abort(new Error('stop waiting'));
    await assert.rejects(aborted, /stop waiting/);
    const next = r.waitForHead(3);
    await w.append(commitBatch(2, 1));
    assert.equal(await next, 5);
    assert.deepEqual(
      (await r.read(4, 10)).map((e) => e.seq),
      [4, 5],
      'the reader reads what it was woken for',
    );
  });

  test(`${backend}: closing a log ends its pending waits with an error`, async (t) => {
    const at = await fresh(t);
    const w = closeAfter(t, await at.openWriter());
    const r = await at.openReader();
    // settle handlers attached at once: the second wait rejects before the first is checked
    const waits = [r.waitForHead(0), w.waitForHead(0)].map((p) =>
      p.then(
        () => assert.fail('the wait should have been ended'),
        (err: unknown) => err,
      ),
    );
    await new Promise((res) => setTimeout(res, 50));
    await r.close();
    await w.close();
    for (const p of waits) rejectsWith('RAUTA_ERR_LOG_BACKEND', /closed while waiting/)(await p);
  });
}
