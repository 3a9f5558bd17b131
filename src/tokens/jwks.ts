import type { KeyObject } from 'node:crypto';
import {
  compactVerify,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type CryptoKey,
  type JWK,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from 'pino';
import { describeKeys, keyTable, remoteKeyView } from './fast-verify.js';

export const MAX_JWKS_BYTES = 512 * 1024;

export interface KeySource {
  getKey: JWTVerifyGetKey;
  /** true once keys are usable (static keys: always) */
  ready(): boolean;
  /** why not ready, for /readyz */
  problem(): string | null;
  close(): void;
}

/** A configured public key: its JWK, and whether it answers to any `kid` (a key that has none of its own). */
export interface StaticKey {
  jwk: JWK;
  anyKid: boolean;
}

/**
 * Keys from config files. A key with a kid (from its JWK file or named in
 * the config) matches tokens with that kid. A key without one (a PEM file,
 * which cannot carry a kid) matches a token whatever its kid says, as Envoy
 * does: every real IdP puts a kid in its tokens. Either way a key is only
 * ever used for its own issuer and its own algorithm (jose matches `alg`
 * and key type), so key confusion stays impossible. When several kid-less
 * keys fit (a static rotation), the one whose signature verifies is used.
 */
export function staticKeySource(keys: readonly (JWK | StaticKey)[]): KeySource {
  const list = keys.map((k): StaticKey => ('jwk' in k && 'anyKid' in k ? (k as StaticKey) : { jwk: k as JWK, anyKid: false }));
  const exact = createLocalJWKSet({ keys: list.filter((k) => !k.anyKid).map((k) => k.jwk) });
  const anyKidKeys = list.filter((k) => k.anyKid).map(({ jwk: { kid: _kid, ...rest } }): JWK => rest);
  const anyKid = anyKidKeys.length > 0 ? createLocalJWKSet({ keys: anyKidKeys }) : null;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await exact(header, token);
    } catch (err) {
      if (!anyKid || !(err instanceof errors.JWKSNoMatchingKey)) throw err;
    }
    const withoutKid = { ...header };
    delete withoutKid.kid;
    try {
      return await anyKid(withoutKid, token); // compact tokens only (preflight): no unprotected header to carry a kid
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      // several kid-less keys of this algorithm: the one that verifies this signature
      const compact = `${token.protected ?? ''}.${typeof token.payload === 'string' ? token.payload : ''}.${token.signature}`;
      let first: CryptoKey | KeyObject | null = null;
      for await (const key of err as unknown as AsyncIterable<CryptoKey | KeyObject>) {
        first ??= key;
        if (
          await compactVerify(compact, key).then(
            () => true,
            () => false,
          )
        )
          return key;
      }
      if (first) return first;
      throw err;
    }
  };
  // the same keys, readable synchronously by the verifier's fast path (fast-verify.ts), which resolves them as above
  describeKeys(getKey, { kind: 'static', exact: keyTable(list.filter((k) => !k.anyKid).map((k) => k.jwk)), anyKid: anyKid ? keyTable(anyKidKeys) : null });
  return { getKey, ready: () => true, problem: () => null, close: () => {} };
}

/**
 * Drops keys a verifier must never use (SECURITY.md J37): symmetric keys,
 * encryption keys, RSA under 2048 bits, unknown curves, and every key whose
 * kid is published more than once (ambiguous). The rest keep working.
 */
export function saneJwks(body: unknown, log: (msg: string, expected: boolean) => void): JSONWebKeySet {
  if (!body || typeof body !== 'object' || !Array.isArray((body as { keys?: unknown }).keys))
    throw new Error('JWKS response is not a JSON object with a "keys" array');
  const keys = (body as { keys: unknown[] }).keys.filter((k): k is JWK => !!k && typeof k === 'object' && !Array.isArray(k));
  const kidCount = new Map<string, number>();
  for (const k of keys) if (typeof k.kid === 'string') kidCount.set(k.kid, (kidCount.get(k.kid) ?? 0) + 1);
  const out: JWK[] = [];
  for (const k of keys) {
    const why = unusable(k, kidCount);
    // Encryption keys are normal in an IdP's JWKS (every Keycloak realm publishes one): skipped quietly.
    if (why) log(`ignoring JWKS key ${typeof k.kid === 'string' ? JSON.stringify(k.kid) : '(no kid)'}: ${why}`, k.use === 'enc');
    else out.push(k);
  }
  // An empty set would replace good cached keys with nothing: treat it as a failed fetch.
  if (out.length === 0) throw new Error('JWKS has no usable signing keys');
  return { keys: out };
}

