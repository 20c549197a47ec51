// File backend of the event log: the shared contract, plus what only a file has: torn tails,
// damage in the middle, records that fail the schema, the lock file, and rebuild by rename.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { openEventLog, type LogWarnings } from '../src/events/event-log.js';
import { beginFileLogRebuild, openFileLog } from '../src/events/file-log.js';
import { eventSchemaTag } from '../src/events/event-record.js';
import { encodeBatch, FILE_HEADER_SIZE, KIND_ACCEPTED, KIND_OTHER, RECORD_HEADER_SIZE, type RecordKind } from '../src/events/record-frame.js';
import { eventLogContract, rejectsWith } from './helpers/event-log-contract.js';
import { batchNumber, commitBatch } from '../testbed/sample-events.js';

function tempLog(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-filelog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'events.log');
}

function collectWarnings(): LogWarnings & { seen: Array<{ obj: object; msg: string }> } {
  const seen: Array<{ obj: object; msg: string }> = [];
  return { seen, warn: (obj, msg) => seen.push({ obj, msg }) };
}

const quiet = collectWarnings();

eventLogContract('file', async (t) => {
  const path = tempLog(t);
  return {
    openWriter: () => openFileLog(path, { writer: true, logger: quiet }),
    openReader: () => openFileLog(path, { pollMs: 20, logger: quiet }),
  };
});

/** Writes batches 1..n (batch k has k % 4 + 1 route events), closes, returns the file size after each batch. */
async function writeBatches(path: string, n: number): Promise<number[]> {
  const w = await openFileLog(path, { writer: true, logger: quiet });
  const sizes: number[] = [];
  for (let k = 1; k <= n; k++) {
    await w.append(commitBatch(k, (k % 4) + 1));
    sizes.push(statSync(path).size);
  }
  await w.close();
  return sizes;
}

test('file: a torn tail (last batch cut mid-record) is truncated with a warning', async (t) => {
  const path = tempLog(t);
  const sizes = await writeBatches(path, 4);
  truncateSync(path, sizes[3]! - 7); // batch 4 lost its last 7 bytes
  const warnings = collectWarnings();
  const w = await openFileLog(path, { writer: true, logger: warnings });
  t.after(() => w.close());
  assert.equal(warnings.seen.length, 1, 'one warning for the torn tail');
  assert.match(warnings.seen[0]!.msg, /truncated a torn tail/);
  assert.equal(statSync(path).size, sizes[2], 'the file ends after batch 3 again');
  assert.equal(batchNumber(await w.lastAccepted()), 3, 'batch 4 is gone whole, batch 3 is the last');
  const out = await w.append(commitBatch(4, 1));
  assert.equal(out[0]!.seq, (await w.read(1, 1000)).length - 1, 'appending continues gap-free');
});

test('file: a batch cut at a record boundary (no end-of-batch record) is dropped whole', async (t) => {
  const path = tempLog(t);
  const sizes = await writeBatches(path, 3); // batch 3 has 4 route events + marker
  const buf = readFileSync(path);
  // find the start of batch 3's last record (the marker): walk the records of batch 3
  let at = sizes[1]!;
  const starts: number[] = [];
  while (at < buf.length) {
    starts.push(at);
    at += RECORD_HEADER_SIZE + buf.readUInt32LE(at);
  }
  assert.equal(starts.length, 5, 'batch 3 has 5 records');
  truncateSync(path, starts[3]!); // three whole records of batch 3 remain, no end flag
  const warnings = collectWarnings();
  const r = await openFileLog(path, { logger: warnings });
  assert.equal(await r.head(), 7, 'a reader does not see the unterminated batch (batches 1 and 2 have 3 + 4 events)');
  await r.close();
  assert.equal(warnings.seen.length, 0, 'a reader never truncates or warns');
  const w = await openFileLog(path, { writer: true, logger: warnings });
  t.after(() => w.close());
  assert.match(warnings.seen[0]?.msg ?? '', /torn tail/);
  assert.equal((warnings.seen[0]?.obj as { reason?: string } | undefined)?.reason, 'unterminated-batch');
  assert.equal(await w.head(), 7, 'batch 3 was dropped whole: the head is the end of batch 2');
  assert.equal(statSync(path).size, sizes[1]);
});

