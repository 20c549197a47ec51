// `rauta run` end to end, as a child process on a real routes repo, a real veth
// pair (host side carries the programs, the peer sits in a namespace and stands
// for the backends' side), a unique pin dir, state dir and HTTP port, step by
// step: a commit routes, a revert un-routes, an invalid commit changes nothing
// and shows with file:line:col, a hand-edited map is repaired, commit-to-applied
// over 100 commits, SIGTERM leaves programs and maps in place, and a restart
// reuses the pins and converges. Real client connections: connections.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bpfRequired, bpfUnavailableReason, needBpf } from '../testbed/bpf-env.js';
import { ip, ipIn, uniqueSuffix } from '../testbed/netns.js';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { spawnRauta, until, type RautaProc } from '../testbed/multinode-cluster.js';
import { startGitHttpServer } from './helpers/git-http-server.js';
import { signBody } from '../src/git/webhook.js';
import { runProbe, type ProbeResult } from '../src/cli/probe.js';
import { routeKeyOf } from '../src/model/ids.js';
import { objGet, closeFd, progId } from '../src/dataplane/libbpf.js';
import { dumpPlanMaps } from '../src/dataplane/read-back.js';
import { attachedProgramId, attachedTcProgramId, MAP_NAMES, openPinned, PROG_PIN, TC_PROG_PIN, unpin } from '../src/dataplane/program.js';

/** `rauta run` as a child process, JSON logs. */
const startRun = (args: string[]): RautaProc => spawnRauta('rauta run', ['run', ...args]);

