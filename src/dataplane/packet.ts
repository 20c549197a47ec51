// Crafts Ethernet / 802.1Q / IPv4 (+options) / TCP (+options) / payload frames with
// correct checksums, and verifies checksums from scratch: `rauta probe` builds its
// request frames here, and the data-path tests craft (and check) theirs.

export interface FrameSpec {
  srcMac?: string;
  dstMac?: string;
  /** 802.1Q tags, outermost first (VLAN ids). */
  vlans?: number[];
  /** EtherType after the tags (default IPv4 0x0800). */
  etherType?: number;
  srcIp?: string;
  dstIp?: string;
  /** IPv4 options, padded to a multiple of 4 bytes. */
  ipOptions?: Uint8Array;
  protocol?: number;
  /** Flags + fragment offset field (host order), e.g. 0x2000 = MF, 0x4000 = DF. */
  fragField?: number;
  ttl?: number;
  /** Override the IHL nibble (bytes / 4) to craft bad headers. */
  ihl?: number;
  version?: number;
  /** Override the total length field. */
  totalLength?: number;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** TCP flags byte (default PSH|ACK 0x18). */
  tcpFlags?: number;
  /** TCP window field (default 65535). */
  window?: number;
  /** IPv4 identification (default 0x1234). */
  ipId?: number;
  /** TCP options, padded to a multiple of 4 bytes. */
  tcpOptions?: Uint8Array;
  /** Override the data offset nibble. */
  dataOffset?: number;
  payload?: Uint8Array | string;
}

export const DEFAULTS = {
  srcMac: '02:00:00:00:00:01',
  dstMac: '02:00:00:00:00:02',
  srcIp: '10.0.0.1',
  dstIp: '10.0.0.100',
  srcPort: 40000,
  dstPort: 80,
};

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function ipBytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function pad4(b: Uint8Array | undefined): Buffer {
  const src = Buffer.from(b ?? []);
  const out = Buffer.alloc(Math.ceil(src.length / 4) * 4, 0); // 0 = End of Option List
  src.copy(out);
  return out;
}

/** Internet checksum (RFC 1071) over the bytes, from scratch. */
export function inetChecksum(...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts.map((p) => Buffer.from(p)));
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function buildFrame(spec: FrameSpec = {}): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'latin1') : Buffer.from(spec.payload ?? []);
  const ipOpts = pad4(spec.ipOptions);
  const tcpOpts = pad4(spec.tcpOptions);

  const tcp = Buffer.alloc(20 + tcpOpts.length);
  tcp.writeUInt16BE(spec.srcPort ?? DEFAULTS.srcPort, 0);
  tcp.writeUInt16BE(spec.dstPort ?? DEFAULTS.dstPort, 2);
  tcp.writeUInt32BE((spec.seq ?? 1000) >>> 0, 4);
  tcp.writeUInt32BE((spec.ack ?? 2000) >>> 0, 8);
  tcp[12] = (spec.dataOffset ?? tcp.length / 4) << 4;
  tcp[13] = spec.tcpFlags ?? 0x18;
  tcp.writeUInt16BE(spec.window ?? 65535, 14);
  tcpOpts.copy(tcp, 20);

  const ip = Buffer.alloc(20 + ipOpts.length);
  const protocol = spec.protocol ?? 6;
  ip[0] = ((spec.version ?? 4) << 4) | (spec.ihl ?? ip.length / 4);
  ip.writeUInt16BE(spec.totalLength ?? ip.length + tcp.length + payload.length, 2);
  ip.writeUInt16BE(spec.ipId ?? 0x1234, 4);
  ip.writeUInt16BE(spec.fragField ?? 0x4000, 6);
  ip[8] = spec.ttl ?? 64;
  ip[9] = protocol;
  ipBytes(spec.srcIp ?? DEFAULTS.srcIp).copy(ip, 12);
  ipBytes(spec.dstIp ?? DEFAULTS.dstIp).copy(ip, 16);
  ipOpts.copy(ip, 20);
  ip.writeUInt16BE(inetChecksum(ip), 10);

  const segLen = tcp.length + payload.length;
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = protocol;
  pseudo.writeUInt16BE(segLen, 10);
  tcp.writeUInt16BE(inetChecksum(pseudo, tcp, payload), 16);

  const eth: Buffer[] = [macBytes(spec.dstMac ?? DEFAULTS.dstMac), macBytes(spec.srcMac ?? DEFAULTS.srcMac)];
  for (const vid of spec.vlans ?? []) {
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(0x8100, 0);
    tag.writeUInt16BE(vid & 0x0fff, 2);
    eth.push(tag);
  }
  const type = Buffer.alloc(2);
  type.writeUInt16BE(spec.etherType ?? 0x0800, 0);
  eth.push(type);
  return Buffer.concat([...eth, ip, tcp, payload]);
}

export interface ParsedFrame {
  l3: number;
  ihl: number;
  l4: number;
  doff: number;
  payload: number;
  totalLength: number;
}

/** Offsets of a well-formed TCP/IPv4 frame (0 or 1+ VLAN tags). */
export function parseFrame(frame: Buffer): ParsedFrame {
  let l3 = 14;
  while (frame.readUInt16BE(l3 - 2) === 0x8100 || frame.readUInt16BE(l3 - 2) === 0x88a8) l3 += 4;
  const ihl = (frame[l3]! & 0x0f) * 4;
  const l4 = l3 + ihl;
  const doff = (frame[l4 + 12]! >> 4) * 4;
  return { l3, ihl, l4, doff, payload: l4 + doff, totalLength: frame.readUInt16BE(l3 + 2) };
}

/** Recompute both checksums from scratch: true when the frame's checksums are right. */
export function checksumsOk(frame: Buffer): { ip: boolean; tcp: boolean } {
  const p = parseFrame(frame);
  const ip = frame.subarray(p.l3, p.l4);
  const seg = frame.subarray(p.l4, p.l3 + p.totalLength);
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = ip[9]!;
  pseudo.writeUInt16BE(seg.length, 10);
  return { ip: inetChecksum(ip) === 0, tcp: inetChecksum(pseudo, seg) === 0 };
}

/** Hex dump, 16 bytes a line, for assertion messages. */
export function hex(buf: Uint8Array): string {
  const b = Buffer.from(buf);
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    lines.push(
      `${i.toString(16).padStart(4, '0')}  ${b
        .subarray(i, i + 16)
        .toString('hex')
        .replace(/(..)/g, '$1 ')
        .trim()}`,
    );
  }
  return lines.join('\n') || '(empty)';
}
