// The Maglev lookup table as the paper defines it (Eisenbud et al., "Maglev: A
// Fast and Reliable Software Network Load Balancer", NSDI '16, Pseudocode 1),
// written to be read, not to be fast: maglev.ts builds the same tables quickly
// and test/maglev.test.ts checks that the two agree.
import { RautaError } from '../errors.js';
import { ipToNumber } from './codecs.js';
import { LIMITS } from './layout.generated.js';

/** RAUTA_MAGLEV_SIZE in bpf/rauta.h: the table size M (prime). */
export const MAGLEV_SIZE: number = LIMITS.MAGLEV_SIZE;
/** A slot is a u8 index into the route's backend array; 255 is never one, so builds can mark empty slots with it. */
export const MAX_TABLE_BACKENDS = 255;

export interface MaglevBackend {
  readonly ip: string;
  readonly port: number;
  readonly weight: number;
}

/** The identity Maglev hashes and disruption compares: weight is not part of it. */
export function backendIdentity(b: Pick<MaglevBackend, 'ip' | 'port'>): string {
  return `${b.ip}:${b.port}`;
}

/** An unused slot of backend_list (ip 0.0.0.0, port 0): never a Maglev target. */
export function isHole(b: Pick<MaglevBackend, 'ip' | 'port'>): boolean {
  return b.port === 0 && b.ip === '0.0.0.0';
}

// A backend's preference list is (offset + j * skip) % M for j = 0, 1, ...:
// with M prime and 1 <= skip < M it visits every slot once. offset and skip
// come from two independent 32-bit hashes of "ip:port".

/** offset = h1("ip:port") % M */
export function maglevOffset(b: Pick<MaglevBackend, 'ip' | 'port'>, size: number): number {
  return identityHash(b, 0x811c9dc5, 0x85ebca6b, 0xc2b2ae35) % size;
}

/** skip = h2("ip:port") % (M - 1) + 1 */
export function maglevSkip(b: Pick<MaglevBackend, 'ip' | 'port'>, size: number): number {
  return (identityHash(b, 0x050c5d1f, 0x7feb352d, 0x846ca68b) % (size - 1)) + 1;
}

// FNV-1a (32-bit) over the characters of "ip:port" from an offset basis,
// finished with an avalanche so that the low bits, which the modulo keeps,
// depend on every character. Two bases and two avalanches give h1 and h2.
function identityHash(b: Pick<MaglevBackend, 'ip' | 'port'>, basis: number, mulA: number, mulB: number): number {
  let h = basis;
  const { ip } = b;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 58, 0x01000193); // ':'
  const port = String(b.port);
  for (let i = 0; i < port.length; i++) h = Math.imul(h ^ port.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, mulA);
  h ^= h >>> 13;
  h = Math.imul(h, mulB);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The order in which backends take turns: by ip, port, then weight, then input
 * position (equal backends are interchangeable), so the table depends on the
 * set of backends, not on the order the caller lists them in.
 */
export function populationOrder(backends: readonly MaglevBackend[]): number[] {
  const key = backends.map((b) => ipToNumber(b.ip));
  return backends
    .map((_, i) => i)
    .sort((a, b) => key[a]! - key[b]! || backends[a]!.port - backends[b]!.port || backends[a]!.weight - backends[b]!.weight || a - b);
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** What every build accepts: a prime size above the backend count, integer weights 0..65535, one of them above 0. */
export function checkMaglevInput(backends: readonly MaglevBackend[], size: number): void {
  if (!isPrime(size) || size <= backends.length) {
    throw new RautaError(
      'RAUTA_ERR_CODEC_RANGE',
      `Maglev table size ${size} must be a prime larger than the backend count (${backends.length}); rauta uses ${MAGLEV_SIZE}`,
    );
  }
  if (backends.length === 0 || backends.length > MAX_TABLE_BACKENDS) {
    throw new RautaError('RAUTA_ERR_CODEC_RANGE', `Maglev needs 1..${MAX_TABLE_BACKENDS} backends, got ${backends.length}`);
  }
  for (const b of backends) {
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > 0xffff) {
      throw new RautaError('RAUTA_ERR_CODEC_RANGE', `backend ${backendIdentity(b)} has weight ${b.weight}; weights are integers 0..65535`);
    }
  }
  if (!backends.some((b) => b.weight > 0)) throw new RautaError('RAUTA_ERR_CODEC_RANGE', 'Maglev needs at least one backend with a weight above 0');
}

/**
 * The table of `size` slots, each an index into `backends`. Pseudocode 1: the
 * backends take turns, and in its turn a backend takes the first slot of its
 * preference list that is still empty, until every slot is taken. Weights
 * (as Katran's and Cilium's weighted Maglev do it): in every round each
 * backend earns its weight in credit, and takes a turn when its credit reaches
 * the largest weight, which that turn spends. With equal weights every backend
 * takes one turn per round, the paper's fill; a weight-0 backend (a hole of the
 * backend list) takes none. Each turn fills one slot, so with equal weights
 * every backend gets floor(M/N) or ceil(M/N) slots, and a weighted one is
 * within 2 + N*w/W slots of its share M*w/W.
 */
export function referenceMaglevTable(backends: readonly MaglevBackend[], size = MAGLEV_SIZE): Uint8Array {
  checkMaglevInput(backends, size);
  const live = populationOrder(backends).filter((i) => backends[i]!.weight > 0);
  const lists = live.map((i) => ({ offset: maglevOffset(backends[i]!, size), skip: maglevSkip(backends[i]!, size) }));
  const next = live.map(() => 0);
  const credit = live.map(() => 0);
  const maxWeight = Math.max(...live.map((i) => backends[i]!.weight));
  const owner = new Array<number>(size).fill(-1);
  let filled = 0;
  for (;;) {
    for (let k = 0; k < live.length; k++) {
      credit[k]! += backends[live[k]!]!.weight;
      if (credit[k]! < maxWeight) continue;
      credit[k]! -= maxWeight;
      const { offset, skip } = lists[k]!;
      let slot = (offset + next[k]! * skip) % size;
      while (owner[slot] !== -1) {
        next[k]!++;
        slot = (offset + next[k]! * skip) % size;
      }
      owner[slot] = live[k]!;
      next[k]!++;
      if (++filled === size) return Uint8Array.from(owner);
    }
  }
}
