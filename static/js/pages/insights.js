// Insights: top failure reasons, destination health, per-domain and per-mailbox figures
// (GET /api/insights/...). Every count links to the message list behind it.
import { apiGet } from "../lib/api.js";
import { $, h, fmtNumber, fmtDelay, errorBox, emptyBox, loadingBox, table } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { bindFilters } from "../lib/filters.js";
import { readParams, writeParams, dateParams, buildSearch } from "../lib/url.js";

const STATUSES = ["delivered", "deferred", "bounced", "rejected"];

/** The page's time range, as the message list takes it. */
function rangeOf(state) {
  return state.range ? { range: state.range } : { start_date: state.start_date, end_date: state.end_date };
}

/** A link to /messages with `filter` and the page's time range; a zero is plain text. */
function countLink(count, filter, state) {
  if (!count) return h("span", { class: "muted" }, "0");
  return h("a", { href: `/messages${buildSearch({ ...filter, ...rangeOf(state) })}`, "data-count": "" }, fmtNumber(count));
}

function percent(rate) {
  return `${(rate * 100).toLocaleString(undefined, { maximumFractionDigits: 1 })} %`;
}

function reasonsTable(items, state) {
  if (!items.length) return emptyBox("No failures in this range", "No bounce, deferral or reject was logged.");
  const direction = state.direction ? { direction: state.direction } : {};
  return table(["Reason", { label: "Messages", class: "num" }, { label: "Bounced", class: "num" },
    { label: "Deferred", class: "num" }, { label: "Rejected", class: "num" }],
  items.map((item) => h("tr", { "data-reason": item.reason },
    h("td", { class: "wrap" }, h("a", { href: `/messages${buildSearch({ reason: item.reason, ...direction, ...rangeOf(state) })}`, class: "mono" }, item.reason),
      item.example ? h("div", { class: "reply small" }, item.example) : null),
    h("td", { class: "num" }, countLink(item.messages, { reason: item.reason, ...direction }, state)),
    ...["bounced", "deferred", "rejected"].map((status) => h("td", { class: "num" },
      countLink(item[status], { reason: item.reason, status, ...direction }, state))))),
  { stack: true });
}

function destinationsTable(items, state) {
  if (!items.length) return emptyBox("No remote deliveries in this range");
  return table(["Domain", { label: "Recipients", class: "num" }, { label: "Deferred", class: "num" },
    { label: "Bounced", class: "num" }, "Top reason"],
  items.map((item) => h("tr", { "data-domain": item.domain },
    h("td", { class: "cell-email" }, h("a", { href: `/messages${buildSearch({ domain: item.domain, ...rangeOf(state) })}` }, item.domain)),
    h("td", { class: "num" }, countLink(item.recipients, { domain: item.domain }, state)),
    h("td", { class: "num" }, countLink(item.deferred, { domain: item.domain, status: "deferred" }, state),
      h("div", { class: "muted small" }, percent(item.deferral_rate))),
    h("td", { class: "num" }, countLink(item.bounced, { domain: item.domain, status: "bounced" }, state),
      h("div", { class: "muted small" }, percent(item.bounce_rate))),
    h("td", { class: "wrap" }, item.top_reason
      ? h("a", { href: `/messages${buildSearch({ reason: item.top_reason, domain: item.domain, ...rangeOf(state) })}`, class: "mono small" }, item.top_reason)
      : h("span", { class: "muted" }, "–")))),
  { stack: true });
}

const ENTITY_COLUMNS = [
  ["entity", null], ["sent", "num"], ["received", "num"], ["delivered", "num"], ["deferred", "num"],
  ["bounced", "num"], ["rejected", "num"], ["spam", "num"], ["delay_median", "num"], ["delay_p95", "num"],
];
const LABELS = { entity: "Name", delay_median: "Median delay", delay_p95: "p95 delay" };

