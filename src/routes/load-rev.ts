// I/O edge: reads the route files of one commit straight from the Git object
// store (no checkout), for `rauta validate --rev REF`.
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { RautaError } from '../errors.js';
import { isRouteFile, oversizedFile, parseRouteFile, type ParsedFile } from './parse-file.js';
import { MAX_FILE_BYTES } from './safe-text.js';
import { isGitDir } from './load-dir.js';
import { printable, printablePath, quote } from './printable.js';
import { validateRouteSet } from './validate-set.js';

export interface RevOptions {
  /** working copy (with .git) or bare repository */
  repo: string;
  /** branch, tag, full or abbreviated sha, HEAD; with optional ~N / ^ suffixes (first parent) */
  ref: string;
  /** folder inside the repository that holds the route files ('' for the whole tree) */
  root?: string;
}

export interface RevRouteSet {
  commit: string;
  files: ParsedFile[];
  result: ReturnType<typeof validateRouteSet>;
}

/** ParsedFile.file is the path inside the repository, as the Git watcher names it. */
export async function loadRouteRev(opts: RevOptions): Promise<RevRouteSet> {
  const gitdir = fs.existsSync(join(opts.repo, '.git')) ? join(opts.repo, '.git') : opts.repo;
  // Say so before anything asks it for a revision ("unknown revision HEAD" would send the reader looking for a typo).
  if (!fs.existsSync(opts.repo))
    throw new RautaError('RAUTA_ERR_GIT', `${printablePath(opts.repo)} does not exist; pass the path of a clone of the routes repository`);
  if (!isGitDir(gitdir)) {
    throw new RautaError(
      'RAUTA_ERR_GIT',
      `${printablePath(opts.repo)} is not a Git repository (no .git folder, not a bare repository); pass the path of a clone`,
    );
  }
  const cache = {};
  const base = { fs, gitdir, cache };
  const root = (opts.root ?? '').replace(/^\/+|\/+$/g, '');
  try {
    const commit = await resolveRev(base, opts.ref);
    let top;
    try {
      top = await git.readTree({ ...base, oid: commit, filepath: root || undefined });
    } catch (err) {
      throw new RautaError('RAUTA_ERR_GIT', `folder ${quote(root)} does not exist in ${printable(opts.ref)} (${commit.slice(0, 12)}); check --root`, {
        cause: err,
      });
    }
    const files: ParsedFile[] = [];
    const walk = async (entries: typeof top.tree, prefix: string): Promise<void> => {
      for (const e of entries) {
        if (e.path.startsWith('.')) continue;
        const path = prefix ? `${prefix}/${e.path}` : e.path;
        if (e.type === 'tree') await walk((await git.readTree({ ...base, oid: e.oid })).tree, path);
        // Regular files only: 120000 is a symlink, type 'commit' a submodule.
        else if (e.type === 'blob' && e.mode !== '120000' && isRouteFile(path)) {
          const { blob } = await git.readBlob({ ...base, oid: e.oid });
          files.push(blob.length > MAX_FILE_BYTES ? oversizedFile(path, blob.length) : parseRouteFile(path, blob));
        }
      }
    };
    await walk(top.tree, root);
    return { commit, files, result: validateRouteSet(files) };
  } catch (err) {
    if (err instanceof RautaError) throw err;
    throw new RautaError('RAUTA_ERR_GIT', `cannot read ${quote(opts.ref)} in ${printablePath(opts.repo)}: ${printable((err as Error).message)}`, {
      cause: err,
    });
  }
}

type GitBase = { fs: typeof fs; gitdir: string; cache: object };

/** REF[~N|^]... to a commit oid, following first parents like `git rev-parse`. */
async function resolveRev(base: GitBase, rev: string): Promise<string> {
  const m = /^(.*?)((?:~[0-9]*|\^1?)*)$/.exec(rev);
  const name = m?.[1] ?? rev;
  const suffix = m?.[2] ?? '';
  let oid: string;
  if (/^[0-9a-f]{4,40}$/i.test(name)) {
    try {
      oid = await git.expandOid({ ...base, oid: name.toLowerCase() });
    } catch {
      oid = await git.resolveRef({ ...base, ref: name });
    }
  } else {
    oid = await git.resolveRef({ ...base, ref: name }).catch(async () => {
      // Plain names that are not refs: try the common namespaces, like git does.
      for (const ref of [`refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`]) {
        try {
          return await git.resolveRef({ ...base, ref });
        } catch {
          /* next */
        }
      }
      throw new RautaError('RAUTA_ERR_GIT', `unknown revision ${quote(name)}`);
    });
  }
  let { oid: commit, commit: body } = await git.readCommit({ ...base, oid });
  for (const step of suffix.match(/~[0-9]*|\^1?/g) ?? []) {
    const n = step.startsWith('~') ? Number(step.slice(1) || '1') : 1;
    for (let i = 0; i < n; i++) {
      const parent = body.parent[0];
      if (parent === undefined) throw new RautaError('RAUTA_ERR_GIT', `${rev}: commit ${commit.slice(0, 12)} has no parent`);
      ({ oid: commit, commit: body } = await git.readCommit({ ...base, oid: parent }));
    }
  }
  return commit;
}
