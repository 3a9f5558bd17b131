// What the benchmark runs: the scenarios (name, the server they load, the
// request they send, the target they are judged by and against which
// reference of the same run), the servers they run against, and the fixtures
// those servers need (the run's signing key, its one user, the Gatehouse
// config). Used by bench/run.mjs and bench/wrk-check.mjs; see bench/README.md.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signAccessToken } from '../dist/tokens/issue.js';
import { generateSigningJwk } from '../dist/tokens/keygen.js';
import { loadKeyFile } from '../dist/tokens/keys.js';
import { ARGON2_PARAMS, hashPassword } from '../dist/tokens/passwords.js';
import { freePort, startChild } from './children.mjs';
import { CONNECTIONS } from './measure.mjs';

// a loopback origin: Gatehouse's sessions need issuer.iss on server.publicUrl's origin, and plain http only on loopback
export const ISS = 'http://127.0.0.1';
export const AUD = 'api';
/** The claims of every bench token: the repeated one (Gatehouse's own signAccessToken) and the new-token pool (bench/tokens.mjs). */
export const TOKEN_CLAIMS = { iss: ISS, aud: AUD, ttlSeconds: 3600, roles: ['user'], scope: 'read write' };

// Token-service scenarios: one user, in a users file written for the run, with a password hashed by
// Gatehouse's own hashPassword (argon2id, ARGON2_PARAMS). Throttling is set as high as the config allows
// (1,000,000 per window) so it never triggers: the benchmark measures the work of a login, not a 429.
const BENCH_USER = 'bench-user@gatehouse.bench';
const BENCH_PASSWORD = randomBytes(18).toString('base64url');
export const THROTTLE = 1_000_000;
/** The body of a login as the bench user. */
export const LOGIN_BODY = JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD });

// ---------------------------------------------------------------- scenarios

/**
 * Every scenario, in the order of the table. `server`: a key of SERVERS (`upstream`: no proxy at all); `path`:
 * default /api/hello; `auth`: what each request carries — nothing, the one `repeated` token, a `new` token from the
 * pool on every request, or a token-service request (`login`, `refresh`: no ratio to a pass-through, which forwards
 * nothing); `baseline`: a raw pass-through, the faster of which the `x raw-…` column divides by.
 *
 * `target`, checked by bench/report.mjs: `vs` + `min` is a ratio to another scenario of the same run, at least
 * `min`; `vs` + `above`, strictly above; `minRps`, absolute req/s. `label` names `vs` in the table; `line`, if any,
 * writes the target's line below the table. A target whose `vs` is not in the run is not checked.
 *
 * The token targets compare like with like: raw-undici-bearer is the raw pass-through sent the same request
 * (the same ~400-byte Authorization header, which it forwards untouched), so the ratio is the cost of
 * authentication and not of a bigger request; the plain raw-undici ratio is in the table too.
 */
