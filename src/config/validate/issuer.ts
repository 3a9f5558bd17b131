import { DEFAULTS, type IssuerConfig } from '../schema.js';
import type { Reader } from './reader.js';

/** `issuer:` — Gatehouse's own token service; null when the section is absent. Key and users files are read later, by preflight. */
export function readIssuer(r: Reader, raw: unknown, defaultIss: string | null = null): IssuerConfig | null {
  if (raw === undefined || raw === null) return null;
  const i = r.obj(raw, 'issuer', ['iss', 'audience', 'accessTokenTtl', 'refreshTokenTtl', 'signingKeys', 'users', 'claims', 'throttle']) ?? {};
  const th = r.obj(i.throttle, 'issuer.throttle', ['perUser', 'perIp', 'window']) ?? {};
  const u = i.users === undefined || i.users === null ? null : r.obj(i.users, 'issuer.users', ['file']);
  const usersFile = u ? r.str(u.file, 'issuer.users.file') : null;
  const signingKeys = r.keyRefs(i.signingKeys, 'issuer.signingKeys');
  if (signingKeys.length === 0 && i.signingKeys !== undefined) r.fail('issuer.signingKeys', 'must list at least one key');
  if (i.signingKeys === undefined) r.fail('issuer.signingKeys', 'is required: the first key signs, the rest verify only');
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
  };
  if (issuer.throttle.windowMs < 1000) r.fail('issuer.throttle.window', 'must be at least 1s');
  if (issuer.iss && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(issuer.iss))
    r.fail('issuer.iss', 'must be an http(s) URL (the token service publishes its endpoints under it)');
  if (issuer.accessTokenTtlMs < 1000) r.fail('issuer.accessTokenTtl', 'must be at least 1s');
  if (issuer.refreshTokenTtlMs < 1000) r.fail('issuer.refreshTokenTtl', 'must be at least 1s');
  return issuer;
}
