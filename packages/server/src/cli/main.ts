#!/usr/bin/env node
// The `ifmatch` command: `serve` (the document server), `race` (proves no
// update is lost; written by the client package's authors, loaded on demand)
// and `watch` (prints changes as they happen; loaded on demand too).
// Exit status: 0 success, 1 a runtime failure, 2 a usage error (as in getopt
// tools: a caller can tell "you asked wrongly" from "it went wrong").
import { readFileSync } from 'node:fs';
import { runServe } from './serve.js';

const USAGE = `Usage: ifmatch <command> [options]

Commands:
  serve   Run the document server (HTTP conditional requests, RFC 9110)
  race    Race concurrent editors against a server and check no update is lost
  watch   Print each new version of a document, or each change of a collection

Options:
  -h, --help      this text
  -v, --version   the version of @ifmatch/server

Run "ifmatch <command> --help" for a command's options.

Exit status: 0 success; 1 a runtime failure (cannot listen or open the
database, lost updates, ...); 2 a usage error (no or unknown command, bad
option or value).
`;

/** The package's version, from src/cli or dist/cli alike (both two levels down). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(pkg.version);
}

async function runRaceCommand(argv: string[]): Promise<number> {
  let mod: { runRace?: (argv: string[]) => Promise<number> };
  try {
    // A variable specifier: `serve` must work in builds without the race module.
    const specifier = '../race/command.js';
    mod = await import(specifier);
  } catch {
    process.stderr.write('ifmatch: the race command is not available in this build\n');
    return 1;
  }
  if (typeof mod.runRace !== 'function') {
    process.stderr.write('ifmatch: the race command is not available in this build\n');
    return 1;
  }
  return mod.runRace(argv);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'race':
      return runRaceCommand(rest);
    case 'watch':
      // On demand: `serve` does not load the client.
      return (await import('./watch.js')).runWatch(rest);
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case undefined:
      // No command is a usage error: the usage goes to stderr, like any other.
      process.stderr.write(USAGE);
      return 2;
    default:
      process.stderr.write(`ifmatch: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // `serve` keeps running; its exit code comes from the signal handler.
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ifmatch: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
