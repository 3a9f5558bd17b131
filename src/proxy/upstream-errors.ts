import { badGateway, gatewayTimeout, type GatewayError } from '../errors.js';

/** undici / socket failures -> 502 or 504 (SPEC §5); null when the client went away and nobody is listening. */
export function upstreamError(err: unknown): GatewayError | null {
  const e = err as { code?: string; name?: string };
  switch (e.code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return gatewayTimeout('upstream_timeout');
    case 'UND_ERR_CONNECT_TIMEOUT':
      return gatewayTimeout('upstream_connect_timeout');
    case 'UND_ERR_ABORTED':
    case 'CLIENT_CLOSED':
      return null;
    case 'ECONNREFUSED':
      return badGateway('upstream_refused');
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return badGateway('upstream_reset');
    default:
      if (e.name === 'AbortError') return null;
      if (typeof e.code === 'string' && e.code.startsWith('HPE_')) return badGateway('upstream_protocol_error');
      return badGateway(`upstream_error${e.code ? `_${e.code.toLowerCase()}` : ''}`);
  }
}
