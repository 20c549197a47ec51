// A real smart-HTTP Git server on 127.0.0.1: `git http-backend` run as CGI
// behind node's http module, serving the bare repos under one temp dir.
// receive-pack is enabled so tests can push with the git CLI.
// Requests other than /<repo>.git/… can be routed to `extra` (e.g. a webhook).
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** URL of a repo under the project root, e.g. url('routes.git') */
  url(repo: string): string;
  /** requests served so far, by git service (for "nothing was fetched" assertions) */
  requests: string[];
  close(): Promise<void>;
}

export async function startGitHttpServer(
  projectRoot: string,
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>,
  /** require these Basic credentials on every Git request (401 otherwise), as a Git host with a token does */
  auth?: { username: string; password: string },
): Promise<GitHttpServer> {
  const expected = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : null;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (!/\.git(\/|$)/.test(url.pathname)) {
        if (extra && (await extra(req, res))) return;
        res.writeHead(404).end('not found\n');
        return;
      }
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      if (expected !== null && req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('authentication required\n');
        return;
      }
      runBackend(projectRoot, req, url, res);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    url: (repo) => `${baseUrl}/${repo}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function runBackend(projectRoot: string, req: http.IncomingMessage, url: URL, res: http.ServerResponse): void {
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: req.headers['content-length'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      REMOTE_USER: 'tester',
      REMOTE_ADDR: '127.0.0.1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.on('close', () => {
    const raw = Buffer.concat(out);
    let split = raw.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (split < 0) {
      split = raw.indexOf('\n\n');
      sepLen = 2;
    }
    if (split < 0) {
      res.writeHead(500).end(`http-backend: ${Buffer.concat(err).toString()}`);
      return;
    }
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of raw.subarray(0, split).toString().split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.end(raw.subarray(split + sepLen));
  });
}
