// Real connections through the VIP: `rauta run` on a node (its own network
// namespace, XDP and TC on its interface), real HTTP servers on the backend
// addresses, real clients (curl, a keep-alive client, raw SYNs) in the client
// namespace, all on the demo's own topology (scripts/lb-net.sh). No timing
// assertions: every wait is a hang guard.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bpfUnavailableReason, bpfRequired } from '../testbed/bpf-env.js';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { clientTcpCounters, createLbNet, curl, inNs, startBackends, VIP, type Backends, type LbNet } from '../testbed/lb-net.js';
import { spawnNodeRun, spawnRauta, until, type RautaProc } from '../testbed/multinode-cluster.js';
import { openPinned, unpin } from '../src/dataplane/program.js';
import { BPF_MAP_TYPE, closeFd, createMap, objPin } from '../src/dataplane/libbpf.js';
import { FlowSide } from '../src/model/map-types.js';
import { loadRouteRev } from '../src/routes/load-rev.js';
import { routeId } from '../src/routes/route-model.js';
import type { MetricName } from '../src/model/metrics.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUTES = [
  { name: 'hello', path: '/hello', backends: ['10.1.0.1:8080', '10.1.0.2:8080', '10.1.0.3:8080'] },
  { name: 'bytes', path: '/bytes/1048576', backends: ['10.1.1.1:8080'] },
  { name: 'drip', path: '/drip', backends: ['10.1.1.2:8080'] },
  { name: 'keep', path: '/k', backends: ['10.1.2.1:8080'] },
  { name: 'size', path: '/size', backends: ['10.1.3.1:8080'] },
  { name: 'refused', path: '/refused', backends: ['10.1.4.1:9999'] },
];

interface World {
  net: LbNet;
  backends: Backends;
  repo: TestRepo;
  pinDir: string;
  stateDir: string;
  run: RautaProc;
  cleanup: () => Promise<void>;
}

let world: World | null = null;
const skip = bpfUnavailableReason();

function startRun(w: Pick<World, 'net' | 'repo' | 'pinDir' | 'stateDir'>): RautaProc {
  return spawnNodeRun(w.net, { repo: w.repo.dir, pinDir: w.pinDir, stateDir: w.stateDir }, { http: true });
}

/** Wait until the run has applied the repository's head commit. */
async function applied(run: RautaProc, commit: string): Promise<void> {
  await run.waitLine((l) => l.msg === 'applied' && l.commit === commit, `applied ${commit.slice(0, 12)}`);
}

function counters(): Record<MetricName, number> {
  const p = openPinned(world!.pinDir);
  try {
    return p.typed.readMetrics();
  } finally {
    p.close();
  }
}

