import { $ } from "../lib/dom.js";
import { initShell, AutoRefresh } from "../lib/shell.js";
import { renderMessage, messageUrl } from "../lib/message-view.js";

const TAB_NAMES = ["overview", "delivery", "spam", "security", "raw"];

function currentTab() {
  const tab = location.hash.replace("#", "");
  return TAB_NAMES.includes(tab) ? tab : "overview";
}

if (initShell()) {
  const container = $("#message");
  const key = container.dataset.key;
  const back = $("#back-to-list");
  // Came from the list: "back" keeps its filters.
  if (document.referrer) {
    try {
      const ref = new URL(document.referrer);
      if (ref.origin === location.origin && ref.pathname === "/messages") back.href = ref.pathname + ref.search;
    } catch (e) { /* keep the default */ }
  }
  const onTab = (tab) => {
    const hash = tab === "overview" ? "" : `#${tab}`;
    if (location.hash !== hash) history.replaceState(null, "", messageUrl(key) + hash);
  };
  // A message still in progress gains lines; its page refreshes, keeping the open tab.
  let complete = false;
  const refresher = new AutoRefresh(async ({ background }) => {
    if (background && complete) return;
    const scroll = window.scrollY;
    const msg = await renderMessage(container, key, { tab: currentTab(), onTab, quiet: background });
    if (background) window.scrollTo(0, scroll);
    if (msg) {
      complete = Boolean(msg.is_complete);
      document.title = `${msg.subject || "(no subject)"} · ${document.title.split(" · ").pop()}`;
    }
  });
  window.addEventListener("hashchange", () => refresher.reload());
}
