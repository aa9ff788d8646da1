// Authentication failures and bans, built from the netfilter log the API serves
// (GET /api/logs/netfilter) and the blocked-IP ranking (GET /api/stats/top-blocked-ips).
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, fmtDelay, timeEl, ago, errorBox, emptyBox, loadingBox, table, badge, parseTime, utcTitle } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { bindFilters } from "../lib/filters.js";
import { readParams, dateParams, buildSearch } from "../lib/url.js";
import { drawChart, baseOptions, onThemeChange } from "../lib/charts.js";

const PAGE_SIZE = 500;
const MAX_PAGES = 10;   // the newest 5,000 events: enough for a picture, bounded for the browser

async function fetchEvents(state) {
  const params = { ...dateParams(state), ip: state.ip, username: state.username, action: state.action, limit: PAGE_SIZE };
  const events = [];
  let total = 0;
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const data = await apiGet("/logs/netfilter", { ...params, page });
    total = data.total || 0;
    events.push(...(data.data || []));
    if (page >= (data.pages || 1)) break;
  }
  return { events, total };
}

// mailcow logs one failure as "matched rule id N (… by IP)" plus a countdown line
// ("N more attempts … until IP is banned"); count the first kind when present.
function classify(events) {
  const matched = events.filter((e) => e.action === "warning" && (e.rule_id !== null && e.rule_id !== undefined || e.username));
  const failures = matched.length ? matched : events.filter((e) => e.action === "warning");
  const bans = events.filter((e) => e.action === "banned");
  return { failures, bans };
}

function aggregate(list, keyOf, otherOf) {
  const map = new Map();
  for (const e of list) {
    const key = keyOf(e);
    if (!key) continue;
    if (!map.has(key)) map.set(key, { key, failures: 0, bans: 0, others: new Set(), last: null, methods: new Set() });
    const entry = map.get(key);
    if (e.action === "banned") entry.bans += 1; else entry.failures += 1;
    const other = otherOf(e);
    if (other) entry.others.add(other);
    if (e.auth_method) entry.methods.add(e.auth_method);
    if (!entry.last || String(e.time) > String(entry.last)) entry.last = e.time;
  }
  return Array.from(map.values()).sort((a, b) => b.failures + b.bans - (a.failures + a.bans) || String(b.last).localeCompare(String(a.last)));
}

function counters({ failures, bans }, ips, users) {
  const stat = (label, value, tone) => h("div", { class: `card stat ${tone}` },
    h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, fmtNumber(value)));
  $("#sec-counters").replaceChildren(
    stat("Auth failures", failures.length, "tone-amber"),
    stat("Bans", bans.length, "tone-red"),
    stat("Distinct IPs", ips.length, "tone-purple"),
    stat("Usernames tried", users.length, ""));
}

function filterLink(params) {
  return `/security${buildSearch({ ...readParams(), ...params })}`;
}

function someOf(set, max = 3) {
  const values = Array.from(set);
  if (!values.length) return h("span", { class: "muted" }, "–");
  return h("span", { title: values.join(", ") }, values.slice(0, max).join(", ") + (values.length > max ? ` +${values.length - max}` : ""));
}

function byIpTable(rows) {
  if (!rows.length) return emptyBox("No failures or bans");
  return table(["IP", "Country", { label: "Failures", class: "num" }, { label: "Bans", class: "num" }, "Usernames", "Last seen"],
    rows.slice(0, 100).map((r) => h("tr", { "data-ip": r.key },
      h("td", { class: "mono nowrap" }, h("a", { href: filterLink({ ip: r.key }) }, r.key)),
      h("td", { class: "nowrap", "data-country": r.key }, "…"),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "num" }, r.bans ? badge(fmtNumber(r.bans), "red") : "0"),
      h("td", { class: "cell-email" }, someOf(r.others)),
      h("td", null, timeEl(r.last, { short: true })))), { stack: true });
}

