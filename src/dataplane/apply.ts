// Runs a plan (MapOp[]) against the real maps as one transaction: each op, as
// it runs, yields its inverse (what its key held before, read from the map's
// own answer to the write); on the first failure the inverses run in reverse
// so the maps end byte-identical to before. Works on the raw level of maps.ts,
// so an undo writes back exactly the bytes that were there (including fields
// the codecs would normalise, such as hand-edited padding).
import { RautaError } from '../errors.js';
import { maglevTableCodec } from '../model/codecs.js';
import type { MapName, MapOp } from '../model/map-types.js';
import type { RautaMaps, RawMap, TypedMap } from './maps.js';

/** The four maps a plan writes (flow cache and metrics belong to the data path). */
export type ApplyMaps = Pick<RautaMaps, 'routes' | 'maglevTables' | 'listeners' | 'nexthops' | 'routeShapes'>;

export interface ApplyOptions {
  /** Called every `progressEvery` operations (and at the end) with done/total: full syncs log progress. */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

export interface ApplyResult {
  /** operations run (= plan length) */
  ops: number;
  /** key + value bytes handed to the kernel for sets, key bytes for deletes */
  bytesWritten: number;
  sets: number;
  deletes: number;
  /** deletes whose key was already absent (harmless: the end state is the same) */
  absentDeletes: number;
  durationMs: number;
}

/** What failed and where: the op's map, key, and index k (1-based) of n. */
export interface FailedOp {
  index: number;
  count: number;
  map: MapName;
  op: 'set' | 'delete';
  /** decoded key, printable ("GET#1:1234…", "10.0.0.1:80", "10.1.0.1") */
  key: string;
}

export interface RollbackFailure {
  /** 1-based index of the op whose inverse failed */
  index: number;
  map: MapName;
  key: string;
  message: string;
  errno?: number;
}

/**
 * RAUTA_ERR_APPLY_FAILED. `rolledBack` is true when every inverse ran and the
 * maps are byte-identical to before; false means the node may be half-changed
 * (the agent must read the maps back and replan). `cause` is the map layer's
 * error (a BpfError keeps the errno, also copied to `errno`).
 */
export class ApplyError extends RautaError {
  readonly failedOp: FailedOp;
  readonly errno: number | undefined;
  readonly rolledBack: boolean;
  readonly rollbackFailures: RollbackFailure[];
  readonly inversesRun: number;
  constructor(failedOp: FailedOp, cause: unknown, inversesRun: number, rollbackFailures: RollbackFailure[]) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const rolledBack = rollbackFailures.length === 0;
    const tail = rolledBack
      ? `rolled back ${inversesRun} earlier op(s); the maps are as they were before`
      : `ROLLBACK INCOMPLETE: ${rollbackFailures.length} of ${inversesRun} inverse op(s) failed ` +
        `(${rollbackFailures.map((f) => `#${f.index} ${f.map} ${f.key}: ${f.message}`).join('; ')}); ` +
        'the maps may be half-changed: read them back and replan';
    const where = `apply op ${failedOp.index} of ${failedOp.count} (${failedOp.op} ${failedOp.map} ${failedOp.key})`;
    super('RAUTA_ERR_APPLY_FAILED', `${where} failed: ${reason}; ${tail}`, { cause });
    this.name = 'ApplyError';
    this.failedOp = failedOp;
    this.errno = errnoOf(cause);
    this.rolledBack = rolledBack;
    this.rollbackFailures = rollbackFailures;
    this.inversesRun = inversesRun;
  }
}

function routeKeyText(k: Record<string, unknown>): string {
  return `{method ${String(k.method)}, path_match ${String(k.pathMatch)}, host_match ${String(k.hostMatch)}, path_hash ${String(k.pathHash)}, host_hash ${String(k.hostHash)}}`;
}

/** A short printable form of a decoded key, for errors and logs. */
export function describeKey(map: MapName, key: unknown): string {
  const k = key as Record<string, unknown>;
  switch (map) {
    case 'routes':
      return routeKeyText(k);
    case 'maglev_tables':
      return `${routeKeyText(k.route as Record<string, unknown>).slice(0, -1)}, gen ${String(k.gen)}}`;
    case 'listeners':
      return `${String(k.addr)}:${String(k.port)}`;
    default:
      return String(key);
  }
}

