// Maglev tables for the planner: the paper's population (maglev-reference.ts),
// built fast (maglev-build.ts), cached by backend list, and the disruption
// between two tables.
import { RautaError } from '../errors.js';
import { buildInOrder, liveOrder } from './maglev-build.js';
import { TableBatch, type PendingTable } from './maglev-parallel.js';
import { backendIdentity, checkMaglevInput, isHole, MAGLEV_SIZE, type MaglevBackend } from './maglev-reference.js';

export { backendIdentity, isHole, MAGLEV_SIZE, type MaglevBackend } from './maglev-reference.js';

/**
 * Build the Maglev table of `size` slots for `backends`; each slot is an index
 * into `backends`. The same table as referenceMaglevTable: it depends on the
 * set of backends and their weights, not on their order in the input, and a
 * weight-0 backend (a hole) gets no slot.
 */
export function buildMaglevTable(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Uint8Array {
  checkMaglevInput(backends, size);
  return buildInOrder(backends, liveOrder(backends), size);
}

// Tables are carved out of slabs of 16: one 4 KB ArrayBuffer per table made
// the collector's external-memory accounting about 8% of a full plan.
const SLAB_TABLES = 16;
let slab = new Uint8Array(0);
let slabUsed = 0;
function newTable(size: number): Uint8Array {
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(size * SLAB_TABLES);
    slabUsed = 0;
  }
  slabUsed += size;
  return slab.subarray(slabUsed - size, slabUsed);
}

/**
 * Tables by backend list: many routes share a backend pool, so a full sync
 * builds each distinct table once. Two levels: the exact input (holes
 * included, as the plan passes it) maps to a ready table; the live backends in
 * population order map to the first table built for them, which another
 * ordering of the same set is remapped from (one lookup per slot, no build).
 * Keyed by a 32-bit hash of the contents, checked against the stored contents
 * on a hit: string keys of every ip:port/weight were most of what a full plan
 * allocated.
 *
 * Returned tables are shared between callers: treat them as read-only.
 */
export class MaglevCache {
  private readonly exact = new Map<number, CachedTable>();
  private readonly canonical = new Map<number, CachedTable>();
  /** the last prepare()'s lists (by identity) and their exact entries: get() of the same list object skips hashing it again */
  private prepared = new Map<readonly MaglevBackend[], CachedTable>();
  /** the last prepare()'s builds, some perhaps still running */
  private batch: TableBatch | null = null;
  builds = 0;
  hits = 0;

  /** `parallel`: let prepare() build on worker threads too (maglev-parallel.ts). */
  constructor(
    private readonly maxEntries = 8192,
    private readonly parallel = true,
  ) {}

  /**
   * Build the tables of `lists` that are not cached yet, together, so that a
   * full plan's builds (one per distinct backend set) run on every core; get()
   * then finds them. Lists that get() would reject are left for get().
   *
   * The builds run on after it returns: get() waits for the table it returns
   * (building others on this thread meanwhile), so that the caller's work
   * between two get()s overlaps the workers' builds. settle() waits for all.
   */
  prepare(lists: Iterable<readonly MaglevBackend[]>, size = MAGLEV_SIZE): void {
    const prepared = new Map<readonly MaglevBackend[], CachedTable>();
    // Created for the first build only: a new batch finishes the one before,
    // and a prepare() that finds every table must not wait for those builds.
    let batch: TableBatch | null = null;
    let built = 0;
    try {
      for (const backends of lists) {
        const known = this.prepared.get(backends); // the same list object as last time: no hashing
        if (known?.matches(backends, null, size)) {
          prepared.set(backends, known);
          continue;
        }
        const exactHash = listHash(backends, null, size);
        const cached = find(this.exact, exactHash, backends, null, size);
        if (cached) prepared.set(backends, cached);
        if (cached || !isValidInput(backends, size)) continue;
        const order = liveOrder(backends);
        const canonHash = listHash(backends, order, size);
        if (find(this.canonical, canonHash, backends, order, size)) continue; // get() remaps it
        const table = newTable(size);
        const copy = new BackendsCopy(backends);
        const canon = new CachedTable(copy, order, size, table, toCanonical(order, backends.length));
        remember(this.canonical, canonHash, canon, this.maxEntries);
        const entry = new CachedTable(copy, null, size, table, null);
        remember(this.exact, exactHash, entry, this.maxEntries);
        prepared.set(backends, entry);
        batch ??= this.batch = new TableBatch(size, this.parallel);
        canon.pending = entry.pending = batch.add({ backends, order, table });
        built++;
      }
    } catch (err) {
      batch?.finish(); // the workers must not be left holding this batch's jobs
      this.clear(); // entries above point at tables that may not be built
      throw err;
    }
    this.prepared = prepared;
    this.builds += built;
  }

