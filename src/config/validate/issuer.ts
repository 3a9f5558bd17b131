import { DEFAULTS, type IssuerConfig } from '../schema.js';
import { readClients, readGrants } from './clients.js';
import type { Reader } from './reader.js';

/** Fields of a token response an access-token alias may not replace. */
const RESERVED_FIELDS = new Set(['token_type', 'expires_in', 'refresh_token', 'refresh_expires_in', 'scope', 'id_token']);
/** Gatehouse's own paths, which an extra endpoint path may not take over. */
const BUILTIN_PATHS = new Map(
  [
    '/auth/login',
    '/auth/refresh',
    '/auth/logout',
    '/auth/profile',
    '/auth/sign-in',
    '/auth/sign-out',
    '/oauth/token',
    '/oauth/revoke',
    '/oauth/authorize',
    '/oauth/authorize/consent',
    '/oauth/userinfo',
    '/oauth/logout',
    '/.well-known/jwks.json',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
  ].map((p) => [p, `Gatehouse's ${p}`]),
);

/** A list of extra endpoint paths: absolute, no query, no wildcards. */
function endpointPaths(r: Reader, v: unknown, path: string): string[] {
  const list = r.strList(v, path, []);
  for (const [j, p] of list.entries())
    if (!/^\/[A-Za-z0-9._~!$&'()+,;=:@/-]*$/.test(p) || p.includes('//') || /(^|\/)\.\.?(\/|$)/.test(p))
      r.fail(`${path}[${j}]`, `"${p}" must be an absolute path without query, wildcards, '//' or dot segments, e.g. /api/v1/auth/login`);
  return list;
}

/** `issuer:` — Gatehouse's own token service; null when the section is absent. Key and users files are read later, by preflight. */
export function readIssuer(r: Reader, raw: unknown, defaultIss: string | null = null, sessionsOn = false): IssuerConfig | null {
  if (raw === undefined || raw === null) return null;
  const i =
    r.obj(raw, 'issuer', [
      'iss',
      'audience',
      'accessTokenTtl',
      'refreshTokenTtl',
      'signingKeys',
      'users',
      'claims',
      'throttle',
      'endpoints',
      'tokenResponse',
      'grants',
      'clients',
      'authorizationCodeTtl',
      'consentTtl',
    ]) ?? {};
  const th = r.obj(i.throttle, 'issuer.throttle', ['perUser', 'perIp', 'window']) ?? {};
  const ep = r.obj(i.endpoints, 'issuer.endpoints', ['login', 'refresh', 'profile']) ?? {};
  const tr = r.obj(i.tokenResponse, 'issuer.tokenResponse', ['accessTokenFields']) ?? {};
  const u = i.users === undefined || i.users === null ? null : r.obj(i.users, 'issuer.users', ['file']);
  const usersFile = u ? r.str(u.file, 'issuer.users.file') : null;
  const signingKeys = r.keyRefs(i.signingKeys, 'issuer.signingKeys');
  if (signingKeys.length === 0 && i.signingKeys !== undefined) r.fail('issuer.signingKeys', 'must list at least one key');
  if (i.signingKeys === undefined) r.fail('issuer.signingKeys', 'is required: the first key signs, the rest verify only');
  const grants = readGrants(r, i.grants, sessionsOn, DEFAULTS.issuer.grants);
  const issuer: IssuerConfig = {
    // with sessions, the issuer defaults to the public origin browsers sign in at (SPEC §7)
    iss: r.str(i.iss, 'issuer.iss', defaultIss ?? undefined) ?? '',
    audience: r.strList(i.audience, 'issuer.audience', [DEFAULTS.issuer.audience], { single: true, nonEmpty: true }),
    accessTokenTtlMs: r.duration(i.accessTokenTtl, 'issuer.accessTokenTtl', DEFAULTS.issuer.accessTokenTtl),
    refreshTokenTtlMs: r.duration(i.refreshTokenTtl, 'issuer.refreshTokenTtl', DEFAULTS.issuer.refreshTokenTtl),
    signingKeys,
    users: usersFile ? { file: usersFile } : null,
    claims: r.strList(i.claims, 'issuer.claims', DEFAULTS.issuer.claims),
    throttle: {
      perUser: r.int(th.perUser, 'issuer.throttle.perUser', DEFAULTS.issuer.throttle.perUser, 1, 1_000_000),
      perIp: r.int(th.perIp, 'issuer.throttle.perIp', DEFAULTS.issuer.throttle.perIp, 1, 1_000_000),
      windowMs: r.duration(th.window, 'issuer.throttle.window', DEFAULTS.issuer.throttle.window),
    },
    endpoints: {
      login: endpointPaths(r, ep.login, 'issuer.endpoints.login'),
      refresh: endpointPaths(r, ep.refresh, 'issuer.endpoints.refresh'),
      profile: endpointPaths(r, ep.profile, 'issuer.endpoints.profile'),
    },
    tokenResponse: {
      accessTokenFields: r.strList(tr.accessTokenFields, 'issuer.tokenResponse.accessTokenFields', ['access_token'], { nonEmpty: true }),
    },
    grants,
    clients: readClients(r, i.clients, grants),
    authorizationCodeTtlMs: r.duration(i.authorizationCodeTtl, 'issuer.authorizationCodeTtl', DEFAULTS.issuer.authorizationCodeTtl),
    consentTtlMs: r.duration(i.consentTtl, 'issuer.consentTtl', DEFAULTS.issuer.consentTtl),
  };
  // RFC 9700 §4.2.1 and OAuth 2.1 §4.1.2: codes are short-lived; SPEC §8 caps them at 60 s
  if (issuer.authorizationCodeTtlMs < 1000 || issuer.authorizationCodeTtlMs > 60_000) r.fail('issuer.authorizationCodeTtl', 'must be from 1s to 60s');
  if (issuer.consentTtlMs < 1000) r.fail('issuer.consentTtl', 'must be at least 1s');
  for (const [j, f] of issuer.tokenResponse.accessTokenFields.entries())
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f) || RESERVED_FIELDS.has(f))
      r.fail(`issuer.tokenResponse.accessTokenFields[${j}]`, `"${f}" must be a plain field name other than ${[...RESERVED_FIELDS].join(', ')}`);
  const seen = new Map<string, string>();
  for (const kind of ['login', 'refresh', 'profile'] as const)
    for (const [j, path] of issuer.endpoints[kind].entries()) {
      const where = `issuer.endpoints.${kind}[${j}]`;
      const other = seen.get(path) ?? BUILTIN_PATHS.get(path);
      // the login paths may also be refresh paths: a body with a refresh token and no password refreshes (SPEC §9, a POST /token API)
      if (other && !(other.startsWith('issuer.endpoints.login') && kind === 'refresh')) r.fail(where, `"${path}" is already served (${other})`);
      seen.set(path, where);
    }
  if (issuer.throttle.windowMs < 1000) r.fail('issuer.throttle.window', 'must be at least 1s');
  if (issuer.iss && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(issuer.iss))
    r.fail('issuer.iss', 'must be an http(s) URL (the token service publishes its endpoints under it)');
  if (issuer.accessTokenTtlMs < 1000) r.fail('issuer.accessTokenTtl', 'must be at least 1s');
  if (issuer.refreshTokenTtlMs < 1000) r.fail('issuer.refreshTokenTtl', 'must be at least 1s');
  return issuer;
}
