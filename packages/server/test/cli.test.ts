// The `ifmatch` command as a real process (dist/, built by `npm test`; rebuilt
// here when stale): the seed scenario, two processes on one SQLite file,
// signals, and one-line errors.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from './helpers/build.js';
import { httpRequest } from './helpers/http.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const main = join(root, 'packages/server/dist/cli/main.js');
const bin = join(root, 'packages/server/bin/ifmatch.js');

let dir: string;
const running: ChildProcess[] = [];

beforeAll(() => {
  buildIfStale(
    main,
    ['packages/server/src', 'packages/core/src'],
    ['packages/core', 'packages/client', 'packages/server'],
  );
  dir = mkdtempSync(join(tmpdir(), 'ifmatch-cli-'));
}, 180_000);

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  base: string;
  line: string;
  exit: Promise<{ code: number | null; stderr: string }>;
}

/** Starts `ifmatch serve` and waits for its "listening on" line. */
function serve(args: string[], env: Record<string, string> = {}, entry = main): Promise<Served> {
  const child = spawn(process.execPath, [entry, 'serve', '--log-level', 'warn', ...args], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /ifmatch listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, base: m[1]!, line: out.split('\n')[0]!, exit });
    });
    void exit.then(({ code }) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
}

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], {
      cwd: dir,
      env: { ...process.env, ...env },
    });
    running.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('ifmatch serve', () => {
  it('runs the seed scenario, prints where it listens, exits 0 on SIGTERM', async () => {
    const db = join(dir, 'seed', 'nested', 'ifmatch.db');
    const s = await serve(['--port', '0', '--db', db]);
    expect(s.line).toMatch(
      /^ifmatch listening on http:\/\/127\.0\.0\.1:\d+ \(sqlite .*ifmatch\.db\)$/,
    );
    expect(existsSync(db)).toBe(true);
    const doc = `${s.base}/api/notes/hello`;

    const created = await httpRequest(doc, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-none-match': '*' },
      body: '{"text":"hello"}',
    });
    expect(created.status).toBe(201);
    // 1. GET 200 + ETag
    const got = await httpRequest(doc);
    expect(got.status).toBe(200);
    const etag = got.headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(got.body).toBe('{"text":"hello"}');
    // 2. GET If-None-Match -> 304
    const again = await httpRequest(doc, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    // 3. PUT If-Match -> 200 + new ETag
    const updated = await httpRequest(doc, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': etag },
      body: '{"text":"hello again"}',
    });
    expect(updated.status).toBe(200);
    expect(updated.headers.etag).not.toBe(etag);
    // 4. PUT with the stale ETag -> 412
    const stale = await httpRequest(doc, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': etag },
      body: '{"text":"lost?"}',
    });
    expect(stale.status).toBe(412);
    expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(stale.headers.etag).toBe(updated.headers.etag);

    s.child.kill('SIGTERM');
    const { code } = await s.exit;
    expect(code).toBe(0);

    // The state survived the restart (same file), with the same ETag.
    const restarted = await serve(['--port', '0', '--db', db]);
    const after = await httpRequest(`${restarted.base}/api/notes/hello`);
    expect(after.headers.etag).toBe(updated.headers.etag);
    expect(after.body).toBe('{"text":"hello again"}');
    restarted.child.kill('SIGINT');
    expect((await restarted.exit).code).toBe(0);
  });

  it('SIGTERM finishes an in-flight request before exiting 0', async () => {
    const s = await serve(['--port', '0', '--db', join(dir, 'inflight.db')]);
    const url = new URL(`${s.base}/api/inflight/doc`);
    const body = '{"sent":"slowly"}';
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        // Headers and half the body now, the rest after the signal.
        socket.write(
          `PUT ${url.pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
        );
        setTimeout(() => {
          s.child.kill('SIGTERM');
          setTimeout(() => socket.write(body.slice(5)), 300);
        }, 200);
      });
      let data = '';
      socket.on('data', (c: Buffer) => {
        data += c.toString();
      });
      socket.on('close', () => resolve({ status: Number(data.split(' ')[1]), text: data }));
      socket.on('error', reject);
    });
    const { status, text } = await response;
    expect(status, text).toBe(201);
    expect((await s.exit).code).toBe(0);
  });

  it('two processes on one SQLite file: same ETags, and of 50 PUTs with one If-Match exactly one wins', async () => {
    const db = join(dir, 'shared.db');
    const a = await serve(['--port', '0', '--db', db]);
    const b = await serve(['--port', '0', '--db', db]);
    const path = '/api/shared/doc';
    const created = await httpRequest(a.base + path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"v":0}',
    });
    const etag = created.headers.etag as string;
    expect((await httpRequest(b.base + path)).headers.etag).toBe(etag);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        httpRequest((i % 2 ? a : b).base + path, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'if-match': etag },
          body: JSON.stringify({ v: i }),
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 412)).toHaveLength(49);
    const fromA = await httpRequest(a.base + path);
    const fromB = await httpRequest(b.base + path);
    expect(fromA.headers.etag).toBe(fromB.headers.etag);
    expect(fromA.body).toBe(fromB.body);
    // Listings agree too (the collection tag comes from the shared file).
    const listA = await httpRequest(`${a.base}/api/shared`);
    const listB = await httpRequest(`${b.base}/api/shared`);
    expect(listA.headers.etag).toBe(listB.headers.etag);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect((await a.exit).code).toBe(0);
    expect((await b.exit).code).toBe(0);
  });

  it('PORT, HOST and DATABASE_URL from the environment; --strict; the bin shim', async () => {
    const s = await serve(
      ['--strict'],
      { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: ':memory:' },
      bin,
    );
    expect(s.line).toContain('(sqlite :memory:, strict)');
    const res = await httpRequest(`${s.base}/api/x/y`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(428);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });

  it('an unsupported or unreachable --db is one line on stderr and a non-zero exit', async () => {
    for (const db of [
      'mysql://localhost/x',
      'postgres://nobody@127.0.0.1:1/none',
      join('/etc/passwd', 'x.db'),
    ]) {
      const { code, stdout, stderr } = await run(['serve', '--port', '0', '--db', db]);
      expect(code, db).not.toBe(0);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n'), `${db}: ${stderr}`).toHaveLength(1);
      expect(stderr).toMatch(/^ifmatch: /);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('bad options are one-line usage errors (exit 2)', async () => {
    for (const args of [
      ['--port', 'x'],
      ['--body-limit', 'lots'],
      ['--nope'],
      ['--cors', 'not an origin'],
    ]) {
      const { code, stderr } = await run(['serve', ...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/^ifmatch/);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--help describes serve and race', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('serve');
    expect(top.stdout).toContain('race');
    const help = await run(['serve', '--help']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--port',
      '--host',
      '--db',
      '--strict',
      '--body-limit',
      '--cors',
      'PORT',
      'HOST',
      'DATABASE_URL',
    ]) {
      expect(help.stdout).toContain(flag);
    }
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(top.stdout).toMatch(/Exit status: 0 success; 1 a runtime failure/);
    expect(top.stdout).toMatch(/--version/);
  });
});

describe('ifmatch conventions', () => {
  const { version } = JSON.parse(
    readFileSync(join(root, 'packages/server/package.json'), 'utf8'),
  ) as { version: string };

  it('--version and -v print the package version, exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await run([flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
      expect(r.stderr).toBe('');
    }
  });

  it('no command is a usage error: usage on stderr, exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: ifmatch <command>/);
  });

  it('a runtime failure (the port is taken) is exit 1', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const r = await run(['serve', '--port', String(port), '--db', ':memory:']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^ifmatch: cannot listen: .*EADDRINUSE/m);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  // npm runs scripts through `sh -c`; stopping npm by its PID must stop the
  // server, not orphan it with the port still open.
  for (const [name, args] of [
    ['npm start', ['start']],
    ['npx ifmatch serve', ['exec', '--no', '--', 'ifmatch', 'serve']],
  ] as const) {
    it(`SIGTERM to the npm process of \`${name}\` stops the server`, async () => {
      const child = spawn('npm', [...args], {
        cwd: root,
        env: { ...process.env, PORT: '0', DATABASE_URL: ':memory:' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.push(child);
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /ifmatch listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        void exited.then(() => reject(new Error(`npm exited before listening: ${out}`)));
      });
      expect(await accepts(port)).toBe(true);
      child.kill('SIGTERM');
      await exited;
      // Bounded wait for the server to close its port (it finishes in-flight work first).
      let open = true;
      for (let i = 0; i < 100 && open; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        open = await accepts(port);
      }
      expect(open, `port ${port} still accepts after npm exited`).toBe(false);
    }, 30_000);
  }
});

/** Does something accept TCP connections on 127.0.0.1:port? */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
