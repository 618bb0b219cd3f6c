// The load generator: wrk (C, multi-threaded: not the bottleneck) when
// installed, otherwise autocannon in its own process.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export function findWrk() {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err || out}`)),
    );
  });
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60000 };
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : Number.NaN;
}

/** Parses wrk --latency output. */
export function parseWrk(out) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const total = Number(/(\d+) requests in/.exec(out)?.[1]);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const bad = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  if (!Number.isFinite(rps)) throw new Error(`cannot parse wrk output:\n${out}`);
  return { rps, total, p50, p99, bad, errors };
}

/**
 * One load run. opts: { url, headers, seconds, connections, threads }.
 * Returns { rps, p50, p99 (ms), total, bad (non-2xx/3xx), errors }.
 */
export async function load(tool, opts) {
  const headerArgs = [];
  if (tool === 'wrk') {
    for (const [k, v] of Object.entries(opts.headers)) headerArgs.push('-H', `${k}: ${v}`);
    const out = await run('wrk', [
      `-t${opts.threads}`,
      `-c${opts.connections}`,
      `-d${opts.seconds}s`,
      '--timeout',
      '10s',
      '--latency',
      ...headerArgs,
      opts.url,
    ]);
    return parseWrk(out);
  }
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  for (const [k, v] of Object.entries(opts.headers)) headerArgs.push('-H', `${k}=${v}`);
  const out = await run(process.execPath, [
    cli,
    '-c',
    String(opts.connections),
    '-d',
    String(opts.seconds),
    '-w',
    String(opts.threads),
    '-j',
    ...headerArgs,
    opts.url,
  ]);
  const r = JSON.parse(out);
  return {
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}
