// The DesiredTracker, for any event stream folded commit by commit with
// applies marked at random points: its state equals the immer fold, its index
// equals an index built from scratch, lastApplied() is the fold as of the last
// markApplied(), and touched() names every route, listener and MAC that
// differs between the two. A commit that does not follow changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RautaError } from '../src/errors.js';
import { routeIdFor } from '../src/model/ids.js';
import { splitCommits, type RautaEvent } from '../src/routes/route-events.js';
import type { Route } from '../src/routes/route-model.js';
import { DesiredIndex } from '../src/state/desired-index.js';
import { DesiredTracker, type NexthopLookup } from '../src/state/desired-tracker.js';
import { foldEvents, initialState, type DesiredState } from '../src/state/fold.js';
import { eventStreamArb } from './helpers/event-streams.js';

const lookupArb: fc.Arbitrary<NexthopLookup> = fc.dictionary(
  fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.9'),
  fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02'),
);

function assertIndexEquals(index: DesiredIndex, routes: Readonly<Record<string, Route>>, msg: string): void {
  const fresh = DesiredIndex.of(routes);
  assert.equal(index.size, fresh.size, `${msg}: index size`);
  for (const r of Object.values(routes)) assert.equal(index.get(routeIdFor(r)), fresh.get(routeIdFor(r)), `${msg}: index entry of ${r.method} ${r.path}`);
  assert.deepEqual([...index.backendIps()].sort(), [...fresh.backendIps()].sort(), `${msg}: backend IPs`);
}

/** The agent's routes hold one frozen backend list per content (BackendLists). */
function assertListsShared(routes: Readonly<Record<string, Route>>, msg: string): void {
  const byContent = new Map<string, Route['backends']>();
  for (const r of Object.values(routes)) {
    assert.ok(Object.isFrozen(r) && Object.isFrozen(r.backends) && r.backends.every(Object.isFrozen), `${msg}: ${r.method} ${r.path} is frozen`);
    const content = JSON.stringify(r.backends);
    const seen = byContent.get(content);
    if (seen) assert.equal(r.backends, seen, `${msg}: ${r.method} ${r.path} shares the list of its content ${content}`);
    else byContent.set(content, r.backends);
  }
}

/** Ids whose values differ between two records. */
function differing<T>(a: Readonly<Record<string, T>>, b: Readonly<Record<string, T>>): string[] {
  const ids = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...ids].filter((id) => JSON.stringify(a[id]) !== JSON.stringify(b[id]));
}

test('the tracker folds like the immer reducer and knows what changed since the last apply', () => {
  fc.assert(
    fc.property(
      eventStreamArb,
      fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      fc.array(lookupArb, { minLength: 13, maxLength: 13 }),
      (events, marks, lookups) => {
        const tracker = new DesiredTracker();
        assert.equal(tracker.lastApplied(), undefined, 'nothing applied yet');
        assert.equal(tracker.touched({}), undefined, 'no scope before the first apply');
        let reference: DesiredState = initialState();
        let appliedRef: DesiredState | null = null;
        let appliedLookup: NexthopLookup = {};
        const { commits } = splitCommits(events);
        commits.forEach((commit, i) => {
          const before = structuredClone(reference);
          const changed = tracker.apply(commit);
          reference = foldEvents(reference, commit);
          assert.deepEqual(tracker.state, reference, `after commit ${i}: the tracker's state is the immer fold`);
          if (!changed) assert.deepEqual([reference.routes, reference.listeners], [before.routes, before.listeners], `commit ${i} said it changed nothing`);
          assertIndexEquals(tracker.index, tracker.state.routes, `after commit ${i}`);
          assertListsShared(tracker.state.routes, `after commit ${i}`);
          if (changed) assert.ok(tracker.changed, `commit ${i}: changed is remembered`);

          if (appliedRef) {
            const last = tracker.lastApplied()!;
            assert.deepEqual(
              [last.seq, last.commit, last.routes, last.listeners, last.nexthops],
              [appliedRef.seq, appliedRef.commit, appliedRef.routes, appliedRef.listeners, appliedLookup],
              `after commit ${i}: lastApplied() is the state last marked`,
            );
            const lookup = lookups[i]!;
            const touched = tracker.touched(lookup)!;
            const routeIds = new Set(touched.routes);
            for (const id of differing(appliedRef.routes, reference.routes)) {
              const [method, path] = [id.slice(0, id.indexOf(' ')), id.slice(id.indexOf(' ') + 1)] as [Route['method'], string];
              assert.ok(routeIds.has(routeIdFor({ method, path })), `after commit ${i}: ${id} changed since the last apply and is in the scope`);
            }
            for (const id of differing(appliedRef.listeners, reference.listeners))
              assert.ok(touched.listeners.includes(id), `after commit ${i}: listener ${id} is in the scope`);
            assert.deepEqual(new Set(touched.nexthops), new Set(differing(appliedLookup, lookup)), `after commit ${i}: the MACs that moved`);
          }
          if (marks[i]) {
            tracker.markApplied(lookups[i]!);
            appliedRef = structuredClone(reference);
            appliedLookup = lookups[i]!;
            assert.equal(tracker.changed, false, 'nothing changed since the apply');
            assert.deepEqual(tracker.touched(appliedLookup), { routes: [], listeners: [], nexthops: [] }, 'an empty scope right after an apply');
            assert.deepEqual([tracker.appliedSeq, tracker.appliedCommit], [reference.seq, reference.commit]);
          }
        });
      },
    ),
    { numRuns: 300 },
  );
});

