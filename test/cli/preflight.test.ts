import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { makeKey, writeJwkFile } from '../helpers/keys.js';
import { deadPort } from '../helpers/upstream.js';
import { accepts, CLI, ROOT, runCli, spawnCli, type Cli } from './support.js';

/**
 * `gatehouse check` reports everything `gatehouse start` refuses (SPEC §1),
 * and with the same words: start prints `gatehouse: invalid config FILE:
 * p1; p2` on one stderr line, check prints p1, p2 on stdout, one per line.
 * Real files in a temp dir, the built CLI in a child process.
 */

const ISS = 'https://gatehouse.preflight.test';
const ARGON = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
const KEYGEN_HINT = '(for development, "gatehouse start --demo" generates it)';
const HOST_PORT = 'must be "host:port" (e.g. 10.0.0.1:6379, [fd00::1]:6379)';

let dir: string;
let goodKey: string;
let usersFile: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before the CLI tests`);
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-preflight-'));
  goodKey = writeJwkFile((await makeKey('ES256', 'good-es256')).privateJwk, dir);
  usersFile = join(dir, 'users.yaml');
  writeFileSync(usersFile, stringify({ users: [{ username: 'alice@example.com', password: ARGON, roles: ['admin'] }] }));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
const inDir = (name: string) => join(dir, `${++counter}-${name}`);

/** A config that starts (every file present) on two fresh loopback ports; `change` edits a copy. */
function config(port: number, admin: number, change: (c: Record<string, Record<string, unknown>>) => void = () => {}): string {
  const c: Record<string, Record<string, unknown>> = {
    server: { listen: `127.0.0.1:${port}`, shutdownTimeout: '1s' },
    admin: { listen: `127.0.0.1:${admin}` },
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: goodKey }], users: { file: usersFile } },
    verify: { algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'] },
    routes: [{ match: { path: '/public/**' }, upstream: 'http://127.0.0.1:9', auth: 'public' }] as unknown as Record<string, unknown>,
  };
  change(c);
  const file = inDir('gatehouse.yaml');
  writeFileSync(file, stringify(c));
  return file;
}

const issuerWith = (extra: Record<string, unknown>) => (c: Record<string, Record<string, unknown>>) => {
  c.issuer = { ...c.issuer, ...extra };
};

interface Case {
  name: string;
  /** writes whatever files the case needs; returns the config edit and the problems check must print, in order */
  setup: () => Promise<{ change: (c: Record<string, Record<string, unknown>>) => void; want: string[] }>;
}

/** One case per kind of problem that makes `start` exit 1 before it serves. */
const CASES: Case[] = [
  {
    name: 'missing signing key file (with the keygen command that creates it)',
    setup: async () => {
      const keysDir = inDir('keys');
      const file = join(keysDir, 'current.jwk.json');
      return {
        change: issuerWith({ signingKeys: [{ file }] }),
        want: [`issuer.signingKeys[0].file: ${file}: no such file; create one with: mkdir -p ${keysDir} && gatehouse keygen > ${file} ${KEYGEN_HINT}`],
      };
    },
  },
  {
    name: 'missing signing key file in an existing directory, verify.algorithms without ES256',
    setup: async () => {
      const file = inDir('current.jwk.json');
      return {
        change: (c) => {
          issuerWith({ signingKeys: [{ file }] })(c);
          c.verify = { algorithms: ['EdDSA'] };
        },
        want: [`issuer.signingKeys[0].file: ${file}: no such file; create one with: gatehouse keygen --alg EdDSA > ${file}`],
      };
    },
  },
  {
    name: 'signing key path that cannot be read (a directory: chmod does not stop root)',
    setup: async () => {
      const file = inDir('key-dir.jwk.json');
      mkdirSync(file);
      return {
        change: issuerWith({ signingKeys: [{ file }] }),
        want: [`issuer.signingKeys[0].file: ${file}: cannot read key file (EISDIR); it is a directory, not a file`],
      };
    },
  },
  {
    name: 'signing key file that holds no key',
    setup: async () => {
      const file = inDir('junk.jwk.json');
      writeFileSync(file, 'this is not a key\n');
      return { change: issuerWith({ signingKeys: [{ file }] }), want: [`issuer.signingKeys[0].file: ${file}: unreadable key: not a JWK (JSON) or PEM key`] };
    },
  },
  {
    name: 'signing key that is only a public key',
    setup: async () => {
      const file = writeJwkFile((await makeKey('ES256', `${++counter}-public-only`)).publicJwk, dir);
      return {
        change: issuerWith({ signingKeys: [{ file }] }),
        want: [
          `issuer.signingKeys[0].file: ${file}: a signing key must be a private key, and this file holds only a public one; create one with: gatehouse keygen > ${file}`,
        ],
      };
    },
  },
  {
    name: 'signing keys whose algorithms verify.algorithms does not allow',
    setup: async () => {
      const file = writeJwkFile((await makeKey('ES384', `${++counter}-es384`)).privateJwk, dir);
      return {
        change: issuerWith({ signingKeys: [{ file }] }),
        want: [
          'issuer.signingKeys: none of their algorithms (ES384) is in verify.algorithms (ES256, EdDSA, RS256, PS256); add ES384 to verify.algorithms, or sign with a key of an allowed algorithm (gatehouse keygen --alg ES256)',
        ],
      };
    },
  },
  {
    name: 'missing users file',
    setup: async () => {
      const file = inDir('users.yaml');
      return {
        change: issuerWith({ users: { file } }),
        want: [
          `issuer.users.file: ${file}: no such file; create it with a "users:" list (README "Token service"; hash each password with: gatehouse hash-password), or remove issuer.users`,
        ],
      };
    },
  },
  {
    name: 'invalid users file (every problem, each with its path in that file)',
    setup: async () => {
      const file = inDir('users.yaml');
      writeFileSync(file, stringify({ users: [{ username: 'alice', password: 'alice-password' }, { password: ARGON }], admins: [] }));
      return {
        change: issuerWith({ users: { file } }),
        want: [
          `issuer.users.file: ${file}: admins: unknown key (allowed: users)`,
          `issuer.users.file: ${file}: users[0].password: must be an argon2 PHC string ($argon2id$...) or a bcrypt hash ($2b$...); create one with "gatehouse hash-password"`,
          `issuer.users.file: ${file}: users[1].username: is required`,
        ],
      };
    },
  },
  {
    name: 'users file that is not YAML',
    setup: async () => {
      const file = inDir('users.yaml');
      writeFileSync(file, 'users: [\n');
      return {
        change: issuerWith({ users: { file } }),
        want: [expect.stringMatching(new RegExp(`^issuer\\.users\\.file: ${file}: YAML: `)) as unknown as string],
      };
    },
  },
  {
    name: 'malformed Redis Cluster node address',
    setup: async () => ({
      change: (c) => {
        c.revocation = { store: 'redis', redis: { cluster: ['10.0.0.1:6379', 'redis-2'] } };
      },
      want: [`revocation.redis.cluster[1]: ${HOST_PORT}`],
    }),
  },
  {
    name: 'malformed Redis Sentinel address',
    setup: async () => ({
      change: (c) => {
        c.revocation = { store: 'redis', redis: { sentinels: ['fd00::1:26379'], name: 'mymaster' } };
      },
      want: [`revocation.redis.sentinels[0]: ${HOST_PORT}`],
    }),
  },
  {
    name: 'Redis URL that ioredis cannot parse',
    setup: async () => ({
      change: (c) => {
        c.revocation = { store: 'redis', redis: { url: 'redis://redis:notaport' } };
      },
      want: ['revocation.redis.url: must be a valid redis:// or rediss:// URL (e.g. redis://127.0.0.1:6379, rediss://user:password@host:6380/0)'],
    }),
  },
  {
    name: "trusted issuer's static key file missing",
    setup: async () => {
      const file = inDir('idp-public.pem');
      return {
        change: (c) => {
          c.trustedIssuers = [{ iss: 'https://idp.test', keys: [{ file }], audience: 'api', algorithms: ['RS256'] }] as unknown as Record<string, unknown>;
        },
        want: [
          `trustedIssuers[0].keys[0].file: ${file}: no such file; save the issuer's public signing key there (PEM or JWK, e.g. one key of its JWKS), or use trustedIssuers[0].jwksUri instead of keys`,
        ],
      };
    },
  },
  {
    name: "trusted issuer's static key file that holds no key",
    setup: async () => {
      const file = inDir('idp-public.pem');
      writeFileSync(file, '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n');
      return {
        change: (c) => {
          c.trustedIssuers = [{ iss: 'https://idp.test', keys: [{ file }], audience: 'api', algorithms: ['RS256'] }] as unknown as Record<string, unknown>;
        },
        want: [expect.stringMatching(new RegExp(`^trustedIssuers\\[0\\]\\.keys\\[0\\]\\.file: ${file}: unreadable key: `)) as unknown as string],
      };
    },
  },
  {
    name: 'server.headersTimeout longer than server.requestTimeout',
    setup: async () => ({
      change: (c) => {
        c.server = { ...c.server, headersTimeout: '90s', requestTimeout: '60s' };
      },
      want: ['server.headersTimeout: must not be longer than server.requestTimeout (the whole request, headers included)'],
    }),
  },
];

