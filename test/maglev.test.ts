import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { backendIdentity, buildMaglevTable, MAGLEV_SIZE, MaglevCache, maglevDisruption, type MaglevBackend } from '../src/dataplane/maglev.js';
import { RautaError } from '../src/errors.js';

const M = MAGLEV_SIZE;

/** 1..max backends with distinct ip:port and the given weight generator. */
const backendsArb = (min: number, max: number, weight: fc.Arbitrary<number>) =>
  fc.uniqueArray(fc.record({ ip: fc.ipV4(), port: fc.integer({ min: 1, max: 65535 }), weight }), {
    minLength: min,
    maxLength: max,
    selector: (b) => backendIdentity(b),
  });

function shares(table: Uint8Array, n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const s of table) counts[s]!++;
  return counts.map((c) => c / table.length);
}

/** The table as identities, so tables over differently ordered inputs compare. */
function identities(table: Uint8Array, backends: readonly MaglevBackend[]): string[] {
  return Array.from(table, (i) => backendIdentity(backends[i]!));
}

test('every backend gets its weight share within 1.5 percentage points (1..32 backends, weights 1..100)', () => {
  fc.assert(
    fc.property(backendsArb(1, 32, fc.integer({ min: 1, max: 100 })), (backends) => {
      const table = buildMaglevTable(backends, M);
      const total = backends.reduce((sum, b) => sum + b.weight, 0);
      shares(table, backends.length).forEach((share, i) => {
        const want = backends[i]!.weight / total;
        assert.ok(
          Math.abs(share - want) <= 0.015,
          `backend ${backendIdentity(backends[i]!)} weight ${backends[i]!.weight}/${total}: share ${(share * 100).toFixed(2)}% vs ${(want * 100).toFixed(2)}%`,
        );
      });
    }),
    { numRuns: 150 },
  );
});

test('removing one of N equally weighted backends moves at most 1/N + 2% of slots', () => {
  fc.assert(
    fc.property(backendsArb(2, 32, fc.constant(1)), fc.nat(), (backends, pick) => {
      const removed = pick % backends.length;
      const after = backends.filter((_, i) => i !== removed);
      const d = maglevDisruption(buildMaglevTable(backends, M), backends, buildMaglevTable(after, M), after);
      const bound = 1 / backends.length + 0.02;
      assert.ok(d <= bound, `removing ${backendIdentity(backends[removed]!)} of ${backends.length} moved ${(d * 100).toFixed(2)}% > ${(bound * 100).toFixed(2)}%`);
      // and at least the removed backend's own slots had to move
      assert.ok(d > 0, 'removing a backend must move its slots');
    }),
    { numRuns: 150 },
  );
});

test('the table depends on the backend set, not on the input order', () => {
  fc.assert(
    fc.property(
      backendsArb(1, 32, fc.integer({ min: 1, max: 100 })).chain((b) => fc.tuple(fc.constant(b), fc.shuffledSubarray(b, { minLength: b.length, maxLength: b.length }))),
      ([backends, shuffled]) => {
        const a = identities(buildMaglevTable(backends, M), backends);
        const b = identities(buildMaglevTable(shuffled, M), shuffled);
        const differing = a.filter((id, s) => id !== b[s]).length;
        assert.equal(differing, 0, `${differing} slots differ after reordering the input`);
      },
    ),
    { numRuns: 100 },
  );
});

