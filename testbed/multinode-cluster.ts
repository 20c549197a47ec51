// A real multi-node cluster for tests and the bench: a redis-server (AOF on),
// one `rauta watch` child on a real routes repository, and N `rauta agent`
// children, each with its own pin dir and state dir and (with netns) its own
// network namespace: the agent runs inside it (nsenter --net; bpffs is shared),
// attaches XDP to its end of a veth pair into the root namespace, resolves the
// backends' MACs from its namespace's neighbour table, and reaches Redis over
// that same link through a TCP relay on the root side. Everything has
// unique names (prefix, pin dirs,
// namespaces, temp dirs, port) and is removed by dispose() (deleting a namespace
// takes the veth pair with it), registered with
// t.after when a test context is given.
//
// Commits are made like the bench does: prepared with plumbing, then published
// by moving the branch ref the way `git commit` does (lock file, reflog entry,
// rename), so the clock starts exactly when the branch moves.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { runProbe, type ProbeResult } from '../src/cli/probe.js';
import type { StatusReport } from '../src/cluster/status-report.js';
import { unpin } from '../src/dataplane/program.js';
import type { LbNet } from './lb-net.js';
import { ip, ipIn, uniqueSuffix } from './netns.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { listenerYaml, routeYaml, tempDir, TestRepo, type RouteSpec } from './git-repo.js';

const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));

export interface LogLine {
  msg: string;
  level: number;
  time: string;
  [k: string]: unknown;
}

/** A rauta child process: its JSON log lines as they arrive, and a way to wait for one. */
export class RautaProc {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: line, level: 0, time: new Date().toISOString() });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        for (const w of this.waiters.splice(0)) w();
        resolve(code ?? (signal ? -1 : null));
      }),
    );
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first line from index `from` matching pred; a hang guard (not a timing assertion) after `ms`. */
  async waitLine(pred: (l: LogLine) => boolean, what: string, from = 0, ms = 60_000): Promise<LogLine> {
    const deadline = Date.now() + ms;
    let seen = from;
    for (;;) {
      for (; seen < this.lines.length; seen++) if (pred(this.lines[seen]!)) return this.lines[seen]!;
      if (!this.running) throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before: ${what}\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.label}: no log line for: ${what}\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  tail(n = 20): string {
    return `--- ${this.label}: last log lines ---\n${this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n')}\n--- stderr ---\n${this.stderr.slice(-3000)}`;
  }
}

/** Runs `node bin/rauta.js ...args` (inside a network namespace when netns is given), JSON logs. */
export function spawnRauta(label: string, args: string[], opts: { netns?: string; env?: Record<string, string> } = {}): RautaProc {
  const argv = [process.execPath, BIN, ...args];
  const [cmd, ...rest] = opts.netns ? ['nsenter', `--net=/var/run/netns/${opts.netns}`, ...argv] : argv;
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAUTA_LOG_FORMAT: 'json', ...opts.env } });
  return new RautaProc(label, child);
}

