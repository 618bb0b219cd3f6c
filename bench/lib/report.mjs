// bench/RESULTS.md from the measurements: absolute numbers, ratios to the raw
// reference of the same repetition, bytes per 304, the goals with PASS/FAIL.
import { writeFileSync } from 'node:fs';

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : 'n/a';
// Small ratios keep two significant digits: 0.0019x is not 0.00x.
const ratio = (x) =>
  Number.isFinite(x) ? `${x >= 0.1 ? x.toFixed(2) : x.toPrecision(2)}x` : 'n/a';
const SIZE_LABEL = { '1k': '1 KB', '100k': '100 KB', '1m': '1 MB' };
const PATH_LABEL = {
  200: '200 (no validator)',
  304: '304 (matching If-None-Match)',
  gzip: 'gzip 200 (Accept-Encoding: gzip)',
};
const FRAMEWORKS = ['fastify', 'express', 'hono', 'fastify-bytes', 'express-bytes', 'hono-bytes'];
const IFMATCH = ['ifmatch-sqlite', 'ifmatch-postgres'];
// RFC 9110 15.4.5: what a 304 must carry when its 200 would have.
const REQUIRED_304 = new Set([
  'etag',
  'cache-control',
  'vary',
  'date',
  'content-location',
  'expires',
]);
// The server's own contract (issue 3): a request id on every response, 304s
// included, so a proxy's or client's log line can be matched with ours.
const CONTRACT_304 = new Set(['x-request-id']);

/** Per target: median req/s, median of per-repetition ratios to raw, median p50/p99. */
export function summarize(section) {
  const raw = section.entries.raw?.reps ?? [];
  const out = {};
  for (const [name, { reps }] of Object.entries(section.entries)) {
    out[name] = {
      rps: median(reps.map((r) => r?.rps)),
      ratio: median(reps.map((r, i) => (r && raw[i] ? r.rps / raw[i].rps : Number.NaN))),
      p50: median(reps.map((r) => r?.p50)),
      p99: median(reps.map((r) => r?.p99)),
      bad: reps.reduce((a, r) => a + (r?.bad ?? 0) + (r?.errors ?? 0), 0),
      reps: reps.map((r) => r?.rps),
      // PostgreSQL targets: statements sent per request (database round trips).
      queriesPerRequest: median(reps.map((r) => r?.queriesPerRequest)),
      // Per repetition, req/s over the same repetition's ifmatch-sqlite (same path, same size).
      toSqlite: median(
        reps.map((r, i) => {
          const s = section.entries['ifmatch-sqlite']?.reps[i];
          return r && s ? r.rps / s.rps : Number.NaN;
        }),
      ),
    };
  }
  return out;
}

function headerLines(head) {
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.length > 0)
    .map((l) => {
      const i = l.indexOf(':');
      return { name: l.slice(0, i).toLowerCase(), line: l };
    });
}

/**
 * Bytes of a target's 304 beyond the raw reference's, and the allowance: a
 * longer ETag (its opaque is the server's business) and required fields the
 * reference did not send.
 */
export function wireCheck(raw, mine) {
  const rawLines = headerLines(raw.head);
  const myLines = headerLines(mine.head);
  const rawNames = new Set(rawLines.map((h) => h.name));
  let allowance = 0;
  const etagLen = (ls) => ls.find((h) => h.name === 'etag')?.line.length ?? 0;
  allowance += Math.max(0, etagLen(myLines) - etagLen(rawLines));
  for (const h of myLines) {
    const required = REQUIRED_304.has(h.name) || CONTRACT_304.has(h.name);
    if (required && !rawNames.has(h.name)) allowance += h.line.length + 2;
  }
  const forbidden = myLines.filter((h) => h.name === 'content-length' || h.name === 'content-type');
  const extra = mine.bytes - raw.bytes;
  return {
    extra,
    allowance,
    forbidden: forbidden.map((h) => h.line),
    pass: forbidden.length === 0 && extra <= allowance,
  };
}

/** One backend and writer count over the repetitions: median rate, sums of the counts. */
function contentionSummary(results, target, writers) {
  const runs = results.contention.filter((c) => c.target === target && c.writers === writers);
  const ok = runs.filter((c) => !c.error);
  const sum = (k) => ok.reduce((a, c) => a + c[k], 0);
  return {
    commitsPerSecond: ok.length ? median(ok.map((c) => c.commitsPerSecond)) : undefined,
    perRep: ok.map((c) => c.commitsPerSecond),
    committed: sum('committed'),
    conflicts: sum('conflicts'),
    gaveUp: sum('gaveUp'),
    lost: sum('lost'),
    errors: runs.filter((c) => c.error).map((c) => c.error),
  };
}

