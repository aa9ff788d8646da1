// Message details: rendered from GET /api/message/{key}/details, on its own page or in the
// side panel. Every value from the API becomes text; nothing is parsed as HTML.
import { apiGet } from "./api.js";
import {
  h, timeEl, fmtNumber, fmtBytes, fmtDelay, statusBadge, directionBadge, spamBadge, badge, toneFor,
  errorBox, emptyBox, loadingBox, table, dash, copyText, toast,
} from "./dom.js";
import { filterLink, serverHeading, serverCell } from "./common.js";

const TABS = [
  ["overview", "Overview"],
  ["delivery", "Delivery"],
  ["spam", "Spam analysis"],
  ["security", "Security"],
  ["raw", "Raw log"],
];

export function messageUrl(key) {
  return `/messages/${encodeURIComponent(key)}`;
}

function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [label, value] of pairs) {
    if (value === undefined) continue;
    dl.append(h("dt", null, label), h("dd", null, value === null || value === "" ? "–" : value));
  }
  return dl;
}

const FAILED = new Set(["bounced", "expired", "deferred", "rejected"]);
const RANK = { bounced: 0, expired: 0, rejected: 1, deferred: 2 };

/** The worst outcomes first (the reason an admin opened the message), otherwise in their order. */
export function failingFirst(outcomes) {
  const rank = (o) => RANK[o.status] ?? 3;
  return [...(outcomes || [])].sort((a, b) => rank(a) - rank(b));
}

function recipientsOf(msg) {
  if (Array.isArray(msg.outcomes) && msg.outcomes.length) return failingFirst(msg.outcomes).map((o) => o.recipient);
  if (Array.isArray(msg.recipients) && msg.recipients.length) return msg.recipients;
  return msg.recipient ? [msg.recipient] : [];
}

function outcomeFor(msg, recipient) {
  return (msg.outcomes || []).find((o) => o.recipient === recipient) || null;
}

// The mailbox stage: where Dovecot put a recipient's copy, when that is not the inbox.
export function folderBadges(outcomes) {
  const folders = [...new Set((outcomes || []).map((o) => o.folder).filter((f) => f && f !== "INBOX"))];
  return folders.map((folder) => h("span", { class: "badge outline blue", "data-folder": folder, title: `Stored in the folder ${folder}` }, folder));
}

// What Dovecot did, in words: the folder, a redirect, the vacation reply, a refusal.
function mailboxSummary(o) {
  const parts = [];
  if (o.folder) parts.push(`stored in ${o.folder}`);
  if (o.status === "discarded") parts.push("discarded by a Sieve rule");
  if ((o.redirected_to || []).length) parts.push(`redirected to ${o.redirected_to.join(", ")}`);
  if (o.auto_reply) parts.push(`vacation reply ${o.auto_reply}`);
  if (o.reason) parts.push(o.reason);
  return parts.join("; ");
}

function mailboxItem(o) {
  const lines = o.mailbox_lines || [];
  const tone = o.status === "discarded" ? "amber" : o.reason ? "red" : "green";
  return h("li", { class: `tone-${tone}`, "data-mailbox-step": o.recipient },
    h("div", { class: "tl-head" }, lines.length ? timeEl(lines[0].time) : null, badge("Dovecot", "blue"),
      h("span", { class: "small" }, mailboxSummary(o) || "no mailbox line"),
      ...(o.redirects || []).filter((r) => r.correlation_key).map((r) =>
        h("a", { href: messageUrl(r.correlation_key), class: "small", "data-message-link": r.correlation_key }, `copy to ${r.address} ›`))),
    lines.length ? h("div", { class: "reply" }, lines.map((line) => line.message).join("\n")) : null);
}

function queueIds(msg) {
  const ids = [];
  for (const leg of msg.legs || []) if (leg.queue_id && !ids.includes(leg.queue_id)) ids.push(leg.queue_id);
  if (!ids.length && msg.queue_id) ids.push(msg.queue_id);
  return ids;
}

/** The servers a message passed through, in the order of its legs ("mx2 → mx1" for mail the
 * backup MX handed to the primary); only with several servers configured. */
function serverPath(msg) {
  if (!serverHeading().length) return undefined;     // one server: no row at all
  const names = [];
  for (const leg of msg.legs || []) if (leg.server && !names.includes(leg.server)) names.push(leg.server);
  if (!names.length && msg.server) names.push(msg.server);
  return names.length ? h("span", { "data-servers": names.join(" ") }, names.join(" → ")) : null;
}

