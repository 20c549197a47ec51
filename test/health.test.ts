// Health checking's parts: which checks run, the state machine, the passive
// verdict, desired minus unhealthy, and the HTTP check and monitor against
// real local servers (the data path side is in health-e2e.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { mergeSettings, routeTargets, targetKey } from '../src/health/check-targets.js';
import { effectiveRoutes } from '../src/health/effective-routes.js';
import { routeIdFor } from '../src/model/ids.js';
import { initialHealth, observe, passiveVerdict, statsDelta, type Observation } from '../src/health/health-state.js';
import { httpCheck } from '../src/health/http-check.js';
import { HealthMonitor, type HealthChange } from '../src/health/health-monitor.js';
import type { HealthCheck, Route } from '../src/routes/route-model.js';

const HC: HealthCheck = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 0.5, healthyThreshold: 2, unhealthyThreshold: 3 };

function route(name: string, ips: string[], hc: HealthCheck | null = HC, port = 8080): Route {
  return {
    name,
    method: 'GET',
    path: `/${name}`,
    backends: ips.map((ip) => ({ ip, port, weight: 1 })),
    tableSize: 4099,
    ...(hc ? { healthCheck: hc } : {}),
    source: { file: 'r.yaml', line: 1 },
  };
}

test('one check per backend and check path, however many routes share it; shared settings merge strictly', () => {
  const routes = [
    route('a', ['10.1.0.1', '10.1.0.2']),
    route('b', ['10.1.0.1'], { ...HC, intervalSeconds: 0.5, timeoutSeconds: 0.25, healthyThreshold: 5, unhealthyThreshold: 4 }),
    route('c', ['10.1.0.1'], { ...HC, path: '/ready' }),
    route('d', ['10.1.0.1'], null),
    route('e', ['10.1.0.1'], { ...HC, port: 9000 }),
  ];
  assert.deepEqual(routeTargets(routes[3]!), [], 'no healthCheck, no check');
  assert.deepEqual(routeTargets(routes[4]!)[0]!.target, {
    key: '10.1.0.1:8080 9000/healthz',
    endpoint: '10.1.0.1:8080',
    ip: '10.1.0.1',
    checkPort: 9000,
    path: '/healthz',
  });
  assert.deepEqual(mergeSettings([...routeTargets(routes[0]!), ...routeTargets(routes[1]!)].map((t) => t.settings)), {
    intervalMs: 500,
    timeoutMs: 250,
    healthyThreshold: 5,
    unhealthyThreshold: 3,
  });
  const mon = new HealthMonitor({ onChange: () => {}, random: () => 0.999 });
  try {
    mon.setRoutes(routes);
    const report = mon.report();
    assert.deepEqual(
      report.map((r) => `${r.backend}${r.check} ${r.routes.join(',')}`),
      ['10.1.0.1:8080:8080/healthz a,b', '10.1.0.1:8080:8080/ready c', '10.1.0.1:8080:9000/healthz e', '10.1.0.2:8080:8080/healthz a'],
    );
    mon.follow(routes[1], undefined);
    mon.follow(routes[0], { ...routes[0]!, backends: routes[0]!.backends.slice(0, 1) });
    assert.deepEqual(
      mon.report().map((r) => `${r.backend}${r.check} ${r.routes.join(',')}`),
      ['10.1.0.1:8080:8080/healthz a', '10.1.0.1:8080:8080/ready c', '10.1.0.1:8080:9000/healthz e'],
      'a route that goes or drops a backend takes its checks along',
    );
  } finally {
    mon.stop();
  }
});

test('thresholds: N failures in a row drain, M passes in a row restore, a burst drains at once', () => {
  const t = { healthyThreshold: 2, unhealthyThreshold: 3 };
  const run = (obs: Observation[]) => {
    let h = initialHealth(0);
    const changes: boolean[] = [];
    obs.forEach((o, i) => {
      const r = observe(h, o, t, i);
      h = r.next;
      if (r.changed) changes.push(h.healthy);
    });
    return { h, changes };
  };
  const pass: Observation = { kind: 'pass', detail: 'HTTP 200' };
  const fail: Observation = { kind: 'fail', detail: 'connection refused' };
  const burst: Observation = { kind: 'burst', detail: '5 refused' };
  assert.deepEqual(run([fail, fail, pass, fail, fail]).changes, [], 'a pass resets the failure count');
  const down = run([fail, fail, fail]);
  assert.deepEqual(down.changes, [false]);
  assert.match(down.h.reason, /3 checks failed in a row \(last: connection refused\)/);
  assert.deepEqual(run([fail, fail, fail, pass, fail, pass, pass]).changes, [false, true], 'a failure resets the pass count');
  assert.deepEqual(run([burst]).changes, [false]);
  assert.deepEqual(run([burst, burst, pass, pass]).changes, [false, true], 'only passing checks bring a backend back');
});

