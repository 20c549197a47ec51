// Suite health: how fast a node stops sending new connections to a dead
// backend, and what a health change costs the maps. `rauta run` on the
// load balancer's network (scripts/lb-net.sh, as the tests build it), one
// demo-backends process per backend, a steady stream of new connections from
// the client namespace (testbed/conn-stream.mjs), and then, kill after kill:
//
//   death -> last new connection sent to it: a backend is SIGKILLed; the
//     connections opened after that which failed are exactly the ones the node
//     still sent to it (the others stay up); the figure is the last one's
//     start minus the kill. Beside the bound the check settings give
//     (unhealthyThreshold x interval + timeout): the passive signal (refused
//     handshakes in BACKEND_STATS) usually drains it well before.
//   check failure -> drained: a backend keeps serving but its /healthz says
//     503 (no passive signal): the active checks alone, to the agent's log
//     line, beside the same bound.
//   map writes and share of connections moved per health change, beside a
//     commit that removes one backend from the same route (measured here).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../../testbed/git-repo.js';
import { createLbNet, inNs, startBackends, VIP, type Backends, type LbNet } from '../../testbed/lb-net.js';
import { spawnNodeRun, type LogLine, type RautaProc } from '../../testbed/multinode-cluster.js';
import { unpin } from '../../src/dataplane/program.js';
import { median, percentile } from '../lib/stats.js';
import { runSuite } from '../lib/suite.js';

const POOL = ['10.1.5.1:8080', '10.1.5.2:8080', '10.1.5.3:8080', '10.1.5.4:8080'];
const CHECK = { path: '/healthz', intervalSeconds: 1, timeoutSeconds: 0.5, healthyThreshold: 2, unhealthyThreshold: 2 };
const BOUND_MS = CHECK.unhealthyThreshold * CHECK.intervalSeconds * 1000 + CHECK.timeoutSeconds * 1000;
const RATE = 200;

interface Conn {
  t: number;
  outcome: string;
  backend?: string | null;
}

