// A plan as a pull-request comment (src/report/plan-markdown.ts) and the
// warnings it lists (src/report/plan-warnings.ts), from planned route sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { COMMENT_MARKER, invalidPlanComment, planComment } from '../src/report/plan-markdown.js';
import { planWarnings } from '../src/report/plan-warnings.js';
import { planReport, type RouteSide } from '../src/plan/plan-report.js';
import { DEFAULT_CAPACITY } from '../src/routes/capacity.js';
import type { Backend, Listener, Route } from '../src/routes/route-model.js';

const be = (ip: string, weight = 1): Backend => ({ ip, port: 8080, weight });
const route = (path: string, backends: Backend[], name = path.slice(1).replace(/[^a-z0-9]+/g, '-') || 'root'): Route => ({
  name,
  method: 'GET',
  path,
  backends,
  tableSize: 4099,
  source: { file: 'routes/app.yaml', line: 1 },
});
const listener = (address: string, port: number): Listener => ({ name: `l-${port}`, address, port, source: { file: 'routes/l.yaml', line: 1 } });
const sideOf = (label: string, routes: Route[], listeners: Listener[] = []): RouteSide => ({ label, commit: null, routes, listeners, issues: [] });

/** GFM's cell split: on every `|` not escaped by a backslash; the outer pipes open and close the row. */
const cells = (row: string): string[] => row.split(/(?<!\\)\|/).slice(1, -1);

test('plan warnings: the last backend, disruption above the threshold (strictly), a removed listener, a map at 90%', () => {
  const four = [be('10.1.1.1'), be('10.1.1.2'), be('10.1.1.3'), be('10.1.1.4')];
  const from = sideOf('base', [route('/one', four), route('/move', four), route('/calm', four)], [listener('10.0.0.10', 80), listener('10.0.0.10', 8080)]);
  const to = sideOf(
    'head',
    [
      route('/one', [be('10.1.1.3')]),
      route('/move', [be('10.1.1.1'), be('10.1.2.1'), be('10.1.2.2'), be('10.1.2.3')]),
      route('/calm', [...four, be('10.1.1.5')]),
    ],
    [listener('10.0.0.10', 80)],
  );
  const report = planReport(from, to);
  const capacity = { ...DEFAULT_CAPACITY, nexthops: 8 };
  const warnings = planWarnings(report, from, to, capacity, 0.5);
  const byKind = (k: string) => warnings.filter((w) => w.kind === k);
  assert.deepEqual(byKind('last-backend'), [{ kind: 'last-backend', route: 'GET /one', name: 'one', backendsBefore: 4, backend: '10.1.1.3:8080' }]);
  const moves = Object.fromEntries(report.routes.map((r) => [r.route, r.disruption]));
  assert.ok(moves['GET /move']! > 0.5 && moves['GET /calm']! < 0.5, `fixture: /move moves most, /calm little: ${JSON.stringify(moves)}`);
  assert.deepEqual(
    byKind('disruption')
      .map((w) => w.kind === 'disruption' && w.route)
      .sort(),
    ['GET /move', 'GET /one'],
  );
  // Strictly more than the threshold: at exactly a route's disruption, that route is not named.
  assert.ok(!planWarnings(report, from, to, capacity, moves['GET /move']!).some((w) => w.kind === 'disruption' && w.route === 'GET /move'));
  assert.deepEqual(byKind('listener-removed'), [{ kind: 'listener-removed', listener: '10.0.0.10:8080' }]);
  // 8 distinct backend IPs after (10.1.1.1-5 and 10.1.2.1-3) of 8: full; 4 before.
  assert.deepEqual(byKind('capacity'), [{ kind: 'capacity', map: 'NEXTHOPS', option: '--max-nexthops', before: 4, after: 8, limit: 8 }]);
  assert.equal(
    planWarnings(report, from, to, { ...capacity, nexthops: 9 }, 0.5).filter((w) => w.kind === 'capacity').length,
    0,
    '8 of 9 (88.9%) is under 90%: no warning',
  );
});

