// Micro-benchmark of the verifier's new-token path (issue "Hot path per core"):
// CPU per token of Verifier.verify with the synchronous fast path
// (src/tokens/fast-verify.ts) against the same Verifier with every token
// through jose.jwtVerify (fastPath: false), cache disabled, N distinct fresh
// tokens per algorithm. For scale, the same tokens through a bare
// node:crypto.verify of the signature and a bare jose.jwtVerify.
//
//   npm run build && node bench/verify-micro.mjs
//   MICRO_N=5000 MICRO_ROUNDS=5 MICRO_CONCURRENCY=64 node bench/verify-micro.mjs
//
// CPU is process.cpuUsage() (user + system, every thread of the process: the
// jose rows include libuv's thread pool, where WebCrypto runs), divided by the
// number of tokens; wall time per token is printed next to it. Each row is
// the median of MICRO_ROUNDS rounds; each round of each row is a process of
// its own (bench/micro.mjs), warmed up by at least two passes and 10,000
// tokens, then the median of three passes. The tokens are signed once, by
// the parent, and handed over in a file. In one process the rows disturbed
// each other through the code they left warm: the fast path measured 0 or
// 8.6 us above a bare crypto.verify depending on which rows ran before it.
// Promises are kept MICRO_CONCURRENCY in flight, as a server under load
// would.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, jwtVerify } from 'jose';
import { median } from './measure.mjs';
import { inProcesses, isolatedRow, MICRO_ISS, microVerifier, report, signJwt } from './micro.mjs';

const N = Number(process.env.MICRO_N ?? 5000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.MICRO_CONCURRENCY ?? 64);
const ALGS = ['RS256', 'ES256'];
const WARM_UP_TOKENS = 10_000;
const ROWS = ['Verifier, fast path', 'Verifier, jose only', 'bare node:crypto.verify', 'bare jose.jwtVerify'];

/** A key pair and N distinct signed tokens: the public JWK and the tokens, as the parent hands them to each row's process. */
function signTokens(alg) {
  const { privateKey, publicKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `bench-${alg.toLowerCase()}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const tokens = [];
  for (let i = 0; i < N; i++) tokens.push(signJwt(privateKey, alg, kid, `user-${i}`));
  return { alg, jwk, tokens };
}

/** The function of one row, for the tokens of one algorithm. */
async function rowFunction(row, { alg, jwk }) {
  if (row === 'Verifier, fast path') {
    const fast = microVerifier(jwk, alg, { cacheMaxEntries: 0 });
    return (t) => fast.verify(t);
  }
  if (row === 'Verifier, jose only') {
    const jose = microVerifier(jwk, alg, { cacheMaxEntries: 0, fastPath: false });
    return (t) => jose.verify(t);
  }
  if (row === 'bare node:crypto.verify') {
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    const verifyOpts = alg === 'RS256' ? publicKey : { key: publicKey, dsaEncoding: 'ieee-p1363' };
    return (t) => {
      const dot = t.lastIndexOf('.');
      return verify('sha256', Buffer.from(t.slice(0, dot)), verifyOpts, Buffer.from(t.slice(dot + 1), 'base64url'));
    };
  }
  const key = await importJWK(jwk, alg);
  return (t) => jwtVerify(t, key, { issuer: MICRO_ISS, audience: 'api', algorithms: [alg] });
}

/** runs `fn` on every token, at most CONCURRENCY promises in flight; throws if one is refused */
async function drive(tokens, fn) {
  let inFlight = [];
  for (const t of tokens) {
    const r = fn(t);
    if (r instanceof Promise) {
      inFlight.push(r);
      if (inFlight.length >= CONCURRENCY) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    } else if (!r) throw new Error('refused');
  }
  await Promise.all(inFlight);
}

async function measure(tokens, fn) {
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await drive(tokens, fn);
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / tokens.length, wallUs: Number(process.hrtime.bigint() - wall) / 1000 / tokens.length };
}

/**
 * One row in this process: whole passes over the tokens to warm it up, at least two and at least
 * WARM_UP_TOKENS tokens (the JIT compiles on threads of this process, counted in its CPU: with 2,000 calls of
 * warm-up the fast path still read 10-15 us above a bare verify), then the median of three measured passes.
 */
async function child(file, row) {
  const set = JSON.parse(readFileSync(file, 'utf8'));
  const fn = await rowFunction(row, set);
  for (let done = 0; done < Math.max(2 * set.tokens.length, WARM_UP_TOKENS); done += set.tokens.length) await drive(set.tokens, fn);
  const passes = [];
  for (let i = 0; i < 3; i++) passes.push(await measure(set.tokens, fn));
  report({ cpuUs: median(passes.map((m) => m.cpuUs)), wallUs: median(passes.map((m) => m.wallUs)) });
}

async function main() {
  console.log(
    `node ${process.version}, ${N} distinct tokens per algorithm, ${ROUNDS} rounds (a process per row and round), ${CONCURRENCY} in flight, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-verify-micro-'));
  const results = [];
  try {
    for (const alg of ALGS) {
      const file = join(dir, `${alg}.json`);
      writeFileSync(file, JSON.stringify(signTokens(alg)));
      process.env.MICRO_FILE = file; // read by each row's process (bench/micro.mjs passes the environment on)
      const samples = inProcesses(import.meta.url, ROWS, ROUNDS);
      for (const name of ROWS) results.push({ alg, name, cpu: median(samples[name].map((m) => m.cpuUs)), wall: median(samples[name].map((m) => m.wallUs)) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${'alg'.padEnd(6)} ${'path'.padEnd(26)} ${'CPU us/token'.padStart(13)} ${'wall us/token'.padStart(14)}`);
  for (const r of results) console.log(`${r.alg.padEnd(6)} ${r.name.padEnd(26)} ${r.cpu.toFixed(1).padStart(13)} ${r.wall.toFixed(1).padStart(14)}`);
  for (const alg of ALGS) {
    const get = (name) => results.find((r) => r.alg === alg && r.name === name);
    const fast = get('Verifier, fast path');
    const jose = get('Verifier, jose only');
    const floor = get('bare node:crypto.verify');
    console.log(
      `${alg}: fast path ${(jose.cpu / fast.cpu).toFixed(2)}x less CPU than jose; ${(fast.cpu - floor.cpu).toFixed(1)} us/token above a bare node:crypto.verify`,
    );
  }
}

if (isolatedRow() !== null) await child(process.env.MICRO_FILE, isolatedRow());
else await main();