/* ---------- Overview ---------- */

function overviewTab(msg) {
  const rspamd = msg.rspamd || {};
  const rcpts = recipientsOf(msg);
  const rcptList = h("div", { class: "rcpt-list" }, rcpts.map((rcpt) => {
    const outcome = outcomeFor(msg, rcpt);
    return h("div", { class: "rcpt-outcome", "data-rcpt": rcpt }, h("div", { class: "rcpt-item" }, filterLink(rcpt, "/messages", { recipient: rcpt }),
      outcome ? statusBadge(outcome.status) : null, ...folderBadges(outcome ? [outcome] : []),
      outcome && outcome.orig_to && outcome.orig_to !== rcpt ? h("span", { class: "muted small" }, `(sent to ${outcome.orig_to})`) : null),
    outcome && FAILED.has(outcome.status) && (outcome.reply || msg.reject_reason)
      ? h("div", { class: "reply", "data-reply": "" }, outcome.reply || msg.reject_reason) : null);
  }));
  const ids = queueIds(msg);
  const ip = msg.ip ?? rspamd.ip ?? msg.client_ip ?? null;
  const user = msg.user ?? rspamd.user ?? null;
  const overview = kv([
    ["From", msg.sender ? filterLink(msg.sender, "/messages", { sender: msg.sender }) : h("span", { class: "muted" }, "(empty envelope sender)")],
    [rcpts.length === 1 ? "To" : `To (${fmtNumber(rcpts.length)})`, rcpts.length ? rcptList : null],
    ["Subject", msg.subject ?? rspamd.subject ?? null],
    ["Direction", directionBadge(msg.direction)],
    ["Status", h("span", { class: "rcpt-item" }, statusBadge(msg.final_status),
      msg.is_complete === false ? badge("in progress", "gray", "More log lines may still arrive") : null,
      spamBadge(msg.is_spam ?? rspamd.is_spam, msg.spam_score ?? rspamd.score))],
    [serverHeading().length && (msg.legs || []).some((leg) => leg.server && leg.server !== msg.server) ? "Servers" : "Server", serverPath(msg)],
    ["Queue IDs", ids.length ? h("span", { class: "mono" }, ids.join(", ")) : null],
    ["Message-ID", msg.message_id ? h("span", { class: "mono" }, msg.message_id) : null],
    ["Size", msg.size ?? rspamd.size ? fmtBytes(msg.size ?? rspamd.size) : null],
    ["Client IP", ip ? filterLink(ip, "/messages", { ip }) : null],
    ["User", user ? filterLink(user, "/messages", { user }) : null],
    ["First seen", msg.first_seen ? timeEl(msg.first_seen) : null],
    ["Last seen", msg.last_seen ? timeEl(msg.last_seen) : null],
    msg.reject_reason ? ["Reject reason", h("span", { class: "reply" }, msg.reject_reason)] : [null, undefined],
  ].filter(([label]) => label));
  const parts = [h("section", null, overview)];
  if ((msg.outcomes || []).length) {
    parts.push(h("section", null, h("h3", null, "Per-recipient outcome"), outcomesTable(failingFirst(msg.outcomes))));
  }
  return parts;
}

function outcomesTable(outcomes) {
  return table(["Recipient", "Status", "DSN", "Relay", { label: "Delay", class: "num" }, { label: "Attempts", class: "num" }, "Last"],
    outcomes.map((o) => h("tr", { "data-recipient": o.recipient },
      h("td", { class: "wrap" }, o.recipient, o.orig_to && o.orig_to !== o.recipient ? h("div", { class: "muted small" }, `orig_to ${o.orig_to}`) : null),
      h("td", null, statusBadge(o.status)),
      h("td", { class: "mono nowrap" }, dash(o.dsn)),
      h("td", { class: "wrap mono" }, dash(o.relay)),
      h("td", { class: "num nowrap" }, fmtDelay(o.delay)),
      h("td", { class: "num" }, fmtNumber(o.attempts)),
      h("td", null, o.last_time ? timeEl(o.last_time, { short: true }) : "–"))));
}

/* ---------- Delivery ---------- */

// Postfix delivery lines end in "status=sent (250 2.0.0 Ok ...)": the remote reply.
function replyOf(line) {
  const match = /status=\w+ \((.*)\)\s*$/s.exec(line.message || "");
  return match ? match[1] : null;
}

