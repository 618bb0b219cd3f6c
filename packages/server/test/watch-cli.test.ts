// `ifmatch watch` as a real process (dist/, rebuilt when stale) against a real
// `ifmatch serve`: the lines it prints after writes made here, the feed of a
// collection, bearer tokens, usage errors, and a clean exit 0 on SIGINT/SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from './helpers/build.js';
import { httpRequest } from './helpers/http.js';
import { CLI, type ServerProcess, startServer } from './helpers/process.js';

let dir: string;
let server: ServerProcess;
const watchers: Watcher[] = [];
const TOKEN = 'watch-test-token-0123456789';

beforeAll(async () => {
  buildIfStale(
    CLI,
    ['packages/server/src', 'packages/core/src', 'packages/client/src'],
    ['packages/core', 'packages/client', 'packages/server'],
  );
  dir = mkdtempSync(join(tmpdir(), 'ifmatch-watch-'));
  server = await startServer(['--db', join(dir, 'watch.db'), '--log-level', 'warn']);
}, 180_000);

afterEach(() => {
  for (const w of watchers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Watcher {
  child: ChildProcess;
  /** Resolves with the next line of stdout (waits for it). */
  next(timeoutMs?: number): Promise<string>;
  /** Lines printed and not yet taken by next(). */
  pending(): string[];
  stderr(): string;
  exit: Promise<number | null>;
}

function watch(args: string[], env: Record<string, string> = {}): Watcher {
  const child = spawn(process.execPath, [CLI, 'watch', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, IFMATCH_TOKEN: '', ...env },
  });
  let buffer = '';
  let stderr = '';
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    let i = buffer.indexOf('\n');
    while (i !== -1) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
      i = buffer.indexOf('\n');
    }
    wake?.();
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const w: Watcher = {
    child,
    exit,
    stderr: () => stderr,
    pending: () => [...lines],
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (lines.length === 0) {
        if (child.exitCode !== null) throw new Error(`watch exited ${child.exitCode}: ${stderr}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no line in ${timeoutMs} ms; stderr: ${stderr}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return lines.shift()!;
    },
  };
  watchers.push(w);
  return w;
}

async function put(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await httpRequest(server.url + path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
  return res.headers.etag as string;
}

const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('ifmatch watch on a document', () => {
  it('prints the current version, then each new one as it is written (compact JSON), then "deleted"; SIGTERM exits 0', async () => {
    const first = await put('/api/wdoc/a', { title: 'one' });
    // --wait 30: a new version printed within seconds came from the long-poll, not a 30 s poll.
    const w = watch([`${server.url}/api/wdoc/a`, '--wait', '30']);
    expect(await w.next()).toMatch(new RegExp(`^${TIME} ${quote(first)} \\{"title":"one"\\}$`));

    // Give the watcher time to have its long-poll in flight, then write.
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const second = await put('/api/wdoc/a', { title: 'two', tags: ['x', 'y'] });
    expect(second).not.toBe(first);
    expect(await w.next(5000)).toMatch(
      new RegExp(`^${TIME} ${quote(second)} \\{"title":"two","tags":\\["x","y"\\]\\}$`),
    );
    expect(Date.now() - started).toBeLessThan(5000);

    const del = await httpRequest(`${server.url}/api/wdoc/a`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await w.next(5000)).toMatch(new RegExp(`^${TIME} deleted$`));

    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(w.pending()).toEqual([]);
    expect(w.stderr()).toBe('');
  });

  it('--pretty indents the JSON; a document that does not exist yet is "not found", then its first version; SIGINT exits 0', async () => {
    const w = watch([`${server.url}/api/wdoc/later`, '--pretty', '--wait', '1']);
    expect(await w.next()).toMatch(new RegExp(`^${TIME} not found$`));
    const etag = await put('/api/wdoc/later', { a: { b: 1 } });
    // Not waitable while absent: the client polls (backoff from 0.5 s).
    expect(await w.next(15_000)).toMatch(new RegExp(`^${TIME} ${quote(etag)}$`));
    expect([
      await w.next(),
      await w.next(),
      await w.next(),
      await w.next(),
      await w.next(),
    ]).toEqual(['{', '  "a": {', '    "b": 1', '  }', '}']);
    w.child.kill('SIGINT');
    expect(await w.exit).toBe(0);
  });
});

describe('ifmatch watch on a collection', () => {
  it('prints each change of the feed after --since in commit order (id, etag or deleted, cursor), and resumes from a printed cursor', async () => {
    await put('/api/wfeed/old', { v: 0 });
    const listing = await httpRequest(`${server.url}/api/wfeed`);
    const cursor = (JSON.parse(listing.body) as { cursor: string }).cursor;
    expect(typeof cursor).toBe('string');

    const w = watch([`${server.url}/api/wfeed`, '--since', cursor]);
    const a = await put('/api/wfeed/a', { v: 1 });
    const b = await put('/api/wfeed/b', { v: 2 });
    expect((await httpRequest(`${server.url}/api/wfeed/a`, { method: 'DELETE' })).status).toBe(204);

    const lines = [await w.next(), await w.next(), await w.next()];
    expect(lines[0]).toMatch(new RegExp(`^${TIME} a ${quote(a)} \\S+$`));
    expect(lines[1]).toMatch(new RegExp(`^${TIME} b ${quote(b)} \\S+$`));
    expect(lines[2]).toMatch(new RegExp(`^${TIME} a deleted \\S+$`));
    // "old" was written before the cursor: not printed.
    expect(lines.join('\n')).not.toContain(' old ');
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(w.stderr()).toBe('');

    // Resume after the last printed cursor: only what came since.
    const last = lines[2]!.split(' ')[3]!;
    const c = await put('/api/wfeed/c', { v: 3 });
    const resumed = watch([`${server.url}/api/wfeed`, '--since', last]);
    expect(await resumed.next()).toMatch(new RegExp(`^${TIME} c ${quote(c)} \\S+$`));
    await new Promise((r) => setTimeout(r, 300));
    expect(resumed.pending()).toEqual([]);
    resumed.child.kill('SIGTERM');
    expect(await resumed.exit).toBe(0);
  });

  it('--since 0 prints the history from the oldest change kept', async () => {
    const x = await put('/api/whist/x', { v: 1 });
    const y = await put('/api/whist/y', { v: 2 });
    const w = watch([`${server.url}/api/whist`, '--since', '0']);
    expect(await w.next()).toMatch(new RegExp(`^${TIME} x ${quote(x)} \\S+$`));
    expect(await w.next()).toMatch(new RegExp(`^${TIME} y ${quote(y)} \\S+$`));
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
  });

  it('a cursor of another collection is refused by the server: exit 1 with its reason', async () => {
    await put('/api/wother/x', { v: 1 });
    const listing = await httpRequest(`${server.url}/api/wother`);
    const cursor = (JSON.parse(listing.body) as { cursor: string }).cursor;
    const w = watch([`${server.url}/api/wfeed`, '--since', cursor]);
    expect(await w.exit).toBe(1);
    expect(w.stderr()).toMatch(/^ifmatch watch: GET .*\/api\/wfeed\?since=.*: 400 /);
  });
});

describe('ifmatch watch with --auth', () => {
  it('sends --token (or IFMATCH_TOKEN) as a bearer token; without one the 401 ends it with exit 1', async () => {
    const tokens = join(dir, 'tokens.json');
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [{ name: 'watcher', token: TOKEN, scopes: { '*': ['read', 'write'] } }],
      }),
    );
    const guarded = await startServer(['--db', join(dir, 'auth.db'), '--auth', tokens]);
    try {
      const res = await httpRequest(`${guarded.url}/api/sec/doc`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: '{"secret":true}',
      });
      const etag = res.headers.etag as string;

      const refused = watch([`${guarded.url}/api/sec/doc`]);
      expect(await refused.exit).toBe(1);
      expect(refused.stderr()).toMatch(/^ifmatch watch: GET .*\/api\/sec\/doc: 401 /);

      const byFlag = watch([`${guarded.url}/api/sec/doc`, '--token', TOKEN]);
      expect(await byFlag.next()).toMatch(
        new RegExp(`^${TIME} ${quote(etag)} \\{"secret":true\\}$`),
      );
      byFlag.child.kill('SIGTERM');
      expect(await byFlag.exit).toBe(0);

      const byEnv = watch([`${guarded.url}/api/sec`, '--since', '0'], { IFMATCH_TOKEN: TOKEN });
      expect(await byEnv.next()).toMatch(new RegExp(`^${TIME} doc ${quote(etag)} \\S+$`));
      byEnv.child.kill('SIGTERM');
      expect(await byEnv.exit).toBe(0);
    } finally {
      await guarded.stop();
    }
  });
});

describe('ifmatch watch without a server', () => {
  it('says once on stderr that it cannot reach the server and keeps retrying; SIGTERM still exits 0', async () => {
    // A port nothing listens on: taken, then released.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const w = watch([`http://127.0.0.1:${port}/api/nobody/home`]);
    const deadline = Date.now() + 10_000;
    while (!w.stderr().includes('retrying') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(w.stderr()).toMatch(
      /^ifmatch watch: cannot reach http:\/\/127\.0\.0\.1:\d+\/api\/nobody\/home: ECONNREFUSED; retrying\n$/,
    );
    // Retries (backoff from 0.5 s) report nothing new, and it is still running.
    await new Promise((r) => setTimeout(r, 1500));
    expect(w.stderr().match(/cannot reach/g)).toHaveLength(1);
    expect(w.child.exitCode).toBeNull();
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(0);
    expect(w.pending()).toEqual([]);
  });
});

describe('ifmatch watch usage', () => {
  it('--help prints the usage and exits 0; bad arguments exit 2 with the reason and the usage on stderr', async () => {
    const help = watch(['--help']);
    expect(await help.exit).toBe(0);
    expect(await help.next()).toBe('Usage: ifmatch watch URL [options]');

    const cases: [string[], RegExp][] = [
      [[], /URL is required/],
      [['not a url'], /not a URL/],
      [['ftp://x/api/c'], /not an http\(s\) URL/],
      [[`${server.url}/healthz`], /not a document or collection URL/],
      [[`${server.url}/api/c/id/extra`], /not a document or collection URL/],
      [[`${server.url}/api/c?since=0`], /no query/],
      [[`${server.url}/api/c/id`, '--since', '0'], /--since is for a collection URL/],
      [[`${server.url}/api/c`, '--wait', 'soon'], /--wait must be a whole number/],
      [[`${server.url}/api/c`, '--wait=-1'], /--wait must be a whole number/],
      [[`${server.url}/api/c`, '--wait', '1.5'], /--wait must be a whole number/],
      [[`${server.url}/api/c`, '--bogus'], /Unknown option '--bogus'/],
    ];
    const runs = cases.map(([args, reason]) => ({ args, reason, w: watch(args) }));
    for (const { args, reason, w } of runs) {
      expect(await w.exit, args.join(' ')).toBe(2);
      expect(w.stderr()).toMatch(reason);
      expect(w.stderr()).toContain('Usage: ifmatch watch URL');
    }
  });

  it('is listed by ifmatch --help', async () => {
    const child = spawn(process.execPath, [CLI, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    expect(await new Promise((r) => child.on('exit', r))).toBe(0);
    expect(out).toMatch(/^ {2}watch {3}Print each new version of a document/m);
  });
});
