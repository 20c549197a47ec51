// Garbage collection of FLOW_CACHE and REQUESTS. The data path removes a flow
// itself when it closes (last ACK) or resets, and ignores a half-open flow
// older than RAUTA_HALF_OPEN_NS when its client sends again; what it cannot do
// is remove state nobody sends on any more. The reaper does, on a timer:
// half-open and answered-in-place flows past the timeout, a backend side whose
// client side is gone, a saved request whose flow is gone. Established flows
// are left alone: an idle connection may live for hours (the LRU makes room).
//
// pickFlowsToReap is pure; sweepFlows reads and deletes through the maps.
import { backendKeyOf, clientKeyOf } from './connection-probe.js';
import { RAUTA_HALF_OPEN_NS } from '../model/codecs.js';
import { FlowSide, FlowState, type FlowKey, type FlowValue } from '../model/map-types.js';
import type { RautaMaps } from './maps.js';

const keyId = (k: FlowKey): string => `${k.srcIp}:${k.srcPort}>${k.dstIp}:${k.dstPort}`;

/** A backend side younger than this may be one whose client side is being written right now. */
const ORPHAN_GRACE_NS = 1_000_000_000n;

export interface FlowCensus {
  /** connections by state (counted on their client side) */
  synSent: number;
  established: number;
  replied: number;
  /** backend sides without their client side (an evicted or half-written flow) */
  orphans: number;
  requests: number;
}

export interface ReapPlan {
  /** client-side keys of flows to forget (both sides and the request) */
  flows: FlowKey[];
  /** backend sides to delete alone (their client side is gone) */
  orphans: FlowKey[];
  /** saved requests whose flow is not waiting for its backend */
  requests: FlowKey[];
  census: FlowCensus;
}

/** Pure: what a sweep removes, given every FLOW_CACHE entry and REQUESTS key, at monotonic time nowNs. */
export function pickFlowsToReap(
  entries: ReadonlyArray<[FlowKey, FlowValue]>,
  requestKeys: readonly FlowKey[],
  nowNs: bigint,
  halfOpenNs: bigint = RAUTA_HALF_OPEN_NS,
): ReapPlan {
  const byKey = new Map<string, FlowValue>();
  for (const [k, v] of entries) byKey.set(keyId(k), v);
  const plan: ReapPlan = { flows: [], orphans: [], requests: [], census: { synSent: 0, established: 0, replied: 0, orphans: 0, requests: requestKeys.length } };
  for (const [k, v] of entries) {
    const age = nowNs - v.changedNs;
    if (v.side === FlowSide.CLIENT) {
      if (v.state === FlowState.ESTABLISHED) plan.census.established++;
      else if (v.state === FlowState.SYN_SENT) plan.census.synSent++;
      else plan.census.replied++;
      if (v.state !== FlowState.ESTABLISHED && age > halfOpenNs) plan.flows.push(k);
      continue;
    }
    const client = byKey.get(keyId(clientKeyOf(k, v)));
    const pointsBack = client?.side === FlowSide.CLIENT && keyId(backendKeyOf(clientKeyOf(k, v), client)) === keyId(k);
    if (!pointsBack) {
      plan.census.orphans++;
      if (age > ORPHAN_GRACE_NS) plan.orphans.push(k);
    }
  }
  const reaped = new Set(plan.flows.map(keyId));
  for (const k of requestKeys) {
    const flow = byKey.get(keyId(k));
    if (!reaped.has(keyId(k)) && (flow?.side !== FlowSide.CLIENT || flow.state !== FlowState.SYN_SENT)) plan.requests.push(k);
  }
  return plan;
}

export interface SweepResult {
  /** flows removed (half-open or answered in place past the timeout) */
  reaped: number;
  orphans: number;
  requests: number;
  census: FlowCensus;
}

/** CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns. */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Read REQUESTS, then FLOW_CACHE (the data path writes a flow before its
 * request, so a request read first has its flow in the later read), and
 * remove what pickFlowsToReap says, checking each flow again before it goes.
 */
export function sweepFlows(
  maps: Pick<RautaMaps, 'flowCache' | 'requests'>,
  nowNs: bigint = monotonicNs(),
  halfOpenNs: bigint = RAUTA_HALF_OPEN_NS,
): SweepResult {
  const requestKeys = [...maps.requests.keys()];
  const plan = pickFlowsToReap([...maps.flowCache.entries()], requestKeys, nowNs, halfOpenNs);
  for (const ck of plan.flows) {
    const flow = maps.flowCache.get(ck);
    if (flow && (flow.state === FlowState.ESTABLISHED || nowNs - flow.changedNs <= halfOpenNs)) continue; // moved on meanwhile
    if (flow && flow.peerIp !== '0.0.0.0') maps.flowCache.delete(backendKeyOf(ck, flow));
    maps.requests.delete(ck);
    maps.flowCache.delete(ck);
  }
  for (const bk of plan.orphans) maps.flowCache.delete(bk);
  for (const k of plan.requests) maps.requests.delete(k);
  return { reaped: plan.flows.length, orphans: plan.orphans.length, requests: plan.requests.length, census: plan.census };
}
