import type { AuthRule, RouteConfig } from '../config/schema.js';
import { compilePattern, matchSegments } from '../config/path-pattern.js';
import { methodNotAllowed, notFound } from '../errors.js';
import type { CompiledRoute, LocalHandler, RequestContext, Stage } from './context.js';

/** A route's host in the canonical form requests are compared in (lower case, no trailing dot). */
function hostRule(configured: string | null): { host: string | null; wildcardHost: string | null } {
  const host = configured?.toLowerCase().replace(/\.(?=:|$)/, '') ?? null;
  return { host: host && !host.startsWith('*.') ? host : null, wildcardHost: host && host.startsWith('*.') ? host.slice(1) : null };
}

/** The user's routes, in config order. */
export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  return routes.map((config) => ({
    name: config.name,
    pattern: compilePattern(config.match.path),
    methods: config.match.methods ? new Set(config.match.methods) : null,
    ...hostRule(config.match.host),
    auth: config.auth,
    login: config.login,
    proxy: config,
    local: null,
  }));
}

/** One of Gatehouse's own endpoints, as a route: an exact path, any host, the handlers by method. */
export function builtinRoute(
  name: string,
  path: string,
  auth: AuthRule,
  handlers: Readonly<Record<string, LocalHandler>>,
  methods: ReadonlySet<string> | null = null,
): CompiledRoute {
  return { name, pattern: compilePattern(path), methods, host: null, wildcardHost: null, auth, login: 'deny', proxy: null, local: handlers };
}

function hostMatches(route: CompiledRoute, host: string): boolean {
  if (!route.host && !route.wildcardHost) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  if (route.host) return route.host.includes(':') ? host === route.host : name === route.host;
  const suffix = route.wildcardHost as string;
  return name.endsWith(suffix) && name.length > suffix.length;
}

/**
 * SPEC §2: first match wins; nothing matched is 404. Unlike Envoy, an
 * unmatched path or method is never let through (SECURITY.md P18).
 * HEAD is allowed wherever GET is. A built-in route that matches the path but
 * does not serve the method answers 405 with Allow.
 */
export function matchRoute(routes: readonly CompiledRoute[], ctx: Pick<RequestContext, 'req' | 'segments' | 'host'>): CompiledRoute {
  const method = ctx.req.method ?? 'GET';
  const hostHeader = ctx.host;
  // TRACE echoes the request (cookies and credentials included, XST) and CONNECT opens a tunnel: only a route that lists them serves them
  const explicitOnly = method === 'TRACE' || method === 'CONNECT';
  let pathMatched = false;
  for (const route of routes) {
    if (!matchSegments(route.pattern, ctx.segments)) continue;
    if (explicitOnly && !route.methods?.has(method)) {
      pathMatched ||= hostMatches(route, hostHeader);
      continue;
    }
    if (route.methods && !route.methods.has(method) && !(method === 'HEAD' && route.methods.has('GET'))) continue;
    if (!hostMatches(route, hostHeader)) continue;
    if (route.local && !route.local[method] && !(method === 'HEAD' && route.local.GET)) throw methodNotAllowed(Object.keys(route.local));
    return route;
  }
  if (explicitOnly && pathMatched)
    throw methodNotAllowed(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], `${method} is not allowed unless a route lists it`);
  throw notFound();
}

export const match: Stage = (ctx, { routes }) => {
  ctx.route = matchRoute(routes, ctx);
};
