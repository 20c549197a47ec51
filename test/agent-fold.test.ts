// The agent folds into its own desired state in place (foldEventsInPlace): for
// any event stream, commit by commit, the result equals the immer fold's, and
// a batch that does not follow the state's seq changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { foldEvents, foldEventsInPlace, initialState } from '../src/state/fold.js';
import { RautaError } from '../src/errors.js';
import { type RautaEvent, isCommitMarker } from '../src/routes/route-events.js';
import { eventStreamArb } from './helpers/event-streams.js';

/** The stream cut after each CommitAccepted / CommitRejected, as the agent reads it. */
function commits(events: readonly RautaEvent[]): RautaEvent[][] {
  const out: RautaEvent[][] = [];
  let pending: RautaEvent[] = [];
  for (const e of events) {
    pending.push(e);
    if (isCommitMarker(e)) {
      out.push(pending);
      pending = [];
    }
  }
  if (pending.length > 0) out.push(pending);
  return out;
}

test('folding in place, commit by commit, equals the immer fold', () => {
  fc.assert(
    fc.property(eventStreamArb, (events) => {
      const own = initialState();
      let immutable = initialState();
      for (const batch of commits(events)) {
        foldEventsInPlace(own, batch);
        immutable = foldEvents(immutable, batch);
        assert.deepEqual(own, immutable, `after seq ${immutable.seq}: the in-place fold differs from the immer fold`);
      }
    }),
    { numRuns: 200 },
  );
});

test('a batch that does not follow the state changes nothing', () => {
  fc.assert(
    fc.property(eventStreamArb, fc.nat(), (events, cut) => {
      fc.pre(events.length >= 2);
      const own = initialState();
      foldEventsInPlace(own, events.slice(0, 1));
      const before = structuredClone(own);
      const at = 1 + (cut % (events.length - 1));
      // events[1..] with one event dropped: a gap somewhere inside the batch
      const gapped = [...events.slice(1, at), ...events.slice(at + 1)];
      fc.pre(gapped.length > 0 && at < events.length - 1);
      assert.throws(
        () => foldEventsInPlace(own, [...gapped]),
        (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_LOG_SEQUENCE',
      );
      assert.deepEqual(own, before, 'the failed batch left the state as it was');
    }),
    { numRuns: 200 },
  );
});
