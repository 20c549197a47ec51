// Parsing many route files on every core: a watcher's first load parses every file of
// the repository (10,000 files through the `yaml` library: 1.5-3 s on one core here; in
// plain YAML, read without it: ~0.3 s, less than a worker takes to start).
// The calling thread and worker threads take chunks of files from one queue; when the
// queue is empty the caller also parses the chunks still out with workers (parsing is
// pure, so whichever copy comes back first is used): a slow or stuck worker never holds
// the result up, and a worker that fails to start only leaves the caller to do all of it.
// A worker takes ~0.4 s to start (the TypeScript loader, yaml, zod) and warms its JIT up
// on its own, so workers are started only for large batches and only on idle cores
// (idleCores), as soon as a batch is announced (expect) while the caller still reads the
// files from Git, and stopped when the batch is done: no threads (and their ~40 MB each)
// stay behind for the single-file commits that follow.
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parseRouteFile, type ParsedFile } from './route-rules.js';
import type { ParseChunk, ParsedChunk } from './parse-worker.js';

export interface FileToParse {
  path: string;
  bytes: Uint8Array;
}

/**
 * Parses batches of route files; results in input order, each as parseRouteFile gives it.
 * A caller announces a load (expect), parses it in one or more batches, then finishes.
 */
export interface BulkParser {
  /** `files` files are about to be parsed: a pool starts its workers now, while the caller reads them. */
  expect(files: number): void;
  parse(files: readonly FileToParse[]): Promise<ParsedFile[]>;
  /** the load is done: a pool stops its workers */
  finish(): void;
}

/** One thread, no workers: what the core uses unless it is handed a pool. */
export const inlineParser: BulkParser = {
  expect() {},
  async parse(files) {
    return files.map((f) => parseRouteFile(f.path, f.bytes));
  },
  finish() {},
};

/** Files per message: small enough to share the tail evenly, large enough that messaging is noise. */
const CHUNK = 64;

export interface ParsePoolOptions {
  /** worker threads (default: idleCores(), at most 3; 0 = parse inline) */
  threads?: number;
  /** batches smaller than this are parsed inline: starting a worker costs more than it saves */
  minFiles?: number;
  /** the module a worker runs (tests: one that fails); default parse-worker */
  workerModule?: URL;
}

/**
 * Cores beside the caller's that nothing else is using, by the 1-minute load average. A
 * worker pays ~0.4 s to start and its own JIT warm-up: on a core something else needs it
 * slows the caller down more than it helps (seen on the shared 2-core machines here).
 */
export function idleCores(): number {
  const cores = availableParallelism();
  return Math.max(0, Math.min(cores - 1, Math.floor(cores - loadavg()[0]!)));
}

interface PoolWorker {
  worker: Worker;
  ready: boolean;
  /** called with each message; replaced per batch */
  onMessage: ((msg: ParsedChunk) => void) | null;
  onReady: (() => void) | null;
  dead: boolean;
}

export class ParsePool implements BulkParser {
  private readonly threads: number;
  private readonly minFiles: number;
  private workers: PoolWorker[] = [];
  private readonly workerModule: URL | undefined;
  /** chunks this pool handed to its workers so far (tests check they took part) */
  chunksToWorkers = 0;
  /** workers started for the last large load (0: it was parsed on the calling thread) */
  lastThreads = 0;
  /** numbers the batches, so a chunk of an earlier batch that comes back late is not taken for this one's */
  private batches = 0;

  constructor(options: ParsePoolOptions = {}) {
    this.threads = options.threads ?? -1; // -1: decided when a load starts (idleCores)
    this.minFiles = options.minFiles ?? 512;
    this.workerModule = options.workerModule;
  }

  /** workers started and ready for chunks */
  get readyWorkers(): number {
    return this.workers.filter((w) => w.ready && !w.dead).length;
  }

  /** Workers a load of this size would get now. */
  private wanted(files: number): number {
    if (files < this.minFiles) return 0;
    return this.threads >= 0 ? this.threads : Math.min(idleCores(), 3);
  }

  expect(files: number): void {
    if (this.workers.length === 0) this.start(this.wanted(files));
  }

  async parse(files: readonly FileToParse[]): Promise<ParsedFile[]> {
    if (this.workers.length === 0) this.start(this.wanted(files.length));
    if (this.workers.length === 0) return inlineParser.parse(files);
    return this.shared(files);
  }

