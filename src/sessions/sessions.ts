import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../observe/log.js';
import type { RevocationStore } from '../store/types.js';
import type { VerifiedToken } from '../tokens/verifier.js';
import { newSessionId, sessionKey } from '../http/cookies.js';
import { parseRecord, type RecordStore } from './records.js';

/** A browser session as stored (under the SHA-256 of its cookie id). */
export interface SessionRecord {
  /** the login session: refresh family id, carried as `sid` by every access token minted for it */
  sid: string;
  sub: string;
  /** epoch ms */
  createdAt: number;
  absoluteExp: number;
  lastSeen: number;
  /** the token Gatehouse's own forms (sign-out, consent) must carry */
  csrf: string;
}

const isSessionRecord = (v: unknown): v is SessionRecord => {
  const r = v as Partial<SessionRecord> | null;
  return (
    !!r &&
    typeof r.sid === 'string' &&
    typeof r.sub === 'string' &&
    typeof r.createdAt === 'number' &&
    typeof r.absoluteExp === 'number' &&
    typeof r.lastSeen === 'number' &&
    typeof r.csrf === 'string'
  );
};

/** A resolved session: the identity the rest of the pipeline sees, and the access token forwarded upstream for it. */
export interface SessionIdentity {
  identity: VerifiedToken;
  token: string;
  record: SessionRecord;
}

export interface SessionDeps {
  readonly records: RecordStore;
  readonly revocations: Pick<RevocationStore, 'check'>;
  readonly idleTtlMs: number;
  readonly absoluteTtlMs: number;
  /** an access token for the session's user (carrying `sid`), valid at most until `until` (epoch ms); null when the user no longer exists */
  mint(record: SessionRecord, until: number): Promise<{ token: string; exp: number } | null>;
  verify(token: string): VerifiedToken | Promise<VerifiedToken>;
  readonly logger: Logger;
}

interface Local {
  /** the store key: the SHA-256 of the id (the local view is keyed by the id itself, so a request hashes nothing) */
  key: string;
  record: SessionRecord;
  /** when this instance last wrote lastSeen to the store */
  written: number;
  token: string | null;
  /** epoch seconds */
  tokenExp: number;
}

const KIND = 'session';
/** a minted access token is replaced this long before it expires */
const TOKEN_MARGIN_S = 60;

/**
 * Browser sessions (SPEC §7). The cookie holds an opaque 256-bit id; the
 * record lives in the store (memory or Redis) under the id's hash, with the
 * idle lifetime as its TTL. Reading a session costs no store round trip once
 * this instance has seen it: records are kept in a bounded local view, and
 * what can change elsewhere is caught without asking the store:
 * - sign-out and revocation revoke the session's `sid` (and `{"sub"}` a
 *   subject cut-off), which reach every instance's revocation mirror within
 *   1 s and are checked here on every request;
 * - idle time: activity is written back at most every tenth of the idle
 *   lifetime; a session that looks idle locally is re-read once before it is
 *   refused, since another instance may have served it.
 * The identity is the one an access token minted for the session's user
 * gives, so roles, scopes, revocation and identity headers work exactly as
 * for bearer tokens, and that token is what the upstream receives.
 */
export class SessionManager {
  private readonly local = new LRUCache<string, Local>({ max: 100_000 });
  private readonly writeEveryMs: number;

  constructor(private readonly deps: SessionDeps) {
    this.writeEveryMs = Math.max(1000, Math.floor(deps.idleTtlMs / 10));
  }

  /** A new session (a new id at every sign-in). Returns the cookie value and the record. */
  async create(sub: string, sid: string): Promise<{ id: string; record: SessionRecord }> {
    const now = Date.now();
    const record: SessionRecord = {
      sid,
      sub,
      createdAt: now,
      absoluteExp: now + this.deps.absoluteTtlMs,
      lastSeen: now,
      csrf: randomBytes(24).toString('base64url'),
    };
    const id = newSessionId();
    await this.write(sessionKey(id), record);
    return { id, record };
  }

  /** The session's identity, or null when there is none (unknown, expired, idle, revoked, user gone). Synchronous when this instance holds a fresh token for it. */
  resolve(id: string): SessionIdentity | null | Promise<SessionIdentity | null> {
    const entry = this.local.get(id);
    if (!entry) return this.load(id, sessionKey(id));
    return this.continue(id, entry);
  }

  /** The record of a live session (for its csrf token), or null. */
  async record(id: string): Promise<SessionRecord | null> {
    const r = await this.resolve(id);
    return r?.record ?? null;
  }

  /** Ends a session here and in the store (the caller revokes its `sid` so the fleet follows within 1 s). */
  async end(id: string): Promise<SessionRecord | null> {
    const key = sessionKey(id);
    const record = this.local.get(id)?.record ?? parseRecord((await this.deps.records.getRecord(KIND, key)) ?? null, isSessionRecord);
    this.local.delete(id);
    await this.deps.records.deleteRecord(KIND, key);
    return record;
  }

  private continue(id: string, entry: Local): SessionIdentity | null | Promise<SessionIdentity | null> {
    const now = Date.now();
    const r = entry.record;
    if (now >= r.absoluteExp || this.deps.revocations.check({ sub: r.sub, sid: r.sid, iat: Math.floor(r.createdAt / 1000) })) {
      this.local.delete(id);
      return null;
    }
    if (now - r.lastSeen >= this.deps.idleTtlMs) {
      // idle here; another instance may have served it since: ask the store once
      this.local.delete(id);
      return this.load(id, entry.key, r.lastSeen);
    }
    r.lastSeen = now;
    if (now - entry.written >= this.writeEveryMs) {
      entry.written = now;
      this.write(entry.key, r).catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'session activity could not be recorded'));
    }
    if (entry.token === null || entry.tokenExp - TOKEN_MARGIN_S <= now / 1000) return this.mint(id, entry);
    const verified = this.deps.verify(entry.token);
    const token = entry.token;
    if (verified instanceof Promise)
      return verified.then(
        (identity) => ({ identity, token, record: r }),
        () => this.dropToken(id, entry),
      );
    return { identity: verified, token, record: r };
  }

  private async load(id: string, key: string, idleSince?: number): Promise<SessionIdentity | null> {
    const record = parseRecord(await this.deps.records.getRecord(KIND, key), isSessionRecord);
    if (!record) return null;
    if (idleSince !== undefined && Date.now() - Math.max(record.lastSeen, 0) >= this.deps.idleTtlMs) return null;
    const entry: Local = { key, record, written: record.lastSeen, token: null, tokenExp: 0 };
    this.local.set(id, entry);
    return this.continue(id, entry);
  }

  private async mint(id: string, entry: Local): Promise<SessionIdentity | null> {
    const minted = await this.deps.mint(entry.record, entry.record.absoluteExp);
    if (!minted) {
      this.local.delete(id);
      return null;
    }
    entry.token = minted.token;
    entry.tokenExp = minted.exp;
    try {
      return { identity: await this.deps.verify(minted.token), token: minted.token, record: entry.record };
    } catch {
      return this.dropToken(id, entry);
    }
  }

  private dropToken(id: string, entry: Local): null {
    entry.token = null;
    this.local.delete(id);
    return null;
  }

  private write(key: string, record: SessionRecord): Promise<void> {
    const now = Date.now();
    const ttl = Math.min(this.deps.idleTtlMs, record.absoluteExp - now);
    return this.deps.records.putRecord(KIND, key, JSON.stringify(record), Math.max(1, Math.ceil(ttl / 1000)));
  }
}
