// `node bench/profile.mjs [--target ifmatch-sqlite] [--path 304] [--size 1k] [--seconds 5]`:
// runs one target under `node --cpu-prof` with the same wrk load as the
// benchmark, then prints where its CPU time went (self time by function and
// by package). The .cpuprofile stays in bench/.tmp/profiles/ for DevTools.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDocuments, TMP_DIR, writeDocuments } from './lib/documents.mjs';
import { findWrk, load } from './lib/load.mjs';
import { postgres } from './lib/postgres.mjs';
import { verify } from './lib/probe.mjs';
import { ROOT, startTarget, TARGETS, urlPath } from './lib/targets.mjs';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'ifmatch-sqlite' },
    path: { type: 'string', default: '304' },
    size: { type: 'string', default: '1k' },
    seconds: { type: 'string', default: '5' },
    port: { type: 'string', default: '18780' },
    top: { type: 'string', default: '25' },
  },
});

/** Self time per node of a V8 CPU profile (samples x interval). */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, { node: n, self: 0 }]));
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const e = byId.get(profile.samples[i]);
    if (e) e.self += (dt[i] ?? 0) / 1000;
  }
  return [...byId.values()];
}

function packageOf(url) {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node:internal';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const ws = /\/packages\/([^/]+)\//.exec(url);
  if (ws) return `@ifmatch/${ws[1]}`;
  return url.replace(`file://${ROOT}/`, '');
}

export function summarize(profile, top) {
  const entries = selfTimes(profile);
  const total = entries.reduce((a, e) => a + e.self, 0);
  const byFn = new Map();
  const byPkg = new Map();
  for (const { node, self } of entries) {
    const cf = node.callFrame;
    const where = cf.url ? `${cf.url.replace(`file://${ROOT}/`, '')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + self);
    const pkg = packageOf(cf.url);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + self);
  }
  const pct = (x) => `${((100 * x) / total).toFixed(1)}%`;
  const lines = [`total sampled: ${total.toFixed(0)} ms`, '', 'self time by package:'];
  for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15))
    lines.push(`  ${pct(v).padStart(6)}  ${k}`);
  lines.push('', `self time by function (top ${top}):`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${pct(v).padStart(6)}  ${k}`);
  return lines.join('\n');
}

async function main() {
  const target = TARGETS.find((t) => t.name === args.target);
  if (!target) throw new Error(`unknown target ${args.target}`);
  writeDocuments();
  const docs = loadDocuments();
  const dir = join(TMP_DIR, 'profiles', `${args.target}-${args.size}-${args.path}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pg = target.ifmatch === 'postgres' ? await postgres() : undefined;
  const r = await startTarget(target, Number(args.port), docs, pg, [
    '--cpu-prof',
    '--cpu-prof-dir',
    dir,
  ]);
  let result;
  try {
    const url = r.base + urlPath(target, args.size);
    const etag = await verify(url, docs[args.size], args.path);
    const headers = {};
    if (args.path === '304') headers['If-None-Match'] = etag;
    if (args.path === 'gzip') headers['Accept-Encoding'] = 'gzip';
    const tool = findWrk() ? 'wrk' : 'autocannon';
    await load(tool, { url, headers, seconds: 1, connections: 32, threads: 2 });
    result = await load(tool, {
      url,
      headers,
      seconds: Number(args.seconds),
      connections: 32,
      threads: 2,
    });
  } finally {
    await r.stop(); // SIGTERM: the process exits normally and writes its profile
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  console.log(
    `${args.target} ${args.size}/${args.path}: ${Math.round(result.rps)} req/s under --cpu-prof (profiling slows it down)`,
  );
  console.log(`profile: ${join(dir, file)}\n`);
  console.log(summarize(profile, Number(args.top)));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
