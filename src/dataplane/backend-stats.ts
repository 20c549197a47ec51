// BACKEND_STATS from the agent's side: one entry per health-checked backend
// (made here, counted into by the programs), read for the passive signal.
import type { BackendKey, BackendStats } from '../model/map-types.js';
import type { TypedMap } from './maps.js';

const ZERO: BackendStats = Object.freeze({ syns: 0, stalled: 0, refused: 0, established: 0 });

export interface BackendStatsTable {
  /**
   * Make the map hold exactly these backends ("ip:port"): new ones start at 0
   * (an entry a previous agent left keeps its counts), others are deleted.
   * Returns the backends that did not fit (RAUTA_MAX_CHECKED entries): they
   * get active checks only.
   */
  track(endpoints: Iterable<string>): string[];
  /** The counters of one tracked backend, or null (not tracked, or not in the map). */
  read(endpoint: string): BackendStats | null;
}

function keyOf(endpoint: string): BackendKey {
  const i = endpoint.lastIndexOf(':');
  return { ip: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)) };
}

export function backendStatsTable(map: TypedMap<BackendKey, BackendStats>): BackendStatsTable {
  return {
    track(endpoints) {
      const want = new Set(endpoints);
      for (const k of [...map.keys()]) {
        const id = `${k.ip}:${k.port}`;
        if (!want.delete(id)) map.delete(k);
      }
      // what is left in `want` is not in the map yet
      const missed: string[] = [];
      const zero = map.valueCodec.encode(ZERO);
      for (const id of want) {
        try {
          map.raw.insertRaw(map.keyCodec.encode(keyOf(id)), zero);
        } catch {
          missed.push(id); // E2BIG: the map is full
        }
      }
      return missed;
    },
    read(endpoint) {
      return map.get(keyOf(endpoint));
    },
  };
}
