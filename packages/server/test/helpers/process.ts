// Starts `ifmatch serve` from dist/ as a real child process (what users run),
// for the tests that must kill it, run several instances or drive it from a
// browser. Shared with packages/web/test.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

export function cliBuilt(): boolean {
  return existsSync(CLI);
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  kill(signal: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** For the URL line and for /healthz each (default 20 s). */
  timeoutMs?: number;
  /** Wait until /healthz is 200 (default true; not for a server whose storage is down on purpose). */
  healthy?: boolean;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

/**
 * `serve --port 0 --host 127.0.0.1 …extra`; resolves with the URL it prints
 * (and, by default, once /healthz answers 200). A server that exits first or
 * never gets healthy rejects with its output, and is not left running.
 */
export async function startServer(
  extra: string[],
  { timeoutMs = 20_000, healthy = true, env = {} }: StartOptions = {},
): Promise<ServerProcess> {
  if (!cliBuilt()) throw new Error(`${CLI} is missing: run npm run build first`);
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let output = '';
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const kill = (signal: NodeJS.Signals) => {
    if (!done) child.kill(signal);
    return exited;
  };
  const stop = async () => {
    const timer = setTimeout(() => kill('SIGKILL'), 5000);
    await kill('SIGTERM');
    clearTimeout(timer);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`server printed no URL in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    // Keep reading both pipes for the whole life of the child, so it never
    // blocks on a full pipe.
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  if (healthy) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await fetch(`${url}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (done || Date.now() > deadline) {
        await stop();
        throw new Error(`server not healthy:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, child, output: () => output, exited, kill, stop };
}
