// Checks over the whole route set, across files: unique names per kind, one
// rule per match (method, host, path and its type), one listener per address:port. Pure and linear in
// the number of definitions (plus sorting the file list), because the Git
// watcher runs it on every commit over up to 10,000 cached ParsedFiles.
import type { ValidationIssue } from './issues.js';
import { listenerId, routeId, type Listener, type Route } from './route-model.js';
import type { Claim, ParsedFile } from './parse-file.js';
import { compareFileNames, compareIssues } from './issues.js';

export interface RouteSet {
  routes: Route[];
  listeners: Listener[];
  issues: ValidationIssue[];
}

const where = (s: { file: string; line: number }): string => `${s.file}:${s.line}`;

/**
 * Validates the union of `files`. The first definition (by file name, then
 * line) wins; every later clash is an issue at the later one naming the first.
 * Documents that failed their own checks still take part (ParsedFile.invalid),
 * so a duplicate shows up in the same run as their other errors. Output
 * routes and listeners are in that same order; issues are sorted.
 */
export function validateRouteSet(files: Iterable<ParsedFile>): RouteSet {
  const sorted = [...files].sort((a, b) => compareFileNames(a.file, b.file));
  const out: RouteSet = { routes: [], listeners: [], issues: [] };
  const byName = { RoutingRule: new Map<string, Definition>(), Listener: new Map<string, Definition>() };
  const byId = { RoutingRule: new Map<string, Definition>(), Listener: new Map<string, Definition>() };

  for (const f of sorted) {
    for (const i of f.issues) out.issues.push(i);
    for (const d of definitions(f)) {
      let clash = false;
      const sameName = d.name === undefined ? undefined : byName[d.kind].get(d.name);
      if (sameName) {
        clash = true;
        out.issues.push(at(d, `${d.kind} name "${d.name ?? ''}" is already used at ${where(sameName.source)}; names must be unique`));
      }
      const sameId = d.id === undefined ? undefined : byId[d.kind].get(d.id);
      if (sameId) {
        clash = true;
        const verb = d.kind === 'RoutingRule' ? 'routes' : 'answers';
        const tail = d.kind === 'RoutingRule' ? '; two rules may not match exactly the same requests (same method, host and path)' : '';
        out.issues.push(at(d, `${label(d)} ${verb} ${d.id ?? ''}, which ${label(sameId)} at ${where(sameId.source)} already ${verb}${tail}`));
      }
      // The first definition keeps its name and identity, valid or not.
      if (d.name !== undefined && !sameName) byName[d.kind].set(d.name, d);
      if (d.id !== undefined && !sameId) byId[d.kind].set(d.id, d);
      if (clash) continue;
      if (d.route) out.routes.push(d.route);
      if (d.listener) out.listeners.push(d.listener);
    }
  }
  out.issues.sort(compareIssues);
  return out;
}

interface Definition extends Claim {
  route?: Route;
  listener?: Listener;
}

/** A file's valid and invalid definitions in line order. */
function definitions(f: ParsedFile): Definition[] {
  const defs: Definition[] = [
    ...f.routes.map((r) => ({ kind: 'RoutingRule' as const, name: r.name, id: routeId(r), source: r.source, route: r })),
    ...f.listeners.map((l) => ({ kind: 'Listener' as const, name: l.name, id: listenerId(l), source: l.source, listener: l })),
    ...(f.invalid ?? []),
  ];
  return defs.sort((a, b) => a.source.line - b.source.line);
}

const label = (d: Claim): string => (d.name === undefined ? `a ${d.kind}` : `${d.kind} "${d.name}"`);
const at = (d: Claim, message: string): ValidationIssue => ({ file: d.source.file, line: d.source.line, col: 1, message });
