// Runs a plan (MapOp[]) against the real maps as one transaction. Every
// operation records its inverse from what the map really held (the old raw
// bytes to restore, or a delete when the key was absent: a write-if-absent
// that succeeds proves that in the same bpf() call); on the first failure the
// inverses run in reverse order so the maps end byte-identical to before. Works on the raw
// level of maps.ts, so a restore writes back exactly the bytes that were there
// (including fields the codecs would normalise, such as hand-edited padding).
import { RautaError } from '../errors.js';
import { maglevTableCodec } from '../model/codecs.js';
import type { MapName, MapOp } from '../model/map-types.js';
import type { RautaMaps, TypedMap } from './maps.js';

/** The four maps a plan writes (flow cache and metrics belong to the data path). */
export type ApplyMaps = Pick<RautaMaps, 'routes' | 'maglevTables' | 'listeners' | 'nexthops'>;

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
    super('RAUTA_ERR_APPLY_FAILED', `apply op ${failedOp.index} of ${failedOp.count} (${failedOp.op} ${failedOp.map} ${failedOp.key}) failed: ${reason}; ${tail}`, { cause });
    this.name = 'ApplyError';
    this.failedOp = failedOp;
    this.errno = typeof (cause as { errno?: unknown })?.errno === 'number' ? (cause as { errno: number }).errno : undefined;
    this.rolledBack = rolledBack;
    this.rollbackFailures = rollbackFailures;
    this.inversesRun = inversesRun;
  }
}

/**
 * A plan encoded before any map is touched (so a value that does not fit the
 * layout fails first). Keys live in one arena (copied into a reused buffer per
 * key size for each call), small values in another; a Maglev table (4 KB) is only checked here, once
 * per distinct table object (planned routes share cached tables), and copied
 * into one reused buffer right before its write: holding an encoded copy of
 * every table cost ~270 MB and most of the time at 65,536 routes.
 */
interface EncodedPlan {
  targets: Array<TypedMap<unknown, unknown>>;
  /** every op's key at keyOff[i] (its map's key size); keyOf() copies it out */
  keyArena: Buffer;
  keyOff: Int32Array;
  /** one key buffer per key size, reused op after op (no object per op survives into the old generation) */
  keyBufs: Map<number, Buffer>;
  /** set ops with an arena value: offset into `values`; -1 for deletes and tables */
  valueOff: Int32Array;
  values: Buffer;
  /** set ops on MAGLEV_TABLES: the checked table, else null */
  tables: Array<Uint8Array | null>;
  /** the buffer a table is copied into before its write */
  tableBuf: Buffer;
}

const PLAN_MAPS = new Set<MapName>(['routes', 'maglev_tables', 'listeners', 'nexthops']);

function targetOf(maps: ApplyMaps, name: MapName): TypedMap<unknown, unknown> {
  switch (name) {
    case 'routes':
      return maps.routes as TypedMap<unknown, unknown>;
    case 'maglev_tables':
      return maps.maglevTables as TypedMap<unknown, unknown>;
    case 'listeners':
      return maps.listeners as TypedMap<unknown, unknown>;
    case 'nexthops':
      return maps.nexthops as TypedMap<unknown, unknown>;
    default:
      throw new RautaError('RAUTA_ERR_APPLY_FAILED', `a plan may not write map ${name}`);
  }
}

/** A short printable form of a decoded key, for errors and logs. */
export function describeKey(map: MapName, key: unknown): string {
  const k = key as Record<string, unknown>;
  switch (map) {
    case 'routes':
      return `{method ${String(k.method)}, path_hash ${String(k.pathHash)}}`;
    case 'maglev_tables': {
      const r = k.route as Record<string, unknown>;
      return `{method ${String(r.method)}, path_hash ${String(r.pathHash)}, gen ${String(k.gen)}}`;
    }
    case 'listeners':
      return `${String(k.addr)}:${String(k.port)}`;
    default:
      return String(key);
  }
}

/** Encode every op first: a value that does not fit the layout fails before any map is touched. */
function encode(maps: ApplyMaps, ops: readonly MapOp[]): EncodedPlan {
  const n = ops.length;
  const targets: Array<TypedMap<unknown, unknown>> = new Array(n);
  let keyBytes = 0;
  let valueBytes = 0;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    // a map a plan may not write throws below, in op order, as before any other check of later ops
    const target = PLAN_MAPS.has(op.map) ? targetOf(maps, op.map) : undefined;
    if (target === undefined) continue;
    targets[i] = target;
    keyBytes += target.keyCodec.size;
    if (op.op === 'set' && target.valueCodec !== maglevTableCodec) valueBytes += target.valueCodec.size;
  }
  const keyArena = Buffer.alloc(keyBytes);
  const values = Buffer.alloc(valueBytes);
  const keyOff = new Int32Array(n);
  const valueOff = new Int32Array(n).fill(-1);
  const tables: Array<Uint8Array | null> = new Array(n).fill(null);
  const tableBuf = Buffer.alloc(maglevTableCodec.size);
  const checked = new Set<unknown>();
  let k = 0;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const target = targets[i] ?? targetOf(maps, op.map);
    try {
      const ks = target.keyCodec.size;
      target.keyCodec.encodeInto(op.key, keyArena, k);
      keyOff[i] = k;
      k += ks;
      if (op.op === 'set') {
        if (target.valueCodec === maglevTableCodec) {
          // the check is the codec's own (encodeInto); its bytes are the table's, copied at write time
          if (!checked.has(op.value)) {
            maglevTableCodec.encodeInto(op.value as Uint8Array, tableBuf, 0);
            checked.add(op.value);
          }
          tables[i] = op.value as Uint8Array;
        } else {
          target.valueCodec.encodeInto(op.value, values, v);
          valueOff[i] = v;
          v += target.valueCodec.size;
        }
      }
    } catch (err) {
      throw new ApplyError({ index: i + 1, count: n, map: op.map, op: op.op, key: describeKey(op.map, op.key) }, err, 0, []);
    }
  }
  return { targets, keyArena, keyOff, keyBufs: new Map(), valueOff, values, tables, tableBuf };
}

