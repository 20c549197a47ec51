// Byte codecs for every map key and value in bpf/rauta.h. Pure (no I/O).
// LAYOUT below mirrors the C structs; test/layout.test.ts checks it against the
// BTF of the compiled bpf/rauta.bpf.o, so the C header stays the one truth.
// Byte order: IPs and ports network order, everything else little-endian (host).
import { RautaError } from '../errors.js';
import { METHOD_CODES, type HttpMethod } from '../routes/route-model.js';
import type {
  BackendList,
  BackendSlot,
  FlowKey,
  FlowValue,
  ListenerKey,
  MaglevKey,
  MaglevTable,
  Nexthop,
  RouteKey,
} from './map-types.js';
import { fnv1a64 } from './fnv1a.js';

export const RAUTA_MAX_BACKENDS = 32;
export const RAUTA_MAGLEV_SIZE = 4099;
export const RAUTA_MAX_PATH = 255;

export interface StructLayout {
  size: number;
  /** member name → byte offset */
  members: Record<string, number>;
}

/** Sizes and member offsets of the structs in bpf/rauta.h (checked against BTF). */
export const LAYOUT = {
  route_key: { size: 16, members: { method: 0, pad: 4, path_hash: 8 } },
  backend: { size: 8, members: { ip: 0, port: 4, weight: 6 } },
  backend_list: { size: 264, members: { backends: 0, count: 256, gen: 260 } },
  maglev_key: { size: 24, members: { route: 0, gen: 16, pad: 20 } },
  maglev_table: { size: RAUTA_MAGLEV_SIZE, members: { slots: 0 } },
  flow_key: { size: 16, members: { src_ip: 0, dst_ip: 4, src_port: 8, dst_port: 10, proto: 12, pad: 13 } },
  flow_value: { size: 24, members: { route: 0, gen: 16, backend_idx: 20 } },
  listener_key: { size: 8, members: { addr: 0, port: 4, pad: 6 } },
  nexthop: { size: 8, members: { mac: 0, pad: 6 } },
} as const satisfies Record<string, StructLayout>;

