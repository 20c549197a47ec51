// The rule-set side of prefix and host matching: how route files become
// rules, which rule a request matches in the data path's order (the model
// the tools use to name rules), and which rule a new one takes requests from.
// The data path itself runs the same cases in test/route-matching.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateRules, matchRequest, shadowedBy } from '../src/model/route-match.js';
import { routeIdFor, routeKeyFor } from '../src/model/ids.js';
import { fnv1a64 } from '../src/model/fnv1a.js';
import { HOST_MATCH, PATH_MATCH } from '../src/model/map-types.js';
import { parseRouteFile } from '../src/routes/parse-file.js';
import { routeId, type Route } from '../src/routes/route-model.js';
import type { RouteMatch } from '../src/model/ids.js';
import { planReport } from '../src/plan/plan-report.js';
import { formatImpact } from '../src/cli/plan.js';
import { planWarnings } from '../src/report/plan-warnings.js';
import { DEFAULT_CAPACITY } from '../src/routes/capacity.js';

const rule = (text: string): RouteMatch => {
  // "GET shop.example.com/api prefix" → a RouteMatch (the test's own reading of routeId's format)
  const [method, target, kind] = text.split(' ') as [string, string, string | undefined];
  const slash = target.indexOf('/');
  return {
    ...(method !== 'ANY' ? { method: method as RouteMatch['method'] } : {}),
    path: target.slice(slash),
    ...(kind === 'prefix' ? { pathType: 'PathPrefix' as const } : {}),
    ...(slash > 0 ? { host: target.slice(0, slash) } : {}),
  };
};

test('a route file with a prefix, a host and no method becomes that rule; absent fields stay absent', () => {
  const yaml = `apiVersion: rauta.io/v1
kind: RoutingRule
metadata: { name: shop-api }
spec:
  match:
    host: "*.example.com"
    path: { type: PathPrefix, value: /api/ }
  backends: [{ endpoint: 10.1.0.1:8080 }]
---
apiVersion: rauta.io/v1
kind: RoutingRule
metadata: { name: users }
spec:
  match: { method: GET, path: { value: /api/users } }
  backends: [{ endpoint: 10.1.0.2:8080 }]
`;
  const f = parseRouteFile('routes/shop.yaml', Buffer.from(yaml));
  assert.deepEqual(f.issues, []);
  const [prefix, exact] = f.routes as [Route, Route];
  assert.deepEqual(
    { method: prefix.method, path: prefix.path, pathType: prefix.pathType, host: prefix.host },
    { method: undefined, path: '/api/', pathType: 'PathPrefix', host: '*.example.com' },
  );
  assert.equal(routeId(prefix), 'ANY *.example.com/api prefix');
  assert.deepEqual(Object.keys(exact).sort(), ['backends', 'method', 'name', 'path', 'source', 'tableSize'], 'an exact, host-less rule has no new fields');
  assert.equal(routeId(exact), 'GET /api/users');
});

test('keys: a prefix hashes without its trailing slash ("/" as ""), a wildcard as its suffix from the dot', () => {
  const k = routeKeyFor({ path: '/api/', pathType: 'PathPrefix', host: '*.example.com' });
  assert.deepEqual(k, {
    method: 0,
    pathMatch: PATH_MATCH.PREFIX,
    hostMatch: HOST_MATCH.WILDCARD,
    pathHash: fnv1a64('/api'),
    hostHash: fnv1a64('.example.com'),
  });
  assert.equal(routeKeyFor({ path: '/', pathType: 'PathPrefix' }).pathHash, fnv1a64(''));
  assert.deepEqual(routeKeyFor({ method: 'GET', path: '/', host: 'shop.example.com' }), {
    method: 1,
    pathMatch: PATH_MATCH.EXACT,
    hostMatch: HOST_MATCH.EXACT,
    pathHash: fnv1a64('/'),
    hostHash: fnv1a64('shop.example.com'),
  });
  assert.equal(routeIdFor({ path: '/api', pathType: 'PathPrefix' }), routeIdFor({ path: '/api/', pathType: 'PathPrefix' }), '"/api" and "/api/" are one rule');
});

test('the candidates of a request, in the data path order', () => {
  const ids = candidateRules({ method: 'GET', path: '/api/v1?x=1', host: 'Shop.Example.com:8080' }).map(routeId);
  const levels = (h: string) => [
    `GET ${h}/api/v1`,
    `ANY ${h}/api/v1`,
    `GET ${h}/api/v1 prefix`,
    `ANY ${h}/api/v1 prefix`,
    `GET ${h}/api prefix`,
    `ANY ${h}/api prefix`,
    `GET ${h}/ prefix`,
    `ANY ${h}/ prefix`,
  ];
  assert.deepEqual(ids, [...levels('shop.example.com'), ...levels('*.example.com'), ...levels('')]);
  // "/api/" is not its own prefix: its deepest prefix is "/api"
  assert.deepEqual(candidateRules({ path: '/api/' }).map(routeId), ['ANY /api/', 'ANY /api prefix', 'ANY / prefix']);
  // no dot: no wildcard level
  assert.deepEqual(candidateRules({ path: '/', host: 'localhost' }).map(routeId), ['ANY localhost/', 'ANY localhost/ prefix', 'ANY /', 'ANY / prefix']);
});

