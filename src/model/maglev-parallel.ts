// Many Maglev tables at once on every core, for a full plan (one table per
// distinct backend set: 1,024 builds took ~90 ms on one core). The calling
// thread and worker threads take jobs from one queue in shared memory and
// run the same fillTable; the caller blocks (Atomics.wait) until all are
// built, so planning stays synchronous. The workers are plain JavaScript
// built from the functions' own source, so they start in ~30 ms without the
// TypeScript loader, and they join a batch whenever they are ready.
//
// A batch runs while it is filled: each job is published as soon as the
// caller has prepared it, so the workers build while the caller is still
// looking tables up and hashing backends for the rest (that work, done first
// for the whole batch, kept the workers idle for ~15 of a full sync's ~80 ms).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { buildInOrder, fillScratch, fillTable, jobBytes, jobViews, setJob, tailFor, type FillScratch, type JobViews } from './maglev-build.js';
import { MAGLEV_SIZE, type MaglevBackend } from './maglev-reference.js';

/** One table to build: backends[order[k]] (order from liveOrder), into `table`. */
export interface TableJob {
  backends: readonly MaglevBackend[];
  order: readonly number[];
  table: Uint8Array;
}

/** Jobs per round in shared memory, and live backends per job (RAUTA_MAX_BACKENDS); larger jobs are built by the caller. */
const CAPACITY = 1024;
const STRIDE = 32;
/** Fewer jobs than this are not worth waking a worker for: they are held back until the batch has this many. */
const PARALLEL_MIN = 32;
/** A worker that holds a job this long is taken for dead: the caller builds the rest and stops using workers. */
const STALL_MS = 5000;

// ctrl[QUEUE] is the whole queue in one word, gen << 22 | count << 11 | next
// (9, 11 and 11 bits), so that a claim is one compare-and-swap, publishing a
// job is one add to count, and a worker can never claim a job of a round
// whose inputs it has not seen; ctrl[DONE] counts the round's built tables.
const QUEUE = 0;
const DONE = 1;
const COUNT_ONE = 1 << 11;

interface Pool {
  ctrl: Int32Array;
  jobs: JobViews;
  out: Uint8Array;
  workers: Worker[];
  gen: number;
  scratch: FillScratch;
}

let pool: Pool | null | undefined;
let byWorkers = 0;

/** Tables the worker threads built so far in this process (tests check that they took part). */
export function tablesBuiltByWorkers(): number {
  return byWorkers;
}

/**
 * Tables built as their jobs are added, on the caller's thread and the worker
 * threads (one per further core, at most 3); finish() returns when every
 * added job's table is filled, as buildInOrder would fill it. Tables of another
 * size than MAGLEV_SIZE, jobs of more than 32 live backends and batches of
 * fewer than 32 jobs are built on the caller's thread.
 */
export class TableBatch {
  private readonly pool: Pool | null;
  /** the current round's jobs, in queue order */
  private round: TableJob[] = [];
  private published = 0;
  /** jobs built on the caller's thread at finish() */
  private readonly local: TableJob[] = [];

  constructor(
    private readonly size: number,
    parallel = true,
  ) {
    this.pool = parallel && size === MAGLEV_SIZE ? thePool() : null;
  }

  add(job: TableJob): void {
    const p = this.pool;
    if (p === null || pool !== p || job.order.length > STRIDE) {
      this.local.push(job);
      return;
    }
    if (this.round.length === CAPACITY) this.runRound(p);
    const j = this.round.length;
    if (j === 0) startRound(p);
    setJob(p.jobs, j, job.backends, job.order, this.size);
    this.round.push(job);
    if (this.round.length >= PARALLEL_MIN) this.publish(p);
  }

  finish(): void {
    const p = this.pool;
    if (p !== null && this.round.length > 0) {
      if (this.round.length >= PARALLEL_MIN || this.published > 0) this.runRound(p);
      else this.local.push(...this.round); // too few to wake a worker: their inputs are set, but buildInOrder sets its own
    }
    this.round = [];
    for (const job of this.local.splice(0)) buildInOrder(job.backends, job.order, this.size, job.table);
  }

  /** Make every job added so far claimable. */
  private publish(p: Pool): void {
    const n = this.round.length - this.published;
    if (n === 0) return;
    Atomics.add(p.ctrl, QUEUE, n * COUNT_ONE);
    Atomics.notify(p.ctrl, QUEUE);
    this.published = this.round.length;
  }