export const SCENARIOS = [
  { name: 'upstream-direct', server: 'upstream', what: 'upstream, no proxy' },
  { name: 'raw-undici', server: 'raw-undici', baseline: true, what: 'undici Pool.stream pass-through, no auth' },
  // the raw pass-through sent the token scenarios' request: the same Authorization header, forwarded untouched
  { name: 'raw-undici-bearer', server: 'raw-undici', auth: 'repeated', what: "undici pass-through, no auth, sent the token scenarios' Authorization header" },
  { name: 'raw-http-proxy', server: 'raw-http-proxy', baseline: true, what: 'http-proxy + keep-alive agent, no auth' },
  // Floor references for the new-token target: raw-undici plus the least per-request verification work
  // (bench/servers.mjs). What they reach against raw-undici bounds what any gateway built that way can reach.
  {
    name: 'raw-undici-jose-new',
    server: 'raw-undici-jose-new',
    auth: 'new',
    what: 'raw-undici + bare jose.jwtVerify, a new ES256 token per request (floor for jose)',
  },
  {
    name: 'raw-undici-es256-new',
    server: 'raw-undici-es256-new',
    auth: 'new',
    what: 'raw-undici + bare sync node:crypto ES256 signature check, a new token per request (floor for Node.js)',
  },
  { name: 'gatehouse-public', server: 'gatehouse', path: '/public/hello', what: 'Gatehouse, public route (no token)' },
  {
    name: 'gatehouse-token-cached',
    server: 'gatehouse',
    auth: 'repeated',
    what: 'Gatehouse, one repeated ES256 token',
    target: {
      vs: 'raw-undici-bearer',
      label: 'undici-bearer',
      min: 0.8,
      what: 'repeated valid token (cache hits), against the raw pass-through sent the same request',
    },
  },
  {
    name: 'gatehouse-token-new',
    server: 'gatehouse',
    auth: 'new',
    what: 'Gatehouse, a new ES256 token per request',
    target: {
      vs: 'raw-undici-bearer',
      label: 'undici-bearer',
      min: 0.45,
      what: 'new valid token every request (no cache hits), against the raw pass-through sent the same request',
    },
  },
  { name: 'gatehouse-token-cached-log-info', server: 'gatehouse-log-info', auth: 'repeated', what: 'as token-cached, log level info to /dev/null' },
  // issue "Web sign-in": a browser session's request must cost about what a cached token's does (no store round trip)
  {
    name: 'gatehouse-session',
    server: 'gatehouse',
    path: '/app/hello',
    auth: 'session',
    what: 'Gatehouse, one browser session cookie (signed in once through the form)',
    target: { vs: 'gatehouse-token-cached', label: 'token-cached', min: 0.9, what: 'cookie-authenticated request against a cached-token request' },
  },
  // issue #4: the Redis store must not slow the hot path (it reads a local mirror), and workers must scale.
  // First the Redis store (one process, Gateway.start), then the CLI with server.workers 1 and 2 (Redis store).
  {
    name: 'gatehouse-token-cached-redis',
    server: 'gatehouse-redis',
    auth: 'repeated',
    what: 'as token-cached, Redis revocation store',
    target: {
      vs: 'gatehouse-token-cached',
      label: 'token-cached',
      min: 0.9,
      what: 'Redis revocation store within 10% of the memory store (cached token, one process)',
      line: (x) =>
        `gatehouse-token-cached-redis: ${x.rps} req/s = ${x.ratio}x of gatehouse-token-cached (${x.vsRps}, memory store); cpu/req ${x.cpu} vs ${x.vsCpu}; ${x.bound} of gatehouse-token-cached: ${x.verdict}`,
    },
  },
  ...[1, 2].flatMap((w) => [
    {
      name: `gatehouse-token-cached-w${w}-redis`,
      server: `gatehouse-w${w}-redis`,
      auth: 'repeated',
      what: `as token-cached, CLI, server.workers ${w}, Redis store`,
      ...(w === 2
        ? {
            target: {
              vs: 'gatehouse-token-cached-w1-redis',
              label: 'w1',
              above: 1,
              what: 'server.workers: 2 beats server.workers: 1 (CLI, Redis store, cached token)',
              line: (x) =>
                `workers 2 / workers 1 (token-cached, CLI, Redis store): ${x.rps} / ${x.vsRps} req/s = ${x.ratio}x; cpu/req ${x.cpu} vs ${x.vsCpu}; w2 > w1: ${x.verdict}`,
            },
          }
        : {}),
    },
    { name: `gatehouse-token-new-w${w}-redis`, server: `gatehouse-w${w}-redis`, auth: 'new', what: `as token-new, CLI, server.workers ${w}, Redis store` },
  ]),
  {
    name: 'gatehouse-login',
    server: 'gatehouse',
    path: '/auth/login',
    auth: 'login',
    what: `Gatehouse, POST /auth/login, valid password (argon2id m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism})`,
  },
  {
    name: 'gatehouse-refresh',
    server: 'gatehouse',
    path: '/auth/refresh',
    auth: 'refresh',
    what: `Gatehouse, POST /auth/refresh with rotation, ${CONNECTIONS} session chains (one per connection)`,
    target: { minRps: 1000, what: 'POST /auth/refresh with rotation, one worker' },
  },
];

/**
 * Ratios reported side by side below the table, no target. `onlyWithout`: only when that scenario is not in the
 * run (then this pair stands in for it). The new-token path is CPU-bound on ES256 verification and may gain the
 * most from workers.
 */