/** `rauta run` on the node of an LbNet, in its namespace: the routes repo at repoDir, XDP native on nodeIf; http: a metrics/health port. */
export function spawnNodeRun(net: LbNet, dirs: { repo: string; pinDir: string; stateDir: string }, opts: { http?: boolean } = {}): RautaProc {
  const http = opts.http ? ['--http', '127.0.0.1:0'] : [];
  const args = ['--repo', dirs.repo, '--root', 'routes', '--iface', net.nodeIf, '--xdp-mode', 'native', '--pin-dir', dirs.pinDir, '--state-dir', dirs.stateDir];
  return spawnRauta('rauta run', ['run', ...args, ...http, '--node', net.name], { netns: net.nodeNs });
}

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** A TCP relay on `host` (a root-side veth address) to Redis on 127.0.0.1: the nodes' way in. */
function startRelay(host: string, redisPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    // either side gone (Redis killed, agent killed): drop both, as a dead TCP peer would
    client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export interface ClusterNode {
  name: string;
  pinDir: string;
  stateDir: string;
  /** the node's network namespace, where its agent runs (null without netns) */
  ns: string | null;
  /** the node's end of its veth pair (in ns), carrying XDP and the agent's Redis traffic */
  iface: string | null;
  /** how this node reaches Redis (through its veth and the relay with netns) */
  redisUrl: string;
  /** the node's address, reachable from the root namespace (for --http) */
  addr: string;
  /** the root-side end of its veth pair: set it down to cut the node off (null without netns) */
  uplink: string | null;
  /** the MAC every backend resolves to on this node */
  backendMac: string;
  proc: RautaProc | null;
}

export interface ClusterOptions {
  nodes?: number;
  /** a namespace + veth pair per node (needs root); without it agents run unattached with --gateway-mac */
  netns?: boolean;
  /** BullMQ job lock in seconds (a killed agent's job is retried after about this) */
  jobLock?: number;
  /** agent --resync seconds (default 30, as shipped) */
  resync?: number;
  redisPassword?: string;
  /** extra `rauta watch` flags */
  watcherArgs?: string[];
}

/** Backends every node routes to: 10.250.0.n (each node resolves them in its own namespace). */
export const backendIp = (n: number): string => `10.250.0.${n}`;

/** `rauta probe --json` against one node's pinned program. */
export async function probe(pinDir: string, method: string, path: string): Promise<ProbeResult> {
  let out = '';
  await runProbe(method, path, { pinDir, json: true }, (s) => (out += s));
  return JSON.parse(out) as ProbeResult;
}

/** Poll until fn() is truthy (a hang guard after a minute, not a timing assertion). */
export async function until<T>(fn: () => Promise<T | null | false>, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class Cluster {
  readonly suffix = uniqueSuffix();
  readonly prefix = `rauta-test-${this.suffix}`;
  readonly tmp = tempDir('cluster');
  readonly repo: TestRepo;
  readonly nodes: ClusterNode[] = [];
  watcher: RautaProc | null = null;
  redis!: RedisServer;
  private readonly procs: RautaProc[] = [];
  private readonly relays: Relay[] = [];
  /** the nodes' links are 100.<a>.<b + node>.0/24 (shared address space, random so concurrent clusters differ) */
  private readonly netA = 64 + Math.floor(Math.random() * 64);
  private readonly netB = Math.floor(Math.random() * 60) * 4;
  private disposed = false;
  private reflogClock = 1_800_000_000;

  constructor(readonly opts: ClusterOptions) {
    this.repo = TestRepo.init(join(this.tmp.dir, 'repo'));
  }

  /** Everything started by start(): children killed, namespaces and pins removed, temp dirs deleted. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.procs)
      if (p.running) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    for (const n of this.nodes) {
      if (n.ns) {
        try {
          ip('netns', 'del', n.ns);
        } catch {
          /* already gone */
        }
      }
      try {
        unpin(n.pinDir);
      } catch {
        /* not pinned */
      }
    }
    for (const r of this.relays) await r.close();
    await this.redis?.dispose();
    this.tmp.cleanup();
  }

  async start(
    t?: Pick<TestContext, 'after'>,
    initialRoutes: RouteSpec[] = [{ name: 'base', path: '/mn/base', backends: [`${backendIp(1)}:8080`, `${backendIp(2)}:8080`] }],
  ): Promise<string> {
    t?.after(() => this.dispose());
    this.redis = await startRedisServer(undefined, this.opts.redisPassword ? { password: this.opts.redisPassword } : {});
    const count = this.opts.nodes ?? 3;
    for (let i = 0; i < count; i++) this.nodes.push(await this.makeNode(i));
    this.repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
    this.repo.write('routes/base.yaml', routeYaml(initialRoutes));
    const c0 = this.repo.commit('listener and base routes');
    // Agents first (they register), then the watcher: its start run wakes them for c0.
    for (let i = 0; i < count; i++) this.startAgent(i);
    await Promise.all(this.nodes.map((n) => n.proc!.waitLine((l) => l.msg === 'taking reconcile jobs', `${n.name} taking jobs`)));
    this.startWatcher();
    await this.waitApplied(c0);
    return c0;
  }

  private async makeNode(i: number): Promise<ClusterNode> {
    const name = `node${i + 1}-${this.suffix}`;
    const pinDir = `/sys/fs/bpf/rauta-mn-${process.pid}-${this.suffix}-${i + 1}`;
    const stateDir = join(this.tmp.dir, `state-${i + 1}`);
    mkdirSync(stateDir, { recursive: true });
    if (!this.opts.netns)
      return {
        name,
        pinDir,
        stateDir,
        ns: null,
        iface: null,
        backendMac: '02:00:00:00:00:99',
        redisUrl: this.redis.url,
        addr: '127.0.0.1',
        uplink: null,
        proc: null,
      };
    // The node is a namespace: its veth end (XDP attached) carries both its Redis traffic and
    // its data traffic, as a node's NIC does; the other end is the root namespace, where a
    // relay passes Redis connections on to 127.0.0.1 and the backends' MAC lives.
    const ns = `rtmn${this.suffix}${i + 1}`;
    const iface = `rtmp${this.suffix}${i + 1}`;
    const outside = `rtmh${this.suffix}${i + 1}`;
    const net = `100.${this.netA}.${this.netB + i + 1}`;
    ip('netns', 'add', ns);
    const node: ClusterNode = { name, pinDir, stateDir, ns, iface, backendMac: '', redisUrl: '', addr: `${net}.2`, uplink: outside, proc: null };
    this.nodes.push(node); // dispose() removes the namespace (and the pair with it) even if the rest fails
    ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', iface);
    ip('link', 'set', iface, 'netns', ns);
    ip('addr', 'add', `${net}.1/24`, 'dev', outside);
    ip('link', 'set', outside, 'up');
    ipIn(ns, 'addr', 'add', `${net}.2/24`, 'dev', iface);
    ipIn(ns, 'link', 'set', iface, 'up');
    ipIn(ns, 'link', 'set', 'lo', 'up');
    node.backendMac = (JSON.parse(ip('-j', 'link', 'show', outside)) as Array<{ address: string }>)[0]!.address;
    for (let n = 1; n <= 9; n++) ipIn(ns, 'neigh', 'replace', backendIp(n), 'lladdr', node.backendMac, 'dev', iface, 'nud', 'permanent');
    const relay = await startRelay(`${net}.1`, this.redis.port);
    this.relays.push(relay);
    const auth = this.opts.redisPassword ? `:${encodeURIComponent(this.opts.redisPassword)}@` : '';
    node.redisUrl = `redis://${auth}${net}.1:${relay.port}`;
    this.nodes.pop();
    return node;
  }

  agentArgs(node: ClusterNode): string[] {
    return [
      'agent',
      '--redis',
      node.redisUrl,
      '--prefix',
      this.prefix,
      '--node',
      node.name,
      '--pin-dir',
      node.pinDir,
      '--state-dir',
      node.stateDir,
      '--heartbeat',
      '0.5',
      '--job-lock',
      String(this.opts.jobLock ?? 2),
      '--resync',
      String(this.opts.resync ?? 30),
      '--drift-interval',
      '0',
      ...(node.iface ? ['--iface', node.iface] : ['--gateway-mac', node.backendMac]),
    ];
  }

  startAgent(i: number, env?: Record<string, string>, extraArgs: string[] = []): RautaProc {
    const node = this.nodes[i]!;
    const proc = spawnRauta(`agent ${node.name}`, [...this.agentArgs(node), ...extraArgs], { env, netns: node.ns ?? undefined });
    node.proc = proc;
    this.procs.push(proc);
    return proc;
  }

  startWatcher(): RautaProc {
    const proc = spawnRauta('watcher', [
      'watch',
      '--redis',
      this.redis.url,
      '--prefix',
      this.prefix,
      '--repo',
      this.repo.dir,
      '--root',
      'routes',
      '--state-dir',
      join(this.tmp.dir, 'watch-state'),
      ...(this.opts.watcherArgs ?? []),
    ]);
    this.watcher = proc;
    this.procs.push(proc);
    return proc;
  }

  /** A commit with `file` set to `content` on top of the branch, without moving the branch. */
  prepare(file: string, content: string, subject: string): string {
    const full = join(this.repo.dir, file);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
    this.repo.git('add', file);
    const tree = this.repo.git('write-tree');
    return this.repo.git('commit-tree', tree, '-p', this.repo.head(), '-m', subject);
  }

  /** Move refs/heads/main to `sha` as `git commit` does; returns the time it moved (ms since the epoch). */
  publish(sha: string): number {
    const gitDir = join(this.repo.dir, '.git');
    const ref = join(gitDir, 'refs', 'heads', 'main');
    const old = this.repo.head();
    writeFileSync(`${ref}.lock`, `${sha}\n`);
    appendFileSync(join(gitDir, 'logs', 'refs', 'heads', 'main'), `${old} ${sha} Test <test@example.com> ${this.reflogClock++} +0000\tcommit: test\n`);
    const at = Date.now();
    renameSync(`${ref}.lock`, ref);
    return at;
  }

  /** Wait until every running agent logged `applied` for sha (from line index marks[i]); returns each node's applied time. */
  async waitApplied(sha: string, marks?: number[], which?: number[]): Promise<number[]> {
    const idx = which ?? this.nodes.map((_, i) => i);
    return Promise.all(
      idx.map(async (i) => {
        const n = this.nodes[i]!;
        const line = await n.proc!.waitLine((l) => l.msg === 'applied' && l.commit === sha, `${n.name} applied ${sha.slice(0, 12)}`, marks?.[i] ?? 0);
        return Date.parse(line.time);
      }),
    );
  }

  marks(): number[] {
    return this.nodes.map((n) => n.proc?.lines.length ?? 0);
  }

  /** `rauta status --json` as a child: exit code and the parsed report. */
  async status(): Promise<{ code: number | null; report: StatusReport; stderr: string }> {
    const { code, stdout, stderr } = await runRauta(['status', '--redis', this.redis.url, '--prefix', this.prefix, '--json']);
    let report: StatusReport;
    try {
      report = JSON.parse(stdout) as StatusReport;
    } catch {
      throw new Error(`rauta status --json printed no JSON (exit ${code}):\n${stdout}\n${stderr}`);
    }
    return { code, report, stderr };
  }
}