function sortHeader(name, cls, state, reload) {
  const active = (state.sort || "total") === name;
  const order = active && state.order !== "asc" ? "asc" : "desc";
  const label = LABELS[name] || name[0].toUpperCase() + name.slice(1);
  const button = h("button", { type: "button", class: "link-btn", "data-sort": name, "aria-pressed": String(active) },
    label, active ? (state.order === "asc" ? " ▲" : " ▼") : "");
  button.addEventListener("click", () => { writeParams({ ...readParams(), sort: name, order }); reload(); });
  return { label: button, class: cls };
}

function entitiesTable(items, state, filterKey, reload) {
  if (!items.length) return emptyBox("Nothing in this range");
  const headers = ENTITY_COLUMNS.map(([name, cls]) => sortHeader(name, cls, state, reload));
  const rows = items.map((item) => {
    const own = { [filterKey]: item.entity };
    // `sender=@example.org` is the domain's own mail (a final recipient's for `recipient=`).
    const address = filterKey === "mailbox" ? item.entity : `@${item.entity}`;
    return h("tr", { "data-entity": item.entity },
      h("td", { class: "cell-email" }, h("a", { href: `/messages${buildSearch({ ...own, ...rangeOf(state) })}` }, item.entity),
        item.counterparts.length ? h("div", { class: "muted small" }, "with ", item.counterparts.map((c, i) => [i ? ", " : "",
          h("a", { href: `/messages${buildSearch({ [filterKey]: c.entity, ...rangeOf(state) })}` }, c.entity), ` (${fmtNumber(c.messages)})`])) : null),
      h("td", { class: "num", "data-col": "sent" }, countLink(item.sent, { sender: address }, state)),
      h("td", { class: "num", "data-col": "received" }, countLink(item.received, { recipient: address }, state)),
      ...STATUSES.map((status) => h("td", { class: "num", "data-col": status }, countLink(item[status], { ...own, status }, state))),
      h("td", { class: "num" }, countLink(item.spam, { ...own, status: "spam" }, state)),
      h("td", { class: "num nowrap" }, fmtDelay(item.delay_median)),
      h("td", { class: "num nowrap" }, fmtDelay(item.delay_p95)));
  });
  // The phone layout labels each cell with its column name (the header is a button there).
  const built = table(headers, rows, { stack: true });
  for (const tr of built.querySelectorAll("tbody tr")) {
    Array.from(tr.children).forEach((td, i) => { td.dataset.label = LABELS[ENTITY_COLUMNS[i][0]] || ENTITY_COLUMNS[i][0]; });
  }
  return built;
}

async function section(target, path, params, render) {
  try {
    $(target).replaceChildren(render(await apiGet(path, params)));
  } catch (error) {
    $(target).replaceChildren(errorBox(error, target.slice(1)));
    throw error;
  }
}

let refresher;

async function load({ background }) {
  const state = readParams();
  const range = dateParams(state);
  const sorting = { sort: state.sort || "total", order: state.order || "desc" };
  if (!background) for (const id of ["#reasons", "#destinations", "#domains", "#mailboxes"]) $(id).replaceChildren(loadingBox());
  $("#domains-title").textContent = state.kind === "remote" ? "Remote domains" : "Our domains";
  const reload = () => refresher.reload();
  const results = await Promise.allSettled([
    section("#reasons", "/insights/reasons", { ...range, direction: state.direction }, (d) => reasonsTable(d.data, state)),
    section("#destinations", "/insights/destinations", { ...range, limit: 20 }, (d) => destinationsTable(d.data, state)),
    section("#domains", "/insights/domains", { ...range, ...sorting, kind: state.kind || "local" },
      (d) => entitiesTable(d.data, state, "domain", reload)),
    section("#mailboxes", "/insights/mailboxes", { ...range, ...sorting }, (d) => entitiesTable(d.data, state, "mailbox", reload)),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

if (initShell()) {
  refresher = new AutoRefresh(load);
  bindFilters($("#filters"), { onChange: () => refresher.reload(), keep: ["sort", "order"] });
}
