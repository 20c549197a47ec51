// The data path under BPF_PROG_TEST_RUN: tables of {description, input frame,
// expected verdict, expected output frame}, Katran style, over a connection's
// whole life: the SYN answered with a SYN cookie, the handshake ACK dropped,
// the first data segment routed into a SYN to the backend (or answered in
// place: 404, 503, RST), the backend's SYN-ACK turned by the TC program into
// ACK + the saved request, established segments translated both ways, and the
// flow removed on close or reset. Every frame the program writes must be
// exactly the expected one, with checksums that verify from scratch; every
// packet counts TOTAL and exactly one outcome.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadTestProgram } from './fixtures/agent-routes.js';
import {
  answerInPlace,
  backendSyn as synToBackend,
  buildFrame,
  checksumsOk,
  CLIENT,
  CLIENT_MAC,
  clientSeg,
  clientSyn,
  DEFAULTS,
  F,
  hex,
  MSS,
  NODE_MAC,
  parseFrame,
  REPLY_404,
  SYNACK_WINDOW,
  toBackendAddresses,
  toClient,
  toClientAddresses,
  VIP,
  type BackendHop,
  type Conn,
  type FrameSpec,
} from './helpers/packet.js';
import type { RautaProgram } from '../src/dataplane/program.js';
import { TC_ACT, testRun, XDP } from '../src/dataplane/libbpf.js';
import { RAUTA_MAGLEV_SIZE, RAUTA_MAX_REQUEST } from '../src/model/codecs.js';
import { routeKeyOf } from '../src/model/ids.js';
import { everyShape } from '../src/model/route-shapes.js';
import { METRIC_NAMES, OUTCOMES, PASS_REASONS, type MetricName } from '../src/model/metrics.js';
import { FLOW_FLAGS, FlowSide, FlowState, type BackendSlot, type FlowKey, type RouteKey } from '../src/model/map-types.js';
import type { HttpMethod } from '../src/routes/route-model.js';

const BACKENDS: BackendSlot[] = [
  { ip: '10.1.0.1', port: 8080, weight: 1 },
  { ip: '10.1.0.2', port: 9090, weight: 1 },
];
const NH_MAC: Record<string, string> = { '10.1.0.1': '02:00:00:00:01:01', '10.1.0.2': '02:00:00:00:01:02' };
const LONG_255 = `/${'a'.repeat(254)}`;
const LONG_256 = `/${'a'.repeat(255)}`;
const REPLY_503 =
  'HTTP/1.1 503 Service Unavailable\r\nServer: rauta\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nno backend\n';

interface Fixture {
  prog: RautaProgram;
  addRoute(method: HttpMethod, path: string, opts?: { backends?: BackendSlot[]; gen?: number; slot?: number | null }): RouteKey;
}

