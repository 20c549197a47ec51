// Validation issues as CI platforms read them: GitHub Actions workflow
// commands (annotations on the changed lines) and a GitLab Code Quality
// report (a widget on the merge request). Pure: the CLI hands over issues
// whose paths are already relative to the repository root.
import { fnv1a64 } from '../model/fnv1a.js';
import { printable, printablePath } from '../routes/printable.js';

/** An issue as a platform places it: `path` relative to the repository root ('/'-separated), or null for the route set as a whole. */
export interface RepoIssue {
  path: string | null;
  line: number;
  col: number;
  message: string;
}

/** Workflow-command data (the message): %, CR and LF percent-encoded, as @actions/core escapes it. */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow-command property value (file=, title=): as data, plus ':' and ','. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** One `::error file=…,line=…,col=…,title=…::message` line per issue. */
export function githubAnnotations(issues: readonly RepoIssue[]): string {
  return issues
    .map((i) => {
      const where = i.path === null ? [] : [`file=${escapeProperty(printablePath(i.path))}`, `line=${i.line}`, `col=${i.col}`];
      const props = [...where, `title=${escapeProperty('rauta validate')}`].join(',');
      return `::error ${props}::${escapeData(printable(i.message))}\n`;
    })
    .join('');
}

/** GitLab's check_name for every issue: each one blocks the commit, as the watcher would reject it. */
export const GITLAB_CHECK_NAME = 'rauta-validate';

export interface CodeQualityIssue {
  type: 'issue';
  check_name: string;
  description: string;
  categories: string[];
  severity: 'blocker';
  fingerprint: string;
  location: { path: string; lines: { begin: number } };
}

/**
 * GitLab Code Quality entries. The fingerprint names an issue across pipelines:
 * FNV-1a 64 of check, path, message and which of the same (path, message) it
 * is, without the line, so an edit above it does not make it "new".
 */
export function gitlabCodeQuality(issues: readonly RepoIssue[]): CodeQualityIssue[] {
  const seen = new Map<string, number>();
  return issues.map((i) => {
    // GitLab needs a path: an issue about the whole set goes on the repository root.
    const path = i.path === null ? '.' : printablePath(i.path);
    const description = printable(i.message);
    const same = `${path}\u0000${description}`;
    const nth = seen.get(same) ?? 0;
    seen.set(same, nth + 1);
    return {
      type: 'issue',
      check_name: GITLAB_CHECK_NAME,
      description,
      categories: ['Bug Risk'],
      severity: 'blocker',
      fingerprint: fnv1a64(`${GITLAB_CHECK_NAME}\u0000${same}\u0000${nth}`).toString(16).padStart(16, '0'),
      location: { path, lines: { begin: i.line } },
    };
  });
}
