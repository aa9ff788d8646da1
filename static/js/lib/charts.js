// Chart.js (vendored, global `Chart`) with colours from the CSS theme variables.

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function themeColors() {
  return {
    text: cssVar("--muted"), grid: cssVar("--border"), green: cssVar("--green"), red: cssVar("--red"),
    amber: cssVar("--amber"), purple: cssVar("--purple"), blue: cssVar("--blue"), accent: cssVar("--accent"),
    teal: cssVar("--teal"), gray: cssVar("--gray"), surface: cssVar("--surface"),
  };
}

/** Creates or updates a chart in `canvas`; config is a function of the theme colours. */
export function drawChart(canvas, makeConfig) {
  if (!window.Chart) return null;
  const existing = window.Chart.getChart(canvas);
  const config = makeConfig(themeColors());
  if (existing) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update("none");
    return existing;
  }
  return new window.Chart(canvas, config);
}

/** Redraws charts when the theme changes; `redraw` re-runs the page's draw calls. */
export function onThemeChange(redraw) {
  document.addEventListener("themechange", redraw);
}

export function baseOptions(c, { stacked = false } = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: "index", intersect: false },
    plugins: { legend: { labels: { color: c.text, boxWidth: 12, boxHeight: 12 } } },
    scales: {
      x: { stacked, ticks: { color: c.text, maxRotation: 0, autoSkip: true, autoSkipPadding: 12 }, grid: { display: false } },
      y: { stacked, beginAtZero: true, ticks: { color: c.text, precision: 0 }, grid: { color: c.grid } },
    },
  };
}
