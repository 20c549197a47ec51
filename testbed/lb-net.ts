// A load balancer's network for one test: scripts/lb-net.sh (the demo's own
// topology) with unique names and the node in a namespace of its own, the demo
// backends running in the backend namespace, and ways to act as the client.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ip, uniqueSuffix } from './netns.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const VIP = '10.0.0.10';

export interface LbNet {
  name: string;
  nodeNs: string;
  clientNs: string;
  backendNs: string;
  /** the node's interface (in nodeNs): rauta attaches here */
  nodeIf: string;
  /** the client's interface (the bridge in clientNs) */
  clientIf: string;
  /** remove everything; safe to call twice */
  destroy(): void;
}

/** Build the network (scripts/lb-net.sh up) with a unique name; the node is a namespace too. */
export function createLbNet(): LbNet {
  const name = `l${uniqueSuffix()}`;
  const nodeNs = `${name}-node`;
  ip('netns', 'add', nodeNs);
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    try {
      execFileSync('bash', ['scripts/lb-net.sh', 'down', name], { cwd: ROOT, env: { ...process.env, RAUTA_NODE_NS: nodeNs }, stdio: 'ignore' });
    } catch {
      /* already gone */
    }
    try {
      ip('netns', 'del', nodeNs);
    } catch {
      /* already gone */
    }
  };
  try {
    execFileSync('bash', ['scripts/lb-net.sh', 'up', name], { cwd: ROOT, env: { ...process.env, RAUTA_NODE_NS: nodeNs }, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    destroy();
    throw err;
  }
  return { name, nodeNs, clientNs: `${name}-demo`, backendNs: `${name}-be`, nodeIf: `${name}0`, clientIf: `${name}br`, destroy };
}

export interface Backends {
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * scripts/demo-backends.mjs in the backend namespace: a port listens on every
 * backend address, an "ip:port" on that address only (one backend that can be
 * stopped alone).
 */
export async function startBackends(net: LbNet, ports: Array<number | string>): Promise<Backends> {
  const child = spawn('ip', ['netns', 'exec', net.backendNs, process.execPath, 'scripts/demo-backends.mjs', ...ports.map(String)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo backends did not listen on ${ports.join(', ')}: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      listening.add(line);
      if (listening.size === ports.length) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo backends exited (${code}): ${stderr}`));
    });
  });
  return {
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command inside a namespace (ip netns exec), never throwing: the exit code is in the result. */
export function inNs(ns: string, cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'ip',
      ['netns', 'exec', ns, cmd, ...args],
      { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...opts.env }, cwd: ROOT },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** curl from the client namespace; -sS, a 20 s hang guard, and `-w` appended as the last line when given. */
export function curl(net: LbNet, args: string[]): Promise<CommandResult> {
  return inNs(net.clientNs, 'curl', ['-sS', '-m', '20', ...args]);
}

/** The client namespace's TCP counters (nstat, absolute values). */
export async function clientTcpCounters(net: LbNet): Promise<Record<string, number>> {
  const r = await inNs(net.clientNs, 'nstat', ['-az', '--json']);
  const all = JSON.parse(r.stdout) as { kernel: Record<string, number> };
  return all.kernel;
}
