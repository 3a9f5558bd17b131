import { DEFAULTS, type GatehouseConfig, type IssuerConfig, type TrustedIssuerConfig } from '../schema.js';
import type { Reader } from './reader.js';
import { readAlgorithms } from './verify.js';

/**
 * `trustedIssuers:` — external IdPs. Each must name its audience (RFC 8725
 * §3.9), use algorithms the global allow-list has, and appear once (the
 * issuer's own `iss` included).
 */
export function readTrustedIssuers(r: Reader, raw: unknown, verify: GatehouseConfig['verify'], issuer: IssuerConfig | null): TrustedIssuerConfig[] {
  const trustedIssuers: TrustedIssuerConfig[] = [];
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) r.fail('trustedIssuers', 'must be a list');
  (Array.isArray(raw) ? raw : []).forEach((item: unknown, idx: number) => {
    const p = `trustedIssuers[${idx}]`;
    const t = r.obj(item, p, [
      'iss',
      'jwksUri',
      'keys',
      'audience',
      'algorithms',
      'rolesClaim',
      'scopeClaim',
      'jwksRefresh',
      'jwksCooldown',
      'jwksTimeout',
      'allowInsecureJwks',
    ]);
    if (!t) return;
    const allowInsecureJwks = r.bool(t.allowInsecureJwks, `${p}.allowInsecureJwks`, false);
    const jwksUri = t.jwksUri === undefined || t.jwksUri === null ? null : r.httpUrl(t.jwksUri, `${p}.jwksUri`, { httpsOutsideLoopback: !allowInsecureJwks });
    const keys = r.keyRefs(t.keys, `${p}.keys`, true);
    if (t.jwksUri == null && keys.length === 0) r.fail(p, 'needs jwksUri or keys');
    if (t.jwksUri != null && t.keys != null) r.fail(p, 'takes jwksUri or keys, not both');
    if (t.audience === undefined || t.audience === null)
      r.fail(`${p}.audience`, 'is required: tokens minted for other services must not be accepted here (RFC 8725 §3.9)');
    const algs = readAlgorithms(r, t.algorithms, `${p}.algorithms`, DEFAULTS.trustedIssuer.algorithms, (alg, algPath) => {
      if (!verify.algorithms.includes(alg)) r.fail(algPath, `${alg} is not in verify.algorithms`);
    });
    const entry: TrustedIssuerConfig = {
      iss: r.str(t.iss, `${p}.iss`) ?? '',
      jwksUri,
      keys,
      audience: r.strList(t.audience, `${p}.audience`, [], { single: true, nonEmpty: true }),
      algorithms: algs,
      rolesClaim: r.strList(t.rolesClaim, `${p}.rolesClaim`, [DEFAULTS.trustedIssuer.rolesClaim], { single: true, nonEmpty: true }),
      scopeClaim: r.strList(t.scopeClaim, `${p}.scopeClaim`, [DEFAULTS.trustedIssuer.scopeClaim], { single: true, nonEmpty: true }),
      allowInsecureJwks,
      jwksRefreshMs: r.duration(t.jwksRefresh, `${p}.jwksRefresh`, DEFAULTS.trustedIssuer.jwksRefresh),
      jwksCooldownMs: r.duration(t.jwksCooldown, `${p}.jwksCooldown`, DEFAULTS.trustedIssuer.jwksCooldown),
      jwksTimeoutMs: r.duration(t.jwksTimeout, `${p}.jwksTimeout`, DEFAULTS.trustedIssuer.jwksTimeout),
    };
    if (entry.iss && (issuer?.iss === entry.iss || trustedIssuers.some((o) => o.iss === entry.iss)))
      r.fail(`${p}.iss`, 'is listed twice: each issuer must appear once');
    trustedIssuers.push(entry);
  });
  return trustedIssuers;
}
