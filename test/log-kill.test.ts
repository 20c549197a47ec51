// Crash safety of the file log: a child appends batches as fast as it can and is SIGKILLed
// at a random moment, many times. After each kill the log reopens with no gap, no duplicate,
// every batch whole (or absent), the torn tail gone, and the next writer resumes exactly after
// the last recorded commit. Figures are printed, not asserted as timings.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { LogWarnings } from '../src/events/event-log.js';
import { type RautaEvent, isCommitMarker } from '../src/routes/route-events.js';
import type { EventLog } from '../src/events/event-log.js';
import { openFileLog } from '../src/events/file-log.js';
import { openRedisLog } from '../src/events/redis-log.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { FILE_HEADER_SIZE, scanFrames } from '../src/events/record-frame.js';
import { batchNumber } from '../testbed/sample-events.js';
import { seededRandom, testSeed } from './helpers/seeded-random.js';

const ITERATIONS = Number(process.env.RAUTA_KILL_ITERATIONS ?? 60);
const REDIS_ITERATIONS = Number(process.env.RAUTA_REDIS_KILL_ITERATIONS ?? 20);
const fixture = fileURLToPath(new URL('./fixtures/log-writer.ts', import.meta.url));

interface Verified {
  head: number;
  batch: number;
}

/**
 * Checks events [from..head]: seq contiguous, and grouped into whole batches: `routes`
 * RouteUpserted named b<n>-r<i>-of-<routes> followed by the batch's marker, batch numbers
 * consecutive. Returns the new head and last batch number.
 */
async function verifyFrom(log: EventLog, prev: Verified): Promise<Verified & { gaps: number; duplicates: number }> {
  const head = await log.head();
  let seq = prev.head;
  let batch = prev.batch;
  let pending: RautaEvent[] = [];
  let gaps = 0;
  let duplicates = 0;
  for (let from = prev.head + 1; from <= head; from += 2000) {
    for (const e of await log.read(from, 2000)) {
      if (e.seq !== seq + 1) e.seq <= seq ? duplicates++ : gaps++;
      seq = e.seq;
      pending.push(e);
      if (isCommitMarker(e)) {
        const n = batchNumber(e);
        if (n !== batch + 1) n <= batch ? duplicates++ : gaps++;
        const routes = pending.slice(0, -1);
        for (const [i, r] of routes.entries()) {
          assert.equal(r.type, 'RouteUpserted', `seq ${r.seq}: batch ${n} holds only routes before its marker`);
          if (r.type === 'RouteUpserted') assert.equal(r.route.name, `b${n}-r${i}-of-${routes.length}`, `seq ${r.seq}: batch ${n} is whole and in order`);
        }
        if (e.type === 'CommitAccepted') assert.equal(e.counts.routesUpserted, routes.length, `batch ${n} has all its routes`);
        batch = n;
        pending = [];
      }
    }
  }
  assert.equal(seq, head, 'read everything up to the head');
  assert.equal(pending.length, 0, `the log ends with a commit marker, not with ${pending.length} events of a half batch`);
  return { head, batch, gaps, duplicates };
}

/**
 * Waits for the writer's first "appended N" line, lets it run a random moment more,
 * SIGKILLs it and waits for it to exit; returns N (the first batch it appended).
 */