  finish(): void {
    this.stop();
  }

  private start(threads: number): void {
    this.lastThreads = threads;
    if (threads < 1) return;
    const tsEntry = import.meta.url.endsWith('.ts');
    const workerData = {
      entry: (this.workerModule ?? new URL(tsEntry ? './parse-worker.ts' : './parse-worker.js', import.meta.url)).href,
      tsx: tsEntry ? import.meta.resolve('tsx/esm/api') : null,
    };
    // An eval'd CommonJS bootstrap: registers the TypeScript loader in the worker when the
    // sources are TypeScript (a loader registered in the calling thread does not reach it).
    const source = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((err) => parentPort.postMessage({ failed: String((err && err.stack) || err) }));`;
    for (let i = 0; i < threads; i++) {
      let worker: Worker;
      try {
        worker = new Worker(source, { eval: true, workerData, execArgv: [] });
      } catch {
        break; // no threads here: the caller parses everything
      }
      worker.unref();
      const w: PoolWorker = { worker, ready: false, onMessage: null, onReady: null, dead: false };
      const die = (): void => {
        w.dead = true;
        void worker.terminate();
        w.onReady?.();
      };
      worker.on('message', (msg: 'ready' | ParsedChunk | { failed: string }) => {
        if (msg === 'ready') {
          w.ready = true;
          w.onReady?.();
        } else if ('failed' in msg) die();
        else w.onMessage?.(msg);
      });
      worker.on('error', die);
      worker.on('exit', die);
      this.workers.push(w);
    }
  }

  private stop(): void {
    if (this.workers.length === 0) return;
    for (const w of this.workers) {
      w.worker.removeAllListeners();
      w.worker.on('error', () => undefined);
      void w.worker.terminate();
    }
    this.workers = [];
  }

  private async shared(files: readonly FileToParse[]): Promise<ParsedFile[]> {
    const batch = ++this.batches;
    const out: Array<ParsedFile | undefined> = new Array(files.length);
    const chunks: number[] = [];
    for (let at = 0; at < files.length; at += CHUNK) chunks.push(at);
    let next = 0;
    /** chunk start -> the worker parsing it */
    const held = new Map<number, PoolWorker>();
    // A chunk is whole once its first file is: both ways of parsing it fill it in one go.
    const finished = (at: number): boolean => out[at] !== undefined;

    const give = (w: PoolWorker): void => {
      if (w.dead) return;
      while (next < chunks.length && finished(chunks[next]!)) next++;
      if (next >= chunks.length) return;
      const at = chunks[next++]!;
      const slice = files.slice(at, at + CHUNK);
      const ends: number[] = [];
      let total = 0;
      for (const f of slice) ends.push((total += f.bytes.length));
      // one fresh buffer per chunk, transferred: a Buffer from a shared pool would clone the whole pool
      const bytes = new Uint8Array(total);
      slice.forEach((f, i) => {
        bytes.set(f.bytes, ends[i - 1] ?? 0);
      });
      held.set(at, w);
      this.chunksToWorkers++;
      w.worker.postMessage({ batch, id: at, paths: slice.map((f) => f.path), bytes, ends } satisfies ParseChunk, [bytes.buffer]);
    };
    for (const w of this.workers) {
      w.onMessage = (msg) => {
        if (msg.batch !== batch) return give(w);
        held.delete(msg.id);
        msg.parsed.forEach((p, i) => {
          out[msg.id + i] ??= p;
        });
        give(w);
      };
      w.onReady = () => give(w);
      if (w.ready) give(w);
    }

    const parseHere = (at: number): void => {
      const end = Math.min(at + CHUNK, files.length);
      for (let i = at; i < end; i++) out[i] ??= parseRouteFile(files[i]!.path, files[i]!.bytes);
    };
    const letWorkersIn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    while (next < chunks.length) {
      const at = chunks[next++]!;
      if (!finished(at)) parseHere(at);
      await letWorkersIn(); // take finished chunks and hand out more
    }
    // The queue is empty: parse what workers still hold too; the first result of a chunk wins.
    for (const at of [...held.keys()].sort((a, b) => a - b)) {
      if (!finished(at)) parseHere(at);
      await letWorkersIn();
    }
    return out as ParsedFile[];
  }
}
