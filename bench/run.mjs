// Gatehouse benchmark (STYLE.md habit 12): fixed flags, and references measured
// in the same run — a direct upstream and two raw pass-through proxies (undici
// Pool.stream, http-proxy) — so the figures are ratios, not absolute numbers
// that depend on the machine. See bench/README.md.
//
//   npm run bench                      (builds dist/ first)
//   BENCH_ROUNDS=5 BENCH_DURATION=10 npm run bench
//   BENCH_QUICK=1 BENCH_ONLY=raw-undici,gatehouse-token-cached node bench/run.mjs   (does it run? not: how fast)
//
// This file reads the settings and runs the parts in order: bench/scenarios.mjs
// (what runs, and its servers), bench/measure.mjs (autocannon, rounds, CPU),
// bench/report.mjs (table, targets, latest.json).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { logCounts, stopChildren } from './children.mjs';
import { CONNECTIONS, PIPELINING, measureRounds, sequentialLatency, stopLoad } from './measure.mjs';
import { report } from './report.mjs';
import { LOGIN_BODY, TOKEN_CLAIMS, runnable, selectScenarios, startServers, writeFixtures } from './scenarios.mjs';
import { signTokens } from './tokens.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, 'results');
const PROFILE_DIR = join(RESULTS_DIR, 'profiles');

const env = process.env;
const numberEnv = (name, fallback, min) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number >= ${min} (got ${JSON.stringify(v)})`);
  return n;
};
// BENCH_QUICK=1: other defaults, for checking that every scenario still runs (figures not comparable with a full run).
const QUICK = env.BENCH_QUICK === '1';
const opts = {
  quick: QUICK,
  rounds: Math.floor(numberEnv('BENCH_ROUNDS', QUICK ? 1 : 3, 1)),
  duration: numberEnv('BENCH_DURATION', QUICK ? 1 : 5, 1),
  warmup: numberEnv('BENCH_WARMUP', 1, 0),
  tokenPool: Math.floor(numberEnv('BENCH_TOKENS', QUICK ? 20_000 : 200_000, 1000)),
  cacheEntries: Math.floor(numberEnv('BENCH_CACHE_ENTRIES', QUICK ? 10_000 : 100_000, 1)),
  // A measured run during which other processes used more than this many cores is measured again.
  maxOthers: numberEnv('BENCH_MAX_OTHERS', 0.25, 0),
  maxRetries: 8,
  profile: env.BENCH_PROFILE === '1',
  // sequential logins on one connection, for the unloaded latency of one login
  sequentialLogins: 20,
};
const ONLY = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;

// A pool larger than the verifier cache means that even after wrapping around,
// a token comes back only after it has been evicted: still a cache miss.
if (opts.tokenPool <= opts.cacheEntries)
  throw new Error(`BENCH_TOKENS (${opts.tokenPool}) must exceed the verifier cache size BENCH_CACHE_ENTRIES (${opts.cacheEntries})`);

let tmp = null; // the run's directory: signing key, users file, config files, Redis data dir
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    stopLoad();
    await stopChildren();
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

async function main() {
  const started = Date.now();
  const selected = selectScenarios(ONLY);
  tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const fixtures = await writeFixtures(tmp);
  const newTokens = selected.some((s) => s.auth === 'new');
  const tokenStart = Date.now();
  const signing = newTokens ? signTokens(fixtures.jwk, TOKEN_CLAIMS, opts.tokenPool) : Promise.resolve([]);
  if (opts.profile) mkdirSync(PROFILE_DIR, { recursive: true });
  const { upstream, redis, redisVersion, servers } = await startServers(selected, {
    fixtures,
    cacheEntries: opts.cacheEntries,
    profileDir: opts.profile ? PROFILE_DIR : null,
  });
  const tokens = await signing;
  if (newTokens) process.stderr.write(`bench: ${tokens.length} distinct ES256 tokens signed in ${((Date.now() - tokenStart) / 1000).toFixed(1)} s\n`);
  const scenarios = selected.map((s) => runnable(s, { servers, redis, fixtures, tokens }));

  // Every scenario must answer 200 before it is measured: a fast 401 is not a result.
  for (const s of scenarios) {
    const status = await s.sanity();
    if (status !== 200) throw new Error(`${s.name}: sanity request answered ${status}, expected 200`);
  }

  // The unloaded cost of one login, on one connection, before any load.
  const login = scenarios.find((s) => s.auth === 'login');
  const loginLatency = login ? await sequentialLatency(login.origin, '/auth/login', LOGIN_BODY, opts.sequentialLogins) : null;
  if (loginLatency)
    process.stderr.write(
      `bench: one login on one connection: median ${loginLatency.medianMs} ms over ${loginLatency.n} sequential logins (argon2 ${fixtures.argon2.hashParams})\n`,
    );

  process.stderr.write(
    `bench: ${scenarios.length} scenarios x ${opts.rounds} rounds, ${opts.duration} s each after ${opts.warmup} s warm-up, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ${cpus().length} CPUs${QUICK ? ' (BENCH_QUICK: a smoke run, figures not comparable)' : ''}\n`,
  );
  const runs = await measureRounds(scenarios, { ...opts, upstreamPid: upstream.child.pid, stopped: () => interrupted });
  if (!runs) return;
  report({
    scenarios,
    runs,
    opts,
    dir: tmp,
    argon2: fixtures.argon2,
    loginLatency,
    redis,
    redisVersion,
    logCounts,
    started,
    resultsDir: RESULTS_DIR,
    profileDir: PROFILE_DIR,
  });
}

main()
  .finally(cleanup)
  .then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: ${err?.stack ?? err}\n`);
      process.exit(1);
    },
  );
