// Suite: Maglev tables. Balance, disruption and build time of the production
// build (maglev.ts: buildMaglevTable, MaglevCache) beside the paper's fill as
// written in maglev-reference.ts, on the same backend sets in the same run.
import { availableParallelism } from 'node:os';
import { buildMaglevTable, MAGLEV_SIZE, MaglevCache, maglevDisruption, type MaglevBackend } from '../../src/model/maglev.js';
import { referenceMaglevTable } from '../../src/model/maglev-reference.js';
import { median } from '../lib/stats.js';
import { runSuite } from '../lib/suite.js';

const M = MAGLEV_SIZE;
type Build = (backends: readonly MaglevBackend[], size: number) => Uint8Array;

/** Backend sets with uniform random addresses (an LCG, so every run measures the same sets). */
function backendSets(count: number, n: number, weight: (rnd: (k: number) => number) => number, seed: number): MaglevBackend[][] {
  let x = seed;
  const rnd = (k: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % k;
  return Array.from({ length: count }, () =>
    Array.from({ length: n }, () => ({ ip: `10.${rnd(256)}.${rnd(256)}.${rnd(256)}`, port: 8080, weight: weight(rnd) })),
  );
}

/** Largest |slots / (M * w / W) - 1| over every backend of every set, in %. */
function worstImbalance(build: Build, sets: readonly MaglevBackend[][]): number {
  let worst = 0;
  for (const set of sets) {
    const total = set.reduce((sum, b) => sum + b.weight, 0);
    const counts = new Array<number>(set.length).fill(0);
    for (const s of build(set, M)) counts[s]!++;
    counts.forEach((c, i) => {
      worst = Math.max(worst, Math.abs(c / ((M * set[i]!.weight) / total) - 1));
    });
  }
  return worst * 100;
}

/** Share of slots moved when each backend of each set is removed in turn, in %. */
function removals(build: Build, sets: readonly MaglevBackend[][]): { mean: number; worst: number; overGoal: number } {
  const moved: number[] = [];
  for (const set of sets) {
    const before = build(set, M);
    for (let r = 0; r < set.length; r++) {
      const after = set.filter((_, i) => i !== r);
      moved.push(maglevDisruption(before, set, build(after, M), after) * 100);
    }
  }
  const n = sets[0]!.length;
  const goal = 100 / n + 2;
  return {
    mean: moved.reduce((a, b) => a + b, 0) / moved.length,
    worst: Math.max(...moved),
    overGoal: (moved.filter((d) => d > goal).length / moved.length) * 100,
  };
}

function timePerTable(build: Build, sets: readonly MaglevBackend[][]): number {
  const t0 = performance.now();
  for (const set of sets) build(set, M);
  return ((performance.now() - t0) / sets.length) * 1000;
}

await runSuite('maglev', async (s) => {
  const setCount = s.size(100, 20, 3);
  const equal = backendSets(setCount, 32, () => 1, 1);
  const weighted = backendSets(setCount, 32, (rnd) => 1 + rnd(4), 2);

  s.row({
    name: `worst relative imbalance, 32 equal backends (${setCount} sets)`,
    value: worstImbalance(buildMaglevTable, equal),
    unit: '%',
    baseline: { name: 'the paper’s fill (reference), same sets', value: worstImbalance(referenceMaglevTable, equal) },
    goal: { max: 1.000001, text: '≤ 1%' },
    note: `|slots / fair share - 1| of the busiest or idlest backend; M = ${M}, fair share ${(M / 32).toFixed(1)} slots`,
  });
  s.row({
    name: `worst relative imbalance, 32 backends weighted 1-4 (${setCount} sets)`,
    value: worstImbalance(buildMaglevTable, weighted),
    unit: '%',
    baseline: { name: 'the paper’s fill (reference), same sets', value: worstImbalance(referenceMaglevTable, weighted) },
    goal: { ratioMax: 1, text: '≤ reference' },
    note: 'fair share M * w / W; a weight-1 backend has ~51 slots, so one slot is ~2%',
  });

  const removalSets = equal.slice(0, s.size(100, 20, 1));
  const prod = removals(buildMaglevTable, removalSets);
  const ref = removals(referenceMaglevTable, removalSets);
  s.row({
    name: `share moved, removing 1 of 32 equal backends (mean of ${removalSets.length} sets × 32)`,
    value: prod.mean,
    unit: '%',
    baseline: { name: 'the paper’s fill (reference), same removals', value: ref.mean },
    goal: { max: 100 / 32 + 2 + 1e-9, text: '≤ 1/N + 2 pp (5.13%)' },
    note: `the removed backend had 3.1%; worst single removal ${prod.worst.toFixed(2)}% (reference ${ref.worst.toFixed(2)}%), ${prod.overGoal.toFixed(1)}% of removals above 1/N + 2 pp`,
  });

  // Build time: 1,024 distinct 32-backend sets (the full sync's worst case), median of rounds.
  const buildSets = backendSets(s.size(1024, 256, 32), 32, () => 1, 3);
  const rounds = s.size(5, 3, 1);
  buildMaglevTable(buildSets[0]!, M); // warm up
  referenceMaglevTable(buildSets[0]!, M);
  const prodTimes: number[] = [];
  const refTimes: number[] = [];
  for (let r = 0; r < rounds; r++) {
    prodTimes.push(timePerTable(buildMaglevTable, buildSets));
    refTimes.push(timePerTable(referenceMaglevTable, buildSets.slice(0, 128)));
  }
  s.row({
    name: 'Maglev build, 32 equal backends, one core',
    value: median(prodTimes),
    unit: 'µs/table',
    baseline: { name: 'the paper’s fill as written (reference)', value: median(refTimes) },
    note: `buildMaglevTable over ${buildSets.length} distinct sets (reference over ${Math.min(128, buildSets.length)} of them), median of ${rounds}`,
  });

  // A full plan's batch: MaglevCache.prepare, on every core against one core, interleaved; round 1 starts the workers.
  const firstRound: number[] = [];
  const parallel: number[] = [];
  const serial: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const batch = backendSets(buildSets.length, 32, () => 1, 100 + r);
    // prepare() returns while the builds run on (get() waits for each table): settle() waits for all, as prepare() used to.
    const t0 = performance.now();
    const parallelCache = new MaglevCache(8192, true);
    parallelCache.prepare(batch, M);
    parallelCache.settle();
    const t1 = performance.now();
    const serialCache = new MaglevCache(8192, false);
    serialCache.prepare(batch, M);
    serialCache.settle();
    const t2 = performance.now();
    (r === 0 ? firstRound : parallel).push(t1 - t0);
    if (r > 0) serial.push(t2 - t1);
  }
  s.row({
    name: `${buildSets.length.toLocaleString('en-US')} distinct tables as one batch (MaglevCache.prepare), every core`,
    value: median(parallel),
    unit: 'ms',
    baseline: { name: 'the same batch on one core', value: median(serial) },
    goal: { ratioMax: 1, text: 'faster than one core' },
    note: `prepare + settle (every table built); this thread and worker threads (${availableParallelism()} cores); first batch in the process, workers starting: ${firstRound[0]!.toFixed(1)} ms; median of ${rounds}`,
  });
});
