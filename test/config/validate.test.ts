import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load.js';
import type { GatehouseConfig } from '../../src/config/schema.js';
import type { ConfigProblem } from '../../src/config/validate/index.js';

type Obj = Record<string, unknown>;

/** A complete, valid config in the shape of SPEC §2; every case below changes one thing in a copy of it. */
const BASE: Obj = {
  server: { listen: '127.0.0.1:8080' },
  issuer: { iss: 'https://gatehouse.test', signingKeys: [{ file: 'keys/a.jwk.json' }] },
  trustedIssuers: [{ iss: 'https://idp.test/realms/main', jwksUri: 'https://idp.test/certs', audience: 'api' }],
  routes: [
    { match: { path: '/public/**' }, upstream: 'http://127.0.0.1:3001', auth: 'public' },
    { match: { path: '/admin/**', methods: ['GET', 'POST'] }, upstream: 'http://127.0.0.1:3002', auth: { roles: ['admin'] } },
    { match: { path: '/api/**', host: 'api.example' }, upstream: ['http://127.0.0.1:3003', 'http://127.0.0.1:3004'], stripPrefix: '/api' },
  ],
};

const DELETE = Symbol('delete');

/** Sets (or deletes) `a.b[2].c` in a deep copy of BASE. */
function edited(changes: Record<string, unknown>): Obj {
  const root = structuredClone(BASE);
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.match(/[^.[\]]+/g) ?? [];
    let cur: Obj = root;
    keys.forEach((key, i) => {
      if (i === keys.length - 1) {
        if (value === DELETE) delete cur[key];
        else cur[key] = value;
        return;
      }
      if (cur[key] === undefined || cur[key] === null) cur[key] = /^\d+$/.test(keys[i + 1] as string) ? [] : {};
      cur = cur[key] as Obj;
    });
  }
  return root;
}

function parse(raw: unknown, env: NodeJS.ProcessEnv = {}): { config: GatehouseConfig | null; problems: ConfigProblem[]; lines: string[] } {
  const { config, problems } = parseConfigText(stringify(raw), env);
  return { config, problems, lines: problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)) };
}

/** Asserts the config is refused, one problem matches `want`, and every problem names its YAML path. */
function expectProblem(raw: unknown, want: string | RegExp, env: NodeJS.ProcessEnv = {}): string[] {
  const { config, problems, lines } = parse(raw, env);
  expect(config).toBeNull();
  if (typeof want === 'string') expect(lines).toContain(want);
  else
    expect(
      lines.some((l) => want.test(l)),
      `no problem matches ${want}; got:\n${lines.join('\n')}`,
    ).toBe(true);
  for (const p of problems) expect(p.path, `problem without a YAML path: ${p.message}`).not.toBe('');
  return lines;
}

function valid(raw: unknown, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  const { config, lines } = parse(raw, env);
  expect(lines).toEqual([]);
  expect(config).not.toBeNull();
  return config as GatehouseConfig;
}

const label = (changes: Record<string, unknown>) =>
  Object.entries(changes)
    .map(([k, v]) => `${k}=${v === DELETE ? '(deleted)' : JSON.stringify(v)}`)
    .join(' ');

describe('config validation: the base config', () => {
  it('is valid', () => {
    valid(BASE);
  });

  it('accepts the example from SPEC §2 verbatim', () => {
    const text = `
server:
  listen: 127.0.0.1:8080
  workers: 1
  trustedProxies: []
  maxHeaderBytes: 16384
  upstreamTimeout: 30s
admin:
  listen: 127.0.0.1:9090
issuer:
  iss: https://gatehouse.example
  audience: api
  accessTokenTtl: 15m
  refreshTokenTtl: 14d
  signingKeys:
    - file: config/keys/dev-es256.jwk.json
  users:
    file: config/users.yaml
  claims: [email, name, roles]
trustedIssuers:
  - iss: https://idp.example/realms/main
    jwksUri: https://idp.example/realms/main/protocol/openid-connect/certs
    audience: api
    algorithms: [RS256]
    rolesClaim: realm_access.roles
    scopeClaim: scope
verify:
  algorithms: [ES256, EdDSA, RS256, PS256]
  clockTolerance: 30s
  cache: { maxEntries: 100000 }
revocation:
  store: memory
  redis:
    url: \${REDIS_URL:-redis://127.0.0.1:6379}
    keyPrefix: "gatehouse:"
  onStoreError: deny
identity:
  headers:
    X-User-Id: sub
    X-User-Roles: roles
    X-User-Scopes: scope
  forwardToken: true
routes:
  - match: { path: /public/** }
    upstream: http://127.0.0.1:3001
    auth: public
  - match: { path: /admin/**, methods: [GET, POST] }
    upstream: http://127.0.0.1:3002
    auth: { roles: [admin] }
  - match: { path: /api/**, host: api.example }
    upstream: [http://127.0.0.1:3003, http://127.0.0.1:3004]
    stripPrefix: /api
    auth: required
`;
    const { config, problems } = parseConfigText(text, {});
    expect(problems).toEqual([]);
    expect(config?.revocation.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config?.routes[2]?.upstreams).toEqual(['http://127.0.0.1:3003', 'http://127.0.0.1:3004']);
    expect(config?.trustedIssuers[0]?.rolesClaim).toEqual(['realm_access.roles']);
  });
});

