// Drive a client's connection opening through the loaded XDP program with
// BPF_PROG_TEST_RUN, as a real client would: SYN -> the program's SYN-ACK
// (its ISN a SYN cookie) -> the first data segment carrying the request ->
// what the program makes of it (a SYN to the chosen backend, a 404/503 built
// in place, a RST). `rauta probe`, the tests and the benchmarks ask "where
// does this request go?" this way. The flow state it leaves is removed again
// (forget()), so a probe does not hold a backend's 4-tuple.
import { buildFrame, parseFrame } from './packet.js';
import { testRun, XDP } from './libbpf.js';
import type { RautaMaps } from './maps.js';
import type { FlowKey, FlowValue } from '../model/map-types.js';
import { METRIC_NAMES, type MetricName } from '../model/metrics.js';

export interface TcpEndpoint {
  ip: string;
  port: number;
}

export interface ConnectionProbe {
  client: TcpEndpoint;
  listener: TcpEndpoint;
  /** the first segment's payload: a request line and headers */
  payload: string | Uint8Array;
  /** the client's ISN (default: random) */
  isn?: number;
  srcMac?: string;
  dstMac?: string;
}

export type FirstSegmentOutcome =
  /** the connection is bound: the frame is the SYN to this backend */
  | { kind: 'backend'; backend: TcpEndpoint; mac: string }
  /** answered in place (404 no route, 503 no backend) */
  | { kind: 'reply'; status: number; text: string }
  | { kind: 'reset' }
  /** anything else: a verdict without a frame we recognise */
  | { kind: 'other'; verdict: string };

export interface ConnectionProbeResult {
  /** the SYN cookie the program chose as its ISN (null if it did not answer the SYN) */
  cookie: number | null;
  synAckVerdict: string;
  /** verdict and frame for the first data segment */
  verdict: string;
  frame: Buffer;
  outcome: FirstSegmentOutcome;
  /** METRICS slots that moved over both packets (other traffic on a live node adds to these) */
  counters: Partial<Record<MetricName, number>>;
  /** the client's FLOW_CACHE key */
  flowKey: FlowKey;
}

export const VERDICTS: Record<number, string> = {
  [XDP.ABORTED]: 'ABORTED',
  [XDP.DROP]: 'DROP',
  [XDP.PASS]: 'PASS',
  [XDP.TX]: 'TX',
  [XDP.REDIRECT]: 'REDIRECT',
};
const verdictName = (r: number): string => VERDICTS[r] ?? `retval ${r}`;

/** MSS option 1460: what a Linux client sends. */
const MSS_OPTION = Uint8Array.from([2, 4, 0x05, 0xb4]);
const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

function counterDelta(before: Record<MetricName, number>, after: Record<MetricName, number>): Partial<Record<MetricName, number>> {
  const d: Partial<Record<MetricName, number>> = {};
  for (const n of METRIC_NAMES) if (after[n] !== before[n]) d[n] = after[n] - before[n];
  return d;
}

