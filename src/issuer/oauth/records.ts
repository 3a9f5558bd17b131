import { createHash, randomBytes } from 'node:crypto';
import { parseRecord, type RecordStore } from '../../sessions/records.js';
import type { SessionStore } from '../../store/types.js';

/** The records, and the store's atomic counter (which numbers the login sessions a browser session started). */
type Store = RecordStore & Pick<SessionStore, 'hit' | 'peek'>;

/** An authorization request that passed every check, waiting for sign-in and consent (kept server-side; only its id travels). */
export interface AuthorizationRequest {
  clientId: string;
  /** exactly as the client sent it (it matched a registered one) */
  redirectUri: string;
  state?: string | undefined;
  /** PKCE S256 challenge */
  challenge: string;
  scopes: string[];
  nonce?: string | undefined;
  prompt: string[];
  /** seconds (OIDC max_age) */
  maxAge?: number | undefined;
  /** epoch ms */
  createdAt: number;
  /** set when the consent page is shown: whose consent it asks, and the form's token */
  consentFor?: string | undefined;
  csrf?: string | undefined;
}

/** What a code stands for; stored under the code's SHA-256, so a store dump holds no usable code. */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  challenge: string;
  sub: string;
  scopes: string[];
  nonce?: string | undefined;
  /** epoch seconds the user signed in */
  authTime: number;
  /** the browser session's login session id (the ID token's `sid`) */
  sessionSid: string;
  /** the login session (refresh family) the tokens get; also what a second redemption revokes */
  familySid: string;
  /** epoch ms */
  expiresAt: number;
}

const isRequest = (v: unknown): v is AuthorizationRequest => {
  const r = v as Partial<AuthorizationRequest> | null;
  return !!r && typeof r.clientId === 'string' && typeof r.redirectUri === 'string' && typeof r.challenge === 'string' && Array.isArray(r.scopes);
};
const isCode = (v: unknown): v is CodeGrant => {
  const c = v as Partial<CodeGrant> | null;
  return !!c && typeof c.clientId === 'string' && typeof c.sub === 'string' && typeof c.familySid === 'string' && typeof c.expiresAt === 'number';
};
const isScopes = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

const REQUEST_ID = /^[A-Za-z0-9_-]{22}$/;
/** how long a user may take to sign in and consent */
const REQUEST_TTL_SECONDS = 15 * 60;
const hash = (code: string) => createHash('sha256').update(code, 'utf8').digest('base64url');

/**
 * The OAuth provider's state, in the shared store so that any instance of a
 * fleet can continue what another began: pending authorization requests,
 * codes (single-use: taken atomically), which login session each code
 * started, and remembered consents.
 */
export class OAuthRecords {
  constructor(private readonly store: Store) {}

  async saveRequest(request: AuthorizationRequest, id = randomBytes(16).toString('base64url')): Promise<string> {
    await this.store.putRecord('oauth-request', id, JSON.stringify(request), REQUEST_TTL_SECONDS);
    return id;
  }

  async request(id: string | undefined): Promise<AuthorizationRequest | null> {
    if (id === undefined || !REQUEST_ID.test(id)) return null;
    return parseRecord(await this.store.getRecord('oauth-request', id), isRequest);
  }

  /** The request, removed: it ends in one code or one refusal. */
  async finishRequest(id: string): Promise<AuthorizationRequest | null> {
    if (!REQUEST_ID.test(id)) return null;
    return parseRecord(await this.store.takeRecord('oauth-request', id), isRequest);
  }

  /** A sign-out waiting for its confirmation form: where the browser goes afterwards (a registered post-logout URI, or the sign-in page). */
  async saveLogout(target: string): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    await this.store.putRecord('oauth-logout', id, target, REQUEST_TTL_SECONDS);
    return id;
  }

  /** The pending sign-out's target; it stays until finishLogout, so a refused (forged) form consumes nothing. */
  async logoutTarget(id: string | undefined): Promise<string | null> {
    if (id === undefined || !REQUEST_ID.test(id)) return null;
    return this.store.getRecord('oauth-logout', id);
  }

  async finishLogout(id: string): Promise<void> {
    await this.store.deleteRecord('oauth-logout', id);
  }

  /** A new code for `grant`; the family it will start is remembered for as long as its refresh tokens could live. */
  async issueCode(grant: CodeGrant, ttlSeconds: number, familyTtlSeconds: number): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    const key = hash(code);
    await this.store.putRecord('oauth-code-family', key, grant.familySid, familyTtlSeconds);
    await this.store.putRecord('oauth-code', key, JSON.stringify(grant), ttlSeconds);
    return code;
  }

  /** The code's grant, removed in the same step (a code is redeemed once); else the family it started, if it was ever issued. */
  async redeem(code: string): Promise<{ grant: CodeGrant } | { issuedFamily: string | null }> {
    const key = hash(code);
    const grant = parseRecord(await this.store.takeRecord('oauth-code', key), isCode);
    if (grant) return { grant };
    return { issuedFamily: await this.store.getRecord('oauth-code-family', key) };
  }

  /**
   * Remembers that the browser session `sessionSid` started the client's
   * login session `familySid`, so that signing out ends the client's tokens
   * too. Each link gets its own record under a number from the store's
   * atomic counter: two clients redeeming at once never overwrite each other.
   */
  async linkFamily(sessionSid: string, familySid: string, ttlSeconds: number): Promise<void> {
    const { count } = await this.store.hit(`oauth-links:${sessionSid}`, ttlSeconds);
    await this.store.putRecord('oauth-link', `${sessionSid}:${count}`, familySid, ttlSeconds);
  }

  /** The client login sessions a browser session started. */
  async linkedFamilies(sessionSid: string): Promise<string[]> {
    const { count } = await this.store.peek(`oauth-links:${sessionSid}`);
    const out: string[] = [];
    for (let i = 1; i <= count; i++) {
      const sid = await this.store.getRecord('oauth-link', `${sessionSid}:${i}`);
      if (sid !== null) out.push(sid);
    }
    return out;
  }

  async consent(sub: string, clientId: string): Promise<string[]> {
    return parseRecord(await this.store.getRecord('oauth-consent', consentKey(sub, clientId)), isScopes) ?? [];
  }

  /** Remembers that `sub` let `clientId` have `scopes` (added to what it agreed to before). */
  async addConsent(sub: string, clientId: string, scopes: readonly string[], ttlSeconds: number): Promise<void> {
    const before = await this.consent(sub, clientId);
    await this.store.putRecord('oauth-consent', consentKey(sub, clientId), JSON.stringify([...new Set([...before, ...scopes])]), ttlSeconds);
  }
}

const consentKey = (sub: string, clientId: string) => hash(`${sub}\n${clientId}`);
