// DOM building without HTML strings: log text is attacker-controlled, so every piece of
// data becomes a text node. `h` never sets innerHTML and refuses inline event attributes.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = String(value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key.startsWith("on")) throw new Error(`refusing inline handler ${key}`);
      else if (key === "style") throw new Error("use classes, not inline styles");
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

/* ---------- formatting ---------- */

const numberFormat = new Intl.NumberFormat();
const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const shortTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function fmtNumber(value, digits) {
  if (value === undefined || value === null || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (digits !== undefined) {
    return n.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  return numberFormat.format(n);
}

export function fmtBytes(value) {
  if (value === undefined || value === null || value === "") return "–";
  let n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  const units = ["B", "KB", "MB", "GB", "TB"];
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return `${n.toLocaleString(undefined, { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
}

export function fmtDelay(seconds) {
  if (seconds === undefined || seconds === null || seconds === "") return "–";
  const n = Number(seconds);
  if (!Number.isFinite(n)) return String(seconds);
  if (n < 60) return `${n.toLocaleString(undefined, { maximumFractionDigits: 2 })} s`;
  if (n < 3600) return `${Math.round(n / 60)} min`;
  if (n < 86400) return `${(n / 3600).toLocaleString(undefined, { maximumFractionDigits: 1 })} h`;
  return `${(n / 86400).toLocaleString(undefined, { maximumFractionDigits: 1 })} d`;
}

// Accepts ISO strings (with Z) and epoch seconds.
export function parseTime(value) {
  if (value === undefined || value === null || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function fmtTime(value, { short = false } = {}) {
  const date = parseTime(value);
  if (!date) return value ? String(value) : "–";
  return (short ? shortTimeFormat : timeFormat).format(date);
}

export function fmtHour(value) {
  const date = parseTime(value);
  return date ? hourFormat.format(date) : String(value);
}

export function utcTitle(value) {
  const date = parseTime(value);
  return date ? `${date.toISOString().replace(".000Z", "Z")} (UTC)` : "";
}

export function ago(value) {
  const date = parseTime(value);
  if (!date) return "–";
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const abs = Math.abs(seconds);
  const units = [["d", 86400], ["h", 3600], ["min", 60]];
  for (const [label, size] of units) {
    if (abs >= size) return seconds >= 0 ? `${Math.floor(abs / size)} ${label} ago` : `in ${Math.floor(abs / size)} ${label}`;
  }
  return seconds >= 0 ? `${abs} s ago` : `in ${abs} s`;
}

/** A <time> element: local time as text, UTC on hover. */
export function timeEl(value, opts) {
  const date = parseTime(value);
  return h("time", { datetime: date ? date.toISOString() : null, title: utcTitle(value), class: "nowrap" },
    fmtTime(value, opts));
}

/* ---------- badges ---------- */

const STATUS_TONES = {
  delivered: "green", sent: "green", clean: "green", running: "green", healthy: "green", ok: "green",
  bounced: "red", rejected: "red", reject: "red", banned: "red", failed: "red", error: "red", stopped: "red",
  expired: "red", virus: "red", exited: "red", dead: "red", unhealthy: "red",
  deferred: "amber", warning: "amber", greylist: "amber", "soft reject": "amber", pending: "gray",
  "add header": "amber", "rewrite subject": "amber", hold: "amber", scheduled: "blue", active: "blue",
  spam: "purple", quarantined: "purple", incoming: "blue", maildrop: "blue",
  "no action": "green", discarded: "amber", stored: "green", fileinto: "green", redirect: "blue",
  vacation: "blue", store_failed: "red", "auth failure": "red",
};

export function toneFor(value) {
  return STATUS_TONES[String(value || "").toLowerCase()] || "gray";
}

export function badge(text, tone, title) {
  if (text === undefined || text === null || text === "") return null;
  return h("span", { class: `badge ${tone || toneFor(text)}`, title }, String(text));
}

export function statusBadge(status) {
  return badge(status || "unknown", toneFor(status));
}

const DIRECTION_TONES = { inbound: "blue", outbound: "purple", internal: "teal" };
const DIRECTION_ARROWS = { inbound: "↓", outbound: "↑", internal: "↔" };

export function directionBadge(direction) {
  const d = direction || "unknown";
  return h("span", { class: `badge outline ${DIRECTION_TONES[d] || "gray"}` }, `${DIRECTION_ARROWS[d] || "·"} ${d}`);
}

export function spamBadge(isSpam, score) {
  const scoreText = score === undefined || score === null ? "" : ` ${fmtNumber(score, 1)}`;
  if (isSpam) return h("span", { class: "badge purple", title: "Rspamd classified this as spam" }, `spam${scoreText}`);
  if (scoreText) return h("span", { class: "badge gray", title: "Rspamd score" }, scoreText.trim());
  return null;
}

/* ---------- states ---------- */

export function stateBox(kind, title, detail) {
  return h("div", { class: `state ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("div", { class: "state-title" }, title),
    detail ? h("div", { class: "small" }, detail) : null);
}

export function loadingBox() {
  return h("div", { class: "state small", role: "status", "aria-busy": "true" },
    h("div", { class: "skeleton" }), h("span", { class: "muted small" }, "Loading…"));
}

export function errorBox(error, what = "data") {
  if (error && error.status === 502) {
    return stateBox("error", "mailcow is unreachable", error.detail);
  }
  if (error && error.status === 404) {
    return stateBox("error", "Not found", error.detail);
  }
  if (error && error.status === 0) {
    return stateBox("error", "The server cannot be reached", "Check that Mailcow Logs Viewer is running.");
  }
  return stateBox("error", `Could not load ${what}`, error ? error.detail || error.message : "");
}

export function emptyBox(title = "Nothing here", detail) {
  return stateBox("empty", title, detail);
}

export function table(headers, rows, { className = "data", stack = false } = {}) {
  const labels = headers.map((header) => (header && typeof header === "object" ? header.label : header));
  // Column names for the card layout (lib/fit.js), used whenever the table does not fit.
  for (const row of rows) Array.from(row.children).forEach((td, i) => { if (typeof labels[i] === "string") td.dataset.label = labels[i]; });
  const head = h("thead", null, h("tr", null, headers.map((header) => {
    if (header && typeof header === "object") return h("th", { class: header.class || null, scope: "col" }, header.label);
    return h("th", { scope: "col" }, header);
  })));
  const body = h("tbody", null, rows);
  return h("div", { class: "table-wrap" }, h("table", { class: stack ? `${className} stack` : className }, head, body));
}

export function dash(value) {
  return value === undefined || value === null || value === "" ? "–" : String(value);
}

export function toast(text) {
  const el = h("div", { class: "toast", role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 2200);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    const area = h("textarea", { class: "visually-hidden", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
    area.remove();
    return ok;
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Any JSON value as a readable node: times localised, booleans as yes/no, objects as JSON text. */
export function valueNode(value) {
  if (value === undefined || value === null || value === "") return h("span", { class: "muted" }, "–");
  if (typeof value === "boolean") return badge(value ? "yes" : "no", value ? "green" : "gray");
  if (typeof value === "number") return document.createTextNode(fmtNumber(value));
  if (typeof value === "string" && ISO_TIME.test(value)) return timeEl(value);
  if (Array.isArray(value)) {
    if (!value.length) return h("span", { class: "muted" }, "none");
    if (value.every((v) => typeof v !== "object" || v === null)) return document.createTextNode(value.join(", "));
    return h("code", { class: "wrap" }, JSON.stringify(value));
  }
  if (typeof value === "object") return h("code", { class: "wrap" }, JSON.stringify(value));
  return document.createTextNode(String(value));
}

export function humanKey(key) {
  return String(key).replace(/_/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}
