import { constants, createPublicKey, verify as cryptoVerify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet, JWK, JWTPayload } from 'jose';

/**
 * The synchronous path for a new token (issue "Hot path per core"): the
 * signature checked with node:crypto.verify on KeyObjects imported once, and
 * the claim rules jose's jwtVerify applies for the options Gatehouse passes,
 * reproduced step for step in the same order so that every token gets the
 * same answer and the same reason. jose's WebCrypto hands every verification
 * to libuv's thread pool; this does not.
 *
 * It only decides what it can decide exactly like jose. Anything else
 * (a `crit` header, an algorithm outside the table below, a key jose would
 * import differently or refuse, a kid the remote set does not have yet,
 * several matching keys, a key set being reloaded) answers FALLBACK and the
 * caller runs jose. test/fuzz/verify-differential.fuzz.test.ts holds it to that.
 */

/** "jose must decide this one" */
export const FALLBACK = null;
export type Fallback = typeof FALLBACK;

interface AlgSpec {
  /** jose's entry.kty */
  kty: 'RSA' | 'EC' | 'OKP';
  /** jose's entry.crv (EC and OKP only) */
  crv: string | undefined;
  /** node:crypto's KeyObject for that crv */
  keyType: 'rsa' | 'ec' | 'ed25519';
  namedCurve: string | undefined;
  verify: (key: KeyObject, data: Buffer, signature: Buffer) => boolean;
}

const hashes = { 256: 'sha256', 384: 'sha384', 512: 'sha512' } as const;

const rs = (bits: 256 | 384 | 512): AlgSpec => ({
  kty: 'RSA',
  crv: undefined,
  keyType: 'rsa',
  namedCurve: undefined,
  verify: (key, data, sig) => cryptoVerify(hashes[bits], data, key, sig),
});
// RFC 7518 §3.5: salt as long as the hash, MGF1 with the same hash (node's default for the MGF1 hash)
const ps = (bits: 256 | 384 | 512): AlgSpec => ({
  kty: 'RSA',
  crv: undefined,
  keyType: 'rsa',
  namedCurve: undefined,
  verify: (key, data, sig) => cryptoVerify(hashes[bits], data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bits / 8 }, sig),
});
// RFC 7518 §3.4: r||s, each exactly as long as the curve order; DER or any other length is refused
const es = (bits: 256 | 384 | 512, crv: string, namedCurve: string, sigBytes: number): AlgSpec => ({
  kty: 'EC',
  crv,
  keyType: 'ec',
  namedCurve,
  verify: (key, data, sig) => sig.length === sigBytes && cryptoVerify(hashes[bits], data, { key, dsaEncoding: 'ieee-p1363' }, sig),
});
const ed: AlgSpec = { kty: 'OKP', crv: 'Ed25519', keyType: 'ed25519', namedCurve: undefined, verify: (key, data, sig) => cryptoVerify(null, data, key, sig) };

/** The asymmetric JWS algorithms of jose's table (lib/jws_algorithms.js) this path handles; any other alg falls back. */
const ALGS: ReadonlyMap<string, AlgSpec> = new Map([
  ['RS256', rs(256)],
  ['RS384', rs(384)],
  ['RS512', rs(512)],
  ['PS256', ps(256)],
  ['PS384', ps(384)],
  ['PS512', ps(512)],
  ['ES256', es(256, 'P-256', 'prime256v1', 64)],
  ['ES384', es(384, 'P-384', 'secp384r1', 96)],
  ['ES512', es(512, 'P-521', 'secp521r1', 132)],
  ['EdDSA', ed],
  ['Ed25519', ed],
]);

// ---------------------------------------------------------------- keys

/** One JWK of a key set: what jose's isUsableJWK reads, and the KeyObject (null: jose must import it). */
interface FastKey {
  jwk: JWK;
  key: KeyObject | null;
}

/** The keys of one set, in the set's order (jose's candidates keep it). */
export type KeyTable = readonly FastKey[];

/**
 * jose's createLocalJWKSet isUsableJWK (jwks/local.js), the same test in the
 * same terms: which keys of a set are candidates for a header's alg and kid.
 */
function usable(jwk: JWK, spec: AlgSpec, alg: string, kid: unknown): boolean {
  const { kty, key_ops: keyOps, ext, kid: jwkKid, alg: jwkAlg, use, crv } = jwk as Record<string, unknown>;
  return (
    (ext === undefined || typeof ext === 'boolean') &&
    (keyOps === undefined ||
      (Array.isArray(keyOps) && keyOps.every((op: unknown, i) => typeof op === 'string' && keyOps.indexOf(op) === i) && keyOps.includes('verify'))) &&
    spec.kty === kty &&
    (kid === undefined || (typeof kid === 'string' && kid === jwkKid)) &&
    (jwkAlg === undefined ? kty !== 'AKP' : alg === jwkAlg) &&
    (use === undefined || use === 'sig') &&
    (spec.crv === undefined || crv === spec.crv)
  );
}

