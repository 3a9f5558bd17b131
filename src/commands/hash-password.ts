import { MAX_PASSWORD_BYTES, hashPassword as hashPasswordArgon2 } from '../tokens/passwords.js';
import { err, out } from './io.js';

/** `gatehouse hash-password`: one line from stdin; only its trailing newline (LF or CRLF) is removed, everything else (spaces, NUL, Unicode) is kept. */
export async function hashPassword(_args: string[]): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  const line = (nl === -1 ? text : text.slice(0, nl)).replace(/\r$/, '');
  if (line.length === 0) {
    err('gatehouse hash-password: empty password on stdin');
    return 1;
  }
  if (Buffer.byteLength(line) > MAX_PASSWORD_BYTES) {
    err(`gatehouse hash-password: passwords longer than ${MAX_PASSWORD_BYTES} bytes are refused at login`);
    return 1;
  }
  out(await hashPasswordArgon2(line));
  return 0;
}