test('every slot indexes a real backend, and weight 0 gets no slot', () => {
  fc.assert(
    fc.property(backendsArb(1, 32, fc.integer({ min: 0, max: 100 })), (raw) => {
      const backends = raw.some((b) => b.weight > 0) ? raw : raw.map((b, i) => (i === 0 ? { ...b, weight: 1 } : b));
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

test('the cache returns the same tables as a fresh build, for any input order and with holes', () => {
  const cache = new MaglevCache();
  const hole = { ip: '0.0.0.0', port: 0, weight: 0 };
  fc.assert(
    fc.property(
      backendsArb(1, 30, fc.integer({ min: 1, max: 5 }))
        .chain((b) => fc.tuple(fc.constant(b), fc.nat(b.length)))
        .map(([b, at]) => [...b.slice(0, at), hole, ...b.slice(at), hole].slice(0, b.length + 1)) // a hole inside, as the plan passes slots
        .chain((b) => fc.tuple(fc.constant(b), fc.shuffledSubarray(b, { minLength: b.length, maxLength: b.length }))),
      ([backends, shuffled]) => {
        assert.deepEqual(cache.get(backends, M), buildMaglevTable(backends, M), 'cached table differs from a fresh build');
        assert.deepEqual(cache.get(shuffled, M), buildMaglevTable(shuffled, M), 'table remapped from the canonical build differs');
        const copy = shuffled.map((b) => ({ ...b }));
        assert.equal(cache.get(copy, M), cache.get(shuffled, M), 'the same content is served from the cache');
      },
    ),
    { numRuns: 60 },
  );
  assert.ok(cache.hits > 0, 'the second order of each set should come from the canonical build');
});

test('bad input is a RautaError, not a wrong table', () => {
  const one = [{ ip: '10.0.0.1', port: 80, weight: 1 }];
  assert.throws(() => buildMaglevTable(one, 4096), (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_CODEC_RANGE', 'non-prime size');
  assert.throws(() => buildMaglevTable([], M), RautaError, 'no backends');
  assert.throws(() => buildMaglevTable([{ ...one[0]!, weight: 0 }], M), RautaError, 'all weights 0');
  assert.throws(() => buildMaglevTable([{ ...one[0]!, weight: 1.5 }], M), RautaError, 'fractional weight');
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
  const d = maglevDisruption(t, a, buildMaglevTable(single, M), single);
  assert.ok(Math.abs(d - shares(t, 2)[1]!) < 1e-9, `removing 10.0.0.2 moves exactly its ${shares(t, 2)[1]} share, got ${d}`);
});

/**
 * Fixed backend lists (a seeded generator, no fast-check) covering every path of
 * the build: equal weights 1..40 and up to 255 backends, random weights 1..100,
 * skewed weights over 2..5 backends (the balance correction runs), weights 0,
 * weights up to 65535, duplicated ip:port (ties), and table sizes from 2 to 65537.
 */
function pinnedCases(): Array<{ backends: MaglevBackend[]; size: number }> {
  let x = 0x2545f491; // mulberry32
  const rnd = (n: number): number => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const ip = () => `${10 + rnd(200)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
  const list = (n: number, weight: () => number): MaglevBackend[] => Array.from({ length: n }, () => ({ ip: ip(), port: 1 + rnd(65535), weight: weight() }));
  const cases: Array<{ backends: MaglevBackend[]; size: number }> = [];
  for (let n = 1; n <= 40; n++) cases.push({ backends: list(n, () => 1), size: M });
  for (const n of [64, 100, 128, 200, 254, 255]) cases.push({ backends: list(n, () => 3), size: M });
  for (let i = 0; i < 120; i++) cases.push({ backends: list(1 + rnd(32), () => 1 + rnd(100)), size: M });
  for (let i = 0; i < 60; i++) cases.push({ backends: list(2 + rnd(4), () => 1 + rnd(1000)), size: M });
  for (let i = 0; i < 40; i++) cases.push({ backends: list(1 + rnd(32), () => (rnd(3) === 0 ? 0 : 1 + rnd(5))), size: M });
  for (let i = 0; i < 20; i++) cases.push({ backends: list(1 + rnd(16), () => 1 + rnd(65535)), size: M });
  for (let i = 0; i < 20; i++) cases.push({ backends: list(1 + rnd(32), () => (rnd(2) === 0 ? 0 : 7)), size: M });
  for (let i = 0; i < 20; i++) {
    const base = list(1 + rnd(10), () => 1 + rnd(3));
    const dup = base.map((b) => ({ ...b, weight: rnd(2) === 0 ? b.weight : 1 + rnd(3) }));
    cases.push({ backends: [...base, ...dup], size: M });
  }
  for (const size of [2, 3, 7, 13, 31, 251, 257, 1009, 8191, 65537]) {
    for (let i = 0; i < 4; i++) {
      const n = 1 + rnd(Math.min(size - 1, 40));
      cases.push({ backends: list(n, i % 2 === 0 ? () => 1 : () => 1 + rnd(20)), size });
    }
  }
  for (const c of cases) if (!c.backends.some((b) => b.weight > 0)) c.backends[0] = { ...c.backends[0]!, weight: 1 };
  return cases;
}

test('the tables are the ones rauta has always built (pinned: flows must not move on upgrade)', () => {
  // SHA-256 over the 366 tables, computed with the build as of commit 17dd056
  // (before the fill was made faster). A different hash means some flows would
  // move on upgrade: the table format changed.
  const hash = createHash('sha256');
  const cases = pinnedCases();
  for (const c of cases) hash.update(buildMaglevTable(c.backends, c.size));
  assert.equal(cases.length, 366, 'the pinned case generator changed');
  assert.equal(hash.digest('hex'), 'd5d255b187a99047c55ec8f2ab9f30cf7298fe460eb4c08c79cd57d006f2be37', 'Maglev tables differ from the pinned ones');
});

test('build time: 1,024 tables of 32 backends (printed, not asserted)', () => {
  const sets = Array.from({ length: 1024 }, (_, r) =>
    Array.from({ length: 32 }, (_, i) => ({ ip: `10.${r >> 8}.${r & 255}.${i + 1}`, port: 8080, weight: 1 + ((i * 7 + r) % 100) })),
  );
  const equalSets = sets.map((set) => set.map((b) => ({ ...b, weight: 1 })));
  buildMaglevTable(sets[0]!, M); // warm up the JIT and the per-size tables
  buildMaglevTable(equalSets[0]!, M);
  let t0 = performance.now();
  for (const set of sets) buildMaglevTable(set, M);
  const distinct = performance.now() - t0;
  t0 = performance.now();
  for (const set of equalSets) buildMaglevTable(set, M);
  const distinctEqual = performance.now() - t0;
  const cache = new MaglevCache();
  t0 = performance.now();
  for (let r = 0; r < 1024; r++) cache.get(sets[r % 16]!, M);
  const pooled = performance.now() - t0;
  console.log(
    `maglev: 1,024 distinct tables of 32 backends: weighted ${distinct.toFixed(0)} ms, equal weights ${distinctEqual.toFixed(0)} ms; ` +
      `1,024 routes over 16 shared pools via MaglevCache ${pooled.toFixed(0)} ms (${cache.builds} builds)`,
  );
});
