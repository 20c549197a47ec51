// `rauta plan --format markdown`: the plan as a pull-request comment. One
// summary line, a table of the changed routes (folded when long), then what
// needs a human. Pure and deterministic (no time, no absolute path), and
// never longer than `maxChars`: GitHub takes 65,536 characters a comment.
import type { PlanReport, RouteImpact } from '../plan/plan-report.js';
import type { ValidationIssue } from '../routes/issues.js';
import { formatIssue } from '../routes/issues.js';
import { printable } from '../routes/printable.js';
import type { PlanWarning } from './plan-warnings.js';

/** First line of every comment: CI finds its own comment by it and edits it instead of adding another. */
export const COMMENT_MARKER = '<!-- rauta-plan -->';
/** Under GitHub's 65,536, with room to spare; GitLab takes more. */
export const MAX_COMMENT_CHARS = 65_000;
/** More changed routes than this and the table folds into <details>. */
export const FOLD_ABOVE_ROUTES = 10;
/** Warnings and errors listed one by one before "… and N more". */
export const MAX_LISTED = 50;

export interface CommentOptions {
  maxChars?: number;
}

interface Side {
  label: string;
  commit: string | null;
}

/** Text as a code span: no markup, no mention, no link; one line; `|` escaped for a table cell. */
function code(text: string, inTable = false): string {
  let s = printable(text);
  if (inTable) s = s.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s}${pad}${fence}`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
/** A threshold as it was given: 50%, 12.5% (no trailing .0). */
const threshold = (x: number): string => `${Number((x * 100).toFixed(2))}%`;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "`main` (`0123456789ab`)", or the short sha alone when the label is the sha. */
function side(s: Side): string {
  if (s.commit === null) return code(s.label);
  const short = s.commit.slice(0, 12);
  return s.label === s.commit || s.label === short ? code(short) : `${code(s.label)} (${code(short)})`;
}

function routeName(route: string, name: string | null, inTable = false): string {
  return `${code(route, inTable)}${name ? ` (${printable(name)})` : ''}`;
}

function moved(r: RouteImpact): string {
  if (r.change === 'added') return 'new route';
  if (r.change === 'removed') return 'all: the route is gone';
  return pct(r.disruption);
}

function row(r: RouteImpact): string {
  const list = (xs: readonly string[]) => xs.map((x) => code(x, true)).join(' ');
  const cells = [
    r.change,
    routeName(r.route, r.name, true),
    list(r.backendsAdded),
    list(r.backendsRemoved),
    r.backendsChanged.map((c) => `${code(c.backend, true)} ${c.from}→${c.to}`).join(' '),
    moved(r),
    r.source === null ? '' : code(r.source, true),
  ];
  return `| ${cells.join(' | ')} |`;
}

const TABLE_HEAD =
  '| Change | Route | Backends added | Backends removed | Weight changes | Connections that move | Defined in |\n|---|---|---|---|---|---|---|';

function formatWarning(w: PlanWarning): string {
  switch (w.kind) {
    case 'last-backend':
      return `${routeName(w.route, w.name)} goes from ${w.backendsBefore} backends to 1 (${code(w.backend)}): if it fails, the route has no backend`;
    case 'disruption':
      return `${routeName(w.route, w.name)} moves ${pct(w.disruption)} of its connections to another backend (warning above ${threshold(w.threshold)})`;
    case 'shadows':
      return `${routeName(w.route, w.name)} is new and more specific than ${routeName(w.shadowed, w.shadowedName)} (${code(w.source)}): requests it matches stop going there`;
    case 'listener-removed':
      return `listener ${code(w.listener)} is removed: connections to it are no longer answered`;
    case 'capacity':
      return (
        `${w.map} holds ${w.after} of ${w.limit} entries after this change (${pct(w.after / w.limit)}; ${w.before} before): ` +
        `raise ${code(w.option)} on the watcher and every agent before it fills`
      );
  }
}

/** "- a\n- b\n- … and N more things": at most MAX_LISTED items, and at most `maxChars` in all. */
function bullets(items: readonly string[], what: string, maxChars: number): string {
  const more = (n: number) => `- … and ${n} more ${what}`;
  const shown: string[] = [];
  let budget = maxChars - more(items.length).length;
  for (const item of items.slice(0, MAX_LISTED)) {
    const line = `- ${item}`;
    if (line.length + 1 > budget) break;
    shown.push(line);
    budget -= line.length + 1;
  }
  if (shown.length < items.length) shown.push(more(items.length - shown.length));
  return shown.join('\n');
}

function summary(report: PlanReport): string {
  const s = report.summary;
  const where = `**rauta plan** ${side(report.from)} → ${side(report.to)}`;
  if (!report.changed) return `${where}: no dataplane change (${plural(s.routesUnchanged, 'route')} unchanged)`;
  const routes = [`${plural(s.routesAdded, 'route')} added`, `${s.routesRemoved} removed`, `${s.routesChanged} changed`];
  if (s.routesRepaired + s.routesResynced > 0) routes.push(`${s.routesRepaired + s.routesResynced} rewritten`);
  return (
    `${where}: ${routes.join(', ')}, ${s.routesUnchanged} unchanged; ` +
    `listeners +${report.listenersAdded.length} −${report.listenersRemoved.length}; ${plural(report.ops, 'map operation')}`
  );
}

const FOOTNOTE =
  "<sub>Connections that move: the share of the route's Maglev slots whose backend changes. New connections follow the new table; " +
  'open connections stay on their backend until they close, even on a removed one.</sub>';

/** The review comment for a plan and its warnings. */
export function planComment(report: PlanReport, warnings: readonly PlanWarning[], opts: CommentOptions = {}): string {
  const maxChars = opts.maxChars ?? MAX_COMMENT_CHARS;
  const head = [COMMENT_MARKER, summary(report)];
  const listeners = [...report.listenersAdded.map((l) => `+${code(l)}`), ...report.listenersRemoved.map((l) => `−${code(l)}`)];
  if (listeners.length > 0) {
    const more = listeners.length > MAX_LISTED ? ` … and ${listeners.length - MAX_LISTED} more` : '';
    head.push(`Listeners: ${listeners.slice(0, MAX_LISTED).join(' ')}${more}`);
  }
  const tail: string[] = [];
  // Warnings get at most a third of the comment; the table takes what is left.
  const warned = bullets(
    warnings.map((w) => `⚠️ ${formatWarning(w)}`),
    'warnings',
    Math.floor(maxChars / 3),
  );
  if (warnings.length > 0) tail.push(`**Needs a human** (${warnings.length}):\n\n${warned}`);
  if (report.routes.length > 0) tail.push(FOOTNOTE);
  if (report.routes.length === 0) return `${[...head, ...tail].join('\n\n')}\n`;

  const fold = report.routes.length > FOLD_ABOVE_ROUTES;
  const open = fold ? `<details><summary>${plural(report.routes.length, 'changed route')}</summary>\n\n` : '';
  const close = fold ? '\n\n</details>' : '';
  const render = (rows: string[], more: number): string => {
    const table = [TABLE_HEAD, ...rows].join('\n') + (more > 0 ? `\n\n… and ${more} more routes (\`rauta plan --json\` lists them all)` : '');
    return `${[...head, `${open}${table}${close}`, ...tail].join('\n\n')}\n`;
  };
  // Fill the table row by row while the comment, with its "… and N more" line, stays within maxChars.
  const rows = report.routes.map(row);
  const whole = render(rows, 0);
  if (whole.length <= maxChars) return whole;
  let budget = maxChars - render([], rows.length).length;
  const kept: string[] = [];
  for (const r of rows) {
    if (r.length + 1 > budget) break;
    kept.push(r);
    budget -= r.length + 1;
  }
  return render(kept, rows.length - kept.length);
}

/** The comment when a side does not validate: nothing was planned; here is why. */
export function invalidPlanComment(
  from: Side,
  to: Side,
  invalid: ReadonlyArray<Side & { issues: readonly ValidationIssue[] }>,
  opts: CommentOptions = {},
): string {
  const maxChars = opts.maxChars ?? MAX_COMMENT_CHARS;
  const parts = [COMMENT_MARKER, `**rauta plan** ${side(from)} → ${side(to)}: not planned, a side does not validate`];
  for (const s of invalid) {
    const errors = bullets(
      s.issues.map((i) => code(formatIssue(i))),
      'errors',
      Math.floor(maxChars / 3),
    );
    parts.push(`${side(s)}: ${plural(s.issues.length, 'error')}\n\n${errors}`);
  }
  return `${parts.join('\n\n')}\n`;
}
