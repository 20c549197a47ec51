// A synthetic route set as the watcher would log it: RouteUpserted events in
// a file log, one commit per COMMIT_ROUTES routes. The scale suite writes it
// in a child process (route-log-child.ts), as a watcher is not the agent: the
// agent's process only reads and folds it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openFileLog } from '../../src/events/file-log.js';
import type { RautaEventBody } from '../../src/routes/route-events.js';
import type { Listener, Route } from '../../src/routes/route-model.js';
import { type RouteSetSpec, syntheticRoute } from './sync.js';

/** Routes per commit: what one commit of a large routes repo may change. */
export const COMMIT_ROUTES = 1024;

const CHILD = fileURLToPath(new URL('./route-log-child.ts', import.meta.url));

/** Commit number `n`'s events: upserts of `listeners` and `routes`, then its CommitAccepted. */
export function commitOf(n: number, routes: readonly Route[], listeners: readonly Listener[]): RautaEventBody[] {
  const o = { commit: n.toString(16).padStart(40, '0'), author: 'bench <bench@example.com>', time: 1_700_000_000 + n };
  return [
    ...listeners.map((listener): RautaEventBody => ({ type: 'ListenerUpserted', ...o, file: listener.source.file, listener })),
    ...routes.map((route): RautaEventBody => ({ type: 'RouteUpserted', ...o, file: route.source.file, route })),
    {
      type: 'CommitAccepted',
      ...o,
      file: null,
      tree: o.commit,
      subject: `bench commit ${n}`,
      counts: { routesUpserted: routes.length, routesRemoved: 0, listenersUpserted: listeners.length, listenersRemoved: 0 },
    },
  ];
}

/** Appends the routes of `spec` (syntheticRoute), the listeners with the first commit, to a new file log at `path`. */
export async function writeRouteLog(path: string, spec: RouteSetSpec, listeners: readonly Listener[]): Promise<void> {
  const writer = await openFileLog(path, { writer: true });
  try {
    for (let at = 0, n = 1; at < spec.routes; at += COMMIT_ROUTES, n++) {
      const routes: Route[] = [];
      for (let i = at; i < Math.min(spec.routes, at + COMMIT_ROUTES); i++) routes.push(syntheticRoute(i, spec));
      await writer.append(commitOf(n, routes, at === 0 ? listeners : []));
    }
  } finally {
    await writer.close();
  }
}

/** writeRouteLog in a child process: its memory is not the caller's. */
export function writeRouteLogApart(path: string, spec: RouteSetSpec, listeners: readonly Listener[]): void {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path, JSON.stringify({ spec, listeners })], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (res.status !== 0) throw new Error(`route-log child exited ${res.status ?? res.signal}: ${res.stderr}`);
}