/** The live-changes goals (issue 15), from results.live (bench/lib/live.mjs). */
function liveGoals(live, add) {
  if (!live) return;
  const ms = (x) => `${fmt(x, 1)} ms`;
  for (const name of ['live-postgres-x2', 'live-sqlite-x2']) {
    const backend = name === 'live-postgres-x2' ? 'PostgreSQL' : 'SQLite';
    const pair = live.pairs.find((p) => p.name === name);
    const skipped = live.skipped.find((s) => s.name === name);
    const other = pair?.latency.other;
    add(
      `live, ${backend}: commit on instance A -> answer to a waiter on instance B, p99 <= 50 ms`,
      other && other.ack.n > 0
        ? `p50 ${ms(other.ack.p50)}, p99 ${ms(other.ack.p99)} after the PUT's acknowledgement (${other.ack.n} samples; from the PUT sent: p50 ${ms(other.sent.p50)}, p99 ${ms(other.sent.p99)})`
        : (skipped?.reason ?? 'not measured'),
      other && other.ack.n > 0 ? other.ack.p99 <= 50 : undefined,
    );
    const f = pair?.fanout;
    add(
      `live, ${backend}: one write to a document ${f ? fmt(f.waiters) : '1,000'} waiters hold: all answered, the body read once`,
      f
        ? `${fmt(f.ok)} of ${fmt(f.waiters)} answered 200 with the new ETag (${f.early} early); instance B read the body ${f.reads} time(s), validators ${f.validators}`
        : (skipped?.reason ?? 'not measured'),
      // Exactly 1: B never held the new body, so 0 would mean the counting failed.
      f ? f.ok === f.waiters && f.early === 0 && f.reads === 1 : undefined,
    );
  }
  const m = live.many;
  const full = m && m.waiters >= m.requested;
  add(
    `live: ${fmt(m?.requested ?? 10000)} concurrent waiting requests on one instance: RSS growth <= 150 MB`,
    m
      ? `+${fmt(m.rssGrowth / 2 ** 20, 1)} MB (${fmt(m.rssBefore / 2 ** 20)} -> ${fmt(Math.max(m.rssWaiting, m.rssAfterLoad) / 2 ** 20)} MB) with ${fmt(m.waiters)} waiters${full ? '' : ` (open files limit ${live.openFilesLimit})`}`
      : 'not measured',
    m && full ? m.rssGrowth <= 150 * 2 ** 20 : undefined,
  );
  add(
    `live: 304 throughput of other clients with ${fmt(m?.requested ?? 10000)} waiters >= 0.8x without`,
    m
      ? `${ratio(m.ratio)} (median of per-pair ratios; medians ${fmt(m.rpsWith)} with / ${fmt(m.rpsWithout)} without req/s); all ${fmt(m.woken)} waiters then woken by one write`
      : 'not measured',
    m && full ? m.ratio >= 0.8 && m.woken === m.waiters : undefined,
  );
}

