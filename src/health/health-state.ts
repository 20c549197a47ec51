// One check target's health as a pure state machine over observations: active
// check results and passive verdicts from the data path's counters.
//
//   healthy   --unhealthyThreshold failed checks in a row-->  unhealthy
//   healthy   --a passive burst (refused / stalled handshakes)-->  unhealthy
//   unhealthy --healthyThreshold passed checks in a row-->  healthy
//
// Only active checks bring a backend back. A backend that alternates passing
// and failing never reaches either threshold, so it changes state at most once
// per threshold window however it flaps.
import type { BackendStats } from '../model/map-types.js';

export interface TargetHealth {
  healthy: boolean;
  /** consecutive passed checks (counts while unhealthy) */
  passes: number;
  /** consecutive failed checks (counts while healthy) */
  failures: number;
  /** why the last transition happened ("" before the first) */
  reason: string;
  /** ms since the epoch of the last transition (or of the first observation) */
  since: number;
  /** the last active check's outcome, for status */
  last: string;
  transitions: number;
}

export type Observation =
  /** an active check passed (status 200-399 in time) */
  | { kind: 'pass'; detail: string }
  /** an active check failed: refused, timed out, bad status, ... */
  | { kind: 'fail'; detail: string }
  /** the data path saw a burst of failed handshakes */
  | { kind: 'burst'; detail: string };

export interface HealthThresholds {
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export function initialHealth(now: number, healthy = true, reason = ''): TargetHealth {
  return { healthy, passes: 0, failures: 0, reason, since: now, last: '', transitions: 0 };
}

/** The health after one observation; `changed` when healthy flipped. */
export function observe(h: TargetHealth, obs: Observation, t: HealthThresholds, now: number): { next: TargetHealth; changed: boolean } {
  const flip = (reason: string, last: string): { next: TargetHealth; changed: boolean } => ({
    next: { healthy: !h.healthy, passes: 0, failures: 0, reason, since: now, last, transitions: h.transitions + 1 },
    changed: true,
  });
  switch (obs.kind) {
    case 'pass': {
      if (h.healthy) return { next: { ...h, failures: 0, last: obs.detail }, changed: false };
      const passes = h.passes + 1;
      if (passes >= t.healthyThreshold) return flip(`${passes} checks passed in a row (${obs.detail})`, obs.detail);
      return { next: { ...h, passes, last: obs.detail }, changed: false };
    }
    case 'fail': {
      if (!h.healthy) return { next: { ...h, passes: 0, last: obs.detail }, changed: false };
      const failures = h.failures + 1;
      if (failures >= t.unhealthyThreshold) return flip(`${failures} checks failed in a row (last: ${obs.detail})`, obs.detail);
      return { next: { ...h, failures, last: obs.detail }, changed: false };
    }
    case 'burst':
      if (!h.healthy) return { next: { ...h, passes: 0 }, changed: false };
      return flip(obs.detail, h.last);
  }
}

export interface PassiveDelta {
  syns: number;
  stalled: number;
  refused: number;
  established: number;
}

const STATS: ReadonlyArray<keyof BackendStats> = ['syns', 'stalled', 'refused', 'established'];

/** Counter growth between two reads; when any counter went down (the entry was made again) all count from 0. */
export function statsDelta(before: BackendStats | undefined, after: BackendStats): PassiveDelta {
  const reset = !before || STATS.some((k) => after[k] < before[k]);
  const d = (k: keyof BackendStats) => (reset ? after[k] : after[k] - before![k]);
  return { syns: d('syns'), stalled: d('stalled'), refused: d('refused'), established: d('established') };
}

/**
 * A burst: at least `unhealthyThreshold` new connections the backend refused
 * or left unanswered past the client's first retransmission, and not one it
 * accepted, in one read period. Null when the counters say nothing bad.
 */
export function passiveVerdict(delta: PassiveDelta, unhealthyThreshold: number, periodMs: number): Observation | null {
  const failed = delta.refused + delta.stalled;
  if (failed < unhealthyThreshold || delta.established > 0) return null;
  const parts = [delta.refused ? `${delta.refused} refused` : '', delta.stalled ? `${delta.stalled} unanswered` : ''].filter(Boolean).join(', ');
  return { kind: 'burst', detail: `the data path saw ${parts} new connection${failed === 1 ? '' : 's'} and none accepted in ${periodMs} ms` };
}
