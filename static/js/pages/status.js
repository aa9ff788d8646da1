// mailcow's containers, storage and objects, and this app's own import, correlation and jobs.
import { apiGet } from "../lib/api.js";
import {
  $, h, fmtNumber, fmtBytes, timeEl, ago, badge, toneFor, errorBox, emptyBox, table, valueNode, humanKey, utcTitle, dash,
} from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { buildSearch } from "../lib/url.js";

const SOURCES = ["postfix", "rspamd", "netfilter", "dovecot"];

// One row per mailcow server: can we reach it, is each source fetched, what was lost, what the
// fetches cost it, and its containers (read from that server alone, so a dead one shows as such).
async function renderServers() {
  const { servers } = await apiGet("/servers", { server: null });
  const containers = await Promise.allSettled(servers.map((s) => apiGet("/status/containers", { server: s.name })));
  $("#servers").replaceChildren(table(["Server", "State", "Sources", { label: "Gaps", class: "num" },
    { label: "API traffic a day", class: "num" }, "Containers"], servers.map((server, index) => {
    const sources = server.sources || {};
    const gaps = server.gaps || {};
    const traffic = Object.values(server.traffic_bytes_per_day || {}).reduce((sum, n) => sum + (Number(n) || 0), 0);
    const box = containers[index];
    const summary = box.status === "fulfilled" ? (box.value.summary || {}) : null;
    return h("tr", { "data-server": server.name },
      h("td", null, h("a", { href: `/status${buildSearch({ server: server.name })}` }, server.name),
        server.url ? h("div", { class: "muted small mono" }, server.url) : null),
      h("td", { class: "wrap small" },
        server.reachable === false ? badge("unreachable", "red") : server.reachable ? badge("reachable", "green") : badge("not yet asked", "gray"),
        server.last_success ? h("div", null, "last answer ", timeEl(server.last_success, { short: true })) : null,
        server.last_error ? h("div", null, h("span", { class: "badge red" }, server.last_error)) : null),
      h("td", { class: "small" }, SOURCES.filter((name) => sources[name]).map((name) => {
        const s = sources[name];
        return h("div", { "data-source": name }, h("span", { class: "mono" }, name), " ",
          s.last_error ? badge("failing", "red", s.last_error) : null,
          `${fmtNumber(s.total_entries)} stored`, s.last_fetch_run ? [" · fetched ", timeEl(s.last_fetch_run, { short: true })] : null);
      })),
      h("td", { class: "num" }, Number(gaps.count) > 0
        ? badge(`${fmtNumber(gaps.count)} (~${fmtNumber(gaps.estimated_missed)} lines)`, "amber") : "0"),
      h("td", { class: "num" }, fmtBytes(traffic)),
      h("td", { class: "small" }, summary
        ? `${fmtNumber(summary.running)} running · ${fmtNumber(summary.stopped)} stopped`
        : h("span", { class: "badge red" }, box.reason.detail || "unavailable")));
  })));
}

function renderContainers(data) {
  const containers = Object.entries(data.containers || {}).map(([id, c]) => ({ id, ...c }));
  const summary = data.summary || {};
  $("#containers-summary").textContent = `${fmtNumber(summary.running)} running · ${fmtNumber(summary.stopped)} stopped · ${fmtNumber(summary.total)} total`;
  if (!containers.length) {
    $("#containers").replaceChildren(emptyBox("No containers reported"));
    return;
  }
  containers.sort((a, b) => (a.state === "running") - (b.state === "running") || String(a.name).localeCompare(String(b.name)));
  $("#containers").replaceChildren(h("div", { class: "containers" }, containers.map((c) => h("div", { class: "container-item", "data-container": c.name || c.id, title: c.image || c.id },
    h("span", { class: `dot ${c.state === "running" ? "green" : "red"}` }),
    h("div", { class: "ellipsis" },
      h("div", { class: "name" }, c.server ? `${c.server} · ${c.name || c.id}` : (c.name || c.id)),
      h("div", { class: "muted small" }, c.state === "running" && c.started_at ? `up since ${ago(c.started_at).replace(" ago", "")}` : (c.state || "unknown")))))));
}

function renderStorage(data) {
  const percent = parseFloat(data.used_percent) || 0;
  const fill = h("div", { class: `bar-fill ${percent >= 90 ? "red" : percent >= 75 ? "amber" : "green"}` });
  fill.style.width = `${Math.min(100, percent)}%`;
  $("#storage").replaceChildren(
    h("div", { class: "score-line" }, h("span", { class: "score-big" }, data.used_percent || "–"), h("span", { class: "muted" }, "used")),
    h("div", { class: "meter" }, fill),
    h("p", { class: "small muted" }, `${data.used || "–"} of ${data.total || "–"} on `, h("span", { class: "mono" }, data.disk || "–")));
}

function renderMailcowInfo(data) {
  const item = (label, v) => h("div", { class: "mini-stat" },
    h("div", { class: "v" }, fmtNumber(v && v.total)),
    h("div", { class: "l" }, label, v && v.active !== undefined && v.active !== v.total ? ` (${fmtNumber(v.active)} active)` : ""));
  $("#mailcow-info").replaceChildren(h("div", { class: "mini-stats" },
    item("domains", data.domains), item("mailboxes", data.mailboxes), item("aliases", data.aliases)));
}

