// `rauta log`: the audit trail (seq, commit, author, time, event), and
// `rauta log rebuild`: regenerate the log from Git and compare.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_PREFIX } from '../cluster/cluster-keys.js';
import { beginFileLogRebuild } from '../events/file-log.js';
import { openEventLog, type EventLog, type EventLogRebuild } from '../events/event-log.js';
import { beginRedisLogRebuild, logPrefixes, redactRedisUrl } from '../events/redis-log.js';
import { type RautaEvent, type RautaEventBody, splitCommits } from '../routes/route-events.js';
import { RautaError } from '../errors.js';
import { commitsToEvents } from '../git/process-commits.js';
import { openRemoteCache } from '../git/remote-cache.js';
import { isRemote } from '../git/watcher.js';
import { resolveGitCredentials, splitRepoUrl } from '../git/git-credentials.js';
import { formatIssue } from '../routes/issues.js';
import { printable, printablePath, quote } from '../routes/printable.js';
import { routeId } from '../routes/route-model.js';
import { addCapacityOptions } from './capacity-options.js';
import { parseCapacity, type CapacityOptions } from '../routes/capacity.js';

/** --log, else RAUTA_LOG, else the embedded default. Not a commander default: RAUTA_LOG may hold a Redis password, and --help prints defaults. */
export function logSpecFrom(flag: string | undefined): string {
  return flag || process.env.RAUTA_LOG || '.rauta/events.log';
}

export const LOG_OPTION_HELP = 'event log: a file path or redis://… (default: env RAUTA_LOG, else .rauta/events.log)';
export const PREFIX_OPTION_HELP = 'Redis logs: the key prefix the watcher writes under (its --prefix)';

/**
 * Opens a log to read. A Redis prefix with no log under it is an error naming
 * the prefixes that do have one: an empty listing would look like "no commits yet".
 */
export async function openLogForReading(spec: string, prefix: string | undefined): Promise<EventLog> {
  const log = await openEventLog(spec, { writer: false, ...(prefix !== undefined ? { prefix } : {}) });
  if (/^rediss?:\/\//.test(spec) && (await log.head()) === 0) {
    const wanted = prefix ?? DEFAULT_PREFIX;
    const found = await logPrefixes(spec).catch(() => [] as string[]);
    if (!found.includes(wanted)) {
      await log.close();
      throw new RautaError(
        'RAUTA_ERR_USAGE',
        `no event log under prefix ${JSON.stringify(wanted)} in ${redactRedisUrl(spec)}` +
          (found.length > 0
            ? `; logs there: ${found.map((p) => `--prefix ${p}`).join(', ')}`
            : '; nothing has been written there yet (is the watcher on another Redis?)'),
      );
    }
  }
  return log;
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
  return printable(author.replace(/\s*<[^>]*>$/, ''));
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export function describe(event: RautaEventBody): string {
  switch (event.type) {
    case 'RouteUpserted':
      return `RouteUpserted ${printable(routeId(event.route))} (${printable(event.route.name)}) ${printablePath(event.route.source.file)}:${event.route.source.line} -> ${event.route.backends.map((b) => `${b.ip}:${b.port}`).join(',')}`;
    case 'RouteRemoved':
      return `RouteRemoved ${printable(routeId(event))} (${printable(event.name)})${event.file ? ` ${printablePath(event.file)}` : ''}`;
    case 'ListenerUpserted':
      return `ListenerUpserted ${event.listener.address}:${event.listener.port} (${printable(event.listener.name)})`;
    case 'ListenerRemoved':
      return `ListenerRemoved ${printable(event.address)}:${event.port} (${printable(event.name)})`;
    case 'CommitAccepted': {
      const c = event.counts;
      return `CommitAccepted ${quote(event.subject, 200)} routes +${c.routesUpserted} -${c.routesRemoved}, listeners +${c.listenersUpserted} -${c.listenersRemoved}`;
    }
    case 'CommitRejected': {
      const total = event.errors.length + (event.more ?? 0);
      return [
        `CommitRejected ${quote(event.subject, 200)} (${total} error${total === 1 ? '' : 's'}${event.more ? `, the first ${event.errors.length} kept` : ''})`,
        ...event.errors.map((e) => `      ${formatIssue(e)}`),
      ].join('\n');
    }
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

async function listAction(opts: { log?: string; prefix?: string; since?: string; route?: string; json?: boolean }): Promise<void> {
  const log = await openLogForReading(logSpecFrom(opts.log), opts.prefix);
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

interface RebuildOptions extends CapacityOptions {
  log: string;
  prefix?: string;
  gitPasswordFile?: string;
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
export async function rebuildEvents(
  opts: Pick<RebuildOptions, 'repo' | 'branch' | 'root' | 'since' | 'cache' | 'gitPasswordFile' | keyof CapacityOptions>,
): Promise<RautaEvent[]> {
  let dir = opts.repo;
  let ref = `refs/heads/${opts.branch}`;
  if (isRemote(opts.repo)) {
    const { url, credentials: fromUrl } = splitRepoUrl(opts.repo);
    const credentials = resolveGitCredentials({ fromUrl, passwordFile: opts.gitPasswordFile });
    const cache = await openRemoteCache({ url, credentials, branch: opts.branch, cacheDir: opts.cache ?? '.rauta/git-cache/rebuild' });
    await cache.fetch();
    dir = cache.gitdir;
    ref = cache.trackingRef;
  }
  // The same capacity as the watcher's, or the rebuild would accept what it rejected.
  const batches = await commitsToEvents({ dir, ref, root: opts.root, since: opts.since ?? null, capacity: parseCapacity(opts) });
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
    // Replaces the log whole without reading it: the way out of a corrupt log.
    let rebuild: EventLogRebuild;
    if (/^rediss?:/.test(opts.log)) {
      rebuild = await beginRedisLogRebuild(opts.log, { ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}) });
    } else {
      const file = opts.log.replace(/^file:/, '');
      await fs.mkdir(path.dirname(file), { recursive: true });
      rebuild = await beginFileLogRebuild(file);
    }
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
  const writer = await openEventLog(target, { writer: true, ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}) });
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
    const log = await openEventLog(opts.log, { writer: false, ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}) });
    try {
      existing = await readAll(log);
    } finally {
      await log.close();
    }
  }
  const difference = firstDifference(existing, rebuilt);
  report(opts, {
    wrote: opts.out ?? null,
    events: rebuilt.length,
    compared: opts.log,
    difference,
    existing: existing[difference],
    rebuilt: rebuilt[difference],
  });
  process.exitCode = difference < 0 ? 0 : 1;
}

