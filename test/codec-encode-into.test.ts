// The allocation-free encoders apply uses (encodeInto into an arena at any
// offset, IPs and MACs parsed by char codes) write exactly what the
// allocating encoders write and refuse exactly what they refuse. Pure: no BPF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RautaError } from '../src/errors.js';
import { backendList, flowKey, flowValue, ip, maglevKey, port, routeKey, u32 } from './helpers/map-values.js';
import {
  backendListCodec,
  flowKeyCodec,
  flowValueCodec,
  listenerKeyCodec,
  maglevKeyCodec,
  maglevTableCodec,
  macToBytes,
  nexthopCodec,
  nexthopKeyCodec,
  RAUTA_MAGLEV_SIZE,
  routeKeyCodec,
  u32Codec,
  writeIp,
  type Codec,
} from '../src/model/codecs.js';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i;

/** What the regex definition says an IP encodes to, or null when it must be refused. */
function ipByRegex(ip: string): number[] | null {
  const m = IPV4.exec(ip);
  if (!m) return null;
  const o = m.slice(1, 5).map(Number);
  return o.some((x) => x > 255) ? null : o;
}

function outcome(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof RautaError && err.code === 'RAUTA_ERR_CODEC_RANGE', `a refusal is RAUTA_ERR_CODEC_RANGE, got ${String(err)}`);
    return `refused: ${err.message}`;
  }
}

test('writeIp accepts and encodes exactly what the dotted-quad regex accepts', () => {
  const chars = fc.constantFrom('0', '1', '2', '5', '9', '.', ' ', 'a', '-', '+', '\n', '٣');
  const nearIp = fc.oneof(
    fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((o) => o.join('.')),
    fc.array(chars, { maxLength: 18 }).map((a) => a.join('')),
    fc
      .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.constantFrom('', '.', ' ', '0', '\n', '.1'))
      .map(([a, b, c, d, tail]) => `${a}.${b}.${c}.${d}${tail}`),
    fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `00${a}.0${b}.000.7`),
  );
  fc.assert(
    fc.property(nearIp, (ip) => {
      const want = ipByRegex(ip);
      const buf = Buffer.alloc(6, 0xee);
      let threw: unknown = null;
      try {
        writeIp(buf, 1, ip, 'f');
      } catch (err) {
        threw = err;
      }
      if (want === null) {
        assert.ok(
          threw instanceof RautaError && threw.code === 'RAUTA_ERR_CODEC_RANGE' && threw.message.startsWith('f: '),
          `${JSON.stringify(ip)} is refused naming the field`,
        );
      } else {
        assert.equal(threw, null, `${JSON.stringify(ip)} is accepted`);
        assert.deepEqual([...buf.subarray(1, 5)], want, `${JSON.stringify(ip)} encodes to its octets`);
        assert.equal(buf[0], 0xee, 'nothing before the offset is written');
        assert.equal(buf[5], 0xee, 'nothing after the 4 bytes is written');
      }
    }),
    { numRuns: 2000 },
  );
  assert.throws(
    () => routeKeyCodec.encodeInto({ method: 1, pathMatch: 0, hostMatch: 0, pathHash: 1n, hostHash: 0n }, Buffer.alloc(28), 5),
    RangeError,
    'a route key that does not fit the buffer is refused, not written past it',
  );
  for (const bad of [undefined, null, 10, {}] as unknown[]) {
    assert.throws(() => writeIp(Buffer.alloc(4), 0, bad as string, 'f'), RautaError, `${String(bad)} is refused`);
  }
});

