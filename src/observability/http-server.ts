// The node's HTTP endpoint: GET /metrics (Prometheus), GET /healthz (200 ok,
// 503 with the error when failing), GET /status (the full status JSON), and
// any extra handlers (the watcher's POST /hooks/git) tried first.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RautaError } from '../errors.js';
import type { NodeMetrics } from './metrics.js';

/** A client that has not sent its headers by then is disconnected. */
const HEADERS_TIMEOUT_MS = 10_000;
/** No request (headers and body) may take longer than this. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Connections beyond this are refused at accept (scrapers and probes need a handful). */
const MAX_CONNECTIONS = 256;

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface Health {
  ok: boolean;
  /** the body: state, applied commit, last error, last rejected commit, ... */
  body: Record<string, unknown>;
}

export interface HttpServerOptions {
  /** "127.0.0.1:9464", ":9464", "[::1]:9464"; port 0 picks a free one */
  listen: string;
  metrics: NodeMetrics;
  health: () => Health;
  /** full status for GET /status (defaults to the health body) */
  status?: () => unknown;
  handlers?: RequestHandler[];
  onError?: (err: unknown) => void;
}

export interface HttpEndpoint {
  /** "http://127.0.0.1:9464" */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** "host:port" → {host, port}; throws RAUTA_ERR_USAGE on anything else. */
export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(spec.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RautaError('RAUTA_ERR_USAGE', `--http ${spec}: give ADDRESS:PORT, e.g. 127.0.0.1:9464 or 0.0.0.0:9464`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body, null, 2)}\n`);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpEndpoint> {
  const { host, port } = parseListen(opts.listen);
  const handlers = opts.handlers ?? [];
  const server = http.createServer((req, res) => {
    void (async () => {
      for (const handle of handlers) if (await handle(req, res)) return;
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `use GET for ${path}` });
      if (path === '/metrics') {
        const text = await opts.metrics.render();
        res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(text);
      } else if (path === '/healthz') {
        const h = opts.health();
        json(res, h.ok ? 200 : 503, h.body);
      } else if (path === '/status') {
        json(res, 200, opts.status ? opts.status() : opts.health().body);
      } else json(res, 404, { error: `no ${path} here; try /metrics, /healthz, /status or POST /hooks/git` });
    })().catch((err: unknown) => {
      opts.onError?.(err);
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  });
  // The endpoint may face the network: bound what a slow or greedy client can hold.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new RautaError(
          'RAUTA_ERR_USAGE',
          `cannot listen on ${opts.listen}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? '; pick another --http port' : ''}`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
