import { isUtf8 } from 'node:buffer';
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { GatewayError, invalidToken } from '../errors.js';
import { rolesFrom, scopesFrom } from './claims.js';
import { FALLBACK, checkClaims, keyViewOf, verifySignature, type ClaimFailure, type ClaimRules, type Fallback, type KeyView } from './fast-verify.js';

/** A token that passed every check; what the rest of the pipeline sees. */
export interface VerifiedToken {
  claims: JWTPayload;
  iss: string;
  sub: string | undefined;
  jti: string | undefined;
  /** seconds */
  iat: number | undefined;
  exp: number;
  /** login session (refresh family) id for self-issued tokens */
  sid: string | undefined;
  roles: readonly string[];
  scopes: readonly string[];
  selfIssued: boolean;
  /**
   * The token's identity headers as forwarding last computed them, and the
   * plan they were computed for (proxy/upstream-request.ts): a cached token's
   * headers are encoded once. The token itself stays frozen; only this slot
   * changes. Absent on tokens made elsewhere (tests): computed every time.
   */
  readonly headerMemo?: HeaderMemo;
}

/** See VerifiedToken.headerMemo: `plan` is an opaque key (the identity plan), `pairs` the header list computed for it. */
export interface HeaderMemo {
  plan: object | null;
  pairs: readonly string[] | null;
}

export interface IssuerEntry {
  iss: string;
  audience: readonly string[];
  algorithms: string[];
  /** claim paths whose values are merged */
  rolesClaim: readonly string[];
  scopeClaim: readonly string[];
  getKey: JWTVerifyGetKey;
  /** self-issued tokens must be RFC 9068 at+jwt */
  selfIssued: boolean;
}

export interface VerifierOptions {
  issuers: readonly IssuerEntry[];
  clockToleranceMs: number;
  maxTokenAgeMs: number | null;
  maxTokenBytes: number;
  cacheMaxEntries: number;
  onCache?: (hit: boolean) => void;
  /**
   * Signatures checked synchronously with node:crypto where the key is known
   * (fast-verify.ts), else by jose. Default true; false runs every token
   * through jose (the differential test's reference, the micro-benchmark's
   * baseline).
   */
  fastPath?: boolean;
  /** ms since the epoch; tests only (the differential test gives jose and the fast path one "now") */
  clock?: () => number;
}

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'];
export const REFRESH_TYP = 'refresh+jwt';
export const ACCESS_TYP = 'at+jwt';

/**
 * The cache's key for a token: its last characters, from its signature. A
 * request's token is a new string, and V8 hashes a new string in full before
 * a Map lookup (about 1.6 ns a character here: 0.7 µs for a 450-character
 * token, 2 µs for an IdP's 1,300-character one, on every cached request).
 * The key only finds the entry: the entry holds the whole token, and a hit
 * must equal it character for character. Two tokens with one key (a forged
 * token that copies a cached token's signature) cost the second a cache
 * miss, never the first one's identity.
 */
const CACHE_KEY_CHARS = 24;
const cacheKey = (token: string): string => (token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token);

/** A verified token in the cache, under cacheKey(token). */
interface CacheEntry {
  token: string;
  verified: VerifiedToken;
}

/** An issuer as the verifier uses it: the entry, the jose options, and (when its key source has one) the synchronous key view. */
interface Issuer {
  entry: IssuerEntry;
  rules: ClaimRules;
  keys: KeyView | undefined;
}

/**
 * Verifies bearer JWTs against configured issuers. A token seen before and not
 * yet expired costs one cache lookup; revocation is checked by the caller on
 * every request, never cached here. A new token whose key is known is
 * verified synchronously (fast-verify.ts: node:crypto.verify, jose's claim
 * rules reproduced); the rest goes through jose.jwtVerify, with the same
 * results and reasons either way.
 */
export class Verifier {
  private readonly byIss = new Map<string, Issuer>();
  private readonly cache: LRUCache<string, CacheEntry> | null;
  private readonly now: () => number;
  private readonly clockTolerance: number;
  private readonly maxTokenAge: number | undefined;