/** The "Live changes" section of the report. */
function liveSection(L, live, config) {
  const ms = (x) => fmt(x, 1);
  const MB = (x) => fmt(x / 2 ** 20, 1);
  const load = (l) => (l ? l.map((x) => x.toFixed(2)).join(' / ') : '');
  L.push('', '## Live changes (long-poll wake-ups, many waiters)', '');
  L.push(
    'bench/lib/live.mjs, against real `ifmatch serve` processes (default options). Waiters are raw keep-alive ' +
      'sockets in the bench process, each with one `GET` carrying `If-None-Match` (the current ETag) and `Prefer: wait=N` in flight.',
    '',
    '- **Wake-up latency**: two instances on one PostgreSQL database, and two processes on one SQLite file. ' +
      'A waiter has its request in flight (40 ms before the write) on instance B, or on A for comparison; ' +
      "a `PUT` with `If-Match` goes to A; latency = waiter's 200 received - PUT's acknowledgement received " +
      "(and - PUT sent). Samples alternate B and A; the 200 must carry the PUT's ETag and " +
      '`Preference-Applied: wait` (the request was held, not answered before the write).',
    '- **One write, many waiters**: the waiters hold one document on instance B, one `PUT` through A; ' +
      'every waiter must get the 200 with the new ETag. Body reads by B: PostgreSQL `/metrics` ' +
      '`ifmatch_store_queries_total{op="read"}` before/after; SQLite: the store exports no statement counts, so ' +
      "B runs with a preload (bench/lib/sqlite-reads.cjs) that counts better-sqlite3 statements by SQL: the store's " +
      '`SELECT … body FROM documents` is the body read.',
    `- **Many waiters**: two identical instances X and Y (SQLite, default options, one file); X holds the ` +
      `\`Prefer: wait=60\` waiters on one document; ${config.tool} 304 load (${config.connections} connections) on another ` +
      `document goes to X and Y in turns (order alternating), ${live.many?.with.length ?? ''} pair(s) of ${live.many?.runSeconds ?? ''} s runs ` +
      "(all within the waiters' 60 s); ratio = median of the per-pair ratios X / Y; the control = the same for two pairs " +
      'before the waiters open (X and Y alike would be 1.0x: the spread of the control is the noise). RSS = VmRSS of X ' +
      '(/proc/PID/status) before opening them and while they wait (max of after opening and after the load). ' +
      'At the end one write to their document must wake them all.',
    '',
    `Open files limit of the bench (inherited by the servers): ${live.openFilesLimit}. Load average at the start of the section: ${load(live.loadStart)}, at its end: ${load(live.loadEnd)}.`,
  );
  if (live.pairs.length) {
    L.push(
      '',
      '| backend | waiter on | samples | p50 ms after ack | p90 | p99 | max | p50 ms after PUT sent | p99 | errors | load average |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
    );
    for (const p of live.pairs) {
      for (const [where, label] of [
        ['other', 'the other instance (B)'],
        ['same', 'the writing instance (A)'],
      ]) {
        const x = p.latency[where];
        L.push(
          `| ${p.label} | ${label} | ${x.ack.n} | ${ms(x.ack.p50)} | ${ms(x.ack.p90)} | ${ms(x.ack.p99)} | ${ms(x.ack.max)} | ${ms(x.sent.p50)} | ${ms(x.sent.p99)} | ${where === 'other' ? [...p.latency.errors, ...(p.latency.notHeld ? [`${p.latency.notHeld} answered without waiting (not counted)`] : [])].join('; ') : ''} | ${where === 'other' ? load(p.load) : ''} |`,
        );
      }
    }
    L.push(
      '',
      '| backend | waiters on B | answered 200, new ETag | answered before the write | body reads by B | validator reads by B | last answer after ack, ms |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const p of live.pairs) {
      const f = p.fanout;
      L.push(
        `| ${p.label} | ${fmt(f.waiters)} | ${fmt(f.ok)} | ${f.early} | ${f.reads} | ${f.validators} | ${ms(f.lastAfterAck)} |`,
      );
    }
  }
  const m = live.many;
  if (m) {
    L.push(
      '',
      '| waiters on X | opened in | RSS of X before | while waiting | after the load | growth | 304 req/s on X with them (per run) | on Y without (per run) | X / Y (median of pairs) | control X / Y before | woken by one write | last after ack | 304 timeouts | errors | load average |',
      '|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|',
    );
    L.push(
      `| ${fmt(m.waiters)} | ${fmt(m.openMs / 1000, 1)} s | ${MB(m.rssBefore)} MB | ${MB(m.rssWaiting)} MB | ${MB(m.rssAfterLoad)} MB | +${MB(m.rssGrowth)} MB | ${m.with.map((x) => fmt(x)).join(', ')} | ${m.without.map((x) => fmt(x)).join(', ')} | ${ratio(m.ratio)} | ${m.control ? ratio(m.control.ratio) : ''} | ${fmt(m.woken)} | ${fmt(m.lastAfterAck)} ms | ${m.timeouts} | ${m.errors + m.bad} | ${load(m.load)} |`,
    );
  }
  for (const s of live.skipped) L.push('', `- ${s.label}: not measured (${s.reason})`);
}

