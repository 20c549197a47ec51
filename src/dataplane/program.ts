// Load, pin, reopen and attach rauta's data path: one object, two programs
// sharing its maps (rauta_xdp at the driver, rauta_tc at TC ingress of the
// same interface). Maps are pinned under one directory per agent (default
// /sys/fs/bpf/rauta) and reused on restart, so routes and open connections
// survive the agent; the programs are pinned as <pinDir>/prog_xdp and
// <pinDir>/prog_tc so other processes (rauta probe) can open them by path.
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MapName } from '../model/map-types.js';
import {
  closeFd,
  ifIndex,
  loadObject,
  objGet,
  tcAttachIngress,
  tcDetachIngress,
  tcQueryIngress,
  unpinPath,
  xdpAttach,
  xdpDetach,
  xdpQueryId,
  type XdpMode,
} from './libbpf.js';
import { rautaMaps, type RautaMaps } from './maps.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/rauta';
export const DEFAULT_OBJECT = fileURLToPath(new URL('../../bpf/rauta.bpf.o', import.meta.url));
export const PROG_PIN = 'prog_xdp';
export const TC_PROG_PIN = 'prog_tc';
const PROGRAMS = { xdp: 'rauta_xdp', tc: 'rauta_tc' } as const;
export const MAP_NAMES: readonly MapName[] = [
  'routes',
  'maglev_tables',
  'flow_cache',
  'requests',
  'scratch',
  'metrics',
  'listeners',
  'nexthops',
  'backend_stats',
  'route_shapes',
  'parse',
];
/** Maps of runtime state only (connections, counters): a pin of an older layout is replaced, not refused. */
export const RUNTIME_MAPS: readonly MapName[] = ['flow_cache', 'requests', 'scratch', 'metrics', 'backend_stats', 'parse'];
/**
 * Maps of desired state, which the agent writes in full from the event log: a
 * pin of an older layout (an upgrade that changed a key) is replaced by an
 * empty map, and the caller must not attach the new program before it has
 * written them (RautaProgram.rebuild).
 */
export const DESIRED_MAPS: readonly MapName[] = ['routes', 'maglev_tables', 'route_shapes', 'listeners', 'nexthops'];

export interface RautaProgram {
  pinDir: string;
  /** the XDP program */
  progFd: number;
  /** the TC ingress program (sends a backend the saved request) */
  tcProgFd: number;
  maps: Record<MapName, number>;
  typed: RautaMaps;
  /** Maps reused from pins (empty on a first load). */
  reused: string[];
  /** Maps whose pin had an older layout and were replaced by empty ones. */
  replaced: Array<{ name: string; diffs: string }>;
  /** A desired-state map was replaced: write the full state before attaching this program (the old one keeps serving meanwhile). */
  rebuild: boolean;
  /** Verifier log: stats with logLevel 4, empty otherwise. */
  verifierLog: string;
  close(): void;
}

export interface LoadRautaOptions {
  pinDir?: string;
  objectPath?: string;
  /** max_entries per map name, set before load (pinned maps must match). */
  maxEntries?: Partial<Record<MapName, number>>;
  /** Verifier log level on success (4: stats such as the processed-instruction count). */
  logLevel?: number;
}

