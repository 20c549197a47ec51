#!/usr/bin/env node
// Posts FILE as a note on the merge request of this GitLab pipeline, or edits
// the note posted before: the one whose body starts with FILE's first line
// (rauta's comments start with <!-- rauta-plan -->), so a merge request keeps
// one plan note however often it is pushed. Node 20, no dependencies.
//
//   node mr-note.mjs plan.md
//
// Reads CI_API_V4_URL, CI_PROJECT_ID and CI_MERGE_REQUEST_IID (set by GitLab in
// merge request pipelines) and RAUTA_NOTE_TOKEN (a project access token with
// the api scope, Reporter role). Exit 0: posted, edited, or skipped without a
// token (said on stderr); 1: the API refused; 2: usage.
import { readFileSync } from 'node:fs';

const say = (text) => process.stderr.write(`mr-note: ${text}\n`);
const file = process.argv[2];
if (!file) {
  say('usage: node mr-note.mjs FILE');
  process.exit(2);
}
const need = ['CI_API_V4_URL', 'CI_PROJECT_ID', 'CI_MERGE_REQUEST_IID'].filter((v) => !process.env[v]);
if (need.length > 0) {
  say(`${need.join(', ')} not set: run in a merge request pipeline`);
  process.exit(2);
}
const token = process.env.RAUTA_NOTE_TOKEN;
if (!token) {
  say('RAUTA_NOTE_TOKEN is not set: the plan is in the job log and the plan.md artifact, not on the merge request');
  process.exit(0);
}
const body = readFileSync(file, 'utf8');
const marker = body.split('\n', 1)[0];
const { CI_API_V4_URL: api, CI_PROJECT_ID: project, CI_MERGE_REQUEST_IID: iid } = process.env;
const notes = `${api}/projects/${encodeURIComponent(project)}/merge_requests/${encodeURIComponent(iid)}/notes`;

async function call(method, url, payload) {
  const res = await fetch(url, {
    method,
    headers: { 'PRIVATE-TOKEN': token, ...(payload ? { 'Content-Type': 'application/json' } : {}) },
    body: payload ? JSON.stringify(payload) : undefined,
  });
  if (!res.ok) {
    say(`${method} ${new URL(url).pathname}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    process.exit(1);
  }
  return res;
}

/** The earliest note of this merge request that starts with the marker, following the pages. */
async function findNote() {
  for (let page = 1; ; page++) {
    const res = await call('GET', `${notes}?sort=asc&order_by=created_at&per_page=100&page=${page}`);
    const list = await res.json();
    const hit = list.find((n) => !n.system && typeof n.body === 'string' && n.body.startsWith(marker));
    if (hit) return hit;
    if (!res.headers.get('x-next-page')) return null;
  }
}

const existing = marker ? await findNote() : null;
if (existing) {
  await call('PUT', `${notes}/${existing.id}`, { body });
  say(`edited note ${existing.id}`);
} else {
  const res = await call('POST', notes, { body });
  say(`posted note ${(await res.json()).id}`);
}
