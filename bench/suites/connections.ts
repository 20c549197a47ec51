// Suite 8, connections: real TCP connections, driven by wrk from the client
// namespace of the load balancer's network (scripts/lb-net.sh, as the tests
// build it), to three targets on the same node, interleaved run by run:
//
//   direct  the backends themselves, routed by the node's kernel as a plain
//           router (ip_forward=1): the floor, no load balancer on the path
//   rauta   the VIP, through rauta's XDP + TC programs (delayed binding)
//   nginx   nginx on the node as a path-routing reverse proxy with the same
//           routes, configured to be fast (upstream keep-alive, HTTP/1.1)
//
// with keep-alive and with `Connection: close`. The backends are nginx too
// (a fixed 3-byte body from every address of 10.1.0.0/16), so no target
// measures a slow backend. Every run checks it took the path it names
// (rauta's counters, nginx's request counts, the node's forwarding counter,
// wrk's errors) and throws otherwise.
import { rmSync } from 'node:fs';
import { applyPlan } from '../../src/dataplane/apply.js';
import { closeFd, enableRunTimeStats, progRunStats, withNetns } from '../../src/dataplane/libbpf.js';
import { sweepFlows } from '../../src/dataplane/flow-reaper.js';
import { FlowSide, FlowState } from '../../src/model/map-types.js';
import { OUTCOMES, type MetricName } from '../../src/model/metrics.js';
import { attachXdp, loadRauta, unpin, type RautaProgram } from '../../src/dataplane/program.js';
import { emptyAppliedState, planChanges } from '../../src/plan/plan.js';
import type { Listener, Route } from '../../src/routes/route-model.js';
import { createLbNet, inNs, VIP, type LbNet } from '../../testbed/lb-net.js';
import { machineBusyTicks, NS_PER_TICK } from '../lib/cpu.js';
import { startNginx, type Nginx, type NginxStatus } from '../lib/nginx.js';
import type { Goal } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { missing, runSuite } from '../lib/suite.js';
import { runWrk, wrkErrors, type WrkResult } from '../lib/wrk.js';

/** nginx's listener on the node: a second address of the node's interface. */
const NGINX_ADDR = '10.0.0.11';
const BACKENDS = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'];
const BACKEND_PORT = 8080;
/** The routes rauta and nginx both carry; wrk asks for the first. */
const PATHS = ['/api/users', '/api/orders', '/api/products', '/static/app.js'];
const BENCH_PATH = PATHS[0]!;
const BODY = 'ok\n';
const THREADS = 2;
const CONNECTIONS = 32;
/** Workers per nginx (backends and proxy): one per core of these 2-core machines. */
const WORKERS = 2;

type Target = 'direct' | 'rauta' | 'nginx';
const TARGETS: readonly Target[] = ['direct', 'rauta', 'nginx'];
interface Mode {
  id: 'keep-alive' | 'close';
  label: string;
  headers: string[];
}
const MODES: readonly Mode[] = [
  { id: 'keep-alive', label: 'keep-alive', headers: [] },
  { id: 'close', label: 'Connection: close', headers: ['Connection: close'] },
];
const URLS: Record<Target, string> = {
  // one backend address: every address of 10.1.0.0/16 is the same nginx behind the same route of the node
  direct: `http://${BACKENDS[0]}:${BACKEND_PORT}${BENCH_PATH}`,
  rauta: `http://${VIP}${BENCH_PATH}`,
  nginx: `http://${NGINX_ADDR}${BENCH_PATH}`,
};
const FLOOR_FACTOR = 1.5;

/** One wrk run and what the machine spent on it. */
interface Sample {
  wrk: WrkResult;
  /** /proc/stat busy time of all CPUs, per completed request */
  machineNsPerReq: number;
  /** rauta_xdp + rauta_tc run time (bpf_prog_info.run_time_ns), per request */
  bpfNsPerReq: number;
  /** program runs (both programs) per request */
  bpfRunsPerReq: number;
  /** the proxy nginx's workers, utime + stime, per request */
  proxyNsPerReq: number;
  /** TCP segments retransmitted in the client, backend and node namespaces */
  retrans: { client: number; backend: number; node: number };
  /** flows left in FLOW_CACHE 5 s after the run, by state (rauta runs only) */
  leftover: string;
  /** wrk's timeout count: connections whose request had no answer after 5 s, counted at each of wrk's checks */
  timeouts: number;
  /** rauta's counters of trouble during the run, those that moved */
  trouble: Partial<Record<MetricName, number>>;
}

