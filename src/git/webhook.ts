// POST /hooks/git: a push notification that triggers a fetch at once.
// With a secret configured, the body must carry a valid HMAC-SHA256 signature
// (`X-Hub-Signature-256: sha256=<hex>`, the GitHub/Gitea convention); anything
// else gets 401 and triggers nothing. The endpoint may face the network: what
// the headers tell (method, declared size, a signature header of the right
// form) is checked before any body is read, at most a few bodies are read at
// once, each within a deadline, and a body is never more than 1 MiB. The handler is a plain node `http`
// handler that returns false for requests that are not its own, so the agent's
// HTTP server can mount it next to /metrics.
import crypto from 'node:crypto';
import type http from 'node:http';

export const WEBHOOK_PATH = '/hooks/git';
const MAX_BODY = 1024 * 1024;
/** Bodies read at once; a push needs one, a burst a few (default of WebhookOptions.maxConcurrent). */
const DEFAULT_MAX_CONCURRENT = 4;
/** Time to receive a whole body (default of WebhookOptions.bodyTimeoutMs). */
const DEFAULT_BODY_TIMEOUT_MS = 10_000;
/** How long a refused request's remaining body is read (and dropped) before the connection is cut. */
const DRAIN_MS = 2_000;
const SIGNATURE_FORMAT = /^sha256=[0-9a-f]{64}$/i;

export interface WebhookOptions {
  /** HMAC secret; when unset every POST is accepted (use only on a trusted network) */
  secret?: string | null;
  /** called for each accepted hook; must not throw (the watcher serializes runs) */
  onPush: () => void;
  path?: string;
  /** the watched branch: a signed push event for another ref (JSON `ref`) is acknowledged and skipped */
  branch?: string;
  /** bodies read at once; a request beyond gets 503 without its body being read (default 4) */
  maxConcurrent?: number;
  /** a body not complete within this gets 408 and the connection is cut (default 10 s) */
  bodyTimeoutMs?: number;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = crypto.createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function createWebhookHandler(opts: WebhookOptions): RequestHandler {
  const path = opts.path ?? WEBHOOK_PATH;
  const maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  let reading = 0;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) return false;
    // Everything that can be refused from the headers is refused before a byte of body is read.
    if (req.method !== 'POST') return refuse(req, res, 405, 'use POST', { allow: 'POST' });
    const length = Number(req.headers['content-length']);
    if (length > MAX_BODY) return refuse(req, res, 413, 'body larger than 1 MiB');
    const header = req.headers['x-hub-signature-256'];
    const signature = Array.isArray(header) ? header[0] : header;
    if (opts.secret && !(signature !== undefined && SIGNATURE_FORMAT.test(signature))) {
      return refuse(req, res, 401, 'missing or invalid X-Hub-Signature-256');
    }
    if (reading >= maxConcurrent) return refuse(req, res, 503, 'too many webhook requests at once; retry shortly', { 'retry-after': '1' });
    reading++;
    let body: Buffer | 'too-large' | 'too-slow' | 'aborted';
    try {
      body = await readBody(req, bodyTimeoutMs);
    } finally {
      reading--;
    }
    if (body === 'aborted') return true;
    if (body === 'too-large') return refuse(req, res, 413, 'body larger than 1 MiB');
    if (body === 'too-slow') return refuse(req, res, 408, `body not received within ${bodyTimeoutMs} ms`);
    if (opts.secret && !verifySignature(opts.secret, body, signature)) {
      return refuse(req, res, 401, 'missing or invalid X-Hub-Signature-256');
    }
    const ref = pushedRef(body);
    if (opts.branch && ref !== null && ref !== `refs/heads/${opts.branch}`) {
      res.writeHead(202, { 'content-type': 'application/json' }).end(`${JSON.stringify({ fetch: 'skipped', reason: `${ref} is not the watched branch` })}\n`);
      return true;
    }
    opts.onPush();
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"fetch":"triggered"}\n');
    return true;
  };
}

/**
 * Answers `code` and closes the connection. A body still on its way is discarded as it
 * arrives (never kept), for at most DRAIN_MS, so a client that sends it before reading
 * the answer still gets the answer; then the connection is cut.
 */
function refuse(req: http.IncomingMessage, res: http.ServerResponse, code: number, error: string, headers: Record<string, string> = {}): true {
  res.writeHead(code, { 'content-type': 'application/json', connection: 'close', ...headers }).end(`${JSON.stringify({ error })}\n`);
  if (!req.complete) {
    const cut = setTimeout(() => req.socket.destroy(), DRAIN_MS);
    cut.unref();
    req.once('end', () => clearTimeout(cut)).once('close', () => clearTimeout(cut));
    req.resume();
  }
  return true;
}

/** The `ref` of a JSON push payload (GitHub, Gitea, GitLab), or null when there is none. */
function pushedRef(body: Buffer): string | null {
  try {
    const payload: unknown = JSON.parse(body.toString('utf8'));
    if (payload && typeof payload === 'object' && typeof (payload as { ref?: unknown }).ref === 'string') return (payload as { ref: string }).ref;
  } catch {
    // not JSON (a ping, a form-encoded payload): fetch anyway, it is cheap when nothing changed
  }
  return null;
}

/** The body, or why not: over MAX_BODY, not complete within `timeoutMs`, or the client went away. */
function readBody(req: http.IncomingMessage, timeoutMs: number): Promise<Buffer | 'too-large' | 'too-slow' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'too-large' | 'too-slow' | 'aborted'): void => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('close', onClose);
      req.pause();
      chunks.length = 0;
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY) finish('too-large');
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(Buffer.concat(chunks));
    const onClose = (): void => finish(req.complete ? Buffer.concat(chunks) : 'aborted');
    const timer = setTimeout(() => finish('too-slow'), timeoutMs);
    req.on('data', onData).once('end', onEnd).once('close', onClose);
  });
}
