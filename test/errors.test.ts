// The error-code table, the codes the source uses, and docs/errors.md must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../src/errors.js';

const root = new URL('..', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const table = new Set(Object.keys(ERROR_CODES));
const used = new Map<string, string>();
for (const dir of ['src', 'worker']) {
  for (const file of sourceFiles(join(root, dir))) {
    if (file.endsWith('src/errors.ts')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/RAUTA_ERR_[A-Z0-9_]+/g)) used.set(m[0], file);
  }
}

test('every error code the source uses is in ERROR_CODES', () => {
  const unknown = [...used].filter(([code]) => !table.has(code));
  assert.deepEqual(unknown, [], `codes used but missing from src/errors.ts: ${unknown.map(([c, f]) => `${c} (${f})`).join(', ')}`);
});

test('every code in ERROR_CODES is used somewhere', () => {
  const dead = [...table].filter((code) => !used.has(code));
  assert.deepEqual(dead, [], `codes in src/errors.ts that no source file raises: ${dead.join(', ')}`);
});

test('docs/errors.md lists exactly the codes of ERROR_CODES with their descriptions', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\|\s*`(RAUTA_ERR_[A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*$/gm)) rows.set(m[1]!, m[2]!);
  assert.deepEqual([...rows.keys()].sort(), [...table].sort(), 'docs/errors.md rows differ from src/errors.ts');
  for (const [code, text] of Object.entries(ERROR_CODES)) {
    assert.equal(rows.get(code), text, `docs/errors.md description of ${code} differs from src/errors.ts`);
  }
});
