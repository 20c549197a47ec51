import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backendIdentity, buildMaglevTable, MAGLEV_SIZE, MaglevCache, maglevDisruption, type MaglevBackend } from '../src/model/maglev.js';
import { referenceMaglevTable } from '../src/model/maglev-reference.js';
import { tablesBuiltByWorkers } from '../src/model/maglev-parallel.js';
import { availableParallelism } from 'node:os';
import { RautaError } from '../src/errors.js';

const M = MAGLEV_SIZE;
const HOLE: MaglevBackend = { ip: '0.0.0.0', port: 0, weight: 0 };

/** min..max backends with distinct ip:port and the given weight generator. */
const backendsArb = (min: number, max: number, weight: fc.Arbitrary<number>) =>
  fc.uniqueArray(fc.record({ ip: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }), weight }), {
    minLength: min,
    maxLength: max,
    selector: (b) => backendIdentity(b),
  });

/** Holes at random places, as the plan passes a backend list after removals. */
const withHoles = (arb: fc.Arbitrary<MaglevBackend[]>) =>
  arb
    .chain((b) => fc.tuple(fc.constant(b), fc.array(fc.nat(b.length), { maxLength: 4 })))
    .map(([b, at]) => {
      const list = [...b];
      for (const i of at) list.splice(Math.min(i, list.length - 1), 0, HOLE);
      return list;
    });

/** At least one backend with a weight above 0. */
const live = (list: MaglevBackend[]): MaglevBackend[] =>
  list.some((b) => b.weight > 0) ? list : [{ ...list[0]!, ip: '10.0.0.1', port: 1, weight: 1 }, ...list.slice(1)];

function counts(table: Uint8Array, n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (const s of table) out[s]!++;
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  const s = a.findIndex((v, i) => v !== b[i]);
  return s < 0 ? 'none' : `slot ${s}: ${a[s]} vs ${b[s]} (${a.filter((v, i) => v !== b[i]).length} slots differ)`;
}

test('the fast build equals the reference, for equal and weighted backends, with holes and weight 0', () => {
  const lists = fc.oneof(
    backendsArb(1, 32, fc.constant(1)),
    backendsArb(1, 32, fc.integer({ min: 1, max: 100 })),
    backendsArb(1, 32, fc.integer({ min: 0, max: 5 })),
    backendsArb(1, 8, fc.integer({ min: 1, max: 65535 })),
    withHoles(backendsArb(1, 31, fc.constant(3))),
    withHoles(backendsArb(1, 31, fc.integer({ min: 1, max: 10 }))),
  );
  // Mostly the data path's size; small and other primes too, and one above the fast build's positional tail (M^2 >= 2^31).
  const sizes = fc.constantFrom(M, M, M, M, M, 37, 251, 1009, 8191, 46349);
  fc.assert(
    fc.property(lists.map(live), sizes, (backends, size) => {
      fc.pre(size > backends.length);
      const want = referenceMaglevTable(backends, size);
      const got = buildMaglevTable(backends, size);
      assert.ok(Buffer.from(got).equals(Buffer.from(want)), `fast build differs from the reference at M=${size}: ${firstDifference(got, want)}`);
    }),
    { numRuns: 400 },
  );
});

test('the cache returns the reference tables, for any input order and with holes', () => {
  const cache = new MaglevCache();
  fc.assert(
    fc.property(
      withHoles(backendsArb(1, 30, fc.integer({ min: 1, max: 5 }))).chain((b) =>
        fc.tuple(fc.constant(b), fc.shuffledSubarray(b, { minLength: b.length, maxLength: b.length })),
      ),
      ([backends, shuffled]) => {
        assert.deepEqual(cache.get(backends, M), referenceMaglevTable(backends, M), 'cached table differs from the reference');
        assert.deepEqual(cache.get(shuffled, M), referenceMaglevTable(shuffled, M), 'table remapped from the canonical build differs from the reference');
        const copy = shuffled.map((b) => ({ ...b }));
        assert.equal(cache.get(copy, M), cache.get(shuffled, M), 'the same content is served from the cache');
      },
    ),
    { numRuns: 60 },
  );
  assert.ok(cache.hits > 0, 'the second order of each set should come from the canonical build');
});

