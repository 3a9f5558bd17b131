/** What every command writes to: results on stdout, diagnostics on stderr. Commands return their exit code. */
export const out = (s: string): void => {
  process.stdout.write(s + '\n');
};
export const err = (s: string): void => {
  process.stderr.write(s + '\n');
};

/** A command: parses its own arguments, returns the exit code (-1: keep running). */
export type Command = (args: string[]) => number | Promise<number>;
