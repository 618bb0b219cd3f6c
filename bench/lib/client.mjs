// @ifmatch/client from its build (the bench runs plain node, not TypeScript).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './targets.mjs';

export async function loadClient() {
  const dist = join(ROOT, 'packages/client/dist/index.js');
  if (!existsSync(dist))
    throw new Error(`@ifmatch/client is not built (${dist}): run npm run build`);
  return import(pathToFileURL(dist).href);
}