function unusable(k: JWK, kidCount: Map<string, number>): string | null {
  if (k.kty === 'oct') return 'symmetric key';
  if (k.use !== undefined && k.use !== 'sig') return `use is ${String(k.use)}, not sig`;
  if (k.d !== undefined) return 'contains private material';
  if (typeof k.kid === 'string' && (kidCount.get(k.kid) ?? 0) > 1) return 'kid is published more than once';
  if (k.kty === 'RSA') {
    const bytes = typeof k.n === 'string' ? Buffer.from(k.n, 'base64url').length : 0;
    if (bytes * 8 < 2048) return 'RSA modulus shorter than 2048 bits';
  } else if (k.kty === 'EC') {
    if (!['P-256', 'P-384', 'P-521'].includes(String(k.crv))) return `unsupported curve ${String(k.crv)}`;
  } else if (k.kty === 'OKP') {
    if (k.crv !== 'Ed25519') return `unsupported curve ${String(k.crv)}`;
  } else return `unsupported kty ${String(k.kty)}`;
  return null;
}

export interface RemoteOptions {
  refreshMs: number;
  cooldownMs: number;
  timeoutMs: number;
}

/**
 * jose's createRemoteJWKSet gives single-flight fetches and unknown-kid
 * reloads with a cooldown. Two things are added around it, not re-implemented:
 * - cacheMaxAge is infinite and a timer reloads in the background, so an IdP
 *   outage never turns "stale" keys into rejected tokens: the last good key set
 *   keeps serving (jose would otherwise refetch inline and fail every request).
 * - the fetch is wrapped: after a failed attempt no new fetch is made for
 *   `cooldownMs` (jose's cooldown only counts from the last success, so a
 *   flood of random kids during an outage would hammer the IdP), bodies are
 *   capped, and hostile keys are filtered out.
 */
export function remoteKeySource(uri: string, opts: RemoteOptions, logger: Logger): KeySource {
  let lastFailure = 0;
  let problem: string | null = 'JWKS not loaded yet';
  const warned = new Set<string>();
  const failed = (why: string): never => {
    lastFailure = Date.now();
    problem = `JWKS ${uri}: ${why}`;
    throw new Error(problem);
  };
  let fetches = 0;
  const fetchJwks = async (url: string, init: RequestInit): Promise<Response> => {
    fetches++; // before any await: the fast path's view knows a fetch has started (fast-verify.ts remoteKeyView)
    if (Date.now() - lastFailure < opts.cooldownMs) throw new Error(`JWKS ${uri}: not refetched within ${opts.cooldownMs}ms of a failed attempt`);
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (err) {
      return failed(fetchFailure(err));
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      return failed(`HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_JWKS_BYTES) {
      await res.body?.cancel().catch(() => {});
      return failed(`response larger than ${MAX_JWKS_BYTES} bytes`);
    }
    let text: string;
    try {
      text = await readCapped(res, MAX_JWKS_BYTES);
    } catch (err) {
      return failed((err as Error).message);
    }
    let body: JSONWebKeySet;
    try {
      body = saneJwks(JSON.parse(text), (msg, expected) => {
        // said once per key and reason, not at every refresh
        if (expected || warned.has(msg)) logger.debug({ jwksUri: uri }, msg);
        else {
          warned.add(msg);
          logger.warn({ jwksUri: uri }, msg);
        }
      });
    } catch (err) {
      return failed(`unusable JWKS (${(err as Error).message})`);
    }
    problem = null;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const jwks = createRemoteJWKSet(new URL(uri), {
    cacheMaxAge: Infinity,
    cooldownDuration: opts.cooldownMs,
    timeoutDuration: opts.timeoutMs,
    [customFetch]: fetchJwks,
  });
  const reload = () =>
    jwks.reload().catch((err: unknown) => {
      const cached = jwks.jwks()?.keys.length ?? 0;
      const message = (err as Error).message;
      if (cached > 0)
        logger.warn(
          { jwksUri: uri, err: message, cachedKeys: cached },
          `JWKS refresh failed; the ${cached} cached key${cached === 1 ? ' stays' : 's stay'} in use`,
        );
      else logger.error({ jwksUri: uri, err: message }, "JWKS could not be loaded; this issuer's tokens are refused until it loads");
    });
  describeKeys(
    jwks,
    remoteKeyView(jwks, () => fetches),
  );
  void reload();
  const timer = setInterval(
    () => {
      lastFailure = 0; // the scheduled refresh is always allowed to try
      void reload();
    },
    Math.max(1000, opts.refreshMs),
  );
  timer.unref();
  return {
    getKey: jwks,
    ready: () => jwks.jwks() !== undefined,
    problem: () => (jwks.jwks() !== undefined ? null : problem),
    close: () => clearInterval(timer),
  };
}

/** undici's fetch says only "fetch failed"; the cause says what: connection refused, DNS, TLS, timeout. */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timed out';
  const cause = e.cause;
  if (cause && (cause.code || cause.message)) {
    const msg = cause.message ?? '';
    return cause.code && !msg.includes(cause.code) ? `${cause.code}: ${msg}` : msg || String(cause.code);
  }
  return e.message;
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`response larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
