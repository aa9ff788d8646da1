import { apiGet } from "../lib/api.js";
import {
  $, h, fmtNumber, fmtHour, fmtDelay, timeEl, ago, utcTitle, statusBadge, directionBadge, spamBadge, errorBox, emptyBox, table,
} from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { drawChart, baseOptions, onThemeChange } from "../lib/charts.js";
import { initPanel, handleMessageClick, openPanel } from "../lib/panel.js";
import { messageUrl } from "../lib/message-view.js";
import { rangeStart } from "../lib/url.js";

function counter(name, value, sub) {
  const card = $(`[data-counter="${name}"]`);
  card.querySelector(".stat-value").textContent = fmtNumber(value);
  card.querySelector(".stat-sub").replaceChildren(...sub.map(([label, v]) => h("span", null, `${label} `, h("b", null, v))));
}

function renderCounters(d) {
  const m = d.messages || {};
  const s = d.spam || {};
  const f = d.failed_deliveries || {};
  const a = d.auth_failures || {};
  const messagesSub = [["7d", fmtNumber(m["7d"])], ["30d", fmtNumber(m["30d"])]];
  if (d.discarded) messagesSub.push(["discarded 24h", fmtNumber(d.discarded["24h"])]);
  counter("messages", m["24h"], messagesSub);
  counter("spam", s["24h"], [["rate", s.percentage_24h === undefined ? "–" : `${fmtNumber(s.percentage_24h, 1)} %`], ["7d", fmtNumber(s["7d"])]]);
  const failedSub = [["7d", fmtNumber(f["7d"])]];
  if (d.rejected) {
    failedSub.push(["rejected 24h", fmtNumber(d.rejected["24h"])]);
    if (d.rejected.temporary_24h) failedSub.push(["of which 4xx", fmtNumber(d.rejected.temporary_24h)]);
  }
  counter("failed", f["24h"], failedSub);
  counter("auth", a["24h"], [["7d", fmtNumber(a["7d"])]]);
  renderWindow(d);
}

// The windows end now, or at ?end= (imported history lies in the past): the form picks the
// end, and offers the end of the stored data when the last 24 hours hold none of it.
const END = new URLSearchParams(location.search).get("end") || null;

function renderWindow(d) {
  const form = $("#window-end");
  if (!form) return;
  const input = form.querySelector("input[name=end]");
  if (END && !input.value) input.value = END.slice(0, 10);
  const last = d.data_range && d.data_range.last;
  const note = $("#window-note");
  const parts = [];
  if (END) parts.push(h("span", null, "Windows end ", timeEl(d.window_end, { short: true }), " · "),
    h("a", { href: location.pathname }, "back to now"));
  else if (last && Date.parse(last) < Date.now() - 86400000) {
    parts.push(h("span", null, "The newest message is from ", timeEl(last, { short: true }), " · "),
      h("a", { href: `${location.pathname}?end=${encodeURIComponent(last)}` }, "view up to then"));
  }
  note.replaceChildren(...parts);
}

function withEnd(params) {
  return END ? { ...(params || {}), end: END.length === 10 ? `${END}T23:59:59Z` : END } : params;
}

const DIRECTIONS = [["inbound", "s-in", "Inbound"], ["outbound", "s-out", "Outbound"], ["internal", "s-int", "Internal"]];

function renderDirection(d) {
  const box = $("#direction");
  const dir = d.direction || {};
  const values = DIRECTIONS.map(([key, cls, label]) => ({ key, cls, label, value: Number(dir[`${key}_24h`]) || 0 }))
    .filter((v) => v.key !== "internal" || dir.internal_24h !== undefined);
  const total = values.reduce((sum, v) => sum + v.value, 0);
  if (!total) {
    box.replaceChildren(emptyBox("No messages in the last 24 hours"));
    return;
  }
  const bar = h("div", { class: "split", role: "img", "aria-label": values.map((v) => `${v.label} ${v.value}`).join(", ") });
  for (const v of values) {
    const part = h("span", { class: v.cls, title: `${v.label}: ${fmtNumber(v.value)}` });
    part.style.width = `${(v.value / total) * 100}%`;
    bar.append(part);
  }
  box.replaceChildren(bar,
    h("div", { class: "mini-stats legend" }, values.map((v) => h("a", {
      class: "mini-stat", href: `/messages?direction=${v.key}&range=24h`,
    },
    h("div", { class: "l legend-item" }, h("span", { class: `swatch ${v.cls}` }), v.label),
    h("div", { class: "v" }, fmtNumber(v.value)),
    h("div", { class: "l" }, `${fmtNumber((v.value / total) * 100, 0)} %`)))));
}

let timelineData = [];