/**
 * What undoes one op: the raw bytes its key held before (written back), or
 * null when the key was absent (undone by a delete).
 */
type Inverse = Buffer | null;

/**
 * Apply `ops` in order as one transaction. Throws ApplyError (after rolling
 * back) on the first failure; an empty plan touches nothing.
 *
 * The plan's values must not change while it runs (they are the fold's frozen
 * objects and the Maglev cache's tables): a table is checked once, in encoding.
 */
export function applyPlan(maps: ApplyMaps, ops: readonly MapOp[], opts: ApplyOptions = {}): ApplyResult {
  const started = performance.now();
  const plan = new EncodedPlan(maps, ops); // an op that does not fit the layout throws here, before any write
  const n = ops.length;
  const result: ApplyResult = { ops: n, bytesWritten: 0, sets: 0, deletes: 0, absentDeletes: 0, durationMs: 0 };
  const inverses: Inverse[] = [];
  const every = opts.progressEvery ?? 1000;
  for (let i = 0; i < n; i++) {
    try {
      inverses.push(applyOp(plan, i, result));
    } catch (err) {
      // the failed op changed nothing (each bpf() write is atomic): undo the ones before it
      const failures = undo(plan, inverses);
      throw new ApplyError(failedOp(ops, i), err, inverses.length, failures);
    }
    if (opts.onProgress && (i + 1) % every === 0) opts.onProgress(i + 1, n);
  }
  if (opts.onProgress && n % every !== 0) opts.onProgress(n, n);
  result.durationMs = performance.now() - started;
  return result;
}

/**
 * Run op i and return its inverse, taken from the map's own answer to the
 * write. A set is first a write-if-absent (a table under a new gen, every entry
 * of a full sync): written proves the key was absent, in one bpf() call; a key
 * that exists is read, then overwritten. A delete takes the old value as it
 * deletes it.
 */
function applyOp(plan: EncodedPlan, i: number, result: ApplyResult): Inverse {
  const map = plan.map(i);
  const key = plan.key(i);
  if (plan.isDelete(i)) {
    const old = map.takeRaw(key);
    result.deletes++;
    if (old === null) result.absentDeletes++;
    result.bytesWritten += key.length;
    return old;
  }
  const value = plan.value(i);
  let old: Inverse = null;
  if (!map.insertRaw(key, value)) {
    old = map.getRaw(key);
    map.setRaw(key, value);
  }
  result.sets++;
  result.bytesWritten += key.length + value.length;
  return old;
}

/** Run the inverses newest first; keep going past a failure and report every one. */
function undo(plan: EncodedPlan, inverses: readonly Inverse[]): RollbackFailure[] {
  const failures: RollbackFailure[] = [];
  for (let i = inverses.length - 1; i >= 0; i--) {
    const map = plan.map(i);
    const key = plan.key(i);
    const old = inverses[i]!;
    try {
      if (old === null) map.deleteRaw(key);
      else map.setRaw(key, old);
    } catch (err) {
      const op = plan.ops[i]!;
      const errno = errnoOf(err);
      failures.push({
        index: i + 1,
        map: op.map,
        key: describeKey(op.map, op.key),
        message: err instanceof Error ? err.message : String(err),
        ...(errno !== undefined ? { errno } : {}),
      });
    }
  }
  return failures;
}

function failedOp(ops: readonly MapOp[], i: number): FailedOp {
  const op = ops[i]!;
  return { index: i + 1, count: ops.length, map: op.map, op: op.op, key: describeKey(op.map, op.key) };
}

function errnoOf(err: unknown): number | undefined {
  const errno = (err as { errno?: unknown } | null | undefined)?.errno;
  return typeof errno === 'number' ? errno : undefined;
}

type Target = TypedMap<unknown, unknown>;

/**
 * A plan's keys and values as the maps take them, encoded before any map is
 * touched. Keys live in one arena and key(i) copies one out into a buffer
 * reused per key size, so no Buffer per op lives long enough to reach the old
 * generation; small values live in a second arena. A Maglev table (4 KB) is
 * only checked here, once per distinct table object (planned routes share
 * cached tables), and value(i) copies it into one reused buffer: holding an
 * encoded copy of every table cost ~270 MB and most of the time at 65,536 routes.
 * A buffer key(i) or value(i) returns is valid until the next call of that kind.
 */