const NAMED_CURVE: Readonly<Record<string, string>> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/**
 * The KeyObject for a JWK when jose would import it to the same public key
 * without complaint, else null. jose imports with WebCrypto (extractable,
 * usages = key_ops or ["verify"]) and refuses private keys; anything that
 * could make that import fail or differ keeps the key on jose's path.
 */
function importOnce(jwk: JWK): KeyObject | null {
  const j = jwk as Record<string, unknown>;
  if (j.d !== undefined || j.priv !== undefined) return null;
  if (j.ext !== undefined && j.ext !== true) return null;
  if (j.key_ops !== undefined && !(Array.isArray(j.key_ops) && j.key_ops.length === 1 && j.key_ops[0] === 'verify')) return null;
  let key: KeyObject;
  try {
    const { kty, n, e, crv, x, y } = j;
    const material = kty === 'RSA' ? { kty, n, e } : kty === 'EC' ? { kty, crv, x, y } : kty === 'OKP' ? { kty, crv, x } : null;
    if (!material) return null;
    key = createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch {
    return null;
  }
  if (key.type !== 'public') return null;
  const type = key.asymmetricKeyType;
  if (j.kty === 'RSA') return type === 'rsa' ? key : null;
  if (j.kty === 'EC') return type === 'ec' && typeof j.crv === 'string' && key.asymmetricKeyDetails?.namedCurve === NAMED_CURVE[j.crv] ? key : null;
  return type === 'ed25519' && j.crv === 'Ed25519' ? key : null;
}

/** KeyObjects for a key set, imported once (when the set is configured or reloaded, never per token). */
export function keyTable(keys: readonly JWK[]): KeyTable {
  return keys.map((jwk) => ({ jwk, key: importOnce(jwk) }));
}

/**
 * How a key source's keys can be read synchronously; jwks.ts registers one
 * next to each getKey it builds (the Verifier only ever sees the getKey).
 * - static: jwks.ts staticKeySource: the kid-exact set, then the any-kid set
 *   (kid ignored; several candidates: the one whose signature verifies).
 * - remote: jose's createRemoteJWKSet; `table()` is null whenever jose's
 *   current set cannot be known without waiting.
 */
export type KeyView = { kind: 'static'; exact: KeyTable; anyKid: KeyTable | null } | { kind: 'remote'; table(): KeyTable | null; coolingDown(): boolean };

const views = new WeakMap<object, KeyView>();

export function describeKeys(getKey: object, view: KeyView): void {
  views.set(getKey, view);
}

export function keyViewOf(getKey: object): KeyView | undefined {
  return views.get(getKey);
}

/** What the fast path reads from jose's remote key set (createRemoteJWKSet's function properties). */
export interface RemoteSet {
  readonly fresh: boolean;
  readonly reloading: boolean;
  readonly coolingDown: boolean;
  jwks(): JSONWebKeySet | undefined;
}

/**
 * The view of a jose remote set. jose replaces its key set only at the end of
 * a fetch, and every fetch goes through jwks.ts's fetch function, which
 * counts them (`fetches`, incremented synchronously when jose starts one). A
 * table built while no fetch was in flight stays jose's current set until
 * the count moves; while a fetch is in flight, nothing is known (fall back).
 * `.jwks()` clones the set, so it is read only when the count has moved.
 */
export function remoteKeyView(set: RemoteSet, fetches: () => number): KeyView {
  let builtAt = -1;
  let table: KeyTable | null = null;
  return {
    kind: 'remote',
    table() {
      if (set.reloading || !set.fresh) return null;
      const n = fetches();
      if (n !== builtAt || table === null) {
        const current = set.jwks();
        if (!current) return null;
        table = keyTable(current.keys);
        builtAt = n;
      }
      return table;
    },
    coolingDown: () => set.coolingDown,
  };
}

// ---------------------------------------------------------------- signature

/** The signing input and signature of a compact token that passed preflight. */
export interface SignedParts {
  signingInput: Buffer;
  signature: Buffer;
}

type SigOutcome = 'ok' | 'bad_signature' | 'unknown_kid' | Fallback;

const candidates = (table: KeyTable, spec: AlgSpec, alg: string, kid: unknown): FastKey[] => table.filter((k) => usable(k.jwk, spec, alg, kid));

/** A key is used here only when jose would use it unchanged: imported, and RSA of at least 2048 bits (jose throws a TypeError below). */
function ready(k: FastKey, spec: AlgSpec): KeyObject | null {
  const key = k.key;
  if (!key || key.asymmetricKeyType !== spec.keyType) return null;
  if (spec.namedCurve !== undefined && key.asymmetricKeyDetails?.namedCurve !== spec.namedCurve) return null;
  if (spec.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return null;
  return key;
}

function check(spec: AlgSpec, key: KeyObject, parts: SignedParts): boolean {
  try {
    return spec.verify(key, parts.signingInput, parts.signature);
  } catch {
    return false; // jose: any WebCrypto error is JWSSignatureVerificationFailed
  }
}

/**
 * Resolves the key as the key source's getKey would and checks the signature.
 * 'unknown_kid' only where jose says JWKSNoMatchingKey without fetching.
 */
export function verifySignature(view: KeyView, alg: string, header: Record<string, unknown>, parts: SignedParts): SigOutcome {
  const spec = ALGS.get(alg);
  if (!spec) return FALLBACK;
  if (view.kind === 'remote') {
    const table = view.table();
    if (!table) return FALLBACK;
    const found = candidates(table, spec, alg, header.kid);
    // none: jose refetches unless it fetched within the cooldown; several: JWKSMultipleMatchingKeys. Both its call.
    if (found.length === 0) return view.coolingDown() ? 'unknown_kid' : FALLBACK;
    if (found.length !== 1) return FALLBACK;
    const key = ready(found[0] as FastKey, spec);
    return key ? (check(spec, key, parts) ? 'ok' : 'bad_signature') : FALLBACK;
  }
  const exact = candidates(view.exact, spec, alg, header.kid);
  if (exact.length > 1) return FALLBACK; // JWKSMultipleMatchingKeys
  if (exact.length === 1) {
    const key = ready(exact[0] as FastKey, spec);
    return key ? (check(spec, key, parts) ? 'ok' : 'bad_signature') : FALLBACK;
  }
  if (!view.anyKid) return 'unknown_kid';
  const any = candidates(view.anyKid, spec, alg, undefined);
  if (any.length === 0) return 'unknown_kid';
  const keys = any.map((k) => ready(k, spec));
  if (keys.some((k) => k === null)) return FALLBACK;
  // one candidate, or a static rotation: the key whose signature verifies, else the first (which then fails)
  return (keys as KeyObject[]).some((key) => check(spec, key, parts)) ? 'ok' : 'bad_signature';
}

// ---------------------------------------------------------------- claims

/** The jwtVerify options Gatehouse passes, as numbers (jose would throw a TypeError on a negative or non-finite one: the caller falls back then). */
export interface ClaimRules {
  issuer: string;
  audience: readonly string[];
  /** RFC 9068 typ for self-issued tokens */
  typ: string | undefined;
  /** seconds */
  clockTolerance: number;
  /** seconds */
  maxTokenAge: number | undefined;
}

/** The claim jose's JWTClaimValidationFailed names, or 'expired' for JWTExpired; null when every rule holds. */
export type ClaimFailure = 'expired' | 'typ' | 'iss' | 'aud' | 'iat' | 'nbf' | 'exp';

/** jose's normalizeTyp: lower case, and a bare media type gets "application/". */
const normalizeTyp = (value: string): string => {
  const lower = value.toLowerCase();
  return value.includes('/') ? lower : `application/${lower}`;
};

const audiencePresent = (aud: unknown, expected: readonly string[]): boolean =>
  typeof aud === 'string' ? expected.includes(aud) : Array.isArray(aud) ? expected.some((a) => (aud as unknown[]).includes(a)) : false;

/**
 * jose's validateClaimsSet (lib/jwt_claims_set.js) for these options, check
 * for check in its order, so the first failure is the one jose reports.
 * `now` is whole seconds, as jose computes it (floor of the current date).
 */
export function checkClaims(header: Record<string, unknown>, claims: JWTPayload, rules: ClaimRules, now: number): ClaimFailure | null {
  if (rules.typ !== undefined && (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(rules.typ))) return 'typ';
  // presence, in jose's order: issuer, audience, maxTokenAge's iat, then requiredClaims (exp)
  if (!Object.hasOwn(claims, 'iss')) return 'iss';
  if (!Object.hasOwn(claims, 'aud')) return 'aud';
  if (rules.maxTokenAge !== undefined && !Object.hasOwn(claims, 'iat')) return 'iat';
  if (!Object.hasOwn(claims, 'exp')) return 'exp';
  if (claims.iss !== rules.issuer) return 'iss';
  if (!audiencePresent(claims.aud, rules.audience)) return 'aud';
  const tolerance = rules.clockTolerance;
  const { iat, nbf, exp } = claims as Record<string, unknown>;
  if ((iat !== undefined || rules.maxTokenAge !== undefined) && typeof iat !== 'number') return 'iat';
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') return 'nbf';
    if (nbf > now + tolerance) return 'nbf';
  }
  if (typeof exp !== 'number') return 'exp';
  if (exp <= now - tolerance) return 'expired';
  if (rules.maxTokenAge !== undefined) {
    const age = now - (iat as number);
    if (age - tolerance > rules.maxTokenAge) return 'expired';
    if (age < -tolerance) return 'iat';
  }
  return null;
}
