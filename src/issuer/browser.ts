import type { SessionsConfig } from '../config/schema.js';
import type { CookieSettings } from '../http/cookies.js';
import type { SessionGate } from '../pipeline/context.js';
import { Flows } from '../sessions/flows.js';
import { SessionManager } from '../sessions/sessions.js';
import type { IssuerDeps } from './deps.js';
import type { BrowserDeps } from './sign-in.js';
import { sessionAccessToken } from './token-response.js';

/** What the browser sign-in needs besides the token service: its config and a page renderer. */
export interface BrowserSetup {
  readonly sessions: SessionsConfig;
  readonly publicOrigin: string;
  page: BrowserDeps['page'];
}

/**
 * Browser sign-in for one runtime (SPEC §7): the session manager and flows
 * on the store, the gate the pipeline stages use, and the sign-in pages'
 * dependencies. A session's identity is that of an access token minted for
 * its user with the session's `sid`, so revoking the login session (sign-out,
 * `{"sid"}`, `{"sub"}`) ends it on every instance through the revocation
 * mirror.
 */
export function browserSignIn(deps: IssuerDeps, setup: BrowserSetup): { gate: SessionGate; browser: BrowserDeps } {
  const users = deps.users;
  const sessions = new SessionManager({
    records: deps.store,
    revocations: deps.store,
    idleTtlMs: setup.sessions.idleTtlMs,
    absoluteTtlMs: setup.sessions.absoluteTtlMs,
    mint: async (record, until) => {
      const user = users?.get(record.sub);
      return user ? sessionAccessToken(deps, user, record.sid, until) : null;
    },
    verify: (token) => deps.verifier.verify(token),
    logger: deps.logger,
  });
  const flows = new Flows(deps.store);
  const cookie: CookieSettings = { name: setup.sessions.cookie, secure: setup.sessions.secureCookie };
  const gate: SessionGate = {
    cookieName: cookie.name,
    publicOrigin: setup.publicOrigin,
    resolve: (id) => sessions.resolve(id),
    signInUrl: async (returnTo) => `/auth/sign-in?flow=${(await flows.start(returnTo)).id}`,
  };
  const browser: BrowserDeps = { sessions, flows, cookie, publicOrigin: setup.publicOrigin, absoluteTtlMs: setup.sessions.absoluteTtlMs, page: setup.page };
  return { gate, browser };
}
