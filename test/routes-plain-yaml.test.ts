// The plain-YAML fast path (src/routes/plain-yaml.ts) must give exactly what `yaml`
// gives: every file parsed both ways (parseRouteFile with and without the fast path)
// must come out deep-equal, for the example and fixture files and for route files
// mutated with the YAML forms the fast path must either read right or hand to `yaml`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { LineCounter, parseAllDocuments } from 'yaml';
import { MAX_DOCUMENTS, parseRouteFile } from '../src/routes/parse-file.js';
import { plainDocuments } from '../src/routes/plain-yaml.js';
import { routeFile } from '../bench/lib/route-repo.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function assertSame(file: string, bytes: Uint8Array): void {
  const fast = parseRouteFile(file, bytes);
  const viaYaml = parseRouteFile(file, bytes, { plainFastPath: false });
  assert.deepEqual(fast, viaYaml, `the fast path and yaml differ on ${file}:\n${new TextDecoder().decode(bytes)}`);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(dir, f));
}

test('example and fixture files parse the same with and without the fast path', () => {
  const files = [...yamlFiles('examples'), ...yamlFiles('test/fixtures')];
  assert.ok(files.length > 20, `found only ${files.length} YAML files`);
  let plain = 0;
  for (const f of files) {
    const bytes = readFileSync(f);
    assertSame(f, bytes);
    if (plainDocuments(bytes.toString('utf8'), MAX_DOCUMENTS)) plain++;
  }
  // the example repo (comments, ---, compact mappings in lists) is read without yaml
  assert.ok(plain >= 6, `only ${plain} of ${files.length} files took the fast path`);
});

test('the fast path reads plain route files: values, line numbers, documents', () => {
  const text = `# a comment\n\n${routeFile(7, 3)}---\n# between\n${routeFile(8, 4).replace('GET', "'GET'")}`;
  const docs = plainDocuments(text, MAX_DOCUMENTS);
  assert.ok(docs, 'a plain two-document file is read by the fast path');
  assert.deepEqual(
    docs.map((d) => d.line),
    [3, 18],
    'each document starts at its first content line',
  );
  assert.deepEqual(docs[1]!.data.spec, {
    match: { method: 'GET', path: { type: 'Exact', value: '/svc/8' } },
    backends: [{ endpoint: '10.1.0.4:8080' }, { endpoint: '10.2.0.8:8080' }],
  });
  assertSame('two.yaml', enc(text));
  assert.deepEqual(plainDocuments('a:\n  b: 8080\n  c: true\n  d: x~\n  e:\n  f: "x # y" # z\n', MAX_DOCUMENTS)?.[0]?.data, {
    a: { b: 8080, c: true, d: 'x~', e: null, f: 'x # y' },
  });
  // the core schema's words, as yaml reads them
  const words = 'a: Null\nb: NULL\nc: null\nd: True\ne: TRUE\nf: False\ng: FALSE\nh: tRUE\ni: 0\nj: nulls\n';
  assert.deepEqual(plainDocuments(words, MAX_DOCUMENTS)?.[0]?.data, {
    a: null,
    b: null,
    c: null,
    d: true,
    e: true,
    f: false,
    g: false,
    h: 'tRUE',
    i: 0,
    j: 'nulls',
  });
});

test('forms outside the subset are left to yaml', () => {
  for (const text of [
    'a: 1.5\n',
    'a: 0x10\n',
    'a: 010\n',
    'a: &x b\n',
    'a: [b]\n',
    'a: |\n  b\n',
    'a: b\n  c\n',
    'a: 1\na: 2\n',
    'a:\tb\n',
    'a: b\r\n',
    'a: "b\\n"\n',
    'a: é\n',
    '- a\n',
    'a: b\n...\n',
    'true: b\n',
    'a:\n  b: 1\n c: 2\n',
  ]) {
    assert.equal(plainDocuments(text, MAX_DOCUMENTS), null, `not plain: ${JSON.stringify(text)}`);
  }
});

// Values that resolve to strings, numbers, booleans, null, or that are not plain at all.
const VALUES = [
  '8080',
  '08080',
  '0',
  '-1',
  '+1',
  '1.5',
  '1e3',
  '0x1F',
  '0o17',
  '.inf',
  '.nan',
  'NaN',
  'true',
  'True',
  'TRUE',
  'tRue',
  'false',
  'null',
  'Null',
  'NULL',
  '~',
  '',
  '""',
  "''",
  '"a#b"',
  "'it''s'",
  '"a\\tb"',
  'a #c',
  'a#b',
  'a: b',
  'a:',
  'a:b',
  '*x',
  '&x a',
  '!!str 1',
  '[a]',
  '{a: 1}',
  '|',
  '>',
  '/x/{id}',
  '%x',
  '@x',
  '`x`',
  'GET',
  'get',
  'Exact',
  'PathPrefix',
  '10.1.0.1:8080',
  '"10.1.0.1:8080"',
  "'GET'",
  '1_000',
  '12345678901234567890',
  'é',
  '/api/x',
  '"/api/x"',
  '- a',
  '"unterminated',
];
const INSERTS = ['# c', '  # c', '---', '--- # c', '...', '', '   ', '%YAML 1.2', 'extra: 1', '  extra: 1', '- extra', '\t', '?', 'kind: Listener'];

type Mutation = { line: number; kind: number; pick: number };

