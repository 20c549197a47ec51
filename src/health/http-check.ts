// One active health check: an HTTP/1.1 GET over a new TCP connection from the
// node, by the node's own routing (the same interface and next hop the data
// path sends the backend's connections through). It passes on a status line
// of 200-399 within the timeout; the body is not read.
import { connect } from 'node:net';

export interface HttpCheckRequest {
  ip: string;
  port: number;
  path: string;
  timeoutMs: number;
}

export interface HttpCheckResult {
  ok: boolean;
  /** "HTTP 200", "HTTP 503", "connection refused", "timed out after 2000 ms", ... */
  detail: string;
  ms: number;
}

const MAX_STATUS_LINE = 1024;

export function httpCheck(req: HttpCheckRequest): Promise<HttpCheckResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let head = '';
    let done = false;
    const socket = connect({ host: req.ip, port: req.port, noDelay: true });
    const finish = (ok: boolean, detail: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, detail, ms: Math.round((performance.now() - started) * 10) / 10 });
    };
    const timer = setTimeout(
      () => finish(false, `timed out after ${req.timeoutMs} ms${head || socket.readyState === 'open' ? ' (connected, no status line)' : ''}`),
      req.timeoutMs,
    );
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      socket.write(`GET ${req.path} HTTP/1.1\r\nHost: ${req.ip}:${req.port}\r\nUser-Agent: rauta-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: string) => {
      head += chunk;
      const eol = head.indexOf('\r\n');
      if (eol < 0) {
        if (head.length > MAX_STATUS_LINE) finish(false, 'no HTTP status line in the first 1 KiB');
        return;
      }
      const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(head.slice(0, eol));
      if (!m) return finish(false, `not an HTTP status line: ${JSON.stringify(head.slice(0, Math.min(eol, 60)))}`);
      const status = Number(m[1]);
      finish(status >= 200 && status <= 399, `HTTP ${status}`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const detail =
        err.code === 'ECONNREFUSED'
          ? 'connection refused'
          : err.code === 'ECONNRESET'
            ? 'connection reset'
            : err.code === 'EHOSTUNREACH'
              ? 'host unreachable'
              : (err.code ?? err.message);
      finish(false, detail);
    });
    socket.on('end', () => finish(false, head ? 'closed before a full status line' : 'closed without an answer'));
  });
}
