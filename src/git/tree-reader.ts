// The one seam between the commit→events core and Git storage. The core sees
// only these functions, so it stays pure given a reader (tests and benches can
// hand it any object store); src/git/git-store.ts implements it with isomorphic-git.

export interface TreeEntry {
  /** name within its tree (no slashes) */
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
  mode: string;
}

export interface TreeReader {
  readTree(oid: string): Promise<TreeEntry[]>;
  readBlob(oid: string): Promise<Uint8Array>;
}

/** What the core needs to know about one commit. */
export interface CommitInfo {
  oid: string;
  /** root tree of the commit (not yet narrowed to the watched subfolder) */
  tree: string;
  parents: string[];
  /** "Name <email>" */
  author: string;
  /** committer time, seconds since the epoch */
  time: number;
  /** first line of the message */
  subject: string;
}
