import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningServer, startServer } from '../../client/test/helpers/server.js';
import { runRace, workerExecArgv } from '../src/race/command.js';
import { percentile, summarize } from '../src/race/stats.js';
import { buildIfStale } from './helpers/build.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const worker = join(root, 'packages/server/dist/race/worker.js');

let dir: string;
let servers: RunningServer[] = [];

beforeAll(() => {
  // The workers run compiled JS (as from an installed package): build when stale.
  buildIfStale(
    worker,
    ['packages/server/src/race', 'packages/client/src'],
    ['packages/client', 'packages/server'],
  );
  expect(existsSync(worker)).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'ifmatch-race-'));
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(db = join(dir, `race-${Math.random().toString(36).slice(2)}.db`)) {
  const s = await startServer({ db });
  servers.push(s);
  return s;
}

/** Runs the command, capturing what it prints. */
async function run(args: string[]) {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  const code = await runRace(args);
  vi.restoreAllMocks();
  return { code, out, err };
}

function field(table: string, name: string): number {
  const m = new RegExp(`^\\s+${name}\\s+(-?\\d+)`, 'm').exec(table);
  if (!m) throw new Error(`no "${name}" in:\n${table}`);
  return Number(m[1]);
}

describe('ifmatch race', () => {
  it('with If-Match: every committed increment is in the counter, exit 0', async () => {
    const s = await serve();
    const { code, out, err } = await run(['--url', s.url, '--clients', '6', '--updates', '15']);
    expect(err).not.toMatch(/lost|ifmatch race:/);
    expect(code).toBe(0);
    expect(field(out, 'committed updates')).toBe(90);
    expect(field(out, 'expected counter')).toBe(90);
    expect(field(out, 'final counter')).toBe(90);
    expect(field(out, 'lost updates')).toBe(0);
    expect(out).toMatch(/412 Precondition Failed\s+\d+/);
    expect(out).toMatch(/latency p50 \/ p99\s+[\d.]+ ms \/ [\d.]+ ms/);
    expect(err).toMatch(/100%/); // progress lines (stderr is not a TTY here)
  }, 120_000);

  it('--no-precondition: plain GET then PUT; lost = expected - final', async () => {
    const s = await serve();
    const { code, out } = await run([
      '--url',
      s.url,
      '--clients',
      '8',
      '--updates',
      '30',
      '--no-precondition',
    ]);
    expect(code).toBe(0); // losing updates is what this mode demonstrates
    const expected = field(out, 'expected counter');
    const final = field(out, 'final counter');
    expect(expected).toBe(240);
    expect(field(out, '412 Precondition Failed')).toBe(0);
    expect(final).toBeGreaterThan(0);
    // Overlapping read-modify-writes without If-Match can only lose increments, never add.
    expect(final).toBeLessThanOrEqual(expected);
    expect(field(out, 'lost updates')).toBe(expected - final);
  }, 120_000);

  it('--processes and two server instances on one database: nothing lost', async () => {
    const db = join(dir, 'shared.db');
    const a = await serve(db);
    const b = await serve(db);
    const { code, out } = await run([
      '--url',
      `${a.url},${b.url}`,
      '--clients',
      '4',
      '--updates',
      '10',
      '--processes',
      '--doc',
      '/api/race/shared',
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/child processes, 2 URLs/);
    expect(field(out, 'final counter')).toBe(40);
    expect(field(out, 'lost updates')).toBe(0);
  }, 120_000);

  it('--help and usage errors', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--no-precondition/);
    for (const args of [
      [],
      ['--url', 'nope'],
      ['--url', 'http://127.0.0.1:1', '--clients', '0'],
      ['--url', 'http://127.0.0.1:1', '--updates', 'x'],
      ['--url', 'http://127.0.0.1:1', '--bogus'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/ifmatch race: /);
    }
  });

  it('an unreachable server is exit 1 (a runtime failure) with a message, not a crash', async () => {
    const s = await serve();
    const url = s.url;
    await s.close();
    servers = [];
    const r = await run(['--url', url, '--clients', '2', '--updates', '2']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ifmatch race: /);
  });
});

describe('race numbers', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarize: lost = committed - final; retries mean and max', () => {
    const report = (index: number, retries: number[]) => ({
      index,
      committed: retries.length,
      failed: 0,
      conflicts: retries.reduce((a, b) => a + b, 0),
      retries,
      latencies: retries.map((r) => 1 + r),
      errors: [],
    });
    const s = summarize(
      [report(0, [0, 2, 1]), report(1, [0, 0, 3])],
      { clients: 2, updatesPerClient: 3, precondition: false, mode: 'threads', urls: ['x'] },
      2000,
      4,
    );
    expect(s).toMatchObject({ committed: 6, expected: 6, final: 4, lost: 2, conflicts: 6 });
    expect(s.retriesMean).toBe(1);
    expect(s.retriesMax).toBe(3);
    expect(s.perSecond).toBe(3);
  });

  it('workers do not inherit a --conditions flag', () => {
    expect(
      workerExecArgv([
        '--conditions',
        'source',
        '--enable-source-maps',
        '--conditions=x',
        '-Cy',
        '-C',
        'z',
      ]),
    ).toEqual(['--enable-source-maps']);
  });
});
