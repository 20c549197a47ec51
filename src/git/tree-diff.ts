// Diff two Git trees by walking both with readTree and descending only into
// entries whose oids differ: an unchanged subtree costs one oid comparison,
// so the cost grows with the change, not with the repository.
import type { TreeEntry, TreeReader } from './tree-reader.js';

const SYMLINK = '120000';

/** One changed file: null oid on one side means added or deleted. */
export interface FileChange {
  /** slash-separated path relative to the diffed trees, prefixed with `prefix` */
  path: string;
  oldOid: string | null;
  newOid: string | null;
}

/** Every blob path under `oldTree` and `newTree` whose blob oid differs (null tree = empty tree). */
export async function diffTrees(reader: TreeReader, oldTree: string | null, newTree: string | null, prefix = ''): Promise<FileChange[]> {
  const out: FileChange[] = [];
  await diffInto(reader, oldTree, newTree, prefix, out);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

async function diffInto(reader: TreeReader, oldTree: string | null, newTree: string | null, prefix: string, out: FileChange[]): Promise<void> {
  if (oldTree === newTree) return;
  const [oldEntries, newEntries] = await Promise.all([
    oldTree ? reader.readTree(oldTree) : Promise.resolve([] as TreeEntry[]),
    newTree ? reader.readTree(newTree) : Promise.resolve([] as TreeEntry[]),
  ]);
  const oldByName = new Map(oldEntries.map((e) => [e.path, e]));
  const newByName = new Map(newEntries.map((e) => [e.path, e]));
  const subdirs: Promise<void>[] = [];
  for (const name of new Set([...oldByName.keys(), ...newByName.keys()])) {
    const before = oldByName.get(name);
    const after = newByName.get(name);
    if (before && after && before.oid === after.oid && before.mode === after.mode) continue;
    const path = prefix ? `${prefix}/${name}` : name;
    // A name can switch between file and folder: treat it as delete one kind, add the other.
    const oldSub = before?.type === 'tree' ? before.oid : null;
    const newSub = after?.type === 'tree' ? after.oid : null;
    // Symlinks (mode 120000) are blobs holding a path, not file content: not route files.
    const oldBlob = before?.type === 'blob' && before.mode !== SYMLINK ? before.oid : null;
    const newBlob = after?.type === 'blob' && after.mode !== SYMLINK ? after.oid : null;
    if (oldSub || newSub) subdirs.push(diffInto(reader, oldSub, newSub, path, out));
    if (oldBlob !== newBlob) out.push({ path, oldOid: oldBlob, newOid: newBlob });
  }
  await Promise.all(subdirs);
}

/** The tree oid at `root` (slash-separated, '' = the tree itself) inside `tree`, or null when absent. */
export async function resolveSubtree(reader: TreeReader, tree: string, root: string): Promise<string | null> {
  let current = tree;
  for (const part of root.split('/').filter((p) => p !== '' && p !== '.')) {
    const entry = (await reader.readTree(current)).find((e) => e.path === part);
    if (entry?.type !== 'tree') return null;
    current = entry.oid;
  }
  return current;
}

/** Every blob under `tree` (for loading the last accepted state once at start). */
export async function listBlobs(reader: TreeReader, tree: string | null, prefix = ''): Promise<FileChange[]> {
  return diffTrees(reader, null, tree, prefix);
}