function mutate(text: string, mutations: Mutation[]): string {
  const lines = text.split('\n');
  for (const { line, kind, pick } of mutations) {
    const i = line % lines.length;
    const s = lines[i]!;
    switch (kind) {
      case 0: {
        // replace the value after `key: `
        const m = /^(\s*(?:- )?[A-Za-z]+:) .*$/.exec(s);
        if (m) lines[i] = `${m[1]} ${VALUES[pick % VALUES.length]}`;
        break;
      }
      case 1:
        lines.splice(i, 0, INSERTS[pick % INSERTS.length]!);
        break;
      case 2:
        lines[i] = pick % 2 ? ` ${s}` : s.replace(/^ /, '');
        break;
      case 3:
        lines.splice(i, 0, s); // a duplicate key, or a second list item
        break;
      case 4:
        lines.splice(i, 1);
        break;
      case 5:
        lines[i] = `${s}${[' ', '  # t', '\r', ' #', '#x'][pick % 5]}`;
        break;
      case 6:
        // compact list items: `- endpoint` at the key's indentation
        lines[i] = s.replace(/^(\s*) {2}- /, '$1- ');
        break;
    }
  }
  return lines.join('\n');
}

test('mutated route files parse the same with and without the fast path (fast-check)', () => {
  const mutation = fc.record({ line: fc.nat(40), kind: fc.nat(6), pick: fc.nat(200) }, { noNullPrototype: true });
  let plain = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.nat(20_000), fc.boolean(), fc.array(mutation, { maxLength: 6 }), (i, two, mutations) => {
      const text = mutate(two ? `${routeFile(i, 2)}---\n${routeFile(i + 1, 3)}` : routeFile(i, 2), mutations);
      runs++;
      if (plainDocuments(text, MAX_DOCUMENTS)) plain++;
      assertSame(`m/${i}.yaml`, enc(text));
    }),
    { numRuns: 4000 },
  );
  // both sides of the fast path are exercised
  assert.ok(plain > runs / 10 && plain < runs * 0.9, `${plain} of ${runs} mutated files were plain`);
});

// Any tree of mappings, lists and scalars, written in block style with random
// indentation, list style, comments and spacing: where the fast path reads it, it
// reads what yaml reads (values and each document's first line), whatever the schema.
type Tree = string | Tree[] | { [key: string]: Tree };
const key = fc.oneof({ arbitrary: fc.constantFrom('a', 'b', 'name', 'spec', 'x-1', 'y_2', 'on', 'key9', 'k'), weight: 9 }, fc.constantFrom('True', 'null'));
const scalar = fc.oneof(
  {
    arbitrary: fc.constantFrom('x', 'on', 'yes', 'no', '0', '42', "'a b'", '"c d"', 'GET', '/p/q', '10.1.0.1:8080', 'true', 'NULL', 'tRue', '1_000'),
    weight: 6,
  },
  fc.constantFrom(...VALUES.filter((v) => v !== '' && !v.startsWith('- '))),
);

function writeTree(tree: Tree, indent: number, step: number, compact: boolean, comment: boolean): string[] {
  const pad = ' '.repeat(indent);
  if (typeof tree === 'string') return [tree];
  const lines: string[] = [];
  const nested = (value: Tree, prefix: string, childIndent: number): void => {
    if (typeof value === 'string') lines.push(`${prefix} ${value}${comment ? ' # c' : ''}`);
    else if (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0)
      lines.push(prefix); // an empty value: null
    else {
      lines.push(prefix);
      if (comment) lines.push(`${' '.repeat(childIndent)}# between`);
      lines.push(...writeTree(value, childIndent, step, compact, comment));
    }
  };
  if (Array.isArray(tree)) {
    for (const item of tree) {
      if (typeof item === 'string') lines.push(`${pad}- ${item}`);
      else if (!Array.isArray(item) && Object.keys(item).length > 0) {
        const [first, ...rest] = writeTree(item, indent + 2, step, compact, comment);
        lines.push(`${pad}- ${first!.trimStart()}`, ...rest);
      } else nested(item, `${pad}-`, indent + step);
    }
    return lines;
  }
  for (const [key, value] of Object.entries(tree)) {
    nested(value, `${pad}${key}:`, Array.isArray(value) && compact ? indent : indent + step);
  }
  return lines;
}

test('block YAML trees: where the fast path reads them, it reads what yaml reads (fast-check)', () => {
  const { tree } = fc.letrec<{ tree: Tree; map: Tree }>((tie) => ({
    tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('map'), fc.array(tie('tree'), { maxLength: 3 })),
    map: fc.dictionary(key, tie('tree'), { maxKeys: 4, noNullPrototype: true }),
  }));
  const doc = fc.dictionary(key, tree, { minKeys: 1, maxKeys: 4, noNullPrototype: true });
  let plain = 0;
  fc.assert(
    fc.property(fc.array(doc, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean(), (docs, step, compact, comment) => {
      const text = docs.map((d) => writeTree(d, 0, step, compact, comment).join('\n')).join('\n---\n');
      const fast = plainDocuments(text, MAX_DOCUMENTS);
      if (fast === null) return;
      plain++;
      const lineCounter = new LineCounter();
      const viaYaml = parseAllDocuments(text, { lineCounter, uniqueKeys: true });
      assert.ok(
        viaYaml.every((d) => d.errors.length === 0 && d.warnings.length === 0),
        `yaml finds errors where the fast path read:\n${text}`,
      );
      const read = viaYaml.filter((d) => d.contents !== null);
      assert.deepEqual(
        fast.map((d) => ({ data: d.data, line: d.line })),
        read.map((d) => ({ data: d.toJS(), line: lineCounter.linePos(d.contents!.range[0]).line })),
        text,
      );
    }),
    { numRuns: 3000 },
  );
  assert.ok(plain > 300, `only ${plain} generated texts were plain`);
});