function attemptItem(line) {
  const status = line.status ? (line.status === "sent" ? "delivered" : line.status) : null;
  const tone = toneFor(status);
  return h("li", { class: `tone-${tone}` },
    h("div", { class: "tl-head" }, timeEl(line.time), status ? statusBadge(status) : h("span", { class: "muted" }, line.program || ""),
      line.relay ? h("span", { class: "mono small" }, `relay ${line.relay}`) : null,
      line.dsn ? h("span", { class: "mono small" }, `dsn ${line.dsn}`) : null,
      line.delay !== null && line.delay !== undefined ? h("span", { class: "small muted" }, `delay ${fmtDelay(line.delay)}`) : null),
    replyOf(line) ? h("div", { class: "reply" }, replyOf(line)) : (status ? null : h("div", { class: "reply" }, line.message || "")));
}

function deliveryTab(msg) {
  const parts = [];
  const byRecipient = msg.postfix_by_recipient || {};
  const outcomes = msg.outcomes && msg.outcomes.length
    ? msg.outcomes
    : recipientsOf(msg).map((recipient) => ({ recipient, status: msg.final_status }));
  if (!outcomes.length) parts.push(emptyBox("No recipients recorded", "The message was rejected before any recipient was accepted."));
  for (const outcome of outcomes) {
    const lines = (byRecipient[outcome.recipient] || []).filter((line) => line.status || line.relay || line.dsn);
    const mailbox = mailboxSummary(outcome) || (outcome.mailbox_lines || []).length ? [mailboxItem(outcome)] : [];
    const timeline = lines.length
      ? h("ol", { class: "timeline" }, lines.map(attemptItem), ...mailbox)
      : h("ol", { class: "timeline" }, h("li", { class: `tone-${toneFor(outcome.status)}` },
        h("div", { class: "tl-head" }, outcome.last_time ? timeEl(outcome.last_time) : null, statusBadge(outcome.status),
          outcome.relay ? h("span", { class: "mono small" }, `relay ${outcome.relay}`) : null,
          outcome.dsn ? h("span", { class: "mono small" }, `dsn ${outcome.dsn}`) : null,
          outcome.delay !== null && outcome.delay !== undefined ? h("span", { class: "small muted" }, `delay ${fmtDelay(outcome.delay)}`) : null),
        outcome.reply ? h("div", { class: "reply" }, outcome.reply) : null));
    parts.push(h("div", { class: "outcome", "data-outcome": outcome.recipient },
      h("div", { class: "outcome-head" }, h("span", { class: "outcome-rcpt" }, outcome.recipient), statusBadge(outcome.status),
        outcome.orig_to && outcome.orig_to !== outcome.recipient ? h("span", { class: "muted small" }, `originally to ${outcome.orig_to}`) : null,
        outcome.attempts ? h("span", { class: "muted small" }, `${fmtNumber(outcome.attempts)} attempt${outcome.attempts === 1 ? "" : "s"}`) : null),
      timeline));
  }
  if ((msg.legs || []).length) {
    parts.push(h("section", null, h("h3", null, "Queue legs"),
      table([...serverHeading(), "Queue ID", "Role", "First seen", "Last seen", { label: "Lines", class: "num" }],
        msg.legs.map((leg) => h("tr", null,
          serverCell(leg),
          h("td", { class: "mono" }, dash(leg.queue_id)),
          h("td", null, badge(leg.role || "primary", "blue")),
          h("td", null, timeEl(leg.first_seen, { short: true })),
          h("td", null, timeEl(leg.last_seen, { short: true })),
          h("td", { class: "num" }, fmtNumber(Array.isArray(leg.lines) ? leg.lines.length : leg.lines)))))));
  }
  if ((msg.related || []).length) {
    parts.push(h("section", null, h("h3", null, "Related messages"),
      table(["Relation", "Sender", "Subject", "Status"],
        msg.related.map((rel) => h("tr", null,
          h("td", null, badge(rel.relation || "related", "purple")),
          h("td", { class: "cell-email" }, dash(rel.sender)),
          h("td", { class: "subject" }, h("a", { href: messageUrl(rel.correlation_key), "data-message-link": rel.correlation_key }, rel.subject || "(no subject)")),
          h("td", null, statusBadge(rel.final_status)))))));
  }
  return parts;
}

/* ---------- Spam ---------- */

