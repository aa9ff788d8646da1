import { h, timeEl, statusBadge, toneFor, table } from "../lib/dom.js";
import { listPage } from "../lib/listpage.js";
import { handleMessageClick } from "../lib/panel.js";
import { messageUrl } from "../lib/message-view.js";
import { serverHeading, serverCell } from "../lib/common.js";

// Lines of one queue ID (of one server: queue IDs are unique per server only) are shown together, in the order the queue IDs first appear; inside a
// group the lines keep the list's own order (newest first), so one order holds on the whole page.
function groups(items) {
  const byKey = new Map();
  items.forEach((line, index) => {
    const key = line.queue_id ? `${line.server || ""} ${line.queue_id}` : `line-${index}`;
    if (!byKey.has(key)) byKey.set(key, { queueId: line.queue_id, server: line.server, lines: [] });
    byKey.get(key).lines.push(line);
  });
  return Array.from(byKey.values());
}

function groupBody(group, page) {
  const lines = group.lines;
  const status = lines.find((l) => l.status)?.status;
  const sender = lines.find((l) => l.sender)?.sender;
  const recipients = [...new Set(lines.map((l) => l.recipient).filter(Boolean))];
  const key = lines.find((l) => l.correlation_key)?.correlation_key;
  const tone = status ? toneFor(status === "sent" ? "delivered" : status) : "";
  const body = h("tbody", { class: `qgroup${tone ? ` tone-${tone}` : ""}`, "data-queue-id": group.queueId || "" });
  if (group.queueId) {
    const filter = h("button", { type: "button", class: "link-btn mono", title: "Show only this queue ID" }, group.queueId);
    filter.addEventListener("click", () => page.filterBy({ queue_id: group.queueId }));
    let open = null;
    if (key) {
      open = h("a", { href: messageUrl(key), class: "small", "data-message-link": key }, "message ›");
      open.addEventListener("click", (event) => handleMessageClick(event, key));
    }
    body.append(h("tr", { class: "qhead" }, h("td", { colspan: String(4 + serverHeading().length) }, h("div", { class: "qhead-inner" },
      filter, serverHeading().length && group.server ? h("span", { class: "badge", "data-server": group.server }, group.server) : null, status ? statusBadge(status) : null,
      sender !== undefined ? h("span", { class: "cell-email" }, sender || "<>") : null,
      recipients.length ? h("span", { class: "muted" }, "→") : null,
      recipients.length ? h("span", { class: "cell-email" }, recipients.length > 2 ? `${recipients.slice(0, 2).join(", ")} +${recipients.length - 2}` : recipients.join(", ")) : null,
      h("span", { class: "muted small" }, `${lines.length} line${lines.length === 1 ? "" : "s"}`),
      open))));
  }
  for (const line of lines) {
    body.append(h("tr", { class: "qline" },
      h("td", null, timeEl(line.time, { short: true })),
      serverCell(line),
      h("td", { class: "nowrap small" }, line.program || ""),
      h("td", null, line.status ? statusBadge(line.status) : (line.parsed === false ? statusBadge("unparsed") : null)),
      h("td", { class: "msg" }, line.message || "")));
  }
  return body;
}

const page = listPage({
  path: "/logs/postfix",
  filters: ["search", "sender", "recipient", "status", "queue_id", "program"],
  exportSource: "postfix",
  noun: "lines",
  render: (items) => {
    const wrap = table(["Time", ...serverHeading(), "Program", "Status", "Message"], []);
    const tbl = wrap.querySelector("table");
    tbl.querySelector("tbody").remove();
    for (const group of groups(items)) tbl.append(groupBody(group, page));
    return wrap;
  },
});
