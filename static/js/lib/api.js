// The one way pages talk to the server: the same JSON API scripts use, with Basic auth
// credentials from sessionStorage when authentication is on.
import { buildSearch } from "./url.js";

const AUTH_KEY = "mlv-auth";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || `HTTP ${status}`;
  }
}

export function authEnabled() {
  return document.body.dataset.auth === "on";
}

export function storedAuth() {
  try { return sessionStorage.getItem(AUTH_KEY); } catch (e) { return null; }
}

export function storeAuth(username, password) {
  const token = btoa(unescape(encodeURIComponent(`${username}:${password}`)));
  sessionStorage.setItem(AUTH_KEY, token);
  return token;
}

export function clearAuth() {
  try { sessionStorage.removeItem(AUTH_KEY); } catch (e) { /* ignore */ }
}

export function authHeaders() {
  const token = storedAuth();
  return token ? { Authorization: `Basic ${token}` } : {};
}

export function goToLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

let redirecting = false;

export async function apiGet(path, params, { signal } = {}) {
  if (authEnabled() && !storedAuth()) {
    if (!redirecting) { redirecting = true; goToLogin(); }
    throw new ApiError(401, "Authentication required");
  }
  let response;
  try {
    response = await fetch(`/api${path}${buildSearch(params || {})}`, {
      headers: { Accept: "application/json", ...authHeaders() },
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached");
  }
  if (response.status === 401) {
    clearAuth();
    if (!redirecting) { redirecting = true; goToLogin(); }
    throw new ApiError(401, "Authentication required");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const detail = body && (body.detail || body.error);
    throw new ApiError(response.status, typeof detail === "string" ? detail : `HTTP ${response.status}`);
  }
  return body;
}

// A CSV link works as a plain link without auth; with auth, the file is fetched with the
// header and handed to the browser as a download.
export async function downloadWithAuth(url, fallbackName) {
  const response = await fetch(url, { headers: authHeaders() });
  if (response.status === 401) { clearAuth(); goToLogin(); return; }
  if (!response.ok) throw new ApiError(response.status, `Export failed (HTTP ${response.status})`);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : fallbackName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
