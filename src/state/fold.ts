// The pure reducer from events to desired state. Events must arrive in log
// order (seq = state.seq + 1); everything else is idempotent: upserting the
// same route twice or removing an absent one changes nothing but seq.
import { produce, type Draft } from 'immer';
import { RautaError } from '../errors.js';
import { isCommitMarker, type RautaEvent } from '../routes/route-events.js';
import { listenerId, routeId, type Listener, type Route } from '../routes/route-model.js';
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

/**
 * What one event did to the routes or listeners: the id (the record's key),
 * the value it replaced and the value it left (undefined: none). Reported
 * before the write, so `before` is the value the state held.
 */
export type FoldChange =
  | { kind: 'route'; id: string; ref: Pick<Route, 'method' | 'path'>; before: Route | undefined; after: Route | undefined }
  | { kind: 'listener'; id: string; before: Listener | undefined; after: Listener | undefined };

/** The value a fold stores for an upserted route: one equal to it (the DesiredTracker's shares its backend list). */
export type StoreRoute = (route: Route) => Route;

function applyEvent(draft: Draft<DesiredState>, event: RautaEvent, onChange?: (change: FoldChange) => void, store?: StoreRoute): void {
  checkFollows(draft.seq, event);
  draft.seq = event.seq;
  switch (event.type) {
    case 'RouteUpserted':
    case 'RouteRemoved': {
      const ref = event.type === 'RouteUpserted' ? event.route : event;
      const id = routeId(ref);
      const after = event.type === 'RouteUpserted' ? (store ? store(event.route) : event.route) : undefined;
      onChange?.({ kind: 'route', id, ref, before: draft.routes[id] as Route | undefined, after });
      if (after) draft.routes[id] = after;
      else delete draft.routes[id];
      draft.pendingCommit = event.commit;
      break;
    }
    case 'ListenerUpserted':
    case 'ListenerRemoved': {
      const id = listenerId(event.type === 'ListenerUpserted' ? event.listener : event);
      const after = event.type === 'ListenerUpserted' ? event.listener : undefined;
      onChange?.({ kind: 'listener', id, before: draft.listeners[id] as Listener | undefined, after });
      if (after) draft.listeners[id] = after;
      else delete draft.listeners[id];
      draft.pendingCommit = event.commit;
      break;
    }
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
  return produce(state, (draft) => {
    applyEvent(draft, event);
  });
}

/** Fold a batch in one immer draft (one structural copy for the whole batch). */
export function foldEvents(state: DesiredState, events: Iterable<RautaEvent>): DesiredState {
  return produce(state, (draft) => {
    for (const event of events) applyEvent(draft, event);
  });
}

/**
 * Fold a batch into `state` itself, without a copy: for an owner of a state
 * too big to copy per commit (the agent's DesiredTracker at 65,536 routes;
 * immer copies the whole routes record on every change). All or nothing: the
 * seqs are checked before anything changes. `onChange` hears each route and
 * listener change before it is written; `store` gives the value written for
 * an upserted route (the route itself when absent).
 */
export function foldEventsInPlace(state: DesiredState, events: readonly RautaEvent[], onChange?: (change: FoldChange) => void, store?: StoreRoute): void {
  let seq = state.seq;
  for (const event of events) {
    checkFollows(seq, event);
    seq = event.seq;
  }
  for (const event of events) applyEvent(state as Draft<DesiredState>, event, onChange, store);
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
