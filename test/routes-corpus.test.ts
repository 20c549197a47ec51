// The invalid corpus: every file (or folder) under test/fixtures/invalid/ ends
// with "# expect: LINE:COL: message" lines, the exact errors it must produce,
// no more and no fewer. The same cases through `rauta validate` exit 1 and
// print file:line:col messages; examples/repo is valid and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import { parseRouteFile } from '../src/routes/parse-file.js';
import { validateRouteSet } from '../src/routes/validate-set.js';
import { formatIssue } from '../src/routes/issues.js';
import { runValidate } from '../src/cli/validate.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const corpus = join(repoRoot, 'test/fixtures/invalid');
const run = promisify(execFile);

interface Case {
  name: string;
  files: string[]; // relative to the corpus
}

function cases(): Case[] {
  return readdirSync(corpus)
    .sort()
    .map((name) => ({
      name,
      files: statSync(join(corpus, name)).isDirectory()
        ? readdirSync(join(corpus, name))
            .sort()
            .map((f) => `${name}/${f}`)
        : [name],
    }));
}

function expectations(file: string): string[] {
  const bytes = readFileSync(join(corpus, file));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = bytes.toString('latin1'); // the non-UTF-8 case: its expect lines are ASCII
  }
  return [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => `${file}:${m[1]}`);
}

/** Runs the validate command in this process (the spawned-binary tests below cover commander and exit codes). */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const [dir = '.', ...rest] = args;
  let out = '';
  const code = await runValidate(dir, { json: rest.includes('--json') }, (text) => {
    out += text;
  });
  return { code, out };
}

test('the corpus covers every failure named in the route-format issue', () => {
  const names = new Set(cases().map((c) => c.name.replace(/\.yaml$/, '')));
  for (const required of [
    'duplicate-key',
    'unknown-field-typo',
    'non-utf8',
    'billion-laughs',
    'duplicate-route',
    'duplicate-rule-name',
    'duplicate-listener',
    'endpoint-not-unicast',
    'endpoint-port-range',
    'backends-empty',
    'backends-too-many',
    'backend-twice',
    'weight-range',
    'path-no-slash',
    'path-too-long',
    'path-space',
    'path-control',
    'path-query',
    'path-fragment',
    'method-unknown',
    'table-size',
    'prefix-too-deep',
    'host-invalid',
    'duplicate-match',
    'header-match',
    'tier',
    'combination',
    'too-many-documents',
    'deep-nesting',
    'unknown-field',
    'duplicate-route-invalid',
  ])
    assert.ok(names.has(required), `test/fixtures/invalid has no case "${required}"`);
});

for (const c of cases()) {
  test(`invalid corpus: ${c.name} gives exactly its expected errors`, () => {
    const expected = c.files.flatMap(expectations);
    assert.ok(expected.length > 0, `${c.name} has no "# expect:" lines; every corpus case must state its errors`);
    const parsed = c.files.map((f) => parseRouteFile(f, readFileSync(join(corpus, f))));
    const { issues } = validateRouteSet(parsed);
    assert.deepEqual(issues.map(formatIssue), expected, `errors of ${c.name} differ from its "# expect:" lines`);
  });
}

test('rauta validate exits 1 on every corpus case and prints each error as file:line:col', async () => {
  for (const c of cases()) {
    const path = relative(process.cwd(), join(corpus, c.name)) || '.';
    const { code, out } = await cli([path]);
    assert.equal(code, 1, `rauta validate ${path} exited ${code}, want 1; output:\n${out}`);
    const lines = out.trimEnd().split('\n');
    const summary = lines.pop() ?? '';
    assert.match(summary, /: \d+ files, \d+ rules, \d+ listeners, \d+ backends \(\d+ endpoints\): \d+ errors?$/, `summary line of ${path}`);
    const positions = lines.map((l) => {
      const m = /^(.+?):(\d+):(\d+): ./.exec(l);
      assert.ok(m, `"${l}" from rauta validate ${path} is not "file:line:col: message"`);
      assert.ok(m[1]?.startsWith(path), `"${l}" should name a file under ${path}`);
      return `${relative(corpus, join(process.cwd(), m[1] ?? ''))}:${m[2]}:${m[3]}`;
    });
    const want = c.files.flatMap(expectations).map((e) => e.split(':').slice(0, 3).join(':'));
    assert.deepEqual(positions, want, `rauta validate ${path} reported other positions than the corpus expects`);
  }
});

test('rauta validate --json gives the same errors as {file,line,col,message} records', async () => {
  const path = relative(process.cwd(), join(corpus, 'combination.yaml'));
  const { code, out } = await cli([path, '--json']);
  assert.equal(code, 1);
  const report = JSON.parse(out) as { valid: boolean; rules: number; issues: Array<Record<string, unknown>> };
  assert.equal(report.valid, false);
  assert.equal(report.rules, 1, 'the good rule in combination.yaml still counts');
  const expected = expectations('combination.yaml');
  assert.equal(report.issues.length, expected.length);
  for (const i of report.issues) {
    assert.deepEqual(Object.keys(i).sort(), ['col', 'file', 'line', 'message']);
    assert.equal(i.file, path);
  }
  assert.deepEqual(
    report.issues.map((i) => `combination.yaml:${String(i.line)}:${String(i.col)}: ${String(i.message)}`),
    expected,
  );
});

test('the rauta binary validates examples/repo: exit 0 and a summary line', async () => {
  const { stdout } = await run(process.execPath, [join(repoRoot, 'bin/rauta.js'), 'validate', 'examples/repo'], { cwd: repoRoot });
  assert.match(stdout, /^examples\/repo: 6 files, 25 rules, 2 listeners, \d+ backends \(\d+ endpoints\): valid\n$/, `unexpected output: ${stdout}`);
});

test('the rauta binary exits 1 on an invalid file and 2 on a missing folder', async () => {
  const bad = await run(process.execPath, [join(repoRoot, 'bin/rauta.js'), 'validate', 'test/fixtures/invalid/tier.yaml'], { cwd: repoRoot }).then(
    () => assert.fail('rauta validate of tier.yaml succeeded'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^test\/fixtures\/invalid\/tier\.yaml:7:9: spec\.tier: /m);
  const missing = await run(process.execPath, [join(repoRoot, 'bin/rauta.js'), 'validate', 'no/such/dir'], { cwd: repoRoot }).then(
    () => assert.fail('rauta validate of a missing folder succeeded'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(missing.code, 2, 'a missing folder is an environment error (exit 2)');
  assert.match(missing.stderr, /cannot read no\/such\/dir: ENOENT \[RAUTA_ERR_ROUTES_READ\]/);
});
