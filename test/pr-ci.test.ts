// The routes repo's CI, run here without the platform: the command lines of
// the example GitHub workflow and GitLab job (examples/ci/), read from the
// YAML files themselves, run with bash against a real Git repository with
// pull-request branches. What the platform provides is stood in for: the
// checkout is a clone at the head, its variables are filled in, `gh api` is
// test/helpers/fake-gh.mjs (with the real jq) and the GitLab notes API a local
// HTTP server; `rauta` is this checkout. The install steps are checked as text
// (they clone and run npm ci; nothing here reaches the network).
//
// The plan comment must match test/fixtures/plan-comment.md (also shown in
// the README). After an intended change: RAUTA_UPDATE_FIXTURES=1 rewrites it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { listenerYaml, routeYaml, tempDir, TestRepo } from '../testbed/git-repo.js';
import { COMMENT_MARKER } from '../src/report/plan-markdown.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/rauta.js', import.meta.url));
const DENY_KOFFI = fileURLToPath(new URL('./helpers/deny-koffi.mjs', import.meta.url));
const FAKE_GH = fileURLToPath(new URL('./helpers/fake-gh.mjs', import.meta.url));
const GITHUB_WORKFLOW = join(ROOT, 'examples/ci/github/rauta-routes.yml');
const GITLAB_JOB = join(ROOT, 'examples/ci/gitlab/rauta-routes.gitlab-ci.yml');
const FIXTURE = join(ROOT, 'test/fixtures/plan-comment.md');

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
  assert.match(validate.stdout, /25 rules, 2 listeners.*: valid$/m, validate.stdout);
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
    assert.deepEqual(
      report.map((r) => [r.location.path, r.location.lines.begin, r.description]),
      [['routes/services/bad.yaml', Number(line), message]],
      how,
    );
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
  // And for plan.
  const plan = (...args: string[]) => rauta(['plan', '--repo', '.', '--root', 'routes', '--from', 'HEAD', '--to', 'HEAD', ...args], { cwd: repo.dir });
  const planFormat = await plan('--format', 'html');
  assert.equal(planFormat.code, 2, planFormat.stderr);
  assert.match(planFormat.stderr, /--format "html": choose one of text, json, markdown/);
  for (const bad of ['-1', '101', 'half', '']) {
    const r = await plan('--format', 'markdown', '--warn-disruption', bad);
    assert.equal(r.code, 2, `--warn-disruption ${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--warn-disruption ".*": give a percentage from 0 to 100/);
  }
});

// ---- a routes repository with pull-request branches --------------------------

interface Be {
  endpoint: string;
  weight?: number;
}

function rule(name: string, method: string, path: string, backends: Be[]): string {
  const list = backends.map((b) => `    - endpoint: ${b.endpoint}\n${b.weight === undefined ? '' : `      weight: ${b.weight}\n`}`).join('');
  return `---\napiVersion: rauta.io/v1\nkind: RoutingRule\nmetadata:\n  name: ${name}\nspec:\n  match:\n    method: ${method}\n    path:\n      value: ${path}\n  backends:\n${list}`;
}

const pool = (prefix: string, n: number, port = 8080, weights: number[] = []): Be[] =>
  Array.from({ length: n }, (_, i) => ({ endpoint: `${prefix}.${i + 1}:${port}`, ...(weights[i] === undefined ? {} : { weight: weights[i] }) }));

const SHOP_MAIN = [
  rule('catalog-products', 'GET', '/api/products', pool('10.1.3', 4, 8080, [3, 3, 2, 1])),
  rule('search', 'GET', '/api/search', pool('10.1.4', 4)),
  rule('reviews-list', 'GET', '/api/reviews', pool('10.1.5', 2)),
  rule('payments', 'POST', '/api/payments', pool('10.1.8', 3, 8443)),
  rule('orders-list', 'GET', '/api/orders', pool('10.1.9', 2)),
].join('');

/** The pull request: drain the catalog canary, reweight search, cut reviews to one backend, move payments, drop orders, add a status page. */
const SHOP_PR = [
  rule('catalog-products', 'GET', '/api/products', pool('10.1.3', 3, 8080, [3, 3, 2])),
  rule('search', 'GET', '/api/search', pool('10.1.4', 4, 8080, [2])),
  rule('reviews-list', 'GET', '/api/reviews', pool('10.1.5', 1)),
  rule('payments', 'POST', '/api/payments', pool('10.1.18', 3, 8443)),
].join('');

interface PrRepo {
  /** the "remote" the CI clones from: main plus the pull-request branches */
  origin: TestRepo;
  base: string;
  /** a valid change (the fixture's) */
  change: string;
  /** one more push on the same branch */
  push2: string;
  /** a branch whose head has weight 0 at BAD_LINE:BAD_COL of routes/services/shop.yaml */
  invalid: string;
  bad: { line: number; col: number };
}

function prRepo(dir: string): PrRepo {
  const origin = TestRepo.init(dir);
  origin.write('README.md', 'Routes of the shop.\n');
  origin.write('routes/listeners.yaml', listenerYaml('public-http', '10.0.0.10', 80));
  origin.write('routes/services/shop.yaml', SHOP_MAIN);
  const base = origin.commit('The shop');
  origin.git('checkout', '-q', '-b', 'change-routes');
  origin.write('routes/services/shop.yaml', SHOP_PR);
  origin.write('routes/services/status.yaml', rule('status-page', 'GET', '/status', pool('10.1.0', 2)).slice(4));
  origin.write('routes/listeners.yaml', listenerYaml('public-http', '10.0.0.10', 80) + listenerYaml('public-alt', '10.0.0.10', 8080));
  const change = origin.commit('Drain the canary, move payments, add the status page');
  origin.write('routes/services/status.yaml', rule('status-page', 'GET', '/status', pool('10.1.0', 3)).slice(4));
  const push2 = origin.commit('A third status backend');
  // main moves on meanwhile: the plan is from the merge base, not from main's tip.
  origin.git('checkout', '-q', 'main');
  origin.write('README.md', 'Routes of the shop, reviewed in pull requests.\n');
  origin.commit('README');
  origin.git('checkout', '-q', '-b', 'bad-weight', base);
  const badText = SHOP_MAIN.replace('10.1.5.2:8080\n', '10.1.5.2:8080\n      weight: 0\n');
  origin.write('routes/services/shop.yaml', badText);
  const invalid = origin.commit('Drain a reviews backend');
  origin.git('checkout', '-q', 'main');
  // Where the error is, found in the text itself: the 0 of "weight: 0".
  const lines = badText.split('\n');
  const at = lines.indexOf('      weight: 0');
  assert.ok(at >= 0, 'fixture: the bad weight is in the file');
  return { origin, base, change, push2, invalid, bad: { line: at + 1, col: lines[at]!.indexOf('0') + 1 } };
}

/** What actions/checkout does with `ref: <head sha>` and `fetch-depth: 0`: a full clone, the head checked out, origin/* for every branch. */
function checkout(origin: TestRepo, dir: string, sha: string): string {
  execFileSync('git', ['clone', '-q', origin.dir, dir], { stdio: 'ignore' });
  execFileSync('git', ['-C', dir, 'checkout', '-q', '--detach', sha], { stdio: 'ignore' });
  return dir;
}

/** A folder for PATH with `rauta` (this checkout) and `gh` (the fake): what the install step and the runner image provide. */
function toolsDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const shim = (name: string, script: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(join(dir, name), 0o755);
  };
  shim('rauta', BIN);
  shim('gh', FAKE_GH);
  return dir;
}

function bash(script: string, opts: { cwd: string; env: NodeJS.ProcessEnv; args: string[] }): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', [...opts.args, script], { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

// ---- GitHub Actions ------------------------------------------------------------

interface WorkflowStep {
  name?: string;
  id?: string;
  uses?: string;
  with?: Record<string, string | number>;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  'continue-on-error'?: string | boolean;
}

interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  env: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  jobs: Record<string, { 'runs-on': string; steps: WorkflowStep[] }>;
}

interface PullRequest {
  number: number;
  headSha: string;
  baseRef: string;
}

interface StepResult extends Run {
  name: string;
  outcome: 'success' | 'failure' | 'skipped';
}

const INSTALL = /git clone[^\n]*"\$RAUTA_GIT_URL"[\s\S]*npm ci/;

/**
 * Runs the workflow's steps in order as the runner would: `${{ }}` filled in
 * from the pull request, each `if:` the workflow uses evaluated (an unknown one
 * fails the test), `run:` with the shell GitHub uses for `shell: bash`. The
 * checkout and setup-node steps are done by the caller and the install step is
 * stood in for by `tools` on PATH.
 */
async function runGithubJob(
  pr: PullRequest,
  ws: string,
  runnerTemp: string,
  tools: string,
  ghState: string,
): Promise<{ steps: StepResult[]; conclusion: 'success' | 'failure' }> {
  const wf = parse(readFileSync(GITHUB_WORKFLOW, 'utf8')) as Workflow;
  const job = Object.values(wf.jobs)[0]!;
  const expr: Record<string, string> = {
    'github.event.pull_request.head.sha': pr.headSha,
    'github.event.pull_request.base.ref': pr.baseRef,
    'github.event.pull_request.number': String(pr.number),
    'github.event.pull_request.head.repo.fork': 'false',
    'github.token': 'ghs_test-token',
  };
  const fill = (v: string) =>
    v.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, e: string) => {
      if (!(e in expr)) throw new Error(`the workflow uses \${{ ${e} }}, which this test does not fill in`);
      return expr[e]!;
    });
  const steps: StepResult[] = [];
  const outcome = (id: string) => steps.find((s) => s.name === id)?.outcome;
  const conditions: Record<string, () => boolean> = {
    '': () => steps.every((s) => s.outcome !== 'failure'),
    '${{ !cancelled() }}': () => true,
    "${{ !cancelled() && steps.plan.outcome == 'success' }}": () => outcome('plan') === 'success',
  };
  mkdirSync(runnerTemp, { recursive: true });
  const summary = join(runnerTemp, 'step-summary.md');
  writeFileSync(summary, '');
  let failed = false;
  for (const [n, step] of job.steps.entries()) {
    const name = step.id ?? step.name ?? step.uses ?? `step ${n}`;
    const condition = conditions[step.if ?? ''];
    assert.ok(condition, `${name}: the test does not know the condition ${step.if}`);
    if (!condition()) {
      steps.push({ name, outcome: 'skipped', code: 0, stdout: '', stderr: '' });
      continue;
    }
    if (step.uses !== undefined || INSTALL.test(step.run ?? '')) {
      steps.push({ name, outcome: 'success', code: 0, stdout: '', stderr: '' });
      continue;
    }
    assert.equal(wf.defaults?.run?.shell, 'bash', 'run steps use shell: bash (bash -eo pipefail)');
    const env: NodeJS.ProcessEnv = {
      PATH: `${tools}:${process.env.PATH}`,
      HOME: runnerTemp,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: ws,
      GITHUB_REPOSITORY: 'acme/routes',
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_PATH: join(runnerTemp, 'path'),
      RUNNER_TEMP: runnerTemp,
      FAKE_GH_STATE: ghState,
      ...Object.fromEntries(Object.entries({ ...wf.env, ...step.env }).map(([k, v]) => [k, fill(String(v))])),
    };
    const file = join(runnerTemp, `step-${n}.sh`);
    writeFileSync(file, step.run!);
    const r = await bash(file, { cwd: ws, env, args: ['--noprofile', '--norc', '-eo', 'pipefail'] });
    const ok = r.code === 0;
    const tolerated = !ok && fill(String(step['continue-on-error'] ?? 'false')) === 'true';
    if (!ok && !tolerated) failed = true;
    steps.push({ name, outcome: ok ? 'success' : 'failure', ...r });
  }
  return { steps, conclusion: failed ? 'failure' : 'success' };
}

interface GhState {
  repo: string;
  nextId: number;
  comments: Array<{ id: number; issue: number; body: string }>;
  calls: Array<{ method: string; endpoint: string }>;
}

test('GitHub workflow: its command lines validate the head, plan from the merge base and keep one comment up to date', async (t) => {
  const tmp = tempDir('prci-github');
  t.after(tmp.cleanup);
  const repo = prRepo(join(tmp.dir, 'origin'));
  const tools = toolsDir(join(tmp.dir, 'tools'));
  const ghState = join(tmp.dir, 'gh.json');
  const human = { id: 1, issue: 7, body: 'Looks good, but see the payments move.' };
  writeFileSync(ghState, JSON.stringify({ repo: 'acme/routes', nextId: 100, comments: [human], calls: [] } satisfies GhState));
  const state = () => JSON.parse(readFileSync(ghState, 'utf8')) as GhState;

  const wf = parse(readFileSync(GITHUB_WORKFLOW, 'utf8')) as Workflow;
  assert.ok('pull_request' in wf.on, 'runs on pull requests');
  assert.deepEqual(wf.permissions, { contents: 'read', 'pull-requests': 'write' }, 'least privilege: read the code, write the comment');
  const steps = Object.values(wf.jobs)[0]!.steps;
  const checkoutStep = steps.find((s) => s.uses?.startsWith('actions/checkout@'));
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
  assert.equal(checkoutStep?.with?.ref, '${{ github.event.pull_request.head.sha }}', 'checks out the head, not the merge commit GitHub makes');
  assert.equal(checkoutStep?.with?.['fetch-depth'], 0, 'full history: the merge base must be there');
  const install = steps.find((s) => INSTALL.test(s.run ?? ''));
  assert.ok(install, 'an install step clones rauta and runs npm ci, as the README says');
  assert.match(install.run!, /\$GITHUB_PATH/, 'and puts rauta on PATH');
  assert.ok(!steps.some((s) => /\bsudo\b/.test(s.run ?? '')), 'nothing needs root');

  // First push: a valid change.
  const pr = { number: 7, headSha: repo.change, baseRef: 'main' };
  const first = await runGithubJob(pr, checkout(repo.origin, join(tmp.dir, 'ws1'), repo.change), join(tmp.dir, 'runner1'), tools, ghState);
  const show = (job: { steps: StepResult[] }) => job.steps.map((s) => `## ${s.name}: ${s.outcome} (${s.code})\n${s.stdout}${s.stderr}`).join('\n');
  assert.equal(first.conclusion, 'success', show(first));
  const validate = first.steps.find((s) => s.name === 'Validate the head')!;
  assert.doesNotMatch(validate.stdout, /^::error/m, 'a valid head has no annotations');
  assert.match(validate.stdout, /: \d+ files, 5 rules, 2 listeners.*: valid$/m, validate.stdout);
  const plan = readFileSync(join(tmp.dir, 'runner1', 'plan.md'), 'utf8');
  assert.match(
    plan,
    new RegExp(`^\\*\\*rauta plan\\*\\* \`${repo.base.slice(0, 12)}\` → \`${repo.change.slice(0, 12)}\`: `, 'm'),
    'from the merge base (main has moved on since) to the head',
  );
  if (process.env.RAUTA_UPDATE_FIXTURES === '1') writeFileSync(FIXTURE, plan);
  assert.equal(plan, readFileSync(FIXTURE, 'utf8'), `the comment differs from ${FIXTURE} (RAUTA_UPDATE_FIXTURES=1 rewrites it after an intended change)`);
  assert.ok(readFileSync(join(tmp.dir, 'runner1', 'step-summary.md'), 'utf8').includes(plan), 'the plan is in the job summary too');
  assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(plan), 'the README shows this comment as its example, verbatim');
  let s = state();
  assert.equal(s.comments.length, 2, 'one comment posted next to the human one');
  const posted = s.comments.find((c) => c.id !== human.id)!;
  assert.equal(posted.body, plan);
  assert.deepEqual(
    s.calls.map((c) => c.method),
    ['GET', 'POST'],
  );

  // Second push on the same branch: the same comment is edited, nothing new is posted.
  const second = await runGithubJob(
    { ...pr, headSha: repo.push2 },
    checkout(repo.origin, join(tmp.dir, 'ws2'), repo.push2),
    join(tmp.dir, 'runner2'),
    tools,
    ghState,
  );
  assert.equal(second.conclusion, 'success', show(second));
  s = state();
  assert.equal(s.comments.length, 2, 'still one plan comment');
  assert.equal(s.comments.find((c) => c.id === posted.id)!.body, readFileSync(join(tmp.dir, 'runner2', 'plan.md'), 'utf8'));
  assert.match(s.comments.find((c) => c.id === posted.id)!.body, /`10\.1\.0\.3:8080`/, 'the edit carries the new push');
  assert.deepEqual(s.calls.slice(2), [
    { method: 'GET', endpoint: 'repos/acme/routes/issues/7/comments' },
    { method: 'PATCH', endpoint: `repos/acme/routes/issues/comments/${posted.id}` },
  ]);
  assert.equal(s.comments.find((c) => c.id === human.id)!.body, human.body, "a reviewer's comment is never touched");

  // A push that breaks validation: annotations on the line, the check fails, the comment says why.
  const third = await runGithubJob(
    { ...pr, headSha: repo.invalid },
    checkout(repo.origin, join(tmp.dir, 'ws3'), repo.invalid),
    join(tmp.dir, 'runner3'),
    tools,
    ghState,
  );
  assert.equal(third.conclusion, 'failure', `an invalid head fails the check\n${show(third)}`);
  const bad = third.steps.find((x) => x.name === 'Validate the head')!;
  assert.equal(bad.code, 1, `rauta validate exits 1\n${bad.stdout}${bad.stderr}`);
  const annotations = bad.stdout.split('\n').filter((l) => l.startsWith('::error '));
  assert.equal(annotations.length, 1, bad.stdout);
  assert.ok(
    annotations[0]!.startsWith(
      `::error file=routes/services/shop.yaml,line=${repo.bad.line},col=${repo.bad.col},title=rauta validate::spec.backends[1].weight: `,
    ),
    `the annotation names the file, line and column of "weight: 0": ${annotations[0]}`,
  );
  assert.equal(third.steps.find((x) => x.name === 'plan')!.outcome, 'success', 'the plan step still runs and writes a comment');
  const invalidComment = state().comments.find((c) => c.id === posted.id)!.body;
  assert.ok(invalidComment.startsWith(`${COMMENT_MARKER}\n`));
  assert.match(invalidComment, /not planned, a side does not validate/);
  assert.ok(invalidComment.includes(`routes/services/shop.yaml:${repo.bad.line}:${repo.bad.col}: spec.backends[1].weight`), invalidComment);
});

