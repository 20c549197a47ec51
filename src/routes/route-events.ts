// The route events that flow from the watcher, through the log, to every node.
// One zod schema per event: the log validates what it reads with these, so a
// malformed record is an error that names the field, never a silent skip.
// Pure (the watcher writes them, the logs store them, the fold reads them).
import { z } from 'zod';
import { ValidationIssue } from './issues.js';
import { Listener, MatchFields, Route } from './route-model.js';

/** Where every event came from: the commit, its author and time, and the file (null for commit markers). */
const Origin = {
  commit: z.string().regex(/^[0-9a-f]{40}$/),
  author: z.string(),
  /** committer time, seconds since the epoch */
  time: z.number().int(),
  file: z.string().nullable(),
};

export const RouteUpserted = z.object({ type: z.literal('RouteUpserted'), ...Origin, route: Route });
export const RouteRemoved = z.object({
  type: z.literal('RouteRemoved'),
  ...Origin,
  name: z.string(),
  ...MatchFields,
});
export const ListenerUpserted = z.object({ type: z.literal('ListenerUpserted'), ...Origin, listener: Listener });
export const ListenerRemoved = z.object({
  type: z.literal('ListenerRemoved'),
  ...Origin,
  name: z.string(),
  address: z.string(),
  port: z.number().int(),
});

export const CommitAccepted = z.object({
  type: z.literal('CommitAccepted'),
  ...Origin,
  /** tree oid of the accepted (sub)folder: the next commit is diffed against it */
  tree: z.string(),
  subject: z.string(),
  counts: z.object({
    routesUpserted: z.number().int(),
    routesRemoved: z.number().int(),
    listenersUpserted: z.number().int(),
    listenersRemoved: z.number().int(),
  }),
});
export const CommitRejected = z.object({
  type: z.literal('CommitRejected'),
  ...Origin,
  subject: z.string(),
  /** the first errors (the watcher keeps at most 100) */
  errors: z.array(ValidationIssue).min(1),
  /** how many more errors the commit had beyond `errors` (absent: none) */
  more: z.number().int().positive().optional(),
});
/** The new head does not descend from the last processed commit (force-push). Precedes that commit's events. */
export const HistoryRewritten = z.object({
  type: z.literal('HistoryRewritten'),
  ...Origin,
  previous: z.string(),
});

export const RautaEventBody = z.discriminatedUnion('type', [
  RouteUpserted,
  RouteRemoved,
  ListenerUpserted,
  ListenerRemoved,
  CommitAccepted,
  CommitRejected,
  HistoryRewritten,
]);
/** An event as the watcher produces it, before the log numbers it. */
export type RautaEventBody = z.infer<typeof RautaEventBody>;

/**
 * An event in the log: gap-free seq starting at 1. One flat union (seq first, as stored)
 * rather than an intersection with RautaEventBody: zod checks an intersection twice and
 * merges the results, ~2.5x the time of one pass.
 */
const seq = z.number().int().positive();
export const RautaEvent = z.discriminatedUnion('type', [
  z.object({ seq, ...RouteUpserted.shape }),
  z.object({ seq, ...RouteRemoved.shape }),
  z.object({ seq, ...ListenerUpserted.shape }),
  z.object({ seq, ...ListenerRemoved.shape }),
  z.object({ seq, ...CommitAccepted.shape }),
  z.object({ seq, ...CommitRejected.shape }),
  z.object({ seq, ...HistoryRewritten.shape }),
]);
export type RautaEvent = RautaEventBody & { seq: number };

export type EventType = RautaEventBody['type'];

export type CommitMarker = Extract<RautaEventBody, { type: 'CommitAccepted' | 'CommitRejected' }>;

/** A commit's events end with its marker: CommitAccepted or CommitRejected. */
export function isCommitMarker<E extends { type: string }>(e: E): e is E & { type: CommitMarker['type'] } {
  return e.type === 'CommitAccepted' || e.type === 'CommitRejected';
}

/**
 * Whole commits of a run of events, each ending with its marker. Events after
 * the last marker (a commit cut short by a read window) are returned apart.
 */
export function splitCommits<E extends { type: string }>(events: readonly E[]): { commits: E[][]; rest: E[] } {
  const commits: E[][] = [];
  let current: E[] = [];
  for (const e of events) {
    current.push(e);
    if (isCommitMarker(e)) {
      commits.push(current);
      current = [];
    }
  }
  return { commits, rest: current };
}
