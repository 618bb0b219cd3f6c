// prepack: copies the built web app (packages/web/dist) into this package's
// web/ folder, which `files` ships and static.ts serves from an installed
// package; postpack (--clean) removes the copy so the workspace serves
// packages/web/dist directly. Packing without a built web app is an error: a
// published server must never fall back to the "not built" placeholder.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const target = fileURLToPath(new URL('../web', import.meta.url));
const source = fileURLToPath(new URL('../../web/dist', import.meta.url));

rmSync(target, { recursive: true, force: true });
if (!process.argv.includes('--clean')) {
  if (!existsSync(`${source}/index.html`)) {
    console.error(`bundle-web: ${source}/index.html is missing; run "npm run build" first`);
    process.exit(1);
  }
  cpSync(source, target, { recursive: true });
}
