// Commits → events over real repositories and a real file log: add, modify,
// rename, delete, an invalid commit and its fix, a merge, a force-push, an
// empty commit, a non-route commit, a subfolder root, --since; exactly once
// across restarts, crashes around append, and racing writers; rebuild = log.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openEventLog, type EventLog } from '../src/events/event-log.js';
import { type RautaEvent, isCommitMarker } from '../src/routes/route-events.js';
import { GitStore } from '../src/git/git-store.js';
import { CommitProcessor, commitsToEvents, processNewCommits } from '../src/git/process-commits.js';
import { ALICE, BOB, listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';

async function openLog(t: { after(fn: () => Promise<void> | void): void }, dir: string, name = 'events.log'): Promise<EventLog> {
  const log = await openEventLog(path.join(dir, name), { writer: true });
  t.after(() => log.close());
  return log;
}

async function allEvents(log: EventLog): Promise<RautaEvent[]> {
  return log.read(1, 100_000);
}

/** Process whatever is new and return just the events this step appended. */
async function step(repo: TestRepo, log: EventLog, root = ''): Promise<RautaEvent[]> {
  const before = await log.head();
  await processNewCommits({ dir: repo.dir, ref: 'main', root, log });
  return log.read(before + 1, 100_000);
}

const kinds = (events: RautaEvent[]): string[] =>
  events.map((e) => {
    switch (e.type) {
      case 'RouteUpserted':
        return `RouteUpserted ${e.route.method} ${e.route.path}`;
      case 'RouteRemoved':
        return `RouteRemoved ${e.method} ${e.path}`;
      case 'ListenerUpserted':
        return `ListenerUpserted ${e.listener.address}:${e.listener.port}`;
      case 'ListenerRemoved':
        return `ListenerRemoved ${e.address}:${e.port}`;
      default:
        return e.type;
    }
  });

const markers = (events: RautaEvent[]): string[] => events.filter(isCommitMarker).map((e) => e.commit);

const api = (backends: string[]) => routeYaml([{ name: 'api', path: '/api', backends }]);
const users = routeYaml([
  { name: 'users-get', path: '/users', backends: ['10.1.0.5:8080'] },
  { name: 'users-post', method: 'POST', path: '/users', backends: ['10.1.0.6:8080'] },
]);

test('every kind of commit becomes the right batch, each commit exactly once', async (t) => {
  const tmp = tempDir('commits');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  const log = await openLog(t, tmp.dir);
  const recorded: string[] = [];

  // add
  repo.write('routes/api.yaml', api(['10.1.0.1:8080']) + listenerYaml('web', '10.0.0.10', 80));
  const cAdd = repo.commit('add api', ALICE);
  let ev = await step(repo, log);
  recorded.push(cAdd);
  assert.deepEqual(kinds(ev), ['RouteUpserted GET /api', 'ListenerUpserted 10.0.0.10:80', 'CommitAccepted'], 'first commit is diffed against the empty tree');
  const added = ev[0];
  assert.ok(added?.type === 'RouteUpserted');
  assert.equal(added.commit, cAdd);
  assert.equal(added.author, 'Alice Example <alice@example.com>');
  assert.equal(added.time, repo.time(), 'events carry the committer time');
  assert.equal(added.file, 'routes/api.yaml');
  assert.deepEqual(added.route.backends, [{ ip: '10.1.0.1', port: 8080, weight: 1 }]);
  const accepted = ev.at(-1);
  assert.ok(accepted?.type === 'CommitAccepted');
  assert.equal(accepted.subject, 'add api');
  assert.deepEqual(accepted.counts, { routesUpserted: 1, routesRemoved: 0, listenersUpserted: 1, listenersRemoved: 0 });
  assert.equal(accepted.tree, repo.git('rev-parse', `${cAdd}^{tree}`), 'CommitAccepted.tree is the tree that was accepted');

  // modify, by another author
  repo.write('routes/api.yaml', api(['10.1.0.1:8080', '10.1.0.2:8080']) + listenerYaml('web', '10.0.0.10', 80));
  const cMod = repo.commit('api: second backend', BOB);
  ev = await step(repo, log);
  recorded.push(cMod);
  assert.deepEqual(kinds(ev), ['RouteUpserted GET /api', 'CommitAccepted'], 'a modified route is one upsert with the full spec');
  assert.ok(ev[0]?.type === 'RouteUpserted' && ev[0].route.backends.length === 2 && ev[0].author.startsWith('Bob'));

  // rename: same specs in another file is not a change
  repo.move('routes/api.yaml', 'routes/svc/api.yaml');
  const cRen = repo.commit('move api into svc/');
  ev = await step(repo, log);
  recorded.push(cRen);
  assert.deepEqual(kinds(ev), ['CommitAccepted'], 'a pure rename emits no route or listener event');

  // add a file with two routes, then delete it
  repo.write('routes/users.yaml', users);
  recorded.push(repo.commit('add users'));
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['RouteUpserted GET /users', 'RouteUpserted POST /users', 'CommitAccepted'], 'upserts sorted by route id');
  repo.remove('routes/users.yaml');
  recorded.push(repo.commit('drop users'));
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['RouteRemoved GET /users', 'RouteRemoved POST /users', 'CommitAccepted']);
  assert.ok(ev[0]?.type === 'RouteRemoved' && ev[0].name === 'users-get' && ev[0].file === 'routes/users.yaml', 'a removal names the route and its last file');
  assert.ok(ev.at(-1)?.type === 'CommitAccepted' && ev.at(-1)?.type === 'CommitAccepted');

  // an invalid commit that also changes api: rejected, nothing applied
  repo.write('routes/svc/api.yaml', api(['10.1.0.3:8080']) + listenerYaml('web', '10.0.0.10', 80));
  repo.write('routes/bad.yaml', routeYaml([{ name: 'bad', path: 'no-slash', backends: ['10.1.0.9:8080'] }]));
  const cBad = repo.commit('broken route', BOB);
  recorded.push(cBad);
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['CommitRejected'], 'an invalid commit yields only CommitRejected');
  const rejected = ev[0];
  assert.ok(rejected?.type === 'CommitRejected');
  assert.equal(rejected.subject, 'broken route');
  assert.equal(rejected.errors.length, 1, `one error expected, got ${JSON.stringify(rejected.errors)}`);
  assert.equal(rejected.errors[0]?.file, 'routes/bad.yaml');
  assert.ok((rejected.errors[0]?.line ?? 0) > 1, 'the error points at a line of the file');
  assert.match(rejected.errors[0]?.message ?? '', /must start with "\/"/);

  // the fix: diffed against the last ACCEPTED tree, so the api change rides along
  repo.write('routes/bad.yaml', routeYaml([{ name: 'bad', path: '/fixed', backends: ['10.1.0.9:8080'] }]));
  recorded.push(repo.commit('fix route'));
  ev = await step(repo, log);
  assert.deepEqual(
    kinds(ev),
    ['RouteUpserted GET /api', 'RouteUpserted GET /fixed', 'CommitAccepted'],
    'the fix carries the combined change since the last accepted commit',
  );

  // clashes with definitions in unchanged files are found: the whole set is validated
  repo.write(
    'routes/dup.yaml',
    routeYaml([
      { name: 'api', path: '/other', backends: ['10.1.0.10:8080'] },
      { name: 'dup2', path: '/fixed', backends: ['10.1.0.11:8080'] },
      // invalid (0.0.0.0 is not a unicast host) and still claiming GET /api
      { name: 'dup3', path: '/api', backends: ['0.0.0.0:8080'] },
    ]),
  );
  recorded.push(repo.commit('clashing routes'));
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['CommitRejected'], 'a name or method+path clash with an unchanged file rejects the commit');
  const clash = ev[0];
  assert.ok(clash?.type === 'CommitRejected');
  const clashText = clash.errors.map((e) => `${e.file}:${e.line}: ${e.message}`).join('\n');
  assert.equal(clash.errors.length, 4, `two clashes, an invalid endpoint and its clash expected:\n${clashText}`);
  assert.match(clashText, /0\.0\.0\.0/, 'the invalid endpoint is reported');
  assert.match(clashText, /routes\/svc\/api\.yaml.*routes\/dup\.yaml|routes\/dup\.yaml.*routes\/svc\/api\.yaml/, 'the name clash names both files');
  assert.match(clashText, /routes\/dup\.yaml.*routes\/bad\.yaml/, 'the path clash names both files');
  repo.remove('routes/dup.yaml');
  // an invalid document whose only link to the rest is the route it claims
  repo.write('routes/claim.yaml', routeYaml([{ name: 'claimer', path: '/api', backends: ['0.0.0.0:8080'] }]));
  recorded.push(repo.commit('invalid claim'));
  ev = await step(repo, log);
  assert.ok(ev[0]?.type === 'CommitRejected');
  assert.equal(ev[0].errors.length, 2, `its own error and the clash with routes/svc/api.yaml: ${JSON.stringify(ev[0].errors)}`);
  repo.remove('routes/claim.yaml');
  recorded.push(repo.commit('drop clashes'));
  assert.deepEqual(kinds(await step(repo, log)), ['CommitAccepted'], 'dropping the clashing file changes nothing accepted');

  // a commit touching only non-route files, and an empty commit
  repo.write('README.md', '# routes\n');
  repo.write('.github/workflows/ci.yaml', 'on: push\n');
  recorded.push(repo.commit('docs'));
  recorded.push(repo.commit('empty', ALICE, { allowEmpty: true }));
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['CommitAccepted', 'CommitAccepted'], 'non-route and empty commits are recorded with zero counts');
  for (const e of ev) assert.ok(e.type === 'CommitAccepted' && Object.values(e.counts).every((n) => n === 0));

  // a merge: the first-parent diff is the PR as a whole; branch commits are not recorded
  repo.git('checkout', '-q', '-b', 'feature');
  repo.write('routes/orders.yaml', routeYaml([{ name: 'orders', path: '/orders', backends: ['10.1.0.7:8080'] }]));
  repo.commit('orders: add', BOB);
  repo.write('routes/orders.yaml', routeYaml([{ name: 'orders', path: '/orders', backends: ['10.1.0.8:8080'] }]));
  const featureTip = repo.commit('orders: move backend', BOB);
  repo.git('checkout', '-q', 'main');
  repo.write('routes/svc/api.yaml', api(['10.1.0.4:8080']) + listenerYaml('web', '10.0.0.10', 80));
  recorded.push(repo.commit('api: backend 4 on main'));
  const cMerge = repo.merge('feature', 'Merge pull request #7 from feature', ALICE);
  recorded.push(cMerge);
  ev = await step(repo, log);
  assert.deepEqual(kinds(ev), ['RouteUpserted GET /api', 'CommitAccepted', 'RouteUpserted GET /orders', 'CommitAccepted']);
  const orders = ev[2];
  assert.ok(orders?.type === 'RouteUpserted' && orders.commit === cMerge, 'the merge commit carries the PR');
  assert.deepEqual(orders.route.backends, [{ ip: '10.1.0.8', port: 8080, weight: 1 }], 'the merged PR is one change, at its final state');
  assert.ok(!markers(await allEvents(log)).includes(featureTip), 'branch commits are not recorded (first-parent)');

  // nothing new: nothing appended
  assert.equal((await step(repo, log)).length, 0, 'a second run without new commits appends nothing');
  assert.deepEqual(markers(await allEvents(log)), recorded, 'every commit recorded exactly once, in order');

  // validating only changed files and their clash partners equals validating the whole set
  assert.deepEqual(
    await commitsToEvents({ dir: repo.dir, ref: 'main' }),
    await commitsToEvents({ dir: repo.dir, ref: 'main', fullValidation: true }),
    'incremental validation must give the same events as a full validation of every commit',
  );

  // force-push: main rewritten to drop the merge and the api change, plus a new commit
  repo.git('reset', '-q', '--hard', recorded[recorded.length - 3] ?? '');
  repo.write('routes/svc/api.yaml', api(['10.1.0.5:8080']) + listenerYaml('web', '10.0.0.10', 80));
  const cForced = repo.commit('rewritten api');
  ev = await step(repo, log);
  assert.deepEqual(
    kinds(ev),
    ['HistoryRewritten', 'RouteRemoved GET /orders', 'RouteUpserted GET /api', 'CommitAccepted'],
    'a force-push is one batch: the marker, then the last accepted tree diffed against the new head',
  );
  const rewritten = ev[0];
  assert.ok(rewritten?.type === 'HistoryRewritten' && rewritten.previous === cMerge && rewritten.commit === cForced);
  assert.equal(markers(ev)[0], cForced);
});

