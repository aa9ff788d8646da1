// The page after "Sign in with mailcow" moves on by itself (a meta refresh, not a script: the
// CSP allows no inline code); this only follows the link at once where the refresh is slow.
import { $ } from "../lib/dom.js";

const link = $("#continue");
if (link) window.location.replace(link.getAttribute("href"));
