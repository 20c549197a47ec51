// The C header is the source of truth. src/model/layout.generated.ts is generated
// from the BTF of the compiled bpf/rauta.bpf.o (struct layouts, every enum, the
// limits, the maps); this checks the committed file is what the object says, and
// that each map's key and value are what the codec its typed wrapper uses encodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  backendKeyCodec,
  backendListCodec,
  backendStatsCodec,
  routeShapesCodec,
  flowKeyCodec,
  flowValueCodec,
  listenerKeyCodec,
  maglevKeyCodec,
  maglevTableCodec,
  nexthopCodec,
  nexthopKeyCodec,
  RAUTA_MAGLEV_SIZE,
  routeKeyCodec,
  savedRequestCodec,
  u32Codec,
  type Codec,
} from '../src/model/codecs.js';
import { MAPS, METHOD_CODES, STRUCTS } from '../src/model/layout.generated.js';
import { FlowReply, FlowSide, FlowState } from '../src/model/map-types.js';
import { HttpMethod } from '../src/routes/route-model.js';
import { RautaError } from '../src/errors.js';
import { mapInfo } from '../src/dataplane/libbpf.js';
import { MAP_NAMES } from '../src/dataplane/program.js';
import { DEFAULT_CAPACITY, mapMaxEntries } from '../src/routes/capacity.js';
import { generateLayout, GENERATED_LAYOUT } from '../scripts/gen-layout.js';
import { loadTestProgram } from './fixtures/agent-routes.js';
import { backendList, flowKey, flowValue, ip, maglevKey, port, routeKey } from './helpers/map-values.js';

const OBJECT = fileURLToPath(new URL('../bpf/rauta.bpf.o', import.meta.url));

test('src/model/layout.generated.ts is what the BTF of bpf/rauta.bpf.o says', () => {
  assert.ok(existsSync(OBJECT), `${OBJECT} is missing: build it with make -C bpf`);
  assert.equal(
    readFileSync(GENERATED_LAYOUT, 'utf8'),
    generateLayout(OBJECT),
    'stale: run make -C bpf and commit src/model/layout.generated.ts with bpf/rauta.h',
  );
});

test("each map uses the key and value the codecs encode; the route model knows exactly the data path's methods", () => {
  const expected: Record<string, [Codec<unknown>, number]> = {
    routes: [routeKeyCodec as Codec<unknown>, backendListCodec.size],
    maglev_tables: [maglevKeyCodec as Codec<unknown>, maglevTableCodec.size],
    flow_cache: [flowKeyCodec as Codec<unknown>, flowValueCodec.size],
    requests: [flowKeyCodec as Codec<unknown>, savedRequestCodec.size],
    scratch: [u32Codec as Codec<unknown>, savedRequestCodec.size],
    listeners: [listenerKeyCodec as Codec<unknown>, u32Codec.size],
    nexthops: [nexthopKeyCodec as Codec<unknown>, nexthopCodec.size],
    metrics: [u32Codec as Codec<unknown>, 8],
    backend_stats: [backendKeyCodec as Codec<unknown>, backendStatsCodec.size],
    route_shapes: [u32Codec as Codec<unknown>, routeShapesCodec.size],
    // the programs' own per-CPU work area: the agent never reads it
    parse: [u32Codec as Codec<unknown>, STRUCTS.parse_scratch.size],
  };
  for (const [name, m] of Object.entries(MAPS)) {
    const e = expected[name];
    assert.ok(e, `map ${name} in the object has no codec`);
    assert.equal(m.keySize, e[0].size, `${name} key size: C ${m.keySize}, codec ${e[0].size}`);
    assert.equal(m.valueSize, e[1], `${name} value size: C ${m.valueSize}, codec ${e[1]}`);
  }
  assert.deepEqual(Object.keys(MAPS).sort(), Object.keys(expected).sort(), 'the object has exactly these maps');
  assert.deepEqual([...MAP_NAMES].sort(), Object.keys(MAPS).sort(), 'program.ts loads and pins every map of the object');
  assert.deepEqual([...HttpMethod.options].sort(), Object.keys(METHOD_CODES).sort(), 'the route schema takes exactly the methods of enum rauta_method');
});