describe('config validation: every problem names its YAML path', () => {
  const cases: Array<[Record<string, unknown>, string | RegExp]> = [
    // upstreams
    [{ 'routes[2].upstream': 'ftp://127.0.0.1:3003' }, 'routes[2].upstream: must be an http(s) URL'],
    [{ 'routes[2].upstream': 'not a url' }, 'routes[2].upstream: must be an http(s) URL'],
    [{ 'routes[2].upstream': ['http://127.0.0.1:3003', 'gopher://x'] }, 'routes[2].upstream[1]: must be an http(s) URL'],
    [{ 'routes[2].upstream': [] }, /^routes\[2\]\.upstream: must list at least one URL/],
    [{ 'routes[0].upstream': DELETE }, 'routes[0].upstream: is required'],
    [{ 'routes[0].upstream': 'http://127.0.0.1:3001/base' }, /^routes\[0\]\.upstream: must be an origin without a path/],
    [{ 'routes[0].upstream': 'http://127.0.0.1:3001/?x=1' }, /^routes\[0\]\.upstream: must not have a query or fragment/],
    [{ 'routes[0].upstream': 'http://user:pw@127.0.0.1:3001' }, 'routes[0].upstream: must not contain credentials'],
    // routes and auth rules
    [{ routes: [] }, 'routes: must list at least one route'],
    [{ routes: DELETE }, /^routes: must be a list/],
    [{ 'routes[1].match': DELETE }, 'routes[1].match.path: is required'],
    [{ 'routes[0].auth': 'Public' }, /^routes\[0\]\.auth: must be public, optional, required/],
    [{ 'routes[0].auth': 'none' }, /^routes\[0\]\.auth: must be public, optional, required/],
    [{ 'routes[1].auth': { roles: 'admin' } }, 'routes[1].auth.roles: must be a list of strings'],
    [{ 'routes[1].auth': { roles: ['admin', ''] } }, 'routes[1].auth.roles[1]: must be a non-empty string'],
    [{ 'routes[1].auth': {} }, /^routes\[1\]\.auth: needs at least one of roles, scopes, claims/],
    [{ 'routes[1].auth': { claims: { tenant: { nested: 1 } } } }, /^routes\[1\]\.auth\.claims\.tenant: must be a string, number, boolean/],
    [{ 'routes[2].stripPrefix': 'api' }, /^routes\[2\]\.stripPrefix: must be a literal path prefix/],
    [{ 'routes[2].stripPrefix': '/api/' }, /^routes\[2\]\.stripPrefix: must be a literal path prefix/],
    [{ 'routes[2].stripPrefix': '/api/*' }, /^routes\[2\]\.stripPrefix: must be a literal path prefix/],
    [{ 'routes[2].match.host': 'api example' }, /^routes\[2\]\.match\.host: must be a host name/],
    [{ 'routes[2].timeout': 'later' }, /^routes\[2\]\.timeout: must be a duration/],
    [{ 'routes[2].websocket': 'yes' }, 'routes[2].websocket: must be true or false'],
    // server, admin, log
    [{ 'server.workers': 0 }, /^server\.workers: must be a whole number/],
    [{ 'server.maxHeaderBytes': 10 }, /^server\.maxHeaderBytes: must be a whole number from 1024/],
    [{ 'server.maxHeaderBytes': '16k' }, /^server\.maxHeaderBytes: must be a whole number/],
    [{ log: { level: 'loud' } }, /^log\.level: must be one of/],
    // issuer and trusted issuers
    [{ 'issuer.iss': DELETE }, 'issuer.iss: is required'],
    [{ 'issuer.signingKeys': [] }, 'issuer.signingKeys: must list at least one key'],
    [{ 'issuer.signingKeys': DELETE }, /^issuer\.signingKeys: is required/],
    [{ 'issuer.signingKeys': [{ file: '' }] }, 'issuer.signingKeys[0].file: must be a non-empty string'],
    [{ 'issuer.audience': [] }, 'issuer.audience: must not be empty'],
    [{ 'issuer.endpoints': { logn: ['/token'] } }, /^issuer\.endpoints\.logn: unknown key/],
    [{ 'issuer.endpoints': { login: ['token'] } }, /^issuer\.endpoints\.login\[0\]: "token" must be an absolute path/],
    [{ 'issuer.endpoints': { login: ['/api/**'] } }, /^issuer\.endpoints\.login\[0\]: "\/api\/\*\*" must be an absolute path without query, wildcards/],
    [{ 'issuer.endpoints': { refresh: ['/a/../auth/login'] } }, /^issuer\.endpoints\.refresh\[0\]: .* dot segments/],
    [{ 'issuer.endpoints': { profile: ['/p?x=1'] } }, /^issuer\.endpoints\.profile\[0\]: "\/p\?x=1" must be an absolute path/],
    [{ 'issuer.endpoints': { login: ['/auth/refresh'] } }, `issuer.endpoints.login[0]: "/auth/refresh" is already served (Gatehouse's /auth/refresh)`],
    [{ 'issuer.endpoints': { login: ['/t'], profile: ['/t'] } }, 'issuer.endpoints.profile[0]: "/t" is already served (issuer.endpoints.login[0])'],
    [{ 'issuer.tokenResponse': { accessTokenFields: [] } }, 'issuer.tokenResponse.accessTokenFields: must not be empty'],
    [
      { 'issuer.tokenResponse': { accessTokenFields: ['refresh_token'] } },
      /^issuer\.tokenResponse\.accessTokenFields\[0\]: "refresh_token" must be a plain field name other than/,
    ],
    [{ 'issuer.tokenResponse': { accessTokenFields: ['a-b'] } }, /^issuer\.tokenResponse\.accessTokenFields\[0\]: "a-b" must be a plain field name/],
    [{ 'trustedIssuers[0].audience': DELETE }, /^trustedIssuers\[0\]\.audience: is required/],
    [{ 'trustedIssuers[0].jwksUri': DELETE }, 'trustedIssuers[0]: needs jwksUri or keys'],
    [{ 'trustedIssuers[0].keys': [{ file: 'idp.pem' }] }, 'trustedIssuers[0]: takes jwksUri or keys, not both'],
    [{ 'trustedIssuers[0].iss': 'https://gatehouse.test' }, /^trustedIssuers\[0\]\.iss: is listed twice/],
    [{ 'trustedIssuers[0].algorithms': ['ES384'] }, 'trustedIssuers[0].algorithms[0]: ES384 is not in verify.algorithms'],
    [{ trustedIssuers: { iss: 'x' } }, 'trustedIssuers: must be a list'],
    // revocation and identity
    [{ 'revocation.store': 'sql' }, 'revocation.store: must be "memory" or "redis"'],
    [{ 'revocation.onStoreError': 'maybe' }, 'revocation.onStoreError: must be "deny" or "allow"'],
    [{ 'revocation.redis.url': 'http://127.0.0.1:6379' }, 'revocation.redis.url: must be a redis:// or rediss:// URL'],
    [{ 'identity.headers': { Authorization: 'sub' } }, /^identity\.headers\.Authorization: is a header Gatehouse manages itself/],
    [{ 'identity.headers': { 'X-User Id': 'sub' } }, 'identity.headers.X-User Id: is not a valid header name'],
    [{ 'identity.headers': { 'X-User-Id': 'sub', x_user_id: 'email' } }, /^identity\.headers\.x_user_id: is listed twice/],
    [{ 'identity.headers': { 'X-User-Id': 'a..b' } }, /^identity\.headers\.X-User-Id: must be a dotted claim path/],
    [{ 'identity.forwardToken': 'no' }, 'identity.forwardToken: must be true or false'],
  ];
  it.each(cases.map(([changes, want]) => [label(changes), changes, want] as const))('%s', (_name, changes, want) => {
    expectProblem(edited(changes), want);
  });

  it('reports every problem at once, not just the first', () => {
    const lines = expectProblem(
      edited({ 'routes[2].upstream': 'ftp://x', 'server.listn': '1', 'verify.algorithms': ['none'], 'routes[0].auth': 'nobody' }),
      'routes[2].upstream: must be an http(s) URL',
    );
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.some((l) => l.startsWith('server.listn: unknown key'))).toBe(true);
    expect(lines.some((l) => l.startsWith('verify.algorithms[0]: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('routes[0].auth: '))).toBe(true);
  });

  it('a document that is not a mapping is a problem at (root)', () => {
    expectProblem(['routes'], '(root): must be a mapping');
  });
});

describe('config validation: unknown keys are errors at every level', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ rotues: [] }, 'rotues'],
    [{ 'server.listn': '127.0.0.1:1' }, 'server.listn'],
    [{ 'admin.port': 9090 }, 'admin.port'],
    [{ 'issuer.signingKey': [] }, 'issuer.signingKey'],
    [{ 'issuer.signingKeys[0].path': 'x.pem' }, 'issuer.signingKeys[0].path'],
    [{ 'issuer.users': { file: 'u.yaml', fiel: 'v.yaml' } }, 'issuer.users.fiel'],
    [{ 'trustedIssuers[0].jwks_uri': 'https://idp.test/certs' }, 'trustedIssuers[0].jwks_uri'],
    [{ 'trustedIssuers[0].keys': [{ file: 'a.pem', alg: 'x' }], 'trustedIssuers[0].jwksUri': DELETE }, 'trustedIssuers[0].keys[0].alg'],
    [{ 'verify.algorithm': ['ES256'] }, 'verify.algorithm'],
    [{ 'verify.cache.size': 10 }, 'verify.cache.size'],
    [{ 'revocation.redis.host': 'localhost' }, 'revocation.redis.host'],
    [{ 'identity.header': { 'X-User-Id': 'sub' } }, 'identity.header'],
    [{ 'log.lvl': 'debug' }, 'log.lvl'],
    [{ 'routes[1].auht': 'public' }, 'routes[1].auht'],
    [{ 'routes[1].match.paths': ['/x'] }, 'routes[1].match.paths'],
    [{ 'routes[1].match.method': ['GET'] }, 'routes[1].match.method'],
    [{ 'routes[1].auth.role': ['admin'] }, 'routes[1].auth.role'],
  ];
  it.each(cases.map(([changes, path]) => [path, changes] as const))('%s', (path, changes) => {
    expectProblem(edited(changes), new RegExp(`^${path.replace(/[[\].]/g, '\\$&')}: unknown key \\(allowed: `));
  });

  it('a typo on a route never falls back to a weaker default', () => {
    // `auht: public` must not leave the route at its default, nor be read as public.
    const { config, lines } = parse(edited({ 'routes[1].auth': DELETE, 'routes[1].auht': 'public' }));
    expect(config).toBeNull();
    expect(lines[0]).toMatch(/^routes\[1\]\.auht: unknown key/);
  });

  it('a YAML merge key is not a back door for unknown keys', () => {
    const text = 'routes:\n  - <<: { auth: public }\n    match: { path: /a }\n    upstream: http://127.0.0.1:1\n';
    const { config, problems } = parseConfigText(text, {});
    expect(config).toBeNull();
    expect(problems.map((p) => p.path)).toContain('routes[0].<<');
  });
});