/** Runs `node bin/rauta.js ...args` to the end: exit code, stdout, stderr. */
export function runRauta(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAUTA_LOG_FORMAT: 'json', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A route file whose backend 2 has weight w: every value of w is a new commit with a map change. */
export function weightedBase(w: number): string {
  return routeYaml([{ name: 'base', path: '/mn/base', backends: [`${backendIp(1)}:8080`, `${backendIp(2)}:8080`] }]).replace(
    `endpoint: ${backendIp(2)}:8080\n`,
    `endpoint: ${backendIp(2)}:8080\n      weight: ${w}\n`,
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export interface ClusterLatency {
  commits: number;
  nodes: number;
  /** per commit: branch moved → applied on the last node, ms, in commit order */
  lastNodeMs: number[];
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Commit-to-applied on all nodes: `commits` commits (each changes one backend's
 * weight of /mn/base, so every node writes its maps), each published after the
 * previous one reached every node plus a quiet gap (as separate merges are),
 * timed from the ref move to the last node's `applied` log line.
 * For the bench: runClusterLatency() below wraps start, measure and dispose.
 */
export async function measureClusterLatency(cluster: Cluster, commits: number, gapMs = 150): Promise<ClusterLatency> {
  const lastNodeMs: number[] = [];
  for (let i = 0; i < commits; i++) {
    const sha = cluster.prepare('routes/base.yaml', weightedBase(2 + (i % 50) + (i % 2 === 0 ? 0 : 50)), `weight ${i}`);
    await new Promise((r) => setTimeout(r, gapMs));
    const marks = cluster.marks();
    const t0 = cluster.publish(sha);
    const applied = await cluster.waitApplied(sha, marks);
    lastNodeMs.push(Math.max(...applied) - t0);
  }
  const sorted = [...lastNodeMs].sort((a, b) => a - b);
  return {
    commits,
    nodes: cluster.nodes.length,
    lastNodeMs,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1)!,
  };
}

/**
 * One call for the bench: a fresh cluster (redis-server, `rauta watch`, `nodes` agents), the
 * latency of `commits` commits to the last node, then everything removed. Needs root and bpffs
 * (pin dirs); netns puts each agent in its own namespace as the tests do.
 */
export async function runClusterLatency(opts: { nodes?: number; commits: number; netns?: boolean; gapMs?: number }): Promise<ClusterLatency> {
  const cluster = new Cluster({ nodes: opts.nodes ?? 3, netns: opts.netns ?? false });
  try {
    await cluster.start();
    return await measureClusterLatency(cluster, opts.commits, opts.gapMs);
  } finally {
    await cluster.dispose();
  }
}
