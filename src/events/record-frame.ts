// The on-disk framing of the file event log. Pure: bytes in, frames out, no I/O.
//
// File  = FILE_HEADER (16 B: "RAUTALOG", u32 version, u32 reserved) then records.
// Record = 20-byte header + JSON payload, all little-endian:
//   0  u32 payload length
//   4  u32 crc32 over bytes 0..4, 8..20 and the payload (so a damaged length or seq is caught)
//   8  u48 seq, 14 u16 reserved (0)
//  16  u8  flags (bit 0: last record of its batch)
//  17  u8  kind (0 other, 1 CommitAccepted, 2 CommitRejected): markers are found without parsing JSON
//  18  u16 schema tag: nonzero when the writer checked the event against the event schema
//          with this fingerprint before writing it (event-record.ts); 0 = not known (logs
//          written before the tag existed: readers ignore these bytes, so either reads the other)
// A batch is written with one write(); only its last record carries END_OF_BATCH, so a batch
// torn by a crash is recognised and dropped whole.
import { crc32 } from 'node:zlib';

export const FILE_MAGIC = Buffer.from('RAUTALOG', 'latin1');
export const FILE_VERSION = 1;
export const FILE_HEADER_SIZE = 16;
export const RECORD_HEADER_SIZE = 20;
/** Larger than any sane event; a bigger length field is damage, not data. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
export const FLAG_END_OF_BATCH = 1;

export const KIND_OTHER = 0;
export const KIND_ACCEPTED = 1;
export const KIND_REJECTED = 2;
export type RecordKind = typeof KIND_OTHER | typeof KIND_ACCEPTED | typeof KIND_REJECTED;

export function fileHeader(): Buffer {
  const b = Buffer.alloc(FILE_HEADER_SIZE);
  FILE_MAGIC.copy(b, 0);
  b.writeUInt32LE(FILE_VERSION, 8);
  return b;
}

export type HeaderCheck = 'ok' | 'short-prefix' | 'bad-magic' | 'bad-version';

/** Checks the file header; 'short-prefix' means a creation torn before the header was whole. */
export function checkFileHeader(b: Buffer): HeaderCheck {
  const want = fileHeader();
  if (b.length < FILE_HEADER_SIZE) return want.subarray(0, b.length).equals(b) ? 'short-prefix' : 'bad-magic';
  if (!b.subarray(0, 8).equals(FILE_MAGIC)) return 'bad-magic';
  if (b.readUInt32LE(8) !== FILE_VERSION) return 'bad-version';
  return 'ok';
}

/** CRC-32 of bytes 0..4, then 8..20 and the payload, which follow each other in the record: two calls, seeded. */
function frameCrc(buf: Buffer, at: number, payloadLen: number): number {
  return crc32(buf.subarray(at + 8, at + RECORD_HEADER_SIZE + payloadLen), crc32(buf.subarray(at, at + 4)));
}

export interface OutRecord {
  seq: number;
  kind: RecordKind;
  /** the JSON text (UTF-8 encoded straight into the batch's buffer) or its bytes */
  payload: string | Buffer;
  /** schema tag (header byte 18); default 0, "not known" */
  tag?: number;
}

/** Encodes one batch into one buffer (one write()); the last record gets END_OF_BATCH. */
export function encodeBatch(records: OutRecord[]): Buffer {
  const sizes = records.map((r) => (typeof r.payload === 'string' ? Buffer.byteLength(r.payload) : r.payload.length));
  let total = 0;
  for (const n of sizes) total += RECORD_HEADER_SIZE + n;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  records.forEach((r, i) => {
    const len = sizes[i]!;
    if (len > MAX_PAYLOAD) throw new RangeError(`event seq ${r.seq} is ${len} bytes, over ${MAX_PAYLOAD}`);
    out.writeUInt32LE(len, at);
    out.writeUIntLE(r.seq, at + 8, 6);
    out.writeUInt16LE(0, at + 14);
    out.writeUInt8(i === records.length - 1 ? FLAG_END_OF_BATCH : 0, at + 16);
    out.writeUInt8(r.kind, at + 17);
    out.writeUInt16LE(r.tag ?? 0, at + 18);
    if (typeof r.payload === 'string') out.write(r.payload, at + RECORD_HEADER_SIZE, len, 'utf8');
    else r.payload.copy(out, at + RECORD_HEADER_SIZE);
    out.writeUInt32LE(frameCrc(out, at, len), at + 4);
    at += RECORD_HEADER_SIZE + len;
  });
  return out;
}

export interface FrameInfo {
  seq: number;
  /** file offset of the record header */
  offset: number;
  kind: RecordKind;
}

export type TailReason = 'incomplete-header' | 'incomplete-record' | 'crc-mismatch' | 'bad-length' | 'unterminated-batch';

export interface ScanResult {
  /** records of complete batches only, in order */
  frames: FrameInfo[];
  /** file offset just past the last complete batch */
  end: number;
  /** bytes after `end` that do not form a complete batch (a torn tail, or a write in progress) */
  tail: { offset: number; bytes: number; reason: TailReason } | null;
}

