// From a branch head to appended events, exactly once per commit.
//
// The log is the only memory: each run reads the last commit marker
// (CommitAccepted/CommitRejected) and the last accepted tree from the log,
// walks the branch first-parent from its head back to that commit, and appends
// one batch per commit with expectedHead. A watcher killed between fetch and
// append, or restarted, resumes where the log ends; a batch that lost a race
// fails the expectedHead check and the run starts over from the log.
import type { EventLog } from '../events/event-log.js';
import type { RautaEventBody } from '../routes/route-events.js';
import { RautaError } from '../errors.js';
import { applyDelta, commitToEvents, EMPTY_TREE, emptyState, loadState, normalizeRoot, ParseCache, type AcceptedState } from './commit-to-events.js';
import { GitStore } from './git-store.js';
import { DEFAULT_CAPACITY, type Capacity } from '../routes/capacity.js';
import { encodeParseCache, loadParseCache, writeParseCache } from './parse-cache-file.js';
import { ParsePool, type BulkParser } from './parse-pool.js';
import type { CommitInfo } from './tree-reader.js';

export interface ProcessorOptions {
  /** branch or ref to follow: `main`, `refs/heads/main`, `refs/remotes/origin/main` */
  ref: string;
  /** watched subfolder ('' = whole repo) */
  root?: string;
  /**
   * Only for an empty log: the first commit to record (diffed against the empty
   * tree, so the log still starts from a full route set). Default: the first
   * commit of the branch's first-parent history.
   */
  since?: string | null;
  /** validate every file of each commit's set, not just the changed files and their clash partners (tests) */
  fullValidation?: boolean;
  /** the agents' map capacity: a commit needing more is rejected (default: the sizes in bpf/rauta.h) */
  capacity?: Capacity;
  /**
   * The parse cache file (parse-cache-file.ts): read once when the accepted state is
   * first loaded, so only files it does not have are parsed; written after a load or
   * every SAVE_AFTER_FILES parsed files, and by close(). Default: none.
   */
  cacheFile?: string | null;
  /** a cache file that could not be written (the watcher keeps going without it) */
  onWarning?: (message: string, detail: object) => void;
  /** parses many files at once (default: a ParsePool) */
  parser?: BulkParser;
}

export interface ProcessResult {
  /** events appended by this run */
  appended: number;
  /** commits recorded by this run (accepted or rejected) */
  commits: number;
  /** sha of the head that was processed */
  head: string;
  /** set when this run loaded the accepted state in full (a start, or a restart after a lost race) */
  loaded?: StateLoad;
}

/** How a full load of the accepted state went. */
export interface StateLoad {
  /** route files in the accepted tree */
  files: number;
  /** of those, read from Git and parsed (the rest came from the parse cache) */
  parsed: number;
  /** the cache file's verdict: "hit (N files)" or why it was not used; "none" without a cache file */
  cache: string;
  ms: number;
}

/** Parsed files not yet in the cache file after which it is written again (besides close()). */
export const SAVE_AFTER_FILES = 64;

/** The plan for one run: commits to record, oldest first. */
interface Plan {
  commits: CommitInfo[];
  rewrittenFrom: string | null;
}

type WatcherLog = Pick<EventLog, 'append' | 'head' | 'lastCommitMarker' | 'lastAccepted'>;

/** Keeps the parsed state between runs so a long-running watcher pays O(change) per commit. */
export class CommitProcessor {
  readonly root: string;
  private state: AcceptedState | null = null;
  private readonly cache = new ParseCache();
  private readonly parser: BulkParser;
  /** files parsed (not taken from the ParseCache) since the parser was made: counts a load's work */
  private parsedFiles = 0;
  /** the cache file's verdict once it was read ("none": no cache file) */
  private cacheVerdict: string | null = null;
  /** files of the state parsed or changed since the cache file was last written */
  private unsaved = 0;
  private saving: Promise<void> = Promise.resolve();
  private lastLoad: StateLoad | undefined;

  constructor(
    readonly store: GitStore,
    private readonly options: ProcessorOptions,
  ) {
    this.root = normalizeRoot(options.root ?? '');
    const inner = options.parser ?? new ParsePool();
    this.parser = {
      expect: (n) => inner.expect(n),
      parse: (files) => {
        this.parsedFiles += files.length;
        return inner.parse(files);
      },
      finish: () => inner.finish(),
    };
  }

