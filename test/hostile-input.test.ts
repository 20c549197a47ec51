// The hostile-input suite (issue 12, "Hardening"): what a commit, a caller or a
// second process did that wedged a node or leaked a secret, one case per finding,
// each failing on the code before the fix. Most cases drive the real command
// (bin/rauta.js in a child process) or the public entry points a watcher uses,
// so they read as the attack did. Every case gets its own temp dir, pin dir,
// port, Redis and interface names, and removes them even when it fails.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { NodeRegistry, type NodeRecord } from '../src/cluster/node-registry.js';
import { mapInfo } from '../src/dataplane/libbpf.js';
import { loadRauta, openPinned, unpin } from '../src/dataplane/program.js';
import { openEventLog, type EventLog } from '../src/events/event-log.js';
import type { RautaEvent } from '../src/routes/route-events.js';
import { processNewCommits } from '../src/git/process-commits.js';
import { createWebhookHandler, signBody, WEBHOOK_PATH } from '../src/git/webhook.js';
import { parseRouteFile } from '../src/routes/parse-file.js';
import { needBpf } from '../testbed/bpf-env.js';
import { startGitHttpServer } from './helpers/git-http-server.js';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { runRauta, spawnRauta, until, type RautaProc } from '../testbed/multinode-cluster.js';
import { uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';

const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));

/** A temp dir for this test, removed after it. */
function scratch(t: TestContext, name: string): string {
  const tmp = tempDir(`hostile-${name}`);
  t.after(tmp.cleanup);
  return tmp.dir;
}

/** Every event of a log. */
async function allEvents(log: EventLog): Promise<RautaEvent[]> {
  return log.read(1, 1_000_000);
}

/** Spawned rauta children are stopped after the test, whatever happened (register before anything they use). */
function procs(t: TestContext): RautaProc[] {
  const list: RautaProc[] = [];
  t.after(async () => {
    for (const p of list) if (p.running) p.child.kill('SIGKILL');
    await Promise.all(list.map((p) => p.exited));
  });
  return list;
}

/** A pin dir on bpffs, unpinned after the test. */
function pinDirFor(t: TestContext, name: string): string {
  const dir = `/sys/fs/bpf/rauta-hostile-${name}-${uniqueSuffix()}`;
  t.after(() => unpin(dir));
  return dir;
}

/** `rauta run` on a repository (path or URL) with its own pin and state dirs, HTTP on a free port. */
function runArgs(repo: string, pinDir: string, stateDir: string): string[] {
  return ['run', '--repo', repo, '--pin-dir', pinDir, '--state-dir', stateDir, '--http', '127.0.0.1:0', '--gateway-mac', '02:00:00:00:00:01'];
}

