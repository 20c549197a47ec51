// One route file (bytes) -> its routes, listeners and issues. Pure: no I/O,
// never throws on bad input, so the Git watcher can cache the result per blob.
// Safe on hostile input: size and document-count limits, strict UTF-8,
// bounded nesting and alias expansion, duplicate keys and unknown fields rejected.
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from './issues.js';
import { HttpMethod, PathType, listenerId, routeId, type Listener, type Route, type SourceRef } from './route-model.js';
import {
  DOCUMENT_KINDS,
  DOCUMENT_SCHEMAS,
  type ListenerDocument,
  type RoutingRuleDocument,
  ListenerAddress,
  ListenerPort,
  MetadataName,
  HostValue,
  PathValue,
  fieldsAt,
  toListener,
  toRoute,
  type DocumentKind,
} from './route-schema.js';
import { MAX_FILE_BYTES, MAX_NESTING, decodeUtf8, excessiveNesting, textPosition } from './safe-text.js';
import { closest } from './did-you-mean.js';
import { compareIssues } from './issues.js';
import { locate } from './yaml-locate.js';
import { plainDocuments } from './plain-yaml.js';
import { clip, MAX_MESSAGE_CHARS, MAX_PATH_CHARS, quote } from './printable.js';

export interface ParsedFile {
  file: string;
  routes: Route[];
  listeners: Listener[];
  issues: ValidationIssue[];
  /**
   * Identities of documents that failed validation (as far as their name,
   * method and path or address and port are valid), so validateRouteSet can
   * report a duplicate in the same run as the document's own errors.
   */
  invalid?: Claim[];
}

/** What an invalid document still claims: its name, and its route or VIP:port when those parts are valid. */
export interface Claim {
  kind: DocumentKind;
  name?: string;
  /** routeId or listenerId, when the parts it is made of are valid */
  id?: string;
  source: { file: string; line: number };
}

export const MAX_DOCUMENTS = 1000;
/** yaml's toJS budget for alias dereferences (billion-laughs guard). */
export const MAX_ALIAS_COUNT = 100;

/** A route file is a *.yaml or *.yml file outside hidden folders (.git, .github, ...). */
export function isRouteFile(path: string): boolean {
  if (!/\.ya?ml$/i.test(path)) return false;
  return !path.split(/[\\/]/).some((seg) => seg.startsWith('.') && seg !== '.' && seg !== '..');
}

/** The ParsedFile for a file too large to read: loaders call this instead of reading it. */
export function oversizedFile(file: string, size: number): ParsedFile {
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return issuesOnly(file, [
    { file, line: 1, col: 1, message: `file is ${mib(size)}; route files may be at most ${mib(MAX_FILE_BYTES)}: split it into several files` },
  ]);
}

function issuesOnly(file: string, issues: ValidationIssue[]): ParsedFile {
  return { file, routes: [], listeners: [], issues };
}

export function parseRouteFile(file: string, bytes: Uint8Array, options: ParseOptions = {}): ParsedFile {
  try {
    return parse(file, bytes, options.plainFastPath ?? true);
  } catch (err) {
    // Never reached by any input we know of (the fuzz tests look for it); kept
    // so that a parser bug rejects one file instead of crashing the watcher.
    return issuesOnly(file, [{ file, line: 1, col: 1, message: `internal error while parsing (please report): ${String(err)}` }]);
  }
}

export interface ParseOptions {
  /** read plain files with plain-yaml.ts first (default); false: always `yaml` (tests compare the two) */
  plainFastPath?: boolean;
}

