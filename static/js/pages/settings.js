// The running configuration, read-only, from GET /api/settings/info.
import { apiGet } from "../lib/api.js";
import { $, h, errorBox, emptyBox, loadingBox, table, valueNode } from "../lib/dom.js";
import { initShell } from "../lib/shell.js";

async function load() {
  const box = $("#configuration");
  box.replaceChildren(loadingBox());
  try {
    const info = await apiGet("/settings/info");
    // The real variable names and the values in effect, as they would be typed into the environment.
    const entries = (info.variables || []).map((v) => [v.variable, v.label, v.value]);
    box.replaceChildren(entries.length
      ? table(["Setting", "Value"], entries.map(([variable, label, value]) => h("tr", { "data-setting": variable },
        h("td", { class: "nowrap" }, h("div", null, label), h("div", { class: "mono muted small" }, variable)),
        h("td", { class: "wrap" }, typeof value === "number" ? String(value) : valueNode(value)))))
      : emptyBox("No configuration reported"));
  } catch (error) {
    box.replaceChildren(errorBox(error, "the configuration"));
  }
}

if (initShell()) load();