/** Runs bin/rauta.js; a hang guard kills it after `guardMs` (the case then fails on `timedOut`, not on a time). */
function rautaGuarded(
  args: string[],
  opts: { env?: Record<string, string>; guardMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, RAUTA_LOG_FORMAT: 'json', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-200_000)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.guardMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

// ---- 1. one commit must not stop the log -----------------------------------------------------

test('1. a commit of 40 one-MiB plain-text files is one small CommitRejected, and the fix after it is processed', async (t) => {
  const dir = scratch(t, 'huge-reject');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('ok.yaml', routeYaml([{ name: 'ok', path: '/ok', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a good route');
  const mib = 'x'.repeat(1024 * 1024 - 1);
  for (let i = 0; i < 40; i++) repo.write(`junk/${String(i).padStart(2, '0')}.yaml`, `${mib}${i % 10}`);
  const bad = repo.commit('40 files of plain text');
  const log = await openEventLog(join(dir, 'events.log'), { writer: true });
  t.after(() => log.close());

  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  const rejected = (await allEvents(log)).find((e) => e.commit === bad);
  assert.equal(rejected?.type, 'CommitRejected', 'the junk commit is rejected');
  const bytes = Buffer.byteLength(JSON.stringify(rejected));
  assert.ok(bytes < 64 * 1024, `the CommitRejected record is ${bytes} bytes (it was 41 MB, over the 16 MiB frame limit)`);
  assert.equal(rejected.type === 'CommitRejected' && rejected.errors.length, 40, 'one error per file');
  for (const e of rejected.type === 'CommitRejected' ? rejected.errors : []) {
    assert.ok(e.message.length <= 400, `a message quotes a short prefix, not the value: ${e.message.length} characters`);
  }

  // The fix is processed: the log did not stop at the junk commit.
  repo.git('rm', '-rq', 'junk');
  const fix = repo.commit('remove the junk');
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  const marker = await log.lastCommitMarker();
  assert.deepEqual([marker?.type, marker?.commit], ['CommitAccepted', fix], 'the fix after the junk commit is accepted');
});

test('1. a commit with 500 invalid files keeps the first 100 errors and counts the rest', async (t) => {
  const dir = scratch(t, 'many-errors');
  const repo = TestRepo.init(join(dir, 'repo'));
  for (let i = 0; i < 500; i++) repo.write(`bad/${String(i).padStart(3, '0')}.yaml`, 'kind: Nonsense\n');
  const sha = repo.commit('500 bad files');
  const log = await openEventLog(join(dir, 'events.log'), { writer: true });
  t.after(() => log.close());
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  const rejected = (await allEvents(log)).find((e) => e.commit === sha) as Extract<RautaEvent, { type: 'CommitRejected' }> & { more?: number };
  assert.equal(rejected.type, 'CommitRejected');
  assert.deepEqual([rejected.errors.length, rejected.more], [100, 400], 'the first 100 errors, and how many more');
});

// ---- 2. capacity is validity -----------------------------------------------------------------

const listeners = (n: number): string =>
  Array.from({ length: n }, (_, i) => listenerYaml(`l${i}`, `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}`, 80)).join('');

test('2. 300 listeners (LISTENERS holds 256) fail validate and are CommitRejected naming the limit and the count', async (t) => {
  const dir = scratch(t, 'capacity');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('listeners.yaml', listeners(300));
  const sha = repo.commit('300 listeners');

  const v = await runRauta(['validate', repo.dir]);
  assert.equal(v.code, 1, `validate: over capacity is invalid\n${v.stdout}${v.stderr}`);
  assert.match(v.stdout, /300 listeners.*capacity of 256/, v.stdout);

  const log = await openEventLog(join(dir, 'events.log'), { writer: true });
  t.after(() => log.close());
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  const marker = await log.lastCommitMarker();
  assert.equal(marker?.type, 'CommitRejected', `the watcher rejects the commit ${sha}`);
  assert.match(JSON.stringify(marker), /300 listeners.*capacity of 256.*--max-listeners/);
});

test('2. distinct backend addresses and routes count against NEXTHOPS and ROUTES; --max-* raise or lower the limits', async (t) => {
  const dir = scratch(t, 'capacity-max');
  const routes = Array.from({ length: 5 }, (_, i) => ({ name: `r${i}`, path: `/r${i}`, backends: [`10.1.0.${i + 1}:8080`] }));
  writeFileSync(join(dir, 'routes.yaml'), routeYaml(routes));
  const over = await runRauta(['validate', dir, '--max-nexthops', '4']);
  assert.equal(over.code, 1, over.stdout + over.stderr);
  assert.match(over.stdout, /5 distinct backend addresses.*capacity of 4/, over.stdout);
  const routesOver = await runRauta(['validate', dir, '--max-routes', '4']);
  assert.match(routesOver.stdout, /routes\.yaml:\d+:1: the route set has 5 rules.*capacity of 4/, routesOver.stdout);
  assert.equal((await runRauta(['validate', dir, '--max-routes', '5', '--max-nexthops', '5'])).code, 0, 'at the limit is valid');
});

test('2. the agent loads its maps with the --max-* capacity (MAGLEV_TABLES twice the routes)', async (t) => {
  if (!needBpf(t)) return;
  const dir = scratch(t, 'capacity-maps');
  const children = procs(t);
  const pinDir = pinDirFor(t, 'cap');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  const run = spawnRauta('run', [...runArgs(repo.dir, pinDir, join(dir, 'state')), '--max-routes', '8', '--max-listeners', '4', '--max-nexthops', '16']);
  children.push(run);
  await run.waitLine((l) => l.msg === 'watching', 'run is watching');
  const prog = openPinned(pinDir);
  try {
    const max = (fd: number): number => mapInfo(fd).maxEntries;
    assert.deepEqual(
      [max(prog.maps.routes), max(prog.maps.maglev_tables), max(prog.maps.listeners), max(prog.maps.nexthops)],
      [8, 16, 4, 16],
      'routes, maglev_tables, listeners, nexthops',
    );
  } finally {
    prog.close();
  }
});

// ---- 3. one owner per pin directory ----------------------------------------------------------

test('3. a second process on the same pin dir exits 2 naming the owner; a dead owner is taken over', async (t) => {
  if (!needBpf(t)) return;
  const dir = scratch(t, 'pin-owner');
  const children = procs(t);
  const pinDir = pinDirFor(t, 'owner');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  const args = (state: string) => runArgs(repo.dir, pinDir, join(dir, state));

  const first = spawnRauta('first', args('state-1'));
  children.push(first);
  await first.waitLine((l) => l.msg === 'watching', 'the first run is watching');

  const second = await rautaGuarded(args('state-2'));
  assert.equal(second.timedOut, false, 'the second run does not start and keep running');
  assert.equal(second.code, 2, `the second run exits 2\n${second.stderr}`);
  assert.match(second.stderr, new RegExp(`owned by pid ${first.child.pid}\\b`), second.stderr);
  assert.match(second.stderr, /RAUTA_ERR_BPF_PIN_DIR_BUSY/);

  first.child.kill('SIGKILL');
  await first.exited;
  const third = spawnRauta('third', args('state-3'));
  children.push(third);
  await third.waitLine((l) => l.msg === 'watching', 'a run after the owner died takes the pin dir');
});

// ---- 4. git credentials never shown or stored ------------------------------------------------

test('4. a token in --repo never reaches /status, /healthz, the logs or the git cache; RAUTA_GIT_PASSWORD works without a URL token', async (t) => {
  if (!needBpf(t)) return;
  const dir = scratch(t, 'credentials');
  const children = procs(t);
  const token = `tok${uniqueSuffix()}SECRET`;
  const repo = TestRepo.init(join(dir, 'work'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  const sha = repo.commit('a');
  mkdirSync(join(dir, 'srv'));
  execFileSync('git', ['clone', '-q', '--bare', repo.dir, join(dir, 'srv', 'routes.git')]);
  // The server wants exactly user:token (Basic), like a Git host with a personal access token.
  const server = await startGitHttpServer(join(dir, 'srv'), undefined, { username: 'user', password: token });
  t.after(() => server.close());
  const withToken = server.url('routes.git').replace('http://', `http://user:${token}@`);

  for (const [label, repoArg, env] of [
    ['token in the URL', withToken, {}],
    ['RAUTA_GIT_PASSWORD', server.url('routes.git'), { RAUTA_GIT_USERNAME: 'user', RAUTA_GIT_PASSWORD: token }],
  ] as const) {
    const state = join(dir, `state-${children.length}`);
    const pinDir = pinDirFor(t, `cred${children.length}`);
    const run = spawnRauta(label, runArgs(repoArg, pinDir, state), { env });
    children.push(run);
    const url = (await run.waitLine((l) => l.msg === 'http listening', `${label}: http listening`)).url as string;
    await run.waitLine((l) => l.msg === 'applied' && l.commit === sha, `${label}: the fetched commit is applied (authentication worked)`);
    const status = await (await fetch(`${url}/status`)).text();
    const health = await (await fetch(`${url}/healthz`)).text();
    const config = readdirSync(join(state, 'git-cache'))
      .map((d) => readFileSync(join(state, 'git-cache', d, 'config'), 'utf8'))
      .join('\n');
    for (const [where, text] of [
      ['/status', status],
      ['/healthz', health],
      ['the logs', JSON.stringify(run.lines) + run.stderr],
      ['the git cache config', config],
    ]) {
      assert.ok(!text!.includes(token), `${label}: the token appears in ${where}:\n${text!.slice(0, 2000)}`);
    }
    assert.match(status, /"repo": "http:\/\/127\.0\.0\.1:\d+\/routes\.git"/, `${label}: /status shows the URL without credentials`);
    run.child.kill('SIGTERM');
    await run.exited;
  }
});

// ---- 5. --help prints no secret --------------------------------------------------------------

test('5. no --help prints a secret from the environment', async () => {
  const env = {
    RAUTA_REDIS_URL: 'redis://:REDISPW-help@10.9.9.9:6379',
    RAUTA_WEBHOOK_SECRET: 'HOOKSECRET-help',
    RAUTA_LOG: 'redis://:LOGPW-help@10.9.9.9:6379',
    RAUTA_GIT_PASSWORD: 'GITPW-help',
  };
  for (const cmd of [['validate'], ['log'], ['log', 'rebuild'], ['history'], ['plan'], ['probe'], ['run'], ['watch'], ['agent'], ['status']]) {
    const r = await runRauta([...cmd, '--help'], env);
    assert.equal(r.code, 0, `${cmd.join(' ')} --help: ${r.stderr}`);
    for (const secret of ['REDISPW-help', 'HOOKSECRET-help', 'LOGPW-help', 'GITPW-help']) {
      assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `rauta ${cmd.join(' ')} --help prints ${secret}:\n${r.stdout}`);
    }
  }
});

// ---- 6. validate FILE: no links followed, bounded reads, short echoes ------------------------

test('6. validate does not follow a link to /proc/self/environ or /dev/zero, and echoes only a prefix of junk', async (t) => {
  const dir = scratch(t, 'validate-file');
  const canary = `CANARY${uniqueSuffix()}`;
  symlinkSync('/proc/self/environ', join(dir, 'env.yaml'));
  const env = await rautaGuarded(['validate', join(dir, 'env.yaml')], { env: { HOSTILE_CANARY: canary } });
  assert.equal(env.code, 2, `a link is refused (exit 2)\n${env.stdout}${env.stderr}`);
  assert.ok(!(env.stdout + env.stderr).includes(canary), `the environment is printed:\n${env.stdout}${env.stderr}`);
  assert.match(env.stderr, /symbolic link/);

  symlinkSync('/dev/zero', join(dir, 'zero.yaml'));
  const zero = await rautaGuarded(['validate', join(dir, 'zero.yaml')], { guardMs: 20_000 });
  assert.equal(zero.timedOut, false, 'validate of a link to /dev/zero returns by itself (it read gigabytes before)');
  assert.equal(zero.code, 2, zero.stderr);

  execFileSync('mkfifo', [join(dir, 'fifo.yaml')]);
  const fifo = await rautaGuarded(['validate', join(dir, 'fifo.yaml')], { guardMs: 20_000 });
  assert.equal(fifo.timedOut, false, 'a FIFO is not waited on');
  assert.equal(fifo.code, 2, fifo.stderr);

  writeFileSync(join(dir, 'junk.yaml'), `${'y'.repeat(900 * 1024)}\n`);
  const junk = await rautaGuarded(['validate', join(dir, 'junk.yaml')]);
  assert.equal(junk.code, 1, junk.stderr);
  assert.ok(junk.stdout.length < 1024, `the output quotes a short prefix, not 900 KiB: ${junk.stdout.length} bytes`);
  assert.match(junk.stdout, /"y{20,60}…" \(921600 characters\)/, junk.stdout);
});

// ---- 7. the webhook: nothing is buffered for an unauthenticated or slow sender ---------------

/** Sends only the headers of a POST and resolves with the status line the server answers before any body byte is sent. */
function headersOnly(port: number, headers: Record<string, string>): Promise<{ status: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('error', reject);
    socket.on('data', (d) => {
      got += d.toString();
      const line = got.split('\r\n')[0];
      if (line && got.includes('\r\n')) resolve({ status: line, socket });
    });
    socket.write(
      `POST ${WEBHOOK_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')}\r\n`,
    );
  });
}

/** Resolves with the answer within guardMs, or 'no answer'. */
function answerOrNothing(p: Promise<{ status: string; socket: Socket }>, sockets: Socket[], guardMs = 5000): Promise<string> {
  return Promise.race([
    p.then(({ status, socket }) => {
      sockets.push(socket);
      return status;
    }),
    new Promise<string>((r) => setTimeout(() => r('no answer'), guardMs).unref()),
  ]);
}

test('7. webhook: refused from the headers before any body is read; at most a few bodies at once; a stalled body is cut off', async (t) => {
  let pushes = 0;
  const handler = createWebhookHandler({ secret: 'k', branch: 'main', onPush: () => pushes++, bodyTimeoutMs: 300, maxConcurrent: 4 } as Parameters<
    typeof createWebhookHandler
  >[0]);
  const server = http.createServer((req, res) => void handler(req, res).then((h) => (h ? undefined : res.writeHead(404).end())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sockets: Socket[] = [];
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  const MiB = String(1024 * 1024 - 10);

  // 300 unsigned senders that announce 1 MiB and never send it: each is answered 401 at once.
  const unsigned = await Promise.all(Array.from({ length: 300 }, () => answerOrNothing(headersOnly(port, { 'content-length': MiB }), sockets)));
  assert.deepEqual([...new Set(unsigned)], ['HTTP/1.1 401 Unauthorized'], 'every unsigned request is refused before its body');
  assert.equal(
    await answerOrNothing(headersOnly(port, { 'content-length': String(2 * 1024 * 1024), 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }), sockets),
    'HTTP/1.1 413 Payload Too Large',
    'an announced oversize body is refused before it is read',
  );

  // Signed-looking senders that trickle: four are read, the fifth is turned away unread...
  const slow = Array.from({ length: 4 }, () => headersOnly(port, { 'content-length': MiB, 'x-hub-signature-256': `sha256=${'1'.repeat(64)}` }));
  await new Promise((r) => setTimeout(r, 50)); // let the four reach the handler first (their answers come later, asserted below)
  assert.equal(
    await answerOrNothing(headersOnly(port, { 'content-length': MiB, 'x-hub-signature-256': `sha256=${'2'.repeat(64)}` }), sockets),
    'HTTP/1.1 503 Service Unavailable',
  );
  // ...and each of the four is cut off when its body does not arrive in time.
  const answers = await Promise.all(slow.map((p) => answerOrNothing(p, sockets)));
  assert.deepEqual([...new Set(answers)], ['HTTP/1.1 408 Request Timeout'], 'a stalled body is answered 408');
  assert.equal(pushes, 0, 'nothing refused triggered a fetch');

  // A real signed push still works.
  const body = JSON.stringify({ ref: 'refs/heads/main' });
  const ok = await fetch(`http://127.0.0.1:${port}${WEBHOOK_PATH}`, { method: 'POST', body, headers: { 'x-hub-signature-256': signBody('k', body) } });
  assert.equal(ok.status, 202);
  assert.equal(pushes, 1);
});

// ---- 8. monitoring holes ---------------------------------------------------------------------

function nodeRecord(node: string): NodeRecord {
  return {
    node,
    version: 'test',
    host: 'h',
    pid: 1,
    pinDir: null,
    iface: null,
    http: null,
    startedAt: new Date().toISOString(),
    lastSeen: new Date().toISOString(),
    state: 'ready',
    appliedSeq: 0,
    appliedCommit: null,
    headSeq: 0,
    lag: 0,
    lastError: null,
    lastApplyAt: null,
    lastRejected: null,
    consecutiveFailures: 0,
    jobs: 0,
  };
}

test('8. rauta status exits 1 when no node is live (every agent stale)', async (t) => {
  const server = await startRedisServer(t);
  const prefix = `rauta-hostile-${uniqueSuffix()}`;
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  t.after(() => redis.disconnect());
  const registry = new NodeRegistry(redis, prefix, 200); // a heartbeat that expires at once
  await registry.publish(nodeRecord('edge-1'));
  await until(async () => (await registry.list()).every((n) => !n.live), 'the node goes stale');
  const r = await runRauta(['status', '--redis', server.url, '--prefix', prefix]);
  assert.equal(r.code, 1, `no live node is a finding\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /no live node/);
});

test('8. an agent\'s /healthz is not "ok, lag 0" while Redis is down', async (t) => {
  if (!needBpf(t)) return;
  const dir = scratch(t, 'agent-redis-down');
  const children = procs(t);
  const server = await startRedisServer(t);
  const pinDir = pinDirFor(t, 'agentdown');
  const agent = spawnRauta('agent', [
    'agent',
    '--redis',
    server.url,
    '--prefix',
    `rauta-hostile-${uniqueSuffix()}`,
    '--node',
    'edge-x',
    '--pin-dir',
    pinDir,
    '--state-dir',
    dir,
    '--http',
    '127.0.0.1:0',
    '--gateway-mac',
    '02:00:00:00:00:01',
  ]);
  children.push(agent);
  const url = (await agent.waitLine((l) => l.msg === 'http listening', 'http listening')).url as string;
  await agent.waitLine((l) => l.msg === 'taking reconcile jobs', 'taking jobs');
  assert.equal((await fetch(`${url}/healthz`)).status, 200, 'healthy while Redis is up');
  await server.kill();
  const body = await until(async () => {
    const res = await fetch(`${url}/healthz`);
    return res.status === 503 ? ((await res.json()) as Record<string, unknown>) : null;
  }, '/healthz turns 503 after Redis went away');
  assert.equal(body.status, 'disconnected');
  assert.equal(body.lag, null, 'the lag is unknown, not 0');
  assert.match(String(body.error), /event log unreachable/);
  const status = await runRauta(['status', '--http', url]);
  assert.equal(status.code, 1, `rauta status --http of that node: failing, not on the head\n${status.stdout}${status.stderr}`);
  assert.match(status.stdout, /event log unreachable/);
});

test('8. rauta log and history take --prefix; a prefix without a log is an error naming the ones with a log', async (t) => {
  const server = await startRedisServer(t);
  const dir = scratch(t, 'log-prefix');
  const prefix = `rauta-hostile-${uniqueSuffix()}`;
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('route a');
  const log = await openEventLog(server.url, { writer: true, prefix });
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  await log.close();

  const listed = await runRauta(['log', '--log', server.url, '--prefix', prefix], { RAUTA_LOG: '' });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /RouteUpserted GET \/a/);
  const history = await runRauta(['history', 'a', '--log', server.url, '--prefix', prefix], { RAUTA_LOG: '' });
  assert.equal(history.code, 0, history.stderr);
  const other = await runRauta(['log', '--log', server.url], { RAUTA_LOG: '' });
  assert.equal(other.code, 2, `the default prefix has no log: an error, not an empty listing\n${other.stdout}${other.stderr}`);
  assert.ok(other.stderr.includes(`--prefix ${prefix}`), `names the prefix that has one: ${other.stderr}`);

  // A damaged Redis log (an entry gone) names the rebuild that works there too, and it works.
  const redis = new Redis(server.url);
  await redis.xdel(`${prefix}:events`, '1-0');
  redis.disconnect();
  const broken = await runRauta(['log', '--log', server.url, '--prefix', prefix], { RAUTA_LOG: '' });
  assert.equal(broken.code, 2, broken.stdout + broken.stderr);
  assert.ok(broken.stderr.includes(`--log ${server.url} --prefix ${prefix} --replace`), broken.stderr);
  const rebuilt = await runRauta(['log', 'rebuild', '--repo', repo.dir, '--log', server.url, '--prefix', prefix, '--replace'], { RAUTA_LOG: '' });
  assert.equal(rebuilt.code, 0, rebuilt.stdout + rebuilt.stderr);
  assert.equal((await runRauta(['log', '--log', server.url, '--prefix', prefix], { RAUTA_LOG: '' })).code, 0, 'the rebuilt log reads');
});

test('8. the watcher writes no stack trace outside its JSON log while Redis is down', async (t) => {
  const dir = scratch(t, 'watch-redis-down');
  const children = procs(t);
  const server = await startRedisServer(t);
  const prefix = `rauta-hostile-${uniqueSuffix()}`;
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  // A registered node, so the watcher has a job queue to wake it through.
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  await new NodeRegistry(redis, prefix, 600_000).publish(nodeRecord('edge-1'));
  redis.disconnect();
  const watch = spawnRauta('watch', [
    'watch',
    '--redis',
    server.url,
    '--prefix',
    prefix,
    '--repo',
    repo.dir,
    '--state-dir',
    join(dir, 'state'),
    '--poll',
    '0.2',
  ]);
  children.push(watch);
  await watch.waitLine((l) => l.msg === 'watching', 'watching');
  await until(
    async () => (await runRauta(['status', '--redis', server.url, '--prefix', prefix, '--json'])).stdout.includes('"head": 2') || null,
    'the commit is in the log',
  );
  await server.stop();
  const mark = watch.lines.length;
  for (let n = 1; n <= 5; n++)
    await watch.waitLine((l) => l.level >= 40 && watch.lines.indexOf(l) >= mark + n - 1, `warning ${n} during the outage`, mark + n - 1);
  assert.ok(!/\n\s+at /.test(watch.stderr), `stack traces on stderr:\n${watch.stderr.slice(0, 2000)}`);
  assert.equal(watch.stderr, '', 'nothing on stderr at all');
});

// ---- 9. wrong answers on odd input -----------------------------------------------------------

test('9. plan and validate on a bare repository say it has no working tree instead of "remove everything" / "valid"', async (t) => {
  const dir = scratch(t, 'bare');
  const repo = TestRepo.init(join(dir, 'work'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  const bare = join(dir, 'routes.git');
  execFileSync('git', ['clone', '-q', '--bare', repo.dir, bare]);
  const plan = await runRauta(['plan', '--repo', bare]);
  assert.equal(plan.code, 2, `plan --repo bare.git is a usage error, not a plan removing every route\n${plan.stdout}${plan.stderr}`);
  assert.match(plan.stderr, /bare repository.*--to/);
  const v = await runRauta(['validate', bare]);
  assert.equal(v.code, 2, `validate bare.git is not "valid"\n${v.stdout}${v.stderr}`);
  assert.match(v.stderr, /--rev/);
});

test('9. 1,000 levels of block nesting stop at the nesting check, with a 1-based line', () => {
  const text = `${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i * 2)}k${i}:`).join('\n')} x\n`;
  const parsed = parseRouteFile('deep.yaml', new TextEncoder().encode(text));
  assert.equal(parsed.issues.length, 1, JSON.stringify(parsed.issues));
  const [issue] = parsed.issues;
  assert.match(issue!.message, /nesting deeper than 64 levels/);
  assert.equal(issue!.line, 65, 'line 65 holds the 65th level (lines are 1-based)');
  const flow = parseRouteFile('flow.yaml', new TextEncoder().encode(`a:\n  b: ${'['.repeat(100)}`));
  assert.equal(flow.issues[0]?.line, 2, 'the flow case names line 2, where the brackets are');
});

test('9. control characters in file names and metadata.name are escaped: no forged line in validate or rauta log', async (t) => {
  const dir = scratch(t, 'control');
  const repo = TestRepo.init(join(dir, 'repo'));
  const forged = 'forged.yaml:1:1: all good';
  repo.write(`x\n${forged}\n.yaml`, 'kind: Nonsense\n');
  // YAML escapes: the name holds ESC [31m, a newline and the forged line.
  repo.write(
    'name.yaml',
    routeYaml([{ name: 'placeholder', path: '/a', backends: ['10.1.0.1:8080'] }]).replace('name: placeholder', `name: "evil\\e[31m\\n${forged}"`),
  );
  const sha = repo.commit(`subject\u001b]0;pwned\u0007\n`);
  const v = await runRauta(['validate', repo.dir]);
  assert.equal(v.code, 1, v.stdout + v.stderr);
  for (const line of v.stdout.split('\n')) assert.ok(!line.startsWith('forged.yaml'), `validate printed a forged line: ${JSON.stringify(line)}`);
  assert.ok(!v.stdout.includes('\u001b'), `validate printed a raw escape: ${JSON.stringify(v.stdout)}`);

  const logPath = join(dir, 'events.log');
  const log = await openEventLog(logPath, { writer: true });
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  await log.close();
  const listed = await runRauta(['log', '--log', logPath]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`${sha.slice(0, 12)}.*CommitRejected`));
  for (const line of listed.stdout.split('\n')) assert.ok(!/^\s*forged\.yaml/.test(line), `rauta log printed a forged line: ${JSON.stringify(line)}`);
  assert.ok(!/[\u0000-\u0008\u000b-\u001f]/.test(listed.stdout), `rauta log printed a raw control character: ${JSON.stringify(listed.stdout)}`);
});

test('9. `rauta log | head` ends quietly', async (t) => {
  const dir = scratch(t, 'epipe');
  const repo = TestRepo.init(join(dir, 'repo'));
  // 3,000 events: far more output than a pipe buffer holds, so writes go on after `head` left.
  for (let f = 0; f < 10; f++) {
    const routes = Array.from({ length: 300 }, (_, i) => ({ name: `r${f}-${i}`, path: `/r${f}/${i}`, backends: [`10.1.${f}.${(i % 200) + 1}:8080`] }));
    repo.write(`many-${f}.yaml`, routeYaml(routes));
  }
  repo.commit('3000 routes');
  const logPath = join(dir, 'events.log');
  const log = await openEventLog(logPath, { writer: true });
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  assert.ok((await log.head()) > 3000, 'the log holds every route');
  await log.close();
  const errFile = join(dir, 'stderr');
  const out = execFileSync(
    'bash',
    ['-c', `node ${JSON.stringify(BIN)} log --log ${JSON.stringify(logPath)} 2>${JSON.stringify(errFile)} | head -2; echo "exit \${PIPESTATUS[0]}"`],
    { encoding: 'utf8' },
  );
  const stderr = readFileSync(errFile, 'utf8');
  assert.ok(!/EPIPE|\n\s+at /.test(stderr), `a stack trace when the reader goes away:\n${stderr.slice(0, 2000)}`);
  assert.match(out, /exit 0\n$/, out.slice(-500));
});

test('9. a pin dir with a dot is refused as bpffs refuses it, not as "run as root"', async (t) => {
  if (!needBpf(t)) return;
  const dir = scratch(t, 'dotted');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  const pinDir = `/sys/fs/bpf/rauta.hostile-${uniqueSuffix()}`;
  const r = await rautaGuarded(['run', '--repo', repo.dir, '--pin-dir', pinDir, '--state-dir', join(dir, 'state'), '--http', '127.0.0.1:0']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bpffs does not allow "\." in names/, r.stderr);
  assert.doesNotMatch(r.stderr, /run as root/);
  assert.equal(existsSync(pinDir), false);
});

test('9. a missing BPF object is "build it", not "not on a bpffs mount"', async (t) => {
  const dir = scratch(t, 'no-object');
  assert.throws(
    () => loadRauta({ objectPath: join(dir, 'rauta.bpf.o'), pinDir: join(dir, 'pins') }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'RAUTA_ERR_BPF_LOAD', err.message);
      assert.match(err.message, /make -C bpf/);
      assert.doesNotMatch(err.message, /bpffs/);
      return true;
    },
  );
});

test('9. probe --repo /nonexistent --at says the repository is missing, not "unknown revision HEAD"', async () => {
  const r = await runRauta(['probe', 'GET', '/', '--repo', '/nonexistent-rauta-hostile', '--at', 'HEAD']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /\/nonexistent-rauta-hostile does not exist/);
  assert.doesNotMatch(r.stderr, /unknown revision/);
});

test('9. a corrupt log names the rebuild that works, and that command repairs it', async (t) => {
  const dir = scratch(t, 'corrupt');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  repo.write('b.yaml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  repo.commit('b');
  const logPath = join(dir, 'events.log');
  const log = await openEventLog(logPath, { writer: true });
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  await log.close();
  const bytes = readFileSync(logPath);
  const at = 16 + 20 + 5; // inside the first record's payload: damage followed by valid records
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  writeFileSync(logPath, bytes);

  const broken = await runRauta(['log', '--log', logPath]);
  assert.equal(broken.code, 2, broken.stderr);
  const hint = /rauta log rebuild --repo REPO --log (\S+) --replace/.exec(broken.stderr);
  assert.ok(hint, `the error names the rebuild that works on a corrupt log: ${broken.stderr}`);
  const fixed = await runRauta(['log', 'rebuild', '--repo', repo.dir, '--log', hint[1]!, '--replace']);
  assert.equal(fixed.code, 0, `the hinted command repairs the log\n${fixed.stdout}${fixed.stderr}`);
  const after = await runRauta(['log', '--log', logPath]);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, /RouteUpserted GET \/b/);
});

// ---- 10. a wrong --root routes nothing, silently -----------------------------------------------

test('10. a --root folder missing from a commit is a CommitRejected naming it, not "routes +0 -0"', async (t) => {
  const dir = scratch(t, 'root');
  const repo = TestRepo.init(join(dir, 'repo'));
  repo.write('listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
  repo.write('services/a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('routes at the top, as in the demo repo');
  const log = await openEventLog(join(dir, 'events.log'), { writer: true });
  t.after(() => log.close());
  await processNewCommits({ dir: repo.dir, ref: 'main', log, root: 'routes' });
  const marker = await log.lastCommitMarker();
  assert.equal(marker?.type, 'CommitRejected', JSON.stringify(marker));
  assert.match(JSON.stringify(marker), /the watched folder \\"routes\\" \(--root\) does not exist in this commit/);
});