void runSuite(
  'health',
  async (api) => {
    const kills = api.size(20, 5, 2);
    const tmp = tempDir('bench-health');
    const net: LbNet = createLbNet();
    const pinDir = api.pinDir('health');
    const backends = new Map<string, Backends>();
    let run: RautaProc | null = null;
    let stream: ChildProcess | null = null;
    const cleanup = async () => {
      stream?.kill();
      await run?.stop();
      await Promise.all([...backends.values()].map((b) => b.stop()));
      net.destroy();
      unpin(pinDir);
      tmp.cleanup();
    };
    api.onAbort(cleanup);
    try {
      for (const e of POOL) backends.set(e, await startBackends(net, [e]));
      const repo = TestRepo.init(`${tmp.dir}/repo`);
      repo.write('routes/listeners.yaml', listenerYaml('web', VIP, 80));
      const routes = (backendsOf: string[]) => routeYaml([{ name: 'pool', path: '/pool', backends: backendsOf, healthCheck: CHECK }]);
      repo.write('routes/app.yaml', routes(POOL));
      let head = repo.commit('pool');
      run = spawnNodeRun(net, { repo: repo.dir, pinDir, stateDir: `${tmp.dir}/state` });
      const r = run;
      await r.waitLine((l) => l.msg === 'applied' && l.commit === head, 'the pool applied');

      // The baseline: a commit that removes one backend, and the one that puts it back.
      let from = r.lines.length;
      repo.write('routes/app.yaml', routes(POOL.slice(1)));
      head = repo.commit('pool without its first backend');
      const commitApplied = await r.waitLine((l) => l.msg === 'applied' && l.commit === head, 'the removal applied', from);
      repo.write('routes/app.yaml', routes(POOL));
      head = repo.commit('pool again');
      await r.waitLine((l) => l.msg === 'applied' && l.commit === head, 'the return applied', from);

      // New connections all along, one JSON line each.
      const conns: Conn[] = [];
      stream = spawn(
        'ip',
        ['netns', 'exec', net.clientNs, process.execPath, 'testbed/conn-stream.mjs', VIP, '80', '/pool', '--rate', String(RATE), '--timeout', '2000'],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      createInterface({ input: stream.stdout! }).on('line', (l) => conns.push(JSON.parse(l) as Conn));

      const healthLine = (backend: string, healthy: boolean, since: number): Promise<LogLine> =>
        r.waitLine(
          (l) => l.backend === backend && l.healthy === healthy && typeof l.reason === 'string',
          `${backend} ${healthy ? 'healthy' : 'unhealthy'}`,
          since,
          60_000,
        );
      const changes: LogLine[] = [];
      const lastSent: number[] = [];
      const passive: number[] = [];
      for (let k = 0; k < kills; k++) {
        const victim = POOL[k % POOL.length]!;
        from = r.lines.length;
        const killedAt = Date.now();
        backends.get(victim)!.child.kill('SIGKILL');
        backends.delete(victim);
        const down = await healthLine(victim, false, from);
        if (/the data path saw/.test(String(down.reason))) passive.push(1);
        changes.push(await r.waitLine((l) => l.msg === 'applied' && l.reason === 'replan', 'the drain applied', from));
        await new Promise((res) => setTimeout(res, 2500)); // connections in flight at the drain end (refused at once, or the 2 s timeout)
        const failed = conns.filter((c) => c.t >= killedAt && c.outcome !== 'ok');
        const sent = failed.length > 0 ? Math.max(...failed.map((c) => c.t)) - killedAt : 0;
        lastSent.push(sent);
        api.log(`kill ${k + 1}/${kills} ${victim}: last new connection to it ${sent} ms after the kill (${failed.length} failed), ${down.reason}`);
        from = r.lines.length;
        backends.set(victim, await startBackends(net, [victim]));
        await healthLine(victim, true, from);
        changes.push(await r.waitLine((l) => l.msg === 'applied' && l.reason === 'replan', 'the return applied', from));
      }
      const okAfter = conns.filter((c) => c.outcome === 'ok').length;

      // Active checks alone: /healthz says 503, the backend keeps serving (no passive signal).
      const detect: number[] = [];
      for (let k = 0; k < kills; k++) {
        const victim = POOL[k % POOL.length]!;
        from = r.lines.length;
        const failedAt = Date.now();
        await inNs(net.backendNs, 'curl', ['-sS', '-m', '5', '-X', 'PUT', `http://${victim}/control/healthz?status=503`]);
        const down = await healthLine(victim, false, from);
        detect.push(Date.parse(String(down.time)) - failedAt);
        await inNs(net.backendNs, 'curl', ['-sS', '-m', '5', '-X', 'PUT', `http://${victim}/control/healthz?status=200`]);
        await healthLine(victim, true, from);
      }
      stream.stdin!.end();

      const bound = { name: `configured bound: ${CHECK.unhealthyThreshold} × ${CHECK.intervalSeconds} s + ${CHECK.timeoutSeconds} s timeout`, value: BOUND_MS };
      const note = `${kills} SIGKILLs of one of ${POOL.length} backends under ${RATE} new connections/s; ${passive.length} drained first by the passive signal; ${okAfter} connections succeeded in all`;
      api.row({
        name: 'dead backend: kill -> last new connection sent to it, p50',
        value: percentile(lastSent, 0.5),
        unit: 'ms',
        baseline: bound,
        goal: { ratioMax: 1, text: '≤ bound' },
        note,
      });
      api.row({
        name: 'dead backend: kill -> last new connection sent to it, p99',
        value: percentile(lastSent, 0.99),
        unit: 'ms',
        baseline: bound,
        goal: { ratioMax: 1, text: '≤ bound' },
      });
      api.row({
        name: 'failing check (503, no passive signal) -> drained, p50',
        value: percentile(detect, 0.5),
        unit: 'ms',
        baseline: bound,
        goal: { ratioMax: 1, text: '≤ bound' },
        note: `${kills} times; to the agent's log line`,
      });
      api.row({
        name: 'failing check (503, no passive signal) -> drained, p99',
        value: percentile(detect, 0.99),
        unit: 'ms',
        baseline: bound,
        goal: { ratioMax: 1, text: '≤ bound' },
      });
      const ops = changes.map((c) => Number(c.ops));
      const commitOps = { name: 'a commit removing one backend', value: Number(commitApplied.ops) };
      api.row({
        name: 'map writes per health change (median)',
        value: median(ops),
        unit: 'writes',
        baseline: commitOps,
        goal: { max: 3.5, text: '3, as for a commit' },
        note: `${changes.length} changes (drains and returns), max ${Math.max(...ops)}`,
      });
      const drains = changes.filter((_, i) => i % 2 === 0).map((c) => Number(c.disruption));
      api.row({
        name: "share of the route's connections moved by a drain (median)",
        value: median(drains) * 100,
        unit: '%',
        baseline: { name: 'commit removing one backend', value: Number(commitApplied.disruption) * 100 },
        goal: { max: 100 / POOL.length + 2, text: `≤ 1/N + 2 pp (${(100 / POOL.length + 2).toFixed(0)} %)` },
      });
    } finally {
      await cleanup();
    }
  },
  ['bpf', 'git'],
);
