// Suite 2, commit to applied: the time from the moment the watched branch
// moves to a new commit until the node's maps hold it, over ≥ 200 commits
// that each change one backend of one route (p50, p95, p99).
//
// Embedded mode: the components `rauta run` wires (startWatcher on a local
// repository with its default chokidar trigger and poll, the file event log,
// NodeAgent.run with its default settings, the node data plane with the
// production nexthop resolver) in this process, with a real loaded program. Each commit is made with git plumbing beforehand; the clock
// starts when the branch ref is moved (lock file + rename, as git does) and
// stops when the agent reports that commit applied. Baseline, measured in the
// same run and interleaved commit by commit: a commit that changes only a file
// outside the routes folder, through the same pipeline (detect, diff, log,
// fold) with nothing to write into the maps.
//
// Multi-node: the shipped commands as child processes (test/helpers/
// multinode-cluster.ts): a real redis-server, `rauta watch` and three
// `rauta agent` (BullMQ wake-ups, Redis Streams log), each agent attached to
// its own veth in its own namespace; the clock stops when the last node says it
// holds the commit. Same kind of commits, same baseline.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { NodeAgent } from '../../src/agent/node-agent.js';
import { openEventLog } from '../../src/events/event-log.js';
import { startWatcher } from '../../src/git/watcher.js';
import { percentile } from '../lib/stats.js';
import { missing, runSuite, type SuiteApi } from '../lib/suite.js';
import { openNodeDataplane } from '../../src/agent/node-dataplane.js';
import { unpin } from '../../src/dataplane/program.js';
import { Cluster, weightedBase, type LogLine } from '../../testbed/multinode-cluster.js';

const ROUTE_FILES = 50;
/**
 * Quiet time before each publish, as between separate merges. Two ref moves
 * within ~100 ms can fold into one file-system event and the second commit then
 * waits for the poll (see README); that case is not what this row measures.
 */
const GAP_MS = Number(process.env.RAUTA_BENCH_GAP_MS ?? 150);
const settle = () => new Promise((r) => setTimeout(r, GAP_MS));
const APPLY_TIMEOUT_MS = 15_000;
/** Documented default reconcile/poll intervals (not measured here). */
const REFERENCES = [
  { name: 'Argo CD default repo poll (timeout.reconciliation 180 s)', ms: 180_000 },
  { name: 'Flux GitRepository interval as typically configured (60 s)', ms: 60_000 },
];

function routeYaml(i: number, backend: number): string {
  return [
    'apiVersion: rauta.io/v1',
    'kind: RoutingRule',
    'metadata:',
    `  name: svc-${i}`,
    'spec:',
    '  match:',
    '    method: GET',
    '    path:',
    '      type: Exact',
    `      value: /svc/${i}`,
    '  backends:',
    `    - endpoint: 10.1.${(backend >> 8) & 255}.${backend & 255 || 1}:8080`,
    `    - endpoint: 10.2.0.${(i % 250) + 1}:8080`,
    '',
  ].join('\n');
}

/** A working copy whose commits are prepared with plumbing and published by moving the ref. */
class BenchRepo {
  private n = 0;
  head = '';
  constructor(readonly dir: string) {}

  git(...args: string[]): string {
    const t = String(1_700_000_000 + this.n++);
    return execFileSync('git', ['-C', this.dir, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Bench',
        GIT_AUTHOR_EMAIL: 'bench@example.com',
        GIT_COMMITTER_NAME: 'Bench',
        GIT_COMMITTER_EMAIL: 'bench@example.com',
        GIT_AUTHOR_DATE: `${t} +0000`,
        GIT_COMMITTER_DATE: `${t} +0000`,
      },
    }).trim();
  }

  init(): void {
    mkdirSync(join(this.dir, 'routes'), { recursive: true });
    this.git('init', '-q', '-b', 'main');
    for (let i = 0; i < ROUTE_FILES; i++) writeFileSync(join(this.dir, 'routes', `svc-${i}.yaml`), routeYaml(i, 1));
    writeFileSync(join(this.dir, 'README.md'), 'bench\n');
    this.git('add', '-A');
    this.git('commit', '-q', '-m', 'initial routes');
    this.head = this.git('rev-parse', 'HEAD');
  }

  /** A commit with `file` set to `content`, on top of head, without moving the branch. */
  prepare(file: string, content: string, message: string): string {
    writeFileSync(join(this.dir, file), content);
    this.git('add', file);
    const tree = this.git('write-tree');
    return this.git('commit-tree', tree, '-p', this.head, '-m', message);
  }

  /**
   * Publish: move refs/heads/main to `sha` the way `git commit` does: write the
   * lock file, append the reflog entry, rename the lock over the ref.
   */
  publish(sha: string): void {
    const ref = join(this.dir, '.git', 'refs', 'heads', 'main');
    writeFileSync(`${ref}.lock`, `${sha}\n`);
    const when = `${1_700_000_000 + this.n} +0000`;
    appendFileSync(join(this.dir, '.git', 'logs', 'refs', 'heads', 'main'), `${this.head} ${sha} Bench <bench@example.com> ${when}\tcommit: bench\n`);
    renameSync(`${ref}.lock`, ref);
    this.head = sha;
  }
}

