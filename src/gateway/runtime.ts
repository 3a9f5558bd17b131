import type { BlockList } from 'node:net';
import type { GatehouseConfig } from '../config/schema.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { compileRoutes, type CompiledRoute } from '../pipeline/match.js';
import { identityPlan, type IdentityPlan } from '../proxy/identity.js';
import { Forwarder } from '../proxy/forwarder.js';
import { trustedProxyList } from '../proxy/client-address.js';
import { loadKeyFile, type LoadedKey } from '../tokens/keys.js';
import { remoteKeySource, staticKeySource, type KeySource } from '../tokens/jwks.js';
import { UserDirectory } from '../tokens/users.js';
import { Verifier, type IssuerEntry } from '../tokens/verifier.js';

/**
 * Everything derived from one config: compiled routes, keys, verifier (and its
 * cache), upstream pools. A SIGHUP builds a new Runtime and swaps it in whole,
 * so a request always sees one consistent config.
 */
export interface Runtime {
  readonly config: GatehouseConfig;
  readonly routes: readonly CompiledRoute[];
  readonly verifier: Verifier;
  readonly identity: IdentityPlan;
  readonly trusted: BlockList;
  readonly anyTrusted: boolean;
  readonly forwarder: Forwarder;
  readonly keySources: ReadonlyArray<{ iss: string; source: KeySource }>;
  /** the issuer's keys, first one signs */
  readonly signingKeys: readonly LoadedKey[];
  /** the issuer's own verification entry (also used for refresh tokens), null without issuer */
  readonly self: IssuerEntry | null;
  /** issuer.users, loaded */
  readonly users: UserDirectory | null;
  nextUpstream(route: CompiledRoute): string;
}

export async function buildRuntime(config: GatehouseConfig, logger: Logger, metrics: Metrics): Promise<Runtime> {
  const signingKeys: LoadedKey[] = [];
  const issuers: IssuerEntry[] = [];
  const keySources: Array<{ iss: string; source: KeySource }> = [];
  let self: IssuerEntry | null = null;
  const users = config.issuer?.users ? UserDirectory.fromFile(config.issuer.users.file) : null;
  if (config.issuer) {
    for (const ref of config.issuer.signingKeys) signingKeys.push(await loadKeyFile(ref.file, { requirePrivate: true }));
    const source = staticKeySource(signingKeys.map((k) => k.publicJwk));
    keySources.push({ iss: config.issuer.iss, source });
    const algorithms = [...new Set(signingKeys.map((k) => k.alg))].filter((a) => config.verify.algorithms.includes(a));
    if (algorithms.length === 0) throw new TypeError(`issuer.signingKeys: none of their algorithms (${signingKeys.map((k) => k.alg).join(', ')}) is in verify.algorithms`);
    self = { iss: config.issuer.iss, audience: config.issuer.audience, algorithms, rolesClaim: 'roles', scopeClaim: 'scope', getKey: source.getKey, selfIssued: true };
    issuers.push(self);
  }
  for (const t of config.trustedIssuers) {
    let source: KeySource;
    if (t.jwksUri) {
      source = remoteKeySource(t.jwksUri, { refreshMs: t.jwksRefreshMs, cooldownMs: t.jwksCooldownMs, timeoutMs: t.jwksTimeoutMs }, logger);
    } else {
      const keys: LoadedKey[] = [];
      for (const ref of t.keys) keys.push(await loadKeyFile(ref.file));
      source = staticKeySource(keys.map((k) => k.publicJwk));
    }
    keySources.push({ iss: t.iss, source });
    issuers.push({ iss: t.iss, audience: t.audience, algorithms: [...t.algorithms], rolesClaim: t.rolesClaim, scopeClaim: t.scopeClaim, getKey: source.getKey, selfIssued: false });
  }
  const verifier = new Verifier({
    issuers,
    clockToleranceMs: config.verify.clockToleranceMs,
    maxTokenAgeMs: config.verify.maxTokenAgeMs,
    maxTokenBytes: config.verify.maxTokenBytes,
    cacheMaxEntries: config.verify.cache.maxEntries,
    onCache: (hit) => metrics.onCache(hit),
  });
  const counters = new Map<CompiledRoute, number>();
  return {
    config,
    routes: compileRoutes(config.routes),
    verifier,
    identity: identityPlan(config.identity.headers, config.identity.forwardToken),
    trusted: trustedProxyList(config.server.trustedProxies),
    anyTrusted: config.server.trustedProxies.length > 0,
    forwarder: new Forwarder({ maxConnectionsPerUpstream: config.server.maxConnectionsPerUpstream, keepAliveTimeoutMs: 4000 }),
    keySources,
    signingKeys,
    self,
    users,
    nextUpstream(route) {
      const list = route.config.upstreams;
      if (list.length === 1) return list[0] as string;
      const n = counters.get(route) ?? 0;
      counters.set(route, n + 1);
      return list[n % list.length] as string;
    },
  };
}

export async function closeRuntime(rt: Runtime): Promise<void> {
  for (const { source } of rt.keySources) source.close();
  rt.verifier.clear();
  await rt.forwarder.close();
}
