// The one way pages talk to the server: the same JSON API scripts use. With authentication
// on, the browser's session cookie (set by POST /login, HttpOnly) goes with every request.
import { buildSearch } from "./url.js";

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

export function goToLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(next)}`);
}

let redirecting = false;

export async function apiGet(path, params, { signal } = {}) {
  let response;
  try {
    response = await fetch(`/api${path}${buildSearch(params || {})}`, {
      headers: { Accept: "application/json" },
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached");
  }
  if (response.status === 401) {
    // The session ended (logout in another tab, idle time, a restart): log in again.
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

// With auth, the file is fetched first, so an ended session leads to the login page instead
// of a download of the 401 answer.
export async function downloadWithAuth(url, fallbackName) {
  const response = await fetch(url);
  if (response.status === 401) { goToLogin(); return; }
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
