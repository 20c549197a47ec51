// wrk in a network namespace, its summary read back exactly: a `done()` hook
// prints the counts, errors and latency percentiles as one JSON line (from
// the same histogram `--latency` prints, in µs rather than rounded text).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MARK = 'RAUTA_WRK ';

const DONE_SCRIPT = `-- written by bench/lib/wrk.ts: the summary as one JSON line
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

export interface WrkOptions {
  netns: string;
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  headers?: string[];
  /** dir for the done() script */
  scratchDir: string;
  /** aborting kills wrk */
  signal?: AbortSignal;
}

export interface WrkResult {
  /** completed requests */
  requests: number;
  durationS: number;
  requestsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  /** wrk's own text output (with --latency) */
  text: string;
}

/** Socket errors and non-2xx/3xx answers, as wrk counts them; '' when there were none. */
export function wrkErrors(r: WrkResult): string {
  return Object.entries(r.errors)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k === 'status' ? 'non-2xx/3xx' : k} ${n}`)
    .join(', ');
}

export function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const script = join(opts.scratchDir, 'wrk-done.lua');
  writeFileSync(script, DONE_SCRIPT);
  const args = [
    'netns',
    'exec',
    opts.netns,
    'wrk',
    '--latency',
    '--timeout',
    '5s',
    '-s',
    script,
    '-t',
    String(opts.threads),
    '-c',
    String(opts.connections),
    '-d',
    `${opts.durationS}s`,
  ];
  for (const h of opts.headers ?? []) args.push('-H', h);
  args.push(opts.url);
  return new Promise((resolve, reject) => {
    execFile('ip', args, { encoding: 'utf8', signal: opts.signal, timeout: (opts.durationS + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${opts.url} failed: ${err.message}\n${stderr}${stdout}`));
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      if (!line) return reject(new Error(`wrk ${opts.url}: no summary line in its output:\n${stdout}${stderr}`));
      const j = JSON.parse(line.slice(MARK.length)) as Record<string, number>;
      const durationS = j.durationUs! / 1e6;
      resolve({
        requests: j.requests!,
        durationS,
        requestsPerS: j.requests! / durationS,
        p50Ms: j.p50Us! / 1000,
        p99Ms: j.p99Us! / 1000,
        maxMs: j.maxUs! / 1000,
        errors: { connect: j.connect!, read: j.read!, write: j.write!, timeout: j.timeout!, status: j.status! },
        text: stdout.replace(line, '').trim(),
      });
    });
  });
}
