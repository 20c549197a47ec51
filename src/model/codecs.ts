// Byte codecs for every map key and value in bpf/rauta.h. Pure (no I/O).
// The layouts and limits come from layout.generated.ts (generated from the BTF
// of the compiled bpf/rauta.bpf.o), so the C header stays the one truth.
// Byte order: IPs and ports network order, everything else little-endian (host).
import { RautaError } from '../errors.js';
import { BACKEND_STAT, HOST_MATCH, LIMITS, METHOD_CODES, PATH_MATCH, STRUCTS } from './layout.generated.js';
import type {
  BackendKey,
  BackendList,
  BackendStats,
  BackendSlot,
  FlowKey,
  FlowValue,
  SavedRequest,
  ListenerKey,
  MaglevKey,
  MaglevTable,
  Nexthop,
  RouteKey,
  RouteShapes,
} from './map-types.js';

export const RAUTA_MAX_BACKENDS: number = LIMITS.MAX_BACKENDS;
export const RAUTA_MAGLEV_SIZE: number = LIMITS.MAGLEV_SIZE;
export const RAUTA_MAX_PATH: number = LIMITS.MAX_PATH;
/** saved_request.data: the longest first segment carried, rounded up for checksum chunks. */
export const RAUTA_REQUEST_BUF: number = LIMITS.REQUEST_BUF;
/** RAUTA_MAX_REQUEST: the longest first segment a connection may open with. */
export const RAUTA_MAX_REQUEST: number = LIMITS.MAX_REQUEST;
/** RAUTA_HALF_OPEN_NS: a flow still waiting for its backend (or answered in place) this long is gone. */
export const RAUTA_HALF_OPEN_NS = BigInt(LIMITS.HALF_OPEN_S) * 1_000_000_000n;

export interface StructLayout {
  size: number;
  /** member name → byte offset */
  members: Record<string, number>;
}

/** Sizes and member offsets of the structs in bpf/rauta.h, generated from the object's BTF. */
export const LAYOUT = STRUCTS satisfies Record<string, StructLayout>;

/** Encode/decode one key or value type. */
export interface Codec<T> {
  readonly size: number;
  encode(value: T): Buffer;
  /**
   * Check `value` and write exactly `size` bytes (padding zeroed) at `out[offset]`.
   * What `encode` returns, without allocating: apply encodes a plan into one arena.
   * On a range error the bytes at `offset` are unspecified.
   */
  encodeInto(value: T, out: Buffer, offset: number): void;
  decode(bytes: Uint8Array): T;
}

/** `encode` on top of `encodeInto`. */
function encodeFresh<T>(codec: Codec<T>, value: T): Buffer {
  const b = Buffer.alloc(codec.size);
  codec.encodeInto(value, b, 0);
  return b;
}

// Views over the last ArrayBuffer a route key was encoded into (apply encodes
// a whole plan's keys into one arena) and the last a table was checked in
// (apply checks every table in one buffer): writing a u64 through a DataView
// costs ~0.01 µs where Buffer#writeBigUInt64LE's BigInt masking costs ~0.2 µs
// and allocates. Each holds on to its one ArrayBuffer until the next.
let dataView: DataView | null = null;
let words: Uint32Array | null = null;

function dataViewOf(b: Buffer): DataView {
  if (dataView === null || dataView.buffer !== b.buffer) dataView = new DataView(b.buffer);
  return dataView;
}

function wordsOf(b: Buffer): Uint32Array {
  if (words === null || words.buffer !== b.buffer) words = new Uint32Array(b.buffer, 0, b.buffer.byteLength >>> 2);
  return words;
}

const zero = (out: Buffer, from: number, to: number): void => {
  // TypedArray#fill: a builtin, cheaper than Buffer#fill's binding call for a few bytes
  Uint8Array.prototype.fill.call(out, 0, from, to);
};

function rangeError(field: string, what: string): never {
  throw new RautaError('RAUTA_ERR_CODEC_RANGE', `${field}: ${what}`);
}

