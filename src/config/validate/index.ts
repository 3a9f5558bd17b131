import { isIP } from 'node:net';
import { parseDuration } from '../duration.js';
import { compilePattern } from '../path-pattern.js';
import {
  DEFAULTS,
  SUPPORTED_ALGORITHMS,
  type AuthRule,
  type ClaimValue,
  type GatehouseConfig,
  type IssuerConfig,
  type KeyFileRef,
  type ListenAddress,
  type RedisConfig,
  type RouteConfig,
  type TrustedIssuerConfig,
} from '../schema.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

type Obj = Record<string, unknown>;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const RESERVED_IDENTITY_HEADERS = new Set(['authorization', 'host', 'connection', 'content-length', 'transfer-encoding', 'cookie', 'x-forwarded-for', 'x-request-id']);

/**
 * Walks the raw YAML value once, reporting every problem with its YAML path,
 * and builds the normalised config. Unknown keys are problems: a typo such as
 * `auht:` must never silently fall back to a default.
 */
export function validateConfig(raw: unknown): { config: GatehouseConfig | null; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const fail = (path: string, message: string): null => {
    problems.push({ path, message });
    return null;
  };
  const join = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

  function obj(v: unknown, path: string, allowed: readonly string[]): Obj | null {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) return fail(path || '(root)', 'must be a mapping');
    for (const key of Object.keys(v)) {
      if (!allowed.includes(key)) fail(join(path, key), `unknown key (allowed: ${allowed.join(', ')})`);
    }
    return v as Obj;
  }
  function str(v: unknown, path: string, fallback?: string): string | null {
    if (v === undefined || v === null) return fallback ?? fail(path, 'is required');
    if (typeof v !== 'string' || v.length === 0) return fail(path, 'must be a non-empty string');
    return v;
  }
  // `${VAR}` always yields a string, so "true"/"false" and digit strings are read as what they spell.
  function bool(v: unknown, path: string, fallback: boolean): boolean {
    if (v === undefined || v === null) return fallback;
    if (v === 'true' || v === 'false') return v === 'true';
    if (typeof v !== 'boolean') {
      fail(path, 'must be true or false');
      return fallback;
    }
    return v;
  }
  function int(v: unknown, path: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && /^\d{1,15}$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(path, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return v;
  }
  function duration(v: unknown, path: string, fallback: string | number | null): number {
    const ms = parseDuration(v ?? fallback);
    if (ms === null) {
      fail(path, 'must be a duration: seconds as a number, or a string like "900ms", "30s", "15m", "14d"');
      return 0;
    }
    return ms;
  }
  /** `each` checks every string item with its own YAML path (invalid items are dropped from the result, so result indices can differ from the YAML's). */
  function strList(v: unknown, path: string, fallback: readonly string[], opts: { single?: boolean; nonEmpty?: boolean; each?: (item: string, itemPath: string) => void } = {}): string[] {
    const checked = (list: readonly string[]) => {
      list.forEach((item, i) => opts.each?.(item, join(path, i)));
      return [...list];
    };
    if (v === undefined || v === null) return checked(fallback);
    if (opts.single && typeof v === 'string') return [v];
    if (!Array.isArray(v)) {
      fail(path, opts.single ? 'must be a string or a list of strings' : 'must be a list of strings');
      return [...fallback];
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string' || item.length === 0) fail(join(path, i), 'must be a non-empty string');
      else {
        out.push(item);
        opts.each?.(item, join(path, i));
      }
    });
    if (opts.nonEmpty && out.length === 0 && v.length === 0) fail(path, 'must not be empty');
    return out;
  }
  function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    fail(path, `must be one of: ${allowed.join(', ')}`);
    return fallback;
  }
  function listen(v: unknown, path: string, fallback: string): ListenAddress {
    const text = typeof v === 'number' ? `127.0.0.1:${v}` : (v ?? fallback);
    const m = typeof text === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text) : null;
    const host = m ? (m[1] ?? m[2] ?? '') : '';
    const port = m ? Number(m[3]) : -1;
    if (!m || port > 65535 || (m[1] !== undefined && isIP(m[1]) !== 6)) {
      fail(path, 'must be "host:port" (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)');
      return { host: '127.0.0.1', port: 0 };
    }
    return { host: host === '' ? '0.0.0.0' : host, port };
  }
  function httpUrl(v: unknown, path: string, opts: { httpsOutsideLoopback?: boolean } = {}): string | null {
    const s = str(v, path);
    if (s === null) return null;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return fail(path, 'must be an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(path, 'must be an http(s) URL');
    if (url.username || url.password) return fail(path, 'must not contain credentials');
    if (opts.httpsOutsideLoopback && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      return fail(path, 'must be an https URL (plain http is only allowed for loopback addresses)');
    }
    return s;
  }
  function upstreamUrl(v: unknown, path: string): string | null {
    const s = httpUrl(v, path);
    if (s === null) return null;
    const url = new URL(s);
    if (url.search || url.hash) return fail(path, 'must not have a query or fragment');
    if (url.pathname !== '/' && url.pathname !== '') return fail(path, 'must be an origin without a path (use stripPrefix to rewrite paths)');
    return url.origin;
  }
  function keyRefs(v: unknown, path: string): KeyFileRef[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      fail(path, 'must be a list of { file: PATH }');
      return [];
    }
    const out: KeyFileRef[] = [];
    v.forEach((item, i) => {
      const p = join(path, i);
      const o = obj(item, p, ['file']);
      const file = o && str(o.file, join(p, 'file'));
      if (file) out.push({ file });
    });
    return out;
  }
  function algorithms(v: unknown, path: string, fallback: readonly string[], also?: (alg: string, algPath: string) => void): string[] {
    return strList(v, path, fallback, {
      nonEmpty: true,
      each: (alg, p) => {
        if (alg.toLowerCase() === 'none') fail(p, '"none" is never allowed: unsigned tokens prove nothing');
        else if (/^HS\d+$/i.test(alg)) fail(p, `${alg} is not supported: shared-secret HMAC tokens let anyone holding the secret mint identities; use ES256, EdDSA, RS256 or PS256`);
        else if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) fail(p, `unsupported algorithm (supported: ${SUPPORTED_ALGORITHMS.join(', ')}; names are case-sensitive)`);
        else also?.(alg, p);
      },
    });
  }

  const root = obj(raw, '', ['server', 'admin', 'issuer', 'trustedIssuers', 'verify', 'revocation', 'identity', 'routes', 'log']);
  if (!root) return { config: null, problems };

  // server
  const s = obj(root.server, 'server', ['listen', 'workers', 'trustedProxies', 'maxHeaderBytes', 'upstreamTimeout', 'headersTimeout', 'requestTimeout', 'keepAliveTimeout', 'shutdownTimeout', 'maxConnectionsPerUpstream']) ?? {};
  let workers: number | 'auto' = DEFAULTS.server.workers;
  if (s.workers === 'auto') workers = 'auto';
  else workers = int(s.workers, 'server.workers', DEFAULTS.server.workers, 1, 256);
  const trustedProxies = strList(s.trustedProxies, 'server.trustedProxies', DEFAULTS.server.trustedProxies, {
    each: (cidr, p) => {
      if (!parseCidr(cidr)) fail(p, 'must be an IP address or CIDR (e.g. 10.0.0.0/8, ::1/128)');
    },
  });
  const server: GatehouseConfig['server'] = {
    listen: listen(s.listen, 'server.listen', DEFAULTS.server.listen),
    workers,
    trustedProxies,
    maxHeaderBytes: int(s.maxHeaderBytes, 'server.maxHeaderBytes', DEFAULTS.server.maxHeaderBytes, 1024, 1 << 20),
    upstreamTimeoutMs: duration(s.upstreamTimeout, 'server.upstreamTimeout', DEFAULTS.server.upstreamTimeout),
    headersTimeoutMs: duration(s.headersTimeout, 'server.headersTimeout', DEFAULTS.server.headersTimeout),
    requestTimeoutMs: duration(s.requestTimeout, 'server.requestTimeout', DEFAULTS.server.requestTimeout),
    keepAliveTimeoutMs: duration(s.keepAliveTimeout, 'server.keepAliveTimeout', DEFAULTS.server.keepAliveTimeout),
    shutdownTimeoutMs: duration(s.shutdownTimeout, 'server.shutdownTimeout', DEFAULTS.server.shutdownTimeout),
    maxConnectionsPerUpstream: int(s.maxConnectionsPerUpstream, 'server.maxConnectionsPerUpstream', DEFAULTS.server.maxConnectionsPerUpstream, 1, 65535),
  };

  // admin
  const a = obj(root.admin, 'admin', ['listen']) ?? {};
  const admin = { listen: a.listen === false ? null : listen(a.listen, 'admin.listen', DEFAULTS.admin.listen) };

  // verify
  const v = obj(root.verify, 'verify', ['algorithms', 'clockTolerance', 'cache', 'maxTokenAge', 'maxTokenBytes']) ?? {};
  const vc = obj(v.cache, 'verify.cache', ['maxEntries']) ?? {};
  const verify: GatehouseConfig['verify'] = {
    algorithms: algorithms(v.algorithms, 'verify.algorithms', DEFAULTS.verify.algorithms),
    clockToleranceMs: duration(v.clockTolerance, 'verify.clockTolerance', DEFAULTS.verify.clockTolerance),
    maxTokenAgeMs: v.maxTokenAge === undefined || v.maxTokenAge === null ? null : duration(v.maxTokenAge, 'verify.maxTokenAge', null),
    maxTokenBytes: int(v.maxTokenBytes, 'verify.maxTokenBytes', DEFAULTS.verify.maxTokenBytes, 256, 1 << 20),
    cache: { maxEntries: int(vc.maxEntries, 'verify.cache.maxEntries', DEFAULTS.verify.cache.maxEntries, 0, 10_000_000) },
  };

  // issuer
  let issuer: IssuerConfig | null = null;
  if (root.issuer !== undefined && root.issuer !== null) {
    const i = obj(root.issuer, 'issuer', ['iss', 'audience', 'accessTokenTtl', 'refreshTokenTtl', 'signingKeys', 'users', 'claims', 'throttle']) ?? {};
    const th = obj(i.throttle, 'issuer.throttle', ['perUser', 'perIp', 'window']) ?? {};
    const u = i.users === undefined || i.users === null ? null : obj(i.users, 'issuer.users', ['file']);
    const usersFile = u ? str(u.file, 'issuer.users.file') : null;
    const signingKeys = keyRefs(i.signingKeys, 'issuer.signingKeys');
    if (signingKeys.length === 0 && i.signingKeys !== undefined) fail('issuer.signingKeys', 'must list at least one key');
    if (i.signingKeys === undefined) fail('issuer.signingKeys', 'is required: the first key signs, the rest verify only');
    issuer = {
      iss: str(i.iss, 'issuer.iss') ?? '',
      audience: strList(i.audience, 'issuer.audience', [DEFAULTS.issuer.audience], { single: true, nonEmpty: true }),
      accessTokenTtlMs: duration(i.accessTokenTtl, 'issuer.accessTokenTtl', DEFAULTS.issuer.accessTokenTtl),
      refreshTokenTtlMs: duration(i.refreshTokenTtl, 'issuer.refreshTokenTtl', DEFAULTS.issuer.refreshTokenTtl),
      signingKeys,
      users: usersFile ? { file: usersFile } : null,
      claims: strList(i.claims, 'issuer.claims', DEFAULTS.issuer.claims),
      throttle: {
        perUser: int(th.perUser, 'issuer.throttle.perUser', DEFAULTS.issuer.throttle.perUser, 1, 1_000_000),
        perIp: int(th.perIp, 'issuer.throttle.perIp', DEFAULTS.issuer.throttle.perIp, 1, 1_000_000),
        windowMs: duration(th.window, 'issuer.throttle.window', DEFAULTS.issuer.throttle.window),
      },
    };
    if (issuer.throttle.windowMs < 1000) fail('issuer.throttle.window', 'must be at least 1s');
    if (issuer.iss && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(issuer.iss)) fail('issuer.iss', 'must be an http(s) URL (the token service publishes its endpoints under it)');
    if (issuer.accessTokenTtlMs < 1000) fail('issuer.accessTokenTtl', 'must be at least 1s');
    if (issuer.refreshTokenTtlMs < 1000) fail('issuer.refreshTokenTtl', 'must be at least 1s');
  }

  // trusted issuers
  const trustedIssuers: TrustedIssuerConfig[] = [];
  if (root.trustedIssuers !== undefined && root.trustedIssuers !== null && !Array.isArray(root.trustedIssuers)) fail('trustedIssuers', 'must be a list');
  (Array.isArray(root.trustedIssuers) ? root.trustedIssuers : []).forEach((item: unknown, idx: number) => {
    const p = `trustedIssuers[${idx}]`;
    const t = obj(item, p, ['iss', 'jwksUri', 'keys', 'audience', 'algorithms', 'rolesClaim', 'scopeClaim', 'jwksRefresh', 'jwksCooldown', 'jwksTimeout']);
    if (!t) return;
    const jwksUri = t.jwksUri === undefined || t.jwksUri === null ? null : httpUrl(t.jwksUri, `${p}.jwksUri`, { httpsOutsideLoopback: true });
    const keys = keyRefs(t.keys, `${p}.keys`);
    if (t.jwksUri == null && keys.length === 0) fail(p, 'needs jwksUri or keys');
    if (t.jwksUri != null && t.keys != null) fail(p, 'takes jwksUri or keys, not both');
    if (t.audience === undefined || t.audience === null) fail(`${p}.audience`, 'is required: tokens minted for other services must not be accepted here (RFC 8725 §3.9)');
    const algs = algorithms(t.algorithms, `${p}.algorithms`, DEFAULTS.trustedIssuer.algorithms, (alg, algPath) => {
      if (!verify.algorithms.includes(alg)) fail(algPath, `${alg} is not in verify.algorithms`);
    });
    const entry: TrustedIssuerConfig = {
      iss: str(t.iss, `${p}.iss`) ?? '',
      jwksUri,
      keys,
      audience: strList(t.audience, `${p}.audience`, [], { single: true, nonEmpty: true }),
      algorithms: algs,
      rolesClaim: str(t.rolesClaim, `${p}.rolesClaim`, DEFAULTS.trustedIssuer.rolesClaim) ?? 'roles',
      scopeClaim: str(t.scopeClaim, `${p}.scopeClaim`, DEFAULTS.trustedIssuer.scopeClaim) ?? 'scope',
      jwksRefreshMs: duration(t.jwksRefresh, `${p}.jwksRefresh`, DEFAULTS.trustedIssuer.jwksRefresh),
      jwksCooldownMs: duration(t.jwksCooldown, `${p}.jwksCooldown`, DEFAULTS.trustedIssuer.jwksCooldown),
      jwksTimeoutMs: duration(t.jwksTimeout, `${p}.jwksTimeout`, DEFAULTS.trustedIssuer.jwksTimeout),
    };
    if (entry.iss && (issuer?.iss === entry.iss || trustedIssuers.some((o) => o.iss === entry.iss))) fail(`${p}.iss`, 'is listed twice: each issuer must appear once');
    trustedIssuers.push(entry);
  });

  // revocation
  const r = obj(root.revocation, 'revocation', ['store', 'redis', 'onStoreError']) ?? {};
  const rr = obj(r.redis, 'revocation.redis', ['url', 'cluster', 'sentinels', 'name', 'keyPrefix', 'commandTimeout']) ?? {};
  const storeKind = r.store ?? DEFAULTS.revocation.store;
  if (storeKind !== 'memory' && storeKind !== 'redis') fail('revocation.store', 'must be "memory" or "redis"');
  const onStoreError = r.onStoreError ?? DEFAULTS.revocation.onStoreError;
  if (onStoreError !== 'deny' && onStoreError !== 'allow') fail('revocation.onStoreError', 'must be "deny" or "allow"');
  const redis: RedisConfig = {
    url: rr.cluster || rr.sentinels ? null : (str(rr.url, 'revocation.redis.url', DEFAULTS.revocation.redis.url) ?? null),
    cluster: rr.cluster == null ? null : strList(rr.cluster, 'revocation.redis.cluster', [], { nonEmpty: true }),
    sentinels: rr.sentinels == null ? null : strList(rr.sentinels, 'revocation.redis.sentinels', [], { nonEmpty: true }),
    sentinelName: rr.name == null ? null : str(rr.name, 'revocation.redis.name'),
    keyPrefix: str(rr.keyPrefix, 'revocation.redis.keyPrefix', DEFAULTS.revocation.redis.keyPrefix) ?? 'gatehouse:',
    commandTimeoutMs: duration(rr.commandTimeout, 'revocation.redis.commandTimeout', DEFAULTS.revocation.redis.commandTimeout),
  };
  if (redis.url && !/^rediss?:\/\//.test(redis.url)) fail('revocation.redis.url', 'must be a redis:// or rediss:// URL');
  if (redis.sentinels && !redis.sentinelName) fail('revocation.redis.name', 'is required with sentinels (the master group name)');
  if (workers !== 1 && storeKind === 'memory') fail('server.workers', 'more than one worker needs revocation.store: redis (the memory store lives in one process, so a revocation would reach only one worker)');

  // identity
  const id = obj(root.identity, 'identity', ['headers', 'forwardToken']) ?? {};
  const headers: Record<string, string> = {};
  if (id.headers === undefined || id.headers === null) Object.assign(headers, DEFAULTS.identity.headers);
  else {
    const h = typeof id.headers === 'object' && !Array.isArray(id.headers) ? (id.headers as Obj) : (fail('identity.headers', 'must be a mapping of header name to claim'), {});
    const seen = new Set<string>();
    for (const [name, claim] of Object.entries(h)) {
      const p = `identity.headers.${name}`;
      const canonical = name.toLowerCase().replaceAll('_', '-');
      if (!HEADER_NAME.test(name)) fail(p, 'is not a valid header name');
      else if (RESERVED_IDENTITY_HEADERS.has(canonical)) fail(p, 'is a header Gatehouse manages itself and cannot carry identity');
      else if (seen.has(canonical)) fail(p, 'is listed twice (header names are case-insensitive; "_" and "-" are treated alike)');
      else if (typeof claim !== 'string' || claim.length === 0) fail(p, 'must name a claim (a dotted path, or "roles" / "scope")');
      else headers[name] = claim;
      seen.add(canonical);
    }
  }
  const identity = { headers, forwardToken: bool(id.forwardToken, 'identity.forwardToken', DEFAULTS.identity.forwardToken) };

  // log
  const l = obj(root.log, 'log', ['level']) ?? {};
  const level = (l.level ?? DEFAULTS.log.level) as GatehouseConfig['log']['level'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) fail('log.level', 'must be one of fatal, error, warn, info, debug, trace, silent');

  // routes
  const routes: RouteConfig[] = [];
  if (!Array.isArray(root.routes)) fail('routes', 'must be a list with at least one route');
  (Array.isArray(root.routes) ? root.routes : []).forEach((item: unknown, idx: number) => {
    const p = `routes[${idx}]`;
    const rt = obj(item, p, ['name', 'match', 'upstream', 'stripPrefix', 'timeout', 'auth', 'websocket', 'preserveHost', 'login']);
    if (!rt) return;
    const m = obj(rt.match, `${p}.match`, ['path', 'methods', 'host']) ?? {};
    const path = str(m.path, `${p}.match.path`);
    if (path) {
      const err = compilePattern(path).error;
      if (err) fail(`${p}.match.path`, err);
    }
    let methods: string[] | null = null;
    if (m.methods !== undefined && m.methods !== null) {
      methods = strList(m.methods, `${p}.match.methods`, [], {
        nonEmpty: true,
        each: (x, mp) => {
          if (!METHODS.has(x.toUpperCase())) fail(mp, `must be one of ${[...METHODS].join(', ')}`);
        },
      }).map((x) => x.toUpperCase());
    }
    const host = m.host === undefined || m.host === null ? null : str(m.host, `${p}.match.host`);
    if (host && !/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host)) fail(`${p}.match.host`, 'must be a host name, optionally with :port or a leading "*."');
    let upstreams: string[] = [];
    if (rt.upstream === undefined || rt.upstream === null) fail(`${p}.upstream`, 'is required');
    else if (Array.isArray(rt.upstream)) {
      if (rt.upstream.length === 0) fail(`${p}.upstream`, 'must list at least one URL');
      upstreams = rt.upstream.map((u: unknown, i: number) => upstreamUrl(u, `${p}.upstream[${i}]`)).filter((u): u is string => u !== null);
    } else {
      const u = upstreamUrl(rt.upstream, `${p}.upstream`);
      if (u) upstreams = [u];
    }
    let stripPrefix: string | null = null;
    if (rt.stripPrefix !== undefined && rt.stripPrefix !== null) {
      stripPrefix = str(rt.stripPrefix, `${p}.stripPrefix`);
      if (stripPrefix && (!stripPrefix.startsWith('/') || stripPrefix.endsWith('/') || /[*?#%\\]|\/\.{1,2}(\/|$)|\/\//.test(stripPrefix))) {
        fail(`${p}.stripPrefix`, 'must be a literal path prefix like /api (starts with "/", no trailing "/", no wildcards)');
      }
    }
    routes.push({
      name: str(rt.name, `${p}.name`, p) ?? p,
      match: { path: path ?? '/', methods, host: host ? host.toLowerCase() : null },
      upstreams,
      stripPrefix,
      timeoutMs: rt.timeout === undefined || rt.timeout === null ? server.upstreamTimeoutMs : duration(rt.timeout, `${p}.timeout`, null),
      websocket: bool(rt.websocket, `${p}.websocket`, DEFAULTS.route.websocket),
      preserveHost: bool(rt.preserveHost, `${p}.preserveHost`, DEFAULTS.route.preserveHost),
      login: oneOf(rt.login, `${p}.login`, ['auto', 'redirect', 'deny'] as const, 'auto'),
      auth: authRule(rt.auth, `${p}.auth`),
    });
  });
  if (Array.isArray(root.routes) && root.routes.length === 0) fail('routes', 'must list at least one route');

  function authRule(value: unknown, path: string): AuthRule {
    const base: AuthRule = { mode: 'required', roles: [], scopes: [], claims: {} };
    if (value === undefined || value === null) return base;
    if (typeof value === 'string') {
      if (value === 'public' || value === 'optional' || value === 'required') return { ...base, mode: value };
      fail(path, 'must be public, optional, required, or a mapping with roles / scopes / claims');
      return base;
    }
    const o = obj(value, path, ['roles', 'scopes', 'claims']);
    if (!o) return base;
    const claims: Record<string, ClaimValue> = {};
    if (o.claims !== undefined && o.claims !== null) {
      if (typeof o.claims !== 'object' || Array.isArray(o.claims)) fail(`${path}.claims`, 'must be a mapping of claim path to value');
      else
        for (const [k, val] of Object.entries(o.claims as Obj)) {
          if (!isClaimValue(val) || (typeof val === 'object' && val !== null && !Array.isArray(val))) fail(`${path}.claims.${k}`, 'must be a string, number, boolean or list of them');
          else claims[k] = val;
        }
    }
    const rule = { mode: 'required' as const, roles: strList(o.roles, `${path}.roles`, []), scopes: strList(o.scopes, `${path}.scopes`, []), claims };
    if (rule.roles.length === 0 && rule.scopes.length === 0 && Object.keys(claims).length === 0) fail(path, 'needs at least one of roles, scopes, claims (or use "required")');
    return rule;
  }

  if (issuer === null && trustedIssuers.length === 0 && routes.some((rt) => rt.auth.mode !== 'public')) {
    fail('routes', 'some routes need a token but neither issuer nor trustedIssuers is configured, so no token could ever be valid');
  }
  for (const [name, claim] of Object.entries(headers)) {
    if (claim === 'roles' || claim === 'scope') continue;
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(claim)) fail(`identity.headers.${name}`, 'must be a dotted claim path like sub or realm_access.roles');
  }

  if (problems.length > 0) return { config: null, problems };
  const config: GatehouseConfig = { server, admin, issuer, trustedIssuers, verify, revocation: { store: storeKind as 'memory' | 'redis', redis, onStoreError: onStoreError as 'deny' | 'allow' }, identity, log: { level }, routes, sourcePath: null };
  return { config, problems };
}

function isClaimValue(v: unknown): v is ClaimValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return true;
  return Array.isArray(v) && v.every((x) => x === null || ['string', 'number', 'boolean'].includes(typeof x));
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** "10.0.0.0/8" | "::1" -> [address, prefix, family]; null when malformed. */
export function parseCidr(text: string): [string, number, 'ipv4' | 'ipv6'] | null {
  const [addr, prefixText, extra] = text.split('/');
  if (extra !== undefined || !addr) return null;
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) return null;
  return [addr, prefix, family === 4 ? 'ipv4' : 'ipv6'];
}