function computeGoals(results, summaries) {
  const goals = [];
  const sizes = results.config.sizes;
  const present = IFMATCH.filter((t) => results.targets.some((x) => x.name === t));
  const get = (size, path) => summaries.find((s) => s.size === size && s.path === path)?.sum ?? {};
  const add = (goal, measured, pass) =>
    goals.push({
      goal,
      measured,
      result: pass === undefined ? 'NOT MEASURED' : pass ? 'PASS' : 'FAIL',
    });
  if (present.length === 0 && !results.config.liveOnly) {
    add('all ifmatch goals', 'no ifmatch target ran (see Skipped)', undefined);
  }
  for (const t of present) {
    const r304 = sizes.map((s) => [s, get(s, '304')[t]?.ratio]);
    add(
      `${t}: 304 path >= 0.7x raw at every size`,
      r304.map(([s, r]) => `${SIZE_LABEL[s]} ${ratio(r)}`).join(', '),
      r304.every(([, r]) => Number.isFinite(r)) ? r304.every(([, r]) => r >= 0.7) : undefined,
    );
    if (sizes.includes('1k') && sizes.includes('1m')) {
      const a = get('1k', '304')[t]?.rps;
      const b = get('1m', '304')[t]?.rps;
      add(
        `${t}: 304 req/s for 1 MB >= 0.9x that for 1 KB`,
        `${fmt(b)} / ${fmt(a)} = ${ratio(b / a)}`,
        Number.isFinite(a / b) ? b / a >= 0.9 : undefined,
      );
    }
    const r200 = sizes.map((s) => [s, get(s, '200')[t]?.ratio]);
    add(
      `${t}: 200 path >= 0.6x raw at every size`,
      r200.map(([s, r]) => `${SIZE_LABEL[s]} ${ratio(r)}`).join(', '),
      r200.every(([, r]) => Number.isFinite(r)) ? r200.every(([, r]) => r >= 0.6) : undefined,
    );
    const behind = [];
    let measured = true;
    for (const s of sizes) {
      const mine = get(s, '200')[t]?.rps;
      if (!Number.isFinite(mine)) measured = false;
      for (const f of FRAMEWORKS) {
        const theirs = get(s, '200')[f]?.rps;
        if (Number.isFinite(theirs) && !(mine > theirs))
          behind.push(`${SIZE_LABEL[s]}: ${f} ${fmt(theirs)} >= ${fmt(mine)}`);
      }
    }
    add(
      `${t}: 200 path ahead of every framework target at every size`,
      behind.length ? behind.join('; ') : 'ahead everywhere',
      measured ? behind.length === 0 : undefined,
    );
    const wires = sizes.map((s) => [s, results.wire[t]?.[s], results.wire.raw?.[s]]);
    const checks = wires.filter(([, m, r]) => m && r).map(([s, m, r]) => [s, wireCheck(r, m)]);
    add(
      `${t}: 304 on the wire <= raw 304 + required fields (RFC 9110 15.4.5, and X-Request-Id: issue 3), no Content-Length/Content-Type`,
      checks
        .map(
          ([s, c]) =>
            `${SIZE_LABEL[s]}: +${c.extra} B (allowed +${c.allowance})${c.forbidden.length ? `, sends ${c.forbidden.join(', ')}` : ''}`,
        )
        .join('; ') || 'n/a',
      checks.length === sizes.length ? checks.every(([, c]) => c.pass) : undefined,
    );
    const c1 = contentionSummary(results, t, 1);
    const c16 = contentionSummary(results, t, 16);
    const lost = results.contention
      .filter((c) => c.target === t)
      .reduce((a, c) => a + (c.lost ?? 0), 0);
    const ok = c1?.commitsPerSecond !== undefined && c16?.commitsPerSecond !== undefined;
    add(
      `${t}: 16 writers >= 0.8x the committed updates/s of 1 writer, 0 lost`,
      ok
        ? `${fmt(c16.commitsPerSecond)} / ${fmt(c1.commitsPerSecond)} = ${ratio(c16.commitsPerSecond / c1.commitsPerSecond)}, lost ${lost}`
        : 'not measured',
      ok ? c16.commitsPerSecond / c1.commitsPerSecond >= 0.8 && lost === 0 : undefined,
    );
  }
  if (present.includes('ifmatch-postgres') && present.includes('ifmatch-sqlite')) {
    for (const path of ['304', '200']) {
      const r = sizes.map((s) => [s, get(s, path)['ifmatch-postgres']?.toSqlite]);
      add(
        `ifmatch-postgres: ${path} path >= 0.8x ifmatch-sqlite at every size (same repetition)`,
        r.map(([s, x]) => `${SIZE_LABEL[s]} ${ratio(x)}`).join(', '),
        r.every(([, x]) => Number.isFinite(x)) ? r.every(([, x]) => x >= 0.8) : undefined,
      );
    }
  }
  for (const t of ['ifmatch-postgres', 'ifmatch-postgres-x2']) {
    const q = sizes.map((s) => [s, get(s, '304')[t]?.queriesPerRequest]);
    if (!q.some(([, x]) => Number.isFinite(x))) continue;
    add(
      `${t}: database round trips per 304 well under one (< 0.5)`,
      q.map(([s, x]) => `${SIZE_LABEL[s]} ${fmt(x, 3)}`).join(', '),
      q.every(([, x]) => Number.isFinite(x)) ? q.every(([, x]) => x < 0.5) : undefined,
    );
  }
  liveGoals(results.live, add);
  const c = results.client;
  if (c || !results.config.liveOnly)
    add(
      'client: a 304 answered from the cache costs no JSON parse',
      c && !c.error
        ? `${c.parses} JSON.parse calls over ${c.requests} revalidations (${c.notModified} answered 304 from cache)`
        : (c?.error ?? 'not measured'),
      c && !c.error ? c.parses === 0 && c.notModified === c.requests : undefined,
    );
  return goals;
}

