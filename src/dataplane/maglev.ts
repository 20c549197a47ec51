// Weighted Maglev (Eisenbud et al., NSDI '16) for the per-route lookup tables.
// Pure and allocation-light: one build is a few typed arrays and a tight loop,
// because a full sync builds a table for every route.
import { RautaError } from '../errors.js';

/** RAUTA_MAGLEV_SIZE in bpf/rauta.h: the table size M (prime). */
export const MAGLEV_SIZE = 4099;
/** Slots are u8 indexes. */
const MAX_BACKENDS = 255;

export interface MaglevBackend {
  readonly ip: string;
  readonly port: number;
  readonly weight: number;
}

/** The identity Maglev hashes and disruption compares: weight is not part of it. */
export function backendIdentity(b: Pick<MaglevBackend, 'ip' | 'port'>): string {
  return `${b.ip}:${b.port}`;
}

/** An unused slot of backend_list (ip 0.0.0.0, port 0): never a Maglev target. */
export function isHole(b: Pick<MaglevBackend, 'ip' | 'port'>): boolean {
  return b.port === 0 && b.ip === '0.0.0.0';
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** hashIdentities' result: the two hashes of one backend's "ip:port". */
const identityHashes = new Uint32Array(2);

// Two independent 32-bit hashes of "ip:port": FNV-1a with different offset
// bases, each finished with a different avalanche so the low bits (which the
// modulo keeps) depend on every input byte. Both in one pass, without building
// the string (the same bytes: ip, ':', String(port)).
function hashIdentities(b: Pick<MaglevBackend, 'ip' | 'port'>): void {
  let h1 = 0x811c9dc5 | 0;
  let h2 = 0x050c5d1f | 0;
  const { ip } = b;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193);
  }
  h1 = Math.imul(h1 ^ 58, 0x01000193); // ':'
  h2 = Math.imul(h2 ^ 58, 0x01000193);
  const port = String(b.port);
  for (let i = 0; i < port.length; i++) {
    const c = port.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193);
  }
  identityHashes[0] = avalanche(h1, 0x85ebca6b, 0xc2b2ae35);
  identityHashes[1] = avalanche(h2, 0x7feb352d, 0x846ca68b);
}

function avalanche(h: number, mulA: number, mulB: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, mulA);
  h ^= h >>> 13;
  h = Math.imul(h, mulB);
  h ^= h >>> 16;
  return h >>> 0;
}

function ipToNumber(ip: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return n * 256 + part;
}

/** Input indexes in population order: by ip, port, then weight (so duplicates are interchangeable). */
function populationOrder(backends: readonly MaglevBackend[]): number[] {
  const ips = backends.map((b) => ipToNumber(b.ip));
  return backends
    .map((_, i) => i)
    .sort((a, b) => {
      const x = backends[a]!;
      const y = backends[b]!;
      return ips[a]! - ips[b]! || x.port - y.port || x.weight - y.weight || a - b;
    });
}

function checkInput(backends: readonly MaglevBackend[], size: number): void {
  if (!isPrime(size) || size <= backends.length) {
    throw new RautaError('RAUTA_ERR_CODEC_RANGE', `Maglev table size ${size} must be a prime larger than the backend count (${backends.length}); rauta uses ${MAGLEV_SIZE}`);
  }
  if (backends.length === 0 || backends.length > MAX_BACKENDS) {
    throw new RautaError('RAUTA_ERR_CODEC_RANGE', `Maglev needs 1..${MAX_BACKENDS} backends, got ${backends.length}`);
  }
  let positive = 0;
  for (const b of backends) {
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > 0xffff) {
      throw new RautaError('RAUTA_ERR_CODEC_RANGE', `backend ${backendIdentity(b)} has weight ${b.weight}; weights are integers 0..65535`);
    }
    if (b.weight > 0) positive++;
  }
  if (positive === 0) throw new RautaError('RAUTA_ERR_CODEC_RANGE', 'Maglev needs at least one backend with a weight above 0');
}

