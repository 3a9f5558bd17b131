import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthRule, RouteConfig } from '../config/schema.js';
import type { CompiledPattern } from '../config/path-pattern.js';
import type { RevocationStore } from '../store/types.js';
import type { VerifiedToken } from '../tokens/verifier.js';

export type AuthOutcome = 'public' | 'anonymous' | 'authenticated' | 'denied' | 'error';

/** SPEC §7: auto = browser navigations (GET/HEAD) are sent to sign in; redirect = every GET/HEAD; deny = never. */
export type LoginMode = 'auto' | 'redirect' | 'deny';

/** Which credential authenticated the request. */
export type Credential = 'none' | 'bearer' | 'session';

/** Gatehouse's own endpoint: answers the request itself after the stages admitted it. */
export type LocalHandler = (ctx: RequestContext, res: ServerResponse) => Promise<void>;

/**
 * One entry of the route table. User routes (from `routes:`) are proxied;
 * Gatehouse's own endpoints (token service, discovery, JWKS) are built-in
 * routes compiled first into the same table and run through the same stages.
 */
export interface CompiledRoute {
  readonly name: string;
  readonly pattern: CompiledPattern;
  /** null: every method (a built-in route answers a method it does not serve with 405) */
  readonly methods: ReadonlySet<string> | null;
  readonly host: string | null;
  readonly wildcardHost: string | null;
  readonly auth: AuthRule;
  /** what an unauthenticated browser gets (SPEC §7 `login`): sent to the sign-in page, or the JSON 401 */
  readonly login: LoginMode;
  /** a proxied route's config; null for a built-in route */
  readonly proxy: RouteConfig | null;
  /** a built-in route's handlers by method; null for a proxied route */
  readonly local: Readonly<Record<string, LocalHandler>> | null;
}

/** Everything one request accumulates on its way through the stages. */
export interface RequestContext {
  readonly req: IncomingMessage;
  readonly requestId: string;
  readonly startedAt: number;
  /** client address after walking X-Forwarded-For through trusted proxies */
  clientIp: string;
  /** the Host header in its canonical form (check-host), '' without one (HTTP/1.0); what routes match and the upstream gets */
  host: string;
  path: string;
  segments: string[];
  query: string;
  route: CompiledRoute | null;
  /** the bearer token, or the access token minted for the session (forwarded upstream with forwardToken) */
  token: string | null;
  credential: Credential;
  /** the session cookie's id, when the request has no bearer token */
  sessionId: string | null;
  identity: VerifiedToken | null;
  outcome: AuthOutcome;
  /** stable reason id for logs and metrics */
  reason: string;
}

/** Browser sessions as the stages see them (SPEC §7); null when `sessions` is not configured. */
export interface SessionGate {
  readonly cookieName: string;
  /** the origin browsers use (`server.publicUrl`), for the CSRF rule */
  readonly publicOrigin: string;
  /** the session's identity and the access token forwarded for it, or null when the session is gone */
  resolve(id: string): { identity: VerifiedToken; token: string } | null | Promise<{ identity: VerifiedToken; token: string } | null>;
  /** the sign-in URL for a browser that must sign in before it gets `returnTo` (starts a flow that remembers it) */
  signInUrl(returnTo: string): Promise<string>;
}

/** What the stages need, and nothing more: the Runtime satisfies it structurally. */
export interface StageDeps {
  readonly sessions: SessionGate | null;
  readonly routes: readonly CompiledRoute[];
  readonly verifier: {
    verify(token: string): VerifiedToken | Promise<VerifiedToken>;
    /** true when this exact token was verified before and is still cached (extract skips its syntax scan); a bound function */
    readonly accepted?: (token: string) => boolean;
  };
  readonly store: Pick<RevocationStore, 'state' | 'check'>;
  readonly onStoreError: 'deny' | 'allow';
  /** counted when a request is served from the last mirror while the store is down (onStoreError: allow) */
  onStoreBypass(): void;
}

/** A stage either returns (possibly settling part of the context) or throws a GatewayError; it may return a promise when it has to wait. */
export type Stage = (ctx: RequestContext, deps: StageDeps) => void | Promise<void>;