/** Load the program into its own pin dir, with one listener and nexthops for both backends. */
function fixture(t: TestContext): Fixture | null {
  const prog = loadTestProgram(t, 'dp');
  if (!prog) return null;
  const m = prog.typed;
  m.listeners.set({ addr: VIP, port: 80 }, 0);
  m.routeShapes.set(0, everyShape()); // routes are written by hand below: look every kind of key up
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

function delta(before: Record<MetricName, number>, after: Record<MetricName, number>): Partial<Record<MetricName, number>> {
  const d: Partial<Record<MetricName, number>> = {};
  for (const n of METRIC_NAMES) if (after[n] !== before[n]) d[n] = after[n] - before[n];
  return d;
}

const verdictName = (r: number) => (r === XDP.TX ? 'TX' : r === XDP.PASS ? 'PASS' : r === XDP.DROP ? 'DROP' : `retval ${r}`);

interface Row {
  description: string;
  input: Buffer;
  verdict: 'PASS' | 'TX' | 'DROP';
  /** Expected output; defaults to the input (PASS and DROP leave the frame alone). */
  output?: Buffer;
  /** Exact counter changes this one packet must cause. */
  counters: Partial<Record<MetricName, number>>;
}

function runRow(f: Fixture, row: Row): Buffer {
  const before = f.prog.typed.readMetrics();
  const res = testRun(f.prog.progFd, row.input);
  const got = delta(before, f.prog.typed.readMetrics());
  const expected = row.output ?? row.input;
  const verdict = verdictName(res.retval);
  const show = () =>
    `${row.description}\nverdict: expected ${row.verdict}, got ${verdict}\n` +
    `input:\n${hex(row.input)}\nexpected output:\n${hex(expected)}\nactual output:\n${hex(res.dataOut)}`;
  assert.equal(verdict, row.verdict, show());
  assert.ok(res.dataOut.equals(expected), `output bytes differ\n${show()}`);
  assert.deepEqual(got, row.counters, `counters for one packet: ${row.description}`);
  const outcomes = OUTCOMES.filter((n) => (got[n] ?? 0) > 0);
  assert.equal(outcomes.length, 1, `exactly one outcome per packet: ${row.description}: ${outcomes.join(', ')}`);
  if (row.verdict === 'TX') assert.deepEqual(checksumsOk(res.dataOut), { ip: true, tcp: true }, `checksums recomputed from scratch\n${show()}`);
  return res.dataOut;
}

// ---- the client's side of a connection ----------------------------------

/** The program's answer to a SYN: its SYN-ACK, with the cookie it chose. */
function synAckFor(spec: FrameSpec, isn: number, cookie: number): Buffer {
  return toClient({ spec, isn, cookie }, { seq: cookie, ack: isn + 1, flags: F.SYN | F.ACK, tcpOptions: MSS, window: SYNACK_WINDOW });
}

/** SYN -> cookie SYN-ACK (checked byte for byte once its cookie is known). */
function handshake(f: Fixture, spec: FrameSpec, isn = 1000): Conn {
  const syn = clientSyn(spec, isn);
  const res = testRun(f.prog.progFd, syn);
  assert.equal(res.retval, XDP.TX, `the SYN is answered\n${hex(syn)}\n${hex(res.dataOut)}`);
  const p = parseFrame(res.dataOut);
  const cookie = res.dataOut.readUInt32BE(p.l4 + 4);
  assert.ok(res.dataOut.equals(synAckFor(spec, isn, cookie)), `SYN-ACK bytes\nexpected:\n${hex(synAckFor(spec, isn, cookie))}\nactual:\n${hex(res.dataOut)}`);
  return { spec, isn, cookie };
}

/** The RST the program answers a first segment it will not route with (seq: the cookie + 1). */
const resetFor = (c: Conn) => toClient(c, { seq: c.cookie + 1, ack: 0, flags: F.RST });

function flowKeyOf(c: Conn): FlowKey {
  return { srcIp: c.spec.srcIp ?? CLIENT, dstIp: c.spec.dstIp ?? VIP, srcPort: c.spec.srcPort ?? DEFAULTS.srcPort, dstPort: c.spec.dstPort ?? 80, proto: 6 };
}

/** FLOW_CACHE entries by side, and saved requests. */
function flowCount(f: Fixture): { flows: number; backendFlows: number; requests: number } {
  const m = f.prog.typed;
  const sides = [...m.flowCache.entries()].map(([, v]) => v.side);
  return {
    flows: sides.filter((x) => x === FlowSide.CLIENT).length,
    backendFlows: sides.filter((x) => x === FlowSide.BACKEND).length,
    requests: [...m.requests.keys()].length,
  };
}

const routedCounters = { TOTAL: 1, ROUTED: 1 };
let nextPort = 20000;
const port = () => nextPort++;

// ---- the backend's side --------------------------------------------------

const BACKEND_ISN = 0x70000000;
const BACKEND_WINDOW = 4321;

/** A backend of BACKENDS as the frames to it name it: with its nexthop's MAC. */
const hop = (be: BackendSlot): BackendHop => ({ ip: be.ip, port: be.port, mac: NH_MAC[be.ip]! });

/** The SYN the program sends the backend for a connection. */
const backendSyn = (c: Conn, be: BackendSlot) => synToBackend(c, hop(be));

/** A frame from the backend to the client of c, as the backend sends it (backend sequence space). */
function fromBackend(
  c: Conn,
  be: BackendSlot,
  fields: { seq: number; ack: number; flags: number; window: number; tcpOptions?: Uint8Array; payload?: string },
): Buffer {
  return buildFrame({
    srcMac: NH_MAC[be.ip],
    dstMac: NODE_MAC,
    srcIp: be.ip,
    dstIp: c.spec.srcIp ?? CLIENT,
    srcPort: be.port,
    dstPort: c.spec.srcPort ?? DEFAULTS.srcPort,
    seq: fields.seq,
    ack: fields.ack,
    tcpFlags: fields.flags,
    tcpOptions: fields.tcpOptions,
    window: fields.window,
    payload: fields.payload,
  });
}

/** A segment from the backend on an established connection (seq and ack relative to the ISNs). */
function backendSeg(c: Conn, be: BackendSlot, payload: string, opts: { seqOff?: number; ackOff?: number; flags?: number } = {}): Buffer {
  const seq = BACKEND_ISN + 1 + (opts.seqOff ?? 0);
  return fromBackend(c, be, { seq, ack: c.isn + 1 + (opts.ackOff ?? 0), flags: opts.flags ?? F.PSH | F.ACK, window: BACKEND_WINDOW, payload });
}

/** The backend's SYN-ACK to the SYN the program sent it. */
function backendSynAck(c: Conn, be: BackendSlot, window = 64240): Buffer {
  return fromBackend(c, be, { seq: BACKEND_ISN, ack: c.isn + 1, flags: F.SYN | F.ACK, tcpOptions: MSS, window });
}

/** The backend refuses the connection: RST|ACK to the program's SYN. */
const backendRefuses = (c: Conn, be: BackendSlot) => fromBackend(c, be, { seq: 0, ack: c.isn + 1, flags: F.RST | F.ACK, window: 0 });

/** What TC sends the backend on its SYN-ACK: the ACK carrying the saved request, with the client's window. */
function requestToBackend(c: Conn, be: BackendSlot, req: string | Uint8Array): Buffer {
  const fields = { seq: c.isn + 1, ack: BACKEND_ISN + 1, tcpFlags: F.PSH | F.ACK, window: c.spec.window ?? 65535, ipId: 0, payload: req };
  return buildFrame({ ...toBackendAddresses(c.spec, hop(be)), ...fields });
}

/** A client segment as the backend sees it after translation (backend sequence space, the client's window). */
function toBackendSegment(c: Conn, be: BackendSlot, payload: string, seqOff: number, ackOff: number, flags: number): Buffer {
  const fields = { seq: c.isn + 1 + seqOff, ack: BACKEND_ISN + 1 + ackOff, tcpFlags: flags, window: c.spec.window ?? 65535, payload };
  return buildFrame({ ...toBackendAddresses(c.spec, hop(be)), ...fields });
}

/** A backend segment as the client sees it after translation (client sequence space, the backend's window). */
function toClientSegment(c: Conn, payload: string, seqOff: number, ackOff: number, flags: number): Buffer {
  const fields = { seq: c.cookie + 1 + seqOff, ack: c.isn + 1 + ackOff, tcpFlags: flags, window: BACKEND_WINDOW, payload };
  return buildFrame({ ...toClientAddresses(c.spec), ...fields });
}

/** Open a connection through to ESTABLISHED: handshake, first segment, backend SYN-ACK through TC. */
function establish(f: Fixture, spec: FrameSpec, reqText: string, be: BackendSlot): Conn {
  const c = handshake(f, spec);
  runRow(f, { description: 'first segment', input: clientSeg(c, reqText), verdict: 'TX', output: backendSyn(c, be), counters: routedCounters });
  const synAck = backendSynAck(c, be);
  runRow(f, { description: 'backend SYN-ACK: XDP passes it to TC', input: synAck, verdict: 'PASS', counters: { TOTAL: 1, PASS_BACKEND_SYNACK: 1 } });
  const tc = testRun(f.prog.tcProgFd, synAck);
  assert.equal(tc.retval, TC_ACT.REDIRECT, 'TC sends the ACK + request back out');
  return c;
}

// ---- tests ---------------------------------------------------------------

test('frames that are not ours pass untouched, each counting its reason', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
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
    ['PASS_NOT_LISTENER', 'SYN to another port', buildFrame({ dstPort: 22, tcpFlags: F.SYN })],
    [
      'PASS_NOT_LISTENER',
      'a backend address without a flow',
      buildFrame({ srcIp: '10.1.0.1', srcPort: 8080, dstIp: CLIENT, dstPort: 40000, payload: 'HTTP/1.1 200 OK\r\n\r\n' }),
    ],
  ];
  for (const [reason, description, input] of rows) {
    runRow(f, { description: `${reason}: ${description}`, input, verdict: 'PASS', counters: { TOTAL: 1, [reason]: 1 } });
  }
  const covered = new Set(rows.map(([r]) => r));
  assert.deepEqual(
    PASS_REASONS.filter((r) => !covered.has(r) && r !== 'PASS_BACKEND_SYNACK'),
    [],
    'every PASS reason has a row (PASS_BACKEND_SYNACK: the connection tests)',
  );
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'nothing passed records a flow');
});

