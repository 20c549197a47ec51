// Pure core: one commit → the batch of events the log records for it.
//
// The commit's (sub)folder tree is diffed against the LAST ACCEPTED tree, not
// the parent's, so a fix after a rejected commit yields the combined change.
// Only changed route files are parsed (ParsedFile cached by blob oid + path);
// then the resulting set is validated with the same rules as `rauta validate`.
// The only I/O is through the TreeReader the caller hands in.
//
// Whole-set validation costs O(change), not O(repo): the accepted state has no
// issues, so every issue of the new set involves a changed file, either on its
// own or clashing (same name or same method+path, same listener name or
// address:port) with a definition elsewhere. validateRouteSet therefore runs
// on the changed files plus the unchanged files holding their clash partners
// (found through the state's indexes), which yields exactly the issues of the
// whole set (test/git-commits.test.ts checks this against a full validation).
//
// Capacity is validity too: a commit whose resulting set needs more ROUTES,
// LISTENERS or NEXTHOPS entries than the agents' maps hold is rejected. The
// counts come from the state (one distinct-IP use count per backend address), so
// this check is O(change) as well.
//
// Nothing a commit holds may make an event too large for the log (or for a
// /healthz answer that repeats it): messages quote short prefixes of values,
// a CommitRejected keeps the first MAX_ERRORS_PER_COMMIT errors and counts the
// rest, subjects and authors are cut, and every event is measured before it is
// returned.
//
// Decisions (documented in src/git/README.md):
// - Routes are compared by id (method + path) and by spec WITHOUT `source`:
//   a route moved to another file, or to another line, with the same spec is
//   not a change and emits nothing. When a route does change, its
//   RouteUpserted carries the new source (file:line).
// - Batch order: RouteRemoved, RouteUpserted, ListenerRemoved,
//   ListenerUpserted (each sorted by id), then the commit marker last.
//   A HistoryRewritten event, when present, comes first.
import { RautaError } from '../errors.js';
import type { RautaEventBody } from '../routes/route-events.js';
import type { ValidationIssue } from '../routes/issues.js';
import { capacityIssues, type Capacity, type CapacityNeed } from '../routes/capacity.js';
import { clip, MAX_MESSAGE_CHARS, MAX_PATH_CHARS } from '../routes/printable.js';
import { listenerId, matchOf, routeId, type Listener, type Route, type SourceRef } from '../routes/route-model.js';
import { inlineParser, type BulkParser, type FileToParse } from './parse-pool.js';
import { isRouteFile, validateRouteSet, type ParsedFile } from './route-rules.js';
import { diffTrees, resolveSubtree, type FileChange } from './tree-diff.js';
import type { CommitInfo, TreeReader } from './tree-reader.js';

/** The route set at the last accepted commit. Mutated only by applyDelta. */
export interface AcceptedState {
  /** tree oid of the watched folder at the last accepted commit; null = empty */
  tree: string | null;
  /** every route file in that tree, by repo path */
  files: Map<string, ParsedFile>;
  /** the blob oid of each of those files (what a persisted parse cache is keyed by) */
  blobs: Map<string, string>;
  /** by route id (method + path) */
  routes: Map<string, Route>;
  /** by listener id (address:port) */
  listeners: Map<string, Listener>;
  /** by name: the clash index for names */
  routesByName: Map<string, Route>;
  listenersByName: Map<string, Listener>;
  /** backend IPv4 address -> routes using it: its size is the NEXTHOPS entries the set needs */
  backendIps: Map<string, number>;
}

export function emptyState(): AcceptedState {
  return {
    tree: null,
    files: new Map(),
    blobs: new Map(),
    routes: new Map(),
    listeners: new Map(),
    routesByName: new Map(),
    listenersByName: new Map(),
    backendIps: new Map(),
  };
}

/** A CommitRejected keeps this many errors; the rest are counted in `more` (rauta validate --rev shows them all). */
export const MAX_ERRORS_PER_COMMIT = 100;
/** Commit subjects and authors are cut to this many characters in events. */
export const MAX_SUBJECT_CHARS = 300;
/** No event the watcher builds is larger than this (JSON bytes); the file log's frame limit is 16 MiB. */
export const MAX_EVENT_BYTES = 1024 * 1024;

/** What accepting a commit changes in the state (null values = removed). */
export interface StateDelta {
  tree: string | null;
  files: Map<string, ParsedFile | null>;
  /** blob oid of each changed file (null: removed) */
  blobs: Map<string, string | null>;
  routes: Map<string, Route | null>;
  listeners: Map<string, Listener | null>;
}

