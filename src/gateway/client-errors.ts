import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError, invalidRequest, methodNotAllowed } from '../errors.js';
import { writeRawError } from '../http/respond.js';

/** CONNECT asks a proxy for a tunnel: Gatehouse is no forward proxy (405, and the connection closed). */
export function onConnect(_req: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  writeRawError(
    socket,
    methodNotAllowed(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], 'CONNECT is not supported: Gatehouse is not a forward proxy'),
    crypto.randomUUID(),
  );
}

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