export const COMPARISONS = [
  { scenario: 'gatehouse-token-new', vs: 'raw-undici-jose-new', what: 'Gatehouse new token / its jose floor (raw-undici + bare jose.jwtVerify)' },
  { scenario: 'gatehouse-token-new-w2-redis', vs: 'gatehouse-token-new-w1-redis', what: 'workers 2 / workers 1, new token per request (CLI, Redis store)' },
  {
    scenario: 'gatehouse-token-new-w2-redis',
    vs: 'gatehouse-token-new',
    onlyWithout: 'gatehouse-token-new-w1-redis',
    what: 'workers 2 (CLI, Redis store) / one process (Gateway.start, memory store), new token per request',
  },
];

/** The scenarios named in `only` (all of them when null), in table order; an unknown name is an error. */
export function selectScenarios(only) {
  const unknown = [...(only ?? [])].filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const selected = SCENARIOS.filter((s) => !only || only.has(s.name));
  if (selected.length === 0) throw new Error('no scenario selected');
  return selected;
}

// ----------------------------------------------------------------- fixtures

/** The run's signing key, its users file (one user) and the repeated token, written into `dir`. */
export async function writeFixtures(dir) {
  // A signing key made for this run, written where the Gatehouse config points.
  const jwk = await generateSigningJwk('ES256', 'bench-es256');
  const keyFile = join(dir, 'bench-es256.jwk.json');
  writeFileSync(keyFile, JSON.stringify(jwk), { mode: 0o600 });
  const key = await loadKeyFile(keyFile, { requirePrivate: true });
  // The users file for the token-service scenarios: one user, hashed by Gatehouse's own hashPassword.
  const passwordHash = await hashPassword(BENCH_PASSWORD);
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(
    usersFile,
    `users:\n  - username: ${JSON.stringify(BENCH_USER)}\n    password: ${JSON.stringify(passwordHash)}\n    roles: [user]\n    scope: "read write"\n`,
    { mode: 0o600 },
  );
  const argon2 = {
    params: { algorithm: 'argon2id', memoryKiB: ARGON2_PARAMS.memoryCost, timeCost: ARGON2_PARAMS.timeCost, parallelism: ARGON2_PARAMS.parallelism },
    // what the stored hash itself says (the cost Gatehouse actually pays per login)
    hashParams: /^\$(argon2\w+)\$v=\d+\$(m=\d+,t=\d+,p=\d+)\$/.exec(passwordHash)?.slice(1).join(' ') ?? 'unparsed',
  };
  // The repeated token comes from Gatehouse's own issuer code.
  const { token: repeatedToken } = await signAccessToken(key, {
    iss: ISS,
    sub: 'bench-user',
    audience: [AUD],
    ttlSeconds: TOKEN_CLAIMS.ttlSeconds,
    roles: TOKEN_CLAIMS.roles,
    scope: TOKEN_CLAIMS.scope,
  });
  // The new-token floor references verify with the public half of the run's signing key.
  const verifyKey = JSON.stringify({ jwk: key.publicJwk, iss: ISS, aud: AUD });
  return { dir, jwk, keyFile, usersFile, argon2, repeatedToken, verifyKey };
}

/**
 * The Gatehouse config of every bench instance. `listen`/`adminListen`: ports (0 = any; the CLI instances get
 * ports chosen here, since a primary with workers does not report them); `workers`: server.workers (more than one
 * only through the CLI); `redis`: { url, keyPrefix, commandTimeout? } for revocation.store: redis, else the memory
 * store;
 * `cacheEntries`: verify.cache.maxEntries (0: no cache); `trustedIssuers`: [{ iss, keyFile, alg }], external
 * issuers with a static public key (bench/peers.mjs: an RS256 IdP), their algorithms added to verify.algorithms.
 */
