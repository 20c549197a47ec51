// `rauta probe METHOD PATH`: where does this request go? Opens a connection
// through the loaded XDP program (opened from the pin dir) with
// BPF_PROG_TEST_RUN as a client would: SYN, the program's SYN-cookie SYN-ACK,
// then the first data segment with the request. Reports the SYN the program
// sends to the chosen backend, or the answer it builds in place (404, 503, a
// RST) and why (the METRICS slot that counted it). The probe's flow is removed
// afterwards. With --at REV it answers for a past commit: a fresh program in a
// scratch pin dir gets the full plan of that revision, is probed, and is
// unpinned again; the live maps are not touched.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RautaError } from '../errors.js';
import { applyPlan } from '../dataplane/apply.js';
import { routeIdFor, routeKeyId } from '../model/ids.js';
import { candidateRules } from '../model/route-match.js';
import { forgetFlow, probeConnection, probePort } from '../dataplane/connection-probe.js';
import { OUTCOMES, type MetricName } from '../model/metrics.js';
import { resolveNexthops } from '../dataplane/nexthops.js';
import { DEFAULT_PIN_DIR, loadRauta, openPinned, PROG_PIN, unpin, type RautaProgram } from '../dataplane/program.js';
import { emptyAppliedState, planChanges } from '../plan/plan.js';
import { formatIssue } from '../routes/issues.js';
import { loadRouteRev } from '../routes/load-rev.js';
import { HttpMethod, listenerId, routeId } from '../routes/route-model.js';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface ProbeRequest {
  method: HttpMethod;
  path: string;
  /** the Host header (default: the listener's address, as curl sends it) */
  host?: string;
  client: Endpoint;
  listener: Endpoint;
}

export interface ProbeResult {
  /** routed: the connection is bound and the SYN to the backend went out; reply: 404/503 built in place; reset: RST */
  result: 'routed' | 'reply' | 'reset' | 'other';
  /** "ip:port" of the backend the SYN goes to, null unless routed */
  backend: string | null;
  /** destination MAC of that SYN, null unless routed */
  mac: string | null;
  /** index in the route's backends array, null unless routed */
  backendIndex: number | null;
  /** HTTP status of an answer built in place, null otherwise */
  status: number | null;
  /** lower-case METRICS outcome of the first data segment ("routed", "reply_no_route", ...) */
  reason: string | null;
  /** the rule the request matched ("ANY /api prefix"), its generation, backends (holes are 0.0.0.0:0) and the backends this node drained as unhealthy */
  route: { rule: string; gen: number; backends: string[]; drained: string[] } | null;
  /** every METRICS slot that moved during the probe (other traffic on a live node can add to these) */
  counters: Partial<Record<MetricName, number>>;
  request: { method: string; path: string; host: string; client: string; listener: string };
}

// TEST-NET-2: a client address that is nobody's, so a probe's flow is recognisable.
export const DEFAULT_CLIENT_IP = '198.51.100.1';

/** "ip:port" → Endpoint; RAUTA_ERR_USAGE otherwise. */
export function parseEndpoint(text: string, flag: string): Endpoint {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535 || m[1]!.split('.').some((o) => Number(o) > 255)) {
    throw new RautaError('RAUTA_ERR_USAGE', `${flag} ${text}: give IPv4:PORT, e.g. 10.0.0.10:80`);
  }
  return { ip: m[1]!, port };
}

/** The first listener of the applied state (sorted by address:port), or null when LISTENERS is empty. */
export function firstListener(prog: RautaProgram): Endpoint | null {
  const all = [...prog.typed.listeners.keys()].map((k) => ({ ip: k.addr, port: k.port }));
  all.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port);
  return all[0] ?? null;
}

