// Tables that do not fit their card become cards: each row a small block, each cell labelled
// by its column (data-label, set by dom.js `table`). Checked whenever the content changes or
// the window is resized, so a table is never cut off, at 1400 px or at 375 px, whatever its
// columns. Tables built with `stack` (the main lists) are always cards on a phone.
const PHONE = window.matchMedia("(max-width: 560px)");

function fit(root) {
  for (const wrap of root.querySelectorAll(".table-wrap")) {
    const table = wrap.querySelector(":scope > table.data");
    if (!table) continue;
    table.classList.remove("as-cards");
    if ((PHONE.matches && table.classList.contains("stack")) || table.scrollWidth > wrap.clientWidth + 1) {
      table.classList.add("as-cards");
    }
  }
}

/** Keeps every table under `root` fitted; the work runs in an animation frame, never inside an observer callback. */
export function fitTables(root = document.body) {
  let pending = false;
  let width = root.clientWidth;
  const schedule = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fit(root); });
  };
  new MutationObserver(schedule).observe(root, { childList: true, subtree: true });
  new ResizeObserver(() => {
    if (root.clientWidth !== width) { width = root.clientWidth; schedule(); }
  }).observe(root);
  schedule();
}
