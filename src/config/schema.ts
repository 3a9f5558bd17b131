/**
 * The validated, normalised configuration. Durations are milliseconds, listen
 * addresses are split, single values that may be lists are lists. Everything
 * here is frozen after validation (see load.ts).
 */

export type AuthMode = 'public' | 'optional' | 'required';
export type ClaimValue = string | number | boolean | null | ClaimValue[];

/** A route's claim condition: equal to a value, or `{ contains: v }` — a list claim that has v among its items (Auth0 `permissions`). */
export type ClaimRule = ClaimValue | { readonly contains: string | number | boolean };

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AuthRule {
  mode: AuthMode;
  /** any of these roles grants access */
  roles: readonly string[];
  /** every one of these scopes is needed */
  scopes: readonly string[];
  /** dotted claim path -> value it must equal */
  claims: Readonly<Record<string, ClaimRule>>;
}

export interface RouteConfig {
  name: string;
  match: { path: string; methods: readonly string[] | null; host: string | null };
  upstreams: readonly string[];
  stripPrefix: string | null;
  timeoutMs: number;
  websocket: boolean;
  /** SPEC §7: what an unauthenticated browser gets on this route when sessions are on */
  login: 'auto' | 'redirect' | 'deny';
  preserveHost: boolean;
  auth: AuthRule;
}

export interface KeyFileRef {
  file: string;
  /** trusted issuers' static keys: the kid this key answers to (a PEM file has none; without one the key matches any kid) */
  kid?: string;
}

export interface IssuerConfig {
  iss: string;
  audience: readonly string[];
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  signingKeys: readonly KeyFileRef[];
  users: { file: string } | null;
  claims: readonly string[];
  /** failed logins allowed per username / per client IP in `windowMs` before 429 */
  throttle: { perUser: number; perIp: number; windowMs: number };
  /** extra paths for the JSON token API, served in addition to /auth/login, /auth/refresh and /auth/profile (drop-in for existing clients) */
  endpoints: { login: readonly string[]; refresh: readonly string[]; profile: readonly string[] };
  /** token responses carry the access token under each of these names (default: access_token) */
  tokenResponse: { accessTokenFields: readonly string[] };
  /** the OAuth grants /oauth/token serves (SPEC §8); `password` only when listed */
  grants: readonly GrantType[];
  /** registered OAuth clients; empty: any client_id may use the password and refresh grants, as before clients existed */
  clients: readonly OAuthClient[];
  /** how long an authorization code may wait to be redeemed (at most 60 s) */
  authorizationCodeTtlMs: number;
  /** how long a user's consent to a client is remembered */
  consentTtlMs: number;
}

export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials' | 'password';
export const GRANT_TYPES: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials', 'password'];

/** OpenID Connect's standard scopes: a client may ask for them whatever the user's own `scope` says. */
export const OIDC_SCOPES: readonly string[] = ['openid', 'profile', 'email', 'offline_access'];
/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** A registered OAuth client (SPEC §8 `issuer.clients`). */
export interface OAuthClient {
  readonly id: string;
  /** shown on the consent page; the id when not set */
  readonly name: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  /** false: first-party, no consent page */
  readonly consent: boolean;
  readonly scopes: readonly string[];
  readonly grants: readonly GrantType[];
  /** a confidential client's secret, or its argon2 hash; both null: a public client */
  readonly secret: string | null;
  readonly secretHash: string | null;
}

export interface TrustedIssuerConfig {
  iss: string;
  jwksUri: string | null;
  keys: readonly KeyFileRef[];
  audience: readonly string[];
  algorithms: readonly string[];
  /** dotted claim paths whose values are merged (Keycloak realm and client roles) */
  rolesClaim: readonly string[];
  scopeClaim: readonly string[];
  /** an http:// jwksUri outside loopback is allowed (a private network, e.g. http://keycloak:8080 in compose); warned at start */
  allowInsecureJwks: boolean;
  jwksRefreshMs: number;
  jwksCooldownMs: number;
  jwksTimeoutMs: number;
}

