// Many Maglev tables at once on every core, for a full plan (one table per
// distinct backend set: 1,024 builds took ~90 ms on one core). The calling
// thread and worker threads take jobs from one queue in shared memory and
// run the same fillTable; the caller blocks (Atomics.wait) until the table it
// asks for is built, so planning stays synchronous. The workers are plain JavaScript
// built from the functions' own source, so they start in ~30 ms without the
// TypeScript loader, and they join a batch whenever they are ready.
//
// A batch runs while it is filled and while its tables are used: each job is
// published as soon as the caller has prepared it, so the workers build
// while the caller is still looking tables up and hashing backends for the
// rest (that work, done first for the whole batch, kept the workers idle for
// ~15 of a full sync's ~80 ms), and the caller waits for a table only when
// it asks for that one (ready()), building queued ones itself meanwhile, so
// the planner's own work on the routes it has tables for overlaps the
// workers' builds too.
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

/** A job added to a batch: its table holds the build once `done`. */
export interface PendingTable {
  readonly job: TableJob;
  /** its place in the round of the shared queue, or -1 (built on the caller's thread) */
  slot: number;
  done: boolean;
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
// whose inputs it has not seen. ctrl[BUILT + j] is 1 once a worker has built
// job j of the round into out.
const QUEUE = 0;
const BUILT = 1;
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
/** The batch whose jobs may still be queued: the next batch finishes it first (one queue for the process). */
let open: TableBatch | null = null;

/** Tables the worker threads built so far in this process (tests check that they took part). */
export function tablesBuiltByWorkers(): number {
  return byWorkers;
}

/**
 * Tables built as their jobs are added, on the worker threads (one per
 * further core, at most 3) and the caller's thread: ready(t) returns when t's
 * table is filled, as buildInOrder would fill it, and finish() when every
 * table is. Tables of another size than MAGLEV_SIZE, jobs of more than 32
 * live backends and batches of fewer than 32 jobs are built on the caller's
 * thread. A new batch finishes the one before it.
 */
export class TableBatch {
  private readonly pool: Pool | null;
  /** the current round's jobs, in queue order */
  private round: PendingTable[] = [];
  private published = 0;
  /** jobs for the caller's thread */
  private local: PendingTable[] = [];

  constructor(
    private readonly size: number,
    parallel = true,
  ) {
    open?.finish();
    open = this;
    this.pool = parallel && size === MAGLEV_SIZE ? thePool() : null;
  }

  add(job: TableJob): PendingTable {
    const p = this.pool;
    if (p === null || pool !== p || job.order.length > STRIDE) {
      const t = { job, slot: -1, done: false };
      this.local.push(t);
      return t;
    }
    if (this.round.length === CAPACITY) this.finishRound(p);
    const j = this.round.length;
    if (j === 0) startRound(p);
    setJob(p.jobs, j, job.backends, job.order, this.size);
    const t = { job, slot: j, done: false };
    this.round.push(t);
    if (this.round.length >= PARALLEL_MIN) this.publish(p);
    return t;
  }

  /** Fill t's table (building queued jobs here while a worker holds it). */
  ready(t: PendingTable): void {
    if (t.done) return;
    const p = this.pool;
    if (t.slot < 0 || p === null || pool !== p) {
      this.buildHere(t);
      return;
    }
    if (this.published === 0) {
      this.finishRound(p); // too few to wake a worker for: the round is built here, and closed
      return;
    }
    this.publish(p);
    const since = performance.now();
    while (!t.done) {
      if (Atomics.load(p.ctrl, BUILT + t.slot) === 1) this.copyOut(p, t);
      else if (!this.buildNext(p)) {
        if (performance.now() - since > STALL_MS) {
          this.abandon(p); // builds t too
          return;
        }
        Atomics.wait(p.ctrl, BUILT + t.slot, 0, 100);
      }
    }
  }

  finish(): void {
    const p = this.pool;
    if (p !== null && this.round.length > 0) this.finishRound(p);
    for (const t of this.local.splice(0)) this.buildHere(t);
    if (open === this) open = null;
  }

  /** Make every job added so far claimable. */
  private publish(p: Pool): void {
    const n = this.round.length - this.published;
    if (n === 0) return;
    Atomics.add(p.ctrl, QUEUE, n * COUNT_ONE);
    Atomics.notify(p.ctrl, QUEUE);
    this.published = this.round.length;
  }

  /** Every job of the round built and copied out; the next add() starts a new round. */
  private finishRound(p: Pool): void {
    const round = this.round;
    if (this.published === 0) {
      // never published, so no worker saw it (its inputs are set, but buildInOrder sets its own)
      this.round = [];
      for (const t of round) this.buildHere(t);
      return;
    }
    this.publish(p);
    while (this.buildNext(p));
    // what is left was claimed by a worker: wait for each, so that none still writes when the next round starts
    for (const t of round) this.ready(t);
    this.round = [];
    this.published = 0;
  }

  /** Claim the next queued job and build it into its table; false when none is left. */
  private buildNext(p: Pool): boolean {
    const j = claim(p.ctrl);
    if (j < 0) return false;
    const t = this.round[j]!;
    fillTable(t.job.table, this.size, tailFor(this.size), p.jobs, j, p.scratch);
    t.done = true;
    return true;
  }

  private copyOut(p: Pool, t: PendingTable): void {
    t.job.table.set(p.out.subarray(t.slot * this.size, (t.slot + 1) * this.size));
    t.done = true;
    byWorkers++;
  }

  private buildHere(t: PendingTable): void {
    if (t.done) return;
    buildInOrder(t.job.backends, t.job.order, this.size, t.job.table);
    t.done = true;
  }

  /** A worker stalled: build the round's unbuilt jobs here, and stop using workers (their memory is never reused). */
  private abandon(p: Pool): void {
    pool = null;
    for (const w of p.workers) void w.terminate();
    for (const t of this.round) {
      if (t.done) continue;
      if (Atomics.load(p.ctrl, BUILT + t.slot) === 1) this.copyOut(p, t);
      else this.buildHere(t);
    }
  }
}

/** A new, empty round: no job claimable until published. */
function startRound(p: Pool): void {
  p.gen = (p.gen + 1) & 0x1ff;
  p.ctrl.fill(0, BUILT, BUILT + CAPACITY); // no worker writes here: the round before was drained
  Atomics.store(p.ctrl, QUEUE, p.gen << 22);
}

function thePool(): Pool | null {
  if (pool !== undefined) return pool;
  const threads = Math.min(availableParallelism() - 1, 3);
  if (threads < 1) return (pool = null);
  const size = MAGLEV_SIZE;
  const workerData = {
    ctrl: new SharedArrayBuffer(4 * (BUILT + CAPACITY)),
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
 * A worker's loop: claim a job, build it into its slot of `out`, mark it
 * built; sleep until the queue word changes when none is left. Self-contained
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
    Atomics.store(ctrl, 1 + next, 1); // BUILT + next
    Atomics.notify(ctrl, 1 + next);
  }
}
