// Pre-signs many distinct access tokens for the "new token every request"
// scenarios. By default they are ES256 and have the shape src/tokens/issue.ts
// mints (RFC 9068 at+jwt: kid, iss, sub, aud, iat, exp, jti, roles, scope);
// `claims.alg: 'RS256'` (and `claims.typ`) make the tokens an external IdP
// would send (bench/peers.mjs). They are signed with node:crypto directly:
// jose's async SignJWT costs ~3x more per token and 200k of them would
// dominate the run. Signing is split over worker threads.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { cpus } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Signs `count` tokens; `claims` are { iss, aud, ttlSeconds, roles, scope, alg?, typ?, subPrefix? } (alg ES256 or
 * RS256, default ES256; typ default at+jwt; sub is `${subPrefix ?? 'user-'}${n}`), `jwk` the private signing JWK.
 */
export function signTokensSync(jwk, claims, count, offset = 0) {
  const alg = claims.alg ?? 'ES256';
  if (alg !== 'ES256' && alg !== 'RS256') throw new Error(`bench/tokens.mjs signs ES256 or RS256, not ${alg}`);
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  // ES256 signatures are R || S (JWS, RFC 7518 §3.4), not DER; RS256 is PKCS#1 v1.5, node's default for RSA keys
  const signKey = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  const header = b64({ alg, kid: jwk.kid, typ: claims.typ ?? 'at+jwt' });
  const now = Math.floor(Date.now() / 1000);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const payload = b64({
      roles: claims.roles,
      scope: claims.scope,
      iss: claims.iss,
      sub: `${claims.subPrefix ?? 'user-'}${offset + i}`,
      aud: claims.aud,
      iat: now,
      exp: now + claims.ttlSeconds,
      jti: randomUUID(),
    });
    const input = `${header}.${payload}`;
    out[i] = `${input}.${sign('sha256', Buffer.from(input), signKey).toString('base64url')}`;
  }
  return out;
}

/** Signs `count` distinct tokens over up to `threads` worker threads. */
export async function signTokens(jwk, claims, count, threads = Math.max(1, cpus().length)) {
  // RS256 signing costs ~10x ES256 (a private RSA operation): split smaller pools over the threads too
  const n = Math.max(1, Math.min(threads, Math.ceil(count / (claims.alg === 'RS256' ? 1000 : 10_000))));
  const per = Math.ceil(count / n);
  const parts = await Promise.all(
    Array.from({ length: n }, (_, t) => {
      const offset = t * per;
      const size = Math.max(0, Math.min(per, count - offset));
      return new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), { workerData: { jwk, claims, count: size, offset } });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`token worker exited with ${code}`)));
      });
    }),
  );
  return parts.flat();
}

if (!isMainThread && workerData) {
  const { jwk, claims, count, offset } = workerData;
  parentPort.postMessage(signTokensSync(jwk, claims, count, offset));
}
