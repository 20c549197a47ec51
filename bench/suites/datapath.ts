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
import { rmSync } from 'node:fs';
import { buildFrame } from '../../src/dataplane/packet.js';
import { loadRauta, unpin } from '../../src/dataplane/program.js';
import { loadObject, TC_ACT, testRun, XDP } from '../../src/dataplane/libbpf.js';
import { RAUTA_MAGLEV_SIZE } from '../../src/model/codecs.js';
import { routeKeyOf } from '../../src/model/ids.js';
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

await runSuite('datapath', async (s) => {
  const repeat = 1_000_000;
  const runs = s.size(7, 3, 1);
  const singles = s.size(20_000, 5_000, 200);
  const pinDir = s.pinDir('dp');
  const prog = loadRauta({ pinDir, logLevel: 4 });
  const floor = loadObject(new URL('../../bpf/pass.bpf.o', import.meta.url).pathname);
  const floorFd = floor.progs.xdp_pass!;
  try {
    const insns = /processed (\d+) insns/.exec(prog.verifierLog)?.[1];
    const m = prog.typed;
    m.listeners.set({ addr: VIP, port: 80 }, 0);
    m.nexthops.set(BACKEND, { mac: MAC });
    const key = routeKeyOf('GET', '/api/users');
    m.routes.set(key, { backends: [{ ip: BACKEND, port: 8080, weight: 1 }], gen: 1 });
    m.routeShapes.set(0, [{ prefixes: 0, exact: true, methods: 1 }, { prefixes: 0, exact: false, methods: 0 }, { prefixes: 0, exact: false, methods: 0 }]); // what a plan writes for exact routes
    m.maglevTables.set({ route: key, gen: 1 }, new Uint8Array(RAUTA_MAGLEV_SIZE));

    // The established flow: client 10.0.0.1:40000 -> VIP:80, spliced to the VIP itself (idempotent rewrite).
    const est: FlowKey = { srcIp: CLIENT, dstIp: VIP, srcPort: 40000, dstPort: 80, proto: 6 };
    const clientSide: FlowValue = {
      side: FlowSide.CLIENT, state: FlowState.ESTABLISHED, reply: FlowReply.NONE, flags: 0, seqDelta: 0, peerIp: VIP, peerPort: 80, peerMac: MAC,
      route: key, gen: 1, backendIdx: 0, clientIsn: 1000, cookie: 5000, clientFinEnd: 0, backendFinEnd: 0, clientMac: MAC, clientWscale: 0, backendWscale: 0, synRetries: 0, changedNs: 0n,
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
      { name: 'established, client -> backend, ACK', fd: prog.progFd, frame: frames.toBackendAck, verdict: XDP.TX, counter: 'TO_BACKEND', goal: ESTABLISHED_GOAL, samples: [] },
      { name: 'established, client -> backend, 100 B data', fd: prog.progFd, frame: frames.toBackendData, verdict: XDP.TX, counter: 'TO_BACKEND', goal: ESTABLISHED_GOAL, samples: [] },
      { name: 'established, backend -> client, 100 B data', fd: prog.progFd, frame: frames.toClient, verdict: XDP.TX, counter: 'TO_CLIENT', goal: ESTABLISHED_GOAL, samples: [] },
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
    s.row({ name: `${bulk[0]!.name} (repeat 1e6, median of ${runs})`, value: floorNs, unit: 'ns/pkt', baseline: floorBase, note: insns ? `rauta.bpf.o verifier: ${insns} insns processed (rauta_xdp)` : undefined });
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
    const first = (path: string) =>
      buildFrame({ srcIp: CLIENT, dstIp: VIP, srcPort: 41000, dstPort: 80, seq: 7001, ack: (cookie + 1) >>> 0, payload: `GET ${path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n` });
    const routedFirst = first('/api/users');
    const unknownFirst = first('/nope');
    const backendSynAck = buildFrame({ srcIp: BACKEND, dstIp: CLIENT, srcPort: 8080, dstPort: 41000, seq: 90000, ack: 7001, tcpFlags: F.SYN | F.ACK, tcpOptions: MSS });

    const floor1 = single('floor', floorFd, () => frames.nonIpv4, XDP.PASS, null);
    const synNs = single('SYN', prog.progFd, () => syn, XDP.TX, 'SYN_COOKIE');
    const openNs = single('first segment', prog.progFd, () => routedFirst, XDP.TX, 'ROUTED', () => forgetFlow(m, opener));
    // The TC step: the flow as the first segment left it (SYN_SENT, request saved), then the backend's SYN-ACK.
    testRun(prog.progFd, routedFirst);
    const backendSide: FlowKey = { srcIp: BACKEND, dstIp: CLIENT, srcPort: 8080, dstPort: 41000, proto: 6 };
    const opened = m.flowCache.get(opener)!;
    const openedBackend = m.flowCache.get(backendSide)!;
    const saved = m.requests.get(opener)!;
    const tcNs = single('TC step', prog.tcProgFd, () => Buffer.from(backendSynAck), TC_ACT.REDIRECT, 'BACKEND_ACK', () => {
      m.flowCache.set(opener, opened);
      m.flowCache.set(backendSide, openedBackend);
      m.requests.set(opener, saved);
    });
    const replyNs = single('404', prog.progFd, () => unknownFirst, XDP.TX, 'REPLY_NO_ROUTE', () => forgetFlow(m, opener));
    forgetFlow(m, opener);

    const floor1Base = { name: 'pass.bpf.o, repeat=1 calls', value: floor1 };
    const how = `mean of ${singles.toLocaleString('en-US')} repeat=1 calls, median of ${runs}`;
    const overhead = Math.max(0, floor1 - floorNs);
    const net = (v: number) => `≈ ${(v - overhead).toFixed(0)} ns net of the ${overhead.toFixed(0)} ns per-call overhead (floor repeat=1 minus floor repeat 1e6)`;
    s.row({ name: `pass.bpf.o floor (${how})`, value: floor1, unit: 'ns/pkt', baseline: floor1Base });
    s.row({ name: 'SYN answered with a SYN-cookie SYN-ACK (repeat=1)', value: synNs, unit: 'ns/pkt', baseline: floor1Base, note: net(synNs) });
    s.row({ name: 'first segment routed: request saved, SYN to the backend (repeat=1, flow removed before each)', value: openNs, unit: 'ns/pkt', baseline: floor1Base, note: net(openNs) });
    s.row({ name: 'TC: backend SYN-ACK -> ACK + 84 B request (repeat=1, flow reset before each)', value: tcNs, unit: 'ns/pkt', baseline: floor1Base, note: `${net(tcNs)}; the TC program runs on an skb, the floor on an XDP frame` });
    s.row({ name: 'first segment without a route: 404 built in place (repeat=1)', value: replyNs, unit: 'ns/pkt', baseline: floor1Base, note: net(replyNs) });
  } finally {
    prog.close();
    floor.close();
    unpin(pinDir);
    rmSync(pinDir, { recursive: true, force: true });
  }
}, ['bpf']);
