// `rauta probe` through the real CLI against a real program pinned in a unique
// dir: a connection opened through the program (SYN, cookie, request), routed
// with the backend and MAC, answers built in place with their reason from the
// METRICS delta, and --at an older revision built in a scratch pin dir that is gone
// afterwards, leaving the live maps as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { applyPlan } from '../src/dataplane/apply.js';
import { dumpPlanMaps } from '../src/dataplane/read-back.js';
import { emptyAppliedState, planChanges } from '../src/plan/plan.js';
import { runProbe, type ProbeCliOptions, type ProbeResult } from '../src/cli/probe.js';
import { loadRouteRev } from '../src/routes/load-rev.js';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { loadTestProgram, macFor } from './fixtures/agent-routes.js';

const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));

function rauta(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function parse(r: { code: number; stdout: string; stderr: string }): ProbeResult & { at?: { rev: string; commit: string } } {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`probe printed no JSON (exit ${r.code}); stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

async function inProcess(method: string, path: string, opts: ProbeCliOptions): Promise<ProbeResult> {
  let out = '';
  const code = await runProbe(method, path, { ...opts, json: true }, (s) => (out += s));
  const r = JSON.parse(out) as ProbeResult;
  assert.equal(code, r.result === 'routed' ? 0 : 1, 'exit 0 when routed, 1 otherwise');
  return r;
}

const scratchDirs = () =>
  readdirSync('/sys/fs/bpf')
    .filter((d) => d.startsWith('rauta-probe-'))
    .sort();

test('probe: routed to the backend, answers in place with their reason, and --at an older revision', async (t) => {
  const tmp = tempDir('probe');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80) + listenerYaml('alt', '10.0.0.10', 8080));
  repo.write('routes/app.yaml', routeYaml([{ name: 'users', path: '/api/users', backends: ['10.1.1.1:8080'] }]));
  const v1 = repo.commit('users on 10.1.1.1');
  repo.write(
    'routes/app.yaml',
    routeYaml([
      { name: 'users', path: '/api/users', backends: ['10.1.1.2:8080'] },
      { name: 'cart', method: 'POST', path: '/api/cart', backends: ['10.1.3.1:8080', '10.1.3.2:8080', '10.1.3.3:8080'] },
      { name: 'lonely', path: '/lonely', backends: ['10.1.9.9:8080'] },
      { name: 'shop', method: null, host: 'shop.example.com', type: 'PathPrefix', path: '/', backends: ['10.1.4.1:8080'] },
      { name: 'shop-static', method: null, host: '*.example.com', type: 'PathPrefix', path: '/static/', backends: ['10.1.4.2:8080'] },
    ]),
  );
  const v2 = repo.commit('users moved to 10.1.1.2, cart and lonely added');
  repo.write('routes/app.yaml', routeYaml([{ name: 'users', path: '/api/users', backends: ['10.1.1.1:99999'] }]));
  const bad = repo.commit('invalid port');

  // The live node holds v2; 10.1.9.9 has no neighbour (no NEXTHOPS entry).
  const prog = loadTestProgram(t, 'probe');
  if (!prog) return;
  const live = await loadRouteRev({ repo: repo.dir, ref: v2, root: 'routes' });
  assert.deepEqual(live.result.issues, []);
  const macs: Record<string, string> = {};
  for (const r of live.result.routes) for (const b of r.backends) if (b.ip !== '10.1.9.9') macs[b.ip] = macFor(b.ip);
  applyPlan(prog.typed, planChanges(emptyAppliedState(), { routes: live.result.routes, listeners: live.result.listeners, nexthops: macs }).ops);
  const pin = ['--pin-dir', prog.pinDir];

  const users = await rauta('probe', 'GET', '/api/users', ...pin, '--json');
  assert.equal(users.code, 0, `a routed probe exits 0; stderr:\n${users.stderr}`);
  const u = parse(users);
  assert.equal(u.result, 'routed');
  assert.equal(u.backend, '10.1.1.2:8080');
  assert.equal(u.mac, macFor('10.1.1.2'));
  assert.equal(u.backendIndex, 0);
  assert.equal(u.request.listener, '10.0.0.10:80', 'default listener: the first of the applied state');
  assert.equal(u.request.host, '10.0.0.10', 'default Host: the listener address, as curl sends it');
  assert.equal(u.route?.rule, 'GET /api/users');
  assert.deepEqual(u.counters, { TOTAL: 2, SYN_COOKIE: 1, ROUTED: 1 }, 'two packets: the SYN answered with a cookie, the request routed');
  assert.deepEqual([...prog.typed.flowCache.keys()], [], 'the probe removed its flow, both sides');

  // Different clients land on the cart route's backends by Maglev; each answer names a backend of the route.
  const seen = new Set<string>();
  for (const port of [41001, 41002, 41003, 41004, 41005, 41006]) {
    const c = await inProcess('POST', '/api/cart?x=1', { pinDir: prog.pinDir, client: `10.9.0.1:${port}`, listener: '10.0.0.10:8080' });
    assert.equal(c.result, 'routed', JSON.stringify(c));
    assert.equal(c.route?.backends[c.backendIndex!], c.backend, 'the backend index points at the backend the SYN went to');
    seen.add(c.backend!);
  }
  assert.ok(seen.size >= 2, `six clients over three equal backends should reach at least two; got ${[...seen]}`);

  const cases: Array<[string, ProbeCliOptions, ProbeResult['result'], number | null, string]> = [
    ['/api/users', { listener: '10.0.0.99:80' }, 'other', null, 'pass_not_listener'],
    ['/lonely', {}, 'reply', 503, 'reply_no_nexthop'],
  ];
  for (const [path, opts, result, status, reason] of cases) {
    const p = await inProcess('GET', path, { pinDir: prog.pinDir, ...opts });
    assert.deepEqual([p.result, p.status, p.reason], [result, status, reason], `GET ${path}: ${JSON.stringify(p)}`);
  }
  // --host: the rule is named from the key the flow recorded
  const hosts: Array<[string, string, string, string]> = [
    ['/api/users', 'shop.example.com', 'ANY shop.example.com/ prefix', '10.1.4.1:8080'],
    ['/static/app.css', 'IMG.example.com:8443', 'ANY *.example.com/static prefix', '10.1.4.2:8080'],
    ['/static/app.css', 'shop.example.com', 'ANY shop.example.com/ prefix', '10.1.4.1:8080'],
    ['/api/users', 'a.b.example.com', 'GET /api/users', '10.1.1.2:8080'],
  ];
  for (const [path, host, rule, backend] of hosts) {
    const p = await inProcess('GET', path, { pinDir: prog.pinDir, host });
    assert.deepEqual([p.result, p.route?.rule, p.backend], ['routed', rule, backend], `GET ${path} Host ${host}: ${JSON.stringify(p)}`);
  }
  const text = await rauta('probe', 'GET', '/static/x', '--host', 'cdn.example.com', ...pin);
  assert.match(text.stdout, /^GET cdn\.example\.com\/static\/x from .*: matched ANY \*\.example\.com\/static prefix, routed to 10\.1\.4\.2:8080 /);
  const missing = await rauta('probe', 'GET', '/missing', ...pin);
  assert.equal(missing.code, 1, `an unrouted probe exits 1; stderr:\n${missing.stderr}`);
  assert.match(missing.stdout, /answered in place with 404 \(reply_no_route: no rule matches this method, host and path\)/);
  assert.deepEqual([...prog.typed.flowCache.keys()], [], 'a probe answered in place leaves no flow either');

  // --at v1: where GET /api/users went at the first commit, without touching the live maps.
  const before = dumpPlanMaps(prog.typed);
  const dirsBefore = scratchDirs();
  const atV1 = await rauta('probe', 'GET', '/api/users', '--at', v1, '--repo', repo.dir, '--root', 'routes', ...pin, '--json');
  assert.equal(atV1.code, 0, `probe --at v1; stderr:\n${atV1.stderr}`);
  const a = parse(atV1);
  assert.equal(a.backend, '10.1.1.1:8080', 'at v1 the route pointed at 10.1.1.1');
  assert.match(a.mac ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, '10.1.1.1 is not in the live NEXTHOPS: its MAC is resolved or a stand-in');
  assert.equal(a.at?.commit, v1);
  const cartAtV2 = parse(await rauta('probe', 'POST', '/api/cart', '--at', v2, '--repo', repo.dir, '--root', 'routes', ...pin, '--json'));
  assert.equal(cartAtV2.mac, macFor(cartAtV2.backend!.split(':')[0]!), 'a backend the live node knows keeps its live NEXTHOPS MAC under --at');
  const cartAtV1 = await rauta('probe', 'POST', '/api/cart', '--at', `${v2}~1`, '--repo', repo.dir, '--root', 'routes', ...pin, '--json');
  assert.equal(parse(cartAtV1).reason, 'reply_no_route', 'the cart route did not exist before v2');
  assert.deepEqual(dumpPlanMaps(prog.typed), before, '--at leaves the live maps as they were');
  assert.deepEqual(scratchDirs(), dirsBefore, 'the scratch pin dir is removed');
  assert.equal(parse(await rauta('probe', 'GET', '/api/users', ...pin, '--json')).backend, '10.1.1.2:8080', 'live answer unchanged');

  const invalid = await rauta('probe', 'GET', '/api/users', '--at', bad, '--repo', repo.dir, '--root', 'routes', ...pin);
  assert.equal(invalid.code, 2, `an invalid revision exits 2; stderr:\n${invalid.stderr}`);
  assert.match(invalid.stderr, /routes\/app\.yaml:\d+:\d+: /, invalid.stderr);

  const nothing = await rauta('probe', 'GET', '/api/users', '--pin-dir', `${prog.pinDir}-absent`);
  assert.equal(nothing.code, 2, 'no pinned program is an environment error');
  assert.match(nothing.stderr, /no rauta program is pinned/);
  const usage = await rauta('probe', 'FETCH', '/x', ...pin);
  assert.equal(usage.code, 2);
});