/** METRICS slots that say a connection did not go smoothly. */
const TROUBLE: readonly MetricName[] = [
  'HANDSHAKE_WAIT',
  'NO_FLOW_RST',
  'NO_FLOW_BACKEND',
  'RESET',
  'BACKEND_REFUSED',
  'TUPLE_BUSY',
  'REPLY_BAD_REQUEST',
  'REPLY_NO_ROUTE',
];

interface Snapshot {
  busy: number;
  bpfNs: number;
  bpfRuns: number;
  proxyTicks: number;
  metrics: Record<MetricName, number>;
  backend: NginxStatus;
  proxy: NginxStatus;
  nstat: { client: Record<string, number>; backend: Record<string, number>; node: Record<string, number> };
}

await runSuite(
  'connections',
  async (s) => {
    const unmet = (['wrk', 'nginx'] as const).map(missing).filter((r): r is string => r !== null);
    if (unmet.length > 0) {
      for (const r of MODES.flatMap(rowTemplates)) s.unavailable(r.name, r.unit, unmet.join('; '), r.goalText ? { text: r.goalText } : undefined);
      return;
    }
    const durationS = s.size(6, 2, 1);
    const rounds = s.size(3, 2, 1);
    const warmupS = s.size(2, 1, 0);

    const net = createLbNet();
    const pinDir = s.pinDir('conn');
    const aborter = new AbortController();
    let prog: RautaProgram | null = null;
    let statsFd = -1;
    let sweeper: NodeJS.Timeout | undefined;
    const nginxes: Nginx[] = [];
    const cleanup = async () => {
      aborter.abort();
      clearInterval(sweeper);
      await Promise.allSettled(nginxes.map((n) => n.stop()));
      if (statsFd >= 0) closeFd(statsFd);
      statsFd = -1;
      net.destroy(); // the node's interface goes with it, and the programs attached to it
      prog?.close();
      prog = null;
      unpin(pinDir);
      rmSync(pinDir, { recursive: true, force: true });
    };
    s.onAbort(cleanup);
    try {
      await prepareNode(net);
      const backend = await startNginx({ name: 'backends', dir: s.ctx.tmpRoot, netns: net.backendNs, workers: WORKERS, http: backendHttp() });
      nginxes.push(backend);
      const proxy = await startNginx({ name: 'proxy', dir: s.ctx.tmpRoot, netns: net.nodeNs, workers: WORKERS, http: proxyHttp() });
      nginxes.push(proxy);
      prog = await loadAndAttach(net, pinDir);
      const p = prog;
      for (const t of TARGETS) await expectAnswer(net, t);
      // the agent's flow reaper, on the agent's timer (rauta run: every 5 s): half-open flows past their timeout go
      sweeper = setInterval(() => sweepFlows(p.typed), 5000);
      statsFd = enableRunTimeStats();
      s.log(`wrk -t${THREADS} -c${CONNECTIONS}, ${durationS} s per run, ${rounds} round(s); targets interleaved run by run`);

      const nstat = async (ns: string) => (JSON.parse((await inNs(ns, 'nstat', ['-saz', '--json'])).stdout) as { kernel: Record<string, number> }).kernel;
      // CPU counters are read right next to wrk (last before it, first after it), so they frame the run
      // tightly; the slower reads (nstat processes, status sockets) stay outside that frame
      const cpu = () => {
        const xdp = progRunStats(p.progFd);
        const tc = progRunStats(p.tcProgFd);
        return { busy: machineBusyTicks(), bpfNs: xdp.runTimeNs + tc.runTimeNs, bpfRuns: xdp.runCount + tc.runCount, proxyTicks: proxy.workerTicks() };
      };
      const counters = async () => {
        const [client, backendNs, node] = await Promise.all([nstat(net.clientNs), nstat(net.backendNs), nstat(net.nodeNs)]);
        return { metrics: p.typed.readMetrics(), backend: await backend.status(), proxy: await proxy.status(), nstat: { client, backend: backendNs, node } };
      };

      const run = async (target: Target, mode: Mode, seconds: number): Promise<Sample> => {
        const before: Snapshot = { ...(await counters()), ...cpu() };
        const wrk = await runWrk({
          netns: net.clientNs,
          url: URLS[target],
          threads: THREADS,
          connections: CONNECTIONS,
          durationS: seconds,
          headers: mode.headers,
          scratchDir: s.ctx.tmpRoot,
          signal: aborter.signal,
        });
        const afterCpu = cpu();
        const after: Snapshot = { ...afterCpu, ...(await counters()) };
        const leftover = target === 'rauta' ? await drainFlows(p) : '';
        checkPath(target, mode, wrk, before, after);
        const n = wrk.requests;
        const d = (get: (x: Snapshot) => number) => get(after) - get(before);
        return {
          wrk,
          machineNsPerReq: (d((x) => x.busy) * NS_PER_TICK) / n,
          bpfNsPerReq: d((x) => x.bpfNs) / n,
          bpfRunsPerReq: d((x) => x.bpfRuns) / n,
          proxyNsPerReq: (d((x) => x.proxyTicks) * NS_PER_TICK) / n,
          retrans: {
            client: d((x) => x.nstat.client.TcpRetransSegs ?? 0),
            backend: d((x) => x.nstat.backend.TcpRetransSegs ?? 0),
            node: d((x) => x.nstat.node.TcpRetransSegs ?? 0),
          },
          leftover,
          timeouts: wrk.errors.timeout,
          trouble: Object.fromEntries(TROUBLE.map((c) => [c, after.metrics[c] - before.metrics[c]]).filter(([, v]) => v !== 0)),
        };
      };

      // One mode after the other (its rows are kept if the next one fails); within a mode,
      // every round runs the three targets back to back, so they share the machine's state.
      for (const m of MODES) {
        for (const t of warmupS > 0 ? TARGETS : []) {
          const w = await run(t, m, warmupS);
          s.log(
            `${m.id} warm-up ${t}: ${w.wrk.requestsPerS.toFixed(0)} req/s${w.timeouts ? `, wrk timeouts ${w.timeouts}` : ''}${w.leftover ? `, left: ${w.leftover}` : ''}`,
          );
        }
        const samples = new Map<Target, Sample[]>(TARGETS.map((t) => [t, []]));
        for (let r = 0; r < rounds; r++) {
          for (const t of TARGETS) {
            const sample = await run(t, m, durationS);
            const trouble = Object.entries(sample.trouble)
              .map(([k, v]) => `${k} ${v}`)
              .join(' ');
            s.log(
              `${m.id} round ${r + 1} ${t}: ${sample.wrk.requestsPerS.toFixed(0)} req/s, p50 ${sample.wrk.p50Ms.toFixed(2)} ms, p99 ${sample.wrk.p99Ms.toFixed(2)} ms, machine ${(sample.machineNsPerReq / 1000).toFixed(1)} µs/req, retrans c/b/n ${sample.retrans.client}/${sample.retrans.backend}/${sample.retrans.node}${sample.timeouts ? `, wrk timeouts ${sample.timeouts}` : ''}${trouble ? `, ${trouble}` : ''}${sample.leftover ? `, left: ${sample.leftover}` : ''}`,
            );
            samples.get(t)!.push(sample);
          }
        }
        const result = (t: Target) => summarize(samples.get(t)!);
        for (const t of rowTemplates(m)) s.row({ name: t.name, unit: t.unit, ...t.build(result, durationS, rounds) });
      }
    } finally {
      await cleanup();
    }
  },
  ['bpf'],
);