/** Load bpf/rauta.bpf.o, reusing maps pinned under pinDir (checked first) and pinning the rest. */
export function loadRauta(opts: LoadRautaOptions = {}): RautaProgram {
  const pinDir = opts.pinDir ?? DEFAULT_PIN_DIR;
  const objectPath = opts.objectPath ?? DEFAULT_OBJECT;
  const obj = loadObject(objectPath, {
    pinDir,
    progPinNames: { [PROGRAMS.xdp]: PROG_PIN, [PROGRAMS.tc]: TC_PROG_PIN },
    maxEntries: opts.maxEntries as Record<string, number> | undefined,
    replaceOnMismatch: RUNTIME_MAPS,
    replaceOnLayoutChange: DESIRED_MAPS,
    logLevel: opts.logLevel,
  });
  try {
    const maps = pickMaps(obj.maps, objectPath);
    const progFd = obj.progs[PROGRAMS.xdp];
    const tcProgFd = obj.progs[PROGRAMS.tc];
    if (progFd === undefined || tcProgFd === undefined) throw new Error(`${objectPath} lacks ${PROGRAMS.xdp} or ${PROGRAMS.tc}: rebuild it (make -C bpf)`);
    return {
      pinDir,
      progFd,
      tcProgFd,
      maps,
      typed: rautaMaps(maps),
      reused: obj.reused,
      replaced: obj.replaced,
      rebuild: obj.replaced.some((r) => (DESIRED_MAPS as readonly string[]).includes(r.name)),
      verifierLog: opts.logLevel ? obj.log : '',
      close: () => obj.close(),
    };
  } catch (err) {
    obj.close();
    throw err;
  }
}

/** Open a loaded program and its maps by their pins, without loading anything. */
export function openPinned(pinDir: string = DEFAULT_PIN_DIR): RautaProgram {
  const fds: number[] = [];
  try {
    const progFd = objGet(join(pinDir, PROG_PIN));
    fds.push(progFd);
    const tcProgFd = objGet(join(pinDir, TC_PROG_PIN));
    fds.push(tcProgFd);
    const maps = {} as Record<MapName, number>;
    for (const name of MAP_NAMES) {
      maps[name] = objGet(join(pinDir, name));
      fds.push(maps[name]);
    }
    return {
      pinDir,
      progFd,
      tcProgFd,
      maps,
      typed: rautaMaps(maps),
      reused: [...MAP_NAMES],
      replaced: [],
      rebuild: false,
      verifierLog: '',
      close: () => fds.splice(0).forEach(closeFd),
    };
  } catch (err) {
    fds.forEach(closeFd);
    throw err;
  }
}

function pickMaps(all: Record<string, number>, objectPath: string): Record<MapName, number> {
  const out = {} as Record<MapName, number>;
  for (const name of MAP_NAMES) {
    const fd = all[name];
    if (fd === undefined) throw new Error(`${objectPath} has no map named ${name}: rebuild it (make -C bpf)`);
    out[name] = fd;
  }
  return out;
}

/**
 * Attach the data path to an interface: the TC program first (so a backend's
 * SYN-ACK never meets the XDP program alone), then XDP; 'auto' tries native
 * XDP and falls back to generic with a warning. Both replace what rauta
 * attached before. Returns the XDP mode used.
 */
export function attachXdp(
  prog: Pick<RautaProgram, 'progFd' | 'tcProgFd'>,
  ifname: string,
  mode: XdpMode = 'auto',
  warn?: (msg: string) => void,
): 'native' | 'generic' {
  const ifindex = ifIndex(ifname);
  tcAttachIngress(ifindex, prog.tcProgFd);
  return xdpAttach(ifindex, prog.progFd, mode, warn);
}

export function detachXdp(ifname: string): void {
  const ifindex = ifIndex(ifname);
  xdpDetach(ifindex);
  tcDetachIngress(ifindex);
}

/** Id of the XDP program attached to ifname (0 when none); mode: 'native', 'generic' or any. */
export function attachedProgramId(ifname: string, mode?: 'native' | 'generic'): number {
  return xdpQueryId(ifIndex(ifname), mode);
}

/** Id of rauta's TC ingress program on ifname (0 when none). */
export function attachedTcProgramId(ifname: string): number {
  return tcQueryIngress(ifIndex(ifname));
}

/** Remove the program and map pins (and the directory when it is then empty). */
export function unpin(pinDir: string): void {
  for (const name of [PROG_PIN, TC_PROG_PIN, ...MAP_NAMES]) unpinPath(join(pinDir, name));
  if (existsSync(pinDir) && readdirSync(pinDir).length === 0) rmdirSync(pinDir);
}
