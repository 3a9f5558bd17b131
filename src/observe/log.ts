import pino, { type Logger } from 'pino';
import { LogWriter } from './log-writer.js';

/**
 * JSON logs. Gatehouse never logs request headers or bodies wholesale (log
 * calls list their fields), but redaction stays as a second line of defence
 * (STYLE.md habit 7) for the places credentials could end up by mistake.
 * Only fixed paths: pino's wildcard paths cost ~15 µs on every line, which
 * the per-request log cannot afford.
 */
export const REDACT = [
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  'body.password',
  'token',
  'access_token',
  'refresh_token',
  'body.refresh_token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  // Batched stdout writes that can never hang the process (src/log-writer.ts).
  const dest = destination ?? new LogWriter(1);
  return pino(
    { level, base: { service: 'gatehouse', pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
}

export type { Logger };