test('a SYN is answered with a SYN-cookie SYN-ACK, and nothing is stored', (t) => {
  const f = fixture(t);
  if (!f) return;
  const cases: Array<[string, FrameSpec]> = [
    ['plain SYN with MSS', { srcPort: port() }],
    ['one 802.1Q tag', { srcPort: port(), vlans: [42] }],
    ['IPv4 options (8 bytes)', { srcPort: port(), ipOptions: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]) }],
  ];
  for (const [description, spec] of cases) {
    const before = f.prog.typed.readMetrics();
    handshake(f, spec, 0x12345678);
    assert.deepEqual(delta(before, f.prog.typed.readMetrics()), { TOTAL: 1, SYN_COOKIE: 1 }, description);
  }
  // SYNs with every option Linux sends, and none: the answer carries MSS only.
  for (const opts of [Uint8Array.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]), new Uint8Array(0)]) {
    const spec: FrameSpec = { srcPort: port() };
    const res = testRun(f.prog.progFd, buildFrame({ ...spec, seq: 7, ack: 0, tcpFlags: F.SYN, tcpOptions: opts }));
    assert.equal(res.retval, XDP.TX);
    const cookie = res.dataOut.readUInt32BE(34 + 4);
    assert.ok(res.dataOut.equals(synAckFor(spec, 7, cookie)), `SYN with ${opts.length} option bytes\n${hex(res.dataOut)}`);
  }
  // A flood from random sources leaves no state behind.
  for (let i = 0; i < 500; i++) {
    testRun(f.prog.progFd, buildFrame({ srcIp: `198.18.${i >> 8}.${i & 255}`, srcPort: 1024 + i, seq: i * 7919, tcpFlags: F.SYN, tcpOptions: MSS }));
  }
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'SYNs cost no state');
});

test('the handshake ACK is checked and dropped; a segment without a valid cookie gets a RST', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  const c = handshake(f, { srcPort: port() });
  runRow(f, { description: 'handshake ACK', input: clientSeg(c, '', { flags: F.ACK }), verdict: 'DROP', counters: { TOTAL: 1, HANDSHAKE_ACK: 1 } });
  const wrongAck = clientSeg(c, request('GET', '/api/users'), { ackOff: 5 });
  runRow(f, {
    description: 'request whose ack is not our cookie + 1: RST with seq = its ack',
    input: wrongAck,
    verdict: 'TX',
    output: toClient(c, { seq: c.cookie + 6, ack: 0, flags: F.RST }),
    counters: { TOTAL: 1, NO_FLOW_RST: 1 },
  });
  const noAck = buildFrame({ ...c.spec, seq: 500, ack: 0, tcpFlags: F.PSH, payload: request('GET', '/api/users') });
  runRow(f, {
    description: 'segment without ACK and no flow: RST|ACK acknowledging it',
    input: noAck,
    verdict: 'TX',
    output: toClient(c, { seq: 0, ack: 500 + request('GET', '/api/users').length, flags: F.RST | F.ACK }),
    counters: { TOTAL: 1, NO_FLOW_RST: 1 },
  });
  runRow(f, {
    description: 'client RST with no flow: nothing to clean',
    input: clientSeg(c, '', { flags: F.RST }),
    verdict: 'DROP',
    counters: { TOTAL: 1, DROP_CLIENT_RST: 1 },
  });
  runRow(f, {
    description: 'FIN right after the handshake: nothing was kept, RST',
    input: clientSeg(c, '', { flags: F.FIN | F.ACK }),
    verdict: 'TX',
    output: resetFor(c),
    counters: { TOTAL: 1, NO_FLOW_RST: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });
});

test('first segment: routed into a SYN to the backend, the request and the flow recorded', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users');
  f.addRoute('HEAD', '/api/users');
  f.addRoute('OPTIONS', '/');
  f.addRoute('POST', '/submit');
  f.addRoute('PUT', '/p');
  f.addRoute('DELETE', '/d');
  f.addRoute('PATCH', '/x');
  f.addRoute('GET', LONG_255);
  const be = BACKENDS[1]!;
  const cases: Array<[string, FrameSpec, string]> = [
    ['GET /api/users', {}, request('GET', '/api/users')],
    ['query stripped from the path', {}, request('GET', '/api/users?id=7&sort=asc')],
    ['HTTP/1.0', {}, request('GET', '/api/users', 'HTTP/1.0')],
    ['HEAD', {}, request('HEAD', '/api/users')],
    ['OPTIONS', {}, request('OPTIONS', '/')],
    ['POST with a body in the segment', {}, `${request('POST', '/submit')}a=1&b=2`],
    ['PUT', {}, request('PUT', '/p')],
    ['DELETE', {}, request('DELETE', '/d')],
    ['PATCH', {}, request('PATCH', '/x')],
    ['IPv4 options (8 bytes)', { ipOptions: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]) }, request('GET', '/api/users')],
    ['IPv4 options (40 bytes, IHL 15)', { ipOptions: new Uint8Array(40).fill(1) }, request('GET', '/api/users')],
    ['TCP options (40 bytes, data offset 15)', { tcpOptions: new Uint8Array(40).fill(1) }, request('GET', '/api/users')],
    ['one 802.1Q tag', { vlans: [42] }, request('GET', '/api/users')],
    ['path of exactly 255 bytes', {}, request('GET', LONG_255)],
    ['path+query of 319 bytes (the scan bound)', {}, request('GET', `/api/users?${'q'.repeat(308)}`)],
    ['request line only, no CRLF needed', {}, 'GET /api/users HTTP/1.'],
    ['a first segment of RAUTA_MAX_REQUEST bytes', {}, (request('POST', '/submit') + 'x'.repeat(RAUTA_MAX_REQUEST)).slice(0, RAUTA_MAX_REQUEST)],
    ['a small window', { window: 512 }, request('GET', '/api/users')],
  ];
  for (const [description, extra, payload] of cases) {
    const spec: FrameSpec = { srcPort: port(), ...extra };
    const c = handshake(f, spec, 0x10000 * nextPort);
    const { tcpOptions: _o, ipOptions: _i, ...synSpec } = spec;
    runRow(f, {
      description,
      input: clientSeg(c, payload, { extra: { ipOptions: spec.ipOptions, tcpOptions: spec.tcpOptions } }),
      verdict: 'TX',
      output: backendSyn({ ...c, spec: synSpec }, be),
      counters: routedCounters,
    });
    const flow = f.prog.typed.flowCache.get(flowKeyOf(c));
    assert.ok(flow, `${description}: a flow is recorded`);
    if (description === 'GET /api/users')
      assert.deepEqual([flow.route, flow.gen, flow.backendIdx], [key, 1, 1], 'the flow names its route, gen and backend index');
    assert.deepEqual(
      [flow.side, flow.state, flow.peerIp, flow.peerPort, flow.peerMac, flow.clientIsn, flow.cookie, flow.clientMac],
      [FlowSide.CLIENT, FlowState.SYN_SENT, be.ip, be.port, NH_MAC[be.ip], c.isn, c.cookie, CLIENT_MAC],
      `${description}: the flow's client side`,
    );
    const saved = f.prog.typed.requests.get(flowKeyOf(c));
    assert.equal(Buffer.from(saved!.data).toString('latin1'), payload, `${description}: the request is saved byte for byte`);
    assert.equal(saved!.window, spec.window ?? 65535, `${description}: with the client's window`);
    const back = f.prog.typed.flowCache.get({ srcIp: be.ip, dstIp: CLIENT, srcPort: be.port, dstPort: spec.srcPort!, proto: 6 });
    assert.deepEqual(
      [back?.side, back?.state, back?.peerIp, back?.peerPort, back?.peerMac],
      [FlowSide.BACKEND, FlowState.SYN_SENT, VIP, 80, CLIENT_MAC],
      `${description}: the backend side translates to the client through the VIP`,
    );
  }
});

