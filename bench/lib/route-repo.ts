// Synthetic routes repositories for the git-diff and watcher-start suites: N route files
// in sqrt(N) folders of sqrt(N) files (a repo grouped by team/service), built with
// `git fast-import` (a bare repository, one pack, blobs delta-chained as Git leaves them),
// then a chain of commits that each move one backend of one pseudo-random route.
import { spawnSync } from 'node:child_process';

export function routeFile(i: number, backend: number): string {
  return [
    'apiVersion: rauta.io/v1',
    'kind: RoutingRule',
    'metadata:',
    `  name: svc-${i}`,
    'spec:',
    '  match:',
    '    method: GET',
    '    path:',
    '      type: Exact',
    `      value: /svc/${i}`,
    '  backends:',
    `    - endpoint: 10.1.${(backend >> 8) & 255}.${backend & 255 || 1}:8080`,
    `    - endpoint: 10.2.${(i >> 8) & 255}.${i & 255 || 1}:8080`,
    '',
  ].join('\n');
}

/** files spread over sqrt(n) folders of sqrt(n) files, like a real repo grouped by team/service */
export function filePath(i: number, n: number): string {
  const width = Math.ceil(Math.sqrt(n));
  return `routes/team-${String(Math.floor(i / width)).padStart(3, '0')}/svc-${i}.yaml`;
}

/** Builds the bare repository `dir` on branch main; returns its first-parent revisions, oldest first. */
export function buildRouteRepo(dir: string, files: number, commits: number): string[] {
  spawnSync('git', ['init', '-q', '--bare', dir], { stdio: 'inherit' });
  const chunks: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  let t = 1_700_000_000;
  chunks.push(`commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> ${t} +0000\n${data(`${files} routes`)}`);
  for (let i = 0; i < files; i++) chunks.push(`M 100644 inline ${filePath(i, files)}\n${data(routeFile(i, 1))}`);
  chunks.push('\n');
  // Each later commit changes one file: a backend of a pseudo-random route.
  let seed = 42;
  for (let c = 0; c < commits; c++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const i = seed % files;
    t += 60;
    chunks.push(`commit refs/heads/main\nmark :${c + 2}\ncommitter Bench <bench@example.com> ${t} +0000\n${data(`svc-${i}: move backend`)}from :${c + 1}\n`);
    chunks.push(`M 100644 inline ${filePath(i, files)}\n${data(routeFile(i, c + 2))}\n`);
  }
  const res = spawnSync('git', ['-C', dir, 'fast-import', '--quiet'], { input: chunks.join(''), stdio: ['pipe', 'inherit', 'inherit'], maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error('git fast-import failed');
  return spawnSync('git', ['-C', dir, 'rev-list', '--first-parent', '--reverse', 'main'], { encoding: 'utf8' }).stdout.trim().split('\n');
}

/** Points `ref` of the bare repository `dir` at `rev`. */
export function setRef(dir: string, ref: string, rev: string): void {
  const res = spawnSync('git', ['-C', dir, 'update-ref', ref, rev]);
  if (res.status !== 0) throw new Error(`git update-ref ${ref} ${rev} failed`);
}
