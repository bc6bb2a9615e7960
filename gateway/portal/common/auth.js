// Sign-in with OpenID Connect: the authorization code flow with PKCE (S256), as a public client.
//
// Tokens live in this module's variables only: never in localStorage, sessionStorage or a
// cookie, so a reload signs the reader out (the authorization server's own session may sign
// them in again without a password). Only the state, nonce and PKCE verifier of one redirect
// are kept in sessionStorage, and removed as soon as the reader comes back.

const PENDING_KEY = "smartcity.oidc.pending";
const REFRESH_MARGIN_MS = 30_000;
const SCOPE = "openid profile";
const START_PARAM = "sign_in"; // ?sign_in=1: start signing in at once (after changing origin)

let discovery = null; // the provider's metadata, once fetched
let client = null; // {clientId, redirectPath}: this page as a registered application
let tokens = null; // {access, refresh, idToken, expiresAt}
let profile = {}; // what userinfo said about the reader
let refreshing = null; // the refresh in flight, shared by concurrent callers
const listeners = new Set();

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT, unverified: for display and the nonce check, never for trust. */
export function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(payload), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function notify() {
  for (const listener of listeners) listener(signedIn());
}

/** Call `listener(isSignedIn)` whenever the reader signs in or out. */
export function onChange(listener) {
  listeners.add(listener);
}

/** The provider's metadata; null when it offers no authorization code flow yet. */
export async function provider() {
  if (discovery === null) {
    const response = await fetch("/.well-known/openid-configuration", {
      headers: { Accept: "application/json" },
      credentials: "omit",
    });
    if (!response.ok) throw new Error(`discovery: HTTP ${response.status}`);
    discovery = await response.json();
  }
  const ready =
    discovery.authorization_endpoint &&
    discovery.token_endpoint &&
    (discovery.code_challenge_methods_supported || ["S256"]).includes("S256");
  return ready ? discovery : null;
}

/** Which registered application this page is, and where the code comes back to. */
export function configure({ clientId, redirectPath }) {
  client = { clientId, redirectPath };
}

/** Where the code comes back: exactly `{issuer}/` or `{issuer}/office/`, as registered. */
function redirectUri(meta) {
  return `${meta.issuer.replace(/\/$/, "")}${client.redirectPath}`;
}

/** True (and the URL cleaned) when this page was asked to start signing in at once. */
export function startRequested() {
  const params = new URLSearchParams(window.location.search);
  if (params.get(START_PARAM) !== "1") return false;
  cleanUrl(window.location.hash);
  return true;
}

export function signedIn() {
  return tokens !== null;
}

/** The reader's claims (name, preferred_username, ...): the ID token's and userinfo's. */
export function identity() {
  return tokens ? { ...claimsOf(tokens.idToken || tokens.access), ...profile } : null;
}

async function userinfo(meta) {
  if (!meta.userinfo_endpoint) return {};
  // a member of staff's first sign-in, before a second factor: the token opens enrolment only
  if (claimsOf(tokens.access).enrol_2fa) return {};
  const response = await fetch(meta.userinfo_endpoint, {
    headers: { Authorization: `Bearer ${tokens.access}`, Accept: "application/json" },
    credentials: "omit",
  });
  return response.ok ? response.json() : {};
}

/** The access token's claims (roles, department, aud, ...). */
export function accessClaims() {
  return tokens ? claimsOf(tokens.access) : null;
}

/**
 * Go to the authorization server; `returnTo` (a #route) is where to land afterwards. Options:
 * `loginHint` (the username to fill in), `prompt` ("login": the form again, e.g. to act for an
 * enterprise).
 */