test('first segments that cannot be routed: 404 and 503 built in place, RST for what is not HTTP', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  f.addRoute('GET', LONG_256); // present, so the 256-byte request is the length rule, not a missing route
  f.addRoute('GET', '/no-table', { slot: null });
  f.addRoute('GET', '/empty', { backends: [] });
  f.addRoute('GET', '/bad-slot', { slot: 5 }); // slot index beyond count 2
  f.addRoute('GET', '/hole-slot', { backends: [BACKENDS[0]!, { ip: '0.0.0.0', port: 0, weight: 0 }], slot: 1 });
  f.addRoute('GET', '/drained-slot', { backends: [BACKENDS[0]!, { ...BACKENDS[1]!, weight: 0 }], slot: 1 });
  f.addRoute('GET', '/no-nexthop', { backends: [{ ip: '10.9.9.9', port: 80, weight: 1 }], slot: 0 });
  const reset: Array<[string, string | Uint8Array]> = [
    ['unknown method', request('FETCH', '/api/users')],
    ['lower-case method', request('get', '/api/users')],
    ['two spaces after the method', request('GET', ' /api/users')],
    ['path without a leading slash', request('GET', 'api/users')],
    ['absolute URI', request('GET', 'http://x/api/users')],
    ['HTTP/2 version', request('GET', '/api/users', 'HTTP/2.0')],
    ['HTTP/0.9 (no version)', 'GET /api/users\r\n'],
    ['path of 256 bytes', request('GET', LONG_256)],
    ['path+query of 320 bytes (scan bound 319)', request('GET', `/api/users?${'q'.repeat(309)}`)],
    ['request line cut before HTTP/1.', 'GET /api/users HTTP/'],
    ['TLS ClientHello', Uint8Array.from([0x16, 3, 1, 0, 0xa5, 1, 0, 0, 0xa1, 3, 3, 0, 0, 0, 0, 0])],
    ['payload shorter than any request', 'GET /'],
  ];
  for (const [description, payload] of reset) {
    const c = handshake(f, { srcPort: port() });
    runRow(f, {
      description: `RST: ${description}`,
      input: clientSeg(c, payload),
      verdict: 'TX',
      output: resetFor(c),
      counters: { TOTAL: 1, REPLY_BAD_REQUEST: 1 },
    });
  }
  {
    const c = handshake(f, { srcPort: port() });
    const big = request('GET', '/api/users') + 'x'.repeat(RAUTA_MAX_REQUEST); // a routed request, one byte too long
    runRow(f, {
      description: 'RST: first segment over RAUTA_MAX_REQUEST',
      input: clientSeg(c, big.slice(0, RAUTA_MAX_REQUEST + 1)),
      verdict: 'TX',
      output: resetFor(c),
      counters: { TOTAL: 1, REPLY_TOO_LARGE: 1 },
    });
  }
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'a RST keeps nothing');

  const answered: Array<[MetricName, string, string, string]> = [
    ['REPLY_NO_ROUTE', 'unknown path', request('GET', '/nope'), REPLY_404],
    ['REPLY_NO_ROUTE', 'known path, other method', request('POST', '/api/users'), REPLY_404],
    ['REPLY_NO_ROUTE', 'path is case-sensitive', request('GET', '/API/users'), REPLY_404],
    ['REPLY_NO_TABLE', 'route without a Maglev table for its gen', request('GET', '/no-table'), REPLY_503],
    ['REPLY_NO_TABLE', 'route with no backends', request('GET', '/empty'), REPLY_503],
    ['REPLY_NO_TABLE', 'table slot beyond the backend count', request('GET', '/bad-slot'), REPLY_503],
    ['REPLY_NO_TABLE', 'table slot names a hole (weight 0)', request('GET', '/hole-slot'), REPLY_503],
    ['REPLY_NO_TABLE', 'table slot names a drained backend (weight 0, address kept)', request('GET', '/drained-slot'), REPLY_503],
    ['REPLY_NO_NEXTHOP', 'backend without a NEXTHOPS entry', request('GET', '/no-nexthop'), REPLY_503],
  ];
  for (const [reason, description, payload, answer] of answered) {
    const c = handshake(f, { srcPort: port() });
    const expected = answerInPlace(c, payload, answer);
    runRow(f, { description: `${reason}: ${description}`, input: clientSeg(c, payload), verdict: 'TX', output: expected, counters: { TOTAL: 1, [reason]: 1 } });
    // The client's ACK of the answer is dropped; its FIN is acknowledged and the flow removed.
    const fin = clientSeg(c, '', { seqOff: payload.length, ackOff: answer.length + 1, flags: F.FIN | F.ACK });
    runRow(f, {
      description: `${description}: client ACK`,
      input: clientSeg(c, '', { seqOff: payload.length, ackOff: answer.length + 1, flags: F.ACK }),
      verdict: 'DROP',
      counters: { TOTAL: 1, REPLIED_SEGMENT: 1 },
    });
    runRow(f, {
      description: `${description}: client FIN`,
      input: fin,
      verdict: 'TX',
      output: toClient(c, { seq: c.cookie + 1 + answer.length + 1, ack: c.isn + 1 + payload.length + 1, flags: F.ACK, window: SYNACK_WINDOW }),
      counters: { TOTAL: 1, REPLIED_SEGMENT: 1, CLOSED: 1 },
    });
    assert.equal(f.prog.typed.flowCache.get(flowKeyOf(c)), null, `${description}: the flow is gone after the client's FIN`);
  }
  // A lost answer: the client sends its request again and gets the same answer.
  const c = handshake(f, { srcPort: port() });
  const payload = request('GET', '/nope');
  const expected = answerInPlace(c, payload, REPLY_404);
  runRow(f, { description: '404', input: clientSeg(c, payload), verdict: 'TX', output: expected, counters: { TOTAL: 1, REPLY_NO_ROUTE: 1 } });
  runRow(f, {
    description: 'the request again: the same 404',
    input: clientSeg(c, payload),
    verdict: 'TX',
    output: expected,
    counters: { TOTAL: 1, REPLIED_SEGMENT: 1 },
  });
  runRow(f, {
    description: 'client RST: flow removed',
    input: clientSeg(c, '', { seqOff: payload.length, flags: F.RST }),
    verdict: 'DROP',
    counters: { TOTAL: 1, REPLIED_SEGMENT: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });
});

