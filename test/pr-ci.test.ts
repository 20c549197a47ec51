// The routes repo's CI, run here without the platform: `rauta validate` and
// `rauta plan` as the example workflows call them (examples/ci/), against a
// real Git repository with a pull-request branch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));
const DENY_KOFFI = fileURLToPath(new URL('./helpers/deny-koffi.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { encoding: 'utf8', cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test('validate and plan run without libbpf (CI runners have none): only the named command is loaded', async (t) => {
  const tmp = tempDir('prci-nolibbpf');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('routes/web.yaml', listenerYaml('web', '10.0.0.10', 80) + routeYaml([{ name: 'users', path: '/api/users', backends: ['10.1.1.1:8080'] }]));
  repo.commit('one route');
  const denied = (...args: string[]) => node(['--import', DENY_KOFFI, BIN, ...args]);
  // The control: a command that needs the FFI fails under the same hook, so the hook works.
  const run = await denied('run', '--help');
  assert.notEqual(run.code, 0, `rauta run must fail when koffi cannot load; stdout:\n${run.stdout}`);
  assert.match(run.stderr, /koffi denied/, run.stderr);
  const validate = await denied('validate', 'examples/repo');
  assert.equal(validate.code, 0, `rauta validate must not load koffi; stderr:\n${validate.stderr}`);
  assert.match(validate.stdout, /23 rules, 2 listeners.*: valid$/m, validate.stdout);
  const plan = await denied('plan', '--repo', repo.dir, '--root', 'routes', '--from', 'HEAD', '--to', 'HEAD');
  assert.equal(plan.code, 0, `rauta plan must not load koffi; stderr:\n${plan.stderr}`);
  assert.match(plan.stdout, /no dataplane change \(1 routes\)/, plan.stdout);
});

const rauta = (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => node([BIN, ...args], opts);

/** A weight of 0 at a known place: line 13, column 15 of routes/services/bad.yaml. */
const BAD_WEIGHT = `apiVersion: rauta.io/v1
kind: RoutingRule
metadata:
  name: bad
spec:
  match:
    method: GET
    path:
      value: /bad
  backends:
    - endpoint: 10.1.7.1:8080
    - endpoint: 10.1.7.2:8080
      weight: 0
`;

test('validate --format github|gitlab: repo-relative paths from a folder, a subfolder (--root) and a commit; text and --json unchanged', async (t) => {
  const tmp = tempDir('prci-formats');
  t.after(tmp.cleanup);
  const repo = TestRepo.init(tmp.dir);
  repo.write('routes/listeners.yaml', listenerYaml('web', '10.0.0.10', 80));
  repo.write('routes/services/bad.yaml', BAD_WEIGHT);
  repo.commit('a bad weight');
  const text = await rauta(['validate', '.', '--root', 'routes'], { cwd: repo.dir });
  assert.equal(text.code, 1, `invalid routes exit 1:\n${text.stdout}${text.stderr}`);
  const where = /^routes\/services\/bad\.yaml:(\d+):(\d+): (.*)$/m.exec(text.stdout);
  assert.ok(where, `the text output names routes/services/bad.yaml:\n${text.stdout}`);
  assert.deepEqual([where[1], where[2]], ['13', '15'], `the weight's value: ${where[0]}`);
  const [, line, col, message] = where;
  const annotation = `::error file=routes/services/bad.yaml,line=${line},col=${col},title=rauta validate::${message}`;
  for (const [how, args, cwd] of [
    ['a folder with --root', ['validate', '.', '--root', 'routes'], repo.dir],
    ['the folder given by an absolute path', ['validate', repo.dir, '--root', 'routes'], ROOT],
    ['a commit (--rev)', ['validate', '.', '--rev', 'HEAD', '--root', 'routes'], repo.dir],
  ] as const) {
    const gh = await rauta([...args, '--format', 'github'], { cwd });
    assert.equal(gh.code, 1, `${how}: still exit 1\n${gh.stderr}`);
    assert.equal(gh.stdout.split('\n')[0], annotation, `${how}: the annotation names the repo-relative file, line and column`);
    const gl = await rauta([...args, '--format', 'gitlab'], { cwd });
    assert.equal(gl.code, 1, `${how}: still exit 1\n${gl.stderr}`);
    const report = JSON.parse(gl.stdout) as Array<{ location: { path: string; lines: { begin: number } }; description: string }>;
    assert.deepEqual(report.map((r) => [r.location.path, r.location.lines.begin, r.description]), [['routes/services/bad.yaml', Number(line), message]], how);
  }
  // The default output is --format text, and --json is --format json.
  assert.deepEqual(await rauta(['validate', '.', '--root', 'routes', '--format', 'text'], { cwd: repo.dir }), text);
  const json = await rauta(['validate', '.', '--root', 'routes', '--json'], { cwd: repo.dir });
  assert.deepEqual(await rauta(['validate', '.', '--root', 'routes', '--format', 'json'], { cwd: repo.dir }), json);
  assert.equal((JSON.parse(json.stdout) as { issues: Array<{ file: string }> }).issues[0]!.file, 'routes/services/bad.yaml');
  // Usage errors exit 2 and name the choices.
  const unknown = await rauta(['validate', '.', '--format', 'sarif'], { cwd: repo.dir });
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /--format "sarif": choose one of text, json, github, gitlab/);
  const both = await rauta(['validate', '.', '--json', '--format', 'github'], { cwd: repo.dir });
  assert.equal(both.code, 2, both.stderr);
});
