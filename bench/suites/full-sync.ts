// Suite 3, full sync: 1,024 routes × 32 backends from empty maps to applied
// (read back, plan with a cold Maglev cache as a starting agent has, apply as
// one transaction into a real loaded program). Two route sets: every route
// with its own backend set (1,024 Maglev builds, the worst case) and 64 pools
// shared by 16 routes each (a service with many routes). Baseline: the same
// entries, pre-encoded, written into empty maps of a second program with one
// bpf() update each (no plan, no transaction): the floor of any sync.
import { runSuite } from '../lib/suite.js';
import { median } from '../lib/stats.js';
import { freshProgram, fullSync, rawWriteFloor, routesRequest, syntheticDesired, type RouteSetSpec } from '../lib/sync.js';
import { planChanges, appliedStateOf } from '../../src/plan/plan.js';
import { readMaps } from '../../src/dataplane/read-back.js';

const GOAL = { max: 100, text: '< 100 ms' };

await runSuite(
  'full-sync',
  async (s) => {
    const rounds = s.size(3, 1, 1);
    const routes = s.size(1024, 1024, 128); // smoke: a smaller set, same rows
    const n = routes.toLocaleString('en-US');
    const pools = routes / 16;
    const cases: Array<{ label: string; spec: RouteSetSpec }> = [
      { label: `${n} routes × 32 backends, ${n} distinct backend sets`, spec: { routes, backendsPerRoute: 32, pools: 'distinct' } },
      { label: `${n} routes × 32 backends, ${pools} shared pools`, spec: { routes, backendsPerRoute: 32, pools } },
    ];
    const idleRssKb = process.resourceUsage().maxRSS;
    for (const c of cases) {
      const desired = syntheticDesired(c.spec);
      const totals: number[] = [];
      const floors: number[] = [];
      let last: ReturnType<typeof fullSync> | null = null;
      for (let r = 0; r < rounds; r++) {
        const prog = freshProgram(s.pinDir('sync'), c.spec.routes);
        try {
          last = fullSync(prog.typed, desired);
          totals.push(last.totalMs);
          // the sync must have reached the desired state and route
          const again = planChanges(appliedStateOf(readMaps(prog.typed).contents), desired).ops.length;
          if (again !== 0) throw new Error(`${c.label}: after the sync a new plan still has ${again} ops`);
          if (!routesRequest(prog, desired.routes[0]!.path))
            throw new Error(`${c.label}: a request for ${desired.routes[0]!.path} is not routed after the sync`);
        } finally {
          prog.dispose();
        }
        const floorProg = freshProgram(s.pinDir('floor'), c.spec.routes);
        try {
          floors.push(rawWriteFloor(floorProg.typed, last.ops).ms);
        } finally {
          floorProg.dispose();
        }
      }
      const l = last!;
      s.row({
        name: `full sync, ${c.label}`,
        value: median(totals),
        unit: 'ms',
        baseline: { name: `raw writes of the same ${l.apply.sets.toLocaleString('en-US')} entries`, value: median(floors) },
        goal: GOAL,
        note: `last round: read ${l.readMs.toFixed(1)} ms, plan ${l.planMs.toFixed(1)} ms (Maglev builds), apply ${l.applyMs.toFixed(1)} ms; ${l.apply.ops.toLocaleString('en-US')} ops, ${(l.apply.bytesWritten / 1e6).toFixed(1)} MB written; median of ${rounds}, all rounds ${totals.map((t) => t.toFixed(0)).join(' / ')} ms (the first starts the Maglev worker threads)`,
      });
    }
    s.row({
      name: 'peak RSS of the full-sync process',
      value: process.resourceUsage().maxRSS / 1024,
      unit: 'MiB',
      baseline: { name: 'RSS after loading modules, before any sync', value: idleRssKb / 1024 },
    });
  },
  ['bpf'],
);
