// `rauta history ROUTE`: every change to one route with its commit and author
// (a blame for routes). Exit 1 when the log has no event for that route.
import type { Command } from 'commander';
import type { RautaEvent } from '../routes/route-events.js';
import { printable, printablePath, quote } from '../routes/printable.js';
import { routeId } from '../routes/route-model.js';
import { concernsRoute, LOG_OPTION_HELP, logSpecFrom, openLogForReading, PREFIX_OPTION_HELP, readAll, row } from './log.js';

export interface RouteChange {
  seq: number;
  commit: string;
  author: string;
  time: number;
  change: 'added' | 'changed' | 'removed';
  file: string | null;
  /** the full spec after the change (absent for a removal) */
  route?: Extract<RautaEvent, { type: 'RouteUpserted' }>['route'];
  /** the commit's subject, from its CommitAccepted marker */
  subject: string | null;
}

export function routeHistory(events: RautaEvent[], name: string): RouteChange[] {
  const subjects = new Map<string, string>();
  for (const e of events) if (e.type === 'CommitAccepted') subjects.set(e.commit, e.subject);
  const present = new Set<string>();
  const changes: RouteChange[] = [];
  for (const e of events) {
    if (!concernsRoute(e, name)) continue;
    const base = { seq: e.seq, commit: e.commit, author: e.author, time: e.time, file: e.file, subject: subjects.get(e.commit) ?? null };
    if (e.type === 'RouteUpserted') {
      const id = routeId(e.route);
      changes.push({ ...base, change: present.has(id) ? 'changed' : 'added', route: e.route });
      present.add(id);
    } else if (e.type === 'RouteRemoved') {
      present.delete(routeId(e));
      changes.push({ ...base, change: 'removed' });
    }
  }
  return changes;
}

export function register(program: Command): void {
  program
    .command('history')
    .description('every change to one route, with its commit and author (a blame for routes)')
    .argument('<route>', 'route name, or "METHOD /path"')
    .option('--log <spec>', LOG_OPTION_HELP)
    .option('--prefix <prefix>', PREFIX_OPTION_HELP)
    .option('--json', 'machine-readable output')
    .action(async (route: string, opts: { log?: string; prefix?: string; json?: boolean }) => {
      const log = await openLogForReading(logSpecFrom(opts.log), opts.prefix);
      try {
        const changes = routeHistory(await readAll(log), route);
        if (opts.json) process.stdout.write(`${JSON.stringify(changes, null, 2)}\n`);
        else if (changes.length === 0) process.stderr.write(`rauta: no event in ${log.location} concerns route ${printable(route)}\n`);
        else {
          process.stdout.write(`${'SEQ'.padStart(6)}  ${'COMMIT'.padEnd(12)}  ${'AUTHOR'.padEnd(20)}  ${'TIME'.padEnd(20)}  CHANGE\n`);
          for (const c of changes) {
            const what = c.route
              ? `${c.change.padEnd(7)} ${printable(routeId(c.route))} (${printable(c.route.name)}) ${printablePath(c.route.source.file)}:${c.route.source.line} -> ${c.route.backends.map((b) => `${b.ip}:${b.port}`).join(',')}`
              : `${c.change.padEnd(7)} ${c.file ? printablePath(c.file) : ''}`;
            process.stdout.write(`${row(c, what)}${c.subject ? `  ${quote(c.subject, 200)}` : ''}\n`);
          }
        }
        process.exitCode = changes.length === 0 ? 1 : 0;
      } finally {
        await log.close();
      }
    });
}