export interface CommitResult {
  events: RautaEventBody[];
  accepted: boolean;
  /** set when accepted: apply it to the base state to get the new one */
  delta: StateDelta | null;
}

/** Parsed route files by `${blobOid}:${path}`; bounded so a long-running watcher does not grow without limit. */
export class ParseCache {
  private readonly entries = new Map<string, ParsedFile>();
  constructor(private readonly max = 50_000) {}
  get(oid: string, path: string): ParsedFile | undefined {
    return this.entries.get(`${oid}:${path}`);
  }
  set(oid: string, path: string, parsed: ParsedFile): void {
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(`${oid}:${path}`, parsed);
  }
}

export interface CommitToEventsInput {
  reader: TreeReader;
  base: AcceptedState;
  commit: CommitInfo;
  /** watched subfolder ('' = whole repo) */
  root: string;
  cache?: ParseCache;
  /** set when the commit does not descend from the last processed one: the sha of that one */
  rewrittenFrom?: string | null;
  /** validate every file of the resulting set instead of the changed files and their clash partners (tests) */
  fullValidation?: boolean;
  /** reject a commit whose set needs more map entries than this; unset: no capacity check (the core's tests, benches) */
  capacity?: Capacity;
  /** parses the changed files that are not in `cache` (default: one at a time on this thread) */
  parser?: BulkParser;
}

export async function commitToEvents(input: CommitToEventsInput): Promise<CommitResult> {
  const root = normalizeRoot(input.root);
  const tree = await resolveSubtree(input.reader, input.commit.tree, root);
  // A watched folder that is not there is a wrong --root or a renamed folder, not
  // "remove every route": reject it, naming the folder, and keep the last good set.
  if (tree === null && root !== '') {
    const message =
      `the watched folder ${JSON.stringify(root)} (--root) does not exist in this commit; nothing was applied. ` +
      'Check --root (the route files may sit at the top of the repository: --root ""), ' +
      'or, to remove every route, keep the folder (with a README) and delete the route files';
    return rejected(input, [{ file: root, line: 1, col: 1, message }]);
  }
  return folderToEvents(input, tree);
}

/** The commit's origin fields, author cut and made printable. */
function originOf(commit: CommitInfo): { commit: string; author: string; time: number } {
  return { commit: commit.oid, author: clip(commit.author, MAX_SUBJECT_CHARS), time: commit.time };
}

/** A rejection: the first MAX_ERRORS_PER_COMMIT issues (sorted as given), the rest counted. */
function rejected(input: Pick<CommitToEventsInput, 'commit' | 'rewrittenFrom'>, issues: ValidationIssue[]): CommitResult {
  const { commit } = input;
  const origin = originOf(commit);
  const head: RautaEventBody[] = input.rewrittenFrom ? [{ type: 'HistoryRewritten', ...origin, file: null, previous: input.rewrittenFrom }] : [];
  const kept = issues
    .slice(0, MAX_ERRORS_PER_COMMIT)
    .map((i) => ({ file: clip(i.file, MAX_PATH_CHARS), line: i.line, col: i.col, message: clip(i.message, MAX_MESSAGE_CHARS) }));
  const marker: Extract<RautaEventBody, { type: 'CommitRejected' }> = {
    type: 'CommitRejected',
    ...origin,
    file: null,
    subject: clip(commit.subject, MAX_SUBJECT_CHARS),
    errors: kept,
    ...(issues.length > kept.length ? { more: issues.length - kept.length } : {}),
  };
  // Bounded by construction (100 x (1 KiB path + 400-character message)); measured anyway.
  while (marker.errors.length > 1 && eventBytes(marker) > MAX_EVENT_BYTES) {
    marker.errors.pop();
    marker.more = (marker.more ?? 0) + 1;
  }
  return { events: [...head, marker], accepted: false, delta: null };
}

function eventBytes(e: RautaEventBody): number {
  return Buffer.byteLength(JSON.stringify(e));
}

/** Files read and parsed per step of a large load: bounds the bytes held at once. */
const PARSE_BATCH = 4096;

/**
 * The ParsedFile of every change (null: deleted), from the cache or read and parsed;
 * parsed files are added to the cache. Also the blob oid of each.
 */
