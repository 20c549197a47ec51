// Suite 4, scale: 65,536 routes (× 32 backends drawn from 1,024 shared pools)
// in maps sized through loadRauta({maxEntries}). Full sync from empty maps
// beside the raw-write floor of the same entries; then the cost of a
// one-route change (plan against the applied state the agent keeps, scoped
// to the changed route as the agent scopes a commit's plan, then apply) at
// 65,536 routes divided by the same change at 1,024 routes, both measured in
// this run: goal ≈ 1, the cost of a change must not grow with the number of
// routes. The desired routes are what an agent holds: RouteUpserted events
// written to a file log, read back and folded by a DesiredTracker.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openFileLog } from '../../src/events/file-log.js';
import { MaglevCache } from '../../src/model/maglev.js';
import { applyOpsInPlace, type DesiredDataplane, planChanges, routeIdFor } from '../../src/plan/plan.js';
import { isCommitMarker, type RautaEvent } from '../../src/routes/route-events.js';
import { type Listener, routeId } from '../../src/routes/route-model.js';
import { DesiredTracker } from '../../src/state/desired-tracker.js';
import { COMMIT_ROUTES, commitOf, writeRouteLogApart } from '../lib/route-log.js';
import { runSuite, type SuiteApi } from '../lib/suite.js';
import { median } from '../lib/stats.js';
import { liveBytes, MiB, rss } from '../lib/memory.js';
import {
  freshProgram,
  fullSync,
  planAndApply,
  rawWriteFloor,
  type RouteSetSpec,
  routesRequest,
  syntheticDesired,
  syntheticRoute,
  withBackendMoved,
} from '../lib/sync.js';

/** Events per log read, as the agent reads (NodeAgentOptions.readBatch's default). */
const READ_BATCH = 1000;

/**
 * The desired state as an agent builds it: the routes as RouteUpserted events
 * in a file log (written apart, as a watcher writes it: route-log.ts), read
 * back READ_BATCH events at a time and folded whole commit by whole commit by
 * a DesiredTracker, as NodeAgent's readCommits does. The log is closed and
 * removed after: the row counts the routes, not the log.
 */
async function foldedDesired(s: SuiteApi, spec: RouteSetSpec, listeners: readonly Listener[]): Promise<DesiredTracker> {
  const path = join(s.ctx.tmpRoot, `events-${spec.routes}.log`);
  writeRouteLogApart(path, spec, listeners);
  const reader = await openFileLog(path);
  const tracker = new DesiredTracker();
  try {
    const head = await reader.head();
    let pending: RautaEvent[] = [];
    for (let next = 1; next <= head; ) {
      const events = await reader.read(next, READ_BATCH);
      next = events[events.length - 1]!.seq + 1;
      for (const e of events) {
        pending.push(e);
        if (isCommitMarker(e)) {
          tracker.apply(pending);
          pending = [];
        }
      }
    }
  } finally {
    await reader.close();
    rmSync(path, { force: true });
  }
  return tracker;
}

interface ScaleRun {
  sync: Omit<ReturnType<typeof fullSync>, 'ops' | 'applied'>;
  floorMs: number;
  changeMs: number[];
  changeOps: number[];
  /** the planning part of each change */
  planMs: number[];
  memory: SyncMemory;
}

/**
 * Memory around the full sync. RSS is what the node pays; live bytes (heap in
 * use + buffers, after a full collection) say what is really held.
 */
interface SyncMemory {
  /** live bytes before the routes were folded, and with them folded (the agent's DesiredTracker: state and index) */
  liveIdle: number;
  liveDesired: number;
  /** RSS just before the sync, the process's peak RSS then (the small run, the fold), and its peak read as the sync returns (nothing but the sync ran in between) */
  rssBefore: number;
  peakBefore: number;
  rssPeak: number;
  /** live bytes after the sync with the plan dropped: the routes, the applied model the agent keeps, the caches */
  liveAfter: number;
}