/** Encode/decode one key or value type. */
export interface Codec<T> {
  readonly size: number;
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

function rangeError(field: string, what: string): never {
  throw new RautaError('RAUTA_ERR_CODEC_RANGE', `${field}: ${what}`);
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

/** Write a dotted quad at `off` in network order. */
export function writeIp(buf: Buffer, off: number, ip: string, field: string): void {
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

/** IPv4 string → its u32 value in network order (big-endian number). */
export function ipToNumber(ip: string): number {
  const b = Buffer.alloc(4);
  writeIp(b, 0, ip, 'ip');
  return b.readUInt32BE(0);
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

export function bytesToMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export const u32Codec: Codec<number> = {
  size: 4,
  encode(v) {
    checkInt('u32', v, 0, 0xffffffff);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v, 0);
    return b;
  },
  decode(bytes) {
    return view(bytes, 4, 'u32').readUInt32LE(0);
  },
};

export const u64Codec: Codec<bigint> = {
  size: 8,
  encode(v) {
    if (v < 0n || v > 0xffffffffffffffffn) rangeError('u64', `${v} is out of range`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v, 0);
    return b;
  },
  decode(bytes) {
    return view(bytes, 8, 'u64').readBigUInt64LE(0);
  },
};

// ---- route_key ----

function writeRouteKey(b: Buffer, off: number, k: RouteKey, field: string): void {
  checkInt(`${field}.method`, k.method, 1, 7);
  if (typeof k.pathHash !== 'bigint' || k.pathHash < 0n || k.pathHash > 0xffffffffffffffffn) {
    rangeError(`${field}.path_hash`, `${String(k.pathHash)} is not a u64 bigint`);
  }
  b.writeUInt32LE(k.method, off);
  b.writeUInt32LE(0, off + 4);
  b.writeBigUInt64LE(k.pathHash, off + 8);
}

function readRouteKey(b: Buffer, off: number): RouteKey {
  return { method: b.readUInt32LE(off), pathHash: b.readBigUInt64LE(off + 8) };
}

/** The ROUTES key of a route: method code and FNV-1a 64 of the path. */
export function routeKeyOf(method: HttpMethod, path: string): RouteKey {
  return { method: METHOD_CODES[method], pathHash: fnv1a64(path) };
}

export const routeKeyCodec: Codec<RouteKey> = {
  size: LAYOUT.route_key.size,
  encode(k) {
    const b = Buffer.alloc(this.size);
    writeRouteKey(b, 0, k, 'route_key');
    return b;
  },
  decode(bytes) {
    return readRouteKey(view(bytes, this.size, 'route_key'), 0);
  },
};

// ---- backend_list ----

export const backendListCodec: Codec<BackendList> = {
  size: LAYOUT.backend_list.size,
  encode(v) {
    if (v.backends.length > RAUTA_MAX_BACKENDS) {
      rangeError('backend_list.count', `${v.backends.length} backends, at most ${RAUTA_MAX_BACKENDS}`);
    }
    checkInt('backend_list.gen', v.gen, 0, 0xffffffff);
    const b = Buffer.alloc(this.size);
    v.backends.forEach((be: BackendSlot, i) => {
      const off = i * LAYOUT.backend.size;
      const field = `backend_list.backends[${i}]`;
      writeIp(b, off + LAYOUT.backend.members.ip, be.ip, `${field}.ip`);
      checkInt(`${field}.port`, be.port, 0, 65535);
      checkInt(`${field}.weight`, be.weight, 0, 65535);
      b.writeUInt16BE(be.port, off + LAYOUT.backend.members.port);
      b.writeUInt16LE(be.weight, off + LAYOUT.backend.members.weight);
    });
    b.writeUInt32LE(v.backends.length, LAYOUT.backend_list.members.count);
    b.writeUInt32LE(v.gen, LAYOUT.backend_list.members.gen);
    return b;
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
    const b = Buffer.alloc(this.size);
    writeRouteKey(b, LAYOUT.maglev_key.members.route, k.route, 'maglev_key.route');
    checkInt('maglev_key.gen', k.gen, 0, 0xffffffff);
    b.writeUInt32LE(k.gen, LAYOUT.maglev_key.members.gen);
    return b;
  },
  decode(bytes) {
    const b = view(bytes, this.size, 'maglev_key');
    return { route: readRouteKey(b, LAYOUT.maglev_key.members.route), gen: b.readUInt32LE(LAYOUT.maglev_key.members.gen) };
  },
};

export const maglevTableCodec: Codec<MaglevTable> = {
  size: LAYOUT.maglev_table.size,
  encode(t) {
    if (t.length !== this.size) rangeError('maglev_table.slots', `${t.length} slots, expected ${this.size}`);
    const bad = t.findIndex((s) => s >= RAUTA_MAX_BACKENDS);
    if (bad >= 0) rangeError(`maglev_table.slots[${bad}]`, `${t[bad]} is not a backend index below ${RAUTA_MAX_BACKENDS}`);
    return Buffer.from(t);
  },
  decode(bytes) {
    return new Uint8Array(view(bytes, this.size, 'maglev_table'));
  },
};

// ---- flow_key, flow_value ----

export const flowKeyCodec: Codec<FlowKey> = {
  size: LAYOUT.flow_key.size,
  encode(k) {
    const m = LAYOUT.flow_key.members;
    const b = Buffer.alloc(this.size);
    writeIp(b, m.src_ip, k.srcIp, 'flow_key.src_ip');
    writeIp(b, m.dst_ip, k.dstIp, 'flow_key.dst_ip');
    checkInt('flow_key.src_port', k.srcPort, 0, 65535);
    checkInt('flow_key.dst_port', k.dstPort, 0, 65535);
    checkInt('flow_key.proto', k.proto, 0, 255);
    b.writeUInt16BE(k.srcPort, m.src_port);
    b.writeUInt16BE(k.dstPort, m.dst_port);
    b[m.proto] = k.proto;
    return b;
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
    const m = LAYOUT.flow_value.members;
    const b = Buffer.alloc(this.size);
    writeRouteKey(b, m.route, v.route, 'flow_value.route');
    checkInt('flow_value.gen', v.gen, 0, 0xffffffff);
    checkInt('flow_value.backend_idx', v.backendIdx, 0, 0xffffffff);
    b.writeUInt32LE(v.gen, m.gen);
    b.writeUInt32LE(v.backendIdx, m.backend_idx);
    return b;
  },
  decode(bytes) {
    const m = LAYOUT.flow_value.members;
    const b = view(bytes, this.size, 'flow_value');
    return { route: readRouteKey(b, m.route), gen: b.readUInt32LE(m.gen), backendIdx: b.readUInt32LE(m.backend_idx) };
  },
};

// ---- listener_key ----

export const listenerKeyCodec: Codec<ListenerKey> = {
  size: LAYOUT.listener_key.size,
  encode(k) {
    const m = LAYOUT.listener_key.members;
    const b = Buffer.alloc(this.size);
    writeIp(b, m.addr, k.addr, 'listener_key.addr');
    checkInt('listener_key.port', k.port, 0, 65535);
    b.writeUInt16BE(k.port, m.port);
    return b;
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
    const b = Buffer.alloc(4);
    writeIp(b, 0, ip, 'nexthops key');
    return b;
  },
  decode(bytes) {
    return readIp(view(bytes, 4, 'nexthops key'), 0);
  },
};

export const nexthopCodec: Codec<Nexthop> = {
  size: LAYOUT.nexthop.size,
  encode(v) {
    const b = Buffer.alloc(this.size);
    macToBytes(v.mac, 'nexthop.mac').copy(b, LAYOUT.nexthop.members.mac);
    return b;
  },
  decode(bytes) {
    return { mac: bytesToMac(view(bytes, this.size, 'nexthop')) };
  },
};