async function killAfterFirstAppend(t: TestContext, child: ChildProcessByStdio<null, Readable, Readable>, random: () => number): Promise<number> {
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  const firstBatch = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /appended (\d+) /.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before appending:\n${err}${out}`)));
  });
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  await new Promise((r) => setTimeout(r, random() * 150));
  child.kill('SIGKILL');
  await exited;
  return firstBatch;
}

test('file log survives kill -9 of a writer appending as fast as it can', { timeout: 15 * 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-logkill-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'events.log');
  let verified: Verified = { head: 0, batch: 0 };
  let gaps = 0;
  let duplicates = 0;
  let tornTails = 0;
  let staleLocks = 0;
  let tornSplit = 0;
  let batchesAppended = 0;
  const started = Date.now();

  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay the random choices with RAUTA_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  for (let i = 0; i < ITERATIONS; i++) {
    // every other writer gets its writes split (fault injection) so kills also land mid-write
    const split = i % 2 === 1;
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RAUTA_SPLIT_WRITES: split ? '1' : '0', RAUTA_WRITER_SEED: String((seed + i) >>> 0) },
    });
    const firstBatch = await killAfterFirstAppend(t, child, random);
    assert.equal(firstBatch, verified.batch + 1, `iteration ${i}: the writer resumed right after the last recorded commit (batch ${verified.batch})`);

    const warnings: Array<{ obj: object; msg: string }> = [];
    const sink: LogWarnings = { warn: (obj, msg) => warnings.push({ obj, msg }) };
    const log = await openFileLog(path, { writer: true, logger: sink });
    try {
      if (warnings.some((w) => /torn tail/.test(w.msg))) tornTails++;
      if (split && warnings.some((w) => /torn tail/.test(w.msg))) tornSplit++;
      if (warnings.some((w) => /stale writer lock/.test(w.msg))) staleLocks++;
      const v = await verifyFrom(log, verified);
      gaps += v.gaps;
      duplicates += v.duplicates;
      assert.ok(v.head >= verified.head, `iteration ${i}: the log never shrinks below what was verified`);
      const prevMarker = verified.head > 0 ? (await log.read(verified.head, 1))[0] : undefined;
      if (verified.head > 0) assert.equal(batchNumber(prevMarker as { type: string; subject?: string }), verified.batch, 'the verified prefix is unchanged');
      batchesAppended += v.batch - verified.batch;
      verified = { head: v.head, batch: v.batch };
      const bytes = readFileSync(path);
      assert.equal(
        scanFrames(bytes.subarray(FILE_HEADER_SIZE), FILE_HEADER_SIZE, 1).tail,
        null,
        `iteration ${i}: the torn tail is gone (file ends at the last whole batch)`,
      );
    } finally {
      await log.close();
    }
  }

  // a final full pass over the whole log
  const log = await openFileLog(path, { logger: { warn: () => undefined } });
  t.after(() => log.close());
  const full = await verifyFrom(log, { head: 0, batch: 0 });
  assert.equal(full.head, verified.head);
  const line =
    `kill -9 loop: ${ITERATIONS} iterations in ${((Date.now() - started) / 1000).toFixed(1)} s, ${batchesAppended} batches / ${full.head} events, ` +
    `gaps ${gaps + full.gaps}, duplicates ${duplicates + full.duplicates}, torn tails truncated ${tornTails} (${tornSplit} with split writes, ${tornTails - tornSplit} with plain writes), stale locks taken over ${staleLocks}`;
  t.diagnostic(line);
  console.log(`# ${line}`);
  assert.equal(gaps + full.gaps, 0, 'no gaps');
  assert.equal(duplicates + full.duplicates, 0, 'no duplicates');
  assert.equal(staleLocks, ITERATIONS, 'every killed writer left a stale lock that was taken over');
  if (ITERATIONS >= 20) assert.ok(tornTails > 0, 'with split writes some kills tore a batch: the torn-tail path was exercised');
});

test('redis log: kill -9 of the writer between fetch and append, many times: exactly once per commit', { timeout: 10 * 60_000 }, async (t) => {
  const server = await startRedisServer(t);
  const prefix = `rauta-kill-${process.pid}`;
  let verified: Verified = { head: 0, batch: 0 };
  let gaps = 0;
  let duplicates = 0;
  const started = Date.now();
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay the random choices with RAUTA_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  for (let i = 0; i < REDIS_ITERATIONS; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, server.url, '50'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RAUTA_LOG_PREFIX: prefix, RAUTA_WRITER_SEED: String((seed + i) >>> 0) },
    });
    const firstBatch = await killAfterFirstAppend(t, child, random);
    assert.equal(firstBatch, verified.batch + 1, `iteration ${i}: the writer resumed right after the last recorded commit (batch ${verified.batch})`);
    const log = await openRedisLog(server.url, { prefix, logger: { warn: () => undefined } });
    try {
      const v = await verifyFrom(log, verified);
      gaps += v.gaps;
      duplicates += v.duplicates;
      verified = { head: v.head, batch: v.batch };
      assert.equal(batchNumber(await log.lastCommitMarker()), v.batch, 'the marker key agrees with the stream');
    } finally {
      await log.close();
    }
  }
  const log = await openRedisLog(server.url, { prefix, logger: { warn: () => undefined } });
  t.after(() => log.close());
  const full = await verifyFrom(log, { head: 0, batch: 0 });
  const line =
    `redis kill -9 loop: ${REDIS_ITERATIONS} iterations in ${((Date.now() - started) / 1000).toFixed(1)} s, ${full.batch} batches / ${full.head} events, ` +
    `gaps ${gaps + full.gaps}, duplicates ${duplicates + full.duplicates}`;
  t.diagnostic(line);
  console.log(`# ${line}`);
  assert.equal(gaps + full.gaps, 0, 'no gaps');
  assert.equal(duplicates + full.duplicates, 0, 'no duplicates');
});
