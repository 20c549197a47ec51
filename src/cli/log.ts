// `rauta log`: the audit trail (seq, commit, author, time, event), and
// `rauta log rebuild`: regenerate the log from Git and compare.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { beginFileLogRebuild } from '../events/file-log.js';
import { openEventLog, type EventLog } from '../events/event-log.js';
import type { RautaEvent, RautaEventBody } from '../events/event-types.js';
import { RautaError } from '../errors.js';
import { commitsToEvents } from '../git/process-commits.js';
import { openRemoteCache } from '../git/remote-cache.js';
import { isRemote } from '../git/watcher.js';
import { routeId } from '../routes/route-model.js';

export function defaultLogSpec(): string {
  return process.env.RAUTA_LOG || '.rauta/events.log';
}

/** Every event of the log from `fromSeq`, in pages. */
export async function readAll(log: EventLog, fromSeq = 1): Promise<RautaEvent[]> {
  const out: RautaEvent[] = [];
  for (let seq = fromSeq; ; ) {
    const page = await log.read(seq, 1000);
    if (page.length === 0) return out;
    out.push(...page);
    seq = (page.at(-1)?.seq ?? seq) + 1;
  }
}

/** True when the event is about the route named `name` (its name, or its id "GET /path"). */
export function concernsRoute(event: RautaEventBody, name: string): boolean {
  if (event.type === 'RouteUpserted') return event.route.name === name || routeId(event.route) === name;
  if (event.type === 'RouteRemoved') return event.name === name || routeId(event) === name;
  return false;
}

