import type { RouteConfig } from '../config/schema.js';
import { notFound } from '../errors.js';
import type { RequestContext } from './context.js';
import { compilePattern, matchSegments, type CompiledPattern } from '../config/path-pattern.js';

export interface CompiledRoute {
  readonly config: RouteConfig;
  readonly name: string;
  readonly pattern: CompiledPattern;
  readonly methods: ReadonlySet<string> | null;
  readonly host: string | null;
  readonly wildcardHost: string | null;
}

export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  return routes.map((config) => {
    const host = config.match.host;
    return {
      config,
      name: config.name,
      pattern: compilePattern(config.match.path),
      methods: config.match.methods ? new Set(config.match.methods) : null,
      host: host && !host.startsWith('*.') ? host : null,
      wildcardHost: host && host.startsWith('*.') ? host.slice(1) : null,
    };
  });
}

function hostMatches(route: CompiledRoute, hostHeader: string): boolean {
  if (!route.host && !route.wildcardHost) return true;
  const host = hostHeader.toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] ?? '';
  if (route.host) return route.host.includes(':') ? host === route.host : name === route.host;
  const suffix = route.wildcardHost as string;
  return name.endsWith(suffix) && name.length > suffix.length;
}

/**
 * SPEC §2: first match wins; nothing matched is 404. Unlike Envoy, an
 * unmatched path or method is never let through (SECURITY.md P18).
 * HEAD is allowed wherever GET is.
 */
export function matchRoute(routes: readonly CompiledRoute[], ctx: RequestContext): void {
  const method = ctx.req.method ?? 'GET';
  const hostHeader = ctx.req.headers.host ?? '';
  for (const route of routes) {
    if (!matchSegments(route.pattern, ctx.segments)) continue;
    if (route.methods && !route.methods.has(method) && !(method === 'HEAD' && route.methods.has('GET'))) continue;
    if (!hostMatches(route, hostHeader)) continue;
    ctx.route = route;
    return;
  }
  throw notFound();
}