// ---- the network and the three targets ---------------------------------------

/** The node as a router too (the direct target), and nginx's address beside the VIP. */
async function prepareNode(net: LbNet): Promise<void> {
  const sysctls = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', `net.ipv4.conf.${net.nodeIf}.send_redirects=0`];
  const r = await inNs(net.nodeNs, 'sysctl', ['-qw', ...sysctls]);
  if (r.code !== 0) throw new Error(`sysctl in ${net.nodeNs}: ${r.stderr}`);
  const a = await inNs(net.nodeNs, 'ip', ['addr', 'add', `${NGINX_ADDR}/32`, 'dev', net.nodeIf]);
  if (a.code !== 0) throw new Error(`ip addr add ${NGINX_ADDR}: ${a.stderr}`);
}

function backendHttp(): string {
  return `  keepalive_requests 1000000;
  server {
    listen ${BACKEND_PORT} reuseport backlog=4096;
    location / { return 200 "${BODY.replace('\n', '\\n')}"; }
  }`;
}

/** A path-routing reverse proxy as an operator tuning for speed writes it: one exact location per route, upstream keep-alive. */
function proxyHttp(): string {
  const upstream = `  upstream backends {
${BACKENDS.map((ip) => `    server ${ip}:${BACKEND_PORT};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
  }`;
  const locations = PATHS.map(
    (path) => `    location = ${path} {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }`,
  ).join('\n');
  return `${upstream}
  keepalive_requests 1000000;
  server {
    listen ${NGINX_ADDR}:80 reuseport backlog=4096;
${locations}
    location / { return 404; }
  }`;
}

/** rauta's programs in the node's namespace, the routes written the way the agent writes them (plan, then apply). */
async function loadAndAttach(net: LbNet, pinDir: string): Promise<RautaProgram> {
  unpin(pinDir);
  const prog = loadRauta({ pinDir });
  try {
    const link = JSON.parse((await inNs(net.backendNs, 'ip', ['-j', 'link', 'show', `${net.name}bkp`])).stdout) as Array<{ address: string }>;
    const backendMac = link[0]!.address;
    const routes: Route[] = PATHS.map((path, i) => ({
      name: `r${i}`,
      method: 'GET',
      path,
      backends: BACKENDS.map((ip) => ({ ip, port: BACKEND_PORT, weight: 1 })),
      tableSize: 4099,
      source: { file: 'routes/bench.yaml', line: i + 1 },
    }));
    const listeners: Listener[] = [{ name: 'web', address: VIP, port: 80, source: { file: 'routes/listeners.yaml', line: 1 } }];
    const plan = planChanges(emptyAppliedState(), { routes, listeners, nexthops: Object.fromEntries(BACKENDS.map((ip) => [ip, backendMac])) });
    applyPlan(prog.typed, plan.ops);
    const mode = withNetns(net.nodeNs, () => attachXdp(prog, net.nodeIf, 'native'));
    if (mode !== 'native') throw new Error(`XDP attached in ${mode} mode`);
    return prog;
  } catch (err) {
    prog.close();
    throw err;
  }
}

/** One request through each target before measuring: the fixed body, or the suite stops. */
async function expectAnswer(net: LbNet, target: Target): Promise<void> {
  const r = await inNs(net.clientNs, 'curl', ['-sS', '-m', '10', URLS[target]]);
  if (r.code !== 0 || r.stdout !== BODY)
    throw new Error(`${target}: GET ${URLS[target]} answered ${JSON.stringify(r.stdout)} (curl exit ${r.code} ${r.stderr.trim()})`);
}

/** Wait (≤ 5 s) until rauta holds no flow: connections closed through it leave nothing; '' or what was left. */
async function drainFlows(prog: RautaProgram): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const sides = [...prog.typed.flowCache.entries()].map(([, v]) => v);
    if (sides.length === 0) return '';
    if (Date.now() > deadline) {
      const by = new Map<string, number>();
      for (const v of sides) {
        const what = `${v.side === FlowSide.CLIENT ? 'client' : 'backend'} side ${FlowState[v.state] ?? v.state}`;
        by.set(what, (by.get(what) ?? 0) + 1);
      }
      return [...by].map(([k, n]) => `${n} ${k}`).join(', ');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The run went through the target it names, kept (or did not keep)
 * connections alive as its mode says, and every request was answered 2xx;
 * otherwise the run is not what its row says and the suite stops.
 */
function checkPath(target: Target, mode: Mode, wrk: WrkResult, before: Snapshot, after: Snapshot): void {
  const n = wrk.requests;
  const where = `${target}, ${mode.label}`;
  const fail = (what: string) => {
    throw new Error(`${where}: ${what} (wrk: ${n} requests)\n${wrk.text}`);
  };
  if (n === 0) fail('wrk completed no request');
  // a timeout is a request the target took but did not answer in time: counted in the row's note, not a wrong path
  const errors = wrkErrors({ ...wrk, errors: { ...wrk.errors, timeout: 0 } });
  if (errors) fail(`wrk reported ${errors}`);
  const m = (name: MetricName) => after.metrics[name] - before.metrics[name];
  // every stub_status read counts itself: the "after" read is one of the delta
  const backendServed = after.backend.requests - before.backend.requests - 1;
  const proxyServed = after.proxy.requests - before.proxy.requests - 1;
  const forwarded = (after.nstat.node.IpForwDatagrams ?? 0) - (before.nstat.node.IpForwDatagrams ?? 0);
  if (backendServed < n) fail(`the backends served ${backendServed} requests, fewer than wrk completed`);
  // direct and nginx: rauta's XDP program sees their packets and must pass every one untouched
  const acted = OUTCOMES.filter((o) => !o.startsWith('PASS_') && m(o) !== 0);
  if (target !== 'rauta' && acted.length > 0)
    fail(
      `rauta's data path acted on packets during this run (${acted.map((o) => `${o} ${m(o)}`).join(', ')}; segments of earlier connections still being retransmitted count too): not the path the row names`,
    );
  let opened: number;
  if (target === 'direct') {
    if (proxyServed !== 0) fail(`nginx served ${proxyServed} requests: not the direct path`);
    if (forwarded < 2 * n) fail(`the node forwarded ${forwarded} packets, fewer than a request and an answer each`);
    if (m('PASS_NOT_LISTENER') < n) fail(`rauta's XDP program passed ${m('PASS_NOT_LISTENER')} packets: the traffic did not cross the node's interface`);
    opened = after.backend.accepts - before.backend.accepts - 1;
  } else if (target === 'rauta') {
    if (proxyServed !== 0) fail(`nginx served ${proxyServed} requests`);
    if (m('TO_CLIENT') < n) fail(`rauta sent ${m('TO_CLIENT')} segments to the client, fewer than one per answer`);
    if (forwarded > n / 10) fail(`the node's kernel forwarded ${forwarded} packets: part of the traffic went around rauta`);
    opened = m('ROUTED');
  } else {
    if (proxyServed < n) fail(`nginx served ${proxyServed} requests, fewer than wrk completed`);
    opened = after.proxy.accepts - before.proxy.accepts - 1;
  }
  if (mode.id === 'keep-alive' && opened > 2 * CONNECTIONS) fail(`${opened} client connections were opened for ${CONNECTIONS} kept-alive ones`);
  if (mode.id === 'close' && opened < n) fail(`${opened} client connections were opened for ${n} requests with Connection: close`);
}

