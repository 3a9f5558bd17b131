/**
 * Request-time failures. The table below is the only place a status lives:
 * a call site names an error code and a stable `reason` (for logs and
 * metrics only, never sent to the client: Envoy's stripFailureResponse,
 * Oathkeeper's reason_id), and may give a more precise description or extra
 * headers (Allow, Retry-After), never a status.
 *
 * Misconfiguration at start-up is a StartupError, never one of these.
 */
export const MISSING_TOKEN_DESCRIPTION = 'You must specify a Bearer token in the Authorization header to access this resource';

export interface ErrorKind {
  readonly status: number;
  /** what the client reads when the call site gives nothing more precise */
  readonly description: string;
  /** RFC 6750 §3: 'bare' = `Bearer realm` only (no credentials sent), 'error' = with error and error_description */
  readonly challenge?: 'bare' | 'error';
  /** SPEC §3: the JSON token API answers some OAuth errors with another status (invalid_grant: 401 there, 400 on /oauth/token) */
  readonly jsonApiStatus?: number;
  /** answer, then close the connection: the request's framing cannot be trusted */
  readonly close?: boolean;
  /** README's words for operators: when this happens */
  readonly when: string;
}

export const ERROR_TABLE = {
  unauthorized: { status: 401, description: MISSING_TOKEN_DESCRIPTION, challenge: 'bare', when: 'no bearer token on a route that needs one' },
  invalid_token: {
    status: 401,
    description: 'The access token is invalid',
    challenge: 'error',
    when: 'the token is malformed, forged, expired, revoked or from an unknown issuer',
  },
  insufficient_scope: {
    status: 403,
    description: 'The access token does not grant access to this resource',
    challenge: 'error',
    when: 'a valid token that lacks a role, scope or claim the route requires',
  },
  invalid_request: { status: 400, description: 'The request is malformed', when: 'malformed request: path, Host, Authorization, body or parameters' },
  not_found: { status: 404, description: 'No route matches this request', when: 'no route matches (nothing unmatched is ever let through)' },
  method_not_allowed: {
    status: 405,
    description: 'This method is not allowed here',
    when: 'a method a Gatehouse endpoint does not serve (the Allow header lists those it does)',
  },
  request_timeout: {
    status: 408,
    description: 'The request took too long to arrive',
    close: true,
    when: 'request headers or body slower than server.headersTimeout / requestTimeout',
  },
  expectation_failed: { status: 417, description: 'This expectation is not supported', when: 'an `Expect` header other than `100-continue`' },
  too_many_requests: { status: 429, description: 'Too many requests; try again later', when: 'login or refresh throttled (Retry-After says for how long)' },
  request_header_fields_too_large: {
    status: 431,
    description: 'Request headers are too large',
    close: true,
    when: 'request headers larger than server.maxHeaderBytes',
  },
  invalid_grant: {
    status: 400,
    jsonApiStatus: 401,
    description: 'The refresh token is invalid, expired or revoked',
    when: 'a refresh token that is unknown, expired, reused or revoked; bad password at /oauth/token',
  },
  invalid_credentials: { status: 401, description: 'The username or password is incorrect', when: 'bad username or password at the JSON login API' },
  unsupported_grant_type: { status: 400, description: 'This grant type is not supported', when: 'a grant_type the token endpoint does not serve' },
  forbidden: {
    status: 403,
    description: 'This request was refused',
    when: 'a cross-site or forged form or cookie-authenticated request (CSRF), a refused sign-in form',
  },
  sign_in_required: {
    status: 302,
    description: 'Sign in to continue',
    when: 'a browser navigation without a session on a route with `login: auto` (Location: the sign-in page)',
  },
  invalid_client: {
    status: 401,
    description: 'Client authentication failed',
    when: 'an unknown client, a missing or wrong client secret, a secret sent by a public client',
  },
  unauthorized_client: {
    status: 400,
    description: 'This client may not use this grant',
    when: 'a registered client asks for a grant its `grants` do not list',
  },
  invalid_scope: { status: 400, description: 'The requested scope is invalid or not allowed', when: 'a scope that is unknown or not allowed for the client' },
  server_error: { status: 500, description: 'Internal error', when: 'a bug: logged with its stack, never with request secrets' },
  bad_gateway: { status: 502, description: 'The upstream service could not be reached', when: 'the upstream refused, reset or broke the connection' },
  temporarily_unavailable: {
    status: 503,
    description: 'The revocation store is unavailable; try again shortly',
    when: 'revocation store down with onStoreError: deny, or a session write failed',
  },
  gateway_timeout: { status: 504, description: 'The upstream service did not answer in time', when: "the upstream did not answer within the route's timeout" },
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof ERROR_TABLE;

const REALM = 'Bearer realm="gatehouse"';
const quote = (s: string) => s.replace(/["\\]/g, "'");

export class GatewayError extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** close the client connection after answering (framing errors, 400c) */
  readonly closeConnection: boolean;

  constructor(
    readonly code: ErrorCode,
    /** stable reason id for logs/metrics; never sent to the client */
    readonly reason: string = code,
    opts: { description?: string; headers?: Record<string, string>; close?: boolean } = {},
  ) {
    const kind: ErrorKind = ERROR_TABLE[code];
    const description = opts.description ?? kind.description;
    super(description);
    this.name = 'GatewayError';
    this.status = kind.status;
    this.closeConnection = opts.close ?? kind.close ?? false;
    const challenge =
      kind.challenge === 'bare' ? REALM : kind.challenge === 'error' ? `${REALM}, error="${code}", error_description="${quote(description)}"` : null;
    this.headers = challenge ? { 'www-authenticate': challenge, ...opts.headers } : { ...opts.headers };
  }

  get description(): string {
    return this.message;
  }

  /** The same error as the JSON token API answers it (SPEC §3: invalid_grant is 401 there). */
  forJsonApi(): GatewayError {
    const kind: ErrorKind = ERROR_TABLE[this.code];
    if (kind.jsonApiStatus === undefined) return this;
    const copy = Object.create(GatewayError.prototype) as GatewayError;
    Object.assign(copy, this, { status: kind.jsonApiStatus, message: this.message });
    return copy;
  }
}

/** 401 without a token: RFC 6750 §3.1 says no error code in the challenge. */
export const missingToken = (reason = 'no_token') => new GatewayError('unauthorized', reason);

export const invalidToken = (reason: string, description?: string) =>
  new GatewayError('invalid_token', reason, description === undefined ? {} : { description });

export const insufficientScope = (reason: string, description?: string) =>
  new GatewayError('insufficient_scope', reason, description === undefined ? {} : { description });

export const invalidRequest = (description: string, reason = 'invalid_request', close = false) =>
  new GatewayError('invalid_request', reason, { description, close });

export const notFound = (description?: string) => new GatewayError('not_found', 'no_route', description === undefined ? {} : { description });

export const methodNotAllowed = (allowed: readonly string[], description = `Use ${allowed.join(', ')}`) =>
  new GatewayError('method_not_allowed', 'method_not_allowed', { description, headers: { allow: allowed.join(', ') } });

export const storeUnavailable = (reason = 'store_unavailable') => new GatewayError('temporarily_unavailable', reason, { headers: { 'retry-after': '1' } });

export const badGateway = (reason: string) => new GatewayError('bad_gateway', reason);
export const gatewayTimeout = (reason: string) => new GatewayError('gateway_timeout', reason);

export const tooManyRequests = (retryAfterSeconds: number, reason = 'throttled') =>
  new GatewayError('too_many_requests', reason, { headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) } });

export const forbidden = (reason: string, description?: string) => new GatewayError('forbidden', reason, description === undefined ? {} : { description });

/** Not a failure a client should show: a browser is sent to the sign-in page (the only redirect in the table). */
export const signInRequired = (location: string, reason: string) => new GatewayError('sign_in_required', reason, { headers: { location } });

export const internalError = () => new GatewayError('server_error', 'internal_error');

export function asGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : internalError();
}

/**
 * Everything `gatehouse start` refuses before serving (bad config, unreadable
 * key, port in use): printed one way, `gatehouse: <message>`, exit 1.
 * `problems` lists each one with its YAML path and, where there is one, a fix.
 */
export interface StartupProblem {
  path: string;
  message: string;
}

export class StartupError extends Error {
  override name = 'StartupError';
  constructor(
    message: string,
    readonly problems: readonly StartupProblem[] = [],
  ) {
    super(message);
  }
}

/** The one line a failed start prints on stderr (README: "one line on stderr, exit 1"). */
export function startupMessage(err: unknown): string {
  return `gatehouse: ${err instanceof Error ? err.message : String(err)}`;
}
