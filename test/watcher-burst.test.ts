// Commits in a row, each made as soon as the previous one is recorded (as a script or CI
// does): the file watch alone (no ref check, poll set to an hour) must see every one.
// chokidar drops a 'change' of a path within 50 ms of the previous one; before the watcher
// listened to its raw events, about every other step here (45 of 99 in one run) was left
// to the poll.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { routeYaml, tempDir, TestRepo, watchLocalRepo } from '../testbed/git-repo.js';

const COMMITS = 100;
/** Only a missed commit takes this long: the poll (1 h) is the only other way it gets seen. */
const MISS_BOUND_MS = 10_000;

test('every commit of a fast series is recorded once, each woken by the file watch', async (t) => {
  const tmp = tempDir('watch-burst');
  let close = async (): Promise<void> => {};
  t.after(async () => {
    await close();
    tmp.cleanup();
  });
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  const shas: string[] = [];
  for (let i = 0; i < COMMITS; i++) {
    repo.write('routes/a.yaml', routeYaml([{ name: 'a', path: `/a${i}`, backends: [`10.1.0.${(i % 250) + 1}:8080`] }]));
    shas.push(repo.commit(`step ${i}`));
  }
  // Rewind the branch, then move it forward one commit at a time with update-ref: the same
  // lock, reflog append and rename as `git commit`, in a few ms, so each move lands within
  // chokidar's 50 ms throttle window of the previous one.
  repo.git('update-ref', 'refs/heads/main', shas[0]!);
  const { log, watcher, errors, close: stop } = await watchLocalRepo(repo, path.join(tmp.dir, 'events.log'));
  close = stop;

  const missed: number[] = [];
  for (let i = 1; i < COMMITS; i++) {
    const before = await log.head();
    repo.git('update-ref', '-m', `step ${i}`, 'refs/heads/main', shas[i]!);
    const head = await log.waitForHead(before, undefined, MISS_BOUND_MS);
    if (head <= before) {
      missed.push(i);
      await watcher.trigger('manual'); // catch up so the next step is measured on its own
    }
  }
  assert.deepEqual(missed, [], `steps not seen within ${MISS_BOUND_MS / 1000} s (left to the poll): ${missed.join(', ')}`);

  const events = await log.read(1, 10_000);
  const accepted = events.filter((e) => e.type === 'CommitAccepted').map((e) => e.commit);
  assert.deepEqual(accepted, shas, 'each commit is accepted exactly once, in order');
  assert.equal(
    events.filter((e) => e.type === 'CommitRejected').length,
    0,
    `no commit is rejected: ${JSON.stringify(events.filter((e) => e.type === 'CommitRejected'))}`,
  );
  // The last 100 runs: every one after the start was woken by the file watch (a step's
  // events split across two runs on a loaded machine is fine: the log records it once).
  const triggers = watcher.stats.triggers;
  assert.deepEqual(
    triggers.filter((r) => r !== 'fs' && r !== 'start'),
    [],
    `triggers other than the file watch: ${triggers.join(',')}`,
  );
  assert.deepEqual(errors, []);
});
