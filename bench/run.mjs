// Gatehouse benchmark (STYLE.md habit 12): fixed flags, and references measured
// in the same run — a direct upstream and two raw pass-through proxies (undici
// Pool.stream, http-proxy) — so the figures are ratios, not absolute numbers
// that depend on the machine. See bench/README.md.
//
//   npm run bench                      (builds dist/ first)
//   BENCH_ROUNDS=5 BENCH_DURATION=10 npm run bench
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Client } from 'undici';
import { signAccessToken } from '../dist/tokens/issue.js';
import { generateSigningJwk } from '../dist/tokens/keygen.js';
import { loadKeyFile } from '../dist/tokens/keys.js';
import { ARGON2_PARAMS, hashPassword } from '../dist/tokens/passwords.js';
import { countLogLines } from './lines.mjs';
import { TICK, cpuSeconds, descendants } from './proc.mjs';
import { signTokens } from './tokens.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'profiles');

// Fixed load shape: the same for every scenario and every run.
const CONNECTIONS = 50;
const PIPELINING = 1;

const env = process.env;
const intEnv = (name, fallback, min) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got ${JSON.stringify(v)})`);
  return n;
};
const ROUNDS = Math.floor(intEnv('BENCH_ROUNDS', 3, 1));
const DURATION = intEnv('BENCH_DURATION', 5, 1);
const WARMUP = intEnv('BENCH_WARMUP', 1, 0);
const TOKEN_POOL = Math.floor(intEnv('BENCH_TOKENS', 200_000, 1000));
const CACHE_ENTRIES = Math.floor(intEnv('BENCH_CACHE_ENTRIES', 100_000, 1));
const PROFILE = env.BENCH_PROFILE === '1';
// A measured run during which other processes used more than this many cores is measured again.
const MAX_OTHERS = intEnv('BENCH_MAX_OTHERS', 0.25, 0);
const MAX_RETRIES = 8;
const ONLY = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;

// A pool larger than the verifier cache means that even after wrapping around,
// a token comes back only after it has been evicted: still a cache miss.
if (TOKEN_POOL <= CACHE_ENTRIES) throw new Error(`BENCH_TOKENS (${TOKEN_POOL}) must exceed the verifier cache size BENCH_CACHE_ENTRIES (${CACHE_ENTRIES})`);

// `min`: ratio to raw-undici; `minRps`: absolute req/s (token-service endpoints, which forward nothing);
// `vs` + `min`: ratio to another scenario of the same run, at least `min`; `vs` + `above`: ratio strictly above.
// The token targets compare like with like: raw-undici-bearer is the raw pass-through sent the same request
// (the same ~400-byte Authorization header, which it forwards untouched), so the ratio is the cost of
// authentication and not of a bigger request; the plain raw-undici ratio is in the table too.
const TARGETS = [
  { scenario: 'gatehouse-token-cached', vs: 'raw-undici-bearer', min: 0.8, what: 'repeated valid token (cache hits), against the raw pass-through sent the same request' },
  { scenario: 'gatehouse-token-new', vs: 'raw-undici-bearer', min: 0.45, what: 'new valid token every request (no cache hits), against the raw pass-through sent the same request' },
  { scenario: 'gatehouse-refresh', minRps: 1000, what: 'POST /auth/refresh with rotation, one worker' },
  // issue #4: the Redis store must not slow the hot path (it reads a local mirror), and workers must scale
  { scenario: 'gatehouse-token-cached-redis', vs: 'gatehouse-token-cached', min: 0.9, what: 'Redis revocation store within 10% of the memory store (cached token, one process)' },
  { scenario: 'gatehouse-token-cached-w2-redis', vs: 'gatehouse-token-cached-w1-redis', above: 1, what: 'server.workers: 2 beats server.workers: 1 (CLI, Redis store, cached token)' },
];
// Floor references for the new-token target: raw-undici plus the least per-request verification work
// (bench/servers.mjs). What they reach against raw-undici bounds what any gateway built that way can reach.
const FLOORS = [
  { scenario: 'raw-undici-jose-new', kind: 'undici-jose', what: 'raw-undici + bare jose.jwtVerify, a new ES256 token per request (floor for jose)' },
  { scenario: 'raw-undici-es256-new', kind: 'undici-es256', what: 'raw-undici + bare sync node:crypto ES256 signature check, a new token per request (floor for Node.js)' },
];
// Reported side by side, no target: the new-token path is CPU-bound on ES256 verification and may gain the most from workers.
const COMPARISONS = [
  { scenario: 'gatehouse-token-new', vs: 'raw-undici-jose-new', what: 'Gatehouse new token / its jose floor (raw-undici + bare jose.jwtVerify)' },
  { scenario: 'gatehouse-token-new-w2-redis', vs: 'gatehouse-token-new-w1-redis', what: 'workers 2 / workers 1, new token per request (CLI, Redis store)' },
  { scenario: 'gatehouse-token-new-w2-redis', vs: 'gatehouse-token-new', onlyWithout: 'gatehouse-token-new-w1-redis', what: 'workers 2 (CLI, Redis store) / one process (Gateway.start, memory store), new token per request' },
];

const ISS = 'http://gatehouse.bench';
const AUD = 'api';

// Token-service scenarios: one user, in a users file written for the run, with a password hashed by
// Gatehouse's own hashPassword (argon2id, ARGON2_PARAMS). Throttling is set as high as the config allows
// (1,000,000 per window) so it never triggers: the benchmark measures the work of a login, not a 429.
const BENCH_USER = 'bench-user@gatehouse.bench';
const BENCH_PASSWORD = randomBytes(18).toString('base64url');
const THROTTLE = 1_000_000;
// Sequential logins on one connection, for the unloaded latency of one login.
const LOGIN_SEQUENTIAL = 20;

// ---------------------------------------------------------------- processes

const children = new Set();
let current = null; // running autocannon instance
let cleaning = null;
let tmp = null; // the run's directory: signing key, users file, config files, Redis data dir

/**
 * Starts `bench/servers.mjs <args>` in a child process and resolves with the ports it reports.
 * `profile: false`: the child only supervises (gatehouse-cli, redis), so it is not profiled itself;
 * `last: true`: stopped after every other child (Redis, which the Gatehouses use until they stop).
 */
function startChild(name, args, { stdout = 'inherit', env: extraEnv = {}, profile = true, last = false } = {}) {
  return new Promise((resolve, reject) => {
    // BENCH_PROFILE=1: every server writes a V8 CPU profile, <name>.cpuprofile, when it stops.
    const execArgv = PROFILE && profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${name}.cpuprofile`] : [];
    const child = fork(join(HERE, 'servers.mjs'), args, {
      stdio: ['ignore', stdout, 'inherit', 'ipc'],
      env: { ...env, ...extraEnv },
      execArgv,
    });
    child.benchLast = last;
    children.add(child);
    if (stdout === 'pipe') countLogLines(name, child.stdout, logCounts);
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 20 s`)), 20_000);
    child.once('message', (msg) => {
      clearTimeout(timer);
      if (msg?.ready) resolve({ child, port: msg.port, adminPort: msg.adminPort, pid: msg.pid });
      else reject(new Error(`${name}: ${msg?.error ?? 'failed to start'}`));
    });
    child.once('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name}: exited during start-up (${signal ?? code})`));
    });
  });
}