/** The check of checkInt without building a field name: callers build it only to throw. */
function okInt(v: number, min: number, max: number): boolean {
  return Number.isInteger(v) && v >= min && v <= max;
}

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) rangeError(field, `${String(v)} is not an integer in ${min}..${max}`);
}

function view(bytes: Uint8Array, size: number, what: string): Buffer {
  if (bytes.length !== size) rangeError(what, `expected ${size} bytes, got ${bytes.length}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

// ---- scalars ----

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Write a dotted quad at `off` in network order. The fast path parses what
 * IPV4 accepts (1-3 digits per octet, each <= 255) by char codes; anything
 * else goes to the regex path, which throws the precise error.
 */
export function writeIp(buf: Buffer, off: number, ip: string, field: string): void {
  if (!tryWriteIp(buf, off, ip)) writeIpSlow(buf, off, ip, field);
}

/** The fast path of writeIp: false (bytes unspecified) when `ip` needs the regex path. */
function tryWriteIp(buf: Buffer, off: number, ip: string): boolean {
  if (typeof ip === 'string') {
    const n = ip.length;
    let i = 0;
    let ok = true;
    for (let o = 0; o < 4 && ok; o++) {
      let v = 0;
      const start = i;
      while (i < n) {
        const ch = ip.charCodeAt(i);
        if (ch < 48 || ch > 57) break;
        v = v * 10 + (ch - 48);
        i++;
      }
      const digits = i - start;
      if (digits === 0 || digits > 3 || v > 255) ok = false;
      else if (o < 3) {
        if (ip.charCodeAt(i) === 46) i++;
        else ok = false;
      }
      buf[off + o] = v;
    }
    if (ok && i === n) return true;
  }
  return false;
}

function writeIpSlow(buf: Buffer, off: number, ip: string, field: string): void {
  const m = IPV4.exec(ip);
  if (!m) rangeError(field, `${JSON.stringify(ip)} is not a dotted-quad IPv4 address`);
  for (let i = 0; i < 4; i++) {
    const octet = Number(m[i + 1]);
    if (octet > 255) rangeError(field, `${ip} has an octet above 255`);
    buf[off + i] = octet;
  }
}

export function readIp(buf: Uint8Array, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

const ipScratch = Buffer.alloc(4);
/** IPv4 string → its u32 value in network order (big-endian number); a RautaError for what is not a dotted quad. */
export function ipToNumber(ip: string): number {
  writeIp(ipScratch, 0, ip, 'ip');
  return ipScratch.readUInt32BE(0);
}

export function numberToIp(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return readIp(b, 0);
}

const MAC = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i;

export function macToBytes(mac: string, field = 'mac'): Buffer {
  const m = MAC.exec(mac);
  if (!m) rangeError(field, `${JSON.stringify(mac)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Buffer.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

/** hex digit value of a char code, -1 for anything else */
function hexVal(ch: number): number {
  if (ch >= 48 && ch <= 57) return ch - 48;
  const lower = ch | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/** What MAC accepts, parsed by char codes; false (bytes unspecified) otherwise, for macToBytes to explain. */
function tryWriteMac(buf: Buffer, off: number, mac: string): boolean {
  if (typeof mac !== 'string' || mac.length !== 17) return false;
  for (let i = 0; i < 6; i++) {
    const p = i * 3;
    const hi = hexVal(mac.charCodeAt(p));
    const lo = hexVal(mac.charCodeAt(p + 1));
    if (hi < 0 || lo < 0 || (i < 5 && mac.charCodeAt(p + 2) !== 58)) return false;
    buf[off + i] = (hi << 4) | lo;
  }
  return true;
}

export function bytesToMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export const u32Codec: Codec<number> = {
  size: 4,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, out, off) {
    checkInt('u32', v, 0, 0xffffffff);
    out.writeUInt32LE(v, off);
  },
  decode(bytes) {
    return view(bytes, 4, 'u32').readUInt32LE(0);
  },
};

export const u64Codec: Codec<bigint> = {
  size: 8,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, out, off) {
    if (v < 0n || v > 0xffffffffffffffffn) rangeError('u64', `${v} is out of range`);
    out.writeBigUInt64LE(v, off);
  },
  decode(bytes) {
    return view(bytes, 8, 'u64').readBigUInt64LE(0);
  },
};

// ---- route_key ----

const MAX_METHOD = Math.max(...Object.values(METHOD_CODES));
const MAX_PATH_MATCH = Math.max(...Object.values(PATH_MATCH));
const MAX_HOST_MATCH = Math.max(...Object.values(HOST_MATCH));

function checkU64(field: string, v: bigint): void {
  if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) rangeError(field, `${String(v)} is not a u64 bigint`);
}

function writeRouteKey(b: Buffer, off: number, k: RouteKey, field: string): void {
  const m = LAYOUT.route_key.members;
  if (!okInt(k.method, 0, MAX_METHOD)) checkInt(`${field}.method`, k.method, 0, MAX_METHOD);
  if (!okInt(k.pathMatch, 0, MAX_PATH_MATCH)) checkInt(`${field}.path_match`, k.pathMatch, 0, MAX_PATH_MATCH);
  if (!okInt(k.hostMatch, 0, MAX_HOST_MATCH)) checkInt(`${field}.host_match`, k.hostMatch, 0, MAX_HOST_MATCH);
  checkU64(`${field}.path_hash`, k.pathHash);
  checkU64(`${field}.host_hash`, k.hostHash);
  if (k.hostMatch === HOST_MATCH.ANY && k.hostHash !== 0n) rangeError(`${field}.host_hash`, `${k.hostHash}: a key for any host has host_hash 0`);
  // the DataView reaches the whole ArrayBuffer (a pooled Buffer shares it): stay inside b
  if (off < 0 || off + LAYOUT.route_key.size > b.length) throw new RangeError(`route_key at ${off} does not fit a ${b.length}-byte buffer`);
  b.writeUInt32LE(k.method, off + m.method);
  b[off + m.path_match] = k.pathMatch;
  b[off + m.host_match] = k.hostMatch;
  b.writeUInt16LE(0, off + m.pad);
  const dv = dataViewOf(b);
  dv.setBigUint64(b.byteOffset + off + m.path_hash, k.pathHash, true);
  dv.setBigUint64(b.byteOffset + off + m.host_hash, k.hostHash, true);
}

function readRouteKey(b: Buffer, off: number): RouteKey {
  const m = LAYOUT.route_key.members;
  return {
    method: b.readUInt32LE(off + m.method),
    pathMatch: b[off + m.path_match]!,
    hostMatch: b[off + m.host_match]!,
    pathHash: b.readBigUInt64LE(off + m.path_hash),
    hostHash: b.readBigUInt64LE(off + m.host_hash),
  };
}

export const routeKeyCodec: Codec<RouteKey> = {
  size: LAYOUT.route_key.size,
  encode(k) {
    return encodeFresh(this, k);
  },
  encodeInto(k, out, off) {
    writeRouteKey(out, off, k, 'route_key');
  },
  decode(bytes) {
    return readRouteKey(view(bytes, this.size, 'route_key'), 0);
  },
};

// ---- backend_list ----

export const backendListCodec: Codec<BackendList> = {
  size: LAYOUT.backend_list.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, base) {
    const list = v.backends;
    if (list.length > RAUTA_MAX_BACKENDS) {
      rangeError('backend_list.count', `${list.length} backends, at most ${RAUTA_MAX_BACKENDS}`);
    }
    checkInt('backend_list.gen', v.gen, 0, 0xffffffff);
    const { ip, port, weight } = LAYOUT.backend.members;
    const stride = LAYOUT.backend.size;
    for (let i = 0; i < list.length; i++) {
      const be = list[i];
      const off = base + i * stride;
      if (be === undefined) {
        zero(b, off, off + stride); // a hole in a sparse array stays zero, as forEach skipped it
        continue;
      }
      if (!tryWriteIp(b, off + ip, be.ip)) writeIpSlow(b, off + ip, be.ip, `backend_list.backends[${i}].ip`);
      if (!okInt(be.port, 0, 65535)) checkInt(`backend_list.backends[${i}].port`, be.port, 0, 65535);
      if (!okInt(be.weight, 0, 65535)) checkInt(`backend_list.backends[${i}].weight`, be.weight, 0, 65535);
      b[off + port] = be.port >>> 8; // network order
      b[off + port + 1] = be.port & 0xff;
      b[off + weight] = be.weight & 0xff; // little-endian
      b[off + weight + 1] = be.weight >>> 8;
    }
    // unused slots (and holes) are zero
    zero(b, base + list.length * stride, base + LAYOUT.backend_list.members.count);
    b.writeUInt32LE(list.length, base + LAYOUT.backend_list.members.count);
    b.writeUInt32LE(v.gen, base + LAYOUT.backend_list.members.gen);
  },
  decode(bytes) {
    const b = view(bytes, this.size, 'backend_list');
    const count = b.readUInt32LE(LAYOUT.backend_list.members.count);
    if (count > RAUTA_MAX_BACKENDS) rangeError('backend_list.count', `${count} read from the map, at most ${RAUTA_MAX_BACKENDS}`);
    const backends: BackendSlot[] = [];
    for (let i = 0; i < count; i++) {
      const off = i * LAYOUT.backend.size;
      backends.push({
        ip: readIp(b, off + LAYOUT.backend.members.ip),
        port: b.readUInt16BE(off + LAYOUT.backend.members.port),
        weight: b.readUInt16LE(off + LAYOUT.backend.members.weight),
      });
    }
    return { backends, gen: b.readUInt32LE(LAYOUT.backend_list.members.gen) };
  },
};

