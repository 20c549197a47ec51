// The frame builder lives in src/dataplane/packet.ts (rauta probe needs it in
// production); tests keep importing it from here. Below it, what the data-path
// tests share: the test network's addresses and the frames of one connection,
// written by hand from the protocol, never taken from the code under test.
import { buildFrame, DEFAULTS, type FrameSpec } from '../../src/dataplane/packet.js';

export * from '../../src/dataplane/packet.js';

export const VIP = DEFAULTS.dstIp;
export const CLIENT = DEFAULTS.srcIp;
export const CLIENT_MAC = DEFAULTS.srcMac;
export const NODE_MAC = DEFAULTS.dstMac;
/** MSS option 1460: what a Linux client sends, and the program in its SYNs. */
export const MSS = Uint8Array.from([2, 4, 0x05, 0xb4]);
export const SYNACK_WINDOW = 2920;
export const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;
export const REPLY_404 = 'HTTP/1.1 404 Not Found\r\nServer: rauta\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno route\n';

/** The client's side of a connection: its frames' addresses, its ISN, and the SYN cookie the program answered with. */
export interface Conn {
  spec: FrameSpec;
  isn: number;
  cookie: number;
}

/** A backend as the frames to it name it: address, port and its nexthop's MAC. */
export interface BackendHop {
  ip: string;
  port: number;
  mac: string;
}

/** The client's SYN, with the MSS option a Linux client sends. */
export function clientSyn(spec: FrameSpec, isn: number): Buffer {
  return buildFrame({ ...spec, seq: isn, ack: 0, tcpFlags: F.SYN, tcpOptions: MSS });
}

/** A segment from the client on an opened connection (seq and ack relative to the ISNs). */
export function clientSeg(c: Conn, payload: string | Uint8Array, opts: { seqOff?: number; ackOff?: number; flags?: number; extra?: FrameSpec } = {}): Buffer {
  return buildFrame({
    ...c.spec,
    seq: (c.isn + 1 + (opts.seqOff ?? 0)) >>> 0,
    ack: (c.cookie + 1 + (opts.ackOff ?? 0)) >>> 0,
    tcpFlags: opts.flags ?? F.PSH | F.ACK,
    payload,
    ...opts.extra,
  });
}

/** Addresses of a frame the node sends the client: the client's own, swapped. */
export function toClientAddresses(spec: FrameSpec): FrameSpec {
  return {
    vlans: spec.vlans,
    srcMac: spec.dstMac ?? NODE_MAC,
    dstMac: spec.srcMac ?? CLIENT_MAC,
    srcIp: spec.dstIp ?? VIP,
    dstIp: spec.srcIp ?? CLIENT,
    srcPort: spec.dstPort ?? 80,
    dstPort: spec.srcPort ?? DEFAULTS.srcPort,
  };
}

/** Addresses of a frame the node sends a backend for the client of spec: the client's address kept (LVS-NAT style). */
export function toBackendAddresses(spec: FrameSpec, be: BackendHop): FrameSpec {
  return {
    vlans: spec.vlans,
    srcMac: spec.dstMac ?? NODE_MAC,
    dstMac: be.mac,
    srcIp: spec.srcIp ?? CLIENT,
    dstIp: be.ip,
    srcPort: spec.srcPort ?? DEFAULTS.srcPort,
    dstPort: be.port,
  };
}

/** A segment the program builds for the client itself (SYN-ACK, RST, a canned answer, an ACK). */
export function toClient(c: Conn, fields: { seq: number; ack: number; flags: number; payload?: string; window?: number; tcpOptions?: Uint8Array }): Buffer {
  return buildFrame({
    ...toClientAddresses(c.spec),
    seq: fields.seq >>> 0,
    ack: fields.ack >>> 0,
    tcpFlags: fields.flags,
    tcpOptions: fields.tcpOptions,
    window: fields.window ?? 0,
    ipId: 0,
    payload: fields.payload ?? '',
  });
}

/** The answer built in place for a first segment (404, 503), FIN with it. */
export function answerInPlace(c: Conn, request: string, answer: string): Buffer {
  return toClient(c, { seq: c.cookie + 1, ack: c.isn + 1 + request.length, flags: F.FIN | F.PSH | F.ACK, payload: answer, window: SYNACK_WINDOW });
}

/** The SYN the program sends the backend for a connection: the client's ISN and window, MSS. */
export function backendSyn(c: Conn, be: BackendHop): Buffer {
  return buildFrame({
    ...toBackendAddresses(c.spec, be),
    seq: c.isn,
    ack: 0,
    tcpFlags: F.SYN,
    tcpOptions: MSS,
    window: c.spec.window ?? 65535,
    ipId: 0,
  });
}
