// Issue 14, prefix and host routing, as packets see it: a table of first data
// segments (request line + headers) through BPF_PROG_TEST_RUN against one set
// of rules, each rule with its own backend, so the SYN the program sends names
// the rule that matched (or the frame is the 404 built in place).
//
// Precedence under test (rauta_match_route): host exact, then wildcard
// ("*.example.com": exactly one label), then rules without a host; within
// each the exact path, then prefixes longest first (on "/" boundaries, the
// query excluded); within each the request's method, then any method. Every
// expectation below is written by hand from that rule, never computed by the
// code under test. The whole table runs twice: with ROUTE_SHAPES = every
// shape (every candidate key looked up) and with the exact shapes of the
// rules (lookups pruned); both must give the same answers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { needBpf } from '../testbed/bpf-env.js';
import { loadTestProgram } from './fixtures/agent-routes.js';
import {
  answerInPlace,
  backendSyn,
  checksumsOk,
  CLIENT,
  clientSeg,
  clientSyn,
  hex,
  parseFrame,
  REPLY_404,
  VIP,
  type BackendHop,
  type Conn,
  type FrameSpec,
} from './helpers/packet.js';
import type { RautaProgram } from '../src/dataplane/program.js';
import { testRun, XDP } from '../src/dataplane/libbpf.js';
import { RAUTA_MAGLEV_SIZE } from '../src/model/codecs.js';
import { routeKeyFor, type RouteMatch } from '../src/model/ids.js';
import { everyShape, shapeOf, ShapeCounts } from '../src/model/route-shapes.js';
import { HOST_MATCH, LIMITS } from '../src/model/layout.generated.js';
import { METRIC_NAMES, type MetricName } from '../src/model/metrics.js';
import type { RouteShapes } from '../src/model/map-types.js';

const BACKEND_IP = '10.2.0.1';
const BACKEND_MAC = '02:00:00:00:02:01';

// ---- the rules: each has its own backend port on BACKEND_IP -------------

const RULES = {
  'GET =/api/users': { method: 'GET', path: '/api/users' },
  'POST =/api/users': { method: 'POST', path: '/api/users' },
  '/api*': { path: '/api', pathType: 'PathPrefix' },
  'GET /api/v1*': { method: 'GET', path: '/api/v1', pathType: 'PathPrefix' },
  '/a/b/c/d/e*': { path: '/a/b/c/d/e', pathType: 'PathPrefix' },
  '=/': { path: '/' },
  '/* (catch-all)': { path: '/', pathType: 'PathPrefix' },
  'shop.example.com /*': { host: 'shop.example.com', path: '/', pathType: 'PathPrefix' },
  'shop.example.com =/cart': { host: 'shop.example.com', path: '/cart' },
  '*.example.com /*': { host: '*.example.com', path: '/', pathType: 'PathPrefix' },
  '*.example.com /static/*': { host: '*.example.com', path: '/static/', pathType: 'PathPrefix' },
} as const satisfies Record<string, RouteMatch>;
type RuleName = keyof typeof RULES;
const RULE_NAMES = Object.keys(RULES) as RuleName[];
const portOf = (rule: RuleName) => 8001 + RULE_NAMES.indexOf(rule);
const ruleAt = (port: number): RuleName | undefined => RULE_NAMES[port - 8001];

/** The shapes of RULES, written out by hand (HOST_MATCH order: any, exact, wildcard). */
const RULES_SHAPES: RouteShapes = [
  // any host: exact paths (=/api/users GET and POST, =/), prefixes "/" (0), "/api" (1), "/api/v1" (2), "/a/b/c/d/e" (5); one method and any
  { prefixes: (1 << 0) | (1 << 1) | (1 << 2) | (1 << 5), exact: true, methods: 3 },
  // shop.example.com: =/cart and "/" (0), any method only
  { prefixes: 1 << 0, exact: true, methods: 2 },
  // *.example.com: "/" (0) and "/static/" (1), any method only
  { prefixes: (1 << 0) | (1 << 1), exact: false, methods: 2 },
];

