// `npm run bench:writes [-- --duration S --reps N --connections N]`: the core
// examples' conditional PUT (If-Match -> UPDATE ... WHERE id AND version)
// against the same app with --unconditional-writes (the same requests, a blind
// UPDATE ... WHERE id), side by side, on PostgreSQL and SQLite. Each connection
// owns one note and always sends its current ETag, so every PUT succeeds: the
// ratio is the cost of the condition, not of conflicts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { postgres } from './lib/postgres.mjs';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    adapter: { type: 'string', default: 'fastify' },
    'port-base': { type: 'string', default: '18800' },
  },
});
const log = (...m) =>
  console.error(`[bench:writes ${new Date().toISOString().slice(11, 19)}]`, ...m);
const children = new Set();

/** One example app as a child process; resolves once it listens. */
function startApp(db, port, unconditional) {
  const argv = ['--config', 'vitest.config.ts', 'packages/core/examples/main.ts', args.adapter];
  argv.push('--db', db, '--port', String(port));
  if (unconditional) argv.push('--unconditional-writes');
  const child = spawn('node_modules/.bin/vite-node', argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`example exited (${code})`)));
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('example on')) resolve(child);
    });
  });
}

function stop(child) {
  children.delete(child);
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** Load: every connection creates its note, then PUTs it with its current ETag. */
async function load(port) {
  const body = JSON.stringify({ text: 'x'.repeat(200), n: 1 });
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: Number(args.connections),
    duration: Number(args.duration),
    requests: [
      {
        method: 'PUT',
        setupRequest(req, context) {
          context.id ??= `b${randomBytes(6).toString('hex')}`;
          const precondition = context.etag
            ? { 'if-match': context.etag }
            : { 'if-none-match': '*' };
          return {
            ...req,
            path: `/notes/${context.id}`,
            headers: { 'content-type': 'application/json', ...precondition },
            body,
          };
        },
        onResponse(status, _body, context, headers) {
          if (status >= 200 && status < 300) context.etag = headers.etag;
          else context.failed = (context.failed ?? 0) + 1;
        },
      },
    ],
  });
  return { rps: result.requests.average, non2xx: result.non2xx, errors: result.errors };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function compare(label, db, port) {
  const runs = { conditional: [], unconditional: [] };
  for (let rep = 0; rep < Number(args.reps); rep++) {
    // ABBA order: whichever runs second meets a bigger table and a warmer cache.
    const order =
      rep % 2 === 0 ? ['conditional', 'unconditional'] : ['unconditional', 'conditional'];
    for (const mode of order) {
      const child = await startApp(db, port, mode === 'unconditional');
      try {
        await load(port); // warm-up (JIT, pool, table)
        const r = await load(port);
        if (r.non2xx > 0 || r.errors > 0)
          throw new Error(`${label} ${mode}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        runs[mode].push(r.rps);
        log(`${label} ${mode} rep ${rep + 1}: ${r.rps.toFixed(0)} req/s`);
      } finally {
        await stop(child);
      }
    }
  }
  // Each rep's pair ran back to back: its ratio sees the same machine load.
  const ratios = runs.conditional.map((c, i) => c / runs.unconditional[i]);
  return {
    label,
    conditional: median(runs.conditional),
    unconditional: median(runs.unconditional),
    ratio: median(ratios),
    ratios,
  };
}

const rows = [];
const dir = mkdtempSync(join(tmpdir(), 'ifmatch-bench-writes-'));
const pg = await postgres();
try {
  rows.push(await compare('SQLite', join(dir, 'notes.db'), Number(args['port-base'])));
  if (pg)
    rows.push(
      await compare('PostgreSQL', await pg.createDatabase(), Number(args['port-base']) + 1),
    );
  else log('PostgreSQL unreachable: skipped');
} finally {
  for (const child of children) await stop(child);
  await pg?.dropDatabase();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\n${args.adapter} example, ${args.connections} connections, ${args.duration} s x ${args.reps} reps (median), autocannon\n`,
);
console.log(
  '| store | conditional PUT (If-Match) req/s | unconditional UPDATE req/s | ratio (median of reps) | per rep |',
);
console.log('| --- | ---: | ---: | ---: | --- |');
for (const r of rows) {
  const reps = r.ratios.map((x) => x.toFixed(2)).join(', ');
  console.log(
    `| ${r.label} | ${r.conditional.toFixed(0)} | ${r.unconditional.toFixed(0)} | ${r.ratio.toFixed(2)}x | ${reps} |`,
  );
}
const low = rows.filter((r) => r.ratio < 0.9);
if (low.length > 0) {
  console.error(`below 0.9x: ${low.map((r) => r.label).join(', ')}`);
  process.exitCode = 1;
}
