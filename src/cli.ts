#!/usr/bin/env node
import { check } from './commands/check.js';
import { hashPassword } from './commands/hash-password.js';
import { err, out, type Command } from './commands/io.js';
import { KEYGEN_USAGE, keygen } from './commands/keygen.js';
import { start } from './commands/start.js';
import { token } from './commands/token.js';
import { startupMessage } from './errors.js';

const USAGE = `usage:
  gatehouse [start] [-c FILE] [--demo]     run the gateway (config: -c, $GATEHOUSE_CONFIG, config/gatehouse.yaml)
  gatehouse check -c FILE                  validate a config file; exit 1 on problems
  ${KEYGEN_USAGE}
                                           print a new private signing JWK
  gatehouse token [-c FILE] --sub SUB [--roles a,b] [--scope "x y"] [--ttl 15m] [--claim k=v ...]
                                           mint an access token with the issuer's signing key (for testing)
  gatehouse hash-password                  read a password line from stdin, print an argon2id PHC string`;

const COMMANDS: Record<string, Command> = { start, check, keygen, token, 'hash-password': hashPassword };

/** argv → command → exit code; nothing else lives here. */
async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  const implicitStart = first === undefined || (first.startsWith('-') && first !== '--help' && first !== '-h');
  const name = implicitStart ? 'start' : (first as string);
  if (name === 'help' || name === '--help' || name === '-h') {
    out(USAGE);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`gatehouse: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  return command(implicitStart ? argv : argv.slice(1));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    // Start-up failures: one clear message, exit 1, nothing left running.
    err(startupMessage(e));
    process.exit(1);
  },
);