// Past RETENTION_DAYS the Rspamd rows are gone; the message kept the score, action and top symbols.
function verdictSummary(v) {
  return [
    h("section", { "data-verdict-summary": "" },
      h("div", { class: "score-line" },
        h("span", { class: "score-big" }, v.score === null ? "–" : fmtNumber(v.score, 2)),
        badge(v.action || "unknown", toneFor(v.action)),
        h("span", { class: "muted small" }, "kept after the Rspamd rows were cleaned up"))),
    h("section", null, h("h3", null, "Strongest symbols"),
      v.symbols.length ? table(["Symbol", { label: "Score", class: "num" }],
        v.symbols.map((sym) => h("tr", { "data-symbol": sym.name },
          h("td", { class: "mono nowrap" }, sym.name), h("td", { class: "num" }, fmtNumber(sym.score, 2)))))
        : emptyBox("No symbols")),
  ];
}

function spamTab(msg) {
  const r = msg.rspamd;
  if (!r && msg.verdict_summary) return verdictSummary(msg.verdict_summary);
  if (!r) {
    return [emptyBox("No Rspamd scan", "Rspamd did not scan this message (for example it was rejected before the content was received, or it was generated locally).")];
  }
  const score = Number(r.score);
  const required = Number(r.required_score);
  const ratio = required > 0 && Number.isFinite(score) ? Math.max(0, Math.min(1, score / required)) : 0;
  const fill = h("div", { class: `bar-fill ${score >= required ? "red" : score >= required / 2 ? "amber" : "green"}` });
  fill.style.width = `${(ratio * 100).toFixed(1)}%`;  // CSSOM, allowed by the CSP
  const symbols = Object.entries(r.symbols || {}).map(([name, sym]) => ({ name, ...(sym || {}) }));
  symbols.sort((a, b) => Math.abs(Number(b.score) || 0) - Math.abs(Number(a.score) || 0) || a.name.localeCompare(b.name));
  const scoreCell = (s) => {
    const n = Number(s);
    const cls = n > 0 ? "sym-pos" : n < 0 ? "sym-neg" : "sym-zero";
    return h("td", { class: `num ${cls}` }, Number.isFinite(n) ? (n > 0 ? "+" : "") + fmtNumber(n, 2) : "–");
  };
  return [
    h("section", null,
      h("div", { class: "score-line" },
        h("span", { class: "score-big" }, Number.isFinite(score) ? fmtNumber(score, 2) : "–"),
        h("span", { class: "muted" }, `of ${Number.isFinite(required) ? fmtNumber(required, 1) : "–"} required`),
        badge(r.action || "unknown", toneFor(r.action)),
        (r.is_spam ?? msg.is_spam) ? badge("spam", "purple") : badge("not spam", "green")),
      h("div", { class: "meter", role: "img", "aria-label": `score ${score} of ${required}` }, fill)),
    h("section", null, kv([
      ["Scanned", r.time ? timeEl(r.time) : null],
      ["Direction", r.direction ? directionBadge(r.direction) : null],
      ["IP", r.ip ?? null],
      ["User", r.user ?? null],
      ["Authenticated", r.has_auth === undefined ? undefined : (r.has_auth ? "yes" : "no")],
      ["Size", r.size ? fmtBytes(r.size) : null],
    ])),
    h("section", null, h("h3", null, `Symbols (${fmtNumber(symbols.length)})`),
      symbols.length ? table(["Symbol", { label: "Score", class: "num" }, "Description", "Options"],
        symbols.map((sym) => h("tr", { "data-symbol": sym.name },
          h("td", { class: "mono nowrap" }, filterLink(sym.name, "/logs/rspamd", { symbol: sym.name })),
          scoreCell(sym.score),
          h("td", { class: "wrap" }, dash(sym.description)),
          h("td", { class: "wrap mono" }, Array.isArray(sym.options) ? sym.options.join(", ") : dash(sym.options)))))
        : emptyBox("No symbols")),
  ];
}

/* ---------- Security ---------- */

function securityTab(msg) {
  const events = msg.netfilter || [];
  if (!events.length) {
    return [emptyBox("No netfilter events", "No authentication failures or bans were logged for this message's client.")];
  }
  return [table(["Time", "Action", "IP", "Username", "Method", { label: "Attempts left", class: "num" }, "Message"],
    events.map((ev) => h("tr", null,
      h("td", null, timeEl(ev.time, { short: true })),
      h("td", null, statusBadge(ev.action || ev.priority)),
      h("td", { class: "mono nowrap" }, dash(ev.ip)),
      h("td", { class: "cell-email" }, dash(ev.username)),
      h("td", { class: "nowrap" }, dash(ev.auth_method)),
      h("td", { class: "num" }, dash(ev.attempts_left)),
      h("td", { class: "msg" }, dash(ev.message)))))];
}

/* ---------- Raw ---------- */