// ---- rows ----------------------------------------------------------------------

interface Summary {
  rps: number;
  p50: number;
  p99: number;
  machine: number;
  bpf: number;
  bpfRuns: number;
  proxy: number;
  requests: number;
  retrans: { client: number; backend: number; node: number };
  leftover: string[];
  timeouts: number;
  trouble: Partial<Record<MetricName, number>>;
}

function summarize(ss: readonly Sample[]): Summary {
  const sum = (f: (x: Sample) => number) => ss.reduce((a, x) => a + f(x), 0);
  return {
    rps: median(ss.map((x) => x.wrk.requestsPerS)),
    p50: median(ss.map((x) => x.wrk.p50Ms)),
    p99: median(ss.map((x) => x.wrk.p99Ms)),
    machine: median(ss.map((x) => x.machineNsPerReq)),
    bpf: median(ss.map((x) => x.bpfNsPerReq)),
    bpfRuns: median(ss.map((x) => x.bpfRunsPerReq)),
    proxy: median(ss.map((x) => x.proxyNsPerReq)),
    requests: sum((x) => x.wrk.requests),
    retrans: { client: sum((x) => x.retrans.client), backend: sum((x) => x.retrans.backend), node: sum((x) => x.retrans.node) },
    leftover: ss.map((x) => x.leftover).filter(Boolean),
    timeouts: sum((x) => x.timeouts),
    trouble: ss.reduce<Partial<Record<MetricName, number>>>((acc, x) => {
      for (const [k, v] of Object.entries(x.trouble)) acc[k as MetricName] = (acc[k as MetricName] ?? 0) + v;
      return acc;
    }, {}),
  };
}

