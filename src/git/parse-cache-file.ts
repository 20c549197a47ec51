// The watcher's parse cache on disk: every route file of the last accepted tree as
// (path, blob oid, ParsedFile), so a restarted watcher parses only the files whose blob
// it has not seen, instead of every file of the repository (10,000 files: seconds of
// YAML). Derived data, next to the event log; never trusted blindly:
//
// - Keyed by what a ParsedFile derives from: the file's blob oid and path (the
//   ParseCache key), and the parsing rules themselves: `rules` is a SHA-256 of the
//   source of src/routes/ and the versions of yaml and zod, so a rauta whose rules
//   differ by one character ignores the file and parses afresh.
// - The loaded tree decides which files exist: entries only answer "what does this
//   blob at this path parse to", so a file left by an older tree cannot add, hide or
//   change anything (a stale entry is simply never asked for).
// - Framing: one header line (format, version, rules, root, tree, count, size and a
//   SHA-256 of the body), then the body. Any mismatch, a torn or foreign file, JSON that
//   does not parse, or an entry that fails the schema of a valid route file (zod: Route,
//   Listener, no issues, every source naming its own file) makes the whole file a miss:
//   the watcher parses from Git and writes a new one. The whole set is validated again
//   on load (validateRouteSet), as after a parse.
// - Written whole to a temporary file and renamed over the old one, without fsync: a
//   crash leaves the old file, or a torn new one that fails its checks.
import { createHash } from 'node:crypto';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Listener, Route } from '../routes/route-model.js';
import type { ParsedFile } from './route-rules.js';

const FORMAT = 'rauta-parse-cache';
const VERSION = 1;

/** One cached file: its path in the repository, its blob oid, and what it parses to. */
export type CacheEntry = [path: string, oid: string, parsed: ParsedFile];

const Header = z.object({
  format: z.literal(FORMAT),
  version: z.literal(VERSION),
  rules: z.string(),
  root: z.string(),
  tree: z.string().regex(/^[0-9a-f]{40}$/),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** A file of an accepted tree parses without issues: only those are ever written. */
const Entry = z.tuple([
  z.string().min(1),
  z.string().regex(/^[0-9a-f]{40}$/),
  z.strictObject({ file: z.string(), routes: z.array(Route), listeners: z.array(Listener), issues: z.array(z.never()).length(0) }),
]);

let rulesDigest: string | null = null;

/** Version of an installed package, from the package.json above its entry point. */
function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve(name));
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? '?';
    } catch {
      /* not here: go up */
    }
    dir = path.dirname(dir);
  }
  return '?';
}

/**
 * SHA-256 of everything a ParsedFile is derived from besides the file: the source files
 * of src/routes/ (parsing, schema, messages) and the yaml and zod versions. Read once.
 */
export function parseRulesDigest(): string {
  if (rulesDigest) return rulesDigest;
  const hash = createHash('sha256').update(`${FORMAT} ${VERSION}\0`);
  const dir = fileURLToPath(new URL('../routes/', import.meta.url));
  for (const name of readdirSync(dir).sort()) {
    if (!/\.(ts|js|mjs|cjs)$/.test(name)) continue;
    hash
      .update(`${name}\0`)
      .update(readFileSync(path.join(dir, name)))
      .update('\0');
  }
  for (const pkg of ['yaml', 'zod']) hash.update(`${pkg}@${packageVersion(pkg)}\0`);
  return (rulesDigest = hash.digest('hex'));
}

/** What a load found: the entries, or why the file is not used (for a log line). */
export type CacheLoad = { ok: true; tree: string; entries: CacheEntry[] } | { ok: false; why: string };

/** Reads and checks the cache file for `root`; any doubt is a miss, never an error. */
export async function loadParseCache(file: string, root: string): Promise<CacheLoad> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no cache file yet' : `unreadable: ${(err as Error).message}` };
  }
  const nl = bytes.indexOf(0x0a);
  if (nl < 0) return { ok: false, why: 'no header line' };
  let header: z.infer<typeof Header>;
  try {
    const h = Header.safeParse(JSON.parse(bytes.toString('utf8', 0, nl)));
    if (!h.success) return { ok: false, why: 'not a parse cache of this format and version' };
    header = h.data;
  } catch {
    return { ok: false, why: 'the header is not JSON' };
  }
  if (header.rules !== parseRulesDigest()) return { ok: false, why: 'written with other parsing rules (another rauta version)' };
  if (header.root !== root) return { ok: false, why: `written for root ${JSON.stringify(header.root)}` };
  const body = bytes.subarray(nl + 1);
  if (body.length !== header.bytes) return { ok: false, why: `the body has ${body.length} bytes, the header says ${header.bytes} (torn)` };
  if (createHash('sha256').update(body).digest('hex') !== header.sha256) return { ok: false, why: 'the body does not match its checksum' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, why: 'the body is not JSON' };
  }
  if (!Array.isArray(raw) || raw.length !== header.files) return { ok: false, why: 'the body does not hold the files the header counts' };
  const entries: CacheEntry[] = [];
  for (const item of raw) {
    const e = Entry.safeParse(item);
    if (!e.success) return { ok: false, why: `an entry fails its schema (${e.error.issues[0]?.path.join('.') ?? '?'})` };
    const [file, oid, parsed] = e.data;
    const own = parsed.file === file && [...parsed.routes, ...parsed.listeners].every((d) => d.source.file === file);
    if (!own) return { ok: false, why: `the entry for ${file} names another file` };
    entries.push([file, oid, parsed as ParsedFile]);
  }
  return { ok: true, tree: header.tree, entries };
}

/** The whole file for `entries` (only files without issues: an accepted tree has no others). */
export function encodeParseCache(root: string, tree: string, entries: Iterable<CacheEntry>): Buffer {
  const list: Array<[string, string, Pick<ParsedFile, 'file' | 'routes' | 'listeners' | 'issues'>]> = [];
  for (const [file, oid, p] of entries) {
    if (p.issues.length === 0 && !p.invalid?.length) list.push([file, oid, { file: p.file, routes: p.routes, listeners: p.listeners, issues: [] }]);
  }
  const body = Buffer.from(JSON.stringify(list));
  const header = {
    format: FORMAT,
    version: VERSION,
    rules: parseRulesDigest(),
    root,
    tree,
    files: list.length,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
  } satisfies z.infer<typeof Header>;
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
}

let writes = 0;

/** Writes a file made by encodeParseCache: to a temporary file, renamed over `file`. */
export async function writeParseCache(file: string, bytes: Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${++writes}`;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
