// When the node agent works: one loop, the same for `rauta run` and `rauta
// agent`. One pass at a time; what arrives during a pass is coalesced into
// the next one.
//
// A reconcile pass (read the log to its head, fold, apply) runs when
//   - the wake source says the log grew (wake-up), or someone asks for one;
//   - a replan is requested (the node's effective desired state changed
//     without a commit: requestReplan);
//   - the retry of a failed attempt is due (RetryPolicy: exponential backoff);
//   - no pass ran for resyncIntervalMs (a wake-up may have been lost).
// A drift check runs every driftIntervalMs.
//
// The wake source runs beside the loop and is stopped first, so a wake-up
// in hand (a BullMQ job) still gets its pass before the loop ends.
import type { Logger } from 'pino';
import type { RouteRef } from '../state/desired-tracker.js';
import type { RetryPolicy } from './retry-policy.js';
import type { WakeSource, WakeTarget } from './wake-source.js';

/** What a replan covers: routes whose effective desired state changed, or everything. */
export type ReplanScope = { routes: readonly RouteRef[] } | 'everything';

export interface PassRequest {
  /** the retry of a failed attempt is due: try to apply even without a new commit */
  retryDue: boolean;
  /** replan this even without a new commit */
  replan: ReplanScope | null;
}

/** The work the loop runs. Each reports its own failures to the RetryPolicy and resolves (a rejection is a bug, logged). */
export interface SchedulerWork {
  reconcile(req: PassRequest): Promise<void>;
  checkDrift(): Promise<void>;
}

export interface SchedulerOptions {
  retry: RetryPolicy;
  /** drift check period; 0: never */
  driftIntervalMs: number;
  /** a reconcile pass at the latest this long after the last one; 0: never */
  resyncIntervalMs: number;
  logger: Logger;
}

export function mergeReplans(a: ReplanScope | null, b: ReplanScope): ReplanScope {
  if (a === null) return b;
  if (a === 'everything' || b === 'everything') return 'everything';
  return { routes: [...a.routes, ...b.routes] };
}

export class Scheduler {
  /** callers waiting for the next pass to end */
  #waiters: Array<() => void> = [];
  #replan: ReplanScope | null = null;
  /** ends the loop's idle wait (set only while it waits) */
  #kick: (() => void) | null = null;
  #running: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #stop: (() => Promise<void>) | null = null;

  constructor(
    private readonly work: SchedulerWork,
    private readonly opts: SchedulerOptions,
  ) {}

  /** True while run() loops. */
  get running(): boolean {
    return this.#running !== null;
  }

  /** Resolves once a reconcile pass begun after this call has ended (run() must be running). */
  nextPass(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#kick?.();
    });
  }

  /** Ask for a replan of `scope` (merged with any other not yet taken); the loop runs it at once. */
  requestReplan(scope: ReplanScope): void {
    this.#replan = mergeReplans(this.#replan, scope);
    this.#kick?.();
  }

  /** The replan requests not yet run (a pass takes them). */
  takeReplan(): ReplanScope | null {
    const r = this.#replan;
    this.#replan = null;
    return r;
  }

  /** Something changed the retry time (a failure outside a pass): wait again with it. */
  poke(): void {
    this.#kick?.();
  }

  /** Loop until stop() or `signal`, with `source` waking `target`. */
  run(source: WakeSource, target: WakeTarget, signal?: AbortSignal): Promise<void> {
    if (this.#running) return this.#running;
    const sourceAbort = new AbortController();
    const loopAbort = new AbortController();
    const sourceDone = source
      .run(target, sourceAbort.signal)
      .catch((err: unknown) => this.opts.logger.error({ err }, 'the wake source failed; the resync timer still reconciles'));
    const loopDone = this.#loop(loopAbort.signal);
    this.#stop = async () => {
      // The source first: a wake-up it holds (a job) is still served by the loop.
      sourceAbort.abort(new Error('agent stopping'));
      await sourceDone;
      loopAbort.abort(new Error('agent stopping'));
      await loopDone;
    };
    const onAbort = (): void => void this.stop();
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    this.#running = Promise.all([sourceDone, loopDone]).then(() => {
      signal?.removeEventListener('abort', onAbort);
      this.#running = null;
      this.#stop = null;
      this.#stopping = null;
    });
    return this.#running;
  }

  /** Stop the source (its wake-up in hand is served), then the loop after its current pass. */
  async stop(): Promise<void> {
    if (!this.#stop) return;
    this.#stopping ??= this.#stop();
    await this.#stopping;
    await this.#running;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const { retry, driftIntervalMs, resyncIntervalMs } = this.opts;
    const after = (ms: number): number => (ms > 0 ? Date.now() + ms : Infinity);
    let nextDrift = after(driftIntervalMs);
    let nextResync = after(resyncIntervalMs);
    try {
      while (!signal.aborted) {
        const retryDue = retry.isDue();
        if (this.#waiters.length > 0 || this.#replan !== null || retryDue || Date.now() >= nextResync) {
          const waiters = this.#waiters;
          this.#waiters = [];
          await this.#guard('reconcile', () => this.work.reconcile({ retryDue, replan: this.takeReplan() }));
          // A due retry that neither failed again nor succeeded (nothing to try) must not spin.
          if (retryDue && retry.isDue()) retry.postpone();
          nextResync = after(resyncIntervalMs);
          for (const w of waiters) w();
        }
        if (!signal.aborted && Date.now() >= nextDrift) {
          await this.#guard('drift check', () => this.work.checkDrift());
          nextDrift = after(driftIntervalMs);
        }
        if (signal.aborted || this.#waiters.length > 0 || this.#replan !== null) continue;
        await this.#idle(Math.min(nextDrift, nextResync, retry.nextRetryAt ?? Infinity), signal);
      }
    } finally {
      // Nobody waits for a pass that will not come.
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  async #guard(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.opts.logger.error({ err }, `${what} threw; it is retried on the next trigger`);
    }
  }

  /** Until `until` (ms since the epoch), a kick, or the signal. */
  #idle(until: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const ms = until === Infinity ? null : Math.max(0, until - Date.now());
      const done = (): void => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#kick = null;
        resolve();
      };
      // setTimeout takes at most 2^31-1 ms; the loop comes back and waits again.
      const timer = ms === null ? null : setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.#kick = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
