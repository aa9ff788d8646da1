// Binds a filter <form> to the URL query: fields are named like the URL/API parameters.
import { $, $$, h, fmtNumber } from "./dom.js";
import { readParams, writeParams, isoToLocalInput, localInputToIso, RANGES } from "./url.js";

export function fillRangeSelect(select) {
  if (select.options.length) return;
  for (const [value, label] of RANGES) select.append(h("option", { value }, label));
}

function syncCustom(form) {
  const range = form.elements.range;
  const custom = $$("[data-custom-range]", form);
  for (const el of custom) el.hidden = !range || range.value !== "custom";
}

/** Copies URL state into the form. */
export function fillForm(form, state) {
  for (const el of Array.from(form.elements)) {
    if (!el.name) continue;
    const value = state[el.name] ?? "";
    if (el.type === "datetime-local") el.value = isoToLocalInput(value);
    else if (el.type === "checkbox") el.checked = value === "true" || value === "1";
    else el.value = value;
  }
  syncCustom(form);
}

/** Reads the form into a URL state object (empty values dropped). */
export function readForm(form) {
  const state = {};
  for (const el of Array.from(form.elements)) {
    if (!el.name || el.disabled) continue;
    let value;
    if (el.type === "datetime-local") value = localInputToIso(el.value);
    else if (el.type === "checkbox") value = el.checked ? "true" : "";
    else value = el.value.trim();
    if (value) state[el.name] = value;
  }
  if (state.range !== "custom") {
    delete state.start_date;
    delete state.end_date;
  }
  return state;
}

/**
 * Keeps form, URL and results in step. `extra` holds URL keys not in the form (limit, open…)
 * that survive a filter change; `page` resets to 1 when filters change.
 */
export function bindFilters(form, { onChange, keep = ["limit"] }) {
  const rangeSelect = form.elements.range;
  if (rangeSelect) fillRangeSelect(rangeSelect);
  fillForm(form, readParams());
  const submit = () => {
    const current = readParams();
    const next = readForm(form);
    for (const key of keep) if (current[key]) next[key] = current[key];
    writeParams(next);
    changed();
    onChange();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  for (const el of Array.from(form.elements)) {
    if (el.tagName === "SELECT" || el.type === "checkbox") {
      el.addEventListener("change", () => {
        syncCustom(form);
        if (el.name === "range" && el.value === "custom") return;  // wait for the dates
        submit();
      });
    }
  }
  // On phones only search and time show until asked; a set filter keeps them open.
  const toggle = $("[data-filters-toggle]", form);
  if (toggle) {
    const hiddenFilters = Array.from(form.querySelectorAll(".field:not(.grow):not(.keep) [name]"));
    const setExpanded = (open) => {
      form.classList.toggle("expanded", open);
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Fewer filters" : "More filters";
    };
    setExpanded(hiddenFilters.some((el) => el.value));
    toggle.addEventListener("click", () => setExpanded(!form.classList.contains("expanded")));
  }
  const reset = $("[data-reset]", form);
  if (reset) {
    reset.addEventListener("click", () => {
      const current = readParams();
      const next = {};
      for (const key of keep) if (current[key]) next[key] = current[key];
      fillForm(form, next);
      writeParams(next);
      changed();
      onChange();
    });
  }
  // The back button restores filters; a history step that only opened or closed the panel
  // leaves the results alone.
  const resultsKey = () => {
    const params = readParams();
    delete params.open;
    return JSON.stringify(params);
  };
  let lastKey = resultsKey();
  const changed = () => {
    const key = resultsKey();
    if (key === lastKey) return false;
    lastKey = key;
    return true;
  };
  window.addEventListener("popstate", () => {
    fillForm(form, readParams());
    if (changed()) onChange();
  });
  return { submit, changed };
}

/** Pagination bar: "1–50 of 1,234", prev/next, page size. */
export function renderPager(container, { total, page, pages, limit }, { onPage, onLimit, noun = "items" }) {
  const p = Number(page) || 1;
  const lim = Number(limit) || 50;
  const pageCount = Math.max(1, Number(pages) || Math.ceil((Number(total) || 0) / lim) || 1);
  const first = total ? (p - 1) * lim + 1 : 0;
  const last = Math.min(Number(total) || 0, p * lim);
  const sizeSelect = h("select", { class: "select", "aria-label": "Rows per page" },
    [25, 50, 100, 200, 500].map((n) => h("option", { value: String(n), selected: n === lim }, `${n} / page`)));
  sizeSelect.addEventListener("change", () => onLimit(Number(sizeSelect.value)));
  container.replaceChildren(
    h("div", { class: "pager-info", "data-total": String(total ?? 0) },
      total ? `${fmtNumber(first)}–${fmtNumber(last)} of ${fmtNumber(total)} ${noun}` : `0 ${noun}`,
      pageCount > 1 ? ` · page ${fmtNumber(p)} of ${fmtNumber(pageCount)}` : ""),
    sizeSelect,
    h("button", { type: "button", class: "btn btn-sm", disabled: p <= 1, onclick: () => onPage(p - 1), "data-pager": "prev" }, "‹ Prev"),
    h("button", { type: "button", class: "btn btn-sm", disabled: p >= pageCount, onclick: () => onPage(p + 1), "data-pager": "next" }, "Next ›"),
  );
}