test('a tracker started from a snapshot shares the lists of its routes and folds the tail like the reducer', () => {
  fc.assert(
    fc.property(eventStreamArb, fc.nat(), (events, cut) => {
      const { commits } = splitCommits(events);
      const k = commits.length === 0 ? 0 : cut % (commits.length + 1);
      // A snapshot as readSnapshot returns it: parsed JSON, one list per route.
      const snapshot = JSON.parse(JSON.stringify(foldEvents(initialState(), commits.slice(0, k).flat()))) as DesiredState;
      const copy = structuredClone(snapshot);
      const tracker = new DesiredTracker(snapshot);
      assert.deepEqual(tracker.state, copy, 'the state is the snapshot');
      assert.deepEqual(snapshot, copy, 'the snapshot is not changed');
      assertListsShared(tracker.state.routes, 'from the snapshot');
      for (const commit of commits.slice(k)) tracker.apply(commit);
      assert.deepEqual(tracker.state, foldEvents(initialState(), events), 'snapshot + tail is the fold of the whole stream');
      assertListsShared(tracker.state.routes, 'after the tail');
      assertIndexEquals(tracker.index, tracker.state.routes, 'after the tail');
    }),
    { numRuns: 200 },
  );
});

test('touch() puts a route in the next scope without changing the desired state', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const tracker = new DesiredTracker();
      for (const commit of splitCommits(events).commits) tracker.apply(commit);
      tracker.markApplied({});
      const before = structuredClone(tracker.state);
      tracker.touch([{ method: 'GET', path: '/health' }]);
      assert.ok(tracker.changed);
      assert.deepEqual(tracker.touched({})!.routes, [routeIdFor({ method: 'GET', path: '/health' })]);
      assert.deepEqual(tracker.state, before, 'the desired state is unchanged');
      assert.deepEqual([tracker.lastApplied()!.routes, tracker.lastApplied()!.listeners], [before.routes, before.listeners], 'and so is the last applied one');
    }),
    { numRuns: 100 },
  );
});

test('a commit that does not follow the state changes nothing', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const commits = splitCommits(events).commits;
      fc.pre(commits.length >= 2);
      const tracker = new DesiredTracker();
      tracker.apply(commits[0]!);
      tracker.markApplied({});
      const state = structuredClone(tracker.state);
      const skipped: RautaEvent[] = commits.slice(2).flat();
      fc.pre(skipped.length > 0);
      assert.throws(
        () => tracker.apply(skipped),
        (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_LOG_SEQUENCE',
      );
      assert.deepEqual(tracker.state, state, 'the state is as it was');
      assert.equal(tracker.changed, false, 'nothing counts as changed');
      assert.deepEqual(tracker.touched({}), { routes: [], listeners: [], nexthops: [] }, 'the scope is still empty');
    }),
    { numRuns: 100 },
  );
});

test('with a view (backend health), routes, index and lastApplied() are effective, lists shared; state stays the fold', () => {
  fc.assert(
    fc.property(
      eventStreamArb,
      fc.array(fc.subarray(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.9']), { minLength: 13, maxLength: 13 }),
      fc.array(fc.boolean(), { minLength: 13, maxLength: 13 }),
      (events, badSets, marks) => {
        let bad = new Set<string>();
        const followed = new Map<string, Route>();
        const view = {
          route: (r: Route): Route =>
            r.backends.some((b) => bad.has(b.ip)) ? { ...r, backends: r.backends.map((b) => (bad.has(b.ip) ? { ...b, weight: 0 } : b)) } : r,
          followAll: (routes: Iterable<Route>) => {
            for (const r of routes) followed.set(routeIdFor(r), r);
          },
          follow: (before: Route | undefined, after: Route | undefined) => {
            if (before) followed.delete(routeIdFor(before));
            if (after) followed.set(routeIdFor(after), after);
          },
        };
        const tracker = new DesiredTracker(null, view);
        let reference: DesiredState = initialState();
        let appliedRoutes: Record<string, Route> | null = null;
        const effective = () => Object.fromEntries(Object.entries(reference.routes).map(([id, r]) => [id, view.route(r)]));
        const { commits } = splitCommits(events);
        commits.forEach((commit, i) => {
          tracker.apply(commit);
          reference = foldEvents(reference, commit);
          assert.deepEqual(tracker.state, reference, `after commit ${i}: state is the fold, untouched by the view`);
          assert.deepEqual(
            new Set(followed.keys()),
            new Set(Object.values(reference.routes).map(routeIdFor)),
            `after commit ${i}: the view follows every desired route`,
          );
          // health changes: the routes using a backend whose health flipped are touched
          const next = new Set(badSets[i]!);
          const flipped = new Set([...bad, ...next].filter((ip) => bad.has(ip) !== next.has(ip)));
          bad = next;
          tracker.touch(Object.values(reference.routes).filter((r) => r.backends.some((b) => flipped.has(b.ip))));
          assert.deepEqual(tracker.routes, effective(), `after commit ${i}: routes are the view of the state`);
          assertIndexEquals(tracker.index, tracker.routes, `after commit ${i} (effective)`);
          assertListsShared(
            { ...tracker.state.routes, ...Object.fromEntries(Object.entries(tracker.routes).map(([id, r]) => [`effective ${id}`, r])) },
            `after commit ${i}`,
          );
          if (appliedRoutes) assert.deepEqual(tracker.lastApplied()!.routes, appliedRoutes, `after commit ${i}: lastApplied() is what was planned`);
          if (marks[i]) {
            tracker.markApplied({});
            appliedRoutes = effective();
          }
        });
      },
    ),
    { numRuns: 150 },
  );
});
