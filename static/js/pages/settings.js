// The running configuration, read-only, from GET /api/settings/info.
import { apiGet } from "../lib/api.js";
import { $, h, errorBox, emptyBox, loadingBox, table, valueNode, humanKey } from "../lib/dom.js";
import { initShell } from "../lib/shell.js";

async function load() {
  const box = $("#configuration");
  box.replaceChildren(loadingBox());
  try {
    const info = await apiGet("/settings/info");
    const entries = Object.entries(info.configuration || {});
    box.replaceChildren(entries.length
      ? table(["Setting", "Value"], entries.map(([key, value]) => h("tr", { "data-setting": key },
        h("td", { class: "nowrap" }, h("div", null, humanKey(key)), h("div", { class: "mono muted small" }, key.toUpperCase())),
        h("td", { class: "wrap" }, valueNode(value)))))
      : emptyBox("No configuration reported"));
  } catch (error) {
    box.replaceChildren(errorBox(error, "the configuration"));
  }
}

if (initShell()) load();
