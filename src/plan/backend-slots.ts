// Stable backend slots: a surviving backend keeps its index in backend_list,
// a removed one leaves a hole (0.0.0.0:0 weight 0) that the next added backend
// fills (lowest free index first), and count is the highest used index + 1.
// A backend with weight 0 but its ip:port is drained (a node found it
// unhealthy): it keeps its index and gets no Maglev slot, so draining it moves
// only its own share and its return restores the table it had.
// Flows pinned to an index (FLOW_CACHE) and Maglev slots of unchanged backends
// therefore keep pointing at the same backend across a change.
import type { BackendSlot } from '../model/map-types.js';
import { LIMITS } from '../model/layout.generated.js';
import { backendIdentity, isHole } from '../model/maglev.js';
import type { Backend } from '../routes/route-model.js';

export const MAX_BACKENDS: number = LIMITS.MAX_BACKENDS;
export const HOLE: BackendSlot = Object.freeze({ ip: '0.0.0.0', port: 0, weight: 0 });

export interface SlotAssignment {
  slots: BackendSlot[];
  added: string[];
  removed: string[];
  reweighted: { backend: string; from: number; to: number }[];
  /** why the applied list is not one the planner could have written (hand edit, corruption), or null */
  malformed: string | null;
}

/** Why `applied` is not a list this planner writes, or null when it is well-formed. */
export function malformation(applied: readonly BackendSlot[]): string | null {
  if (applied.length > MAX_BACKENDS) return `count ${applied.length} exceeds ${MAX_BACKENDS}`;
  const seen = new Set<string>();
  for (let i = 0; i < applied.length; i++) {
    const b = applied[i]!;
    if (isHole(b)) {
      if (b.weight !== 0) return `hole at index ${i} has weight ${b.weight}`;
      if (i === applied.length - 1) return `count ${applied.length} ends in a hole`;
      continue;
    }
    if (b.ip === '0.0.0.0' || b.port === 0) return `index ${i} (${backendIdentity(b)}) is neither a backend nor a hole`;
    const id = backendIdentity(b);
    if (seen.has(id)) return `backend ${id} appears twice`;
    seen.add(id);
  }
  return null;
}

/**
 * The backend list the desired backends get, given what is applied now.
 * `desired` has distinct ip:port (checked by the caller); weight 0 marks a
 * drained one. `identity` names a backend in the report lists (a planner
 * passes one that shares equal strings: a full sync names every backend of
 * every route).
 */
export function assignSlots(
  applied: readonly BackendSlot[],
  desired: readonly Backend[],
  identity: (b: BackendSlot) => string = backendIdentity,
): SlotAssignment {
  if (applied.length === 0) {
    // A new route: slots in the order of the definition (Backend has BackendSlot's shape). A
    // frozen list (the fold's) is shared, not copied: a full sync keeps one per route.
    const slots = Object.isFrozen(desired) ? (desired as BackendSlot[]) : desired.slice();
    return { slots, added: desired.map(identity), removed: [], reweighted: [], malformed: null };
  }
  const want = new Map<string, number>();
  for (const b of desired) want.set(backendIdentity(b), b.weight);
  const slots: BackendSlot[] = [];
  const placed = new Set<string>();
  const removed: string[] = [];
  const reweighted: SlotAssignment['reweighted'] = [];
  const n = Math.min(applied.length, MAX_BACKENDS);
  for (let i = 0; i < n; i++) {
    const b = applied[i]!;
    const id = backendIdentity(b);
    const weight = want.get(id);
    // Keep a live or drained, desired backend in place (the first copy if a hand edit duplicated it).
    if (!isHole(b) && b.ip !== '0.0.0.0' && b.port !== 0 && weight !== undefined && !placed.has(id)) {
      slots.push(weight === b.weight ? b : { ip: b.ip, port: b.port, weight });
      if (weight !== b.weight) reweighted.push({ backend: identity(b), from: b.weight, to: weight });
      placed.add(id);
    } else {
      slots.push(HOLE);
      if (!isHole(b) && !placed.has(id) && weight === undefined) removed.push(identity(b));
    }
  }
  const added: string[] = [];
  let free = 0;
  for (const b of desired) {
    const id = backendIdentity(b);
    if (placed.has(id)) continue;
    while (free < slots.length && !isHole(slots[free]!)) free++;
    const slot = { ip: b.ip, port: b.port, weight: b.weight };
    if (free < slots.length) slots[free] = slot;
    else slots.push(slot);
    placed.add(id);
    added.push(identity(b));
  }
  while (slots.length > 0 && isHole(slots[slots.length - 1]!)) slots.pop();
  return { slots, added, removed, reweighted, malformed: malformation(applied) };
}

/**
 * True when `applied` is well-formed and already holds exactly `desired` (same
 * backends, same weights), i.e. assignSlots would return it unchanged. The
 * no-op path of every plan: allocates nothing.
 */
export function alreadyAssigned(applied: readonly BackendSlot[], desired: readonly Backend[]): boolean {
  if (applied.length > MAX_BACKENDS || applied.length < desired.length) return false;
  let live = 0;
  for (let i = 0; i < applied.length; i++) {
    const b = applied[i]!;
    if (b.port === 0 && b.ip === '0.0.0.0') {
      if (b.weight !== 0 || i === applied.length - 1) return false;
    } else live++;
  }
  if (live !== desired.length) return false;
  // Common case: nothing ever removed, slots in definition order.
  if (applied.length === desired.length) {
    let i = 0;
    for (; i < desired.length; i++) {
      const a = applied[i]!;
      const d = desired[i]!;
      if (a.port !== d.port || a.ip !== d.ip || a.weight !== d.weight) break;
    }
    if (i === desired.length) return true;
  }
  for (const d of desired) {
    let found = 0;
    for (const b of applied) if (b.port === d.port && b.ip === d.ip) found += b.weight === d.weight ? 1 : 2;
    if (found !== 1) return false;
  }
  return true;
}