test('restarts, a crash before or after an append, and racing writers record each commit exactly once; rebuild equals the log', async (t) => {
  const tmp = tempDir('once');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  const expected: string[] = [];
  for (let i = 0; i < 3; i++) {
    repo.write(`r${i}.yaml`, routeYaml([{ name: `r${i}`, path: `/r${i}`, backends: [`10.1.0.${i + 1}:8080`] }]));
    expected.push(repo.commit(`add r${i}`));
  }
  const log = await openLog(t, tmp.dir);
  // Crash after the append reached the log but before the watcher learned of it.
  let appends = 0;
  const crashAfter: EventLog = Object.create(log) as EventLog;
  crashAfter.append = async (batch, opts) => {
    const written = await log.append(batch, opts);
    if (++appends === 2) throw new Error('killed after append');
    return written;
  };
  await assert.rejects(processNewCommits({ dir: repo.dir, ref: 'main', log: crashAfter }), /killed after append/);
  assert.deepEqual(markers(await allEvents(log)), expected.slice(0, 2), 'the first two batches are in the log');
  // Crash between fetch and append: the batch never reaches the log.
  repo.write('r3.yaml', routeYaml([{ name: 'r3', path: '/r3', backends: ['10.1.0.4:8080'] }]));
  expected.push(repo.commit('add r3'));
  const crashBefore: EventLog = Object.create(log) as EventLog;
  crashBefore.append = async () => {
    throw new Error('killed before append');
  };
  await assert.rejects(processNewCommits({ dir: repo.dir, ref: 'main', log: crashBefore }), /killed before append/);
  // A fresh processor (a restarted watcher) resumes from the log itself.
  const resumed = await processNewCommits({ dir: repo.dir, ref: 'main', log });
  assert.equal(resumed.commits, 2, 'the restarted watcher records the two missing commits');
  // Two processors racing on one log: expectedHead makes the loser start over.
  for (let i = 4; i < 7; i++) {
    repo.write(`r${i}.yaml`, routeYaml([{ name: `r${i}`, path: `/r${i}`, backends: [`10.1.0.${i + 1}:8080`] }]));
    expected.push(repo.commit(`add r${i}`));
  }
  repo.remove('r0.yaml');
  expected.push(repo.commit('drop r0'));
  const a = new CommitProcessor(GitStore.open(repo.dir), { ref: 'main' });
  const b = new CommitProcessor(GitStore.open(repo.dir), { ref: 'main' });
  await Promise.all([a.processNewCommits(log), b.processNewCommits(log)]);
  const events = await allEvents(log);
  assert.deepEqual(markers(events), expected, 'each commit exactly once, in first-parent order, despite crashes and a race');
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'gap-free seq',
  );

  // Rebuild from Git: the same events, seq for seq.
  const rebuilt = (await commitsToEvents({ dir: repo.dir, ref: 'main' })).flat().map((e, i) => ({ ...e, seq: i + 1 }));
  assert.deepEqual(rebuilt, events, 'a log rebuilt from Git equals the log written incrementally');
});