function drawTimeline() {
  const canvas = $("#timeline-chart");
  const points = timelineData;
  const state = $("#timeline-state");
  if (!points.length) {
    state.replaceChildren(emptyBox("No traffic in the last 24 hours"));
    canvas.hidden = true;
    return;
  }
  state.replaceChildren();
  canvas.hidden = false;
  const hasFailed = points.some((p) => p.failed !== undefined);
  drawChart(canvas, (c) => ({
    type: "bar",
    data: {
      labels: points.map((p) => fmtHour(p.hour)),
      datasets: [
        { label: "Clean", data: points.map((p) => p.clean ?? (p.total - (p.spam || 0))), backgroundColor: c.green, stack: "m", borderRadius: 2 },
        { label: "Spam", data: points.map((p) => p.spam || 0), backgroundColor: c.purple, stack: "m", borderRadius: 2 },
        ...(hasFailed ? [{
          label: "Failed", type: "line", data: points.map((p) => p.failed || 0), borderColor: c.red, backgroundColor: c.red,
          pointRadius: 2, tension: 0.3, borderWidth: 2,
        }] : []),
      ],
    },
    options: {
      ...baseOptions(c, { stacked: true }),
      plugins: {
        legend: baseOptions(c).plugins.legend,
        tooltip: { callbacks: { title: (items) => utcTitle(points[items[0].dataIndex].hour) } },
      },
    },
  }));
}

function barList(items, { label, value, href, tone = "", title }) {
  const max = Math.max(1, ...items.map(value));
  return h("ul", { class: "barlist" }, items.map((item) => {
    const fill = h("div", { class: `bar-fill ${tone}` });
    fill.style.width = `${(value(item) / max) * 100}%`;
    const text = href ? h("a", { href: href(item) }, label(item)) : label(item);
    return h("li", { title: title ? title(item) : null },
      h("span", { class: "bar-label" }, text),
      h("span", { class: "bar-value" }, fmtNumber(value(item))),
      h("div", { class: "bar-track" }, fill));
  }));
}

function renderTriggers(data) {
  const items = data.triggers || [];
  $("#top-triggers").replaceChildren(items.length
    ? barList(items, {
      label: (t) => t.symbol, value: (t) => t.count, tone: "purple", href: (t) => `/logs/rspamd?symbol=${encodeURIComponent(t.symbol)}`,
      title: (t) => (t.average_score !== undefined ? `average score ${fmtNumber(t.average_score, 2)}` : null),
    })
    : emptyBox("No spam symbols yet"));
}

function renderIps(data) {
  const items = data.blocked_ips || [];
  $("#top-ips").replaceChildren(items.length
    ? barList(items, {
      label: (ip) => ip.ip, value: (ip) => ip.count, tone: "red",
      href: (ip) => `/security?ip=${encodeURIComponent(ip.ip)}`,
      title: (ip) => `last seen ${ago(ip.last_seen)}${ip.bans ? `, ${ip.bans} bans` : ""}`,
    })
    : emptyBox("No blocked IPs", "No authentication failures recorded."));
}

function renderSummary(data) {
  const containers = data.containers || {};
  const storage = data.storage || {};
  const system = data.system || {};
  const percent = parseFloat(storage.used_percent) || 0;
  const fill = h("div", { class: `bar-fill ${percent >= 90 ? "red" : percent >= 75 ? "amber" : "green"}` });
  fill.style.width = `${Math.min(100, percent)}%`;
  $("#status-summary").replaceChildren(
    h("div", { class: "mini-stats" },
      h("div", { class: "mini-stat" }, h("div", { class: "v" }, `${fmtNumber(containers.running)}/${fmtNumber(containers.total)}`), h("div", { class: "l" }, "containers running")),
      h("div", { class: "mini-stat" }, h("div", { class: "v" }, fmtNumber(system.domains)), h("div", { class: "l" }, "domains")),
      h("div", { class: "mini-stat" }, h("div", { class: "v" }, fmtNumber(system.mailboxes)), h("div", { class: "l" }, "mailboxes")),
      h("div", { class: "mini-stat" }, h("div", { class: "v" }, fmtNumber(system.aliases)), h("div", { class: "l" }, "aliases"))),
    containers.stopped ? h("p", { class: "alert warn small", "data-stopped": "" },
      h("a", { href: "/status" }, `${fmtNumber(containers.stopped)} container${containers.stopped === 1 ? "" : "s"} not running`),
      (containers.not_running || []).length ? `: ${containers.not_running.join(", ")}` : "") : null,
    h("p", { class: "small muted" }, `Storage: ${storage.used || "–"} of ${storage.total || "–"} used (${storage.used_percent || "–"})`),
    h("div", { class: "meter" }, fill));
}

