import { h, timeEl, statusBadge, dash, table } from "../lib/dom.js";
import { listPage } from "../lib/listpage.js";
import { handleMessageClick } from "../lib/panel.js";
import { messageUrl } from "../lib/message-view.js";
import { serverHeading, serverCell } from "../lib/common.js";

// What a line says in one word: the Sieve action of a delivery, else the kind of line.
function what(row) {
  if (row.parsed === false) return statusBadge("unparsed");
  if (row.kind === "lmtp" && row.action) return statusBadge(row.action === "discard" ? "discarded" : row.action);
  return row.kind ? statusBadge(row.kind === "auth_failure" ? "auth failure" : row.kind) : null;
}

const page = listPage({
  path: "/logs/dovecot",
  filters: ["search", "user", "message_id", "session", "kind"],
  exportSource: "dovecot",
  noun: "lines",
  render: (items) => table(["Time", ...serverHeading(), "What", "User", "Folder", "IP", "Message", ""], items.map((row) => {
    const user = row.user ? h("button", { type: "button", class: "link-btn", title: "Show only this user" }, row.user) : "–";
    if (row.user) user.addEventListener("click", () => page.filterBy({ user: row.user }));
    let open = null;
    if (row.correlation_key) {
      open = h("a", { href: messageUrl(row.correlation_key), class: "small", "data-message-link": row.correlation_key }, "message ›");
      open.addEventListener("click", (event) => handleMessageClick(event, row.correlation_key));
    }
    return h("tr", { "data-kind": row.kind || "" },
      h("td", null, timeEl(row.time, { short: true })),
      serverCell(row),
      h("td", null, what(row)),
      h("td", { class: "cell-email" }, user),
      h("td", { class: "nowrap" }, dash(row.folder)),
      h("td", { class: "nowrap mono" }, dash(row.ip)),
      h("td", { class: "msg" }, row.message || ""),
      h("td", { class: "nowrap" }, open));
  })),
});