async function probe(pinDir: string, method: string, path: string): Promise<ProbeResult> {
  let out = '';
  await runProbe(method, path, { pinDir, json: true }, (s) => (out += s));
  return JSON.parse(out) as ProbeResult;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('rauta run on a veth pair, step by step', { skip: bpfUnavailableReason() && !bpfRequired() ? 'BPF unavailable' : false }, () => {
  // Each step builds on the state the one before left; each is its own test so the first
  // failure does not hide the others.
  const s = uniqueSuffix();
  const octet = 16 + Math.floor(Math.random() * 200);
  const ns = `rtens${s}`;
  const host = `rteh${s}`;
  const peer = `rtep${s}`;
  const pinDir = `/sys/fs/bpf/rauta-e2e-${process.pid}-${s}`;
  const tmp = tempDir('e2e');
  const agents: RautaProc[] = [];
  const backend = (n: number) => `10.250.${octet}.${n}`;
  const baseRoutes = [
    { name: 'base', path: '/e2e/base', backends: [`${backend(1)}:8080`, `${backend(2)}:8080`] },
    { name: 'gw', path: '/e2e/gw', backends: [`10.251.${octet}.7:8080`] },
  ];
  let repo: TestRepo;
  let args: string[];
  let agent: RautaProc;
  let url: string;
  let peerMac: string;
  const dumpMaps = () => {
    const prog = openPinned(pinDir);
    try {
      return dumpPlanMaps(prog.typed);
    } finally {
      prog.close();
    }
  };

  before(async () => {
    const reason = bpfUnavailableReason();
    if (reason) throw new Error(`BPF required (RAUTA_REQUIRE_BPF=1) but unavailable: ${reason}`);
    // The veth pair: host side (XDP) ↔ peer in the namespace. Backends are reached through the
    // peer: 10.250.<o>.x by their own (permanent) neighbour entries, 10.251.<o>.0/24 via a gateway route.
    ip('netns', 'add', ns);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', ns);
    ipIn(ns, 'link', 'set', peer, 'up');
    ipIn(ns, 'addr', 'add', `10.249.${octet}.2/24`, 'dev', peer);
    ip('addr', 'add', `10.249.${octet}.1/24`, 'dev', host);
    ip('link', 'set', host, 'up');
    peerMac = (JSON.parse(ipIn(ns, '-j', 'link', 'show', peer)) as Array<{ address: string }>)[0]!.address;
    for (const n of [1, 2, 3, 5]) ip('neigh', 'replace', backend(n), 'lladdr', peerMac, 'dev', host, 'nud', 'permanent');
    ip('neigh', 'replace', `10.249.${octet}.2`, 'lladdr', peerMac, 'dev', host, 'nud', 'permanent');
    ip('route', 'add', `10.251.${octet}.0/24`, 'via', `10.249.${octet}.2`, 'dev', host);

    repo = TestRepo.init(join(tmp.dir, 'repo'));
    const stateDir = join(tmp.dir, 'state');
    repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
    repo.write('routes/base.yaml', routeYaml(baseRoutes));
    const c0 = repo.commit('listener and base routes');
    args = [
      '--repo',
      repo.dir,
      '--root',
      'routes',
      '--iface',
      host,
      '--pin-dir',
      pinDir,
      '--state-dir',
      stateDir,
      '--http',
      '127.0.0.1:0',
      '--drift-interval',
      '1',
      '--node',
      `e2e-${s}`,
    ];
    agent = startRun(args);
    agents.push(agent);
    url = (await agent.waitLine((l) => l.msg === 'http listening', 'http listening')).url as string;
    await agent.waitLine((l) => l.msg === 'applied' && l.commit === c0, `applied ${c0}`);
  });
  after(async () => {
    for (const a of agents)
      if (a.child.exitCode === null && a.child.signalCode === null) {
        a.child.kill('SIGKILL');
        await a.exited;
      }
    try {
      ip('netns', 'del', ns); // takes the veth pair (and its address, route, neighbours) with it
    } catch {
      /* already gone */
    }
    unpin(pinDir);
    tmp.cleanup();
  });

  test("start: the programs attach natively; a route through a gateway routes with the gateway's MAC", async () => {
    const attached = await agent.waitLine((l) => l.msg === 'XDP attached, with the TC ingress program', 'XDP attached');
    assert.equal(attached.mode, 'native', 'veth takes the program in native mode');
    const p = await probe(pinDir, 'GET', '/e2e/gw');
    assert.equal(p.result, 'routed', `a route through a gateway routes: ${JSON.stringify(p)}`);
    assert.equal(p.mac, peerMac, "the gateway route's neighbour gives the MAC");
  });

  test('1. a commit adding a route: a probe for it reaches its backend', async () => {
    repo.write('routes/new.yaml', routeYaml([{ name: 'new', path: '/e2e/new', backends: [`${backend(5)}:9090`] }]));
    const c1 = repo.commit('add /e2e/new');
    await agent.waitLine((l) => l.msg === 'applied' && l.commit === c1, `applied ${c1}`);
    const p = await probe(pinDir, 'GET', '/e2e/new');
    assert.deepEqual([p.result, p.backend, p.mac], ['routed', `${backend(5)}:9090`, peerMac], `the new route routes: ${JSON.stringify(p)}`);
  });

  test('2. git revert: the route is gone again (404)', async () => {
    repo.git('revert', '--no-edit', 'HEAD');
    const c2 = repo.head();
    await agent.waitLine((l) => l.msg === 'applied' && l.commit === c2, `applied revert ${c2}`);
    const p = await probe(pinDir, 'GET', '/e2e/new');
    assert.deepEqual([p.result, p.status, p.reason], ['reply', 404, 'reply_no_route'], `after the revert the route is gone: ${JSON.stringify(p)}`);
  });

  test('3. an invalid commit changes nothing; /healthz names the error with file:line:col', async () => {
    const good = repo.head();
    const before = dumpMaps();
    repo.write('routes/bad.yaml', routeYaml([{ name: 'bad', path: '/e2e/bad', backends: [`${backend(3)}:99999`] }]));
    const c3 = repo.commit('a backend on port 99999');
    const rejectedLine = await agent.waitLine((l) => l.msg.includes('rejected') && l.commit === c3, `rejection of ${c3}`);
    const health = await until(async () => {
      const h = await getJson(`${url}/healthz`);
      return (h.body.lastRejected as { commit?: string } | null)?.commit === c3 ? h : null;
    }, 'healthz shows the rejection');
    assert.equal(health.status, 200, 'a rejected commit leaves the node healthy on the last good commit');
    assert.equal(health.body.appliedCommit, good, 'the dataplane stays on the last good commit');
    const where = (health.body.lastRejected as { errors: Array<{ where: string; message: string }> }).errors;
    assert.match(where[0]!.where, /^routes\/bad\.yaml:\d+:\d+$/, `file:line:col of the error: ${JSON.stringify(where)}`);
    assert.ok((rejectedLine.errors as string[])[0]!.startsWith('routes/bad.yaml:'), 'the log names file:line too');
    assert.deepEqual(dumpMaps(), before, 'the rejected commit wrote nothing to the maps');
    repo.remove('routes/bad.yaml');
    const c4 = repo.commit('drop the bad file');
    await until(async () => ((await getJson(`${url}/status`)).body.appliedCommit === c4 ? true : null), `status reaches ${c4}`);
  });

  test('4. a hand-edited map is repaired by the drift check', async () => {
    const prog = openPinned(pinDir);
    try {
      const key = routeKeyOf('GET', '/e2e/base');
      const entry = prog.typed.routes.get(key)!;
      prog.typed.routes.set(key, { ...entry, backends: entry.backends.map((b) => ({ ...b, port: 1 })) });
    } finally {
      prog.close();
    }
    const repaired = await until(async () => {
      const st = (await getJson(`${url}/status`)).body;
      return (st.driftRepairs as number) >= 1 ? st : null;
    }, 'the drift check repairs the hand-edited route');
    assert.equal(repaired.lastPlan && (repaired.lastPlan as { reason: string }).reason, 'drift', 'the last plan was the drift repair');
    const p = await probe(pinDir, 'GET', '/e2e/base');
    assert.ok(p.result === 'routed' && p.backend?.endsWith(':8080'), `repaired: ${JSON.stringify(p)}`);
  });

  test('5. commit-to-applied over 100 commits, each changing a weight, each applied', async (t) => {
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const mark = agent.lines.length;
      repo.write(
        'routes/base.yaml',
        routeYaml(baseRoutes).replace(`endpoint: ${backend(2)}:8080\n`, `endpoint: ${backend(2)}:8080\n      weight: ${2 + (i % 50)}\n`),
      );
      const sha = repo.commit(`weight ${2 + (i % 50)}`);
      const committed = Date.now();
      const line = await agent.waitLine((l) => l.msg === 'applied' && l.commit === sha, `applied ${sha}`, mark);
      latencies.push(Date.parse(line.time) - committed);
    }
    latencies.sort((a, b) => a - b);
    t.diagnostic(
      `commit-to-applied over ${latencies.length} commits: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`,
    );
  });

  test('6. SIGTERM: exit 0, programs attached and maps pinned, traffic still routed', async () => {
    const last = repo.head();
    await until(async () => ((await getJson(`${url}/status`)).body.appliedCommit === last ? true : null), 'all applied before stopping');
    const pinnedId = (() => {
      const fd = objGet(join(pinDir, PROG_PIN));
      try {
        return progId(fd);
      } finally {
        closeFd(fd);
      }
    })();
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, `SIGTERM exits 0\n${agent.tail()}`);
    for (const name of [PROG_PIN, TC_PROG_PIN, ...MAP_NAMES]) assert.ok(existsSync(join(pinDir, name)), `${name} stays pinned after SIGTERM`);
    assert.equal(attachedProgramId(host), pinnedId, 'the pinned program stays attached to the interface');
    assert.ok(attachedTcProgramId(host) > 0, 'the TC program stays attached too');
    const p = await probe(pinDir, 'GET', '/e2e/base');
    assert.equal(p.result, 'routed', 'traffic is still routed while no agent runs');
  });

  test('7. a commit while stopped: the restart reuses the pins and converges on it', async () => {
    repo.write('routes/new.yaml', routeYaml([{ name: 'later', path: '/e2e/later', backends: [`${backend(3)}:7070`] }]));
    const c5 = repo.commit('add /e2e/later while the agent is down');
    agent = startRun(args);
    agents.push(agent);
    const loaded = await agent.waitLine((l) => l.msg.startsWith('programs loaded'), 'programs loaded');
    assert.deepEqual([...(loaded.reusedMaps as string[])].sort(), [...MAP_NAMES].sort(), `the restart reuses every pinned map: ${JSON.stringify(loaded)}`);
    const url2 = (await agent.waitLine((l) => l.msg === 'http listening', 'http listening (restart)')).url as string;
    await until(async () => ((await getJson(`${url2}/status`)).body.appliedCommit === c5 ? true : null), `restart converges on ${c5}`);
    const p = await probe(pinDir, 'GET', '/e2e/later');
    assert.deepEqual([p.result, p.backend], ['routed', `${backend(3)}:7070`], `the commit made while down is applied: ${JSON.stringify(p)}`);
    const metrics = await (await fetch(`${url2}/metrics`)).text();
    assert.match(metrics, /rauta_xdp_packets_total\{counter="routed"\} [1-9]/, 'the XDP counters survived the restart (pinned METRICS)');
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, `second SIGTERM exits 0\n${agent.tail()}`);
  });
});

