// The REST API, as the inbox uses it: the same endpoints any integration calls, with the
// agent's session token. Errors arrive as `{error: {code, message}}` and are thrown as
// ApiError so callers can show the message and branch on the code.

const TOKEN_KEY = "switchboard.session";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The stored session ({token, expires_at, agent}) or null when absent or expired. */
export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(TOKEN_KEY) || "null");
    if (session && session.token && session.expires_at > Date.now()) return session;
  } catch (_) {
    // A damaged entry is the same as none.
  }
  localStorage.removeItem(TOKEN_KEY);
  return null;
}

export function saveSession(session) {
  localStorage.setItem(TOKEN_KEY, JSON.stringify(session));
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
}

let onUnauthorized = () => {};

/** Called when the server no longer accepts the token (expired, revoked, logged out). */
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function request(method, path, body, { token, headers: extra } = {}) {
  const session = loadSession();
  const headers = { Accept: "application/json", ...extra };
  const bearer = token ?? session?.token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "offline", "The gateway cannot be reached. Check your connection.");
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (!response.ok) {
    const code = json?.error?.code ?? "http_" + response.status;
    const message = json?.error?.message ?? `The gateway answered ${response.status}.`;
    if (response.status === 401 && bearer) onUnauthorized();
    throw new ApiError(response.status, code, message);
  }
  return json;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body, options) => request("POST", path, body ?? {}, options),
  patch: (path, body) => request("PATCH", path, body),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

/**
 * The bytes at `path` (an authenticated download, such as an email attachment) as an object
 * URL. A plain link cannot carry the bearer token, so the inbox fetches and hands the browser
 * a blob; the caller revokes the URL when done.
 */
export async function blobUrl(path) {
  const session = loadSession();
  const headers = session?.token ? { Authorization: `Bearer ${session.token}` } : {};
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { headers });
  } catch (error) {
    throw new ApiError(0, "offline", "The gateway cannot be reached. Check your connection.");
  }
  if (!response.ok) {
    const json = await response.json().catch(() => null);
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, json?.error?.code ?? "http_" + response.status, json?.error?.message ?? `The gateway answered ${response.status}.`);
  }
  return URL.createObjectURL(await response.blob());
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** A fresh `Idempotency-Key` (random, 128 bits; `getRandomValues` also works on plain http). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * POST that may be sent twice without doing it twice: one `Idempotency-Key` for both tries, and
 * a second try after a second when the first got no answer (offline) or a server error. The
 * gateway answers the second with the first's result, so a reply is queued once.
 */
export async function postOnce(path, body) {
  const options = { headers: { "Idempotency-Key": idempotencyKey() } };
  try {
    return await api.post(path, body, options);
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 0 && error.status < 500)) throw error;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    return api.post(path, body, options);
  }
}
