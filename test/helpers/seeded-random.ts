// A seeded pseudo-random source for tests whose random choices should be
// replayable: the seed comes from RAUTA_TEST_SEED when set, and tests print
// it, so a failure can be run again with the same choices (mulberry32).
export function testSeed(): number {
  const given = process.env.RAUTA_TEST_SEED;
  return given !== undefined && given !== '' ? Number(given) >>> 0 : Math.floor(Math.random() * 2 ** 32);
}

/** A function returning numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
