// The C header is the source of truth: the TS codecs' layout, the METRICS slot enum
// and METHOD_CODES are checked against the BTF of the compiled bpf/rauta.bpf.o,
// and each map's key/value struct against the codec the typed wrapper uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  backendListCodec,
  flowKeyCodec,
  flowValueCodec,
  LAYOUT,
  listenerKeyCodec,
  maglevKeyCodec,
  maglevTableCodec,
  nexthopCodec,
  nexthopKeyCodec,
  RAUTA_MAGLEV_SIZE,
  RAUTA_MAX_BACKENDS,
  routeKeyCodec,
  savedRequestCodec,
  RAUTA_REQUEST_BUF,
  u32Codec,
  type Codec,
} from '../src/dataplane/codecs.js';
import { FIRST_EVENT, Metric, METRIC_COUNT, METRIC_NAMES } from '../src/dataplane/metrics.js';
import { FlowReply, FlowSide, FlowState } from '../src/dataplane/map-types.js';
import { METHOD_CODES } from '../src/routes/route-model.js';
import { RautaError } from '../src/errors.js';
import { mapInfo } from '../src/dataplane/libbpf.js';
import { DEFAULT_CAPACITY, mapMaxEntries } from '../src/routes/capacity.js';
import { loadTestProgram } from './fixtures/agent-routes.js';

const OBJECT = fileURLToPath(new URL('../bpf/rauta.bpf.o', import.meta.url));

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
  vars?: Array<{ type_id: number }>;
}

function loadBtf(): Map<number, BtfType> {
  assert.ok(existsSync(OBJECT), `${OBJECT} is missing: build it with make -C bpf`);
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT], { encoding: 'utf8' });
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

const btf = loadBtf();
const byName = (kind: string, name: string): BtfType => {
  const t = [...btf.values()].find((x) => x.kind === kind && x.name === name);
  assert.ok(t, `BTF of bpf/rauta.bpf.o has no ${kind} ${name}`);
  return t;
};

