// Network namespaces and veth pairs for attach tests, with unique names and cleanup.
import { execFileSync } from 'node:child_process';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run `ip` inside a namespace. */
export function ipIn(ns: string, ...args: string[]): string {
  return ip('-n', ns, ...args);
}

/** A short unique suffix: interface names are limited to 15 bytes. */
export function uniqueSuffix(): string {
  return `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(-7);
}

export interface VethNs {
  ns: string;
  a: string;
  b: string;
  /** Delete the namespace (and with it both veth ends). Safe to call twice. */
  destroy(): void;
}

/** A namespace holding a veth pair a <-> b, both up. */
export function createVethNs(prefix = 'rt'): VethNs {
  const s = uniqueSuffix();
  const ns = `${prefix}ns${s}`;
  const a = `${prefix}a${s}`;
  const b = `${prefix}b${s}`;
  ip('netns', 'add', ns);
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    try {
      ip('netns', 'del', ns);
    } catch {
      /* already gone */
    }
  };
  try {
    ipIn(ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    ipIn(ns, 'link', 'set', a, 'up');
    ipIn(ns, 'link', 'set', b, 'up');
  } catch (err) {
    destroy();
    throw err;
  }
  return { ns, a, b, destroy };
}

export function netnsList(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}