export function writeReport(file, results) {
  const { config, machine } = results;
  const summaries = results.sections.map((s) => ({ ...s, sum: summarize(s) }));
  const label = (name) => results.targets.find((t) => t.name === name)?.label ?? name;
  const goals = computeGoals(results, summaries);
  const L = [];
  L.push('# Benchmark results', '');
  L.push(
    `Generated by \`npm run bench${config.quick ? ' -- --quick' : ''}\` (bench/run.mjs) on ${machine.date}. Do not edit by hand.`,
  );
  if (config.quick)
    L.push('', '**Quick smoke run: one short repetition, numbers are indicative only.**');
  L.push('');
  L.push(
    `Load: ${config.tool === 'wrk' ? `wrk -t${config.threads} -c${config.connections} -d${config.seconds}s --latency` : `autocannon -c ${config.connections} -d ${config.seconds}`} over loopback; ` +
      `${config.reps} repetition(s), warm-up ${config.warmup} s per target and section; within a repetition the targets take turns ` +
      '(order rotated each repetition). Every target is its own process and serves byte-identical documents (checked before loading). ' +
      'Ratio = target req/s / raw reference req/s in the same repetition, median over repetitions; req/s, p50, p99 are medians too.',
  );
  L.push('', '## Machine', '');
  L.push('| | |', '|---|---|');
  L.push(
    `| CPU | ${machine.cpu} |`,
    `| cores | ${machine.cores} |`,
    `| memory | ${machine.memoryGiB} GiB |`,
  );
  L.push(
    `| OS | ${machine.os} |`,
    `| Node.js | ${machine.node} |`,
    `| load generator | ${config.tool === 'wrk' ? machine.wrk : `autocannon ${machine.versions.autocannon}`} |`,
  );
  L.push(
    `| load average (1/5/15 min) at start | ${machine.loadStart.map((x) => x.toFixed(2)).join(' / ')} |`,
  );
  if (machine.loadEnd)
    L.push(`| load average at end | ${machine.loadEnd.map((x) => x.toFixed(2)).join(' / ')} |`);
  L.push(
    `| peers | ${Object.entries(machine.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} |`,
  );
  L.push(
    `| documents | ${Object.entries(results.documents)
      .map(([k, v]) => `${SIZE_LABEL[k]} = ${fmt(v)} bytes`)
      .join(', ')} |`,
  );

  L.push('', '## Goals', '', '| goal | measured | result |', '|---|---|---|');
  for (const g of goals) L.push(`| ${g.goal} | ${g.measured} | **${g.result}** |`);

  // A --live-only run has no HTTP sections: no empty tables for them.
  if (summaries.length) {
    L.push('', '## Ratio to the raw reference (median of per-repetition ratios)', '');
    const cols = summaries.map(
      (s) => `${SIZE_LABEL[s.size]} ${s.path === 'gzip' ? 'gzip' : s.path}`,
    );
    L.push(`| target | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    const names = [...new Set(summaries.flatMap((s) => Object.keys(s.sum)))];
    for (const n of names) {
      L.push(
        `| ${label(n)} | ${summaries.map((s) => (s.sum[n] ? ratio(s.sum[n].ratio) : '')).join(' | ')} |`,
      );
    }
  }

  for (const s of summaries) {
    L.push('', `## ${SIZE_LABEL[s.size]}, ${PATH_LABEL[s.path]}`, '');
    L.push(
      '| target | req/s | ratio to raw | p50 ms | p99 ms | req/s per repetition | errors |',
      '|---|---:|---:|---:|---:|---|---:|',
    );
    const rows = Object.entries(s.sum).sort((a, b) => b[1].rps - a[1].rps);
    for (const [n, m] of rows) {
      L.push(
        `| ${label(n)} | ${fmt(m.rps)} | ${ratio(m.ratio)} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} | ${m.reps.map((x) => fmt(x)).join(', ')} | ${m.bad} |`,
      );
    }
    for (const [n, why] of Object.entries(s.excluded))
      L.push(`| ${label(n)} | excluded: ${why} | | | | | |`);
  }

  const several = summaries.filter((s) => s.path === '304' && s.sum['ifmatch-postgres-x2']);
  if (several.length) {
    L.push('', '## Several instances on one PostgreSQL (304 path)', '');
    L.push(
      "The 2-instance target's load splits its connections evenly between the two processes " +
        '(one load generator each, run at once); req/s is their sum. Round trips = statements the ' +
        'stores sent (ifmatch_store_queries_total, validators and read) / requests answered.',
      '',
      '| size | 1 instance req/s | 2 instances req/s | 2 / 1 | round trips per 304, 1 instance | 2 instances |',
      '|---|---:|---:|---:|---:|---:|',
    );
    for (const s of several) {
      const one = s.sum['ifmatch-postgres'];
      const two = s.sum['ifmatch-postgres-x2'];
      L.push(
        `| ${SIZE_LABEL[s.size]} | ${fmt(one?.rps)} | ${fmt(two.rps)} | ${ratio(two.rps / one?.rps)} | ${fmt(one?.queriesPerRequest, 3)} | ${fmt(two.queriesPerRequest, 3)} |`,
      );
    }
  }

  if (Object.keys(results.wire).length) {
    L.push('', '## Bytes on the wire per 304', '');
    L.push(
      "One conditional GET over a raw socket; the whole response head (a 304 has no body). Connection/Keep-Alive are Node's own.",
      '',
    );
    const wsizes = config.sizes;
    L.push(
      `| target | ${wsizes.map((s) => SIZE_LABEL[s]).join(' | ')} | header fields |`,
      `|---|${wsizes.map(() => '---:').join('|')}|---|`,
    );
    for (const [n, w] of Object.entries(results.wire)) {
      const any = Object.values(w)[0];
      const fields = any
        ? headerLines(any.head)
            .map((h) => h.line.split(':')[0])
            .join(', ')
        : '';
      L.push(
        `| ${label(n)} | ${wsizes.map((s) => (w[s] ? fmt(w[s].bytes) : '')).join(' | ')} | ${fields} |`,
      );
    }
  }

  if (results.contention.length) {
    L.push('', '## Contended writes', '');
    L.push(
      `Writers run @ifmatch/client's update() (If-Match, Prefer: return=representation, re-apply on 412, jittered backoff${config.backoff ? ` with base ${config.backoff.base} ms` : ' with the client defaults'}) on one document for ${config.contentionSeconds} s; ` +
        'lost = acknowledged updates missing from the final document.',
      '',
    );
    L.push(
      '| backend | writers | committed updates/s (median) | per repetition | committed | 412s | gave up | lost | errors |',
      '|---|---:|---:|---|---:|---:|---:|---:|---|',
    );
    const keys = [...new Set(results.contention.map((c) => `${c.target}|${c.writers}`))];
    for (const key of keys) {
      const [target, writers] = key.split('|');
      const c = contentionSummary(results, target, Number(writers));
      L.push(
        `| ${label(target)} | ${writers} | ${fmt(c.commitsPerSecond)} | ${c.perRep.map((x) => fmt(x)).join(', ')} | ${c.committed} | ${c.conflicts} | ${c.gaveUp} | ${c.lost} | ${c.errors.join('; ')} |`,
      );
    }
  }
  if (results.client) {
    const c = results.client;
    L.push('', '## Client: revalidation from the cache', '');
    if (c.error) L.push(`error: ${c.error}`);
    else {
      L.push(
        `@ifmatch/client GET of the 1 MB document (${fmt(c.document)} bytes) against ifmatch on SQLite: ${c.requests} revalidations, ` +
          `${c.notModified} answered 304 from the cache, ${c.parses} JSON.parse calls, ${fmt(c.msPer304, 3)} ms each; ` +
          `the same client's 200 path (cache: 'reload', body transferred and parsed): ${fmt(c.msPer200, 3)} ms each (${c.reloads} requests).`,
      );
    }
  }
  if (results.live) liveSection(L, results.live, config);
  if (results.skipped.length) {
    L.push('', '## Skipped targets', '');
    for (const s of results.skipped) L.push(`- ${s.label}: ${s.reason}`);
  }
  L.push('');
  writeFileSync(file, L.join('\n'));
}
