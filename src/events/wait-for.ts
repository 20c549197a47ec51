// Waiting for the log head with an abort signal and a timeout, shared by both backends.

/**
 * Calls `check` whenever `subscribe` signals a change (and once at the start) until it
 * returns a head > afterSeq. On timeout resolves with the last head seen (which may be
 * <= afterSeq); on abort rejects with the signal's reason.
 */
export function waitUntilHead(
  afterSeq: number,
  check: () => Promise<number>,
  subscribe: (wake: () => void) => () => void,
  signal?: AbortSignal,
  timeoutMs?: number,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let done = false;
    let last = 0;
    let running = false;
    let again = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason));
    const run = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          last = await check();
          if (last > afterSeq) finish(() => resolve(last));
        } while (again && !done);
      } catch (err) {
        finish(() => reject(err));
      } finally {
        running = false;
      }
    };
    const unsubscribe = subscribe(() => void run());
    const timer = timeoutMs !== undefined ? setTimeout(() => finish(() => resolve(last)), timeoutMs) : null;
    signal?.addEventListener('abort', onAbort, { once: true });
    void run();
  });
}
