// SIGKILL of the agent mid-apply, in a loop: each iteration appends a commit
// that changes every route of a 1,024-route state (and removes/re-adds a tenth),
// starts a child agent, kills it at a random moment of its apply, checks the
// half-applied maps are still consistent for the data path, then restarts the
// agent and checks it converged to the desired state with no orphan tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileLog } from '../src/events/file-log.js';
import { readMaps } from '../src/dataplane/read-back.js';
import { planChanges, routeKeyId, type AppliedState, appliedStateOf } from '../src/plan/plan.js';
import type { Route } from '../src/routes/route-model.js';
import { bigRoutes, commitEvents, commitSha, listener, loadTestProgram, poolNexthops, VIP } from './fixtures/agent-routes.js';

const ITERATIONS = Number(process.env.RAUTA_KILL_ITERATIONS ?? 20);
const ROUTES = 1024;
const CHILD = fileURLToPath(new URL('./fixtures/agent-child.ts', import.meta.url));

interface ChildRun {
  code: number | null;
  signal: string | null;
  lines: string[];
  killedMidApply: boolean;
  progressSeen: number;
}

/** Run the child; with killAfterMs, SIGKILL it that long after its apply starts (first "progress" line). */
function runChild(args: string[], killAfterMs: number | null, timeoutMs = 60_000): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    let killTimer: NodeJS.Timeout | null = null;
    let progressSeen = 0;
    let converged = false;
    let killedMidApply = false;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not finish in ${timeoutMs} ms; output:\n${lines.join('\n')}\n${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('progress ')) {
        progressSeen++;
        if (killAfterMs !== null && killTimer === null) {
          killTimer = setTimeout(() => {
            killedMidApply = !converged && !lines.some((l) => l.startsWith('applied '));
            child.kill('SIGKILL');
          }, killAfterMs);
        }
      }
      if (line.startsWith('converged ')) converged = true;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      if (code !== 0 && signal !== 'SIGKILL') {
        reject(new Error(`child exited with ${code}:\n${lines.join('\n')}\n${stderr}`));
        return;
      }
      resolve({ code, signal, lines, killedMidApply, progressSeen });
    });
  });
}

/** Tables whose route is gone or whose gen is not the route's current gen. */
function orphanTables(applied: AppliedState): string[] {
  const out: string[] = [];
  for (const [id, t] of applied.tables) {
    const r = applied.routes.get(routeKeyId(t.key.route));
    if (!r || r.value.gen !== t.key.gen) out.push(id);
  }
  return out;
}

/** Routes the data path would look up without finding their table (must never happen, even mid-apply). */
function routesWithoutTable(applied: AppliedState): string[] {
  const out: string[] = [];
  for (const [id, r] of applied.routes) if (!applied.tables.has(`${id}:${r.value.gen}`)) out.push(id);
  return out;
}

test(`SIGKILL of the agent mid-apply, ${ITERATIONS} times: every restart converges with no orphan tables`, { timeout: 600_000 }, async (t) => {
  const prog = loadTestProgram(t, 'kill');
  if (!prog) return;
  const dir = mkdtempSync(join(tmpdir(), 'rauta-kill-'));
  const logPath = join(dir, 'events.log');
  const stateDir = join(dir, 'state');
  const writer = await openFileLog(logPath, { writer: true, logger: { warn: () => undefined } });
  t.after(async () => {
    await writer.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const args = [prog.pinDir, logPath, stateDir];
  const L80 = listener(VIP, 80);
  const nexthops = poolNexthops();

  // commit 1: the initial 1,024-route state, applied without a kill
  let current: Route[] = bigRoutes(ROUTES, 0);
  await writer.append(commitEvents(1, { listeners: [L80], upsert: current }));
  const first = await runChild(args, null);
  let applyMs = Math.max(...first.lines.filter((l) => l.startsWith('applied ')).map((l) => Number(l.split(' ')[2])));
  t.diagnostic(`initial apply: ${first.lines.find((l) => l.startsWith('applied '))} (ops, ms)`);

  let midApply = 0;
  let finishedFirst = 0;
  let orphansSeen = 0;
  let halfChanged = 0;
  for (let i = 1; i <= ITERATIONS; i++) {
    const commit = i + 1;
    const next = bigRoutes(ROUTES, i, i % 10);
    const nextIds = new Set(next.map((r) => `${r.method} ${r.path}`));
    const removed = current.filter((r) => !nextIds.has(`${r.method} ${r.path}`));
    await writer.append(commitEvents(commit, { upsert: next, remove: removed }));
    current = next;

    // Kill at a random moment of the apply (uniform over about its measured length).
    const killAfter = Math.floor(Math.random() * Math.max(20, applyMs * 1.2));
    const killed = await runChild(args, killAfter);
    if (killed.killedMidApply) midApply++;
    else if (killed.signal !== 'SIGKILL') {
      finishedFirst++; // the apply beat the timer: learn the shorter duration for the next draws
      const ms = killed.lines.filter((l) => l.startsWith('applied ')).map((l) => Number(l.split(' ')[2]));
      if (ms.length > 0) applyMs = Math.min(applyMs, Math.max(...ms));
    }

    const half: AppliedState = appliedStateOf(readMaps(prog.typed).contents);
    assert.deepEqual(routesWithoutTable(half), [], `iteration ${i}: even mid-apply every route points at a table of its gen`);
    const orphans = orphanTables(half);
    if (orphans.length > 0) orphansSeen++;
    const pending = planChanges(half, { routes: current, listeners: [L80], nexthops });
    if (pending.ops.length > 0) halfChanged++;

    const restart = await runChild(args, null);
    const convergedLine = restart.lines.find((l) => l.startsWith('converged '));
    assert.ok(convergedLine, `iteration ${i}: the restart converged: ${restart.lines.slice(-3).join(' | ')}`);
    const status = JSON.parse(convergedLine.slice('converged '.length)) as { state: string; appliedCommit: string };
    assert.equal(status.state, 'ready', `iteration ${i}: ready after restart`);
    assert.equal(status.appliedCommit, commitSha(commit), `iteration ${i}: on the newest commit`);
    const after: AppliedState = appliedStateOf(readMaps(prog.typed, { tableValues: true }).contents);
    assert.deepEqual(orphanTables(after), [], `iteration ${i}: no orphan tables after the restart`);
    const left = planChanges(after, { routes: current, listeners: [L80], nexthops }, { verifyTables: true });
    assert.equal(
      left.ops.length,
      0,
      `iteration ${i}: the maps hold the desired state (${JSON.stringify(left.summary)}; ${left.routes
        .slice(0, 5)
        .map((r) => `${r.rule ?? r.id} ${r.change} gen ${r.genFrom}: ${r.reason ?? ''}`)
        .join('; ')})`,
    );
    assert.equal(after.routes.size, current.length, `iteration ${i}: exactly the desired routes`);
  }
  const summary =
    `${ITERATIONS} iterations: ${midApply} kills landed mid-apply, ${finishedFirst} children finished before their kill, ` +
    `${ITERATIONS - midApply - finishedFirst} were killed after the apply (snapshot/exit), ` +
    `${halfChanged} left the maps half-changed, ${orphansSeen} left orphan tables; every restart converged with no orphan tables ` +
    `(kill window ${Math.round(applyMs * 1.2)} ms after the apply starts)`;
  t.diagnostic(summary);
  assert.ok(midApply > 0, `at least one kill landed inside an apply: ${summary}`);
});
