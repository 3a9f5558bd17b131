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
// the median of MICRO_ROUNDS rounds, rows rotated between rounds. Promises are
// kept MICRO_CONCURRENCY in flight, as a server under load would.
import { generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { staticKeySource } from '../dist/tokens/jwks.js';
import { Verifier } from '../dist/tokens/verifier.js';
import { median } from './measure.mjs';

const N = Number(process.env.MICRO_N ?? 5000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.MICRO_CONCURRENCY ?? 64);
const ISS = 'https://idp.bench';

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function setup(alg) {
  const { privateKey, publicKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `bench-${alg.toLowerCase()}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const tokens = [];
  for (let i = 0; i < N; i++) {
    const input = `${b64({ alg, kid, typ: 'JWT' })}.${b64({ iss: ISS, aud: 'api', sub: `user-${i}`, iat: now, exp: now + 3600, jti: randomUUID(), roles: ['user'], scope: 'read write' })}`;
    const sig = sign('sha256', Buffer.from(input), alg === 'RS256' ? privateKey : { key: privateKey, dsaEncoding: 'ieee-p1363' });
    tokens.push(`${input}.${sig.toString('base64url')}`);
  }
  const source = staticKeySource([{ jwk, anyKid: false }]);
  const entry = { iss: ISS, audience: ['api'], algorithms: [alg], rolesClaim: 'roles', scopeClaim: 'scope', getKey: source.getKey, selfIssued: false };
  const options = { issuers: [entry], clockToleranceMs: 30_000, maxTokenAgeMs: null, maxTokenBytes: 8192, cacheMaxEntries: 0 };
  return { alg, jwk, publicKey, tokens, fast: new Verifier(options), jose: new Verifier({ ...options, fastPath: false }) };
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

async function main() {
  console.log(
    `node ${process.version}, ${N} distinct tokens per algorithm, ${ROUNDS} rounds, ${CONCURRENCY} in flight, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`,
  );
  const results = [];
  for (const alg of ['RS256', 'ES256']) {
    const s = setup(alg);
    const key = await importJWK(s.jwk, alg);
    const verifyOpts = alg === 'RS256' ? s.publicKey : { key: s.publicKey, dsaEncoding: 'ieee-p1363' };
    const rows = {
      'Verifier, fast path': (t) => s.fast.verify(t),
      'Verifier, jose only': (t) => s.jose.verify(t),
      'bare node:crypto.verify': (t) => {
        const dot = t.lastIndexOf('.');
        return verify('sha256', Buffer.from(t.slice(0, dot)), verifyOpts, Buffer.from(t.slice(dot + 1), 'base64url'));
      },
      'bare jose.jwtVerify': (t) => jwtVerify(t, key, { issuer: ISS, audience: 'api', algorithms: [alg] }),
    };
    const names = Object.keys(rows);
    // warm-up: every row once on a slice, and check every token verifies
    for (const name of names) await drive(s.tokens.slice(0, Math.min(500, N)), rows[name]);
    const samples = Object.fromEntries(names.map((n) => [n, { cpu: [], wall: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const m = await measure(s.tokens, rows[name]);
        samples[name].cpu.push(m.cpuUs);
        samples[name].wall.push(m.wallUs);
      }
    }
    for (const name of names) results.push({ alg, name, cpu: median(samples[name].cpu), wall: median(samples[name].wall) });
  }
  console.log(`\n${'alg'.padEnd(6)} ${'path'.padEnd(26)} ${'CPU us/token'.padStart(13)} ${'wall us/token'.padStart(14)}`);
  for (const r of results) console.log(`${r.alg.padEnd(6)} ${r.name.padEnd(26)} ${r.cpu.toFixed(1).padStart(13)} ${r.wall.toFixed(1).padStart(14)}`);
  for (const alg of ['RS256', 'ES256']) {
    const get = (name) => results.find((r) => r.alg === alg && r.name === name);
    const fast = get('Verifier, fast path');
    const jose = get('Verifier, jose only');
    const floor = get('bare node:crypto.verify');
    console.log(
      `${alg}: fast path ${(jose.cpu / fast.cpu).toFixed(2)}x less CPU than jose; ${(fast.cpu - floor.cpu).toFixed(1)} us/token above a bare node:crypto.verify`,
    );
  }
}

await main();