// ---- maglev_key, maglev_table ----

export const maglevKeyCodec: Codec<MaglevKey> = {
  size: LAYOUT.maglev_key.size,
  encode(k) {
    return encodeFresh(this, k);
  },
  encodeInto(k, b, off) {
    const m = LAYOUT.maglev_key.members;
    writeRouteKey(b, off + m.route, k.route, 'maglev_key.route');
    checkInt('maglev_key.gen', k.gen, 0, 0xffffffff);
    b.writeUInt32LE(k.gen, off + m.gen);
    b.writeUInt32LE(0, off + m.pad);
  },
  decode(bytes) {
    const b = view(bytes, this.size, 'maglev_key');
    return { route: readRouteKey(b, LAYOUT.maglev_key.members.route), gen: b.readUInt32LE(LAYOUT.maglev_key.members.gen) };
  },
};

export const maglevTableCodec: Codec<MaglevTable> = {
  size: LAYOUT.maglev_table.size,
  encode(t) {
    return encodeFresh(this, t);
  },
  encodeInto(t, out, off) {
    if (t.length !== this.size) rangeError('maglev_table.slots', `${t.length} slots, expected ${this.size}`);
    if (t instanceof Uint8Array) {
      out.set(t, off); // one memcpy; then the copy is checked, word-wise
      if (slotsBelow32(out, off, this.size)) return;
    }
    const bad = Array.prototype.findIndex.call(t as ArrayLike<number>, (s: number) => s >= RAUTA_MAX_BACKENDS);
    if (bad >= 0) rangeError(`maglev_table.slots[${bad}]`, `${t[bad]} is not a backend index below ${RAUTA_MAX_BACKENDS}`);
    out.set(t, off); // a plain array of valid slots
  },
  decode(bytes) {
    return new Uint8Array(view(bytes, this.size, 'maglev_table'));
  },
};