// Per table size, built once: LN[j] = -ln(1 - (j + 0.5)/M), the time at which a
// weight-1 backend reaches the j-th entry of its preference list (an exponential
// race, so a backend wins a slot with probability weight/total), and ORDER, a
// fixed pseudo-random permutation of 0..M-1 that reorders the paper's list
// (offset + j*skip) % M into (offset + ORDER[j]*skip) % M. Without ORDER two
// backends' lists are linear in each other and shares deviate up to 2 pp from
// their weights (measured at 8 backends); with it they behave like random draws.
interface SizeTables {
  ln: Float64Array;
  order: Int32Array;
  inverseOrder: Int32Array;
  /** skip^-1 mod M by skip, filled on first use (0 = not yet) */
  skipInverse: Int32Array;
  // One build's working set, reused by the next: a full sync builds a table per
  // route, and allocating ~50 KB of typed arrays per build cost as much as the fill.
  owner: Uint8Array;
  best: Float64Array;
  /** fillEqual: per slot the earliest (position << 8 | list) found by walking the lists */
  first: Int32Array;
  /** slots still free when a fill stops walking the lists, and per free slot the earliest arrival so far */
  free: Int32Array;
  /** its position in the arriving list */
  freeAt: Int32Array;
  /** the arriving list (index among the backends with a weight above 0) */
  freeWho: Uint8Array;
  /** its time (weighted fill) */
  freeTime: Float64Array;
  /** TIE | EARLY (weighted fill) */
  freeFlags: Uint8Array;
}
const tablesBySize = new Map<number, SizeTables>();
function sizeTables(size: number): SizeTables {
  let t = tablesBySize.get(size);
  if (!t) {
    const ln = new Float64Array(size);
    for (let j = 0; j < size; j++) ln[j] = -Math.log(1 - (j + 0.5) / size);
    const order = new Int32Array(size);
    for (let j = 0; j < size; j++) order[j] = j;
    let x = 0x9e3779b9; // xorshift32 with a fixed seed: the order is part of the table format
    for (let j = size - 1; j > 0; j--) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = (x >>> 0) % (j + 1);
      const tmp = order[j]!;
      order[j] = order[r]!;
      order[r] = tmp;
    }
    const inverseOrder = new Int32Array(size);
    for (let j = 0; j < size; j++) inverseOrder[order[j]!] = j;
    t = {
      ln,
      order,
      inverseOrder,
      skipInverse: new Int32Array(size),
      owner: new Uint8Array(size),
      first: new Int32Array(size),
      best: new Float64Array(size),
      free: new Int32Array(size),
      freeAt: new Int32Array(size),
      freeWho: new Uint8Array(size),
      freeTime: new Float64Array(size),
      freeFlags: new Uint8Array(size),
    };
    tablesBySize.set(size, t);
  }
  return t;
}

// Per-backend working arrays of one build, reused by the next (views of the
// first n entries): a build used to allocate ten small typed arrays, each with
// its own ArrayBuffer, and their collection showed up in a full sync's profile.
const perBackend = {
  offset: new Int32Array(MAX_BACKENDS),
  skip: new Int32Array(MAX_BACKENDS),
  weight: new Float64Array(MAX_BACKENDS),
  count: new Int32Array(MAX_BACKENDS),
  toInput: new Uint8Array(MAX_BACKENDS),
  // the backends with a weight above 0 (fillEqual, fillWeighted)
  active: new Int32Array(MAX_BACKENDS),
  off: new Int32Array(MAX_BACKENDS),
  inverse: new Int32Array(MAX_BACKENDS),
  w: new Float64Array(MAX_BACKENDS),
  inv: new Float64Array(MAX_BACKENDS),
};

/** Allowed deviation of a backend's share from its weight share before the fill corrects it. */
const BALANCE_TOLERANCE = 0.01;

/** Largest size for which offset + position*skip (< size^2) fits an int32. */
const INT32_SIZE_MAX = 46340;

// (base + a*b) % size. In int32 arithmetic where it cannot overflow: a float
// product makes V8 take a float modulo, which doubled the cost of the fill.
function mulAddMod(base: number, a: number, b: number, size: number): number {
  return size <= INT32_SIZE_MAX ? (base + Math.imul(a, b)) % size : ((base + a * b) % size) | 0;
}

// The fill stops walking the lists when about TAIL_SLOTS * size / backends
// slots are left and settles those one by one (see finishEqual): walking on
// to the last free slot is a coupon collector's tail, half of all probes.
// With ~1 slot per backend left the two phases cost about the same (measured).
const TAIL_SLOTS = 1;

/**
 * Build a Maglev table of `size` slots; each slot is an index into `backends`
 * (the caller's order). Which backend gets which slot depends only on the set
 * of backends and their weights, not on their order in the input.
 *
 * Each backend has the paper's offset = h1 % M and skip = h2 % (M-1) + 1, and
 * its preference list is (offset + ORDER[j]*skip) % M. The fill differs from
 * the paper's round-robin: a slot goes to the backend that reaches it earliest
 * in its list, with time scaled by 1/weight (ties by ip:port order). So a slot
 * changes owner only when its owner leaves or a newcomer prefers it: removing 1
 * of N moves that backend's ~1/N and nothing else, where round-robin Maglev
 * moves up to 3% more at M = 4099 (measured). The shares are random around
 * weight/total (about ±0.8 pp for two backends), so a bounded correction moves
 * the fewest, least-preferred slots to keep every share within 1 pp of its
 * weight share. A weight-0 backend gets no slots.
 */
