import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { atCommitBoundary, foldEvent, foldEvents, initialState, wholeCommitPrefix } from '../src/state/fold.js';
import { RautaError } from '../src/errors.js';
import type { RautaEvent } from '../src/routes/route-events.js';
import { routeId } from '../src/routes/route-model.js';
import { eventStreamArb, routeArb, shaOf } from './helpers/event-streams.js';

test('fold is deterministic: same events, deep-equal state, batched or one by one', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const a = foldEvents(initialState(), events);
      const b = foldEvents(initialState(), events);
      const c = events.reduce(foldEvent, initialState());
      assert.deepEqual(a, b, 'two folds of the same events differ');
      assert.deepEqual(a, c, 'batched fold differs from event-by-event fold');
      assert.equal(a.seq, events.length, 'seq must be the last event seq');
      assert.ok(atCommitBoundary(a), 'a stream of whole commits ends at a boundary');
    }),
    { numRuns: 200 },
  );
});

test('fold matches a plain model: last upsert wins, removal deletes, rejected commits change no routes', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const routes = new Map<string, unknown>();
      const listeners = new Map<string, unknown>();
      let commit: string | null = null;
      for (const e of events) {
        if (e.type === 'RouteUpserted') routes.set(routeId(e.route), e.route);
        if (e.type === 'RouteRemoved') routes.delete(`${e.method} ${e.path}`);
        if (e.type === 'ListenerUpserted') listeners.set(`${e.listener.address}:${e.listener.port}`, e.listener);
        if (e.type === 'ListenerRemoved') listeners.delete(`${e.address}:${e.port}`);
        if (e.type === 'CommitAccepted') commit = e.commit;
      }
      const state = foldEvents(initialState(), events);
      assert.deepEqual(state.routes, Object.fromEntries(routes), 'routes differ from the model');
      assert.deepEqual(state.listeners, Object.fromEntries(listeners), 'listeners differ from the model');
      assert.equal(state.commit, commit, 'commit must be the last accepted commit');
      const lastRejected = events.filter((e) => e.type === 'CommitRejected').at(-1);
      assert.equal(state.lastRejected?.seq ?? null, lastRejected?.seq ?? null, 'lastRejected must be the last CommitRejected');
    }),
    { numRuns: 200 },
  );
});

test('CommitRejected records the errors and keeps routes and the accepted commit', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const before = foldEvents(initialState(), events);
      const rejected: RautaEvent = {
        type: 'CommitRejected',
        seq: before.seq + 1,
        commit: shaOf(999),
        author: 'dev',
        time: 1,
        file: null,
        subject: 'broken',
        errors: [{ file: 'routes/a.yaml', line: 2, col: 3, message: 'bad' }],
      };
      const after = foldEvent(before, rejected);
      assert.deepEqual(after.routes, before.routes, 'a rejected commit must not change routes');
      assert.equal(after.commit, before.commit, 'a rejected commit must not move the accepted commit');
      assert.deepEqual(after.lastRejected, { commit: shaOf(999), errors: rejected.errors, seq: rejected.seq });
    }),
    { numRuns: 50 },
  );
});

test('events out of order throw RAUTA_ERR_LOG_SEQUENCE naming both numbers', () => {
  const [route] = fc.sample(routeArb, { numRuns: 1, seed: 1 });
  const upsert = (seq: number): RautaEvent => ({ type: 'RouteUpserted', seq, commit: shaOf(1), author: 'a', time: 0, file: 'r.yaml', route: route! });
  const state = foldEvents(initialState(), [upsert(1), upsert(2)]);
  for (const bad of [2, 4, 1]) {
    assert.throws(
      () => foldEvent(state, upsert(bad)),
      (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_LOG_SEQUENCE' && e.message.includes(`seq ${bad}`) && e.message.includes('state seq 2'),
      `seq ${bad} after 2 must be rejected with both numbers in the message`,
    );
  }
  assert.throws(() => foldEvents(initialState(), [upsert(1), upsert(3)]), RautaError, 'a gap inside a batch must throw');
  assert.equal(state.seq, 2, 'a failed fold must not change the input state');
});

test('commit boundaries: a route event opens a commit, its marker closes it', () => {
  fc.assert(
    fc.property(eventStreamArb, fc.nat(), (events, cut) => {
      const n = events.length === 0 ? 0 : cut % (events.length + 1);
      const head = events.slice(0, n);
      const whole = wholeCommitPrefix(head);
      assert.ok(atCommitBoundary(foldEvents(initialState(), head.slice(0, whole))), 'the whole-commit prefix must end at a boundary');
      const rest = head.slice(whole);
      const midCommit = rest.some((e) => e.type !== 'CommitAccepted' && e.type !== 'CommitRejected');
      assert.equal(atCommitBoundary(foldEvents(initialState(), head)), !midCommit, `after ${n} events the boundary flag is wrong`);
    }),
    { numRuns: 200 },
  );
});