/** Open one connection through the program with this request, read what it did, and remove the probe's flow. */
export function probeProgram(prog: RautaProgram, req: ProbeRequest): ProbeResult {
  const host = req.host ?? req.listener.ip;
  const run = probeConnection(prog.progFd, prog.typed, {
    client: req.client,
    listener: req.listener,
    payload: `${req.method} ${req.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: rauta-probe\r\n\r\n`,
  });
  // The flow records the ROUTES key the request matched; the request's own candidates name its rule.
  const matched = prog.typed.flowCache.get(run.flowKey)?.route;
  forgetFlow(prog.typed, run.flowKey);
  const matchedId = matched ? routeKeyId(matched) : null;
  const rule = candidateRules({ method: req.method, path: req.path, host }).find((c) => routeIdFor(c) === matchedId);
  const entry = matched && rule ? prog.typed.routes.get(matched) : undefined;
  const route =
    entry && rule
      ? {
          rule: routeId(rule),
          gen: entry.gen,
          backends: entry.backends.map((b) => `${b.ip}:${b.port}`),
          // weight 0 with an address: drained by this node's health checks (a hole is 0.0.0.0:0)
          drained: entry.backends.filter((b) => b.weight === 0 && b.port !== 0).map((b) => `${b.ip}:${b.port}`),
        }
      : null;
  const o = run.outcome;
  const backend = o.kind === 'backend' ? `${o.backend.ip}:${o.backend.port}` : null;
  const i = backend && route ? route.backends.indexOf(backend) : -1;
  // The first segment's outcome: an outcome slot besides the handshake's SYN_COOKIE that moved,
  // of the kind the program's answer shows (on a live interface other packets move slots too:
  // a neighbour solicitation counts PASS_NOT_IPV4 while a probe gets its 404).
  const moved = OUTCOMES.filter((n) => n !== 'SYN_COOKIE' && (run.counters[n] ?? 0) > 0);
  const fits = (n: MetricName) =>
    o.kind === 'backend' ? n === 'ROUTED' : o.kind === 'reply' ? n.startsWith('REPLY_') : o.kind === 'other' ? n.startsWith('PASS_') : !n.startsWith('PASS_');
  const outcome = moved.find(fits) ?? moved[0];
  return {
    result: o.kind === 'backend' ? 'routed' : o.kind,
    backend,
    mac: o.kind === 'backend' ? o.mac : null,
    backendIndex: i >= 0 ? i : null,
    status: o.kind === 'reply' ? o.status : null,
    reason: outcome?.toLowerCase() ?? null,
    route,
    counters: run.counters,
    request: { method: req.method, path: req.path, host, client: `${req.client.ip}:${req.client.port}`, listener: `${req.listener.ip}:${req.listener.port}` },
  };
}

export interface ProbeCliOptions {
  client?: string;
  listener?: string;
  at?: string;
  repo?: string;
  root?: string;
  pinDir?: string;
  host?: string;
  json?: boolean;
}

const WHY: Record<string, string> = {
  reply_bad_request: 'the first segment is not a request line the data path serves',
  reply_no_route: 'no rule matches this method, host and path',
  reply_no_table: 'the route has no backends or no Maglev table for its generation',
  reply_no_nexthop: 'the chosen backend has no nexthop MAC on this node',
  reply_too_large: 'the first segment is longer than the data path carries',
  tuple_busy: "the backend's side of this client address and port is taken by another connection",
  no_flow_rst: 'the SYN cookie did not check out',
  pass_not_listener: 'the destination is not a listener (VIP:port) of this node',
};

