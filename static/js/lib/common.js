// Small pieces shared by list pages.
import { h, statusBadge } from "./dom.js";
import { buildSearch, serverNames } from "./url.js";

/** With several mailcow servers, lists name each item's server: the column heading (none with
 * one server) and the cell. */
export function serverHeading() {
  return serverNames().length > 1 ? ["Server"] : [];
}

export function serverCell(item) {
  if (serverNames().length < 2) return null;
  return h("td", { class: "nowrap small", "data-server": item.server || "" }, item.server || "–");
}

/** A value as a link to the list filtered by it (click-to-filter); an empty value is a dash. */
export function filterLink(text, path, params, className = "filter-link") {
  if (text === undefined || text === null || text === "") return h("span", { class: "muted" }, "–");
  return h("a", { class: className, href: `${path}${buildSearch(params)}`, title: "Show only these" }, String(text));
}

/** Recipients of a list item: `recipients` array when present, else `recipient` (maybe comma separated). */
export function recipientsOfItem(item) {
  if (Array.isArray(item.recipients) && item.recipients.length) return item.recipients;
  if (Array.isArray(item.recipients_smtp) && item.recipients_smtp.length) return item.recipients_smtp;
  const one = item.recipient || "";
  return one ? one.split(/\s*,\s*/).filter(Boolean) : [];
}

const expanded = new Set();

/** All recipients; more than `max` collapse behind a "+N more" toggle that survives refreshes. */
export function recipientCell(id, recipients, max = 3, statusOf = null, linkOf = null) {
  const cell = h("div", { class: "rcpt-list" });
  const paint = () => {
    const open = expanded.has(id) || recipients.length <= max;
    const shown = open ? recipients : recipients.slice(0, max - 1);
    cell.replaceChildren(...shown.map((r) => h("span", { class: "rcpt-item" }, h("span", { class: "cell-email" }, linkOf ? linkOf(r) : r),
      statusOf && statusOf(r) ? statusBadge(statusOf(r)) : null)));
    if (!recipients.length) cell.append(h("span", { class: "muted" }, "–"));
    if (recipients.length > max) {
      const toggle = h("button", { type: "button", class: "link-btn", "aria-expanded": String(open) },
        open ? "show fewer" : `+${recipients.length - shown.length} more`);
      toggle.addEventListener("click", (event) => {
        event.stopPropagation();
        if (expanded.has(id)) expanded.delete(id); else expanded.add(id);
        paint();
      });
      cell.append(toggle);
    }
  };
  paint();
  return cell;
}

/** Per-recipient statuses of a list item, only when they differ (else the row badge says it all). */
export function mixedStatuses(item) {
  const outcomes = Array.isArray(item.outcomes) ? item.outcomes : [];
  const statuses = new Set(outcomes.map((o) => o.status));
  if (outcomes.length < 2 || statuses.size < 2) return null;
  const byRecipient = new Map(outcomes.map((o) => [o.recipient, o.status]));
  return (recipient) => byRecipient.get(recipient);
}