test('struct sizes and member offsets match BTF', () => {
  for (const [name, layout] of Object.entries(LAYOUT)) {
    const s = byName('STRUCT', name);
    assert.equal(s.size, layout.size, `sizeof(struct ${name}): C says ${s.size}, codecs.ts LAYOUT says ${layout.size}`);
    const btfMembers = Object.fromEntries((s.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
    assert.deepEqual(layout.members, btfMembers, `members and byte offsets of struct ${name} (codecs.ts LAYOUT vs C)`);
  }
  const backends = btf.get(byName('STRUCT', 'backend_list').members![0]!.type_id)!;
  assert.equal(backends.nr_elems, RAUTA_MAX_BACKENDS, 'backend_list.backends has RAUTA_MAX_BACKENDS entries');
  const slots = btf.get(byName('STRUCT', 'maglev_table').members![0]!.type_id)!;
  assert.equal(slots.nr_elems, RAUTA_MAGLEV_SIZE, 'maglev_table.slots has RAUTA_MAGLEV_SIZE entries');
  const data = btf.get(byName('STRUCT', 'saved_request').members!.find((m) => m.name === 'data')!.type_id)!;
  assert.equal(data.nr_elems, RAUTA_REQUEST_BUF, 'saved_request.data has RAUTA_REQUEST_BUF bytes');
});

test('enum rauta_flow_side, rauta_flow_state and rauta_reply match FlowSide, FlowState and FlowReply', () => {
  const sides = Object.fromEntries(byName('ENUM', 'rauta_flow_side').values!.map((v) => [v.name.replace(/^RAUTA_SIDE_/, ''), v.val]));
  assert.deepEqual(sides, { CLIENT: FlowSide.CLIENT, BACKEND: FlowSide.BACKEND });
  const states = Object.fromEntries(byName('ENUM', 'rauta_flow_state').values!.map((v) => [v.name.replace(/^RAUTA_FLOW_/, ''), v.val]));
  assert.deepEqual(states, { SYN_SENT: FlowState.SYN_SENT, ESTABLISHED: FlowState.ESTABLISHED, REPLIED: FlowState.REPLIED });
  const replies = Object.fromEntries(byName('ENUM', 'rauta_reply').values!.map((v) => [v.name.replace(/^RAUTA_REPLY_/, ''), v.val]));
  assert.deepEqual(replies, { NONE: FlowReply.NONE, '404': FlowReply.NOT_FOUND_404, '503': FlowReply.UNAVAILABLE_503 });
});

test('enum rauta_metric matches the Metric enum; enum rauta_method matches METHOD_CODES', () => {
  const metric = byName('ENUM', 'rauta_metric').values!;
  const fromC = Object.fromEntries(metric.filter((v) => v.name !== 'RAUTA_M_COUNT').map((v) => [v.name.replace(/^RAUTA_M_/, ''), v.val]));
  const fromTs = Object.fromEntries(METRIC_NAMES.map((n) => [n, Metric[n]]));
  assert.deepEqual(fromTs, fromC, 'METRICS slots: src/dataplane/metrics.ts vs bpf/rauta.h');
  assert.equal(metric.find((v) => v.name === 'RAUTA_M_COUNT')?.val, METRIC_COUNT, 'RAUTA_M_COUNT');
  assert.equal(FIRST_EVENT, Metric.BACKEND_ACK, 'RAUTA_M_FIRST_EVENT is RAUTA_M_BACKEND_ACK (rauta.h)');
  const method = byName('ENUM', 'rauta_method').values!;
  const methodsC = Object.fromEntries(method.filter((v) => v.val !== 0).map((v) => [v.name.replace(/^RAUTA_METHOD_/, ''), v.val]));
  assert.deepEqual({ ...METHOD_CODES }, methodsC, 'METHOD_CODES (route-model.ts) vs enum rauta_method');
});

test('each map uses the key and value the codecs encode', () => {
  const maps = byName('DATASEC', '.maps').vars!.map((v) => btf.get(v.type_id)!);
  const sizeOf = (id: number): number => {
    const t = btf.get(id)!;
    if (t.size !== undefined) return t.size;
    if (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE') return sizeOf(t.type_id!);
    throw new Error(`no size for BTF type ${id} (${t.kind})`);
  };
  const expected: Record<string, [Codec<unknown>, number]> = {
    routes: [routeKeyCodec as Codec<unknown>, backendListCodec.size],
    maglev_tables: [maglevKeyCodec as Codec<unknown>, maglevTableCodec.size],
    flow_cache: [flowKeyCodec as Codec<unknown>, flowValueCodec.size],
    requests: [flowKeyCodec as Codec<unknown>, savedRequestCodec.size],
    scratch: [u32Codec as Codec<unknown>, savedRequestCodec.size],
    listeners: [listenerKeyCodec as Codec<unknown>, u32Codec.size],
    nexthops: [nexthopKeyCodec as Codec<unknown>, nexthopCodec.size],
    metrics: [u32Codec as Codec<unknown>, 8],
  };
  const seen: string[] = [];
  for (const v of maps) {
    const def = btf.get(v.type_id!)!;
    const member = (n: string) => def.members!.find((m) => m.name === n)!;
    const keySize = sizeOf(btf.get(member('key').type_id)!.type_id!);
    const valueSize = sizeOf(btf.get(member('value').type_id)!.type_id!);
    const e = expected[v.name];
    assert.ok(e, `map ${v.name} in the object has no codec`);
    assert.equal(keySize, e[0].size, `${v.name} key size: C ${keySize}, codec ${e[0].size}`);
    assert.equal(valueSize, e[1], `${v.name} value size: C ${valueSize}, codec ${e[1]}`);
    seen.push(v.name);
  }
  assert.deepEqual(seen.sort(), Object.keys(expected).sort(), 'the object has exactly these maps');
});

test('codecs round-trip and put IPs and ports in network order', () => {
  const key = routeKeyCodec.encode({ method: 1, pathHash: 0x0102030405060708n });
  assert.equal(key.toString('hex'), '01000000' + '00000000' + '0807060504030201', 'route_key: method LE, pad 0, hash LE');
  const bl = backendListCodec.encode({ backends: [{ ip: '10.1.2.3', port: 8080, weight: 5 }], gen: 9 });
  assert.equal(bl.subarray(0, 8).toString('hex'), '0a010203' + '1f90' + '0500', 'backend: ip and port network order, weight LE');
  assert.equal(bl.readUInt32LE(256), 1, 'count');
  assert.equal(bl.readUInt32LE(260), 9, 'gen');
  assert.equal(listenerKeyCodec.encode({ addr: '192.168.0.1', port: 443 }).toString('hex'), 'c0a80001' + '01bb' + '0000');
  assert.equal(nexthopCodec.encode({ mac: 'AA:bb:cc:dd:ee:0f' }).toString('hex'), 'aabbccddee0f0000');

  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const routeKey = fc.record({ method: fc.integer({ min: 1, max: 7 }), pathHash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) });
  const u32 = fc.nat(0xffffffff);
  const port = fc.nat(65535);
  const roundTrip = <T>(codec: Codec<T>, arb: fc.Arbitrary<T>) =>
    fc.assert(fc.property(arb, (v) => assert.deepEqual(codec.decode(codec.encode(v)), structuredClone(v))), { numRuns: 200 });
  roundTrip(routeKeyCodec, routeKey);
  roundTrip(backendListCodec, fc.record({ backends: fc.array(fc.record({ ip, port, weight: port }), { maxLength: 32 }), gen: u32 }));
  roundTrip(maglevKeyCodec, fc.record({ route: routeKey, gen: u32 }));
  roundTrip(flowKeyCodec, fc.record({ srcIp: ip, dstIp: ip, srcPort: port, dstPort: port, proto: fc.nat(255) }));
  const mac = fc.tuple(...Array.from({ length: 6 }, () => fc.nat(255))).map((o) => o.map((x) => x.toString(16).padStart(2, '0')).join(':'));
  roundTrip(
    flowValueCodec,
    fc.record({
      side: fc.constantFrom(FlowSide.CLIENT, FlowSide.BACKEND),
      state: fc.constantFrom(FlowState.SYN_SENT, FlowState.ESTABLISHED, FlowState.REPLIED),
      reply: fc.constantFrom(FlowReply.NONE, FlowReply.NOT_FOUND_404, FlowReply.UNAVAILABLE_503),
      flags: u32,
      seqDelta: u32,
      peerIp: ip,
      peerPort: port,
      peerMac: mac,
      route: routeKey,
      gen: u32,
      backendIdx: u32,
      clientIsn: u32,
      cookie: u32,
      clientFinEnd: u32,
      backendFinEnd: u32,
      clientMac: mac,
      clientWscale: fc.nat(14),
      backendWscale: fc.nat(14),
      changedNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }),
  );
  roundTrip(savedRequestCodec, fc.record({ data: fc.uint8Array({ maxLength: 1460 }), csum: fc.nat(0xffff), window: fc.nat(0xffff) }));
  roundTrip(listenerKeyCodec, fc.record({ addr: ip, port }));
  roundTrip(nexthopKeyCodec, ip);
  const table = new Uint8Array(RAUTA_MAGLEV_SIZE).map((_, i) => i % 32);
  assert.deepEqual(maglevTableCodec.decode(maglevTableCodec.encode(table)), table);
});

test('codec range errors name the field', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['port 70000', () => listenerKeyCodec.encode({ addr: '1.2.3.4', port: 70000 }), /listener_key\.port/],
    ['bad IP', () => flowKeyCodec.encode({ srcIp: '1.2.3.256', dstIp: '1.2.3.4', srcPort: 1, dstPort: 2, proto: 6 }), /flow_key\.src_ip/],
    ['33 backends', () => backendListCodec.encode({ backends: Array(33).fill({ ip: '1.1.1.1', port: 1, weight: 1 }), gen: 0 }), /backend_list\.count/],
    ['weight', () => backendListCodec.encode({ backends: [{ ip: '1.1.1.1', port: 1, weight: -1 }], gen: 0 }), /backend_list\.backends\[0\]\.weight/],
    ['method 0', () => routeKeyCodec.encode({ method: 0, pathHash: 1n }), /route_key\.method/],
    ['hash too big', () => routeKeyCodec.encode({ method: 1, pathHash: 2n ** 64n }), /route_key\.path_hash/],
    ['short table', () => maglevTableCodec.encode(new Uint8Array(10)), /maglev_table\.slots/],
    ['slot 32', () => maglevTableCodec.encode(new Uint8Array(RAUTA_MAGLEV_SIZE).fill(32)), /maglev_table\.slots\[0\]/],
    ['bad MAC', () => nexthopCodec.encode({ mac: '00:11:22' }), /nexthop\.mac/],
    ['wrong buffer size', () => routeKeyCodec.decode(Buffer.alloc(15)), /route_key/],
  ];
  for (const [what, fn, field] of cases) {
    assert.throws(fn, (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_CODEC_RANGE' && field.test(err.message), `${what}: RAUTA_ERR_CODEC_RANGE naming ${field}`);
  }
});

test('DEFAULT_CAPACITY (what validation allows) is the max entries of the maps bpf/rauta.h declares', (t) => {
  const prog = loadTestProgram(t, 'capacity');
  if (!prog) return;
  const max = (name: keyof typeof prog.maps): number => mapInfo(prog.maps[name]).maxEntries;
  assert.deepEqual(
    { routes: max('routes'), listeners: max('listeners'), nexthops: max('nexthops'), maglev_tables: max('maglev_tables') },
    mapMaxEntries(DEFAULT_CAPACITY),
    'RAUTA_MAX_ROUTES, RAUTA_MAX_LISTENERS, RAUTA_MAX_NEXTHOPS and RAUTA_MAX_TABLES (2 x routes)',
  );
});
