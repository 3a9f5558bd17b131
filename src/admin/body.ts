import type { IncomingMessage } from 'node:http';
import { GatewayError, invalidRequest } from '../errors.js';

/** Reads a request body up to `limit` bytes; 413 past it (checked on Content-Length first, then while streaming). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new GatewayError('payload_too_large', `Request body larger than ${limit} bytes`, 'body_too_large', { close: true });
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** JSON object body with `application/json` content type, else 400/415 with a description that says what to send. */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new GatewayError('unsupported_media_type', 'Send the body as application/json', 'bad_content_type');
  const raw = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidRequest('The body is not valid JSON', 'bad_json');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidRequest('The body must be a JSON object', 'bad_json');
  return value as Record<string, unknown>;
}