test('a request matches the most specific rule: host, then exact over prefix, longer prefix, method over any', () => {
  const rules = new Map(
    [
      'ANY / prefix',
      'ANY /api prefix',
      'GET /api/users',
      'ANY /api/v1 prefix',
      'ANY shop.example.com/ prefix',
      'ANY *.example.com/static prefix',
      'POST /api prefix',
    ].map((t) => [routeIdFor(rule(t)), t]),
  );
  const cases: Array<[Parameters<typeof matchRequest>[0], string | null]> = [
    [{ method: 'GET', path: '/api/users' }, 'GET /api/users'],
    [{ method: 'GET', path: '/api/users?page=2' }, 'GET /api/users'],
    [{ method: 'DELETE', path: '/api/users' }, 'ANY /api prefix'],
    [{ method: 'POST', path: '/api/users' }, 'POST /api prefix'],
    [{ method: 'GET', path: '/api/v1/x' }, 'ANY /api/v1 prefix'],
    [{ method: 'GET', path: '/apiary' }, 'ANY / prefix'],
    [{ method: 'GET', path: '/api' }, 'ANY /api prefix'],
    [{ method: 'GET', path: '/api/', host: 'shop.example.com' }, 'ANY shop.example.com/ prefix'],
    [{ method: 'GET', path: '/static/a.css', host: 'img.example.com' }, 'ANY *.example.com/static prefix'],
    [{ method: 'GET', path: '/static/a.css', host: 'a.img.example.com' }, 'ANY / prefix'],
  ];
  for (const [req, want] of cases) assert.equal(matchRequest(req, rules), want, JSON.stringify(req));
  assert.equal(matchRequest({ method: 'GET', path: '/x' }, new Map()), null);
});

test('shadowedBy: the rule a new one takes requests from', () => {
  const rules = new Map(['ANY / prefix', 'ANY /api prefix', 'GET /api prefix', 'ANY shop.example.com/ prefix'].map((t) => [routeIdFor(rule(t)), t]));
  assert.equal(shadowedBy(rule('ANY /api/v1 prefix'), rules), 'ANY /api prefix');
  assert.equal(shadowedBy(rule('GET /api/v1 prefix'), rules), 'GET /api prefix');
  assert.equal(shadowedBy(rule('GET /api/users'), rules), 'GET /api prefix');
  assert.equal(shadowedBy(rule('ANY shop.example.com/cart'), rules), 'ANY shop.example.com/ prefix');
  assert.equal(shadowedBy(rule('ANY *.example.com/ prefix'), rules), 'ANY / prefix');
  assert.equal(shadowedBy(rule('ANY / prefix'), rules), null, 'nothing is below the catch-all');
});

test('rauta plan names the rule a new prefix takes requests from, and where a removed one sends them', () => {
  const mk = (name: string, m: RouteMatch, ip: string): Route => ({
    name,
    ...m,
    backends: [{ ip, port: 80, weight: 1 }],
    tableSize: 4099,
    source: { file: `routes/${name}.yaml`, line: 2 },
  });
  const all = mk('all', rule('ANY / prefix'), '10.1.0.1');
  const api = mk('api', rule('ANY /api prefix'), '10.1.0.2');
  const v1 = mk('v1', rule('ANY /api/v1 prefix'), '10.1.0.3');
  const side = (label: string, routes: Route[]) => ({ label, commit: null, routes, listeners: [], issues: [] });
  const report = planReport(side('before', [all, v1]), side('after', [all, api]));
  const lines = report.routes.map(formatImpact);
  assert.deepEqual(lines, [
    '- ANY /api/v1 prefix (v1) -10.1.0.3:80: 2 ops, all connections lose their route; its requests go to ANY /api prefix (api, routes/api.yaml:2)',
    '+ ANY /api prefix (api) +10.1.0.2:80: 2 ops, new; takes its requests from ANY / prefix (all, routes/all.yaml:2)',
  ]);
  const warnings = planWarnings(report, { routes: [all, v1], listeners: [] }, { routes: [all, api], listeners: [] }, DEFAULT_CAPACITY, 0.5);
  assert.deepEqual(warnings, [
    { kind: 'shadows', route: 'ANY /api prefix', name: 'api', shadowed: 'ANY / prefix', shadowedName: 'all', source: 'routes/all.yaml:2' },
  ]);
});
