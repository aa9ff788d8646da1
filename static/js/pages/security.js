// Authentication failures and bans by IP, by username and over time, as the server counts
// them (GET /api/stats/auth-failures), and the blocked-IP ranking (GET /api/stats/top-blocked-ips).
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, timeEl, ago, errorBox, emptyBox, loadingBox, table, badge, parseTime, utcTitle } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { bindFilters } from "../lib/filters.js";
import { readParams, dateParams, buildSearch } from "../lib/url.js";
import { drawChart, baseOptions, onThemeChange } from "../lib/charts.js";

// The server counts (GET /api/stats/auth-failures) with the dashboard's rule; the page makes
// two requests per refresh, that one and the blocked-IP ranking.
const ROWS = 100;

function counters(data) {
  const stat = (label, value, tone) => h("div", { class: `card stat ${tone}` },
    h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, fmtNumber(value)));
  $("#sec-counters").replaceChildren(
    stat("Auth failures", data.failures, "tone-amber"),
    stat("Bans", data.bans, "tone-red"),
    stat("Distinct IPs", data.distinct_ips, "tone-purple"),
    stat("Usernames tried", data.usernames, ""));
}

function filterLink(params) {
  return `/security${buildSearch({ ...readParams(), ...params })}`;
}

// The first few of a list the server cut at its own limit, and how many there are in all.
function someOf(values, total = values.length, max = 3) {
  if (!values.length) return h("span", { class: "muted" }, "–");
  const shown = Math.min(max, values.length);
  return h("span", { title: values.join(", ") }, values.slice(0, shown).join(", ") + (total > shown ? ` +${total - shown}` : ""));
}

function byIpTable(rows) {
  if (!rows.length) return emptyBox("No failures or bans");
  return table(["IP", { label: "Failures", class: "num" }, { label: "Bans", class: "num" }, "Usernames", "Last seen"],
    rows.map((r) => h("tr", { "data-ip": r.ip },
      h("td", { class: "mono nowrap" }, h("a", { href: filterLink({ ip: r.ip }) }, r.ip)),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "num" }, r.bans ? badge(fmtNumber(r.bans), "red") : "0"),
      h("td", { class: "cell-email" }, someOf(r.usernames, r.username_count)),
      h("td", null, timeEl(r.last_seen, { short: true })))));
}

function byUserTable(rows) {
  if (!rows.length) return emptyBox("No usernames in the failures", "Some failures (e.g. SMTP without a login name) carry no username.");
  return table(["Username", { label: "Failures", class: "num" }, "IPs", "Method", "Last seen"],
    rows.map((r) => h("tr", { "data-username": r.username },
      h("td", { class: "cell-email" }, h("a", { href: filterLink({ username: r.username }) }, r.username)),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "mono small" }, someOf(r.ips, r.ip_count, 2)),
      h("td", { class: "small" }, someOf(r.methods, r.methods.length, 2)),
      h("td", null, timeEl(r.last_seen, { short: true })))));
}

let chartSeries = null;

function buildSeries(data) {
  const buckets = data.timeline || [];
  if (!buckets.some((b) => b.failures || b.bans)) return null;
  const hourly = data.unit === "hour";
  const fmt = new Intl.DateTimeFormat(undefined, hourly ? { month: "short", day: "2-digit", hour: "2-digit" } : { month: "short", day: "2-digit", timeZone: "UTC" });
  return {
    unit: hourly ? "per hour" : "per day (UTC)",
    labels: buckets.map((b) => fmt.format(parseTime(b.time))),
    titles: buckets.map((b) => utcTitle(b.time)),
    failures: buckets.map((b) => b.failures),
    bans: buckets.map((b) => b.bans),
  };
}

function drawFailures() {
  const canvas = $("#failures-chart");
  if (!chartSeries) {
    canvas.hidden = true;
    $("#chart-state").replaceChildren(emptyBox("No authentication failures in this range"));
    $("#chart-unit").textContent = "";
    return;
  }
  canvas.hidden = false;
  $("#chart-state").replaceChildren();
  $("#chart-unit").textContent = chartSeries.unit;
  const s = chartSeries;
  drawChart(canvas, (c) => ({
    type: "bar",
    data: {
      labels: s.labels,
      datasets: [
        { label: "Failures", data: s.failures, backgroundColor: c.amber, borderRadius: 2 },
        { label: "Bans", data: s.bans, backgroundColor: c.red, borderRadius: 2 },
      ],
    },
    options: { ...baseOptions(c, { stacked: true }), plugins: { legend: baseOptions(c).plugins.legend, tooltip: { callbacks: { footer: (items) => s.titles[items[0].dataIndex] } } } },
  }));
}

function renderTopIps(data) {
  const items = data.blocked_ips || [];
  if (!items.length) {
    $("#top-ips").replaceChildren(emptyBox("No blocked IPs"));
    return;
  }
  $("#top-ips").replaceChildren(table(["IP", { label: "Events", class: "num" }, "Last seen"], items.map((ip) => h("tr", null,
    h("td", { class: "mono nowrap" }, h("a", { href: filterLink({ ip: ip.ip }) }, ip.ip), ip.bans ? h("span", null, " ", badge(`${ip.bans} ban${ip.bans === 1 ? "" : "s"}`, "red")) : null),
    h("td", { class: "num" }, fmtNumber(ip.count)),
    h("td", { title: utcTitle(ip.last_seen) }, ago(ip.last_seen))))));
}

async function load({ background }) {
  const state = readParams();
  const targets = ["#by-ip", "#by-user"];
  if (!background) for (const t of targets) $(t).replaceChildren(loadingBox());
  const topIps = apiGet("/stats/top-blocked-ips", { limit: 10 }).then(renderTopIps).catch((error) => {
    $("#top-ips").replaceChildren(errorBox(error, "blocked IPs"));
  });
  try {
    // `warning` is what older links call failures.
    const action = state.action === "warning" ? "auth_failure" : state.action;
    const params = { ...dateParams(state), ip: state.ip, username: state.username, action, limit: ROWS };
    const data = await apiGet("/stats/auth-failures", params);
    counters(data);
    $("#by-ip").replaceChildren(byIpTable(data.by_ip));
    $("#by-user").replaceChildren(byUserTable(data.by_username));
    const logParams = { ip: state.ip, username: state.username, action: state.action, range: state.range, start_date: state.start_date, end_date: state.end_date };
    $("#ip-log-link").href = `/logs/netfilter${buildSearch(logParams)}`;
    chartSeries = buildSeries(data);
    drawFailures();
  } catch (error) {
    if (!background) for (const t of targets) $(t).replaceChildren(errorBox(error, "authentication failures"));
    throw error;
  } finally {
    await topIps;
  }
}

if (initShell()) {
  const refresher = new AutoRefresh(load);
  bindFilters($("#filters"), { onChange: () => refresher.reload() });
  onThemeChange(drawFailures);
}
