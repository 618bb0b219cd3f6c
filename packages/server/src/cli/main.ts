#!/usr/bin/env node
// The `ifmatch` command: `serve` (the document server) and `race` (proves no
// update is lost; written by the client package's authors, loaded on demand).
import { runServe } from './serve.js';

const USAGE = `Usage: ifmatch <command> [options]

Commands:
  serve   Run the document server (HTTP conditional requests, RFC 9110)
  race    Race concurrent editors against a server and check no update is lost

Run "ifmatch <command> --help" for a command's options.
`;

async function runRaceCommand(argv: string[]): Promise<number> {
  let mod: { runRace?: (argv: string[]) => Promise<number> };
  try {
    // A variable specifier: `serve` must work in builds without the race module.
    const specifier = '../race/command.js';
    mod = await import(specifier);
  } catch {
    process.stderr.write('ifmatch: the race command is not available in this build\n');
    return 2;
  }
  if (typeof mod.runRace !== 'function') {
    process.stderr.write('ifmatch: the race command is not available in this build\n');
    return 2;
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
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
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
