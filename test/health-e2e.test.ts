// Backend health on a real node: `rauta run` in its own namespace with XDP and
// TC attached, every backend its own HTTP server process (so one can be
// stopped alone), clients in the client namespace. Checks and the passive
// signal drain a failing backend without a commit; it comes back when it
// passes again; a route whose backends all fail is kept whole. No timing
// assertions: every wait is a hang guard, and which backend a client port
// reaches is asked of the program itself (rauta probe), not left to chance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { bpfRequired, bpfUnavailableReason } from '../testbed/bpf-env.js';
import { listenerYaml, routeYaml, tempDir, TestRepo, type RouteSpec } from '../testbed/git-repo.js';
import { createLbNet, curl, inNs, startBackends, VIP, type Backends, type LbNet } from '../testbed/lb-net.js';
import { spawnNodeRun, type LogLine, type RautaProc } from '../testbed/multinode-cluster.js';
import { runProbe, type ProbeResult } from '../src/cli/probe.js';
import { unpin } from '../src/dataplane/program.js';
import type { AgentStatus } from '../src/agent/agent-status.js';

const CHECK = { path: '/healthz', intervalSeconds: 0.5, timeoutSeconds: 0.3, healthyThreshold: 2, unhealthyThreshold: 2 };
const POOL = ['10.1.5.1:8080', '10.1.5.2:8080', '10.1.5.3:8080', '10.1.5.4:8080'];
const DUO = ['10.1.6.1:8080', '10.1.6.2:8080'];
const PASSIVE = ['10.1.7.1:8080', '10.1.7.2:8080'];
const ROUTES: RouteSpec[] = [
  // /drip: downloads that last (the demo backends drip their answer)
  { name: 'pool', path: '/drip', backends: POOL, healthCheck: CHECK },
  { name: 'duo', path: '/duo', backends: DUO, healthCheck: CHECK },
  // a check every 30 s: only the data path's passive signal can drain quickly
  { name: 'passive', path: '/passive', backends: PASSIVE, healthCheck: { ...CHECK, intervalSeconds: 30, timeoutSeconds: 1, unhealthyThreshold: 3 } },
];

interface World {
  net: LbNet;
  backends: Map<string, Backends>;
  pinDir: string;
  run: RautaProc;
  http: string;
  cleanup: () => Promise<void>;
}

let world: World | null = null;
const skip = bpfUnavailableReason();

async function startBackend(net: LbNet, endpoint: string): Promise<void> {
  world?.backends.get(endpoint)?.child.kill('SIGKILL');
  const b = await startBackends(net, [endpoint]);
  world?.backends.set(endpoint, b);
}

async function stopBackend(endpoint: string): Promise<void> {
  await world!.backends.get(endpoint)!.stop();
  world!.backends.delete(endpoint);
}

async function setHealthz(endpoint: string, status: '200' | '503' | 'hang'): Promise<void> {
  const r = await inNs(world!.net.backendNs, 'curl', ['-sS', '-m', '5', '-X', 'PUT', `http://${endpoint}/control/healthz?status=${status}`]);
  assert.equal(r.code, 0, `set ${endpoint} /healthz to ${status}: ${r.stderr}`);
}

async function nodeGet(path: string): Promise<string> {
  const r = await inNs(world!.net.nodeNs, 'curl', ['-sS', '-m', '5', `${world!.http}${path}`]);
  assert.equal(r.code, 0, `GET ${path}: ${r.stderr}`);
  return r.stdout;
}

const status = async (): Promise<AgentStatus> => JSON.parse(await nodeGet('/status')) as AgentStatus;

async function probeFrom(path: string, clientPort: number): Promise<ProbeResult> {
  let out = '';
  await runProbe('GET', path, { pinDir: world!.pinDir, client: `10.0.0.2:${clientPort}`, listener: `${VIP}:80`, json: true }, (s) => (out += s));
  return JSON.parse(out) as ProbeResult;
}

// client ports below the ephemeral range (32768-60999): no connection of the client picks them by itself
let nextPort = 21000;
/** A client port whose connection to `path` the program sends to `backend` (asked with rauta probe). */
async function portFor(path: string, backend: string): Promise<number> {
  for (let tries = 0; tries < 400; tries++) {
    const port = nextPort++;
    if ((await probeFrom(path, port)).backend === backend) return port;
  }
  throw new Error(`no client port reaches ${backend} for ${path} in 400 tries`);
}

