// Live views of mailcow's Postfix queue and quarantine (GET /api/queue, /api/quarantine).
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, fmtBytes, fmtDelay, timeEl, badge, toneFor, errorBox, emptyBox, loadingBox, table, dash } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { bindFilters } from "../lib/filters.js";
import { readParams, buildSearch } from "../lib/url.js";

// "addr (reason)": the reason is everything after the first " (", without the closing ")".
export function parseRecipient(text) {
  const value = String(text);
  const at = value.indexOf(" (");
  if (at < 0) return { address: value, reason: null };
  let reason = value.slice(at + 2);
  if (reason.endsWith(")")) reason = reason.slice(0, -1);
  return { address: value.slice(0, at), reason };
}

function queueRecipients(item) {
  if (Array.isArray(item.recipients_parsed)) return item.recipients_parsed;
  return (item.recipients || []).map(parseRecipient);
}

function matches(needle, ...values) {
  if (!needle) return true;
  const n = needle.toLowerCase();
  return values.some((v) => v !== undefined && v !== null && JSON.stringify(v).toLowerCase().includes(n));
}

function renderQueue(data, q) {
  const all = data.data || [];
  const items = all.filter((item) => matches(q, item.queue_id, item.sender, item.recipients, item.recipients_parsed, item.queue_name));
  $("#queue-count").textContent = q ? `${fmtNumber(items.length)} of ${fmtNumber(data.total ?? all.length)}` : `${fmtNumber(data.total ?? all.length)} queued`;
  if (!items.length) {
    $("#queue").replaceChildren(q ? emptyBox("Nothing in the queue matches") : emptyBox("The mail queue is empty", "Every message has been delivered or returned."));
    return;
  }
  $("#queue").replaceChildren(table(["Queue", "Queue ID", "Arrived", { label: "Age", class: "num" }, { label: "Size", class: "num" }, "Sender", "Recipients and deferral reason"],
    items.map((item) => h("tr", { "data-queue-id": item.queue_id },
      h("td", null, badge(item.queue_name || "–", toneFor(item.queue_name === "deferred" ? "deferred" : item.queue_name)),
        item.forced_expire ? h("div", null, badge("expiring", "red")) : null),
      h("td", { class: "mono nowrap" }, h("a", { href: `/logs/postfix${buildSearch({ queue_id: item.queue_id })}`, title: "Postfix lines of this queue ID" }, item.queue_id)),
      h("td", null, timeEl(item.arrival || item.arrival_time, { short: true })),
      h("td", { class: "num nowrap", "data-age": "" }, item.arrival_time ? fmtDelay(Math.max(0, Date.now() / 1000 - item.arrival_time)) : "–"),
      h("td", { class: "num nowrap" }, fmtBytes(item.message_size)),
      h("td", { class: "cell-email" }, item.sender || "<>"),
      h("td", { class: "wrap" }, h("div", { class: "rcpt-list" }, queueRecipients(item).map((r) => h("div", null,
        h("div", { class: "cell-email" }, r.address),
        r.reason ? h("div", { class: "reply" }, r.reason) : null)))))), { stack: true }));
}

function renderQuarantine(data, q) {
  const all = data.data || [];
  const items = all.filter((item) => matches(q, item.subject, item.sender, item.recipients, item.reason, item.qid));
  $("#quarantine-count").textContent = q ? `${fmtNumber(items.length)} of ${fmtNumber(data.total ?? all.length)}` : `${fmtNumber(data.total ?? all.length)} held`;
  if (!items.length) {
    $("#quarantine").replaceChildren(q ? emptyBox("Nothing in quarantine matches") : emptyBox("Quarantine is empty"));
    return;
  }
  $("#quarantine").replaceChildren(table(["Received", "Subject", "Sender", "Recipients", { label: "Score", class: "num" }, "Verdict", "Reason"],
    items.map((item) => h("tr", { "data-quarantine-id": item.id },
      h("td", null, timeEl(item.created, { short: true })),
      h("td", { class: "subject" }, item.subject || "(no subject)"),
      h("td", { class: "cell-email" }, dash(item.sender)),
      h("td", { class: "cell-email" }, (item.recipients || []).join(", ") || "–"),
      h("td", { class: "num nowrap" }, item.score === undefined || item.score === null ? "–" : fmtNumber(item.score, 2)),
      h("td", null, h("div", { class: "badges" },
        item.virus_flag ? badge("virus", "red") : null,
        item.action ? badge(item.action, toneFor(item.action)) : null,
        item.notified ? badge("notified", "gray", "The recipient was notified") : null)),
      h("td", { class: "wrap small" }, dash(item.reason), item.qid ? h("div", null,
        h("a", { class: "mono small", href: `/logs/postfix${buildSearch({ queue_id: item.qid })}` }, item.qid)) : null))), { stack: true }));
}

// Postfix's qshape: one row per destination (or reason), messages per age bucket.
function qshapeTable(groups, buckets, label) {
  // Column heads as short as qshape's (minutes); the full label is the tooltip.
  return table([label, { label: "Messages", class: "num" }, { label: "Oldest", class: "num" },
    ...buckets.map((b) => ({ label: b.replace(" min", "m"), class: "num nowrap" }))],
  groups.map((g) => h("tr", { "data-group": g.key },
    h("td", { class: "wrap", title: g.example || null },
      label === "Destination" ? h("a", { href: `/queue${buildSearch({ q: g.key })}` }, g.key) : g.key),
    h("td", { class: "num" }, fmtNumber(g.messages)),
    h("td", { class: "num nowrap" }, fmtDelay(g.oldest_age_seconds)),
    ...g.ages.map((n) => h("td", { class: n ? "num" : "num muted" }, n ? fmtNumber(n) : "·")))), { stack: true });
}

function renderHealth(data) {
  $("#queue-health-summary").textContent = data.size
    ? `${fmtNumber(data.size)} queued, the oldest for ${fmtDelay(data.oldest_age_seconds)}`
    : "the queue is empty";
  if (!data.size) {
    $("#queue-health").replaceChildren(emptyBox("Nothing waits in the queue"));
    return;
  }
  $("#queue-health").replaceChildren(
    h("div", { class: "card-section" }, h("h3", null, "By destination domain"), qshapeTable(data.by_domain, data.buckets, "Destination")),
    h("div", { class: "card-section" }, h("h3", null, "By reason"), qshapeTable(data.by_reason, data.buckets, "Reason")));
}

async function section(path, target, render, background, q) {
  try {
    render(await apiGet(path), q);
  } catch (error) {
    if (!background || !$(target).querySelector("table")) $(target).replaceChildren(errorBox(error, path.slice(1)));
    throw error;
  }
}

// A domain admin's page has only the quarantine of their mailboxes (the queue is the server's).
const SECTIONS = [
  ["/queue/health", "#queue-health", renderHealth],
  ["/queue", "#queue", renderQueue],
  ["/quarantine", "#quarantine", renderQuarantine],
].filter(([, target]) => $(target));

async function load({ background }) {
  const q = readParams().q || "";
  if (!background) SECTIONS.forEach(([, target]) => $(target).replaceChildren(loadingBox()));
  const results = await Promise.allSettled(
    SECTIONS.map(([path, target, render]) => section(path, target, render, background, q)));
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) throw failed[0].reason;
}

if (initShell()) {
  const refresher = new AutoRefresh(load);
  bindFilters($("#filters"), { onChange: () => refresher.reload() });
}
