// docker-compose.yml cannot run here (no container engine). This checks what can
// be checked without one: it parses; it has redis, a watcher and two agents;
// the agents are privileged on the host network with /sys/fs/bpf mounted;
// every command it runs is a rauta subcommand whose --help lists each flag the
// file passes; each command, with the file's own environment (Redis URL)
// and its ${VAR:-default}s filled in, gets through option parsing to the Redis
// connection (here pointed at a closed port: exit 2, "cannot connect"); and the
// file's command lines, run as written against the demo repository and a real
// redis-server started with the file's own redis command line, bring the demo
// routes into both agents' maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { openPinned, unpin } from '../src/dataplane/program.js';
import { loadRouteDir } from '../src/routes/load-dir.js';
import { tempDir, TestRepo } from '../testbed/git-repo.js';
import { runRauta, spawnRauta, until, type RautaProc } from '../testbed/multinode-cluster.js';
import { ip, uniqueSuffix } from '../testbed/netns.js';
import { startRedisServer } from '../testbed/redis-server.js';
import { needBpf } from '../testbed/bpf-env.js';

const FILE = fileURLToPath(new URL('../docker-compose.yml', import.meta.url));

interface Service {
  image?: string;
  build?: { context?: string; dockerfile_inline?: string };
  command?: string[];
  privileged?: boolean;
  network_mode?: string;
  volumes?: string[];
  environment?: Record<string, string>;
}

function load(): { services: Record<string, Service> } {
  return parse(readFileSync(FILE, 'utf8'), { merge: true }) as { services: Record<string, Service> };
}

/** Compose's ${VAR:-default} / ${VAR}, with values from `env` first. */
function interpolate(s: string, env: Record<string, string>): string {
  return s.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, name: string, def?: string) => env[name] ?? def ?? '');
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('docker-compose.yml: redis, a watcher and two agents, written as the CLI expects', async (t) => {
  const { services } = load();
  assert.ok(services.redis, 'a redis service');
  assert.ok(services.redis.command?.includes('--appendonly'), 'redis keeps an AOF (the log and the queues survive a restart)');
  const rauta = Object.entries(services).filter(([, s]) => s.command?.[1] === 'bin/rauta.js');
  const byCmd = (c: string) => rauta.filter(([, s]) => s.command?.[2] === c);
  assert.equal(byCmd('watch').length, 1, 'exactly one watcher (one writer per log)');
  assert.equal(byCmd('agent').length, 2, 'two agents');
  const nodes = new Set<string>();
  const pins = new Set<string>();
  for (const [name, s] of byCmd('agent')) {
    assert.equal(s.privileged, true, `${name} is privileged (BPF load, pin, XDP attach)`);
    assert.equal(s.network_mode, 'host', `${name} uses the host network (XDP attaches to host interfaces)`);
    assert.ok(
      s.volumes?.some((v) => v.startsWith('/sys/fs/bpf:/sys/fs/bpf')),
      `${name} mounts /sys/fs/bpf`,
    );
    const cmd = s.command!;
    nodes.add(cmd[cmd.indexOf('--node') + 1]!);
    pins.add(cmd[cmd.indexOf('--pin-dir') + 1]!);
  }
  assert.equal(nodes.size, 2, 'the agents have different --node names');
  assert.equal(pins.size, 2, 'the agents pin under different directories');
  for (const [name, s] of rauta) {
    assert.ok(s.build?.dockerfile_inline?.includes('libbpf1'), `${name}: the image has libbpf (koffi loads libbpf.so.1)`);
    assert.match(s.environment?.RAUTA_REDIS_URL ?? '', /^redis:\/\//, `${name} gets the Redis URL from the environment`);
  }

  // Every subcommand exists and knows every flag the file passes.
  for (const [name, s] of rauta) {
    const [, , sub, ...args] = s.command!;
    const help = await runRauta([sub!, '--help']);
    assert.equal(help.code, 0, `${name}: rauta ${sub} --help exits 0\n${help.stderr}`);
    for (const flag of args.filter((a) => a.startsWith('--'))) {
      assert.ok(help.stdout.includes(flag), `${name}: rauta ${sub} --help lists ${flag}\n${help.stdout}`);
    }
  }

  // With the file's environment, each command parses and gets as far as connecting to Redis.
  const tmp = tempDir('compose');
  t.after(() => tmp.cleanup());
  const repo = TestRepo.init(`${tmp.dir}/routes`);
  repo.write('routes/README', 'routes\n');
  repo.commit('first');
  const port = await closedPort();
  for (const [name, s] of rauta) {
    const fill = (v: string) => interpolate(v, { RAUTA_REPO: repo.dir }).replace('/var/lib/rauta', `${tmp.dir}/${name}-state`);
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, fill(v).replace(/@127\.0\.0\.1:6379/, `@127.0.0.1:${port}`)]));
    const args = s.command!.slice(2).map(fill);
    const r = await runRauta(args, env);
    assert.equal(r.code, 2, `${name}: exit 2 when Redis is not there (stdout ${r.stdout})\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*cannot connect`), `${name}: the error names the Redis address\n${r.stderr}`);
    assert.ok(!r.stderr.includes('change-me'), `${name}: the password is not printed\n${r.stderr}`);
  }
});

