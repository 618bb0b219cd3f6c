#!/usr/bin/env node
// A longer linearizability check than `npm test` runs:
//
//   npm run check:linearizable -- --seconds 300
//
// Builds dist/ (the servers run as real `ifmatch serve` processes), then runs
// every scenario of packages/server/test/linearizability for --seconds each
// (default 60): PostgreSQL through a faulty relay, PostgreSQL with SIGKILL
// and restarts, PostgreSQL read on two instances while a third writes, and
// two SQLite processes on one file with SIGKILL. Prints a one-line verdict;
// a violation's history is written as JSON to --out (default
// $TMPDIR/ifmatch-linearizability) and named in the verdict. Exits 1 unless
// every scenario ran and was linearizable. PostgreSQL: IFMATCH_PG_URL, as in
// the tests (without it, and outside CI, its scenarios are skipped and the
// verdict says so).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, out: { type: 'string' } },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error('check:linearizable: --seconds must be a positive number');
  process.exit(2);
}
const out = resolve(values.out ?? join(tmpdir(), 'ifmatch-linearizability'));
const work = mkdtempSync(join(tmpdir(), 'ifmatch-lincheck-'));
const report = join(work, 'report.jsonl');
const log = join(out, `vitest-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);

const build = spawnSync(
  'npx',
  ['tsc', '-b', 'packages/core', 'packages/client', 'packages/server'],
  {
    cwd: root,
    encoding: 'utf8',
  },
);
if (build.status !== 0) {
  console.error(`check:linearizable: FAILED: the build failed\n${build.stdout}${build.stderr}`);
  process.exit(1);
}

const started = Date.now();
const files = ['postgres', 'sqlite'].map(
  (f) => `packages/server/test/linearizability/${f}.test.ts`,
);
const run = spawnSync('npx', ['vitest', 'run', ...files], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
  env: {
    ...process.env,
    IFMATCH_LINEARIZABLE_SECONDS: String(seconds),
    IFMATCH_LINEARIZABLE_REPORT: report,
    IFMATCH_LINEARIZABLE_OUT: out,
  },
});
mkdirSync(out, { recursive: true });
writeFileSync(log, `${run.stdout ?? ''}${run.stderr ?? ''}`);

const runs = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
rmSync(work, { recursive: true, force: true });

const wall = ((Date.now() - started) / 1000).toFixed(0);
const bad = runs.find((r) => r.linearizable !== true);
if (bad) {
  console.log(`check:linearizable: ${bad.verdict}`);
  process.exit(1);
}
const ops = runs.reduce((n, r) => n + r.operations, 0);
const unknown = runs.reduce((n, r) => n + r.unknown, 0);
const faults = {};
for (const r of runs)
  for (const [k, v] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + v;
const faultText = Object.entries(faults)
  .map(([k, v]) => `${v} ${k}`)
  .join(', ');
const longest = runs.reduce((a, r) => (a && a.operations >= r.operations ? a : r), undefined);
const summary =
  `${runs.length} runs of ${seconds} s (${runs.map((r) => r.scenario).join(', ')}), ` +
  `${ops} operations (${unknown} unknown), faults: ${faultText || 'none'}; ` +
  `longest history ${longest?.operations ?? 0} operations (${longest?.scenario ?? '-'}); ${wall} s in all`;
if (run.status !== 0 || runs.length === 0) {
  console.log(
    `check:linearizable: FAILED (no violation found, but a run failed: ${summary}); vitest log: ${log}`,
  );
  process.exit(1);
}
const skipped = /skipping "linearizability on PostgreSQL/.test(`${run.stdout}${run.stderr}`);
console.log(
  `check:linearizable: linearizable: ${summary}${skipped ? '; PostgreSQL unreachable, its runs skipped' : ''}`,
);
