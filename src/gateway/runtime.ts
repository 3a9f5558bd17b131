import type { GatehouseConfig } from '../config/schema.js';
import type { ServerResponse } from 'node:http';
import { browserSignIn } from '../issuer/browser.js';
import { IssuerState, type IssuerDeps } from '../issuer/deps.js';
import { issuerRoutes } from '../issuer/routes.js';
import type { PageName } from '../issuer/sign-in.js';
import { createPages, sendPage } from '../web/index.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import type { CompiledRoute, SessionGate, StageDeps } from '../pipeline/context.js';
import { compileRoutes } from '../pipeline/match.js';
import { trustedProxyList } from '../proxy/client-address.js';
import { Forwarder } from '../proxy/forwarder.js';
import { identityPlan } from '../proxy/identity.js';
import type { ForwardDeps } from '../proxy/forward.js';
import type { RevocationStore, SessionStore } from '../store/types.js';
import { remoteKeySource, staticKeySource, type KeySource, type StaticKey } from '../tokens/jwks.js';
import { loadKeyFile, type LoadedKey } from '../tokens/keys.js';
import { WatchedUsers, type UsersFileState } from '../tokens/users-watch.js';
import { Verifier, type IssuerEntry } from '../tokens/verifier.js';

/** What outlives a config reload: one per Gateway. */
export interface Shared {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: RevocationStore & SessionStore;
  readonly issuerState: IssuerState;
}

/**
 * Everything derived from one config: the route table (Gatehouse's own
 * endpoints first, then the user's routes), keys, verifier (and its cache),
 * upstream pools. A SIGHUP builds a new Runtime and swaps it in whole, so a
 * request always sees one consistent config. It satisfies, structurally, the
 * narrow dependency types the layers below declare.
 */
export interface Runtime extends StageDeps, ForwardDeps {
  readonly config: GatehouseConfig;
  readonly verifier: Verifier;
  readonly forwarder: Forwarder;
  readonly keySources: ReadonlyArray<{ iss: string; source: KeySource }>;
  /** the issuer's keys, first one signs */
  readonly signingKeys: readonly LoadedKey[];
  /** the issuer's own verification entry (also used for refresh tokens), null without issuer */
  readonly self: IssuerEntry | null;
  readonly store: RevocationStore & SessionStore;
  /** the watched users file, when there is one */
  usersState(): UsersFileState | null;
  /** stops watching files; the caller closes the rest */
  readonly users: WatchedUsers | null;
  /** writes the HTML page for a refusal a signed-in browser navigation gets (403); false when there is none (no sessions, another status) */
  refusalPage(res: ServerResponse, status: number, requestId: string): boolean;
  nextUpstream(route: CompiledRoute): string;
}

export { IssuerState };