test('file: damage in the middle is an error naming the offset, never a skip', async (t) => {
  const path = tempLog(t);
  const sizes = await writeBatches(path, 4);
  const buf = readFileSync(path);
  const victim = sizes[0]! + RECORD_HEADER_SIZE + 10; // inside batch 2's first payload
  buf[victim] = buf[victim]! ^ 0x20;
  writeFileSync(path, buf);
  for (const writer of [false, true]) {
    await assert.rejects(
      openFileLog(path, { writer, logger: quiet }),
      rejectsWith('RAUTA_ERR_LOG_CORRUPT', new RegExp(`offset ${sizes[0]} \\(seq 4\\) is damaged \\(crc-mismatch\\) and valid records follow`)),
    );
  }
  assert.equal(statSync(path).size, sizes[3], 'nothing was truncated');
  assert.ok(!existsSync(`${path}.lock`), 'a failed open leaves no lock behind');
});

test('file: damage in the very last record is a torn tail, not an error', async (t) => {
  const path = tempLog(t);
  const sizes = await writeBatches(path, 2);
  const buf = readFileSync(path);
  buf[buf.length - 3] = buf[buf.length - 3]! ^ 0xff;
  writeFileSync(path, buf);
  const warnings = collectWarnings();
  const w = await openFileLog(path, { writer: true, logger: warnings });
  t.after(() => w.close());
  assert.equal((warnings.seen[0]?.obj as { reason?: string } | undefined)?.reason, 'crc-mismatch');
  assert.equal(statSync(path).size, sizes[0]);
});

test('file: a record that fails the schema is an error naming seq and field', async (t) => {
  const path = tempLog(t);
  await writeBatches(path, 1); // seq 1..3
  const bad = commitBatch(2, 1)[0] as { route: { backends: Array<{ port: number }> } };
  bad.route.backends[0]!.port = 0;
  appendFileSync(path, encodeBatch([{ seq: 4, kind: KIND_OTHER, payload: Buffer.from(JSON.stringify({ seq: 4, ...bad })) }]));
  const r = await openFileLog(path, { logger: quiet });
  t.after(() => r.close());
  assert.equal(await r.head(), 4, 'the frame itself is whole');
  assert.equal((await r.read(1, 3)).length, 3, 'events before it read fine');
  await assert.rejects(r.read(1, 10), rejectsWith('RAUTA_ERR_LOG_CORRUPT', /seq 4 is not a valid event, field "route\.backends\.0\.port"/));
});

test('file: the writer tags its records with the schema it checked them against', async (t) => {
  const path = tempLog(t);
  await writeBatches(path, 1); // seq 1..3
  const buf = readFileSync(path);
  let at = FILE_HEADER_SIZE;
  for (let seq = 1; seq <= 3; seq++) {
    assert.equal(buf.readUInt16LE(at + 18), eventSchemaTag(), `seq ${seq} carries this build's schema tag`);
    at += RECORD_HEADER_SIZE + buf.readUInt32LE(at);
  }
  assert.notEqual(eventSchemaTag(), 0, '0 means "not known" and is never a tag');
});

test('file: a record tagged by another schema (another version of rauta) gets the full schema check', async (t) => {
  const path = tempLog(t);
  await writeBatches(path, 1); // seq 1..3
  const bad = commitBatch(2, 1)[0] as { route: { backends: Array<{ port: number }> } };
  bad.route.backends[0]!.port = 0;
  const other = (eventSchemaTag() % 0xffff) + 1;
  appendFileSync(path, encodeBatch([{ seq: 4, kind: KIND_OTHER, tag: other, payload: Buffer.from(JSON.stringify({ seq: 4, ...bad })) }]));
  const r = await openFileLog(path, { logger: quiet });
  t.after(() => r.close());
  await assert.rejects(r.read(1, 10), rejectsWith('RAUTA_ERR_LOG_CORRUPT', /seq 4 is not a valid event, field "route\.backends\.0\.port"/));
});

