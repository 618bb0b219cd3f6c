// What every `ifmatch` subcommand does with its arguments before it runs: the
// parsed options, or its help on stdout (exit 0), or the usage error and the
// help on stderr (exit 2, the CLI's usage-error status).

/** The options, or the exit status when there is nothing to run. */
export function parseOrExit<T>(
  command: string,
  argv: string[],
  parse: (argv: string[]) => T | 'help',
  help: string,
): T | number {
  let options: T | 'help';
  try {
    options = parse(argv);
  } catch (error) {
    process.stderr.write(`ifmatch ${command}: ${(error as Error).message}\n\n${help}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  return options;
}
