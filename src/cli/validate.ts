// `rauta validate [DIR]`: checks a routes folder (or one commit of a Git repo)
// the way the watcher will, and prints file:line:col errors plus a summary.
import type { Command } from 'commander';
import { lstatSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { RautaError } from '../errors.js';
import { formatIssue, loadRouteDir } from '../routes/load-dir.js';
import { printable, printablePath } from '../routes/printable.js';
import { loadRouteRev } from '../routes/load-rev.js';
import type { ParsedFile } from '../routes/parse-file.js';
import type { RouteSet } from '../routes/validate-set.js';
import { capacityIssues, capacityNeed } from '../routes/capacity.js';
import { compareIssues } from '../routes/issues.js';
import { addCapacityOptions } from './capacity-options.js';
import { parseCapacity, type CapacityOptions } from '../routes/capacity.js';
import { parseFormat } from './output-format.js';
import { githubAnnotations, gitlabCodeQuality, type RepoIssue } from '../report/validate-formats.js';
import type { ValidationIssue } from '../routes/issues.js';

export interface ValidateOptions extends CapacityOptions {
  rev?: string;
  root?: string;
  json?: boolean;
  format?: string;
}

const FORMATS = ['github', 'gitlab'] as const;

export function register(program: Command): void {
  const cmd = program
    .command('validate')
    .description('Validate route definitions: exit 0 when valid, 1 when not, 2 on usage errors')
    .argument('[dir]', 'routes folder or single file (symbolic links are not followed); with --rev, the Git repository', '.')
    .option('--rev <ref>', 'validate this commit (branch, tag, sha, HEAD~1) without checking it out')
    .option('--root <subdir>', 'folder inside DIR that holds the route files')
    .option('--json', 'print {valid, counts, issues:[{file,line,col,message}]} as JSON')
    .option(
      '--format <format>',
      'text (default), json (as --json), github (Actions annotations: ::error file=,line=,col=), gitlab (Code Quality report, JSON); paths relative to DIR or the repository',
    );
  addCapacityOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rauta validate examples/repo\n  rauta validate . --rev origin/main --root routes --json\n  rauta validate . --rev "$HEAD_SHA" --root routes --format github\n\nFormat: docs/routes.md; JSON Schema: schemas/route-document.schema.json',
    )
    .action(async (dir: string, opts: ValidateOptions) => {
      process.exitCode = await runValidate(dir, opts, (text) => process.stdout.write(text));
    });
}

/** The command without commander: prints through `write`, returns the exit code (0 valid, 1 not; throws RautaError for 2). */
export async function runValidate(dir: string, opts: ValidateOptions, write: (text: string) => void): Promise<number> {
  const capacity = parseCapacity(opts);
  const format = parseFormat(opts, FORMATS);
  let label: string;
  let commit: string | undefined;
  let loaded: { files: ParsedFile[]; result: RouteSet };
  if (opts.rev !== undefined) {
    if (opts.rev.trim() === '') throw new RautaError('RAUTA_ERR_USAGE', '--rev needs a revision');
    const rev = await loadRouteRev({ repo: dir, ref: opts.rev, root: opts.root ?? '' });
    commit = rev.commit;
    loaded = rev;
    label = `${printablePath(dir)}@${printable(opts.rev)} (${rev.commit.slice(0, 12)})${opts.root ? ` ${printablePath(opts.root)}` : ''}`;
  } else {
    const folder = opts.root ? join(dir, opts.root) : dir;
    loaded = await loadRouteDir(folder);
    label = printablePath(folder);
  }
  const { files } = loaded;
  // Capacity is validity: the maps the agents load must hold the whole set.
  const overCapacity = capacityIssues(capacityNeed(loaded.result.routes, loaded.result.listeners, capacity), capacity);
  const result = { ...loaded.result, issues: [...loaded.result.issues, ...overCapacity].sort(compareIssues) };
  const counts = {
    files: files.length,
    rules: result.routes.length,
    listeners: result.listeners.length,
    backends: result.routes.reduce((n, r) => n + r.backends.length, 0),
    endpoints: new Set(result.routes.flatMap((r) => r.backends.map((b) => `${b.ip}:${b.port}`))).size,
  };
  const valid = result.issues.length === 0;
  const located = (): RepoIssue[] => repoIssues(dir, opts.rev !== undefined, files, result.issues);
  if (format === 'json') {
    write(`${JSON.stringify({ valid, ...(commit ? { commit } : {}), ...counts, issues: result.issues }, null, 2)}\n`);
  } else if (format === 'gitlab') {
    write(`${JSON.stringify(gitlabCodeQuality(located()), null, 2)}\n`);
  } else {
    if (format === 'github') write(githubAnnotations(located()));
    else for (const i of result.issues) write(`${formatIssue(i)}\n`);
    const n = result.issues.length;
    const verdict = valid ? (counts.files === 0 ? 'valid, but no *.yaml or *.yml files found' : 'valid') : `${n} error${n === 1 ? '' : 's'}`;
    write(
      `${label}: ${counts.files} files, ${counts.rules} rules, ${counts.listeners} listeners, ` +
        `${counts.backends} backends (${counts.endpoints} endpoints): ${verdict}\n`,
    );
  }
  return valid ? 0 : 1;
}

/**
 * Issues with paths relative to the repository root, where CI platforms look
 * for them: with --rev the loader already names files so; a folder's files are
 * named DIR/…, so relative to DIR (which includes --root); a single file keeps
 * the path it was given (without a leading ./). An issue about no file (a capacity limit of the whole
 * set) gets no path.
 */
function repoIssues(dir: string, rev: boolean, files: readonly ParsedFile[], issues: readonly ValidationIssue[]): RepoIssue[] {
  const known = new Set(files.map((f) => f.file));
  const underDir = !rev && lstatSync(dir).isDirectory();
  const pathOf = (file: string): string | null => {
    if (!known.has(file)) return null;
    return underDir ? relative(dir, file).split(sep).join('/') : file.replace(/^(\.\/)+/, '');
  };
  return issues.map((i) => ({ path: pathOf(i.file), line: i.line, col: i.col, message: i.message }));
}
