// What a node should have: the fold of the event log up to `seq`. Plain JSON
// data (snapshots are JSON), keyed by the same ids the data path uses.
import { z } from 'zod';
import { Listener, listenerId, Route, routeId } from '../routes/route-model.js';
import { ValidationIssue } from '../routes/issues.js';

export interface RejectedCommit {
  commit: string;
  errors: ValidationIssue[];
  /** seq of the CommitRejected event */
  seq: number;
}

export interface DesiredState {
  /** seq of the last folded event (0: nothing folded) */
  seq: number;
  /** last accepted commit */
  commit: string | null;
  /** by routeId ("GET /path") */
  routes: Record<string, Route>;
  /** by listenerId ("10.0.0.1:80") */
  listeners: Record<string, Listener>;
  lastRejected: RejectedCommit | null;
  /**
   * The commit whose route/listener events are folded but whose CommitAccepted
   * or CommitRejected has not arrived yet; null at a commit boundary. The agent
   * applies only states at a boundary (see atCommitBoundary).
   */
  pendingCommit: string | null;
}

export function initialState(): DesiredState {
  return { seq: 0, commit: null, routes: {}, listeners: {}, lastRejected: null, pendingCommit: null };
}

const sha = z.string().regex(/^[0-9a-f]{40}$/);

/** The schema snapshots are checked against: a record key must be the id of its value. */
export const DesiredStateSchema = z
  .object({
    seq: z.number().int().nonnegative(),
    commit: sha.nullable(),
    routes: z.record(z.string(), Route),
    listeners: z.record(z.string(), Listener),
    lastRejected: z.object({ commit: sha, errors: z.array(ValidationIssue), seq: z.number().int().positive() }).nullable(),
    pendingCommit: sha.nullable(),
  })
  .superRefine((state, ctx) => {
    for (const [id, route] of Object.entries(state.routes)) {
      if (routeId(route) !== id)
        ctx.addIssue({ code: 'custom', path: ['routes', id], message: `key "${id}" does not match the route's id "${routeId(route)}"` });
    }
    for (const [id, listener] of Object.entries(state.listeners)) {
      if (listenerId(listener) !== id)
        ctx.addIssue({ code: 'custom', path: ['listeners', id], message: `key "${id}" does not match the listener's id "${listenerId(listener)}"` });
    }
  });
