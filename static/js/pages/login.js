// The login form is checked by the server (POST /login sets the session cookie); this only
// shows that the click was taken.
import { $ } from "../lib/dom.js";

const form = $("#login-form");
const submit = $("#login-submit");

form.addEventListener("submit", () => {
  submit.disabled = true;
  submit.textContent = "Checking…";
});

// Back to this page from the history cache: the button works again.
window.addEventListener("pageshow", () => {
  submit.disabled = false;
  submit.textContent = "Log in";
});