/**
 * True when every byte of b[off, off + n) is below 32 (RAUTA_MAX_BACKENDS): no
 * byte has a bit above bit 4, so OR-ing them 4 at a time through a Uint32Array
 * (the aligned middle) and testing the top bits once is exact. A per-byte
 * callback (findIndex) cost ~30 µs per 4 KB table; this ~2 µs.
 */
function slotsBelow32(b: Buffer, off: number, n: number): boolean {
  const w = wordsOf(b);
  const start = b.byteOffset + off; // in the ArrayBuffer
  let i = 0;
  let acc = 0;
  while (i < n && ((start + i) & 3) !== 0) acc |= b[off + i++]!;
  const first = (start + i) >>> 2;
  const count = (n - i) >>> 2;
  let wacc = 0;
  for (let j = first; j < first + count; j++) wacc |= w[j]!;
  acc |= wacc | (wacc >>> 8) | (wacc >>> 16) | (wacc >>> 24);
  i += count << 2;
  while (i < n) acc |= b[off + i++]!;
  return (acc & 0xe0) === 0;
}

// ---- flow_key, flow_value ----

export const flowKeyCodec: Codec<FlowKey> = {
  size: LAYOUT.flow_key.size,
  encode(k) {
    return encodeFresh(this, k);
  },
  encodeInto(k, b, off) {
    const m = LAYOUT.flow_key.members;
    writeIp(b, off + m.src_ip, k.srcIp, 'flow_key.src_ip');
    writeIp(b, off + m.dst_ip, k.dstIp, 'flow_key.dst_ip');
    checkInt('flow_key.src_port', k.srcPort, 0, 65535);
    checkInt('flow_key.dst_port', k.dstPort, 0, 65535);
    checkInt('flow_key.proto', k.proto, 0, 255);
    b.writeUInt16BE(k.srcPort, off + m.src_port);
    b.writeUInt16BE(k.dstPort, off + m.dst_port);
    b[off + m.proto] = k.proto;
    zero(b, off + m.pad, off + this.size);
  },
  decode(bytes) {
    const m = LAYOUT.flow_key.members;
    const b = view(bytes, this.size, 'flow_key');
    return {
      srcIp: readIp(b, m.src_ip),
      dstIp: readIp(b, m.dst_ip),
      srcPort: b.readUInt16BE(m.src_port),
      dstPort: b.readUInt16BE(m.dst_port),
      proto: b[m.proto]!,
    };
  },
};

