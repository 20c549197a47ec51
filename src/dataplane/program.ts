// Load, pin, reopen and attach the rauta XDP program. Maps are pinned under one
// directory per agent (default /sys/fs/bpf/rauta) and reused on restart, so the
// routes survive the agent; the program is pinned as <pinDir>/prog_xdp so other
// processes (rauta probe) can open program and maps by path without reloading.
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MapName } from './map-types.js';
import { closeFd, ifIndex, loadObject, objGet, unpinPath, xdpAttach, xdpDetach, xdpQueryId, type XdpMode } from './libbpf.js';
import { rautaMaps, type RautaMaps } from './maps.js';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/rauta';
export const DEFAULT_OBJECT = fileURLToPath(new URL('../../bpf/rauta.bpf.o', import.meta.url));
export const PROG_PIN = 'prog_xdp';
export const MAP_NAMES: readonly MapName[] = ['routes', 'maglev_tables', 'flow_cache', 'metrics', 'listeners', 'nexthops'];

export interface RautaProgram {
  pinDir: string;
  progFd: number;
  maps: Record<MapName, number>;
  typed: RautaMaps;
  /** Maps reused from pins (empty on a first load). */
  reused: string[];
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
  const obj = loadObject(opts.objectPath ?? DEFAULT_OBJECT, {
    pinDir,
    progPinName: PROG_PIN,
    maxEntries: opts.maxEntries as Record<string, number> | undefined,
    logLevel: opts.logLevel,
  });
  const maps = pickMaps(obj.maps, opts.objectPath ?? DEFAULT_OBJECT);
  return {
    pinDir,
    progFd: obj.progFd,
    maps,
    typed: rautaMaps(maps),
    reused: obj.reused,
    verifierLog: opts.logLevel ? obj.log : '',
    close: () => obj.close(),
  };
}

/** Open a loaded program and its maps by their pins, without loading anything. */
export function openPinned(pinDir: string = DEFAULT_PIN_DIR): RautaProgram {
  const fds: number[] = [];
  try {
    const progFd = objGet(join(pinDir, PROG_PIN));
    fds.push(progFd);
    const maps = {} as Record<MapName, number>;
    for (const name of MAP_NAMES) {
      maps[name] = objGet(join(pinDir, name));
      fds.push(maps[name]);
    }
    return {
      pinDir,
      progFd,
      maps,
      typed: rautaMaps(maps),
      reused: [...MAP_NAMES],
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

/** Attach the program to an interface; 'auto' tries native and falls back to generic with a warning. */
export function attachXdp(prog: Pick<RautaProgram, 'progFd'>, ifname: string, mode: XdpMode = 'auto', warn?: (msg: string) => void): 'native' | 'generic' {
  return xdpAttach(ifIndex(ifname), prog.progFd, mode, warn);
}

export function detachXdp(ifname: string): void {
  xdpDetach(ifIndex(ifname));
}

/** Id of the XDP program attached to ifname (0 when none). */
export function attachedProgramId(ifname: string, mode?: 'native' | 'generic'): number {
  return xdpQueryId(ifIndex(ifname), mode);
}

/** Remove the program and map pins (and the directory when it is then empty). */
export function unpin(pinDir: string): void {
  for (const name of [PROG_PIN, ...MAP_NAMES]) unpinPath(join(pinDir, name));
  if (existsSync(pinDir) && readdirSync(pinDir).length === 0) rmdirSync(pinDir);
}
