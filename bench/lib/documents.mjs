// The benchmark documents: deterministic JSON of about 1 KB, 100 KB and 1 MB,
// written once to bench/.tmp/ so every target serves the very same bytes.
// The bytes are JSON.stringify's output, so a framework that re-serializes the
// parsed object per request produces them again byte for byte.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TMP_DIR = join(BENCH_DIR, '.tmp');
export const SIZES = { '1k': 1024, '100k': 100 * 1024, '1m': 1024 * 1024 };

export function documentPath(size) {
  return join(TMP_DIR, `doc-${size}.json`);
}

// mulberry32: a tiny seeded PRNG, so the documents are the same on every run.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'alpha',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliet',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa',
  'quebec',
  'romeo',
  'sierra',
  'tango',
  'uniform',
  'victor',
  'whiskey',
  'xray',
  'yankee',
  'zulu',
  'ünïcødé',
  '日本語',
  'emoji 🚀',
];

function makeItem(rand, n) {
  const pick = () => WORDS[Math.floor(rand() * WORDS.length)];
  const words = (k) => Array.from({ length: k }, pick).join(' ');
  return {
    id: n,
    name: words(2),
    description: words(6 + Math.floor(rand() * 6)),
    price: Math.round(rand() * 100000) / 100,
    quantity: Math.floor(rand() * 1000),
    active: rand() < 0.5,
    tags: Array.from({ length: 1 + Math.floor(rand() * 4) }, pick),
    dimensions: { w: Math.floor(rand() * 500), h: Math.floor(rand() * 500), unit: 'mm' },
    note: rand() < 0.2 ? null : `quote " backslash \\ tab \t newline \n #${n}`,
  };
}

/** Builds the document for one size: items are added while they fit the target size. */
export function buildDocument(size) {
  const target = SIZES[size];
  const rand = prng(0x1f2e3d4c ^ target);
  const doc = { kind: 'bench', size, generated: '2026-01-01T00:00:00.000Z', items: [] };
  // Stay at or just under the target: 1 MB must fit the server's default 1 MiB body limit.
  let length = Buffer.byteLength(JSON.stringify(doc));
  for (;;) {
    const item = makeItem(rand, doc.items.length);
    const add = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (length + add > target) break;
    doc.items.push(item);
    length += add;
  }
  return Buffer.from(JSON.stringify(doc));
}

/** Writes all documents (idempotent: same bytes every time) and returns their paths. */
export function writeDocuments() {
  mkdirSync(TMP_DIR, { recursive: true });
  const out = {};
  for (const size of Object.keys(SIZES)) {
    const bytes = buildDocument(size);
    writeFileSync(documentPath(size), bytes);
    out[size] = { path: documentPath(size), bytes: bytes.length };
  }
  return out;
}

/** For targets: the stored bytes of every size. */
export function loadDocuments() {
  const docs = {};
  for (const size of Object.keys(SIZES)) docs[size] = readFileSync(documentPath(size));
  return docs;
}