export const flowValueCodec: Codec<FlowValue> = {
  size: LAYOUT.flow_value.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, off) {
    const m = LAYOUT.flow_value.members;
    zero(b, off, off + this.size);
    for (const [name, value, at] of [
      ['side', v.side, m.side],
      ['state', v.state, m.state],
      ['reply', v.reply, m.reply],
      ['syn_retries', v.synRetries, m.syn_retries],
    ] as const) {
      checkInt(`flow_value.${name}`, value, 0, 255);
      b[off + at] = value;
    }
    const u32s = [
      ['flags', v.flags, m.flags],
      ['seq_delta', v.seqDelta, m.seq_delta],
      ['gen', v.gen, m.gen],
      ['backend_idx', v.backendIdx, m.backend_idx],
      ['client_isn', v.clientIsn, m.client_isn],
      ['cookie', v.cookie, m.cookie],
      ['client_fin_end', v.clientFinEnd, m.client_fin_end],
      ['backend_fin_end', v.backendFinEnd, m.backend_fin_end],
    ] as const;
    for (const [name, value, at] of u32s) {
      checkInt(`flow_value.${name}`, value, 0, 0xffffffff);
      b.writeUInt32LE(value, off + at);
    }
    writeIp(b, off + m.peer_ip, v.peerIp, 'flow_value.peer_ip');
    checkInt('flow_value.peer_port', v.peerPort, 0, 65535);
    b.writeUInt16BE(v.peerPort, off + m.peer_port);
    macToBytes(v.peerMac, 'flow_value.peer_mac').copy(b, off + m.peer_mac);
    // a backend side carries no route: all zero (method 0 is "none" here only)
    writeRouteKey(b, off + m.route, v.route, 'flow_value.route'); // a backend side's is all zero
    macToBytes(v.clientMac, 'flow_value.client_mac').copy(b, off + m.client_mac);
    for (const [name, value, at] of [
      ['client_wscale', v.clientWscale, m.client_wscale],
      ['backend_wscale', v.backendWscale, m.backend_wscale],
    ] as const) {
      checkInt(`flow_value.${name}`, value, 0, 14);
      b[off + at] = value;
    }
    if (typeof v.changedNs !== 'bigint' || v.changedNs < 0n || v.changedNs >= 2n ** 64n)
      rangeError('flow_value.changed_ns', `${String(v.changedNs)} is not a u64`);
    b.writeBigUInt64LE(v.changedNs, off + m.changed_ns);
  },
  decode(bytes) {
    const m = LAYOUT.flow_value.members;
    const b = view(bytes, this.size, 'flow_value');
    return {
      side: b[m.side]!,
      state: b[m.state]!,
      reply: b[m.reply]!,
      synRetries: b[m.syn_retries]!,
      flags: b.readUInt32LE(m.flags),
      seqDelta: b.readUInt32LE(m.seq_delta),
      peerIp: readIp(b, m.peer_ip),
      peerPort: b.readUInt16BE(m.peer_port),
      peerMac: bytesToMac(b.subarray(m.peer_mac, m.peer_mac + 6)),
      route: readRouteKey(b, m.route),
      gen: b.readUInt32LE(m.gen),
      backendIdx: b.readUInt32LE(m.backend_idx),
      clientIsn: b.readUInt32LE(m.client_isn),
      cookie: b.readUInt32LE(m.cookie),
      clientFinEnd: b.readUInt32LE(m.client_fin_end),
      backendFinEnd: b.readUInt32LE(m.backend_fin_end),
      clientMac: bytesToMac(b.subarray(m.client_mac, m.client_mac + 6)),
      clientWscale: b[m.client_wscale]!,
      backendWscale: b[m.backend_wscale]!,
      changedNs: b.readBigUInt64LE(m.changed_ns),
    };
  },
};