class EncodedPlan {
  readonly ops: readonly MapOp[];
  private readonly targets: Target[];
  private readonly keyArena: Buffer;
  private readonly keyOff: Int32Array;
  private readonly keyBufs = new Map<number, Buffer>();
  private readonly values: Buffer;
  /** offset into `values` of a set's value; -1 for deletes and tables */
  private readonly valueOff: Int32Array;
  /** a set's checked Maglev table, else null */
  private readonly tables: Array<Uint8Array | null>;
  private readonly tableBuf = Buffer.alloc(maglevTableCodec.size);

  /** Throws ApplyError (nothing run, nothing to undo) for the first op that does not fit its map's layout. */
  constructor(maps: ApplyMaps, ops: readonly MapOp[]) {
    const byName: Partial<Record<MapName, Target>> = {
      routes: maps.routes as Target,
      maglev_tables: maps.maglevTables as Target,
      listeners: maps.listeners as Target,
      nexthops: maps.nexthops as Target,
      route_shapes: maps.routeShapes as Target,
    };
    const n = ops.length;
    // sizes first, so each arena is one allocation
    const targets: Target[] = new Array(n);
    let keyBytes = 0;
    let valueBytes = 0;
    for (let i = 0; i < n; i++) {
      const op = ops[i]!;
      const target = byName[op.map];
      if (target === undefined) continue; // refused below, in op order
      targets[i] = target;
      keyBytes += target.keyCodec.size;
      if (op.op === 'set' && target.valueCodec !== maglevTableCodec) valueBytes += target.valueCodec.size;
    }
    this.ops = ops;
    this.targets = targets;
    this.keyArena = Buffer.alloc(keyBytes);
    this.keyOff = new Int32Array(n);
    this.values = Buffer.alloc(valueBytes);
    this.valueOff = new Int32Array(n).fill(-1);
    this.tables = new Array<Uint8Array | null>(n).fill(null);
    const checked = new Set<unknown>();
    let k = 0;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const op = ops[i]!;
      const target = targets[i];
      if (target === undefined) throw new RautaError('RAUTA_ERR_APPLY_FAILED', `a plan may not write map ${op.map}`);
      try {
        target.keyCodec.encodeInto(op.key, this.keyArena, k);
        this.keyOff[i] = k;
        k += target.keyCodec.size;
        if (op.op !== 'set') continue;
        if (target.valueCodec === maglevTableCodec) {
          // the check is the codec's own; a table's encoding is its bytes, copied at write time
          if (!checked.has(op.value)) {
            maglevTableCodec.encodeInto(op.value as Uint8Array, this.tableBuf, 0);
            checked.add(op.value);
          }
          this.tables[i] = op.value as Uint8Array;
        } else {
          target.valueCodec.encodeInto(op.value, this.values, v);
          this.valueOff[i] = v;
          v += target.valueCodec.size;
        }
      } catch (err) {
        throw new ApplyError(failedOp(ops, i), err, 0, []);
      }
    }
  }

  /** the map op i writes */
  map(i: number): RawMap {
    return this.targets[i]!.raw;
  }

  isDelete(i: number): boolean {
    return this.ops[i]!.op === 'delete';
  }

  /** op i's encoded key */
  key(i: number): Buffer {
    const size = this.targets[i]!.keyCodec.size;
    let buf = this.keyBufs.get(size);
    if (buf === undefined) {
      buf = Buffer.alloc(size);
      this.keyBufs.set(size, buf);
    }
    const arena = this.keyArena;
    const off = this.keyOff[i]!;
    for (let j = 0; j < size; j++) buf[j] = arena[off + j]!; // 4-24 bytes: a loop beats a copy call
    return buf;
  }

  /** set op i's encoded value */
  value(i: number): Buffer {
    const table = this.tables[i];
    if (table) {
      this.tableBuf.set(table); // checked in the constructor
      return this.tableBuf;
    }
    const off = this.valueOff[i]!;
    return this.values.subarray(off, off + this.targets[i]!.valueCodec.size);
  }
}