test('every truncation of a first segment frame: PASS untouched, or an error only below 14 bytes', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  const spec: FrameSpec = { srcPort: port(), ipOptions: Uint8Array.from([1, 1, 1, 0]), tcpOptions: Uint8Array.from([1, 1, 1, 1]) };
  const c = handshake(f, { srcPort: spec.srcPort });
  const full = clientSeg(c, request('GET', '/api/users'), { extra: { ipOptions: spec.ipOptions, tcpOptions: spec.tcpOptions } });
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
  assert.deepEqual(
    rejected,
    Array.from({ length: 14 }, (_, i) => i),
    'the kernel refuses exactly the frames below 14 bytes',
  );
  runRow(f, { description: 'the untruncated frame routes', input: full, verdict: 'TX', output: backendSyn(c, BACKENDS[1]!), counters: routedCounters });
});

test('every truncation of the request line (lengths consistent): RST or routed', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users');
  const line = request('GET', '/api/users?a=b');
  const minRouted = line.indexOf(' HTTP/1.') + ' HTTP/1.'.length;
  for (let len = 1; len <= line.length; len++) {
    const c = handshake(f, { srcPort: port() });
    const input = clientSeg(c, line.slice(0, len));
    if (len >= minRouted) {
      runRow(f, { description: `payload cut to ${len} bytes`, input, verdict: 'TX', output: backendSyn(c, BACKENDS[1]!), counters: routedCounters });
    } else {
      runRow(f, {
        description: `payload cut to ${len} bytes`,
        input,
        verdict: 'TX',
        output: resetFor(c),
        counters: { TOTAL: 1, REPLY_BAD_REQUEST: 1 },
      });
    }
  }
});

test('the backend handshake: its SYN-ACK becomes ACK + the saved request (TC), then segments are translated both ways', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/api/users', { slot: 0 });
  const be = BACKENDS[0]!;
  const spec: FrameSpec = { srcPort: port(), window: 29200 };
  const req = request('GET', '/api/users');
  const c = handshake(f, spec, 0xfffffff0); // the sequence numbers wrap during the connection
  runRow(f, { description: 'first segment', input: clientSeg(c, req), verdict: 'TX', output: backendSyn(c, be), counters: routedCounters });
  runRow(f, {
    description: 'a second segment while the backend handshake is in flight: dropped',
    input: clientSeg(c, 'more', { seqOff: req.length }),
    verdict: 'DROP',
    counters: { TOTAL: 1, HANDSHAKE_WAIT: 1 },
  });

  const synAck = backendSynAck(c, be);
  runRow(f, { description: 'backend SYN-ACK: XDP passes it to TC', input: synAck, verdict: 'PASS', counters: { TOTAL: 1, PASS_BACKEND_SYNACK: 1 } });
  const before = f.prog.typed.readMetrics();
  const tc = testRun(f.prog.tcProgFd, synAck);
  assert.equal(tc.retval, TC_ACT.REDIRECT, 'TC redirects the grown frame back out of the interface');
  const ackWithRequest = requestToBackend(c, be, req);
  assert.ok(tc.dataOut.equals(ackWithRequest), `ACK + request to the backend\nexpected:\n${hex(ackWithRequest)}\nactual:\n${hex(tc.dataOut)}`);
  assert.deepEqual(checksumsOk(tc.dataOut), { ip: true, tcp: true });
  assert.deepEqual(delta(before, f.prog.typed.readMetrics()), { BACKEND_ACK: 1 });
  const flow = f.prog.typed.flowCache.get(flowKeyOf(c))!;
  assert.deepEqual([flow.state, flow.seqDelta], [FlowState.ESTABLISHED, (BACKEND_ISN - c.cookie) >>> 0], 'established with the sequence delta');
  const backSide = f.prog.typed.flowCache.get({ srcIp: be.ip, dstIp: CLIENT, srcPort: be.port, dstPort: spec.srcPort!, proto: 6 })!;
  assert.deepEqual([backSide.state, backSide.seqDelta], [FlowState.ESTABLISHED, flow.seqDelta], 'both sides established with the same delta');
  assert.equal(f.prog.typed.requests.get(flowKeyOf(c)), null, 'the saved request is freed once sent');
  runRow(f, {
    description: 'the backend SYN-ACK again (our ACK lost): dropped, the client retransmits its request',
    input: synAck,
    verdict: 'DROP',
    counters: { TOTAL: 1, DROP_BACKEND_SYN: 1 },
  });

  // Established: backend -> client seq -= delta, source = VIP:port; client -> backend ack += delta, destination = backend.
  const answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const fromBackend = backendSeg(c, be, answer, { ackOff: req.length });
  const toClientFrame = toClientSegment(c, answer, 0, req.length, F.PSH | F.ACK);
  runRow(f, { description: 'backend answer to the client', input: fromBackend, verdict: 'TX', output: toClientFrame, counters: { TOTAL: 1, TO_CLIENT: 1 } });
  const ack = clientSeg(c, '', { seqOff: req.length, ackOff: answer.length, flags: F.ACK, extra: { window: 29200 } });
  const ackToBackend = toBackendSegment(c, be, '', req.length, answer.length, F.ACK);
  runRow(f, { description: 'client ACK to the backend', input: ack, verdict: 'TX', output: ackToBackend, counters: { TOTAL: 1, TO_BACKEND: 1 } });

  // Close, client first: FIN, the backend's ACK + FIN, the client's last ACK removes the flow.
  const cFin = clientSeg(c, '', { seqOff: req.length, ackOff: answer.length, flags: F.FIN | F.ACK });
  runRow(f, {
    description: 'client FIN',
    input: cFin,
    verdict: 'TX',
    output: toBackendSegment(c, be, '', req.length, answer.length, F.FIN | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1 },
  });
  const bFin = backendSeg(c, be, '', { seqOff: answer.length, ackOff: req.length + 1, flags: F.FIN | F.ACK });
  runRow(f, {
    description: 'backend FIN',
    input: bFin,
    verdict: 'TX',
    output: toClientSegment(c, '', answer.length, req.length + 1, F.FIN | F.ACK),
    counters: { TOTAL: 1, TO_CLIENT: 1 },
  });
  assert.equal(
    f.prog.typed.flowCache.get(flowKeyOf(c))?.flags,
    FLOW_FLAGS.CLIENT_FIN | FLOW_FLAGS.BACKEND_FIN | FLOW_FLAGS.CLIENT_FIN_ACKED,
    "both FINs seen, the client's acknowledged, the backend's not yet: the flow stays",
  );
  const last = clientSeg(c, '', { seqOff: req.length + 1, ackOff: answer.length + 1, flags: F.ACK });
  runRow(f, {
    description: 'client last ACK',
    input: last,
    verdict: 'TX',
    output: toBackendSegment(c, be, '', req.length + 1, answer.length + 1, F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1, CLOSED: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'closed: all state gone');
  runRow(f, {
    description: 'a late backend segment after the close: not ours any more',
    input: bFin,
    verdict: 'PASS',
    counters: { TOTAL: 1, PASS_NOT_LISTENER: 1 },
  });
});

test('a first segment of every size up to RAUTA_MAX_REQUEST reaches the backend byte for byte (XDP saves it, TC sends it)', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('POST', '/up', { slot: 0 });
  const be = BACKENDS[0]!;
  const head = request('POST', '/up');
  const sizes = [head.length, 100, 511, 512, 513, 700, 1023, 1024, 1025, 1400, RAUTA_MAX_REQUEST];
  for (let n = head.length; n <= RAUTA_MAX_REQUEST; n += 97) sizes.push(n);
  for (const size of sizes) {
    // a body of varied bytes, so a zeroed or shifted byte cannot go unnoticed
    const req = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(Array.from({ length: size - head.length }, (_, i) => (i * 7 + size) & 255))]);
    const spec: FrameSpec = { srcPort: port() };
    const c = handshake(f, spec);
    assert.equal(testRun(f.prog.progFd, clientSeg(c, req)).retval, XDP.TX, `${size}: routed`);
    const synAck = backendSynAck(c, be, 65535);
    testRun(f.prog.progFd, synAck);
    const tc = testRun(f.prog.tcProgFd, synAck);
    assert.equal(tc.retval, TC_ACT.REDIRECT, `${size}: TC sends it`);
    const expected = requestToBackend(c, be, req);
    assert.ok(tc.dataOut.equals(expected), `a ${size}-byte request, byte for byte\nexpected:\n${hex(expected)}\nactual:\n${hex(tc.dataOut)}`);
    assert.deepEqual(checksumsOk(tc.dataOut), { ip: true, tcp: true }, `${size}: checksums`);
    testRun(f.prog.progFd, clientSeg(c, '', { seqOff: req.length, flags: F.RST | F.ACK }));
  }
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });
});