test('prepare builds a batch on worker threads too, and every table equals the reference', () => {
  // Batches until the workers (started by the first batch) have built some of them.
  const lists = fc.sample(fc.oneof(backendsArb(1, 32, fc.constant(1)), withHoles(backendsArb(1, 31, fc.integer({ min: 1, max: 100 })))).map(live), {
    numRuns: 300,
    seed: 7,
  });
  const started = performance.now();
  for (;;) {
    const cache = new MaglevCache();
    cache.prepare(lists, M);
    const sets = new Set(
      lists.map((l) =>
        l
          .filter((b) => b.weight > 0)
          .map((b) => `${backendIdentity(b)}/${b.weight}`)
          .sort()
          .join(),
      ),
    );
    assert.equal(cache.builds, sets.size, 'one build per distinct set of live backends');
    for (const l of lists) {
      assert.ok(
        Buffer.from(cache.get(l, M)).equals(Buffer.from(referenceMaglevTable(l, M))),
        `table of ${l.map(backendIdentity).join(',')} differs from the reference`,
      );
    }
    if (tablesBuiltByWorkers() > 0 || availableParallelism() < 2) break;
    assert.ok(performance.now() - started < 20_000, 'no worker thread built a table within 20 s');
  }
});

test('prepare fills more tables than the shared queue holds, and lists of more than 32 backends, like the reference', () => {
  // 1,100 jobs of up to 32 backends: two rounds of the workers' queue (1,024 each); lists of 33-40 are built on this thread.
  const lists = [
    ...fc.sample(backendsArb(1, 32, fc.constant(1)).map(live), { numRuns: 1100, seed: 11 }),
    ...fc.sample(backendsArb(33, 40, fc.integer({ min: 1, max: 3 })).map(live), { numRuns: 20, seed: 12 }),
  ];
  const cache = new MaglevCache();
  cache.prepare(lists, M);
  assert.equal(cache.builds, lists.length, 'one build per list (the sample has no two equal sets)');
  lists.forEach((l, i) => {
    assert.ok(Buffer.from(cache.get(l, M)).equals(Buffer.from(referenceMaglevTable(l, M))), `table ${i} (${l.length} backends) differs from the reference`);
  });
  assert.equal(cache.builds, lists.length, 'get() found every prepared table');
});

test('balance, equal weights: every backend gets floor(M/N) or ceil(M/N) slots, so the busiest is at most 1% over its share at 32', () => {
  fc.assert(
    fc.property(backendsArb(1, 32, fc.constant(1)), (backends) => {
      const n = backends.length;
      counts(buildMaglevTable(backends, M), n).forEach((c, i) => {
        assert.ok(c === Math.floor(M / n) || c === Math.ceil(M / n), `${backendIdentity(backends[i]!)} got ${c} of ${M} slots with ${n} backends`);
      });
    }),
    { numRuns: 100 },
  );
  assert.ok(Math.ceil(M / 32) / (M / 32) - 1 <= 0.01, 'ceil(M/32) is within 1% of M/32');
});

test('balance, weighted: every backend is within 2 + N*w/W slots of its share M*w/W, and weight 0 gets none', () => {
  // Each round a backend earns w and a turn costs the largest weight; when the
  // table is full every backend is within one turn of its share of the rounds.
  fc.assert(
    fc.property(backendsArb(1, 32, fc.integer({ min: 0, max: 1000 })).map(live), (backends) => {
      const total = backends.reduce((sum, b) => sum + b.weight, 0);
      counts(buildMaglevTable(backends, M), backends.length).forEach((c, i) => {
        const w = backends[i]!.weight;
        const share = (M * w) / total;
        const bound = w === 0 ? 0 : 2 + (backends.length * w) / total;
        assert.ok(
          Math.abs(c - share) <= bound,
          `${backendIdentity(backends[i]!)} weight ${w}/${total}: ${c} slots, share ${share.toFixed(1)} ± ${bound.toFixed(1)}`,
        );
      });
    }),
    { numRuns: 150 },
  );
});

test('disruption: removing a backend moves every slot it had, and with 2 backends nothing else', () => {
  fc.assert(
    fc.property(backendsArb(2, 32, fc.constant(1)), fc.nat(), (backends, pick) => {
      const removed = pick % backends.length;
      const after = backends.filter((_, i) => i !== removed);
      const before = buildMaglevTable(backends, M);
      const own = counts(before, backends.length)[removed]! / M;
      const d = maglevDisruption(before, backends, buildMaglevTable(after, M), after);
      assert.ok(d >= own, `removing ${backendIdentity(backends[removed]!)} moved ${d}, less than its own share ${own}`);
      if (backends.length === 2) assert.equal(d, own, 'with two backends only the removed one moves');
    }),
    { numRuns: 100 },
  );
});

