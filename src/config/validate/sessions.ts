import { isLoopbackHost } from '../net.js';
import type { GatehouseConfig, IssuerConfig, SessionsConfig } from '../schema.js';
import type { Reader } from './reader.js';

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/**
 * `sessions:` (SPEC §7). Needs `issuer.users` (people sign in against it) and
 * `server.publicUrl`: https, or plain http only on a loopback address (the
 * demo), where the cookie loses `Secure` and the `__Host-` prefix.
 */
export function readSessions(r: Reader, raw: unknown, server: GatehouseConfig['server'], issuer: IssuerConfig | null): SessionsConfig | null {
  if (raw === undefined || raw === null) return null;
  const s = r.obj(raw, 'sessions', ['cookie', 'idleTtl', 'absoluteTtl', 'templates']);
  if (!s) return null;
  if (!issuer?.users) r.fail('sessions', 'needs issuer.users: the sign-in page checks passwords against the users file');
  const publicUrl = server.publicUrl;
  let secure = true;
  if (publicUrl === null)
    r.fail('server.publicUrl', 'is required with sessions: the origin browsers use (e.g. https://app.example), for redirects, cookies and CSRF checks');
  else if (publicUrl.startsWith('http:')) {
    if (isLoopbackHost(new URL(publicUrl).hostname)) secure = false;
    else
      r.fail(
        'server.publicUrl',
        'must be https with sessions (plain http only on a loopback address, for development): a session cookie must never travel in clear text',
      );
  }
  const cookie = r.str(s.cookie, 'sessions.cookie', secure ? '__Host-gatehouse' : 'gatehouse') ?? '__Host-gatehouse';
  if (!COOKIE_NAME.test(cookie)) r.fail('sessions.cookie', "must be a cookie name: letters, digits and !#$%&'*+-.^_`|~, at most 64 characters");
  if (cookie.startsWith('__Host-') && !secure) r.fail('sessions.cookie', 'a __Host- cookie needs https: use another name with a plain-http publicUrl');
  const idleTtlMs = r.duration(s.idleTtl, 'sessions.idleTtl', '30m');
  const absoluteTtlMs = r.duration(s.absoluteTtl, 'sessions.absoluteTtl', '12h');
  if (idleTtlMs > absoluteTtlMs) r.fail('sessions.idleTtl', 'must not be longer than sessions.absoluteTtl');
  if (idleTtlMs < 1000) r.fail('sessions.idleTtl', 'must be at least 1s');
  const templates = s.templates === undefined || s.templates === null ? null : r.str(s.templates, 'sessions.templates');
  return { cookie, secureCookie: secure, idleTtlMs, absoluteTtlMs, templates };
}