  constructor(private readonly opts: VerifierOptions) {
    this.now = opts.clock ?? Date.now;
    this.clockTolerance = Math.floor(opts.clockToleranceMs / 1000);
    this.maxTokenAge = opts.maxTokenAgeMs !== null ? Math.floor(opts.maxTokenAgeMs / 1000) : undefined;
    // jose throws a TypeError for these; keep that behaviour by never deciding here
    const saneOptions =
      Number.isFinite(this.clockTolerance) &&
      this.clockTolerance >= 0 &&
      (this.maxTokenAge === undefined || (Number.isFinite(this.maxTokenAge) && this.maxTokenAge >= 0));
    const fast = (opts.fastPath ?? true) && saneOptions;
    for (const entry of opts.issuers) {
      const rules: ClaimRules = {
        issuer: entry.iss,
        audience: [...entry.audience],
        typ: entry.selfIssued ? ACCESS_TYP : undefined,
        clockTolerance: this.clockTolerance,
        maxTokenAge: this.maxTokenAge,
      };
      this.byIss.set(entry.iss, { entry, rules, keys: fast ? keyViewOf(entry.getKey) : undefined });
    }
    this.cache =
      opts.cacheMaxEntries > 0 ? new LRUCache<string, CacheEntry>({ max: opts.cacheMaxEntries, ttlAutopurge: false, ttl: 1, allowStale: false }) : null;
  }

  /**
   * Returns synchronously on a cache hit and when the fast path verifies the
   * token; otherwise a promise. A refused token is always a rejected promise
   * (GatewayError('invalid_token')), never a synchronous throw.
   */
  verify(token: string): VerifiedToken | Promise<VerifiedToken> {
    const hit = this.cached(token, true);
    if (hit !== undefined) {
      this.opts.onCache?.(true);
      return hit;
    }
    this.opts.onCache?.(false);
    const nowMs = this.now();
    let decoded: Decoded;
    let issuer: Issuer;
    try {
      decoded = preflight(token, this.opts.maxTokenBytes);
      issuer = this.issuerFor(decoded);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (issuer.keys) {
      const outcome = this.verifyFast(decoded, issuer, nowMs);
      if (outcome instanceof GatewayError) return Promise.reject(outcome);
      if (outcome !== FALLBACK) {
        try {
          return this.accept(token, outcome, issuer.entry, nowMs);
        } catch (err) {
          return Promise.reject(err as Error);
        }
      }
    }
    return this.verifyWithJose(token, issuer);
  }

  /**
   * True when this exact token is in the cache and unexpired: it was verified
   * (and passed preflight's compact-JWT check) before. Does not count as a
   * cache lookup nor make the entry more recent; verify() does both.
   */
  readonly accepted = (token: string): boolean => this.cached(token, false) !== undefined;

  /**
   * The cached verification of this exact token: the entry found by its key
   * must hold the same token, character for character. `touch`: a lookup
   * (the entry becomes the most recent) rather than a peek.
   */
  private cached(token: string, touch: boolean): VerifiedToken | undefined {
    const key = cacheKey(token);
    const entry = touch ? this.cache?.get(key) : this.cache?.peek(key);
    return entry !== undefined && entry.token === token ? entry.verified : undefined;
  }

  private issuerFor({ header, payload }: Decoded): Issuer {
    const issuer = typeof payload.iss === 'string' ? this.byIss.get(payload.iss) : undefined;
    if (!issuer) throw invalidToken(typeof payload.iss === 'string' ? 'unknown_issuer' : 'missing_issuer');
    if (typeof header.alg !== 'string' || !issuer.entry.algorithms.includes(header.alg)) throw invalidToken('alg_not_allowed');
    return issuer;
  }

  /** The claims when the token verifies, the error jose's path would give, or FALLBACK when only jose can tell. */
  private verifyFast({ header, payload, signingInput, signature }: Decoded, issuer: Issuer, nowMs: number): JWTPayload | GatewayError | Fallback {
    // crit (and with it b64) stays jose's: its extension rules are not reproduced here
    if (header.crit !== undefined || !issuer.keys) return FALLBACK;
    const sig = verifySignature(issuer.keys, header.alg as string, header, { signingInput, signature });
    if (sig === FALLBACK) return FALLBACK;
    if (sig !== 'ok') return invalidToken(sig);
    const failed = checkClaims(header, payload, issuer.rules, Math.floor(nowMs / 1000));
    return failed === null ? payload : claimError(failed);
  }

  private async verifyWithJose(token: string, { entry }: Issuer): Promise<VerifiedToken> {
    let claims: JWTPayload;
    try {
      const result = await jwtVerify(token, entry.getKey, {
        issuer: entry.iss,
        audience: [...entry.audience],
        algorithms: entry.algorithms,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['exp'],
        ...(this.opts.clock ? { currentDate: new Date(this.opts.clock()) } : {}),
        ...(entry.selfIssued ? { typ: ACCESS_TYP } : {}),
        ...(this.maxTokenAge !== undefined ? { maxTokenAge: this.maxTokenAge } : {}),
      });
      claims = result.payload;
    } catch (err) {
      throw mapJoseError(err);
    }
    return this.accept(token, claims, entry, this.now());
  }

  /** Gatehouse's own checks on top of jose's rules, the VerifiedToken, and the cache entry. Throws GatewayError. */
  private accept(token: string, claims: JWTPayload, entry: IssuerEntry, nowMs: number): VerifiedToken {
    const now = nowMs / 1000;
    const tolerance = this.opts.clockToleranceMs / 1000;
    // jose accepts any JS number; Infinity (JSON 1e309) would mean "never expires".
    if (!Number.isFinite(claims.exp)) throw invalidToken('bad_exp');
    if (claims.iat !== undefined && (!Number.isFinite(claims.iat) || (claims.iat as number) > now + tolerance)) throw invalidToken('iat_in_future');
    if (claims.nbf !== undefined && !Number.isFinite(claims.nbf)) throw invalidToken('bad_nbf');
    for (const name of ['sub', 'jti', 'sid'] as const) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') throw invalidToken(`bad_${name}`);
    }
    const verified: VerifiedToken = Object.freeze({
      claims,
      iss: entry.iss,
      sub: claims.sub,
      jti: claims.jti,
      iat: claims.iat,
      exp: claims.exp as number,
      sid: claims.sid as string | undefined,
      roles: Object.freeze(rolesFrom(claims, entry.rolesClaim)),
      scopes: Object.freeze(scopesFrom(claims, entry.scopeClaim)),
      selfIssued: entry.selfIssued,
      headerMemo: { plan: null, pairs: null },
    });
    // Cached no longer than verification would pass: until exp, and until the token outgrows maxTokenAge.
    let until = verified.exp * 1000;
    if (this.opts.maxTokenAgeMs !== null && verified.iat !== undefined) until = Math.min(until, verified.iat * 1000 + this.opts.maxTokenAgeMs);
    const ttl = until - this.now();
    if (this.cache && ttl > 0) this.cache.set(cacheKey(token), { token, verified }, { ttl });
    return verified;
  }

