import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const KEYGEN_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;

/** A new private signing JWK with kid (RFC 7638 thumbprint unless given), alg and use. */
export async function generateSigningJwk(alg: string, kid?: string): Promise<JWK> {
  if (!(KEYGEN_ALGORITHMS as readonly string[]).includes(alg)) throw new TypeError(`--alg must be one of ${KEYGEN_ALGORITHMS.join(', ')}`);
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}),
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const jwk = await exportJWK(privateKey);
  const pub = await exportJWK(publicKey);
  return { ...jwk, kid: kid ?? (await calculateJwkThumbprint(pub)), alg, use: 'sig' };
}
