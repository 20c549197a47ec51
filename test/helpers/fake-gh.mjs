// A stand-in for the GitHub CLI, as much of `gh api` as
// examples/ci/github/rauta-routes.yml uses: the issue comments of one pull
// request, kept in the JSON file $FAKE_GH_STATE ({repo, comments, nextId,
// calls}). --jq runs the real jq (gh has it built in); -F key=@file reads the
// file, as gh does. Anything else fails, so a workflow change that needs more
// shows here.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const fail = (msg, code = 1) => {
  process.stderr.write(`fake gh: ${msg}\n`);
  process.exit(code);
};
const statePath = process.env.FAKE_GH_STATE ?? fail('FAKE_GH_STATE is not set');
const state = JSON.parse(readFileSync(statePath, 'utf8'));
const argv = process.argv.slice(2);
if (argv[0] !== 'api') fail(`only "gh api" is faked, got: ${argv.join(' ')}`);
if (!process.env.GH_TOKEN) fail('To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable', 4);

let method = 'GET';
let jq = null;
let endpoint = null;
const fields = {};
for (let i = 1; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--paginate') continue;
  else if (a === '--method' || a === '-X') method = argv[++i];
  else if (a === '--jq' || a === '-q') jq = argv[++i];
  else if (a === '-F' || a === '--field') {
    const [key, ...rest] = argv[++i].split('=');
    const value = rest.join('=');
    fields[key] = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  } else if (a.startsWith('-')) fail(`flag ${a} is not faked`);
  else if (endpoint === null) endpoint = a;
  else fail(`a second endpoint: ${a}`);
}
if (endpoint === null) fail('no endpoint');
state.calls.push({ method, endpoint });

const prefix = `repos/${state.repo}/issues/`;
if (!endpoint.startsWith(prefix)) fail(`endpoint ${endpoint} is not under ${prefix}`);
const rest = endpoint.slice(prefix.length);
let out;
let m;
if ((m = /^(\d+)\/comments$/.exec(rest)) && method === 'GET') {
  out = state.comments.filter((c) => c.issue === Number(m[1]));
} else if ((m = /^(\d+)\/comments$/.exec(rest)) && method === 'POST') {
  if (typeof fields.body !== 'string') fail('POST without a body field');
  out = { id: state.nextId++, issue: Number(m[1]), body: fields.body, user: { login: 'github-actions[bot]' } };
  state.comments.push(out);
} else if ((m = /^comments\/(\d+)$/.exec(rest)) && method === 'PATCH') {
  const c = state.comments.find((x) => x.id === Number(m[1]));
  if (!c) fail('HTTP 404: Not Found');
  if (typeof fields.body !== 'string') fail('PATCH without a body field');
  c.body = fields.body;
  out = c;
} else fail(`${method} ${endpoint} is not faked`);
writeFileSync(statePath, JSON.stringify(state, null, 2));
const json = JSON.stringify(out);
process.stdout.write(jq === null ? `${json}\n` : execFileSync('jq', ['-r', jq], { input: json, encoding: 'utf8' }));