/** The line where the node says `backend` became unhealthy (or healthy again), from log index `from`. */
function healthLine(backend: string, healthy: boolean, from: number): Promise<LogLine> {
  return world!.run.waitLine(
    (l) => l.backend === backend && l.healthy === healthy && typeof l.reason === 'string',
    `${backend} ${healthy ? 'healthy again' : 'unhealthy'}`,
    from,
    30_000,
  );
}

interface Conn {
  t: number;
  outcome: string;
  backend?: string | null;
  status?: number;
}

/** Open `count` connections (rate per second) to `path` from the client namespace; every one's outcome. */
function connections(path: string, rate: number, seconds: number): Promise<Conn[]> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      world!.net.clientNs,
      process.execPath,
      'testbed/conn-stream.mjs',
      VIP,
      '80',
      path,
      '--rate',
      String(rate),
      '--seconds',
      String(seconds),
      '--timeout',
      '3000',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const out: Conn[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => out.push(JSON.parse(l) as Conn));
  return new Promise((resolve) => child.on('exit', () => resolve(out)));
}

describe('backend health on a real node', { skip: skip && !bpfRequired() ? `BPF unavailable: ${skip}` : false }, () => {
  before(async () => {
    if (skip) throw new Error(`BPF required (RAUTA_REQUIRE_BPF=1) but unavailable: ${skip}`);
    const tmp = tempDir('health');
    const net = createLbNet();
    const pinDir = `/sys/fs/bpf/rauta-health-${net.name}`;
    const backends = new Map<string, Backends>();
    let run: RautaProc | null = null;
    const cleanup = async () => {
      await run?.stop();
      await Promise.all([...(world?.backends ?? backends).values()].map((b) => b.stop()));
      net.destroy();
      unpin(pinDir);
      tmp.cleanup();
    };
    try {
      for (const e of [...POOL, ...DUO, ...PASSIVE]) backends.set(e, await startBackends(net, [e]));
      const repo = TestRepo.init(`${tmp.dir}/repo`);
      repo.write('routes/listeners.yaml', listenerYaml('web', VIP, 80));
      repo.write('routes/app.yaml', routeYaml(ROUTES));
      const head = repo.commit('routes with health checks');
      run = spawnNodeRun(net, { repo: repo.dir, pinDir, stateDir: `${tmp.dir}/state` }, { http: true });
      const listening = await run.waitLine((l) => l.msg === 'http listening', 'http listening');
      await run.waitLine((l) => l.msg === 'applied' && l.commit === head, 'the routes applied');
      world = { net, backends, pinDir, run, http: String(listening.url), cleanup };
      // every backend passes its first check: 8 checks, none unhealthy
      const deadline = Date.now() + 30_000;
      for (;;) {
        const h = (await status()).health;
        if (h && h.checks === POOL.length + DUO.length + PASSIVE.length && h.unhealthy.length === 0) break;
        if (Date.now() > deadline) throw new Error(`health checks did not settle: ${JSON.stringify(h)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
  after(async () => {
    await world?.cleanup();
  });

  test('a stopped backend and a failing one are drained; open connections are left alone; probe, status and metrics say so', async () => {
    const w = world!;
    const [one, stopped, sick] = [POOL[0]!, POOL[1]!, POOL[2]!];
    const toOne = await portFor('/drip', one);
    const toSick = await portFor('/drip', sick);
    // two downloads of 3 s (30 chunks, 100 ms apart) on backends that stay up
    const download = (port: number) =>
      curl(w.net, [
        '--local-port',
        String(port),
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download} %header{x-backend}',
        `http://${VIP}/drip?bytes=30720&ms=100`,
      ]);
    const downloads = [download(toOne), download(toSick)];
    const from = w.run.lines.length;
    await new Promise((r) => setTimeout(r, 300)); // both downloads under way
    await stopBackend(stopped);
    await setHealthz(sick, '503');
    const down = await healthLine(stopped, false, from);
    assert.match(String(down.reason), /2 checks failed in a row \(last: connection refused\)|the data path saw/);
    assert.match(String(down.msg), new RegExp(`backend ${stopped} is unhealthy \\(:8080/healthz\\): .*; no new connections from pool`));
    const sickLine = await healthLine(sick, false, from);
    assert.match(String(sickLine.reason), /2 checks failed in a row \(last: HTTP 503\)/);
    // the drains are planned: one scoped replan (or two), three map writes per route change
    const replans = await w.run.waitLine((l) => l.msg === 'applied' && l.reason === 'replan', 'a replan applied', from);
    assert.equal(replans.scopeRoutes, 1, 'the replan looks at the one route that uses the backends');

    const results = await Promise.all(downloads);
    assert.deepEqual(
      results.map((r) => r.stdout),
      [`200 30720 ${one}`, `200 30720 ${sick}`],
      'open connections, to a healthy backend and to the drained one, finish byte for byte',
    );

    const probe = await probeFrom('/drip', toSick);
    assert.deepEqual(probe.route?.drained.sort(), [stopped, sick].sort(), 'the route holds both drained (weight 0, address kept)');
    assert.notEqual(probe.backend, sick, 'the client port that reached the failing backend now reaches another');
    const text = await new Promise<string>((resolve) => {
      let t = '';
      void runProbe('GET', '/drip', { pinDir: w.pinDir, client: `10.0.0.2:${toSick}`, listener: `${VIP}:80` }, (s) => (t += s)).then(() => resolve(t));
    });
    assert.match(text, new RegExp(`skipped as unhealthy on this node: .*${sick.replaceAll('.', '\\.')}`));

    const conns = await connections('/drip?bytes=1&ms=1', 50, 2);
    assert.ok(conns.length >= 90, `connections made: ${conns.length}`);
    assert.deepEqual(
      conns.filter((c) => c.outcome !== 'ok'),
      [],
      'every new connection succeeds',
    );
    const reached = new Set(conns.map((c) => c.backend));
    assert.ok(!reached.has(stopped) && !reached.has(sick), `no new connection reaches a drained backend: ${[...reached]}`);
    assert.ok(reached.has(one) && reached.has(POOL[3]!), `the healthy two share the route: ${[...reached]}`);

    const st = await status();
    assert.deepEqual(st.health?.unhealthy.map((u) => u.backend).sort(), [stopped, sick].sort());
    assert.ok(st.health?.unhealthy.every((u) => u.routes.includes('pool') && u.reason.length > 0 && u.check === ':8080/healthz'));
    const metrics = await nodeGet('/metrics');
    assert.match(metrics, new RegExp(`rauta_backend_healthy\\{backend="${stopped}",check=":8080/healthz"\\} 0`));
    assert.match(metrics, new RegExp(`rauta_backend_healthy\\{backend="${one}",check=":8080/healthz"\\} 1`));
    assert.match(metrics, new RegExp(`rauta_backend_health_transitions_total\\{backend="${sick}",check=":8080/healthz"\\} 1`));
  });

  test('started again (and passing again), a backend gets its share back: the same client port reaches it', async () => {
    const w = world!;
    const [stopped, sick] = [POOL[1]!, POOL[2]!];
    const from = w.run.lines.length;
    await startBackend(w.net, stopped);
    await setHealthz(sick, '200');
    const up = await healthLine(stopped, true, from);
    assert.match(String(up.reason), /^2 checks passed in a row \(HTTP 200\)$/);
    await healthLine(sick, true, from);
    await w.run.waitLine((l) => l.msg === 'applied' && l.reason === 'replan', 'the return applied', from);
    // once both are back, the table is the one before the drain: ports map as they did
    const deadline = Date.now() + 30_000;
    while ((await probeFrom('/drip', 21000)).route?.drained.length !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const port = await portFor('/drip', stopped);
    const r = await curl(w.net, ['--local-port', String(port), '-o', '/dev/null', '-w', '%{http_code} %header{x-backend}', `http://${VIP}/drip?bytes=1&ms=1`]);
    assert.equal(r.stdout, `200 ${stopped}`);
    const conns = await connections('/drip?bytes=1&ms=1', 50, 2);
    const reached = new Set(conns.map((c) => c.backend));
    assert.deepEqual([...reached].sort(), [...POOL].sort(), 'all four share the route again');
    assert.equal((await status()).health?.unhealthy.length, 0);
  });

  test('every backend of a route fails: the route keeps them all (fail open) and says so', async () => {
    const w = world!;
    const from = w.run.lines.length;
    for (const e of DUO) await stopBackend(e);
    const lines = [await healthLine(DUO[0]!, false, from), await healthLine(DUO[1]!, false, from)];
    assert.ok(
      lines.some((l) => Array.isArray(l.failOpen) && (l.failOpen as string[]).includes('duo')),
      'the log line of the last one says the route fails open',
    );
    const deadline = Date.now() + 30_000;
    let st = await status();
    while (!st.health?.failOpen.includes('duo') && Date.now() < deadline) st = await status();
    assert.deepEqual(st.health?.failOpen, ['duo']);
    const probe = await probeFrom('/duo', 22000);
    assert.deepEqual(probe.route?.drained, [], 'nothing drained: both kept');
    assert.deepEqual(probe.route?.backends, DUO);
    assert.equal(probe.result, 'routed');
    for (const e of DUO) await startBackend(w.net, e);
    await healthLine(DUO[1]!, true, from);
    await healthLine(DUO[0]!, true, from);
  });

  test('a check that hangs times out and drains its backend', async () => {
    const w = world!;
    const hung = POOL[3]!;
    const from = w.run.lines.length;
    await setHealthz(hung, 'hang');
    const line = await healthLine(hung, false, from);
    assert.match(String(line.reason), /^2 checks failed in a row \(last: timed out after 300 ms \(connected, no status line\)\)$/);
    await setHealthz(hung, '200');
    await healthLine(hung, true, from);
  });

  test('the data path drains a backend that refuses connections before its next check (30 s away)', async () => {
    const w = world!;
    const dead = PASSIVE[0]!;
    const from = w.run.lines.length;
    await stopBackend(dead);
    const conns = connections('/passive', 100, 3);
    const line = await healthLine(dead, false, from);
    assert.match(String(line.reason), /^the data path saw \d+ refused new connections and none accepted in 250 ms$/);
    const all = await conns;
    const drainedAt = Date.parse(String(line.time));
    const late = all.filter((c) => c.t > drainedAt + 500);
    assert.ok(late.length > 50, `connections after the drain: ${late.length}`);
    assert.deepEqual(
      late.filter((c) => c.outcome !== 'ok'),
      [],
      'after the drain every new connection reaches the live backend',
    );
    assert.ok(
      all.some((c) => c.outcome === 'reset'),
      'before it, the dead backend refused some (RST to the client)',
    );
    await startBackend(w.net, dead);
  });

  test('a flapping backend changes the table at most once per transition, transitions at most once per threshold window', async (t) => {
    const w = world!;
    const flappy = POOL[0]!;
    const from = w.run.lines.length;
    const started = Date.now();
    for (let i = 0; i < 16; i++) {
      await setHealthz(flappy, i % 2 === 0 ? '503' : '200');
      await new Promise((r) => setTimeout(r, 375));
    }
    await setHealthz(flappy, '200');
    await new Promise((r) => setTimeout(r, 2 * CHECK.intervalSeconds * 1000 * CHECK.healthyThreshold));
    const elapsed = Date.now() - started;
    const mine = w.run.lines.slice(from).filter((l) => l.backend === flappy && typeof l.healthy === 'boolean');
    const replans = w.run.lines.slice(from).filter((l) => l.msg === 'applied' && l.reason === 'replan');
    const window = Math.min(CHECK.healthyThreshold, CHECK.unhealthyThreshold) * CHECK.intervalSeconds * 1000;
    t.diagnostic(`${mine.length} transitions and ${replans.length} table changes in ${elapsed} ms of flapping`);
    assert.ok(mine.length <= Math.floor(elapsed / window) + 1, `${mine.length} transitions in ${elapsed} ms (one per ${window} ms at most)`);
    assert.ok(replans.length <= mine.length, `${replans.length} table changes for ${mine.length} transitions`);
    const deadline = Date.now() + 30_000;
    while ((await status()).health?.unhealthy.some((u) => u.backend === flappy) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(!(await status()).health?.unhealthy.some((u) => u.backend === flappy), 'healthy once it passes for good');
  });
});
