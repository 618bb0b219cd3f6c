// The log's destination (src/cli/log-destination.ts): lines buffered and
// written in chunks off the event loop. What it promises: every line, in
// order; a quiet server's lines within 200 ms; nothing lost at a normal exit
// or an uncaught exception; on SIGKILL only the last 200 ms; a stderr that
// takes no writes never stalls the event loop, and lines past the memory cap
// are counted in a warning. Real files, pipes and child processes.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogDestination, logDestination } from '../src/cli/log-destination.js';
import { buildIfStale, ROOT } from './helpers/build.js';

const BUILT = join(ROOT, 'packages/server/dist/cli/log-destination.js');

const line = (n: number) => `{"level":30,"n":${n},"pad":"${'x'.repeat(n % 97)}"}\n`;

let dir: string;
beforeAll(() => {
  buildIfStale(BUILT, ['packages/server/src/cli'], ['packages/server']);
  dir = mkdtempSync(join(tmpdir(), 'ifmatch-log-destination-'));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `body` (an ES module's text, `logDestination` and `line` in scope) with stderr = `stderr`. */
function child(
  body: string,
  stderr: number | 'pipe',
): {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  proc: ReturnType<typeof spawn>;
} {
  const source = `import { logDestination } from ${JSON.stringify(pathToFileURL(BUILT).href)};
const line = ${line.toString()};
${body}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', source], {
    stdio: ['ignore', 'pipe', stderr],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { exited, proc };
}

function expected(from: number, to: number): string {
  let s = '';
  for (let n = from; n < to; n++) s += line(n);
  return s;
}

describe('log destination', () => {
  it('writes every line, in order, in chunks; flush(done) once all of it is written', async () => {
    const file = join(dir, 'in-process.log');
    const fd = openSync(file, 'w');
    try {
      const destination = new LogDestination(fd);
      for (let n = 0; n < 3000; n++) destination.write(line(n));
      // Chunks are written as they fill; the last partial one waits for a flush.
      destination.write('{"msg":"é ünïcode ✓"}\n');
      await new Promise<void>((resolve, reject) =>
        destination.flush((error) => (error ? reject(error) : resolve())),
      );
      expect(readFileSync(file, 'utf8')).toBe(`${expected(0, 3000)}{"msg":"é ünïcode ✓"}\n`);
    } finally {
      closeSync(fd);
    }
  });

  it("a quiet server's line shows up within the 200 ms flush", async () => {
    const file = join(dir, 'quiet.log');
    const fd = openSync(file, 'w');
    try {
      const destination = logDestination(fd);
      destination.write(line(1));
      expect(readFileSync(file, 'utf8')).toBe('');
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(readFileSync(file, 'utf8')).toBe(line(1));
    } finally {
      closeSync(fd);
    }
  });

  it('loses nothing at a normal exit or an uncaught exception; on SIGKILL only the last 200 ms', async () => {
    const cases: Array<[string, string, (out: string) => void]> = [
      [
        'exit',
        'const d = logDestination(); for (let n = 0; n < 20000; n++) d.write(line(n)); process.exitCode = 3;',
        (out) => expect(out).toBe(expected(0, 20000)),
      ],
      [
        'process.exit',
        'const d = logDestination(); for (let n = 0; n < 20000; n++) d.write(line(n)); process.exit(0);',
        (out) => expect(out).toBe(expected(0, 20000)),
      ],
      [
        'throw',
        "const d = logDestination(); for (let n = 0; n < 20000; n++) d.write(line(n)); setTimeout(() => { throw new Error('boom'); }, 1);",
        (out) => {
          expect(out.startsWith(expected(0, 20000))).toBe(true);
          expect(out.slice(expected(0, 20000).length)).toContain('Error: boom');
        },
      ],
      [
        'kill',
        "const d = logDestination(); for (let n = 0; n < 100; n++) d.write(line(n)); setTimeout(() => { d.write(line(100)); process.kill(process.pid, 'SIGKILL'); }, 600);",
        (out) => expect(out).toBe(expected(0, 100)),
      ],
    ];
    for (const [name, body, check] of cases) {
      const file = join(dir, `${name}.log`);
      const fd = openSync(file, 'w');
      try {
        const { exited } = child(body, fd);
        const exit = await exited;
        expect(exit.signal ?? exit.code, name).toBe(
          { exit: 3, 'process.exit': 0, throw: 1, kill: 'SIGKILL' }[name],
        );
        check(readFileSync(file, 'utf8'));
      } finally {
        closeSync(fd);
      }
    }
  });

  for (const nonBlocking of [false, true]) {
    it(`a stderr pipe nobody reads (${nonBlocking ? 'non-blocking: EAGAIN' : 'blocking'}) never stalls the event loop; lines past the cap are counted`, async () => {
      // The child writes 40000 lines (~2 MiB) at once with a 256 KiB cap while
      // the parent does not read, and counts its event loop's ticks meanwhile.
      const { proc, exited } = child(
        `${nonBlocking ? 'process.stderr;' : ''}
const d = logDestination(2, { maxPendingBytes: 256 * 1024 });
for (let n = 0; n < 40000; n++) d.write(line(n));
let ticks = 0;
const t = setInterval(() => ticks++, 10);
setTimeout(() => { clearInterval(t); process.stdout.write(String(ticks)); d.write('{"msg":"after"}\\n'); }, 1500);`,
        'pipe',
      );
      let stdout = '';
      proc.stdout!.on('data', (c: Buffer) => {
        stdout += c;
      });
      const chunks: Buffer[] = [];
      proc.stderr!.pause();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      proc.stderr!.on('data', (c: Buffer) => chunks.push(c));
      proc.stderr!.resume();
      const exit = await exited;
      expect(exit.code).toBe(0);
      // The loop ran while stderr was stuck (~150 ticks of 10 ms if it never stalled).
      expect(Number(stdout)).toBeGreaterThan(50);
      const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as { n?: number; msg?: string });
      const kept = parsed.filter((p) => p.n !== undefined).map((p) => p.n!);
      // The lines kept are the first ones, complete and in order.
      expect(kept).toEqual(kept.map((_, i) => i));
      const note = parsed.find((p) => p.msg?.includes('log lines dropped'));
      expect(note, lines.slice(-3).join('\n')).toBeDefined();
      expect(Number(/^(\d+) /.exec(note!.msg!)![1])).toBe(40000 - kept.length);
      expect(kept.length).toBeGreaterThan(1000);
      expect(parsed.at(-1)).toEqual({ msg: 'after' });
    });
  }
});
