import { apiGet } from "../lib/api.js";
import { $, h, timeEl, statusBadge, directionBadge, spamBadge, errorBox, emptyBox, loadingBox, table } from "../lib/dom.js";
import { bindFilters, renderPager } from "../lib/filters.js";
import { bindExport, setExportHref } from "../lib/export.js";
import { initShell, AutoRefresh, onEscape } from "../lib/shell.js";
import { initPanel, handleMessageClick, openPanel } from "../lib/panel.js";
import { messageUrl, failingFirst, folderBadges } from "../lib/message-view.js";
import { readParams, writeParams, dateParams, buildSearch } from "../lib/url.js";
import { recipientsOfItem, recipientCell, mixedStatuses, filterLink, serverHeading, serverCell } from "../lib/common.js";

const FILTERS = ["search", "sender", "recipient", "direction", "status", "user", "ip", "domain", "mailbox", "reason"];

function apiParams(state) {
  const params = { page: state.page || 1, limit: state.limit || 50 };
  for (const key of FILTERS) if (state[key]) params[key] = state[key];
  return { ...params, ...dateParams(state) };
}

function row(item, openKey) {
  const key = item.correlation_key;
  const link = h("a", { href: messageUrl(key), class: "subject-link", "data-message-link": key },
    item.subject || "(no subject)");
  link.addEventListener("click", (event) => { event.stopPropagation(); handleMessageClick(event, key); });
  const tr = h("tr", { class: `clickable${key === openKey ? " selected" : ""}`, "data-key": key, tabindex: "0" },
    h("td", null, timeEl(item.first_seen || item.last_seen, { short: true })),
    serverCell(item),
    h("td", null, directionBadge(item.direction)),
    h("td", { class: "cell-email" }, item.sender ? filterLink(item.sender, "/messages", { sender: item.sender }) : h("span", { class: "muted" }, "<>")),
    h("td", null, recipientCell(key, item.outcomes && item.outcomes.length ? failingFirst(item.outcomes).map((o) => o.recipient)
      : recipientsOfItem(item), 3, mixedStatuses(item), (r) => filterLink(r, "/messages", { recipient: r }))),
    h("td", { class: "subject" }, link),
    h("td", null, h("div", { class: "badges" }, statusBadge(item.final_status), ...folderBadges(item.outcomes), spamBadge(item.is_spam, item.spam_score)),
      item.reason ? h("div", { class: "reason small", title: item.reason, "data-reason": item.reason },
        item.reason_key ? h("a", { href: `/messages${buildSearch({ reason: item.reason_key })}`, title: `${item.reason}\n(all messages that failed so)` }, item.reason_key) : item.reason) : null));
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    openPanel(key);
  });
  tr.addEventListener("keydown", (event) => {
    if (event.key === "Enter") openPanel(key);
  });
  return tr;
}

let generation = 0;

async function load({ background = false } = {}) {
  const state = readParams();
  const results = $("#results");
  setExportHref($("#export-csv"), "messages", apiParams(state));
  const mine = ++generation;
  if (!background) results.replaceChildren(loadingBox());
  let data;
  try {
    data = await apiGet("/messages", apiParams(state));
  } catch (error) {
    if (mine !== generation) return;
    if (!background || !results.querySelector("table")) results.replaceChildren(errorBox(error, "messages"));
    throw error;
  }
  if (mine !== generation) return;
  const items = data.data || [];
  if (!items.length) {
    const filtered = FILTERS.some((k) => state[k]) || state.range;
    results.replaceChildren(filtered
      ? emptyBox("No messages match these filters", "Widen the time range or clear a filter.")
      : emptyBox("No messages yet", "Messages appear here once logs have been fetched from mailcow."));
  } else {
    results.replaceChildren(table(["Time", ...serverHeading(), "Direction", "From", "To", "Subject", "Status"],
      items.map((item) => row(item, state.open)), { stack: true }));
  }
  renderPager($("#pager"), { total: data.total, page: data.page || state.page || 1, pages: data.pages, limit: data.limit || state.limit || 50 }, {
    noun: "messages",
    onPage: (page) => { writeParams({ ...readParams(), page }); filterCtl.changed(); refresher.reload(); window.scrollTo(0, 0); },
    onLimit: (limit) => { writeParams({ ...readParams(), limit, page: 1 }); filterCtl.changed(); refresher.reload(); },
  });
}

function initSyntaxHelp() {
  const toggle = $("#syntax-toggle");
  const help = $("#syntax-help");
  const set = (open) => { help.hidden = !open; toggle.setAttribute("aria-expanded", String(open)); };
  toggle.addEventListener("click", () => set(help.hidden));
  document.addEventListener("click", (event) => {
    if (!help.hidden && !event.target.closest("#syntax-help, #syntax-toggle")) set(false);
  });
  onEscape(() => { if (help.hidden) return false; set(false); return true; });
}

let refresher;
let filterCtl;
if (initShell()) {
  initSyntaxHelp();
  bindExport($("#export-csv"), "messages");
  refresher = new AutoRefresh(load);
  filterCtl = bindFilters($("#filters"), { onChange: () => refresher.reload() });
  initPanel();
  // Highlight the open message's row when the panel opens or closes.
  window.addEventListener("popstate", () => highlight());
  document.addEventListener("click", () => setTimeout(highlight, 0));
}

function highlight() {
  const key = readParams().open;
  for (const tr of document.querySelectorAll("#results tr[data-key]")) tr.classList.toggle("selected", tr.dataset.key === key);
}