function parse(file: string, bytes: Uint8Array, plainFastPath: boolean): ParsedFile {
  if (file.length > MAX_PATH_CHARS) {
    const message = `the file's path is ${file.length} characters long; route file paths may be at most ${MAX_PATH_CHARS}`;
    return issuesOnly(file, [{ file: clip(file, MAX_PATH_CHARS), line: 1, col: 1, message }]);
  }
  if (bytes.length > MAX_FILE_BYTES) return oversizedFile(file, bytes.length);
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) {
    const { line, col } = bytePosition(bytes, decoded.offset);
    return issuesOnly(file, [{ file, line, col, message: decoded.message }]);
  }
  const text = decoded.text;
  const lineCounter = new LineCounter();
  const tooDeep = excessiveNesting(text);
  if (tooDeep >= 0) {
    const { line, col } = textPosition(text, tooDeep);
    return issuesOnly(file, [{ file, line, col, message: `nesting deeper than ${MAX_NESTING} levels; route documents need 5` }]);
  }
  const plain = plainFastPath ? fromPlainDocuments(file, text) : null;
  if (plain) return plain;

  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const result: ParsedFile = { file, routes: [], listeners: [], issues: [] };
  const at = (offset: number, message: string): void => {
    const { line, col } = lineCounter.linePos(offset);
    result.issues.push({ file, line, col, message: clip(message, MAX_MESSAGE_CHARS) });
  };
  if (docs.length > MAX_DOCUMENTS) {
    at(docs[MAX_DOCUMENTS]?.range[0] ?? 0, `more than ${MAX_DOCUMENTS} documents in one file; split it into several files`);
    return result;
  }
  for (const doc of docs) parseDocument(doc, text, at, lineCounter, result);
  result.issues.sort(compareIssues);
  return result;
}

type At = (offset: number, message: string) => void;

/**
 * A file of valid documents in plain YAML, read without `yaml`: what parseDocument
 * gives when a document has no errors. Null when the text is not plain or any document
 * has an issue: `yaml` then reads it again, for the issues' positions.
 */
function fromPlainDocuments(file: string, text: string): ParsedFile | null {
  const docs = plainDocuments(text, MAX_DOCUMENTS);
  if (docs === null) return null;
  const result: ParsedFile = { file, routes: [], listeners: [], issues: [] };
  for (const { data, line } of docs) {
    const kind = data.kind;
    if (typeof kind !== 'string' || !(DOCUMENT_KINDS as string[]).includes(kind)) return null;
    const parsed = DOCUMENT_SCHEMAS[kind as DocumentKind].safeParse(data, { error: genericMessage });
    if (!parsed.success) return null;
    addDocument(result, kind as DocumentKind, parsed.data, { file, line });
  }
  return result;
}

/** A document that passed its schema, as the route or listener it defines. */
function addDocument(result: ParsedFile, kind: DocumentKind, data: unknown, source: SourceRef): void {
  if (kind === 'RoutingRule') result.routes.push(toRoute(data as z.output<typeof RoutingRuleDocument>, source));
  else result.listeners.push(toListener(data as z.output<typeof ListenerDocument>, source));
}

function parseDocument(doc: Document, text: string, at: At, lineCounter: LineCounter, result: ParsedFile): void {
  for (const e of [...doc.errors, ...doc.warnings]) at(e.pos[0], yamlMessage(e.code, e.message, text.slice(e.pos[0])));
  if (doc.errors.length > 0 || doc.contents === null) return; // empty documents (only comments) are fine
  const docStart = doc.contents.range?.[0] ?? doc.range?.[0] ?? 0;

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    at(
      docStart,
      /Excessive alias count/.test(msg)
        ? `YAML aliases expand too much (more than ${MAX_ALIAS_COUNT} dereferences); write the repeated values out`
        : `YAML: ${msg}`,
    );
    return;
  }
  if (data === null) return; // an empty document between two ---
  if (typeof data !== 'object' || Array.isArray(data)) {
    at(docStart, `a route document must be a mapping with apiVersion, kind, metadata and spec; got ${describe(data)}`);
    return;
  }
  const kind = (data as Record<string, unknown>).kind;
  if (kind === undefined) {
    at(docStart, `kind: required field is missing; use one of ${DOCUMENT_KINDS.join(', ')}`);
    return;
  }
  if (typeof kind !== 'string' || !(DOCUMENT_KINDS as string[]).includes(kind)) {
    const hint = typeof kind === 'string' ? closest(kind, DOCUMENT_KINDS) : null;
    at(
      locate(doc, ['kind']),
      `kind: unknown kind ${typeof kind === 'string' ? quote(kind) : describe(kind)}${hint ? `; did you mean ${hint}?` : ''} (route files hold ${DOCUMENT_KINDS.join(' and ')} documents)`,
    );
    return;
  }
  const docKind = kind as DocumentKind;
  const parsed = DOCUMENT_SCHEMAS[docKind].safeParse(data, { error: genericMessage });
  // Route.source.line: the document's first content line (its apiVersion: usually).
  const source = { file: result.file, line: lineCounter.linePos(docStart).line };
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportSchemaIssue(doc, docKind, issue, at);
    (result.invalid ??= []).push(claimOf(docKind, data as Record<string, unknown>, source));
    return;
  }
  addDocument(result, docKind, parsed.data, source);
}