export function formatProbe(r: ProbeResult, at?: { rev: string; commit: string }): string {
  const head = `${r.request.method} ${r.request.host}${r.request.path} from ${r.request.client} to ${r.request.listener}${at ? ` at ${at.rev} (${at.commit.slice(0, 12)})` : ''}`;
  const why = r.reason ? ` (${r.reason}${WHY[r.reason] ? `: ${WHY[r.reason]}` : ''})` : '';
  const drained = r.route?.drained ?? [];
  const skipped = drained.length > 0 ? `  skipped as unhealthy on this node: ${drained.join(', ')} (\`rauta status\` says why)\n` : '';
  if (r.result === 'routed') {
    // Removed backends leave holes (0.0.0.0:0) so the others keep their slots: count the live ones.
    const live = r.route ? r.route.backends.filter((b) => b !== '0.0.0.0:0').length - drained.length : '?';
    const idx = r.backendIndex !== null ? `slot #${r.backendIndex}, ${live} live backend${live === 1 ? '' : 's'}` : 'backend';
    return `${head}: matched ${r.route?.rule ?? '?'}, routed to ${r.backend} (${idx}, MAC ${r.mac}, route gen ${r.route?.gen ?? '?'}): the program sent the backend a SYN\n${skipped}`;
  }
  if (r.result === 'reply') return `${head}: answered in place with ${r.status}${why}\n${skipped}`;
  if (r.result === 'reset') return `${head}: reset${why}\n${skipped}`;
  return `${head}: not handled${why}\n${skipped}`;
}

const isMethod = (m: string): m is HttpMethod => HttpMethod.safeParse(m).success;

/** The command without commander: exit 0 routed, 1 passed to the kernel (or dropped), 2 usage/environment. */
export async function runProbe(method: string, path: string, opts: ProbeCliOptions, write: (text: string) => void): Promise<number> {
  const m = method.toUpperCase();
  if (!isMethod(m)) throw new RautaError('RAUTA_ERR_USAGE', `method ${method}: use one of ${HttpMethod.options.join(', ')}`);
  if (!path.startsWith('/')) throw new RautaError('RAUTA_ERR_USAGE', `path ${path}: an HTTP path starts with /`);
  if (opts.host !== undefined && !/^[\x21-\x7e]{1,253}$/.test(opts.host))
    throw new RautaError(
      'RAUTA_ERR_USAGE',
      `--host ${JSON.stringify(opts.host.slice(0, 60))}: give a host name (and optionally :port), printable ASCII, at most 253 characters`,
    );
  const host = opts.host !== undefined ? { host: opts.host } : {};
  const client = opts.client ? parseEndpoint(opts.client, '--client') : { ip: DEFAULT_CLIENT_IP, port: probePort() };
  const given = opts.listener ? parseEndpoint(opts.listener, '--listener') : null;
  const pinDir = opts.pinDir ?? DEFAULT_PIN_DIR;
  let result: ProbeResult;
  let at: { rev: string; commit: string } | undefined;
  if (opts.at !== undefined) {
    const scratch = await probeAt(opts.at, { repo: opts.repo ?? '.', root: opts.root ?? '', livePinDir: pinDir });
    try {
      const listener = given ?? scratch.listener;
      if (!listener) throw new RautaError('RAUTA_ERR_USAGE', `${opts.at} has no listener; pass --listener VIP:PORT`);
      result = probeProgram(scratch.prog, { method: m, path, client, listener, ...host });
      at = { rev: opts.at, commit: scratch.commit };
    } finally {
      scratch.dispose();
    }
  } else {
    if (!existsSync(join(pinDir, PROG_PIN))) {
      throw new RautaError(
        'RAUTA_ERR_USAGE',
        `no rauta program is pinned in ${pinDir}: start \`rauta run\` (or pass --pin-dir), or probe a commit with --at REV`,
      );
    }
    const prog = openPinned(pinDir);
    try {
      const listener = given ?? firstListener(prog);
      if (!listener) throw new RautaError('RAUTA_ERR_USAGE', `the applied state in ${pinDir} has no listener; pass --listener VIP:PORT`);
      result = probeProgram(prog, { method: m, path, client, listener, ...host });
    } finally {
      prog.close();
    }
  }
  write(opts.json ? `${JSON.stringify({ ...result, ...(at ? { at } : {}) }, null, 2)}\n` : formatProbe(result, at));
  return result.result === 'routed' ? 0 : 1;
}

