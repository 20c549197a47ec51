#!/usr/bin/env node
// The demo's backends: one small HTTP/1.1 server listening on every given port
// of every local address (the backend namespace routes the demo's backend
// range to itself, so any 10.1.x.y is "this host"). Each answer names the
// backend address that took the connection, the method and the path:
//
//   GET /anything          -> 200 "backend 10.1.3.3:8080 GET /anything\n"
//   GET /bytes/N           -> 200, N bytes (0..255 repeating): byte-exact downloads
//   GET /drip?bytes=N&ms=M -> 200, N bytes in 1 KiB chunks every M ms (a long download)
//   GET /healthz           -> 200 "ok\n"
//
// Usage: node scripts/demo-backends.mjs PORT [PORT...]  (prints "listening PORT" per port)
import http from 'node:http';

const ports = process.argv.slice(2).map(Number);
if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  process.stderr.write('usage: demo-backends.mjs PORT [PORT...]\n');
  process.exit(2);
}

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
  const text = url.pathname === '/healthz' ? 'ok\n' : `backend ${me} ${req.method} ${url.pathname}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), 'x-backend': me });
  res.end(text);
}

for (const port of ports) {
  const server = http.createServer(handle);
  server.keepAliveTimeout = 30_000;
  server.listen({ port, host: '0.0.0.0', backlog: 4096 }, () => process.stdout.write(`listening ${port}\n`));
  server.on('error', (err) => {
    process.stderr.write(`port ${port}: ${err.message}\n`);
    process.exit(1);
  });
}
process.on('SIGTERM', () => process.exit(0));