async function appendBatches(log: EventLog, events: RautaEvent[]): Promise<void> {
  let seq = 0;
  const { commits, rest } = splitCommits(events);
  for (const batch of rest.length > 0 ? [...commits, rest] : commits) {
    const written = await log.append(
      batch.map(({ seq: _seq, ...body }) => body as RautaEventBody),
      { expectedHead: seq },
    );
    seq = written.at(-1)?.seq ?? seq;
  }
}

/** A log spec as printed: a Redis URL without its password. */
function shownSpec(spec: string): string {
  return /^rediss?:\/\//.test(spec) ? redactRedisUrl(spec) : spec;
}

function report(
  opts: { json?: boolean },
  r: { wrote: string | null; events: number; compared: string | null; difference: number; existing?: RautaEvent; rebuilt?: RautaEvent },
): void {
  if (opts.json) {
    const shown = { ...r, wrote: r.wrote === null ? null : shownSpec(r.wrote), compared: r.compared === null ? null : shownSpec(r.compared) };
    process.stdout.write(`${JSON.stringify({ ...shown, identical: r.compared === null ? null : r.difference < 0 }, null, 2)}\n`);
    return;
  }
  if (r.wrote) process.stdout.write(`rebuilt ${r.events} events from Git into ${shownSpec(r.wrote)}\n`);
  if (r.compared === null) return;
  if (r.difference < 0) process.stdout.write(`the log ${shownSpec(r.compared)} is identical to the rebuild (${r.events} events)\n`);
  else {
    process.stdout.write(`the log ${shownSpec(r.compared)} differs from the rebuild at seq ${r.difference + 1}:\n`);
    process.stdout.write(`  log:     ${r.existing ? describe(r.existing) : '(missing)'}\n`);
    process.stdout.write(`  rebuild: ${r.rebuilt ? describe(r.rebuilt) : '(missing)'}\n`);
    process.stdout.write('  (a force-push leaves HistoryRewritten events and commits Git no longer has; then the log cannot be rebuilt identically)\n');
  }
}

export function register(program: Command): void {
  const log = program
    .command('log')
    .description('list the event log: seq, commit, author, time and event')
    .option('--log <spec>', LOG_OPTION_HELP)
    .option('--prefix <prefix>', PREFIX_OPTION_HELP)
    .option('--since <seq|sha>', 'start at this seq (all digits, inclusive) or at the first event of this commit')
    .option('--route <name>', 'only events about this route (its name, or "METHOD /path")')
    .option('--json', 'machine-readable output (array of events)')
    .action(listAction);
  const rebuild = log
    .command('rebuild')
    .description('regenerate the log from Git: writes into --out (or into --log when it is empty) and compares with --log; exit 1 when they differ')
    .requiredOption('--repo <path|url>', 'the routes repository (local path or http(s) URL)')
    .option('--branch <name>', 'branch to follow', 'main')
    .option('--root <dir>', 'subfolder holding the route files', '')
    .option('--since <rev>', 'first commit to record (default: the first commit of the branch)')
    .option('--log <spec>', 'the log to compare with (or to write when it is empty) (default: env RAUTA_LOG, else .rauta/events.log)')
    .option('--prefix <prefix>', PREFIX_OPTION_HELP)
    .option('--out <spec>', 'write the rebuilt log here (must be new or empty), then compare with --log')
    .option('--replace', 'replace --log with the rebuild in one atomic step, without reading it (the way out of a corrupt log; takes the writer lock)')
    .option('--cache <dir>', 'bare cache dir for a remote repository', '.rauta/git-cache/rebuild')
    .option('--git-password-file <file>', 'remote repository: password or token for the fetch (default: env RAUTA_GIT_PASSWORD)')
    .option('--json', 'machine-readable output');
  addCapacityOptions(rebuild).action(async (own: Partial<RebuildOptions>, cmd: Command) => {
    // `rauta log` declares --log/--prefix/--since/--json too, and commander hands them to the
    // parent unless positional options are on for the whole program: take either.
    const parent = (cmd.parent?.opts() ?? {}) as { log?: string; prefix?: string; since?: string; json?: boolean };
    await rebuildAction({
      ...(own as RebuildOptions),
      log: logSpecFrom(own.log ?? parent.log),
      prefix: own.prefix ?? parent.prefix,
      since: own.since ?? parent.since,
      json: own.json ?? parent.json,
    });
  });
}