export interface RedisConfig {
  url: string | null;
  cluster: readonly string[] | null;
  sentinels: readonly string[] | null;
  sentinelName: string | null;
  keyPrefix: string;
  commandTimeoutMs: number;
}

export interface SessionsConfig {
  /** cookie name; `__Host-gatehouse` by default, `gatehouse` on a plain-http loopback demo */
  cookie: string;
  /** the cookie gets `Secure` (false only for a plain-http loopback publicUrl) */
  secureCookie: boolean;
  idleTtlMs: number;
  absoluteTtlMs: number;
  /** a directory whose .hbs files override the built-in pages */
  templates: string | null;
}

export interface GatehouseConfig {
  server: {
    listen: ListenAddress;
    workers: number | 'auto';
    trustedProxies: readonly string[];
    maxHeaderBytes: number;
    upstreamTimeoutMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    shutdownTimeoutMs: number;
    maxConnectionsPerUpstream: number;
    /** HTTPS on server.listen; the files are re-read on SIGHUP */
    tls: { cert: string; key: string } | null;
    /** the origin browsers use (redirects, cookies, CSRF); required with sessions */
    publicUrl: string | null;
  };
  admin: { listen: ListenAddress | null };
  /** browser sign-in and cookie sessions (SPEC §7); null when off */
  sessions: SessionsConfig | null;
  issuer: IssuerConfig | null;
  trustedIssuers: readonly TrustedIssuerConfig[];
  verify: {
    algorithms: readonly string[];
    clockToleranceMs: number;
    maxTokenAgeMs: number | null;
    maxTokenBytes: number;
    cache: { maxEntries: number };
  };
  revocation: {
    store: 'memory' | 'redis';
    redis: RedisConfig;
    onStoreError: 'deny' | 'allow';
  };
  identity: {
    headers: Readonly<Record<string, string>>;
    forwardToken: boolean;
  };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  routes: readonly RouteConfig[];
  /** directory of the config file: relative key/user file paths resolve against the working directory, like the spec's example */
  sourcePath: string | null;
}

/** Algorithms Gatehouse can verify. HS* is deliberately absent: shared secrets have no place in a proxy that trusts many issuers. */
export const SUPPORTED_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;

/** Every default in one place (STYLE.md habit 4). Durations here are in the YAML form. */
export const DEFAULTS = {
  server: {
    listen: '127.0.0.1:8080',
    workers: 1,
    trustedProxies: [] as string[],
    maxHeaderBytes: 16384,
    upstreamTimeout: '30s',
    headersTimeout: '10s',
    requestTimeout: '60s',
    keepAliveTimeout: '5s',
    shutdownTimeout: '10s',
    maxConnectionsPerUpstream: 256,
  },
  admin: { listen: '127.0.0.1:9090' },
  issuer: {
    audience: 'api',
    accessTokenTtl: '15m',
    refreshTokenTtl: '14d',
    claims: [] as string[],
    throttle: { perUser: 10, perIp: 100, window: '15m' },
    grants: ['authorization_code', 'refresh_token', 'client_credentials'] as GrantType[],
    authorizationCodeTtl: '60s',
    consentTtl: '365d',
  },
  trustedIssuer: {
    algorithms: ['RS256'],
    rolesClaim: 'roles',
    scopeClaim: 'scope',
    jwksRefresh: '10m',
    jwksCooldown: '30s',
    jwksTimeout: '5s',
  },
  verify: {
    algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    clockTolerance: '30s',
    maxTokenBytes: 8192,
    cache: { maxEntries: 100000 },
  },
  revocation: {
    store: 'memory',
    redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'gatehouse:', commandTimeout: '500ms' },
    onStoreError: 'deny',
  },
  identity: {
    headers: { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope' } as Record<string, string>,
    forwardToken: true,
  },
  log: { level: 'info' },
  route: { auth: 'required', websocket: true, preserveHost: true },
} as const;