export function buildMaglevTable(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Uint8Array {
  checkInput(backends, size);
  return buildInOrder(backends, populationOrder(backends), size);
}

/** The build for checked input; `order` is populationOrder(backends). */
function buildInOrder(backends: readonly MaglevBackend[], order: readonly number[], size: number): Uint8Array {
  const n = order.length;
  const offset = perBackend.offset.subarray(0, n);
  const skip = perBackend.skip.subarray(0, n);
  const weight = perBackend.weight.subarray(0, n);
  let totalWeight = 0;
  for (let k = 0; k < n; k++) {
    const b = backends[order[k]!]!;
    hashIdentities(b);
    offset[k] = identityHashes[0]! % size;
    skip[k] = (identityHashes[1]! % (size - 1)) + 1;
    weight[k] = b.weight;
    totalWeight += b.weight;
  }
  const tables = sizeTables(size);
  const { owner, best, ln, inverseOrder } = tables;
  const equal = equalWeights(weight);
  if (equal) fillEqual(tables, offset, skip, weight, size);
  else fillWeighted(tables, offset, skip, weight, totalWeight, size);
  // Count and write the table in one pass; the rare correction rewrites it.
  const count = perBackend.count.subarray(0, n).fill(0);
  const toInput = perBackend.toInput;
  for (let k = 0; k < n; k++) toInput[k] = order[k]!;
  const table = new Uint8Array(size);
  for (let s = 0; s < size; s++) {
    const k = owner[s]!;
    count[k]!++;
    table[s] = toInput[k]!;
  }
  if (!withinBounds(count, weight, totalWeight, size)) {
    if (equal) {
      // fillEqual keeps owners only; the correction compares arrival times:
      // ln[j] / w for the position j at which the owner reached the slot.
      const inv = 1 / weight.find((w) => w > 0)!;
      for (let s = 0; s < size; s++) {
        const k = owner[s]!;
        best[s] = ln[positionIn(s, offset[k]!, inverseOfSkip(tables, skip[k]!, size), inverseOrder, size)]! * inv;
      }
    }
    rebalance(owner, best, count, offset, skip, weight, totalWeight, size);
    for (let s = 0; s < size; s++) table[s] = toInput[owner[s]!]!;
  }
  return table;
}

function equalWeights(weight: Float64Array): boolean {
  let w0 = 0;
  for (const w of weight) {
    if (w === 0) continue;
    if (w0 === 0) w0 = w;
    else if (w !== w0) return false;
  }
  return true;
}

/** skip^-1 mod size, from the per-size memo. */
function inverseOfSkip(tables: SizeTables, skip: number, size: number): number {
  let v = tables.skipInverse[skip]!;
  if (v === 0) tables.skipInverse[skip] = v = modInverse(skip, size);
  return v;
}

// Equal weights: arrival order is (position j, then backend order), so a slot
// goes to the backend that reaches it at the earliest position, ties to the
// earlier backend. Same result as fillWeighted, with integer compares only.
function fillEqual(tables: SizeTables, offset: Int32Array, skip: Int32Array, weight: Float64Array, size: number): void {
  const { owner, order, first, free, freeWho } = tables;
  let m = 0;
  for (const w of weight) if (w > 0) m++;
  const active = perBackend.active.subarray(0, m);
  const inverse = perBackend.inverse.subarray(0, m);
  const off = perBackend.off.subarray(0, m);
  for (let k = 0, a = 0; k < weight.length; k++) {
    if (weight[k] === 0) continue;
    active[a] = k;
    off[a] = offset[k]!;
    inverse[a] = inverseOfSkip(tables, skip[k]!, size);
    a++;
  }
  // Every list's first `reach` positions leave ~TAIL_SLOTS * size / m slots
  // unreached (each slot is missed by all m*reach probes with (1 - 1/M)^(m*reach)).
  // (Positions must fit j << 8 in an int32; a larger table is all tail.)
  const reach = size < 1 << 23 ? Math.min(size, Math.max(0, Math.ceil((size * Math.log(m / TAIL_SLOTS)) / m))) : 0;
  first.fill(UNREACHED);
  for (let a = 0; a < m; a++) {
    const k = active[a]!;
    if (size === MAGLEV_SIZE) reachFixed(first, offset[k]!, skip[k]!, a, reach, order);
    else reachAny(first, offset[k]!, skip[k]!, a, reach, order, size);
  }
  let freeCount = 0;
  for (let s = 0; s < size; s++) {
    const f = first[s]!;
    if (f === UNREACHED) free[freeCount++] = s;
    else owner[s] = active[f & 0xff]!;
  }
  finishEqual(tables, off, inverse, freeCount, m, size);
  for (let i = 0; i < freeCount; i++) owner[free[i]!] = active[freeWho[i]!]!;
}

/** first[s] before any list reached s: above every (j << 8 | a). */
const UNREACHED = 0x7fffffff;

// List a's first `reach` positions: first[s] = min(first[s], j << 8 | a), the
// earliest (position, list) to reach each slot. List by list, without a branch
// on the compare (which one wins is random, and mispredicting it cost more
// than the rest of the loop); the min is d & (d >> 31), with no overflow as
// both values are in 0..2^31-1. Two copies so that, for rauta's table size,
// the JIT turns % into a multiply.
function reachFixed(first: Int32Array, off: number, step: number, a: number, reach: number, order: Int32Array): void {
  for (let j = 0; j < reach; j++) {
    const s = (off + Math.imul(order[j]!, step)) % MAGLEV_SIZE;
    const f = first[s]!;
    const d = ((j << 8) | a) - f;
    first[s] = f + (d & (d >> 31));
  }
}

function reachAny(first: Int32Array, off: number, step: number, a: number, reach: number, order: Int32Array, size: number): void {
  for (let j = 0; j < reach; j++) {
    const s = mulAddMod(off, order[j]!, step, size);
    const f = first[s]!;
    const d = ((j << 8) | a) - f;
    first[s] = f + (d & (d >> 31));
  }
}

// The slots no list reached in its first positions: each goes to the list
// that reaches it at the earliest position (ties to the earlier list), and
// that position can be read off directly: slot s sits in list a at
// inverseOrder[(s - off) * skip^-1 % M]. m lookups per slot instead of walking
// on until the last slot is hit (a coupon collector's tail). List by list, so
// each inner loop runs over the slots with one list's constants.
function finishEqual(tables: SizeTables, off: Int32Array, inverse: Int32Array, count: number, m: number, size: number): void {
  const { inverseOrder, free, freeAt: at, freeWho: who } = tables;
  at.fill(size, 0, count);
  for (let a = 0; a < m; a++) {
    if (size === MAGLEV_SIZE) earliestFixed(free, at, who, count, off[a]!, inverse[a]!, a, inverseOrder);
    else earliest(free, at, who, count, off[a]!, inverse[a]!, a, inverseOrder, size);
  }
}

/** Where list a reaches each free slot; keep it if earlier than the earliest so far. */
function earliestFixed(free: Int32Array, first: Int32Array, who: Uint8Array, count: number, off: number, inverse: number, a: number, inverseOrder: Int32Array): void {
  const shift = MAGLEV_SIZE - off; // s - off + M is in 1..2M-1, so the product stays below 2^31
  for (let i = 0; i < count; i++) {
    const j = inverseOrder[Math.imul(free[i]! + shift, inverse) % MAGLEV_SIZE]!;
    if (j < first[i]!) {
      first[i] = j;
      who[i] = a;
    }
  }
}

function earliest(free: Int32Array, first: Int32Array, who: Uint8Array, count: number, off: number, inverse: number, a: number, inverseOrder: Int32Array, size: number): void {
  for (let i = 0; i < count; i++) {
    const j = positionIn(free[i]!, off, inverse, inverseOrder, size);
    if (j < first[i]!) {
      first[i] = j;
      who[i] = a;
    }
  }
}

// Weighted: a slot goes to the earliest arrival t = ln[j] * (1/w); equal times
// go to the arrival processed first in the schedule this fill always had:
// rounds r = 0, 1, ... with horizons H_0 = ln(M)/W, H_r+1 = H_r + 0.5/W (float
// sums), backend k taking in round r its positions with ln[j] <= H_r * w, in
// backend order; it stopped after the first round that left no slot free, so
// an arrival after that round R never counted. The table is part of the format
// (flows must not move on upgrade), so that schedule is kept exactly, float
// rounding at the horizons included; only the work changed: walk every list up
// to a time that leaves ~1 free slot per backend (all of it in round 0), then
// settle each free slot from every backend's arrival at it.
function fillWeighted(tables: SizeTables, offset: Int32Array, skip: Int32Array, weight: Float64Array, totalWeight: number, size: number): void {
  const { owner, best, ln, order, inverseOrder, free, freeAt, freeWho, freeTime, freeFlags } = tables;
  let m = 0;
  for (const w of weight) if (w > 0) m++;
  const lists = new ActiveLists(m);
  for (let k = 0, a = 0; k < weight.length; k++) {
    if (weight[k] === 0) continue;
    lists.k[a] = k;
    lists.off[a] = offset[k]!;
    lists.inverse[a] = inverseOfSkip(tables, skip[k]!, size);
    lists.w[a] = weight[k]!;
    lists.inv[a] = 1 / weight[k]!;
    a++;
  }
  const { k: active, off, inverse, w, inv } = lists;
  const schedule = new Schedule(totalWeight, size);
  // Walk up to `cut`, below H_0 with a margin far above float error, so every
  // arrival walked is in round 0, and every arrival not walked (t > cut) is
  // later than a walked one at the same slot.
  const cut = Math.min(Math.max(0, Math.log(m / TAIL_SLOTS) / totalWeight), schedule.horizon(0) * (1 - 1e-9));
  best.fill(Infinity);
  for (let a = 0; a < m; a++) {
    const k = active[a]!;
    if (size === MAGLEV_SIZE) walkWeightedFixed(owner, best, off[a]!, skip[k]!, inv[a]!, k, cut, ln, order);
    else walkWeighted(owner, best, off[a]!, skip[k]!, inv[a]!, k, cut, ln, order, size);
  }
  let freeCount = 0;
  for (let s = 0; s < size; s++) if (best[s] === Infinity) free[freeCount++] = s;
  // Each free slot: its earliest arrival. Note the slots that need the exact
  // schedule: equal times, and slots no list reaches in round 0 (they set R).
  // Backend by backend, so each inner loop runs with one list's constants.
  const arrivals: FreeArrivals = { free, count: freeCount, time: freeTime, at: freeAt, who: freeWho, flags: freeFlags };
  freeTime.fill(Infinity, 0, freeCount);
  freeFlags.fill(0, 0, freeCount);
  for (let a = 0; a < m; a++) {
    const roundZero = schedule.horizon(0) * w[a]!;
    if (size === MAGLEV_SIZE) earliestArrivalFixed(arrivals, a, off[a]!, inverse[a]!, inv[a]!, roundZero, ln, inverseOrder);
    else earliestArrival(arrivals, a, off[a]!, inverse[a]!, inv[a]!, roundZero, ln, inverseOrder, size);
  }
  const recheck: number[] = [];
  const late: number[] = [];
  for (let i = 0; i < freeCount; i++) {
    const s = free[i]!;
    owner[s] = active[freeWho[i]!]!;
    best[s] = freeTime[i]!;
    if ((freeFlags[i]! & TIE) !== 0) recheck.push(s);
    if ((freeFlags[i]! & EARLY) === 0) late.push(s);
  }
  if (recheck.length === 0 && late.length === 0) return; // every winner is a round-0 arrival, alone at its time
  // The last round R: when the last slot got its first arrival.
  let lastRound = 0;
  for (const s of late) {
    let r = 1;
    while (!reachedBy(s, schedule.horizon(r), lists, ln, inverseOrder, size)) r++;
    if (r > lastRound) lastRound = r;
  }
  const limit = schedule.horizon(lastRound);
  for (let i = 0; i < freeCount; i++) {
    const s = free[i]!;
    if (!(ln[freeAt[i]!]! <= limit * weight[owner[s]!]!)) recheck.push(s); // its winner came after round R
  }
  for (const s of recheck) settleExactly(s, lastRound, schedule, lists, owner, best, ln, inverseOrder, size);
}

/** The free slots' earliest arrivals so far: time, position, list, flags. */
interface FreeArrivals {
  free: Int32Array;
  count: number;
  time: Float64Array;
  at: Int32Array;
  who: Uint8Array;
  flags: Uint8Array;
}
/** another list arrives at the same earliest time */
const TIE = 1;
/** some list arrives in round 0 */
const EARLY = 2;

// List a's arrival at each free slot: keep it if earlier than the earliest so
// far, note equal times and arrivals in round 0 (ln[j] <= H_0 * w).
function earliestArrivalFixed(f: FreeArrivals, a: number, off: number, inverse: number, inv: number, roundZero: number, ln: Float64Array, inverseOrder: Int32Array): void {
  const { free, time, at, who, flags } = f;
  const shift = MAGLEV_SIZE - off; // s - off + M is in 1..2M-1, so the product stays below 2^31
  for (let i = 0; i < f.count; i++) {
    const j = inverseOrder[Math.imul(free[i]! + shift, inverse) % MAGLEV_SIZE]!;
    const lnj = ln[j]!;
    const t = lnj * inv;
    if (t < time[i]!) {
      time[i] = t;
      at[i] = j;
      who[i] = a;
      flags[i] = flags[i]! & ~TIE;
    } else if (t === time[i]) flags[i] = flags[i]! | TIE;
    if (lnj <= roundZero) flags[i] = flags[i]! | EARLY;
  }
}

function earliestArrival(f: FreeArrivals, a: number, off: number, inverse: number, inv: number, roundZero: number, ln: Float64Array, inverseOrder: Int32Array, size: number): void {
  const { free, time, at, who, flags } = f;
  for (let i = 0; i < f.count; i++) {
    const j = positionIn(free[i]!, off, inverse, inverseOrder, size);
    const lnj = ln[j]!;
    const t = lnj * inv;
    if (t < time[i]!) {
      time[i] = t;
      at[i] = j;
      who[i] = a;
      flags[i] = flags[i]! & ~TIE;
    } else if (t === time[i]) flags[i] = flags[i]! | TIE;
    if (lnj <= roundZero) flags[i] = flags[i]! | EARLY;
  }
}

/** The lists of the backends with a weight above 0, by index a. */
class ActiveLists {
  /** backend index in population order */
  readonly k: Int32Array;
  readonly off: Int32Array;
  /** skip^-1 mod M */
  readonly inverse: Int32Array;
  readonly w: Float64Array;
  /** 1 / w, as arrival times are computed */
  readonly inv: Float64Array;
  constructor(m: number) {
    this.k = perBackend.active.subarray(0, m);
    this.off = perBackend.off.subarray(0, m);
    this.inverse = perBackend.inverse.subarray(0, m);
    this.w = perBackend.w.subarray(0, m);
    this.inv = perBackend.inv.subarray(0, m);
  }
}

// Backend k's arrivals up to `cut`: take every slot it reaches first. Two
// copies so that, for rauta's table size, the JIT turns % into a multiply.
function walkWeightedFixed(owner: Uint8Array, best: Float64Array, off: number, step: number, inv: number, k: number, cut: number, ln: Float64Array, order: Int32Array): void {
  for (let j = 0; j < MAGLEV_SIZE; j++) {
    const t = ln[j]! * inv;
    if (t > cut) return;
    const s = (off + Math.imul(order[j]!, step)) % MAGLEV_SIZE;
    if (t < best[s]!) {
      best[s] = t;
      owner[s] = k;
    }
  }
}

function walkWeighted(owner: Uint8Array, best: Float64Array, off: number, step: number, inv: number, k: number, cut: number, ln: Float64Array, order: Int32Array, size: number): void {
  for (let j = 0; j < size; j++) {
    const t = ln[j]! * inv;
    if (t > cut) return;
    const s = mulAddMod(off, order[j]!, step, size);
    if (t < best[s]!) {
      best[s] = t;
      owner[s] = k;
    }
  }
}

/** The horizons H_r of the weighted fill's rounds, summed as it always summed them. */
class Schedule {
  private readonly horizons: number[];
  constructor(
    private readonly totalWeight: number,
    size: number,
  ) {
    this.horizons = [Math.log(size) / totalWeight];
  }

  horizon(r: number): number {
    while (this.horizons.length <= r) this.horizons.push(this.horizons[this.horizons.length - 1]! + 0.5 / this.totalWeight);
    return this.horizons[r]!;
  }

  /** The round in which a weight-w backend takes position j, or max + 1 if later than max. */
  roundOf(lnj: number, w: number, max: number): number {
    let r = 0;
    while (r <= max && !(lnj <= this.horizon(r) * w)) r++;
    return r;
  }
}

/** Position of slot s in the list with this offset and skip^-1: (offset + ORDER[j]*skip) % M = s. */
function positionIn(s: number, offset: number, inverse: number, inverseOrder: Int32Array, size: number): number {
  let d = s - offset;
  if (d < 0) d += size;
  return inverseOrder[mulAddMod(0, d, inverse, size)]!;
}

/** Whether some list reaches slot s by the round with this horizon. */
function reachedBy(s: number, horizon: number, lists: ActiveLists, ln: Float64Array, inverseOrder: Int32Array, size: number): boolean {
  for (let a = 0; a < lists.k.length; a++) {
    if (ln[positionIn(s, lists.off[a]!, lists.inverse[a]!, inverseOrder, size)]! <= horizon * lists.w[a]!) return true;
  }
  return false;
}

/** Slot s by the schedule itself: earliest arrival within rounds 0..R, ties to the earlier (round, backend). */
function settleExactly(s: number, lastRound: number, schedule: Schedule, lists: ActiveLists, owner: Uint8Array, best: Float64Array, ln: Float64Array, inverseOrder: Int32Array, size: number): void {
  let time = Infinity;
  let who = -1;
  let round = 0;
  for (let a = 0; a < lists.k.length; a++) {
    const j = positionIn(s, lists.off[a]!, lists.inverse[a]!, inverseOrder, size);
    const r = schedule.roundOf(ln[j]!, lists.w[a]!, lastRound);
    if (r > lastRound) continue;
    const t = ln[j]! * lists.inv[a]!;
    if (t < time || (t === time && r < round)) [time, who, round] = [t, a, r];
  }
  owner[s] = lists.k[who]!;
  best[s] = time;
}

/** skip^-1 mod M, to find where a slot sits in a backend's list. */
function modInverse(a: number, m: number): number {
  let [r0, r1] = [a, m];
  let [s0, s1] = [1, 0];
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return ((s0 % m) + m) % m;
}

/** Arrival time of every slot for one backend (Infinity for weight 0). */
function timesFor(k: number, offset: Int32Array, skip: Int32Array, weight: Float64Array, size: number): Float64Array {
  const { ln, order } = sizeTables(size);
  const out = new Float64Array(size).fill(Infinity);
  const w = weight[k]!;
  if (w === 0) return out;
  for (let j = 0; j < size; j++) out[(offset[k]! + order[j]! * skip[k]!) % size] = ln[j]! / w;
  return out;
}

function bounds(weight: Float64Array, totalWeight: number, size: number, k: number): { target: number; hi: number; lo: number } {
  const target = (size * weight[k]!) / totalWeight;
  const hi = weight[k] === 0 ? 0 : Math.floor(target + BALANCE_TOLERANCE * size);
  const lo = Math.max(0, Math.ceil(target - BALANCE_TOLERANCE * size));
  return { target, hi, lo };
}

function withinBounds(count: Int32Array, weight: Float64Array, totalWeight: number, size: number): boolean {
  for (let k = 0; k < count.length; k++) {
    const { hi, lo } = bounds(weight, totalWeight, size, k);
    if (count[k]! > hi || count[k]! < lo) return false;
  }
  return true;
}

// Rare path (mostly 2..5 backends): move the least-preferred slots of backends
// above their upper bound to the next-preferred backend with room, then let
// backends below their lower bound take their most-preferred slots from
// backends above their target. Deterministic, and it only touches the excess.
function rebalance(
  owner: Uint8Array,
  best: Float64Array,
  count: Int32Array,
  offset: Int32Array,
  skip: Int32Array,
  weight: Float64Array,
  totalWeight: number,
  size: number,
): void {
  const n = weight.length;
  const limits = Array.from(weight, (_, k) => bounds(weight, totalWeight, size, k));
  const hi = limits.map((l) => l.hi);
  const lo = limits.map((l) => l.lo);
  const floorTarget = limits.map((l) => Math.floor(l.target));
  let over = false;
  let under = false;
  for (let k = 0; k < n; k++) {
    if (count[k]! > hi[k]!) over = true;
    if (count[k]! < lo[k]!) under = true;
  }
  if (!over && !under) return;
  const { ln, inverseOrder } = sizeTables(size);
  const inverse = Array.from(skip, (sk) => modInverse(sk, size));
  // s = (offset + ORDER[j]*skip) % M  =>  ORDER[j] = (s - offset) * skip^-1 % M (products < 2^53)
  const timeOf = (k: number, s: number): number => {
    const w = weight[k]!;
    if (w === 0) return Infinity;
    const j = inverseOrder[(((s - offset[k]! + size) % size) * inverse[k]!) % size]!;
    return ln[j]! / w;
  };
  for (let k = 0; k < n && over; k++) {
    const excess = count[k]! - hi[k]!;
    if (excess <= 0) continue;
    const mine: number[] = [];
    for (let s = 0; s < size; s++) if (owner[s] === k) mine.push(s);
    mine.sort((a, b) => best[b]! - best[a]! || a - b);
    for (const s of mine.slice(0, excess)) {
      let to = -1;
      let toTime = Infinity;
      for (let m = 0; m < n; m++) {
        if (m === k || count[m]! >= hi[m]!) continue;
        const t = timeOf(m, s);
        if (t < toTime) [to, toTime] = [m, t];
      }
      if (to < 0) break;
      owner[s] = to;
      best[s] = toTime;
      count[k]!--;
      count[to]!++;
    }
  }
  for (let k = 0; k < n; k++) {
    const need = lo[k]! - count[k]!;
    if (need <= 0) continue;
    const times = timesFor(k, offset, skip, weight, size);
    const candidates: number[] = [];
    for (let s = 0; s < size; s++) if (owner[s] !== k && count[owner[s]!]! > floorTarget[owner[s]!]!) candidates.push(s);
    candidates.sort((a, b) => times[a]! - times[b]! || a - b);
    let taken = 0;
    for (const s of candidates) {
      if (taken === need) break;
      const from = owner[s]!;
      // Down to floor(target), not target: the integer surplus then always covers the deficit.
      if (count[from]! - 1 < floorTarget[from]!) continue;
      owner[s] = k;
      best[s] = times[s]!;
      count[from]!--;
      count[k]!++;
      taken++;
    }
  }
}

function setKey(backends: readonly MaglevBackend[], size: number): string {
  let key = `${size}|`;
  for (const b of backends) key += `${b.ip}:${b.port}/${b.weight},`;
  return key;
}

/** setKey of backends[order[0]], backends[order[1]], ... */
function orderedSetKey(backends: readonly MaglevBackend[], order: readonly number[], size: number): string {
  let key = `${size}|`;
  for (const i of order) {
    const b = backends[i]!;
    key += `${b.ip}:${b.port}/${b.weight},`;
  }
  return key;
}

/**
 * Tables by backend set: many routes share a backend pool, so a full sync builds
 * each distinct table once. Two levels: the exact input (holes included, as the
 * plan passes it) maps to a ready table; the sorted set maps to the first table
 * built for it, which a new ordering is remapped from (4,099 byte copies, no
 * rebuild).
 *
 * Returned tables are shared between callers: treat them as read-only.
 */
export class MaglevCache {
  // Keyed by content, not by list object: a WeakMap keyed by each route's
  // (frozen) list was tried and made GC slower than the key strings it saved.
  private readonly exact = new Map<string, Uint8Array>();
  private readonly canonical = new Map<string, CanonicalBuild>();
  builds = 0;
  hits = 0;

  constructor(private readonly maxEntries = 8192) {}

  get(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Uint8Array {
    const key = setKey(backends, size);
    const ready = this.exact.get(key);
    if (ready) {
      this.hits++;
      return ready;
    }
    checkInput(backends, size);
    // Weight-0 entries (the plan's holes) get no slot: leave them out of the
    // canonical set so routes whose holes differ share one build.
    const order = populationOrder(backends).filter((i) => backends[i]!.weight > 0);
    const canonKey = orderedSetKey(backends, order, size);
    const canon = this.canonical.get(canonKey);
    let table: Uint8Array;
    if (!canon) {
      this.builds++;
      // The build reads backends[order[k]] only, so holes are left out, and
      // it writes input indexes: this input's table directly.
      table = buildInOrder(backends, order, size);
      const toCanonical = new Uint8Array(backends.length);
      order.forEach((i, c) => (toCanonical[i] = c));
      remember(this.canonical, canonKey, { table, toCanonical }, this.maxEntries);
    } else {
      this.hits++;
      // canon.table's values are its input's indexes: through canonical
      // positions to this input's indexes, one lookup per slot.
      const map = new Uint8Array(canon.toCanonical.length);
      for (let i = 0; i < map.length; i++) map[i] = order[canon.toCanonical[i]!]!;
      const src = canon.table;
      table = new Uint8Array(size);
      for (let s = 0; s < size; s++) table[s] = map[src[s]!]!;
    }
    remember(this.exact, key, table, this.maxEntries);
    return table;
  }

  clear(): void {
    this.exact.clear();
    this.canonical.clear();
  }
}

/** A set's first table, and its input's index → position in population order. */
interface CanonicalBuild {
  table: Uint8Array;
  toCanonical: Uint8Array;
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max) {
    // Oldest first: Map iterates in insertion order.
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/**
 * Share (0..1) of slots whose backend identity (ip:port) differs between two
 * tables. A slot that points outside its backend list or at a hole counts as
 * changed, whatever the other table says.
 */
export function maglevDisruption(
  before: Uint8Array,
  beforeBackends: readonly Pick<MaglevBackend, 'ip' | 'port'>[],
  after: Uint8Array,
  afterBackends: readonly Pick<MaglevBackend, 'ip' | 'port'>[],
): number {
  if (before.length !== after.length) {
    throw new RautaError('RAUTA_ERR_CODEC_RANGE', `cannot compare Maglev tables of ${before.length} and ${after.length} slots`);
  }
  if (before.length === 0) return 0;
  // Number each identity once, then compare small integers per slot.
  const ids = new Map<string, number>();
  const number = (list: readonly Pick<MaglevBackend, 'ip' | 'port'>[], invalid: number): Int32Array => {
    const out = new Int32Array(256).fill(invalid);
    list.forEach((b, i) => {
      if (i > 255 || isHole(b)) return;
      const id = backendIdentity(b);
      let n = ids.get(id);
      if (n === undefined) ids.set(id, (n = ids.size));
      out[i] = n;
    });
    return out;
  };
  const beforeId = number(beforeBackends, -1);
  const afterId = number(afterBackends, -2);
  let moved = 0;
  for (let s = 0; s < before.length; s++) {
    if (beforeId[before[s]!] !== afterId[after[s]!]) moved++;
  }
  return moved / before.length;
}
