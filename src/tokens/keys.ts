import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, type JWK } from 'jose';

export interface LoadedKey {
  kid: string;
  alg: string;
  /** present for private keys (signing) */
  privateKey: KeyObject | null;
  publicKey: KeyObject;
  /** public JWK with kid, alg and use: sig — safe to publish */
  publicJwk: JWK;
  file: string;
  /** the file named the kid (a JWK with "kid"); PEM files and kid-less JWKs get their RFC 7638 thumbprint */
  kidFromFile: boolean;
}

/** Key material problems found at start-up: a TypeError, never a request error (STYLE.md habit 5). */
export class KeyFileError extends TypeError {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'KeyFileError';
  }
}

/** The JWS algorithm a key can sign with, when the file does not say. */
export function defaultAlgorithm(key: KeyObject, file: string): string {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const crv = key.asymmetricKeyDetails?.namedCurve;
    if (crv === 'prime256v1' || crv === 'P-256') return 'ES256';
    if (crv === 'secp384r1' || crv === 'P-384') return 'ES384';
    if (crv === 'secp521r1' || crv === 'P-521') return 'ES512';
    throw new KeyFileError(file, `unsupported EC curve ${crv ?? '?'}`);
  }
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new KeyFileError(file, `RSA keys must be at least 2048 bits (this one is ${bits})`);
    return type === 'rsa-pss' ? 'PS256' : 'RS256';
  }
  throw new KeyFileError(file, `unsupported key type ${type ?? 'symmetric'}: use EC P-256/384/521, Ed25519 or RSA >= 2048 bits`);
}

const ALG_FITS: Record<string, (k: KeyObject) => boolean> = {
  ES256: (k) => k.asymmetricKeyDetails?.namedCurve === 'prime256v1',
  ES384: (k) => k.asymmetricKeyDetails?.namedCurve === 'secp384r1',
  ES512: (k) => k.asymmetricKeyDetails?.namedCurve === 'secp521r1',
  EdDSA: (k) => k.asymmetricKeyType === 'ed25519',
  Ed25519: (k) => k.asymmetricKeyType === 'ed25519',
};
for (const a of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']) ALG_FITS[a] = (k) => k.asymmetricKeyType === 'rsa' || k.asymmetricKeyType === 'rsa-pss';

/**
 * Reads a private or public key from a JWK (JSON) or PEM file (PKCS8, SPKI,
 * or PKCS1/SEC1) and returns its public JWK with kid (from the file, else the
 * RFC 7638 thumbprint) and alg (from the file, else the key's natural one).
 */
export async function loadKeyFile(file: string, opts: { requirePrivate?: boolean } = {}): Promise<LoadedKey> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(file, `cannot read key file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let privateKey: KeyObject | null = null;
  let publicKey: KeyObject;
  let fileKid: string | undefined;
  let fileAlg: string | undefined;
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JWK;
      if (jwk.kty === 'oct') throw new Error('symmetric (oct) keys are not supported');
      fileKid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
      fileAlg = typeof jwk.alg === 'string' ? jwk.alg : undefined;
      if (jwk.d) {
        privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
        publicKey = createPublicKey(privateKey);
      } else {
        publicKey = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      }
    } else if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) {
      privateKey = createPrivateKey(trimmed);
      publicKey = createPublicKey(privateKey);
    } else if (/-----BEGIN [A-Z ]*PUBLIC KEY-----/.test(trimmed)) {
      publicKey = createPublicKey(trimmed);
    } else {
      throw new Error('not a JWK (JSON) or PEM key');
    }
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(file, `unreadable key: ${(err as Error).message}`);
  }
  if (opts.requirePrivate && !privateKey) throw new KeyFileError(file, 'a signing key must be a private key');
  const alg = fileAlg ?? defaultAlgorithm(publicKey, file);
  defaultAlgorithm(publicKey, file); // size/curve checks even when alg is given
  if (!ALG_FITS[alg]?.(publicKey)) throw new KeyFileError(file, `alg ${alg} does not fit this ${publicKey.asymmetricKeyType} key`);
  const exported = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = fileKid ?? (await calculateJwkThumbprint(exported));
  return { kid, alg, privateKey, publicKey, publicJwk: { ...exported, kid, alg, use: 'sig' }, file, kidFromFile: fileKid !== undefined };
}
