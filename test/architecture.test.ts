// The layers, as imports: the pure core imports no I/O, and nothing points
// back up. A new import that breaks a rule fails here naming the file.
//
//   src/model     map layouts, codecs, ids, FNV-1a, Maglev: imports only errors.ts
//   src/routes, src/state, src/plan: pure; never src/dataplane, src/events, src/cli,
//                 src/git, src/agent, src/cluster, src/observability, src/runtime
//   src/dataplane never src/plan (read-back returns decoded entries; plan builds its state)
//   src/report    pure renderers (CI annotations, the pull-request comment): only src/report,
//                 src/plan, src/routes, src/model, errors.ts; no package and no node: module
//   src/health    below the agent: never src/agent, src/cli, src/cluster, src/git, src/events,
//                 src/plan, src/state, src/observability (the agent plans over its output)
//   worker/       never src/cli (process plumbing lives in src/runtime)
//   bench/        never test/ (shared test-bed code lives in testbed/)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...files(rel));
    else if (/\.(ts|mjs)$/.test(name)) out.push(rel);
  }
  return out;
}

/** Repository-relative targets of a file's relative imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(normalize(join(dirname(file), m[1]!)));
  return out;
}

/** Packages and node: modules a file imports (type-only imports included). */
function packagesOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^.'"][^'"]*)['"]/g)].map((m) => m[1]!);
}

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

interface Rule {
  from: string;
  /** folders (or files) its files must not import */
  never: string[];
  /** the only things it may import inside the repository (when set) */
  only?: string[];
  /** the only packages and node: modules it may import (when set) */
  packages?: string[];
}

const PURE_FORBIDDEN = ['src/dataplane', 'src/events', 'src/cli', 'src/git', 'src/agent', 'src/cluster', 'src/observability', 'src/runtime'];
const RULES: Rule[] = [
  { from: 'src/model', never: [], only: ['src/model', 'src/errors.ts'] },
  { from: 'src/routes', never: [...PURE_FORBIDDEN, 'src/plan', 'src/state'] },
  { from: 'src/state', never: [...PURE_FORBIDDEN, 'src/plan'] },
  { from: 'src/plan', never: PURE_FORBIDDEN },
  { from: 'src/report', never: [...PURE_FORBIDDEN, 'src/state'], only: ['src/report', 'src/plan', 'src/routes', 'src/model', 'src/errors.ts'], packages: [] },
  { from: 'src/dataplane', never: ['src/plan', 'src/state', 'src/cli', 'src/agent', 'src/cluster'] },
  { from: 'src/health', never: ['src/agent', 'src/cli', 'src/cluster', 'src/git', 'src/events', 'src/plan', 'src/state', 'src/observability'] },
  { from: 'worker', never: ['src/cli'] },
  { from: 'bench', never: ['test'] },
];

test('imports follow the layers', () => {
  const broken: string[] = [];
  for (const rule of RULES) {
    for (const file of files(rule.from)) {
      for (const target of importsOf(file)) {
        const t = target.replace(/\.js$/, '.ts');
        const hit = rule.never.find((d) => under(t, d));
        if (hit) broken.push(`${file} imports ${relative('.', t)} (${rule.from} must not import ${hit})`);
        if (rule.only && !rule.only.some((d) => under(t, d)))
          broken.push(`${file} imports ${relative('.', t)} (${rule.from} imports only ${rule.only.join(', ')})`);
      }
      const allowed = rule.packages;
      if (allowed)
        for (const p of packagesOf(file))
          if (!allowed.includes(p))
            broken.push(`${file} imports ${p} (${rule.from} imports no package or node: module${allowed.length ? ` but ${allowed.join(', ')}` : ''})`);
    }
  }
  assert.deepEqual(broken, [], `layering broken:\n${broken.join('\n')}`);
});
