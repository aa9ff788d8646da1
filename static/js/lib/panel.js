// The message side panel, openable from any list. Its state is the `open` URL parameter,
// so reloads, links and the back button keep it; Esc closes it.
import { $ } from "./dom.js";
import { readParams, writeParams } from "./url.js";
import { renderMessage, messageUrl } from "./message-view.js";
import { onEscape } from "./shell.js";

let shownKey = null;
let lastFocus = null;

function elements() {
  return { panel: $("#panel"), backdrop: $("#panel-backdrop"), body: $("#panel-body"), page: $("#panel-open-page") };
}

function show(key) {
  const { panel, backdrop, body, page } = elements();
  if (shownKey === key && !panel.hidden) return;
  shownKey = key;
  lastFocus = document.activeElement;
  panel.hidden = false;
  backdrop.hidden = false;
  page.href = messageUrl(key);
  renderMessage(body, key);
  $("#panel-close").focus();
}

function hide() {
  const { panel, backdrop, body } = elements();
  if (panel.hidden) return;
  panel.hidden = true;
  backdrop.hidden = true;
  body.replaceChildren();
  shownKey = null;
  if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
}

/** Shows or hides the panel to match the URL. */
export function syncPanel() {
  const key = readParams().open;
  if (key) show(key);
  else hide();
}

export function openPanel(key) {
  writeParams({ ...readParams(), open: key });
  syncPanel();
}

export function closePanel() {
  const params = readParams();
  if (!params.open) return false;
  delete params.open;
  writeParams(params);
  syncPanel();
  return true;
}

/** A click on a message link opens the panel, unless the user asked for a new tab. */
export function handleMessageClick(event, key) {
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) return;
  event.preventDefault();
  openPanel(key);
}

export function initPanel() {
  $("#panel-close").addEventListener("click", closePanel);
  $("#panel-backdrop").addEventListener("click", closePanel);
  onEscape(() => closePanel());
  window.addEventListener("popstate", syncPanel);
  // Links inside the panel (related messages) replace its content instead of leaving.
  $("#panel-body").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-message-link]");
    if (link) handleMessageClick(event, link.dataset.messageLink);
  });
  syncPanel();
}
