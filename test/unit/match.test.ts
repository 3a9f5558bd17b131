import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { RequestContext } from '../../src/pipeline/context.js';
import { compilePattern, matchSegments } from '../../src/config/path-pattern.js';
import { compileRoutes, matchRoute } from '../../src/pipeline/match.js';
import type { CompiledRoute } from '../../src/pipeline/context.js';
import { normaliseTarget } from '../../src/pipeline/normalise.js';
import { canonicalHost } from '../../src/pipeline/check-host.js';
import { configFrom } from '../helpers/gateway.js';

/** SPEC §2 path patterns and §5.2 route matching; SECURITY.md P18 (unmatched = 404, never allowed). */

const UP = 'http://127.0.0.1:9';

function routes(list: Array<Record<string, unknown>>): CompiledRoute[] {
  return compileRoutes(configFrom({ routes: list.map((r) => ({ upstream: UP, auth: 'public', ...r })) }).routes);
}

/** The Host check-host leaves on the context; a Host it refuses (400 before matching) matches no host rule here. */
function canonicalFor(host: string | null): string {
  const c = host === null ? '' : canonicalHost(host, false);
  return typeof c === 'string' ? c : '';
}

/** A context as the pipeline builds it: a real IncomingMessage and the normalised target. */
function ctxFor(method: string, target: string, host: string | null = 'gw.test'): RequestContext {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.headers = host === null ? {} : { host };
  const t = normaliseTarget(target);
  return {
    req,
    requestId: 'test',
    startedAt: 0,
    clientIp: '127.0.0.1',
    host: canonicalFor(host),
    path: t.path,
    segments: t.segments,
    query: t.query,
    route: null,
    token: null,
    credential: 'none',
    sessionId: null,
    identity: null,
    outcome: 'error',
    reason: 'ok',
  };
}

/** Name of the route chosen, or 404. */
function pick(table: CompiledRoute[], method: string, target: string, host: string | null = 'gw.test'): string | 404 {
  const ctx = ctxFor(method, target, host);
  try {
    ctx.route = matchRoute(table, ctx);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).status).toBe(404);
    expect((err as GatewayError).code).toBe('not_found');
    expect((err as GatewayError).reason).toBe('no_route');
    expect(ctx.route).toBeNull();
    return 404;
  }
  return ctx.route!.name;
}

