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
