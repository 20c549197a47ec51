// Suite 4, scale: 65,536 routes (× 32 backends drawn from 1,024 shared pools)
// in maps sized through loadRauta({maxEntries}). Full sync from empty maps
// beside the raw-write floor of the same entries; then the cost of a
// one-route change (plan against the applied state the agent keeps, scoped
// to the changed route as the agent scopes a commit's plan, then apply) at
// 65,536 routes divided by the same change at 1,024 routes, both measured in
// this run: goal ≈ 1, the cost of a change must not grow with the number of
// routes.
import { MaglevCache } from '../../src/model/maglev.js';
import { applyOpsInPlace, DesiredIndex, planChanges, routeIdFor } from '../../src/plan/plan.js';
import { runSuite, type SuiteApi } from '../lib/suite.js';
import { median } from '../lib/stats.js';
import { liveBytes, MiB, rss } from '../lib/memory.js';
import { freshProgram, fullSync, planAndApply, rawWriteFloor, routesRequest, syntheticDesired, withOneBackendMoved } from '../lib/sync.js';

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
  /** live bytes before the routes were built, and with them built (the routes are the bench's: an agent's fold holds the same) */
  liveIdle: number;
  liveDesired: number;
  /** RSS just before the sync, and the process's peak RSS read as the sync returns (nothing but the sync ran in between) */
  rssBefore: number;
  rssPeak: number;
  /** live bytes after the sync with the plan dropped: the routes, the applied model the agent keeps, the caches */
  liveAfter: number;
}

function measureAt(s: SuiteApi, routes: number, changes: number): ScaleRun {
  const liveIdle = liveBytes();
  const desired = syntheticDesired({ routes, backendsPerRoute: 32, pools: Math.min(1024, routes), ipPool: 4096 });
  const liveDesired = liveBytes();
  const prog = freshProgram(s.pinDir(`scale${routes}`), routes);
  try {
    s.log(`full sync of ${routes} routes`);
    const rssBefore = rss().now;
    const { ops, applied, ...sync } = fullSync(prog.typed, desired);
    const rssPeak = rss().peak;
    if (!routesRequest(prog, desired.routes[routes - 1]!.path)) throw new Error(`${routes} routes: the last route does not route after the sync`);
    // A running agent: warm cache, applied state and desired index in memory.
    // Each change moves one backend of a different route (a new backend set:
    // one Maglev build each time).
    const cache = new MaglevCache();
    const index = DesiredIndex.of(desired.routes);
    let current = desired;
    const changeMs: number[] = [];
    const changeOps: number[] = [];
    const planMs: number[] = [];
    for (let k = 0; k < changes + 3; k++) {
      const i = (k * 7919) % routes;
      const next = withOneBackendMoved(current, i, k);
      index.set(next.routes[i]!, next.routes[i]!); // the agent's fold does this, outside the timed region
      const r = planAndApply(prog.typed, applied, next, cache, { scope: { routes: [routeIdFor(next.routes[i]!)], listeners: [], index } });
      if (r.ops.length === 0) throw new Error('a one-backend change planned no ops');
      applyOpsInPlace(applied, r.ops); // bookkeeping as the agent does it, outside the timed region
      current = next;
      if (k >= 3) {
        changeMs.push(r.ms);
        changeOps.push(r.ops.length);
        planMs.push(r.planMs);
      }
    }
    const left = planChanges(applied, current, { cache }).ops.length;
    if (left > 0) throw new Error(`${routes} routes: after the scoped changes a full plan still finds ${left} ops`);
    const floorProg = freshProgram(s.pinDir(`floor${routes}`), routes);
    let floorMs: number;
    try {
      floorMs = rawWriteFloor(floorProg.typed, ops).ms;
    } finally {
      floorProg.dispose();
    }
    ops.length = 0; // the floor's copy of the plan: an agent drops the plan once applied
    const memory: SyncMemory = { liveIdle, liveDesired, rssBefore, rssPeak, liveAfter: liveBytes() };
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
    const small = measureAt(s, base, changes);
    const large = measureAt(s, big, changes);
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
        `held before it: the process ${mib(idleRssKb * 1024)} before any route, the desired routes ${perRoute(m.liveDesired - m.liveIdle)} live (built by the bench, as the fold hands them: 32 backends each); ` +
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
