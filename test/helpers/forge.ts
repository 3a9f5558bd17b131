/**
 * Hand-built tokens for the attack tests: every byte of the header, payload
 * and signature is chosen by the test, and signatures are real (node:crypto
 * over the exact signing input), so a token differs from a valid one only in
 * the part under attack.
 */
import { KeyObject, constants, randomUUID, sign as nodeSign, type webcrypto } from 'node:crypto';
import { b64u, decodePart, parts, type TestKey } from './keys.js';

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

/** One base64url segment: a string or Buffer byte for byte, anything else as JSON. */
export const seg = b64u;

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

/** The token with its header re-encoded after `edit`; payload and signature kept (so the signature no longer matches). */
export function withHeader(token: string, edit: (h: Record<string, unknown>) => void): string {
  const [h, p, s] = parts(token);
  const header = decodePart(h);
  edit(header);
  return `${b64u(header)}.${p}.${s}`;
}

/** The token with its payload re-encoded after `edit`; header and signature kept. */
export function withPayload(token: string, edit: (c: Record<string, unknown>) => void): string {
  const [h, p, s] = parts(token);
  const claims = decodePart(p);
  edit(claims);
  return `${h}.${b64u(claims)}.${s}`;
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

/** The P-256 group order n (for r/s >= n and low/high-s variants). */
export const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
