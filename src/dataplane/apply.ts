// Runs a plan (MapOp[]) against the real maps as one transaction. Every
// operation first records its inverse (the old raw bytes to restore, or a
// delete when the key was absent); on the first failure the inverses run in
// reverse order so the maps end byte-identical to before. Works on the raw
// level of maps.ts, so a restore writes back exactly the bytes that were there
// (including fields the codecs would normalise, such as hand-edited padding).
import { RautaError } from '../errors.js';
import type { MapName, MapOp } from './map-types.js';
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

interface EncodedOp {
  map: MapName;
  op: 'set' | 'delete';
  target: TypedMap<unknown, unknown>;
  key: Buffer;
  value: Buffer | null;
  describe: () => string;
}

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
function encode(maps: ApplyMaps, ops: readonly MapOp[]): EncodedOp[] {
  return ops.map((op, i) => {
    const target = targetOf(maps, op.map);
    const describe = () => describeKey(op.map, op.key);
    try {
      const key = target.keyCodec.encode(op.key);
      const value = op.op === 'set' ? target.valueCodec.encode(op.value) : null;
      return { map: op.map, op: op.op, target, key, value, describe };
    } catch (err) {
      throw new ApplyError({ index: i + 1, count: ops.length, map: op.map, op: op.op, key: describe() }, err, 0, []);
    }
  });
}

/**
 * Apply `ops` in order as one transaction. Throws ApplyError (after rolling
 * back) on the first failure; an empty plan touches nothing.
 */
export function applyPlan(maps: ApplyMaps, ops: readonly MapOp[], opts: ApplyOptions = {}): ApplyResult {
  const started = performance.now();
  const encoded = encode(maps, ops);
  // inverse[i]: the raw value op i replaced (null: the key was absent)
  const inverses: Array<Buffer | null> = [];
  const result: ApplyResult = { ops: encoded.length, bytesWritten: 0, sets: 0, deletes: 0, absentDeletes: 0, durationMs: 0 };
  const every = opts.progressEvery ?? 1000;
  for (let i = 0; i < encoded.length; i++) {
    const e = encoded[i]!;
    const raw = e.target.raw;
    try {
      const old = raw.getRaw(e.key);
      if (e.op === 'set') {
        inverses.push(old);
        raw.setRaw(e.key, e.value!);
        result.sets++;
        result.bytesWritten += e.key.length + e.value!.length;
      } else {
        inverses.push(old);
        if (old !== null) {
          raw.deleteRaw(e.key);
        } else result.absentDeletes++;
        result.deletes++;
        result.bytesWritten += e.key.length;
      }
    } catch (err) {
      // inverses.length may be i + 1 when the write itself failed after the lookup:
      // the failed op changed nothing (a bpf() update/delete is atomic), so drop its entry.
      inverses.length = i;
      const failures = rollback(encoded, inverses);
      throw new ApplyError({ index: i + 1, count: encoded.length, map: e.map, op: e.op, key: e.describe() }, err, inverses.length, failures);
    }
    if (opts.onProgress && (i + 1) % every === 0) opts.onProgress(i + 1, encoded.length);
  }
  if (opts.onProgress && encoded.length % every !== 0) opts.onProgress(encoded.length, encoded.length);
  result.durationMs = performance.now() - started;
  return result;
}

/** Run the recorded inverses in reverse order; keep going past a failure and report every one. */
function rollback(encoded: EncodedOp[], inverses: Array<Buffer | null>): RollbackFailure[] {
  const failures: RollbackFailure[] = [];
  for (let i = inverses.length - 1; i >= 0; i--) {
    const e = encoded[i]!;
    const old = inverses[i]!;
    try {
      if (old === null) e.target.raw.deleteRaw(e.key);
      else e.target.raw.setRaw(e.key, old);
    } catch (err) {
      failures.push({
        index: i + 1,
        map: e.map,
        key: e.describe(),
        message: err instanceof Error ? err.message : String(err),
        ...(typeof (err as { errno?: unknown }).errno === 'number' ? { errno: (err as { errno: number }).errno } : {}),
      });
    }
  }
  return failures;
}
