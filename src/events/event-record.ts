// Turning stored bytes into validated events and events into stored bytes, shared by both
// log backends. A record that is not a valid RautaEvent is an error naming the seq, where it
// was stored and the offending field: the log never skips what it cannot read.
import { RautaError } from '../errors.js';
import { RautaEvent, RautaEventBody } from '../routes/route-events.js';
import { KIND_ACCEPTED, KIND_OTHER, KIND_REJECTED, type RecordKind } from './record-frame.js';

export function recordKind(body: RautaEventBody): RecordKind {
  if (body.type === 'CommitAccepted') return KIND_ACCEPTED;
  if (body.type === 'CommitRejected') return KIND_REJECTED;
  return KIND_OTHER;
}

function issueText(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const field = first.path.length ? first.path.map(String).join('.') : '(record)';
  return `field "${field}": ${first.message}${issues.length > 1 ? ` (+${issues.length - 1} more)` : ''}`;
}

/** Checks a batch before anything is written: invalid input never reaches the log. */
export function validateBatch(batch: readonly RautaEventBody[], where: string): RautaEventBody[] {
  return batch.map((body, i) => {
    const r = RautaEventBody.safeParse(body);
    if (!r.success) {
      throw new RautaError('RAUTA_ERR_LOG_INVALID_EVENT', `${where}: event ${i} of the batch is not a valid event, ${issueText(r.error.issues)}; nothing was appended`);
    }
    return r.data;
  });
}

/**
 * What to do about a corrupt log: the rebuild that works on a log that cannot be read is
 * the one that replaces it whole (`--replace`); a plain `log rebuild` reads the log first.
 */
export function rebuildHint(log: string, prefix?: string): string {
  return `rebuild it from Git: rauta log rebuild --repo REPO --log ${log}${prefix !== undefined ? ` --prefix ${prefix}` : ''} --replace (REPO: the routes repository the watcher follows; stop the watcher first)`;
}

/** Parses and validates one stored event; `where` says where it was stored (file offset, stream id); `hint` what to do when it is corrupt. */
export function parseStoredEvent(json: string, seq: number, where: string, hint: string): RautaEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new RautaError('RAUTA_ERR_LOG_CORRUPT', `${where}: event seq ${seq} is not valid JSON (${(err as Error).message}); ${hint}`, { cause: err });
  }
  const r = RautaEvent.safeParse(raw);
  if (!r.success) {
    throw new RautaError('RAUTA_ERR_LOG_CORRUPT', `${where}: event seq ${seq} is not a valid event, ${issueText(r.error.issues)}; ${hint}`);
  }
  if (r.data.seq !== seq) {
    throw new RautaError('RAUTA_ERR_LOG_CORRUPT', `${where}: event stored as seq ${seq} says field "seq" is ${r.data.seq}; ${hint}`);
  }
  return r.data as RautaEvent;
}