export function gatehouseConfig(c, level, { listen = 0, adminListen = 0, workers = 1, redis = null, cacheEntries = c.cacheEntries, trustedIssuers = [] } = {}) {
  const store = redis
    ? `redis\n  redis:\n    url: ${JSON.stringify(redis.url)}\n    keyPrefix: ${JSON.stringify(redis.keyPrefix)}${redis.commandTimeout ? `\n    commandTimeout: ${redis.commandTimeout}` : ''}`
    : 'memory';
  const algorithms = [...new Set(['ES256', ...trustedIssuers.map((t) => t.alg)])];
  const trusted = trustedIssuers.length
    ? `trustedIssuers:\n${trustedIssuers.map((t) => `  - iss: ${JSON.stringify(t.iss)}\n    keys: [{ file: ${JSON.stringify(t.keyFile)} }]\n    audience: ${AUD}\n    algorithms: [${t.alg}]\n`).join('')}`
    : '';
  return `
server:
  listen: 127.0.0.1:${listen}
  workers: ${workers}
  publicUrl: ${ISS}
admin:
  listen: 127.0.0.1:${adminListen}
issuer:
  iss: ${ISS}
  audience: ${AUD}
  signingKeys:
    - file: ${JSON.stringify(c.fixtures.keyFile)}
  users:
    file: ${JSON.stringify(c.fixtures.usersFile)}
  throttle: { perUser: ${THROTTLE}, perIp: ${THROTTLE}, window: 15m }
${trusted}verify:
  algorithms: [${algorithms.join(', ')}]
  cache: { maxEntries: ${cacheEntries} }
sessions: {}
revocation:
  store: ${store}
log:
  level: ${level}
routes:
  - name: public
    match: { path: /public/** }
    upstream: ${c.upstream}
    auth: public
  - name: api
    match: { path: /api/** }
    upstream: ${c.upstream}
    auth: required
  - name: app
    match: { path: /app/** }
    upstream: ${c.upstream}
    auth: required
`;
}

// ------------------------------------------------------------------ servers

/** A servers.mjs child; with `c.profileDir` (BENCH_PROFILE=1) it writes a V8 CPU profile, <name>.cpuprofile, when it stops. */
const serve = (c, name, args, opts = {}) =>
  startChild(name, args, { ...opts, execArgv: c.profileDir ? ['--cpu-prof', '--cpu-prof-dir', c.profileDir, '--cpu-prof-name', `${name}.cpuprofile`] : [] });

/** The revocation.redis settings of the Gatehouse `name`: the run's redis-server, a key prefix of its own. */
const redisStore = (c, name) => ({ url: c.redisUrl, keyPrefix: `bench-${name}:` });

/** Gatehouse by Gateway.start in a servers.mjs child; its warn/error lines are counted unless `stdout` says otherwise. */
const gateway = (level, { stdout = 'pipe', redis = false } = {}) => ({
  gatehouse: { launcher: 'Gateway.start', workers: 1, store: redis ? 'redis' : 'memory' },
  redis,
  start: (c, name) =>
    serve(c, name, ['gatehouse'], { stdout, env: { BENCH_GATEHOUSE_CONFIG: gatehouseConfig(c, level, redis ? { redis: redisStore(c, name) } : {}) } }),
});

/**
 * `node dist/cli.js start -c <file>`, as an operator starts it, under a servers.mjs supervisor, with a config file
 * written for the run (log level warn, Redis store, ports chosen here). The supervisor itself is not profiled:
 * with BENCH_PROFILE=1 the CLI primary and each worker write their own profile (named by pid) into profiles/<name>/.
 */
const cli = (workers) => ({
  gatehouse: { launcher: 'cli', workers, store: 'redis' },
  redis: true,
  // the CPU of the supervisor, the CLI primary and every worker, together
  tree: true,
  start: async (c, name) => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = join(c.fixtures.dir, `${name}.yaml`);
    writeFileSync(file, gatehouseConfig(c, 'warn', { listen: port, adminListen: adminPort, workers, redis: redisStore(c, name) }), { mode: 0o600 });
    const cliExecArgv = c.profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(c.profileDir, name)] : [];
    const h = await startChild(name, ['gatehouse-cli', file, String(port)], { stdout: 'pipe', env: { BENCH_CLI_EXEC_ARGV: JSON.stringify(cliExecArgv) } });
    return { ...h, adminPort, configFile: file };
  },
});

/** A raw pass-through (bench/servers.mjs `kind`) to the upstream; the new-token floors also get the run's public key. */
const passThrough = (kind, { verifyKey = false } = {}) => ({
  start: (c, name) => serve(c, name, [kind, c.upstream], verifyKey ? { env: { BENCH_VERIFY_KEY: c.fixtures.verifyKey } } : {}),
});

