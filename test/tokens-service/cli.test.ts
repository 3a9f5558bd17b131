/**
 * `gatehouse hash-password` (SPEC §1): one password line on stdin, the
 * trailing newline (LF or CRLF) is not part of it, everything else is; the
 * output is an argon2id PHC string at the OWASP parameters (SECURITY.md O15)
 * that the login path verifies.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/tokens/passwords.js';
import { ensureBuilt, runCli, type CliRun as Run } from '../helpers/cli.js';

const PHC = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

const hashPasswordCli = (stdin: string | Buffer): Promise<Run> => runCli(['hash-password'], { stdin });

/** The one printed line, which must be a PHC string at the required parameters. */
function phcOf(run: Run): string {
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout.endsWith('\n')).toBe(true);
  const lines = run.stdout.split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe('');
  const phc = lines[0] as string;
  expect(phc).toMatch(PHC);
  return phc;
}

const PASSPHRASE = 'correct horse battery staple';
const cases: Array<[string, string, string, string[]]> = [
  // name, stdin, the password it stands for, near misses that must not verify
  ['LF-terminated line', `${PASSPHRASE}\n`, PASSPHRASE, [`${PASSPHRASE}\n`, PASSPHRASE.slice(0, -1)]],
  ['CRLF-terminated line', `${PASSPHRASE}\r\n`, PASSPHRASE, [`${PASSPHRASE}\r`, `${PASSPHRASE}\r\n`]],
  ['no trailing newline', 'no-newline', 'no-newline', ['no-newlin']],
  [
    'leading/trailing spaces, tabs and an inner CR kept',
    '  \tspaced\rout\t  \n',
    '  \tspaced\rout\t  ',
    ['spaced\rout', '\tspaced\rout\t', '  \tspacedout\t  ', '  \tspaced\rout'],
  ],
  ['Unicode and NUL kept', 'pässwörd 🔑 パス\u0000word\n', 'pässwörd 🔑 パス\u0000word', ['pässwörd 🔑 パス', 'passwort']],
  ['only the first line counts', 'first\nsecond\n', 'first', ['first\nsecond', 'second']],
];
const EMPTY = ['\n', '\r\n'];
const TOO_LONG = `${'x'.repeat(4096)}\n`;

/** stdin -> its run; each run is a node start-up plus one argon2 hash, so a few run at a time, all started in beforeAll */
const runs = new Map<string, Promise<Run>>();
const run = (stdin: string) => runs.get(stdin) ?? hashPasswordCli(stdin);

beforeAll(() => {
  ensureBuilt();
  const queue = [...cases.map((c) => c[1]), ...EMPTY, TOO_LONG];
  const lanes: Array<Promise<unknown>> = [Promise.resolve(), Promise.resolve(), Promise.resolve()];
  queue.forEach((stdin, i) => {
    const lane = i % lanes.length;
    const p = (lanes[lane] as Promise<unknown>).then(() => hashPasswordCli(stdin));
    lanes[lane] = p.catch(() => undefined);
    runs.set(stdin, p);
  });
}, 120_000);

describe('gatehouse hash-password', () => {
  for (const [name, stdin, password, misses] of cases) {
    it(name, async () => {
      const phc = phcOf(await run(stdin));
      expect(await verifyPassword(phc, password)).toBe(true);
      for (const miss of misses) expect(await verifyPassword(phc, miss), JSON.stringify(miss)).toBe(false);
    });
  }

  it('every run uses a fresh salt', async () => {
    // the LF and CRLF runs hashed the same password
    const [a, b] = [phcOf(await run(`${PASSPHRASE}\n`)), phcOf(await run(`${PASSPHRASE}\r\n`))];
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
  });

  it('an empty line is refused with a message and exit code 1', async () => {
    for (const stdin of EMPTY) {
      const r = await run(stdin);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/empty password/);
    }
  });

  it('a password the login endpoint would refuse as too long is refused here too', async () => {
    const r = await run(TOO_LONG);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/longer than 1024 bytes/);
  });
});
