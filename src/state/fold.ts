// The pure reducer from events to desired state. Events must arrive in log
// order (seq = state.seq + 1); everything else is idempotent: upserting the
// same route twice or removing an absent one changes nothing but seq.
import { produce, type Draft } from 'immer';
import { RautaError } from '../errors.js';
import { isCommitMarker, type RautaEvent } from '../routes/route-events.js';
import { listenerId, routeId } from '../routes/route-model.js';
import type { DesiredState } from './desired-state.js';

export { initialState, type DesiredState, type RejectedCommit } from './desired-state.js';

function checkFollows(seq: number, event: RautaEvent): void {
  if (event.seq !== seq + 1) {
    throw new RautaError(
      'RAUTA_ERR_LOG_SEQUENCE',
      `event seq ${event.seq} (${event.type}, commit ${event.commit.slice(0, 12)}) cannot follow state seq ${seq}: expected ${seq + 1}; re-read the log from seq ${seq + 1}`,
    );
  }
}

function applyEvent(draft: Draft<DesiredState>, event: RautaEvent): void {
  checkFollows(draft.seq, event);
  draft.seq = event.seq;
  switch (event.type) {
    case 'RouteUpserted':
      draft.routes[routeId(event.route)] = event.route;
      draft.pendingCommit = event.commit;
      break;
    case 'RouteRemoved':
      delete draft.routes[routeId(event)];
      draft.pendingCommit = event.commit;
      break;
    case 'ListenerUpserted':
      draft.listeners[listenerId(event.listener)] = event.listener;
      draft.pendingCommit = event.commit;
      break;
    case 'ListenerRemoved':
      delete draft.listeners[listenerId(event)];
      draft.pendingCommit = event.commit;
      break;
    case 'CommitAccepted':
      draft.commit = event.commit;
      draft.pendingCommit = null;
      break;
    case 'CommitRejected':
      // The dataplane stays on the last good commit: no route changes.
      draft.lastRejected = { commit: event.commit, errors: event.errors, seq: event.seq };
      draft.pendingCommit = null;
      break;
    case 'HistoryRewritten':
      // A marker only: the events that follow it carry the changes.
      draft.pendingCommit = event.commit;
      break;
  }
}

export function foldEvent(state: DesiredState, event: RautaEvent): DesiredState {
  return produce(state, (draft) => applyEvent(draft, event));
}

/** Fold a batch in one immer draft (one structural copy for the whole batch). */
export function foldEvents(state: DesiredState, events: Iterable<RautaEvent>): DesiredState {
  return produce(state, (draft) => {
    for (const event of events) applyEvent(draft, event);
  });
}

/**
 * Fold a batch into `state` itself, without a copy: for an owner of a state
 * too big to copy per commit (the agent at 65,536 routes; immer copies the
 * whole routes record on every change). All or nothing: the seqs are checked
 * before anything changes.
 */
export function foldEventsInPlace(state: DesiredState, events: readonly RautaEvent[]): void {
  let seq = state.seq;
  for (const event of events) {
    checkFollows(seq, event);
    seq = event.seq;
  }
  for (const event of events) applyEvent(state as Draft<DesiredState>, event);
}

/** True when every folded commit is complete (its CommitAccepted/CommitRejected is folded). */
export function atCommitBoundary(state: DesiredState): boolean {
  return state.pendingCommit === null;
}

/**
 * How many leading events of a batch form whole commits: the index just past
 * the last CommitAccepted/CommitRejected (0 if none). Fold that prefix and keep
 * the rest until its marker arrives.
 */
export function wholeCommitPrefix(events: readonly RautaEvent[]): number {
  for (let i = events.length - 1; i >= 0; i--) {
    if (isCommitMarker(events[i]!)) return i + 1;
  }
  return 0;
}