  clear(): void {
    this.cache?.clear();
  }
}

interface Decoded {
  header: Record<string, unknown>;
  payload: JWTPayload;
  /** `header.payload` as signed (ASCII) */
  signingInput: Buffer;
  signature: Buffer;
}

/**
 * Cheap structural checks before any crypto (SECURITY.md J03, J12, J23, J25,
 * J26, J28-J30, J33): compact form only, canonical base64url in every
 * segment (Node's decoder is lenient), UTF-8 JSON objects, no embedded keys
 * or key URLs, no nested JWTs, and never a refresh token.
 */
export function preflight(token: string, maxBytes: number, kind: 'access' | 'refresh' = 'access'): Decoded {
  if (token.length > maxBytes) throw invalidToken('token_too_large');
  if (!COMPACT.test(token)) throw invalidToken('malformed');
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = decodeHeader(h);
  const payload = decodeSegment(p, 'bad_payload');
  const signature = canonical(s, 'bad_signature_encoding');
  if (typeof header.alg !== 'string') throw invalidToken('bad_header');
  for (const name of FORBIDDEN_HEADERS) if (name in header) throw invalidToken('embedded_key_header');
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') throw invalidToken('nested_jwt');
  const isRefresh = typeof header.typ === 'string' && header.typ.toLowerCase().replace(/^application\//, '') === REFRESH_TYP;
  if (kind === 'access' && isRefresh) throw invalidToken('refresh_token_as_access');
  if (kind === 'refresh' && !isRefresh) throw invalidToken('not_a_refresh_token');
  return { header, payload: payload as JWTPayload, signingInput: Buffer.from(token.slice(0, h.length + 1 + p.length), 'latin1'), signature };
}

/**
 * The segment's bytes, when it is the one base64url spelling of them. COMPACT
 * already allowed only the alphabet, no padding; what Node's lenient decoder
 * would still take is a length of 4n+1 (a dangling character) and a last
 * character with bits set that no byte uses (`...Q` for `...Q`'s sibling
 * `...R`). Checked on the string, without encoding the bytes again (the
 * unit and fuzz tests compare it with the re-encoding check).
 */
function canonical(segment: string, reason: string): Buffer {
  const rest = segment.length & 3;
  if (rest === 1) throw invalidToken(reason);
  if (rest !== 0) {
    const unused = rest === 2 ? 0x0f : 0x03;
    if ((sextet(segment.charCodeAt(segment.length - 1)) & unused) !== 0) throw invalidToken(reason);
  }
  return Buffer.from(segment, 'base64url');
}

/** The value of one base64url character (the caller's COMPACT check allowed only the alphabet). */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  return c === 45 ? 62 : 63; // - _
}

