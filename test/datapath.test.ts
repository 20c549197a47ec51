// The XDP data path under BPF_PROG_TEST_RUN: tables of {description, input frame,
// expected verdict, expected output frame}, Katran style. Every PASS must leave the
// frame byte-identical and count exactly one reason; a routed frame must be exactly
// the expected rewrite with checksums that verify from scratch.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { needBpf } from './helpers/bpf-env.js';
import { buildFrame, checksumsOk, DEFAULTS, hex, type FrameSpec } from './helpers/packet.js';
import { loadRauta, unpin, type RautaProgram } from '../src/dataplane/program.js';
import { testRun, XDP } from '../src/dataplane/libbpf.js';
import { routeKeyOf, RAUTA_MAGLEV_SIZE } from '../src/dataplane/codecs.js';
import { METRIC_NAMES, PASS_REASONS, type MetricName } from '../src/dataplane/metrics.js';
import type { BackendSlot, RouteKey } from '../src/dataplane/map-types.js';
import type { HttpMethod } from '../src/routes/route-model.js';

const VIP = DEFAULTS.dstIp;
const BACKENDS: BackendSlot[] = [
  { ip: '10.1.0.1', port: 8080, weight: 1 },
  { ip: '10.1.0.2', port: 9090, weight: 1 },
];
const NH_MAC: Record<string, string> = { '10.1.0.1': '02:00:00:00:01:01', '10.1.0.2': '02:00:00:00:01:02' };
const LONG_255 = '/' + 'a'.repeat(254);
const LONG_256 = '/' + 'a'.repeat(255);

interface Fixture {
  prog: RautaProgram;
  addRoute(method: HttpMethod, path: string, opts?: { backends?: BackendSlot[]; gen?: number; slot?: number | null }): RouteKey;
}

let seq = 0;

/** Load the program into its own pin dir, with one listener and nexthops for both backends. */
function fixture(t: TestContext): Fixture | null {
  if (!needBpf(t)) return null;
  const pinDir = `/sys/fs/bpf/rauta-test-dp-${process.pid}-${seq++}`;
  t.after(() => unpin(pinDir));
  const prog = loadRauta({ pinDir });
  t.after(() => prog.close());
  const m = prog.typed;
  m.listeners.set({ addr: VIP, port: 80 }, 0);
  for (const [ip, mac] of Object.entries(NH_MAC)) m.nexthops.set(ip, { mac });
  return {
    prog,
    addRoute(method, path, opts = {}) {
      const key = routeKeyOf(method, path);
      const gen = opts.gen ?? 1;
      m.routes.set(key, { backends: opts.backends ?? BACKENDS, gen });
      // slot: every Maglev slot points at this backend index; null: no table
      if (opts.slot !== null) m.maglevTables.set({ route: key, gen }, new Uint8Array(RAUTA_MAGLEV_SIZE).fill(opts.slot ?? 1));
      return key;
    },
  };
}