test('a flapping backend changes state at most once per threshold window', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }),
      (up, down, results) => {
        let h = initialHealth(0);
        const at: number[] = [];
        results.forEach((ok, i) => {
          const r = observe(h, ok ? { kind: 'pass', detail: '' } : { kind: 'fail', detail: '' }, { healthyThreshold: up, unhealthyThreshold: down }, i);
          h = r.next;
          if (r.changed) at.push(i);
        });
        // every change needs its threshold of observations since the previous change
        for (let k = 1; k < at.length; k++) assert.ok(at[k]! - at[k - 1]! >= Math.min(up, down), `changes at checks ${at[k - 1]} and ${at[k]}`);
        if (at.length > 0) assert.ok(at[0]! + 1 >= down, 'the first change needs unhealthyThreshold failures');
      },
    ),
    { numRuns: 300 },
  );
  // strictly alternating results never reach a threshold above 1
  let h = initialHealth(0);
  let changes = 0;
  for (let i = 0; i < 100; i++) {
    const r = observe(h, i % 2 ? { kind: 'pass', detail: '' } : { kind: 'fail', detail: '' }, { healthyThreshold: 2, unhealthyThreshold: 2 }, i);
    h = r.next;
    changes += r.changed ? 1 : 0;
  }
  assert.equal(changes, 0);
});

test('passive verdict: a burst of refused or unanswered handshakes with none accepted', () => {
  const d = (refused: number, stalled: number, established: number) => ({ syns: refused + stalled + established, refused, stalled, established });
  assert.equal(passiveVerdict(d(2, 0, 0), 3, 250), null, 'below the threshold');
  assert.match(passiveVerdict(d(3, 0, 0), 3, 250)?.detail ?? '', /3 refused new connections and none accepted in 250 ms/);
  assert.match(passiveVerdict(d(1, 2, 0), 3, 250)?.detail ?? '', /1 refused, 2 unanswered/);
  assert.equal(passiveVerdict(d(5, 0, 1), 3, 250), null, 'a backend that accepted some is slow or partly failing, not dead');
  const before = { syns: 10, stalled: 1, refused: 2, established: 7 };
  assert.deepEqual(statsDelta(before, { syns: 14, stalled: 1, refused: 6, established: 7 }), { syns: 4, stalled: 0, refused: 4, established: 0 });
  assert.deepEqual(
    statsDelta(before, { syns: 3, stalled: 0, refused: 3, established: 0 }),
    { syns: 3, stalled: 0, refused: 3, established: 0 },
    'a replaced map counts from 0',
  );
});

test('effective routes: unhealthy backends drained (weight 0, same index), others untouched, all failing kept', () => {
  const a = route('a', ['10.1.0.1', '10.1.0.2', '10.1.0.3']);
  const b = route('b', ['10.1.0.4']);
  const c = route('c', ['10.1.0.1'], null);
  const bad = new Set([targetKey(a.backends[1]!, HC), targetKey(b.backends[0]!, HC)]);
  const { routes, drains } = effectiveRoutes([a, b, c], bad);
  assert.deepEqual(
    routes[0]!.backends.map((x) => x.weight),
    [1, 0, 1],
  );
  assert.equal(routes[1], b, 'fail open: the route is kept as it is');
  assert.equal(routes[2], c, 'a route without checks is never drained');
  assert.deepEqual(drains, [
    { route: 'a', drained: ['10.1.0.2:8080'], failOpen: false },
    { route: 'b', drained: ['10.1.0.4:8080'], failOpen: true },
  ]);
  const none = effectiveRoutes([a, b, c], new Set());
  assert.ok(none.routes.every((r, i) => r === [a, b, c][i]) && none.drains.length === 0, 'nothing unhealthy: the same objects');
  assert.equal(a.backends[1]!.weight, 1, 'the desired route is not modified');
});

// ---- real sockets ----

interface Toy {
  port: number;
  server: Server;
  open: number;
  maxOpen: number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that answers each connection with `answer` (null: accept and never answer). */
async function toy(answer: string | null): Promise<Toy> {
  const sockets = new Set<Socket>();
  const t = { open: 0, maxOpen: 0 } as Toy;
  const server = createServer((s) => {
    sockets.add(s);
    t.open++;
    t.maxOpen = Math.max(t.maxOpen, t.open);
    s.on('close', () => {
      t.open--;
      sockets.delete(s);
    });
    s.on('error', () => {});
    s.once('data', () => {
      if (answer !== null) s.end(answer);
    });
  });
  // every address: the monitor tests check backends 127.0.0.x
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  t.server = server;
  t.port = (server.address() as { port: number }).port;
  t.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(() => r()));
  };
  return t;
}