/** The servers scenarios load, each started only when a selected scenario needs it (the upstream always). */
export const SERVERS = {
  'raw-undici': passThrough('undici'),
  'raw-http-proxy': passThrough('http-proxy'),
  'raw-undici-jose-new': passThrough('undici-jose', { verifyKey: true }),
  'raw-undici-es256-new': passThrough('undici-es256', { verifyKey: true }),
  gatehouse: gateway('warn'),
  // per-request logging at info, to stdout, which is /dev/null: the cost of formatting and writing the lines
  'gatehouse-log-info': gateway('info', { stdout: 'ignore' }),
  // as `gatehouse`, with the Redis revocation store
  'gatehouse-redis': gateway('warn', { redis: true }),
  'gatehouse-w1-redis': cli(1),
  'gatehouse-w2-redis': cli(2),
};

/**
 * Starts the upstream, redis-server if a server needs it (loopback, no persistence; stopped last, after every
 * Gatehouse using it), then every server the scenarios load. `c`: { fixtures, cacheEntries, profileDir }.
 * Resolves with the upstream and Redis handles (Redis: null when not started) and a Map of server name to handle.
 */
export async function startServers(scenarios, c) {
  const names = [...new Set(scenarios.map((s) => s.server))].filter((n) => n !== 'upstream');
  const wantRedis = names.some((n) => SERVERS[n].redis);
  const redisDir = join(c.fixtures.dir, 'redis');
  if (wantRedis) mkdirSync(redisDir);
  const [upstream, redis] = await Promise.all([
    serve(c, 'upstream', ['upstream']),
    wantRedis ? startChild('redis', ['redis', redisDir], { last: true }) : null,
  ]);
  const ctx = { ...c, upstream: `http://127.0.0.1:${upstream.port}`, redisUrl: redis ? `redis://127.0.0.1:${redis.port}` : null };
  const handles = await Promise.all(names.map(async (n) => [n, await SERVERS[n].start(ctx, n)]));
  let redisVersion = null;
  if (redis) {
    try {
      redisVersion = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? null;
    } catch {
      // unknown
    }
  }
  return { upstream, redis, redisVersion, servers: new Map([['upstream', upstream], ...handles]) };
}

// ----------------------------------------------------------------- requests

