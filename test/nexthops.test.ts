// Nexthop MACs: the pure choice (own neighbour entry, else the route's gateway,
// else the configured MAC; only the XDP interface counts), the parsers of real
// `ip -j` / /proc/net/arp output, and a real read of a veth's neighbour table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needBpf } from '../testbed/bpf-env.js';
import { ip, uniqueSuffix } from '../testbed/netns.js';
import {
  normalizeMac,
  parseIpNeighJson,
  parseProcNetArp,
  parseRouteGetBatch,
  pickNexthops,
  resolveNexthops,
  type RouteHop,
} from '../src/dataplane/nexthops.js';

const NEIGH = JSON.stringify([
  { dst: '10.0.0.2', dev: 'rauta0', lladdr: '8e:25:4a:f3:4a:b9', state: ['PERMANENT'] },
  { dst: '10.1.3.1', dev: 'rauta0', lladdr: 'AA:BB:CC:00:00:01', state: ['STALE'] },
  { dst: '10.1.3.2', dev: 'rauta0', state: ['FAILED'] },
  { dst: '192.0.2.1', dev: 'eth0', lladdr: '02:fc:00:00:00:05', state: ['REACHABLE'] },
  { dst: 'fd00::1', dev: 'eth0', lladdr: '02:fc:00:00:00:05', state: ['REACHABLE'] },
]);

const ROUTES = new Map<string, RouteHop>([
  ['10.1.3.2', { dst: '10.1.3.2', dev: 'rauta0', gateway: '10.0.0.2' }],
  ['10.1.4.1', { dst: '10.1.4.1', dev: 'rauta0', gateway: '10.0.0.2' }],
  ['10.9.0.1', { dst: '10.9.0.1', dev: 'eth0', gateway: '192.0.2.1' }],
  ['10.0.0.3', { dst: '10.0.0.3', dev: 'rauta0' }],
]);

test('pickNexthops: own entry, then gateway, then configured MAC; other interfaces do not count', () => {
  const neigh = parseIpNeighJson(NEIGH);
  assert.equal(neigh.length, 3, 'IPv6 entries and entries without a MAC (FAILED) are dropped');
  const r = pickNexthops(['10.1.3.1', '10.1.3.2', '10.1.4.1', '10.9.0.1', '10.0.0.3', '10.5.5.5'], neigh, ROUTES, { iface: 'rauta0' });
  assert.deepEqual(r.macs, { '10.1.3.1': 'aa:bb:cc:00:00:01', '10.1.3.2': '8e:25:4a:f3:4a:b9', '10.1.4.1': '8e:25:4a:f3:4a:b9' });
  assert.deepEqual(r.sources, { '10.1.3.1': 'neighbour', '10.1.3.2': 'gateway', '10.1.4.1': 'gateway' }, 'a FAILED own entry falls back to the gateway');
  assert.deepEqual(
    r.missing.map((m) => m.ip),
    ['10.0.0.3', '10.5.5.5', '10.9.0.1'],
  );
  assert.match(r.missing.find((m) => m.ip === '10.9.0.1')!.reason, /goes out of eth0, not rauta0/);
  assert.match(r.missing.find((m) => m.ip === '10.0.0.3')!.reason, /on-link on rauta0 but has no neighbour entry/);

  const withGw = pickNexthops(['10.9.0.1', '10.1.3.1'], neigh, ROUTES, { iface: 'rauta0', gatewayMac: '02-00-00-00-00-AA' });
  assert.deepEqual(withGw.macs, { '10.1.3.1': 'aa:bb:cc:00:00:01', '10.9.0.1': '02:00:00:00:00:aa' }, 'the configured MAC fills the gaps, never overrides');
  assert.equal(withGw.sources['10.9.0.1'], 'configured');

  const anyIf = pickNexthops(['10.9.0.1'], neigh, ROUTES, {});
  assert.deepEqual(anyIf.macs, { '10.9.0.1': '02:fc:00:00:00:05' }, 'without an interface any device counts');
});

test('parsers: /proc/net/arp, ip -batch route get; MAC normalisation', () => {
  const arp = parseProcNetArp(
    'IP address       HW type     Flags       HW address            Mask     Device\n' +
      '192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n' +
      '10.0.0.2         0x1         0x6         8E:25:4a:f3:4a:b9     *        rauta0\n' +
      '10.0.0.9         0x1         0x0         00:00:00:00:00:00     *        rauta0\n',
  );
  assert.deepEqual(arp, [
    { ip: '192.0.2.1', dev: 'eth0', mac: '02:fc:00:00:00:05', state: ['REACHABLE'] },
    { ip: '10.0.0.2', dev: 'rauta0', mac: '8e:25:4a:f3:4a:b9', state: ['PERMANENT'] },
  ]);
  const routes = parseRouteGetBatch(
    '[{"dst":"10.1.3.1","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]\n' +
      '[{"type":"local","dst":"127.0.0.5","dev":"lo","prefsrc":"127.0.0.1","flags":[],"uid":0,"cache":["local"]}]\n',
  );
  assert.deepEqual([...routes.values()], [{ dst: '10.1.3.1', dev: 'eth0', gateway: '192.0.2.1' }], 'local routes are no nexthop');
  assert.equal(normalizeMac('AA-bb-CC-dd-EE-ff'), 'aa:bb:cc:dd:ee:ff');
  assert.throws(() => normalizeMac('aa:bb'), /not a MAC address/);
  assert.throws(() => normalizeMac('00:00:00:00:00:00'), /all zeros/);
});

test('resolveNexthops reads the real neighbour table and routes of a veth', (t) => {
  if (!needBpf(t)) return; // root is needed to create the veth (same gate as the BPF tests)
  const s = uniqueSuffix();
  const a = `rtna${s}`;
  const b = `rtnb${s}`;
  const octet = 16 + Math.floor(Math.random() * 200);
  ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
  t.after(() => {
    try {
      ip('link', 'del', a);
    } catch {
      /* gone */
    }
  });
  ip('addr', 'add', `10.248.${octet}.1/24`, 'dev', a);
  ip('link', 'set', a, 'up');
  ip('link', 'set', b, 'up');
  ip('neigh', 'replace', `10.248.${octet}.2`, 'lladdr', '02:00:00:aa:bb:01', 'dev', a, 'nud', 'permanent');
  ip('neigh', 'replace', `10.247.${octet}.5`, 'lladdr', '02:00:00:aa:bb:05', 'dev', a, 'nud', 'permanent');
  ip('route', 'add', `10.246.${octet}.0/24`, 'via', `10.248.${octet}.2`, 'dev', a);
  return resolveNexthops([`10.247.${octet}.5`, `10.246.${octet}.9`, '192.0.2.77'], { iface: a }).then((r) => {
    assert.deepEqual(r.macs, { [`10.247.${octet}.5`]: '02:00:00:aa:bb:05', [`10.246.${octet}.9`]: '02:00:00:aa:bb:01' }, JSON.stringify(r));
    assert.deepEqual(r.sources, { [`10.247.${octet}.5`]: 'neighbour', [`10.246.${octet}.9`]: 'gateway' });
    assert.deepEqual(
      r.missing.map((m) => m.ip),
      ['192.0.2.77'],
      'an IP routed out of another interface has no nexthop here',
    );
  });
});
