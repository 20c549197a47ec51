// fast-check generators for the keys and values the map codecs take, over
// their whole range: the layout round trips and the encodeInto comparison
// draw from the same ones.
import fc from 'fast-check';
import type { FlowReply, FlowSide, FlowState, FlowValue, RouteKey } from '../../src/model/map-types.js';

export const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
export const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
export const u32 = fc.nat(0xffffffff);
export const port = fc.nat(65535);

/** Any method and path match; a host hash only with a host match (any host: 0). */
export const routeKey: fc.Arbitrary<RouteKey> = fc.oneof(
  fc.record({
    method: fc.integer({ min: 0, max: 7 }),
    pathMatch: fc.integer({ min: 0, max: 1 }),
    hostMatch: fc.constant(0),
    pathHash: u64,
    hostHash: fc.constant(0n),
  }),
  fc.record({
    method: fc.integer({ min: 0, max: 7 }),
    pathMatch: fc.integer({ min: 0, max: 1 }),
    hostMatch: fc.integer({ min: 1, max: 2 }),
    pathHash: u64,
    hostHash: u64,
  }),
);

export const backendList = fc.record({ backends: fc.array(fc.record({ ip, port, weight: port }), { maxLength: 32 }), gen: u32 });
export const maglevKey = fc.record({ route: routeKey, gen: u32 });
export const flowKey = fc.record({ srcIp: ip, dstIp: ip, srcPort: port, dstPort: port, proto: fc.nat(255) });

/** A FLOW_CACHE value; the caller says which side, state, reply and MAC values to draw. */
export function flowValue(draw: {
  side: fc.Arbitrary<FlowSide>;
  state: fc.Arbitrary<FlowState>;
  reply: fc.Arbitrary<FlowReply>;
  mac: fc.Arbitrary<string>;
}): fc.Arbitrary<FlowValue> {
  return fc.record({
    side: draw.side,
    state: draw.state,
    reply: draw.reply,
    flags: u32,
    seqDelta: u32,
    peerIp: ip,
    peerPort: port,
    peerMac: draw.mac,
    route: routeKey,
    gen: u32,
    backendIdx: u32,
    clientIsn: u32,
    cookie: u32,
    clientFinEnd: u32,
    backendFinEnd: u32,
    clientMac: draw.mac,
    clientWscale: fc.nat(14),
    backendWscale: fc.nat(14),
    synRetries: fc.nat(255),
    changedNs: u64,
  });
}