describe('config validation: ${VAR} interpolation', () => {
  const withUpstream = (upstream: string) => edited({ 'routes[0].upstream': upstream });

  it('replaces ${VAR} from the environment', () => {
    const config = valid(withUpstream('${UP}'), { UP: 'http://127.0.0.1:4000' });
    expect(config.routes[0]?.upstreams).toEqual(['http://127.0.0.1:4000']);
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty, the variable when set', () => {
    expect(valid(withUpstream('${UP:-http://127.0.0.1:4001}'), {}).routes[0]?.upstreams).toEqual(['http://127.0.0.1:4001']);
    expect(valid(withUpstream('${UP:-http://127.0.0.1:4001}'), { UP: '' }).routes[0]?.upstreams).toEqual(['http://127.0.0.1:4001']);
    expect(valid(withUpstream('${UP:-http://127.0.0.1:4001}'), { UP: 'http://127.0.0.1:4002' }).routes[0]?.upstreams).toEqual(['http://127.0.0.1:4002']);
  });

  it('replaces several variables inside one string, in nested lists too', () => {
    const config = valid(edited({ 'trustedIssuers[0].jwksUri': 'https://${IDP_HOST}:${IDP_PORT:-8443}/certs', 'server.trustedProxies': ['${PROXY_CIDR}'] }), {
      IDP_HOST: 'idp.test',
      PROXY_CIDR: '10.0.0.0/8',
    });
    expect(config.trustedIssuers[0]?.jwksUri).toBe('https://idp.test:8443/certs');
    expect(config.server.trustedProxies).toEqual(['10.0.0.0/8']);
  });

  it('an unset variable without a default is an error at the path that uses it', () => {
    expectProblem(withUpstream('${MISSING_UPSTREAM}'), /^routes\[0\]\.upstream: environment variable MISSING_UPSTREAM is not set/);
    expectProblem(edited({ 'issuer.signingKeys[0].file': '${KEY_FILE}' }), /^issuer\.signingKeys\[0\]\.file: environment variable KEY_FILE is not set/);
  });

  it('a value can neither change the document structure nor be expanded again', () => {
    const config = valid(edited({ 'routes[0].name': '${NAME}' }), { NAME: 'x\nauth: required\n${SECRET}', SECRET: 'leaked' });
    expect(config.routes[0]?.name).toBe('x\nauth: required\n${SECRET}');
    expect(config.routes[0]?.auth.mode).toBe('public');
  });
});

