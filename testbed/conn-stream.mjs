#!/usr/bin/env node
// A stream of new HTTP/1.1 connections at a steady rate, for health tests and
// benchmarks: each connection sends one request with "Connection: close" and
// prints one JSON line when it ends:
//   {"t": ms since epoch at connect, "ms": duration, "outcome": "ok"|"reset"|"refused"|"timeout"|"error",
//    "status": 200, "backend": "10.1.5.2:8080"}   (backend: the x-backend header of the demo backends)
// Runs until stdin closes (or for --seconds). Usage:
//   node testbed/conn-stream.mjs HOST PORT PATH [--rate N/s] [--seconds S] [--timeout MS]
import { connect } from 'node:net';

const [host, portArg, path, ...rest] = process.argv.slice(2);
const flag = (name, def) => {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : def;
};
const rate = flag('--rate', 100);
const seconds = flag('--seconds', Infinity);
const timeoutMs = flag('--timeout', 3000);
if (!host || !portArg || !path || !(rate > 0)) {
  process.stderr.write('usage: conn-stream.mjs HOST PORT PATH [--rate N] [--seconds S] [--timeout MS]\n');
  process.exit(2);
}
const port = Number(portArg);
let open = 0;
let stopping = false;

function one() {
  const t = Date.now();
  const started = performance.now();
  open++;
  let head = '';
  let done = false;
  const s = connect({ host, port });
  const finish = (outcome, extra = {}) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s.destroy();
    open--;
    process.stdout.write(`${JSON.stringify({ t, ms: Math.round((performance.now() - started) * 10) / 10, outcome, ...extra })}\n`);
    if (stopping && open === 0) process.exit(0);
  };
  const timer = setTimeout(() => finish('timeout'), timeoutMs);
  s.setEncoding('latin1');
  s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
  s.on('data', (d) => {
    head += d;
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const backend = /\r\nx-backend: ([^\r]+)/i.exec(head.slice(0, end))?.[1] ?? null;
    finish(status > 0 ? 'ok' : 'error', { status, backend });
  });
  s.on('error', (err) => finish(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' ? 'reset' : 'error', { error: err.code ?? err.message }));
  s.on('end', () => finish(head ? 'error' : 'reset', { error: 'closed early' }));
}

const gap = 1000 / rate;
let next = performance.now();
const tick = () => {
  if (stopping) return;
  const now = performance.now();
  while (next <= now) {
    one();
    next += gap;
  }
  setTimeout(tick, Math.max(0, next - performance.now()));
};
const stop = () => {
  stopping = true;
  if (open === 0) process.exit(0);
};
process.stdin.on('end', stop).resume();
if (Number.isFinite(seconds)) setTimeout(stop, seconds * 1000);
tick();
