// One node's data plane as `rauta run` and `rauta agent` both set it up: load
// the programs (reusing maps pinned under pinDir), attach them to the
// interface when one is given, look up backend MACs (neighbour table, gateway
// route, configured gateway MAC), warning once per change about the ones
// missing, sweep the flow state the data path cannot remove itself, and check
// the backends of routes with a healthCheck (node-health.ts). After an upgrade
// that changed a desired-state map's layout, the new program is attached only
// once the agent has written the full state into the new maps: until then the
// old program, attached with its old maps, keeps routing.
import type { Logger } from 'pino';
import type { XdpMode } from '../dataplane/libbpf.js';
import { createNexthopResolver } from '../dataplane/nexthops.js';
import { sweepFlows, type FlowCensus } from '../dataplane/flow-reaper.js';
import { attachXdp, DESIRED_MAPS, loadRauta, type RautaProgram } from '../dataplane/program.js';
import type { MapName } from '../model/map-types.js';
import { RautaError } from '../errors.js';
import { DEFAULT_CAPACITY, mapMaxEntries, type Capacity } from '../routes/capacity.js';
import { createNodeHealth, type NodeHealth } from './node-health.js';

export interface NodeDataplaneOptions {
  pinDir: string;
  iface?: string;
  /** auto, native or generic (checked here: a usage error otherwise) */
  xdpMode: string;
  /** normalized gateway MAC, or null */
  gatewayMac: string | null;
  logger: Logger;
  /** how long a backend's route (`ip route get`) is trusted before it is looked up again */
  routeTtlMs?: number;
  /** how often to sweep FLOW_CACHE for half-open and orphaned state (default 5 s; 0: never) */
  flowSweepMs?: number;
  /** map capacity to load with (default: the sizes in bpf/rauta.h); pinned maps must match it */
  capacity?: Capacity;
}

export interface NodeDataplane {
  prog: RautaProgram;
  /** the mode the program is attached in, null when not attached (yet) */
  xdpMode: 'native' | 'generic' | null;
  /**
   * Call once the agent has started: attaches a program held back for a
   * rebuild as soon as the agent reports an applied state ('ready').
   */
  attachWhenReady(agent: { status(): { state: string } }): void;
  /** for NodeAgentOptions.nexthops */
  nexthops: (ips: readonly string[]) => Promise<Record<string, string>>;
  /** connections by state as of the last sweep (null before the first) and what sweeps removed */
  flows(): { census: FlowCensus | null; reaped: number; orphans: number };
  /** backend health checks: pass to NodeAgentOptions.health, then bind(agent) */
  health: NodeHealth;
  /** closes our fds only: the pins and the attachment keep program and maps alive */
  close(): void;
}

export function checkXdpMode(mode: string): XdpMode {
  if (!['auto', 'native', 'generic'].includes(mode)) throw new RautaError('RAUTA_ERR_USAGE', `--xdp-mode ${mode}: use auto, native or generic`);
  return mode as XdpMode;
}

export function openNodeDataplane(opts: NodeDataplaneOptions): NodeDataplane {
  const { logger } = opts;
  const mode = checkXdpMode(opts.xdpMode);
  const prog = loadRauta({ pinDir: opts.pinDir, maxEntries: mapMaxEntries(opts.capacity ?? DEFAULT_CAPACITY) });
  logger.info(
    { pinDir: opts.pinDir, reusedMaps: prog.reused },
    prog.reused.length > 0 ? 'programs loaded; reusing the pinned maps' : 'programs loaded; maps pinned',
  );
  for (const r of prog.replaced) {
    const what = DESIRED_MAPS.includes(r.name as MapName)
      ? 'the agent writes it in full from the event log'
      : r.name === 'metrics'
        ? 'counters restart at 0'
        : 'connections it held are gone';
    logger.warn({ map: r.name, was: r.diffs }, `pinned ${r.name} had an older layout: replaced by an empty one (${what})`);
  }
  const state = { xdpMode: null as 'native' | 'generic' | null, waiting: null as NodeJS.Timeout | null };
  const attach = () => {
    if (!opts.iface) return;
    state.xdpMode = attachXdp(prog, opts.iface, mode, (msg) => logger.warn({ iface: opts.iface }, msg));
    logger.info({ iface: opts.iface, mode: state.xdpMode }, 'XDP attached, with the TC ingress program');
  };
  try {
    if (!opts.iface) logger.warn('no --iface: the program is loaded and pinned but not attached (rauta probe still works)');
    else if (prog.rebuild)
      logger.warn(
        { iface: opts.iface },
        'upgrade: the new maps start empty; the program already attached keeps routing until the agent has written the full state, then the new one is attached',
      );
    else attach();
  } catch (err) {
    prog.close();
    throw err;
  }
  const attachWhenReady = (agent: { status(): { state: string } }) => {
    if (!opts.iface || !prog.rebuild || state.xdpMode !== null || state.waiting) return;
    const tryAttach = () => {
      if (agent.status().state !== 'ready') return false;
      try {
        attach();
      } catch (err) {
        logger.error({ err, iface: opts.iface }, 'attaching the new program failed; the old one keeps routing, trying again');
        return false;
      }
      return true;
    };
    if (tryAttach()) return;
    state.waiting = setInterval(() => {
      if (tryAttach() && state.waiting) {
        clearInterval(state.waiting);
        state.waiting = null;
      }
    }, 500);
    state.waiting.unref();
  };
  let lastMissing = '';
  const resolve = createNexthopResolver({ iface: opts.iface ?? null, gatewayMac: opts.gatewayMac, routeTtlMs: opts.routeTtlMs ?? 30_000 });
  const nexthops = async (ips: readonly string[]) => {
    const t0 = performance.now();
    const r = await resolve(ips);
    logger.debug({ ips: ips.length, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'nexthops resolved');
    const missing = r.missing.map((m) => `${m.ip} (${m.reason})`).join(', ');
    if (missing !== lastMissing && r.missing.length > 0) {
      logger.warn(
        { missing: r.missing.slice(0, 20), count: r.missing.length },
        'no MAC for some backends (neighbour table, gateway route, --gateway-mac): their requests pass to the kernel',
      );
    }
    lastMissing = missing;
    return r.macs;
  };
  const flows = { census: null as FlowCensus | null, reaped: 0, orphans: 0 };
  const sweepMs = opts.flowSweepMs ?? 5_000;
  const sweep = () => {
    try {
      const r = sweepFlows(prog.typed);
      flows.census = r.census;
      flows.reaped += r.reaped;
      flows.orphans += r.orphans;
      if (r.reaped + r.orphans + r.requests > 0)
        logger.debug({ reaped: r.reaped, orphansRemoved: r.orphans, requestsRemoved: r.requests, census: r.census }, 'flow sweep');
    } catch (err) {
      logger.warn({ err }, 'flow sweep failed; trying again on the next tick');
    }
  };
  const timer = sweepMs > 0 ? setInterval(sweep, sweepMs) : null;
  timer?.unref();
  if (timer) sweep();
  const health = createNodeHealth({ maps: prog.typed, logger });
  return {
    prog,
    get xdpMode() {
      return state.xdpMode;
    },
    attachWhenReady,
    nexthops,
    flows: () => ({ ...flows }),
    health,
    close: () => {
      if (timer) clearInterval(timer);
      if (state.waiting) clearInterval(state.waiting);
      health.stop();
      prog.close();
    },
  };
}
