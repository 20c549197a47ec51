#!/usr/bin/env node
// The demo's backends: one small HTTP/1.1 server listening on every given port
// of every local address (the backend namespace routes the demo's backend
// range to itself, so any 10.1.x.y is "this host"). Each answer names the
// backend address that took the connection, the method and the path:
//
//   GET /anything          -> 200 "backend 10.1.3.3:8080 GET /anything\n"
//   GET /bytes/N           -> 200, N bytes (0..255 repeating): byte-exact downloads
//   GET /drip?bytes=N&ms=M -> 200, N bytes in 1 KiB chunks every M ms (a long download)
//   GET /healthz           -> 200 "ok\n" (or what PUT /control/healthz set)
//   PUT /control/healthz?status=503|200|hang
//                          -> this backend address's /healthz answers 503 (or 200, or
//                             never: the connection is held open without an answer)
//
// Usage: node scripts/demo-backends.mjs LISTEN [LISTEN...]
//   LISTEN is PORT (every address) or IP:PORT (that address only); prints "listening LISTEN" for each.
import http from 'node:http';

const listens = process.argv.slice(2).map((arg) => {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5})$/.exec(arg);
  const port = m ? Number(m[2]) : NaN;
  return { arg, host: m?.[1] ?? '0.0.0.0', port: port >= 1 && port <= 65535 ? port : NaN };
});
if (listens.length === 0 || listens.some((l) => Number.isNaN(l.port))) {
  process.stderr.write('usage: demo-backends.mjs PORT|IP:PORT [PORT|IP:PORT...]\n');
  process.exit(2);
}
/** "ip:port" -> what its /healthz answers: a status code, or 'hang' */
const health = new Map();

const PATTERN = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function bytes(n) {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 256) PATTERN.copy(out, i, 0, Math.min(256, n - i));
  return out;
}

function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://backend');
  const me = `${req.socket.localAddress?.replace(/^::ffff:/, '')}:${req.socket.localPort}`;
  req.resume(); // bodies are read and ignored
  const m = /^\/bytes\/(\d{1,9})$/.exec(url.pathname);
  if (m) {
    const body = bytes(Number(m[1]));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-backend': me });
    res.end(body);
    return;
  }
  if (url.pathname === '/drip') {
    const total = Number(url.searchParams.get('bytes') ?? 65536);
    const ms = Number(url.searchParams.get('ms') ?? 10);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total, 'x-backend': me });
    let sent = 0;
    const tick = () => {
      if (res.destroyed) return;
      const n = Math.min(1024, total - sent);
      res.write(bytes(n));
      sent += n;
      if (sent < total) setTimeout(tick, ms);
      else res.end();
    };
    tick();
    return;
  }
  if (url.pathname === '/control/healthz' && req.method === 'PUT') {
    const want = url.searchParams.get('status') ?? '200';
    if (want !== 'hang' && !/^[1-5]\d\d$/.test(want)) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('status must be a 3-digit code or "hang"\n');
      return;
    }
    health.set(me, want === 'hang' ? 'hang' : Number(want));
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': me });
    res.end(`${me} /healthz: ${want}\n`);
    return;
  }
  if (url.pathname === '/healthz') {
    const status = health.get(me) ?? 200;
    if (status === 'hang') return; // hold the connection, answer nothing
    const text = status < 400 ? 'ok\n' : 'failing\n';
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), 'x-backend': me });
    res.end(text);
    return;
  }
  const text = `backend ${me} ${req.method} ${url.pathname}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), 'x-backend': me });
  res.end(text);
}

for (const { arg, host, port } of listens) {
  const server = http.createServer(handle);
  server.keepAliveTimeout = 30_000;
  server.listen({ port, host, backlog: 4096 }, () => process.stdout.write(`listening ${arg}\n`));
  server.on('error', (err) => {
    process.stderr.write(`${arg}: ${err.message}\n`);
    process.exit(1);
  });
}
process.on('SIGTERM', () => process.exit(0));
