// Open and recent alerts (GET /api/alerts), the messages behind each one, the channels' state,
// and the "send a test" button (POST /api/alerts/test). Alert text quotes log text: text nodes only.
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, timeEl, badge, errorBox, emptyBox, loadingBox, table, dash } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";

function messageLinks(alert) {
  if (!alert.messages.length) return null;
  return h("ul", { class: "alert-messages" }, alert.messages.map((m) => h("li", null,
    h("a", { href: `/messages/${encodeURIComponent(m.correlation_key)}` }, m.subject || "(no subject)"),
    " ", h("span", { class: "muted small cell-email" }, m.sender || "<>"), " ", badge(m.status))));
}

function alertRows(alerts, resolved) {
  return alerts.map((alert) => h("tr", { "data-alert-key": alert.key, id: `alert-${alert.id}` },
    h("td", null, badge(alert.severity, alert.severity === "critical" ? "red" : "amber"),
      h("div", { class: "muted small" }, alert.rule)),
    h("td", { class: "wrap" }, h("strong", null, alert.title), h("div", { class: "small" }, alert.detail),
      alert.link ? h("div", null, h("a", { class: "small", href: alert.link }, "Show what is behind it")) : null,
      messageLinks(alert)),
    h("td", { class: "num nowrap" }, fmtNumber(alert.count), h("div", { class: "muted small" }, `peak ${fmtNumber(alert.peak)}`)),
    h("td", null, timeEl(alert.opened_at, { short: true })),
    h("td", null, resolved ? timeEl(alert.resolved_at, { short: true }) : timeEl(alert.last_seen, { short: true })),
    h("td", { class: "small nowrap" }, `${alert.notifications.delivered} sent`,
      alert.notifications.pending ? h("div", null, `${alert.notifications.pending} pending`) : null,
      alert.notifications.failed ? h("div", null, badge(`${alert.notifications.failed} failed`, "red")) : null)));
}

function render(data) {
  $("#open-count").textContent = `${fmtNumber(data.open_total)} open`;
  const head = (last) => ["Severity", "Alert", { label: "Count", class: "num" }, "Opened", last, "Notified"];
  $("#open").replaceChildren(data.open.length ? table(head("Last seen"), alertRows(data.open, false))
    : emptyBox("No open alert", "Every rule is quiet."));
  $("#recent").replaceChildren(data.recent.length ? table(head("Resolved"), alertRows(data.recent, true))
    : emptyBox("Nothing resolved recently"));
  $("#channels").replaceChildren(data.channels.length ? table(["Channel", { label: "Delivered", class: "num" },
    { label: "Pending", class: "num" }, { label: "Failed", class: "num" }, "Last success", "Last error"],
    data.channels.map((c) => h("tr", { "data-channel": c.channel },
      h("td", null, c.channel), h("td", { class: "num" }, fmtNumber(c.delivered)),
      h("td", { class: "num" }, fmtNumber(c.pending)), h("td", { class: "num" }, fmtNumber(c.failed)),
      h("td", null, c.last_success ? timeEl(c.last_success, { short: true }) : "–"),
      h("td", { class: "wrap small" }, dash(c.last_error)))))
    : emptyBox("No channel configured", "Set ALERT_WEBHOOK_URL, ALERT_NTFY_URL, ALERT_SLACK_WEBHOOK_URL, ALERT_DISCORD_WEBHOOK_URL, ALERT_TELEGRAM_BOT_TOKEN or ALERT_EMAIL_TO."));
  $("#send-test").disabled = !data.channels.length;
}

async function sendTest() {
  const state = $("#test-state");
  state.textContent = "Sending…";
  try {
    const response = await fetch("/api/alerts/test", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: "{}",
    });
    const body = await response.json().catch(() => ({}));
    state.textContent = response.ok ? `Queued for ${body.queued.join(", ")}` : (body.detail || `HTTP ${response.status}`);
  } catch (error) {
    state.textContent = "The server cannot be reached";
  }
}

async function load({ background }) {
  if (!background) $("#open").replaceChildren(loadingBox());
  try {
    render(await apiGet("/alerts"));
  } catch (error) {
    if (!background) $("#open").replaceChildren(errorBox(error, "alerts"));
    throw error;
  }
}

if (initShell()) {
  new AutoRefresh(load);
  $("#send-test").addEventListener("click", sendTest);
}