export async function signIn(returnTo = window.location.hash, { loginHint = "", prompt = "" } = {}) {
  const meta = await provider();
  if (!meta) throw new Error("sign-in is not available");
  const home = new URL(redirectUri(meta));
  if (home.origin !== window.location.origin) {
    // the code can only come back to the issuer's origin (localhost, not 127.0.0.1, say):
    // continue there, where this page signs in by itself
    home.search = `${START_PARAM}=1`;
    home.hash = returnTo;
    window.location.assign(home.href);
    return;
  }
  const pending = {
    state: randomString(),
    nonce: randomString(),
    verifier: randomString(48),
    returnTo,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.clientId,
    redirect_uri: redirectUri(meta),
    scope: SCOPE,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
    ...(loginHint ? { login_hint: loginHint } : {}),
    ...(prompt ? { prompt } : {}),
  }).toString();
  window.location.assign(url.href);
}

async function tokenRequest(fields) {
  const meta = await provider();
  const response = await fetch(meta.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: client.clientId, ...fields }).toString(),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error_description || body.error || `token endpoint: HTTP ${response.status}`);
  }
  return body;
}

function keep(answer, previous = null) {
  tokens = {
    access: answer.access_token,
    // a refresh answer may keep the same refresh token (no rotation) or the ID token
    refresh: answer.refresh_token || previous?.refresh || "",
    idToken: answer.id_token || previous?.idToken || "",
    expiresAt: Date.now() + Number(answer.expires_in || 300) * 1000,
  };
}

function cleanUrl(returnTo) {
  const url = new URL(window.location.href);
  url.search = "";
  url.hash = returnTo || "";
  window.history.replaceState(null, "", url.href);
}

/**
 * Finish a sign-in when the authorization server sent the reader back (`?code=&state=&iss=`
 * or `?error=`). Returns null when this is no callback, else {ok, error?}.
 */
export async function completeSignIn() {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") && !params.has("error")) return null;
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? JSON.parse(raw) : null;
  cleanUrl(pending?.returnTo);
  if (!pending || params.get("state") !== pending.state) {
    return { ok: false, error: "state" };
  }
  if (params.has("error")) {
    return { ok: false, error: params.get("error_description") || params.get("error") };
  }
  const meta = await provider();
  if (params.has("iss") && params.get("iss") !== meta.issuer) {
    return { ok: false, error: "issuer" }; // RFC 9207: a mix-up attack, or a misconfiguration
  }
  try {
    const answer = await tokenRequest({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri(meta),
      code_verifier: pending.verifier,
    });
    if (answer.id_token && claimsOf(answer.id_token).nonce !== pending.nonce) {
      return { ok: false, error: "nonce" };
    }
    keep(answer);
    profile = await userinfo(meta);
  } catch (error) {
    return { ok: false, error: error.message };
  }
  notify();
  return { ok: true };
}

/** A fresh access token (refreshed through the token endpoint when about to expire), or null. */
export async function accessToken() {
  if (!tokens) return null;
  if (Date.now() < tokens.expiresAt - REFRESH_MARGIN_MS) return tokens.access;
  if (!tokens.refresh) return tokens.access;
  refreshing ??= tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh })
    .then((answer) => keep(answer, tokens))
    .catch(() => {
      tokens = null; // the session ended elsewhere: sign in again
      notify();
    })
    .finally(() => {
      refreshing = null;
    });
  await refreshing;
  return tokens ? tokens.access : null;
}

/** Sign out: revoke the refresh token, forget everything, end the provider's session. */
export async function signOut() {
  const meta = await provider();
  const ended = tokens;
  tokens = null;
  profile = {};
  notify();
  if (!ended || !meta) return;
  if (meta.revocation_endpoint && ended.refresh) {
    await fetch(meta.revocation_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        token: ended.refresh,
        token_type_hint: "refresh_token",
        client_id: client.clientId,
      }).toString(),
      credentials: "omit",
    }).catch(() => {});
  }
  if (meta.end_session_endpoint) {
    const url = new URL(meta.end_session_endpoint);
    url.search = new URLSearchParams({
      client_id: client.clientId,
      post_logout_redirect_uri: redirectUri(meta),
      ...(ended.idToken ? { id_token_hint: ended.idToken } : {}),
    }).toString();
    window.location.assign(url.href);
  }
}
