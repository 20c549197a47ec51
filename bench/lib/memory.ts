// Memory figures for the bench: RSS now and at its peak, and the bytes a
// process really holds (heap + off-heap buffers after a full collection).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose_gc');
const collect = runInNewContext('gc') as () => void;

export const MiB = 1024 * 1024;

/** Bytes held after a full collection: V8 heap in use plus memory outside it (ArrayBuffers, Buffers). */
export function liveBytes(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** The process's RSS now and its peak so far, in bytes. */
export function rss(): { now: number; peak: number } {
  return { now: process.memoryUsage().rss, peak: process.resourceUsage().maxRSS * 1024 };
}
