// A filtered, paginated list backed by one API endpoint: the shape of the log pages.
import { apiGet } from "./api.js";
import { $, errorBox, emptyBox, loadingBox } from "./dom.js";
import { bindFilters, renderPager } from "./filters.js";
import { bindExport, setExportHref } from "./export.js";
import { initShell, AutoRefresh } from "./shell.js";
import { initPanel } from "./panel.js";
import { readParams, writeParams, dateParams } from "./url.js";

export function listPage({ path, filters, exportSource, noun, render, defaults = {} }) {
  if (!initShell()) return;
  let generation = 0;
  let refresher;
  let filterCtl;
  const exportLink = $("#export-csv");

  const apiParams = (state) => {
    const params = { page: state.page || 1, limit: state.limit || defaults.limit || 50 };
    for (const key of filters) if (state[key]) params[key] = state[key];
    return { ...params, ...dateParams(state) };
  };

  const load = async ({ background }) => {
    const state = readParams();
    const results = $("#results");
    if (exportLink) setExportHref(exportLink, exportSource, apiParams(state));
    const mine = ++generation;
    if (!background) results.replaceChildren(loadingBox());
    let data;
    try {
      data = await apiGet(path, apiParams(state));
    } catch (error) {
      if (mine !== generation) return;
      if (!background || !results.querySelector("table")) results.replaceChildren(errorBox(error, noun));
      throw error;
    }
    if (mine !== generation) return;
    const items = data.data || [];
    if (!items.length) {
      const filtered = filters.some((k) => state[k]) || state.range;
      results.replaceChildren(filtered
        ? emptyBox(`No ${noun} match these filters`, "Widen the time range or clear a filter.")
        : emptyBox(`No ${noun} yet`, "They appear once logs have been fetched from mailcow."));
    } else {
      results.replaceChildren(render(items, state));
    }
    renderPager($("#pager"), { total: data.total, page: data.page || state.page || 1, pages: data.pages, limit: data.limit || state.limit || 50 }, {
      noun,
      onPage: (page) => { writeParams({ ...readParams(), page }); filterCtl.changed(); refresher.reload(); window.scrollTo(0, 0); },
      onLimit: (limit) => { writeParams({ ...readParams(), limit, page: 1 }); filterCtl.changed(); refresher.reload(); },
    });
  };

  if (exportLink) bindExport(exportLink, exportSource);
  refresher = new AutoRefresh(load);
  filterCtl = bindFilters($("#filters"), { onChange: () => refresher.reload() });
  initPanel();
  return {
    /** Sets some filters (e.g. a click on a queue id) as if typed into the form. */
    filterBy(values) {
      writeParams({ ...readParams(), ...values, page: 1 });
      filterCtl.changed();
      for (const [key, value] of Object.entries(values)) {
        const field = $("#filters").elements[key];
        if (field) field.value = value;
      }
      refresher.reload();
    },
  };
}
