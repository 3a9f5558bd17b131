/** `gatehouse --help`, `-h`, `help` and `token --claim` typing (issue 13 item 6), against the built CLI. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { claimValue } from '../../src/commands/token.js';
import { makeKey, tempDir, writeJwkFile } from '../helpers/keys.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('usage', () => {
  it.each([['--help'], ['-h'], ['help']])('gatehouse %s prints the usage on stdout and exits 0', async (flag) => {
    const r = await run([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage:\n {2}gatehouse \[start\]/);
    for (const command of ['check', 'keygen', 'token', 'hash-password']) expect(r.stdout).toContain(`gatehouse ${command}`);
    expect(r.stderr).toBe('');
  });

  it('an unknown command prints the usage on stderr and exits 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect(r.stdout).toBe('');
  });
});

describe('gatehouse token --claim keeps JSON types', () => {
  it.each([
    ['5', 5],
    ['-1.5', -1.5],
    ['true', true],
    ['false', false],
    ['null', null],
    ['["a","b"]', ['a', 'b']],
    ['{"tenant":"acme"}', { tenant: 'acme' }],
    ['"5"', '5'],
    ['carol@example.com', 'carol@example.com'],
    ['5 apples', '5 apples'],
    ['[not json', '[not json'],
    ['', ''],
  ])('%s', (text, value) => {
    expect(claimValue(text)).toEqual(value);
  });

  it('end to end: the minted token carries typed claims', async () => {
    const dir = tempDir();
    const key = writeJwkFile((await makeKey('ES256')).privateJwk, dir);
    const file = join(dir, 'gatehouse.yaml');
    writeFileSync(
      file,
      stringify({
        issuer: { iss: 'https://gh.test', audience: 'api', signingKeys: [{ file: key }] },
        routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:9' }],
      }),
    );
    const r = await run(['token', '-c', file, '--sub', 'carol', '--claim', 'level=5', '--claim', 'beta=true', '--claim', 'team=ops', '--claim', 'zip="01234"']);
    expect(r.code, r.stderr).toBe(0);
    const claims = decodeJwt(r.stdout.trim());
    expect(claims).toMatchObject({ sub: 'carol', level: 5, beta: true, team: 'ops', zip: '01234' });
  });
});