/** check's verdict and start's, on the same file from the same directory. */
async function both(file: string): Promise<{ check: Awaited<ReturnType<typeof runCli>>; start: Awaited<ReturnType<typeof runCli>> }> {
  const [check, start] = await Promise.all([runCli(['check', '-c', file]), runCli(['start', '-c', file])]);
  return { check, start };
}

const problemLines = (stdout: string) => stdout.split('\n').filter((l) => l.length > 0);

describe.concurrent('check reports what start refuses, in the same words', () => {
  it.each(CASES)('$name', async ({ setup }) => {
    const [port, admin] = [await deadPort(), await deadPort()];
    const { change, want } = await setup();
    const file = config(port, admin, change);
    const { check, start } = await both(file);

    expect(check.code, check.stdout + check.stderr).toBe(1);
    const lines = problemLines(check.stdout);
    expect(lines).toEqual(want);
    expect(check.stderr).toBe(`${file}: ${want.length} problem${want.length === 1 ? '' : 's'}\n`);

    expect(start.code, start.stderr).toBe(1);
    expect(start.stderr).toBe(`gatehouse: invalid config ${file}: ${lines.join('; ')}\n`);
    expect(start.stdout, 'start logged something: it got further than it should').toBe('');
    for (const p of [port, admin]) expect(await accepts(p), `port ${p} accepts connections after a refused start`).toBe(false);
  });

  // Root reads a chmod 000 file anyway, and CI runs as root: there the unreadable "file" is a directory.
  const asRoot = process.getuid?.() === 0;
  it(`a signing key file that cannot be read (${asRoot ? 'a directory, as root' : 'chmod 000'})`, async () => {
    const [port, admin] = [await deadPort(), await deadPort()];
    const file = inDir('locked.jwk.json');
    if (asRoot) mkdirSync(file);
    else {
      copyFileSync(goodKey, file);
      chmodSync(file, 0o000);
    }
    const cfg = config(port, admin, issuerWith({ signingKeys: [{ file }] }));
    const { check, start } = await both(cfg);
    const want = asRoot
      ? `issuer.signingKeys[0].file: ${file}: cannot read key file (EISDIR); it is a directory, not a file`
      : `issuer.signingKeys[0].file: ${file}: cannot read key file (EACCES); let the user Gatehouse runs as read it`;
    expect(problemLines(check.stdout)).toEqual([want]);
    expect(check.code).toBe(1);
    expect(start.code).toBe(1);
    expect(start.stderr).toBe(`gatehouse: invalid config ${cfg}: ${want}\n`);
    expect(start.stdout, 'start logged something: it got further than it should').toBe('');
  });

  it('the same config with every file in place: check says ok', async () => {
    const file = config(await deadPort(), await deadPort());
    const r = await runCli(['check', '-c', file]);
    expect(r).toMatchObject({ code: 0, stdout: `${file}: ok\n`, stderr: '' });
  });
});

