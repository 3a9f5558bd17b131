import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError, invalidRequest } from '../../errors.js';
import { verifyPassword } from '../../tokens/passwords.js';
import type { OAuthClient } from '../../config/schema.js';

export type { OAuthClient };

export const isConfidential = (c: OAuthClient): boolean => c.secret !== null || c.secretHash !== null;

/** How a client identified itself at the token endpoint. */
export interface ClientCredentials {
  id: string;
  secret: string | null;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

/** 401 invalid_client; with the Basic challenge when the client tried Basic (RFC 6749 §5.2). */
export const invalidClient = (reason: string, basic: boolean) =>
  new GatewayError('invalid_client', reason, {
    headers: { 'cache-control': 'no-store', ...(basic ? { 'www-authenticate': 'Basic realm="gatehouse", charset="UTF-8"' } : {}) },
  });

/**
 * RFC 6749 §2.3.1: `client_secret_basic` (credentials form-urlencoded, then
 * Basic) or `client_secret_post`; a public client sends only `client_id`.
 * Using two methods at once is refused (§2.3).
 */
export function readClientCredentials(headers: IncomingHttpHeaders, params: Record<string, string>): ClientCredentials | null {
  const auth = headers.authorization;
  const basic = typeof auth === 'string' && /^basic /i.test(auth);
  if (basic) {
    if (params.client_secret !== undefined) throw invalidRequest('Use one client authentication method, not two', 'two_client_auth_methods');
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) throw invalidClient('bad_basic_credentials', true);
    let id: string;
    let secret: string;
    try {
      id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
    } catch {
      throw invalidClient('bad_basic_credentials', true);
    }
    if (params.client_id !== undefined && params.client_id !== id)
      throw invalidRequest('client_id does not match the authenticated client', 'client_id_mismatch');
    return { id, secret, method: 'client_secret_basic' };
  }
  if (params.client_id === undefined || params.client_id === '') return null;
  if (params.client_secret !== undefined) return { id: params.client_id, secret: params.client_secret, method: 'client_secret_post' };
  return { id: params.client_id, secret: null, method: 'none' };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * The registered client these credentials prove, or invalid_client. A
 * confidential client must present its secret (compared in constant time,
 * or checked against its argon2 hash); a public client must not present one.
 */
export async function authenticateClient(registry: ReadonlyMap<string, OAuthClient>, creds: ClientCredentials | null): Promise<OAuthClient> {
  if (!creds) throw invalidClient('no_client', false);
  const basic = creds.method === 'client_secret_basic';
  const client = registry.get(creds.id);
  // Client ids are not secrets (they travel in authorization URLs), so an unknown one is refused at once:
  // a dummy argon2 check would only hand anyone a way to make Gatehouse burn CPU.
  if (!client) throw invalidClient('unknown_client', basic);
  if (!isConfidential(client)) {
    if (creds.secret !== null) throw invalidClient('public_client_with_secret', basic);
    return client;
  }
  if (creds.secret === null) throw invalidClient('missing_client_secret', basic);
  let ok: boolean;
  if (client.secretHash !== null) ok = await verifyPassword(client.secretHash, creds.secret);
  else ok = timingSafeEqual(digest(client.secret as string), digest(creds.secret));
  if (!ok) throw invalidClient('wrong_client_secret', basic);
  return client;
}
