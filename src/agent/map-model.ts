// The node agent's model of its BPF maps: what it believes they hold, so a
// commit is planned against memory instead of reading 65,536 routes back. One
// explicit state:
//
//   unknown  nothing is known: read the maps back before the next plan
//   read     the maps hold `applied` (read back, or left so by a rolled-back
//            apply), not known to equal the last applied target: the next
//            plan covers everything
//   synced   the maps hold `applied`, which is the last applied target: a
//            plan may be scoped to what changed since (the DesiredTracker's
//            touched scope)
//
// Every transaction goes through here, so every transition is in this file:
// a committed plan → synced; a rolled-back one → read (the maps are as they
// were, but after a failure the next plan checks everything); an incomplete
// rollback, or a model that refuses ops the kernel took → unknown.
import type { Logger } from 'pino';
import { applyPlan, ApplyError, type ApplyOptions, type ApplyResult } from '../dataplane/apply.js';
import type { RautaMaps } from '../dataplane/maps.js';
import { readMaps } from '../dataplane/read-back.js';
import type { MapOp } from '../model/map-types.js';
import { appliedStateOf, applyOpsInPlace, withoutTableBytes, type AppliedState } from '../plan/plan.js';

export type MapModelState = { kind: 'unknown' } | { kind: 'read'; applied: AppliedState } | { kind: 'synced'; applied: AppliedState };
export type KnownMapModel = Extract<MapModelState, { applied: AppliedState }>;

export class MapModel {
  #state: MapModelState = { kind: 'unknown' };

  constructor(
    private readonly maps: RautaMaps,
    private readonly logger: Logger,
  ) {}

  get state(): MapModelState {
    return this.#state;
  }

  /** What the next plan starts from: the model, read back from the maps first when unknown. */
  forPlan(): KnownMapModel {
    if (this.#state.kind === 'unknown') {
      const { contents, stats } = readMaps(this.maps);
      this.#state = { kind: 'read', applied: appliedStateOf(contents) };
      this.logger.info({ ...stats }, 'read the maps back');
    }
    return this.#state;
  }

  /** A failure happened (a plan, a lookup): the maps are as modelled, but the next plan covers everything. */
  distrust(): void {
    if (this.#state.kind === 'synced') this.#state = { kind: 'read', applied: this.#state.applied };
  }

  /** Everything the maps hold, table bytes too (a drift check compares them). The model is not changed. */
  readAll(): AppliedState {
    return appliedStateOf(readMaps(this.maps, { tableValues: true }).contents);
  }

  /** A drift check read `real` back and found nothing to repair: the model becomes what was read (synced stays synced), keys only. */
  observed(real: AppliedState): void {
    this.#state = { kind: this.#state.kind === 'synced' ? 'synced' : 'read', applied: withoutTableBytes(real) };
  }

  /**
   * Run the ops of a plan made against forPlan() as one transaction. Throws
   * what applyPlan throws (ApplyError: rolled back, or not) after updating
   * the model.
   */
  commit(ops: readonly MapOp[], opts: ApplyOptions): ApplyResult {
    const from = this.forPlan();
    let result: ApplyResult;
    try {
      result = applyPlan(this.maps, ops, opts);
    } catch (err) {
      this.#state = err instanceof ApplyError && err.rolledBack ? { kind: 'read', applied: from.applied } : { kind: 'unknown' };
      throw err;
    }
    this.#state = this.#advance(from.applied, ops, 'synced');
    return result;
  }

  /**
   * Run a drift check's repairs of `real` (what readAll() returned) as one
   * transaction. Synced stays synced (the maps hold the last applied target
   * again); otherwise the model is read. A failure leaves it unknown.
   */
  repair(real: AppliedState, ops: readonly MapOp[], opts: ApplyOptions): ApplyResult {
    const kind = this.#state.kind === 'synced' ? 'synced' : 'read';
    let result: ApplyResult;
    try {
      result = applyPlan(this.maps, ops, opts);
    } catch (err) {
      this.#state = { kind: 'unknown' };
      throw err;
    }
    this.#state = this.#advance(withoutTableBytes(real), ops, kind);
    return result;
  }

  /**
   * `applied` after the ops the kernel just took (in place: a commit costs its
   * ops, not a copy of every entry). Tables are kept as keys, as forPlan()
   * reads them: their bytes (4 KB each, once per route with distinct backend
   * sets) are in the maps, and a changed route's old table comes from the
   * planner's Maglev cache or one build.
   */
  #advance(applied: AppliedState, ops: readonly MapOp[], kind: KnownMapModel['kind']): MapModelState {
    try {
      applyOpsInPlace(applied, ops, { tableBytes: false });
      return { kind, applied };
    } catch (err) {
      // The kernel accepted ops the model refused: the model is wrong, read the maps back.
      this.logger.warn({ err }, 'the model of the maps disagrees with an applied plan; reading the maps back before the next plan');
      return { kind: 'unknown' };
    }
  }
}