test('file: a record with this schema tag is still checked for JSON, seq and type', async (t) => {
  const tag = eventSchemaTag();
  const good = commitBatch(2, 1)[0]!;
  const cases: Array<{ what: string; kind?: RecordKind; payload: string; error: RegExp }> = [
    { what: 'not JSON', payload: '{"seq":4,', error: /seq 4 is not valid JSON/ },
    { what: 'not an object', payload: '[4]', error: /seq 4 is not a JSON object/ },
    { what: 'another seq', payload: JSON.stringify({ ...good, seq: 5 }), error: /stored as seq 4 says field "seq" is 5/ },
    {
      what: 'an unknown type',
      payload: JSON.stringify({ seq: 4, ...good, type: 'RouteDeleted' }),
      error: /seq 4 has field "type" "RouteDeleted", which is not an event type/,
    },
    {
      what: 'a type the header does not say',
      kind: KIND_ACCEPTED,
      payload: JSON.stringify({ seq: 4, ...good }),
      error: /seq 4 has field "type" "RouteUpserted".*kind 1/,
    },
  ];
  for (const c of cases) {
    const path = tempLog(t);
    await writeBatches(path, 1); // seq 1..3
    appendFileSync(path, encodeBatch([{ seq: 4, kind: c.kind ?? KIND_OTHER, tag, payload: Buffer.from(c.payload) }]));
    const r = await openFileLog(path, { logger: quiet });
    try {
      assert.equal((await r.read(1, 3)).length, 3, `${c.what}: events before it read fine`);
      await assert.rejects(r.read(4, 1), rejectsWith('RAUTA_ERR_LOG_CORRUPT', c.error), c.what);
    } finally {
      await r.close();
    }
  }
});

test('file: a file that is not an event log is refused', async (t) => {
  const path = tempLog(t);
  writeFileSync(path, 'hello, I am a text file\n');
  await assert.rejects(openFileLog(path, { logger: quiet }), rejectsWith('RAUTA_ERR_LOG_CORRUPT', /is not a rauta event log/));
  await assert.rejects(openFileLog(`${path}.missing`, { logger: quiet }), rejectsWith('RAUTA_ERR_LOG_BACKEND', /does not exist/));
});

test('file: a stale lock (dead pid) is taken over with a warning', async (t) => {
  const path = tempLog(t);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(dead.stdout);
  assert.ok(pid > 0, 'got the pid of an exited process');
  writeFileSync(`${path}.lock`, JSON.stringify({ pid, start: '1', host: (await import('node:os')).hostname(), token: 'old', since: 'yesterday' }));
  const warnings = collectWarnings();
  const w = await openFileLog(path, { writer: true, logger: warnings });
  t.after(() => w.close());
  assert.match(warnings.seen[0]?.msg ?? '', /taking over a stale writer lock/);
  assert.equal((warnings.seen[0]?.obj as { stalePid?: number } | undefined)?.stalePid, pid);
  await w.append(commitBatch(1, 1));
  assert.equal(await w.head(), 2);
});

test('file: a writer whose lock file was taken over cannot append (fencing)', async (t) => {
  const path = tempLog(t);
  const w = await openFileLog(path, { writer: true, logger: quiet });
  t.after(() => w.close());
  await w.append(commitBatch(1, 1));
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.pid, start: '', host: 'elsewhere', token: 'other', since: 'now' }));
  await assert.rejects(w.append(commitBatch(2, 1)), rejectsWith('RAUTA_ERR_LOG_LOCKED', /lost the lock/));
  rmSync(`${path}.lock`);
});

test('file: openEventLog accepts file:PATH and PATH', async (t) => {
  const path = tempLog(t);
  const w = await openEventLog(`file:${path}`, { writer: true, logger: quiet });
  await w.append(commitBatch(1, 1));
  await w.close();
  const r = await openEventLog(path);
  t.after(() => r.close());
  assert.equal(await r.head(), 2);
  assert.equal(r.location, `file:${path}`);
});

test('file: rebuild writes aside and swaps in atomically; an open reader follows', async (t) => {
  const path = tempLog(t);
  await writeBatches(path, 3);
  const reader = await openFileLog(path, { pollMs: 20, logger: quiet });
  t.after(() => reader.close());
  const oldHead = await reader.head();
  const rb = await beginFileLogRebuild(path, { logger: quiet });
  await assert.rejects(openFileLog(path, { writer: true, logger: quiet }), rejectsWith('RAUTA_ERR_LOG_LOCKED'), 'no watcher may write during a rebuild');
  for (let k = 1; k <= 5; k++) await rb.log.append(commitBatch(k, 1));
  assert.equal(await reader.head(), oldHead, 'before commit readers see the old log');
  await rb.commit();
  assert.ok(!existsSync(`${path}.rebuild`), 'the rebuild file was renamed over the log');
  assert.equal(await reader.head(), 10, 'after commit the reader sees the rebuilt log');
  assert.equal(batchNumber(await reader.lastAccepted()), 5);
  const w = await openFileLog(path, { writer: true, logger: quiet });
  t.after(() => w.close());
  assert.equal(await w.head(), 10, 'the lock was released and the new log is whole');

  const rb2 = await (async () => {
    await w.close();
    return beginFileLogRebuild(path, { logger: quiet });
  })();
  await rb2.log.append(commitBatch(1, 1));
  await rb2.abort();
  const r2 = await openFileLog(path, { logger: quiet });
  t.after(() => r2.close());
  assert.equal(await r2.head(), 10, 'an aborted rebuild leaves the log alone');
});

