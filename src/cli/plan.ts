// `rauta plan [--from REV] [--to REV | --worktree]`: the dataplane impact of a
// routes change, for reviewers of a routes pull request. Loads the route set
// at both sides (validated exactly as the watcher will), builds the maps the
// `from` side gives, and plans `from` → `to` with the real planner: per route
// the backends added, removed and reweighted, the map operations, and the
// share of Maglev slots (connections) that move. Exit 0: no map change;
// 1: a change; 2: usage error or a side that fails validation.
import type { Command } from 'commander';
import { join } from 'node:path';
import { RautaError } from '../errors.js';
import { planReport, type PlanReport, type RouteImpact, type RouteSide } from '../plan/plan-report.js';
import { formatIssue, isGitDir, loadRouteDir } from '../routes/load-dir.js';
import { capacityIssues, capacityNeed, type Capacity } from '../routes/capacity.js';
import { compareIssues } from '../routes/issues.js';
import { printablePath } from '../routes/printable.js';
import type { RouteSet } from '../routes/validate-set.js';
import { addCapacityOptions } from './capacity-options.js';
import { parseCapacity, type CapacityOptions } from '../routes/capacity.js';
import { loadRouteRev } from '../routes/load-rev.js';
import { quote } from '../routes/printable.js';
import { parseFormat } from './output-format.js';
import { invalidPlanComment, planComment } from '../report/plan-markdown.js';
import { planWarnings } from '../report/plan-warnings.js';

export interface PlanCliOptions extends CapacityOptions {
  repo?: string;
  root?: string;
  from?: string;
  to?: string;
  worktree?: boolean;
  json?: boolean;
  format?: string;
  /** percent: a changed route moving more of its connections is a warning in the markdown comment */
  warnDisruption?: string;
}

/** --warn-disruption's default: a change that moves most of a route's connections is worth a second look. */
export const DEFAULT_WARN_DISRUPTION = 50;

/** --warn-disruption PERCENT as a share (0.5 for 50). */
function parseWarnDisruption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_WARN_DISRUPTION / 100;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) {
    throw new RautaError('RAUTA_ERR_USAGE', `--warn-disruption ${quote(value)}: give a percentage from 0 to 100 (e.g. 50)`);
  }
  return n / 100;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** One line per route: "~ GET /api/x (name) +a -b c weight 1→3: 3 ops, 12.3% of connections move". */
export function formatImpact(r: RouteImpact): string {
  const mark = { added: '+', removed: '-', changed: '~', repaired: '!', resynced: '=' }[r.change];
  const parts = [
    ...r.backendsAdded.map((b) => `+${b}`),
    ...r.backendsRemoved.map((b) => `-${b}`),
    ...r.backendsChanged.map((c) => `${c.backend} weight ${c.from}→${c.to}`),
  ];
  const move = r.change === 'added' ? 'new' : r.change === 'removed' ? 'all connections lose their route' : `${pct(r.disruption)} of connections move`;
  const shadow =
    r.shadows === null
      ? ''
      : r.change === 'added'
        ? `; takes its requests from ${r.shadows.route} (${r.shadows.name}, ${r.shadows.source})`
        : `; its requests go to ${r.shadows.route} (${r.shadows.name}, ${r.shadows.source})`;
  return `${mark} ${r.route}${r.name ? ` (${r.name})` : ''}${parts.length ? ` ${parts.join(' ')}` : ''}: ${r.ops} op${r.ops === 1 ? '' : 's'}, ${move}${shadow}`;
}

export function formatReport(report: PlanReport): string {
  const lines = report.routes.map(formatImpact);
  for (const l of report.listenersAdded) lines.push(`+ listener ${l}`);
  for (const l of report.listenersRemoved) lines.push(`- listener ${l}`);
  const s = report.summary;
  const side = (x: { label: string; commit: string | null }) => (x.commit ? `${x.label} (${x.commit.slice(0, 12)})` : x.label);
  lines.push(
    report.changed
      ? `${side(report.from)} → ${side(report.to)}: ${s.routesAdded} added, ${s.routesRemoved} removed, ${s.routesChanged} changed, ${s.routesUnchanged} unchanged routes; ` +
          `listeners +${s.listenersSet} -${s.listenersDeleted}; ${report.ops} map operation${report.ops === 1 ? '' : 's'}`
      : `${side(report.from)} → ${side(report.to)}: no dataplane change (${s.routesUnchanged} routes)`,
  );
  return `${lines.join('\n')}\n`;
}