// ---- saved_request ----

export const savedRequestCodec: Codec<SavedRequest> = {
  size: LAYOUT.saved_request.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, off) {
    const m = LAYOUT.saved_request.members;
    checkInt('saved_request.len', v.data.length, 0, RAUTA_MAX_REQUEST);
    checkInt('saved_request.csum', v.csum, 0, 0xffff);
    checkInt('saved_request.window', v.window, 0, 0xffff);
    b.writeUInt16LE(v.data.length, off + m.len);
    b.writeUInt16LE(v.csum, off + m.csum);
    b.writeUInt16BE(v.window, off + m.window);
    zero(b, off + m.pad, off + this.size);
    b.set(v.data, off + m.data);
  },
  decode(bytes) {
    const m = LAYOUT.saved_request.members;
    const b = view(bytes, this.size, 'saved_request');
    const len = Math.min(b.readUInt16LE(m.len), RAUTA_MAX_REQUEST);
    return { data: Uint8Array.from(b.subarray(m.data, m.data + len)), csum: b.readUInt16LE(m.csum), window: b.readUInt16BE(m.window) };
  },
};

// ---- listener_key ----

export const listenerKeyCodec: Codec<ListenerKey> = {
  size: LAYOUT.listener_key.size,
  encode(k) {
    return encodeFresh(this, k);
  },
  encodeInto(k, b, off) {
    const m = LAYOUT.listener_key.members;
    writeIp(b, off + m.addr, k.addr, 'listener_key.addr');
    checkInt('listener_key.port', k.port, 0, 65535);
    b.writeUInt16BE(k.port, off + m.port);
    zero(b, off + m.pad, off + this.size);
  },
  decode(bytes) {
    const m = LAYOUT.listener_key.members;
    const b = view(bytes, this.size, 'listener_key');
    return { addr: readIp(b, m.addr), port: b.readUInt16BE(m.port) };
  },
};

// ---- nexthops: key u32 IPv4 (network order), value nexthop ----