  get(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Uint8Array {
    const prepared = this.prepared.get(backends);
    if (prepared?.matches(backends, null, size)) {
      this.hits++;
      return this.built(prepared);
    }
    const exactHash = listHash(backends, null, size);
    const ready = find(this.exact, exactHash, backends, null, size);
    if (ready) {
      this.hits++;
      return this.built(ready);
    }
    checkMaglevInput(backends, size);
    // Weight-0 entries (the plan's holes) get no slot: leave them out of the
    // canonical set so routes whose holes differ share one build.
    const order = liveOrder(backends);
    const canonHash = listHash(backends, order, size);
    const canon = find(this.canonical, canonHash, backends, order, size);
    const copy = new BackendsCopy(backends);
    let table: Uint8Array;
    if (!canon) {
      this.builds++;
      // The build reads backends[order[k]] only, so holes are left out, and
      // it writes input indexes: this input's table directly.
      table = buildInOrder(backends, order, size, newTable(size));
      remember(this.canonical, canonHash, new CachedTable(copy, order, size, table, toCanonical(order, backends.length)), this.maxEntries);
    } else {
      this.hits++;
      // canon.table's values are its input's indexes: through canonical
      // positions to this input's indexes, one lookup per slot.
      const from = canon.toCanonical!;
      const map = new Uint8Array(from.length);
      for (let i = 0; i < map.length; i++) map[i] = order[from[i]!]!;
      const src = this.built(canon);
      table = newTable(size);
      for (let s = 0; s < size; s++) table[s] = map[src[s]!]!;
    }
    remember(this.exact, exactHash, new CachedTable(copy, null, size, table, null), this.maxEntries);
    return table;
  }

  /** Wait until every table of the last prepare() is built. */
  settle(): void {
    this.batch?.finish();
  }

  /** The entry's table, once its build (if prepare() started one) is done. */
  private built(entry: CachedTable): Uint8Array {
    const t = entry.pending;
    if (t !== null) {
      if (!t.done) this.batch!.ready(t); // not done: still in this cache's batch (a newer batch finishes the one before)
      entry.pending = null;
    }
    return entry.table;
  }

  clear(): void {
    this.prepared.clear();
    this.exact.clear();
    this.canonical.clear();
  }
}

/** Input index → position in population order. */
function toCanonical(order: readonly number[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  order.forEach((i, c) => {
    out[i] = c;
  });
  return out;
}

function isValidInput(backends: readonly MaglevBackend[], size: number): boolean {
  try {
    checkMaglevInput(backends, size);
    return true;
  } catch {
    return false;
  }
}

/** A backend list's contents at the time it was cached (the caller's objects may change later). */
class BackendsCopy {
  readonly ips: string[];
  readonly ports: number[];
  readonly weights: number[];
  constructor(backends: readonly MaglevBackend[]) {
    const n = backends.length;
    this.ips = new Array<string>(n);
    this.ports = new Array<number>(n);
    this.weights = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      const b = backends[k]!;
      this.ips[k] = b.ip;
      this.ports[k] = b.port;
      this.weights[k] = b.weight;
    }
  }
}

/**
 * A cached table and the backend list it was built for: backends[order[k]],
 * or all backends in input order (order null). The exact and the canonical
 * entry of one build share one copy of the list.
 */
class CachedTable {
  /** the next entry with the same hash */
  next: CachedTable | undefined;
  /** the build prepare() started for this table, until it is known to be done */
  pending: PendingTable | null = null;

  constructor(
    private readonly backends: BackendsCopy,
    private readonly order: readonly number[] | null,
    readonly size: number,
    readonly table: Uint8Array,
    /** canonical entries: its input's index → position in population order */
    readonly toCanonical: Uint8Array | null,
  ) {}

  matches(backends: readonly MaglevBackend[], order: readonly number[] | null, size: number): boolean {
    const n = order ? order.length : backends.length;
    const mine = this.order;
    const { ips, ports, weights } = this.backends;
    if (size !== this.size || n !== (mine ? mine.length : ips.length)) return false;
    for (let k = 0; k < n; k++) {
      const b = backends[order ? order[k]! : k]!;
      const i = mine ? mine[k]! : k;
      if (b.ip !== ips[i] || b.port !== ports[i] || b.weight !== weights[i]) return false;
    }
    return true;
  }
}

/**
 * FNV-1a 32 of each backend's ip, port and weight (backends[order[k]], or all
 * in input order), continuing from `h`: a bucket key, equality is checked on
 * the content. The cache's keys and the tracker's shared lists both use it.
 */
export function hashBackends(backends: readonly MaglevBackend[], order: readonly number[] | null = null, h = 0x811c9dc5): number {
  const n = order ? order.length : backends.length;
  for (let k = 0; k < n; k++) {
    const b = backends[order ? order[k]! : k]!;
    const { ip } = b;
    for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ b.port, 0x01000193);
    h = Math.imul(h ^ b.weight, 0x01000193);
  }
  return h;
}

/** hashBackends with the table size mixed in first. */
function listHash(backends: readonly MaglevBackend[], order: readonly number[] | null, size: number): number {
  return hashBackends(backends, order, Math.imul(0x811c9dc5 ^ size, 0x01000193));
}

function find(
  map: Map<number, CachedTable>,
  hash: number,
  backends: readonly MaglevBackend[],
  order: readonly number[] | null,
  size: number,
): CachedTable | undefined {
  let entry = map.get(hash);
  while (entry && !entry.matches(backends, order, size)) entry = entry.next;
  return entry;
}

function remember(map: Map<number, CachedTable>, hash: number, entry: CachedTable, max: number): void {
  const first = map.get(hash);
  if (first) {
    entry.next = first.next;
    first.next = entry;
    return;
  }
  if (map.size >= max) {
    // Oldest first: Map iterates in insertion order.
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(hash, entry);
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
