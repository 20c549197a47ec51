// ObjectReader (src/git/object-reader.ts) reads what isomorphic-git reads, byte for byte and
// entry for entry, from loose objects and from packs with deep delta chains; damage is an
// error, never a different object.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import git from 'isomorphic-git';
import { RautaError } from '../src/errors.js';
import { GitStore } from '../src/git/git-store.js';
import { ObjectReader, parseTree } from '../src/git/object-reader.js';
import { tempDir, TestRepo } from '../testbed/git-repo.js';

/** Every object of the repository, loose or packed, with its type. */
function allObjects(repo: TestRepo): Array<{ oid: string; type: string }> {
  return repo
    .git('cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype)')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [oid, type] = l.split(' ') as [string, string];
      return { oid, type };
    });
}

/** A repository with many versions of the same files (delta chains), executables, a symlink, a submodule entry, odd names. */
function buildRepo(dir: string): TestRepo {
  const repo = TestRepo.init(dir);
  for (let round = 0; round < 12; round++) {
    for (let f = 0; f < 8; f++) {
      const lines = Array.from({ length: 40 }, (_, i) => `line ${i} of file ${f}${i === round ? ` changed in round ${round}` : ''}`);
      repo.write(`routes/team-${f % 3}/svc-${f}.yaml`, `${lines.join('\n')}\n`);
    }
    repo.write('routes/ünïcødé name.yaml', `round ${round}\n`);
    repo.commit(`round ${round}`);
  }
  repo.write('bin/tool.sh', '#!/bin/sh\necho hi\n');
  fs.chmodSync(path.join(dir, 'bin/tool.sh'), 0o755);
  fs.symlinkSync('../routes/team-0/svc-0.yaml', path.join(dir, 'bin/link.yaml'));
  repo.git('update-index', '--add', '--cacheinfo', `160000,${repo.head()},vendor/sub`);
  repo.write('big.bin', `${'x'.repeat(200_000)}y`);
  repo.commit('modes');
  return repo;
}

async function compareAll(repo: TestRepo, gitdir: string, what: string): Promise<number> {
  const reader = new ObjectReader(gitdir);
  let checked = 0;
  for (const { oid, type } of allObjects(repo)) {
    if (type !== 'tree' && type !== 'blob') continue;
    const ours = reader.read(oid);
    assert.ok(ours, `${what}: ObjectReader finds ${type} ${oid}`);
    assert.equal(ours.type, type, `${what}: ${oid} is a ${type}`);
    if (type === 'blob') {
      const { blob } = await git.readBlob({ fs, gitdir, oid });
      assert.ok(Buffer.from(blob).equals(ours.data), `${what}: blob ${oid} has the same bytes`);
    } else {
      const { tree } = await git.readTree({ fs, gitdir, oid });
      assert.deepEqual(parseTree(ours.data, oid), tree, `${what}: tree ${oid} has the same entries as isomorphic-git's readTree`);
    }
    checked++;
  }
  reader.close();
  return checked;
}

test('ObjectReader reads loose and packed objects exactly as isomorphic-git does', async (t) => {
  const tmp = tempDir('object-reader');
  t.after(tmp.cleanup);
  const repo = buildRepo(tmp.dir);
  const gitdir = path.join(tmp.dir, '.git');
  const loose = await compareAll(repo, gitdir, 'loose');
  assert.ok(loose > 100, `compared ${loose} loose objects`);
  // deep delta chains, the way `git gc` leaves a busy repository
  repo.git('repack', '-a', '-d', '-f', '--depth=50', '--window=50');
  repo.git('prune-packed');
  const deltas = repo.git(
    'verify-pack',
    '-v',
    ...fs
      .readdirSync(path.join(gitdir, 'objects/pack'))
      .filter((n) => n.endsWith('.idx'))
      .map((n) => path.join(gitdir, 'objects/pack', n)),
  );
  assert.match(deltas, /chain length = [2-9]/, 'the pack has delta chains');
  const packed = await compareAll(repo, gitdir, 'packed');
  assert.equal(packed, loose);
  // a commit after the repack: loose objects beside the pack
  repo.write('routes/after.yaml', 'after the repack\n');
  repo.commit('after');
  assert.equal(await compareAll(repo, gitdir, 'pack + loose'), loose + 3);
});

