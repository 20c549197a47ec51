// POST /hooks/git: a push notification that triggers a fetch at once.
// With a secret configured, the body must carry a valid HMAC-SHA256 signature
// (`X-Hub-Signature-256: sha256=<hex>`, the GitHub/Gitea convention); anything
// else gets 401 and triggers nothing. The handler is a plain node `http`
// handler that returns false for requests that are not its own, so the agent's
// HTTP server can mount it next to /metrics.
import crypto from 'node:crypto';
import type http from 'node:http';

export const WEBHOOK_PATH = '/hooks/git';
const MAX_BODY = 1024 * 1024;

export interface WebhookOptions {
  /** HMAC secret; when unset every POST is accepted (use only on a trusted network) */
  secret?: string | null;
  /** called for each accepted hook; must not throw (the watcher serializes runs) */
  onPush: () => void;
  path?: string;
  /** the watched branch: a signed push event for another ref (JSON `ref`) is acknowledged and skipped */
  branch?: string;
}

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || !header.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = crypto.createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function createWebhookHandler(opts: WebhookOptions): RequestHandler {
  const path = opts.path ?? WEBHOOK_PATH;
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) return false;
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'application/json' }).end('{"error":"use POST"}\n');
      return true;
    }
    const body = await readBody(req);
    if (body === null) {
      res.writeHead(413, { 'content-type': 'application/json' }).end('{"error":"body larger than 1 MiB"}\n');
      return true;
    }
    if (opts.secret) {
      const header = req.headers['x-hub-signature-256'];
      if (!verifySignature(opts.secret, body, Array.isArray(header) ? header[0] : header)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"missing or invalid X-Hub-Signature-256"}\n');
        return true;
      }
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

async function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
