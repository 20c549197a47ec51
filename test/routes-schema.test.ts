// The JSON Schema files are generated from the zod schema and must be fresh;
// their patterns must agree with the validator's own explanations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { routeJsonSchemas } from '../src/routes/json-schema.js';
import { ENDPOINT_PATTERN, UNICAST_IPV4_PATTERN, explainAddress, explainEndpoint } from '../src/routes/endpoint.js';
import { PATH_PATTERN, explainPath } from '../src/routes/http-path.js';

const schemasDir = new URL('../schemas/', import.meta.url);

test('schemas/*.json match the zod schema (run: npx tsx scripts/gen-schemas.ts)', () => {
  const generated = routeJsonSchemas();
  const committed = readdirSync(schemasDir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  assert.deepEqual(committed, Object.keys(generated).sort(), 'schemas/ holds other files than the generator writes');
  for (const [name, content] of Object.entries(generated))
    assert.equal(readFileSync(new URL(name, schemasDir), 'utf8'), content, `schemas/${name} is stale: run npx tsx scripts/gen-schemas.ts and commit`);
});

test('every pattern in the JSON Schemas compiles as a Unicode regex (what editors use)', () => {
  const patterns: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'pattern' && typeof x === 'string') patterns.push(x);
        else walk(x);
      }
  };
  for (const content of Object.values(routeJsonSchemas())) walk(JSON.parse(content));
  assert.ok(patterns.length >= 4, 'expected patterns for name, path, endpoint and address');
  for (const p of patterns) assert.doesNotThrow(() => new RegExp(p, 'u'), `pattern ${p}`);
});

// Strings close to valid ones, so both sides of each check get exercised.
const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '01', '010', '', 'x', '-1', '1e2'));
const address = fc.oneof(
  fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
  fc.tuple(octet, octet, octet).map((o) => o.join('.')),
  fc.string({ maxLength: 20 }),
);
const port = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('', '080', '0', 'http', '65535', '65536'));

test('ENDPOINT_PATTERN accepts exactly what explainEndpoint finds no fault with', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(address, port).map(([a, p]) => `${a}:${p}`),
        address,
        fc.string(),
      ),
      (e) => {
        assert.equal(ENDPOINT_PATTERN.test(e), explainEndpoint(e) === null, `endpoint ${JSON.stringify(e)}: ${explainEndpoint(e)}`);
      },
    ),
    { numRuns: 5000 },
  );
});

test('UNICAST_IPV4_PATTERN accepts exactly what explainAddress finds no fault with', () => {
  fc.assert(
    fc.property(address, (a) => {
      assert.equal(UNICAST_IPV4_PATTERN.test(a), explainAddress(a) === null, `address ${JSON.stringify(a)}: ${explainAddress(a)}`);
    }),
    { numRuns: 5000 },
  );
});

test('PATH_PATTERN accepts exactly what explainPath finds no fault with', () => {
  const pathChar = fc.oneof(
    fc.constantFrom('/', 'a', 'Z', '0', '-', '.', '%', '~', '[', ' ', '?', '#', '\t', '\u007f', 'é', '\u0000'),
    fc.string({ minLength: 1, maxLength: 1 }),
  );
  const path = fc.oneof(
    fc.array(pathChar, { maxLength: 40 }).map((cs) => `/${cs.join('')}`),
    fc.array(pathChar, { maxLength: 10 }).map((cs) => cs.join('')),
    fc.integer({ min: 250, max: 260 }).map((n) => `/${'a'.repeat(n - 1)}`),
  );
  fc.assert(
    fc.property(path, (p) => {
      assert.equal(PATH_PATTERN.test(p), explainPath(p) === null, `path ${JSON.stringify(p)}: ${explainPath(p)}`);
    }),
    { numRuns: 5000 },
  );
});
