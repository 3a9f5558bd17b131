import type { IncomingMessage } from 'node:http';
import { invalidRequest } from '../errors.js';

/** Reads a request body up to `limit` bytes; 413 past it (checked on Content-Length first, then while streaming). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => invalidRequest(`The request body is larger than ${limit} bytes`, 'body_too_large', true);
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
  if (type !== 'application/json') throw invalidRequest('Send the body as application/json', 'bad_content_type');
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

/** application/x-www-form-urlencoded (RFC 6749 §4.3.2) or JSON, as a flat string map; repeated parameters are refused (RFC 6749 §3.1). */
export async function readParams(req: IncomingMessage, limit: number): Promise<Record<string, string>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json') {
    const body = await readJsonObject(req, limit);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
    return out;
  }
  if (type !== 'application/x-www-form-urlencoded')
    throw invalidRequest('Send the body as application/x-www-form-urlencoded or application/json', 'bad_content_type');
  const params = new URLSearchParams((await readBody(req, limit)).toString('utf8'));
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (Object.hasOwn(out, k)) throw invalidRequest(`The parameter "${k}" is repeated`, 'repeated_parameter');
    out[k] = v;
  }
  return out;
}