// ---- GitLab CI -----------------------------------------------------------------

interface GitlabJob {
  image: string;
  rules: Array<{ if: string }>;
  variables: Record<string, string>;
  before_script: string[];
  script: string[];
  artifacts: { when: string; reports: { codequality: string } };
}

interface Note {
  id: number;
  body: string;
  system: boolean;
}

/** GitLab's notes API for one merge request (project 42, !7), paged as GitLab pages it, on a local port. */
async function fakeGitlab(t: { after: (fn: () => Promise<void>) => void }, token: string) {
  const notes: Note[] = Array.from({ length: 120 }, (_, i) => ({
    id: i + 1,
    body: i === 3 ? 'Please check the payments move.' : `assigned to @someone (${i})`,
    system: i !== 3,
  }));
  const requests: string[] = [];
  let nextId = 1000;
  const base = '/api/v4/projects/42/merge_requests/7/notes';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.headers['private-token'] !== token) return send(401, { message: '401 Unauthorized' });
      const id = url.pathname.startsWith(`${base}/`) ? Number(url.pathname.slice(base.length + 1)) : null;
      if (req.method === 'GET' && url.pathname === base) {
        const perPage = Number(url.searchParams.get('per_page') ?? 20);
        const page = Number(url.searchParams.get('page') ?? 1);
        const slice = notes.slice((page - 1) * perPage, page * perPage);
        return send(200, slice, { 'x-next-page': page * perPage < notes.length ? String(page + 1) : '' });
      }
      if (req.method === 'POST' && url.pathname === base) {
        const note = { id: nextId++, body: (JSON.parse(raw) as { body: string }).body, system: false };
        notes.push(note);
        return send(201, note);
      }
      const note = notes.find((n) => n.id === id);
      if (req.method === 'PUT' && note) {
        note.body = (JSON.parse(raw) as { body: string }).body;
        return send(200, note);
      }
      send(404, { message: '404 Not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/api/v4`, notes, requests };
}

/**
 * The job's `script:` as the runner runs it: one bash script under `set -eo
 * pipefail`, with the job's variables and the merge request's CI_* variables.
 * before_script (the install) is stood in for: RAUTA_DIR is this checkout and
 * `rauta` is on PATH.
 */
async function runGitlabJob(ws: string, vars: Record<string, string>, tools: string): Promise<Run> {
  const job = (parse(readFileSync(GITLAB_JOB, 'utf8')) as Record<string, GitlabJob>)['rauta-routes']!;
  const env: NodeJS.ProcessEnv = {
    PATH: `${tools}:${process.env.PATH}`,
    HOME: ws,
    CI: 'true',
    GITLAB_CI: 'true',
    CI_PROJECT_DIR: ws,
    RAUTA_DIR: ROOT,
    ...job.variables,
    ...vars,
  };
  return bash(['set -eo pipefail', ...job.script].join('\n'), { cwd: ws, env, args: ['--noprofile', '--norc', '-c'] });
}

test('GitLab job: its command lines validate with a Code Quality report, plan from the diff base and keep one note', async (t) => {
  const tmp = tempDir('prci-gitlab');
  t.after(tmp.cleanup);
  const repo = prRepo(join(tmp.dir, 'origin'));
  const tools = toolsDir(join(tmp.dir, 'tools'));
  const token = 'glpat-test-token';
  const gitlab = await fakeGitlab(t, token);

  const job = (parse(readFileSync(GITLAB_JOB, 'utf8')) as Record<string, GitlabJob>)['rauta-routes']!;
  assert.deepEqual(job.rules, [{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' }], 'runs in merge request pipelines');
  assert.equal(job.variables.GIT_DEPTH, '0', 'full history: the merge base must be there');
  assert.equal(job.artifacts.reports.codequality, 'gl-code-quality-report.json');
  assert.equal(job.artifacts.when, 'always', 'the report is kept when the job fails');
  assert.ok(INSTALL.test(job.before_script.join('\n')), 'before_script clones rauta and runs npm ci, as the README says');
  assert.ok(![...job.before_script, ...job.script].some((l) => /\bsudo\b/.test(l)), 'nothing needs root');

  // What GitLab sets in a merge request pipeline (CI_MERGE_REQUEST_DIFF_BASE_SHA is the merge base).
  const mr = (head: string): Record<string, string> => ({
    CI_PIPELINE_SOURCE: 'merge_request_event',
    CI_COMMIT_SHA: head,
    CI_MERGE_REQUEST_DIFF_BASE_SHA: repo.origin.git('merge-base', 'main', head),
    CI_MERGE_REQUEST_IID: '7',
    CI_PROJECT_ID: '42',
    CI_API_V4_URL: gitlab.url,
    RAUTA_NOTE_TOKEN: token,
  });

  const ws1 = checkout(repo.origin, join(tmp.dir, 'ws1'), repo.change);
  const first = await runGitlabJob(ws1, mr(repo.change), tools);
  assert.equal(first.code, 0, `a valid change passes\n${first.stdout}${first.stderr}`);
  assert.deepEqual(JSON.parse(readFileSync(join(ws1, 'gl-code-quality-report.json'), 'utf8')), [], 'an empty Code Quality report');
  const plan = readFileSync(join(ws1, 'plan.md'), 'utf8');
  assert.equal(plan, readFileSync(FIXTURE, 'utf8'), 'the same comment as on GitHub: the same command line');
  const ours = () => gitlab.notes.filter((n) => n.body.startsWith(COMMENT_MARKER));
  assert.equal(ours().length, 1, 'one note posted');
  assert.equal(ours()[0]!.body, plan);

  // A second push: the note (on the second page of 100) is found and edited.
  const ws2 = checkout(repo.origin, join(tmp.dir, 'ws2'), repo.push2);
  const second = await runGitlabJob(ws2, mr(repo.push2), tools);
  assert.equal(second.code, 0, `${second.stdout}${second.stderr}`);
  assert.equal(ours().length, 1, 'still one note');
  assert.equal(ours()[0]!.body, readFileSync(join(ws2, 'plan.md'), 'utf8'));
  assert.ok(
    gitlab.requests.some((r) => /^GET .*notes\?.*page=2/.test(r)),
    `the second page was read:\n${gitlab.requests.join('\n')}`,
  );
  assert.ok(
    gitlab.requests.some((r) => r.startsWith(`PUT /api/v4/projects/42/merge_requests/7/notes/${ours()[0]!.id}`)),
    gitlab.requests.join('\n'),
  );
  assert.equal(gitlab.notes.find((n) => n.id === 4)!.body, 'Please check the payments move.', "a reviewer's note is never touched");

  // An invalid head: the job fails with exit 1, the report names file and line with a stable fingerprint.
  const ws3 = checkout(repo.origin, join(tmp.dir, 'ws3'), repo.invalid);
  const third = await runGitlabJob(ws3, mr(repo.invalid), tools);
  assert.equal(third.code, 1, `an invalid head fails the job with exit 1\n${third.stdout}${third.stderr}`);
  assert.match(
    third.stdout,
    new RegExp(`^routes/services/shop\\.yaml:${repo.bad.line}:${repo.bad.col}: spec\\.backends\\[1\\]\\.weight`, 'm'),
    'the job log names file:line:col',
  );
  const report = JSON.parse(readFileSync(join(ws3, 'gl-code-quality-report.json'), 'utf8')) as Array<{
    fingerprint: string;
    location: { path: string; lines: { begin: number } };
    severity: string;
  }>;
  assert.equal(report.length, 1, JSON.stringify(report));
  assert.deepEqual(report[0]!.location, { path: 'routes/services/shop.yaml', lines: { begin: repo.bad.line } });
  const again = await runGitlabJob(ws3, mr(repo.invalid), tools);
  assert.equal(again.code, 1);
  assert.deepEqual(
    JSON.parse(readFileSync(join(ws3, 'gl-code-quality-report.json'), 'utf8')),
    report,
    'the same report, fingerprints included, on the next pipeline',
  );
  assert.match(ours()[0]!.body, /not planned, a side does not validate/);
  assert.equal(ours().length, 1);

  // Without the token the job still validates and plans, and says it did not post.
  const ws4 = checkout(repo.origin, join(tmp.dir, 'ws4'), repo.change);
  const noToken = await runGitlabJob(ws4, { ...mr(repo.change), RAUTA_NOTE_TOKEN: '' }, tools);
  assert.equal(noToken.code, 0, noToken.stderr);
  assert.match(noToken.stderr, /RAUTA_NOTE_TOKEN is not set/);
  assert.ok(!`${first.stdout}${first.stderr}${third.stdout}${third.stderr}`.includes(token), 'the token is never printed');
});
