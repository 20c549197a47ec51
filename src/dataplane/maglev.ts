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

// Two independent 32-bit hashes of "ip:port": FNV-1a with different offset
// bases, each finished with a different avalanche so the low bits (which the
// modulo keeps) depend on every input byte.
function hashIdentity(s: string, basis: number, mulA: number, mulB: number): number {
  let h = basis | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
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
    t = { ln, order, inverseOrder };
    tablesBySize.set(size, t);
  }
  return t;
}

/** Allowed deviation of a backend's share from its weight share before the fill corrects it. */
const BALANCE_TOLERANCE = 0.01;

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
  const order = populationOrder(backends);
  const n = order.length;
  const offset = new Int32Array(n);
  const skip = new Int32Array(n);
  const weight = new Float64Array(n);
  let totalWeight = 0;
  for (let k = 0; k < n; k++) {
    const b = backends[order[k]!]!;
    const id = backendIdentity(b);
    offset[k] = hashIdentity(id, 0x811c9dc5, 0x85ebca6b, 0xc2b2ae35) % size;
    skip[k] = (hashIdentity(id, 0x050c5d1f, 0x7feb352d, 0x846ca68b) % (size - 1)) + 1;
    weight[k] = b.weight;
    totalWeight += b.weight;
  }
  const { ln, order: listOrder } = sizeTables(size);
  const best = new Float64Array(size).fill(Infinity);
  const owner = new Uint8Array(size);
  const reciprocal = 1 / size;
  if (equalWeights(weight)) fillEqual(owner, best, offset, skip, weight, size, ln, listOrder, reciprocal);
  else fillWeighted(owner, best, offset, skip, weight, totalWeight, size, ln, listOrder, reciprocal);
  rebalance(owner, best, offset, skip, weight, totalWeight, size);
  const table = new Uint8Array(size);
  for (let s = 0; s < size; s++) table[s] = order[owner[s]!]!;
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

// Equal weights: arrival order is (position j, then backend order), so walk
// positions once and let the first backend to reach a free slot take it. Same
// result as fillWeighted, with a 4 KB working set and no float compares.
function fillEqual(
  owner: Uint8Array,
  best: Float64Array,
  offset: Int32Array,
  skip: Int32Array,
  weight: Float64Array,
  size: number,
  ln: Float64Array,
  listOrder: Int32Array,
  reciprocal: number,
): void {
  const active = Int32Array.from([...weight.keys()].filter((k) => weight[k]! > 0));
  const m = active.length;
  const off = new Int32Array(m);
  const step = new Int32Array(m);
  for (let a = 0; a < m; a++) {
    off[a] = offset[active[a]!]!;
    step[a] = skip[active[a]!]!;
  }
  const inv = 1 / weight[active[0]!]!;
  owner.fill(255);
  // The constant divisor lets the JIT turn % into a multiply for rauta's table size.
  if (size === MAGLEV_SIZE) claimFixed(owner, best, off, step, active, ln, listOrder, inv);
  else claimAny(owner, best, off, step, active, size, ln, listOrder, inv, reciprocal);
}

function claimFixed(owner: Uint8Array, best: Float64Array, off: Int32Array, step: Int32Array, active: Int32Array, ln: Float64Array, listOrder: Int32Array, inv: number): void {
  const m = off.length;
  let filled = 0;
  for (let j = 0; j < MAGLEV_SIZE && filled < MAGLEV_SIZE; j++) {
    const pos = listOrder[j]!;
    for (let a = 0; a < m; a++) {
      const s = (off[a]! + pos * step[a]!) % MAGLEV_SIZE;
      if (owner[s] === 255) {
        owner[s] = active[a]!;
        best[s] = ln[j]! * inv;
        filled++;
      }
    }
  }
}

function claimAny(owner: Uint8Array, best: Float64Array, off: Int32Array, step: Int32Array, active: Int32Array, size: number, ln: Float64Array, listOrder: Int32Array, inv: number, reciprocal: number): void {
  const m = off.length;
  let filled = 0;
  for (let j = 0; j < size && filled < size; j++) {
    const pos = listOrder[j]!;
    for (let a = 0; a < m; a++) {
      const x = off[a]! + pos * step[a]!;
      let s = x - ((x * reciprocal) | 0) * size;
      if (s >= size) s -= size;
      else if (s < 0) s += size;
      if (owner[s] === 255) {
        owner[s] = active[a]!;
        best[s] = ln[j]! * inv;
        filled++;
      }
    }
  }
}