  async processNewCommits(log: WatcherLog): Promise<ProcessResult> {
    const result = await this.processWithRetries(log);
    if (this.lastLoad) {
      result.loaded = this.lastLoad;
      this.lastLoad = undefined;
    }
    if (this.unsaved >= SAVE_AFTER_FILES) this.saveCache();
    return result;
  }

  /** Writes the cache file if anything changed since it was written, and waits for pending writes. */
  async close(): Promise<void> {
    if (this.unsaved > 0) this.saveCache();
    await this.saving;
  }

  /** Serializes the state now; the write runs after any earlier one (never two at once). */
  private saveCache(): void {
    const file = this.options.cacheFile;
    const state = this.state;
    if (!file || !state || state.tree === null) return;
    let bytes: Buffer;
    try {
      bytes = encodeParseCache(
        this.root,
        state.tree,
        [...state.files].map(([path, parsed]) => [path, state.blobs.get(path)!, parsed]),
      );
    } catch (err) {
      this.warn(`could not encode the parse cache ${file}: ${(err as Error).message}`, { file });
      return;
    }
    this.unsaved = 0;
    this.saving = this.saving
      .then(() => writeParseCache(file, bytes))
      .catch((err: unknown) => this.warn(`could not write the parse cache ${file} (a restart parses every file again): ${(err as Error).message}`, { file }));
  }

  private warn(message: string, detail: object): void {
    if (this.options.onWarning) this.options.onWarning(message, detail);
    else process.stderr.write(`rauta: warning: ${message}\n`);
  }

