// What every linearizability run shares: its length, the SIGKILL fault, and
// the verdict (one line, plus the history as JSON when it is a violation).

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHistory, isUnknown, type Verdict } from './checker.js';
import type { Recorded } from './recorder.js';

/** Seconds of workload per run: short in `npm test`, set by scripts/check-linearizable.mjs. */
export const SECONDS = Number(process.env.IFMATCH_LINEARIZABLE_SECONDS ?? 3);
export const CLIENTS = 8;
/** Vitest's timeout for one run: the workload, then startup and checking. */
export const RUN_TIMEOUT_MS = SECONDS * 1000 * 2 + 90_000;

/** A server instance that can be killed and replaced; `url` follows the live one. */
export interface Slot {
  url: string;
  kill(signal: NodeJS.Signals): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Every 0.5-1.5 s: SIGKILL the instance, start a new one in its place (a new
 * port; clients pick up `slot.url`). Resolves with the number of kills once
 * `until` resolves and the last restart is done.
 */
export async function killRepeatedly(
  slot: Slot,
  restart: () => Promise<Slot>,
  until: Promise<unknown>,
): Promise<number> {
  let over = false;
  void until.then(() => {
    over = true;
  });
  let kills = 0;
  while (!over) {
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
    if (over) break;
    await slot.kill('SIGKILL');
    kills++;
    const next = await restart();
    slot.url = next.url;
    slot.kill = next.kill;
    slot.stop = next.stop;
  }
  return kills;
}

export interface RunSummary {
  scenario: string;
  verdict: string;
  linearizable: Verdict['linearizable'];
  operations: number;
  unknown: number;
  refused: number;
  unexpected: string[];
  seconds: number;
  checkMs: number;
  faults: Record<string, number>;
  historyFile?: string;
}

/**
 * Checks a recorded run. Prints the one-line verdict; on a violation (or an
 * undecided search) writes the history to a JSON file named in the verdict.
 * With IFMATCH_LINEARIZABLE_REPORT set, appends the summary there as a JSON line.
 */
export function judge(
  scenario: string,
  recorded: Recorded,
  seconds: number,
  faults: Record<string, number>,
): RunSummary {
  const started = Date.now();
  const verdict = checkHistory(recorded.history);
  const checkMs = Date.now() - started;
  const { history } = recorded;
  const unknown = history.filter((op) => isUnknown(op.response)).length;
  const faultText = Object.entries(faults)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const size = `${history.length} operations (${unknown} unknown) in ${seconds.toFixed(1)} s, faults: ${faultText || 'none'}`;
  let historyFile: string | undefined;
  let line: string;
  if (verdict.linearizable === true) {
    line = `linearizable: ${scenario}: ${size}; ${verdict.orphans} ETags seen only through unknown writes; checked in ${checkMs} ms`;
  } else {
    const dir = process.env.IFMATCH_LINEARIZABLE_OUT ?? join(tmpdir(), 'ifmatch-linearizability');
    mkdirSync(dir, { recursive: true });
    historyFile = join(dir, `${scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      historyFile,
      JSON.stringify({ scenario, verdict, faults, seconds, history }, null, 1),
    );
    const what = verdict.linearizable === false ? 'NOT LINEARIZABLE' : 'UNDECIDED';
    line = `${what}: ${scenario}: document ${verdict.key}: ${verdict.reason}; ${size}; history: ${historyFile}`;
  }
  console.info(line);
  const summary: RunSummary = {
    scenario,
    verdict: line,
    linearizable: verdict.linearizable,
    operations: history.length,
    unknown,
    refused: recorded.refused,
    unexpected: recorded.unexpected,
    seconds,
    checkMs,
    faults,
    ...(historyFile ? { historyFile } : {}),
  };
  const report = process.env.IFMATCH_LINEARIZABLE_REPORT;
  if (report) appendFileSync(report, `${JSON.stringify(summary)}\n`);
  return summary;
}
