// The node registry in Redis: every agent publishes its status (applied seq and
// commit, state, last error, lag, version, last apply time) into one hash and
// keeps a heartbeat key alive with a TTL. A node whose heartbeat expired is
// stale: `rauta status` still shows its last status, marked stale. The watcher
// keeps waking a stale node for a while (a partition heals), not one that
// stopped cleanly or has been gone longer (it catches up from the log when it
// starts again).
import type { Redis } from 'ioredis';
import type { AgentState, AgentStatus, HealthStatus } from '../agent/agent-status.js';
import { clusterKeys } from './cluster-keys.js';

/** What a node publishes. Plain JSON. */
export interface NodeRecord {
  node: string;
  /** rauta version of the agent */
  version: string;
  host: string;
  pid: number;
  pinDir: string | null;
  iface: string | null;
  /** the agent's HTTP endpoint, when it has one */
  http: string | null;
  startedAt: string;
  /** ISO time of this publish */
  lastSeen: string;
  state: AgentState;
  appliedSeq: number;
  appliedCommit: string | null;
  /** the log head as the agent last saw it */
  headSeq: number;
  lag: number;
  lastError: { code: string; message: string; at: string } | null;
  lastApplyAt: string | null;
  lastRejected: { commit: string; seq: number; where: string[] } | null;
  consecutiveFailures: number;
  /** BullMQ wake-ups this agent has processed since it started */
  jobs: number;
  /** this node's backend health checks (absent from agents older than health checks) */
  health?: HealthStatus | null;
}

export interface NodeView extends NodeRecord {
  /** the heartbeat key exists */
  live: boolean;
}

export type NodeIdentity = Pick<NodeRecord, 'node' | 'version' | 'host' | 'pid' | 'pinDir' | 'iface' | 'http' | 'startedAt'>;

/** The published record from the agent's status. */
export function nodeRecord(id: NodeIdentity, st: AgentStatus, jobs: number, now = new Date()): NodeRecord {
  return {
    ...id,
    lastSeen: now.toISOString(),
    state: st.state,
    appliedSeq: st.appliedSeq,
    appliedCommit: st.appliedCommit,
    headSeq: st.headSeq,
    lag: st.lag,
    lastError: st.lastError ? { code: st.lastError.code, message: st.lastError.message, at: st.lastError.at } : null,
    lastApplyAt: st.lastApplyAt,
    lastRejected: st.lastRejected
      ? { commit: st.lastRejected.commit, seq: st.lastRejected.seq, where: st.lastRejected.errors.map((e) => `${e.where}: ${e.message}`) }
      : null,
    consecutiveFailures: st.consecutiveFailures,
    jobs,
    health: st.health,
  };
}

export class NodeRegistry {
  private readonly keys: ReturnType<typeof clusterKeys>;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    /** heartbeat lifetime: a node not heard from for this long is stale */
    readonly ttlMs = 15_000,
  ) {
    this.keys = clusterKeys(prefix);
  }

  /** Status and heartbeat in one MULTI (both or neither). */
  async publish(record: NodeRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.nodes, record.node, JSON.stringify(record))
      .set(this.keys.alive(record.node), record.lastSeen, 'PX', this.ttlMs)
      .exec();
  }

  /** A clean stop: the last status stays visible, the node is no longer live. */
  async markStopped(record: NodeRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.nodes, record.node, JSON.stringify({ ...record, state: 'stopped' }))
      .del(this.keys.alive(record.node))
      .exec();
  }

  /** Forget a node (decommissioned). */
  async remove(node: string): Promise<void> {
    await this.redis.multi().hdel(this.keys.nodes, node).del(this.keys.alive(node)).exec();
  }

  /** Every registered node with its last status, live or stale, by name. */
  async list(): Promise<NodeView[]> {
    const all = await this.redis.hgetall(this.keys.nodes);
    const names = Object.keys(all).sort();
    if (names.length === 0) return [];
    const alive = await this.redis.mget(...names.map((n) => this.keys.alive(n)));
    const out: NodeView[] = [];
    names.forEach((name, i) => {
      let rec: NodeRecord;
      try {
        rec = JSON.parse(all[name]!) as NodeRecord;
      } catch {
        // A record we cannot read still names a node: show it, stale, rather than hide it.
        rec = {
          node: name,
          version: '?',
          host: '?',
          pid: 0,
          pinDir: null,
          iface: null,
          http: null,
          startedAt: '',
          lastSeen: '',
          state: 'idle',
          appliedSeq: 0,
          appliedCommit: null,
          headSeq: 0,
          lag: 0,
          lastError: { code: 'UNREADABLE', message: `registry entry of ${name} is not JSON`, at: '' },
          lastApplyAt: null,
          lastRejected: null,
          consecutiveFailures: 0,
          jobs: 0,
        };
      }
      out.push({ ...rec, node: name, live: alive[i] !== null && alive[i] !== undefined });
    });
    return out;
  }

  /** Names of the nodes whose heartbeat is alive. */
  async liveNodes(): Promise<string[]> {
    return (await this.list()).filter((n) => n.live).map((n) => n.node);
  }

  /**
   * The nodes the watcher wakes: live ones, and stale ones last seen within forgetAfterMs that
   * did not stop cleanly (cut off by a partition, say: their wake-ups wait in their queue and
   * bring them up to date the moment they are back). A node stopped cleanly, or gone for longer,
   * catches up from the log when it starts, so its queue does not grow meanwhile.
   */
  async wakeTargets(forgetAfterMs: number, now = Date.now()): Promise<string[]> {
    return (await this.list()).filter((n) => n.live || (n.state !== 'stopped' && now - Date.parse(n.lastSeen) < forgetAfterMs)).map((n) => n.node);
  }

  /** The event log's head (0 when empty). */
  async logHead(): Promise<number> {
    return Number((await this.redis.get(this.keys.head)) ?? 0);
  }
}
