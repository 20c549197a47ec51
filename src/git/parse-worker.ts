// A worker thread of ParsePool (parse-pool.ts): parses route files with the same
// parseRouteFile as the calling thread. Messages in: {batch, id, paths, bytes, ends} (the
// chunk's files back to back in one transferred buffer); out: {batch, id, parsed}.
import { parentPort } from 'node:worker_threads';
import { parseRouteFile, type ParsedFile } from './route-rules.js';

export interface ParseChunk {
  batch: number;
  /** index of the chunk's first file in its batch */
  id: number;
  paths: string[];
  /** every file's bytes back to back; file i is bytes[ends[i-1] ?? 0, ends[i]) */
  bytes: Uint8Array;
  ends: number[];
}

export interface ParsedChunk {
  batch: number;
  id: number;
  parsed: ParsedFile[];
}

const port = parentPort;
if (port) {
  port.on('message', (chunk: ParseChunk) => {
    const parsed = chunk.paths.map((path, i) => parseRouteFile(path, chunk.bytes.subarray(chunk.ends[i - 1] ?? 0, chunk.ends[i])));
    port.postMessage({ batch: chunk.batch, id: chunk.id, parsed } satisfies ParsedChunk);
  });
  port.postMessage('ready');
}
