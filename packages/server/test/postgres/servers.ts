// Real `ifmatch serve` processes from dist/ for the multi-instance tests.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

export interface Instance {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `serve --port 0 --db <db>` and resolves with the URL it prints.
 * `healthy`: also wait until /healthz is 200 (not for an instance whose
 * database is down on purpose).
 */
export async function startInstance(db: string, healthy = true): Promise<Instance> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--db', db, '--log-level', 'warn'],
    // Small pools: several instances and test files share one PostgreSQL.
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, IFMATCH_PG_POOL_SIZE: '6' },
    },
  );
  let output = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    };
    // Keep reading both pipes for the whole life of the child.
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${output}`));
    });
  });
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
  if (healthy) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = await fetch(`${url}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (exited || Date.now() > deadline) {
        await stop();
        throw new Error(`server not healthy:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, output: () => output, stop };
}
