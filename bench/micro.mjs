// Running a micro-benchmark's rows each in a process of their own
// (identity-micro.mjs, cached-micro.mjs, verify-micro.mjs), and the issuer,
// tokens and Verifier the token micro-benchmarks share. In one process the rows disturbed
// each other through the code and garbage they left: the same code measured
// 900 to 3,500 ns a call depending on which rows ran before it. A script
// calls `isolatedRow()` first: in a child it gets the row to measure, and
// prints what it measured with `report`; in the parent it gets null and
// calls `inProcesses` for the figures.
import { execFileSync } from 'node:child_process';
import { randomUUID, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { staticKeySource } from '../dist/tokens/jwks.js';
import { Verifier } from '../dist/tokens/verifier.js';

/** The issuer of the micro-benchmarks' tokens. */
export const MICRO_ISS = 'https://idp.bench';

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * A compact JWS (RS256 or ES256, header { alg, kid, typ: "JWT" }) of the usual claims for `sub`, valid for an hour,
 * plus `extra` claims.
 */
export function signJwt(privateKey, alg, kid, sub, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: MICRO_ISS, aud: 'api', sub, iat: now, exp: now + 3600, jti: randomUUID(), roles: ['user'], scope: 'read write', ...extra };
  const input = `${b64({ alg, kid, typ: 'JWT' })}.${b64(claims)}`;
  const sig = sign('sha256', Buffer.from(input), alg === 'RS256' ? privateKey : { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** Gatehouse's Verifier trusting MICRO_ISS with one static public JWK (audience api, roles and scope claims); `opts` as VerifierOptions. */
export function microVerifier(jwk, alg, opts) {
  const source = staticKeySource([{ jwk, anyKid: false }]);
  const issuer = {
    iss: MICRO_ISS,
    audience: ['api'],
    algorithms: [alg],
    rolesClaim: ['roles'],
    scopeClaim: ['scope'],
    getKey: source.getKey,
    selfIssued: false,
  };
  return new Verifier({ issuers: [issuer], clockToleranceMs: 30_000, maxTokenAgeMs: null, maxTokenBytes: 8192, ...opts });
}

/** The row this process measures (a child), or null (the parent). */
export const isolatedRow = () => process.env.MICRO_ROW ?? null;

/** A child's figure, for the parent. */
export const report = (value) => process.stdout.write(JSON.stringify(value));

/**
 * Runs the script at `scriptUrl` once per row and round (rows in order within a round), each run a process of
 * its own with MICRO_ROW set; returns each row's figures, round by round.
 */
export function inProcesses(scriptUrl, rows, rounds) {
  const results = Object.fromEntries(rows.map((row) => [row, []]));
  for (let r = 0; r < rounds; r++)
    for (const row of rows) {
      const out = execFileSync(process.execPath, [fileURLToPath(scriptUrl)], { env: { ...process.env, MICRO_ROW: row } });
      results[row].push(JSON.parse(out.toString()));
    }
  return results;
}

/** A full garbage collection now (no flag needed on the command line): each measurement starts on a collected heap. */
export function collectGarbage() {
  setFlagsFromString('--expose-gc');
  runInNewContext('gc')();
}

/** CPU ns per call of `fn` over `n` calls; `fn` must return something truthy each time. */
export function nsPerCall(fn, n) {
  collectGarbage();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) if (!fn()) throw new Error('a row returned nothing');
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / n;
}
