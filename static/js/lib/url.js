// Filters live in the URL query, so links, reloads and the back button keep them.

export function readParams() {
  return Object.fromEntries(new URLSearchParams(location.search).entries());
}

// Several mailcow servers: the page shows the one picked in the top bar, kept in the URL as
// ?server=NAME. Every query string built here carries it (API requests, exports, links between
// pages), unless the params name a server themselves; "" or null there means all servers.
export function serverNames() {
  const names = document.body.dataset.servers;
  return names ? names.split(" ") : [];
}

export function chosenServer() {
  return new URLSearchParams(location.search).get("server") || "";
}

export function buildSearch(params) {
  const usp = new URLSearchParams();
  if (!("server" in params) && chosenServer()) usp.set("server", chosenServer());
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    usp.set(key, String(value));
  }
  const text = usp.toString();
  return text ? `?${text}` : "";
}

export function writeParams(params, { replace = false } = {}) {
  const url = location.pathname + buildSearch(params) + location.hash;
  if (url === location.pathname + location.search + location.hash) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

/** Time range presets: the API takes start_date; a preset is resolved at each request. */
export const RANGES = [
  ["", "Any time"],
  ["1h", "Last hour"],
  ["6h", "Last 6 hours"],
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
  ["custom", "Custom…"],
];

const RANGE_SECONDS = { "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800, "30d": 2592000 };

export function rangeStart(range) {
  const seconds = RANGE_SECONDS[range];
  if (!seconds) return null;
  return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The API parameters for a range preset or custom start/end in the URL state. */
export function dateParams(state) {
  if (state.range && state.range !== "custom") {
    return { start_date: rangeStart(state.range), end_date: null };
  }
  return { start_date: state.start_date || null, end_date: state.end_date || null };
}

// <input type="datetime-local"> speaks local wall time; the API speaks UTC ISO.
export function localInputToIso(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function isoToLocalInput(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
