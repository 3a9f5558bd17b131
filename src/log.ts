import pino, { type Logger } from 'pino';

/**
 * JSON logs. Gatehouse never logs request headers wholesale, but redaction is
 * kept as a second line of defence (STYLE.md habit 7): credentials in any
 * object logged by mistake are censored.
 */
export const REDACT = [
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.cookie',
  'password',
  '*.password',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, base: { service: 'gatehouse', pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };
