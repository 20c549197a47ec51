// Read the maps a plan writes back, decoded: what is really in the kernel, so a
// restarted agent (or a drift check) plans from the truth (the planner builds
// its AppliedState from these, appliedStateOf). Also a raw dump of every map,
// for byte-for-byte comparisons.
import { LAYOUT, RAUTA_MAX_BACKENDS, readIp } from '../model/codecs.js';
import type { BackendList, BackendSlot, MapContents, MapName } from '../model/map-types.js';
import { emptyShapes } from '../model/route-shapes.js';
import type { RautaMaps, RawMap } from './maps.js';

export interface ReadBackOptions {
  /** also read every MAGLEV_TABLES value (4,099 B each; needed for verifyTables) */
  tableValues?: boolean;
}

export interface ReadBackStats {
  routes: number;
  tables: number;
  listeners: number;
  nexthops: number;
  /** ROUTES values whose count exceeds RAUTA_MAX_BACKENDS (read as an over-long list the planner repairs) */
  malformedRoutes: number;
}

const HOLE: BackendSlot = { ip: '0.0.0.0', port: 0, weight: 0 };

/**
 * Decode a backend_list without refusing a corrupt count: a hand-edited count
 * above RAUTA_MAX_BACKENDS becomes an over-long list (extra entries are holes),
 * which the planner reports as malformed and rewrites.
 */
export function decodeBackendListLenient(bytes: Uint8Array): { value: BackendList; malformed: boolean } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const count = b.readUInt32LE(LAYOUT.backend_list.members.count);
  const gen = b.readUInt32LE(LAYOUT.backend_list.members.gen);
  const backends: BackendSlot[] = [];
  for (let i = 0; i < Math.min(count, RAUTA_MAX_BACKENDS); i++) {
    const off = i * LAYOUT.backend.size;
    backends.push({
      ip: readIp(b, off + LAYOUT.backend.members.ip),
      port: b.readUInt16BE(off + LAYOUT.backend.members.port),
      weight: b.readUInt16LE(off + LAYOUT.backend.members.weight),
    });
  }
  const malformed = count > RAUTA_MAX_BACKENDS;
  // Bounded: the planner only needs to see "longer than 32".
  for (let i = backends.length; i < Math.min(count, 1024); i++) backends.push(HOLE);
  return { value: { backends, gen }, malformed };
}

/** Read ROUTES, MAGLEV_TABLES (keys; values when asked), LISTENERS, NEXTHOPS and ROUTE_SHAPES, decoded. */
export function readMaps(
  maps: Pick<RautaMaps, 'routes' | 'maglevTables' | 'listeners' | 'nexthops' | 'routeShapes'>,
  opts: ReadBackOptions = {},
): { contents: MapContents; stats: ReadBackStats } {
  const contents: MapContents = { routes: [], tables: [], listeners: [], nexthops: [], shapes: maps.routeShapes.get(0) ?? emptyShapes() };
  const stats: ReadBackStats = { routes: 0, tables: 0, listeners: 0, nexthops: 0, malformedRoutes: 0 };

  const routes = maps.routes;
  for (const rawKey of routes.raw.keysRaw()) {
    const rawValue = routes.raw.getRaw(rawKey);
    if (rawValue === null) continue; // deleted while we walked
    const key = routes.keyCodec.decode(rawKey);
    const { value, malformed } = decodeBackendListLenient(rawValue);
    if (malformed) stats.malformedRoutes++;
    contents.routes.push({ key, value });
    stats.routes++;
  }

  const tables = maps.maglevTables;
  for (const rawKey of tables.raw.keysRaw()) {
    const key = tables.keyCodec.decode(rawKey);
    if (opts.tableValues) {
      const rawValue = tables.raw.getRaw(rawKey);
      if (rawValue === null) continue;
      // Raw bytes, not the codec: a hand-edited slot >= 32 must read back (and be repaired), not throw.
      contents.tables.push({ key, value: new Uint8Array(rawValue) });
    } else {
      contents.tables.push({ key });
    }
    stats.tables++;
  }

  for (const key of maps.listeners.keys()) {
    contents.listeners.push(key);
    stats.listeners++;
  }

  for (const entry of maps.nexthops.entries()) {
    contents.nexthops.push(entry);
    stats.nexthops++;
  }
  return { contents, stats };
}

/** Every entry of one map as hex key → hex value, sorted by key. */
export function dumpRawMap(raw: RawMap): Map<string, string> {
  const entries: Array<[string, string]> = [];
  for (const k of raw.keysRaw()) {
    const v = raw.getRaw(k);
    if (v !== null) entries.push([k.toString('hex'), v.toString('hex')]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new Map(entries);
}

/** The maps a plan writes (the others hold runtime state: connections, counters). */
export type PlanMapName = Extract<MapName, 'routes' | 'maglev_tables' | 'listeners' | 'nexthops' | 'route_shapes'>;

/** Raw dumps of the five maps a plan writes, by C map name. */
export function dumpPlanMaps(
  maps: Pick<RautaMaps, 'routes' | 'maglevTables' | 'listeners' | 'nexthops' | 'routeShapes'>,
): Record<PlanMapName, Map<string, string>> {
  return {
    routes: dumpRawMap(maps.routes.raw),
    maglev_tables: dumpRawMap(maps.maglevTables.raw),
    listeners: dumpRawMap(maps.listeners.raw),
    nexthops: dumpRawMap(maps.nexthops.raw),
    route_shapes: dumpRawMap(maps.routeShapes.raw),
  };
}