test('ObjectReader: an object it does not have is null; GitStore then asks isomorphic-git', async (t) => {
  const tmp = tempDir('object-reader-missing');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('a.yaml', 'a\n');
  repo.commit('one');
  const reader = new ObjectReader(path.join(tmp.dir, '.git'));
  assert.equal(reader.read('0'.repeat(40)), null);
  assert.equal(reader.read('not an oid'), null);
  const store = GitStore.open(tmp.dir);
  await assert.rejects(store.readBlob('1'.repeat(40)), (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_GIT');
});

test('ObjectReader: damage in a loose object or a pack is an error naming the object, never another object', async (t) => {
  const tmp = tempDir('object-reader-damage');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  for (let i = 0; i < 5; i++) {
    repo.write('routes/a.yaml', `${'route line\n'.repeat(50)}version ${i}\n`);
    repo.commit(`v${i}`);
  }
  const gitdir = path.join(tmp.dir, '.git');
  const blob = repo.git('rev-parse', 'HEAD:routes/a.yaml');

  // loose: a different object stored under this oid
  const loosePath = path.join(gitdir, 'objects', blob.slice(0, 2), blob.slice(2));
  const original = fs.readFileSync(loosePath);
  const other = repo.git('rev-parse', 'HEAD~1:routes/a.yaml');
  fs.chmodSync(loosePath, 0o644);
  fs.copyFileSync(path.join(gitdir, 'objects', other.slice(0, 2), other.slice(2)), loosePath);
  assert.throws(() => new ObjectReader(gitdir).read(blob), /RAUTA_ERR_GIT|reads back as/);
  fs.writeFileSync(loosePath, original.subarray(0, original.length - 4));
  assert.throws(
    () => new ObjectReader(gitdir).read(blob),
    (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_GIT' && err.message.includes(blob),
  );
  fs.writeFileSync(loosePath, original);

  // packed: one byte of the pack flipped inside the newest version's data
  repo.git('repack', '-a', '-d', '-f', '--depth=50');
  repo.git('prune-packed');
  const pack = fs.readdirSync(path.join(gitdir, 'objects/pack')).find((n) => n.endsWith('.pack'))!;
  const packPath = path.join(gitdir, 'objects/pack', pack);
  const offsets = repo
    .git('verify-pack', '-v', packPath.replace(/\.pack$/, '.idx'))
    .split('\n')
    .map((l) => l.split(/\s+/))
    .filter((f) => f[0] === blob);
  assert.equal(offsets.length, 1, 'the blob is in the pack');
  const [, , size, packed, offset] = offsets[0]!.map((v, i) => (i >= 2 ? Number(v) : v)) as [string, string, number, number, number];
  void size;
  const bytes = fs.readFileSync(packPath);
  const at = offset + packed - 3; // inside the zlib stream, before its checksum
  bytes[at] = bytes[at]! ^ 0xff;
  fs.chmodSync(packPath, 0o644);
  fs.writeFileSync(packPath, bytes);
  assert.throws(
    () => new ObjectReader(gitdir).read(blob),
    (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_GIT',
  );
});

test('parseTree refuses entries no checkout may write, as isomorphic-git does', () => {
  const entry = (mode: string, name: string): Buffer => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.alloc(20, 0xab)]);
  for (const name of ['.git', '.GIT', '.git.', 'git~1', 'a\\b', '.git::$INDEX_ALLOCATION', '..', '. .']) {
    assert.throws(() => parseTree(entry('100644', name), 'f'.repeat(40)), /not a safe file name/, JSON.stringify(name));
  }
  assert.throws(() => parseTree(entry('100664', 'a.yaml'), 'f'.repeat(40)), /mode "100664"/);
  assert.deepEqual(parseTree(Buffer.concat([entry('100644', 'b.yaml'), entry('40000', 'a')]), 'f'.repeat(40)), [
    { mode: '040000', path: 'a', oid: 'ab'.repeat(20), type: 'tree' },
    { mode: '100644', path: 'b.yaml', oid: 'ab'.repeat(20), type: 'blob' },
  ]);
});