async function parseChanges(
  reader: TreeReader,
  changes: readonly FileChange[],
  cache: ParseCache,
  parser: BulkParser,
): Promise<{ files: Map<string, ParsedFile | null>; blobs: Map<string, string | null> }> {
  const files = new Map<string, ParsedFile | null>();
  const blobs = new Map<string, string | null>();
  const missing: FileChange[] = [];
  for (const change of changes) {
    blobs.set(change.path, change.newOid);
    const parsed = change.newOid === null ? null : cache.get(change.newOid, change.path);
    if (parsed === undefined) missing.push(change);
    else files.set(change.path, parsed);
  }
  parser.expect(missing.length); // a pool starts its workers while the blobs are read
  try {
    for (let at = 0; at < missing.length; at += PARSE_BATCH) {
      const batch: FileToParse[] = [];
      for (const change of missing.slice(at, at + PARSE_BATCH)) batch.push({ path: change.path, bytes: await reader.readBlob(change.newOid!) });
      const parsed = await parser.parse(batch);
      batch.forEach((_, i) => {
        const change = missing[at + i]!;
        cache.set(change.newOid!, change.path, parsed[i]!);
        files.set(change.path, parsed[i]!);
      });
    }
  } finally {
    parser.finish();
  }
  // in the order of `changes` (sorted by path), whichever way each file was found
  return { files: new Map(changes.map((c) => [c.path, files.get(c.path) ?? null])), blobs };
}

/** commitToEvents once the watched folder's tree oid is known (null = folder absent). */
async function folderToEvents(input: CommitToEventsInput, tree: string | null): Promise<CommitResult> {
  const { reader, base, commit, cache = new ParseCache() } = input;
  const root = normalizeRoot(input.root);
  const origin = originOf(commit);
  const head: RautaEventBody[] = input.rewrittenFrom ? [{ type: 'HistoryRewritten', ...origin, file: null, previous: input.rewrittenFrom }] : [];

  // Route files are judged by their path inside the root (a root may itself sit in a dot-folder).
  const changes = (await diffTrees(reader, base.tree, tree, root)).filter((c) => isRouteFile(root ? c.path.slice(root.length + 1) : c.path));

  // Parse the changed files; unchanged ones keep their ParsedFile from the base state.
  const { files: changedFiles, blobs: changedBlobs } = await parseChanges(reader, changes, cache, input.parser ?? inlineParser);

  const validated = validateRouteSet(input.fullValidation ? wholeSet(base, changedFiles) : affectedSet(base, changedFiles));
  // validateRouteSet reports every file's own issues too, sorted by file, line, col.
  if (validated.issues.length > 0) return rejected(input, validated.issues);

  // Only ids that appear in a changed file (before or after) can differ.
  const routeIds = new Set<string>();
  const listenerIds = new Set<string>();
  for (const path of changedFiles.keys()) {
    for (const parsed of [base.files.get(path), changedFiles.get(path)]) {
      for (const r of parsed?.routes ?? []) routeIds.add(routeId(r));
      for (const l of parsed?.listeners ?? []) listenerIds.add(listenerId(l));
    }
  }
  const newRoutes = new Map<string, Route>();
  for (const r of validated.routes) if (routeIds.has(routeId(r))) newRoutes.set(routeId(r), r);
  const newListeners = new Map<string, Listener>();
  for (const l of validated.listeners) if (listenerIds.has(listenerId(l))) newListeners.set(listenerId(l), l);

  const delta: StateDelta = { tree, files: changedFiles, blobs: changedBlobs, routes: new Map(), listeners: new Map() };
  const removed: RautaEventBody[] = [];
  const upserted: RautaEventBody[] = [];
  for (const id of [...routeIds].sort()) {
    const before = base.routes.get(id);
    const after = newRoutes.get(id);
    if (after) {
      delta.routes.set(id, after);
      if (!before || specKey(before) !== specKey(after)) {
        upserted.push({ type: 'RouteUpserted', ...origin, file: after.source.file, route: after });
      }
    } else if (before) {
      delta.routes.set(id, null);
      removed.push({ type: 'RouteRemoved', ...origin, file: before.source.file, name: before.name, ...matchOf(before) });
    }
  }
  const listenersRemoved: RautaEventBody[] = [];
  const listenersUpserted: RautaEventBody[] = [];
  for (const id of [...listenerIds].sort()) {
    const before = base.listeners.get(id);
    const after = newListeners.get(id);
    if (after) {
      delta.listeners.set(id, after);
      if (!before || specKey(before) !== specKey(after)) {
        listenersUpserted.push({ type: 'ListenerUpserted', ...origin, file: after.source.file, listener: after });
      }
    } else if (before) {
      delta.listeners.set(id, null);
      listenersRemoved.push({ type: 'ListenerRemoved', ...origin, file: before.source.file, name: before.name, address: before.address, port: before.port });
    }
  }

  if (input.capacity) {
    const issues = capacityIssues(capacityNeedAfter(base, delta), input.capacity);
    if (issues.length > 0) return rejected(input, issues);
  }

  const events: RautaEventBody[] = [
    ...head,
    ...removed,
    ...upserted,
    ...listenersRemoved,
    ...listenersUpserted,
    {
      type: 'CommitAccepted',
      ...origin,
      file: null,
      tree: tree ?? EMPTY_TREE,
      subject: clip(commit.subject, MAX_SUBJECT_CHARS),
      counts: {
        routesUpserted: upserted.length,
        routesRemoved: removed.length,
        listenersUpserted: listenersUpserted.length,
        listenersRemoved: listenersRemoved.length,
      },
    },
  ];
  // Every part of an accepted event is bounded (names, paths, 32 backends, file paths
  // by parseRouteFile); an event over the limit anyway is a rejection, never a log the
  // watcher can no longer append to.
  const huge = events.find((e) => eventBytes(e) > MAX_EVENT_BYTES);
  if (huge) {
    const message = `this commit would write a ${huge.type} event of ${eventBytes(huge)} bytes, over the event log's limit of ${MAX_EVENT_BYTES}`;
    return rejected(input, [{ file: huge.file ?? '(commit)', line: 1, col: 1, message }]);
  }
  return { events, accepted: true, delta };
}