test('rauta run on a remote over smart HTTP: a signed webhook makes a push apply at once', async (t) => {
  if (!needBpf(t)) return;
  const s = uniqueSuffix();
  const pinDir = `/sys/fs/bpf/rauta-e2e-remote-${process.pid}-${s}`;
  const tmp = tempDir('e2e-remote');
  const agents: RautaProc[] = [];
  let server: Awaited<ReturnType<typeof startGitHttpServer>> | null = null;
  t.after(async () => {
    for (const a of agents)
      if (a.child.exitCode === null && a.child.signalCode === null) {
        a.child.kill('SIGKILL');
        await a.exited;
      }
    await server?.close();
    unpin(pinDir);
    tmp.cleanup();
  });
  const repo = TestRepo.init(join(tmp.dir, 'work'));
  repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
  repo.write('routes/a.yaml', routeYaml([{ name: 'a', path: '/remote/a', backends: ['10.77.0.1:8080'] }]));
  const c0 = repo.commit('first');
  const bare = join(tmp.dir, 'srv', 'routes.git');
  execFileSync('git', ['clone', '-q', '--bare', repo.dir, bare]);
  execFileSync('git', ['-C', bare, 'config', 'http.receivepack', 'true']);
  server = await startGitHttpServer(join(tmp.dir, 'srv'));
  repo.git('remote', 'add', 'origin', server.url('routes.git'));

  // A one-hour poll: only the webhook can bring the push in during this test.
  const agent = startRun([
    '--repo',
    server.url('routes.git'),
    '--root',
    'routes',
    '--pin-dir',
    pinDir,
    '--state-dir',
    join(tmp.dir, 'state'),
    '--http',
    '127.0.0.1:0',
    '--poll',
    '3600',
    '--webhook-secret',
    'hook-secret',
    '--gateway-mac',
    '02:00:00:00:00:99',
    '--node',
    `remote-${s}`,
  ]);
  agents.push(agent);
  const url = (await agent.waitLine((l) => l.msg === 'http listening', 'http listening')).url as string;
  await agent.waitLine((l) => l.msg === 'applied' && l.commit === c0, `applied ${c0}`);

  repo.write('routes/b.yaml', routeYaml([{ name: 'b', path: '/remote/b', backends: ['10.77.0.2:8080'] }]));
  const c1 = repo.commit('second');
  await repo.gitAsync('push', '-q', 'origin', 'main');
  const body = JSON.stringify({ ref: 'refs/heads/main', after: c1 });
  const unsigned = await fetch(`${url}/hooks/git`, { method: 'POST', body, headers: { 'x-hub-signature-256': 'sha256=00' } });
  assert.equal(unsigned.status, 401, 'a hook with a bad signature is refused');
  const signed = await fetch(`${url}/hooks/git`, { method: 'POST', body, headers: { 'x-hub-signature-256': signBody('hook-secret', body) } });
  assert.equal(signed.status, 202, 'a signed hook triggers a fetch');
  await agent.waitLine((l) => l.msg === 'applied' && l.commit === c1, `applied ${c1} after the webhook`);
  const p = await probe(pinDir, 'GET', '/remote/b');
  assert.deepEqual([p.result, p.backend], ['routed', '10.77.0.2:8080'], JSON.stringify(p));
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0, `SIGTERM exits 0\n${agent.tail()}`);
});