test('close with the backend first, and resets from either side, remove the flow', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/r', { slot: 0 });
  const be = BACKENDS[0]!;
  const req = request('GET', '/r');

  // Backend closes first (Connection: close).
  let c = establish(f, { srcPort: port() }, req, be);
  runRow(f, {
    description: 'backend FIN first',
    input: backendSeg(c, be, 'bye', { ackOff: req.length, flags: F.FIN | F.PSH | F.ACK }),
    verdict: 'TX',
    output: toClientSegment(c, 'bye', 0, req.length, F.FIN | F.PSH | F.ACK),
    counters: { TOTAL: 1, TO_CLIENT: 1 },
  });
  runRow(f, {
    description: 'client ACK + FIN',
    input: clientSeg(c, '', { seqOff: req.length, ackOff: 4, flags: F.FIN | F.ACK }),
    verdict: 'TX',
    output: toBackendSegment(c, be, '', req.length, 4, F.FIN | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1 },
  });
  runRow(f, {
    description: 'backend last ACK',
    input: backendSeg(c, be, '', { seqOff: 4, ackOff: req.length + 1, flags: F.ACK }),
    verdict: 'TX',
    output: toClientSegment(c, '', 4, req.length + 1, F.ACK),
    counters: { TOTAL: 1, TO_CLIENT: 1, CLOSED: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });

  // Client RST: forwarded, flow removed.
  c = establish(f, { srcPort: port() }, req, be);
  runRow(f, {
    description: 'client RST',
    input: clientSeg(c, '', { seqOff: req.length, flags: F.RST | F.ACK }),
    verdict: 'TX',
    output: toBackendSegment(c, be, '', req.length, 0, F.RST | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1, RESET: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });

  // Backend RST: forwarded, flow removed.
  c = establish(f, { srcPort: port() }, req, be);
  runRow(f, {
    description: 'backend RST',
    input: backendSeg(c, be, '', { ackOff: req.length, flags: F.RST | F.ACK }),
    verdict: 'TX',
    output: toClientSegment(c, '', 0, req.length, F.RST | F.ACK),
    counters: { TOTAL: 1, TO_CLIENT: 1, RESET: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });

  // The backend refuses the connection (RST to our SYN): the client gets a RST at once.
  c = handshake(f, { srcPort: port() });
  runRow(f, { description: 'first segment', input: clientSeg(c, req), verdict: 'TX', output: backendSyn(c, be), counters: routedCounters });
  const refused = backendRefuses(c, be);
  runRow(f, {
    description: 'backend refuses: RST to the client',
    input: refused,
    verdict: 'TX',
    output: resetFor(c),
    counters: { TOTAL: 1, BACKEND_REFUSED: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'a refused connection keeps nothing');

  // The backend holds a TIME_WAIT on this 4-tuple and answers our SYN with an older connection's ACK:
  // XDP passes it to TC, which sends the RST a client's stack would (as a clone: not visible to
  // BPF_PROG_TEST_RUN; the connection tests see it work) and then the SYN again.
  c = handshake(f, { srcPort: port() });
  runRow(f, { description: 'first segment', input: clientSeg(c, req), verdict: 'TX', output: backendSyn(c, be), counters: routedCounters });
  const stale = fromBackend(c, be, { seq: 777, ack: 0x12345, flags: F.ACK, window: 500 });
  runRow(f, { description: "backend's stale ACK: to TC", input: stale, verdict: 'PASS', counters: { TOTAL: 1, BACKEND_STALE_ACK: 1 } });
  const tcAgain = testRun(f.prog.tcProgFd, stale);
  assert.equal(tcAgain.retval, TC_ACT.REDIRECT, 'TC sends the RST and the SYN');
  assert.ok(
    tcAgain.dataOut.equals(backendSyn(c, be)),
    `after the RST, the same SYN again\nexpected:\n${hex(backendSyn(c, be))}\nactual:\n${hex(tcAgain.dataOut)}`,
  );
  runRow(f, {
    description: 'the retransmitted first segment: the same SYN again',
    input: clientSeg(c, req),
    verdict: 'TX',
    output: backendSyn(c, be),
    counters: { TOTAL: 1, FLOW_HIT: 1 },
  });
  runRow(f, {
    description: 'client RST',
    input: clientSeg(c, '', { seqOff: req.length, flags: F.RST }),
    verdict: 'DROP',
    counters: { TOTAL: 1, HANDSHAKE_WAIT: 1, RESET: 1 },
  });

  // The client gives up (RST) while the backend handshake is in flight.
  c = handshake(f, { srcPort: port() });
  runRow(f, { description: 'first segment', input: clientSeg(c, req), verdict: 'TX', output: backendSyn(c, be), counters: routedCounters });
  runRow(f, {
    description: 'client RST during the backend handshake',
    input: clientSeg(c, '', { seqOff: req.length, flags: F.RST }),
    verdict: 'DROP',
    counters: { TOTAL: 1, HANDSHAKE_WAIT: 1, RESET: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 });
});

test("BACKEND_STATS: a checked backend's handshakes are counted (sent, unanswered once, refused, accepted); others have no entry", (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/h', { slot: 0 });
  const be = BACKENDS[0]!;
  const stats = f.prog.typed.backendStats;
  const req = request('GET', '/h');
  // not checked: no entry, nothing counted, nothing created
  establish(f, { srcPort: port() }, req, be);
  assert.equal([...stats.keys()].length, 0, 'the programs never create entries');

  stats.set({ ip: be.ip, port: be.port }, { syns: 0, stalled: 0, refused: 0, established: 0 });
  establish(f, { srcPort: port() }, req, be);
  assert.deepEqual(stats.get({ ip: be.ip, port: be.port }), { syns: 1, stalled: 0, refused: 0, established: 1 });

  // unanswered: the client retransmits its first segment three times; counted once
  const slow = handshake(f, { srcPort: port() });
  runRow(f, { description: 'first segment', input: clientSeg(slow, req), verdict: 'TX', output: backendSyn(slow, be), counters: routedCounters });
  for (let i = 0; i < 3; i++)
    runRow(f, {
      description: `retransmission ${i + 1}`,
      input: clientSeg(slow, req),
      verdict: 'TX',
      output: backendSyn(slow, be),
      counters: { TOTAL: 1, FLOW_HIT: 1 },
    });
  assert.equal(f.prog.typed.flowCache.get(flowKeyOf(slow))!.synRetries, 3);
  // refused
  const no = handshake(f, { srcPort: port() });
  runRow(f, { description: 'first segment', input: clientSeg(no, req), verdict: 'TX', output: backendSyn(no, be), counters: routedCounters });
  const rst = backendRefuses(no, be);
  runRow(f, {
    description: 'backend refuses',
    input: rst,
    verdict: 'TX',
    output: resetFor(no),
    counters: { TOTAL: 1, BACKEND_REFUSED: 1 },
  });
  assert.deepEqual(stats.get({ ip: be.ip, port: be.port }), { syns: 3, stalled: 1, refused: 1, established: 1 });
});

test('a retransmitted first segment re-sends the same SYN to the same backend, even after the table moved', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users', { slot: 0 });
  const req = request('GET', '/api/users');
  const c = handshake(f, { srcPort: port() });
  runRow(f, {
    description: 'first segment: backend 0',
    input: clientSeg(c, req),
    verdict: 'TX',
    output: backendSyn(c, BACKENDS[0]!),
    counters: routedCounters,
  });
  // A commit moves the route: every slot of a new gen names backend 1.
  f.prog.typed.maglevTables.set({ route: key, gen: 2 }, new Uint8Array(RAUTA_MAGLEV_SIZE).fill(1));
  f.prog.typed.routes.set(key, { backends: BACKENDS, gen: 2 });
  runRow(f, {
    description: 'the retransmission: same SYN, same backend',
    input: clientSeg(c, req),
    verdict: 'TX',
    output: backendSyn(c, BACKENDS[0]!),
    counters: { TOTAL: 1, FLOW_HIT: 1 },
  });
  assert.equal(flowCount(f).flows, 1, 'one flow, not two');
  // A new connection follows the new table.
  const other = handshake(f, { srcPort: port() });
  runRow(f, {
    description: 'a new connection: backend 1',
    input: clientSeg(other, req),
    verdict: 'TX',
    output: backendSyn(other, BACKENDS[1]!),
    counters: routedCounters,
  });

  // A half-open flow older than RAUTA_HALF_OPEN_NS is gone: its retransmission is a new choice.
  const k = flowKeyOf(c);
  f.prog.typed.flowCache.set(k, { ...f.prog.typed.flowCache.get(k)!, changedNs: 0n });
  runRow(f, {
    description: 'retransmission after the half-open timeout: chosen again',
    input: clientSeg(c, req),
    verdict: 'TX',
    output: backendSyn(c, BACKENDS[1]!),
    counters: routedCounters,
  });
});

test('an established connection keeps its backend through a commit; a later request line for another route is counted', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/a', { slot: 0 });
  f.addRoute('GET', '/b', { slot: 1 });
  const be = BACKENDS[0]!;
  const req = request('GET', '/a');
  const c = establish(f, { srcPort: port() }, req, be);
  // The route moves to backend 1 and backend 0 is removed from it.
  f.prog.typed.maglevTables.set({ route: key, gen: 2 }, new Uint8Array(RAUTA_MAGLEV_SIZE).fill(1));
  f.prog.typed.routes.set(key, { backends: [{ ip: '0.0.0.0', port: 0, weight: 0 }, BACKENDS[1]!], gen: 2 });
  const second = request('GET', '/a');
  runRow(f, {
    description: 'keep-alive request, same route: still backend 0',
    input: clientSeg(c, second, { seqOff: req.length }),
    verdict: 'TX',
    output: toBackendSegment(c, be, second, req.length, 0, F.PSH | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1 },
  });
  const third = request('GET', '/b');
  runRow(f, {
    description: 'keep-alive request for another route: counted, same backend',
    input: clientSeg(c, third, { seqOff: req.length + second.length }),
    verdict: 'TX',
    output: toBackendSegment(c, be, third, req.length + second.length, 0, F.PSH | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1, KEEPALIVE_OTHER_ROUTE: 1 },
  });
  runRow(f, {
    description: 'a body segment is not a request line',
    input: clientSeg(c, 'x'.repeat(40), { seqOff: 999 }),
    verdict: 'TX',
    output: toBackendSegment(c, be, 'x'.repeat(40), 999, 0, F.PSH | F.ACK),
    counters: { TOTAL: 1, TO_BACKEND: 1 },
  });
});

test('a new connection on the 4-tuple of an old flow replaces it; a backend 4-tuple in use is refused', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/a', { slot: 0 });
  const be = BACKENDS[0]!;
  const spec: FrameSpec = { srcPort: port() };
  const old = establish(f, spec, request('GET', '/a'), be);
  // The client reuses the port (the old flow's close was never seen): new SYN, new ISN.
  const fresh = handshake(f, spec, old.isn + 100_000);
  assert.ok((f.prog.typed.flowCache.get(flowKeyOf(old))!.flags & FLOW_FLAGS.NEW_SYN) !== 0, 'the SYN marked the old flow');
  runRow(f, {
    description: 'first segment of the new connection',
    input: clientSeg(fresh, request('GET', '/a')),
    verdict: 'TX',
    output: backendSyn(fresh, be),
    counters: routedCounters,
  });
  assert.equal(f.prog.typed.flowCache.get(flowKeyOf(old))!.clientIsn, fresh.isn, 'the flow is the new connection');

  // The same client address and port to the same backend through a second VIP: the backend could not tell them apart.
  f.prog.typed.listeners.set({ addr: '10.0.0.200', port: 80 }, 0);
  const via2 = handshake(f, { ...spec, dstIp: '10.0.0.200' });
  runRow(f, {
    description: 'same client ip:port to the same backend via another VIP: RST',
    input: clientSeg(via2, request('GET', '/a')),
    verdict: 'TX',
    output: resetFor(via2),
    counters: { TOTAL: 1, TUPLE_BUSY: 1 },
  });
});

test('a flow whose client side was evicted: backend data still flows, its close is dropped, client segments get a RST', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/a', { slot: 0 });
  const be = BACKENDS[0]!;
  const c = establish(f, { srcPort: port() }, request('GET', '/a'), be);
  f.prog.typed.flowCache.delete(flowKeyOf(c)); // as an LRU eviction would
  // The backend side alone still translates (its fast path needs nothing else) until the connection closes.
  runRow(f, {
    description: 'backend data, client side evicted: still delivered',
    input: backendSeg(c, be, 'data'),
    verdict: 'TX',
    output: toClientSegment(c, 'data', 0, 0, F.PSH | F.ACK),
    counters: { TOTAL: 1, TO_CLIENT: 1 },
  });
  runRow(f, {
    description: 'backend FIN, client side evicted: dropped',
    input: backendSeg(c, be, '', { seqOff: 4, flags: F.FIN | F.ACK }),
    verdict: 'DROP',
    counters: { TOTAL: 1, NO_FLOW_BACKEND: 1 },
  });
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'the orphaned backend side is removed');
  runRow(f, {
    description: 'client segment, flow evicted: RST (the client does not hang)',
    input: clientSeg(c, 'more', { seqOff: 50 }),
    verdict: 'TX',
    output: resetFor(c),
    counters: { TOTAL: 1, NO_FLOW_RST: 1 },
  });
});

