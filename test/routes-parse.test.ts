// parseRouteFile and loadRouteDir details: the normalized model, defaults,
// source lines, and the safety limits that are too big for the corpus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_DOCUMENTS, isRouteFile, parseRouteFile } from '../src/routes/parse-file.js';
import fc from 'fast-check';
import { MAX_FILE_BYTES, decodeUtf8 } from '../src/routes/safe-text.js';
import { validateRouteSet } from '../src/routes/validate-set.js';
import { formatIssue, loadRouteDir } from '../src/routes/load-dir.js';
import { Route } from '../src/routes/route-model.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const rule = (name: string, path: string, extra = ''): string =>
  `apiVersion: rauta.io/v1\nkind: RoutingRule\nmetadata:\n  name: ${name}\nspec:\n  match:\n    method: GET\n    path:\n      value: ${path}\n  backends:\n    - endpoint: 10.1.0.1:8080\n${extra}`;

test('a rule becomes a normalized Route with defaults: weight 1, tableSize 4099, Exact path', () => {
  const text = `# leading comment\n\n${rule('users', '/api/users', '    - endpoint: 10.1.0.2:9090\n      weight: 7\n')}`;
  const parsed = parseRouteFile('routes/users.yaml', enc(text));
  assert.deepEqual(parsed.issues, []);
  assert.deepEqual(parsed.routes, [
    {
      name: 'users',
      method: 'GET',
      path: '/api/users',
      backends: [
        { ip: '10.1.0.1', port: 8080, weight: 1 },
        { ip: '10.1.0.2', port: 9090, weight: 7 },
      ],
      tableSize: 4099,
      source: { file: 'routes/users.yaml', line: 3 },
    },
  ]);
  assert.doesNotThrow(() => Route.parse(parsed.routes[0]), 'the result must satisfy the event model');
});

test('Route.source.line is the first content line of each document', () => {
  const text = `${rule('a', '/a')}---\n# about b\n\n${rule('b', '/b')}--- # c follows\n${rule('c', '/c')}`;
  const parsed = parseRouteFile('x.yaml', enc(text));
  assert.deepEqual(parsed.issues, []);
  assert.deepEqual(
    parsed.routes.map((r) => [r.name, r.source.line]),
    [
      ['a', 1],
      ['b', 15],
      ['c', 27],
    ],
  );
});

test('empty files, comment-only files and empty documents are valid and define nothing', () => {
  for (const text of ['', '# nothing yet\n', '---\n---\n', '\ufeff# BOM is fine\n']) {
    const parsed = parseRouteFile('e.yaml', enc(text));
    assert.deepEqual(parsed, { file: 'e.yaml', routes: [], listeners: [], issues: [] }, `input ${JSON.stringify(text)}`);
  }
});

test('a file over 1 MiB is rejected without parsing', () => {
  const big = new Uint8Array(MAX_FILE_BYTES + 1).fill(0x20);
  const parsed = parseRouteFile('big.yaml', big);
  assert.deepEqual(parsed.issues.map(formatIssue), ['big.yaml:1:1: file is 1.0 MiB; route files may be at most 1.0 MiB: split it into several files']);
});

test(`more than ${MAX_DOCUMENTS} documents in one file is an error at the first one too many`, () => {
  const doc = 'apiVersion: rauta.io/v1\n';
  const text = Array.from({ length: MAX_DOCUMENTS + 1 }, () => doc).join('---\n');
  const parsed = parseRouteFile('many.yaml', enc(text));
  assert.deepEqual(parsed.issues.map(formatIssue), [
    `many.yaml:${2 * MAX_DOCUMENTS}:1: more than ${MAX_DOCUMENTS} documents in one file; split it into several files`,
  ]);
});

test('deep nesting that would cost the parser seconds is refused quickly', () => {
  // 300,000 levels: yaml alone takes ~2 s and ~300 MiB on this; the pre-scan refuses at level 65.
  for (const [name, text] of [
    ['flow', `a: ${'['.repeat(300_000)}${']'.repeat(300_000)}\n`],
    ['dashes', `${'- '.repeat(300_000)}x\n`],
  ] as const) {
    const parsed = parseRouteFile(`${name}.yaml`, enc(text));
    assert.equal(parsed.issues.length, 1, `${name}: ${JSON.stringify(parsed.issues)}`);
    assert.match(parsed.issues[0]?.message ?? '', /^nesting deeper than 64 levels/);
  }
  // Brackets inside quoted strings and plain scalars do not count.
  const path = `/a${'['.repeat(100)}`;
  const parsed = parseRouteFile('ok.yaml', enc(rule('brackets', `"${path}"`)));
  assert.deepEqual(parsed.issues, [], 'a path full of "[" is not nesting');
  assert.equal(parsed.routes[0]?.path, path);
});