interface Latencies {
  change: number[];
  noop: number[];
}

/**
 * The measured loop, shared by both modes: a route commit, then a commit outside
 * routes/, each published after a quiet gap; `publishAndWait` returns the ms from
 * the ref move to applied.
 */
async function interleaved(s: SuiteApi, repo: BenchRepo, commits: number, publishAndWait: (sha: string) => Promise<number>): Promise<Latencies> {
  const change: number[] = [];
  const noop: number[] = [];
  const warmup = s.size(5, 5, 1);
  for (let k = 0; k < commits + warmup; k++) {
    const i = (k * 17) % ROUTE_FILES;
    const sha = repo.prepare(`routes/svc-${i}.yaml`, routeYaml(i, k + 2), `svc-${i}: move a backend`);
    await settle();
    const dChange = await publishAndWait(sha);
    const noopSha = repo.prepare('README.md', `bench ${k}\n`, 'docs only');
    await settle();
    const dNoop = await publishAndWait(noopSha);
    if (k >= warmup) {
      change.push(dChange);
      noop.push(dNoop);
    }
  }
  if (process.env.RAUTA_BENCH_DEBUG) s.log(`change ms: ${change.map((x) => x.toFixed(0)).join(' ')}\nnoop ms: ${noop.map((x) => x.toFixed(0)).join(' ')}`);
  return { change, noop };
}

function newRepo(root: string): BenchRepo {
  const repo = new BenchRepo(join(root, 'repo'));
  mkdirSync(repo.dir, { recursive: true });
  repo.init();
  return repo;
}

async function embedded(s: SuiteApi, commits: number): Promise<Latencies & { ops: number[] }> {
  const root = join(s.ctx.tmpRoot, 'embedded');
  const repo = newRepo(root);
  const stateDir = join(root, 'state');
  mkdirSync(stateDir, { recursive: true });
  const logger = pino({ level: 'silent' });
  const log = await openEventLog(join(stateDir, 'events.log'), { writer: true, logger });
  // the node's data plane as `rauta agent` opens it: program, and nexthops resolved from the
  // neighbour table (ip -j neigh / ip route get) with a configured gateway MAC for the rest
  const pinDir = s.pinDir('embedded');
  const dataplane = openNodeDataplane({ pinDir, xdpMode: 'auto', gatewayMac: '02:00:00:00:00:99', logger });
  const agent = new NodeAgent({ node: 'bench', log, maps: dataplane.prog.typed, stateDir, logger, nexthops: dataplane.nexthops });
  const ops: number[] = [];
  agent.on('applied', (e) => void ops.push(e.result.ops));
  let watcher: Awaited<ReturnType<typeof startWatcher>> | null = null;
  let runDone: Promise<void> | null = null;
  const waitApplied = (sha: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (agent.status().appliedCommit !== sha) return false;
        const t = performance.now();
        clearInterval(timer);
        clearTimeout(timeout);
        agent.off('applied', check);
        resolve(t);
        return true;
      };
      // the 'applied' event is exact; the 1 ms poll sees commits with nothing to write (no event)
      const timer = setInterval(check, 1);
      const timeout = setTimeout(() => {
        clearInterval(timer);
        agent.off('applied', check);
        reject(new Error(`commit ${sha.slice(0, 12)} not applied within ${APPLY_TIMEOUT_MS} ms: ${JSON.stringify(agent.status().lastError)}`));
      }, APPLY_TIMEOUT_MS);
      agent.on('applied', check);
      check();
    });
  try {
    await agent.start();
    runDone = agent.run();
    watcher = await startWatcher({
      repo: repo.dir,
      branch: 'main',
      root: 'routes',
      log,
      cacheDir: join(stateDir, 'git-cache'),
      onError: (err) => s.log(`watcher error: ${String(err)}`),
    });
    await waitApplied(repo.head);
    s.log(`embedded: initial ${ROUTE_FILES} routes applied; ${commits} route commits interleaved with ${commits} no-op commits`);
    const lat = await interleaved(s, repo, commits, async (sha) => {
      const t0 = performance.now();
      repo.publish(sha);
      return (await waitApplied(sha)) - t0;
    });
    return { ...lat, ops: ops.slice(-commits) };
  } finally {
    await watcher?.close();
    await agent.stop();
    await runDone;
    await log.close();
    dataplane.close();
    unpin(pinDir);
  }
}

const NODES = 3;