test('plan comment: marker first, one row of 7 cells per route, route text escaped for the table', () => {
  const from = sideOf('main', [route('/a|b', [be('10.1.1.1'), be('10.1.1.2')])]);
  const to = sideOf('feature', [route('/a|b', [be('10.1.1.1'), be('10.1.1.3', 2)]), route('/x`y', [be('10.1.1.9')], 'xy')]);
  const md = planComment(planReport(from, to), []);
  const lines = md.split('\n');
  assert.equal(lines[0], COMMENT_MARKER);
  assert.match(lines[2]!, /^\*\*rauta plan\*\* `main` → `feature`: 1 route added, 0 removed, 1 changed, 0 unchanged; listeners \+0 −0; \d+ map operations$/);
  const rows = lines.filter((l) => l.startsWith('| '));
  assert.equal(rows.length, 3, `header and two routes:\n${md}`);
  for (const r of rows) assert.equal(cells(r).length, 7, `7 cells in ${r}`);
  assert.equal(cells(rows[1]!)[1]!.trim(), '`GET /a\\|b` (a-b)', 'a | inside the route is escaped so it stays in its cell');
  assert.equal(cells(rows[2]!)[1]!.trim(), '``GET /x`y`` (xy)', 'a backtick inside the route gets a longer fence');
  assert.ok(!md.includes('<details>'), 'two routes do not fold');
});

test('plan comment: long plans fold, and the comment stays within maxChars with "… and N more routes"', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 4_000, max: 70_000 }), fc.integer({ min: 0, max: 80 }), (n, maxChars, warned) => {
      const routes = Array.from({ length: n }, (_, i) => route(`/svc/${i}/${'p'.repeat(i % 200)}`, [be(`10.2.${i >> 8}.${i & 255}`)], `r${i}`));
      const report = planReport(sideOf('base', []), sideOf('head', routes));
      const warnings = Array.from({ length: warned }, (_, i) => ({ kind: 'listener-removed' as const, listener: `10.0.${i}.1:80` }));
      const md = planComment(report, warnings, { maxChars });
      assert.ok(md.length <= maxChars, `${md.length} > ${maxChars} for ${n} routes`);
      const rows = md.split('\n').filter((l) => l.startsWith('| added'));
      const more = /… and (\d+) more routes/.exec(md);
      assert.equal(rows.length + Number(more?.[1] ?? 0), n, 'every route is either a row or counted in "… and N more"');
      if (more) assert.ok(rows.length > 0 || maxChars < 8_000, 'rows are dropped only as far as needed');
      assert.equal(md.includes('<details>'), n > 10, 'folded exactly when more than 10 routes changed');
      const warnedLines = md.split('\n').filter((l) => l.startsWith('- ⚠️')).length;
      const moreWarnings = /… and (\d+) more warnings/.exec(md);
      assert.equal(warnedLines + Number(moreWarnings?.[1] ?? 0), warned);
    }),
    { numRuns: 60 },
  );
});

test('plan comment for a side that does not validate: names each error with file:line:col, bounded', () => {
  const issues = Array.from({ length: 500 }, (_, i) => ({ file: 'routes/bad.yaml', line: i + 1, col: 3, message: `error ${i}` }));
  const md = invalidPlanComment(
    { label: 'base', commit: null },
    { label: 'head', commit: 'f'.repeat(40) },
    [{ label: 'head', commit: 'f'.repeat(40), issues }],
    { maxChars: 20_000 },
  );
  assert.ok(md.startsWith(`${COMMENT_MARKER}\n`));
  assert.ok(md.length <= 20_000, String(md.length));
  assert.match(md, /^`head` \(`ffffffffffff`\): 500 errors$/m);
  assert.match(md, /^- `routes\/bad\.yaml:1:3: error 0`$/m);
  assert.match(md, /^- … and 450 more errors$/m, 'at most 50 listed');
});