  private async processWithRetries(log: WatcherLog): Promise<ProcessResult> {
    const head = await this.store.resolve(this.options.ref);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run(log, head);
      } catch (err) {
        // Someone else appended between our read and our append: start over from the log.
        // Each loss means the other writer made progress, so this cannot spin forever.
        if (err instanceof RautaError && err.code === 'RAUTA_ERR_LOG_SEQUENCE' && attempt < 1000) {
          this.state = null;
          continue;
        }
        throw err;
      }
    }
  }

  private async run(log: WatcherLog, head: string): Promise<ProcessResult> {
    // The log's head before its last marker: a second writer that appends after this
    // read makes our first append fail its expectedHead check (and we start over),
    // however quickly its append completed. Read the other way round, its records could
    // slip in between and ours would repeat its commits.
    let seq = await log.head();
    const marker = await log.lastCommitMarker();
    if (marker && marker.commit === head) return { appended: 0, commits: 0, head };
    const plan = await this.plan(head, marker?.commit ?? null);
    if (plan.commits.length === 0) return { appended: 0, commits: 0, head };

    const accepted = await log.lastAccepted();
    const baseTree = accepted && accepted.type === 'CommitAccepted' ? accepted.tree : null;
    const state = await this.stateAt(baseTree);
    let appended = 0;
    let rewrittenFrom = plan.rewrittenFrom;
    for (const commit of plan.commits) {
      const result = await commitToEvents({
        reader: this.store,
        base: state,
        commit,
        root: this.root,
        cache: this.cache,
        rewrittenFrom,
        fullValidation: this.options.fullValidation ?? false,
        capacity: this.options.capacity ?? DEFAULT_CAPACITY,
        parser: this.parser,
      });
      rewrittenFrom = null;
      const written = await log.append(result.events, { expectedHead: seq });
      seq = written.at(-1)?.seq ?? seq;
      appended += written.length;
      if (result.delta) {
        applyDelta(state, result.delta);
        this.unsaved += result.delta.files.size;
      }
    }
    return { appended, commits: plan.commits.length, head };
  }

  private async plan(head: string, lastProcessed: string | null): Promise<Plan> {
    if (lastProcessed === null) {
      const since = this.options.since ? await this.store.resolve(this.options.since) : null;
      const commits = await this.firstParentChain(head, since);
      if (since && commits[0]?.oid !== since) {
        throw new RautaError(
          'RAUTA_ERR_USAGE',
          `--since ${this.options.since} is not on the first-parent history of ${this.options.ref}; pass a commit of that branch`,
        );
      }
      return { commits, rewrittenFrom: null };
    }
    const chain = await this.firstParentChain(head, lastProcessed);
    if (chain[0]?.oid === lastProcessed) return { commits: chain.slice(1), rewrittenFrom: null };
    const headCommit = await this.store.readCommit(head);
    // Head descends from the last commit but not along first parents (e.g. a branch
    // that merged main was fast-forwarded into main): record the head as one step.
    if (await this.store.isDescendent(head, lastProcessed)) return { commits: [headCommit], rewrittenFrom: null };
    // Force-push: diff the last accepted tree against the new head directly.
    return { commits: [headCommit], rewrittenFrom: lastProcessed };
  }

  /** First-parent ancestors of head, oldest first, starting at `stop` when it is met (inclusive). */
  private async firstParentChain(head: string, stop: string | null): Promise<CommitInfo[]> {
    const chain: CommitInfo[] = [];
    let oid: string | undefined = head;
    while (oid) {
      const commit = await this.store.readCommit(oid);
      chain.push(commit);
      if (oid === stop) break;
      oid = commit.parents[0];
    }
    return chain.reverse();
  }

  private async stateAt(tree: string | null): Promise<AcceptedState> {
    const wanted = tree === EMPTY_TREE ? null : tree;
    if (this.state && this.state.tree === wanted) return this.state;
    if (wanted === null) return (this.state = emptyState());
    const started = performance.now();
    const verdict = this.cacheVerdict === null ? (this.cacheVerdict = await this.readCacheFile()) : 'in memory (files parsed by earlier runs)';
    const parsedBefore = this.parsedFiles;
    try {
      this.state = await loadState(this.store, wanted, this.root, this.cache, this.parser);
      const parsed = this.parsedFiles - parsedBefore;
      this.unsaved += parsed;
      this.lastLoad = { files: this.state.files.size, parsed, cache: verdict, ms: Math.round(performance.now() - started) };
    } catch (err) {
      if (err instanceof RautaError && err.code === 'RAUTA_ERR_GIT' && /cannot read tree/.test(err.message)) {
        throw new RautaError(
          'RAUTA_ERR_GIT',
          `the log's last accepted tree ${wanted} is not in ${this.store.gitdir}: was the log written from another repository or root? ` +
            'Point the watcher at the right repository, or rebuild the log with `rauta log rebuild --replace`',
          { cause: err },
        );
      }
      throw err;
    }
    return this.state;
  }

  /** Fills the ParseCache from the cache file (once); returns its verdict. */
  private async readCacheFile(): Promise<string> {
    const file = this.options.cacheFile;
    if (!file) return 'none';
    const loaded = await loadParseCache(file, this.root);
    if (!loaded.ok) return `not used: ${loaded.why}`;
    for (const [path, oid, parsed] of loaded.entries) this.cache.set(oid, path, parsed);
    return `hit (${loaded.entries.length} files of tree ${loaded.tree.slice(0, 12)})`;
  }
}

export interface ProcessNewCommitsOptions extends ProcessorOptions {
  /** a working copy or a bare repository */
  dir: string;
  log: WatcherLog;
}

/** One pass without a long-running watcher: record every commit the log does not have yet. */
export async function processNewCommits(options: ProcessNewCommitsOptions): Promise<ProcessResult> {
  return new CommitProcessor(GitStore.open(options.dir), options).processNewCommits(options.log);
}

export interface CommitsToEventsOptions extends ProcessorOptions {
  dir: string;
}

/**
 * The batches a fresh log would hold for the branch, without touching any log
 * (for `rauta log rebuild`, `rauta validate --rev`, `rauta plan`). One batch per commit.
 */
export async function commitsToEvents(options: CommitsToEventsOptions): Promise<RautaEventBody[][]> {
  const batches: RautaEventBody[][] = [];
  const memory: WatcherLog & { events: RautaEventBody[] } = {
    events: [],
    async append(batch) {
      const start = this.events.length;
      this.events.push(...batch);
      batches.push(batch);
      return batch.map((e, i) => ({ ...e, seq: start + i + 1 }));
    },
    async head() {
      return this.events.length;
    },
    async lastCommitMarker() {
      return null;
    },
    async lastAccepted() {
      return null;
    },
  };
  await processNewCommits({ ...options, log: memory });
  return batches;
}
