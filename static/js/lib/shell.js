// What every page shares: navigation, theme toggle, logout, footer versions, keyboard
// shortcuts, and the 30-second auto-refresh with its "updated N s ago" indicator.
import { apiGet } from "./api.js";
import { $, $$, h, ago } from "./dom.js";
import { fitTables } from "./fit.js";
import { buildSearch, chosenServer } from "./url.js";

const escapeHandlers = [];

/** Register a function run on Esc; it returns true when it closed something. */
export function onEscape(handler) {
  escapeHandlers.push(handler);
}

function initNav() {
  const key = document.body.dataset.nav;
  for (const link of $$(".nav a")) {
    if (link.dataset.nav === key) {
      link.classList.add("active");
      link.setAttribute("aria-current", "page");
    }
  }
  const toggle = $("#menu-toggle");
  const setOpen = (open) => {
    document.body.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => setOpen(!document.body.classList.contains("nav-open")));
  document.addEventListener("click", (event) => {
    if (document.body.classList.contains("nav-open") && !event.target.closest("#sidebar, #menu-toggle")) setOpen(false);
  });
  onEscape(() => {
    if (!document.body.classList.contains("nav-open")) return false;
    setOpen(false);
    return true;
  });
}

// The picked server stays when moving between pages; picking another shows the same page
// (with its filters) for that server, so "All servers" -> "mx2" narrows what is on screen.
function initServerPicker() {
  const picker = $("#server-picker");
  if (!picker) return;
  picker.value = chosenServer();
  if (chosenServer() && picker.value !== chosenServer()) {
    // A server that is not configured (an old link): the API's 400 says so on the page.
    picker.append(h("option", { value: chosenServer() }, chosenServer()));
    picker.value = chosenServer();
  }
  for (const link of $$(".nav a, a.brand")) link.search = buildSearch({});
  picker.addEventListener("change", () => {
    const params = new URLSearchParams(location.search);
    if (picker.value) params.set("server", picker.value);
    else params.delete("server");
    params.delete("page");
    const search = params.toString();
    location.assign(`${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
  });
}

function initTheme() {
  const button = $("#theme-toggle");
  const root = document.documentElement;
  const label = () => {
    const dark = root.dataset.theme === "dark";
    button.title = dark ? "Switch to light mode" : "Switch to dark mode";
    button.textContent = dark ? "☀" : "☾";
  };
  label();
  button.addEventListener("click", () => {
    const next = root.dataset.theme === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem("mlv-theme", next); } catch (e) { /* storage disabled */ }
    label();
    document.dispatchEvent(new CustomEvent("themechange"));
  });
  // Follow the system while the user has not chosen.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", (event) => {
    let stored = null;
    try { stored = localStorage.getItem("mlv-theme"); } catch (e) { stored = null; }
    if (stored) return;
    root.dataset.theme = event.matches ? "dark" : "light";
    label();
    document.dispatchEvent(new CustomEvent("themechange"));
  });
}

function initKeyboard() {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      for (let i = escapeHandlers.length - 1; i >= 0; i -= 1) {
        if (escapeHandlers[i]()) { event.preventDefault(); return; }
      }
      return;
    }
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const search = $("[data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });
}

async function initFooter() {
  const versionEl = $("#app-version");
  const badgeEl = $("#update-badge");
  try {
    const info = await apiGet("/info");
    versionEl.textContent = `v${info.version}`;
  } catch (e) { /* the page shows its own errors */ }
  try {
    const mailcow = await apiGet("/status/version");
    if (mailcow && mailcow.current_version) $("#mailcow-version").textContent = `mailcow ${mailcow.current_version}`;
  } catch (e) { /* mailcow unreachable: no version */ }
  try {
    const app = await apiGet("/status/app-version");
    if (app && app.current_version) versionEl.textContent = `v${app.current_version}`;
    if (app && app.update_available) {
      badgeEl.replaceChildren(h("span", { class: "badge amber update-badge", title: app.changelog || "" },
        `update available: v${app.latest_version}`));
      badgeEl.hidden = false;
    }
  } catch (e) { /* the endpoint may be missing or GitHub unreachable: no badge */ }
}

export function initShell() {
  // With auth on, the server sends a page only with a session; the logout button is a form.
  initNav();
  initServerPicker();
  initTheme();
  initKeyboard();
  initFooter();
  fitTables(document.body);
  return true;
}

/**
 * Calls `load` every `interval` ms while the tab is visible; shows "updated N s ago".
 * `load` re-reads the current state (filters, page) itself, so nothing is dropped.
 */
export class AutoRefresh {
  constructor(load, interval = 30000) {
    this.load = load;
    this.interval = interval;
    this.last = null;
    this.failed = false;
    this.running = null;
    this.el = $("#refresh-state");
    this.text = this.el.querySelector(".refresh-text");
    this.button = $("#refresh-now");
    this.el.hidden = false;
    this.button.hidden = false;
    this.button.addEventListener("click", () => this.now());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.stale()) this.now();
      this.paint();
    });
    setInterval(() => this.tick(), 1000);
  }

  stale() {
    return this.last === null || Date.now() - this.last >= this.interval;
  }

  tick() {
    if (!document.hidden && this.stale() && !this.running) this.now();
    this.paint();
  }

  /** Runs the load now; `fresh` (a filter change) shows the loading state and wins over a refresh in flight. */
  now({ fresh = false } = {}) {
    if (this.running && !fresh) return this.running;
    const run = (async () => {
      try {
        await this.load({ background: !fresh && this.last !== null });
        if (this.running === run) this.failed = false;
      } catch (error) {
        if (this.running === run && error.name !== "AbortError") this.failed = true;
      } finally {
        if (this.running === run) {
          this.last = Date.now();
          this.running = null;
        }
        this.paint();
      }
    })();
    this.running = run;
    return run;
  }

  reload() {
    return this.now({ fresh: true });
  }

  paint() {
    this.el.classList.toggle("paused", document.hidden);
    this.el.classList.toggle("failed", this.failed);
    if (this.last === null) {
      this.text.textContent = "loading…";
      return;
    }
    const seconds = Math.max(0, Math.round((Date.now() - this.last) / 1000));
    const prefix = this.failed ? "update failed" : "updated";
    this.text.textContent = document.hidden ? `paused · ${prefix} ${seconds} s ago` : `${prefix} ${seconds} s ago`;
    this.el.title = `Refreshes every ${this.interval / 1000} s while this tab is visible`;
  }
}

export { ago };
