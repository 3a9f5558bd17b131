// Gatehouse and its peers, CPU per request on one core each (issue "Hot path
// per core"): every proxy runs alone on core 1 (taskset, all its threads),
// wrk (1 thread, 50 keep-alive connections) and the backend (nginx returning
// a small 200) on core 0, the same way for every row; the proxy's CPU time
// from /proc over each wrk run, divided by the requests wrk completed. One
// table, ratios to raw undici, and the issue's four targets. See
// bench/README.md, "Peers".
//
//   npm run bench:peers                      (builds dist/ first; ~14 min with the defaults)
//   PEERS_QUICK=1 node bench/peers.mjs       (does every row run? 3 s x 1 round)
//   PEERS_SECONDS=5 PEERS_ROUNDS=1 PEERS_ONLY=gatehouse-new-rs256,haproxy-new-rs256 node bench/peers.mjs
//   PEERS_PROFILE=1 PEERS_QUICK=1 PEERS_ONLY=gatehouse-new-rs256 node bench/peers.mjs   (V8 CPU profiles)
//
// This file reads the settings and runs the parts in order: bench/peers-rows.mjs
// (rows, servers, keys and tokens), bench/peers-measure.mjs (pinning, wrk,
// /proc), bench/peers-report.mjs (table, verdicts, peers-latest.json).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { drained, stopChildren } from './children.mjs';
import { cacheCounters } from './measure.mjs';
import { INSTALL, findTools } from './peers-native.mjs';
import { measureRounds, pinOne, pinTree, stopWrk } from './peers-measure.mjs';
import { report } from './peers-report.mjs';
import { LOAD_CPU, PROXY_CPU, ROWS, SERVERS, startBackend, startRedis, writePeerFixtures } from './peers-rows.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const numberEnv = (name, fallback, min, integer = true) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got ${JSON.stringify(v)})`);
  return n;
};
// PEERS_QUICK=1: other defaults, for checking that every row runs (figures not comparable with a full run).
const QUICK = env.PEERS_QUICK === '1';
const es256Pool = numberEnv('PEERS_ES256_TOKENS', QUICK ? 20_000 : 150_000, 1000);
const opts = {
  quick: QUICK,
  seconds: numberEnv('PEERS_SECONDS', QUICK ? 3 : 10, 1),
  rounds: numberEnv('PEERS_ROUNDS', QUICK ? 1 : 3, 1),
  warmup: numberEnv('PEERS_WARMUP', QUICK ? 1 : 2, 0),
  maxOthers: numberEnv('PEERS_MAX_OTHERS', 0.25, 0, false),
  maxRetries: numberEnv('PEERS_MAX_RETRIES', 12, 0),
  only: env.PEERS_ONLY ? env.PEERS_ONLY.split(',').map((s) => s.trim()) : null,
  pools: {
    es256: es256Pool,
    // RS256 signing costs ~0.4 ms a token: a smaller pool, cycled (every verifier of the new-token rows has no cache)
    rs256: numberEnv('PEERS_RS256_TOKENS', QUICK ? 3000 : 30_000, 100),
    zipfUsers: numberEnv('PEERS_ZIPF_USERS', 10_000, 10),
    zipfFresh: numberEnv('PEERS_ZIPF_RENEWALS', QUICK ? 3000 : 20_000, 100),
  },
  zipf: { users: 0, s: numberEnv('PEERS_ZIPF_S', 1, 0, false), ttl: numberEnv('PEERS_ZIPF_TTL', 60, 1) },
  // gatehouse-info/-warn: verify.cache.maxEntries (the default); the CLI instances: below the ES256 pool, so that
  // the new-token rows that cycle it still miss (LRU: a token comes back only after being evicted)
  cacheEntries: 100_000,
  // revocation.redis.commandTimeout of the CLI rows (bench/peers-rows.mjs says why it is not the default 500ms)
  redisCommandTimeout: env.PEERS_REDIS_TIMEOUT || '5s',
  workersCacheEntries: Math.min(100_000, Math.floor(es256Pool / 2)),
};
opts.zipf.users = opts.pools.zipfUsers;
// PEERS_PROFILE=1: every Node.js proxy writes a V8 CPU profile (bench/cpuprofile-top.mjs summarises them)
const PROFILE_DIR = env.PEERS_PROFILE === '1' ? join(HERE, 'results', 'profiles', 'peers') : null;
// tools to treat as missing (to check what the run says without them), e.g. PEERS_WITHOUT=nginx,haproxy
const WITHOUT = new Set(
  (env.PEERS_WITHOUT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

let tmp = null;
let interrupted = false;
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    stopWrk();
    await stopChildren();
    // also on Ctrl-C and errors: the directory holds the run's private signing keys
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\npeers: ${signal}, stopping servers...\n`);
    cleanup().finally(() => process.exit(130));
  });
}

const say = (s) => process.stderr.write(`peers: ${s}\n`);

/** The rows to run (PEERS_ONLY; raw-undici always, it is every ratio's reference), each skipped with a reason when its tool is missing. */
function selectRows(tools) {
  const names = new Set(ROWS.map((r) => r.name));
  const unknown = (opts.only ?? []).filter((n) => !names.has(n));
  if (unknown.length) throw new Error(`unknown row ${unknown.join(', ')}; known: ${[...names].join(', ')}`);
  return ROWS.filter((r) => !opts.only || r.name === 'raw-undici' || opts.only.includes(r.name)).map((r) => {
    const spec = SERVERS[r.server];
    const needs = spec.needs;
    const missing = needs && !tools[needs];
    return {
      ...r,
      cpus: spec.cpus ?? PROXY_CPU,
      gatehouse: spec.gatehouse,
      ...(missing ? { skip: `${needs} is not installed (apt-get install -y ${INSTALL[needs]})` } : {}),
    };
  });
}

/** Status of one GET with an optional Authorization header. */
async function status(url, authorization) {
  const res = await fetch(url, { headers: authorization ? { authorization } : {} });
  await res.arrayBuffer();
  return res.status;
}

/** The token with one character in the middle of its signature changed (a bad signature, canonical base64url still). */
function tamper(token) {
  const at = token.lastIndexOf('.') + Math.floor((token.length - token.lastIndexOf('.')) / 2);
  return `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
}

/**
 * Every row must answer its request with 200 before anything is measured (a fast 401 or 403 is not a result), and a
 * row that checks tokens must refuse a tampered one and a missing one: a peer that let them through would verify
 * nothing.
 */
async function sanity(row, fixtures) {
  const first = { none: null, fixed: fixtures.repeatedToken, cycle: fixtures.pools[row.pool ?? 'es256']?.[0], zipf: fixtures.pools.zipfUsers[0] }[row.load];
  const good = await status(row.url, first ? `Bearer ${first}` : null);
  if (good !== 200) throw new Error(`${row.name}: sanity request answered ${good}, expected 200`);
  if (!first || row.noAuth) return;
  for (const [what, auth] of [
    ['a tampered token', `Bearer ${tamper(first)}`],
    ['no token', null],
  ]) {
    const s = await status(row.url, auth);
    if (s === 200) throw new Error(`${row.name}: answered 200 to ${what}: it does not verify tokens`);
  }
}

/** Sends every Zipf user's current token once, so the mix starts from a warm cache (the steady state of a running gateway). */
async function primeZipf(row, tokens) {
  const url = new URL(row.url);
  const pool = new Pool(url.origin, { connections: 50 });
  let next = 0;
  let bad = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < tokens.length) {
        const { statusCode, body } = await pool.request({ path: url.pathname, method: 'GET', headers: { authorization: `Bearer ${tokens[next++]}` } });
        await body.dump();
        if (statusCode !== 200) bad++;
      }
    }),
  );
  await pool.close();
  if (bad) throw new Error(`${row.name}: ${bad} of the Zipf users' tokens were refused while priming`);
}

