// fnv1a64 must equal the XDP program's path hash (the data-path test proves the
// kernel side with real packets); here: published FNV-1a 64 vectors and bytes vs strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fnv1a64 } from '../src/model/fnv1a.js';

test('published FNV-1a 64 test vectors', () => {
  const vectors: Array<[string, bigint]> = [
    ['', 0xcbf29ce484222325n],
    ['a', 0xaf63dc4c8601ec8cn],
    ['foobar', 0x85944171f73967e8n],
    ['chongo was here!\n', 0x46810940eff5f915n],
  ];
  for (const [input, want] of vectors) {
    assert.equal(fnv1a64(input), want, `fnv1a64(${JSON.stringify(input)}) should be 0x${want.toString(16)}`);
  }
});

test('a string hashes as its UTF-8 bytes; results stay within u64', () => {
  const path = '/ünïcode/路径?x';
  assert.equal(fnv1a64(path), fnv1a64(Buffer.from(path, 'utf8')), 'string and its UTF-8 bytes hash alike');
  for (let i = 0; i < 300; i++) {
    const h = fnv1a64(`/${'z'.repeat(i)}`);
    assert.ok(h >= 0n && h < 2n ** 64n, `hash of a ${i + 1}-byte path is a u64`);
  }
});