/** Op i's encoded key, in the reused buffer for its size (valid until the next keyOf of that size). */
function keyOf(plan: EncodedPlan, i: number): Buffer {
  const size = plan.targets[i]!.keyCodec.size;
  let buf = plan.keyBufs.get(size);
  if (buf === undefined) {
    buf = Buffer.alloc(size);
    plan.keyBufs.set(size, buf);
  }
  const arena = plan.keyArena;
  const off = plan.keyOff[i]!;
  for (let j = 0; j < size; j++) buf[j] = arena[off + j]!; // 4-24 bytes: a loop beats a copy call
  return buf;
}

/**
 * Apply `ops` in order as one transaction. Throws ApplyError (after rolling
 * back) on the first failure; an empty plan touches nothing.
 *
 * The plan's values must not change while it runs (they are the fold's frozen
 * objects and the Maglev cache's tables): a table is checked once in encode().
 */
export function applyPlan(maps: ApplyMaps, ops: readonly MapOp[], opts: ApplyOptions = {}): ApplyResult {
  const started = performance.now();
  const plan = encode(maps, ops);
  const { targets, valueOff, values, tables, tableBuf } = plan;
  const n = ops.length;
  // inverse[i]: the raw value op i replaced (null: the key was absent)
  const inverses: Array<Buffer | null> = [];
  const result: ApplyResult = { ops: n, bytesWritten: 0, sets: 0, deletes: 0, absentDeletes: 0, durationMs: 0 };
  const every = opts.progressEvery ?? 1000;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const target = targets[i]!;
    const raw = target.raw;
    const key = keyOf(plan, i);
    try {
      // The inverse comes from the map itself, as the kernel answers the write:
      // a set first tries a write-if-absent (a table under a new gen, every
      // entry of a full sync): written means the key was absent, so the
      // inverse is a delete, in one bpf() call. A key that exists is read,
      // then overwritten. A delete takes the old value as it deletes it.
      if (op.op === 'set') {
        let value: Buffer;
        const table = tables[i];
        if (table) {
          tableBuf.set(table); // checked in encode(): the encoding of a table is its bytes
          value = tableBuf;
        } else {
          const off = valueOff[i]!;
          value = values.subarray(off, off + target.valueCodec.size);
        }
        if (raw.insertRaw !== undefined && raw.insertRaw(key, value)) {
          inverses.push(null);
        } else {
          inverses.push(raw.getRaw(key));
          raw.setRaw(key, value);
        }
        result.sets++;
        result.bytesWritten += key.length + value.length;
      } else {
        let old: Buffer | null;
        if (raw.takeRaw !== undefined) {
          old = raw.takeRaw(key);
          inverses.push(old);
        } else {
          old = raw.getRaw(key);
          inverses.push(old);
          if (old !== null) raw.deleteRaw(key);
        }
        if (old === null) result.absentDeletes++;
        result.deletes++;
        result.bytesWritten += key.length;
      }
    } catch (err) {
      // inverses.length may be i + 1 when the write itself failed after the lookup:
      // the failed op changed nothing (a bpf() update/delete is atomic), so drop its entry.
      // (A failed write-if-absent or take changed nothing either.)
      inverses.length = i;
      const failures = rollback(ops, plan, inverses);
      throw new ApplyError({ index: i + 1, count: n, map: op.map, op: op.op, key: describeKey(op.map, op.key) }, err, inverses.length, failures);
    }
    if (opts.onProgress && (i + 1) % every === 0) opts.onProgress(i + 1, n);
  }
  if (opts.onProgress && n % every !== 0) opts.onProgress(n, n);
  result.durationMs = performance.now() - started;
  return result;
}

/** Run the recorded inverses in reverse order; keep going past a failure and report every one. */
function rollback(ops: readonly MapOp[], plan: EncodedPlan, inverses: Array<Buffer | null>): RollbackFailure[] {
  const failures: RollbackFailure[] = [];
  for (let i = inverses.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    const raw = plan.targets[i]!.raw;
    const key = keyOf(plan, i);
    const old = inverses[i]!;
    try {
      if (old === null) raw.deleteRaw(key);
      else raw.setRaw(key, old);
    } catch (err) {
      failures.push({
        index: i + 1,
        map: op.map,
        key: describeKey(op.map, op.key),
        message: err instanceof Error ? err.message : String(err),
        ...(typeof (err as { errno?: unknown }).errno === 'number' ? { errno: (err as { errno: number }).errno } : {}),
      });
    }
  }
  return failures;
}
