// Exponential retry delay for a failing apply: initial, 2x per consecutive
// failure, capped (default 1 s → 30 s), with ±20 % jitter so many nodes that
// failed together do not retry in lockstep.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** 0..1 share of the delay drawn at random (default 0.2) */
  jitter?: number;
}

/** Delay before retry number `failures` (1 = the first retry). */
export function backoffDelay(failures: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 1000;
  const max = opts.maxMs ?? 30_000;
  const jitter = opts.jitter ?? 0.2;
  const base = Math.min(max, initial * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  const spread = base * jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(max, Math.round(base + spread)));
}
