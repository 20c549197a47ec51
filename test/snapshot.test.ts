import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { foldEvents, initialState } from '../src/state/fold.js';
import { readSnapshot, writeSnapshot } from '../src/state/snapshot.js';
import { RautaError } from '../src/errors.js';
import { eventStreamArb } from './helpers/event-streams.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rauta-snapshot-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('replay from a snapshot plus the tail equals a full replay', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'desired.json');
  await fc.assert(
    fc.asyncProperty(eventStreamArb, fc.nat(), async (events, cut) => {
      const k = cut % (events.length + 1);
      await writeSnapshot(path, foldEvents(initialState(), events.slice(0, k)));
      const restored = await readSnapshot(path);
      assert.ok(restored, 'the snapshot just written must be read back');
      assert.deepEqual(foldEvents(restored, events.slice(k)), foldEvents(initialState(), events), `snapshot at seq ${k} + tail differs from full replay`);
    }),
    { numRuns: 60 },
  );
  assert.deepEqual(await readdir(dir), ['desired.json'], 'no temp files may be left behind');
});

test('an absent snapshot reads as null', async (t) => {
  const dir = await tempDir(t);
  assert.equal(await readSnapshot(join(dir, 'none.json')), null);
});

test('a corrupt snapshot is an error naming the file, never ignored', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'desired.json');
  const [events] = fc.sample(
    eventStreamArb.filter((e) => e.some((x) => x.type === 'RouteUpserted')),
    { numRuns: 1, seed: 7 },
  );
  await writeSnapshot(path, foldEvents(initialState(), events!));
  const good = await readFile(path, 'utf8');
  const cases: Array<[string, string, RegExp]> = [
    ['truncated', good.slice(0, good.length >> 1), /not valid JSON/],
    ['wrong format', JSON.stringify({ ...JSON.parse(good), format: 'other' }), /corrupt at format/],
    ['bad field', good.replace(/"seq":\d+/, '"seq":-4'), /corrupt at state\.seq/],
    [
      'key mismatch',
      JSON.stringify({ ...JSON.parse(good), state: { ...JSON.parse(good).state, routes: { 'GET /nope': Object.values(JSON.parse(good).state.routes)[0] } } }),
      /does not match the route's id/,
    ],
  ];
  for (const [what, text, message] of cases) {
    await writeFile(path, text);
    await assert.rejects(
      readSnapshot(path),
      (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_STATE_SNAPSHOT' && e.message.includes(path) && message.test(e.message),
      `${what}: expected RAUTA_ERR_STATE_SNAPSHOT naming ${path} and matching ${message}`,
    );
  }
});

test('writing over an existing snapshot replaces it whole', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'desired.json');
  await writeSnapshot(path, initialState());
  const [events] = fc.sample(eventStreamArb, { numRuns: 1, seed: 3 });
  const state = foldEvents(initialState(), events!);
  await writeSnapshot(path, state);
  assert.deepEqual(await readSnapshot(path), state);
});

test('a write into a missing directory fails with the path, leaving nothing', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'missing', 'desired.json');
  await assert.rejects(
    writeSnapshot(path, initialState()),
    (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_STATE_SNAPSHOT' && e.message.includes(path),
  );
  assert.deepEqual(await readdir(dir), []);
});
