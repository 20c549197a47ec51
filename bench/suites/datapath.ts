// Suite 1, data path: ns/packet under BPF_PROG_TEST_RUN for each step of a
// connection, beside the empty XDP_PASS program (bpf/pass.bpf.o, the floor)
// measured the same way in the same run, interleaved run by run.
//
// With repeat > 1 the kernel runs the program again on the SAME buffer, so a
// translated segment is already rewritten on the second run. The established
// cases therefore use a flow whose backend is the VIP itself with a sequence
// delta of 0 and one MAC everywhere: the translation is then idempotent and
// every repeat takes the whole path (parse, listener, flow lookup, rewrite,
// checksums, XDP_TX). Steps that change state (a SYN answered, a connection
// opened, the TC step, a 404) cannot repeat in-kernel: they are repeat=1
// calls with the state reset before each, beside the floor measured the same
// way. Each case checks its verdict and its METRICS counter, so a number
// never comes from the wrong path.
//
// Issue 14's rows: a first segment matched by an exact path, a 5-deep prefix
// and an exact host + prefix, in one route set with every kind of key (exact
// paths, prefixes of depths 1 to 8, exact and wildcard hosts) and ROUTE_SHAPES
// as a plan writes it, so each lookup walks the candidates that precedence
// puts before its match. Each checks the rule its flow recorded.
import { rmSync } from 'node:fs';
import { buildFrame } from '../../src/dataplane/packet.js';
import { loadRauta, unpin } from '../../src/dataplane/program.js';
import { loadObject, progVerifiedInsns, TC_ACT, testRun, XDP } from '../../src/dataplane/libbpf.js';
import { RAUTA_MAGLEV_SIZE } from '../../src/model/codecs.js';
import { routeKeyFor, routeKeyId, routeKeyOf, type RouteMatch } from '../../src/model/ids.js';
import { shapeOf, ShapeCounts } from '../../src/model/route-shapes.js';
import { forgetFlow } from '../../src/dataplane/connection-probe.js';
import { FlowReply, FlowSide, FlowState, type FlowKey, type FlowValue } from '../../src/model/map-types.js';
import type { MetricName } from '../../src/model/metrics.js';
import { median } from '../lib/stats.js';
import { runSuite } from '../lib/suite.js';

const VIP = '10.0.0.100';
const CLIENT = '10.0.0.1';
const MAC = '02:00:00:00:00:02';
const BACKEND = '10.1.0.1';
const ESTABLISHED_GOAL = { max: 60, text: '< 60 ns' };
const F = { SYN: 0x02, PSH: 0x08, ACK: 0x10 } as const;
const MSS = Uint8Array.from([2, 4, 5, 0xb4]);
/** BPF_COMPLEXITY_LIMIT_INSNS: the most instructions the verifier processes before it refuses a program. */
const VERIFIER_LIMIT = 1_000_000;

// Issue 14's route set: what each of its rows matches, and the rules that sit
// before it in precedence (each lookup walks them first).
const PREFIX_5: RouteMatch = { path: '/a/b/c/d/e', pathType: 'PathPrefix' };
const SHOP_PREFIX: RouteMatch = { host: 'shop.example.com', path: '/shop/items', pathType: 'PathPrefix' };
const EXACT_GET: RouteMatch = { method: 'GET', path: '/api/users' };
const MIXED_ROUTES: RouteMatch[] = [
  EXACT_GET,
  { method: 'POST', path: '/api/users' },
  // prefixes of every depth 1..8 ("/a" .. "/a/b/c/d/e", then three under /p)
  ...['/a', '/a/b', '/a/b/c', '/a/b/c/d', '/p/1/2/3/4/5', '/p/1/2/3/4/5/6', '/p/1/2/3/4/5/6/7'].map((path): RouteMatch => ({ path, pathType: 'PathPrefix' })),
  PREFIX_5,
  { host: 'shop.example.com', path: '/cart' },
  { host: 'shop.example.com', path: '/', pathType: 'PathPrefix' },
  SHOP_PREFIX,
  { host: '*.example.com', path: '/', pathType: 'PathPrefix' },
  { host: '*.example.com', path: '/static/', pathType: 'PathPrefix' },
];