/** Client sides in FLOW_CACHE (connections), backend sides, saved requests. */
function flowState(): { clients: number; backends: number; requests: number } {
  const p = openPinned(world!.pinDir);
  try {
    const sides = [...p.typed.flowCache.entries()].map(([, v]) => v.side);
    return {
      clients: sides.filter((s) => s === FlowSide.CLIENT).length,
      backends: sides.filter((s) => s === FlowSide.BACKEND).length,
      requests: [...p.typed.requests.keys()].length,
    };
  } finally {
    p.close();
  }
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('real connections through the VIP', { skip: skip && !bpfRequired() ? `BPF unavailable: ${skip}` : false }, () => {
  before(async () => {
    if (skip) throw new Error(`BPF required (RAUTA_REQUIRE_BPF=1) but unavailable: ${skip}`);
    const tmp = tempDir('conn');
    const net = createLbNet();
    let backends: Backends | null = null;
    let run: RautaProc | null = null;
    const pinDir = `/sys/fs/bpf/rauta-conn-${net.name}`;
    const cleanup = async () => {
      await run?.stop();
      await world?.run.stop();
      await backends?.stop();
      net.destroy();
      unpin(pinDir);
      tmp.cleanup();
    };
    try {
      backends = await startBackends(net, [8080]);
      const repo = TestRepo.init(`${tmp.dir}/repo`);
      repo.write('routes/listeners.yaml', listenerYaml('web', VIP, 80) + listenerYaml('alt', VIP, 8080));
      repo.write('routes/app.yaml', routeYaml(ROUTES));
      const head = repo.commit('routes for the connection tests');
      const stateDir = `${tmp.dir}/state`;
      run = startRun({ net, repo, pinDir, stateDir });
      await applied(run, head);
      world = { net, backends, repo, pinDir, stateDir, run, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
  after(async () => {
    await world?.cleanup();
  });

  test('curl through the VIP reaches a backend of the route; an unknown path gets 404 at once', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await curl(world!.net, ['-w', '\n%{http_code}', `http://${VIP}/hello`]);
      assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      const [body, status] = [lines[0], lines.at(-1)];
      assert.equal(status, '200');
      const m = /^backend (\S+) GET \/hello$/.exec(body!);
      assert.ok(m && ROUTES[0]!.backends.includes(m[1]!), `the answer names a backend of /hello: ${body}`);
      seen.add(m![1]!);
    }
    assert.ok(seen.size >= 2, `30 connections over 3 equal backends reach at least two, got ${[...seen]}`);
    const nope = await curl(world!.net, ['-w', '%{http_code}', '-o', '/dev/null', `http://${VIP}/nope`]);
    assert.deepEqual([nope.code, nope.stdout], [0, '404'], 'no route: 404 built by the data path');
  });

  test('a 1 MB response is byte-identical to a direct fetch from the backend', async () => {
    const through = await inNs(world!.net.clientNs, 'sh', ['-c', `curl -sS -m 30 http://${VIP}/bytes/1048576 | sha256sum`]);
    const direct = await inNs(world!.net.backendNs, 'sh', ['-c', 'curl -sS -m 30 http://10.1.1.1:8080/bytes/1048576 | sha256sum']);
    assert.equal(through.code, 0, through.stderr);
    assert.equal(direct.code, 0, direct.stderr);
    const expected = sha(Buffer.from(Array.from({ length: 1048576 }, (_, i) => i & 255)));
    assert.equal(direct.stdout.split(' ')[0], expected, 'the direct fetch is the known pattern');
    assert.equal(through.stdout.split(' ')[0], expected, 'through the VIP: the same bytes');
  });

  test('requests of 100, 700 and 1,400 bytes complete with zero TCP retransmissions', async () => {
    const fixed = `GET /size HTTP/1.1\r\nHost: ${VIP}\r\nX-Pad: \r\n\r\n`.length;
    const before = await clientTcpCounters(world!.net);
    for (const size of [100, 700, 1400]) {
      const pad = 'p'.repeat(size - fixed);
      const r = await curl(world!.net, [
        '-w',
        '%{http_code} %{size_request}',
        '-o',
        '/dev/null',
        '-H',
        'User-Agent:',
        '-H',
        'Accept:',
        '-H',
        `X-Pad: ${pad}`,
        `http://${VIP}/size`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `200 ${size}`, `a ${size}-byte request is answered`);
    }
    const after = await clientTcpCounters(world!.net);
    assert.equal((after.TcpRetransSegs ?? 0) - (before.TcpRetransSegs ?? 0), 0, 'no segment was retransmitted in the client namespace');
  });

  test('200 connections, 20 at a time, all complete; then no flow state is left', async () => {
    const before = counters();
    const urls = Array.from({ length: 200 }, (_, i) => `http://${VIP}/hello?i=${i}`);
    const r = await curl(world!.net, [
      '--parallel',
      '--parallel-max',
      '20',
      '-H',
      'Connection: close',
      '-w',
      '%{http_code}\n',
      '-o',
      '/dev/null',
      ...urls.flatMap((u) => [u, '-o', '/dev/null']),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const codes = r.stdout.trim().split('\n');
    assert.equal(codes.length, 200);
    assert.deepEqual([...new Set(codes)], ['200'], 'every connection answered 200');
    const after = counters();
    assert.equal(after.ROUTED - before.ROUTED, 200, 'one backend connection per client connection');
    const left = await until(async () => {
      const s = flowState();
      return s.clients + s.backends + s.requests === 0 ? s : null;
    }, 'the flows to be removed as the connections close');
    assert.deepEqual(left, { clients: 0, backends: 0, requests: 0 });
  });

  test('a backend that refuses the connection: the client gets a RST at once', async () => {
    const before = counters();
    const r = await curl(world!.net, [`http://${VIP}/refused`]);
    assert.equal(r.code, 56, `curl: connection reset (exit 56), not a timeout: exit ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /reset/i);
    assert.equal(counters().BACKEND_REFUSED - before.BACKEND_REFUSED, 1);
  });

  test('a backend still holding a TIME_WAIT for the client port (reached through the other listener) gets the new connection', async (t) => {
    const before = counters();
    for (let i = 0; i < 8; i++) {
      // below the ephemeral range (32768-60999): no other connection of the client holds it
      const localPort = String(22000 + i);
      const get = (vipPort: string) => inNs(world!.net.clientNs, 'python3', ['test/fixtures/port-get.py', VIP, vipPort, '/size', localPort]);
      // The backend closes first (Connection: close): it keeps a TIME_WAIT for client:port <-> backend.
      const first = await get('8080');
      assert.deepEqual([first.code, first.stdout.trim()], [0, '200'], `through :8080 from port ${localPort}: ${first.stderr}`);
      // The same client port through :80: another client 4-tuple (another ISN), the same backend 4-tuple.
      const second = await get('80');
      assert.deepEqual(
        [second.code, second.stdout.trim()],
        [0, '200'],
        `through :80 from port ${localPort} (the backend's TIME_WAIT must not hang it): ${second.stderr}`,
      );
    }
    const stale = counters().BACKEND_STALE_ACK - before.BACKEND_STALE_ACK;
    t.diagnostic(`backend_stale_ack: ${stale} of 8 (each is a TIME_WAIT that refused our SYN and was cleared by a RST)`);
  });

  test('a keep-alive connection keeps its backend through a commit that moves its route; new connections go to the new one', async () => {
    const client = spawn('ip', ['netns', 'exec', world!.net.clientNs, process.execPath, 'test/fixtures/keepalive-client.mjs', VIP, '80'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const answers = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
    const ask = async (line: string) => {
      client.stdin!.write(`${line}\n`);
      const next = await answers.next();
      assert.ok(!next.done, 'the keep-alive client answered');
      return JSON.parse(next.value as string) as { status: number; backend: string; localPort: number };
    };
    try {
      const first = await ask('GET /k');
      assert.deepEqual([first.status, first.backend], [200, '10.1.2.1:8080'], "before the commit: the route's one backend");
      world!.repo.write('routes/app.yaml', routeYaml(ROUTES.map((r) => (r.name === 'keep' ? { ...r, backends: ['10.1.2.2:8080'] } : r))));
      const moved = world!.repo.commit('move /k to 10.1.2.2');
      await applied(world!.run, moved);
      const fresh = await curl(world!.net, [`http://${VIP}/k`]);
      assert.equal(fresh.stdout.trim(), 'backend 10.1.2.2:8080 GET /k', 'a new connection goes to the new backend');
      const second = await ask('GET /k');
      assert.deepEqual(
        [second.status, second.backend, second.localPort],
        [200, '10.1.2.1:8080', first.localPort],
        'the open connection stays on its backend (the same connection: same local port)',
      );
    } finally {
      client.stdin!.end();
      client.kill();
    }
  });

  test('10,000 SYNs from random sources are answered with cookies and leave no flow state', async () => {
    const before = counters();
    const nodeMac = (JSON.parse((await inNs(world!.net.nodeNs, 'ip', ['-j', 'link', 'show', world!.net.nodeIf])).stdout) as Array<{ address: string }>)[0]!
      .address;
    const sent = await inNs(world!.net.clientNs, 'python3', ['test/fixtures/syn-flood.py', world!.net.clientIf, nodeMac, VIP, '80', '10000']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout.trim(), '10000');
    const answered = await until(async () => {
      const n = counters().SYN_COOKIE - before.SYN_COOKIE;
      return n >= 10000 ? n : null;
    }, 'the XDP program to answer all 10,000 SYNs');
    assert.equal(answered, 10000, 'every SYN answered with a cookie');
    assert.deepEqual(flowState(), { clients: 0, backends: 0, requests: 0 }, 'a SYN costs no state');
  });

  test('an open connection downloading a large body survives a restart of rauta run', async () => {
    const total = 2_000_000;
    const download = inNs(world!.net.clientNs, 'sh', ['-c', `curl -sS -m 60 'http://${VIP}/drip?bytes=${total}&ms=3' | sha256sum`]);
    // the download is under way: its flow is established
    await until(async () => (flowState().clients > 0 ? true : null), 'the download to open its connection');
    const stopped = await world!.run.stop('SIGTERM');
    assert.equal(stopped, 0, 'rauta run stops cleanly; the programs stay attached');
    world!.run = startRun(world!);
    await world!.run.waitLine((l) => l.msg === 'agent started', 'agent started after the restart');
    const r = await download;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], sha(Buffer.from(Array.from({ length: total }, (_, i) => i & 255))), 'the whole body arrived, byte for byte');
  });

  test('an upgrade that replaces the route maps: the old program routes until the new agent has applied, then the new one is attached', async () => {
    const w = world!;
    const attachedId = async () => {
      const r = await inNs(w.net.nodeNs, 'ip', ['-j', 'link', 'show', 'dev', w.net.nodeIf]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as Array<{ xdp?: { prog?: { id: number } } }>)[0]?.xdp?.prog?.id ?? null;
    };
    const oldId = await attachedId();
    assert.ok(oldId, 'a program is attached before the upgrade');
    assert.equal(await w.run.stop('SIGTERM'), 0, 'rauta run stops cleanly; the program stays attached');
    // What an older rauta left pinned: ROUTES with a 16-byte key. The attached
    // program still holds its own ROUTES, so it keeps routing; only the pin changes.
    rmSync(join(w.pinDir, 'routes'));
    const old = createMap(BPF_MAP_TYPE.HASH, 'routes', 16, 264, 4096);
    try {
      objPin(old, join(w.pinDir, 'routes'));
    } finally {
      closeFd(old);
    }
    // New connections all through the upgrade: each must reach a backend of /hello.
    let curling = true;
    const failures: string[] = [];
    let answered = 0;
    const loop = (async () => {
      while (curling) {
        const r = await curl(w.net, ['-w', '\n%{http_code}', `http://${VIP}/hello`]);
        if (r.code !== 0 || r.stdout.trim().split('\n').at(-1) !== '200') failures.push(`exit ${r.code} ${r.stdout} ${r.stderr}`);
        else answered++;
      }
    })();
    try {
      w.run = startRun(w);
      const warned = await w.run.waitLine((l) => /^upgrade: the new maps start empty/.test(l.msg), 'the upgrade warning');
      const applied = await w.run.waitLine((l) => l.msg === 'applied' && l.commit === w.repo.head(), 'the head applied into the new maps');
      const attached = await w.run.waitLine((l) => /^XDP attached/.test(l.msg), 'the new program attached');
      const at = (l: object) => w.run.lines.indexOf(l as (typeof w.run.lines)[number]);
      assert.ok(at(warned) < at(applied) && at(applied) < at(attached), 'attached only after the full state was applied into the new maps');
      const newId = await attachedId();
      assert.ok(newId !== null && newId !== oldId, `a new program is attached (was ${oldId}, now ${newId})`);
      const after = answered;
      await until(async () => (answered >= after + 5 ? true : null), 'five connections through the new program');
    } finally {
      curling = false;
      await loop;
    }
    assert.deepEqual(failures, [], `every connection during the upgrade was answered (${answered} were)`);
    const p = openPinned(w.pinDir);
    try {
      assert.ok([...p.typed.routes.keys()].length >= ROUTES.length, 'the new ROUTES holds the routes');
    } finally {
      p.close();
    }
  });
});

describe('the demo routes (examples/repo) through the VIP', { skip: skip && !bpfRequired() ? `BPF unavailable: ${skip}` : false }, () => {
  let demo: { net: LbNet; backends: Backends; run: RautaProc; repoDir: string; cleanup: () => Promise<void> } | null = null;
  before(async () => {
    if (skip) throw new Error(`BPF required (RAUTA_REQUIRE_BPF=1) but unavailable: ${skip}`);
    const tmp = tempDir('conn-demo');
    const net = createLbNet();
    const pinDir = `/sys/fs/bpf/rauta-conn-${net.name}`;
    let backends: Backends | null = null;
    let run: RautaProc | null = null;
    const cleanup = async () => {
      await run?.stop();
      await backends?.stop();
      net.destroy();
      unpin(pinDir);
      tmp.cleanup();
    };
    try {
      backends = await startBackends(net, [8080, 8443]);
      const repoDir = `${tmp.dir}/demo-repo`;
      const made = await inNs(net.nodeNs, 'bash', ['scripts/demo-repo.sh', repoDir]);
      assert.equal(made.code, 0, made.stderr);
      const head = (await inNs(net.nodeNs, 'git', ['-C', repoDir, 'rev-parse', 'HEAD'])).stdout.trim();
      run = spawnRauta(
        'rauta run',
        ['run', '--repo', repoDir, '--iface', net.nodeIf, '--pin-dir', pinDir, '--state-dir', `${tmp.dir}/state`, '--http', '127.0.0.1:0', '--node', net.name],
        { netns: net.nodeNs },
      );
      await applied(run, head);
      demo = { net, backends, run, repoDir, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
  after(async () => {
    await demo?.cleanup();
  });

  test('curl for every demo route, on every listener, reaches a backend of that route', async () => {
    const { result } = await loadRouteRev({ repo: demo!.repoDir, ref: 'HEAD', root: '' });
    assert.deepEqual(result.issues, []);
    assert.ok(
      result.routes.length >= 20 && result.listeners.length === 2,
      `the demo has its routes and listeners: ${result.routes.length}, ${result.listeners.length}`,
    );
    for (const l of result.listeners) {
      for (const route of result.routes) {
        const live = route.backends.filter((b) => b.weight > 0).map((b) => `${b.ip}:${b.port}`);
        const method = route.method ?? 'GET';
        const args = method === 'HEAD' ? ['-I'] : ['-X', method, '-D', '-', '-o', '/dev/null'];
        // a prefix rule gets a request below it, a host rule its Host (a wildcard: one label of ours)
        const path = route.pathType === 'PathPrefix' ? `${route.path.replace(/\/$/, '')}/below/it` : route.path;
        const host = route.host ? ['-H', `Host: ${route.host.replace(/^\*/, 'acme')}`] : [];
        const r = await curl(demo!.net, [...args, ...host, `http://${l.address}:${l.port}${path}`]);
        const what = `${routeId(route)} (${method} ${host[1] ?? ''} ${path}) on ${l.port}`;
        assert.equal(r.code, 0, `${what}: curl exit ${r.code} ${r.stderr}`);
        assert.match(r.stdout, /^HTTP\/1\.1 200 /, `${what}: 200`);
        const backend = /x-backend: (\S+)/i.exec(r.stdout)?.[1];
        assert.ok(backend && live.includes(backend), `${what} went to ${backend}, one of ${live.join(', ')}`);
      }
    }
  });
});
