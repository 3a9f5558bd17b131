import { parseArgs } from 'node:util';
import { generateSigningJwk, KEYGEN_ALGORITHMS } from '../tokens/keygen.js';
import { err, out } from './io.js';

/** The usage line: the algorithm list comes from the one list keygen accepts. */
export const KEYGEN_USAGE = `gatehouse keygen [--alg ${KEYGEN_ALGORITHMS.join('|')}] [--kid ID]`;

/** `gatehouse keygen`: print a new private signing JWK for issuer.signingKeys. */
export async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { alg: { type: 'string', default: 'ES256' }, kid: { type: 'string' } } });
  const alg = values.alg as string;
  if (!(KEYGEN_ALGORITHMS as readonly string[]).includes(alg)) {
    err(`gatehouse keygen: --alg must be one of ${KEYGEN_ALGORITHMS.join(', ')}`);
    return 2;
  }
  out(JSON.stringify(await generateSigningJwk(alg, values.kid), null, 2));
  return 0;
}
