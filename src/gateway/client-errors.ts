import type { Socket } from 'node:net';
import { GatewayError, invalidRequest } from '../errors.js';
import { writeRawError } from '../http/respond.js';

/** Parser-level failures (smuggling, bad framing, oversized headers, slow clients): answer once and close (SECURITY.md P19-P24). */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = crypto.randomUUID();
  if (err.code === 'HPE_HEADER_OVERFLOW') writeRawError(socket, new GatewayError('request_header_fields_too_large', 'header_overflow'), requestId);
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') writeRawError(socket, new GatewayError('request_timeout', 'request_timeout'), requestId);
  else writeRawError(socket, invalidRequest('Malformed HTTP request', `parse_error_${(err.code ?? 'unknown').toLowerCase()}`, true), requestId);
}
