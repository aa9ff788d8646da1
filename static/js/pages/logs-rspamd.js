import { h, timeEl, fmtNumber, badge, toneFor, directionBadge, dash, table } from "../lib/dom.js";
import { listPage } from "../lib/listpage.js";
import { handleMessageClick, openPanel } from "../lib/panel.js";
import { messageUrl } from "../lib/message-view.js";
import { recipientCell, filterLink, serverHeading, serverCell } from "../lib/common.js";

function scoreCell(row) {
  const score = Number(row.score);
  const required = Number(row.required_score);
  const cls = Number.isFinite(score) && Number.isFinite(required) && score >= required ? "sym-pos" : score < 0 ? "sym-neg" : "";
  return h("td", { class: `num nowrap ${cls}` }, Number.isFinite(score) ? fmtNumber(score, 2) : "–",
    h("span", { class: "muted small" }, ` / ${Number.isFinite(required) ? fmtNumber(required, 0) : "–"}`),
    h("div", { class: "badges end" }, badge(row.action || "–", toneFor(row.action)), row.is_spam ? badge("spam", "purple") : null));
}

// The three heaviest symbols, each a link to the scans that matched it.
function topSymbols(symbols) {
  const top = Object.entries(symbols || {})
    .filter(([, s]) => Number(s && s.score) > 0)
    .sort((a, b) => Number(b[1].score) - Number(a[1].score))
    .slice(0, 3);
  return top.length ? top.map(([name, s], i) => [i ? ", " : "", filterLink(name, "/logs/rspamd", { symbol: name }),
    ` (${fmtNumber(s.score, 1)})`]) : "–";
}

listPage({
  path: "/logs/rspamd",
  filters: ["search", "sender", "direction", "min_score", "max_score", "action", "is_spam", "symbol"],
  exportSource: "rspamd",
  noun: "scans",
  // Direction sits under the time and the action under the score: nine columns did not fit at 1400 px.
  render: (items) => table(["Time", ...serverHeading(), "From", "To", "Subject", { label: "Score", class: "num" }, "Top symbols", "IP / user"],
    items.map((row) => {
      const key = row.correlation_key;
      const subject = key
        ? h("a", { href: messageUrl(key), "data-message-link": key }, row.subject || "(no subject)")
        : (row.subject || "(no subject)");
      if (key) subject.addEventListener("click", (event) => { event.stopPropagation(); handleMessageClick(event, key); });
      const tr = h("tr", { class: key ? "clickable" : null, "data-key": key || null },
        h("td", null, timeEl(row.time, { short: true }), h("div", null, directionBadge(row.direction))),
        serverCell(row),
        h("td", { class: "cell-email" }, row.sender_smtp ? filterLink(row.sender_smtp, "/logs/rspamd", { sender: row.sender_smtp }) : "–"),
        h("td", null, recipientCell(`rspamd-${row.id}`, row.recipients_smtp || [], 3, null, (r) => filterLink(r, "/messages", { recipient: r }))),
        h("td", { class: "subject" }, subject),
        scoreCell(row),
        h("td", { class: "small mono wrap" }, topSymbols(row.symbols)),
        h("td", { class: "small" }, h("div", { class: "mono" }, row.ip ? filterLink(row.ip, "/messages", { ip: row.ip }) : "–"),
          row.user ? h("div", { class: "cell-email" }, filterLink(row.user, "/messages", { user: row.user })) : null));
      if (key) tr.addEventListener("click", (event) => { if (!event.target.closest("a, button")) openPanel(key); });
      return tr;
    })),
});