test('HTTP check: 2xx/3xx pass; 5xx, refused, silence past the timeout and non-HTTP fail, each saying why', async () => {
  const ok = await toy('HTTP/1.1 204 No Content\r\n\r\n');
  const moved = await toy('HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n');
  const down = await toy('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n');
  const hang = await toy(null);
  const junk = await toy('SSH-2.0-OpenSSH_9.2\r\n');
  const closed = await toy(null);
  const closedPort = closed.port;
  await closed.close();
  try {
    const check = (port: number, timeoutMs = 1000) => httpCheck({ ip: '127.0.0.1', port, path: '/healthz', timeoutMs });
    assert.deepEqual([(await check(ok.port)).ok, (await check(ok.port)).detail], [true, 'HTTP 204']);
    assert.deepEqual(await check(moved.port).then((r) => [r.ok, r.detail]), [true, 'HTTP 302']);
    assert.deepEqual(await check(down.port).then((r) => [r.ok, r.detail]), [false, 'HTTP 503']);
    assert.deepEqual(await check(closedPort).then((r) => [r.ok, r.detail]), [false, 'connection refused']);
    const slow = await check(hang.port, 300);
    assert.equal(slow.ok, false);
    assert.match(slow.detail, /^timed out after 300 ms \(connected, no status line\)$/);
    assert.ok(slow.ms >= 290, `the timeout is honoured: ${slow.ms} ms`);
    for (let i = 0; i < 100 && hang.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hang.open, 0, 'the timed-out connection is closed');
    assert.match((await check(junk.port)).detail, /^not an HTTP status line: "SSH-2.0/);
  } finally {
    await Promise.all([ok.close(), moved.close(), down.close(), hang.close(), junk.close()]);
  }
});

test('monitor: at most maxInFlight checks open however many targets; a hung check times out and drains', async () => {
  const hang = await toy(null);
  const changes: HealthChange[] = [];
  // 40 backends on 127.0.0.x whose check port is the one hung server
  const ips = Array.from({ length: 40 }, (_, i) => `127.0.0.${i + 2}`);
  const hc: HealthCheck = { path: '/healthz', port: hang.port, intervalSeconds: 0.2, timeoutSeconds: 0.15, healthyThreshold: 1, unhealthyThreshold: 2 };
  // the real check, counted: how many run at once
  let running = 0;
  let maxRunning = 0;
  const check = async (req: Parameters<typeof httpCheck>[0]) => {
    maxRunning = Math.max(maxRunning, ++running);
    try {
      return await httpCheck(req);
    } finally {
      running--;
    }
  };
  const mon = new HealthMonitor({ onChange: (c) => changes.push(...c), maxInFlight: 4, check });
  try {
    mon.setRoutes([route('many', ips.slice(0, 20), hc), route('more', ips.slice(20), hc)]);
    const deadline = Date.now() + 20_000;
    while (mon.unhealthy().size < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(mon.unhealthy().size, 40, `every hung backend drains: ${mon.unhealthy().size}`);
    await new Promise((r) => setImmediate(r)); // onChange gets each batch on the turn after the checks ended
    assert.equal(maxRunning, 4, 'checks in flight at once: the bound, reached');
    assert.ok(hang.maxOpen >= 2, `the server saw concurrent checks: ${hang.maxOpen}`);
    assert.equal(new Set(changes.map((c) => c.target.key)).size, 40);
    assert.ok(
      changes.every((c) => !c.healthy && /2 checks failed in a row \(last: timed out after 150 ms/.test(c.reason)),
      changes[0]?.reason,
    );
    const report = mon.report();
    assert.equal(report.length, 40);
    assert.deepEqual(report[0]!.routes, ['many']);
    assert.equal(report[0]!.check, `:${hang.port}/healthz`);
  } finally {
    mon.stop();
    await hang.close();
  }
});

test('monitor: a restored (drained before a restart) backend comes back after healthyThreshold passes', async () => {
  const ok = await toy('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  const changes: HealthChange[] = [];
  const hc: HealthCheck = { path: '/', port: ok.port, intervalSeconds: 0.1, timeoutSeconds: 0.1, healthyThreshold: 3, unhealthyThreshold: 1 };
  const r = route('r', ['127.0.0.1', '127.0.0.2'], hc);
  const mon = new HealthMonitor({ onChange: (c) => changes.push(...c) });
  try {
    mon.restore([`${routeIdFor(r)} 127.0.0.1:8080`, `${routeIdFor({ method: 'GET', path: '/other' })} 127.0.0.2:8080`], 'drained before the agent restarted');
    mon.setRoutes([r]);
    assert.deepEqual([...mon.unhealthy()], [targetKey(r.backends[0]!, hc)]);
    const deadline = Date.now() + 10_000;
    while (changes.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.healthy, true);
    assert.match(changes[0]!.reason, /^3 checks passed in a row \(HTTP 200\)$/);
    assert.equal(mon.unhealthy().size, 0);
    mon.setRoutes([]);
    assert.equal(mon.report().length, 0, 'a route without checks leaves no target');
  } finally {
    mon.stop();
    await ok.close();
  }
});
