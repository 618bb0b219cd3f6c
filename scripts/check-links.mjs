// Every link in the repository's Markdown must resolve from a clone, and every
// link in a package README must also resolve on the npm package page (which
// shows the README alone): there, only absolute https links and #anchors work.
// Links to this repository (REPO_URL/blob|tree/main/PATH) are checked against
// the clone; other https links are not fetched (no network in this check).
// `npm run check:links`; exit 1 with one line per broken link.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_URL = 'https://github.com/ifmatch/ifmatch';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const files = [
  'README.md',
  'DEVELOPERS.md',
  'CHANGELOG.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(ROOT, 'packages'))
    .map((p) => `packages/${p}/README.md`)
    .filter((f) => existsSync(join(ROOT, f))),
].filter((f) => existsSync(join(ROOT, f)));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(text) {
  const seen = new Map();
  const out = new Set();
  for (const m of stripCode(text).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Fenced blocks and inline code hold examples, not links. */
function stripCode(text) {
  return text.replace(/^(```|~~~)[\s\S]*?^\1/gm, '').replace(/`[^`\n]*`/g, '');
}

function links(text) {
  const out = [];
  // [text](target "title") and ![alt](target), the text possibly over several lines.
  for (const m of stripCode(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push(m[1]);
  }
  return out;
}

const problems = [];
let checked = 0;
for (const file of files) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  // Published packages only: a private one's README is never on an npm page.
  const inPackage =
    /^packages\/[^/]+\/README\.md$/.test(file) &&
    !JSON.parse(readFileSync(join(ROOT, dirname(file), 'package.json'), 'utf8')).private;
  for (const target of links(text)) {
    checked++;
    const fail = (why) => problems.push(`${file}: ${target}: ${why}`);
    if (target.startsWith('#')) {
      if (!anchors(text).has(decodeURIComponent(target.slice(1)))) fail('no such heading');
      continue;
    }
    if (/^mailto:/.test(target)) continue;
    if (/^https?:\/\//.test(target)) {
      if (!target.startsWith(`${REPO_URL}/`) && target !== REPO_URL) continue;
      const m = /^\/(?:blob|tree)\/main\/([^#?]+)(?:#(.*))?$/.exec(target.slice(REPO_URL.length));
      if (m) {
        const path = join(ROOT, decodeURIComponent(m[1]));
        if (!existsSync(path)) fail(`${relative(ROOT, path)} does not exist in this repository`);
        else if (m[2] && path.endsWith('.md') && !anchors(readFileSync(path, 'utf8')).has(m[2]))
          fail('no such heading');
      } else if (!/^(#readme|\/issues.*|\/pulls.*)?$/.test(target.slice(REPO_URL.length))) {
        fail(`links to ${REPO_URL} must be ${REPO_URL}/blob/main/PATH or /tree/main/PATH`);
      }
      continue;
    }
    if (/^[a-z]+:/i.test(target)) {
      fail('not an https link');
      continue;
    }
    if (inPackage) {
      fail(`relative link in a package README (broken on npm): use ${REPO_URL}/blob/main/...`);
      continue;
    }
    const [path, anchor] = target.split('#');
    const full = resolve(dirname(join(ROOT, file)), decodeURIComponent(path));
    if (!full.startsWith(ROOT)) fail('points outside the repository');
    else if (!existsSync(full)) fail(`${relative(ROOT, full)} does not exist`);
    else if (anchor && full.endsWith('.md') && !anchors(readFileSync(full, 'utf8')).has(anchor))
      fail('no such heading');
  }
}

for (const p of problems) console.error(p);
console.log(`check-links: ${checked} links in ${files.length} files, ${problems.length} broken`);
if (problems.length > 0) process.exitCode = 1;