/** What a frame the program sent back is: its TCP flags, addresses and payload. */
export function describeSegment(frame: Buffer): { flags: number; seq: number; dst: TcpEndpoint; dstMac: string; payload: Buffer } {
  const p = parseFrame(frame);
  const ip = (o: number) => `${frame[o]}.${frame[o + 1]}.${frame[o + 2]}.${frame[o + 3]}`;
  return {
    flags: frame[p.l4 + 13]!,
    seq: frame.readUInt32BE(p.l4 + 4),
    dst: { ip: ip(p.l3 + 16), port: frame.readUInt16BE(p.l4 + 2) },
    dstMac: [...frame.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    payload: frame.subarray(p.payload, p.l3 + p.totalLength),
  };
}

function classify(verdict: number, frame: Buffer, client: TcpEndpoint): FirstSegmentOutcome {
  if (verdict !== XDP.TX || frame.length < 54) return { kind: 'other', verdict: verdictName(verdict) };
  const seg = describeSegment(frame);
  if (seg.flags & TCP.RST) return { kind: 'reset' };
  if (seg.flags & TCP.SYN && (seg.dst.ip !== client.ip || seg.dst.port !== client.port)) {
    return { kind: 'backend', backend: seg.dst, mac: seg.dstMac };
  }
  const text = seg.payload.toString('latin1');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  if (m) return { kind: 'reply', status: Number(m[1]), text };
  return { kind: 'other', verdict: verdictName(verdict) };
}

/** SYN, then the first data segment, through the program; the flow it records is left in place (see forgetFlow). */
export function probeConnection(progFd: number, maps: RautaMaps, probe: ConnectionProbe): ConnectionProbeResult {
  const isn = probe.isn ?? Math.floor(Math.random() * 0xffffffff);
  const base = {
    srcIp: probe.client.ip,
    srcPort: probe.client.port,
    dstIp: probe.listener.ip,
    dstPort: probe.listener.port,
    ...(probe.srcMac ? { srcMac: probe.srcMac } : {}),
    ...(probe.dstMac ? { dstMac: probe.dstMac } : {}),
  };
  const before = maps.readMetrics();
  const syn = testRun(progFd, buildFrame({ ...base, seq: isn, ack: 0, tcpFlags: TCP.SYN, tcpOptions: MSS_OPTION }));
  let cookie: number | null = null;
  if (syn.retval === XDP.TX && syn.dataOut.length >= 54) {
    const seg = describeSegment(syn.dataOut);
    if ((seg.flags & (TCP.SYN | TCP.ACK)) === (TCP.SYN | TCP.ACK)) cookie = seg.seq;
  }
  const first = testRun(
    progFd,
    buildFrame({ ...base, seq: (isn + 1) >>> 0, ack: ((cookie ?? 0) + 1) >>> 0, tcpFlags: TCP.PSH | TCP.ACK, payload: probe.payload }),
  );
  const counters = counterDelta(before, maps.readMetrics());
  return {
    cookie,
    synAckVerdict: verdictName(syn.retval),
    verdict: verdictName(first.retval),
    frame: first.dataOut,
    outcome: classify(first.retval, first.dataOut, probe.client),
    counters,
    flowKey: { srcIp: probe.client.ip, dstIp: probe.listener.ip, srcPort: probe.client.port, dstPort: probe.listener.port, proto: 6 },
  };
}

/** The key of a client side's backend side (backend -> client). */
export function backendKeyOf(clientKey: FlowKey, clientSide: Pick<FlowValue, 'peerIp' | 'peerPort'>): FlowKey {
  return { srcIp: clientSide.peerIp, dstIp: clientKey.srcIp, srcPort: clientSide.peerPort, dstPort: clientKey.srcPort, proto: 6 };
}

/** The key of a backend side's client side (client -> VIP:port). */
export function clientKeyOf(backendKey: FlowKey, backendSide: Pick<FlowValue, 'peerIp' | 'peerPort'>): FlowKey {
  return { srcIp: backendKey.dstIp, dstIp: backendSide.peerIp, srcPort: backendKey.dstPort, dstPort: backendSide.peerPort, proto: 6 };
}

/** Remove a flow (both sides) and its saved request, as the data path does on close; key: the client side's. */
export function forgetFlow(maps: Pick<RautaMaps, 'flowCache' | 'requests'>, key: FlowKey): void {
  const flow = maps.flowCache.get(key);
  if (flow && flow.peerIp !== '0.0.0.0') maps.flowCache.delete(backendKeyOf(key, flow));
  maps.requests.delete(key);
  maps.flowCache.delete(key);
}

/** A client source port for a probe: random in the ephemeral range, so probes rarely meet a real flow or each other. */
export function probePort(): number {
  return 49152 + Math.floor(Math.random() * 16384);
}
