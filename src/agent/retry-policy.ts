// The node agent's one retry policy, the same in both modes: every failure
// (a log read, a nexthop lookup, a plan, an apply, a drift check) counts,
// and the next attempt is due after an exponential backoff: initial, 2x per
// consecutive failure, capped (default 1 s → 30 s), with ±20 % jitter so
// many nodes that failed together do not retry in lockstep. Anything new (a
// commit, a replan request) is tried at once, without waiting for it; a
// success ends the failure.

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

export class RetryPolicy {
  #failures = 0;
  #nextRetryAt: number | null = null;

  constructor(private readonly backoff: BackoffOptions = {}) {}

  /** consecutive failures since the last success */
  get failures(): number {
    return this.#failures;
  }

  /** ms since the epoch when the next retry is due; null while nothing is failing */
  get nextRetryAt(): number | null {
    return this.#nextRetryAt;
  }

  isDue(now = Date.now()): boolean {
    return this.#nextRetryAt !== null && now >= this.#nextRetryAt;
  }

  /** Count a failure; returns the delay until the retry. */
  failed(now = Date.now()): number {
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.backoff);
    this.#nextRetryAt = now + delay;
    return delay;
  }

  /** A retry ran and neither succeeded nor failed (nothing to try): the next one after the same delay again. */
  postpone(now = Date.now()): void {
    if (this.#failures > 0) this.#nextRetryAt = now + backoffDelay(this.#failures, this.backoff);
  }

  recovered(): void {
    this.#failures = 0;
    this.#nextRetryAt = null;
  }
}