test('Maglev slot comes from the table: both backends are reachable', (t) => {
  const f = fixture(t);
  if (!f) return;
  const key = f.addRoute('GET', '/api/users');
  f.prog.typed.maglevTables.set(
    { route: key, gen: 1 },
    new Uint8Array(RAUTA_MAGLEV_SIZE).map((_, i) => i % 2),
  );
  const seen = new Set<number>();
  for (let i = 0; i < 64; i++) {
    const c = handshake(f, { srcPort: 1024 + i });
    const res = testRun(f.prog.progFd, clientSeg(c, request('GET', '/api/users')));
    assert.equal(res.retval, XDP.TX, `source port ${1024 + i} should route`);
    seen.add(res.dataOut.readUInt16BE(14 + 20 + 2));
  }
  assert.deepEqual([...seen].sort(), [8080, 9090], '64 connections over a half/half table reach both backends');
});

test('a route inserted with the TypeScript FNV-1a hash is found by packets', (t) => {
  const f = fixture(t);
  if (!f) return;
  const paths = ['/', '/a', '/api/v1/users/123', '/ünïcode/路径', '/%20encoded%2F', `/${'x'.repeat(200)}`];
  for (const path of paths) {
    f.addRoute('GET', path);
    const c = handshake(f, { srcPort: port() });
    runRow(f, {
      description: `path ${JSON.stringify(path)}`,
      input: clientSeg(c, Buffer.from(request('GET', path), 'utf8')),
      verdict: 'TX',
      output: backendSyn(c, BACKENDS[1]!),
      counters: routedCounters,
    });
  }
});