function reportSchemaIssue(doc: Document, kind: DocumentKind, issue: z.core.$ZodIssue, at: At): void {
  if (issue.code === 'unrecognized_keys') {
    const allowed = fieldsAt(kind, issue.path);
    for (const key of issue.keys) {
      const hint = closest(key, allowed);
      const help = hint ? `did you mean "${hint}"?` : `allowed here: ${allowed.join(', ')}`;
      at(locate(doc, [...issue.path, key], { key: true }), `${fieldPath([...issue.path, key])}: unknown field; ${help}`);
    }
    return;
  }
  at(locate(doc, issue.path), `${fieldPath(issue.path)}: ${issue.message}`);
}

function claimOf(kind: DocumentKind, data: Record<string, unknown>, source: Claim['source']): Claim {
  const get = (...path: string[]): unknown =>
    path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined), data);
  const ok = <T>(schema: z.ZodType<T>, v: unknown): T | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const claim: Claim = { kind, source };
  const name = ok(MetadataName, get('metadata', 'name'));
  if (name !== undefined) claim.name = name;
  if (kind === 'RoutingRule') {
    // The rule's identity when every match field that is there is valid (absent ones have their defaults).
    const field = <T>(schema: z.ZodType<T>, ...path: string[]): { ok: boolean; value?: T } => {
      const v = get('spec', 'match', ...path);
      if (v === undefined) return { ok: true };
      const value = ok(schema, v);
      return value === undefined ? { ok: false } : { ok: true, value };
    };
    const method = field(HttpMethod, 'method');
    const host = field(HostValue, 'host');
    const type = field(PathType, 'path', 'type');
    const path = ok(PathValue, get('spec', 'match', 'path', 'value'));
    if (method.ok && host.ok && type.ok && path !== undefined) claim.id = routeId({ method: method.value, host: host.value, pathType: type.value, path });
  } else {
    const address = ok(ListenerAddress, get('spec', 'address'));
    const port = ok(ListenerPort, get('spec', 'port'));
    if (address !== undefined && port !== undefined) claim.id = listenerId({ address, port });
  }
  return claim;
}

/** "spec.backends[1].endpoint" */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      out += /^[A-Za-z_][A-Za-z0-9_-]{0,59}$/.test(s) ? (out === '' ? s : `.${s}`) : `[${quote(s)}]`;
    }
  }
  return out === '' ? '(document)' : out;
}

/** A value as an error message names it. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${quote(v)}`;
  return String(v);
}

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  object: 'a mapping',
  array: 'a list',
  boolean: 'true or false',
};

/** Messages for the issues the schema leaves to the default (types, missing fields). */
function genericMessage(iss: z.core.$ZodRawIssue): string | undefined {
  const input = iss.input;
  if (input === undefined) return 'required field is missing';
  switch (iss.code) {
    case 'invalid_type': {
      const expected = EXPECTED[iss.expected] ?? iss.expected;
      const unquote = (iss.expected === 'int' || iss.expected === 'number') && typeof input === 'string' && /^-?[0-9.]+$/.test(input);
      return `expected ${expected}, got ${describe(input)}${unquote ? '; write it without quotes' : ''}`;
    }
    case 'invalid_value':
      return `must be ${iss.values.map((v) => (typeof v === 'string' ? quote(v) : String(v))).join(' or ')}, got ${describe(input)}`;
    case 'too_small':
      return `must be at least ${String(iss.minimum)}, got ${describe(input)}`;
    case 'too_big':
      return `must be at most ${String(iss.maximum)}, got ${describe(input)}`;
    default:
      return undefined;
  }
}

// Each gets the source text from the error's position on.
const YAML_MESSAGES: Record<string, (rest: string) => string> = {
  DUPLICATE_KEY: (rest) => `duplicate key ${quote(/^[^:\n]*/.exec(rest)?.[0].trim() ?? '')}: a key may appear once per mapping`,
  TAG_RESOLVE_FAILED: () => 'YAML: unknown tag; route files use plain YAML values (no ! tags)',
};

function yamlMessage(code: string, message: string, rest: string): string {
  const specific = YAML_MESSAGES[code];
  return specific ? specific(rest.slice(0, 200)) : `YAML: ${message}`;
}

/** 1-based line and byte column of `offset` in raw bytes (used before decoding succeeded). */
function bytePosition(bytes: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}
