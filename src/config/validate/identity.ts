import { DEFAULTS, type GatehouseConfig } from '../schema.js';
import type { Obj, Reader } from './reader.js';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const RESERVED_IDENTITY_HEADERS = new Set([
  'authorization',
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'cookie',
  'x-forwarded-for',
  'x-request-id',
]);

/** `identity:` — the headers that carry the caller's identity upstream. */
export function readIdentity(r: Reader, raw: unknown): GatehouseConfig['identity'] {
  const id = r.obj(raw, 'identity', ['headers', 'forwardToken']) ?? {};
  const headers: Record<string, string> = {};
  if (id.headers === undefined || id.headers === null) Object.assign(headers, DEFAULTS.identity.headers);
  else {
    const h =
      typeof id.headers === 'object' && !Array.isArray(id.headers)
        ? (id.headers as Obj)
        : (r.fail('identity.headers', 'must be a mapping of header name to claim'), {});
    const seen = new Set<string>();
    for (const [name, claim] of Object.entries(h)) {
      const p = `identity.headers.${name}`;
      const canonical = name.toLowerCase().replaceAll('_', '-');
      if (!HEADER_NAME.test(name)) r.fail(p, 'is not a valid header name');
      else if (RESERVED_IDENTITY_HEADERS.has(canonical)) r.fail(p, 'is a header Gatehouse manages itself and cannot carry identity');
      else if (seen.has(canonical)) r.fail(p, 'is listed twice (header names are case-insensitive; "_" and "-" are treated alike)');
      else if (typeof claim !== 'string' || claim.length === 0) r.fail(p, 'must name a claim (a dotted path, or "roles" / "scope")');
      else headers[name] = claim;
      seen.add(canonical);
    }
  }
  return { headers, forwardToken: r.bool(id.forwardToken, 'identity.forwardToken', DEFAULTS.identity.forwardToken) };
}

/** Each header's claim is `roles`, `scope` or a dotted path. Reported after the routes (the validator's order since the beginning: `check` output stays stable). */
export function checkClaimPaths(r: Reader, headers: Readonly<Record<string, string>>): void {
  for (const [name, claim] of Object.entries(headers)) {
    if (claim === 'roles' || claim === 'scope') continue;
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(claim)) r.fail(`identity.headers.${name}`, 'must be a dotted claim path like sub or realm_access.roles');
  }
}