/** Routes, listeners and distinct backend IPs the state would have with `delta` applied, and where the growth is. */
function capacityNeedAfter(base: AcceptedState, delta: StateDelta): CapacityNeed {
  let routes = base.routes.size;
  let listeners = base.listeners.size;
  const ipChange = new Map<string, number>();
  const addIps = (r: Route, by: number): void => {
    for (const ip of new Set(r.backends.map((b) => b.ip))) ipChange.set(ip, (ipChange.get(ip) ?? 0) + by);
  };
  const added: Route[] = [];
  for (const [id, after] of delta.routes) {
    const before = base.routes.get(id);
    if (before) {
      routes--;
      addIps(before, -1);
    }
    if (after) {
      routes++;
      addIps(after, 1);
      if (!before) added.push(after);
    }
  }
  const addedListeners: Listener[] = [];
  for (const [id, after] of delta.listeners) {
    const before = base.listeners.get(id);
    listeners += (after ? 1 : 0) - (before ? 1 : 0);
    if (after && !before) addedListeners.push(after);
  }
  let nexthops = base.backendIps.size;
  for (const [ip, change] of ipChange) {
    const was = base.backendIps.get(ip) ?? 0;
    if (was === 0 && change > 0) nexthops++;
    else if (was > 0 && was + change === 0) nexthops--;
  }
  const newIpRoutes: Route[] = [];
  for (const r of delta.routes.values()) if (r?.backends.some((b) => (base.backendIps.get(b.ip) ?? 0) === 0)) newIpRoutes.push(r);
  return {
    routes,
    listeners,
    nexthops,
    at: { routes: firstBySource(added)?.source, listeners: firstBySource(addedListeners)?.source, nexthops: firstBySource(newIpRoutes)?.source },
  };
}

/** The item defined first (by file, then line): a scan, not a sort (a first load adds every route). */
function firstBySource<T extends { source: SourceRef }>(items: readonly T[]): T | undefined {
  let first: T | undefined;
  for (const item of items) {
    if (!first || item.source.file < first.source.file || (item.source.file === first.source.file && item.source.line < first.source.line)) first = item;
  }
  return first;
}

function* wholeSet(base: AcceptedState, changed: Map<string, ParsedFile | null>): Iterable<ParsedFile> {
  for (const [path, parsed] of base.files) if (!changed.has(path)) yield parsed;
  for (const parsed of changed.values()) if (parsed) yield parsed;
}