export async function buildRuntime(config: GatehouseConfig, shared: Shared): Promise<Runtime> {
  const { logger, metrics, store } = shared;
  const signingKeys: LoadedKey[] = [];
  const issuers: IssuerEntry[] = [];
  const keySources: Array<{ iss: string; source: KeySource }> = [];
  let self: IssuerEntry | null = null;
  const users = config.issuer?.users ? await WatchedUsers.open(config.issuer.users.file, logger, (s) => metrics.setStale('users', s.problem !== null)) : null;
  if (config.issuer) {
    for (const ref of config.issuer.signingKeys) signingKeys.push(await loadKeyFile(ref.file, { requirePrivate: true }));
    const source = staticKeySource(signingKeys.map((k) => k.publicJwk));
    keySources.push({ iss: config.issuer.iss, source });
    const algorithms = [...new Set(signingKeys.map((k) => k.alg))].filter((a) => config.verify.algorithms.includes(a));
    if (algorithms.length === 0)
      throw new TypeError(`issuer.signingKeys: none of their algorithms (${signingKeys.map((k) => k.alg).join(', ')}) is in verify.algorithms`);
    self = {
      iss: config.issuer.iss,
      audience: config.issuer.audience,
      algorithms,
      rolesClaim: ['roles'],
      scopeClaim: ['scope'],
      getKey: source.getKey,
      selfIssued: true,
    };
    issuers.push(self);
  }
  for (const t of config.trustedIssuers) {
    let source: KeySource;
    if (t.jwksUri) {
      if (t.allowInsecureJwks && new URL(t.jwksUri).protocol === 'http:')
        logger.warn(
          { iss: t.iss, jwksUri: t.jwksUri },
          'JWKS over plain http (allowInsecureJwks): anyone on that network path can swap the keys; use only inside a private network',
        );
      source = remoteKeySource(t.jwksUri, { refreshMs: t.jwksRefreshMs, cooldownMs: t.jwksCooldownMs, timeoutMs: t.jwksTimeoutMs }, logger);
    } else {
      const keys: StaticKey[] = [];
      for (const ref of t.keys) {
        const k = await loadKeyFile(ref.file);
        // a kid named in the config wins; else the file's; a key with neither (PEM) answers to any kid
        keys.push(ref.kid !== undefined ? { jwk: { ...k.publicJwk, kid: ref.kid }, anyKid: false } : { jwk: k.publicJwk, anyKid: !k.kidFromFile });
      }
      source = staticKeySource(keys);
    }
    keySources.push({ iss: t.iss, source });
    issuers.push({
      iss: t.iss,
      audience: t.audience,
      algorithms: [...t.algorithms],
      rolesClaim: t.rolesClaim,
      scopeClaim: t.scopeClaim,
      getKey: source.getKey,
      selfIssued: false,
    });
  }
  const verifier = new Verifier({
    issuers,
    clockToleranceMs: config.verify.clockToleranceMs,
    maxTokenAgeMs: config.verify.maxTokenAgeMs,
    maxTokenBytes: config.verify.maxTokenBytes,
    cacheMaxEntries: config.verify.cache.maxEntries,
    onCache: (hit) => metrics.onCache(hit),
  });
  const pages = config.sessions ? createPages({ templatesDir: config.sessions.templates }) : null;
  const page = pages
    ? (res: ServerResponse, status: number, name: PageName, data: Record<string, unknown>, headers?: Record<string, string>, formAction?: readonly string[]) =>
        sendPage(res, status, pages.render(name, data as never), {
          styleHash: pages.stylesHash(),
          ...(headers ? { headers } : {}),
          ...(formAction ? { formAction } : {}),
        })
    : null;
  let builtins: CompiledRoute[] = [];
  let sessions: SessionGate | null = null;
  if (config.issuer && self) {
    const issuerDeps: IssuerDeps = {
      issuer: config.issuer,
      maxTokenBytes: config.verify.maxTokenBytes,
      signingKeys,
      self,
      users,
      verifier,
      store,
      logger,
      state: shared.issuerState,
      countRequest: (endpoint, outcome) => metrics.tokenRequests.labels(endpoint, outcome).inc(),
      onWriteError: () => metrics.storeErrors.labels('write').inc(),
    };
    const browser =
      config.sessions && page ? browserSignIn(issuerDeps, { sessions: config.sessions, publicOrigin: config.server.publicUrl as string, page }) : null;
    sessions = browser?.gate ?? null;
    builtins = issuerRoutes(issuerDeps, browser?.browser ?? null);
  }
  /** SPEC §7: a signed-in browser navigation refused for a missing role sees a page, not JSON. */
  const refusalPage = (res: ServerResponse, status: number, requestId: string): boolean => {
    if (!page || status !== 403) return false;
    page(res, 403, 'error', {
      status: 403,
      title: "You don't have access to this page",
      message: 'You are signed in, but your account does not have the role this page requires. Ask an administrator for access, or sign in as someone else.',
      link: { href: '/auth/sign-out', text: 'Sign in as someone else' },
      requestId,
    });
    return true;
  };
  const counters = new Map<CompiledRoute, number>();
  return {
    config,
    routes: [...builtins, ...compileRoutes(config.routes)],
    logger,
    sessions,
    sessionCookie: config.sessions?.cookie ?? null,
    refusalPage,
    verifier,
    store,
    onStoreError: config.revocation.onStoreError,
    onStoreBypass: () => metrics.storeErrors.labels('allowed_while_down').inc(),
    identity: identityPlan(config.identity.headers, config.identity.forwardToken),
    trusted: trustedProxyList(config.server.trustedProxies),
    anyTrusted: config.server.trustedProxies.length > 0,
    forwarder: new Forwarder({ maxConnectionsPerUpstream: config.server.maxConnectionsPerUpstream, keepAliveTimeoutMs: 4000 }),
    keySources,
    signingKeys,
    self,
    users,
    usersState: () => users?.state() ?? null,
    nextUpstream(route) {
      const list = route.proxy?.upstreams ?? [];
      if (list.length === 1) return list[0] as string;
      const n = counters.get(route) ?? 0;
      counters.set(route, n + 1);
      return list[n % list.length] as string;
    },
  };
}

export async function closeRuntime(rt: Runtime): Promise<void> {
  for (const { source } of rt.keySources) source.close();
  rt.users?.close();
  rt.verifier.clear();
  await rt.forwarder.close();
}
