// The API, from the browser. The credential (an access token, or an API key) lives in this module's
// memory only: never in localStorage, sessionStorage, IndexedDB or a cookie. Reloading the page or
// signing out forgets it. A 401 forgets it too and sends the user back to sign-in.

export const DYNAMIC = "/coatro/v1/pop/dynamic/bulk";
export const CANONICAL = "/coatro/v1/pop/bulk";
export const TOKEN_PATH = "/coatro/v1/oauth/token";
export const SCHEMAS = "/coatro/v1/pop/dynamic/schemas";

let credential = null; // {kind: "token" | "key", value, tenant}
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, message, fields, hint) {
    super(message);
    this.status = status;
    this.fields = fields || [];
    this.hint = hint;
  }
}

export function onSignOut(listener) {
  listeners.add(listener);
}

export function signedIn() {
  return credential !== null;
}

export function tenant() {
  return credential ? credential.tenant : null;
}

export function signOut(reason) {
  credential = null;
  for (const listener of listeners) listener(reason || null);
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

// OAuth2 client credentials (RFC 6749 4.4), once: the secret is sent here and then dropped by the caller.
export async function signInWithClient(clientId, clientSecret) {
  let response;
  try {
    response = await fetch(TOKEN_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "The API could not be reached.", [], "Check your connection and retry.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const busy = response.status === 503 || response.status === 429;
    throw new ApiError(busy ? 503 : response.status,
      response.status === 401 ? "That client id and secret were not accepted." : body.error_description || body.error || `Sign-in failed (${response.status}).`,
      [], busy ? null : "Check the client id and secret (make dev prints the local ones).");
  }
  credential = { kind: "token", value: body.access_token, tenant: claims(body.access_token).tenant || "?" };
  return credential.tenant;
}

// An API key instead: checked, and the tenant learnt, by listing one job.
export async function signInWithKey(key) {
  credential = { kind: "key", value: key, tenant: null };
  try {
    const page = await api(`${DYNAMIC}/jobs?pageSize=1`, { quiet401: true });
    credential.tenant = page.tenantId;
    return page.tenantId;
  } catch (error) {
    credential = null;
    if (error.status === 401) throw new ApiError(401, "That API key was not accepted.", [], "Check the key (make dev prints the local one).");
    throw error;
  }
}

function authHeaders() {
  if (!credential) return {};
  return credential.kind === "token"
    ? { Authorization: `Bearer ${credential.value}` }
    : { "X-API-Key": credential.value };
}

// One call to the API: JSON in, JSON out; problem+json becomes an ApiError naming its fields.
export async function api(path, options = {}) {
  const { method = "GET", body, quiet401 = false, raw = false } = options;
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "The API could not be reached.", [], "Check your connection and retry.");
  }
  if (raw) return response;
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  if (response.status === 401 && !quiet401) {
    signOut("Your session has ended: sign in again.");
  }
  const problem = data || {};
  const message = problem.detail || problem.title || `The API answered ${response.status}.`;
  throw new ApiError(response.status, message, problem.errors || [],
    response.status === 403 ? "This credential lacks the scope this page needs." : undefined);
}

export function query(params) {
  const out = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") out.set(name, value);
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

// A PUT of a file to its signed URL with upload progress (fetch reports none; XMLHttpRequest does).
export function putFile(url, file, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("Content-Type", contentType);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve();
      else reject(new ApiError(request.status, `The upload was refused (${request.status}).`, [], request.status === 503 ? null : "Request a new upload and try again."));
    });
    request.addEventListener("error", () => reject(new ApiError(0, "The upload could not reach the storage.", [], "Check your connection and retry.")));
    request.send(file);
  });
}
