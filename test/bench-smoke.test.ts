// `npm run bench -- --smoke`: every suite at its smallest size, in child processes as
// a real run; the JSON must carry every row with a number (or a stated reason why
// not), and no suite may fail. Checks shape only: no figure is asserted on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needBpf } from '../testbed/bpf-env.js';

/** Rows each suite prints, in order of issue 8, then issue 11's connections. */
const ROWS_PER_SUITE: Record<string, number> = {
  datapath: 18,
  'commit-to-applied': 8,
  'full-sync': 3,
  scale: 3,
  minimality: 3,
  'git-diff': 2,
  'watcher-start': 3,
  'event-log': 6,
  connections: 30,
  maglev: 5,
  health: 6,
};

interface Row {
  suite: string;
  name: string;
  value: number | null;
  unit: string;
  baseline: { name: string; value: number } | null;
  ratio: number | null;
  goal: string | null;
  met: boolean | null;
  note?: string;
}

test('bench --smoke: every suite runs and every row has a value, a baseline and a ratio (or says why not)', { timeout: 180_000 }, (t) => {
  if (!needBpf(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'rauta-bench-smoke-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'smoke.json');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out], { cwd: root, encoding: 'utf8', timeout: 170_000 });
  assert.equal(res.status, 0, `bench --smoke exited ${res.status ?? res.signal}:\n${res.stderr}\n${res.stdout}`);
  const report = JSON.parse(readFileSync(out, 'utf8')) as { level: string; suites: Array<{ suite: string; error?: string; maxRssKb: number }>; rows: Row[] };
  assert.equal(report.level, 'smoke');
  assert.deepEqual(
    report.suites.map((s) => s.suite),
    Object.keys(ROWS_PER_SUITE),
    'every suite ran, in order',
  );
  for (const s of report.suites) {
    assert.equal(s.error, undefined, `suite ${s.suite} failed: ${s.error}`);
    assert.ok(s.maxRssKb > 0, `suite ${s.suite} reports its peak RSS`);
  }
  for (const [suite, n] of Object.entries(ROWS_PER_SUITE)) {
    const rows = report.rows.filter((r) => r.suite === suite);
    assert.equal(rows.length, n, `suite ${suite} prints ${n} rows, got ${rows.map((r) => r.name).join(' | ')}`);
  }
  for (const r of report.rows) {
    const where = `${r.suite}: ${r.name}`;
    if (r.value === null) {
      assert.match(r.note ?? '', /^not available: .+/, `${where} has no value, so it must say why`);
      continue;
    }
    assert.ok(Number.isFinite(r.value), `${where}: value ${r.value} is a number`);
    assert.ok(r.unit.length > 0, `${where} has a unit`);
    assert.ok(r.baseline !== null && Number.isFinite(r.baseline.value) && r.baseline.name.length > 0, `${where} has a baseline measured in the same run`);
    assert.ok(r.ratio !== null && Number.isFinite(r.ratio), `${where} has a ratio`);
    if (r.goal !== null) assert.equal(typeof r.met, 'boolean', `${where} has a goal, so it says met or not met`);
  }
  assert.match(res.stdout, /suite\s+name\s+value\s+unit\s+baseline\s+ratio\s+goal\s+met/, 'the table is printed');
});
