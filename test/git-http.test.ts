// A remote repository over real smart HTTP (git http-backend behind node's
// http): the watcher fetches into a bare cache, the webhook triggers a fetch
// at once, a bad or missing signature gets 401 and fetches nothing, a
// force-push over HTTP is detected, and the poll alone also picks up pushes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { openEventLog } from '../src/events/event-log.js';
import { signBody, WEBHOOK_PATH } from '../src/git/webhook.js';
import { startWatcher, type Watcher } from '../src/git/watcher.js';
import { startGitHttpServer } from './helpers/git-http-server.js';
import { routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';

/** A working copy whose origin is a bare repo served over HTTP. */
async function servedRepo(
  t: { after(fn: () => unknown): void },
  prefix: string,
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>,
) {
  const tmp = tempDir(prefix);
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'work'));
  repo.write('routes/a.yaml', routeYaml([{ name: 'a', path: '/a', backends: ['10.1.0.1:8080'] }]));
  const first = repo.commit('a');
  const bare = path.join(tmp.dir, 'srv', 'routes.git');
  execFileSync('git', ['clone', '-q', '--bare', repo.dir, bare]);
  execFileSync('git', ['-C', bare, 'config', 'http.receivepack', 'true']);
  const server = await startGitHttpServer(path.join(tmp.dir, 'srv'), extra);
  t.after(() => server.close());
  repo.git('remote', 'add', 'origin', server.url('routes.git'));
  return { tmp, repo, server, first, url: server.url('routes.git') };
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  await res.text();
  return res.status;
}

test('webhook: a signed POST fetches at once; a bad or missing signature gets 401 and fetches nothing', async (t) => {
  let watcher: Watcher | null = null;
  const { tmp, repo, server, first, url } = await servedRepo(t, 'http-hook', async (req, res) => (watcher ? watcher.webhook(req, res) : false));
  const log = await openEventLog(path.join(tmp.dir, 'events.log'), { writer: true });
  t.after(() => log.close());
  const errors: unknown[] = [];
  watcher = await startWatcher({
    repo: url,
    branch: 'main',
    root: 'routes',
    log,
    cacheDir: path.join(tmp.dir, 'cache'),
    pollMs: 3_600_000,
    secret: 's3cret',
    onError: (e) => errors.push(e),
  });
  t.after(() => watcher?.close());
  assert.deepEqual(errors, [], 'the start run fetched without error');
  assert.equal(await log.head(), 2, 'the start run fetched and recorded the first commit');
  assert.equal((await log.lastAccepted())?.commit, first);

  repo.write('routes/b.yaml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  const second = repo.commit('b');
  await repo.gitAsync('push', '-q', 'origin', 'main');

  const hook = `${server.baseUrl}${WEBHOOK_PATH}`;
  const body = JSON.stringify({ ref: 'refs/heads/main', after: second });
  const fetchesBefore = watcher.stats.fetches;
  const requestsBefore = server.requests.length;
  assert.equal(await post(hook, body, { 'x-hub-signature-256': signBody('wrong', body) }), 401, 'a bad signature is refused');
  assert.equal(await post(hook, body, {}), 401, 'a missing signature is refused');
  assert.equal(await post(hook, body, { 'x-hub-signature-256': 'sha256=zz' }), 401, 'a malformed signature is refused');
  assert.equal(watcher.stats.fetches, fetchesBefore, 'a refused hook must not trigger a fetch');
  assert.equal(server.requests.length, requestsBefore, `a refused hook must not reach the Git server: ${server.requests.slice(requestsBefore).join(', ')}`);
  assert.equal(await log.head(), 2, 'nothing was appended for refused hooks');

  const other = JSON.stringify({ ref: 'refs/heads/feature', after: second });
  assert.equal(await post(hook, other, { 'x-hub-signature-256': signBody('s3cret', other) }), 202, 'a push to another branch is acknowledged');
  assert.equal(watcher.stats.fetches, fetchesBefore, 'a push to another branch does not fetch');

  assert.equal(await post(hook, body, { 'x-hub-signature-256': signBody('s3cret', body) }), 202, 'a signed hook is accepted');
  const head = await log.waitForHead(2, undefined, 20_000);
  assert.equal(head, 4, `the signed hook should have fetched and recorded the pushed commit (head ${head}; errors: ${errors.map(String).join('; ')})`);
  const events = await log.read(3, 10);
  assert.deepEqual(
    events.map((e) => [e.type, e.commit]),
    [
      ['RouteUpserted', second],
      ['CommitAccepted', second],
    ],
  );
  assert.ok(watcher.stats.triggers.includes('webhook'));

  // Force-push over HTTP: the cache follows, the watcher marks the rewrite.
  repo.git('reset', '-q', '--hard', first);
  repo.write('routes/c.yaml', routeYaml([{ name: 'c', path: '/c', backends: ['10.1.0.3:8080'] }]));
  const forced = repo.commit('c instead of b');
  await repo.gitAsync('push', '-q', '-f', 'origin', 'main');
  const body2 = JSON.stringify({ ref: 'refs/heads/main', after: forced });
  assert.equal(await post(hook, body2, { 'x-hub-signature-256': signBody('s3cret', body2) }), 202);
  const head2 = await log.waitForHead(4, undefined, 20_000);
  assert.ok(head2 > 4, 'the force-push was recorded');
  const rewritten = await log.read(5, 10);
  assert.deepEqual(
    rewritten.map((e) => e.type),
    ['HistoryRewritten', 'RouteRemoved', 'RouteUpserted', 'CommitAccepted'],
    'the force-push is diffed against the last accepted tree',
  );
  assert.ok(rewritten[0]?.type === 'HistoryRewritten' && rewritten[0].previous === second && rewritten[0].commit === forced);
  assert.deepEqual(errors, []);
});

test('remote without webhook: the poll picks up a push', async (t) => {
  const { tmp, repo, url } = await servedRepo(t, 'http-poll');
  const log = await openEventLog(path.join(tmp.dir, 'events.log'), { writer: true });
  t.after(() => log.close());
  const watcher = await startWatcher({ repo: url, log, cacheDir: path.join(tmp.dir, 'cache'), pollMs: 200 });
  t.after(() => watcher.close());
  assert.equal(await log.head(), 2);
  repo.write('routes/b.yaml', routeYaml([{ name: 'b', path: '/b', backends: ['10.1.0.2:8080'] }]));
  const second = repo.commit('b');
  await repo.gitAsync('push', '-q', 'origin', 'main');
  const head = await log.waitForHead(2, undefined, 20_000);
  assert.equal(head, 4, 'the poll fetched and recorded the push');
  assert.equal((await log.lastAccepted())?.commit, second);
  assert.ok(watcher.stats.triggers.includes('poll'));
});