/**
 * A scratch program holding the full plan of one revision. Nexthop MACs come
 * from the live node's NEXTHOPS when it has one, else the neighbour table; a
 * backend neither knows gets a stand-in MAC, so the answer is about routing,
 * not about this node's neighbours.
 */
async function probeAt(
  rev: string,
  opts: { repo: string; root: string; livePinDir: string },
): Promise<{ prog: RautaProgram; commit: string; listener: Endpoint | null; dispose: () => void }> {
  const { commit, result } = await loadRouteRev({ repo: opts.repo, ref: rev, root: opts.root });
  if (result.issues.length > 0) {
    throw new RautaError(
      'RAUTA_ERR_ROUTES_INVALID',
      `${rev} (${commit.slice(0, 12)}) does not validate, so no node ever applied it (they stayed on the commit before):\n${result.issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`,
    );
  }
  const ips = [...new Set(result.routes.flatMap((r) => r.backends.map((b) => b.ip)))];
  const macs: Record<string, string> = {};
  if (existsSync(join(opts.livePinDir, 'nexthops'))) {
    const live = openPinned(opts.livePinDir);
    try {
      for (const [ip, nh] of live.typed.nexthops.entries()) macs[ip] = nh.mac;
    } finally {
      live.close();
    }
  }
  const resolved = await resolveNexthops(ips.filter((ip) => macs[ip] === undefined)).catch(() => null);
  for (const ip of ips) macs[ip] ??= resolved?.macs[ip] ?? '02:00:00:00:00:00';
  const pinDir = `/sys/fs/bpf/rauta-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  const prog = loadRauta({ pinDir });
  const dispose = () => {
    prog.close();
    unpin(pinDir);
  };
  try {
    const plan = planChanges(emptyAppliedState(), { routes: result.routes, listeners: result.listeners, nexthops: macs });
    applyPlan(prog.typed, plan.ops);
  } catch (err) {
    dispose();
    throw err;
  }
  const listeners = [...result.listeners].sort((a, b) => listenerId(a).localeCompare(listenerId(b), 'en', { numeric: true }));
  const first = listeners[0];
  return { prog, commit, listener: first ? { ip: first.address, port: first.port } : null, dispose };
}

export function register(program: Command): void {
  program
    .command('probe')
    .description(
      'Where does this request go? Opens a connection through the loaded XDP program (SYN, cookie, request segment): exit 0 routed, 1 not routed (404, 503, reset), 2 usage/environment error',
    )
    .argument('<method>', 'GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS')
    .argument('<path>', 'request path, e.g. /api/users')
    .option('--client <ip:port>', `source address of the connection (default ${DEFAULT_CLIENT_IP} and a random port)`)
    .option('--host <name>', 'Host header of the request (default: the listener address, as curl sends it)')
    .option('--listener <vip:port>', 'destination VIP:port (default: the first listener of the applied state)')
    .option('--at <rev>', 'probe the route set of this commit instead (built in a scratch pin dir)')
    .option('--repo <path>', 'routes repository for --at', '.')
    .option('--root <subdir>', 'folder inside the repository that holds the route files (for --at)', '')
    .option('--pin-dir <dir>', 'where `rauta run` pinned the program and maps', DEFAULT_PIN_DIR)
    .option('--json', 'print the verdict, backend, pass reason and counters as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  rauta probe GET /api/products\n  rauta probe POST /api/cart --client 10.9.0.7:51000 --json\n  rauta probe GET /cart --host shop.example.com\n  rauta probe GET /api/products --at HEAD~3 --repo .rauta/demo-repo\n\n' +
        "A probe runs real packets through the real program: they count in the METRICS; the probe's flow is removed afterwards.",
    )
    .action(async (method: string, path: string, opts: ProbeCliOptions) => {
      process.exitCode = await runProbe(method, path, opts, (t) => process.stdout.write(t));
    });
}
