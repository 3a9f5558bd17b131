/**
 * Request-time failures. Each has a stable `code` (the JSON `error`), its HTTP
 * status and a short client-facing description; the detailed `reason` is for
 * logs and metrics only (Envoy's stripFailureResponse, Oathkeeper's reason_id).
 * Misconfiguration at start-up is a TypeError/ConfigError, never one of these.
 */
export type ErrorCode =
  | 'unauthorized'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_request'
  | 'not_found'
  | 'method_not_allowed'
  | 'temporarily_unavailable'
  | 'bad_gateway'
  | 'gateway_timeout'
  | 'too_many_requests'
  | 'request_header_fields_too_large'
  | 'payload_too_large'
  | 'invalid_grant'
  | 'invalid_credentials'
  | 'unsupported_grant_type'
  | 'unsupported_media_type'
  | 'server_error';

const STATUS: Record<ErrorCode, number> = {
  unauthorized: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  temporarily_unavailable: 503,
  bad_gateway: 502,
  gateway_timeout: 504,
  too_many_requests: 429,
  request_header_fields_too_large: 431,
  payload_too_large: 413,
  invalid_grant: 400,
  invalid_credentials: 401,
  unsupported_grant_type: 400,
  unsupported_media_type: 415,
  server_error: 500,
};

export const MISSING_TOKEN_DESCRIPTION = 'You must specify a Bearer token in the Authorization header to access this resource';

export class GatewayError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** close the client connection after answering (framing errors, 400c) */
  closeConnection = false;

  constructor(
    readonly code: ErrorCode,
    readonly description: string,
    /** stable reason id for logs/metrics; never sent to the client */
    readonly reason: string = code,
    opts: { status?: number; headers?: Record<string, string>; close?: boolean } = {},
  ) {
    super(description);
    this.name = 'GatewayError';
    this.status = opts.status ?? STATUS[code];
    this.headers = opts.headers ?? {};
    this.closeConnection = opts.close ?? false;
  }
}

const REALM = 'Bearer realm="gatehouse"';
const quote = (s: string) => s.replace(/["\\]/g, "'");

/** 401 without a token: RFC 6750 §3.1 says no error code in the challenge. */
export const missingToken = (reason = 'no_token') =>
  new GatewayError('unauthorized', MISSING_TOKEN_DESCRIPTION, reason, { headers: { 'www-authenticate': REALM } });

export const invalidToken = (reason: string, description = 'The access token is invalid') =>
  new GatewayError('invalid_token', description, reason, {
    headers: { 'www-authenticate': `${REALM}, error="invalid_token", error_description="${quote(description)}"` },
  });

export const insufficientScope = (reason: string, description = 'The access token does not grant access to this resource') =>
  new GatewayError('insufficient_scope', description, reason, {
    headers: { 'www-authenticate': `${REALM}, error="insufficient_scope", error_description="${quote(description)}"` },
  });

export const invalidRequest = (description: string, reason = 'invalid_request', close = false) => new GatewayError('invalid_request', description, reason, { close });

export const notFound = () => new GatewayError('not_found', 'No route matches this request', 'no_route');

export const storeUnavailable = (reason = 'store_unavailable') =>
  new GatewayError('temporarily_unavailable', 'The revocation store is unavailable; try again shortly', reason, { headers: { 'retry-after': '1' } });

export const badGateway = (reason: string) => new GatewayError('bad_gateway', 'The upstream service could not be reached', reason);
export const gatewayTimeout = (reason: string) => new GatewayError('gateway_timeout', 'The upstream service did not answer in time', reason);

export const tooManyRequests = (retryAfterSeconds: number, reason = 'throttled') =>
  new GatewayError('too_many_requests', 'Too many requests; try again later', reason, { headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) } });
