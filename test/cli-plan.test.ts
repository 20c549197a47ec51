// `rauta plan`: the dataplane impact between two revisions of a real Git repo,
// through the real CLI (exit codes, lines) and runPlan (JSON).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { runPlan } from '../src/cli/plan.js';
import type { PlanReport } from '../src/plan/plan-report.js';

const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));

function rauta(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** v1: three routes; v2: one added, one removed, one changed (backend swapped + reweighted); v3: v2 moved to another file. */
function makeRepo(t: { after: (fn: () => void) => void }): { repo: TestRepo; v1: string; v2: string; v3: string } {
  const tmp = tempDir('plan');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
  repo.write(
    'routes/app.yaml',
    routeYaml([
      { name: 'users', path: '/api/users', backends: ['10.1.1.1:8080', '10.1.1.2:8080', '10.1.1.3:8080', '10.1.1.4:8080'] },
      { name: 'orders', path: '/api/orders', backends: ['10.1.2.1:8080'] },
      { name: 'health', path: '/healthz', backends: ['10.1.9.1:8080'] },
    ]),
  );
  const v1 = repo.commit('three routes');
  repo.write(
    'routes/app.yaml',
    routeYaml([
      { name: 'users', path: '/api/users', backends: ['10.1.1.1:8080', '10.1.1.2:8080', '10.1.1.3:8080', '10.1.1.5:8080'] },
      { name: 'health', path: '/healthz', backends: ['10.1.9.1:8080'] },
      { name: 'cart', method: 'POST', path: '/api/cart', backends: ['10.1.3.1:8080', '10.1.3.2:8080'] },
    ]),
  );
  const v2 = repo.commit('swap a users backend, drop orders, add cart');
  repo.remove('routes/app.yaml');
  repo.write(
    'routes/moved.yaml',
    routeYaml([
      { name: 'cart', method: 'POST', path: '/api/cart', backends: ['10.1.3.1:8080', '10.1.3.2:8080'] },
      { name: 'health', path: '/healthz', backends: ['10.1.9.1:8080'] },
      { name: 'users', path: '/api/users', backends: ['10.1.1.1:8080', '10.1.1.2:8080', '10.1.1.3:8080', '10.1.1.5:8080'] },
    ]),
  );
  const v3 = repo.commit('reorder into one file');
  return { repo, v1, v2, v3 };
}

test('plan between two revisions: exit 1 and one line per changed route', async (t) => {
  const { repo, v1, v2 } = makeRepo(t);
  const r = await rauta('plan', '--repo', repo.dir, '--root', 'routes', '--from', v1, '--to', v2);
  assert.equal(r.code, 1, `a change must exit 1; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(
    lines.slice(0, 3),
    [
      '- GET /api/orders (orders) -10.1.2.1:8080: 2 ops, all connections lose their route',
      lines.find((l) => l.startsWith('~ GET /api/users')),
      '+ POST /api/cart (cart) +10.1.3.1:8080 +10.1.3.2:8080: 2 ops, new',
    ],
    `expected removed, changed, added lines in that order; got:\n${r.stdout}`,
  );
  const users = lines[1]!;
  assert.match(users, /^~ GET \/api\/users \(users\) \+10\.1\.1\.5:8080 -10\.1\.1\.4:8080: 3 ops, (\d+\.\d)% of connections move$/, users);
  // Replacing 1 of 4 equal backends is a removal (its ~25% of slots move) plus an
  // addition (the newcomer takes ~25% from everyone): at least 25%, well under all.
  const moved = Number(/(\d+\.\d)%/.exec(users)![1]);
  assert.ok(moved >= 24 && moved <= 55, `replacing 1 of 4 backends should move 25-55% of connections, got ${moved}%`);
  assert.match(lines.at(-1)!, /1 added, 1 removed, 1 changed, 1 unchanged routes; listeners \+0 -0; \d+ map operations$/, lines.at(-1));
});

test('plan with no map change exits 0 (same revision, and a route moved to another file)', async (t) => {
  const { repo, v2, v3 } = makeRepo(t);
  const same = await rauta('plan', '--repo', repo.dir, '--root', 'routes', '--from', v2, '--to', v2);
  assert.equal(same.code, 0, `same revision must exit 0; stdout:\n${same.stdout}\nstderr:\n${same.stderr}`);
  assert.match(same.stdout, /no dataplane change \(3 routes\)/);
  const moved = await rauta('plan', '--repo', repo.dir, '--root', 'routes', '--from', v2, '--to', v3);
  assert.equal(moved.code, 0, `moving routes between files changes no map entry; stdout:\n${moved.stdout}`);
  // HEAD against a clean working tree: the default sides.
  const clean = await rauta('plan', '--repo', repo.dir, '--root', 'routes');
  assert.equal(clean.code, 0, `HEAD vs a clean working tree must exit 0; stdout:\n${clean.stdout}\nstderr:\n${clean.stderr}`);
});

test('plan exits 2 and prints file:line:col when a side fails validation; the working tree is a side', async (t) => {
  const { repo, v1 } = makeRepo(t);
  repo.write('routes/bad.yaml', routeYaml([{ name: 'users', path: '/api/other', backends: ['10.1.1.1:99999'] }]));
  const wt = await rauta('plan', '--repo', repo.dir, '--root', 'routes', '--from', v1);
  assert.equal(wt.code, 2, `an invalid working tree must exit 2; stdout:\n${wt.stdout}\nstderr:\n${wt.stderr}`);
  assert.match(wt.stderr, /worktree does not validate/, wt.stderr);
  assert.match(wt.stderr, /routes\/bad\.yaml:\d+:\d+: /, `errors must name file:line:col:\n${wt.stderr}`);
  const bad = repo.commit('bad commit');
  const rev = await rauta('plan', '--repo', repo.dir, '--root', 'routes', '--from', v1, '--to', bad);
  assert.equal(rev.code, 2, `an invalid revision must exit 2; stderr:\n${rev.stderr}`);
  assert.match(rev.stderr, new RegExp(`${bad} \\(${bad.slice(0, 12)}\\) does not validate`), rev.stderr);
  const usage = await rauta('plan', '--repo', repo.dir, '--to', v1, '--worktree');
  assert.equal(usage.code, 2, `--to with --worktree is a usage error; stderr:\n${usage.stderr}`);
});

test('plan --json carries per-route backends, ops and disruption', async (t) => {
  const { repo, v1, v2 } = makeRepo(t);
  let out = '';
  const code = await runPlan({ repo: repo.dir, root: 'routes', from: v1, to: v2, json: true }, (s) => (out += s));
  assert.equal(code, 1);
  const report = JSON.parse(out) as PlanReport & { valid: boolean };
  assert.equal(report.valid, true);
  assert.equal(report.from.commit, v1);
  assert.equal(report.to.commit, v2);
  const byRoute = Object.fromEntries(report.routes.map((r) => [r.route, r]));
  assert.deepEqual(Object.keys(byRoute).sort(), ['GET /api/orders', 'GET /api/users', 'POST /api/cart']);
  assert.equal(byRoute['GET /api/orders']!.change, 'removed');
  assert.equal(byRoute['GET /api/orders']!.source, 'routes/app.yaml:18', 'a removed route names where the from side defined it');
  assert.equal(byRoute['GET /api/users']!.disruption > 0 && byRoute['GET /api/users']!.disruption < 0.5, true, JSON.stringify(byRoute['GET /api/users']));
  assert.deepEqual(byRoute['GET /api/users']!.backendsRemoved, ['10.1.1.4:8080']);
  assert.equal(report.ops, report.summary.ops);
});