export type ScanProblem =
  | { kind: 'damaged-middle'; offset: number; expectedSeq: number; reason: TailReason; nextValidOffset: number }
  | { kind: 'seq-mismatch'; offset: number; expectedSeq: number; foundSeq: number };

export class FrameScanError extends Error {
  constructor(readonly problem: ScanProblem) {
    super(problem.kind);
  }
}

/** Whether a whole, CRC-valid record starts at `at` (used to tell a torn tail from damage in the middle). */
function validFrameAt(buf: Buffer, at: number): boolean {
  if (buf.length - at < RECORD_HEADER_SIZE + 1) return false;
  const len = buf.readUInt32LE(at);
  if (len === 0 || len > MAX_PAYLOAD || at + RECORD_HEADER_SIZE + len > buf.length) return false;
  // payloads are JSON objects: a cheap filter before the CRC
  if (buf[at + RECORD_HEADER_SIZE] !== 0x7b || (buf[at + 16] ?? 0) > FLAG_END_OF_BATCH || (buf[at + 17] ?? 0) > KIND_REJECTED) return false;
  return frameCrc(buf, at, len) === buf.readUInt32LE(at + 4);
}

/**
 * Scans `buf`, whose first byte is at file offset `base` and which starts at a record
 * boundary where `firstSeq` is expected. Returns the complete batches and describes any tail.
 * Throws FrameScanError when a damaged record is followed by a valid one (damage in the
 * middle is never skipped) or when a valid record carries an unexpected seq.
 */
export function scanFrames(buf: Buffer, base: number, firstSeq: number): ScanResult {
  const frames: FrameInfo[] = [];
  let pending: FrameInfo[] = [];
  let at = 0;
  let batchEnd = 0;
  let seq = firstSeq;
  let bad: TailReason | null = null;
  while (at < buf.length) {
    if (buf.length - at < RECORD_HEADER_SIZE) {
      bad = 'incomplete-header';
      break;
    }
    const len = buf.readUInt32LE(at);
    if (len > MAX_PAYLOAD) {
      bad = 'bad-length';
      break;
    }
    if (at + RECORD_HEADER_SIZE + len > buf.length) {
      bad = 'incomplete-record';
      break;
    }
    if (frameCrc(buf, at, len) !== buf.readUInt32LE(at + 4)) {
      bad = 'crc-mismatch';
      break;
    }
    const found = buf.readUIntLE(at + 8, 6);
    if (found !== seq) throw new FrameScanError({ kind: 'seq-mismatch', offset: base + at, expectedSeq: seq, foundSeq: found });
    const kind = buf.readUInt8(at + 17);
    pending.push({ seq, offset: base + at, kind: (kind <= KIND_REJECTED ? kind : KIND_OTHER) as RecordKind });
    at += RECORD_HEADER_SIZE + len;
    seq += 1;
    if ((buf.readUInt8(at - len - RECORD_HEADER_SIZE + 16) & FLAG_END_OF_BATCH) !== 0) {
      for (const f of pending) frames.push(f);
      pending = [];
      batchEnd = at;
    }
  }
  if (bad !== null && bad !== 'incomplete-header') {
    for (let q = at + 1; q < buf.length; q++) {
      if (validFrameAt(buf, q)) {
        throw new FrameScanError({ kind: 'damaged-middle', offset: base + at, expectedSeq: seq, reason: bad, nextValidOffset: base + q });
      }
    }
  }
  const tailBytes = buf.length - batchEnd;
  return {
    frames,
    end: base + batchEnd,
    tail: tailBytes === 0 ? null : { offset: base + batchEnd, bytes: tailBytes, reason: bad ?? 'unterminated-batch' },
  };
}

export interface DecodedRecord {
  seq: number;
  offset: number;
  kind: RecordKind;
  /** the schema tag the writer stored (0: not known) */
  tag: number;
  /** the payload is buf[start, end) of the buffer handed to decodeRecords */
  start: number;
  end: number;
}

/** Decodes records known to be whole (a range of the index), re-checking each CRC. */
export function decodeRecords(buf: Buffer, base: number, firstSeq: number, count: number): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    const ok =
      buf.length - at >= RECORD_HEADER_SIZE &&
      at + RECORD_HEADER_SIZE + buf.readUInt32LE(at) <= buf.length &&
      frameCrc(buf, at, buf.readUInt32LE(at)) === buf.readUInt32LE(at + 4) &&
      buf.readUIntLE(at + 8, 6) === seq;
    if (!ok) throw new FrameScanError({ kind: 'damaged-middle', offset: base + at, expectedSeq: seq, reason: 'crc-mismatch', nextValidOffset: -1 });
    const len = buf.readUInt32LE(at);
    const kind = buf[at + 17]!;
    out.push({
      seq,
      offset: base + at,
      kind: (kind <= KIND_REJECTED ? kind : KIND_OTHER) as RecordKind,
      tag: buf.readUInt16LE(at + 18),
      start: at + RECORD_HEADER_SIZE,
      end: at + RECORD_HEADER_SIZE + len,
    });
    at += RECORD_HEADER_SIZE + len;
  }
  return out;
}
