// Authentication failures and bans by IP (with each IP's country), by username and over time,
// as the server counts them (GET /api/stats/auth-failures), what is banned now
// (GET /api/security/bans) and Dovecot's failed mailbox logins: three requests a refresh.
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, fmtDelay, timeEl, ago, errorBox, emptyBox, loadingBox, table, badge, parseTime, utcTitle } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { bindFilters } from "../lib/filters.js";
import { readParams, dateParams, buildSearch } from "../lib/url.js";
import { drawChart, baseOptions, onThemeChange } from "../lib/charts.js";

// The server counts (GET /api/stats/auth-failures) with the dashboard's rule; the page makes
// three requests per refresh: that one, the bans in force and the countries of the listed IPs.
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
  return table(["IP", "Country", { label: "Failures", class: "num" }, { label: "Bans", class: "num" }, "Usernames", "Last seen"],
    rows.map((r) => h("tr", { "data-ip": r.ip },
      h("td", { class: "mono nowrap" }, h("a", { href: filterLink({ ip: r.ip }) }, r.ip)),
      h("td", { class: "nowrap" }, placeText(r)),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "num" }, r.bans ? badge(fmtNumber(r.bans), "red") : "0"),
      h("td", { class: "cell-email" }, someOf(r.usernames, r.username_count)),
      h("td", null, timeEl(r.last_seen, { short: true })))), { stack: true });
}

function byUserTable(rows) {
  if (!rows.length) return emptyBox("No usernames in the failures", "Some failures (e.g. SMTP without a login name) carry no username.");
  return table(["Username", { label: "Failures", class: "num" }, "IPs", "Method", "Last seen"],
    rows.map((r) => h("tr", { "data-username": r.username },
      h("td", { class: "cell-email" }, h("a", { href: filterLink({ username: r.username }) }, r.username)),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "mono small" }, someOf(r.ips, r.ip_count, 2)),
      h("td", { class: "small" }, someOf(r.methods, r.methods.length, 2)),
      h("td", null, timeEl(r.last_seen, { short: true })))), { stack: true });
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

function placeText(place) {
  if (!place || !place.country_code) return h("span", { class: "muted" }, "–");
  return h("span", { title: place.as_name ? `${place.country}, ${place.as_name}` : place.country },
    `${place.country_code} ${place.country}`, place.as_name ? h("div", { class: "muted small" }, place.as_name) : null);
}

function renderBans(data) {
  const items = data.data || [];
  $("#bans-count").textContent = `${fmtNumber(items.length)} network${items.length === 1 ? "" : "s"}`;
  if (!items.length) {
    $("#bans-now").replaceChildren(emptyBox("Nothing is banned now", "Bans whose time ran out or that were lifted are not listed."));
    return;
  }
  $("#bans-now").replaceChildren(table(["Network", "Country", "Banned", "Time left"], items.map((ban) => h("tr", { "data-ban": ban.network },
    h("td", { class: "mono nowrap" }, h("a", { href: filterLink({ ip: ban.ip || ban.network }) }, ban.network)),
    h("td", null, placeText(ban)),
    h("td", null, timeEl(ban.banned_at, { short: true })),
    h("td", { class: "nowrap", title: ban.until ? utcTitle(ban.until) : "until an unban is logged" },
      ban.seconds_left === null ? "until unbanned" : fmtDelay(ban.seconds_left)))), { stack: true }));
}

// Dovecot's own count of failed IMAP/POP3 logins (GET /api/stats/dovecot-login-failures).
function loginFailuresTable(rows, keyLabel, otherLabel) {
  if (!rows.length) return emptyBox("No failed mailbox logins");
  return table([keyLabel, { label: "Attempts", class: "num" }, { label: otherLabel, class: "num" }, "Last seen"],
    rows.map((row) => h("tr", { "data-login-failures": row.key },
      h("td", { class: "cell-email" }, row.key),
      h("td", { class: "num" }, fmtNumber(row.attempts)),
      h("td", { class: "num" }, fmtNumber(row.distinct_others)),
      h("td", { title: utcTitle(row.last_seen) }, ago(row.last_seen)))));
}

async function loadLoginFailures(state) {
  try {
    const data = await apiGet("/stats/dovecot-login-failures", { ...dateParams(state), limit: 10 });
    $("#dovecot-by-user").replaceChildren(loginFailuresTable(data.by_user || [], "User", "IPs"));
    $("#dovecot-by-ip").replaceChildren(loginFailuresTable(data.by_ip || [], "IP", "Users"));
  } catch (error) {
    $("#dovecot-by-user").replaceChildren(errorBox(error, "Dovecot logins"));
  }
}

async function load({ background }) {
  const state = readParams();
  const targets = ["#by-ip", "#by-user"];
  if (!background) for (const t of targets) $(t).replaceChildren(loadingBox());
  const logins = loadLoginFailures(state);
  // The IP filter applies here too: only what is banned now, of that address when one is asked for.
  const topIps = apiGet("/security/bans", { ip: state.ip }).then(renderBans).catch((error) => {
    $("#bans-now").replaceChildren(errorBox(error, "bans"));
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
    await logins;
  }
}

if (initShell()) {
  const refresher = new AutoRefresh(load);
  bindFilters($("#filters"), { onChange: () => refresher.reload() });
  onThemeChange(drawFailures);
}