/** Gatehouse's warn/error lines, counted rather than printed in the middle of the table. */
const logCounts = new Map();

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return resolve();
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      children.delete(child);
      resolve();
    });
    // SIGTERM: the child closes its servers and exits (writing its CPU profile if any).
    child.kill('SIGTERM');
  });
}

function cleanup() {
  cleaning ??= (async () => {
    current?.stop();
    await Promise.all([...children].filter((c) => !c.benchLast).map(stopChild));
    await Promise.all([...children].map(stopChild));
    // also on Ctrl-C and errors: the directory holds the run's private signing key
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping servers...\n`);
    cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ helpers

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

function cannon(opts) {
  return new Promise((resolve, reject) => {
    current = autocannon({ connections: CONNECTIONS, pipelining: PIPELINING, timeout: 10, ...opts }, (err, res) => {
      current = null;
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat; null elsewhere. */
function boxBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / TICK;
  } catch {
    return null;
  }
}
/**
 * CPU seconds so far of each measured process. A spec is a pid, or `{ tree: pid }` for a process with all its
 * descendants (a servers.mjs wrapper, the Gatehouse CLI primary it started and the primary's cluster workers;
 * the wrapper and redis-server): then `per` holds every pid's own figure.
 */
function cpuNow(procs) {
  return Object.fromEntries(
    Object.entries(procs).map(([k, spec]) => {
      if (typeof spec === 'number') return [k, { total: spec === process.pid ? (process.cpuUsage().user + process.cpuUsage().system) / 1e6 : cpuSeconds(spec) }];
      const per = {};
      for (const pid of [spec.tree, ...descendants(spec.tree)]) {
        const c = cpuSeconds(pid);
        if (c !== null) per[pid] = c;
      }
      return [k, { total: Object.keys(per).length ? Object.values(per).reduce((a, b) => a + b, 0) : null, per }];
    }),
  );
}
/**
 * Share of one core each process (tree) used between two snapshots. For a tree, summed per pid over the processes
 * alive at the end (one started meanwhile counts in full); `procs[k]` lists each pid's share, and `changed` says the
 * set of processes changed (a worker died: its CPU is lost).
 */
function cpuShares(cpu0, cpu1, seconds) {
  const cpu = {};
  const procs = {};
  let changed = false;
  for (const k of Object.keys(cpu1)) {
    const a = cpu0[k];
    const b = cpu1[k];
    if (!b.per) {
      cpu[k] = a.total === null || b.total === null ? null : round((b.total - a.total) / seconds, 2);
      continue;
    }
    if (b.total === null) {
      cpu[k] = null;
      continue;
    }
    const shares = Object.entries(b.per).map(([pid, c]) => [pid, (c - (a.per[pid] ?? 0)) / seconds]);
    if (Object.keys(a.per).some((pid) => !(pid in b.per)) || Object.keys(b.per).some((pid) => !(pid in a.per))) changed = true;
    cpu[k] = round(shares.reduce((x, [, v]) => x + v, 0), 2);
    procs[k] = Object.fromEntries(shares.map(([pid, v]) => [pid, round(v, 2)]));
  }
  return { cpu, procs, changed };
}

/** A free loopback port for a config file (the CLI with workers > 1 does not say which port it got). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function cacheCounters(adminPort) {
  if (!adminPort) return null;
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const read = (result) => Number(new RegExp(`^gatehouse_token_cache_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: read('hit'), miss: read('miss') };
}

/**
 * The Gatehouse config of every bench instance. `listen`/`adminListen`: ports (0 = any; the CLI instances get
 * ports chosen here, since a primary with workers does not report them); `workers`: server.workers (more than one
 * only through the CLI); `redis`: { url, keyPrefix } for revocation.store: redis, else the memory store.
 */
function gatehouseConfig(keyFile, usersFile, upstreamOrigin, level, { listen = 0, adminListen = 0, workers = 1, redis = null } = {}) {
  const store = redis ? `redis\n  redis:\n    url: ${JSON.stringify(redis.url)}\n    keyPrefix: ${JSON.stringify(redis.keyPrefix)}` : 'memory';
  return `
server:
  listen: 127.0.0.1:${listen}
  workers: ${workers}
admin:
  listen: 127.0.0.1:${adminListen}
issuer:
  iss: ${ISS}
  audience: ${AUD}
  signingKeys:
    - file: ${JSON.stringify(keyFile)}
  users:
    file: ${JSON.stringify(usersFile)}
  throttle: { perUser: ${THROTTLE}, perIp: ${THROTTLE}, window: 15m }
verify:
  algorithms: [ES256]
  cache: { maxEntries: ${CACHE_ENTRIES} }
revocation:
  store: ${store}
log:
  level: ${level}
routes:
  - name: public
    match: { path: /public/** }
    upstream: ${upstreamOrigin}
    auth: public
  - name: api
    match: { path: /api/** }
    upstream: ${upstreamOrigin}
    auth: required
`;
}

/** POST a JSON body; resolves with the status and the parsed JSON answer (null if none). */
async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
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
  const { status, json } = await postJson(`${origin}/auth/login`, { username: BENCH_USER, password: BENCH_PASSWORD });
  if (status !== 200 || typeof json?.refresh_token !== 'string') throw new Error(`login answered ${status} ${JSON.stringify(json)}, expected 200 with a refresh_token`);
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

/** Median (and min/max) wall time of `n` sequential logins on one keep-alive connection, in ms. */
async function sequentialLogins(origin, n) {
  const client = new Client(origin, { pipelining: 1 });
  const payload = JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD });
  const once = async () => {
    const t0 = performance.now();
    const { statusCode, body } = await client.request({ method: 'POST', path: '/auth/login', headers: { 'content-type': 'application/json' }, body: payload });
    await body.text();
    const ms = performance.now() - t0;
    if (statusCode !== 200) throw new Error(`sequential login answered ${statusCode}`);
    return ms;
  };
  try {
    for (let i = 0; i < 2; i++) await once(); // warm: connection, dummy-hash promise, JIT
    const times = [];
    for (let i = 0; i < n; i++) times.push(await once());
    return { n, medianMs: round(median(times), 1), minMs: round(Math.min(...times), 1), maxMs: round(Math.max(...times), 1) };
  } finally {
    await client.close();
  }
}