export function authorName(author: string): string {
  return author.replace(/\s*<[^>]*>$/, '');
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function describe(event: RautaEventBody): string {
  switch (event.type) {
    case 'RouteUpserted':
      return `RouteUpserted ${routeId(event.route)} (${event.route.name}) ${event.route.source.file}:${event.route.source.line} -> ${event.route.backends.map((b) => `${b.ip}:${b.port}`).join(',')}`;
    case 'RouteRemoved':
      return `RouteRemoved ${event.method} ${event.path} (${event.name})${event.file ? ` ${event.file}` : ''}`;
    case 'ListenerUpserted':
      return `ListenerUpserted ${event.listener.address}:${event.listener.port} (${event.listener.name})`;
    case 'ListenerRemoved':
      return `ListenerRemoved ${event.address}:${event.port} (${event.name})`;
    case 'CommitAccepted': {
      const c = event.counts;
      return `CommitAccepted "${event.subject}" routes +${c.routesUpserted} -${c.routesRemoved}, listeners +${c.listenersUpserted} -${c.listenersRemoved}`;
    }
    case 'CommitRejected':
      return [
        `CommitRejected "${event.subject}" (${event.errors.length} error${event.errors.length === 1 ? '' : 's'})`,
        ...event.errors.map((e) => `      ${e.file}:${e.line}:${e.col}: ${e.message}`),
      ].join('\n');
    case 'HistoryRewritten':
      return `HistoryRewritten (history rewritten; previous head ${event.previous.slice(0, 12)})`;
  }
}

export function row(event: Pick<RautaEvent, 'seq' | 'commit' | 'author' | 'time'>, text: string): string {
  return `${String(event.seq).padStart(6)}  ${event.commit.slice(0, 12)}  ${authorName(event.author).padEnd(20)}  ${isoTime(event.time)}  ${text}`;
}

/** `--since`: all digits = a seq (inclusive); otherwise a commit sha or prefix (from its first event). */
function selectSince(events: RautaEvent[], since: string | undefined): RautaEvent[] {
  if (since === undefined) return events;
  if (/^\d+$/.test(since)) return events.filter((e) => e.seq >= Number(since));
  if (!/^[0-9a-f]{4,40}$/i.test(since)) {
    throw new RautaError('RAUTA_ERR_USAGE', `--since ${since}: give a seq number or a commit sha (at least 4 hex digits)`);
  }
  const first = events.findIndex((e) => e.commit.startsWith(since.toLowerCase()));
  if (first < 0) throw new RautaError('RAUTA_ERR_USAGE', `--since ${since}: no event in the log comes from a commit starting with ${since}`);
  return events.slice(first);
}

async function listAction(opts: { log: string; since?: string; route?: string; json?: boolean }): Promise<void> {
  const log = await openEventLog(opts.log, { writer: false });
  try {
    let events = selectSince(await readAll(log), opts.since);
    if (opts.route !== undefined) {
      const name = opts.route;
      events = events.filter((e) => concernsRoute(e, name));
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
    else {
      process.stdout.write(`${'SEQ'.padStart(6)}  ${'COMMIT'.padEnd(12)}  ${'AUTHOR'.padEnd(20)}  ${'TIME'.padEnd(20)}  EVENT\n`);
      for (const e of events) process.stdout.write(`${row(e, describe(e))}\n`);
    }
    process.exitCode = 0;
  } finally {
    await log.close();
  }
}

interface RebuildOptions {
  log: string;
  repo: string;
  branch: string;
  root: string;
  since?: string;
  out?: string;
  replace?: boolean;
  cache?: string;
  json?: boolean;
}

/** The events a fresh log would hold for the branch, numbered from 1. */
export async function rebuildEvents(opts: Pick<RebuildOptions, 'repo' | 'branch' | 'root' | 'since' | 'cache'>): Promise<RautaEvent[]> {
  let dir = opts.repo;
  let ref = `refs/heads/${opts.branch}`;
  if (isRemote(opts.repo)) {
    const cache = await openRemoteCache({ url: opts.repo, branch: opts.branch, cacheDir: opts.cache ?? '.rauta/git-cache/rebuild' });
    await cache.fetch();
    dir = cache.gitdir;
    ref = cache.trackingRef;
  }
  const batches = await commitsToEvents({ dir, ref, root: opts.root, since: opts.since ?? null });
  return batches.flat().map((e, i) => ({ ...e, seq: i + 1 }));
}

/** Index of the first event that differs (compared as canonical JSON: key order does not matter), or -1. */
export function firstDifference(a: RautaEvent[], b: RautaEvent[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (canonical(a[i] ?? null) !== canonical(b[i] ?? null)) return i;
  }
  return -1;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

async function rebuildAction(opts: RebuildOptions): Promise<void> {
  const rebuilt = await rebuildEvents(opts);
  if (opts.replace) {
    if (/^rediss?:/.test(opts.log)) throw new RautaError('RAUTA_ERR_USAGE', '--replace works on file logs; for Redis, rebuild with --out into a new prefix');
    const file = opts.log.replace(/^file:/, '');
    await fs.mkdir(path.dirname(file), { recursive: true });
    const rebuild = await beginFileLogRebuild(file);
    try {
      await appendBatches(rebuild.log, rebuilt);
    } catch (err) {
      await rebuild.abort();
      throw err;
    }
    await rebuild.commit();
    report(opts, { wrote: opts.log, events: rebuilt.length, compared: null, difference: -1 });
    process.exitCode = 0;
    return;
  }
  // Write the rebuilt events into --out, or into --log when that log is still empty.
  const target = opts.out ?? opts.log;
  if (!/^rediss?:/.test(target)) await fs.mkdir(path.dirname(target.replace(/^file:/, '')), { recursive: true });
  const writer = await openEventLog(target, { writer: true });
  let existing: RautaEvent[] = [];
  try {
    if ((await writer.head()) === 0) {
      await appendBatches(writer, rebuilt);
      if (opts.out === undefined) {
        report(opts, { wrote: target, events: rebuilt.length, compared: null, difference: -1 });
        return;
      }
    } else if (opts.out !== undefined) {
      throw new RautaError('RAUTA_ERR_USAGE', `--out ${opts.out} is not empty; give a new path for the rebuilt log`);
    } else {
      existing = await readAll(writer);
    }
  } finally {
    await writer.close();
  }
  if (opts.out !== undefined) {
    const log = await openEventLog(opts.log, { writer: false });
    try {
      existing = await readAll(log);
    } finally {
      await log.close();
    }
  }
  const difference = firstDifference(existing, rebuilt);
  report(opts, { wrote: opts.out ?? null, events: rebuilt.length, compared: opts.log, difference, existing: existing[difference], rebuilt: rebuilt[difference] });
  process.exitCode = difference < 0 ? 0 : 1;
}

async function appendBatches(log: EventLog, events: RautaEvent[]): Promise<void> {
  let seq = 0;
  for (const batch of groupByCommit(events)) {
    const written = await log.append(batch.map(({ seq: _seq, ...body }) => body as RautaEventBody), { expectedHead: seq });
    seq = written.at(-1)?.seq ?? seq;
  }
}

function groupByCommit(events: RautaEvent[]): RautaEvent[][] {
  // Batches end at their commit marker (CommitAccepted / CommitRejected).
  const batches: RautaEvent[][] = [];
  let current: RautaEvent[] = [];
  for (const e of events) {
    current.push(e);
    if (e.type === 'CommitAccepted' || e.type === 'CommitRejected') {
      batches.push(current);
      current = [];
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function report(
  opts: { json?: boolean },
  r: { wrote: string | null; events: number; compared: string | null; difference: number; existing?: RautaEvent; rebuilt?: RautaEvent },
): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ...r, identical: r.compared === null ? null : r.difference < 0 }, null, 2)}\n`);
    return;
  }
  if (r.wrote) process.stdout.write(`rebuilt ${r.events} events from Git into ${r.wrote}\n`);
  if (r.compared === null) return;
  if (r.difference < 0) process.stdout.write(`the log ${r.compared} is identical to the rebuild (${r.events} events)\n`);
  else {
    process.stdout.write(`the log ${r.compared} differs from the rebuild at seq ${r.difference + 1}:\n`);
    process.stdout.write(`  log:     ${r.existing ? describe(r.existing) : '(missing)'}\n`);
    process.stdout.write(`  rebuild: ${r.rebuilt ? describe(r.rebuilt) : '(missing)'}\n`);
    process.stdout.write('  (a force-push leaves HistoryRewritten events and commits Git no longer has; then the log cannot be rebuilt identically)\n');
  }
}

export function register(program: Command): void {
  const log = program
    .command('log')
    .description('list the event log: seq, commit, author, time and event')
    .option('--log <spec>', 'event log: a file path or redis://… (env RAUTA_LOG)', defaultLogSpec())
    .option('--since <seq|sha>', 'start at this seq (all digits, inclusive) or at the first event of this commit')
    .option('--route <name>', 'only events about this route (its name, or "METHOD /path")')
    .option('--json', 'machine-readable output (array of events)')
    .action(listAction);
  log
    .command('rebuild')
    .description(
      'regenerate the log from Git: writes into --out (or into --log when it is empty) and compares with --log; exit 1 when they differ',
    )
    .requiredOption('--repo <path|url>', 'the routes repository (local path or http(s) URL)')
    .option('--branch <name>', 'branch to follow', 'main')
    .option('--root <dir>', 'subfolder holding the route files', '')
    .option('--since <rev>', 'first commit to record (default: the first commit of the branch)')
    .option('--log <spec>', 'the log to compare with (or to write when it is empty) (env RAUTA_LOG)')
    .option('--out <spec>', 'write the rebuilt log here (must be new or empty), then compare with --log')
    .option('--replace', 'file logs: replace --log with the rebuild in one atomic rename (takes the writer lock)')
    .option('--cache <dir>', 'bare cache dir for a remote repository', '.rauta/git-cache/rebuild')
    .option('--json', 'machine-readable output')
    .action(async (own: Partial<RebuildOptions>, cmd: Command) => {
      // `rauta log` declares --log/--since/--json too, and commander hands them to the
      // parent unless positional options are on for the whole program: take either.
      const parent = (cmd.parent?.opts() ?? {}) as { log?: string; since?: string; json?: boolean };
      await rebuildAction({
        ...(own as RebuildOptions),
        log: own.log ?? parent.log ?? defaultLogSpec(),
        since: own.since ?? parent.since,
        json: own.json ?? parent.json,
      });
    });
}