function renderQueueHealth(data) {
  const oldest = data.oldest_age_seconds;
  $("#queue-health").replaceChildren(
    h("div", { class: "mini-stats" },
      h("a", { class: "mini-stat", href: "/queue", "data-queue-size": "" }, h("div", { class: "v" }, fmtNumber(data.size)), h("div", { class: "l" }, "queued")),
      h("a", { class: "mini-stat", href: data.oldest_queue_id ? `/logs/postfix?queue_id=${encodeURIComponent(data.oldest_queue_id)}` : "/queue", "data-queue-oldest": "" },
        h("div", { class: "v" }, oldest === null || oldest === undefined ? "–" : fmtDelay(oldest)), h("div", { class: "l" }, "oldest"))),
    (data.by_domain || []).length
      ? barList(data.by_domain.slice(0, 5), { label: (g) => g.key, value: (g) => g.messages, tone: "amber",
        href: (g) => `/queue?q=${encodeURIComponent(g.key)}`, title: (g) => `oldest ${fmtDelay(g.oldest_age_seconds)}` })
      : h("p", { class: "small muted" }, "Nothing waits in the queue."));
}

function renderTopReasons(data) {
  const items = data.data || [];
  $("#top-reasons").replaceChildren(items.length
    ? barList(items, { label: (g) => g.reason, value: (g) => g.messages, tone: "red",
      href: (g) => `/messages?reason=${encodeURIComponent(g.reason)}&range=24h`, title: (g) => g.example })
    : emptyBox("No bounces, deferrals or rejects in the last 24 hours"));
}

// The daily counters outlive the messages (COUNTER_RETENTION_DAYS): a compliance count per day.
function renderDaily(data) {
  const days = data.by_day || [];
  $("#daily-counts").replaceChildren(days.length
    ? barList(days, { label: (d) => d.date, value: (d) => d.messages, tone: "blue",
      href: (d) => `/api/export/daily/csv?start_date=${d.date}&end_date=${d.date}`,
      title: (d) => `${d.date}: ${d.messages} (each message once per local sender or recipient)` })
    : emptyBox("No messages counted in the last 14 days"));
}

function renderRecent(data) {
  const items = data.activity || [];
  if (!items.length) {
    $("#recent").replaceChildren(emptyBox("No recent activity"));
    return;
  }
  $("#recent").replaceChildren(table(["Time", "Direction", "From", "To", "Subject", "Status"], items.map((item) => {
    const key = item.correlation_key;
    const link = key ? h("a", { href: messageUrl(key), "data-message-link": key }, item.subject || "(no subject)") : (item.subject || "(no subject)");
    if (key) link.addEventListener("click", (event) => { event.stopPropagation(); handleMessageClick(event, key); });
    const tr = h("tr", { class: key ? "clickable" : null, "data-key": key || null },
      h("td", null, timeEl(item.time, { short: true })),
      h("td", null, directionBadge(item.direction)),
      h("td", { class: "cell-email" }, item.sender || "<>"),
      h("td", { class: "cell-email" }, item.recipient || "–"),
      h("td", { class: "subject" }, link),
      h("td", null, h("div", { class: "badges" }, statusBadge(item.status), spamBadge(item.is_spam))));
    if (key) tr.addEventListener("click", (event) => { if (!event.target.closest("a")) openPanel(key); });
    return tr;
  }), { stack: true }));
}

const SECTIONS = [
  ["/stats/dashboard", null, (d) => { renderCounters(d); renderDirection(d); }, "#direction"],
  ["/stats/timeline", { hours: 24 }, (d) => { timelineData = d.timeline || []; drawTimeline(); }, "#timeline-state"],
  ["/stats/top-spam-triggers", { limit: 8 }, renderTriggers, "#top-triggers"],
  ["/stats/top-blocked-ips", { limit: 8 }, renderIps, "#top-ips"],
  ["/stats/recent-activity", { limit: 15 }, renderRecent, "#recent"],
  ["/status/summary", null, renderSummary, "#status-summary"],
  ["/queue/health", null, renderQueueHealth, "#queue-health"],
  ["/insights/reasons", () => ({ limit: 5, start_date: rangeStart("24h") }), renderTopReasons, "#top-reasons"],
  ["/stats/daily", () => ({ limit: 1, start_date: new Date(Date.now() - 13 * 86400000).toISOString().slice(0, 10) }),
    renderDaily, "#daily-counts"],
];

async function load({ background }) {
  const results = await Promise.allSettled(SECTIONS.map(async ([path, params, render, target]) => {
    try {
      const query = typeof params === "function" ? params() : params;
      render(await apiGet(path, path.startsWith("/stats/") ? withEnd(query) : query));
    } catch (error) {
      // A failed background refresh keeps the last good numbers on screen.
      if (!background || !$(target).children.length) $(target).replaceChildren(errorBox(error));
      throw error;
    }
  }));
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length === results.length) throw failed[0].reason;
}

if (initShell()) {
  initPanel();
  onThemeChange(drawTimeline);
  new AutoRefresh(load);
}
