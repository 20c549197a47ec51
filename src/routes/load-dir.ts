// I/O edge: reads every route file under a folder of the working tree.
// Hidden entries (.git, .github) and symlinks are skipped, as the Git watcher
// would see them: a symlink in Git is a link blob, not the file it points to.
import { lstat, open, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { RautaError } from '../errors.js';
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
    throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot read ${dir}: ${err.code ?? err.message}`, { cause: err });
  });
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
      throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot list ${folder}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
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

async function readRouteFile(path: string): Promise<ParsedFile> {
  const name = path.split(sep).join('/');
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    if (size > MAX_FILE_BYTES) return oversizedFile(name, size);
    return parseRouteFile(name, await handle.readFile());
  } catch (err) {
    throw new RautaError('RAUTA_ERR_ROUTES_READ', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  } finally {
    await handle?.close();
  }
}