test('codecs round-trip and put IPs and ports in network order', () => {
  const key = routeKeyCodec.encode({ method: 1, pathMatch: 1, hostMatch: 2, pathHash: 0x0102030405060708n, hostHash: 0x1112131415161718n });
  assert.equal(
    key.toString('hex'),
    '01000000' + '01' + '02' + '0000' + '0807060504030201' + '1817161514131211',
    'route_key: method LE, path and host match, pad 0, hashes LE',
  );
  const bl = backendListCodec.encode({ backends: [{ ip: '10.1.2.3', port: 8080, weight: 5 }], gen: 9 });
  assert.equal(bl.subarray(0, 8).toString('hex'), '0a010203' + '1f90' + '0500', 'backend: ip and port network order, weight LE');
  assert.equal(bl.readUInt32LE(256), 1, 'count');
  assert.equal(bl.readUInt32LE(260), 9, 'gen');
  assert.equal(listenerKeyCodec.encode({ addr: '192.168.0.1', port: 443 }).toString('hex'), 'c0a80001' + '01bb' + '0000');
  assert.equal(nexthopCodec.encode({ mac: 'AA:bb:cc:dd:ee:0f' }).toString('hex'), 'aabbccddee0f0000');

  const roundTrip = <T>(codec: Codec<T>, arb: fc.Arbitrary<T>) =>
    fc.assert(
      fc.property(arb, (v) => assert.deepEqual(codec.decode(codec.encode(v)), structuredClone(v))),
      { numRuns: 200 },
    );
  roundTrip(routeKeyCodec, routeKey);
  roundTrip(backendListCodec, backendList);
  roundTrip(maglevKeyCodec, maglevKey);
  roundTrip(flowKeyCodec, flowKey);
  const mac = fc.tuple(...Array.from({ length: 6 }, () => fc.nat(255))).map((o) => o.map((x) => x.toString(16).padStart(2, '0')).join(':'));
  roundTrip(
    flowValueCodec,
    flowValue({
      side: fc.constantFrom(FlowSide.CLIENT, FlowSide.BACKEND),
      state: fc.constantFrom(FlowState.SYN_SENT, FlowState.ESTABLISHED, FlowState.REPLIED),
      reply: fc.constantFrom(FlowReply.NONE, FlowReply.NOT_FOUND, FlowReply.UNAVAILABLE),
      mac,
    }),
  );
  roundTrip(savedRequestCodec, fc.record({ data: fc.uint8Array({ maxLength: 1460 }), csum: fc.nat(0xffff), window: fc.nat(0xffff) }));
  roundTrip(listenerKeyCodec, fc.record({ addr: ip, port }));
  roundTrip(nexthopKeyCodec, ip);
  roundTrip(backendKeyCodec, fc.record({ ip, port }));
  roundTrip(backendStatsCodec, fc.record({ syns: fc.nat(), stalled: fc.nat(), refused: fc.nat(), established: fc.maxSafeNat() }));
  const table = new Uint8Array(RAUTA_MAGLEV_SIZE).map((_, i) => i % 32);
  assert.deepEqual(maglevTableCodec.decode(maglevTableCodec.encode(table)), table);
});

test('codec range errors name the field', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['port 70000', () => listenerKeyCodec.encode({ addr: '1.2.3.4', port: 70000 }), /listener_key\.port/],
    ['bad IP', () => flowKeyCodec.encode({ srcIp: '1.2.3.256', dstIp: '1.2.3.4', srcPort: 1, dstPort: 2, proto: 6 }), /flow_key\.src_ip/],
    ['33 backends', () => backendListCodec.encode({ backends: Array(33).fill({ ip: '1.1.1.1', port: 1, weight: 1 }), gen: 0 }), /backend_list\.count/],
    ['weight', () => backendListCodec.encode({ backends: [{ ip: '1.1.1.1', port: 1, weight: -1 }], gen: 0 }), /backend_list\.backends\[0\]\.weight/],
    ['method 8', () => routeKeyCodec.encode({ method: 8, pathMatch: 0, hostMatch: 0, pathHash: 1n, hostHash: 0n }), /route_key\.method/],
    ['hash too big', () => routeKeyCodec.encode({ method: 1, pathMatch: 0, hostMatch: 0, pathHash: 2n ** 64n, hostHash: 0n }), /route_key\.path_hash/],
    ['path match 2', () => routeKeyCodec.encode({ method: 1, pathMatch: 2, hostMatch: 0, pathHash: 1n, hostHash: 0n }), /route_key\.path_match/],
    ['any host with a hash', () => routeKeyCodec.encode({ method: 1, pathMatch: 0, hostMatch: 0, pathHash: 1n, hostHash: 5n }), /route_key\.host_hash/],
    ['short table', () => maglevTableCodec.encode(new Uint8Array(10)), /maglev_table\.slots/],
    ['slot 32', () => maglevTableCodec.encode(new Uint8Array(RAUTA_MAGLEV_SIZE).fill(32)), /maglev_table\.slots\[0\]/],
    ['bad MAC', () => nexthopCodec.encode({ mac: '00:11:22' }), /nexthop\.mac/],
    ['wrong buffer size', () => routeKeyCodec.decode(Buffer.alloc(15)), /route_key/],
  ];
  for (const [what, fn, field] of cases) {
    assert.throws(
      fn,
      (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_CODEC_RANGE' && field.test(err.message),
      `${what}: RAUTA_ERR_CODEC_RANGE naming ${field}`,
    );
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
