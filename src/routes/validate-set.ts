// Checks over the whole route set, across files: unique names per kind, one
// rule per (method, path), one listener per address:port. Pure and linear in
// the number of definitions (plus sorting the file list), because the Git
// watcher runs it on every commit over up to 10,000 cached ParsedFiles.
import type { ValidationIssue } from '../events/event-types.js';
import { listenerId, routeId, type Listener, type Route } from './route-model.js';
import type { ParsedFile } from './parse-file.js';
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
 * Output routes and listeners are in that same order; issues are sorted.
 */
export function validateRouteSet(files: Iterable<ParsedFile>): RouteSet {
  const sorted = [...files].sort((a, b) => compareFileNames(a.file, b.file));
  const out: RouteSet = { routes: [], listeners: [], issues: [] };
  const ruleByName = new Map<string, Route>();
  const ruleById = new Map<string, Route>();
  const listenerByName = new Map<string, Listener>();
  const listenerById = new Map<string, Listener>();
  const issue = (s: { file: string; line: number }, message: string): void => {
    out.issues.push({ file: s.file, line: s.line, col: 1, message });
  };

  for (const f of sorted) {
    for (const i of f.issues) out.issues.push(i);
    // Within a file, definitions are in line order already (parse order).
    for (const r of f.routes) {
      let clash = false;
      const sameName = ruleByName.get(r.name);
      if (sameName) {
        issue(r.source, `RoutingRule name "${r.name}" is already used at ${where(sameName.source)}; names must be unique`);
        clash = true;
      }
      const id = routeId(r);
      const sameRoute = ruleById.get(id);
      if (sameRoute) {
        issue(
          r.source,
          `RoutingRule "${r.name}" routes ${id}, which RoutingRule "${sameRoute.name}" at ${where(sameRoute.source)} already routes; one rule per method and path`,
        );
        clash = true;
      }
      if (clash) continue;
      ruleByName.set(r.name, r);
      ruleById.set(id, r);
      out.routes.push(r);
    }
    for (const l of f.listeners) {
      let clash = false;
      const sameName = listenerByName.get(l.name);
      if (sameName) {
        issue(l.source, `Listener name "${l.name}" is already used at ${where(sameName.source)}; names must be unique`);
        clash = true;
      }
      const id = listenerId(l);
      const sameVip = listenerById.get(id);
      if (sameVip) {
        issue(l.source, `Listener "${l.name}" answers ${id}, which Listener "${sameVip.name}" at ${where(sameVip.source)} already answers`);
        clash = true;
      }
      if (clash) continue;
      listenerByName.set(l.name, l);
      listenerById.set(id, l);
      out.listeners.push(l);
    }
  }
  out.issues.sort(compareIssues);
  return out;
}
