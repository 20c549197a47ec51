// Attach the real data path to a veth inside its own network namespace (XDP in
// native mode, TC at ingress), see both attached (libbpf queries, `ip -d link`,
// `tc filter`), detach, and leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { needBpf } from '../testbed/bpf-env.js';
import { createVethNs, ipIn, netnsList } from '../testbed/netns.js';
import { attachedProgramId, attachedTcProgramId, attachXdp, detachXdp, loadRauta, unpin } from '../src/dataplane/program.js';
import { progId, withNetns } from '../src/dataplane/libbpf.js';

test('attach natively to a veth in a netns, query, detach, clean up', (t) => {
  if (!needBpf(t)) return;
  const pinDir = `/sys/fs/bpf/rauta-test-attach-${process.pid}`;
  const prog = loadRauta({ pinDir });
  t.after(() => {
    prog.close();
    unpin(pinDir);
  });
  const env = createVethNs('rx');
  t.after(() => env.destroy());
  const id = progId(prog.progFd);
  const tcId = progId(prog.tcProgFd);
  assert.ok(id > 0 && tcId > 0, 'the loaded programs have kernel ids');

  withNetns(env.ns, () => {
    assert.equal(attachedProgramId(env.a), 0, 'nothing attached before');
    const warnings: string[] = [];
    const mode = attachXdp(prog, env.a, 'native', (m) => warnings.push(m));
    assert.equal(mode, 'native', 'veth supports native XDP');
    assert.deepEqual(warnings, [], 'no fallback warning in native mode');
    assert.equal(attachedProgramId(env.a, 'native'), id, 'bpf_xdp_query_id reports our program in driver mode');
    assert.equal(attachedTcProgramId(env.a), tcId, 'the TC program is attached at ingress of the same interface');
    assert.equal(attachXdp(prog, env.a, 'native'), 'native', 'attaching again (a restart) replaces both in place');
    assert.equal(attachedTcProgramId(env.a), tcId);
    // generic mode on the peer, explicitly
    assert.equal(attachXdp(prog, env.b, 'generic'), 'generic');
    assert.equal(attachedProgramId(env.b, 'generic'), id, 'generic attach on the peer');
  });
  const link = ipIn(env.ns, '-d', 'link', 'show', 'dev', env.a);
  assert.match(link, new RegExp(`prog/xdp id ${id}`), `ip -d link shows the program attached:\n${link}`);
  assert.match(ipIn(env.ns, '-d', 'link', 'show', 'dev', env.b), /xdpgeneric/, 'the peer shows xdpgeneric');
  const filters = execFileSync('ip', ['netns', 'exec', env.ns, 'tc', 'filter', 'show', 'dev', env.a, 'ingress'], { encoding: 'utf8' });
  assert.equal(filters.match(/handle 0x7261 rauta_tc/g)?.length, 1, `tc shows our one ingress filter:\n${filters}`);

  withNetns(env.ns, () => {
    detachXdp(env.a);
    detachXdp(env.b);
    assert.equal(attachedProgramId(env.a), 0, 'detached from a');
    assert.equal(attachedTcProgramId(env.a), 0, 'the TC program is detached too');
    assert.equal(attachedProgramId(env.b), 0, 'detached from b');
    detachXdp(env.a); // detaching twice is harmless
  });
  assert.doesNotMatch(ipIn(env.ns, '-d', 'link', 'show', 'dev', env.a), /prog\/xdp/, 'ip -d link shows no XDP program');

  env.destroy();
  assert.ok(!netnsList().includes(env.ns), `namespace ${env.ns} is gone`);
  prog.close();
  unpin(pinDir);
  assert.ok(!existsSync(pinDir), 'pins and pin dir are gone');
});

test('attaching to a missing interface says which one', (t) => {
  if (!needBpf(t)) return;
  const pinDir = `/sys/fs/bpf/rauta-test-attach-missing-${process.pid}`;
  const prog = loadRauta({ pinDir });
  t.after(() => {
    prog.close();
    unpin(pinDir);
  });
  assert.throws(
    () => attachXdp(prog, 'rauta-nope0'),
    (err: unknown) => err instanceof Error && 'code' in err && err.code === 'RAUTA_ERR_BPF_ATTACH' && /rauta-nope0/.test(err.message),
  );
});
