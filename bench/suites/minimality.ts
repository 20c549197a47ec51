// Suite 5, minimality: map operations and bytes written for a one-backend
// change of one route in 1,024 applied routes × 32 backends, against a full
// resync of the same state (planChanges' fullResync option, what the agent's
// full-resync mode runs), both applied into the same real program and counted
// by applyPlan. The change must touch that route's entries only.
import { MaglevCache } from '../../src/model/maglev.js';
import { planChanges, simulateApply, appliedStateOf } from '../../src/plan/plan.js';
import { readMaps } from '../../src/dataplane/read-back.js';
import { runSuite } from '../lib/suite.js';
import { median } from '../lib/stats.js';
import { freshProgram, fullSync, planAndApply, syntheticDesired, withOneBackendMoved } from '../lib/sync.js';

await runSuite(
  'minimality',
  async (s) => {
    const desired = syntheticDesired({ routes: 1024, backendsPerRoute: 32, pools: 64 });
    const prog = freshProgram(s.pinDir('min'), 1024);
    try {
      const sync = fullSync(prog.typed, desired);
      const cache = new MaglevCache();
      const changed = withOneBackendMoved(desired, 517, 1);
      const one = planAndApply(prog.typed, sync.applied, changed, cache);
      const touched = new Set(
        one.ops.map((o) =>
          o.map === 'routes'
            ? `${o.key.method}:${o.key.pathHash}`
            : o.map === 'maglev_tables'
              ? `${o.key.route.method}:${o.key.route.pathHash}`
              : `other:${o.map}`,
        ),
      );
      if (touched.size !== 1) throw new Error(`a one-backend change touched ${[...touched].join(', ')}: more than the changed route`);
      let applied = simulateApply(sync.applied, one.ops);
      // the time of a change: median over a few more routes (the first one warms the JIT)
      let current = changed;
      const times: number[] = [];
      for (let k = 0; k < 7; k++) {
        const next = withOneBackendMoved(current, (k * 131 + 7) % 1024, k);
        const r = planAndApply(prog.typed, applied, next, cache);
        applied = simulateApply(applied, r.ops);
        current = next;
        times.push(r.ms);
      }
      const full = planAndApply(prog.typed, applied, current, cache, { fullResync: true });
      // both reach the same state
      const left = planChanges(appliedStateOf(readMaps(prog.typed).contents), current).ops.length;
      if (left !== 0) throw new Error(`after the full resync a new plan still has ${left} ops`);
      s.row({
        name: 'map operations, one-backend change (1,024 routes × 32)',
        value: one.apply.ops,
        unit: 'ops',
        baseline: { name: 'full resync of the same state', value: full.apply.ops },
        goal: { max: 4, text: '≤ 3 (that route: new table, route flip, old table delete)' },
        note: one.ops.map((o) => `${o.op} ${o.map}`).join(', '),
      });
      s.row({
        name: 'bytes written, one-backend change (1,024 routes × 32)',
        value: one.apply.bytesWritten,
        unit: 'B',
        baseline: { name: 'full resync of the same state', value: full.apply.bytesWritten },
        goal: { ratioMax: 0.01, text: '≤ 1% of a full resync' },
      });
      s.row({
        name: 'plan + apply time, one-backend change (median of 7)',
        value: median(times),
        unit: 'ms',
        baseline: { name: 'full resync of the same state', value: full.ms },
      });
    } finally {
      prog.dispose();
    }
  },
  ['bpf'],
);
