// Property tests (fast-check; records without null prototypes so deepEqual compares like for like): any valid route set survives emit -> parse
// unchanged, and no input whatsoever makes the parser or the set validator
// throw instead of returning issues that point into the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { HttpMethod, Listener as ListenerModel, Route as RouteModel, routeId, type Listener, type Route } from '../src/routes/route-model.js';
import { emitRouteFile, listenerToDocument, routeToDocument } from '../src/routes/emit.js';
import { parseRouteFile, type ParsedFile } from '../src/routes/parse-file.js';
import { validateRouteSet } from '../src/routes/validate-set.js';
import { compareIssues } from '../src/routes/issues.js';
import { prefixDepth } from '../src/model/route-shapes.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const src = { file: '', line: 0 };

const name = fc.stringMatching(/^[a-z0-9](?:[a-z0-9.-]{0,20}[a-z0-9])?$/);
const octet = fc.integer({ min: 0, max: 255 });
const unicastIp = fc
  .tuple(
    fc.integer({ min: 1, max: 223 }).filter((o) => o !== 127),
    octet,
    octet,
    octet,
  )
  .map((o) => o.join('.'));
const port = fc.integer({ min: 1, max: 65535 });
const path = fc.oneof(
  fc.stringMatching(/^\/[\x21\x22\x24-\x3e\x40-\x7e]{0,40}$/),
  fc.stringMatching(/^\/[a-z0-9/._~%-]{0,20}$/),
  fc.integer({ min: 200, max: 255 }).map((n) => `/${'p'.repeat(n - 1)}`),
);
const backends = fc.uniqueArray(fc.record({ ip: unicastIp, port, weight: fc.integer({ min: 1, max: 65535 }) }, { noNullPrototype: true }), {
  minLength: 1,
  maxLength: 32,
  selector: (b) => `${b.ip}:${b.port}`,
});
const healthCheck = fc
  .record(
    {
      path,
      port,
      intervalSeconds: fc.integer({ min: 1, max: 36000 }).map((n) => n / 10),
      timeoutFraction: fc.double({ min: 0.01, max: 1, noNaN: true }),
      healthyThreshold: fc.integer({ min: 1, max: 100 }),
      unhealthyThreshold: fc.integer({ min: 1, max: 100 }),
    },
    { noNullPrototype: true, requiredKeys: ['path', 'intervalSeconds', 'timeoutFraction', 'healthyThreshold', 'unhealthyThreshold'] },
  )
  .map(({ timeoutFraction, ...hc }) => ({ ...hc, timeoutSeconds: Math.max(0.05, Math.round(hc.intervalSeconds * timeoutFraction * 100) / 100) }))
  .filter((hc) => hc.timeoutSeconds <= hc.intervalSeconds);
const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
const host = fc.tuple(fc.boolean(), fc.array(label, { minLength: 1, maxLength: 4 })).map(([wild, labels]) => `${wild ? '*.' : ''}${labels.join('.')}`);
const route: fc.Arbitrary<Route> = fc
  .record(
    {
      name,
      method: fc.constantFrom(...HttpMethod.options),
      path,
      pathType: fc.constant('PathPrefix' as const),
      host,
      backends,
      tableSize: fc.constant(4099),
      healthCheck: healthCheck,
      source: fc.constant(src),
    },
    { noNullPrototype: true, requiredKeys: ['name', 'path', 'backends', 'tableSize', 'source'] },
  )
  .filter((r) => r.pathType === undefined || prefixDepth(r.path) <= 8);
const listener: fc.Arbitrary<Listener> = fc.record({ name, address: unicastIp, port, source: fc.constant(src) }, { noNullPrototype: true });

/** A valid route set spread over files: names and identities unique, each definition with its file. */
const routeSet = fc
  .record({
    routes: fc.uniqueArray(route, { maxLength: 30, selector: (r) => r.name }),
    listeners: fc.uniqueArray(listener, { maxLength: 6, selector: (l) => l.name }),
    fileNames: fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}(?:\/[a-z0-9-]{1,8})?\.ya?ml$/), { minLength: 1, maxLength: 5 }),
  })
  .chain(({ routes, listeners, fileNames }) => {
    const uniqueBy = <T>(xs: T[], key: (x: T) => string): T[] => {
      const seen = new Set<string>();
      return xs.filter((x) => !seen.has(key(x)) && seen.add(key(x)) !== undefined);
    };
    const rs = uniqueBy(routes, routeId);
    const ls = uniqueBy(listeners, (l) => `${l.address}:${l.port}`);
    return fc.record({
      routes: fc.constant(rs),
      listeners: fc.constant(ls),
      fileNames: fc.constant(fileNames),
      routeFile: fc.array(fc.nat(fileNames.length - 1), { minLength: rs.length, maxLength: rs.length }),
      listenerFile: fc.array(fc.nat(fileNames.length - 1), { minLength: ls.length, maxLength: ls.length }),
    });
  });