/** Signs the bench user in through Gatehouse's sign-in form, as a browser on ISS would; returns the session cookie pair. */
async function signInCookie(origin) {
  const page = await (await fetch(`${origin}/auth/sign-in`)).text();
  const field = (name) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1] ?? '';
  const res = await fetch(`${origin}/auth/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ISS, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ username: BENCH_USER, password: BENCH_PASSWORD, csrf: field('csrf'), flow: field('flow') }).toString(),
  });
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  if (res.status !== 303 || !cookie) throw new Error(`bench sign-in answered ${res.status}`);
  return cookie;
}

/** POST a JSON body; resolves with the status and the parsed JSON answer (null if none). */
async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}

/** One login as the bench user; resolves with its refresh token (the head of a new session chain). */
async function login(origin) {
  const { status, json } = await postJson(`${origin}/auth/login`, LOGIN_BODY);
  if (status !== 200 || typeof json?.refresh_token !== 'string')
    throw new Error(`login answered ${status} ${JSON.stringify(json)}, expected 200 with a refresh_token`);
  return json.refresh_token;
}

/**
 * `gatehouse-refresh`: one session chain per autocannon connection. Refresh tokens rotate (each one is good
 * exactly once; presenting a used one revokes the session), so each connection sends its own chain's latest
 * refresh token and replaces it with the `refresh_token` of every 200 answer.
 *
 * The chain lives in a closure made per connection by `setupClient` (`client.setRequests`), not in autocannon's
 * per-request `context`: autocannon 8 resets `context` to `initialContext` whenever its request list wraps
 * around (lib/requestIterator.js nextRequest), which with a one-entry list is before every request.
 *
 * Every autocannon run needs new chains: when it stops, the requests still in flight are dropped by autocannon
 * but may have been rotated by Gatehouse, so their chains' last tokens are unknown (using them would be reuse).
 */
async function refreshRun(origin, stats) {
  const heads = await Promise.all(Array.from({ length: CONNECTIONS }, () => login(origin)));
  stats.logins += heads.length;
  let next = 0;
  const body = (token) => JSON.stringify({ refresh_token: token });
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    setupClient: (client) => {
      const chain = { token: heads[next++ % heads.length], broken: false };
      stats.chains++;
      client.setRequests([
        {
          method: 'POST',
          path: '/auth/refresh',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: body(chain.token) }),
          onResponse: (status, text) => {
            if (status === 200) {
              const token = JSON.parse(text).refresh_token;
              if (typeof token === 'string') {
                chain.token = token;
                stats.ok++;
                return;
              }
            }
            // the chain broke: its token is dead (and any resend would be a reuse); keep counting what it gets
            stats.non200++;
            stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
            if (!chain.broken) {
              chain.broken = true;
              stats.broken++;
              if (!stats.firstBody) stats.firstBody = `${status} ${String(text).slice(0, 200)}`;
            }
          },
        },
      ]);
    },
  };
}
const newRefreshStats = () => ({ logins: 0, chains: 0, ok: 0, non200: 0, broken: 0, statuses: {}, firstBody: null });

/**
 * A selected scenario made ready to measure (bench/measure.mjs): the autocannon options of its request (`load`),
 * the handles of the processes whose CPU is measured (`proxy`, `redis`), the admin port its token-cache counters
 * are read from, per-run state (`prepare`, `newStats`), the new-token counter (`tokens`), and `sanity`, which must
 * answer 200 before anything is measured (a fast 401 is not a result).
 *
 * Each new-token scenario has its own counter over the shared pool, shared by all its connections: every request,
 * on any connection, gets the next token, so each scenario sends the pool in order.
 */
export function runnable(s, { servers, redis, fixtures, tokens }) {
  const spec = SERVERS[s.server] ?? {};
  const h = servers.get(s.server);
  const origin = `http://127.0.0.1:${h.port}`;
  const url = `${origin}${s.path ?? '/api/hello'}`;
  const tokenService = s.auth === 'login' || s.auth === 'refresh';
  const r = {
    ...s,
    ...(spec.gatehouse ? { ...spec.gatehouse, ...(spec.gatehouse.launcher === 'cli' ? { configFile: h.configFile } : {}) } : {}),
    tokenService,
    // the cache counters are shown for the token scenarios (Gatehouse's /metrics sums every worker's)
    tokenCache: s.auth === 'repeated' || s.auth === 'new',
    proxy: s.server === 'upstream' ? null : h,
    proxyTree: Boolean(spec.tree),
    redis: spec.redis ? redis : null,
    admin: tokenService ? null : h.adminPort,
    origin,
    load: { url, headers: {} },
  };
  let sanityAuth;
  if (s.auth === 'repeated') {
    r.load.headers = { authorization: `Bearer ${fixtures.repeatedToken}` };
    sanityAuth = r.load.headers.authorization;
  } else if (s.auth === 'new') {
    const counter = { sent: 0, pool: tokens.length };
    r.tokens = counter;
    r.load.requests = [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[counter.sent++ % tokens.length]}` } }) }];
    sanityAuth = `Bearer ${tokens[tokens.length - 1]}`;
  } else if (s.auth === 'session') {
    // one sign-in through the form (outside the measurement), then every request carries the session cookie
    let cookie = null;
    r.prepare = async () => ({ headers: { cookie: (cookie ??= await signInCookie(origin)) } });
    r.sanity = async () => {
      const res = await fetch(url, { headers: { cookie: (cookie ??= await signInCookie(origin)) }, redirect: 'manual' });
      await res.arrayBuffer();
      return res.status;
    };
  } else if (s.auth === 'login') {
    r.load = { ...r.load, method: 'POST', headers: { 'content-type': 'application/json' }, body: LOGIN_BODY };
    r.sanity = async () => (await login(origin), 200);
  } else if (s.auth === 'refresh') {
    // new chains (CONNECTIONS logins) before every autocannon run, warm-up included; `stats` counts breaks
    r.prepare = (stats) => refreshRun(origin, stats);
    r.newStats = newRefreshStats;
    r.sanity = async () => {
      const first = await login(origin);
      const { status, json } = await postJson(url, JSON.stringify({ refresh_token: first }));
      if (status === 200 && (typeof json?.refresh_token !== 'string' || json.refresh_token === first))
        throw new Error(`${s.name}: sanity refresh answered 200 without a new refresh_token`);
      return status;
    };
  }
  r.sanity ??= async () => {
    const res = await fetch(url, { headers: sanityAuth ? { authorization: sanityAuth } : {} });
    await res.arrayBuffer();
    return res.status;
  };
  return r;
}