test('a subfolder root ignores everything outside it; --since starts the log at a given commit', async (t) => {
  const tmp = tempDir('root');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  repo.write('deploy/routes/a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  repo.write('other/not-a-route.yaml', 'just: config\n');
  const c1 = repo.commit('a');
  repo.write('other/not-a-route.yaml', 'still: config\n');
  const c2 = repo.commit('outside the root');
  repo.write('deploy/routes/b.yml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  const c3 = repo.commit('b');

  const log = await openLog(t, tmp.dir);
  await processNewCommits({ dir: repo.dir, ref: 'main', root: 'deploy/routes', log });
  const events = await allEvents(log);
  assert.deepEqual(kinds(events), ['RouteUpserted GET /a', 'CommitAccepted', 'CommitAccepted', 'RouteUpserted GET /b', 'CommitAccepted']);
  assert.deepEqual(markers(events), [c1, c2, c3]);
  const first = events[1];
  assert.ok(first?.type === 'CommitAccepted');
  assert.equal(first.tree, repo.git('rev-parse', `${c1}:deploy/routes`), 'the accepted tree is the subfolder tree');

  // A root inside a dot-folder still finds its route files.
  repo.write('.deploy/routes/c.yaml', routeYaml([{ name: 'c', path: '/c', backends: ['10.1.0.3:8080'] }]));
  repo.commit('c under a dot-folder');
  const dotLog = await openLog(t, tmp.dir, 'dot.log');
  await processNewCommits({ dir: repo.dir, ref: 'main', root: '.deploy/routes', log: dotLog });
  assert.ok(kinds(await allEvents(dotLog)).includes('RouteUpserted GET /c'), 'route files under a root in a dot-folder are read');

  const sinceLog = await openLog(t, tmp.dir, 'since.log');
  await processNewCommits({ dir: repo.dir, ref: 'main', root: 'deploy/routes', log: sinceLog, since: c2 });
  const fromSince = await allEvents(sinceLog);
  assert.deepEqual(markers(fromSince).slice(0, 2), [c2, c3], '--since REV records REV and what follows');
  assert.deepEqual(
    kinds(fromSince).slice(0, 2),
    ['RouteUpserted GET /a', 'CommitAccepted'],
    'REV is diffed against the empty tree, so the log starts with a full route set',
  );
});

test('a log written from another repository is refused with a clear error', async (t) => {
  const tmp = tempDir('other-repo');
  t.after(tmp.cleanup);
  const first = TestRepo.init(path.join(tmp.dir, 'first'));
  first.write('a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  first.commit('a');
  const other = TestRepo.init(path.join(tmp.dir, 'other'));
  other.write('b.yaml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  other.commit('b');
  const log = await openLog(t, tmp.dir);
  await processNewCommits({ dir: first.dir, ref: 'main', log });
  await assert.rejects(
    processNewCommits({ dir: other.dir, ref: 'main', log }),
    (err: Error & { code?: string }) => err.code === 'RAUTA_ERR_GIT' && /another repository or root/.test(err.message),
    'the other repository lacks the last accepted tree: say so instead of a bare read error',
  );
  assert.equal(await log.head(), 2, 'nothing was appended');
});

test('an over-capacity commit names the first route (by file, then line) that needs the missing entry', async () => {
  const tmp = tempDir('capacity-at');
  try {
    const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
    repo
      .write('b.yaml', routeYaml([{ name: 'b1', path: '/b1', backends: ['10.1.0.1:8080'] }]))
      .write(
        'a.yaml',
        routeYaml([
          { name: 'a1', path: '/a1', backends: ['10.1.0.1:8080'] },
          { name: 'a2', path: '/a2', backends: ['10.1.0.2:8080'] },
          { name: 'a3', path: '/a3', backends: ['10.1.0.3:8080'] },
        ]),
      )
      .commit('three files over capacity', ALICE);
    const reject = async (capacity: { routes: number; listeners: number; nexthops: number }) => {
      const [batch] = await commitsToEvents({ dir: repo.dir, ref: 'main', capacity });
      const marker = batch!.at(-1)!;
      assert.equal(marker.type, 'CommitRejected', JSON.stringify(marker));
      return marker.type === 'CommitRejected' ? marker.errors.map((e) => `${e.file}:${e.line}`) : [];
    };
    // a route over the routes capacity: the first route of the first file
    assert.deepEqual(await reject({ routes: 3, listeners: 8, nexthops: 8 }), ['a.yaml:2']);
    // every route brings a new backend address: again the first route of a.yaml, not b.yaml's
    assert.deepEqual(await reject({ routes: 8, listeners: 8, nexthops: 2 }), ['a.yaml:2']);
  } finally {
    tmp.cleanup();
  }
});