async function main() {
  const started = Date.now();
  const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
  const tools = findTools();
  for (const t of WITHOUT) if (t in tools) tools[t] = null;
  if (!tools.wrk) throw new Error('wrk is not installed (apt-get install -y wrk): it is the load generator of every row, nothing can be measured');
  if (!tools.taskset) throw new Error('taskset is not installed (apt-get install -y util-linux): without pinning the rows do not measure one core');
  if (cpus().length < 2)
    throw new Error(`this machine has ${cpus().length} CPU: the proxy needs a core of its own (core 1) and the load generator another (core 0)`);
  for (const [t, v] of Object.entries(tools)) if (!v) say(`${t} is not installed (apt-get install -y ${INSTALL[t]}): the rows that need it are skipped`);
  if (!tools.nginx) say('nginx is missing: the backend is bench/servers.mjs `upstream` (node:http) instead');
  const rows = selectRows(tools);
  const live = rows.filter((r) => !r.skip);

  tmp = mkdtempSync(join(tmpdir(), 'gatehouse-peers-'));
  const t0 = Date.now();
  // signed before the bench pins itself to core 0: the worker threads use both cores
  const fixtures = await writePeerFixtures(tmp, opts.pools);
  say(
    `signed ${opts.pools.es256} ES256 + ${opts.pools.rs256} RS256 + ${opts.pools.zipfUsers + opts.pools.zipfFresh} Zipf-mix tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  // the bench (log reader, /proc reader) and everything it starts from now on begin on core 0; proxies are moved to core 1
  pinOne(process.pid, LOAD_CPU);

  const backend = await startBackend({ fixtures }, Boolean(tools.nginx));
  pinTree(backend.child.pid, LOAD_CPU);
  const wantRedis = live.some((r) => SERVERS[r.server].redis);
  const redis = wantRedis ? await startRedis({ fixtures }) : null;
  if (redis) pinTree(redis.child.pid, LOAD_CPU);
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const ctx = {
    fixtures,
    upstream: backend.origin,
    backendPort: backend.port,
    cacheEntries: opts.cacheEntries,
    workersCacheEntries: opts.workersCacheEntries,
    redisUrl: redis?.url ?? null,
    redisCommandTimeout: opts.redisCommandTimeout,
    profileDir: PROFILE_DIR,
  };
  const names = [...new Set(live.map((r) => r.server))];
  const handles = new Map();
  for (const name of names) {
    const spec = SERVERS[name];
    const h = await spec.start(ctx, name);
    // the wrapper, the proxy, and whatever they forked (CLI workers, nginx's worker): every thread
    pinTree(h.child.pid, spec.cpus ?? PROXY_CPU);
    handles.set(name, h);
  }
  say(`backend: ${backend.kind}, pid ${backend.pid}; ${names.length} proxies started, pinned (${names.join(', ')})`);

  // what each row's wrk run sends: tokens.lua's arguments, and where the next run of the row starts in its pool
  for (const row of live) {
    const h = handles.get(row.server);
    row.url = `http://127.0.0.1:${h.port}${row.path ?? '/api/hello'}`;
    row.proxyPid = h.pid;
    row.cacheCounters = () => cacheCounters(h.adminPort);
    row.offset = 0;
    row.args = () => {
      if (row.load === 'none') return ['mode=none'];
      if (row.load === 'fixed') return ['mode=fixed', `file=${fixtures.files.fixed}`];
      if (row.load === 'cycle') return ['mode=cycle', `file=${fixtures.files[row.pool]}`, `offset=${row.offset}`];
      return [
        'mode=zipf',
        `file=${fixtures.files.zipfUsers}`,
        `renew=${fixtures.files.zipfFresh}`,
        `s=${opts.zipf.s}`,
        `ttl=${opts.zipf.ttl}`,
        `offset=${row.offset}`,
        `seed=${1 + Math.floor(Math.random() * 1e9)}`,
      ];
    };
    row.after = (tokens) => {
      if (tokens && typeof tokens.next === 'number') row.offset = tokens.next;
    };
  }
  for (const row of live) await sanity(row, fixtures);
  for (const row of live.filter((r) => r.load === 'zipf')) await primeZipf(row, fixtures.pools.zipfUsers);

  // node:crypto.verify per call, per algorithm, once per round, on the proxies' core while nothing is loaded
  const verifyInput = join(tmp, 'verify-cost.json');
  writeFileSync(
    verifyInput,
    JSON.stringify({
      seconds: QUICK ? 0.5 : 1,
      algs: {
        RS256: { jwk: fixtures.keys.RS256.publicJwk, tokens: fixtures.pools.rs256.slice(0, 1000) },
        ES256: { jwk: fixtures.keys.ES256.publicJwk, tokens: fixtures.pools.es256.slice(0, 1000) },
      },
    }),
  );
  const verifyRuns = [];
  const beforeRound = async (r) => {
    const { stdout } = await promisify(execFile)('taskset', ['-c', PROXY_CPU, process.execPath, join(HERE, 'verify-cost.mjs'), verifyInput]);
    const v = JSON.parse(stdout);
    verifyRuns.push(v);
    say(`round ${r + 1}: node:crypto.verify RS256 ${v.RS256.usPerCall} us, ES256 ${v.ES256.usPerCall} us per call (CPU time, core ${PROXY_CPU})`);
  };

  const total = live.length * opts.rounds * (opts.seconds + opts.warmup);
  say(
    `${live.length} rows x ${opts.rounds} rounds, ${opts.seconds} s each after ${opts.warmup} s warm-up: at least ${total < 120 ? `${total} s` : `${Math.ceil(total / 60)} min`}${QUICK ? ' (PEERS_QUICK: a smoke run, figures not comparable)' : ''}`,
  );
  const runs = await measureRounds(live, {
    ...opts,
    beforeRound,
    backendPid: backend.pid,
    redisPid: redis?.pid ?? null,
    loadCpus: LOAD_CPU,
    stopped: () => interrupted,
  });
  if (!runs) return;
  const machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model ?? null,
    kernel: release(),
    node: process.version,
    loadBefore,
    loadAfter: loadavg().map((x) => Math.round(x * 100) / 100),
  };
  report({ rows, runs, verifyRuns, opts, tools, backend: backend.kind, machine, drained, started, resultsDir: join(HERE, 'results') });
  if (PROFILE_DIR)
    process.stdout.write(
      `CPU profiles (written as the proxies stop; profiled figures are not comparable with unprofiled ones): ${PROFILE_DIR}\n  node bench/cpuprofile-top.mjs ${join(PROFILE_DIR, 'gatehouse-nocache.cpuprofile')} 30\n`,
    );
}

main()
  .finally(cleanup)
  .then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`peers: ${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