// --------------------------------------------------------------------- main

async function main() {
  const started = Date.now();
  tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  try {
    // A signing key made for this run, written where the Gatehouse config points.
    const jwk = await generateSigningJwk('ES256', 'bench-es256');
    const keyFile = join(tmp, 'bench-es256.jwk.json');
    writeFileSync(keyFile, JSON.stringify(jwk), { mode: 0o600 });
    const key = await loadKeyFile(keyFile, { requirePrivate: true });
    // The users file for the token-service scenarios: one user, hashed by Gatehouse's own hashPassword.
    const passwordHash = await hashPassword(BENCH_PASSWORD);
    const usersFile = join(tmp, 'users.yaml');
    writeFileSync(usersFile, `users:\n  - username: ${JSON.stringify(BENCH_USER)}\n    password: ${JSON.stringify(passwordHash)}\n    roles: [user]\n    scope: "read write"\n`, { mode: 0o600 });
    const argon2 = {
      params: { algorithm: 'argon2id', memoryKiB: ARGON2_PARAMS.memoryCost, timeCost: ARGON2_PARAMS.timeCost, parallelism: ARGON2_PARAMS.parallelism },
      // what the stored hash itself says (the cost Gatehouse actually pays per login)
      hashParams: /^\$(argon2\w+)\$v=\d+\$(m=\d+,t=\d+,p=\d+)\$/.exec(passwordHash)?.slice(1).join(' ') ?? 'unparsed',
    };

    const wanted = (s) => !ONLY || ONLY.has(s);
    const needTokens = [...FLOORS.map((f) => f.scenario), 'gatehouse-token-new', 'gatehouse-token-new-w1-redis', 'gatehouse-token-new-w2-redis'].some(wanted);
    const signing = needTokens ? signTokens(jwk, { iss: ISS, aud: AUD, ttlSeconds: 3600, roles: ['user'], scope: 'read write' }, TOKEN_POOL) : Promise.resolve([]);
    const tokenStart = Date.now();

    if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });
    // Issue #4 instances (Redis store; the CLI with server.workers 1 and 2) start only when a scenario needs them.
    const wantW1 = wanted('gatehouse-token-cached-w1-redis') || wanted('gatehouse-token-new-w1-redis');
    const wantW2 = wanted('gatehouse-token-cached-w2-redis') || wanted('gatehouse-token-new-w2-redis');
    const wantRedis = wanted('gatehouse-token-cached-redis') || wantW1 || wantW2;
    const redisDir = join(tmp, 'redis');
    mkdirSync(redisDir);
    const [upstream, redis] = await Promise.all([
      startChild('upstream', ['upstream']),
      // redis-server on a free loopback port, no persistence; stopped last, after every Gatehouse using it
      wantRedis ? startChild('redis', ['redis', redisDir], { profile: false, last: true }) : null,
    ]);
    const upstreamOrigin = `http://127.0.0.1:${upstream.port}`;
    const redisUrl = redis ? `redis://127.0.0.1:${redis.port}` : null;
    let redisVersion = null;
    if (redis) {
      try {
        redisVersion = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? null;
      } catch {
        // unknown
      }
    }
    /** `node dist/cli.js start -c <file>` with a config file written for the run (log level warn, Redis store, ports chosen here). */
    const startCli = async (name, workers) => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const file = join(tmp, `${name}.yaml`);
      writeFileSync(file, gatehouseConfig(keyFile, usersFile, upstreamOrigin, 'warn', { listen: port, adminListen: adminPort, workers, redis: { url: redisUrl, keyPrefix: `bench-${name}:` } }), { mode: 0o600 });
      // BENCH_PROFILE=1: the CLI primary and each worker write their own profile (named by pid) into profiles/<name>/
      const cliExecArgv = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(PROFILE_DIR, name)] : [];
      const h = await startChild(name, ['gatehouse-cli', file, String(port)], { stdout: 'pipe', profile: false, env: { BENCH_CLI_EXEC_ARGV: JSON.stringify(cliExecArgv) } });
      return { ...h, adminPort, workers, configFile: file };
    };
    // The new-token floor references verify with the public half of the run's signing key.
    const verifyKey = JSON.stringify({ jwk: key.publicJwk, iss: ISS, aud: AUD });
    const [undici, hproxy, floors, gh, ghInfo, ghRedis, w1, w2] = await Promise.all([
      startChild('raw-undici', ['undici', upstreamOrigin]),
      startChild('raw-http-proxy', ['http-proxy', upstreamOrigin]),
      Promise.all(FLOORS.filter((f) => wanted(f.scenario)).map(async (f) => ({ ...f, server: await startChild(f.scenario, [f.kind, upstreamOrigin], { env: { BENCH_VERIFY_KEY: verifyKey } }) }))),
      startChild('gatehouse', ['gatehouse'], { stdout: 'pipe', env: { BENCH_GATEHOUSE_CONFIG: gatehouseConfig(keyFile, usersFile, upstreamOrigin, 'warn') } }),
      // per-request logging at info, to stdout, which is /dev/null: the cost of formatting and writing the lines
      startChild('gatehouse-log-info', ['gatehouse'], { stdout: 'ignore', env: { BENCH_GATEHOUSE_CONFIG: gatehouseConfig(keyFile, usersFile, upstreamOrigin, 'info') } }),
      // as `gatehouse`, with the Redis revocation store
      wanted('gatehouse-token-cached-redis')
        ? startChild('gatehouse-redis', ['gatehouse'], { stdout: 'pipe', env: { BENCH_GATEHOUSE_CONFIG: gatehouseConfig(keyFile, usersFile, upstreamOrigin, 'warn', { redis: { url: redisUrl, keyPrefix: 'bench-gatehouse-redis:' } }) } })
        : null,
      wantW1 ? startCli('gatehouse-w1-redis', 1) : null,
      wantW2 ? startCli('gatehouse-w2-redis', 2) : null,
    ]);

    // The repeated token comes from Gatehouse's own issuer code.
    const { token: cachedToken } = await signAccessToken(key, { iss: ISS, sub: 'bench-user', audience: [AUD], ttlSeconds: 3600, roles: ['user'], scope: 'read write' });
    const tokens = await signing;
    if (needTokens) process.stderr.write(`bench: ${tokens.length} distinct ES256 tokens signed in ${((Date.now() - tokenStart) / 1000).toFixed(1)} s\n`);
    // One counter per token-new scenario, shared by all its connections: each of them sends the pool in order.
    const tokenCounters = new Map();
    const newTokenRequests = (name) => {
      const counter = { sent: 0 };
      tokenCounters.set(name, counter);
      return [
        {
          // every request, on any connection, gets the next token
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[counter.sent++ % tokens.length]}` } }),
        },
      ];
    };
    const GW = { launcher: 'Gateway.start', workers: 1, store: 'memory' };
    const CLI = (h) => ({ launcher: 'cli', workers: h?.workers, store: 'redis', proxyTree: true });

    const gate = (p) => `http://127.0.0.1:${p}`;
    const scenarios = [
      { name: 'upstream-direct', what: 'upstream, no proxy', url: `${gate(upstream.port)}/api/hello`, proxy: null },
      { name: 'raw-undici', what: 'undici Pool.stream pass-through, no auth', url: `${gate(undici.port)}/api/hello`, proxy: undici },
      // the raw pass-through sent the token scenarios' request: the same Authorization header, forwarded untouched
      { name: 'raw-undici-bearer', what: 'undici pass-through, no auth, sent the token scenarios\' Authorization header', url: `${gate(undici.port)}/api/hello`, headers: { authorization: `Bearer ${cachedToken}` }, proxy: undici },
      { name: 'raw-http-proxy', what: 'http-proxy + keep-alive agent, no auth', url: `${gate(hproxy.port)}/api/hello`, proxy: hproxy },
      ...floors.map((f) => ({ name: f.scenario, what: f.what, url: `${gate(f.server.port)}/api/hello`, proxy: f.server, requests: newTokenRequests(f.scenario) })),
      { name: 'gatehouse-public', what: 'Gatehouse, public route (no token)', url: `${gate(gh.port)}/public/hello`, admin: gh.adminPort, proxy: gh, ...GW },
      { name: 'gatehouse-token-cached', what: 'Gatehouse, one repeated ES256 token', url: `${gate(gh.port)}/api/hello`, headers: { authorization: `Bearer ${cachedToken}` }, admin: gh.adminPort, proxy: gh, ...GW },
      { name: 'gatehouse-token-new', what: 'Gatehouse, a new ES256 token per request', url: `${gate(gh.port)}/api/hello`, admin: gh.adminPort, proxy: gh, ...GW, requests: newTokenRequests('gatehouse-token-new') },
      { name: 'gatehouse-token-cached-log-info', what: 'as token-cached, log level info to /dev/null', url: `${gate(ghInfo.port)}/api/hello`, headers: { authorization: `Bearer ${cachedToken}` }, admin: ghInfo.adminPort, proxy: ghInfo, ...GW },
      // issue #4: the Redis store (one process, Gateway.start), then the CLI with server.workers 1 and 2 (Redis store)
      ...(ghRedis ? [{ name: 'gatehouse-token-cached-redis', what: 'as token-cached, Redis revocation store', url: `${gate(ghRedis.port)}/api/hello`, headers: { authorization: `Bearer ${cachedToken}` }, admin: ghRedis.adminPort, proxy: ghRedis, ...GW, store: 'redis', redis }] : []),
      ...[w1, w2]
        .filter(Boolean)
        .flatMap((h) => [
          // /metrics sums every worker (the primary aggregates), so the cache counters are read with any number of workers
          { name: `gatehouse-token-cached-w${h.workers}-redis`, what: `as token-cached, CLI, server.workers ${h.workers}, Redis store`, url: `${gate(h.port)}/api/hello`, headers: { authorization: `Bearer ${cachedToken}` }, admin: h.adminPort, proxy: h, ...CLI(h), redis },
          { name: `gatehouse-token-new-w${h.workers}-redis`, what: `as token-new, CLI, server.workers ${h.workers}, Redis store`, url: `${gate(h.port)}/api/hello`, admin: h.adminPort, proxy: h, ...CLI(h), redis, requests: newTokenRequests(`gatehouse-token-new-w${h.workers}-redis`) },
        ]),
      {
        name: 'gatehouse-login',
        what: `Gatehouse, POST /auth/login, valid password (argon2id ${argon2.hashParams.split(' ')[1]})`,
        url: `${gate(gh.port)}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD }),
        tokenService: true,
        proxy: gh,
        ...GW,
        sanity: async () => (await login(gate(gh.port)), 200),
      },
      {
        name: 'gatehouse-refresh',
        what: `Gatehouse, POST /auth/refresh with rotation, ${CONNECTIONS} session chains (one per connection)`,
        url: `${gate(gh.port)}/auth/refresh`,
        tokenService: true,
        proxy: gh,
        ...GW,
        // new chains (CONNECTIONS logins) before every autocannon run, warm-up included; `stats` counts breaks
        prepare: (stats) => refreshRun(gate(gh.port), stats),
        newStats: newRefreshStats,
        sanity: async () => {
          const first = await login(gate(gh.port));
          const { status, json } = await postJson(`${gate(gh.port)}/auth/refresh`, { refresh_token: first });
          if (status === 200 && (typeof json?.refresh_token !== 'string' || json.refresh_token === first)) throw new Error('gatehouse-refresh: sanity refresh answered 200 without a new refresh_token');
          return status;
        },
      },
    ].filter((s) => wanted(s.name));
    if (scenarios.length === 0) throw new Error(`BENCH_ONLY matched no scenario`);

    // Every scenario must answer 200 before it is measured: a fast 401 is not a result.
    for (const s of scenarios) {
      let status;
      if (s.sanity) status = await s.sanity();
      else {
        const auth = s.headers?.authorization ?? (s.requests ? `Bearer ${tokens[tokens.length - 1]}` : undefined);
        const res = await fetch(s.url, { headers: auth ? { authorization: auth } : {} });
        await res.arrayBuffer();
        status = res.status;
      }
      if (status !== 200) throw new Error(`${s.name}: sanity request answered ${status}, expected 200`);
    }

    // The unloaded cost of one login, on one connection, before any load.
    const loginLatency = wanted('gatehouse-login') ? await sequentialLogins(gate(gh.port), LOGIN_SEQUENTIAL) : null;
    if (loginLatency) process.stderr.write(`bench: one login on one connection: median ${loginLatency.medianMs} ms over ${loginLatency.n} sequential logins (argon2 ${argon2.hashParams})\n`);

    process.stderr.write(`bench: ${scenarios.length} scenarios x ${ROUNDS} rounds, ${DURATION} s each after ${WARMUP} s warm-up, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${cpus().length} CPUs\n`);
    const runs = new Map(scenarios.map((s) => [s.name, []]));
    let retriesLeft = MAX_RETRIES;
    const measure = async (s, r, opts) => {
      // Scenarios with per-run state (gatehouse-refresh) prepare it before each autocannon run, outside the measurement.
      const stats = s.newStats?.() ?? null;
      const withState = async () => (s.prepare ? { ...opts, ...(await s.prepare(stats)) } : opts);
      if (WARMUP > 0) await cannon({ ...(await withState()), duration: WARMUP });
      const warmupStats = stats ? { ...stats, statuses: { ...stats.statuses } } : null;
      const measuredOpts = await withState();
      const before = await cacheCounters(s.admin);
      // CLI instances: the wrapper, the CLI primary and its workers, all counted as the proxy; Redis scenarios: redis-server too
      const procs = { proxy: s.proxyTree ? { tree: s.proxy.child.pid } : s.proxy?.child.pid, upstream: upstream.child.pid, autocannon: process.pid };
      if (!s.proxy) delete procs.proxy;
      if (s.redis) procs.redis = { tree: s.redis.child.pid };
      const cpu0 = cpuNow(procs);
      const box0 = boxBusySeconds();
      const res = await cannon({ ...measuredOpts, duration: DURATION });
      const cpu1 = cpuNow(procs);
      const box1 = boxBusySeconds();
      const after = await cacheCounters(s.admin);
      // share of one core each process used while measured (1.00 = one core busy all the time)
      const { cpu, procs: cpuProcs, changed: procsChanged } = cpuShares(cpu0, cpu1, res.duration);
      // whatever else ran on the machine meanwhile (other processes compete for the same cores and skew the figures)
      if (box0 !== null && box1 !== null && Object.values(cpu).every((v) => v !== null)) {
        cpu.others = round(Math.max(0, (box1 - box0) / res.duration - Object.values(cpu).reduce((a, b) => a + b, 0)), 2);
      }
      const run = {
        round: r + 1,
        rps: res.requests.average,
        p50: res.latency.p50,
        p99: res.latency.p99,
        total: res.requests.total,
        non2xx: res.non2xx,
        errors: res.errors,
        timeouts: res.timeouts,
        cache: before && after ? { hit: after.hit - before.hit, miss: after.miss - before.miss } : null,
        // gatehouse-refresh: session chains (warm-up and measured run together) and how many broke
        ...(stats ? { refresh: { ...stats, warmupBroken: warmupStats.broken, warmupNon200: warmupStats.non200 } } : {}),
        cpu,
        // process trees (CLI instances, redis): each pid's share; the proxy tree is wrapper, primary, workers in that order
        ...(Object.keys(cpuProcs).length ? { cpuProcs, ...(procsChanged ? { procsChanged } : {}) } : {}),
        // token-new: tokens sent so far by this scenario (its own counter over the shared pool)
        ...(tokenCounters.has(s.name) ? { tokensSentSoFar: tokenCounters.get(s.name).sent } : {}),
        // proxy CPU (all its threads) per answered request: less sensitive than req/s to what else the box runs
        proxyCpuUsPerReq: cpu.proxy === null || cpu.proxy === undefined || !res.requests.total ? null : round((cpu.proxy * res.duration * 1e6) / res.requests.total, 1),
      };
      return run;
    };
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round so no scenario always runs first or after the same neighbour.
      const order = scenarios.map((_, i) => scenarios[(i + r) % scenarios.length]);
      for (const s of order) {
        if (interrupted) return;
        const opts = { url: s.url, headers: s.headers ?? {}, ...(s.method ? { method: s.method } : {}), ...(s.body ? { body: s.body } : {}), ...(s.requests ? { requests: s.requests } : {}) };
        let run;
        for (let attempt = 1; ; attempt++) {
          run = await measure(s, r, opts);
          run.attempt = attempt;
          const others = run.cpu.others;
          // Other processes busy on this machine: measure again (a few times per run at most), keep the last.
          if (others === undefined || others <= MAX_OTHERS || attempt > 2 || retriesLeft <= 0) break;
          retriesLeft--;
          process.stderr.write(`  round ${r + 1}/${ROUNDS}  ${s.name.padEnd(32)} other processes used ${others.toFixed(2)} cores: measuring again\n`);
        }
        runs.get(s.name).push(run);
        const bad = run.non2xx || run.errors ? `  !! ${run.non2xx} non-2xx, ${run.errors} errors` : '';
        const cache = run.cache && s.name.startsWith('gatehouse-token') ? `  cache hit ${run.cache.hit} / miss ${run.cache.miss}` : '';
        const chains = run.refresh ? `  chains ${run.refresh.chains}, broken ${run.refresh.broken}${run.refresh.broken ? ` !! ${run.refresh.non200} non-200 ${JSON.stringify(run.refresh.statuses)}` : ''}` : '';
        // a process tree also shows its processes' shares: for a CLI instance, wrapper + primary + workers
        const cpuText = Object.entries(run.cpu)
          .filter(([, v]) => v !== null)
          .map(([k, v]) => `${k} ${v.toFixed(2)}${k === 'proxy' && run.cpuProcs?.proxy ? ` (${Object.keys(run.cpuProcs.proxy).length} procs ${Object.values(run.cpuProcs.proxy).map((x) => x.toFixed(2)).join('+')})` : ''}`)
          .join(', ');
        if (run.procsChanged) process.stderr.write(`  round ${r + 1}/${ROUNDS}  ${s.name}: the set of processes changed during the run (a worker exited?): its CPU is missing\n`);
        process.stderr.write(`  round ${r + 1}/${ROUNDS}  ${s.name.padEnd(32)} ${run.rps.toFixed(0).padStart(7)} req/s  p50 ${run.p50} ms  p99 ${run.p99} ms  cpu ${cpuText}${cache}${chains}${bad}\n`);
      }
    }

    // ------------------------------------------------------------ report
    const summary = scenarios.map((s) => {
      const rs = runs.get(s.name);
      return {
        scenario: s.name,
        description: s.what,
        // how the proxy under test was started: Gateway.start in a bench child, or `node dist/cli.js start -c FILE`
        ...(s.launcher ? { launcher: s.launcher, workers: s.workers, store: s.store } : {}),
        ...(s.launcher === 'cli' ? { configFile: s.proxy.configFile.replace(tmp, '<tmp>') } : {}),
        ...(tokenCounters.has(s.name) ? { tokensSent: tokenCounters.get(s.name).sent, tokenPool: tokens.length } : {}),
        rps: round(median(rs.map((x) => x.rps)), 0),
        p50Ms: median(rs.map((x) => x.p50)),
        p99Ms: median(rs.map((x) => x.p99)),
        proxyCpuUsPerReq: rs.every((x) => x.proxyCpuUsPerReq !== null) ? median(rs.map((x) => x.proxyCpuUsPerReq)) : null,
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
        errors: rs.reduce((a, x) => a + x.errors, 0),
        cache: rs.every((x) => x.cache) ? { hit: rs.reduce((a, x) => a + x.cache.hit, 0), miss: rs.reduce((a, x) => a + x.cache.miss, 0) } : null,
        ...(s.name === 'gatehouse-login' ? { argon2, singleConnectionLogin: loginLatency } : {}),
        ...(rs.every((x) => x.refresh)
          ? {
              refreshChains: {
                chains: rs.reduce((a, x) => a + x.refresh.chains, 0),
                logins: rs.reduce((a, x) => a + x.refresh.logins, 0),
                refreshed: rs.reduce((a, x) => a + x.refresh.ok, 0),
                broken: rs.reduce((a, x) => a + x.refresh.broken, 0),
                non200: rs.reduce((a, x) => a + x.refresh.non200, 0),
              },
            }
          : {}),
        runs: rs,
      };
    });
    const by = Object.fromEntries(summary.map((s) => [s.scenario, s]));
    const raws = ['raw-undici', 'raw-http-proxy'].filter((n) => by[n]);
    const baseline = raws.length ? raws.reduce((a, b) => (by[a].rps >= by[b].rps ? a : b)) : null;
    // Token-service endpoints forward nothing: a ratio to a pass-through proxy means nothing for them.
    const tokenService = new Set(scenarios.filter((s) => s.tokenService).map((s) => s.name));
    for (const s of summary) s.ratio = baseline && !tokenService.has(s.scenario) ? round(s.rps / by[baseline].rps, 3) : null;
    const broke = (s) => s.non2xx || s.errors || s.refreshChains?.broken;
    const noisy = (s) => s.runs.some((x) => x.cpu.others !== undefined && x.cpu.others !== null && x.cpu.others > MAX_OTHERS);
    /** A target, checked: null when its reference is not in this run. `text` for the table, `json` for latest.json. */
    const checkTarget = (t) => {
      const s = by[t.scenario];
      if (!s) return null;
      if (t.minRps !== undefined) {
        const valid = !broke(s);
        const pass = valid && s.rps >= t.minRps;
        return { text: `>= ${t.minRps} req/s: ${s.rps} ${valid ? (pass ? 'PASS' : 'MISS') : 'INVALID (non-200 answers)'}`, json: { scenario: t.scenario, description: t.what, against: 'absolute', minRps: t.minRps, rps: s.rps, valid, pass } };
      }
      const vs = t.vs ?? 'raw-undici';
      if (!by[vs]) return null;
      const ratio = s.rps / by[vs].rps;
      const valid = !broke(s) && !broke(by[vs]);
      const pass = valid && (t.above !== undefined ? ratio > t.above : ratio >= t.min);
      const short = t.vs === 'raw-undici-bearer' ? 'undici-bearer' : t.vs ? vs.replace(/^gatehouse-/, '').replace(/^token-cached-(w\d)-redis$/, '$1') : 'undici';
      const bound = t.above !== undefined ? `> ${t.above.toFixed(2)}x` : `>= ${t.min.toFixed(2)}x`;
      return {
        text: `${bound} ${short}: ${ratio.toFixed(2)}x ${valid ? (pass ? 'PASS' : 'MISS') : 'INVALID (non-2xx answers or failed requests)'}`,
        json: { scenario: t.scenario, description: t.what, against: vs, ...(t.above !== undefined ? { above: t.above } : { min: t.min }), ratio: round(ratio, 3), valid, pass, noisy: noisy(s) || noisy(by[vs]) },
      };
    };
    const checked = new Map(TARGETS.map((t) => [t.scenario, checkTarget(t)]).filter(([, c]) => c));
    const comparisons = COMPARISONS.filter((c) => by[c.scenario] && by[c.vs] && !(c.onlyWithout && by[c.onlyWithout])).map((c) => ({
      scenario: c.scenario,
      against: c.vs,
      description: c.what,
      ratio: round(by[c.scenario].rps / by[c.vs].rps, 3),
      cpuUsPerReq: [by[c.scenario].proxyCpuUsPerReq, by[c.vs].proxyCpuUsPerReq],
      valid: !broke(by[c.scenario]) && !broke(by[c.vs]),
      noisy: noisy(by[c.scenario]) || noisy(by[c.vs]),
    }));

    const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'cpu us/req', baseline ? `x ${baseline}` : 'ratio', 'target'];
    const rows = summary.map((s) => {
      const target = checked.get(s.scenario)?.text ?? '';
      const flag = broke(s) ? ' (!)' : '';
      return [s.scenario + flag, String(s.rps), String(s.p50Ms), String(s.p99Ms), s.proxyCpuUsPerReq === null ? '-' : s.proxyCpuUsPerReq.toFixed(0), s.ratio === null ? '-' : `${s.ratio.toFixed(2)}x`, target];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
    const out = [];
    out.push('');
    out.push(`Gatehouse benchmark: median of ${ROUNDS} rounds x ${DURATION} s, ${CONNECTIONS} connections, pipelining ${PIPELINING}, loopback, node ${process.version}, ${cpus().length} CPUs`);
    out.push('');
    out.push(line(header));
    out.push(line(widths.map((w) => '-'.repeat(w))));
    for (const r of rows) out.push(line(r));
    out.push('');
    if (baseline) out.push(`ratio = req/s / req/s of the faster raw pass-through (${baseline}); targets are against raw-undici${tokenService.size ? ' (token-service rows: no ratio, absolute targets)' : ''}.`);
    out.push('cpu us/req = CPU time of the proxy process (all threads) per request while measured.');
    if (by['gatehouse-token-cached'] && by['gatehouse-token-cached-log-info']) {
      const cost = 1 - by['gatehouse-token-cached-log-info'].rps / by['gatehouse-token-cached'].rps;
      out.push(`per-request logging at info (to /dev/null) costs ${(cost * 100).toFixed(1)}% of req/s on the cached-token path.`);
    }
    for (const s of summary.filter((x) => x.tokensSent !== undefined && x.launcher)) {
      const c = s.cache;
      // a token reaches this instance twice only once its own counter wraps around the pool
      const once = s.tokensSent <= tokens.length ? 'each token at most once, so every request was a full verification' : `the pool wrapped around${s.workers > 1 ? ': with several workers, each keeping its own cache, a token may come back to a worker that still has it' : ''}`;
      out.push(`${s.scenario} verifier cache: ${c ? `${c.miss} misses, ${c.hit} hits` : `counters not read (${s.workers} workers: /metrics answers for one of them)`}; ${s.tokensSent} tokens sent from a pool of ${tokens.length} (${once}).`);
    }
    // issue #4: the Redis store against the memory store, workers 2 against workers 1
    const verdict = (c) => (c.json.valid ? (c.json.pass ? 'PASS' : 'MISS') : 'INVALID (non-2xx answers or failed requests)') + (c.json.noisy ? ' (noisy: other processes were busy)' : '');
    const cpuPer = (n) => (by[n].proxyCpuUsPerReq === null ? '-' : `${by[n].proxyCpuUsPerReq.toFixed(0)} us`);
    if (checked.has('gatehouse-token-cached-redis')) {
      const c = checked.get('gatehouse-token-cached-redis');
      out.push(`gatehouse-token-cached-redis: ${by['gatehouse-token-cached-redis'].rps} req/s = ${c.json.ratio.toFixed(2)}x of gatehouse-token-cached (${by['gatehouse-token-cached'].rps}, memory store); cpu/req ${cpuPer('gatehouse-token-cached-redis')} vs ${cpuPer('gatehouse-token-cached')}; >= 0.90x of gatehouse-token-cached: ${verdict(c)}`);
    }
    if (checked.has('gatehouse-token-cached-w2-redis')) {
      const c = checked.get('gatehouse-token-cached-w2-redis');
      out.push(`workers 2 / workers 1 (token-cached, CLI, Redis store): ${by['gatehouse-token-cached-w2-redis'].rps} / ${by['gatehouse-token-cached-w1-redis'].rps} req/s = ${c.json.ratio.toFixed(2)}x; cpu/req ${cpuPer('gatehouse-token-cached-w2-redis')} vs ${cpuPer('gatehouse-token-cached-w1-redis')}; w2 > w1: ${verdict(c)}`);
    }
    for (const c of comparisons) {
      out.push(`${c.description}: ${by[c.scenario].rps} / ${by[c.against].rps} req/s = ${c.ratio.toFixed(2)}x; cpu/req ${cpuPer(c.scenario)} vs ${cpuPer(c.against)} (no target${c.valid ? '' : '; INVALID: non-2xx answers or failed requests'}${c.noisy ? '; noisy: other processes were busy' : ''})`);
    }
    // Workers only help with a spare core: say how many cores the rest of the benchmark took while workers 2 ran.
    const w2rows = summary.filter((x) => x.launcher === 'cli' && x.workers > 1);
    for (const s of w2rows) {
      const m = (k) => median(s.runs.map((x) => x.cpu[k] ?? 0));
      out.push(`${s.scenario}: cores used (median) proxy ${m('proxy').toFixed(2)} (primary + ${s.workers} workers), autocannon ${m('autocannon').toFixed(2)}, upstream ${m('upstream').toFixed(2)}, redis ${m('redis').toFixed(2)}, others ${m('others').toFixed(2)} of ${cpus().length} CPUs.`);
    }
    if (by['gatehouse-login']) {
      const p = argon2.params;
      out.push(`gatehouse-login: each login verifies an ${p.algorithm} hash, m=${p.memoryKiB} KiB (${(p.memoryKiB / 1024).toFixed(0)} MiB), t=${p.timeCost}, p=${p.parallelism} (stored hash: ${argon2.hashParams}); throttle perUser/perIp ${THROTTLE} (never reached).`);
      if (loginLatency) out.push(`gatehouse-login, one connection, no other load: median ${loginLatency.medianMs} ms per login over ${loginLatency.n} sequential logins (min ${loginLatency.minMs}, max ${loginLatency.maxMs}).`);
    }
    if (by['gatehouse-refresh']?.refreshChains) {
      const c = by['gatehouse-refresh'].refreshChains;
      const statuses = {};
      for (const x of by['gatehouse-refresh'].runs) for (const [k, v] of Object.entries(x.refresh.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      const first = by['gatehouse-refresh'].runs.find((x) => x.refresh.firstBody)?.refresh.firstBody;
      out.push(`gatehouse-refresh: ${c.chains} session chains (${CONNECTIONS} per autocannon run, warm-ups included; ${c.logins} logins), ${c.refreshed} rotations answered 200; chains broken: ${c.broken}, non-200 answers: ${c.non200}${c.non200 ? ` ${JSON.stringify(statuses)}, first: ${first}` : ''}${c.broken ? '  <-- must be 0' : ''}.`);
    }
    const others = summary.flatMap((s) => s.runs.map((x) => x.cpu.others)).filter((x) => x !== undefined && x !== null);
    if (others.length) {
      const worst = Math.max(...others);
      out.push(`other processes on this machine used ${median(others).toFixed(2)} cores (median; worst ${worst.toFixed(2)}) during the measurements${worst > MAX_OTHERS ? `; some runs stayed above ${MAX_OTHERS} even when measured again: NOISY, the ratios are unreliable, rerun on a quiet machine` : ''}.`);
    }
    for (const [what, n] of logCounts) out.push(`logged ${n}x  ${what}`);
    if (summary.some(broke)) out.push('(!) some responses were not 2xx or failed: see bench/results/latest.json; such a row is not a valid result.');
    process.stdout.write(out.join('\n') + '\n');

    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, 'latest.json');
    const targets = [...checked.values()].map((c) => c.json);
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? null,
          flags: { connections: CONNECTIONS, pipelining: PIPELINING, durationSeconds: DURATION, warmupSeconds: WARMUP, rounds: ROUNDS, maxOthers: MAX_OTHERS, tokenPool: tokens.length, verifierCacheEntries: CACHE_ENTRIES, loginThrottle: THROTTLE, sequentialLogins: LOGIN_SEQUENTIAL, profile: PROFILE },
          // the bench's own redis-server for the *-redis scenarios (null when none ran)
          redis: redis ? { version: redisVersion, bind: '127.0.0.1', persistence: 'off (--save "" --appendonly no)' } : null,
          baseline,
          targets,
          comparisons,
          scenarios: summary,
          gatehouseLogs: Object.fromEntries(logCounts),
          wallSeconds: round((Date.now() - started) / 1000, 1),
        },
        null,
        2,
      ) + '\n',
    );
    process.stdout.write(`results: ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    if (PROFILE) process.stdout.write(`CPU profiles: ${PROFILE_DIR}/<server>.cpuprofile (summarise with node bench/cpuprofile-top.mjs <file>)\n`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    await cleanup();
    process.exit(1);
  },
);
