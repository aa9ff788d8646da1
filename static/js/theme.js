// Runs in <head> before first paint: applies the remembered theme, else follows the system.
(function () {
  var stored = null;
  try { stored = localStorage.getItem("mlv-theme"); } catch (e) { /* storage disabled */ }
  var dark = stored ? stored === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
})();
