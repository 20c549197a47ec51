// Reads Git objects straight from a repository's files: loose objects and packs
// (index version 2), inflated with Node's zlib, deltas resolved with their bases
// kept in a bounded cache, every object returned checked against its SHA-1.
//
// Why not isomorphic-git's readBlob for this: per object it stats the loose path,
// lists objects/pack, inflates with pako (JavaScript) and resolves a delta chain
// from its start unless the base happens to be cached; packs written by `git gc` or
// `git fast-import` chain blobs up to 50 deep. A watcher loading 10,000 files spent
// 6.5 s there (0.65 ms a blob); here each object of a chain is inflated once.
//
// Anything this reader does not handle (index version 1, an object it cannot find:
// alternates, a pack that appeared meanwhile and vanished again) returns null and
// GitStore asks isomorphic-git instead. Damage is an error, never a guess: a wrong
// SHA-1, a delta that does not fit its base, an inflated size the header does not say.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { RautaError } from '../errors.js';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export interface RawObject {
  type: ObjectType;
  data: Buffer;
}

/** Pack object type codes (gitformat-pack). */
const PACK_TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;

/** Pack bytes read at a time: neighbouring small objects come from one read. */
const BLOCK = 256 * 1024;

/** Resolved pack objects kept for later deltas, by bytes. Enough for the bases of a large load. */
const BASE_CACHE_BYTES = 64 * 1024 * 1024;

function damaged(what: string): RautaError {
  return new RautaError('RAUTA_ERR_GIT', `git: ${what}; the repository is damaged (run \`git fsck\`), or re-clone it`);
}

/**
 * Index (.idx, version 2) and data (.pack) of one pack, read with positioned reads. The
 * pack is opened for each read (of a block of BLOCK bytes, so rarely) and closed again:
 * GitStores are made and dropped freely and have no close(), so no descriptor is held.
 */
class Pack {
  private readonly count: number;
  /** object offsets in pack order, then the end of the last object, for the length of each */
  private readonly sortedOffsets: Float64Array;

  private constructor(
    readonly packPath: string,
    private readonly idx: Buffer,
    private readonly packEnd: number,
  ) {
    this.count = idx.readUInt32BE(8 + 255 * 4);
    const offsets = new Float64Array(this.count + 1);
    for (let i = 0; i < this.count; i++) offsets[i] = this.offsetAt(i);
    offsets[this.count] = packEnd;
    offsets.sort();
    this.sortedOffsets = offsets;
  }