async function measureAt(s: SuiteApi, routes: number, changes: number): Promise<ScaleRun> {
  const spec: RouteSetSpec = { routes, backendsPerRoute: 32, pools: Math.min(1024, routes), ipPool: 4096 };
  const liveIdle = liveBytes();
  const { listeners, nexthops, ipPool } = syntheticDesired({ ...spec, routes: 0 });
  const tracker = await foldedDesired(s, spec, listeners as readonly Listener[]);
  const desiredNow = (): DesiredDataplane => ({ routes: tracker.routes, listeners: tracker.state.listeners, nexthops });
  const liveDesired = liveBytes();
  const prog = freshProgram(s.pinDir(`scale${routes}`), routes);
  try {
    s.log(`full sync of ${routes} routes`);
    const rssBefore = rss().now;
    const peakBefore = rss().peak;
    const { ops, applied, ...sync } = fullSync(prog.typed, desiredNow());
    const rssPeak = rss().peak;
    if (!routesRequest(prog, syntheticRoute(routes - 1, spec).path)) throw new Error(`${routes} routes: the last route does not route after the sync`);
    // A running agent: warm cache, applied state and the tracker's index in
    // memory. Each change moves one backend of a different route (a new
    // backend set: one Maglev build each time), folded as a one-route commit.
    const cache = new MaglevCache();
    const changeMs: number[] = [];
    const changeOps: number[] = [];
    const planMs: number[] = [];
    for (let k = 0; k < changes + 3; k++) {
      const i = (k * 7919) % routes;
      const next = withBackendMoved(tracker.state.routes[routeId(syntheticRoute(i, spec))]!, i, k, ipPool);
      const seq = tracker.state.seq;
      tracker.apply(commitOf(1_000_000 + k, [next], []).map((e, j) => ({ ...e, seq: seq + 1 + j }))); // the agent's fold, outside the timed region
      const r = planAndApply(prog.typed, applied, desiredNow(), cache, { scope: { routes: [routeIdFor(next)], listeners: [], index: tracker.index } });
      if (r.ops.length === 0) throw new Error('a one-backend change planned no ops');
      applyOpsInPlace(applied, r.ops); // bookkeeping as the agent does it, outside the timed region
      if (k >= 3) {
        changeMs.push(r.ms);
        changeOps.push(r.ops.length);
        planMs.push(r.planMs);
      }
    }
    const left = planChanges(applied, desiredNow(), { cache }).ops.length;
    if (left > 0) throw new Error(`${routes} routes: after the scoped changes a full plan still finds ${left} ops`);
    const floorProg = freshProgram(s.pinDir(`floor${routes}`), routes);
    let floorMs: number;
    try {
      floorMs = rawWriteFloor(floorProg.typed, ops).ms;
    } finally {
      floorProg.dispose();
    }
    ops.length = 0; // the floor's copy of the plan: an agent drops the plan once applied
    const memory: SyncMemory = { liveIdle, liveDesired, rssBefore, peakBefore, rssPeak, liveAfter: liveBytes() };
    return { sync, floorMs, changeMs, changeOps, planMs, memory };
  } finally {
    prog.dispose();
  }
}

await runSuite(
  'scale',
  async (s) => {
    const big = s.size(65536, 8192, 1024);
    const base = s.size(1024, 1024, 256);
    const changes = s.size(60, 15, 3);
    const idleRssKb = process.resourceUsage().maxRSS;
    const small = await measureAt(s, base, changes);
    const large = await measureAt(s, big, changes);
    const n = big.toLocaleString('en-US');
    s.row({
      name: `full sync, ${n} routes × 32 backends (${Math.min(1024, big).toLocaleString('en-US')} pools)`,
      value: large.sync.totalMs,
      unit: 'ms',
      baseline: { name: `raw writes of the same ${large.sync.apply.sets.toLocaleString('en-US')} entries`, value: large.floorMs },
      note: `read ${large.sync.readMs.toFixed(0)} ms, plan ${large.sync.planMs.toFixed(0)} ms, apply ${large.sync.applyMs.toFixed(0)} ms; ${(large.sync.apply.bytesWritten / 1e6).toFixed(0)} MB written${big !== 65536 ? `; --${s.ctx.level} uses ${n} routes, the full run 65,536` : ''}`,
    });
    const m = large.memory;
    const perRoute = (bytes: number) => `${Math.round(bytes / big).toLocaleString('en-US')} B/route`;
    const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
    s.row({
      name: `peak RSS, full sync of ${n} routes`,
      value: m.rssPeak / MiB,
      unit: 'MiB',
      baseline: { name: 'RSS just before the sync: the process and the desired routes', value: m.rssBefore / MiB },
      goal: { max: 400, text: '< 400 MiB' },
      note:
        `the sync itself: +${mib(m.rssPeak - m.rssBefore)} RSS at its peak (${perRoute(m.rssPeak - m.rssBefore)}: plan, apply, model); ` +
        `held before it: the process ${mib(idleRssKb * 1024)} before any route, the desired routes ${perRoute(m.liveDesired - m.liveIdle)} live (folded as an agent folds them: RouteUpserted events in commits of ${COMMIT_ROUTES.toLocaleString('en-US')} routes, written to a file log by a child process as a watcher would, read back and folded by a DesiredTracker, which shares equal backend lists; state and index); ` +
        `peak RSS before the sync (the fold, the ${base.toLocaleString('en-US')}-route run): ${mib(m.peakBefore)}; ` +
        `kept after it (plan dropped): ${perRoute(m.liveAfter - m.liveDesired)} live (applied model, caches). ` +
        `The bench's own copies (the raw-write floor's encoded entries, the change runs) come after the peak is read`,
    });
    s.row({
      name: `one-route change at ${n} routes (plan + apply, median of ${changes})`,
      value: median(large.changeMs),
      unit: 'ms',
      baseline: { name: `same change at ${base.toLocaleString('en-US')} routes`, value: median(small.changeMs) },
      goal: { ratioMax: 1.5, text: 'ratio ≈ 1 (≤ 1.5)' },
      note: `ops per change: ${median(large.changeOps)} at ${n}, ${median(small.changeOps)} at ${base.toLocaleString('en-US')}; of which planning (median): ${median(large.planMs).toFixed(1)} ms at ${n}, ${median(small.planMs).toFixed(1)} ms at ${base.toLocaleString('en-US')}`,
    });
  },
  ['bpf'],
);