await runSuite(
  'datapath',
  async (s) => {
    const repeat = 1_000_000;
    const runs = s.size(7, 3, 1);
    const singles = s.size(20_000, 5_000, 200);
    const pinDir = s.pinDir('dp');
    const prog = loadRauta({ pinDir });
    const floor = loadObject(new URL('../../bpf/pass.bpf.o', import.meta.url).pathname);
    const floorFd = floor.progs.xdp_pass!;
    try {
      const m = prog.typed;
      m.listeners.set({ addr: VIP, port: 80 }, 0);
      m.nexthops.set(BACKEND, { mac: MAC });
      const key = routeKeyOf('GET', '/api/users');
      m.routes.set(key, { backends: [{ ip: BACKEND, port: 8080, weight: 1 }], gen: 1 });
      m.routeShapes.set(0, [
        { prefixes: 0, exact: true, methods: 1 },
        { prefixes: 0, exact: false, methods: 0 },
        { prefixes: 0, exact: false, methods: 0 },
      ]); // what a plan writes for exact routes
      m.maglevTables.set({ route: key, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE));

      // The established flow: client 10.0.0.1:40000 -> VIP:80, spliced to the VIP itself (idempotent rewrite).
      const est: FlowKey = { srcIp: CLIENT, dstIp: VIP, srcPort: 40000, dstPort: 80, proto: 6 };
      const clientSide: FlowValue = {
        side: FlowSide.CLIENT,
        state: FlowState.ESTABLISHED,
        reply: FlowReply.NONE,
        flags: 0,
        seqDelta: 0,
        peerIp: VIP,
        peerPort: 80,
        peerMac: MAC,
        route: key,
        gen: 1,
        backendIdx: 0,
        clientIsn: 1000,
        cookie: 5000,
        clientFinEnd: 0,
        backendFinEnd: 0,
        clientMac: MAC,
        clientWscale: 0,
        backendWscale: 0,
        synRetries: 0,
        changedNs: 0n,
      };
      m.flowCache.set(est, clientSide);
      // Its backend side: backend (the VIP itself) -> client, translated to VIP:80 -> client.
      m.flowCache.set({ srcIp: VIP, dstIp: CLIENT, srcPort: 80, dstPort: 40000, proto: 6 }, { ...clientSide, side: FlowSide.BACKEND });

      const body = 'x'.repeat(100);
      const frames = {
        toBackendAck: buildFrame({ srcMac: MAC, dstMac: MAC, srcIp: CLIENT, dstIp: VIP, srcPort: 40000, dstPort: 80, tcpFlags: F.ACK, payload: '' }),
        toBackendData: buildFrame({ srcMac: MAC, dstMac: MAC, srcIp: CLIENT, dstIp: VIP, srcPort: 40000, dstPort: 80, payload: body }),
        toClient: buildFrame({ srcMac: MAC, dstMac: MAC, srcIp: VIP, dstIp: CLIENT, srcPort: 80, dstPort: 40000, payload: body }),
        otherTcp: buildFrame({ srcIp: CLIENT, dstIp: VIP, dstPort: 22, payload: body }),
        nonIpv4: buildFrame({ etherType: 0x86dd, payload: body }),
      };

      interface Case {
        name: string;
        fd: number;
        frame: Buffer;
        verdict: number;
        counter: MetricName | null;
        goal?: typeof ESTABLISHED_GOAL;
        samples: number[];
      }
      const bulk: Case[] = [
        { name: 'pass.bpf.o floor', fd: floorFd, frame: frames.nonIpv4, verdict: XDP.PASS, counter: null, samples: [] },
        {
          name: 'established, client -> backend, ACK',
          fd: prog.progFd,
          frame: frames.toBackendAck,
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          goal: ESTABLISHED_GOAL,
          samples: [],
        },
        {
          name: 'established, client -> backend, 100 B data',
          fd: prog.progFd,
          frame: frames.toBackendData,
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          goal: ESTABLISHED_GOAL,
          samples: [],
        },
        {
          name: 'established, backend -> client, 100 B data',
          fd: prog.progFd,
          frame: frames.toClient,
          verdict: XDP.TX,
          counter: 'TO_CLIENT',
          goal: ESTABLISHED_GOAL,
          samples: [],
        },
        { name: 'TCP to another port (pass)', fd: prog.progFd, frame: frames.otherTcp, verdict: XDP.PASS, counter: 'PASS_NOT_LISTENER', samples: [] },
        { name: 'non-IPv4 frame (pass)', fd: prog.progFd, frame: frames.nonIpv4, verdict: XDP.PASS, counter: 'PASS_NOT_IPV4', samples: [] },
      ];
      for (const c of bulk) testRun(c.fd, c.frame, 10_000); // warm caches
      for (let r = 0; r < runs; r++) {
        for (const c of bulk) {
          const before = m.readMetrics();
          const res = testRun(c.fd, c.frame, repeat);
          if (res.retval !== c.verdict) throw new Error(`${c.name}: verdict ${res.retval}, expected ${c.verdict}`);
          if (c.counter) {
            const got = m.readMetrics()[c.counter] - before[c.counter];
            if (got !== repeat) throw new Error(`${c.name}: ${c.counter} counted ${got} of ${repeat} runs: the case does not take the path it names`);
          }
          c.samples.push(res.durationNs);
        }
      }
      const floorNs = median(bulk[0]!.samples);
      const floorBase = { name: `pass.bpf.o, repeat ${repeat.toLocaleString('en-US')}`, value: floorNs };
      s.row({ name: `${bulk[0]!.name} (repeat 1e6, median of ${runs})`, value: floorNs, unit: 'ns/pkt', baseline: floorBase });
      for (const c of bulk.slice(1)) {
        s.row({ name: `${c.name} (repeat 1e6, median of ${runs})`, value: median(c.samples), unit: 'ns/pkt', baseline: floorBase, goal: c.goal ?? null });
      }

      // repeat=1 calls: steps that change state, each with its state reset before the call.
      const single = (what: string, fd: number, frame: () => Buffer, verdict: number, counter: MetricName | null, before?: () => void): number => {
        const perRun: number[] = [];
        const m0 = m.readMetrics();
        for (let r = 0; r < runs; r++) {
          let total = 0;
          for (let i = 0; i < singles; i++) {
            before?.();
            const res = testRun(fd, frame(), 1);
            if (res.retval !== verdict) throw new Error(`${what}: verdict ${res.retval}, expected ${verdict}`);
            total += res.durationNs;
          }
          perRun.push(total / singles);
        }
        if (counter) {
          const got = m.readMetrics()[counter] - m0[counter];
          if (got !== runs * singles) throw new Error(`${what}: ${counter} counted ${got} of ${runs * singles}`);
        }
        return median(perRun);
      };

      // A real cookie for the client 10.0.0.1:41000, for the first-segment cases.
      const opener: FlowKey = { srcIp: CLIENT, dstIp: VIP, srcPort: 41000, dstPort: 80, proto: 6 };
      const syn = buildFrame({ srcIp: CLIENT, dstIp: VIP, srcPort: 41000, dstPort: 80, seq: 7000, ack: 0, tcpFlags: F.SYN, tcpOptions: MSS });
      const synAck = testRun(prog.progFd, syn);
      const cookie = synAck.dataOut.readUInt32BE(14 + 20 + 4);
      const first = (path: string, host = 'bench') =>
        buildFrame({
          srcIp: CLIENT,
          dstIp: VIP,
          srcPort: 41000,
          dstPort: 80,
          seq: 7001,
          ack: (cookie + 1) >>> 0,
          payload: `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`,
        });
      const routedFirst = first('/api/users');
      const unknownFirst = first('/nope');
      const backendSynAck = buildFrame({
        srcIp: BACKEND,
        dstIp: CLIENT,
        srcPort: 8080,
        dstPort: 41000,
        seq: 90000,
        ack: 7001,
        tcpFlags: F.SYN | F.ACK,
        tcpOptions: MSS,
      });

      const floor1 = single('floor', floorFd, () => frames.nonIpv4, XDP.PASS, null);
      const synNs = single('SYN', prog.progFd, () => syn, XDP.TX, 'SYN_COOKIE');
      const openNs = single(
        'first segment',
        prog.progFd,
        () => routedFirst,
        XDP.TX,
        'ROUTED',
        () => forgetFlow(m, opener),
      );
      // The TC step: the flow as the first segment left it (SYN_SENT, request saved), then the backend's SYN-ACK.
      testRun(prog.progFd, routedFirst);
      const backendSide: FlowKey = { srcIp: BACKEND, dstIp: CLIENT, srcPort: 8080, dstPort: 41000, proto: 6 };
      const opened = m.flowCache.get(opener)!;
      const openedBackend = m.flowCache.get(backendSide)!;
      const saved = m.requests.get(opener)!;
      const tcNs = single(
        'TC step',
        prog.tcProgFd,
        () => Buffer.from(backendSynAck),
        TC_ACT.REDIRECT,
        'BACKEND_ACK',
        () => {
          m.flowCache.set(opener, opened);
          m.flowCache.set(backendSide, openedBackend);
          m.requests.set(opener, saved);
        },
      );
      const replyNs = single(
        '404',
        prog.progFd,
        () => unknownFirst,
        XDP.TX,
        'REPLY_NO_ROUTE',
        () => forgetFlow(m, opener),
      );
      forgetFlow(m, opener);

      // Issue 14: the mixed route set, its shapes as the plan counts them.
      const shapes = new ShapeCounts();
      for (const r of MIXED_ROUTES) {
        const k = routeKeyFor(r);
        m.routes.set(k, { backends: [{ ip: BACKEND, port: 8080, weight: 1 }], gen: 1 });
        m.maglevTables.set({ route: k, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE));
        shapes.add(shapeOf(k, r.path), 1);
      }
      m.routeShapes.set(0, shapes.shapes());
      /** A routed first segment, after checking once that its flow records the rule it names. */
      const matched = (what: string, frame: Buffer, rule: RouteMatch): number => {
        forgetFlow(m, opener);
        if (testRun(prog.progFd, frame).retval !== XDP.TX) throw new Error(`${what}: not routed`);
        const got = m.flowCache.get(opener)?.route;
        if (!got || routeKeyId(got) !== routeKeyId(routeKeyFor(rule)))
          throw new Error(`${what}: matched ${got ? routeKeyId(got) : 'nothing'}, expected ${JSON.stringify(rule)}`);
        return single(
          what,
          prog.progFd,
          () => frame,
          XDP.TX,
          'ROUTED',
          () => forgetFlow(m, opener),
        );
      };
      const mixedExactNs = matched('exact path', first('/api/users', 'www.other.test'), EXACT_GET);
      const prefixNs = matched('5-deep prefix', first('/a/b/c/d/e/f/g', 'www.other.test'), PREFIX_5);
      const hostNs = matched('host + prefix', first('/shop/items/42', 'shop.example.com'), SHOP_PREFIX);
      forgetFlow(m, opener);

      // The same three matches at bulk precision: a kept-alive request line on the
      // established flow is parsed and matched on every segment (check_keepalive)
      // and the translation stays idempotent, so it repeats in-kernel. The flow
      // records the rule the case names: KEEPALIVE_OTHER_ROUTE stays 0 only if
      // the match found exactly that rule.
      const keptAlive = (path: string, host: string) =>
        buildFrame({
          srcMac: MAC,
          dstMac: MAC,
          srcIp: CLIENT,
          dstIp: VIP,
          srcPort: 40000,
          dstPort: 80,
          payload: `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`,
        });
      const matchCases: Array<Case & { rule: RouteMatch }> = [
        { name: 'pass.bpf.o floor', fd: floorFd, frame: frames.nonIpv4, verdict: XDP.PASS, counter: null, rule: EXACT_GET, samples: [] },
        {
          name: 'established, client -> backend, 100 B data',
          fd: prog.progFd,
          frame: frames.toBackendData,
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          rule: EXACT_GET,
          samples: [],
        },
        {
          name: 'kept-alive request line, exact path (GET /api/users)',
          fd: prog.progFd,
          frame: keptAlive('/api/users', 'www.other.test'),
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          rule: EXACT_GET,
          samples: [],
        },
        {
          name: 'kept-alive request line, 5-deep prefix (GET /a/b/c/d/e/f/g)',
          fd: prog.progFd,
          frame: keptAlive('/a/b/c/d/e/f/g', 'www.other.test'),
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          rule: PREFIX_5,
          samples: [],
        },
        {
          name: 'kept-alive request line, host + prefix (shop.example.com GET /shop/items/42)',
          fd: prog.progFd,
          frame: keptAlive('/shop/items/42', 'shop.example.com'),
          verdict: XDP.TX,
          counter: 'TO_BACKEND',
          rule: SHOP_PREFIX,
          samples: [],
        },
      ];
      for (let r = 0; r < runs; r++) {
        for (const c of matchCases) {
          m.flowCache.set(est, { ...clientSide, route: routeKeyFor(c.rule) });
          const before = m.readMetrics();
          const res = testRun(c.fd, c.frame, repeat);
          if (res.retval !== c.verdict) throw new Error(`${c.name}: verdict ${res.retval}, expected ${c.verdict}`);
          const after = m.readMetrics();
          if (c.counter && after[c.counter] - before[c.counter] !== repeat)
            throw new Error(`${c.name}: ${c.counter} counted ${after[c.counter] - before[c.counter]} of ${repeat} runs`);
          const other = after.KEEPALIVE_OTHER_ROUTE - before.KEEPALIVE_OTHER_ROUTE;
          if (other !== 0) throw new Error(`${c.name}: the request line matched another rule than ${JSON.stringify(c.rule)} (${other} times)`);
          c.samples.push(res.durationNs);
        }
      }
      m.flowCache.set(est, clientSide);

      const floor1Base = { name: 'pass.bpf.o, repeat=1 calls', value: floor1 };
      const how = `mean of ${singles.toLocaleString('en-US')} repeat=1 calls, median of ${runs}`;
      const overhead = Math.max(0, floor1 - floorNs);
      const net = (v: number) =>
        `≈ ${(v - overhead).toFixed(0)} ns net of the ${overhead.toFixed(0)} ns per-call overhead (floor repeat=1 minus floor repeat 1e6)`;
      s.row({ name: `pass.bpf.o floor (${how})`, value: floor1, unit: 'ns/pkt', baseline: floor1Base });
      s.row({ name: 'SYN answered with a SYN-cookie SYN-ACK (repeat=1)', value: synNs, unit: 'ns/pkt', baseline: floor1Base, note: net(synNs) });
      s.row({
        name: 'first segment routed: request saved, SYN to the backend (repeat=1, flow removed before each)',
        value: openNs,
        unit: 'ns/pkt',
        baseline: floor1Base,
        note: net(openNs),
      });
      s.row({
        name: 'TC: backend SYN-ACK -> ACK + 84 B request (repeat=1, flow reset before each)',
        value: tcNs,
        unit: 'ns/pkt',
        baseline: floor1Base,
        note: `${net(tcNs)}; the TC program runs on an skb, the floor on an XDP frame`,
      });
      s.row({ name: 'first segment without a route: 404 built in place (repeat=1)', value: replyNs, unit: 'ns/pkt', baseline: floor1Base, note: net(replyNs) });
      const mixed = `${MIXED_ROUTES.length} rules: exact paths, prefixes of depths 1-8, exact and wildcard hosts`;
      s.row({
        name: `first segment, exact path among ${mixed} (GET /api/users, Host www.other.test; repeat=1)`,
        value: mixedExactNs,
        unit: 'ns/pkt',
        baseline: floor1Base,
        note: `${net(mixedExactNs)}; 6 ROUTES lookups: exact host 3, wildcard 2, then the exact path`,
      });
      s.row({
        name: 'first segment, 5-deep prefix /a/b/c/d/e for GET /a/b/c/d/e/f/g, same rules (repeat=1)',
        value: prefixNs,
        unit: 'ns/pkt',
        baseline: floor1Base,
        note: `${net(prefixNs)}; 13 ROUTES lookups: exact host 3, wildcard 2, exact path 2, depths 7 and 6 2 each, depth 5 2`,
      });
      s.row({
        name: 'first segment, host shop.example.com + prefix /shop/items for GET /shop/items/42, same rules (repeat=1)',
        value: hostNs,
        unit: 'ns/pkt',
        baseline: floor1Base,
        note: `${net(hostNs)}; 2 ROUTES lookups: the exact host's exact path, then its depth-2 prefix`,
      });

      const matchFloor = { name: `pass.bpf.o, repeat ${repeat.toLocaleString('en-US')}, interleaved with these rows`, value: median(matchCases[0]!.samples) };
      const dataNs = median(matchCases[1]!.samples);
      for (const c of matchCases.slice(2)) {
        const v = median(c.samples);
        s.row({
          name: `${c.name}, same rules (repeat 1e6, median of ${runs})`,
          value: v,
          unit: 'ns/pkt',
          baseline: matchFloor,
          note: `≈ ${(v - dataNs).toFixed(0)} ns of request-line parse + route match over an established 100 B data segment (${dataNs.toFixed(0)} ns, same run)`,
        });
      }

      const insns = progVerifiedInsns(prog.progFd);
      const tcInsns = progVerifiedInsns(prog.tcProgFd);
      const limit = { name: 'reference: the kernel verifier limit (BPF_COMPLEXITY_LIMIT_INSNS), not measured', value: VERIFIER_LIMIT };
      if (insns === null)
        s.unavailable('verifier: instructions processed to load rauta_xdp', 'insns', 'the kernel does not report bpf_prog_info.verified_insns (Linux 5.16+)');
      else
        s.row({
          name: 'verifier: instructions processed to load rauta_xdp',
          value: insns,
          unit: 'insns',
          baseline: limit,
          note: `bpf_prog_info.verified_insns; the TC program: ${tcInsns ?? 'n/a'}`,
        });
    } finally {
      prog.close();
      floor.close();
      unpin(pinDir);
      rmSync(pinDir, { recursive: true, force: true });
    }
  },
  ['bpf'],
);