/** The changed files plus every unchanged file defining a name or id that a changed file defines. */
function affectedSet(base: AcceptedState, changed: Map<string, ParsedFile | null>): ParsedFile[] {
  const partners = new Set<string>();
  const consider = (file: string | undefined): void => {
    if (file !== undefined && !changed.has(file)) partners.add(file);
  };
  for (const parsed of changed.values()) {
    for (const r of parsed?.routes ?? []) {
      consider(base.routes.get(routeId(r))?.source.file);
      consider(base.routesByName.get(r.name)?.source.file);
    }
    for (const l of parsed?.listeners ?? []) {
      consider(base.listeners.get(listenerId(l))?.source.file);
      consider(base.listenersByName.get(l.name)?.source.file);
    }
    // Invalid documents still claim their name and id, so their clashes are reported too.
    for (const claim of parsed?.invalid ?? []) {
      const [byId, byName] = claim.kind === 'RoutingRule' ? [base.routes, base.routesByName] : [base.listeners, base.listenersByName];
      if (claim.id !== undefined) consider(byId.get(claim.id)?.source.file);
      if (claim.name !== undefined) consider(byName.get(claim.name)?.source.file);
    }
  }
  const files: ParsedFile[] = [];
  for (const parsed of changed.values()) if (parsed) files.push(parsed);
  for (const file of partners) {
    const parsed = base.files.get(file);
    if (parsed) files.push(parsed);
  }
  return files;
}

/** Git's well-known empty tree oid: what CommitAccepted.tree says when the watched folder is absent. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Apply an accepted commit's delta to the state in place (O(change), not O(repo)). */
export function applyDelta(state: AcceptedState, delta: StateDelta): void {
  state.tree = delta.tree;
  for (const [k, v] of delta.files) v ? state.files.set(k, v) : state.files.delete(k);
  for (const [k, v] of delta.blobs) v ? state.blobs.set(k, v) : state.blobs.delete(k);
  // Names can move between ids within one commit: drop all old names first, then add the new.
  for (const k of delta.routes.keys()) {
    const old = state.routes.get(k);
    if (old) state.routesByName.delete(old.name);
  }
  for (const k of delta.listeners.keys()) {
    const old = state.listeners.get(k);
    if (old) state.listenersByName.delete(old.name);
  }
  for (const [k, v] of delta.routes) {
    const old = state.routes.get(k);
    if (old) countIps(state.backendIps, old, -1);
    if (v) countIps(state.backendIps, v, 1);
  }
  for (const [k, v] of delta.routes) v ? state.routes.set(k, v) : state.routes.delete(k);
  for (const [k, v] of delta.listeners) v ? state.listeners.set(k, v) : state.listeners.delete(k);
  for (const v of delta.routes.values()) if (v) state.routesByName.set(v.name, v);
  for (const v of delta.listeners.values()) if (v) state.listenersByName.set(v.name, v);
}

/** Adds `by` to the use count of each distinct backend IP of `route`, dropping IPs that reach 0. */
function countIps(uses: Map<string, number>, route: Route, by: number): void {
  for (const ip of new Set(route.backends.map((b) => b.ip))) {
    const n = (uses.get(ip) ?? 0) + by;
    if (n > 0) uses.set(ip, n);
    else uses.delete(ip);
  }
}

/**
 * Load the accepted state of one folder tree in full (once, when a watcher starts or
 * resumes): every file of the tree, from `cache` where it has the file's blob and path,
 * read and parsed otherwise; then the whole set validated. Builds no events.
 */
export async function loadState(
  reader: TreeReader,
  tree: string | null,
  root: string,
  cache = new ParseCache(),
  parser: BulkParser = inlineParser,
): Promise<AcceptedState> {
  const state = emptyState();
  if (tree === null || tree === EMPTY_TREE) return state;
  const folder = normalizeRoot(root);
  const changes = (await diffTrees(reader, null, tree, folder)).filter((c) => isRouteFile(folder ? c.path.slice(folder.length + 1) : c.path));
  const { files, blobs } = await parseChanges(reader, changes, cache, parser);
  const validated = validateRouteSet(wholeSet(state, files));
  if (validated.issues.length > 0) {
    throw new RautaError(
      'RAUTA_ERR_GIT',
      `the last accepted tree ${tree} no longer validates (did the validation rules change?); rebuild the log with \`rauta log rebuild --repo REPO --log LOG --replace\``,
    );
  }
  const delta: StateDelta = { tree, files, blobs, routes: new Map(), listeners: new Map() };
  for (const r of validated.routes) delta.routes.set(routeId(r), r);
  for (const l of validated.listeners) delta.listeners.set(listenerId(l), l);
  applyDelta(state, delta);
  return state;
}

export function normalizeRoot(root: string): string {
  return root
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

/** Spec identity of a route or listener: everything but where it was written. */
function specKey(value: Route | Listener): string {
  const { source: _source, ...spec } = value;
  return canonicalJson(spec);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