type Results = (t: Target) => Summary;

interface RowTemplate {
  name: string;
  unit: string;
  /** how the goal reads (also on an `n/a` row) */
  goalText: string | null;
  build(res: Results, durationS: number, rounds: number): { value: number; baseline: { name: string; value: number }; goal?: Goal; note?: string };
}

/** Every row of a mode, in order: the same names whether measured or `n/a`. */
function rowTemplates(m: Mode): RowTemplate[] {
  const out: RowTemplate[] = [];
  const times = (a: number, b: number) => `${(a / b).toFixed(2)}× direct`;
  const retrans = (r: Summary) =>
    `retransmitted segments over all runs: client ${r.retrans.client}, backends ${r.retrans.backend}, node ${r.retrans.node}` +
    (r.timeouts > 0 ? `; wrk timeouts (a request unanswered after 5 s, counted at each of wrk's checks): ${r.timeouts}` : '');
  {
    const keepAlive = m.id === 'keep-alive';
    const row = (name: string, unit: string, goalText: string | null, build: RowTemplate['build']) =>
      out.push({ name: `${m.label}: ${name}`, unit, goalText, build });
    // "ahead of nginx" (both modes): more requests/s, a lower p99
    const ahead = (res: Results, get: (x: Summary) => number, better: 'higher' | 'lower'): Goal => {
      const [a, b] = [get(res('rauta')), get(res('nginx'))];
      return { text: better === 'higher' ? '> nginx' : '< nginx', holds: better === 'higher' ? a > b : a < b };
    };
    // "within 1.5× of the direct floor" (keep-alive)
    const rpsFloorText = keepAlive ? `≥ floor / ${FLOOR_FACTOR}` : null;
    const p99FloorText = keepAlive ? `≤ ${FLOOR_FACTOR}× floor` : null;

    const r = (t: Target, res: Results) => res(t);
    row('requests/s, direct (floor)', 'req/s', null, (res, d, n) => ({
      value: r('direct', res).rps,
      baseline: { name: 'itself', value: r('direct', res).rps },
      note: `wrk -t${THREADS} -c${CONNECTIONS}, ${d} s runs, median of ${n}, targets interleaved; wrk -> ${URLS.direct}, forwarded both ways by the node's kernel (rauta's XDP program passes these packets); ${retrans(r('direct', res))}`,
    }));
    row('requests/s, nginx', 'req/s', null, (res) => ({
      value: r('nginx', res).rps,
      baseline: { name: 'direct', value: r('direct', res).rps },
      note: `wrk -> ${URLS.nginx}: nginx on the node proxying to the same ${BACKENDS.length} backends; ${retrans(r('nginx', res))}`,
    }));
    row('requests/s, rauta vs nginx', 'req/s', '> nginx', (res) => {
      const x = r('rauta', res);
      return {
        value: x.rps,
        baseline: { name: 'nginx', value: r('nginx', res).rps },
        goal: ahead(res, (y) => y.rps, 'higher'),
        note:
          `wrk -> ${URLS.rauta}, the VIP: ${PATHS.length} routes × ${BACKENDS.length} backends in rauta's maps; ${retrans(x)}` +
          (Object.keys(x.trouble).length
            ? `; METRICS over all runs: ${Object.entries(x.trouble)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`
            : '') +
          (x.leftover.length ? `; flows still in FLOW_CACHE 5 s after a run: ${x.leftover.join(' | ')}` : ''),
      };
    });
    row('requests/s, rauta vs direct', 'req/s', rpsFloorText, (res) => ({
      value: r('rauta', res).rps,
      baseline: { name: 'direct', value: r('direct', res).rps },
      ...(rpsFloorText ? { goal: { ratioMin: 1 / FLOOR_FACTOR, text: rpsFloorText } } : {}),
    }));

    row('p50 latency, direct (floor)', 'ms', null, (res) => ({
      value: r('direct', res).p50,
      baseline: { name: 'itself', value: r('direct', res).p50 },
      note: keepAlive
        ? 'wrk --latency: from writing a request to its complete answer'
        : "wrk --latency: from writing a request (the client's connect already done) to its complete answer; rauta opens the backend connection only when the request arrives, so its backend handshake is inside the figure, the other targets' client handshakes are not",
    }));
    row('p50 latency, nginx', 'ms', null, (res) => ({ value: r('nginx', res).p50, baseline: { name: 'direct', value: r('direct', res).p50 } }));
    row('p50 latency, rauta', 'ms', null, (res) => ({
      value: r('rauta', res).p50,
      baseline: { name: 'nginx', value: r('nginx', res).p50 },
      note: times(r('rauta', res).p50, r('direct', res).p50),
    }));
    row('p99 latency, direct (floor)', 'ms', null, (res) => ({ value: r('direct', res).p99, baseline: { name: 'itself', value: r('direct', res).p99 } }));
    row('p99 latency, nginx', 'ms', null, (res) => ({ value: r('nginx', res).p99, baseline: { name: 'direct', value: r('direct', res).p99 } }));
    row('p99 latency, rauta vs nginx', 'ms', '< nginx', (res) => ({
      value: r('rauta', res).p99,
      baseline: { name: 'nginx', value: r('nginx', res).p99 },
      goal: ahead(res, (y) => y.p99, 'lower'),
    }));
    row('p99 latency, rauta vs direct', 'ms', p99FloorText, (res) => ({
      value: r('rauta', res).p99,
      baseline: { name: 'direct', value: r('direct', res).p99 },
      ...(p99FloorText ? { goal: { ratioMax: FLOOR_FACTOR, text: p99FloorText } } : {}),
    }));

    row("node CPU per request, rauta's BPF programs", 'ns/req', null, (res) => ({
      value: r('rauta', res).bpf,
      baseline: { name: "nginx workers' utime+stime", value: r('nginx', res).proxy },
      note:
        `rauta: run_time_ns of rauta_xdp + rauta_tc (bpf_prog_info, BPF_ENABLE_STATS), ${r('rauta', res).bpfRuns.toFixed(1)} program runs per request; not the kernel around them (veth receive, XDP_TX, the skb of the TC step). ` +
        `nginx: utime+stime of its ${WORKERS} workers (/proc/<pid>/stat): its code and syscalls, not softirq packet processing charged to whoever ran. ` +
        `In the direct runs rauta's XDP program, passing every packet, took ${r('direct', res).bpf.toFixed(0)} ns per request`,
    }));
    row('machine CPU per request, direct (floor)', 'ns/req', null, (res) => ({
      value: r('direct', res).machine,
      baseline: { name: 'itself', value: r('direct', res).machine },
      note: '/proc/stat busy time of all CPUs (user+nice+system+irq+softirq; not idle, iowait, steal) during the run / requests: wrk, the backends, the node, and whatever else ran on this shared machine; comparable across targets',
    }));
    row('machine CPU per request, nginx', 'ns/req', null, (res) => ({
      value: r('nginx', res).machine,
      baseline: { name: 'direct', value: r('direct', res).machine },
    }));
    row('machine CPU per request, rauta', 'ns/req', null, (res) => ({
      value: r('rauta', res).machine,
      baseline: { name: 'nginx', value: r('nginx', res).machine },
      note: times(r('rauta', res).machine, r('direct', res).machine),
    }));
  }
  return out;
}