describe('path patterns', () => {
  const cases: Array<[pattern: string, path: string, matches: boolean]> = [
    // literal
    ['/a', '/a', true],
    ['/a', '/a/', true],
    ['/a', '/a/b', false],
    ['/a', '/', false],
    ['/a', '/ab', false],
    ['/a/b', '/a/b', true],
    ['/a/b', '/a', false],
    ['/', '/', true],
    ['/', '/a', false],
    // case-sensitive
    ['/admin', '/Admin', false],
    ['/admin', '/ADMIN', false],
    ['/Admin', '/admin', false],
    ['/Admin', '/%41dmin', true],
    // "*" = exactly one segment
    ['/a/*', '/a/x', true],
    ['/a/*', '/a/x/', true],
    ['/a/*', '/a', false],
    ['/a/*', '/a/', false],
    ['/a/*', '/a/x/y', false],
    ['/*', '/x', true],
    ['/*', '/', false],
    ['/*', '/x/y', false],
    ['/a/*/c', '/a/b/c', true],
    ['/a/*/c', '/a/c', false],
    ['/a/*/c', '/a/b/d', false],
    ['/a/*/c', '/a/b/x/c', false],
    ['/*/*', '/x/y', true],
    ['/*/*', '/x', false],
    // "**" = zero or more at the end
    ['/a/**', '/a', true],
    ['/a/**', '/a/', true],
    ['/a/**', '/a/x', true],
    ['/a/**', '/a/x/y/z', true],
    ['/a/**', '/ab', false],
    ['/a/**', '/ab/x', false],
    ['/a/**', '/b/a', false],
    ['/a/**', '/', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    ['/a/*/**', '/a', false],
    ['/a/*/**', '/a/x', true],
    ['/a/*/**', '/a/x/y/z', true],
    // params never change the segment name; dots and escapes were resolved before matching
    ['/admin/**', '/admin;x=1', true],
    ['/admin/**', '/admin;x=1/users', true],
    ['/admin/**', '/public/../admin', true],
    ['/admin/**', '//admin', true],
    ['/admin/**', '/%61dmin/x', true],
    ['/public/**', '/public/../admin', false],
    ['/a/*', '/a/x;p=1', true],
  ];
  it.each(cases)('%s vs %s -> %s', (pattern, path, matches) => {
    const p = compilePattern(pattern);
    expect(p.error).toBeNull();
    expect(matchSegments(p, normaliseTarget(path).segments)).toBe(matches);
  });

  it.each([
    ['a/b', 'must start with "/"'],
    ['/a/**/b', '"**" is only allowed as the last segment'],
    ['/a*', '"*" must be a whole segment'],
    ['/a/b*c', '"*" must be a whole segment'],
    ['/a/***', '"*" must be a whole segment'],
    ['/a//b', 'empty segments'],
    ['/a/../b', '"." or ".."'],
    ['/a/./b', '"." or ".."'],
    ['/a?x=1', 'plain path'],
    ['/a%2fb', 'plain path'],
    ['/a\\b', 'plain path'],
    ['/a b', 'plain path'],
  ])('pattern %s is refused: %s', (pattern, message) => {
    expect(compilePattern(pattern).error).toContain(message);
  });
});

describe('matchRoute', () => {
  it('first match wins, in file order, even when a later route is more specific', () => {
    const table = routes([
      { name: 'broad', match: { path: '/api/**' } },
      { name: 'narrow', match: { path: '/api/admin/**' } },
      { name: 'rest', match: { path: '/**' } },
    ]);
    expect(pick(table, 'GET', '/api/admin/x')).toBe('broad');
    expect(pick(table, 'GET', '/api')).toBe('broad');
    expect(pick(table, 'GET', '/other')).toBe('rest');
    const specificFirst = routes([
      { name: 'narrow', match: { path: '/api/admin/**' } },
      { name: 'broad', match: { path: '/api/**' } },
    ]);
    expect(pick(specificFirst, 'GET', '/api/admin/x')).toBe('narrow');
    expect(pick(specificFirst, 'GET', '/api/users')).toBe('broad');
  });

  it('no matching route is 404 not_found, never a default allow (P18)', () => {
    const table = routes([{ name: 'pub', match: { path: '/public/**' } }]);
    expect(pick(table, 'GET', '/public/x')).toBe('pub');
    expect(pick(table, 'GET', '/')).toBe(404);
    expect(pick(table, 'GET', '/publicx')).toBe(404);
    expect(pick(table, 'GET', '/Public/x')).toBe(404);
    expect(pick(table, 'GET', '/admin')).toBe(404);
  });

  it('methods: listed ones only; HEAD wherever GET is; unlisted methods fall through to later routes or 404', () => {
    const table = routes([
      { name: 'read', match: { path: '/doc/**', methods: ['GET'] } },
      { name: 'write', match: { path: '/doc/**', methods: ['POST', 'PUT'] } },
      { name: 'post-only', match: { path: '/form', methods: ['post'] } },
    ]);
    expect(pick(table, 'GET', '/doc/1')).toBe('read');
    expect(pick(table, 'HEAD', '/doc/1')).toBe('read');
    expect(pick(table, 'POST', '/doc/1')).toBe('write');
    expect(pick(table, 'PUT', '/doc/1')).toBe('write');
    expect(pick(table, 'DELETE', '/doc/1')).toBe(404);
    expect(pick(table, 'PATCH', '/doc/1')).toBe(404);
    expect(pick(table, 'OPTIONS', '/doc/1')).toBe(404);
    expect(pick(table, 'POST', '/form')).toBe('post-only');
    expect(pick(table, 'HEAD', '/form')).toBe(404);
    expect(pick(table, 'GET', '/form')).toBe(404);
  });

  it('methods default to all', () => {
    const table = routes([{ name: 'any', match: { path: '/x' } }]);
    for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) expect(pick(table, m, '/x')).toBe('any');
  });

  it('host: exact name, any port, any case', () => {
    const table = routes([{ name: 'api', match: { path: '/**', host: 'api.example' } }]);
    expect(pick(table, 'GET', '/x', 'api.example')).toBe('api');
    expect(pick(table, 'GET', '/x', 'API.Example')).toBe('api');
    expect(pick(table, 'GET', '/x', 'api.example:8080')).toBe('api');
    // the same host in its other spellings (security round 2, H01): a trailing dot, the default port
    expect(pick(table, 'GET', '/x', 'api.example.')).toBe('api');
    expect(pick(table, 'GET', '/x', 'API.EXAMPLE.:80')).toBe('api');
    for (const host of ['other.example', 'evil.api.example', 'api.example.evil', 'apiexample', 'api..example', 'api', '127.0.0.1', '']) {
      expect(pick(table, 'GET', '/x', host), host).toBe(404);
    }
    expect(pick(table, 'GET', '/x', null)).toBe(404);
  });

  it('host with a port: that port only', () => {
    const table = routes([{ name: 'api', match: { path: '/**', host: 'api.example:8443' } }]);
    expect(pick(table, 'GET', '/x', 'api.example:8443')).toBe('api');
    expect(pick(table, 'GET', '/x', 'API.EXAMPLE:8443')).toBe('api');
    for (const host of ['api.example', 'api.example:8080', 'api.example:84430', 'api.example:443', 'other:8443']) {
      expect(pick(table, 'GET', '/x', host), host).toBe(404);
    }
  });

  it('host "*.example.com": any subdomain, never the bare domain or a look-alike', () => {
    const table = routes([{ name: 'wild', match: { path: '/**', host: '*.example.com' } }]);
    for (const host of ['a.example.com', 'a.b.example.com', 'A.Example.COM', 'a.example.com:9000']) {
      expect(pick(table, 'GET', '/x', host), host).toBe('wild');
    }
    for (const host of [
      'example.com',
      'example.com:9000',
      '.example.com',
      'evilexample.com',
      'evil-example.com',
      'example.com.evil',
      'a.example.com.evil',
      'a.example.co',
      '',
    ]) {
      expect(pick(table, 'GET', '/x', host), host).toBe(404);
    }
  });

  it('host routes fall through to later routes when the host differs', () => {
    const table = routes([
      { name: 'api', match: { path: '/**', host: 'api.example' } },
      { name: 'default', match: { path: '/**' } },
    ]);
    expect(pick(table, 'GET', '/x', 'api.example')).toBe('api');
    expect(pick(table, 'GET', '/x', 'www.example')).toBe('default');
  });

  it('path, method and host must all match the same route', () => {
    const table = routes([
      { name: 'a', match: { path: '/a/**', methods: ['GET'], host: 'a.example' } },
      { name: 'b', match: { path: '/b/**', methods: ['POST'] } },
    ]);
    expect(pick(table, 'GET', '/a/1', 'a.example')).toBe('a');
    expect(pick(table, 'POST', '/a/1', 'a.example')).toBe(404);
    expect(pick(table, 'GET', '/a/1', 'b.example')).toBe(404);
    expect(pick(table, 'GET', '/b/1', 'a.example')).toBe(404);
    expect(pick(table, 'POST', '/b/1', 'a.example')).toBe('b');
  });
});
