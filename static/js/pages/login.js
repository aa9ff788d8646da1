// Checks the credentials against the API (GET /api/info with a Basic header) and keeps
// them in sessionStorage for this browser session.
import { storeAuth, clearAuth, storedAuth } from "../lib/api.js";
import { $ } from "../lib/dom.js";

// Only same-site paths: an open redirect through ?next= would help phishing.
function nextUrl() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\") || next.startsWith("/login")) return "/";
  return next;
}

async function check(token) {
  const response = await fetch("/api/info", { headers: { Authorization: `Basic ${token}`, Accept: "application/json" }, cache: "no-store" });
  if (response.ok) return null;
  if (response.status === 401) return "Wrong username or password.";
  let detail = null;
  try { detail = (await response.json()).detail; } catch (e) { detail = null; }
  return detail || `Login failed (HTTP ${response.status}).`;
}

const form = $("#login-form");
const errorBox = $("#login-error");
const submit = $("#login-submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  submit.disabled = true;
  submit.textContent = "Checking…";
  const token = storeAuth(form.elements.username.value, form.elements.password.value);
  let problem;
  try {
    problem = await check(token);
  } catch (e) {
    problem = "The server cannot be reached.";
  }
  if (!problem) {
    location.assign(nextUrl());
    return;
  }
  clearAuth();
  errorBox.textContent = problem;
  errorBox.hidden = false;
  submit.disabled = false;
  submit.textContent = "Log in";
  form.elements.password.select();
});

// Already signed in this session (e.g. the back button): go on if the credentials still work.
const existing = storedAuth();
if (existing) {
  check(existing).then((problem) => { if (!problem) location.assign(nextUrl()); else clearAuth(); }).catch(() => {});
}
