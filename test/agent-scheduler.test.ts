// The node agent's scheduler with fake work (no maps, no log): wake-ups that
// arrive during a pass are served by one more pass; a failed pass is retried
// on the backoff until it succeeds; replan requests are merged into the next
// pass; drift checks and resync passes run on their timers; stop() stops the
// wake source first (a wake-up it makes while stopping still gets its pass),
// then the loop. Timers are short; waits are hang guards, not timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { RetryPolicy } from '../src/agent/retry-policy.js';
import { mergeReplans, Scheduler, type PassRequest, type SchedulerWork } from '../src/agent/scheduler.js';
import type { WakeSource, WakeTarget } from '../src/agent/wake-source.js';
import type { AgentStatus } from '../src/agent/agent-status.js';

const logger = pino({ level: process.env.RAUTA_TEST_LOG ?? 'silent' });

async function until(fn: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Fake {
  scheduler: Scheduler;
  retry: RetryPolicy;
  passes: PassRequest[];
  drifts: number;
  /** the next passes fail this many times */
  failNext: number;
  /** hold each pass until release() */
  hold: boolean;
  release(): void;
  target: WakeTarget;
}

function fake(opts: { driftIntervalMs?: number; resyncIntervalMs?: number } = {}): Fake {
  const retry = new RetryPolicy({ initialMs: 10, maxMs: 40 });
  let releaseHeld: (() => void) | null = null;
  const f: Fake = {
    retry,
    passes: [],
    drifts: 0,
    failNext: 0,
    hold: false,
    release: () => releaseHeld?.(),
    scheduler: null as unknown as Scheduler,
    target: null as unknown as WakeTarget,
  };
  const work: SchedulerWork = {
    async reconcile(req) {
      f.passes.push(req);
      if (f.hold) await new Promise<void>((r) => (releaseHeld = r));
      if (f.failNext > 0) {
        f.failNext--;
        retry.failed();
      } else retry.recovered();
    },
    async checkDrift() {
      f.drifts++;
    },
  };
  f.scheduler = new Scheduler(work, { retry, driftIntervalMs: opts.driftIntervalMs ?? 0, resyncIntervalMs: opts.resyncIntervalMs ?? 0, logger });
  f.target = {
    readSeq: 0,
    async wake() {
      await f.scheduler.nextPass();
      return { status: {} as AgentStatus, ops: 0 };
    },
    failed: () => retry.failed(),
  };
  return f;
}

/** A wake source a test drives: it hands out its target and records when it was stopped. */
function manualSource(): WakeSource & { target: Promise<WakeTarget>; stoppedAt: number | null; onStop: (() => Promise<void>) | null } {
  let give: (t: WakeTarget) => void = () => undefined;
  const src = {
    target: new Promise<WakeTarget>((r) => (give = r)),
    stoppedAt: null as number | null,
    onStop: null as (() => Promise<void>) | null,
    async run(target: WakeTarget, signal: AbortSignal) {
      give(target);
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      src.stoppedAt = Date.now();
      await src.onStop?.();
    },
  };
  return src;
}

test('wake-ups during a pass are served by one more pass, begun after them', async () => {
  const f = fake();
  const source = manualSource();
  const running = f.scheduler.run(source, f.target);
  const target = await source.target;
  f.hold = true;
  const first = target.wake(5);
  await until(() => f.passes.length === 1, 'the first pass starts');
  let secondDone = false;
  const second = target.wake(6).then(() => (secondDone = true));
  const third = target.wake(7);
  f.hold = false;
  f.release();
  await first;
  await Promise.all([second, third]);
  assert.ok(secondDone);
  assert.equal(f.passes.length, 2, `the two wake-ups during the first pass share one more pass: ${f.passes.length} passes`);
  await f.scheduler.stop();
  await running;
});

test('a failed pass is retried on the backoff until it succeeds; the retry says so', async () => {
  const f = fake();
  const running = f.scheduler.run(manualSource(), f.target);
  f.failNext = 3;
  await f.scheduler.nextPass();
  await until(() => f.passes.length === 4 && f.retry.failures === 0, 'three retries, the last one succeeds');
  assert.deepEqual(
    f.passes.map((p) => p.retryDue),
    [false, true, true, true],
    'the first pass was a wake-up, the others retries',
  );
  assert.equal(f.retry.nextRetryAt, null, 'nothing left to retry');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(f.passes.length, 4, 'no pass without a trigger');
  await f.scheduler.stop();
  await running;
});

test('replan requests are merged into the next pass; "everything" wins', async () => {
  assert.deepEqual(mergeReplans({ routes: [{ method: 'GET', path: '/a' }] }, { routes: [{ method: 'GET', path: '/b' }] }), {
    routes: [
      { method: 'GET', path: '/a' },
      { method: 'GET', path: '/b' },
    ],
  });
  assert.equal(mergeReplans({ routes: [] }, 'everything'), 'everything');
  const f = fake();
  const running = f.scheduler.run(manualSource(), f.target);
  f.hold = true;
  f.scheduler.requestReplan({ routes: [{ method: 'GET', path: '/a' }] });
  await until(() => f.passes.length === 1, 'a replan starts a pass');
  f.scheduler.requestReplan({ routes: [{ method: 'GET', path: '/b' }] });
  f.scheduler.requestReplan({ routes: [{ method: 'POST', path: '/c' }] });
  f.hold = false;
  f.release();
  await until(() => f.passes.length === 2, 'the requests during the pass make one more');
  assert.deepEqual(
    f.passes.map((p) => p.replan),
    [
      { routes: [{ method: 'GET', path: '/a' }] },
      {
        routes: [
          { method: 'GET', path: '/b' },
          { method: 'POST', path: '/c' },
        ],
      },
    ],
  );
  await f.scheduler.stop();
  await running;
});

test('drift checks and resync passes run on their timers', async () => {
  const f = fake({ driftIntervalMs: 20, resyncIntervalMs: 30 });
  const running = f.scheduler.run(manualSource(), f.target);
  await until(() => f.drifts >= 3 && f.passes.length >= 2, 'drift checks and resync passes');
  assert.ok(
    f.passes.every((p) => !p.retryDue && p.replan === null),
    'a resync pass is a plain one',
  );
  await f.scheduler.stop();
  await running;
  const after = [f.drifts, f.passes.length];
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual([f.drifts, f.passes.length], after, 'nothing runs after stop()');
});

test('stop() stops the wake source first: a wake-up it makes meanwhile still gets its pass', async () => {
  const f = fake();
  const source = manualSource();
  let servedWhileStopping = false;
  source.onStop = async () => {
    await (await source.target).wake(9);
    servedWhileStopping = true;
  };
  const running = f.scheduler.run(source, f.target);
  await source.target;
  await f.scheduler.stop();
  await running;
  assert.ok(source.stoppedAt !== null, 'the source was stopped');
  assert.ok(servedWhileStopping, 'its last wake-up was served');
  assert.equal(f.passes.length, 1, 'by one pass');
  assert.equal(f.scheduler.running, false);
});
