// A real redis-server for tests: a free port on 127.0.0.1, AOF on with fsync always (so a
// SIGKILL loses nothing acknowledged), data in a temp dir, ready once PING answers, and always
// stopped when the test ends (t.after) or the test process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface RedisServer {
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  port: number;
  password: string | null;
  dir: string;
  /** Graceful stop (SHUTDOWN via SIGTERM); data stays in `dir`. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; the AOF in `dir` keeps every acknowledged write. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (after stop/kill, or stops first if running). */
  restart(opts?: { kill?: boolean }): Promise<void>;
  /** Stops and removes the temp dir (registered with t.after). */
  dispose(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** One PING over raw TCP: true once the server answers (+PONG, or an auth error when a password is set). */
function ping(port: number, password: string | null): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('+PONG')) done(true);
      else if (buf.includes('-LOADING')) done(false);
      else if (buf.startsWith('-')) done(false);
    });
  });
}

async function waitReady(child: ChildProcess, port: number, password: string | null, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}) before answering PING:\n${log()}`);
    }
    if (await ping(port, password)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within 20 s:\n${log()}`);
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts redis-server; pass the test context so it is stopped and its dir removed after the test. */
export async function startRedisServer(t?: Pick<TestContext, 'after'>, opts: { password?: string } = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-redis-'));
  const password = opts.password ?? null;
  let port = 0;
  let child: ChildProcess | null = null;
  let output = '';

  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'no',
      '--loglevel',
      'warning',
    ];
    if (password) args.push('--requirepass', password);
    output = '';
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (d) => (output = (output + d.toString()).slice(-4000)));
    c.stderr?.on('data', (d) => (output = (output + d.toString()).slice(-4000)));
    c.once('exit', () => live.delete(c));
    live.add(c);
    child = c;
    await waitReady(c, port, password, () => output);
  };

  // the free port can be taken between probe and bind: retry with another one
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (child) {
        (child as ChildProcess).kill('SIGKILL');
        await waitExit(child);
      }
      if (attempt >= 3) throw err;
    }
  }

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (!c) return;
    c.kill(signal);
    await waitExit(c);
  };
  const server: RedisServer = {
    url: password ? `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`,
    port,
    password,
    dir,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart(o = {}) {
      await halt(o.kill ? 'SIGKILL' : 'SIGTERM');
      await launch();
    },
    async dispose() {
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t?.after(() => server.dispose());
  return server;
}
