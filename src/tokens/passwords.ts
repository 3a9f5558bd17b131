import { randomBytes } from 'node:crypto';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';

/**
 * OWASP Password Storage Cheat Sheet minimum for argon2id: m = 19 MiB,
 * t = 2, p = 1 (SECURITY.md O15). Hashing runs on libuv's thread pool, so a
 * login never blocks the event loop that serves the proxy.
 */
export const ARGON2_PARAMS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Longer passwords are refused before any hashing (a 1 MB password must not cost 1 MB of argon2 input). */
export const MAX_PASSWORD_BYTES = 1024;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMS);
}

const PHC_ARGON2 = /^\$argon2(id|i|d)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export function isSupportedHash(phc: string): boolean {
  return PHC_ARGON2.test(phc) || BCRYPT.test(phc);
}

/** True when the stored hash is weaker than ARGON2_PARAMS (bcrypt, argon2i/d, lower cost): the operator should rehash. */
export function isWeakHash(phc: string): boolean {
  const m = PHC_ARGON2.exec(phc);
  if (!m) return true;
  return m[1] !== 'id' || Number(m[2]) < ARGON2_PARAMS.memoryCost || Number(m[3]) < ARGON2_PARAMS.timeCost;
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    if (BCRYPT.test(phc)) return await bcrypt.compare(password, phc);
    return await verify(phc, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | null = null;

/**
 * A hash of a random secret with the same parameters as real ones: unknown
 * users are checked against it so they cost the same time as a wrong password
 * (SECURITY.md O13-O14).
 */
export function dummyHash(): Promise<string> {
  dummy ??= hash(randomBytes(32).toString('base64url'), ARGON2_PARAMS);
  return dummy;
}
