// Event bodies for event-log tests: valid per event-types.ts, tagged so a test can tell
// which batch (commit) each event came from and whether the batch is whole.
import type { RautaEventBody } from '../src/routes/route-events.js';

export function commitSha(n: number): string {
  return n.toString(16).padStart(40, '0');
}

/** One commit's batch: `routes` RouteUpserted events named `b<n>-r<i>-of-<routes>`, then a CommitAccepted (subject `batch <n>`). */
export function commitBatch(n: number, routes: number, opts: { rejected?: boolean; padBackends?: number } = {}): RautaEventBody[] {
  const origin = { commit: commitSha(n), author: 'Test Author <t@example.com>', time: 1_700_000_000 + n };
  const out: RautaEventBody[] = [];
  for (let i = 0; i < routes; i++) {
    out.push({
      type: 'RouteUpserted',
      ...origin,
      file: `routes/b${n}.yaml`,
      route: {
        name: `b${n}-r${i}-of-${routes}`,
        method: 'GET',
        path: `/b${n}/r${i}`,
        backends: Array.from({ length: Math.max(1, opts.padBackends ?? 1) }, (_, k) => ({ ip: `10.0.${k % 256}.${(i % 250) + 1}`, port: 8080, weight: 1 })),
        tableSize: 4099,
        source: { file: `routes/b${n}.yaml`, line: i + 1 },
      },
    });
  }
  if (opts.rejected) {
    out.push({
      type: 'CommitRejected',
      ...origin,
      file: null,
      subject: `batch ${n}`,
      errors: [{ file: `routes/b${n}.yaml`, line: 1, col: 1, message: 'bad' }],
    });
  } else {
    out.push({
      type: 'CommitAccepted',
      ...origin,
      file: null,
      tree: commitSha(n + 1_000_000),
      subject: `batch ${n}`,
      counts: { routesUpserted: routes, routesRemoved: 0, listenersUpserted: 0, listenersRemoved: 0 },
    });
  }
  return out;
}

/** Batch number from a marker's subject `batch <n>`. */
export function batchNumber(e: { type: string; subject?: string } | null): number {
  if (!e || typeof e.subject !== 'string') return 0;
  const m = /^batch (\d+)$/.exec(e.subject);
  return m ? Number(m[1]) : 0;
}
