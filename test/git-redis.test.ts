// The watcher core over the Redis Streams log (multi-node mode) with a real
// redis-server: same batches as the file log, resumes after a restart, and a
// rebuild from Git equals what was appended.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openEventLog } from '../src/events/event-log.js';
import { commitsToEvents, processNewCommits } from '../src/git/process-commits.js';
import { BOB, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { startRedisServer } from '../testbed/redis-server.js';

test('commits → events through the Redis log, across watcher restarts', async (t) => {
  const redis = await startRedisServer(t);
  const tmp = tempDir('git-redis');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  const prefix = `rauta-git-test-${process.pid}`;
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.commit('a');
  let log = await openEventLog(redis.url, { writer: true, prefix });
  await processNewCommits({ dir: repo.dir, ref: 'main', log });
  await log.close();

  // A restarted watcher (new connection, new processor) picks up from the log.
  repo.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.2:8080'] }]));
  repo.commit('a: move', BOB);
  repo.write('notes.txt', 'x\n');
  repo.commit('notes');
  log = await openEventLog(redis.url, { writer: true, prefix });
  t.after(() => log.close());
  const second = await processNewCommits({ dir: repo.dir, ref: 'main', log });
  assert.equal(second.commits, 2, 'the restarted watcher records exactly the two new commits');

  const events = await log.read(1, 1000);
  assert.deepEqual(
    events.map((e) => e.type),
    ['RouteUpserted', 'CommitAccepted', 'RouteUpserted', 'CommitAccepted', 'CommitAccepted'],
  );
  const rebuilt = (await commitsToEvents({ dir: repo.dir, ref: 'main' })).flat().map((e, i) => ({ ...e, seq: i + 1 }));
  assert.deepEqual(events, rebuilt, 'the Redis log equals a rebuild from Git');
});
