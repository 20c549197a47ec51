// I/O edge: reads every route file under a folder of the working tree.
// Hidden entries (.git, .github) and symlinks are skipped, as the Git watcher
// would see them: a symlink in Git is a link blob, not the file it points to.
// A file named on the command line is held to the same rule (a link to
// /proc/self/environ would print the environment in an error), and every file is
// read through a hard byte limit: the size in `stat` is not trusted (a link to
// /dev/zero, a FIFO, a file growing while it is read).
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { existsSync } from 'node:fs';
import { RautaError } from '../errors.js';
import { printablePath } from './printable.js';
import { isRouteFile, oversizedFile, parseRouteFile, type ParsedFile } from './parse-file.js';
import { MAX_FILE_BYTES } from './safe-text.js';
import { validateRouteSet } from './validate-set.js';

export { formatIssue } from './issues.js';
export { isRouteFile } from './parse-file.js';

/**
 * Parses and validates every *.yaml/*.yml under `dir` (or the single file
 * `dir`). ParsedFile.file is `dir` joined with the file's relative path, so
 * messages name paths usable from the caller's working directory.
 */
export async function loadRouteDir(dir: string): Promise<{ files: ParsedFile[]; result: ReturnType<typeof validateRouteSet> }> {
  const info = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot read ${printablePath(dir)}: ${err.code ?? err.message}`, { cause: err });
  });
  if (info.isSymbolicLink()) {
    throw new RautaError(
      'RAUTA_ERR_ROUTES_READ',
      `${printablePath(dir)} is a symbolic link; rauta reads route files as Git stores them and does not follow links: name the file or folder itself`,
    );
  }
  if (!info.isDirectory() && !info.isFile()) {
    throw new RautaError('RAUTA_ERR_ROUTES_READ', `${printablePath(dir)} is not a regular file or a folder`);
  }
  if (info.isDirectory() && isGitDir(dir)) {
    throw new RautaError(
      'RAUTA_ERR_ROUTES_READ',
      `${printablePath(dir)} is a Git repository without a working tree (bare, or a .git folder): name the revision to read with --rev (e.g. --rev main)`,
    );
  }
  const paths = info.isDirectory() ? await listRouteFiles(dir) : [dir];
  const files: ParsedFile[] = [];
  for (const path of paths) files.push(await readRouteFile(path));
  return { files, result: validateRouteSet(files) };
}

async function listRouteFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (err) {
      throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot list ${printablePath(folder)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
        cause: err,
      });
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = join(folder, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile() && isRouteFile(relative(dir, path).split(sep).join('/'))) out.push(path);
    }
  };
  await walk(dir);
  return out.sort();
}

/** A bare repository (HEAD, objects/, refs/) or the .git folder of a working copy. */
export function isGitDir(dir: string): boolean {
  return existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects')) && existsSync(join(dir, 'refs'));
}

// No symlink (ELOOP instead), no blocking on a FIFO, then: regular files only.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

async function readRouteFile(path: string): Promise<ParsedFile> {
  const name = path.split(sep).join('/');
  let handle;
  try {
    handle = await open(path, OPEN_FLAGS);
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'not a regular file' });
    // Read at most one byte past the limit, whatever stat says.
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got > MAX_FILE_BYTES) return oversizedFile(name, Math.max(got, (await handle.stat()).size));
    return parseRouteFile(name, buf.subarray(0, got));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'a symbolic link (not followed)' : (code ?? String(err));
    throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot read ${printablePath(path)}: ${why}`, { cause: err });
  } finally {
    await handle?.close();
  }
}
