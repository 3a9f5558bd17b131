import { GRANT_TYPES, OIDC_SCOPES, SCOPE_TOKEN, type GrantType, type OAuthClient } from '../schema.js';
import type { Reader } from './reader.js';

/** RFC 6749 Appendix A.1 allows any printable character; ids here stay URL-safe so they read the same in logs, query strings and Basic credentials. */
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const MIN_SECRET_LENGTH = 16;

/**
 * `issuer.grants`: what /oauth/token serves. The default leaves out the
 * password grant (RFC 9700 §2.4: it must not be used) and, without a
 * `sessions` section, the authorization code grant (the user signs in on
 * Gatehouse's sign-in page, which needs sessions).
 */
export function readGrants(r: Reader, v: unknown, sessionsOn: boolean, defaults: readonly GrantType[]): GrantType[] {
  const fallback = defaults.filter((g) => sessionsOn || g !== 'authorization_code');
  const list = r.strList(v, 'issuer.grants', fallback, {
    each: (g, path) => {
      if (!(GRANT_TYPES as readonly string[]).includes(g)) r.fail(path, `"${g}" is not a grant Gatehouse serves (${GRANT_TYPES.join(', ')})`);
      else if (g === 'authorization_code' && !sessionsOn)
        r.fail(path, "authorization_code needs the sessions section: the user signs in and consents on Gatehouse's own pages");
    },
  });
  return [...new Set(list.filter((g): g is GrantType => (GRANT_TYPES as readonly string[]).includes(g)))];
}

/** `issuer.clients`: the OAuth client registry (SPEC §8). */
export function readClients(r: Reader, v: unknown, grants: readonly GrantType[]): OAuthClient[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    r.fail('issuer.clients', 'must be a list of clients');
    return [];
  }
  const out: OAuthClient[] = [];
  const seen = new Map<string, string>();
  v.forEach((raw: unknown, i) => {
    const path = `issuer.clients[${i}]`;
    const c = r.obj(raw, path, ['id', 'name', 'secret', 'secretHash', 'redirectUris', 'postLogoutRedirectUris', 'consent', 'scopes', 'grants']);
    if (!c) return;
    const id = r.str(c.id, `${path}.id`) ?? '';
    if (id && !CLIENT_ID.test(id)) r.fail(`${path}.id`, 'must be 1-128 letters, digits or . _ ~ -');
    if (id && seen.has(id)) r.fail(`${path}.id`, `"${id}" is already registered (${seen.get(id) as string})`);
    seen.set(id, path);
    const secret = c.secret === undefined ? null : r.str(c.secret, `${path}.secret`);
    const secretHash = c.secretHash === undefined ? null : r.str(c.secretHash, `${path}.secretHash`);
    if (secret !== null && secretHash !== null) r.fail(path, 'give secret or secretHash, not both');
    if (secret !== null && secret.length < MIN_SECRET_LENGTH)
      r.fail(`${path}.secret`, `must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -base64 32)`);
    if (secretHash !== null && !/^\$argon2(id|i|d)\$/.test(secretHash))
      r.fail(`${path}.secretHash`, 'must be an argon2 PHC string ($argon2id$...); create one with "gatehouse hash-password"');
    const confidential = secret !== null || secretHash !== null;
    // public clients: the code flow (with PKCE) and refresh; a confidential one may also act for itself
    const usual: GrantType[] = confidential ? ['authorization_code', 'refresh_token', 'client_credentials'] : ['authorization_code', 'refresh_token'];
    const clientGrants = r.strList(
      c.grants,
      `${path}.grants`,
      grants.filter((g) => usual.includes(g)),
      {
        each: (g, p) => {
          if (!(grants as readonly string[]).includes(g)) r.fail(p, `"${g}" is not in issuer.grants (${grants.join(', ') || 'empty'}); list it there first`);
          else if (g === 'client_credentials' && !confidential) r.fail(p, 'client_credentials needs a confidential client (secret or secretHash)');
        },
      },
    ) as GrantType[];
    const codeFlow = clientGrants.includes('authorization_code');
    const uris = (key: 'redirectUris' | 'postLogoutRedirectUris') =>
      r.strList(c[key], `${path}.${key}`, [], {
        each: (uri, p) => {
          const problem = redirectUriProblem(uri);
          if (problem) r.fail(p, `"${uri}" ${problem}`);
        },
      });
    const redirectUris = uris('redirectUris');
    if (codeFlow && redirectUris.length === 0) r.fail(`${path}.redirectUris`, 'the authorization_code grant needs at least one exact redirect URI');
    const scopes = r.strList(c.scopes, `${path}.scopes`, codeFlow ? ['openid', 'profile', 'email'] : [], {
      each: (s, p) => {
        if (!SCOPE_TOKEN.test(s)) r.fail(p, `"${s}" is not a valid scope (printable ASCII, no spaces, quotes or backslashes)`);
      },
    });
    if (!codeFlow && scopes.some((s) => OIDC_SCOPES.includes(s) && s !== 'offline_access'))
      r.fail(`${path}.scopes`, 'openid, profile and email describe a user: they need the authorization_code grant');
    out.push({
      id,
      name: c.name === undefined ? id : (r.str(c.name, `${path}.name`) ?? id),
      redirectUris,
      postLogoutRedirectUris: uris('postLogoutRedirectUris'),
      consent: r.bool(c.consent, `${path}.consent`, true),
      scopes,
      grants: clientGrants,
      secret,
      secretHash,
    });
  });
  return out;
}

/**
 * What a registered redirect URI may be: an absolute URL without a fragment
 * or userinfo; https, or http only on loopback; or a private-use scheme for
 * native apps (`com.example.app:/callback`, RFC 8252 §7.1). Returns why not,
 * or null.
 */
export function redirectUriProblem(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.hash || uri.includes('#')) return 'must not have a fragment';
  if (url.username || url.password) return 'must not contain userinfo';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname) ? null : 'must be https (http only for loopback addresses)';
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return null;
  return 'must be https, loopback http, or a private-use scheme like com.example.app:/callback';
}
