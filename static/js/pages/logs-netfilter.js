import { h, timeEl, statusBadge, dash, table } from "../lib/dom.js";
import { listPage } from "../lib/listpage.js";
import { filterLink, serverHeading, serverCell } from "../lib/common.js";

const page = listPage({
  path: "/logs/netfilter",
  filters: ["search", "ip", "username", "action"],
  exportSource: "netfilter",
  noun: "events",
  render: (items) => table(["Time", ...serverHeading(), "Action", "IP", "Username", "Method", { label: "Attempts left", class: "num" }, "Message"],
    items.map((row) => {
      const ip = row.ip ? h("button", { type: "button", class: "link-btn mono", title: "Show only this IP" }, row.ip) : "–";
      if (row.ip) ip.addEventListener("click", () => page.filterBy({ ip: row.ip }));
      return h("tr", null,
        h("td", null, timeEl(row.time, { short: true })),
        serverCell(row),
        h("td", null, statusBadge(row.action || row.priority)),
        h("td", { class: "nowrap" }, ip),
        h("td", { class: "cell-email" }, row.username ? filterLink(row.username, "/security", { username: row.username }) : "–"),
        h("td", { class: "nowrap" }, dash(row.auth_method)),
        h("td", { class: "num" }, dash(row.attempts_left)),
        h("td", { class: "msg" }, row.message || ""));
    })),
});
