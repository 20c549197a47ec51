// `rauta validate --rev`: validating a commit straight from a real Git
// repository (made with the git CLI), without checking it out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadRouteRev } from '../src/routes/load-rev.js';
import { formatIssue } from '../src/routes/issues.js';
import { RautaError } from '../src/errors.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

function makeRepo(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rauta-rev-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  cpSync(join(repoRoot, 'examples/repo'), join(dir, 'routes'), { recursive: true });
  mkdirSync(join(dir, '.github/workflows'), { recursive: true });
  writeFileSync(join(dir, '.github/workflows/ci.yml'), 'on: push\n');
  writeFileSync(join(dir, 'deploy.yaml'), 'not: a route file, but outside --root\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'routes: initial');
  git('tag', '-a', 'v1', '-m', 'first release');
  // Second commit: checkout moves to a tier that does not exist yet.
  const file = join(dir, 'routes/services/shopping.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('  name: checkout\nspec:\n', '  name: checkout\nspec:\n  tier: 2\n'));
  git('commit', '-q', '-am', 'checkout: try tier 2');
  return dir;
}

test('loadRouteRev validates a commit by ref, tag, sha and HEAD~N without a checkout', async (t) => {
  const repo = makeRepo(t);
  const head = await loadRouteRev({ repo, ref: 'HEAD', root: 'routes' });
  assert.deepEqual(head.result.issues.map(formatIssue), [
    'routes/services/shopping.yaml:49:9: spec.tier: Tier 2 (TC-BPF) does not exist yet; the data path serves tier 1 (XDP) only: remove "tier" or set tier: 1',
  ]);
  const sha = execFileSync('git', ['rev-parse', 'HEAD~1'], { cwd: repo, encoding: 'utf8' }).trim();
  for (const ref of ['HEAD~1', 'HEAD^', 'main~1', 'v1', sha, sha.slice(0, 7)]) {
    const prev = await loadRouteRev({ repo, ref, root: 'routes' });
    assert.equal(prev.commit, sha, `${ref} should resolve to the first commit`);
    assert.deepEqual(prev.result.issues, [], `${ref} is the valid commit`);
    assert.equal(prev.files.length, 6);
    assert.equal(prev.result.routes.length, 25);
    assert.equal(prev.result.routes[0]?.source.file.startsWith('routes/'), true, 'files are named by their path in the repo');
  }
  // The working tree does not matter: break it, HEAD~1 stays valid.
  writeFileSync(join(repo, 'routes/listeners.yaml'), 'garbage: [\n');
  assert.deepEqual((await loadRouteRev({ repo, ref: 'HEAD~1', root: 'routes' })).result.issues, []);
  // Without --root the whole tree counts, hidden folders excepted: deploy.yaml is not a route document.
  const whole = await loadRouteRev({ repo, ref: 'HEAD~1' });
  assert.deepEqual(whole.result.issues.map(formatIssue), ['deploy.yaml:1:1: kind: required field is missing; use one of RoutingRule, Listener']);
});

test('loadRouteRev reads bare repositories too', async (t) => {
  const repo = makeRepo(t);
  const bare = `${repo}.git`;
  execFileSync('git', ['clone', '-q', '--bare', repo, bare]);
  t.after(() => rmSync(bare, { recursive: true, force: true }));
  const res = await loadRouteRev({ repo: bare, ref: 'main~1', root: 'routes/' });
  assert.deepEqual(res.result.issues, []);
  assert.equal(res.result.listeners.length, 2);
});

test('loadRouteRev: unknown revisions and folders are RAUTA_ERR_GIT errors that say what to check', async (t) => {
  const repo = makeRepo(t);
  const expectGit = async (p: Promise<unknown>, pattern: RegExp): Promise<void> => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof RautaError, `expected a RautaError, got ${String(err)}`);
      assert.equal(err.code, 'RAUTA_ERR_GIT');
      assert.match(err.message, pattern);
      return true;
    });
  };
  await expectGit(loadRouteRev({ repo, ref: 'no-such-branch' }), /unknown revision "no-such-branch"/);
  await expectGit(loadRouteRev({ repo, ref: 'HEAD~5' }), /has no parent/);
  await expectGit(loadRouteRev({ repo, ref: 'HEAD', root: 'nope' }), /folder "nope" does not exist in HEAD .*check --root/);
});

test('rauta validate --rev: exit 0 on the valid commit, 1 on the invalid one', async (t) => {
  const repo = makeRepo(t);
  const bin = join(repoRoot, 'bin/rauta.js');
  const ok = await run(process.execPath, [bin, 'validate', repo, '--rev', 'HEAD~1', '--root', 'routes']);
  assert.match(ok.stdout, /@HEAD~1 \([0-9a-f]{12}\) routes: 6 files, 25 rules, 2 listeners, \d+ backends \(\d+ endpoints\): valid\n$/);
  const bad = await run(process.execPath, [bin, 'validate', repo, '--rev', 'HEAD', '--root', 'routes', '--json']).then(
    () => assert.fail('validating the tier-2 commit succeeded'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout) as { valid: boolean; commit: string; issues: Array<{ file: string; line: number }> };
  assert.equal(report.valid, false);
  assert.match(report.commit, /^[0-9a-f]{40}$/);
  assert.deepEqual(
    report.issues.map((i) => `${i.file}:${i.line}`),
    ['routes/services/shopping.yaml:49'],
  );
});
