// A complete OpenID Connect web app signing its users in with Gatehouse.
//
// It uses openid-client (npm install openid-client) and nothing else:
// discovery, the authorization code flow with PKCE, ID token validation,
// userinfo, refresh and RP-initiated logout. Run Gatehouse's demo
// (`npm start`), then:
//
//   node examples/oidc-web-app.mjs
//
// and open http://127.0.0.1:3000; sign in as alice@example.com /
// alice-password. Environment: ISSUER (default http://127.0.0.1:8080),
// CLIENT_ID (default demo-app), CLIENT_SECRET (set it for a confidential
// client; unset: a public client, PKCE alone), PORT (default 3000).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.ISSUER ?? 'http://127.0.0.1:8080');
const clientId = process.env.CLIENT_ID ?? 'demo-app';
const secret = process.env.CLIENT_SECRET;
const port = Number(process.env.PORT ?? 3000);
const base = `http://127.0.0.1:${port}`;

// plain http is only for a loopback demo; in production the issuer is https
const options = issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
const config = secret
  ? await oidc.discovery(issuer, clientId, undefined, oidc.ClientSecretBasic(secret), options)
  : await oidc.discovery(issuer, clientId, undefined, oidc.None(), options);

/** sign-ins in progress and signed-in users, by a random cookie value (a real app keeps these in its session store) */
const pending = new Map();
const sessions = new Map();

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const cookieOf = (req, name) => new RegExp(`(?:^|; )${name}=([A-Za-z0-9_-]+)`).exec(req.headers.cookie ?? '')?.[1];
const page = (res, body) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><meta charset="utf-8"><title>Orders</title><h1>Orders</h1>${body}`);
};
const redirect = (res, location, cookie) => {
  res.writeHead(302, { location, ...(cookie ? { 'set-cookie': cookie } : {}) });
  res.end();
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', base);
  try {
    if (url.pathname === '/login') {
      const id = randomBytes(16).toString('base64url');
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      pending.set(id, { verifier, state, nonce });
      const to = oidc.buildAuthorizationUrl(config, {
        redirect_uri: `${base}/callback`,
        scope: 'openid profile email orders:read',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      return redirect(res, to.href, `login=${id}; HttpOnly; SameSite=Lax; Path=/`);
    }
    if (url.pathname === '/callback') {
      const id = cookieOf(req, 'login');
      const p = id && pending.get(id);
      if (!p) return page(res, '<p>This sign-in has expired. <a href="/login">Sign in again</a></p>');
      pending.delete(id);
      // checks state, iss (RFC 9207), the code exchange with PKCE, and the ID token (signature, iss, aud, nonce, exp)
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: p.verifier,
        expectedState: p.state,
        expectedNonce: p.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      const user = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      const sid = randomBytes(16).toString('base64url');
      sessions.set(sid, { user, tokens, idToken: tokens.id_token });
      return redirect(res, '/', `app=${sid}; HttpOnly; SameSite=Lax; Path=/`);
    }
    const sid = cookieOf(req, 'app');
    const session = sid && sessions.get(sid);
    if (url.pathname === '/refresh' && session) {
      // a new access and refresh token (the old refresh token is now spent: Gatehouse rotates them)
      session.tokens = await oidc.refreshTokenGrant(config, session.tokens.refresh_token);
      return redirect(res, '/');
    }
    if (url.pathname === '/logout' && session) {
      sessions.delete(sid);
      const to = oidc.buildEndSessionUrl(config, { id_token_hint: session.idToken, post_logout_redirect_uri: `${base}/` });
      return redirect(res, to.href, 'app=; Max-Age=0; Path=/');
    }
    if (!session) return page(res, '<p>You are not signed in. <a href="/login">Sign in</a></p>');
    const { user, tokens } = session;
    page(
      res,
      `<p>Signed in as <strong id="name">${esc(user.name ?? user.sub)}</strong> (<span id="email">${esc(user.email ?? '')}</span>).</p>
<p>Access token expires in ${esc(tokens.expiresIn() ?? '?')} s; scope <code>${esc(tokens.scope ?? '')}</code>.</p>
<p><a href="/refresh">Refresh the tokens</a> · <a href="/logout">Sign out</a></p>`,
    );
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`example app on ${base} (issuer ${issuer.href}, client ${clientId})`));
