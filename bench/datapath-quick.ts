// Quick data-path numbers under BPF_PROG_TEST_RUN, beside the XDP_PASS floor
// (bpf/pass.bpf.o) in the same run. Run as root: npx tsx bench/datapath-quick.ts [repeat]
//
// Note on method: with repeat > 1 the kernel runs the program again on the SAME
// buffer, so a routed frame is already rewritten on the second run. The routed
// case therefore routes the VIP to a backend with the VIP's own address and port:
// the rewrite is then idempotent after the first run and every repeat takes the
// full routed path (parse, route, flow-cache hit, nexthop, rewrite, XDP_TX).
// A flow-cache MISS cannot be forced on every repeat (the first run records the
// flow), so misses are measured with repeat=1 calls, deleting the flow entry
// before each call; the same repeat=1 method is shown for a hit and for the
// floor, so the per-call timer overhead is visible and comparable.
import { rmSync } from 'node:fs';
import { buildFrame } from '../test/helpers/packet.js';
import { loadRauta, unpin } from '../src/dataplane/program.js';
import { loadObject, testRun, XDP } from '../src/dataplane/libbpf.js';
import { RAUTA_MAGLEV_SIZE, routeKeyOf } from '../src/dataplane/codecs.js';

const repeat = Number(process.argv[2] ?? 1_000_000);
const singles = Number(process.argv[3] ?? 20_000);
const pinDir = `/sys/fs/bpf/rauta-bench-${process.pid}`;
const VIP = '10.0.0.100';

const prog = loadRauta({ pinDir, logLevel: 4 });
const floor = loadObject(new URL('../bpf/pass.bpf.o', import.meta.url).pathname);
try {
  const stats = /processed (\d+) insns.*/.exec(prog.verifierLog)?.[0] ?? '(no stats)';
  const vtime = /verification time (\d+) usec/.exec(prog.verifierLog)?.[1] ?? '?';
  console.log(`verifier: ${stats}; verification time ${vtime} us`);

  const m = prog.typed;
  m.listeners.set({ addr: VIP, port: 80 }, 0);
  m.nexthops.set(VIP, { mac: '02:00:00:00:00:02' });
  const key = routeKeyOf('GET', '/api/users');
  m.routes.set(key, { backends: [{ ip: VIP, port: 80, weight: 1 }], gen: 1 });
  m.maglevTables.set({ route: key, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE));

  const get = buildFrame({ dstMac: '02:00:00:00:00:02', srcMac: '02:00:00:00:00:02', payload: 'GET /api/users HTTP/1.1\r\nHost: bench\r\n\r\n' });
  const unknown = buildFrame({ payload: 'GET /nope HTTP/1.1\r\nHost: bench\r\n\r\n' });
  const flowKey = { srcIp: '10.0.0.1', dstIp: VIP, srcPort: 40000, dstPort: 80, proto: 6 };

  const rows: Array<[string, number, string]> = [];
  const bulk = (name: string, fd: number, frame: Buffer, want: number) => {
    testRun(fd, frame, 1000); // warm up
    const before = m.readMetrics();
    const r = testRun(fd, frame, repeat);
    if (r.retval !== want) throw new Error(`${name}: verdict ${r.retval}, expected ${want}`);
    const after = m.readMetrics();
    const note = fd === prog.progFd ? `ROUTED +${after.ROUTED - before.ROUTED}, FLOW_HIT +${after.FLOW_HIT - before.FLOW_HIT}, NO_ROUTE +${after.PASS_NO_ROUTE - before.PASS_NO_ROUTE}` : '';
    rows.push([`${name} (repeat ${repeat})`, r.durationNs, note]);
  };
  bulk('routed GET, flow-cache hit', prog.progFd, get, XDP.TX);
  bulk('unknown path (NO_ROUTE pass)', prog.progFd, unknown, XDP.PASS);
  bulk('pass.bpf.o floor', floor.progFd, unknown, XDP.PASS);

  const single = (name: string, fd: number, frame: Buffer, before?: () => void) => {
    let total = 0;
    for (let i = 0; i < singles; i++) {
      before?.();
      total += testRun(fd, frame, 1).durationNs;
    }
    rows.push([`${name} (repeat 1 x ${singles})`, total / singles, '']);
  };
  single('routed GET, flow-cache miss', prog.progFd, get, () => m.flowCache.delete(flowKey));
  single('routed GET, flow-cache hit', prog.progFd, get);
  single('pass.bpf.o floor', floor.progFd, unknown);

  const width = Math.max(...rows.map(([n]) => n.length));
  for (const [name, ns, note] of rows) console.log(`${name.padEnd(width)}  ${ns.toFixed(1).padStart(8)} ns/packet  ${note}`);
} finally {
  prog.close();
  floor.close();
  unpin(pinDir);
  rmSync(pinDir, { recursive: true, force: true });
}
