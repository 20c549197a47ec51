// The fast build of the paper's population (maglev-reference.ts): the same
// tables, from typed arrays that are reused from build to build, because a
// full sync builds one table per distinct backend set. test/maglev.test.ts
// checks that both give the same table for any input.
//
// A build is a job in BuildInputs (the backends' order, offset, skip and
// weight, prepared from the backend list) and fillTable, which reads only
// typed arrays and refers to nothing outside itself, so that worker threads
// run the same code on shared memory (maglev-parallel.ts).
import { ipToNumber } from './codecs.js';
import { maglevOffset, maglevSkip, MAX_TABLE_BACKENDS, type MaglevBackend } from './maglev-reference.js';

/** Per job, what fillTable reads: its live backends (weight above 0) in population order, at [job * stride + k]. */
export interface JobViews {
  /** live backends a job can have */
  stride: number;
  /** per job: how many live backends, and the largest weight (0: all weights equal) */
  count: Int32Array;
  maxWeight: Int32Array;
  /** the backend's index in the caller's list: what its slots hold */
  inputIndex: Uint8Array;
  offset: Int32Array;
  skip: Int32Array;
  /** skip^-1 mod M */
  skipInverse: Int32Array;
  weight: Int32Array;
}

/** Views of `capacity` jobs of up to `stride` live backends over one buffer. Self-contained (a worker builds the same views). */
export function jobViews(buffer: ArrayBufferLike, capacity: number, stride: number): JobViews {
  const per = capacity * stride;
  const ints = new Int32Array(buffer, 0, 2 * capacity + 4 * per);
  return {
    stride,
    count: ints.subarray(0, capacity),
    maxWeight: ints.subarray(capacity, 2 * capacity),
    offset: ints.subarray(2 * capacity, 2 * capacity + per),
    skip: ints.subarray(2 * capacity + per, 2 * capacity + 2 * per),
    skipInverse: ints.subarray(2 * capacity + 2 * per, 2 * capacity + 3 * per),
    weight: ints.subarray(2 * capacity + 3 * per, 2 * capacity + 4 * per),
    inputIndex: new Uint8Array(buffer, ints.byteLength, per),
  };
}

/** Bytes of jobViews(_, capacity, stride). */
export function jobBytes(capacity: number, stride: number): number {
  return capacity * (2 * 4 + stride * (4 * 4 + 1));
}

/** Input indexes of the backends with a weight above 0, in the reference's population order (ip, port, weight, input index). */
export function liveOrder(backends: readonly MaglevBackend[]): number[] {
  const order: number[] = [];
  const keys: number[] = [];
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i]!;
    if (b.weight === 0) continue;
    const key = ipToNumber(b.ip) * 65536 + b.port;
    // insertion sort: at most 255 entries, often 32 nearly in order
    let at = order.length;
    while (at > 0 && (keys[at - 1]! > key || (keys[at - 1] === key && backends[order[at - 1]!]!.weight > b.weight))) {
      keys[at] = keys[at - 1]!;
      order[at] = order[at - 1]!;
      at--;
    }
    keys[at] = key;
    order[at] = i;
  }
  return order;
}

/** Job j of `views` becomes the build of backends[order[0]], backends[order[1]], ... (order from liveOrder). */
export function setJob(views: JobViews, j: number, backends: readonly MaglevBackend[], order: readonly number[], size: number): void {
  const base = j * views.stride;
  let maxWeight = 0;
  let equal = true;
  for (let k = 0; k < order.length; k++) {
    const b = backends[order[k]!]!;
    const skip = maglevSkip(b, size);
    views.inputIndex[base + k] = order[k]!;
    views.offset[base + k] = maglevOffset(b, size);
    views.skip[base + k] = skip;
    views.skipInverse[base + k] = inverseOf(skip, size);
    views.weight[base + k] = b.weight;
    if (k > 0 && b.weight !== maxWeight) equal = false;
    if (b.weight > maxWeight) maxWeight = b.weight;
  }
  views.count[j] = order.length;
  views.maxWeight[j] = equal ? 0 : maxWeight;
}

/** skip^-1 mod M by skip, per table size, filled on first use (0 = not yet). */
const skipInverses = new Map<number, Int32Array>();
function inverseOf(skip: number, size: number): number {
  let memo = skipInverses.get(size);
  if (!memo) skipInverses.set(size, (memo = new Int32Array(size)));
  let inverse = memo[skip]!;
  if (inverse === 0) memo[skip] = inverse = modInverse(skip, size);
  return inverse;
}

/** Extended Euclid. Plain temporaries, not array destructuring: a first sync meets up to M - 1 skips before the JIT does (6 ms against 1.7 ms for all 4,098). */
function modInverse(a: number, m: number): number {
  let r0 = a;
  let r1 = m;
  let s0 = 1;
  let s1 = 0;
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    const r = r0 - q * r1;
    r0 = r1;
    r1 = r;
    const s = s0 - q * s1;
    s0 = s1;
    s1 = s;
  }
  return ((s0 % m) + m) % m;
}

