/**
 * Hand-built tokens for the attack tests: every byte of the header, payload
 * and signature is chosen by the test, and signatures are real (node:crypto
 * over the exact signing input), so a token differs from a valid one only in
 * the part under attack. Also the request/assertion helpers the token tests
 * share.
 */
import { KeyObject, constants, randomUUID, sign as nodeSign, type webcrypto } from 'node:crypto';
import { expect } from 'vitest';
import type { TestKey } from '../helpers/keys.js';
import type { TestUpstream } from '../helpers/upstream.js';

export type SignerKey = TestKey | KeyObject;

export function privateKeyObject(k: SignerKey): KeyObject {
  return k instanceof KeyObject ? k : KeyObject.from(k.privateKey as unknown as webcrypto.CryptoKey);
}

export function publicKeyObject(k: TestKey): KeyObject {
  return KeyObject.from(k.publicKey as unknown as webcrypto.CryptoKey);
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** The raw JWS signature of `input` for `alg` (RFC 7518 §3); `der` gives ECDSA in ASN.1 DER instead of r||s. */
export function signatureFor(alg: string, key: KeyObject, input: string, der = false): Buffer {
  const data = Buffer.from(input, 'utf8');
  const bits = alg.slice(-3);
  if (alg === 'EdDSA' || alg === 'Ed25519') return nodeSign(null, data, key);
  if (alg.startsWith('ES')) return nodeSign(HASH[bits] ?? 'sha256', data, { key, dsaEncoding: der ? 'der' : 'ieee-p1363' });
  if (alg.startsWith('RS')) return nodeSign(HASH[bits] ?? 'sha256', data, key);
  if (alg.startsWith('PS')) return nodeSign(HASH[bits] ?? 'sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
  throw new TypeError(`signatureFor: no signer for ${alg}`);
}

export const seg = (bytes: string | Buffer | object): string =>
  (Buffer.isBuffer(bytes) ? bytes : Buffer.from(typeof bytes === 'string' ? bytes : JSON.stringify(bytes), 'utf8')).toString('base64url');

/** Signs exactly `headerSeg.payloadSeg` (segments used verbatim, canonical or not). */
export function signSegments(key: SignerKey, alg: string, headerSeg: string, payloadSeg: string): string {
  return `${headerSeg}.${payloadSeg}.${signatureFor(alg, privateKeyObject(key), `${headerSeg}.${payloadSeg}`).toString('base64url')}`;
}

/**
 * A compact JWS over the given header and payload. A string payload is used
 * byte for byte (so `{"exp":1e309}` or a top-level array can be signed), a
 * Buffer as raw bytes, anything else as JSON. The signing algorithm is the
 * header's `alg` unless `signAlg` says otherwise.
 */
export function forge(key: SignerKey, header: Record<string, unknown>, payload: string | Buffer | object, signAlg?: string): string {
  const alg = signAlg ?? (typeof header.alg === 'string' ? header.alg : 'ES256');
  return signSegments(key, alg, seg(header), seg(payload));
}

/** The claims of a valid access token, as signToken builds them. */
export function validClaims(iss: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss, aud: 'api', sub: 'alice', iat: now, exp: now + 300, jti: randomUUID(), ...extra };
}

export function validHeader(key: TestKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...extra };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
  /** did the upstream see this very request? */
  reached: boolean;
  ms: number;
}

/**
 * One request with `Authorization: Bearer <token>` (or the exact header value
 * given) to a fresh path under `prefix`, so the upstream's log answers
 * "was this request forwarded?" without counting.
 */
export async function probe(gatewayUrl: string, up: TestUpstream, token: string | null, opts: { prefix?: string; authorization?: string } = {}): Promise<Answer> {
  const id = randomUUID();
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  const started = performance.now();
  const res = await fetch(`${gatewayUrl}${opts.prefix ?? '/api'}/${id}`, { headers });
  const text = await res.text();
  const ms = performance.now() - started;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    /* not JSON: the assertions on body will say so */
  }
  return { status: res.status, headers: res.headers, text, body, reached: up.seen.some((s) => s.url.includes(id)), ms };
}

const CHALLENGE_401 = /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"]*"$/;
const CHALLENGE_403 = /^Bearer realm="gatehouse", error="insufficient_scope", error_description="[^"]*"$/;

/** SECURITY.md "401": status, RFC 6750 challenge, JSON error body, upstream not called, no claims echoed. */
export function expectInvalidToken(a: Answer, echoes: readonly string[] = ['alice']): void {
  expect(a.status, a.text).toBe(401);
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
  expect(a.body.error).toBe('invalid_token');
  expect(typeof a.body.error_description).toBe('string');
  expect(typeof a.body.request_id).toBe('string');
  expect(a.headers.get('www-authenticate')).toMatch(CHALLENGE_401);
  expect(a.reached).toBe(false);
  for (const s of echoes) expect(a.text).not.toContain(s);
}

/** SECURITY.md "403": valid token, rule not met. */
export function expectInsufficientScope(a: Answer): void {
  expect(a.status, a.text).toBe(403);
  expect(a.body.error).toBe('insufficient_scope');
  expect(typeof a.body.error_description).toBe('string');
  expect(a.headers.get('www-authenticate')).toMatch(CHALLENGE_403);
  expect(a.reached).toBe(false);
}

export function expectAccepted(a: Answer): void {
  expect(a.status, a.text).toBe(200);
  expect(a.reached).toBe(true);
}

/** RFC 6750 §2.1 b64token: anything else in `Bearer <x>` is a malformed Authorization header (SPEC §5.3: 400). */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A refused token: 401 invalid_token, or 400 invalid_request when it cannot even be a b64token. Never 200, never 500. */
export function expectRefused(a: Answer, token: string): void {
  if (B64TOKEN.test(token)) return expectInvalidToken(a);
  expect(a.status, a.text).toBe(400);
  expect(a.body.error).toBe('invalid_request');
  expect(a.reached).toBe(false);
}

/** base64url alphabet position helpers for trailing-bit variants (RFC 4648 §3.5). */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * The same segment with its last character replaced by a sibling that sets
 * one of the unused trailing bits: a lenient decoder returns identical bytes.
 * Null when the segment has no unused bits (length divisible by 4).
 */
export function trailingBitSibling(segment: string): string | null {
  const unused = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
  if (unused === 0) return null;
  const idx = ALPHABET.indexOf(segment.at(-1) as string);
  const sibling = ALPHABET[idx | 1] as string;
  return segment.slice(0, -1) + sibling;
}

/** Parses `name{label="value"} N` from Prometheus text. */
export function metricValue(text: string, name: string, labels: string): number {
  const re = new RegExp(`^${name}\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} ([0-9.e+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}