function fillWeighted(
  owner: Uint8Array,
  best: Float64Array,
  offset: Int32Array,
  skip: Int32Array,
  weight: Float64Array,
  totalWeight: number,
  size: number,
  ln: Float64Array,
  listOrder: Int32Array,
  reciprocal: number,
): void {
  const n = weight.length;
  const next = new Int32Array(n);
  let uncovered = size;
  // Process every backend's list up to time `horizon`; once every slot has an
  // arrival at or before it, later arrivals cannot win any slot (so the table
  // does not depend on the horizons chosen). The first horizon leaves ~1 slot
  // uncovered on average; extend in small steps until none is.
  let horizon = Math.log(size) / totalWeight;
  while (uncovered > 0) {
    for (let k = 0; k < n; k++) {
      const w = weight[k]!;
      if (w === 0) continue;
      const inv = 1 / w;
      const limit = horizon * w;
      const off = offset[k]!;
      const step = skip[k]!;
      const from = next[k]!;
      const to = arrivalEnd(ln, from, size, limit);
      uncovered -=
        size === MAGLEV_SIZE
          ? arriveFixed(owner, best, off, step, k, inv, from, to, ln, listOrder)
          : arriveAny(owner, best, off, step, k, inv, from, to, ln, listOrder, size, reciprocal);
      next[k] = to;
    }
    horizon += 0.5 / totalWeight;
  }
}

/** First position at or after `from` whose arrival is past `limit`. */
function arrivalEnd(ln: Float64Array, from: number, size: number, limit: number): number {
  let j = from;
  while (j < size && ln[j]! <= limit) j++;
  return j;
}

// Backend k's arrivals at positions from..to-1: take every slot it reaches
// first. Returns how many slots had no owner before. Two copies so that, for
// rauta's table size, the JIT turns % into a multiply.
function arriveFixed(owner: Uint8Array, best: Float64Array, off: number, step: number, k: number, inv: number, from: number, to: number, ln: Float64Array, listOrder: Int32Array): number {
  let covered = 0;
  for (let j = from; j < to; j++) {
    const s = (off + listOrder[j]! * step) % MAGLEV_SIZE;
    const t = ln[j]! * inv;
    if (t < best[s]!) {
      if (best[s] === Infinity) covered++;
      best[s] = t;
      owner[s] = k;
    }
  }
  return covered;
}

function arriveAny(
  owner: Uint8Array,
  best: Float64Array,
  off: number,
  step: number,
  k: number,
  inv: number,
  from: number,
  to: number,
  ln: Float64Array,
  listOrder: Int32Array,
  size: number,
  reciprocal: number,
): number {
  let covered = 0;
  for (let j = from; j < to; j++) {
    // (off + ORDER[j]*step) % size without an integer division: the float
    // quotient is off by at most one, fixed by one compare.
    const x = off + listOrder[j]! * step;
    let s = x - ((x * reciprocal) | 0) * size;
    if (s >= size) s -= size;
    else if (s < 0) s += size;
    const t = ln[j]! * inv;
    if (t < best[s]!) {
      if (best[s] === Infinity) covered++;
      best[s] = t;
      owner[s] = k;
    }
  }
  return covered;
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

// Rare path (mostly 2..5 backends): move the least-preferred slots of backends
// above their upper bound to the next-preferred backend with room, then let
// backends below their lower bound take their most-preferred slots from
// backends above their target. Deterministic, and it only touches the excess.
function rebalance(
  owner: Uint8Array,
  best: Float64Array,
  offset: Int32Array,
  skip: Int32Array,
  weight: Float64Array,
  totalWeight: number,
  size: number,
): void {
  const n = weight.length;
  const count = new Int32Array(n);
  for (let s = 0; s < size; s++) count[owner[s]!]!++;
  const target = Array.from(weight, (w) => (size * w) / totalWeight);
  const hi = target.map((t, k) => (weight[k] === 0 ? 0 : Math.floor(t + BALANCE_TOLERANCE * size)));
  const lo = target.map((t) => Math.max(0, Math.ceil(t - BALANCE_TOLERANCE * size)));
  const floorTarget = target.map(Math.floor);
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

/**
 * Tables by backend set: many routes share a backend pool, so a full sync builds
 * each distinct table once. Two levels: the exact input (holes included, as the
 * plan passes it) maps to a ready table; the sorted set maps to the canonical
 * build that a new ordering is remapped from (4,099 byte copies, no rebuild).
 *
 * Returned tables are shared between callers: treat them as read-only.
 */
export class MaglevCache {
  // Keyed by content, not by list object: a WeakMap keyed by each route's
  // (frozen) list was tried and made GC slower than the key strings it saved.
  private readonly exact = new Map<string, Uint8Array>();
  private readonly canonical = new Map<string, Uint8Array>();
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
    const sorted = order.map((i) => backends[i]!);
    const canonKey = setKey(sorted, size);
    let canon = this.canonical.get(canonKey);
    if (!canon) {
      this.builds++;
      canon = buildMaglevTable(sorted, size);
      remember(this.canonical, canonKey, canon, this.maxEntries);
    } else this.hits++;
    // Canonical slot values are positions in `sorted`; map them to input indexes.
    const toInput = Uint8Array.from(order);
    const table = new Uint8Array(size);
    const src = canon;
    for (let s = 0; s < size; s++) table[s] = toInput[src[s]!]!;
    remember(this.exact, key, table, this.maxEntries);
    return table;
  }

  clear(): void {
    this.exact.clear();
    this.canonical.clear();
  }
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
