// diffTrees over real repositories: the right changes, and unchanged subtrees are never read.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GitStore } from '../src/git/git-store.js';
import { diffTrees, resolveSubtree } from '../src/git/tree-diff.js';
import type { TreeReader } from '../src/git/tree-reader.js';
import { tempDir, TestRepo } from '../testbed/git-repo.js';

/** Wraps the real store to record which trees and blobs the diff reads. */
function recording(store: GitStore): TreeReader & { trees: string[]; blobs: string[] } {
  const trees: string[] = [];
  const blobs: string[] = [];
  return {
    trees,
    blobs,
    readTree: (oid) => {
      trees.push(oid);
      return store.readTree(oid);
    },
    readBlob: (oid) => {
      blobs.push(oid);
      return store.readBlob(oid);
    },
  };
}

test('diffTrees reports added, modified and deleted files and skips unchanged subtrees', async (t) => {
  const tmp = tempDir('tree-diff');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  for (let d = 0; d < 5; d++) for (let f = 0; f < 5; f++) repo.write(`routes/d${d}/f${f}.yaml`, `n: ${d}-${f}\n`);
  repo.write('README.md', 'hi\n');
  const c1 = repo.commit('many files');
  repo.write('routes/d2/f3.yaml', 'n: changed\n');
  repo.write('routes/d4/new.yaml', 'n: new\n');
  repo.remove('routes/d0/f0.yaml');
  const c2 = repo.commit('three changes');

  const store = new GitStore(`${tmp.dir}/.git`);
  const t1 = (await store.readCommit(c1)).tree;
  const t2 = (await store.readCommit(c2)).tree;
  const reader = recording(store);
  const changes = await diffTrees(reader, t1, t2);
  assert.deepEqual(
    changes.map((c) => [c.path, c.oldOid !== null, c.newOid !== null]),
    [
      ['routes/d0/f0.yaml', true, false],
      ['routes/d2/f3.yaml', true, true],
      ['routes/d4/new.yaml', false, true],
    ],
    'expected exactly one delete, one modify and one add',
  );
  // root + routes + d0 + d2 + d4, on both sides = 10 tree reads; d1 and d3 are never opened.
  assert.equal(reader.trees.length, 10, `diff read ${reader.trees.length} trees; unchanged subtrees must be skipped by oid`);
  assert.equal(reader.blobs.length, 0, 'a tree diff must not read any blob');

  assert.deepEqual(await diffTrees(reader, t2, t2), [], 'a tree diffed with itself has no changes');
  const sub = await resolveSubtree(store, t2, 'routes/d4');
  assert.ok(sub, 'routes/d4 resolves to a tree');
  assert.equal(await resolveSubtree(store, t2, 'missing'), null, 'a missing folder resolves to null');
  const under = await diffTrees(store, null, sub, 'routes/d4');
  assert.deepEqual(
    under.map((c) => c.path),
    ['routes/d4/f0.yaml', 'routes/d4/f1.yaml', 'routes/d4/f2.yaml', 'routes/d4/f3.yaml', 'routes/d4/f4.yaml', 'routes/d4/new.yaml'],
  );
});

test('diffTrees handles a file replaced by a folder of the same name', async (t) => {
  const tmp = tempDir('tree-diff-kind');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('x.yaml', 'a\n');
  const c1 = repo.commit('file');
  repo.remove('x.yaml');
  repo.write('x.yaml/inner.yaml', 'b\n');
  const c2 = repo.commit('folder');
  const store = GitStore.open(tmp.dir);
  const changes = await diffTrees(store, (await store.readCommit(c1)).tree, (await store.readCommit(c2)).tree);
  assert.deepEqual(
    changes.map((c) => [c.path, c.oldOid !== null, c.newOid !== null]),
    [
      ['x.yaml', true, false],
      ['x.yaml/inner.yaml', false, true],
    ],
  );
});

test('diffTrees does not report symlinks as files', async (t) => {
  const tmp = tempDir('tree-diff-link');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('a.yaml', 'a\n');
  const c1 = repo.commit('file');
  fs.symlinkSync('a.yaml', path.join(tmp.dir, 'link.yaml'));
  const c2 = repo.commit('symlink');
  const store = GitStore.open(tmp.dir);
  const changes = await diffTrees(store, (await store.readCommit(c1)).tree, (await store.readCommit(c2)).tree);
  assert.deepEqual(changes, [], 'a symlink holds a path, not route content: it must not be parsed');
});
