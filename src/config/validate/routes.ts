import { compilePattern } from '../path-pattern.js';
import { DEFAULTS, type AuthRule, type ClaimRule, type ClaimValue, type RouteConfig } from '../schema.js';
import type { Obj, Reader } from './reader.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']);

/** `routes:` — first match wins; at least one route. `defaultTimeoutMs` is server.upstreamTimeout. */
export function readRoutes(r: Reader, raw: unknown, defaultTimeoutMs: number): RouteConfig[] {
  const routes: RouteConfig[] = [];
  if (!Array.isArray(raw)) r.fail('routes', 'must be a list with at least one route');
  (Array.isArray(raw) ? raw : []).forEach((item: unknown, idx: number) => {
    const route = readRoute(r, item, `routes[${idx}]`, defaultTimeoutMs);
    if (route) routes.push(route);
  });
  if (Array.isArray(raw) && raw.length === 0) r.fail('routes', 'must list at least one route');
  return routes;
}

function readRoute(r: Reader, item: unknown, p: string, defaultTimeoutMs: number): RouteConfig | null {
  const rt = r.obj(item, p, ['name', 'match', 'upstream', 'stripPrefix', 'timeout', 'auth', 'websocket', 'preserveHost', 'login']);
  if (!rt) return null;
  const m = r.obj(rt.match, `${p}.match`, ['path', 'methods', 'host']) ?? {};
  const path = r.str(m.path, `${p}.match.path`);
  if (path) {
    const err = compilePattern(path).error;
    if (err) r.fail(`${p}.match.path`, err);
  }
  let methods: string[] | null = null;
  if (m.methods !== undefined && m.methods !== null) {
    methods = r
      .strList(m.methods, `${p}.match.methods`, [], {
        nonEmpty: true,
        each: (x, mp) => {
          if (!METHODS.has(x.toUpperCase())) r.fail(mp, `must be one of ${[...METHODS].join(', ')}`);
        },
      })
      .map((x) => x.toUpperCase());
  }
  const host = m.host === undefined || m.host === null ? null : r.str(m.host, `${p}.match.host`);
  if (host && !/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) r.fail(`${p}.match.host`, 'must be a host name, optionally with :port or a leading "*."');
  let upstreams: string[] = [];
  if (rt.upstream === undefined || rt.upstream === null) r.fail(`${p}.upstream`, 'is required');
  else if (Array.isArray(rt.upstream)) {
    if (rt.upstream.length === 0) r.fail(`${p}.upstream`, 'must list at least one URL');
    upstreams = rt.upstream.map((u: unknown, i: number) => upstreamUrl(r, u, `${p}.upstream[${i}]`)).filter((u): u is string => u !== null);
  } else {
    const u = upstreamUrl(r, rt.upstream, `${p}.upstream`);
    if (u) upstreams = [u];
  }
  let stripPrefix: string | null = null;
  if (rt.stripPrefix !== undefined && rt.stripPrefix !== null) {
    stripPrefix = r.str(rt.stripPrefix, `${p}.stripPrefix`);
    if (stripPrefix && (!stripPrefix.startsWith('/') || stripPrefix.endsWith('/') || /[*?#%\\]|\/\.{1,2}(\/|$)|\/\//.test(stripPrefix))) {
      r.fail(`${p}.stripPrefix`, 'must be a literal path prefix like /api (starts with "/", no trailing "/", no wildcards)');
    }
  }
  return {
    name: r.str(rt.name, `${p}.name`, p) ?? p,
    match: { path: path ?? '/', methods, host: host ? host.toLowerCase() : null },
    upstreams,
    stripPrefix,
    timeoutMs: rt.timeout === undefined || rt.timeout === null ? defaultTimeoutMs : r.duration(rt.timeout, `${p}.timeout`, null),
    websocket: r.bool(rt.websocket, `${p}.websocket`, DEFAULTS.route.websocket),
    preserveHost: r.bool(rt.preserveHost, `${p}.preserveHost`, DEFAULTS.route.preserveHost),
    login: r.oneOf(rt.login, `${p}.login`, ['auto', 'redirect', 'deny'] as const, 'auto'),
    auth: authRule(r, rt.auth, `${p}.auth`),
  };
}

/** An upstream is an origin: path rewriting is stripPrefix's job, and a query or fragment would be silently dropped. */
function upstreamUrl(r: Reader, v: unknown, path: string): string | null {
  const s = r.httpUrl(v, path);
  if (s === null) return null;
  const url = new URL(s);
  if (url.search || url.hash) return r.fail(path, 'must not have a query or fragment');
  if (url.pathname !== '/' && url.pathname !== '') return r.fail(path, 'must be an origin without a path (use stripPrefix to rewrite paths)');
  return url.origin;
}

function authRule(r: Reader, value: unknown, path: string): AuthRule {
  const base: AuthRule = { mode: 'required', roles: [], scopes: [], claims: {} };
  if (value === undefined || value === null) return base;
  if (typeof value === 'string') {
    if (value === 'public' || value === 'optional' || value === 'required') return { ...base, mode: value };
    r.fail(path, 'must be public, optional, required, or a mapping with roles / scopes / claims');
    return base;
  }
  const o = r.obj(value, path, ['roles', 'scopes', 'claims']);
  if (!o) return base;
  const claims: Record<string, ClaimRule> = {};
  if (o.claims !== undefined && o.claims !== null) {
    if (typeof o.claims !== 'object' || Array.isArray(o.claims)) r.fail(`${path}.claims`, 'must be a mapping of claim path to value');
    else
      for (const [k, val] of Object.entries(o.claims as Obj)) {
        if (val !== null && typeof val === 'object' && !Array.isArray(val)) {
          const c = val as Obj;
          const keys = Object.keys(c);
          if (keys.length === 1 && keys[0] === 'contains' && ['string', 'number', 'boolean'].includes(typeof c.contains))
            claims[k] = { contains: c.contains as string | number | boolean };
          else
            r.fail(
              `${path}.claims.${k}`,
              'must be a string, number, boolean or list of them to equal, or { contains: value } for a list claim that must include it',
            );
        } else if (!isClaimValue(val)) r.fail(`${path}.claims.${k}`, 'must be a string, number, boolean or list of them, or { contains: value }');
        else claims[k] = val;
      }
  }
  const rule = { mode: 'required' as const, roles: r.strList(o.roles, `${path}.roles`, []), scopes: r.strList(o.scopes, `${path}.scopes`, []), claims };
  if (rule.roles.length === 0 && rule.scopes.length === 0 && Object.keys(claims).length === 0)
    r.fail(path, 'needs at least one of roles, scopes, claims (or use "required")');
  return rule;
}

function isClaimValue(v: unknown): v is ClaimValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return true;
  return Array.isArray(v) && v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x));
}
