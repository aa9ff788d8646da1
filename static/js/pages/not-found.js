// The not-found page has no data: only the shared navigation, theme and shortcuts.
import { initShell } from "../lib/shell.js";

initShell();
