// Real Git repositories for tests, built with the git CLI in a temp dir:
// commits by named authors at fixed times, so shas and events are reproducible.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openEventLog } from '../src/events/event-log.js';
import { startWatcher } from '../src/git/watcher.js';

export interface Author {
  name: string;
  email: string;
}

export const ALICE: Author = { name: 'Alice Example', email: 'alice@example.com' };
export const BOB: Author = { name: 'Bob Example', email: 'bob@example.com' };

/** A temp dir removed by `cleanup` (register it with t.after). */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rauta-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export class TestRepo {
  /** fixed clock: every commit is one minute after the previous one */
  private clock = 1_700_000_000;

  constructor(readonly dir: string) {}

  static init(dir: string, branch = 'main'): TestRepo {
    fs.mkdirSync(dir, { recursive: true });
    const repo = new TestRepo(dir);
    repo.git('init', '-q', '-b', branch);
    repo.git('config', 'user.name', 'Test');
    repo.git('config', 'user.email', 'test@example.com');
    repo.git('config', 'commit.gpgsign', 'false');
    return repo;
  }

  git(...args: string[]): string {
    return execFileSync('git', args, {
      cwd: this.dir,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: this.dir, ...this.dateEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  }

  private dateEnv: Record<string, string> = {};

  /** Like git(), without blocking the event loop: needed when the server is in this process (push, fetch). */
  gitAsync(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('git', args, { cwd: this.dir, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: this.dir } }, (err, stdout, stderr) =>
        err ? reject(new Error(`git ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout.trim()),
      );
    });
  }

  write(file: string, content: string): this {
    const full = path.join(this.dir, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, content);
    return this;
  }

  remove(file: string): this {
    this.git('rm', '-q', file);
    return this;
  }

  move(from: string, to: string): this {
    fs.mkdirSync(path.dirname(path.join(this.dir, to)), { recursive: true });
    this.git('mv', from, to);
    return this;
  }

  /** Stage everything and commit as `author` at the next tick of the fixed clock; returns the sha. */
  commit(subject: string, author: Author = ALICE, opts: { allowEmpty?: boolean } = {}): string {
    return this.asAuthor(author, () => {
      this.git('add', '-A');
      this.git('commit', '-q', ...(opts.allowEmpty ? ['--allow-empty'] : []), '-m', subject);
    });
  }

  /** Runs `write` with `author` as author and committer at the next tick of the fixed clock; returns the new head. */
  private asAuthor(author: Author, write: () => void): string {
    this.clock += 60;
    const date = `${this.clock} +0000`;
    this.dateEnv = {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_NAME: author.name,
      GIT_COMMITTER_EMAIL: author.email,
      GIT_COMMITTER_DATE: date,
    };
    try {
      write();
      return this.head();
    } finally {
      this.dateEnv = {};
    }
  }

  /** Merge `branch` into the current branch with a merge commit (no fast-forward). */
  merge(branch: string, subject: string, author: Author = ALICE): string {
    return this.asAuthor(author, () => {
      this.git('merge', '-q', '--no-ff', '-m', subject, branch);
    });
  }

  head(ref = 'HEAD'): string {
    return this.git('rev-parse', ref);
  }

  time(): number {
    return this.clock;
  }
}

export interface RouteSpec {
  name: string;
  /** default GET; null: no method (any) */
  method?: string | null;
  path: string;
  /** default Exact */
  type?: 'Exact' | 'PathPrefix';
  host?: string;
  /** "ip:port" endpoints */
  backends: string[];
  /** spec.healthCheck fields, written as given (flow-style YAML) */
  healthCheck?: Record<string, string | number>;
}

/** A route file with one RoutingRule document per route (helper C's format, rauta.io/v1). */
export function routeYaml(routes: RouteSpec[]): string {
  return routes
    .map(
      (r) =>
        `---\napiVersion: rauta.io/v1\nkind: RoutingRule\nmetadata:\n  name: ${r.name}\nspec:\n  match:\n${r.method === null ? '' : `    method: ${r.method ?? 'GET'}\n`}${r.host ? `    host: "${r.host}"\n` : ''}    path:\n      type: ${r.type ?? 'Exact'}\n      value: ${r.path}\n  backends:\n${r.backends
          .map((b) => `    - endpoint: ${b}\n`)
          .join('')}${r.healthCheck ? `  healthCheck: ${JSON.stringify(r.healthCheck)}\n` : ''}`,
    )
    .join('');
}

/** A Listener document. */
export function listenerYaml(name: string, address: string, port: number): string {
  return `---\napiVersion: rauta.io/v1\nkind: Listener\nmetadata:\n  name: ${name}\nspec:\n  address: ${address}\n  port: ${port}\n`;
}

/**
 * The watcher on a local TestRepo with its file watch alone (the poll set to an hour, the
 * ref check off), writing a file log at logPath. close() stops the watcher, then the log.
 */
export async function watchLocalRepo(repo: TestRepo, logPath: string) {
  const log = await openEventLog(logPath, { writer: true });
  const errors: unknown[] = [];
  const watcher = await startWatcher({ repo: repo.dir, branch: 'main', root: 'routes', log, pollMs: 3_600_000, refCheckMs: 0, onError: (e) => errors.push(e) });
  const close = async (): Promise<void> => {
    await watcher.close();
    await log.close();
  };
  return { log, watcher, errors, close };
}