describe('config validation: durations', () => {
  const ok: Array<[unknown, number]> = [
    ['900ms', 900],
    ['30s', 30_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['14d', 1_209_600_000],
    ['1h30m', 5_400_000],
    [30, 30_000],
    [1.5, 1500],
    ['45', 45_000],
    [0, 0],
  ];
  it.each(ok)('%j is %d ms', (value, ms) => {
    expect(valid(edited({ 'server.upstreamTimeout': value })).server.upstreamTimeoutMs).toBe(ms);
  });

  const bad: unknown[] = ['soon', '15 minutes', '15M', '-5s', -1, '', '10x', '5m3', 'ms', true, [1], { s: 1 }];
  it.each(bad.map((v) => [JSON.stringify(v), v] as const))('%s is refused', (_name, value) => {
    expectProblem(edited({ 'server.upstreamTimeout': value }), /^server\.upstreamTimeout: must be a duration/);
  });

  it('applies to every duration field, with its own path', () => {
    expectProblem(edited({ 'verify.clockTolerance': 'a while' }), /^verify\.clockTolerance: must be a duration/);
    expectProblem(edited({ 'issuer.refreshTokenTtl': '2 weeks' }), /^issuer\.refreshTokenTtl: must be a duration/);
    expectProblem(edited({ 'trustedIssuers[0].jwksCooldown': 'x' }), /^trustedIssuers\[0\]\.jwksCooldown: must be a duration/);
    expect(valid(edited({ 'issuer.accessTokenTtl': '10m', 'issuer.refreshTokenTtl': '7d' })).issuer?.refreshTokenTtlMs).toBe(7 * 86_400_000);
  });

  it('refuses token lifetimes under a second', () => {
    expectProblem(edited({ 'issuer.accessTokenTtl': '900ms' }), 'issuer.accessTokenTtl: must be at least 1s');
  });
});

describe('config validation: algorithms', () => {
  const refused: Array<[string, unknown, RegExp]> = [
    ['none', ['none'], /^verify\.algorithms\[0\]: "none" is never allowed/],
    ['NONE', ['ES256', 'NONE'], /^verify\.algorithms\[1\]: "none" is never allowed/],
    ['None', ['None'], /^verify\.algorithms\[0\]: "none" is never allowed/],
    ['nOnE', ['nOnE'], /^verify\.algorithms\[0\]: "none" is never allowed/],
    ['HS256', ['ES256', 'HS256'], /^verify\.algorithms\[1\]: HS256 is not supported/],
    ['hs512', ['hs512'], /^verify\.algorithms\[0\]: hs512 is not supported/],
    ['es256 (case-sensitive)', ['es256'], /^verify\.algorithms\[0\]: unsupported algorithm/],
    ['unknown', ['XS256'], /^verify\.algorithms\[0\]: unsupported algorithm/],
    ['empty list', [], /^verify\.algorithms: must not be empty/],
    ['a string instead of a list', 'ES256', /^verify\.algorithms: must be a list/],
  ];
  it.each(refused)('verify.algorithms: %s is refused', (_name, value, want) => {
    expectProblem(edited({ 'verify.algorithms': value }), want);
  });

  it('trusted issuers are held to the same rules', () => {
    expectProblem(edited({ 'trustedIssuers[0].algorithms': [] }), /^trustedIssuers\[0\]\.algorithms: must not be empty/);
    expectProblem(edited({ 'trustedIssuers[0].algorithms': ['none'] }), /^trustedIssuers\[0\]\.algorithms\[0\]: "none" is never allowed/);
    expectProblem(edited({ 'trustedIssuers[0].algorithms': ['HS256'] }), /^trustedIssuers\[0\]\.algorithms\[0\]: HS256 is not supported/);
  });

  it('a problem in a mixed list is reported at the index of the bad item', () => {
    expectProblem(edited({ 'verify.algorithms': ['ES256', 5, 'none'] }), 'verify.algorithms[1]: must be a non-empty string');
    expectProblem(edited({ 'verify.algorithms': ['ES256', 5, 'none'] }), /^verify\.algorithms\[2\]: "none" is never allowed/);
    expectProblem(edited({ 'routes[1].match.methods': ['GET', 5, 'FETCH'] }), /^routes\[1\]\.match\.methods\[2\]: must be one of/);
  });

  it('accepts the supported asymmetric algorithms', () => {
    expect(valid(edited({ 'verify.algorithms': ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] })).verify.algorithms).toEqual([
      'ES256',
      'ES384',
      'EdDSA',
      'RS256',
      'PS256',
    ]);
  });
});