/**
 * Decoded headers by their exact segment. Every token of one issuer and key
 * carries the same header, so a new token usually skips decoding it. Only
 * headers of plain values are kept (frozen: nothing downstream writes to a
 * header); the map is bounded and starts again when full, so headers an
 * attacker varies cost it nothing but the decoding they would cost anyway.
 */
const HEADERS = new Map<string, Readonly<Record<string, unknown>>>();
const MAX_HEADERS = 256;

function decodeHeader(segment: string): Record<string, unknown> {
  const hit = HEADERS.get(segment);
  if (hit) return hit;
  const header = decodeSegment(segment, 'bad_header');
  if (Object.values(header).every((v) => v === null || typeof v !== 'object')) {
    if (HEADERS.size >= MAX_HEADERS) HEADERS.clear();
    HEADERS.set(segment, Object.freeze(header));
  }
  return header;
}

function decodeSegment(segment: string, reason: string): Record<string, unknown> {
  const bytes = canonical(segment, reason);
  if (!isUtf8(bytes)) throw invalidToken(reason);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidToken(reason);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidToken(reason);
  return value as Record<string, unknown>;
}

/** The reason a failed claim check is logged and counted under, whichever path found it. */
function claimReason(claim: string): string {
  return claim === 'iss'
    ? 'wrong_issuer'
    : claim === 'aud'
      ? 'wrong_audience'
      : claim === 'nbf'
        ? 'not_yet_valid'
        : claim === 'typ'
          ? 'wrong_typ'
          : `bad_${claim}`;
}

const expired = () => invalidToken('expired', 'The access token expired');

/** The fast path's claim failures as the errors mapJoseError gives for jose's. */
function claimError(failure: ClaimFailure): GatewayError {
  return failure === 'expired' ? expired() : invalidToken(claimReason(failure));
}

/** The one place jose errors become gateway errors. */
export function mapJoseError(err: unknown): GatewayError {
  if (err instanceof errors.JWTExpired) return expired();
  if (err instanceof errors.JWTClaimValidationFailed) return invalidToken(claimReason(err.claim));
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalidToken('bad_signature');
  if (err instanceof errors.JWKSNoMatchingKey) return invalidToken('unknown_kid');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalidToken('ambiguous_kid');
  if (err instanceof errors.JOSEAlgNotAllowed) return invalidToken('alg_not_allowed');
  if (err instanceof errors.JWKSTimeout) return invalidToken('jwks_timeout');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalidToken('malformed');
  if (err instanceof errors.JOSENotSupported) return invalidToken('unsupported');
  if (err instanceof errors.JOSEError) return invalidToken(`jose_${err.code}`);
  if (err instanceof Error && /JWKS/.test(err.message)) return invalidToken('jwks_unavailable');
  return invalidToken('verify_error');
}