test('docker-compose.yml: its command lines, run as written on the demo repo and a real Redis, bring the routes to both agents', async (t) => {
  if (!needBpf(t)) return;
  const { services } = load();
  const suffix = uniqueSuffix();
  const tmp = tempDir('compose-run');
  t.after(() => tmp.cleanup());
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const demo = join(tmp.dir, 'demo-repo');
  execFileSync('bash', [join(repoRoot, 'scripts/demo-repo.sh'), demo], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const expected = (await loadRouteDir(demo)).result;
  assert.ok(expected.routes.length > 0 && expected.issues.length === 0, 'the demo repo validates and has routes');

  // Cleanup hooks run in the order they are registered: the processes stop before Redis does.
  const procs: RautaProc[] = [];
  const pinDirs: string[] = [];
  const bpfRoot = `/sys/fs/bpf/rauta-compose-${suffix}`;
  const ifaces = [`rtc1${suffix}`, `rtc2${suffix}`];
  t.after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const d of pinDirs) unpin(d);
    if (existsSync(bpfRoot)) rmdirSync(bpfRoot);
    // deleting one end takes the pair, and the XDP programs attached to it
    if (existsSync(`/sys/class/net/${ifaces[0]}`)) ip('link', 'del', ifaces[0]!);
  });

  // Redis as the file runs it (its password from the file's own default), on a free port.
  const redisArgs = services.redis!.command!;
  const password = interpolate(redisArgs[redisArgs.indexOf('--requirepass') + 1]!, {});
  const redis = await startRedisServer(t, { password });

  // Two interfaces in this namespace for the agents (network_mode: host), unique names.
  ip('link', 'add', ifaces[0]!, 'type', 'veth', 'peer', 'name', ifaces[1]!);
  for (const i of ifaces) ip('link', 'set', i, 'up');

  // What a container engine would do, and nothing more: mount the volumes (each container path
  // becomes a host path: the demo repo for /routes, a fresh folder per named volume, a unique
  // folder on bpffs for /sys/fs/bpf), publish on the host network (Redis and the --http
  // ports move to free ports here), and fill in ${VAR:-default} from the environment, where
  // only the interfaces are set. The command lines are otherwise the file's, word for word.
  mkdirSync(bpfRoot, { recursive: true });
  const env = { RAUTA_IFACE_1: ifaces[0]!, RAUTA_IFACE_2: ifaces[1]!, RAUTA_REPO_DIR: demo };
  const httpPorts = new Map<string, number>();
  const rauta = Object.entries(services).filter(([, s]) => s.command?.[1] === 'bin/rauta.js');
  for (const [name, s] of rauta) {
    const mounts: Array<[string, string]> = (s.volumes ?? []).map((v) => {
      const [host, container] = interpolate(v, env).split(':') as [string, string];
      if (container === '/sys/fs/bpf') return [container, bpfRoot];
      return [container, host.startsWith('/') || host.startsWith('.') ? host : join(tmp.dir, `${name}-${host}`)];
    });
    const fill = async (word: string): Promise<string> => {
      let v = interpolate(word, env);
      for (const [container, host] of mounts) if (v === container || v.startsWith(`${container}/`)) v = host + v.slice(container.length);
      const listen = /^127\.0\.0\.1:(\d+)$/.exec(v);
      if (listen) {
        if (!httpPorts.has(v)) httpPorts.set(v, await closedPort());
        v = `127.0.0.1:${httpPorts.get(v)}`;
      }
      return v.replace('@127.0.0.1:6379', `@127.0.0.1:${redis.port}`);
    };
    const args: string[] = [];
    for (const w of s.command!.slice(2)) args.push(await fill(w));
    const procEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.environment ?? {})) procEnv[k] = await fill(v);
    if (args[0] === 'agent') pinDirs.push(args[args.indexOf('--pin-dir') + 1]!);
    procs.push(spawnRauta(name, args, { env: procEnv }));
  }
  assert.equal(pinDirs.length, 2, 'two agents, each with its pin dir');
  assert.ok(
    pinDirs.every((d) => d.startsWith(`${bpfRoot}/`)),
    `the pin dirs are under the mounted /sys/fs/bpf: ${pinDirs.join(', ')}`,
  );

  // Both nodes on the demo head, with every demo route and listener in their maps.
  const head = execFileSync('git', ['-C', demo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const report = await until(async () => {
    for (const p of procs) if (!p.running) throw new Error(`${p.label} exited\n${p.tail()}`);
    const r = await runRauta(['status', '--redis', redis.url, '--json']);
    if (r.code !== 0) return null;
    const rep = JSON.parse(r.stdout) as { live: number; nodes: Array<{ node: string; commit: string | null }> };
    return rep.live === 2 && rep.nodes.every((n) => n.commit === head) ? rep : null;
  }, 'both compose agents applied the demo head');
  assert.deepEqual(report.nodes.map((n) => n.node).sort(), ['edge-1', 'edge-2']);
  for (const pinDir of pinDirs) {
    const prog = openPinned(pinDir);
    try {
      assert.equal([...prog.typed.routes.keys()].length, expected.routes.length, `${pinDir}: every demo route is in ROUTES`);
      assert.equal([...prog.typed.listeners.keys()].length, expected.listeners.length, `${pinDir}: every demo listener is in LISTENERS`);
    } finally {
      prog.close();
    }
  }
  const watcher = procs.find((p) => p.label === 'watcher')!;
  assert.ok(!watcher.lines.some((l) => /CommitRejected|does not exist/.test(JSON.stringify(l))), `the watcher rejected nothing\n${watcher.tail()}`);
});