test('aliases within one document are fine up to the expansion limit', () => {
  const text = `apiVersion: rauta.io/v1\nkind: RoutingRule\nmetadata:\n  name: &n users\nspec:\n  match:\n    method: GET\n    path:\n      value: /api/users\n  backends:\n    - endpoint: &e 10.1.0.1:8080\n`;
  const parsed = parseRouteFile('alias.yaml', enc(text));
  assert.deepEqual(parsed.issues, []);
  assert.equal(parsed.routes[0]?.name, 'users');
});

test('isRouteFile: *.yaml and *.yml outside hidden folders', () => {
  for (const p of ['a.yaml', 'b.yml', 'routes/x/C.YAML']) assert.ok(isRouteFile(p), p);
  for (const p of ['a.json', 'a.yaml.bak', 'yaml', '.github/workflows/ci.yml', 'routes/.hidden.yaml', 'x/.git/config.yaml']) assert.ok(!isRouteFile(p), p);
});

test('validateRouteSet is order independent: the first definition by file then line wins', () => {
  const a = parseRouteFile('a.yaml', enc(rule('users', '/api/users')));
  const b = parseRouteFile('b.yaml', enc(rule('users', '/api/users')));
  const one = validateRouteSet([a, b]);
  const two = validateRouteSet([b, a]);
  assert.deepEqual(one, two);
  assert.deepEqual(one.issues.map(formatIssue), [
    'b.yaml:1:1: RoutingRule "users" routes GET /api/users, which RoutingRule "users" at a.yaml:1 already routes; two rules may not match exactly the same requests (same method, host and path)',
    'b.yaml:1:1: RoutingRule name "users" is already used at a.yaml:1; names must be unique',
  ]);
  assert.deepEqual(
    one.routes.map((r) => r.source.file),
    ['a.yaml'],
  );
});

test('validateRouteSet over 10,000 files (the watcher calls it per commit)', (t) => {
  const files = Array.from({ length: 10_000 }, (_, i) =>
    parseRouteFile(`svc/${i}.yaml`, enc(`${rule(`r${i}`, `/api/r${i}`)}---\n${rule(`s${i}`, `/api/s${i}`)}`)),
  );
  const started = process.hrtime.bigint();
  // Parsing is cached per blob by the watcher; this is the per-commit part.
  const set = validateRouteSet(files);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.diagnostic(`validateRouteSet: 10,000 files, 20,000 rules in ${ms.toFixed(1)} ms`);
  assert.equal(set.routes.length, 20_000);
  assert.deepEqual(set.issues, []);
});

test('loadRouteDir walks subfolders, skips hidden folders, symlinks and other files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-routes-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'svc/deep'), { recursive: true });
  mkdirSync(join(dir, '.github/workflows'), { recursive: true });
  writeFileSync(join(dir, 'svc/a.yaml'), rule('a', '/a'));
  writeFileSync(join(dir, 'svc/deep/b.yml'), rule('b', '/b'));
  writeFileSync(join(dir, '.github/workflows/ci.yml'), 'on: push\n');
  writeFileSync(join(dir, 'README.md'), '# routes\n');
  symlinkSync(join(dir, 'svc/a.yaml'), join(dir, 'link.yaml'));
  const { files, result } = await loadRouteDir(dir);
  assert.deepEqual(
    files.map((f) => f.file),
    [join(dir, 'svc/a.yaml'), join(dir, 'svc/deep/b.yml')],
    'only regular route files outside hidden folders, named dir + relative path',
  );
  assert.deepEqual(result.issues, []);
  assert.deepEqual(
    result.routes.map((r) => r.name),
    ['a', 'b'],
  );
});

test('loadRouteDir rejects an oversized file without reading it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-routes-big-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'big.yaml'), Buffer.alloc(MAX_FILE_BYTES + 10, 0x20));
  const { result } = await loadRouteDir(dir);
  assert.equal(result.issues.length, 1);
  assert.match(formatIssue(result.issues[0]!), /big\.yaml:1:1: file is 1\.0 MiB; route files may be at most 1\.0 MiB/);
});

test('non-UTF-8 is reported at the first bad byte (the bytes before it decode cleanly)', () => {
  const strict = new TextDecoder('utf-8', { fatal: true });
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc
      .tuple(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.uint8Array({ maxLength: 4 }), fc.string({ maxLength: 5 }))
      .map(([a, junk, b]) => new Uint8Array([...enc(a), ...junk, ...enc(b)])),
  );
  fc.assert(
    fc.property(bytes, (b) => {
      let valid = true;
      try {
        strict.decode(b);
      } catch {
        valid = false;
      }
      const r = decodeUtf8(b);
      assert.equal(r.ok, valid);
      if (!r.ok) {
        assert.ok(r.offset < b.length, `offset ${r.offset} inside the input`);
        assert.doesNotThrow(() => strict.decode(b.subarray(0, r.offset)), 'the prefix before the reported byte is valid UTF-8');
      }
    }),
    { numRuns: 3000 },
  );
});