test('any valid route set survives emit -> parse -> validate unchanged', () => {
  fc.assert(
    fc.property(routeSet, ({ routes, listeners, fileNames, routeFile, listenerFile }) => {
      const parsed: ParsedFile[] = fileNames.map((file, i) => {
        const docs = [
          ...listeners.filter((_, j) => listenerFile[j] === i).map(listenerToDocument),
          ...routes.filter((_, j) => routeFile[j] === i).map(routeToDocument),
        ];
        return parseRouteFile(file, enc(emitRouteFile(docs)));
      });
      const set = validateRouteSet(parsed);
      assert.deepEqual(set.issues, [], 'a valid set must validate cleanly after emitting');
      const strip = <T extends { source: unknown }>(x: T): Omit<T, 'source'> => {
        const { source: _source, ...rest } = x;
        return rest;
      };
      const byName = <T extends { name: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.name < b.name ? -1 : 1));
      assert.deepEqual(byName(set.routes).map(strip), byName(routes).map(strip));
      assert.deepEqual(byName(set.listeners).map(strip), byName(listeners).map(strip));
      for (const r of set.routes) {
        const i = routes.findIndex((x) => x.name === r.name);
        assert.equal(r.source.file, fileNames[routeFile[i] ?? -1], `route ${r.name} names the file it came from`);
        assert.ok(r.source.line >= 1);
      }
    }),
    { numRuns: 300 },
  );
});

/** The invariants every parse must keep, whatever the input. */
function checkParse(file: string, bytes: Uint8Array): ParsedFile {
  const parsed = parseRouteFile(file, bytes);
  assert.equal(parsed.file, file);
  for (const i of parsed.issues) {
    assert.equal(i.file, file);
    assert.ok(Number.isInteger(i.line) && i.line >= 1, `line ${i.line} in ${JSON.stringify(i)}`);
    assert.ok(Number.isInteger(i.col) && i.col >= 1, `col ${i.col} in ${JSON.stringify(i)}`);
    assert.ok(i.message.length > 0);
    assert.doesNotMatch(i.message, /internal error/, `the parser threw inside: ${i.message}`);
  }
  for (let k = 1; k < parsed.issues.length; k++) assert.ok(compareIssues(parsed.issues[k - 1]!, parsed.issues[k]!) <= 0, 'issues sorted by line and column');
  for (const r of parsed.routes) assert.doesNotThrow(() => RouteModel.parse(r), `route ${JSON.stringify(r)} breaks the model`);
  for (const l of parsed.listeners) assert.doesNotThrow(() => ListenerModel.parse(l));
  return parsed;
}

const examples = (() => {
  const out: string[] = [];
  const base = new URL('../examples/repo/', import.meta.url);
  for (const e of readdirSync(base, { recursive: true, encoding: 'utf8' })) if (/\.ya?ml$/.test(e)) out.push(readFileSync(new URL(e, base), 'utf8'));
  const corpus = new URL('./fixtures/invalid/', import.meta.url);
  for (const e of readdirSync(corpus, { recursive: true, encoding: 'utf8' })) if (/\.ya?ml$/.test(e)) out.push(readFileSync(new URL(e, corpus), 'latin1'));
  return out;
})();

const yamlish = fc.string({ unit: fc.constantFrom(...': -[]{},#&*!|>\'"%@`?\n\t 0123456789abcdefgAZ./\\~\u00e9\u0000'.split('')), maxLength: 12 });
const edit = fc.record({ at: fc.nat(), del: fc.nat(8), ins: yamlish });

const anyInput = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 600 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 400 }).map(enc), weight: 1 },
  { arbitrary: fc.string({ unit: fc.constantFrom(...'[{-: \n"\'&*!#a1'.split('')), maxLength: 400 }).map(enc), weight: 1 },
  {
    // Real route files with random edits: the inputs most like a user's typo.
    arbitrary: fc.tuple(fc.constantFrom(...examples), fc.array(edit, { minLength: 1, maxLength: 6 })).map(([text, edits]) => {
      let t = text;
      for (const e of edits) {
        const at = e.at % (t.length + 1);
        t = t.slice(0, at) + e.ins + t.slice(at + e.del);
      }
      return enc(t);
    }),
    weight: 4,
  },
  {
    // Any JSON-ish value as a YAML document, alone or inside a route document's skeleton.
    arbitrary: fc.tuple(fc.anything({ maxDepth: 4 }), fc.anything({ maxDepth: 3 }), fc.anything({ maxDepth: 3 })).map(([a, b, c]) => {
      const doc = { apiVersion: 'rauta.io/v1', kind: 'RoutingRule', metadata: { name: b }, spec: { match: { method: 'GET', path: c }, backends: [a] } };
      try {
        return enc(`${stringify(a)}---\n${stringify(doc)}`);
      } catch {
        return enc(String(a));
      }
    }),
    weight: 2,
  },
);

test('no input makes parseRouteFile or validateRouteSet throw; every issue points into the file', () => {
  fc.assert(
    fc.property(fc.array(anyInput, { minLength: 1, maxLength: 3 }), (inputs) => {
      const parsed = inputs.map((bytes, i) => checkParse(`f${i}.yaml`, bytes));
      const set = validateRouteSet(parsed);
      for (const i of set.issues) assert.ok(i.line >= 1 && i.col >= 1);
      if (set.issues.length === 0) {
        // A set that validates must also survive its own emit -> parse.
        const again = validateRouteSet([
          parseRouteFile('again.yaml', enc(emitRouteFile([...set.listeners.map(listenerToDocument), ...set.routes.map(routeToDocument)]))),
        ]);
        assert.deepEqual(again.issues, []);
        assert.equal(again.routes.length, set.routes.length);
      }
    }),
    { numRuns: Number(process.env.RAUTA_FUZZ_RUNS ?? 1500) },
  );
});