function versionBlock(label, v) {
  return h("div", null,
    h("h3", null, label),
    h("dl", { class: "kv" },
      h("dt", null, "Running"), h("dd", null, h("span", { class: "mono" }, dash(v.current_version)), " ",
        v.update_available ? badge(`update: ${v.latest_version}`, "amber") : (v.latest_version ? badge("up to date", "green") : null)),
      v.error ? [h("dt", null, "Check"), h("dd", { class: "small muted" }, v.error)] : null,
      v.last_checked ? [h("dt", null, "Checked"), h("dd", null, timeEl(v.last_checked, { short: true }))] : null,
      v.release_url && /^https?:\/\//.test(v.release_url) ? [h("dt", null, "Release"), h("dd", null, h("a", { href: v.release_url, rel: "noopener noreferrer", target: "_blank" }, "notes ›"))] : null));
}

async function renderVersions() {
  const box = $("#versions");
  const [mailcow, app] = await Promise.allSettled([apiGet("/status/version"), apiGet("/status/app-version")]);
  box.replaceChildren(
    mailcow.status === "fulfilled" ? versionBlock("mailcow", mailcow.value) : errorBox(mailcow.reason, "mailcow version"),
    app.status === "fulfilled" ? versionBlock("Mailcow Logs Viewer", app.value) : errorBox(app.reason, "app version"));
  if (mailcow.status === "rejected" && app.status === "rejected") throw mailcow.reason;
}

const IMPORT_FIELDS = ["last_import", "last_fetch_run", "total_entries", "oldest_entry", "unparsed", "gaps", "estimated_missed", "last_error"];

function renderImport(info) {
  const status = info.import_status || {};
  const sources = Object.keys(status);
  if (!sources.length) {
    $("#import-status").replaceChildren(emptyBox("Nothing imported yet"));
    return;
  }
  const keys = [...IMPORT_FIELDS.filter((k) => sources.some((s) => k in status[s])),
    ...new Set(sources.flatMap((s) => Object.keys(status[s])).filter((k) => !IMPORT_FIELDS.includes(k) && k !== "recent_gaps"))];
  $("#import-status").replaceChildren(table(["Source", ...keys.map(humanKey)], sources.map((source) => {
    const s = status[source];
    return h("tr", { "data-source": source },
      h("td", null, h("a", { href: `/logs/${encodeURIComponent(source)}` }, source)),
      keys.map((k) => {
        if (k === "last_error") return h("td", { class: "wrap small" }, s[k] ? h("span", { class: "badge red" }, s[k]) : h("span", { class: "muted" }, "none"));
        if ((k === "unparsed" || k === "gaps" || k === "estimated_missed") && Number(s[k]) > 0) return h("td", { class: "num" }, badge(fmtNumber(s[k]), "amber"));
        if (k.startsWith("api_bytes")) return h("td", { class: "num" }, fmtBytes(s[k]));
        return h("td", { class: typeof s[k] === "number" ? "num" : null }, valueNode(s[k]));
      }));
  })));
  const gaps = sources.flatMap((source) => (status[source].recent_gaps || []).map((g) => ({ source, ...g })));
  const topLevel = Array.isArray(info.gaps) ? info.gaps : [];
  const allGaps = [...gaps, ...topLevel];
  if (!allGaps.length) {
    $("#gaps").replaceChildren(emptyBox("No gaps", "Every line mailcow logged was fetched."));
  } else {
    const keysOf = [...new Set(allGaps.flatMap((g) => Object.keys(g)))];
    $("#gaps").replaceChildren(table(keysOf.map(humanKey), allGaps.map((g) => h("tr", null, keysOf.map((k) => h("td", null, valueNode(g[k])))))));
  }
}

function renderCorrelation(info) {
  const c = info.correlation_status || {};
  const rate = Number(c.completion_rate);
  const fill = h("div", { class: `bar-fill ${rate >= 95 ? "green" : rate >= 80 ? "amber" : "red"}` });
  fill.style.width = `${Number.isFinite(rate) ? Math.min(100, rate) : 0}%`;
  const rest = Object.entries(c).filter(([k]) => !["total", "complete", "incomplete", "expired", "completion_rate"].includes(k));
  $("#correlation").replaceChildren(
    h("div", { class: "mini-stats" },
      ...["total", "complete", "incomplete", "expired"].filter((k) => k in c).map((k) => h("div", { class: "mini-stat" },
        h("div", { class: "v" }, fmtNumber(c[k])), h("div", { class: "l" }, `${k} messages`)))),
    Number.isFinite(rate) ? h("p", { class: "small muted" }, `${fmtNumber(rate, 1)} % complete`) : null,
    Number.isFinite(rate) ? h("div", { class: "meter" }, fill) : null,
    rest.length ? h("dl", { class: "kv" }, rest.map(([k, v]) => [h("dt", null, humanKey(k)), h("dd", null, valueNode(v))])) : null);
}

const JOB_MAIN = ["status", "description", "interval", "schedule", "last_run", "last_duration_seconds", "next_run", "runs", "failures", "last_error"];

function renderJobs(info) {
  const jobs = Object.entries(info.background_jobs || {});
  if (!jobs.length) {
    $("#jobs").replaceChildren(emptyBox("No background jobs reported"));
    return;
  }
  const columns = JOB_MAIN.filter((k) => jobs.some(([, j]) => k in j));
  $("#jobs").replaceChildren(table(["Job", ...columns.map(humanKey), "Details"], jobs.map(([name, job]) => {
    const extra = Object.entries(job).filter(([k]) => !columns.includes(k));
    return h("tr", { "data-job": name },
      h("td", { class: "mono nowrap" }, name),
      columns.map((k) => {
        if (k === "status") return h("td", null, badge(job.status || "–", toneFor(job.status)));
        if (k === "last_error") return h("td", { class: "wrap small" }, job[k] ? h("span", { class: "badge red" }, job[k]) : h("span", { class: "muted" }, "none"));
        if (k === "failures" && Number(job[k]) > 0) return h("td", { class: "num" }, badge(fmtNumber(job[k]), "red"));
        if (k === "last_duration_seconds") return h("td", { class: "num nowrap" }, job[k] === null || job[k] === undefined ? "–" : `${fmtNumber(job[k], 2)} s`);
        return h("td", { class: typeof job[k] === "number" ? "num" : "small" }, valueNode(job[k]));
      }),
      h("td", { class: "small" }, extra.length
        ? h("details", null, h("summary", null, extra.map(([k]) => humanKey(k)).join(", ")),
          h("pre", { class: "raw" }, JSON.stringify(Object.fromEntries(extra), null, 2)))
        : h("span", { class: "muted" }, "–")));
  })));
}

function renderAlertChannels(info) {
  const block = info.alerts || { open: 0, channels: [] };
  if (!block.channels.length) {
    $("#alert-channels").replaceChildren(emptyBox("No alert channel configured", `${fmtNumber(block.open)} open alerts`));
    return;
  }
  $("#alert-channels").replaceChildren(table(["Channel", "State", { label: "Delivered", class: "num" },
    { label: "Pending", class: "num" }, { label: "Failed", class: "num" }, "Last error"],
  block.channels.map((c) => h("tr", { "data-channel": c.channel },
    h("td", null, c.channel),
    h("td", null, c.consecutive_failures ? badge(`failing (${c.consecutive_failures} attempts)`, "red") : badge("ok", "green")),
    h("td", { class: "num" }, fmtNumber(c.delivered)), h("td", { class: "num" }, fmtNumber(c.pending)),
    h("td", { class: "num" }, fmtNumber(c.failed)),
    h("td", { class: "wrap small" }, dash(c.last_error), c.last_error_at ? h("div", null, timeEl(c.last_error_at, { short: true })) : null)))));
}

function renderIncomplete(info) {
  const items = info.recent_incomplete_correlations || [];
  if (!items.length) {
    $("#incomplete").replaceChildren(emptyBox("None", "Every recent message has its final outcome."));
    return;
  }
  $("#incomplete").replaceChildren(table(["Since", "Sender", "Recipient", "Status", "Queue ID", { label: "Age", class: "num" }],
    items.map((m) => h("tr", null,
      h("td", null, timeEl(m.created_at, { short: true })),
      h("td", { class: "cell-email" }, dash(m.sender)),
      h("td", { class: "cell-email" }, dash(m.recipient)),
      h("td", null, m.final_status ? badge(m.final_status, toneFor(m.final_status)) : "–"),
      h("td", { class: "mono" }, m.correlation_key ? h("a", { href: `/messages/${encodeURIComponent(m.correlation_key)}` }, dash(m.queue_id)) : dash(m.queue_id)),
      h("td", { class: "num nowrap", title: utcTitle(m.created_at) }, m.age_minutes === undefined ? "–" : `${fmtNumber(m.age_minutes)} min`)))));
}

async function part(fn, targets, background) {
  try {
    await fn();
  } catch (error) {
    for (const t of targets) if (!background || !$(t).children.length) $(t).replaceChildren(errorBox(error));
    throw error;
  }
}

async function load({ background }) {
  const results = await Promise.allSettled([
    ...($("#servers") ? [part(renderServers, ["#servers"], background)] : []),
    part(async () => renderContainers(await apiGet("/status/containers")), ["#containers"], background),
    part(async () => renderStorage(await apiGet("/status/storage")), ["#storage"], background),
    part(async () => renderMailcowInfo(await apiGet("/status/mailcow-info")), ["#mailcow-info"], background),
    part(renderVersions, ["#versions"], background),
    part(async () => {
      const info = await apiGet("/settings/info");
      renderImport(info);
      renderCorrelation(info);
      renderJobs(info);
      renderAlertChannels(info);
      renderIncomplete(info);
    }, ["#import-status", "#correlation", "#gaps", "#jobs", "#alert-channels", "#incomplete"], background),
  ]);
  if (results.every((r) => r.status === "rejected")) throw results[0].reason;
}

if (initShell()) new AutoRefresh(load);
