// Tests that spawn compiled code (the CLI, the race's workers) run dist/:
// rebuild it when it is missing or older than the sources it comes from, so a
// plain `npx vitest run` after an edit does not test yesterday's build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (name.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
  }
  return newest;
}

/**
 * `tsc -b` of `projects` (paths from the repository root) when `output` is
 * missing or older than any .ts file under `sources` (same).
 */
export function buildIfStale(output: string, sources: string[], projects: string[]): void {
  const newest = Math.max(...sources.map((dir) => newestSource(join(ROOT, dir))));
  if (!existsSync(output) || statSync(output).mtimeMs < newest) {
    execFileSync('npx', ['tsc', '-b', ...projects], { cwd: ROOT, stdio: 'ignore' });
  }
}