function byUserTable(rows) {
  if (!rows.length) return emptyBox("No usernames in the failures", "Some failures (e.g. SMTP without a login name) carry no username.");
  return table(["Username", { label: "Failures", class: "num" }, "IPs", "Method", "Last seen"],
    rows.slice(0, 100).map((r) => h("tr", { "data-username": r.key },
      h("td", { class: "cell-email" }, h("a", { href: filterLink({ username: r.key }) }, r.key)),
      h("td", { class: "num" }, fmtNumber(r.failures)),
      h("td", { class: "mono small" }, someOf(r.others, 2)),
      h("td", { class: "small" }, someOf(r.methods, 2)),
      h("td", null, timeEl(r.last, { short: true })))), { stack: true });
}

let chartSeries = null;

function buildSeries({ failures, bans }, state) {
  const times = [...failures, ...bans].map((e) => parseTime(e.time)).filter(Boolean).map((d) => d.getTime());
  if (!times.length) return null;
  const start = dateParams(state).start_date ? parseTime(dateParams(state).start_date).getTime() : Math.min(...times);
  const end = Math.max(Date.now(), ...times);
  const hourly = end - start <= 4 * 86400 * 1000;
  const step = hourly ? 3600 * 1000 : 86400 * 1000;
  const floor = (t) => {
    const d = new Date(t);
    if (hourly) d.setMinutes(0, 0, 0); else d.setHours(0, 0, 0, 0);
    return d.getTime();
  };
  const buckets = new Map();
  for (let t = floor(start); t <= end; t += step) buckets.set(floor(t), { failures: 0, bans: 0 });
  const add = (list, field) => {
    for (const e of list) {
      const d = parseTime(e.time);
      if (!d) continue;
      const key = floor(d.getTime());
      if (!buckets.has(key)) buckets.set(key, { failures: 0, bans: 0 });
      buckets.get(key)[field] += 1;
    }
  };
  add(failures, "failures");
  add(bans, "bans");
  const keys = Array.from(buckets.keys()).sort((a, b) => a - b);
  const fmt = new Intl.DateTimeFormat(undefined, hourly ? { month: "short", day: "2-digit", hour: "2-digit" } : { month: "short", day: "2-digit" });
  return {
    unit: hourly ? "per hour" : "per day",
    labels: keys.map((k) => fmt.format(new Date(k))),
    titles: keys.map((k) => utcTitle(new Date(k).toISOString())),
    failures: keys.map((k) => buckets.get(k).failures),
    bans: keys.map((k) => buckets.get(k).bans),
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

async function fillCountries() {
  const cells = Array.from(document.querySelectorAll("[data-country]"));
  if (!cells.length) return;
  const ips = [...new Set(cells.map((c) => c.dataset.country))];
  const places = (await apiGet("/security/places", { ip: ips.join(",") })).data || {};
  for (const cell of cells) cell.replaceChildren(placeText(places[cell.dataset.country]));
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
    const { events, total } = await fetchEvents(state);
    const classified = classify(events);
    const ips = aggregate([...classified.failures, ...classified.bans], (e) => e.ip, (e) => e.username);
    const users = aggregate(classified.failures, (e) => e.username, (e) => e.ip);
    counters(classified, ips, users);
    $("#by-ip").replaceChildren(byIpTable(ips));
    $("#by-user").replaceChildren(byUserTable(users));
    fillCountries().catch(() => { for (const cell of document.querySelectorAll("[data-country]")) cell.textContent = "–"; });
    $("#sec-note").replaceChildren(total > events.length
      ? h("div", { class: "alert warn small" }, `Showing the newest ${fmtNumber(events.length)} of ${fmtNumber(total)} events; narrow the time range for exact figures.`)
      : "");
    const logParams = { ip: state.ip, username: state.username, action: state.action, range: state.range, start_date: state.start_date, end_date: state.end_date };
    $("#ip-log-link").href = `/logs/netfilter${buildSearch(logParams)}`;
    chartSeries = buildSeries(classified, state);
    drawFailures();
  } catch (error) {
    if (!background) for (const t of targets) $(t).replaceChildren(errorBox(error, "netfilter events"));
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