export const nexthopKeyCodec: Codec<string> = {
  size: 4,
  encode(ip) {
    return encodeFresh(this, ip);
  },
  encodeInto(ip, b, off) {
    writeIp(b, off, ip, 'nexthops key');
  },
  decode(bytes) {
    return readIp(view(bytes, 4, 'nexthops key'), 0);
  },
};

export const nexthopCodec: Codec<Nexthop> = {
  size: LAYOUT.nexthop.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, off) {
    const m = LAYOUT.nexthop.members;
    if (!tryWriteMac(b, off + m.mac, v.mac)) macToBytes(v.mac, 'nexthop.mac').copy(b, off + m.mac);
    zero(b, off + m.pad, off + this.size);
  },
  decode(bytes) {
    return { mac: bytesToMac(view(bytes, this.size, 'nexthop')) };
  },
};

// ---- backend_stats: key backend_key, value backend_stats ----

export const backendKeyCodec: Codec<BackendKey> = {
  size: LAYOUT.backend_key.size,
  encode(k) {
    return encodeFresh(this, k);
  },
  encodeInto(k, b, off) {
    const m = LAYOUT.backend_key.members;
    writeIp(b, off + m.ip, k.ip, 'backend_key.ip');
    checkInt('backend_key.port', k.port, 0, 65535);
    b.writeUInt16BE(k.port, off + m.port);
    zero(b, off + m.pad, off + this.size);
  },
  decode(bytes) {
    const m = LAYOUT.backend_key.members;
    const b = view(bytes, this.size, 'backend_key');
    return { ip: readIp(b, m.ip), port: b.readUInt16BE(m.port) };
  },
};

const STAT_FIELDS = Object.entries(BACKEND_STAT).map(([name, slot]) => [name.toLowerCase() as keyof BackendStats, slot] as const);

export const backendStatsCodec: Codec<BackendStats> = {
  size: LAYOUT.backend_stats.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, off) {
    zero(b, off, off + this.size);
    for (const [name, slot] of STAT_FIELDS) {
      checkInt(`backend_stats.${name}`, v[name], 0, Number.MAX_SAFE_INTEGER);
      b.writeBigUInt64LE(BigInt(v[name]), off + LAYOUT.backend_stats.members.count + 8 * slot);
    }
  },
  decode(bytes) {
    const b = view(bytes, this.size, 'backend_stats');
    const out = { syns: 0, stalled: 0, refused: 0, established: 0 };
    for (const [name, slot] of STAT_FIELDS) out[name] = Number(b.readBigUInt64LE(LAYOUT.backend_stats.members.count + 8 * slot));
    return out;
  },
};

// ---- route_shapes: one entry (key u32 0) ----

export const routeShapesCodec: Codec<RouteShapes> = {
  size: LAYOUT.route_shapes.size,
  encode(v) {
    return encodeFresh(this, v);
  },
  encodeInto(v, b, off) {
    zero(b, off, off + this.size);
    const m = LAYOUT.route_shape.members;
    v.forEach((s, i) => {
      const at = off + LAYOUT.route_shapes.members.host + i * LAYOUT.route_shape.size;
      checkInt(`route_shapes.host[${i}].prefixes`, s.prefixes, 0, 2 ** (LIMITS.MAX_PREFIX_DEPTH + 1) - 1);
      checkInt(`route_shapes.host[${i}].methods`, s.methods, 0, 3);
      b.writeUInt32LE(s.prefixes, at + m.prefixes);
      b[at + m.exact] = s.exact ? 1 : 0;
      b[at + m.methods] = s.methods;
    });
  },
  decode(bytes) {
    const b = view(bytes, this.size, 'route_shapes');
    const m = LAYOUT.route_shape.members;
    const one = (i: number) => {
      const at = LAYOUT.route_shapes.members.host + i * LAYOUT.route_shape.size;
      return { prefixes: b.readUInt32LE(at + m.prefixes), exact: b[at + m.exact] !== 0, methods: b[at + m.methods]! };
    };
    return [one(0), one(1), one(2)];
  },
};
