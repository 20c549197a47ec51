// Desired-state snapshots, so a restarting agent folds only the log's tail.
// The one I/O module of src/state: write atomically (temp file in the same
// directory, fsync, rename, fsync the directory), and never accept a snapshot
// that does not validate; a corrupt one is an error naming the file.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { RautaError } from '../errors.js';
import { DesiredStateSchema, type DesiredState } from './desired-state.js';

const FORMAT = 'rauta-desired-state';
const VERSION = 1;

const SnapshotFile = z.object({
  format: z.literal(FORMAT),
  version: z.literal(VERSION),
  state: DesiredStateSchema,
});

export async function writeSnapshot(path: string, state: DesiredState): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const body = JSON.stringify({ format: FORMAT, version: VERSION, state });
  try {
    const file = await open(tmp, 'wx', 0o644);
    try {
      await file.writeFile(body, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new RautaError('RAUTA_ERR_STATE_SNAPSHOT', `cannot write snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  // The rename is durable only once the directory entry is on disk.
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** The snapshot at `path`, or null when there is none. A corrupt snapshot throws RAUTA_ERR_STATE_SNAPSHOT. */
export async function readSnapshot(path: string): Promise<DesiredState | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RautaError('RAUTA_ERR_STATE_SNAPSHOT', `cannot read snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  const fix = 'delete it to rebuild desired state from the event log';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RautaError('RAUTA_ERR_STATE_SNAPSHOT', `snapshot ${path} is not valid JSON (${(err as Error).message}); ${fix}`, { cause: err });
  }
  const parsed = SnapshotFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new RautaError('RAUTA_ERR_STATE_SNAPSHOT', `snapshot ${path} is corrupt at ${where}: ${issue?.message ?? 'invalid'}; ${fix}`, {
      cause: parsed.error,
    });
  }
  return parsed.data.state as DesiredState;
}
