// CSV export links carry the current filter; with auth on they are fetched with the header.
import { authEnabled, downloadWithAuth } from "./api.js";
import { toast } from "./dom.js";
import { buildSearch } from "./url.js";

export function bindExport(link, source) {
  link.addEventListener("click", async (event) => {
    if (!authEnabled()) return;   // a plain link: the browser downloads it
    event.preventDefault();
    try {
      await downloadWithAuth(link.href, `${source}.csv`);
    } catch (error) {
      toast(error.detail || "Export failed");
    }
  });
}

export function setExportHref(link, source, params) {
  const clean = { ...params };
  delete clean.page;
  delete clean.limit;
  link.href = `/api/export/${source}/csv${buildSearch(clean)}`;
}
