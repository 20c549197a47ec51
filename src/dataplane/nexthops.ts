// Destination MACs for backend IPs (the NEXTHOPS map), from the node's
// neighbour table: the backend's own entry when it is on-link, else the entry
// of the gateway its route goes through, else a configured gateway MAC.
// XDP_TX sends the frame back out of the interface it came in on, so with
// `iface` set only neighbours and routes on that interface count: a MAC
// learnt on another link would send the packet to a host that cannot see it.
//
// The choice (pickNexthops) is pure; reading the tables (/proc/net/arp,
// `ip -j neigh` as a fallback, `ip -j route get`) is the thin edge below it.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { RautaError } from '../errors.js';

export interface NeighbourEntry {
  ip: string;
  dev: string;
  /** lower case "aa:bb:cc:dd:ee:ff" */
  mac: string;
  /** kernel NUD states, e.g. ["REACHABLE"], ["STALE"], ["PERMANENT"] */
  state: string[];
}

/** What `ip route get IP` says: the device and, for an off-link IP, the gateway. */
export interface RouteHop {
  dst: string;
  dev: string;
  gateway?: string;
}

export type NexthopSource = 'neighbour' | 'gateway' | 'configured';

export interface NexthopResolution {
  /** backend IPv4 → destination MAC */
  macs: Record<string, string>;
  /** how each MAC was found */
  sources: Record<string, NexthopSource>;
  /** IPs without a MAC, with why: their traffic is XDP_PASS until resolved */
  missing: Array<{ ip: string; reason: string }>;
}

export interface NexthopOptions {
  /** only neighbours and routes on this interface count (the interface XDP is attached to) */
  iface?: string | null;
  /** used for backends the neighbour table does not resolve */
  gatewayMac?: string | null;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
// States whose lladdr the kernel would itself use to send (STALE still holds a valid MAC).
const UNUSABLE = new Set(['FAILED', 'INCOMPLETE', 'NONE']);

/** "AA-BB-..." or "aa:bb:..." to lower-case colon form; throws RAUTA_ERR_USAGE when it is not a MAC. */
export function normalizeMac(mac: string, what = 'MAC'): string {
  const m = mac.trim().toLowerCase().replaceAll('-', ':');
  if (!MAC.test(m)) throw new RautaError('RAUTA_ERR_USAGE', `${what} "${mac}" is not a MAC address; write it as aa:bb:cc:dd:ee:ff`);
  if (m === '00:00:00:00:00:00') throw new RautaError('RAUTA_ERR_USAGE', `${what} is all zeros; give the gateway's real MAC`);
  return m;
}

function usable(e: NeighbourEntry): boolean {
  return MAC.test(e.mac) && e.mac !== '00:00:00:00:00:00' && !e.state.some((s) => UNUSABLE.has(s)) && !e.state.includes('NOARP');
}

/** Pure: choose a MAC per IP from a neighbour table and the routes to those IPs. */
export function pickNexthops(
  ips: Iterable<string>,
  neighbours: readonly NeighbourEntry[],
  routes: ReadonlyMap<string, RouteHop>,
  opts: NexthopOptions = {},
): NexthopResolution {
  const iface = opts.iface ?? null;
  const gatewayMac = opts.gatewayMac ? normalizeMac(opts.gatewayMac, 'gateway MAC') : null;
  const byIp = new Map<string, NeighbourEntry>();
  for (const e of neighbours) {
    if (!usable(e) || (iface !== null && e.dev !== iface)) continue;
    // Prefer a permanent or reachable entry over a stale one when an IP shows twice.
    const have = byIp.get(e.ip);
    if (!have || (have.state.includes('STALE') && !e.state.includes('STALE'))) byIp.set(e.ip, e);
  }
  const out: NexthopResolution = { macs: {}, sources: {}, missing: [] };
  for (const ip of [...new Set(ips)].sort()) {
    const own = byIp.get(ip);
    if (own) {
      out.macs[ip] = own.mac;
      out.sources[ip] = 'neighbour';
      continue;
    }
    const route = routes.get(ip);
    let reason: string;
    if (!route) reason = 'no route to it';
    else if (iface !== null && route.dev !== iface) reason = `its route goes out of ${route.dev}, not ${iface}`;
    else if (route.gateway) {
      const gw = byIp.get(route.gateway);
      if (gw) {
        out.macs[ip] = gw.mac;
        out.sources[ip] = 'gateway';
        continue;
      }
      reason = `gateway ${route.gateway} has no neighbour entry${iface ? ` on ${iface}` : ''} yet`;
    } else reason = `on-link${route.dev ? ` on ${route.dev}` : ''} but has no neighbour entry yet`;
    if (gatewayMac) {
      out.macs[ip] = gatewayMac;
      out.sources[ip] = 'configured';
      continue;
    }
    out.missing.push({ ip, reason });
  }
  return out;
}

/** Parse `ip -j neigh show` output (IPv4 entries only). */
export function parseIpNeighJson(text: string): NeighbourEntry[] {
  const rows = JSON.parse(text || '[]') as Array<{ dst?: string; dev?: string; lladdr?: string; state?: string[] }>;
  const out: NeighbourEntry[] = [];
  for (const r of rows) {
    if (!r.dst || !/^\d+\.\d+\.\d+\.\d+$/.test(r.dst) || !r.lladdr) continue;
    out.push({ ip: r.dst, dev: r.dev ?? '', mac: r.lladdr.toLowerCase(), state: r.state ?? [] });
  }
  return out;
}

/** Parse /proc/net/arp (flags 0x2 = complete, 0x4 = permanent). */
export function parseProcNetArp(text: string): NeighbourEntry[] {
  const out: NeighbourEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, mac, , dev] = line.trim().split(/\s+/);
    if (!ip || !flags || !mac || !dev) continue;
    const f = Number(flags);
    if (!(f & 0x2)) continue;
    out.push({ ip, dev, mac: mac.toLowerCase(), state: [f & 0x4 ? 'PERMANENT' : 'REACHABLE'] });
  }
  return out;
}

