// isomorphic-git behind the TreeReader seam, plus the commit and ref reads the
// processor needs. One `cache` object is shared by every call so pack indexes
// are parsed once per store, not once per object read. Trees and blobs, which a
// watcher reads by the thousand when it loads a repository, come from
// ObjectReader (object-reader.ts) first: isomorphic-git reads what it cannot.
import fs from 'node:fs';
import path from 'node:path';
import git, { type CommitObject } from 'isomorphic-git';
import { RautaError } from '../errors.js';
import { ObjectReader, parseTree, type ObjectType } from './object-reader.js';
import type { CommitInfo, TreeEntry, TreeReader } from './tree-reader.js';

/** Trees kept by oid: enough for the paths a few commits touch, small next to a 10,000-file repo. */
const TREE_CACHE = 2_000;

export class GitStore implements TreeReader {
  private readonly cache: object = {};
  private readonly commits = new Map<string, CommitInfo>();
  private readonly trees = new Map<string, TreeEntry[]>();
  private readonly objects: ObjectReader;

  constructor(readonly gitdir: string) {
    this.objects = new ObjectReader(gitdir);
  }

  /** A store for a working copy (`dir/.git`) or a bare repository (`dir` itself). */
  static open(repoPath: string): GitStore {
    const dotGit = path.join(repoPath, '.git');
    if (fs.existsSync(dotGit) && fs.statSync(dotGit).isDirectory()) return new GitStore(dotGit);
    if (fs.existsSync(path.join(repoPath, 'HEAD')) && fs.existsSync(path.join(repoPath, 'objects'))) return new GitStore(repoPath);
    throw new RautaError('RAUTA_ERR_GIT', `${repoPath} is not a Git repository (no .git folder, not a bare repo); pass the path of a clone`);
  }

  async readTree(oid: string): Promise<TreeEntry[]> {
    // Trees are immutable: the next commit's diff reads this one again as its old side.
    const known = this.trees.get(oid);
    if (known) return known;
    const direct = this.direct(oid, 'tree');
    const tree = direct
      ? parseTree(direct, oid)
      : (await this.wrap(`read tree ${oid}`, () => git.readTree({ fs, gitdir: this.gitdir, oid, cache: this.cache }))).tree;
    if (this.trees.size >= TREE_CACHE) {
      const oldest = this.trees.keys().next().value;
      if (oldest !== undefined) this.trees.delete(oldest);
    }
    this.trees.set(oid, tree as TreeEntry[]);
    return tree as TreeEntry[];
  }

  async readBlob(oid: string): Promise<Uint8Array> {
    const direct = this.direct(oid, 'blob');
    if (direct) return direct;
    const { blob } = await this.wrap(`read blob ${oid}`, () => git.readBlob({ fs, gitdir: this.gitdir, oid, cache: this.cache }));
    return blob;
  }

  /** The object's content through ObjectReader; null when it cannot find it (isomorphic-git looks then). */
  private direct(oid: string, want: ObjectType): Buffer | null {
    const obj = this.objects.read(oid);
    if (!obj) return null;
    if (obj.type !== want) throw new RautaError('RAUTA_ERR_GIT', `git: cannot read ${want} ${oid} in ${this.gitdir}: it is a ${obj.type}`);
    return obj.data;
  }

  async readCommit(oid: string): Promise<CommitInfo> {
    const known = this.commits.get(oid);
    if (known) return known;
    const { commit } = await this.wrap(`read commit ${oid}`, () => git.readCommit({ fs, gitdir: this.gitdir, oid, cache: this.cache }));
    return this.rememberCommit(oid, commit);
  }

  private rememberCommit(oid: string, commit: CommitObject): CommitInfo {
    const info: CommitInfo = {
      oid,
      tree: commit.tree,
      parents: commit.parent,
      author: `${commit.author.name} <${commit.author.email}>`,
      time: commit.committer.timestamp,
      subject: commit.message.split('\n', 1)[0] ?? '',
    };
    if (this.commits.size > 10_000) this.commits.clear();
    this.commits.set(oid, info);
    return info;
  }

  /** The commit a revision points at: full or short sha, branch, tag, refs/…, with `~N` / `^` suffixes (first parents). */
  async resolve(rev: string): Promise<string> {
    const m = /^(.*?)((?:~\d*|\^1?)*)$/.exec(rev);
    const base = m?.[1] || rev;
    let oid = await this.resolveRef(base);
    for (const step of (m?.[2] ?? '').match(/~\d*|\^1?/g) ?? []) {
      const count = step.startsWith('~') ? Number(step.slice(1) || '1') : 1;
      for (let i = 0; i < count; i++) {
        const parent = (await this.readCommit(oid)).parents[0];
        if (!parent) throw new RautaError('RAUTA_ERR_GIT', `${rev}: ${oid.slice(0, 12)} has no parent (the revision goes past the first commit)`);
        oid = parent;
      }
    }
    return oid;
  }

  private async resolveRef(ref: string): Promise<string> {
    if (/^[0-9a-f]{40}$/.test(ref)) return ref;
    const oid = await this.wrap(`resolve ${ref}`, async () => {
      // Fast path for the watcher's every run: a loose full ref is one small file.
      if (ref.startsWith('refs/')) {
        const loose = await fs.promises.readFile(path.join(this.gitdir, ref), 'utf8').catch(() => '');
        if (/^[0-9a-f]{40}\n?$/.test(loose)) return loose.trim();
      }
      try {
        return await git.resolveRef({ fs, gitdir: this.gitdir, ref });
      } catch (err) {
        // Short shas: let isomorphic-git expand them.
        if (/^[0-9a-f]{4,39}$/.test(ref)) return git.expandOid({ fs, gitdir: this.gitdir, oid: ref, cache: this.cache });
        throw err;
      }
    });
    // Usually a commit (read once, then cached for the walk); an annotated tag is peeled.
    if (this.commits.has(oid)) return oid;
    const { type, object } = await this.wrap(`read ${oid}`, () => git.readObject({ fs, gitdir: this.gitdir, oid, format: 'parsed', cache: this.cache }));
    if (type === 'tag') return (object as { object: string }).object;
    if (type !== 'commit') throw new RautaError('RAUTA_ERR_GIT', `${ref} points at a ${type}, not a commit`);
    this.rememberCommit(oid, object as CommitObject);
    return oid;
  }

  async isDescendent(oid: string, ancestor: string): Promise<boolean> {
    if (oid === ancestor) return true;
    try {
      return await git.isDescendent({ fs, gitdir: this.gitdir, oid, ancestor, depth: -1, cache: this.cache });
    } catch {
      return false; // ancestor not in this repository any more (e.g. pruned after a force-push)
    }
  }

  private async wrap<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof RautaError) throw err;
      throw new RautaError('RAUTA_ERR_GIT', `git: cannot ${what} in ${this.gitdir}: ${(err as Error).message}`, { cause: err });
    }
  }
}