async function loadSide(repo: string, root: string, rev: string | null, capacity: Capacity): Promise<RouteSide> {
  // A side the maps cannot hold is as invalid as a side that does not parse.
  const withCapacity = (result: RouteSet): RouteSet => ({
    ...result,
    issues: [...result.issues, ...capacityIssues(capacityNeed(result.routes, result.listeners, capacity), capacity)].sort(compareIssues),
  });
  if (rev === null) {
    const { result } = await loadRouteDir(root ? join(repo, root) : repo);
    return { label: 'worktree', commit: null, ...withCapacity(result) };
  }
  if (rev.trim() === '') throw new RautaError('RAUTA_ERR_USAGE', 'an empty revision was given; pass a branch, tag or sha');
  const { commit, result } = await loadRouteRev({ repo, ref: rev, root });
  return { label: rev, commit, ...withCapacity(result) };
}

/** The command without commander: prints through `write`, returns the exit code (0 no change, 1 change, 2 invalid side). */
export async function runPlan(opts: PlanCliOptions, write: (text: string) => void, writeErr: (text: string) => void = write): Promise<number> {
  if (opts.worktree && opts.to !== undefined) throw new RautaError('RAUTA_ERR_USAGE', '--to and --worktree both name the target side; give one');
  const repo = opts.repo ?? '.';
  const root = (opts.root ?? '').replace(/^\/+|\/+$/g, '');
  const fromRev = opts.from ?? 'HEAD';
  // No target given: the working tree, as `git diff HEAD` would compare.
  const toRev = opts.worktree || opts.to === undefined ? null : opts.to;
  if (toRev === null && isGitDir(repo)) {
    // A bare repository read as a folder is an empty route set: the plan would remove every route.
    throw new RautaError(
      'RAUTA_ERR_USAGE',
      `${printablePath(repo)} is a bare repository: it has no working tree to plan towards; give --to REV (e.g. --to main)`,
    );
  }
  const capacity = parseCapacity(opts);
  const format = parseFormat(opts, ['markdown'] as const);
  const warnDisruption = parseWarnDisruption(opts.warnDisruption);
  const [from, to] = [await loadSide(repo, root, fromRev, capacity), await loadSide(repo, root, toRev, capacity)];
  const invalid = [from, to].filter((s) => s.issues.length > 0);
  if (invalid.length > 0) {
    if (format === 'json')
      write(`${JSON.stringify({ valid: false, sides: invalid.map((s) => ({ label: s.label, commit: s.commit, issues: s.issues })) }, null, 2)}\n`);
    // The comment says why there is no plan, so a stale one does not stay on the pull request.
    if (format === 'markdown') write(invalidPlanComment(from, to, invalid));
    for (const s of invalid) {
      writeErr(
        `rauta plan: ${s.label}${s.commit ? ` (${s.commit.slice(0, 12)})` : ''} does not validate (${s.issues.length} error${s.issues.length === 1 ? '' : 's'}); fix it, then plan again:\n`,
      );
      for (const i of s.issues) writeErr(`  ${formatIssue(i)}\n`);
    }
    return 2;
  }
  const report = planReport(from, to);
  if (format === 'json') write(`${JSON.stringify({ valid: true, ...report }, null, 2)}\n`);
  else if (format === 'markdown') write(planComment(report, planWarnings(report, from, to, capacity, warnDisruption)));
  else write(formatReport(report));
  return report.changed ? 1 : 0;
}

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('Show what a routes change does to the maps: exit 0 when nothing changes, 1 when something does, 2 on usage errors or an invalid side')
    .option('--repo <path>', 'routes repository (working copy or bare)', '.')
    .option('--root <subdir>', 'folder inside the repository that holds the route files', '')
    .option('--from <rev>', 'the side the node has now', 'HEAD')
    .option('--to <rev>', 'the side to plan towards (default: the working tree)')
    .option('--worktree', 'plan towards the working tree (the default when --to is not given)')
    .option('--json', 'print {from, to, changed, ops, routes:[...], summary} as JSON')
    .option('--format <format>', 'text (default), json (as --json), markdown (a pull-request comment: summary, table of changed routes, warnings)')
    .option(
      '--warn-disruption <percent>',
      `markdown: warn when a change moves more than this share of a route's connections (default ${DEFAULT_WARN_DISRUPTION})`,
    );
  addCapacityOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rauta plan --repo routes                     # HEAD → working tree\n  rauta plan --from origin/main --to HEAD      # what this branch does\n  rauta plan --from HEAD~1 --to HEAD --json\n  rauta plan --from "$(git merge-base origin/main HEAD)" --to HEAD --format markdown\n\n' +
        "Disruption is the share of a route's Maglev slots whose backend changes: the share of its connections that move.",
    )
    .action(async (opts: PlanCliOptions) => {
      process.exitCode = await runPlan(
        opts,
        (t) => process.stdout.write(t),
        (t) => process.stderr.write(t),
      );
    });
}