function request(method: string, target: string, version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\nHost: example.test\r\n\r\n`;
}

/** The frame the program should emit when it routes `spec` to `be`. */
function routed(spec: FrameSpec, be: BackendSlot): Buffer {
  return buildFrame({ ...spec, srcMac: spec.dstMac ?? DEFAULTS.dstMac, dstMac: NH_MAC[be.ip], dstIp: be.ip, dstPort: be.port });
}

function delta(before: Record<MetricName, number>, after: Record<MetricName, number>): Partial<Record<MetricName, number>> {
  const d: Partial<Record<MetricName, number>> = {};
  for (const n of METRIC_NAMES) if (after[n] !== before[n]) d[n] = after[n] - before[n];
  return d;
}

interface Row {
  description: string;
  input: Buffer;
  verdict: 'PASS' | 'TX';
  /** Expected output; defaults to the input (a PASS must not touch the frame). */
  output?: Buffer;
  /** Exact counter changes this one packet must cause. */
  counters: Partial<Record<MetricName, number>>;
}

function runRow(f: Fixture, row: Row): void {
  const before = f.prog.typed.readMetrics();
  const res = testRun(f.prog.progFd, row.input);
  const got = delta(before, f.prog.typed.readMetrics());
  const expected = row.output ?? row.input;
  const verdict = res.retval === XDP.TX ? 'TX' : res.retval === XDP.PASS ? 'PASS' : `retval ${res.retval}`;
  const show = () =>
    `${row.description}\nverdict: expected ${row.verdict}, got ${verdict}\n` +
    `input:\n${hex(row.input)}\nexpected output:\n${hex(expected)}\nactual output:\n${hex(res.dataOut)}`;
  assert.equal(verdict, row.verdict, show());
  assert.ok(res.dataOut.equals(expected), `output bytes differ\n${show()}`);
  assert.deepEqual(got, row.counters, `counters for one packet: ${row.description}`);
  if (row.verdict === 'TX') {
    const ok = checksumsOk(res.dataOut);
    assert.deepEqual(ok, { ip: true, tcp: true }, `checksums recomputed from scratch\n${show()}`);
  }
}

const routedCounters = (flow: 'FLOW_HIT' | 'FLOW_MISS') => ({ TOTAL: 1, ROUTED: 1, [flow]: 1 });

test('routed requests: exact rewrite, checksums verify from scratch', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  f.addRoute('HEAD', '/api/users');
  f.addRoute('OPTIONS', '/');
  f.addRoute('POST', '/submit');
  f.addRoute('PUT', '/p');
  f.addRoute('DELETE', '/d');
  f.addRoute('PATCH', '/x');
  f.addRoute('GET', LONG_255);
  const be = BACKENDS[1]!;
  const specs: Array<[string, FrameSpec]> = [
    ['GET /api/users', { payload: request('GET', '/api/users') }],
    ['query stripped from the path', { srcPort: 40001, payload: request('GET', '/api/users?id=7&sort=asc') }],
    ['HTTP/1.0', { srcPort: 40002, payload: request('GET', '/api/users', 'HTTP/1.0') }],
    ['HEAD', { srcPort: 40003, payload: request('HEAD', '/api/users') }],
    ['OPTIONS', { srcPort: 40004, payload: request('OPTIONS', '/') }],
    ['POST', { srcPort: 40005, payload: request('POST', '/submit') }],
    ['PUT', { srcPort: 40006, payload: request('PUT', '/p') }],
    ['DELETE', { srcPort: 40007, payload: request('DELETE', '/d') }],
    ['PATCH', { srcPort: 40008, payload: request('PATCH', '/x') }],
    ['IPv4 options (8 bytes)', { srcPort: 40009, ipOptions: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]), payload: request('GET', '/api/users') }],
    ['IPv4 options (40 bytes, IHL 15)', { srcPort: 40010, ipOptions: new Uint8Array(40).fill(1), payload: request('GET', '/api/users') }],
    ['TCP options (MSS, SACK-permitted, timestamps)', { srcPort: 40011, tcpOptions: Uint8Array.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0]), payload: request('GET', '/api/users') }],
    ['TCP options (40 bytes, data offset 15)', { srcPort: 40012, tcpOptions: new Uint8Array(40).fill(1), payload: request('GET', '/api/users') }],
    ['one 802.1Q tag', { srcPort: 40013, vlans: [42], payload: request('GET', '/api/users') }],
    ['path of exactly 255 bytes', { srcPort: 40014, payload: request('GET', LONG_255) }],
    ['path+query of 319 bytes (the scan bound)', { srcPort: 40017, payload: request('GET', '/api/users?' + 'q'.repeat(308)) }],
    ['request line only, no CRLF needed', { srcPort: 40015, payload: 'GET /api/users HTTP/1.' }],
    ['Ethernet padding after the IPv4 packet is ignored', { srcPort: 40016, payload: request('GET', '/api/users') }],
  ];
  for (const [description, spec] of specs) {
    let input = buildFrame(spec);
    let output = routed(spec, be);
    if (description.startsWith('Ethernet padding')) {
      input = Buffer.concat([input, Buffer.alloc(6, 0xee)]);
      output = Buffer.concat([output, Buffer.alloc(6, 0xee)]);
    }
    runRow(f, { description, input, verdict: 'TX', output, counters: routedCounters('FLOW_MISS') });
  }
});

test('every PASS reason: frame untouched, exactly its counter', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  f.addRoute('GET', LONG_256); // present, so the 256-byte pass is the length rule, not a missing route
  f.addRoute('GET', '/no-table', { slot: null });
  f.addRoute('GET', '/empty', { backends: [] });
  f.addRoute('GET', '/bad-slot', { slot: 5 }); // slot index beyond count 2
  f.addRoute('GET', '/hole-slot', { backends: [BACKENDS[0]!, { ip: '0.0.0.0', port: 0, weight: 0 }], slot: 1 }); // slot names a hole
  f.addRoute('GET', '/no-nexthop', { backends: [{ ip: '10.9.9.9', port: 80, weight: 1 }], slot: 0 });
  const good = { payload: request('GET', '/api/users') };
  const rows: Array<[MetricName, string, Buffer]> = [
    ['PASS_NOT_IPV4', 'IPv6 EtherType', buildFrame({ ...good, etherType: 0x86dd })],
    ['PASS_NOT_IPV4', 'ARP', buildFrame({ etherType: 0x0806 })],
    ['PASS_NOT_IPV4', 'two 802.1Q tags', buildFrame({ ...good, vlans: [1, 2] })],
    ['PASS_NOT_IPV4', '802.1Q tag cut short (short Ethernet)', buildFrame({ ...good, vlans: [7] }).subarray(0, 16)],
    ['PASS_BAD_IPV4', 'IPv4 EtherType, no IPv4 header', buildFrame(good).subarray(0, 14)],
    ['PASS_BAD_IPV4', 'IHL 4', buildFrame({ ...good, ihl: 4 })],
    ['PASS_BAD_IPV4', 'version 6 in an IPv4 EtherType', buildFrame({ ...good, version: 6 })],
    ['PASS_BAD_IPV4', 'total length beyond the frame', buildFrame({ ...good, totalLength: 1500 })],
    ['PASS_BAD_IPV4', 'total length below IHL', buildFrame({ ...good, totalLength: 19 })],
    ['PASS_BAD_IPV4', 'IPv4 header cut short', buildFrame(good).subarray(0, 14 + 19)],
    ['PASS_FRAGMENT', 'first fragment (MF)', buildFrame({ ...good, fragField: 0x2000 })],
    ['PASS_FRAGMENT', 'later fragment (offset)', buildFrame({ ...good, fragField: 0x0010 })],
    ['PASS_NOT_TCP', 'UDP', buildFrame({ ...good, protocol: 17 })],
    ['PASS_BAD_TCP', 'data offset 4', buildFrame({ ...good, dataOffset: 4 })],
    ['PASS_BAD_TCP', 'data offset 15 beyond the packet', buildFrame({ payload: 'GET / HTTP/1.1', dataOffset: 15 })],
    ['PASS_BAD_TCP', 'TCP header cut short (total length too)', buildFrame({ payload: '', totalLength: 30 }).subarray(0, 14 + 30)],
    ['PASS_NOT_LISTENER', 'port 81', buildFrame({ ...good, dstPort: 81 })],
    ['PASS_NOT_LISTENER', 'other VIP', buildFrame({ ...good, dstIp: '10.0.0.101' })],
    ['PASS_NO_PAYLOAD', 'SYN', buildFrame({ tcpFlags: 0x02 })],
    ['PASS_NO_PAYLOAD', 'pure ACK with options', buildFrame({ tcpFlags: 0x10, tcpOptions: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) })],
    ['PASS_BAD_REQUEST', 'unknown method', buildFrame({ payload: request('FETCH', '/api/users') })],
    ['PASS_BAD_REQUEST', 'lower-case method', buildFrame({ payload: request('get', '/api/users') })],
    ['PASS_BAD_REQUEST', 'two spaces after the method', buildFrame({ payload: request('GET', ' /api/users') })],
    ['PASS_BAD_REQUEST', 'path without a leading slash', buildFrame({ payload: request('GET', 'api/users') })],
    ['PASS_BAD_REQUEST', 'absolute URI', buildFrame({ payload: request('GET', 'http://x/api/users') })],
    ['PASS_BAD_REQUEST', 'HTTP/2 version', buildFrame({ payload: request('GET', '/api/users', 'HTTP/2.0') })],
    ['PASS_BAD_REQUEST', 'HTTP/0.9 (no version)', buildFrame({ payload: 'GET /api/users\r\n' })],
    ['PASS_BAD_REQUEST', 'path of 256 bytes', buildFrame({ payload: request('GET', LONG_256) })],
    ['PASS_BAD_REQUEST', 'path+query of 320 bytes (scan bound 319)', buildFrame({ payload: request('GET', '/api/users?' + 'q'.repeat(309)) })],
    ['PASS_BAD_REQUEST', 'request line cut before HTTP/1.', buildFrame({ payload: 'GET /api/users HTTP/' })],
    ['PASS_BAD_REQUEST', 'TLS ClientHello', buildFrame({ payload: Uint8Array.from([0x16, 3, 1, 0, 0xa5, 1, 0, 0, 0xa1, 3, 3, 0, 0, 0, 0, 0]) })],
    ['PASS_BAD_REQUEST', 'payload shorter than any request', buildFrame({ payload: 'GET /' })],
    ['PASS_NO_ROUTE', 'unknown path', buildFrame({ payload: request('GET', '/nope') })],
    ['PASS_NO_ROUTE', 'known path, other method', buildFrame({ payload: request('POST', '/api/users') })],
    ['PASS_NO_ROUTE', 'path is case-sensitive', buildFrame({ payload: request('GET', '/API/users') })],
  ];
  const tableRows: Array<[MetricName, string, Buffer, Partial<Record<MetricName, number>>]> = [
    ['PASS_NO_TABLE', 'route without a Maglev table for its gen', buildFrame({ payload: request('GET', '/no-table') }), { FLOW_MISS: 1 }],
    ['PASS_NO_TABLE', 'route with no backends', buildFrame({ payload: request('GET', '/empty') }), {}],
    ['PASS_NO_TABLE', 'table slot beyond the backend count', buildFrame({ payload: request('GET', '/bad-slot') }), { FLOW_MISS: 1 }],
    ['PASS_NO_TABLE', 'table slot names a hole (weight 0)', buildFrame({ payload: request('GET', '/hole-slot') }), { FLOW_MISS: 1 }],
    ['PASS_NO_NEXTHOP', 'backend without a NEXTHOPS entry', buildFrame({ payload: request('GET', '/no-nexthop') }), { FLOW_MISS: 1 }],
  ];
  for (const [reason, description, input] of rows) {
    runRow(f, { description: `${reason}: ${description}`, input, verdict: 'PASS', counters: { TOTAL: 1, [reason]: 1 } });
  }
  for (const [reason, description, input, extra] of tableRows) {
    runRow(f, { description: `${reason}: ${description}`, input, verdict: 'PASS', counters: { TOTAL: 1, [reason]: 1, ...extra } });
  }
  const covered = new Set([...rows, ...tableRows].map(([r]) => r));
  assert.deepEqual(PASS_REASONS.filter((r) => !covered.has(r)), [], 'every PASS reason in enum rauta_metric has a row');
  // A PASS never records a flow: the no-nexthop packet left FLOW_CACHE empty.
  assert.equal([...f.prog.typed.flowCache.keys()].length, 0, 'FLOW_CACHE must stay empty when nothing was routed');
});

test('every truncation of a routed frame: PASS untouched or an error only below 14 bytes', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  const spec: FrameSpec = { ipOptions: Uint8Array.from([1, 1, 1, 0]), tcpOptions: Uint8Array.from([2, 4, 5, 0xb4]), payload: request('GET', '/api/users') };
  const full = buildFrame(spec);
  const rejected: number[] = [];
  for (let len = 0; len < full.length; len++) {
    const input = full.subarray(0, len);
    let res;
    try {
      res = testRun(f.prog.progFd, Buffer.from(input));
    } catch (err) {
      rejected.push(len);
      assert.ok(len < 14, `BPF_PROG_TEST_RUN rejected a ${len}-byte frame (only < 14 bytes, an incomplete Ethernet header, may be refused): ${String(err)}`);
      continue;
    }
    assert.equal(res.retval, XDP.PASS, `truncated to ${len} of ${full.length} bytes must PASS\n${hex(input)}`);
    assert.ok(res.dataOut.equals(input), `truncated to ${len} bytes: output must equal input\n${hex(res.dataOut)}`);
  }
  // The kernel refuses frames shorter than an Ethernet header (EINVAL) before the program runs.
  assert.deepEqual(rejected, Array.from({ length: 14 }, (_, i) => i), 'the kernel refuses exactly the frames below 14 bytes');
  runRow(f, { description: 'the untruncated frame routes', input: full, verdict: 'TX', output: routed(spec, BACKENDS[1]!), counters: routedCounters('FLOW_MISS') });
});

test('every truncation of the request line (IPv4 length consistent): PASS or routed', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  const line = request('GET', '/api/users?a=b');
  const minRouted = line.indexOf(' HTTP/1.') + ' HTTP/1.'.length;
  for (let len = 0; len <= line.length; len++) {
    const spec: FrameSpec = { srcPort: 30000 + len, payload: line.slice(0, len) };
    const input = buildFrame(spec);
    if (len >= minRouted) {
      runRow(f, { description: `payload cut to ${len} bytes`, input, verdict: 'TX', output: routed(spec, BACKENDS[1]!), counters: routedCounters('FLOW_MISS') });
    } else {
      const reason: MetricName = len === 0 ? 'PASS_NO_PAYLOAD' : 'PASS_BAD_REQUEST';
      runRow(f, { description: `payload cut to ${len} bytes`, input, verdict: 'PASS', counters: { TOTAL: 1, [reason]: 1 } });
    }
  }
});

test('flow cache: same 5-tuple keeps its backend; a stale gen is ignored', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users', { slot: 0 });
  const spec: FrameSpec = { srcPort: 50000, payload: request('GET', '/api/users') };
  const input = buildFrame(spec);
  runRow(f, { description: 'first packet: Maglev picks backend 0', input, verdict: 'TX', output: routed(spec, BACKENDS[0]!), counters: routedCounters('FLOW_MISS') });
  const flow = f.prog.typed.flowCache.get({ srcIp: DEFAULTS.srcIp, dstIp: VIP, srcPort: 50000, dstPort: 80, proto: 6 });
  assert.deepEqual(flow, { route: key, gen: 1, backendIdx: 0 }, 'the routed packet recorded its flow');
  // Repoint every slot of the same gen: only the flow cache can still say backend 0.
  f.prog.typed.maglevTables.set({ route: key, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE).fill(1));
  runRow(f, { description: 'same 5-tuple again: flow cache hit, same backend', input, verdict: 'TX', output: routed(spec, BACKENDS[0]!), counters: routedCounters('FLOW_HIT') });
  const other: FrameSpec = { srcPort: 50001, payload: request('GET', '/api/users') };
  runRow(f, { description: 'another connection follows the new table', input: buildFrame(other), verdict: 'TX', output: routed(other, BACKENDS[1]!), counters: routedCounters('FLOW_MISS') });

  // Stale gen: the route moves to gen 2 (table: backend 1); the cached gen-1 entry must be ignored.
  f.prog.typed.maglevTables.set({ route: key, gen: 2 }, new Uint8Array(RAUTA_MAGLEV_SIZE).fill(1));
  f.prog.typed.routes.set(key, { backends: BACKENDS, gen: 2 });
  runRow(f, { description: 'flow entry with a stale gen: ignored, table used', input, verdict: 'TX', output: routed(spec, BACKENDS[1]!), counters: routedCounters('FLOW_MISS') });
  const updated = f.prog.typed.flowCache.get({ srcIp: DEFAULTS.srcIp, dstIp: VIP, srcPort: 50000, dstPort: 80, proto: 6 });
  assert.deepEqual(updated, { route: key, gen: 2, backendIdx: 1 }, 'the flow entry was rewritten for the new gen');

  // A flow entry for another route (same connection, next request on another path) is not used.
  const key2 = f.addRoute('GET', '/other', { slot: 0 });
  const spec2: FrameSpec = { srcPort: 50000, payload: request('GET', '/other') };
  runRow(f, { description: 'same connection, other route: its own table', input: buildFrame(spec2), verdict: 'TX', output: routed(spec2, BACKENDS[0]!), counters: routedCounters('FLOW_MISS') });
  assert.deepEqual(f.prog.typed.flowCache.get({ srcIp: DEFAULTS.srcIp, dstIp: VIP, srcPort: 50000, dstPort: 80, proto: 6 })?.route, key2);

  // A cached index beyond the route's count is ignored too.
  f.prog.typed.flowCache.set({ srcIp: DEFAULTS.srcIp, dstIp: VIP, srcPort: 50000, dstPort: 80, proto: 6 }, { route: key2, gen: 1, backendIdx: 7 });
  runRow(f, { description: 'cached backend index beyond count: ignored', input: buildFrame(spec2), verdict: 'TX', output: routed(spec2, BACKENDS[0]!), counters: routedCounters('FLOW_MISS') });

  // A cached index that now names a hole (a removed backend's slot, e.g. after the route was
  // removed and re-added at gen 1) is ignored too.
  const HOLE: BackendSlot = { ip: '0.0.0.0', port: 0, weight: 0 };
  f.prog.typed.routes.set(key2, { backends: [BACKENDS[0]!, HOLE], gen: 1 });
  f.prog.typed.flowCache.set({ srcIp: DEFAULTS.srcIp, dstIp: VIP, srcPort: 50000, dstPort: 80, proto: 6 }, { route: key2, gen: 1, backendIdx: 1 });
  runRow(f, { description: 'cached backend index names a hole: ignored', input: buildFrame(spec2), verdict: 'TX', output: routed(spec2, BACKENDS[0]!), counters: routedCounters('FLOW_MISS') });
});

test('Maglev slot comes from the table: both backends are reachable', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users');
  const table = new Uint8Array(RAUTA_MAGLEV_SIZE).map((_, i) => i % 2);
  f.prog.typed.maglevTables.set({ route: key, gen: 1 }, table);
  const seen = new Set<number>();
  for (let port = 1024; port < 1088; port++) {
    const res = testRun(f.prog.progFd, buildFrame({ srcPort: port, payload: request('GET', '/api/users') }));
    assert.equal(res.retval, XDP.TX, `source port ${port} should route`);
    seen.add(res.dataOut.readUInt16BE(14 + 20 + 2));
  }
  assert.deepEqual([...seen].sort(), [8080, 9090], '64 connections over a half/half table reach both backends');
});

test('a route inserted with the TypeScript FNV-1a hash is found by packets', (t) => {
  const f = fixture(t);
  if (!f) return;
  const paths = ['/', '/a', '/api/v1/users/123', '/ünïcode/路径', '/%20encoded%2F', '/' + 'x'.repeat(200)];
  for (const [i, path] of paths.entries()) {
    f.addRoute('GET', path);
    const wire = Buffer.from(request('GET', path), 'utf8');
    const spec: FrameSpec = { srcPort: 20000 + i, payload: wire };
    runRow(f, { description: `path ${JSON.stringify(path)}`, input: buildFrame(spec), verdict: 'TX', output: routed(spec, BACKENDS[1]!), counters: routedCounters('FLOW_MISS') });
  }
});

test('random connections and backends: the incremental checksums equal a from-scratch build', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users');
  const octet = fc.integer({ min: 1, max: 254 });
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  fc.assert(
    fc.property(ip, fc.integer({ min: 1, max: 65535 }), fc.nat(0xffffffff), ip, fc.integer({ min: 1, max: 65535 }), fc.string({ maxLength: 40 }), (srcIp, srcPort, seq, beIp, bePort, tail) => {
      const be = { ip: beIp, port: bePort, weight: 1 };
      f.prog.typed.routes.set(key, { backends: [be, be], gen: 1 });
      f.prog.typed.nexthops.set(beIp, { mac: '02:aa:bb:cc:dd:ee' });
      const spec: FrameSpec = { srcIp, srcPort, seq, payload: request('GET', '/api/users') + tail };
      const input = buildFrame(spec);
      const res = testRun(f.prog.progFd, input);
      const expected = buildFrame({ ...spec, srcMac: DEFAULTS.dstMac, dstMac: '02:aa:bb:cc:dd:ee', dstIp: beIp, dstPort: bePort });
      assert.equal(res.retval, XDP.TX, `routes\n${hex(input)}`);
      assert.ok(res.dataOut.equals(expected), `rewrite of ${srcIp}:${srcPort} -> ${beIp}:${bePort}\ninput:\n${hex(input)}\nexpected:\n${hex(expected)}\nactual:\n${hex(res.dataOut)}`);
      f.prog.typed.nexthops.delete(beIp);
    }),
    { numRuns: 300 },
  );
});