describe('config validation: jwksUri', () => {
  it.each(['http://idp.example/certs', 'http://10.0.0.5/certs', 'http://127.0.0.1.nip.io/certs', 'http://localhost.evil.test/certs'])(
    'refuses plain http outside loopback: %s',
    (uri) => {
      expectProblem(edited({ 'trustedIssuers[0].jwksUri': uri }), /^trustedIssuers\[0\]\.jwksUri: must be an https URL/);
    },
  );

  it.each(['https://idp.example/certs', 'http://127.0.0.1:8080/certs', 'http://localhost:8080/certs', 'http://[::1]:8080/certs'])('accepts %s', (uri) => {
    expect(valid(edited({ 'trustedIssuers[0].jwksUri': uri })).trustedIssuers[0]?.jwksUri).toBe(uri);
  });

  it.each(['ftp://idp.example/certs', 'file:///etc/passwd', 'idp.example/certs'])('refuses non-http(s) %s', (uri) => {
    expectProblem(edited({ 'trustedIssuers[0].jwksUri': uri }), 'trustedIssuers[0].jwksUri: must be an http(s) URL');
  });
});

describe('config validation: path patterns and methods', () => {
  const bad: Array<[string, RegExp]> = [
    ['/a/**/b', /"\*\*" is only allowed as the last segment/],
    ['/**/x', /"\*\*" is only allowed as the last segment/],
    ['/a*b', /"\*" must be a whole segment/],
    ['/api/v*', /"\*" must be a whole segment/],
    ['/a/***', /must be a whole segment/],
    ['api/**', /must start with "\/"/],
    ['*', /must start with "\/"/],
    ['/a//b', /empty segments/],
    ['/a/../b', /"\." or "\.\." segments/],
    ['/a?x=1', /must be a plain path/],
    ['/a%2fb', /must be a plain path/],
  ];
  it.each(bad)('refuses %s', (pattern, want) => {
    const lines = expectProblem(edited({ 'routes[1].match.path': pattern }), new RegExp(`^routes\\[1\\]\\.match\\.path: .*${want.source}`));
    expect(lines).toHaveLength(1);
  });

  it.each(['/', '/**', '/*', '/a/*/b', '/a/**', '/a/b/'])('accepts %s', (pattern) => {
    expect(valid(edited({ 'routes[1].match.path': pattern })).routes[1]?.match.path).toBe(pattern);
  });

  it('refuses an empty path', () => {
    expectProblem(edited({ 'routes[1].match.path': '' }), 'routes[1].match.path: must be a non-empty string');
  });

  it('refuses unknown methods, empty and non-list method sets', () => {
    expectProblem(edited({ 'routes[1].match.methods': ['GET', 'FETCH'] }), /^routes\[1\]\.match\.methods\[1\]: must be one of GET, HEAD, POST/);
    expectProblem(edited({ 'routes[1].match.methods': ['CONNECT'] }), /^routes\[1\]\.match\.methods\[0\]: must be one of/);
    expectProblem(edited({ 'routes[1].match.methods': [] }), 'routes[1].match.methods: must not be empty');
    expectProblem(edited({ 'routes[1].match.methods': 'GET' }), 'routes[1].match.methods: must be a list of strings');
  });

  it('upper-cases methods and defaults to all methods', () => {
    const config = valid(edited({ 'routes[1].match.methods': ['get', 'Post'] }));
    expect(config.routes[1]?.match.methods).toEqual(['GET', 'POST']);
    expect(config.routes[0]?.match.methods).toBeNull();
  });
});

