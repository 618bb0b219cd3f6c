// `ifmatch race`: N concurrent clients increment one counter; the table at the
// end compares the final counter with the committed increments. With If-Match
// nothing is lost; with --no-precondition the lost updates show.

import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { IfMatchClient, NotFoundError, PreconditionRequiredError } from '@ifmatch/client';
import { parseOrExit } from '../cli/usage.js';
import type { ClientConfig, ClientReport } from './client-loop.js';
import { type ProgressView, progressView } from './progress.js';
import { formatTable, type RaceSummary, summarize } from './stats.js';
import type { WorkerMessage } from './worker.js';

export const RACE_HELP = `Usage: ifmatch race --url URL[,URL2...] [options]

N clients increment a counter in one JSON document at the same time, then the
final counter is compared with the increments the clients saw committed.

Options:
  --url URL[,URL...]    server base URL(s); clients are spread round-robin (required)
  --clients N           concurrent clients (default 16)
  --updates N           increments per client (default 100)
  --doc PATH            the document (default /api/race/counter)
  --no-precondition     plain GET then PUT without If-Match (shows lost updates)
  --processes           one child process per client (default: worker threads)
  --max-attempts N      update() attempts before giving up on one increment (default 100)
  --backoff-base MS     first retry's backoff ceiling (default 5)
  --backoff-cap MS      largest backoff (default 250); sleeps are random(0, min(cap, base*2^n))
  -h, --help            this text

Exit status: 0 done (and, with preconditions, no update lost); 1 updates lost,
the counter does not match or the server cannot be reached; 2 usage error.`;

export interface RaceOptions {
  urls: string[];
  clients: number;
  updates: number;
  doc: string;
  precondition: boolean;
  processes: boolean;
  maxAttempts: number;
  backoff: { base: number; cap: number };
}

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_000_000) {
    throw new UsageError(`--${name} must be a whole number from 1 to 1000000, got "${value}"`);
  }
  return Number(value);
}

export function parseRaceArgs(argv: string[]): RaceOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      clients: { type: 'string' },
      updates: { type: 'string' },
      doc: { type: 'string' },
      'no-precondition': { type: 'boolean' },
      processes: { type: 'boolean' },
      'max-attempts': { type: 'string' },
      'backoff-base': { type: 'string' },
      'backoff-cap': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (!values.url) throw new UsageError('--url is required');
  const urls = values.url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new UsageError(`not a URL: "${u}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`not an http(s) URL: "${u}"`);
    }
  }
  if (urls.length === 0) throw new UsageError('--url is required');
  const doc = values.doc ?? '/api/race/counter';
  if (!doc.startsWith('/')) throw new UsageError('--doc must be a path starting with "/"');
  return {
    urls,
    clients: positiveInt('clients', values.clients, 16),
    updates: positiveInt('updates', values.updates, 100),
    doc,
    precondition: !values['no-precondition'],
    processes: values.processes ?? false,
    maxAttempts: positiveInt('max-attempts', values['max-attempts'], 100),
    backoff: {
      base: positiveInt('backoff-base', values['backoff-base'], 5),
      cap: positiveInt('backoff-cap', values['backoff-cap'], 250),
    },
  };
}

/** The compiled worker: next to this file in dist/, or dist/ when running from src/ (tests). */
function workerPath(): string {
  const beside = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(new URL('../../dist/race/worker.js', import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(`race worker not found (${beside}); run \`npm run build\` first`);
}

/** Puts {"counter":0}, with whatever precondition a strict server insists on. */
async function resetDocument(baseUrl: string, doc: string): Promise<void> {
  const client = new IfMatchClient({ baseUrl });
  try {
    await client.put(doc, { counter: 0 }, { ifMatch: false });
  } catch (error) {
    if (!(error instanceof PreconditionRequiredError)) throw error;
    try {
      const { etag } = await client.get(doc, { cache: 'no-store' });
      await client.put(doc, { counter: 0 }, { ifMatch: etag ?? '*' });
    } catch (inner) {
      if (!(inner instanceof NotFoundError)) throw inner;
      await client.create(doc, { counter: 0 });
    }
  }
}