describe.concurrent('check and start agree (table)', () => {
  /** Bad configs, several problems at once, built from the cases above. */
  const TABLE: Array<[string, () => Promise<(c: Record<string, Record<string, unknown>>) => void>]> = [
    [
      'two bad signing keys and a missing users file',
      async () => {
        const junk = inDir('junk.pem');
        writeFileSync(junk, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
        return issuerWith({ signingKeys: [{ file: inDir('absent.jwk.json') }, { file: junk }], users: { file: inDir('absent-users.yaml') } });
      },
    ],
    [
      'a bad key and a bad trusted issuer key',
      async () => {
        const pub = writeJwkFile((await makeKey('EdDSA', `${++counter}-pub`)).publicJwk, dir);
        return (c) => {
          issuerWith({ signingKeys: [{ file: pub }] })(c);
          c.trustedIssuers = [
            { iss: 'https://idp.test', keys: [{ file: goodKey }, { file: inDir('gone.pem') }], audience: 'api', algorithms: ['ES256'] },
          ] as unknown as Record<string, unknown>;
        };
      },
    ],
    [
      'YAML problems hide file problems, in both',
      async () => (c) => {
        issuerWith({ signingKeys: [{ file: inDir('absent.jwk.json') }] })(c);
        c.revocation = { store: 'redis', redis: { cluster: ['a', 'b:1'], sentinels: ['c'] } };
        c.server = { ...c.server, headersTimeout: '2m' };
      },
    ],
    [
      'admin.listen on the main listener',
      async () => (c) => {
        c.admin = { listen: c.server?.listen };
      },
    ],
  ];

  it.each(TABLE)('%s', async (_name, build) => {
    const file = config(await deadPort(), await deadPort(), await build());
    const { check, start } = await both(file);
    const lines = problemLines(check.stdout);
    expect(check.code).toBe(1);
    expect(lines.length).toBeGreaterThan(0);
    expect(start.code).toBe(1);
    expect(start.stderr).toBe(`gatehouse: invalid config ${file}: ${lines.join('; ')}\n`);
  });
});

describe('the shipped config/gatehouse.yaml', () => {
  /** The repo's config directory as a fresh clone has it: config files and an empty config/keys/ (only .gitkeep). */
  function freshClone(): string {
    const root = inDir('clone');
    mkdirSync(join(root, 'config', 'keys'), { recursive: true });
    for (const f of ['gatehouse.yaml', 'users.yaml']) copyFileSync(join(ROOT, 'config', f), join(root, 'config', f));
    return root;
  }

  it('before any key exists, check names the missing key and the command that creates it; after keygen, ok', async () => {
    const cwd = freshClone();
    const keyPath = /signingKeys:\s*\n\s*- file: (\S+)/.exec(readFileSync(join(cwd, 'config/gatehouse.yaml'), 'utf8'))?.[1] as string;
    expect(keyPath).toBe('config/keys/dev-es256.jwk.json');

    const before = await runCli(['check', '-c', 'config/gatehouse.yaml'], { cwd });
    expect(before.code).toBe(1);
    expect(before.stdout).toBe(`issuer.signingKeys[0].file: ${keyPath}: no such file; create one with: gatehouse keygen > ${keyPath} ${KEYGEN_HINT}\n`);

    // The hint, followed: the key it makes is what start needs.
    const keygen = await runCli(['keygen'], { cwd });
    expect(keygen.code).toBe(0);
    writeFileSync(join(cwd, keyPath), keygen.stdout);
    const after = await runCli(['check', '-c', 'config/gatehouse.yaml'], { cwd });
    expect(after).toMatchObject({ code: 0, stdout: 'config/gatehouse.yaml: ok\n', stderr: '' });
  });

  describe('start --demo', () => {
    let demo: Cli | null = null;
    afterEach(async () => {
      if (demo && demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill('SIGKILL');
      await demo?.exited;
      demo = null;
    });

    /** `start --demo` on the shipped config in `cwd`, on free ports; its echo upstream too, instead of the example's 3001, which other tests may hold. */
    async function startDemo(cwd: string): Promise<{ cli: Cli; port: number }> {
      const upstream = await deadPort();
      const yaml = join(cwd, 'config/gatehouse.yaml');
      writeFileSync(yaml, readFileSync(yaml, 'utf8').replaceAll('http://127.0.0.1:3001', `http://127.0.0.1:${upstream}`));
      const [port, admin] = [await deadPort(), await deadPort()];
      const cli = spawnCli(['start', '--demo', '-c', 'config/gatehouse.yaml'], {
        cwd,
        env: { GATEHOUSE_LISTEN: `127.0.0.1:${port}`, GATEHOUSE_ADMIN_LISTEN: `127.0.0.1:${admin}` },
      });
      demo = cli;
      await cli.waitFor('stderr', (t) => t.includes(`listening on http://127.0.0.1:${port}`));
      return { cli, port };
    }

    it('still generates the missing development key before the preflight looks for it', async () => {
      const cwd = freshClone();
      const { cli } = await startDemo(cwd);
      demo = cli;
      expect(demo.stderr()).toContain('generated a development signing key in config/keys/dev-es256.jwk.json');
      expect(existsSync(join(cwd, 'config/keys/dev-es256.jwk.json'))).toBe(true);
      demo.child.kill('SIGTERM');
      expect(await demo.exited).toEqual({ code: 0, signal: null });
    });

    it("README's quick start works as printed: its TOKEN=$(...) line puts an access token in $TOKEN that /api/orders accepts", async () => {
      const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
      const line = /^TOKEN=\$\(curl[^\n]*\\\n[^\n]*\\\n[^\n]*\)/m.exec(readme)?.[0];
      expect(line, 'README shows a copy-paste TOKEN=$(...) line').toBeDefined();
      const cwd = freshClone();
      const started = await startDemo(cwd);
      demo = started.cli;
      const port = started.port;
      const script = `${(line as string).replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`)}\nprintf '%s' "$TOKEN"`;
      const token = await new Promise<string>((resolve, reject) =>
        execFile('bash', ['-c', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
      );
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const api = await fetch(`http://127.0.0.1:${port}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(api.status).toBe(200);
      expect(((await api.json()) as { headers: Record<string, string> }).headers['x-user-id']).toBeDefined();
    });
  });
});
