// The webhook handler on a real node http server: method, size, signature and
// branch rules, and that it leaves other paths to the host server.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createWebhookHandler, signBody, verifySignature, WEBHOOK_PATH } from '../src/git/webhook.js';

async function serve(t: { after(fn: () => unknown): void }, handler: ReturnType<typeof createWebhookHandler>): Promise<string> {
  const server = http.createServer((req, res) => {
    void handler(req, res).then((handled) => {
      if (!handled) res.writeHead(404).end('host server\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('webhook rules: POST only, 1 MiB cap, HMAC when a secret is set, other branches skipped, other paths left alone', async (t) => {
  let pushes = 0;
  const base = await serve(t, createWebhookHandler({ secret: 'k', branch: 'main', onPush: () => pushes++ }));
  const hook = `${base}${WEBHOOK_PATH}`;

  assert.equal((await fetch(hook)).status, 405, 'GET is not a push');
  assert.equal((await fetch(`${base}/metrics`)).status, 404, 'other paths fall through to the host server');
  const big = 'x'.repeat(1024 * 1024 + 1);
  assert.equal((await fetch(hook, { method: 'POST', body: big, headers: { 'x-hub-signature-256': signBody('k', big) } })).status, 413);

  const body = JSON.stringify({ ref: 'refs/heads/main' });
  assert.equal((await fetch(hook, { method: 'POST', body, headers: { 'x-hub-signature-256': signBody('K', body) } })).status, 401, 'the key is case-sensitive');
  assert.equal(
    (await fetch(hook, { method: 'POST', body: `${body} `, headers: { 'x-hub-signature-256': signBody('k', body) } })).status,
    401,
    'the signature covers the exact body',
  );
  assert.equal(pushes, 0, 'refused hooks trigger nothing');

  const ok = await fetch(hook, { method: 'POST', body, headers: { 'x-hub-signature-256': signBody('k', body) } });
  assert.equal(ok.status, 202);
  assert.deepEqual(await ok.json(), { fetch: 'triggered' });
  assert.equal(pushes, 1);

  const ping = 'zen=ok'; // not JSON: no ref to filter on, so it triggers
  assert.equal((await fetch(hook, { method: 'POST', body: ping, headers: { 'x-hub-signature-256': signBody('k', ping) } })).status, 202);
  assert.equal(pushes, 2);
  const tag = JSON.stringify({ ref: 'refs/tags/v1' });
  const skipped = await fetch(hook, { method: 'POST', body: tag, headers: { 'x-hub-signature-256': signBody('k', tag) } });
  assert.equal(skipped.status, 202);
  assert.equal(((await skipped.json()) as { fetch: string }).fetch, 'skipped');
  assert.equal(pushes, 2, 'a push to another ref does not trigger');
});

test('without a secret every POST triggers; verifySignature rejects malformed headers', async (t) => {
  let pushes = 0;
  const base = await serve(t, createWebhookHandler({ onPush: () => pushes++ }));
  assert.equal((await fetch(`${base}${WEBHOOK_PATH}`, { method: 'POST', body: '{}' })).status, 202);
  assert.equal(pushes, 1);
  const body = Buffer.from('{}');
  assert.equal(verifySignature('k', body, signBody('k', body)), true);
  for (const bad of [undefined, '', 'sha1=abc', 'sha256=', 'sha256=00', signBody('k', body).toUpperCase()]) {
    assert.equal(verifySignature('k', body, bad), false, `header ${String(bad)} must not verify`);
  }
});
