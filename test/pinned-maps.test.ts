// Pinned maps: a restart reuses them (entries survive), a map the plan writes
// pinned with an older layout (an upgrade) is replaced empty and the load asks
// for a rebuild before attach, another max_entries is refused with
// RAUTA_ERR_BPF_MAP_MISMATCH and nothing changes, a runtime map (connections,
// counters) of an older layout is replaced, and other processes can open programs and maps by path without
// loading anything.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needBpf } from '../testbed/bpf-env.js';
import { loadRauta, openPinned, unpin, MAP_NAMES, PROG_PIN, TC_PROG_PIN } from '../src/dataplane/program.js';
import { forgetFlow, probeConnection } from '../src/dataplane/connection-probe.js';
import { BPF_EXIST, BPF_MAP_TYPE, BPF_NOEXIST, closeFd, createMap, mapInfo, objGet, objPin, mapUpdate } from '../src/dataplane/libbpf.js';
import { flowValueCodec, RAUTA_MAGLEV_SIZE, routeKeyCodec } from '../src/model/codecs.js';
import { everyShape } from '../src/model/route-shapes.js';
import { routeKeyOf } from '../src/model/ids.js';
import { BpfError, RautaError } from '../src/errors.js';

let seq = 0;
function pinDirFor(t: TestContext): string {
  const dir = `/sys/fs/bpf/rauta-test-pin-${process.pid}-${seq++}`;
  t.after(() => {
    unpin(dir);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const isMismatch = (field: RegExp) => (err: unknown) => err instanceof BpfError && err.code === 'RAUTA_ERR_BPF_MAP_MISMATCH' && field.test(err.message);

test('an upgrade: desired-state maps pinned with an older layout are replaced empty, and the load says to rebuild before attaching', (t) => {
  if (!needBpf(t)) return;
  const dir = pinDirFor(t);
  // First start: a valid load leaves pins; then swap in what an older rauta left:
  // a 16-byte route key (before host and prefix matching), a 6-byte nexthop, an LRU listeners map.
  loadRauta({ pinDir: dir }).close();
  for (const name of ['routes', 'nexthops', 'listeners']) rmSync(join(dir, name));
  const routes = createMap(BPF_MAP_TYPE.HASH, 'routes', 16, 264, 4096);
  const nh = createMap(BPF_MAP_TYPE.HASH, 'nexthops', 4, 6, 4096);
  const lst = createMap(BPF_MAP_TYPE.LRU_HASH, 'listeners', 8, 4, 256);
  t.after(() => [routes, nh, lst].forEach(closeFd));
  mapUpdate(routes, Buffer.alloc(16, 1), Buffer.alloc(264, 7));
  objPin(routes, join(dir, 'routes'));
  objPin(nh, join(dir, 'nexthops'));
  objPin(lst, join(dir, 'listeners'));

  const prog = loadRauta({ pinDir: dir });
  t.after(() => prog.close());
  assert.equal(prog.rebuild, true, 'a desired-state map was replaced: the caller writes the full state before attaching');
  assert.deepEqual(prog.replaced.map((r) => r.name).sort(), ['listeners', 'nexthops', 'routes']);
  assert.match(prog.replaced.find((r) => r.name === 'routes')!.diffs, new RegExp(`keySize expected ${routeKeyCodec.size}, found 16`));
  assert.match(prog.replaced.find((r) => r.name === 'listeners')!.diffs, /type expected hash \(1\), found lru_hash \(9\)/);
  assert.match(prog.replaced.find((r) => r.name === 'nexthops')!.diffs, /valueSize expected 8, found 6/);
  assert.deepEqual([...prog.typed.routes.keys()], [], 'the new routes map starts empty');
  const pinned = objGet(join(dir, 'routes'));
  t.after(() => closeFd(pinned));
  assert.equal(mapInfo(pinned).keySize, routeKeyCodec.size, 'the pin now holds the new layout');

  const again = loadRauta({ pinDir: dir });
  t.after(() => again.close());
  assert.equal(again.rebuild, false, 'the next start reuses the new maps');
});

test('a pinned map with another max_entries (a capacity setting) is refused and nothing changes', (t) => {
  if (!needBpf(t)) return;
  const dir = pinDirFor(t);
  mkdirSync(dir, { recursive: true });
  const fd = createMap(BPF_MAP_TYPE.HASH, 'routes', 8, 264, 100);
  t.after(() => closeFd(fd));
  mapUpdate(fd, Buffer.alloc(8, 1), Buffer.alloc(264, 7));
  objPin(fd, join(dir, 'routes'));
  const before = mapInfo(fd);
  assert.throws(
    () => loadRauta({ pinDir: dir }),
    isMismatch(new RegExp(`routes.*keySize expected ${routeKeyCodec.size}, found 8; .*maxEntries expected 4096, found 100`)),
    'both differences named',
  );
  assert.deepEqual(readdirSync(dir), ['routes'], 'no other map and no program was pinned');
  const again = objGet(join(dir, 'routes'));
  t.after(() => closeFd(again));
  assert.deepEqual(mapInfo(again), before, 'the pinned map is the same map (same id, same layout)');

  unpin(dir);
  loadRauta({ pinDir: dir }).close();
  assert.throws(
    () => loadRauta({ pinDir: dir, maxEntries: { routes: 100 } }),
    isMismatch(/routes.*maxEntries expected 100, found 4096/),
    'max entries mismatch',
  );
  assert.deepEqual(readdirSync(dir).sort(), [...MAP_NAMES, PROG_PIN, TC_PROG_PIN].sort(), 'the valid pins are still all there');
});

test('runtime maps pinned with an older layout (connections, counters) are replaced; the routes stay', (t) => {
  if (!needBpf(t)) return;
  const dir = pinDirFor(t);
  const first = loadRauta({ pinDir: dir });
  const key = routeKeyOf('GET', '/kept');
  first.typed.routes.set(key, { backends: [{ ip: '10.1.0.1', port: 8080, weight: 1 }], gen: 3 });
  first.close();
  // What an older rauta left: a 24-byte flow value in a plain hash, 15 counters.
  for (const name of ['flow_cache', 'metrics']) rmSync(join(dir, name));
  const oldFlows = createMap(BPF_MAP_TYPE.HASH, 'flow_cache', 16, 24, 65536);
  const oldMetrics = createMap(BPF_MAP_TYPE.PERCPU_ARRAY, 'metrics', 4, 8, 15);
  t.after(() => [oldFlows, oldMetrics].forEach(closeFd));
  objPin(oldFlows, join(dir, 'flow_cache'));
  objPin(oldMetrics, join(dir, 'metrics'));

  const second = loadRauta({ pinDir: dir });
  t.after(() => second.close());
  assert.deepEqual(second.replaced.map((r) => r.name).sort(), ['flow_cache', 'metrics'], 'the two runtime maps were replaced');
  assert.match(
    second.replaced.find((r) => r.name === 'flow_cache')!.diffs,
    new RegExp(`type expected lru_hash \\(9\\), found hash \\(1\\); valueSize expected ${flowValueCodec.size}, found 24`),
  );
  assert.deepEqual(second.typed.routes.get(key)?.gen, 3, 'the routes map was reused with its entry');
  const flows = objGet(join(dir, 'flow_cache'));
  t.after(() => closeFd(flows));
  assert.deepEqual([mapInfo(flows).type, mapInfo(flows).valueSize], [BPF_MAP_TYPE.LRU_HASH, flowValueCodec.size], 'the pin now holds the new layout');
});

test('reloading a valid pin dir reuses the maps: entries survive, packets still route', (t) => {
  if (!needBpf(t)) return;
  const dir = pinDirFor(t);
  const first = loadRauta({ pinDir: dir, maxEntries: { routes: 512 } });
  assert.deepEqual(first.reused, [], 'first load creates every map');
  const key = routeKeyOf('GET', '/kept');
  first.typed.routes.set(key, { backends: [{ ip: '10.1.0.1', port: 8080, weight: 1 }], gen: 3 });
  first.typed.maglevTables.set({ route: key, gen: 3 }, new Uint8Array(RAUTA_MAGLEV_SIZE));
  first.typed.listeners.set({ addr: '10.0.0.100', port: 80 }, 0);
  first.typed.nexthops.set('10.1.0.1', { mac: '02:00:00:00:01:01' });
  first.typed.routeShapes.set(0, everyShape());
  const routesId = mapInfo(first.maps.routes).id;
  first.close();

  const second = loadRauta({ pinDir: dir, maxEntries: { routes: 512 } });
  t.after(() => second.close());
  assert.deepEqual([...second.reused].sort(), [...MAP_NAMES].sort(), 'every map reused');
  assert.equal(mapInfo(second.maps.routes).id, routesId, 'ROUTES is the same kernel map');
  assert.deepEqual(
    second.typed.routes.get(key),
    { backends: [{ ip: '10.1.0.1', port: 8080, weight: 1 }], gen: 3 },
    'the route written before the reload survives',
  );
  const connect = (prog: typeof second, port: number) => {
    const run = probeConnection(prog.progFd, prog.typed, {
      client: { ip: '10.0.0.1', port },
      listener: { ip: '10.0.0.100', port: 80 },
      payload: 'GET /kept HTTP/1.1\r\n\r\n',
    });
    forgetFlow(prog.typed, run.flowKey);
    return run.outcome.kind;
  };
  assert.equal(connect(second, 40001), 'backend', 'the reloaded program routes with the kept maps');

  // Another process's view: open by path, no load.
  const pinned = openPinned(dir);
  t.after(() => pinned.close());
  assert.equal(pinned.typed.routes.get(key)?.gen, 3, 'openPinned sees the route');
  assert.equal(connect(pinned, 40002), 'backend', 'the pinned program runs');
  assert.ok(pinned.typed.readMetrics().ROUTED >= 2, 'metrics are shared through the pins');
});

test('a pin dir outside bpffs is refused with what to do', (t) => {
  if (!needBpf(t)) return;
  assert.throws(
    () => loadRauta({ pinDir: `/tmp/rauta-not-bpffs-${process.pid}` }),
    (err: unknown) => err instanceof RautaError && err.code === 'RAUTA_ERR_BPF_NO_BPFFS' && /mount -t bpf/.test(err.message),
  );
  assert.ok(!existsSync(`/tmp/rauta-not-bpffs-${process.pid}`), 'nothing was created');
});

test('raw and typed map ops: batch update, iterate, flags, delete, byte-identical restore', (t) => {
  if (!needBpf(t)) return;
  const dir = pinDirFor(t);
  const prog = loadRauta({ pinDir: dir });
  t.after(() => prog.close());
  const routes = prog.typed.routes;
  const entries = Array.from({ length: 100 }, (_, i) => {
    const k = routeKeyOf('GET', `/r${i}`);
    return [routes.keyCodec.encode(k), routes.valueCodec.encode({ backends: [{ ip: `10.2.0.${i}`, port: 1000 + i, weight: i + 1 }], gen: i })] as [
      Buffer,
      Buffer,
    ];
  });
  routes.raw.setManyRaw(entries);
  assert.equal([...routes.keys()].length, 100, 'batch update wrote 100 routes');
  assert.deepEqual(routes.get(routeKeyOf('GET', '/r42')), { backends: [{ ip: '10.2.0.42', port: 1042, weight: 43 }], gen: 42 });
  const decoded = new Map([...routes.entries()].map(([k, v]) => [k.pathHash, v.gen]));
  assert.equal(decoded.get(routeKeyOf('GET', '/r7').pathHash), 7, 'entries() decodes keys and values');

  const k0 = entries[0]![0];
  const saved = routes.raw.getRaw(k0)!;
  assert.throws(
    () => routes.raw.setRaw(k0, saved, BPF_NOEXIST),
    (e: unknown) => e instanceof BpfError && e.errno === 17,
    'NOEXIST on an existing key: EEXIST kept as errno',
  );
  assert.throws(
    () => routes.raw.setRaw(Buffer.alloc(routeKeyCodec.size, 9), saved, BPF_EXIST),
    (e: unknown) => e instanceof BpfError && e.errno === 2,
    'EXIST on a missing key: ENOENT',
  );
  routes.set(routeKeyOf('GET', '/r0'), { backends: [], gen: 99 });
  routes.raw.setRaw(k0, saved); // what a rollback does
  assert.ok(routes.raw.getRaw(k0)!.equals(saved), 'restored byte-identical');
  assert.equal(routes.delete(routeKeyOf('GET', '/r0')), true, 'delete of a present key');
  assert.equal(routes.delete(routeKeyOf('GET', '/r0')), false, 'delete of an absent key returns false');
  assert.equal(routes.get(routeKeyOf('GET', '/r0')), null, 'get of an absent key returns null');
});

test('a program the verifier rejects: RAUTA_ERR_BPF_LOAD carrying the verifier log', (t) => {
  if (!needBpf(t)) return;
  const tmp = mkdtempSync(join(tmpdir(), 'rauta-bad-bpf-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  // Reads packet memory without a bounds check: the verifier must refuse it.
  writeFileSync(
    join(tmp, 'bad.bpf.c'),
    [
      '#include <linux/bpf.h>',
      '#include <bpf/bpf_helpers.h>',
      'SEC("xdp") int bad(struct xdp_md *ctx) { unsigned char *p = (void *)(long)ctx->data; return p[100] ? XDP_PASS : XDP_DROP; }',
      'char LICENSE[] SEC("license") = "GPL";',
    ].join('\n'),
  );
  execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu', '-c', join(tmp, 'bad.bpf.c'), '-o', join(tmp, 'bad.bpf.o')]);
  assert.throws(
    () => loadRauta({ pinDir: pinDirFor(t), objectPath: join(tmp, 'bad.bpf.o') }),
    (err: unknown) => err instanceof BpfError && err.code === 'RAUTA_ERR_BPF_LOAD' && /invalid access to packet/.test(err.message),
    'the error carries the verifier log line that explains the refusal',
  );
});
