// `rauta log`, `rauta log rebuild` and `rauta history` as a user runs them
// (bin/rauta.js in a child process) over a log the watcher core wrote.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openEventLog } from '../src/events/event-log.js';
import type { RautaEvent } from '../src/routes/route-events.js';
import { processNewCommits } from '../src/git/process-commits.js';
import { ALICE, BOB, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'rauta.js');

function rauta(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, RAUTA_LOG: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function record(repo: TestRepo, logPath: string): Promise<void> {
  const log = await openEventLog(logPath, { writer: true });
  try {
    await processNewCommits({ dir: repo.dir, ref: 'main', log });
  } finally {
    await log.close();
  }
}

test('rauta log / history / log rebuild over a real log', async (t) => {
  const tmp = tempDir('git-cli');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(path.join(tmp.dir, 'repo'));
  const logPath = path.join(tmp.dir, 'events.log');
  repo.write('api.yaml', routeYaml([{ name: 'api', path: '/api', backends: ['10.1.0.1:8080'] }]));
  const cAdd = repo.commit('add api', ALICE);
  repo.write('other.yaml', routeYaml([{ name: 'other', path: '/other', backends: ['10.1.0.9:8080'] }]));
  repo.commit('add other', ALICE);
  repo.write('api.yaml', routeYaml([{ name: 'api', path: '/api', backends: ['10.1.0.2:8080'] }]));
  const cMod = repo.commit('api: move backend', BOB);
  repo.remove('api.yaml');
  const cDel = repo.commit('drop api', ALICE);
  await record(repo, logPath);

  const list = await rauta(['log', '--log', logPath, '--json'], tmp.dir);
  assert.equal(list.code, 0, list.stderr);
  const events = JSON.parse(list.stdout) as RautaEvent[];
  assert.equal(events.length, 8, `four commits of one route event and one marker each: ${events.map((e) => e.type).join(',')}`);

  const text = await rauta(['log', '--log', logPath], tmp.dir);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /SEQ\s+COMMIT\s+AUTHOR\s+TIME\s+EVENT/);
  assert.match(text.stdout, new RegExp(`\\n\\s+6\\s+${cMod.slice(0, 12)}\\s+Bob Example\\s+\\S+Z\\s+CommitAccepted "api: move backend"`), text.stdout);

  const onlyApi = await rauta(['log', '--log', logPath, '--route', 'api', '--json'], tmp.dir);
  const apiEvents = JSON.parse(onlyApi.stdout) as RautaEvent[];
  assert.deepEqual(
    apiEvents.map((e) => [e.type, e.commit]),
    [
      ['RouteUpserted', cAdd],
      ['RouteUpserted', cMod],
      ['RouteRemoved', cDel],
    ],
    '--route keeps only that route',
  );
  const since = await rauta(['log', '--log', logPath, '--since', cMod.slice(0, 8), '--json'], tmp.dir);
  assert.deepEqual(
    (JSON.parse(since.stdout) as RautaEvent[]).map((e) => e.commit),
    [cMod, cMod, cDel, cDel],
    '--since SHA starts at that commit',
  );
  const sinceSeq = await rauta(['log', '--log', logPath, '--since', '7', '--json'], tmp.dir);
  assert.deepEqual(
    (JSON.parse(sinceSeq.stdout) as RautaEvent[]).map((e) => e.seq),
    [7, 8],
    '--since SEQ is inclusive',
  );

  const history = await rauta(['history', 'api', '--log', logPath], tmp.dir);
  assert.equal(history.code, 0, history.stderr);
  const lines = history.stdout.trim().split('\n').slice(1);
  assert.equal(lines.length, 3, history.stdout);
  assert.match(
    lines[0] ?? '',
    new RegExp(`${cAdd.slice(0, 12)}\\s+Alice Example .* added\\s+GET /api \\(api\\) api\\.yaml:2 -> 10\\.1\\.0\\.1:8080\\s+"add api"`),
  );
  assert.match(lines[1] ?? '', new RegExp(`${cMod.slice(0, 12)}\\s+Bob Example .* changed\\s+GET /api .*10\\.1\\.0\\.2:8080\\s+"api: move backend"`));
  assert.match(lines[2] ?? '', new RegExp(`${cDel.slice(0, 12)}\\s+Alice Example .* removed\\s+api\\.yaml\\s+"drop api"`));
  const byId = await rauta(['history', 'GET /api', '--log', logPath, '--json'], tmp.dir);
  assert.equal((JSON.parse(byId.stdout) as unknown[]).length, 3, 'a route can be named by "METHOD /path"');
  const missing = await rauta(['history', 'nope', '--log', logPath], tmp.dir);
  assert.equal(missing.code, 1, 'no history for an unknown route: exit 1');
  assert.match(missing.stderr, /no event .* concerns route nope/);

  // Rebuild: compare in place, and into a new log
  const check = await rauta(['log', 'rebuild', '--repo', repo.dir, '--log', logPath], tmp.dir);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /identical to the rebuild \(8 events\)/);
  const outPath = path.join(tmp.dir, 'rebuilt.log');
  const out = await rauta(['log', 'rebuild', '--repo', repo.dir, '--log', logPath, '--out', outPath], tmp.dir);
  assert.equal(out.code, 0, out.stdout + out.stderr);
  const rebuilt = await rauta(['log', '--log', outPath, '--json'], tmp.dir);
  assert.deepEqual(JSON.parse(rebuilt.stdout), events, 'the rebuilt log holds the same events');

  // After a force-push the log keeps history Git no longer has: the check says so (exit 1)
  repo.git('reset', '-q', '--hard', cMod);
  repo.write('api.yaml', routeYaml([{ name: 'api', path: '/api', backends: ['10.1.0.3:8080'] }]));
  repo.commit('api: third backend');
  await record(repo, logPath);
  const diverged = await rauta(['log', 'rebuild', '--repo', repo.dir, '--log', logPath], tmp.dir);
  assert.equal(diverged.code, 1, diverged.stdout + diverged.stderr);
  assert.match(diverged.stdout, /differs from the rebuild at seq 7/);
  // --replace makes the log what Git says now
  const replaced = await rauta(['log', 'rebuild', '--repo', repo.dir, '--log', logPath, '--replace'], tmp.dir);
  assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
  const recheck = await rauta(['log', 'rebuild', '--repo', repo.dir, '--log', logPath], tmp.dir);
  assert.equal(recheck.code, 0, recheck.stdout);
});