describe('config validation: listen addresses', () => {
  it.each(['localhost', '127.0.0.1', '127.0.0.1:70000', '127.0.0.1:http', '[not-an-ip]:80', '127.0.0.1:', '::1:8080', 'http://127.0.0.1:8080'])(
    'refuses server.listen %j',
    (text) => {
      expectProblem(edited({ 'server.listen': text }), /^server\.listen: must be "host:port"/);
    },
  );

  it('refuses a bad admin.listen with its own path', () => {
    expectProblem(edited({ 'admin.listen': 'nowhere' }), /^admin\.listen: must be "host:port"/);
  });

  const ok: Array<[unknown, string, number]> = [
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['[::1]:8443', '::1', 8443],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['127.0.0.1:0', '127.0.0.1', 0],
    [9000, '127.0.0.1', 9000],
  ];
  it.each(ok)('accepts %j', (text, host, port) => {
    expect(valid(edited({ 'server.listen': text })).server.listen).toEqual({ host, port });
  });

  it('admin.listen: false turns the admin listener off', () => {
    expect(valid(edited({ 'admin.listen': false })).admin.listen).toBeNull();
  });
});

describe('config validation: trustedProxies', () => {
  it('accepts IPv4/IPv6 addresses and CIDRs', () => {
    const list = ['10.0.0.0/8', '192.168.1.1', '::1', 'fd00::/8', '0.0.0.0/0'];
    expect(valid(edited({ 'server.trustedProxies': list })).server.trustedProxies).toEqual(list);
  });

  it.each(['192.168.0.0/33', 'fe80::/129', 'banana', '10.0.0.0/', '10.0.0.0/8/1', '10.0.0/8', '10.0.0.0/-1', '10.0.0.0/8 '])('refuses %j', (cidr) => {
    expectProblem(edited({ 'server.trustedProxies': ['127.0.0.1', cidr] }), /^server\.trustedProxies\[1\]: must be an IP address or CIDR/);
  });

  it('refuses a string instead of a list', () => {
    expectProblem(edited({ 'server.trustedProxies': '10.0.0.0/8' }), 'server.trustedProxies: must be a list of strings');
  });
});