/** Parse `ip -j -batch` output of `route get` lines: one JSON array per line. */
export function parseRouteGetBatch(text: string): Map<string, RouteHop> {
  const out = new Map<string, RouteHop>();
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('[')) continue;
    for (const r of JSON.parse(line) as Array<{ dst?: string; dev?: string; gateway?: string; type?: string }>) {
      if (!r.dst || (r.type !== undefined && r.type !== 'unicast')) continue;
      out.set(r.dst, { dst: r.dst, dev: r.dev ?? '', ...(r.gateway ? { gateway: r.gateway } : {}) });
    }
  }
  return out;
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err && !stdout ? reject(err) : resolve(stdout)));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * The node's IPv4 neighbour table: /proc/net/arp (read in-process, no child: this
 * runs on every apply), or `ip -j neigh show` when /proc is not readable.
 */
export async function readNeighbours(): Promise<NeighbourEntry[]> {
  try {
    return parseProcNetArp(await readFile('/proc/net/arp', 'utf8'));
  } catch {
    try {
      return parseIpNeighJson(await run('ip', ['-j', 'neigh', 'show']));
    } catch (err) {
      throw new RautaError('RAUTA_ERR_USAGE', `cannot read the neighbour table (/proc/net/arp, ip -j neigh): ${(err as Error).message}; pass --gateway-mac`, {
        cause: err,
      });
    }
  }
}

/** `ip route get` for every IP in one `ip -batch` process; IPs without a route are absent. */
export async function readRoutes(ips: readonly string[]): Promise<Map<string, RouteHop>> {
  if (ips.length === 0) return new Map();
  try {
    return parseRouteGetBatch(await run('ip', ['-force', '-j', '-batch', '-'], ips.map((ip) => `route get ${ip}\n`).join('')));
  } catch {
    return new Map(); // no iproute2: only direct neighbour entries and the configured MAC apply
  }
}

/** Resolve the destination MAC of each backend IP on this node. */
export async function resolveNexthops(ips: Iterable<string>, opts: NexthopOptions = {}): Promise<NexthopResolution> {
  return createNexthopResolver(opts)(ips);
}

/**
 * A resolver for an agent that resolves on every apply: the neighbour table is
 * read each time (MACs change), while `ip route get` answers, which need a child
 * process, are kept for `routeTtlMs` (routes to backends rarely change; the drift
 * check re-resolves after the TTL).
 */
export function createNexthopResolver(opts: NexthopOptions & { routeTtlMs?: number } = {}): (ips: Iterable<string>) => Promise<NexthopResolution> {
  const ttl = opts.routeTtlMs ?? 0;
  const hops = new Map<string, { hop: RouteHop | null; at: number }>();
  return async (ips) => {
    const wanted = [...new Set(ips)];
    const neighbours = await readNeighbours();
    const iface = opts.iface ?? null;
    const direct = new Set(neighbours.filter((e) => usable(e) && (iface === null || e.dev === iface)).map((e) => e.ip));
    const now = Date.now();
    const lookup = wanted.filter((ip) => {
      if (direct.has(ip)) return false;
      const cached = hops.get(ip);
      return !cached || now - cached.at >= ttl;
    });
    if (lookup.length > 0) {
      const fresh = await readRoutes(lookup);
      for (const ip of lookup) hops.set(ip, { hop: fresh.get(ip) ?? null, at: now });
    }
    const routes = new Map<string, RouteHop>();
    for (const ip of wanted) {
      const hop = hops.get(ip)?.hop;
      if (hop) routes.set(ip, hop);
    }
    return pickNexthops(wanted, neighbours, routes, opts);
  };
}