/** One thread's working set for fillTable, reused by every build of that thread. */
export interface FillScratch {
  /** by turn: the backend (k) that takes it */
  turns: Uint8Array;
  credit: Int32Array;
  /** backend k's next slot: offset + next * skip, mod M */
  cursor: Int32Array;
  skip: Int32Array;
  inputIndex: Uint8Array;
  empty: Int32Array;
}

export function fillScratch(size: number): FillScratch {
  const n = 255; // MAX_TABLE_BACKENDS
  return {
    turns: new Uint8Array(size),
    credit: new Int32Array(n),
    cursor: new Int32Array(n),
    skip: new Int32Array(n),
    inputIndex: new Uint8Array(n),
    empty: new Int32Array(size),
  };
}

/**
 * Fill `table` (`size` slots, size <= scratch.turns.length) as the reference
 * does for job j: table[s] = inputIndex of the backend that takes slot s.
 * Self-contained: it refers to nothing outside itself, so a worker can run it.
 *
 * First the order of turns (one per backend per round with equal weights,
 * else the reference's credits), then the turns. A turn walks the backend's
 * list from its cursor to the first empty slot; the cursor stays below M by a
 * subtraction without a branch (whether a step wraps is a coin flip, and
 * mispredicting it cost more than the rest of the walk). The last empty slots
 * are the costly ones to walk to (a coupon collector's tail: the last 32 of
 * 4,099 took a third of all probes at 32 backends), so for the last `tail`
 * turns a backend takes the empty slot with the smallest position in its list,
 * (slot - offset) * skip^-1 mod M, which is where its walk would stop: every
 * slot before that in its list is taken. (Math.imul keeps that product exact:
 * callers pass tail 0 unless M^2 < 2^31.)
 */
export function fillTable(table: Uint8Array, size: number, tail: number, jobs: JobViews, j: number, scratch: FillScratch): void {
  const EMPTY = 255; // never a backend index (MAX_TABLE_BACKENDS)
  const base = j * jobs.stride;
  const m = jobs.count[j]!;
  const maxWeight = jobs.maxWeight[j]!;
  const { turns, credit, cursor, skip, inputIndex, empty } = scratch;
  for (let k = 0; k < m; k++) {
    credit[k] = 0;
    cursor[k] = jobs.offset[base + k]!;
    skip[k] = jobs.skip[base + k]!;
    inputIndex[k] = jobs.inputIndex[base + k]!;
  }
  if (maxWeight === 0) {
    for (let t = 0, k = 0; t < size; t++) {
      turns[t] = k;
      if (++k === m) k = 0;
    }
  } else {
    for (let t = 0; t < size; ) {
      for (let k = 0; k < m && t < size; k++) {
        const c = credit[k]! + jobs.weight[base + k]!;
        if (c < maxWeight) credit[k] = c;
        else {
          credit[k] = c - maxWeight;
          turns[t++] = k;
        }
      }
    }
  }
  table.fill(EMPTY);
  const walked = size - tail;
  for (let t = 0; t < walked; t++) {
    const k = turns[t]!;
    const step = skip[k]!;
    let s = cursor[k]!;
    while (table[s] !== EMPTY) {
      s += step;
      s -= size & ((size - 1 - s) >> 31);
    }
    table[s] = inputIndex[k]!;
    s += step;
    cursor[k] = s - (size & ((size - 1 - s) >> 31));
  }
  for (let s = 0, i = 0; i < tail; s++) if (table[s] === EMPTY) empty[i++] = s;
  for (let t = walked, left = tail; t < size; t++, left--) {
    const k = turns[t]!;
    const start = jobs.offset[base + k]!;
    const inverse = jobs.skipInverse[base + k]!;
    let first = size;
    let at = 0;
    for (let i = 0; i < left; i++) {
      let d = empty[i]! - start;
      d += size & (d >> 31);
      const position = Math.imul(d, inverse) % size;
      if (position < first) {
        first = position;
        at = i;
      }
    }
    table[empty[at]!] = inputIndex[k]!;
    empty[at] = empty[left - 1]!;
  }
}

/** The tail fillTable settles by position for a table of `size` slots (see fillTable). */
export function tailFor(size: number): number {
  return size * size < 2 ** 31 ? Math.min(size - 1, TAIL_SLOTS) : 0;
}

/** Measured at 32 backends, M = 4,099: 32 to 64 cost the same, 0 or 128 about 10% more. */
const TAIL_SLOTS = 32;

// The calling thread's build: one job slot and one working set.
const single = jobViews(new ArrayBuffer(jobBytes(1, MAX_TABLE_BACKENDS)), 1, MAX_TABLE_BACKENDS);
const scratchBySize = new Map<number, FillScratch>();

/** The table for backends[order[k]] (order from liveOrder, input checked): its values are indexes into `backends`. */
export function buildInOrder(backends: readonly MaglevBackend[], order: readonly number[], size: number, table: Uint8Array = new Uint8Array(size)): Uint8Array {
  setJob(single, 0, backends, order, size);
  let scratch = scratchBySize.get(size);
  if (!scratch) scratchBySize.set(size, (scratch = fillScratch(size)));
  fillTable(table, size, tailFor(size), single, 0, scratch);
  return table;
}
