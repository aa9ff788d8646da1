// Who signed in (or failed to), who signed out and what they exported: GET /api/audit.
import { apiGet } from "../lib/api.js";
import { $, h, dash, emptyBox, errorBox, loadingBox, table, timeEl } from "../lib/dom.js";
import { initShell } from "../lib/shell.js";

const EVENTS = { sign_in: "Signed in", sign_in_failed: "Sign-in failed", sign_out: "Signed out", export: "Export" };

async function load() {
  const box = $("#audit");
  box.replaceChildren(loadingBox());
  try {
    const rows = (await apiGet("/audit", { limit: 500 })).data || [];
    box.replaceChildren(rows.length
      ? table(["Time", "Event", "Who", "Role", "How", "Client", "Detail"], rows.map((e) => h("tr", { "data-event": e.event },
        h("td", { class: "nowrap" }, timeEl(e.time)), h("td", null, EVENTS[e.event] || e.event),
        h("td", { class: "mono" }, dash(e.username)), h("td", null, dash(e.role)), h("td", null, dash(e.method)),
        h("td", { class: "mono" }, dash(e.client)), h("td", { class: "wrap" }, dash(e.detail)))), { stack: true })
      : emptyBox("Nothing recorded yet"));
  } catch (error) {
    box.replaceChildren(errorBox(error, "the audit log"));
  }
}

if (initShell()) load();