  /** null when the index is not version 2 (isomorphic-git reads those). */
  static open(idxPath: string): Pack | null {
    const idx = readFileSync(idxPath);
    if (idx.length < 8 + 256 * 4 + 40 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return null;
    const packPath = idxPath.replace(/\.idx$/, '.pack');
    const fd = openSync(packPath, 'r');
    try {
      const size = fstatSync(fd).size;
      const count = idx.readUInt32BE(8 + 255 * 4);
      if (idx.length < 8 + 256 * 4 + count * 28 + 40 || size < 32) throw damaged(`pack index ${idxPath} is truncated`);
      const header = Buffer.alloc(12);
      readSync(fd, header, 0, 12, 0);
      if (header.toString('latin1', 0, 4) !== 'PACK' || header.readUInt32BE(8) !== count) throw damaged(`pack ${packPath} does not match its index`);
      return new Pack(packPath, idx, size - 20);
    } finally {
      closeSync(fd);
    }
  }

  /** Position of `oid` (20 bytes) in the index, or -1. */
  find(oid: Buffer): number {
    const first = oid[0]!;
    let lo = first === 0 ? 0 : this.idx.readUInt32BE(8 + (first - 1) * 4);
    let hi = this.idx.readUInt32BE(8 + first * 4);
    const names = 8 + 256 * 4;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.idx.compare(oid, 0, 20, names + mid * 20, names + mid * 20 + 20);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  offsetAt(i: number): number {
    const base = 8 + 256 * 4 + this.count * 24;
    const small = this.idx.readUInt32BE(base + i * 4);
    if ((small & 0x80000000) === 0) return small;
    const large = base + this.count * 4 + (small & 0x7fffffff) * 8;
    return this.idx.readUInt32BE(large) * 2 ** 32 + this.idx.readUInt32BE(large + 4);
  }

  /** The bytes of the object at `offset`, up to the next object (packs are contiguous). */
  entryAt(offset: number): Buffer {
    const s = this.sortedOffsets;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    const end = s[lo]!;
    if (s[lo - 1] !== offset || end <= offset) throw damaged(`pack ${this.packPath} has no object at offset ${offset}`);
    // Most objects are small and read near each other: serve them from one block read.
    const block = Math.floor(offset / BLOCK) * BLOCK;
    if (end <= block + BLOCK) return this.block(block).subarray(offset - block, end - block);
    return this.readAt(offset, end - offset);
  }

  private lastBlock = -1;
  private lastBytes: Buffer = Buffer.alloc(0);

  private block(at: number): Buffer {
    if (at !== this.lastBlock) {
      this.lastBytes = this.readAt(at, Math.min(BLOCK, this.packEnd + 20 - at));
      this.lastBlock = at;
    }
    return this.lastBytes;
  }

  private readAt(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    // a pack removed by a repack since the index was read: the caller reloads the pack list
    const fd = openSync(this.packPath, 'r');
    try {
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, offset + got);
        if (n === 0) throw damaged(`pack ${this.packPath} ends inside the object at offset ${offset}`);
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }
}

/** A parsed pack entry header. */
interface Entry {
  code: number;
  size: number;
  /** where the zlib stream starts in the entry */
  dataAt: number;
  /** OFS_DELTA: the base's offset; REF_DELTA: the base's oid */
  baseOffset?: number;
  baseOid?: string;
}

function parseEntry(buf: Buffer, offset: number, packPath: string): Entry {
  let at = 0;
  let c = buf[at++]!;
  const code = (c >> 4) & 7;
  let size = c & 15;
  let shift = 4;
  while (c & 0x80) {
    c = buf[at++]!;
    size += (c & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (code === OFS_DELTA) {
    c = buf[at++]!;
    let back = c & 0x7f;
    while (c & 0x80) {
      c = buf[at++]!;
      back = (back + 1) * 128 + (c & 0x7f);
    }
    if (back <= 0 || back > offset) throw damaged(`pack ${packPath}: the delta at offset ${offset} points outside the pack`);
    return { code, size, dataAt: at, baseOffset: offset - back };
  }
  if (code === REF_DELTA) return { code, size, dataAt: at + 20, baseOid: buf.toString('hex', at, at + 20) };
  if (!PACK_TYPES[code]) throw damaged(`pack ${packPath}: unknown object type ${code} at offset ${offset}`);
  return { code, size, dataAt: at };
}

function inflate(buf: Buffer, size: number, what: string): Buffer {
  let out: Buffer;
  try {
    out = inflateSync(buf);
  } catch (err) {
    throw damaged(`${what} does not inflate (${(err as Error).message})`);
  }
  if (out.length !== size) throw damaged(`${what} inflates to ${out.length} bytes, its header says ${size}`);
  return out;
}

function varint(delta: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let c: number;
  do {
    if (at >= delta.length) throw new RangeError('truncated size');
    c = delta[at++]!;
    value += (c & 0x7f) * 2 ** shift;
    shift += 7;
  } while (c & 0x80);
  return [value, at];
}

/** Git's delta format: the base's size, the result's size, then copy and insert instructions. */
function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let [baseSize, at] = varint(delta, 0);
  if (baseSize !== base.length) throw new RangeError(`the delta is for a base of ${baseSize} bytes, the base has ${base.length}`);
  let size: number;
  [size, at] = varint(delta, at);
  const out = Buffer.allocUnsafe(size);
  let to = 0;
  while (at < delta.length) {
    const op = delta[at++]!;
    if (op & 0x80) {
      let from = 0;
      let n = 0;
      for (let bit = 0; bit < 4; bit++) if (op & (1 << bit)) from += delta[at++]! * 2 ** (8 * bit);
      for (let bit = 0; bit < 3; bit++) if (op & (16 << bit)) n += delta[at++]! * 2 ** (8 * bit);
      if (n === 0) n = 0x10000;
      if (from + n > base.length || to + n > size || at > delta.length) throw new RangeError('a copy outside the base or the result');
      base.copy(out, to, from, from + n);
      to += n;
    } else if (op !== 0) {
      if (at + op > delta.length || to + op > size) throw new RangeError('an insert past the end');
      delta.copy(out, to, at, at + op);
      at += op;
      to += op;
    } else {
      throw new RangeError('instruction 0 is reserved');
    }
  }
  if (to !== size) throw new RangeError(`the result has ${to} bytes, the delta says ${size}`);
  return out;
}

/** Objects of one repository (its `objects/` folder), read synchronously. */
export class ObjectReader {
  private packs: Pack[] | null = null;
  /** resolved pack objects by pack and offset, oldest first */
  private readonly bases = new Map<Pack, Map<number, RawObject>>();
  private baseBytes = 0;

  constructor(readonly gitdir: string) {}

  /** The object, checked against its oid; null when this reader cannot find it. */
  read(oid: string): RawObject | null {
    if (!/^[0-9a-f]{40}$/.test(oid)) return null;
    const raw = Buffer.from(oid, 'hex');
    let found = this.fromPacks(raw, oid) ?? this.loose(oid);
    if (!found) {
      this.reloadPacks(); // a fetch or a repack since the last look
      found = this.fromPacks(raw, oid);
    }
    if (!found) return null;
    const sha = createHash('sha1').update(`${found.type} ${found.data.length}\0`).update(found.data).digest('hex');
    if (sha !== oid) throw damaged(`object ${oid} reads back as ${sha}`);
    return found;
  }

  /** Forgets the packs and cached objects (the next read lists the packs again). */
  close(): void {
    this.reloadPacks();
  }

  private loadPacks(): Pack[] {
    if (this.packs) return this.packs;
    const dir = path.join(this.gitdir, 'objects', 'pack');
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.idx'));
    } catch {
      /* no packs */
    }
    const packs: Pack[] = [];
    for (const name of names.sort()) {
      try {
        const p = Pack.open(path.join(dir, name));
        if (p) packs.push(p);
      } catch (err) {
        if (err instanceof RautaError) throw err;
        // removed between readdir and open (a repack): the next reload sees the new one
      }
    }
    this.packs = packs;
    return packs;
  }

  private reloadPacks(): void {
    this.packs = null;
    this.bases.clear();
    this.baseBytes = 0;
  }

  private fromPacks(raw: Buffer, oid: string): RawObject | null {
    for (const pack of this.loadPacks()) {
      const i = pack.find(raw);
      if (i < 0) continue;
      try {
        return this.resolve(pack, pack.offsetAt(i), oid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // repacked meanwhile: the caller reloads
        throw err;
      }
    }
    return null;
  }

  private loose(oid: string): RawObject | null {
    let file: Buffer;
    try {
      file = readFileSync(path.join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2)));
    } catch {
      return null;
    }
    let all: Buffer;
    try {
      all = inflateSync(file);
    } catch (err) {
      throw damaged(`loose object ${oid} does not inflate (${(err as Error).message})`);
    }
    const nul = all.indexOf(0);
    const m = /^(commit|tree|blob|tag) (\d+)$/.exec(all.toString('latin1', 0, Math.max(nul, 0)));
    if (!m || Number(m[2]) !== all.length - nul - 1) throw damaged(`loose object ${oid} has no valid header`);
    return { type: m[1] as ObjectType, data: all.subarray(nul + 1) };
  }

  /**
   * The object at `offset` of `pack`: follows the delta chain down to a cached or whole
   * object, then applies the deltas back up, caching each result (later objects of the
   * same chains start from there).
   */
  private resolve(pack: Pack, offset: number, oid: string): RawObject {
    const chain: Array<{ offset: number; delta: Buffer }> = [];
    let at = offset;
    let base: RawObject | null = null;
    for (let depth = 0; ; depth++) {
      if (depth > 10_000) throw damaged(`pack ${pack.packPath}: a delta chain from offset ${offset} does not end`);
      const cached = this.bases.get(pack)?.get(at);
      if (cached) {
        base = cached;
        break;
      }
      const buf = pack.entryAt(at);
      const e = parseEntry(buf, at, pack.packPath);
      const data = inflate(buf.subarray(e.dataAt), e.size, `pack ${pack.packPath}: the object at offset ${at}`);
      if (e.baseOffset !== undefined) {
        chain.push({ offset: at, delta: data });
        at = e.baseOffset;
      } else if (e.baseOid !== undefined) {
        chain.push({ offset: at, delta: data });
        const outside = this.read(e.baseOid);
        if (!outside) throw damaged(`pack ${pack.packPath}: the base ${e.baseOid} of the delta at offset ${at} is missing`);
        base = outside;
        break;
      } else {
        base = { type: PACK_TYPES[e.code]!, data };
        this.remember(pack, at, base);
        break;
      }
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      let data: Buffer;
      try {
        data = applyDelta(base.data, chain[i]!.delta);
      } catch (err) {
        throw damaged(`pack ${pack.packPath}: the delta at offset ${chain[i]!.offset} (for ${oid}) does not fit its base: ${(err as Error).message}`);
      }
      base = { type: base.type, data };
      this.remember(pack, chain[i]!.offset, base);
    }
    return base;
  }

  private remember(pack: Pack, offset: number, obj: RawObject): void {
    if (obj.data.length > BASE_CACHE_BYTES / 16) return;
    let inPack = this.bases.get(pack);
    if (!inPack) this.bases.set(pack, (inPack = new Map()));
    inPack.set(offset, obj);
    this.baseBytes += obj.data.length;
    // over budget: drop the oldest, pack by pack
    for (const [p, objects] of this.bases) {
      for (const [k, v] of objects) {
        if (this.baseBytes <= BASE_CACHE_BYTES) return;
        objects.delete(k);
        this.baseBytes -= v.data.length;
      }
      if (objects.size === 0) this.bases.delete(p);
    }
  }
}

const TREE_MODES: Record<string, TreeEntryType> = { '040000': 'tree', '100644': 'blob', '100755': 'blob', '120000': 'blob', '160000': 'commit' };
type TreeEntryType = 'tree' | 'blob' | 'commit';

/**
 * A tree object's entries as isomorphic-git's readTree gives them (GitStore used it
 * before; test/git-object-reader.test.ts compares the two): mode '40000' spelled
 * '040000', the five modes Git writes and no other, names refused as isomorphic-git
 * refuses them, sorted by name as JavaScript strings compare.
 */
export function parseTree(data: Buffer, oid: string): Array<{ mode: string; path: string; oid: string; type: TreeEntryType }> {
  const entries: Array<{ mode: string; path: string; oid: string; type: TreeEntryType }> = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(32, at);
    const nul = data.indexOf(0, at);
    if (space < 0 || nul < 0 || space > nul || nul + 21 > data.length) throw damaged(`tree ${oid} is malformed at byte ${at}`);
    let mode = data.toString('latin1', at, space);
    if (mode === '40000') mode = '040000';
    const type = TREE_MODES[mode];
    if (!type) throw damaged(`tree ${oid} has an entry with mode ${JSON.stringify(mode)}, which Git does not write`);
    const name = data.toString('utf8', space + 1, nul);
    assertSafeEntryName(name, oid);
    entries.push({ mode, path: name, oid: data.toString('hex', nul + 1, nul + 21), type });
    at = nul + 21;
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Names no checkout may write (git's verify_path, as isomorphic-git applies it to every tree it reads). */
function assertSafeEntryName(name: string, tree: string): void {
  const hfs = name.replace(/[\u200C-\u200F\u202A-\u202E\u206A-\u206F\uFEFF]/g, '');
  const ntfs = hfs.split(':')[0]!;
  const lower = ntfs.toLowerCase();
  let end = lower.length;
  while (end > 0 && (lower.charCodeAt(end - 1) === 46 || lower.charCodeAt(end - 1) === 32)) end--; // Win32 drops trailing dots and spaces
  const normalized = lower.slice(0, end);
  if (name.includes('\\') || name.includes('/') || (normalized === '' && ntfs !== '') || normalized === '.git' || /^\.?git~[1-9]$/.test(normalized)) {
    throw new RautaError(
      'RAUTA_ERR_GIT',
      `git: tree ${tree} has an entry named ${JSON.stringify(name)}, which is not a safe file name; remove it from the repository`,
    );
  }
}