test('disruption: removing one of 32 equal backends moves on average at most 1/N + 2 pp (100 random sets, each backend removed in turn)', () => {
  // The paper's fill moves more than the removed share (the other backends'
  // turns shift): at M = 4,099 and 32 backends 1.89 to 1.94 pp more on average
  // (100 sets, seeds 1 to 6). Single removals go further: about 7% of them by
  // more than 2 pp, up to ~14 pp when two backends' skips are in a small ratio.
  let x = 1; // an LCG: uniform addresses, where fast-check favours edge cases
  const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
  let sum = 0;
  let removals = 0;
  for (let set = 0; set < 100; set++) {
    const backends = Array.from({ length: 32 }, () => ({ ip: `10.${rnd(256)}.${rnd(256)}.${rnd(256)}`, port: 8080, weight: 1 }));
    const before = buildMaglevTable(backends, M);
    for (let r = 0; r < backends.length; r++) {
      const after = backends.filter((_, i) => i !== r);
      sum += maglevDisruption(before, backends, buildMaglevTable(after, M), after) - 1 / 32;
      removals++;
    }
  }
  const mean = sum / removals;
  assert.ok(mean <= 0.02, `removing one of 32 moved on average ${(mean * 100).toFixed(2)} pp more than 1/32`);
});

test('the table depends on the backend set, not on the input order', () => {
  fc.assert(
    fc.property(
      backendsArb(1, 32, fc.integer({ min: 1, max: 100 })).chain((b) =>
        fc.tuple(fc.constant(b), fc.shuffledSubarray(b, { minLength: b.length, maxLength: b.length })),
      ),
      ([backends, shuffled]) => {
        const a = Array.from(buildMaglevTable(backends, M), (i) => backendIdentity(backends[i]!));
        const b = Array.from(buildMaglevTable(shuffled, M), (i) => backendIdentity(shuffled[i]!));
        const differing = a.filter((id, s) => id !== b[s]).length;
        assert.equal(differing, 0, `${differing} slots differ after reordering the input`);
      },
    ),
    { numRuns: 100 },
  );
});

test('every slot indexes a real backend, and weight 0 gets no slot', () => {
  fc.assert(
    fc.property(withHoles(backendsArb(1, 31, fc.integer({ min: 0, max: 100 }))).map(live), (backends) => {
      const table = buildMaglevTable(backends, M);
      assert.equal(table.length, M);
      for (const s of table) {
        assert.ok(s < backends.length, `slot value ${s} is outside ${backends.length} backends`);
        assert.ok(backends[s]!.weight > 0, `slot points at weight-0 backend ${backendIdentity(backends[s]!)}`);
      }
    }),
    { numRuns: 100 },
  );
});

test('bad input is a RautaError, not a wrong table, from both builds', () => {
  const one = [{ ip: '10.0.0.1', port: 80, weight: 1 }];
  for (const build of [buildMaglevTable, referenceMaglevTable]) {
    assert.throws(
      () => build(one, 4096),
      (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_CODEC_RANGE',
      'non-prime size',
    );
    assert.throws(() => build([], M), RautaError, 'no backends');
    assert.throws(() => build([{ ...one[0]!, weight: 0 }], M), RautaError, 'all weights 0');
    assert.throws(() => build([{ ...one[0]!, weight: 1.5 }], M), RautaError, 'fractional weight');
    assert.throws(
      () =>
        build(
          Array.from({ length: 256 }, (_, i) => ({ ip: `10.0.${i >> 8}.${i & 255}`, port: 80, weight: 1 })),
          M,
        ),
      RautaError,
      '256 backends do not fit u8 slots',
    );
  }
});

test('disruption counts identity changes, not index changes', () => {
  const a = [
    { ip: '10.0.0.1', port: 80, weight: 1 },
    { ip: '10.0.0.2', port: 80, weight: 1 },
  ];
  const reversed = [a[1]!, a[0]!];
  const t = buildMaglevTable(a, M);
  assert.equal(maglevDisruption(t, a, buildMaglevTable(reversed, M), reversed), 0, 'same set in another order moves nothing');
  const single = [a[0]!];
  const share = counts(t, 2)[1]! / M;
  assert.ok(Math.abs(maglevDisruption(t, a, buildMaglevTable(single, M), single) - share) < 1e-9, `removing 10.0.0.2 moves exactly its ${share} share`);
});
