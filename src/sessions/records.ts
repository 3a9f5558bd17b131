/**
 * Small records with a lifetime, kept in the store so that every instance of
 * a fleet sees them: browser sessions, sign-in flows, (OAuth) authorization
 * codes and consents. Values are JSON text; keys are namespaced by kind.
 */
export interface RecordStore {
  putRecord(kind: string, key: string, value: string, ttlSeconds: number): Promise<void>;
  getRecord(kind: string, key: string): Promise<string | null>;
  /** true when the record existed */
  deleteRecord(kind: string, key: string): Promise<boolean>;
  /** read and delete in one atomic step: single-use records (a code can be redeemed once) */
  takeRecord(kind: string, key: string): Promise<string | null>;
}

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
