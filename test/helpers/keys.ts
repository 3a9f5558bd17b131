import type { KeyExportOptions, KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey } from 'jose';

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** A fresh signing key pair (real crypto, no mocks). */
export async function makeKey(alg = 'ES256', kid = `k-${alg}-${Math.random().toString(36).slice(2, 8)}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, privateJwk, publicJwk };
}

/** Writes a JWK to a temp file and returns its path (for config signingKeys / keys). */
export function writeJwkFile(jwk: JWK, dir = tempDir()): string {
  const file = join(dir, `${jwk.kid ?? 'key'}.jwk.json`);
  writeFileSync(file, JSON.stringify(jwk));
  return file;
}

let written = 0;
/** Writes `content` to a new file (name ending `.ext`) in the temp dir and returns its path: key files in any format. */
export function writeTempFile(content: string, ext = 'txt', dir = tempDir()): string {
  const file = join(dir, `file-${++written}.${ext}`);
  writeFileSync(file, content);
  return file;
}

/** A node:crypto key as PEM (`spki`, `pkcs8`, `pkcs1`, `sec1`). */
export const pemOf = (k: KeyObject, type: KeyExportOptions<'pem'>['type']): string => k.export({ type, format: 'pem' }) as string;

let shared: string | null = null;
export function tempDir(): string {
  shared ??= mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  return shared;
}

export interface SignOptions {
  iss: string;
  aud?: string | string[];
  sub?: string;
  ttl?: number;
  typ?: string | null;
  header?: Record<string, unknown>;
  iat?: number;
  jti?: string | null;
}

/** Signs a JWT like a real issuer would; every field can be overridden to build attacks from a valid token. */
export async function signToken(key: TestKey, claims: JWTPayload, opts: SignOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, ...(opts.typ === null ? {} : { typ: opts.typ ?? 'at+jwt' }), ...opts.header };
  const payload: JWTPayload = {
    iss: opts.iss,
    aud: opts.aud ?? 'api',
    sub: opts.sub ?? 'alice',
    iat: opts.iat ?? now,
    exp: now + (opts.ttl ?? 300),
    ...(opts.jti === null ? {} : { jti: opts.jti ?? crypto.randomUUID() }),
    ...claims,
  };
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** base64url helpers for hand-built attack tokens (tests only; src/ never parses tokens by hand). */
export const b64u = (v: unknown): string => (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8')).toString('base64url');
export const parts = (token: string) => token.split('.') as [string, string, string];
export const decodePart = (seg: string) => JSON.parse(Buffer.from(seg, 'base64url').toString('utf8')) as Record<string, unknown>;