test('file: header of a fresh log, and a creation torn before the header was whole', async (t) => {
  const path = tempLog(t);
  writeFileSync(path, Buffer.from('RAUT'));
  const w = await openFileLog(path, { writer: true, logger: quiet });
  t.after(() => w.close());
  assert.equal(statSync(path).size, FILE_HEADER_SIZE, 'the half header was replaced by a whole one');
  await w.append(commitBatch(1, 1));
  assert.equal(await w.head(), 2);
});

test('file: scanning at open in small chunks gives the same log and the same verdicts', async (t) => {
  const path = tempLog(t);
  const sizes = await writeBatches(path, 12);
  const whole = await openFileLog(path, { logger: quiet });
  const expected = await whole.read(1, 10_000);
  await whole.close();
  for (const chunk of [64, 300, 1000, 4096]) {
    const r = await openFileLog(path, { logger: quiet, loadChunkBytes: chunk });
    assert.deepEqual(await r.read(1, 10_000), expected, `chunk ${chunk}: same events`);
    await r.close();
  }
  truncateSync(path, sizes[11]! - 5);
  const warnings = collectWarnings();
  const w = await openFileLog(path, { writer: true, logger: warnings, loadChunkBytes: 100 });
  assert.equal(statSync(path).size, sizes[10], 'chunked: torn tail truncated to the end of batch 11');
  assert.equal(warnings.seen.length, 1);
  await w.close();
  const buf = readFileSync(path);
  const victim = sizes[1]! + RECORD_HEADER_SIZE + 3; // damage batch 3
  buf[victim] = buf[victim]! ^ 0x01;
  writeFileSync(path, buf);
  await assert.rejects(
    openFileLog(path, { logger: quiet, loadChunkBytes: 64 }),
    rejectsWith('RAUTA_ERR_LOG_CORRUPT', /valid records follow/),
    'chunked: damage in the middle is still an error',
  );
});

test('file: a reader in this process follows a writer in another process', async (t) => {
  const path = tempLog(t);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fixtures/log-writer.ts', import.meta.url).pathname, path, '3'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const r = await openFileLog(path, { logger: quiet, allowMissing: true, pollMs: 20 });
  t.after(() => r.close());
  const first = await r.waitForHead(0);
  assert.ok(first > 0, 'the reader saw the other process append');
  const later = await r.waitForHead(first + 50);
  assert.ok(later > first + 50, 'and keeps seeing appends');
  const events = await r.read(1, later);
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: later }, (_, i) => i + 1),
    'gap-free while the writer is running',
  );
  assert.ok(['CommitAccepted', 'CommitRejected'].includes(events[events.length - 1]!.type), 'a reader only sees whole batches');
});

test('file: writers racing to take over one stale lock: exactly one wins', async (t) => {
  const path = tempLog(t);
  const { hostname } = await import('node:os');
  for (let round = 0; round < 5; round++) {
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, start: '1', host: hostname(), token: 'stale', since: 'long ago' }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => openFileLog(path, { writer: true, logger: quiet })));
    const winners = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof openFileLog>>> => r.status === 'fulfilled');
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(winners.length, 1, `round ${round}: exactly one writer took the stale lock`);
    for (const l of losers) rejectsWith('RAUTA_ERR_LOG_LOCKED')(l.reason);
    const w = winners[0]!.value;
    await w.append(commitBatch(round + 1, 1));
    await w.close();
  }
  const r = await openFileLog(path, { logger: quiet });
  t.after(() => r.close());
  assert.equal(await r.head(), 10);
});