function rawTab(msg) {
  // Postfix's and Dovecot's lines in one time order, as an admin would grep them.
  const lines = [...(msg.postfix || []), ...(msg.dovecot || []).map((line) => ({ ...line, program: "dovecot" }))]
    .sort((a, b) => String(a.time).localeCompare(String(b.time)));
  if (!lines.length && msg.raw_lines_removed) return [emptyBox("Raw lines cleaned up", RAW_REMOVED)];
  if (!lines.length) return [emptyBox("No Postfix lines", "Postfix logged nothing for this message.")];
  const text = lines.map((line) => `${line.time} ${line.program || ""}${line.priority ? `[${line.priority}]` : ""}: ${line.message}`).join("\n");
  const button = h("button", { type: "button", class: "btn btn-sm", "data-copy": "raw" }, "Copy");
  button.addEventListener("click", async () => {
    toast((await copyText(text)) ? "Copied log lines" : "Copy failed: select the text instead");
  });
  return [
    h("div", { class: "field-actions" }, h("span", { class: "muted small" }, `${fmtNumber(lines.length)} lines (times in UTC)`), button),
    h("pre", { class: "raw", "data-raw-log": "" }, text),
  ];
}

const RENDERERS = { overview: overviewTab, delivery: deliveryTab, spam: spamTab, security: securityTab, raw: rawTab };

const RAW_REMOVED = "This message is older than the raw-log retention (RETENTION_DAYS): its log lines were "
  + "cleaned up. Its outcome per recipient and a summary of the Rspamd verdict are kept.";

function header(msg) {
  const rcpts = recipientsOf(msg);
  return h("div", { class: "detail-head" },
    msg.raw_lines_removed ? h("p", { class: "alert warn small", "data-raw-removed": "" }, RAW_REMOVED) : null,
    h("div", { class: "detail-subject", "data-subject": "" }, msg.subject || msg.rspamd?.subject || "(no subject)"),
    h("div", { class: "detail-meta" },
      statusBadge(msg.final_status), directionBadge(msg.direction), spamBadge(msg.is_spam, msg.spam_score ?? msg.rspamd?.score),
      h("span", { class: "meta-email" }, msg.sender || "<>"), "→",
      h("span", { class: "meta-email" }, rcpts.length > 1 ? `${rcpts[0]} +${rcpts.length - 1}` : (rcpts[0] || "–")),
      msg.first_seen ? timeEl(msg.first_seen) : null));
}

/**
 * Renders the message into `container`. `tab` is the initial tab; `onTab` hears tab changes
 * (the page puts it in the URL hash). Returns the loaded message, or null on error.
 */
export async function renderMessage(container, key, { tab = "overview", onTab, quiet = false } = {}) {
  if (!quiet) container.replaceChildren(loadingBox());
  let msg;
  try {
    msg = await apiGet(`/message/${encodeURIComponent(key)}/details`);
  } catch (error) {
    if (quiet) throw error;   // a background refresh keeps what is shown
    container.replaceChildren(errorBox(error, "the message"));
    return null;
  }
  const current = RENDERERS[tab] ? tab : "overview";
  const tabBar = h("div", { class: "tabs", role: "tablist" });
  const panel = h("div", { class: "tab-panel", role: "tabpanel" });
  const counts = {
    delivery: (msg.outcomes || []).length || recipientsOf(msg).length,
    spam: msg.rspamd ? Object.keys(msg.rspamd.symbols || {}).length : 0,
    security: (msg.netfilter || []).length,
    raw: (msg.postfix || []).length + (msg.dovecot || []).length,
  };
  const select = (name) => {
    for (const button of tabBar.children) button.setAttribute("aria-selected", String(button.dataset.tab === name));
    panel.replaceChildren(...RENDERERS[name](msg));
    panel.dataset.tab = name;
    if (onTab) onTab(name);
  };
  for (const [name, label] of TABS) {
    const button = h("button", { type: "button", class: "tab", role: "tab", "data-tab": name, "aria-selected": "false" },
      label, counts[name] ? h("span", { class: "muted small" }, ` ${fmtNumber(counts[name])}`) : null);
    button.addEventListener("click", () => select(name));
    tabBar.append(button);
  }
  // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
  tabBar.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const buttons = Array.from(tabBar.children);
    const index = buttons.findIndex((b) => b.getAttribute("aria-selected") === "true");
    const next = buttons[(index + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    select(next.dataset.tab);
  });
  container.replaceChildren(header(msg), tabBar, panel);
  select(current);
  return msg;
}
