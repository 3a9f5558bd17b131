import type { SessionStore } from '../store/types.js';

/**
 * Small records with a lifetime, kept in the store so that every instance of
 * a fleet sees them: browser sessions, sign-in flows, (OAuth) authorization
 * codes and consents. Values are JSON text; keys are namespaced by kind.
 * `takeRecord` reads and deletes in one atomic step (a code is redeemed once).
 */
export type RecordStore = Pick<SessionStore, 'putRecord' | 'getRecord' | 'deleteRecord' | 'takeRecord'>;

/** Parses a stored record, or null when it is absent or not what was written (never trusted blindly). */
export function parseRecord<T>(text: string | null, valid: (v: unknown) => v is T): T | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return valid(v) ? v : null;
  } catch {
    return null;
  }
}