/** The node holds `sha`: its `applied` line (a map change) or its `job done` line (debug; also a commit with nothing to write). */
function holds(sha: string) {
  return (l: LogLine) => (l.msg === 'applied' && l.commit === sha) || (l.msg === 'job done' && l.appliedCommit === sha);
}

/**
 * The multi-node mode as shipped: a real redis-server, one `rauta watch` child
 * and three `rauta agent` children (BullMQ wake-ups, Redis Streams log), each
 * agent with its own veth pair in its own network namespace (XDP attached,
 * neighbours resolved on that interface), via test/helpers/multinode-cluster.ts.
 * The clock stops at the last node's log line saying it holds the commit.
 */
async function multiNode(s: SuiteApi, commits: number): Promise<Latencies> {
  // 'job done' is a debug line: it is what shows a node reached a commit with nothing to write
  process.env.RAUTA_LOG_LEVEL = 'debug';
  const cluster = new Cluster({ nodes: NODES, netns: true });
  s.onAbort(() => cluster.dispose());
  try {
    await cluster.start();
    s.log(
      `multi-node: rauta watch + ${NODES} rauta agent processes up, initial commit applied; ${commits} route commits interleaved with ${commits} no-op commits`,
    );
    const waitAll = async (sha: string, marks: number[]): Promise<number> => {
      const at = await Promise.all(
        cluster.nodes.map(async (n, i) =>
          Date.parse((await n.proc!.waitLine(holds(sha), `${n.name} holds ${sha.slice(0, 12)}`, marks[i], APPLY_TIMEOUT_MS)).time),
        ),
      );
      return Math.max(...at);
    };
    const change: number[] = [];
    const noop: number[] = [];
    const warmup = s.size(5, 5, 1);
    for (let k = 0; k < commits + warmup; k++) {
      // one backend's weight of the cluster's route: every node writes its maps
      const sha = cluster.prepare('routes/base.yaml', weightedBase(2 + (k % 50) + (k % 2 === 0 ? 0 : 50)), `weight ${k}`);
      await settle();
      let marks = cluster.marks();
      let t0 = cluster.publish(sha);
      const dChange = (await waitAll(sha, marks)) - t0;
      const noopSha = cluster.prepare('README.md', `bench ${k}\n`, 'docs only');
      await settle();
      marks = cluster.marks();
      t0 = cluster.publish(noopSha);
      const dNoop = (await waitAll(noopSha, marks)) - t0;
      if (k >= warmup) {
        change.push(dChange);
        noop.push(dNoop);
      }
    }
    return { change, noop };
  } finally {
    await cluster.dispose();
  }
}

await runSuite(
  'commit-to-applied',
  async (s) => {
    const commits = s.size(200, 30, 2);
    const { change, noop, ops } = await embedded(s, commits);
    s.log('embedded done; multi-node next');
    const goal = { max: 50, text: '< 50 ms' };
    for (const [label, p] of [
      ['p50', 0.5],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const) {
      s.row({
        name: `commit → applied, embedded, ${label} of ${change.length} route commits`,
        value: percentile(change, p),
        unit: 'ms',
        baseline: { name: `${label}, commit outside routes/ (nothing to apply)`, value: percentile(noop, p) },
        goal: label === 'p99' ? goal : null,
        note: label === 'p50' ? `includes the watcher's 5 ms debounce of file events; map ops per route commit: ${[...new Set(ops)].join(', ')}` : undefined,
      });
    }
    const noRedis = missing('redis');
    const multi = noRedis ? null : await multiNode(s, commits);
    for (const [label, p] of [
      ['p50', 0.5],
      ['p95', 0.95],
      ['p99', 0.99],
    ] as const) {
      if (!multi) {
        s.unavailable(
          `commit → applied on the last of ${NODES} nodes over Redis, ${label}`,
          'ms',
          noRedis!,
          label === 'p99' ? { max: 100, text: '< 100 ms' } : undefined,
        );
        continue;
      }
      s.row({
        name: `commit → applied on the last of ${NODES} nodes over Redis, ${label} of ${multi.change.length}`,
        value: percentile(multi.change, p),
        unit: 'ms',
        baseline: { name: `${label}, commit outside routes/, last of ${NODES} nodes`, value: percentile(multi.noop, p) },
        goal: label === 'p99' ? { max: 100, text: '< 100 ms' } : null,
        note:
          label === 'p50'
            ? `rauta watch + ${NODES} rauta agent processes (BullMQ wake-ups, Redis Streams log), each agent XDP-attached to its own veth; times from the agents' log lines (1 ms resolution)`
            : undefined,
      });
    }
    const p99 = percentile(change, 0.99);
    for (const ref of REFERENCES) {
      s.row({
        name: `reference: ${ref.name}`,
        value: ref.ms,
        unit: 'ms',
        baseline: { name: 'embedded p99 above', value: p99 },
        note: 'a documented default interval, not measured: the worst-case wait before such a tool even looks at the commit',
      });
    }
  },
  ['bpf', 'git'],
);
