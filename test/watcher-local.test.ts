// The watcher on a local repository reacts to `git commit` through chokidar,
// long before its poll would (the poll is set to an hour here, the ref check is off).
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { routeYaml, tempDir, TestRepo, watchLocalRepo } from '../testbed/git-repo.js';

test('a commit in the watched working copy is recorded without waiting for the poll', async (t) => {
  const tmp = tempDir('watch-local');
  // node runs t.after hooks in registration order: one hook closes the watcher, then the
  // log it writes, and only then removes their directory.
  let close = async (): Promise<void> => {};
  t.after(async () => {
    await close();
    tmp.cleanup();
  });
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  repo.write('routes/a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  const c1 = repo.commit('a');
  const { log, watcher, errors, close: stop } = await watchLocalRepo(repo, path.join(tmp.dir, 'events.log'));
  close = stop;
  assert.equal(await log.head(), 2, 'the start run records the existing commit');

  repo.write('routes/b.yaml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  const c2 = repo.commit('b');
  // Generous bound for a loaded CI machine; the poll (1 h) cannot be what satisfies it.
  const head = await log.waitForHead(2, undefined, 20_000);
  assert.ok(head > 2, `the commit was not seen within 20 s (head ${head}); chokidar did not fire. errors: ${errors.map(String).join('; ')}`);
  const events = await log.read(3, 100);
  assert.deepEqual(
    events.map((e) => [e.type, e.commit]),
    [
      ['RouteUpserted', c2],
      ['CommitAccepted', c2],
    ],
  );
  assert.ok(!watcher.stats.triggers.includes('poll'), `triggers were ${watcher.stats.triggers.join(',')}; expected no poll`);
  assert.ok(watcher.stats.triggers.includes('fs'), 'the file-system watch triggered the run');
  assert.ok(c1 !== c2);
  assert.deepEqual(errors, []);
});
