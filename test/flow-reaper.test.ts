// The flow reaper removes what the data path cannot: half-open and
// answered-in-place flows past the timeout, backend sides whose client side is
// gone, saved requests whose flow is gone. Established flows are never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickFlowsToReap, sweepFlows } from '../src/dataplane/flow-reaper.js';
import { backendKeyOf, probeConnection } from '../src/dataplane/connection-probe.js';
import { FlowReply, FlowSide, FlowState, type FlowKey, type FlowValue } from '../src/model/map-types.js';
import { RAUTA_MAGLEV_SIZE } from '../src/model/codecs.js';
import { routeKeyOf } from '../src/model/ids.js';
import { everyShape } from '../src/model/route-shapes.js';
import { loadTestProgram } from './fixtures/agent-routes.js';

const S = 1_000_000_000n;
const NOW = 1000n * S;

function clientSide(state: FlowState, ageS: bigint, peerIp = '10.1.0.1'): FlowValue {
  return {
    side: FlowSide.CLIENT,
    state,
    reply: FlowReply.NONE,
    flags: 0,
    seqDelta: 0,
    peerIp,
    peerPort: 8080,
    peerMac: '02:00:00:00:01:01',
    route: routeKeyOf('GET', '/x'),
    gen: 1,
    backendIdx: 0,
    clientIsn: 1,
    cookie: 2,
    clientFinEnd: 0,
    backendFinEnd: 0,
    clientMac: '02:00:00:00:00:01',
    clientWscale: 0,
    backendWscale: 0,
    synRetries: 0,
    changedNs: NOW - ageS * S,
  };
}

function backendSide(of: FlowKey, state: FlowState, ageS: bigint): FlowValue {
  return { ...clientSide(state, ageS), side: FlowSide.BACKEND, peerIp: of.dstIp, peerPort: of.dstPort, peerMac: '02:00:00:00:00:01' };
}

const key = (port: number): FlowKey => ({ srcIp: '10.0.0.2', dstIp: '10.0.0.10', srcPort: port, dstPort: 80, proto: 6 });

test('pickFlowsToReap: only stale half-open and answered flows, orphans past the grace, requests without a waiting flow', () => {
  const entries: Array<[FlowKey, FlowValue]> = [];
  const add = (k: FlowKey, state: FlowState, ageS: bigint, withBackend = true) => {
    const c = clientSide(state, ageS);
    entries.push([k, c]);
    if (withBackend) entries.push([backendKeyOf(k, c), backendSide(k, state, ageS)]);
  };
  add(key(1), FlowState.ESTABLISHED, 3600n); // idle for an hour: kept
  add(key(2), FlowState.SYN_SENT, 11n); // half-open past 10 s: reaped
  add(key(3), FlowState.SYN_SENT, 2n); // half-open, young: kept
  entries.push([key(4), { ...clientSide(FlowState.REPLIED, 30n, '0.0.0.0'), peerPort: 0 }]); // answered 404 30 s ago: reaped
  const lone = backendKeyOf(key(5), clientSide(FlowState.ESTABLISHED, 0n));
  entries.push([lone, backendSide(key(5), FlowState.ESTABLISHED, 5n)]); // client side evicted: orphan
  const fresh = backendKeyOf(key(6), { peerIp: '10.1.0.2', peerPort: 8080 });
  entries.push([fresh, { ...backendSide(key(6), FlowState.SYN_SENT, 0n), changedNs: NOW }]); // orphan younger than the grace: kept
  const plan = pickFlowsToReap(entries, [key(2), key(3), key(1), key(9)], NOW);
  assert.deepEqual(plan.flows.map((k) => k.srcPort).sort(), [2, 4], 'the stale half-open flow and the stale answered one');
  assert.deepEqual(plan.orphans, [lone], 'the backend side whose client side is gone, not the one just written');
  assert.deepEqual(plan.requests.map((k) => k.srcPort).sort(), [1, 9], 'requests of an established flow and of no flow; the reaped flow takes its own');
  assert.deepEqual(plan.census, { synSent: 2, established: 1, replied: 1, orphans: 2, requests: 4 });
});

test('sweepFlows on the real maps: a half-open flow past the timeout goes, both sides and its request; an established one stays', (t) => {
  const prog = loadTestProgram(t, 'reaper');
  if (!prog) return;
  const m = prog.typed;
  const route = routeKeyOf('GET', '/r');
  m.listeners.set({ addr: '10.0.0.10', port: 80 }, 0);
  m.routes.set(route, { backends: [{ ip: '10.1.0.1', port: 8080, weight: 1 }], gen: 1 });
  m.routeShapes.set(0, everyShape());
  m.maglevTables.set({ route, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE));
  m.nexthops.set('10.1.0.1', { mac: '02:00:00:00:01:01' });
  const open = (port: number) =>
    probeConnection(prog.progFd, m, { client: { ip: '10.0.0.2', port }, listener: { ip: '10.0.0.10', port: 80 }, payload: 'GET /r HTTP/1.1\r\n\r\n' });
  const waiting = open(40001);
  const other = open(40002);
  assert.equal(waiting.outcome.kind, 'backend');
  assert.equal([...m.flowCache.keys()].length, 4, 'two flows, two sides each');
  assert.equal([...m.requests.keys()].length, 2);
  // Pretend the second one got its SYN-ACK (what TC does), then sweep 11 s later.
  for (const k of [other.flowKey, backendKeyOf(other.flowKey, m.flowCache.get(other.flowKey)!)])
    m.flowCache.set(k, { ...m.flowCache.get(k)!, state: FlowState.ESTABLISHED });
  m.requests.delete(other.flowKey);
  const changed = m.flowCache.get(waiting.flowKey)!.changedNs;
  const r = sweepFlows(m, changed + 11n * S);
  assert.deepEqual([r.reaped, r.orphans, r.requests], [1, 0, 0]);
  assert.deepEqual(r.census, { synSent: 1, established: 1, replied: 0, orphans: 0, requests: 1 });
  assert.deepEqual(
    [...m.flowCache.keys()].map((k) => k.srcPort === 40002 || k.dstPort === 40002),
    [true, true],
    'only the established flow is left, both sides',
  );
  assert.deepEqual([...m.requests.keys()], [], "the half-open flow's request went with it");
});