// ---- the requests --------------------------------------------------------

const OTHER_HOST = 'Host: www.other.test'; // matches no host rule: host-less rules decide

/** A first segment: request line, then the header lines as given, then the empty line. */
function req(method: string, target: string, headers: string[] = [OTHER_HOST]): string {
  return `${method} ${target} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
}

// The header scan covers RAUTA_HEADER_SCAN (512) bytes counted from the CR that
// ends the request line. These two requests put a Host header just inside that
// window (its value and CRLF end at byte 511) and just outside it (its "H" at byte 512).
const SCAN = LIMITS.HEADER_SCAN;
const HOST_SHOP = 'Host: shop.example.com';
const padTo = (total: number, after: string) => `X-Pad: ${'p'.repeat(total - '\r\nX-Pad: '.length - after.length)}`;
const HOST_JUST_INSIDE = req('GET', '/cart', [padTo(SCAN, `\r\n${HOST_SHOP}\r\n`), HOST_SHOP, 'Accept: */*']);
const HOST_JUST_OUTSIDE = req('GET', '/cart', [padTo(SCAN, '\r\n'), HOST_SHOP, 'Accept: */*']);

interface Case {
  description: string;
  request: string;
  /** the rule whose backend gets the SYN, or 404 */
  expect: RuleName | 404;
}

const CASES: Case[] = [
  // exact path vs prefix, and the method
  { description: 'exact path beats prefix: GET /api/users -> GET =/api/users', request: req('GET', '/api/users'), expect: 'GET =/api/users' },
  { description: 'query excluded from the path: GET /api/users?x=1 -> GET =/api/users', request: req('GET', '/api/users?x=1'), expect: 'GET =/api/users' },
  {
    description: 'a "/" in the query is not a path element: GET /api/users?next=/a/b -> GET =/api/users',
    request: req('GET', '/api/users?next=/a/b'),
    expect: 'GET =/api/users',
  },
  { description: 'method picks among exact rules: POST /api/users -> POST =/api/users', request: req('POST', '/api/users'), expect: 'POST =/api/users' },
  { description: 'no exact rule for the method: DELETE /api/users falls to prefix /api (any method)', request: req('DELETE', '/api/users'), expect: '/api*' },
  { description: 'no exact rule for the method, with a query: PUT /api/users?x=1 -> /api*', request: req('PUT', '/api/users?x=1'), expect: '/api*' },
  { description: 'an exact rule is not a prefix: GET /api/users/ -> /api*', request: req('GET', '/api/users/'), expect: '/api*' },
  { description: 'an exact rule is not a prefix: GET /api/users/7 -> /api*', request: req('GET', '/api/users/7'), expect: '/api*' },
  // longest prefix
  { description: 'longest prefix: GET /api/v1/x -> GET /api/v1* over /api*', request: req('GET', '/api/v1/x'), expect: 'GET /api/v1*' },
  { description: 'a prefix matches its own path: GET /api/v1 -> GET /api/v1*', request: req('GET', '/api/v1'), expect: 'GET /api/v1*' },
  { description: 'a prefix matches its path with a trailing slash: GET /api/v1/ -> GET /api/v1*', request: req('GET', '/api/v1/'), expect: 'GET /api/v1*' },
  { description: 'a prefix matches its path with a query: GET /api/v1?x=1 -> GET /api/v1*', request: req('GET', '/api/v1?x=1'), expect: 'GET /api/v1*' },
  { description: 'longer prefix is GET only: DELETE /api/v1/x falls to /api* (any method)', request: req('DELETE', '/api/v1/x'), expect: '/api*' },
  { description: 'longer prefix is GET only: POST /api/v1 falls to /api*', request: req('POST', '/api/v1'), expect: '/api*' },
  { description: 'element boundary: GET /api/v10 is not under /api/v1 -> /api*', request: req('GET', '/api/v10'), expect: '/api*' },
  // element boundaries
  { description: 'element boundary: GET /apiary is not under /api -> catch-all', request: req('GET', '/apiary'), expect: '/* (catch-all)' },
  { description: 'element boundary: GET /apiary/x is not under /api -> catch-all', request: req('GET', '/apiary/x'), expect: '/* (catch-all)' },
  { description: 'element boundary: GET /ap is not under /api -> catch-all', request: req('GET', '/ap'), expect: '/* (catch-all)' },
  { description: 'prefix /api matches GET /api', request: req('GET', '/api'), expect: '/api*' },
  { description: 'prefix /api matches GET /api/', request: req('GET', '/api/'), expect: '/api*' },
  { description: 'prefix /api matches GET /api?x=1', request: req('GET', '/api?x=1'), expect: '/api*' },
  { description: 'prefix /api matches GET /api/x (any method: GET)', request: req('GET', '/api/x'), expect: '/api*' },
  { description: 'prefix /api matches HEAD /api/x (any method: HEAD)', request: req('HEAD', '/api/x'), expect: '/api*' },
  { description: 'paths are case-sensitive: GET /API/users -> catch-all', request: req('GET', '/API/users'), expect: '/* (catch-all)' },
  // "/" exact vs the catch-all
  { description: 'exact / beats prefix /: GET / -> =/', request: req('GET', '/'), expect: '=/' },
  { description: 'exact / with a query: GET /?q=1 -> =/', request: req('GET', '/?q=1'), expect: '=/' },
  { description: 'exact / for any method: OPTIONS / -> =/', request: req('OPTIONS', '/'), expect: '=/' },
  { description: 'catch-all: GET /index.html -> /*', request: req('GET', '/index.html'), expect: '/* (catch-all)' },
  { description: 'catch-all: GET /nothing/here/ -> /*', request: req('GET', '/nothing/here/'), expect: '/* (catch-all)' },
  // depth
  { description: 'a 5-deep prefix matches its own path: GET /a/b/c/d/e', request: req('GET', '/a/b/c/d/e'), expect: '/a/b/c/d/e*' },
  { description: 'a 5-deep prefix with a trailing slash: GET /a/b/c/d/e/', request: req('GET', '/a/b/c/d/e/'), expect: '/a/b/c/d/e*' },
  { description: 'a 5-deep prefix, 7-deep request: GET /a/b/c/d/e/f/g', request: req('GET', '/a/b/c/d/e/f/g'), expect: '/a/b/c/d/e*' },
  {
    description: 'a 5-deep prefix, 11-deep request (beyond depth 8): GET /a/b/c/d/e/f/g/h/i/j/k',
    request: req('GET', '/a/b/c/d/e/f/g/h/i/j/k'),
    expect: '/a/b/c/d/e*',
  },
  {
    description: 'a 5-deep prefix, 10-deep request with a query: GET /a/b/c/d/e/f/g/h/i/j?x=/y',
    request: req('GET', '/a/b/c/d/e/f/g/h/i/j?x=/y'),
    expect: '/a/b/c/d/e*',
  },
  { description: 'shallower than the 5-deep prefix: GET /a/b/c/d -> catch-all', request: req('GET', '/a/b/c/d'), expect: '/* (catch-all)' },
  { description: 'element boundary at depth 5: GET /a/b/c/d/ef -> catch-all', request: req('GET', '/a/b/c/d/ef'), expect: '/* (catch-all)' },
  {
    description: 'a 10-deep request under no deep rule still matches /: GET /x/y/z/1/2/3/4/5/6/7',
    request: req('GET', '/x/y/z/1/2/3/4/5/6/7'),
    expect: '/* (catch-all)',
  },
  {
    description: 'a 9-deep request with a trailing slash still matches /: GET /1/2/3/4/5/6/7/8/9/',
    request: req('GET', '/1/2/3/4/5/6/7/8/9/'),
    expect: '/* (catch-all)',
  },
  // host exact
  {
    description: 'exact host, exact path: Host shop.example.com GET /cart -> shop =/cart',
    request: req('GET', '/cart', [HOST_SHOP]),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'exact host, exact path with a query: GET /cart?x=1 -> shop =/cart',
    request: req('GET', '/cart?x=1', [HOST_SHOP]),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'exact host, exact path for any method: DELETE /cart -> shop =/cart',
    request: req('DELETE', '/cart', [HOST_SHOP]),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'exact host, the exact rule is not a prefix: GET /cart/ -> shop /*',
    request: req('GET', '/cart/', [HOST_SHOP]),
    expect: 'shop.example.com /*',
  },
  {
    description: 'exact host beats a host-less exact path: Host shop GET /api/users -> shop /*',
    request: req('GET', '/api/users', [HOST_SHOP]),
    expect: 'shop.example.com /*',
  },
  {
    description: 'exact host beats a wildcard with a longer prefix: Host shop GET /static/app.js -> shop /*',
    request: req('GET', '/static/app.js', [HOST_SHOP]),
    expect: 'shop.example.com /*',
  },
  {
    description: 'exact host with a port: Host shop.example.com:8080 GET /cart -> shop =/cart',
    request: req('GET', '/cart', ['Host: shop.example.com:8080']),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'upper-case header name and host: host: SHOP.Example.COM GET /cart -> shop =/cart',
    request: req('GET', '/cart', ['host: SHOP.Example.COM']),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'upper-case header name, host and a port: HOST: Shop.Example.Com:443 GET /x -> shop /*',
    request: req('GET', '/x', ['HOST: Shop.Example.Com:443']),
    expect: 'shop.example.com /*',
  },
  {
    description: 'no space after the colon: Host:shop.example.com GET /cart -> shop =/cart',
    request: req('GET', '/cart', ['Host:shop.example.com']),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'trailing whitespace after the host: "Host: shop.example.com " GET /cart -> shop =/cart',
    request: req('GET', '/cart', ['Host: shop.example.com ']),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'Host is not the first header: User-Agent, Host, Accept GET /cart -> shop =/cart',
    request: req('GET', '/cart', ['User-Agent: curl/8.5.0', HOST_SHOP, 'Accept: */*']),
    expect: 'shop.example.com =/cart',
  },
  // wildcard host
  {
    description: 'wildcard host, longer prefix: Host www.example.com GET /static/app.js -> *.example.com /static/*',
    request: req('GET', '/static/app.js', ['Host: www.example.com']),
    expect: '*.example.com /static/*',
  },
  {
    description: 'wildcard host, prefix rule "/static/" matches /static: GET /static -> *.example.com /static/*',
    request: req('GET', '/static', ['Host: www.example.com']),
    expect: '*.example.com /static/*',
  },
  {
    description: 'wildcard host, element boundary: GET /staticfiles -> *.example.com /*',
    request: req('GET', '/staticfiles', ['Host: www.example.com']),
    expect: '*.example.com /*',
  },
  {
    description: 'wildcard host beats a host-less exact path: Host www.example.com GET /api/users -> *.example.com /*',
    request: req('GET', '/api/users', ['Host: www.example.com']),
    expect: '*.example.com /*',
  },
  {
    description: 'a host that only ends like an exact one matches the wildcard: Host notshop.example.com GET /cart -> *.example.com /*',
    request: req('GET', '/cart', ['Host: notshop.example.com']),
    expect: '*.example.com /*',
  },
  {
    description: 'wildcard host with a port: Host www.example.com:443 GET /static/x -> *.example.com /static/*',
    request: req('GET', '/static/x', ['Host: www.example.com:443']),
    expect: '*.example.com /static/*',
  },
  {
    description: 'wildcard host, upper case: HOST: WWW.EXAMPLE.COM GET /x -> *.example.com /*',
    request: req('GET', '/x', ['HOST: WWW.EXAMPLE.COM']),
    expect: '*.example.com /*',
  },
  {
    description: 'two labels do not match the wildcard: Host a.b.example.com GET /api/users -> host-less GET =/api/users',
    request: req('GET', '/api/users', ['Host: a.b.example.com']),
    expect: 'GET =/api/users',
  },
  {
    description: 'two labels do not match the wildcard: Host a.b.example.com GET /static/x -> catch-all',
    request: req('GET', '/static/x', ['Host: a.b.example.com']),
    expect: '/* (catch-all)',
  },
  {
    description: 'the apex does not match the wildcard: Host example.com GET /static/x -> catch-all',
    request: req('GET', '/static/x', ['Host: example.com']),
    expect: '/* (catch-all)',
  },
  {
    description: 'a longer domain does not match: Host shop.example.com.evil.test GET /cart -> catch-all',
    request: req('GET', '/cart', ['Host: shop.example.com.evil.test']),
    expect: '/* (catch-all)',
  },
  {
    description: 'no dot before the suffix: Host shopexample.com GET /cart -> catch-all',
    request: req('GET', '/cart', ['Host: shopexample.com']),
    expect: '/* (catch-all)',
  },
  // no Host header: only host-less rules
  { description: 'no Host header: GET /cart -> catch-all', request: req('GET', '/cart', []), expect: '/* (catch-all)' },
  { description: 'no Host header: GET /api/users -> GET =/api/users', request: req('GET', '/api/users', ['Accept: */*']), expect: 'GET =/api/users' },
  { description: 'no headers at all, request line only (no CRLF): GET /static/x -> catch-all', request: 'GET /static/x HTTP/1.1', expect: '/* (catch-all)' },
  {
    description: 'a header named X-Host is not Host: GET /cart -> catch-all',
    request: req('GET', '/cart', ['X-Host: shop.example.com']),
    expect: '/* (catch-all)',
  },
  {
    description: 'a header named Hostname is not Host: GET /cart -> catch-all',
    request: req('GET', '/cart', ['Hostname: shop.example.com']),
    expect: '/* (catch-all)',
  },
  {
    description: 'a "Host:" line after the headers end (in the body) is not a header: GET /cart -> catch-all',
    request: req('POST', '/cart', ['Content-Length: 22']) + HOST_SHOP,
    expect: '/* (catch-all)',
  },
  // the 512-byte header window
  {
    description: `Host header ending at byte ${SCAN - 1} of the header scan is seen: GET /cart -> shop =/cart`,
    request: HOST_JUST_INSIDE,
    expect: 'shop.example.com =/cart',
  },
  {
    description: `Host header starting at byte ${SCAN} of the header scan is not seen (documented limit): GET /cart -> catch-all`,
    request: HOST_JUST_OUTSIDE,
    expect: '/* (catch-all)',
  },
];

// Without a catch-all: requests nothing matches get the 404.
const NO_CATCH_ALL: RuleName[] = [
  'GET =/api/users',
  'POST =/api/users',
  '/api*',
  'GET /api/v1*',
  '/a/b/c/d/e*',
  '=/',
  'shop.example.com =/cart',
  '*.example.com /static/*',
];
const NO_CATCH_ALL_CASES: Case[] = [
  { description: 'no catch-all: GET /nope -> 404', request: req('GET', '/nope'), expect: 404 },
  { description: 'no catch-all, element boundary: GET /apiary -> 404', request: req('GET', '/apiary'), expect: 404 },
  { description: 'no catch-all, exact / is not a prefix: GET /index.html -> 404', request: req('GET', '/index.html'), expect: 404 },
  { description: 'no catch-all, shallower than the 5-deep prefix: GET /a/b/c/d -> 404', request: req('GET', '/a/b/c/d'), expect: 404 },
  {
    description: 'no catch-all, exact host without a prefix rule: Host shop.example.com GET /other -> 404',
    request: req('GET', '/other', [HOST_SHOP]),
    expect: 404,
  },
  {
    description: 'no catch-all, wildcard host off its prefix: Host www.example.com GET /staticfiles -> 404',
    request: req('GET', '/staticfiles', ['Host: www.example.com']),
    expect: 404,
  },
  { description: 'no catch-all, no Host header: GET /cart -> 404', request: req('GET', '/cart', []), expect: 404 },
  { description: 'no catch-all, exact / is for any method: DELETE / -> =/', request: req('DELETE', '/'), expect: '=/' },
  {
    description: 'no catch-all, still routed: Host shop.example.com GET /cart -> shop =/cart',
    request: req('GET', '/cart', [HOST_SHOP]),
    expect: 'shop.example.com =/cart',
  },
  {
    description: 'no catch-all, host falls through to host-less rules: Host shop.example.com GET /api/x -> /api*',
    request: req('GET', '/api/x', [HOST_SHOP]),
    expect: '/api*',
  },
  {
    description: 'no catch-all, still routed: Host www.example.com GET /static/x -> *.example.com /static/*',
    request: req('GET', '/static/x', ['Host: www.example.com']),
    expect: '*.example.com /static/*',
  },
];

// ---- the fixture ---------------------------------------------------------

let nextPort = 20000;

type ShapesMode = 'every shape' | 'exact shapes';

/** The shapes a plan would write for these rules, through ShapeCounts as the planner counts them. */
function exactShapes(rules: readonly RuleName[]): RouteShapes {
  const counts = new ShapeCounts();
  for (const name of rules) counts.add(shapeOf(routeKeyFor(RULES[name]), RULES[name].path), 1);
  return counts.shapes();
}

/** The program in its own pin dir with a listener, the backend's nexthop and the rules, each routed to its own port. */
function fixture(t: TestContext, rules: readonly RuleName[], mode: ShapesMode): RautaProgram | null {
  const prog = loadTestProgram(t, 'rm');
  if (!prog) return null;
  const m = prog.typed;
  m.listeners.set({ addr: VIP, port: 80 }, 0);
  m.nexthops.set(BACKEND_IP, { mac: BACKEND_MAC });
  for (const name of rules) {
    const key = routeKeyFor(RULES[name]);
    m.routes.set(key, { backends: [{ ip: BACKEND_IP, port: portOf(name), weight: 1 }], gen: 1 });
    m.maglevTables.set({ route: key, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE)); // every slot: backend 0
  }
  m.routeShapes.set(0, mode === 'every shape' ? everyShape() : exactShapes(rules));
  return prog;
}

// ---- one connection: handshake, then the first data segment --------------

function synAckCookie(prog: RautaProgram, spec: FrameSpec, isn: number): number {
  const syn = clientSyn(spec, isn);
  const res = testRun(prog.progFd, syn);
  assert.equal(res.retval, XDP.TX, `the SYN is answered with a SYN-ACK\n${hex(syn)}`);
  return res.dataOut.readUInt32BE(parseFrame(res.dataOut).l4 + 4);
}

/** The rule's backend: its own port on BACKEND_IP. */
const backendOf = (rule: RuleName): BackendHop => ({ ip: BACKEND_IP, port: portOf(rule), mac: BACKEND_MAC });

/** What a program output frame says: the rule whose backend got the SYN, 404, or a description of anything else. */
function outcomeOf(out: Buffer): string {
  const p = parseFrame(out);
  const dstIp = [...out.subarray(p.l3 + 16, p.l3 + 20)].join('.');
  const dstPort = out.readUInt16BE(p.l4 + 2);
  if (dstIp === BACKEND_IP) return `rule ${JSON.stringify(ruleAt(dstPort) ?? `port ${dstPort}`)}`;
  if (dstIp === CLIENT && out.subarray(p.payload).toString('latin1').startsWith('HTTP/1.1 404')) return '404';
  return `a frame to ${dstIp}:${dstPort}`;
}

function metrics(prog: RautaProgram): Record<MetricName, number> {
  return prog.typed.readMetrics();
}

/** Run one case on a fresh connection; returns what it got ("404" or the rule's name) for the cross-mode comparison. */
function runCase(prog: RautaProgram, c: Case): string {
  assert.ok(c.request.length <= 1460, `${c.description}: the request fits one segment`);
  const spec: FrameSpec = { srcPort: nextPort++ };
  const isn = 0x1000 * spec.srcPort!;
  const conn: Conn = { spec, isn, cookie: synAckCookie(prog, spec, isn) };
  const input = clientSeg(conn, c.request);
  const before = metrics(prog);
  const res = testRun(prog.progFd, input);
  const after = metrics(prog);
  const counted = Object.fromEntries(METRIC_NAMES.filter((n) => after[n] !== before[n]).map((n) => [n, after[n] - before[n]]));
  const expected = c.expect === 404 ? answerInPlace(conn, c.request, REPLY_404) : backendSyn(conn, backendOf(c.expect));
  const got = res.retval === XDP.TX ? outcomeOf(res.dataOut) : `verdict ${res.retval}`;
  const want = c.expect === 404 ? '404' : `rule ${JSON.stringify(c.expect)}`;
  const show = () =>
    `${c.description}\nexpected ${want}, got ${got}\nrequest: ${JSON.stringify(c.request.length > 120 ? `${c.request.slice(0, 60)}…${c.request.slice(-60)}` : c.request)}\n` +
    `input:\n${hex(input)}\nexpected output:\n${hex(expected)}\nactual output:\n${hex(res.dataOut)}`;
  assert.equal(got, want, show());
  assert.ok(res.dataOut.equals(expected), `output bytes differ\n${show()}`);
  assert.deepEqual(checksumsOk(res.dataOut), { ip: true, tcp: true }, `checksums\n${show()}`);
  assert.deepEqual(counted, c.expect === 404 ? { TOTAL: 1, REPLY_NO_ROUTE: 1 } : { TOTAL: 1, ROUTED: 1 }, `counters: ${c.description}`);
  return c.expect === 404 ? '404' : c.expect;
}

// ---- tests ---------------------------------------------------------------

test('the exact shapes of the rules, by hand, equal what ShapeCounts computes', () => {
  assert.deepEqual(exactShapes(RULE_NAMES), RULES_SHAPES);
  assert.deepEqual([HOST_MATCH.ANY, HOST_MATCH.EXACT, HOST_MATCH.WILDCARD], [0, 1, 2], 'RULES_SHAPES is written in HOST_MATCH order');
});

test('the 512-byte header window cases put the Host header where their names say', () => {
  const windowStart = (r: string) => r.indexOf('\r\n'); // the scan starts at the request line's CR
  assert.equal(
    HOST_JUST_INSIDE.indexOf(`${HOST_SHOP}\r\n`) + `${HOST_SHOP}\r\n`.length - windowStart(HOST_JUST_INSIDE),
    SCAN,
    'inside: the Host line ends at the last byte of the window',
  );
  assert.equal(HOST_JUST_OUTSIDE.indexOf(HOST_SHOP) - windowStart(HOST_JUST_OUTSIDE), SCAN, 'outside: the Host line starts right after the window');
});

const results = new Map<ShapesMode, string[]>();

for (const mode of ['every shape', 'exact shapes'] as const) {
  test(`route matching, ROUTE_SHAPES = ${mode}: ${CASES.length} first segments, each to the rule precedence says`, async (t) => {
    const prog = fixture(t, RULE_NAMES, mode);
    if (!prog) return;
    const got: string[] = [];
    for (const c of CASES) await t.test(c.description, () => void got.push(runCase(prog, c)));
    results.set(mode, got);
  });

  test(`route matching without a catch-all, ROUTE_SHAPES = ${mode}: what nothing matches gets the 404`, async (t) => {
    const prog = fixture(t, NO_CATCH_ALL, mode);
    if (!prog) return;
    for (const c of NO_CATCH_ALL_CASES) await t.test(c.description, () => void runCase(prog, c));
  });
}

test('ROUTE_SHAPES pruning is sound: exact shapes give the same rule as every shape, case by case', (t) => {
  if (!needBpf(t)) return;
  const every = results.get('every shape');
  const exact = results.get('exact shapes');
  assert.ok(every && exact, 'both table runs completed');
  assert.equal(every.length, CASES.length);
  assert.deepEqual(exact, every);
});