test('nexthop MACs: accepted and encoded exactly as the MAC regex says, in either case', () => {
  const hex = fc.constantFrom(...'0123456789abcdefABCDEFgG:-'.split(''));
  const nearMac = fc.oneof(
    fc.array(fc.nat(255), { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':')),
    fc.array(fc.nat(255), { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).toUpperCase().padStart(2, '0')).join(':')),
    fc.array(hex, { minLength: 15, maxLength: 19 }).map((a) => a.join('')),
  );
  fc.assert(
    fc.property(nearMac, (mac) => {
      const ok = MAC.test(mac);
      const got = outcome(() => nexthopCodec.encode({ mac }));
      assert.equal(got === 'ok', ok, `${JSON.stringify(mac)}: ${got}`);
      if (ok) assert.deepEqual(nexthopCodec.encode({ mac }), Buffer.concat([macToBytes(mac), Buffer.alloc(2)]), `${mac} encodes to its bytes and zero padding`);
      else assert.match(got, /nexthop\.mac/, 'the refusal names nexthop.mac');
    }),
    { numRuns: 1000 },
  );
});

test('encodeInto at any offset writes what encode returns, every byte (padding zeroed over old bytes)', () => {
  const mac = fc.array(fc.nat(255), { minLength: 6, maxLength: 6 }).map((b) => ({ mac: b.map((x) => x.toString(16).padStart(2, '0')).join(':') }));
  const same = <T>(name: string, codec: Codec<T>, arb: fc.Arbitrary<T>) =>
    fc.assert(
      fc.property(arb, fc.nat(40), fc.nat(255), (v, off, junk) => {
        const arena = Buffer.alloc(off + codec.size + 8, junk); // old bytes in the arena must not survive
        codec.encodeInto(v, arena, off);
        assert.deepEqual(arena.subarray(off, off + codec.size), codec.encode(v), `${name}: encodeInto at ${off} = encode`);
        assert.ok(
          arena.subarray(0, off).every((b) => b === junk) && arena.subarray(off + codec.size).every((b) => b === junk),
          `${name}: only its ${codec.size} bytes are written`,
        );
      }),
      { numRuns: 150 },
    );
  same('route_key', routeKeyCodec, routeKey);
  same('backend_list', backendListCodec, backendList);
  same('maglev_key', maglevKeyCodec, maglevKey);
  same('flow_key', flowKeyCodec, flowKey);
  const macText = mac.map((m) => m.mac);
  same('flow_value', flowValueCodec, flowValue({ side: fc.nat(255), state: fc.nat(255), reply: fc.nat(255), mac: macText }));
  same('listener_key', listenerKeyCodec, fc.record({ addr: ip, port }));
  same('nexthops key', nexthopKeyCodec, ip);
  same('nexthop', nexthopCodec, mac);
  same('u32', u32Codec, u32);
  // tables: any alignment of the source view, any slot values below 32
  same(
    'maglev_table',
    maglevTableCodec,
    fc.tuple(fc.nat(7), fc.nat(31)).map(([skew, salt]) => {
      const backing = new Uint8Array(RAUTA_MAGLEV_SIZE + 8);
      const t = backing.subarray(skew, skew + RAUTA_MAGLEV_SIZE);
      for (let i = 0; i < t.length; i++) t[i] = (i * 7 + salt) % 32;
      return t;
    }),
  );
});

test('a Maglev table with one slot >= 32 anywhere (any alignment) is refused naming that slot', () => {
  fc.assert(
    fc.property(fc.nat(RAUTA_MAGLEV_SIZE - 1), fc.integer({ min: 32, max: 255 }), fc.nat(7), fc.nat(7), (at, bad, skew, outOff) => {
      const t = new Uint8Array(RAUTA_MAGLEV_SIZE + 8).subarray(skew, skew + RAUTA_MAGLEV_SIZE).fill(31);
      t[at] = bad;
      assert.throws(
        () => maglevTableCodec.encodeInto(t, Buffer.alloc(RAUTA_MAGLEV_SIZE + 8), outOff),
        (e: unknown) => e instanceof RautaError && e.code === 'RAUTA_ERR_CODEC_RANGE' && e.message.startsWith(`maglev_table.slots[${at}]: ${bad} `),
        `slot ${at} = ${bad} (view at offset ${skew}, written at ${outOff}) is named`,
      );
    }),
    { numRuns: 500 },
  );
});