/**
 * The workers run compiled JS: drop any `--conditions` (a test runner's
 * "source" condition would point @ifmatch/client at TypeScript Node cannot load).
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (arg === '--conditions' || arg === '-C') i++;
    else if (!arg.startsWith('--conditions=') && !/^-C./.test(arg)) out.push(arg);
  }
  return out;
}

function workerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.NODE_OPTIONS) {
    env.NODE_OPTIONS = workerExecArgv(env.NODE_OPTIONS.split(/\s+/).filter(Boolean)).join(' ');
  }
  return env;
}

interface Racer {
  go(): void;
  stop(): void;
}

function startRacer(
  config: ClientConfig,
  processes: boolean,
  onMessage: (m: WorkerMessage) => void,
  onExit: (code: number) => void,
): Racer {
  const path = workerPath();
  if (processes) {
    const child = fork(path, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: workerExecArgv(process.execArgv),
      env: workerEnv(),
    });
    child.on('message', (m) => onMessage(m as WorkerMessage));
    child.on('exit', (code) => onExit(code ?? 1));
    return {
      go: () => child.send({ type: 'go' }),
      stop: () => {
        if (child.exitCode === null) child.kill();
      },
    };
  }
  const worker = new Worker(path, {
    workerData: config,
    execArgv: workerExecArgv(process.execArgv),
    env: workerEnv(),
  });
  worker.on('message', (m) => onMessage(m as WorkerMessage));
  worker.on('error', (e) => onMessage({ type: 'error', message: String(e) }));
  worker.on('exit', (code) => onExit(code));
  return { go: () => worker.postMessage({ type: 'go' }), stop: () => void worker.terminate() };
}

export async function race(options: RaceOptions): Promise<RaceSummary> {
  const first = options.urls[0]!;
  await resetDocument(first, options.doc);

  const total = options.clients * options.updates;
  let progress: ProgressView | undefined; // started with the race, not with the workers
  const perClient = new Map<number, { committed: number; failed: number; conflicts: number }>();
  const reports: ClientReport[] = [];
  const racers: Racer[] = [];
  let started = 0;

  try {
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      for (let index = 0; index < options.clients; index++) {
        const config: ClientConfig = {
          index,
          baseUrl: options.urls[index % options.urls.length]!,
          doc: options.doc,
          updates: options.updates,
          precondition: options.precondition,
          maxAttempts: options.maxAttempts,
          backoff: options.backoff,
        };
        let finished = false;
        racers.push(
          startRacer(
            config,
            options.processes,
            (m) => {
              if (m.type === 'ready') {
                // Release everyone at once so the clients really overlap.
                if (++ready === options.clients) {
                  started = performance.now();
                  progress = progressView(total);
                  for (const r of racers) r.go();
                }
              } else if (m.type === 'progress') {
                perClient.set(m.index, m);
                let done = 0;
                let conflicts = 0;
                for (const p of perClient.values()) {
                  done += p.committed + p.failed;
                  conflicts += p.conflicts;
                }
                progress?.update(done, conflicts);
              } else if (m.type === 'done') {
                finished = true;
                reports.push(m.report);
                if (reports.length === options.clients) resolve();
              } else if (m.type === 'error') {
                reject(new Error(`client ${index}: ${m.message}`));
              }
            },
            (code) => {
              if (!finished)
                reject(new Error(`client ${index} exited (code ${code}) before reporting`));
            },
          ),
        );
      }
    });
  } finally {
    for (const r of racers) r.stop();
  }
  const elapsed = performance.now() - started;
  progress?.finish();

  const final = await new IfMatchClient({ baseUrl: first }).get<{ counter?: unknown }>(
    options.doc,
    {
      cache: 'no-store',
    },
  );
  const counter = typeof final.value?.counter === 'number' ? final.value.counter : Number.NaN;
  reports.sort((a, b) => a.index - b.index);
  return summarize(
    reports,
    {
      clients: options.clients,
      updatesPerClient: options.updates,
      precondition: options.precondition,
      mode: options.processes ? 'processes' : 'threads',
      urls: options.urls,
    },
    elapsed,
    counter,
  );
}

export async function runRace(argv: string[]): Promise<number> {
  const options = parseOrExit('race', argv, parseRaceArgs, RACE_HELP);
  if (typeof options === 'number') return options;
  let summary: RaceSummary;
  try {
    summary = await race(options);
  } catch (error) {
    const cause = (error as Error).cause;
    process.stderr.write(
      `ifmatch race: ${(error as Error).message}${cause ? ` (${String(cause)})` : ''}\n`,
    );
    // A runtime failure, not a usage error.
    return 1;
  }
  process.stdout.write(`${formatTable(summary)}\n`);
  if (summary.failed > 0) {
    process.stderr.write(
      `ifmatch race: ${summary.failed} increments gave up (not counted as committed): ${summary.errors.join('; ')}\n`,
    );
  }
  if (summary.precondition && summary.lost !== 0) {
    process.stderr.write(
      `ifmatch race: ${summary.lost} updates lost in precondition mode: expected ${summary.expected}, final ${summary.final}\n`,
    );
    return 1;
  }
  return 0;
}
