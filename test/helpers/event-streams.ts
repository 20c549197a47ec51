// fast-check generators for event streams shaped like the watcher's output:
// per commit, route/listener events then CommitAccepted, or a lone
// CommitRejected; sometimes a HistoryRewritten first. Seqs are gap-free from 1.
import fc from 'fast-check';

// Plain objects, as JSON and the log produce them (fast-check defaults to null prototypes).
const record = <T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
import type { RautaEvent, RautaEventBody } from '../../src/routes/route-events.js';
import type { Listener, Route } from '../../src/routes/route-model.js';

export const shaOf = (n: number): string => n.toString(16).padStart(40, '0');

const METHODS = ['GET', 'POST', 'PUT'] as const;
const PATHS = ['/a', '/b', '/api/users', '/api/orders', '/health'];

export const routeArb: fc.Arbitrary<Route> = record({
  name: fc.constantFrom('users', 'orders', 'health'),
  method: fc.constantFrom(...METHODS),
  path: fc.constantFrom(...PATHS),
  backends: fc.uniqueArray(
    record({ ip: fc.constantFrom('10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.9'), port: fc.constantFrom(80, 8080), weight: fc.integer({ min: 1, max: 5 }) }),
    { minLength: 1, maxLength: 4, selector: (b) => `${b.ip}:${b.port}` },
  ),
  tableSize: fc.constant(4099),
  source: record({ file: fc.constantFrom('routes/a.yaml', 'routes/b.yaml'), line: fc.integer({ min: 1, max: 50 }) }),
});

export const listenerArb: fc.Arbitrary<Listener> = record({
  name: fc.constantFrom('public', 'internal'),
  address: fc.constantFrom('192.0.2.1', '192.0.2.2'),
  port: fc.constantFrom(80, 443),
  source: fc.constant({ file: 'listeners.yaml', line: 1 }),
});

type Change =
  | { kind: 'upsert'; route: Route }
  | { kind: 'remove'; method: Route['method']; path: string }
  | { kind: 'listener'; listener: Listener }
  | { kind: 'unlisten'; address: string; port: number };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  { weight: 4, arbitrary: routeArb.map((route) => ({ kind: 'upsert' as const, route })) },
  { weight: 2, arbitrary: record({ kind: fc.constant('remove' as const), method: fc.constantFrom(...METHODS), path: fc.constantFrom(...PATHS) }) },
  { weight: 1, arbitrary: listenerArb.map((listener) => ({ kind: 'listener' as const, listener })) },
  {
    weight: 1,
    arbitrary: record({ kind: fc.constant('unlisten' as const), address: fc.constantFrom('192.0.2.1', '192.0.2.2'), port: fc.constantFrom(80, 443) }),
  },
);

const commitArb = record({
  rejected: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  rewritten: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  changes: fc.array(changeArb, { minLength: 0, maxLength: 5 }),
});

/** A whole event stream (ends at a commit boundary). */
export const eventStreamArb: fc.Arbitrary<RautaEvent[]> = fc.array(commitArb, { minLength: 0, maxLength: 12 }).map((commits) => {
  const events: RautaEvent[] = [];
  const push = (body: RautaEventBody) => events.push({ ...body, seq: events.length + 1 } as RautaEvent);
  commits.forEach((c, i) => {
    const origin = { commit: shaOf(i + 1), author: 'dev <dev@example.com>', time: 1_700_000_000 + i };
    if (c.rewritten) push({ type: 'HistoryRewritten', ...origin, file: null, previous: shaOf(i + 1000) });
    if (c.rejected) {
      push({
        type: 'CommitRejected',
        ...origin,
        file: null,
        subject: `bad ${i}`,
        errors: [{ file: 'routes/a.yaml', line: 3, col: 5, message: 'port out of range' }],
      });
      return;
    }
    for (const ch of c.changes) {
      if (ch.kind === 'upsert') push({ type: 'RouteUpserted', ...origin, file: ch.route.source.file, route: ch.route });
      else if (ch.kind === 'remove') push({ type: 'RouteRemoved', ...origin, file: 'routes/a.yaml', name: 'x', method: ch.method, path: ch.path });
      else if (ch.kind === 'listener') push({ type: 'ListenerUpserted', ...origin, file: 'listeners.yaml', listener: ch.listener });
      else push({ type: 'ListenerRemoved', ...origin, file: 'listeners.yaml', name: 'x', address: ch.address, port: ch.port });
    }
    push({
      type: 'CommitAccepted',
      ...origin,
      file: null,
      tree: shaOf(i + 5000),
      subject: `commit ${i}`,
      counts: { routesUpserted: 0, routesRemoved: 0, listenersUpserted: 0, listenersRemoved: 0 },
    });
  });
  return events;
});