  /** Publish the rest of the round, build jobs here until none is left, wait for the workers' ones and copy them out. */
  private runRound(p: Pool): void {
    this.publish(p);
    const batch = this.round;
    this.round = [];
    this.published = 0;
    if (pool !== p) {
      // abandoned meanwhile (a stall in an earlier round of this batch)
      for (const job of batch) buildInOrder(job.backends, job.order, this.size, job.table);
      return;
    }
    const { size } = this;
    const n = batch.length;
    const builtHere = new Uint8Array(n);
    const tail = tailFor(size);
    for (;;) {
      const j = claim(p.ctrl);
      if (j < 0) break;
      fillTable(batch[j]!.table, size, tail, p.jobs, j, p.scratch);
      builtHere[j] = 1;
      Atomics.add(p.ctrl, DONE, 1);
    }
    const since = performance.now();
    for (let done = Atomics.load(p.ctrl, DONE); done < n; done = Atomics.load(p.ctrl, DONE)) {
      if (performance.now() - since > STALL_MS) {
        abandon(p, batch, builtHere, size);
        return;
      }
      Atomics.wait(p.ctrl, DONE, done, 100);
    }
    for (let j = 0; j < n; j++) {
      if (builtHere[j]) continue;
      batch[j]!.table.set(p.out.subarray(j * size, j * size + size));
      byWorkers++;
    }
  }
}

/** A new, empty round: no job claimable until published. */
function startRound(p: Pool): void {
  p.gen = (p.gen + 1) & 0x1ff;
  Atomics.store(p.ctrl, DONE, 0);
  Atomics.store(p.ctrl, QUEUE, p.gen << 22);
}

function thePool(): Pool | null {
  if (pool !== undefined) return pool;
  const threads = Math.min(availableParallelism() - 1, 3);
  if (threads < 1) return (pool = null);
  const size = MAGLEV_SIZE;
  const workerData = {
    ctrl: new SharedArrayBuffer(8),
    jobs: new SharedArrayBuffer(jobBytes(CAPACITY, STRIDE)),
    out: new SharedArrayBuffer(CAPACITY * size),
    capacity: CAPACITY,
    stride: STRIDE,
    size,
    tail: tailFor(size),
    warmUpBytes: jobBytes(1, STRIDE),
  };
  const source = `'use strict';
const { workerData } = require('node:worker_threads');
(${String(workerMain)})(workerData, ${String(fillTable)}, ${String(jobViews)}, ${String(fillScratch)});`;
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(source, { eval: true, workerData, execArgv: [] });
      w.unref();
      // A worker that fails is left out of later batches; one holding a job is caught by STALL_MS.
      w.on('error', () => void w.terminate());
      workers.push(w);
    }
  } catch {
    for (const w of workers) void w.terminate();
    return (pool = null);
  }
  pool = {
    ctrl: new Int32Array(workerData.ctrl),
    jobs: jobViews(workerData.jobs, CAPACITY, STRIDE),
    out: new Uint8Array(workerData.out),
    workers,
    gen: 0,
    scratch: fillScratch(size),
  };
  return pool;
}

/** The next job of the current round, or -1. */
function claim(ctrl: Int32Array): number {
  for (;;) {
    const q = Atomics.load(ctrl, QUEUE);
    const next = q & 0x7ff;
    if (next >= ((q >> 11) & 0x7ff)) return -1;
    if (Atomics.compareExchange(ctrl, QUEUE, q, q + 1) === q) return next;
  }
}

/** A worker stalled: build what it held here, and stop using workers (their memory is never reused). */
function abandon(p: Pool, batch: readonly TableJob[], builtHere: Uint8Array, size: number): void {
  pool = null;
  for (const w of p.workers) void w.terminate();
  batch.forEach((job, j) => {
    if (!builtHere[j]) buildInOrder(job.backends, job.order, size, job.table);
  });
}

interface WorkerData {
  ctrl: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  out: SharedArrayBuffer;
  capacity: number;
  stride: number;
  size: number;
  tail: number;
  warmUpBytes: number;
}

/**
 * A worker's loop: claim a job, build it into its slot of `out`, count it
 * done; sleep until the queue word changes when none is left. Self-contained
 * (the worker runs it from its source text): no references outside itself.
 */
function workerMain(data: WorkerData, fill: typeof fillTable, views: typeof jobViews, newScratch: typeof fillScratch): void {
  const ctrl = new Int32Array(data.ctrl);
  const jobs = views(data.jobs, data.capacity, data.stride);
  const out = new Uint8Array(data.out);
  const scratch = newScratch(data.size);
  const size = data.size;
  // Warm up on a made-up job first: a real job run before the JIT has
  // compiled fill would hold the caller up at the end of its first batch.
  const warm = views(new ArrayBuffer(data.warmUpBytes), 1, data.stride);
  warm.count[0] = data.stride;
  for (let k = 0; k < data.stride; k++) {
    warm.offset[k] = (k * 977) % size;
    warm.skip[k] = 1 + ((k * 7919) % (size - 1));
    warm.skipInverse[k] = 1;
    warm.weight[k] = 1;
  }
  const scratchTable = new Uint8Array(size);
  for (let i = 0; i < 20; i++) fill(scratchTable, size, data.tail, warm, 0, scratch);
  for (;;) {
    const q = Atomics.load(ctrl, 0);
    const next = q & 0x7ff;
    if (next >= ((q >> 11) & 0x7ff)) {
      Atomics.wait(ctrl, 0, q);
      continue;
    }
    if (Atomics.compareExchange(ctrl, 0, q, q + 1) !== q) continue;
    fill(out.subarray(next * size, next * size + size), size, data.tail, jobs, next, scratch);
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
}
