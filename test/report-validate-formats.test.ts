// The pure renderers of validation issues for CI (src/report/validate-formats.ts):
// GitHub Actions annotations and GitLab Code Quality entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeData, escapeProperty, githubAnnotations, gitlabCodeQuality, type RepoIssue } from '../src/report/validate-formats.js';

/** What a runner does with a workflow-command value: the reverse of the escaping. */
const unescapeProperty = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');

test('workflow-command escaping: one line, no separator left in a property, and the runner gets the value back', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme-ascii' }), fc.string(), (a, b) => {
      for (const s of [a, b, `${a}%3A${b}`, `${a}\r\n:,%${b}`]) {
        const prop = escapeProperty(s);
        assert.doesNotMatch(prop, /[\r\n:,]/, `property ${JSON.stringify(s)} -> ${JSON.stringify(prop)}`);
        assert.equal(unescapeProperty(prop), s);
        const data = escapeData(s);
        assert.doesNotMatch(data, /[\r\n]/);
        assert.equal(unescapeProperty(data), s);
      }
    }),
  );
});

test('github annotations: file, line, col and message, escaped; an issue about no file has no location', () => {
  const issues: RepoIssue[] = [
    { path: 'routes/a,b:c.yaml', line: 12, col: 7, message: 'weight 100% of "x"\nnext' },
    { path: null, line: 1, col: 1, message: 'the route set has 4097 rules' },
  ];
  assert.equal(
    githubAnnotations(issues),
    '::error file=routes/a%2Cb%3Ac.yaml,line=12,col=7,title=rauta validate::weight 100%25 of "x"\\nnext\n' +
      '::error title=rauta validate::the route set has 4097 rules\n',
  );
});

test('gitlab code quality: stable fingerprints that ignore the line, distinct for each issue', () => {
  const issues: RepoIssue[] = [
    { path: 'routes/a.yaml', line: 3, col: 1, message: 'bad weight' },
    { path: 'routes/a.yaml', line: 9, col: 1, message: 'bad weight' },
    { path: 'routes/b.yaml', line: 3, col: 1, message: 'bad weight' },
    { path: null, line: 1, col: 1, message: 'too many rules' },
  ];
  const report = gitlabCodeQuality(issues);
  assert.deepEqual(report[0], {
    type: 'issue',
    check_name: 'rauta-validate',
    description: 'bad weight',
    categories: ['Bug Risk'],
    severity: 'blocker',
    fingerprint: report[0]!.fingerprint,
    location: { path: 'routes/a.yaml', lines: { begin: 3 } },
  });
  assert.match(report[0]!.fingerprint, /^[0-9a-f]{16}$/);
  assert.equal(new Set(report.map((r) => r.fingerprint)).size, issues.length, 'one fingerprint per issue, even for the same message twice in a file');
  assert.equal(report[3]!.location.path, '.', 'an issue about the whole set sits on the repository root');
  assert.deepEqual(gitlabCodeQuality(issues), report, 'the same issues give the same report');
  // Pinned: a change in how fingerprints are made would show every open issue as fixed and new again.
  assert.deepEqual(
    report.map((r) => r.fingerprint),
    ['d0cfe64193ba329f', 'd0cfe54193ba30ec', 'eb241206142450e6', '25bc0aaa1e1b62b7'],
  );
  const shifted = gitlabCodeQuality(issues.map((i) => ({ ...i, line: i.line + 5 })));
  assert.deepEqual(
    shifted.map((r) => r.fingerprint),
    report.map((r) => r.fingerprint),
    'lines added above an issue do not make it a new one',
  );
});