test('random connections: every translated segment equals a from-scratch build (incremental checksums)', (t) => {
  const f = fixture(t);
  if (!f) return;
  f.addRoute('GET', '/r', { slot: 0 });
  const octet = fc.integer({ min: 1, max: 254 });
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  let p = 30000;
  fc.assert(
    fc.property(
      ip,
      fc.nat(0xffffffff),
      fc.nat(0xffffffff),
      fc.integer({ min: 1, max: 65535 }),
      fc.string({ maxLength: 40 }),
      (beIp, isn, beIsn, bePort, body) => {
        const be = { ip: beIp, port: bePort, weight: 1 };
        f.prog.typed.routes.set(routeKeyOf('GET', '/r'), { backends: [be], gen: 1 });
        f.prog.typed.nexthops.set(beIp, { mac: '02:aa:bb:cc:dd:ee' });
        const spec: FrameSpec = { srcPort: p++ };
        const c = handshake(f, spec, isn);
        const req = request('GET', '/r');
        assert.equal(testRun(f.prog.progFd, clientSeg(c, req)).retval, XDP.TX);
        const synAck = buildFrame({
          srcIp: beIp,
          dstIp: CLIENT,
          srcPort: bePort,
          dstPort: spec.srcPort,
          seq: beIsn,
          ack: (isn + 1) >>> 0,
          tcpFlags: F.SYN | F.ACK,
          tcpOptions: MSS,
        });
        testRun(f.prog.progFd, synAck);
        assert.equal(testRun(f.prog.tcProgFd, synAck).retval, TC_ACT.REDIRECT);
        const fromBe = buildFrame({
          srcIp: beIp,
          dstIp: CLIENT,
          srcPort: bePort,
          dstPort: spec.srcPort,
          seq: (beIsn + 1) >>> 0,
          ack: (isn + 1 + req.length) >>> 0,
          payload: body,
        });
        const out = testRun(f.prog.progFd, fromBe);
        const expected = buildFrame({
          srcMac: DEFAULTS.dstMac,
          dstMac: CLIENT_MAC,
          srcIp: VIP,
          dstIp: CLIENT,
          srcPort: 80,
          dstPort: spec.srcPort,
          seq: (c.cookie + 1) >>> 0,
          ack: (isn + 1 + req.length) >>> 0,
          payload: body,
        });
        assert.ok(out.dataOut.equals(expected), `to the client\nexpected:\n${hex(expected)}\nactual:\n${hex(out.dataOut)}`);
        const fromClient = clientSeg(c, body, { seqOff: req.length, ackOff: body.length });
        const out2 = testRun(f.prog.progFd, fromClient);
        const expected2 = buildFrame({
          srcMac: DEFAULTS.dstMac,
          dstMac: '02:aa:bb:cc:dd:ee',
          srcIp: CLIENT,
          dstIp: beIp,
          srcPort: spec.srcPort,
          dstPort: bePort,
          seq: (isn + 1 + req.length) >>> 0,
          ack: (beIsn + 1 + body.length) >>> 0,
          payload: body,
        });
        assert.ok(out2.dataOut.equals(expected2), `to the backend\nexpected:\n${hex(expected2)}\nactual:\n${hex(out2.dataOut)}`);
        testRun(f.prog.progFd, clientSeg(c, '', { seqOff: req.length + body.length, flags: F.RST | F.ACK }));
        f.prog.typed.nexthops.delete(beIp);
      },
    ),
    { numRuns: 150 },
  );
  assert.deepEqual(flowCount(f), { flows: 0, backendFlows: 0, requests: 0 }, 'every random connection was reset and removed');
});
