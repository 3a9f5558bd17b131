import type { GatehouseConfig } from './schema.js';

/** Seconds a subject cut-off ("log out everywhere") must be remembered: as long as any token issued before it can live, at least a day. */
export function subjectCutoffTtl(config: GatehouseConfig): number {
  const issuer = config.issuer;
  const longest = Math.max(issuer?.accessTokenTtlMs ?? 0, issuer?.refreshTokenTtlMs ?? 0, 24 * 3600 * 1000);
  return Math.ceil(longest / 1000);
}