describe('config validation: routes that need tokens need an issuer', () => {
  const noIssuers = { issuer: DELETE, trustedIssuers: DELETE };
  it.each([
    ['required (default)', DELETE],
    ['required', 'required'],
    ['optional', 'optional'],
    ['roles', { roles: ['admin'] }],
  ])('refuses a %s route with neither issuer nor trustedIssuers', (_name, auth) => {
    expectProblem(edited({ ...noIssuers, 'routes[1].auth': auth }), /^routes: some routes need a token but neither issuer nor trustedIssuers is configured/);
  });

  it('accepts all-public routes without any issuer', () => {
    valid(edited({ ...noIssuers, 'routes[1].auth': 'public', 'routes[2].auth': 'public' }));
  });

  it('accepts protected routes with only a trusted issuer, or only an issuer', () => {
    valid(edited({ issuer: DELETE }));
    valid(edited({ trustedIssuers: DELETE }));
  });
});

describe('config validation: defaults', () => {
  const minimal = {
    issuer: { iss: 'https://gatehouse.test', signingKeys: [{ file: 'k.json' }] },
    trustedIssuers: [{ iss: 'https://idp.test', jwksUri: 'https://idp.test/certs', audience: 'api' }],
    routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:3001' }],
  };

  it('fills in every section from the defaults', () => {
    const c = valid(minimal);
    expect(c.server.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.server.workers).toBe(1);
    expect(c.server.trustedProxies).toEqual([]);
    expect(c.server.maxHeaderBytes).toBe(16384);
    expect(c.server.upstreamTimeoutMs).toBe(30_000);
    expect(c.admin.listen).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(c.issuer?.audience).toEqual(['api']);
    expect(c.issuer?.accessTokenTtlMs).toBe(15 * 60_000);
    expect(c.issuer?.refreshTokenTtlMs).toBe(14 * 86_400_000);
    expect(c.issuer?.users).toBeNull();
    expect(c.trustedIssuers[0]?.algorithms).toEqual(['RS256']);
    expect(c.trustedIssuers[0]?.rolesClaim).toEqual(['roles']);
    expect(c.trustedIssuers[0]?.scopeClaim).toEqual(['scope']);
    expect(c.trustedIssuers[0]?.audience).toEqual(['api']);
    expect(c.verify.algorithms).toEqual(['ES256', 'EdDSA', 'RS256', 'PS256']);
    expect(c.verify.clockToleranceMs).toBe(30_000);
    expect(c.verify.cache.maxEntries).toBe(100_000);
    expect(c.revocation.store).toBe('memory');
    expect(c.revocation.onStoreError).toBe('deny');
    expect(c.revocation.redis.keyPrefix).toBe('gatehouse:');
    expect(c.identity.headers).toEqual({ 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope' });
    expect(c.identity.forwardToken).toBe(true);
    expect(c.log.level).toBe('info');
  });

  it('a route defaults to auth required, all methods, the server upstream timeout', () => {
    const r = valid({ ...minimal, server: { upstreamTimeout: '5s' } }).routes[0];
    expect(r?.auth).toEqual({ mode: 'required', roles: [], scopes: [], claims: {} });
    expect(r?.match).toEqual({ path: '/**', methods: null, host: null });
    expect(r?.timeoutMs).toBe(5000);
    expect(r?.stripPrefix).toBeNull();
    expect(r?.name).toBe('routes[0]');
  });

  it('single values that may be lists become lists', () => {
    const c = valid({ ...minimal, issuer: { ...minimal.issuer, audience: 'orders' }, routes: [{ match: { path: '/' }, upstream: 'http://127.0.0.1:1/' }] });
    expect(c.issuer?.audience).toEqual(['orders']);
    expect(c.routes[0]?.upstreams).toEqual(['http://127.0.0.1:1']);
  });
});

describe('config loading: files, freezing, YAML errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loadConfig returns a deeply frozen config', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, stringify(edited({ 'routes[1].auth': { roles: ['admin'], claims: { groups: ['a', 'b'] } } })));
    const config = loadConfig(file, {});
    expect(config.sourcePath).toBe(file);
    const unfrozen: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (v === null || typeof v !== 'object') return;
      if (!Object.isFrozen(v)) unfrozen.push(path || '(root)');
      for (const [k, child] of Object.entries(v)) walk(child, `${path}.${k}`);
    };
    walk(config, '');
    expect(unfrozen).toEqual([]);
    // ESM is strict mode: writes to frozen objects throw.
    expect(() => {
      (config.server as { maxHeaderBytes: number }).maxHeaderBytes = 1;
    }).toThrow(TypeError);
    expect(() => (config.routes as RouteList).push(config.routes[0] as RouteList[number])).toThrow(TypeError);
    expect(() => (config.routes[1]?.auth.roles as string[]).push('user')).toThrow(TypeError);
    expect(() => {
      (config.identity.headers as Record<string, string>)['X-Evil'] = 'sub';
    }).toThrow(TypeError);
  });

  it('loadConfig throws a ConfigError listing every problem with its path', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, stringify(edited({ 'routes[2].upstream': 'ftp://x', 'server.listn': 1 })));
    let error: unknown;
    try {
      loadConfig(file, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    expect(problems).toContain('routes[2].upstream: must be an http(s) URL');
    expect(problems.some((p) => p.startsWith('server.listn: unknown key'))).toBe(true);
    expect((error as ConfigError).message).toContain(file);
  });

  it('loadConfig names an unreadable file', () => {
    const file = join(dir, 'missing.yaml');
    expect(() => loadConfig(file, {})).toThrow(/missing\.yaml: cannot read file \(ENOENT\)/);
    expect(() => loadConfig(dir, {})).toThrow(/cannot read file \(EISDIR\)/);
  });

  const duplicates: Array<[string, string]> = [
    ['at the root', 'routes: []\nroutes:\n  - match: { path: /a }\n    upstream: http://127.0.0.1:1\n    auth: public\n'],
    ['in a route', 'routes:\n  - match: { path: /a }\n    upstream: http://127.0.0.1:1\n    auth: public\n    auth: required\n'],
    ['in a flow mapping', 'routes:\n  - match: { path: /a, path: /b }\n    upstream: http://127.0.0.1:1\n    auth: public\n'],
    [
      'in identity.headers',
      'identity:\n  headers:\n    X-User-Id: sub\n    X-User-Id: email\nroutes:\n  - match: { path: /a }\n    upstream: http://127.0.0.1:1\n    auth: public\n',
    ],
  ];
  it.each(duplicates)('a duplicate YAML key %s is an error with its line', (_name, text) => {
    const { config, problems } = parseConfigText(text, {});
    expect(config).toBeNull();
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/^YAML: .*unique.* at line \d+, column \d+/);
  });

  it('a YAML syntax error is a problem, not an exception', () => {
    const { config, problems } = parseConfigText('routes: [\n', {});
    expect(config).toBeNull();
    expect(problems[0]?.message).toMatch(/^YAML: /);
  });

  it('an alias bomb is a problem, not an exception or a hang', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      '',
    ].join('\n');
    const { config, problems } = parseConfigText(bomb, {});
    expect(config).toBeNull();
    expect(problems[0]?.message).toMatch(/^YAML: .*alias/i);
  });
});

type RouteList = GatehouseConfig['routes'][number][];
