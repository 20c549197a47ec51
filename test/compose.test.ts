// docker-compose.yml cannot run here (no container engine). This checks what can
// be checked without one: it parses; it has redis, a watcher and two agents;
// the agents are privileged on the host network with /sys/fs/bpf mounted;
// every command it runs is a rauta subcommand whose --help lists each flag the
// file passes; and each command, with the file's own environment (Redis URL)
// and its ${VAR:-default}s filled in, gets through option parsing to the Redis
// connection (here pointed at a closed port: exit 2, "cannot connect").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { tempDir, TestRepo } from './helpers/git-repo.js';
import { runRauta } from './helpers/multinode-cluster.js';

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
    assert.ok(s.volumes?.some((v) => v.startsWith('/sys/fs/bpf:/sys/fs/bpf')), `${name} mounts /sys/fs/bpf`);
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
