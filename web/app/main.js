// Entry point: renders the app shell; any error that escapes a view is shown, never thrown.
import { render } from "preact";
import { html } from "./html.js";
import { App } from "./app.js";

function report(message) {
  const box = document.getElementById("uncaught") || document.body.appendChild(document.createElement("div"));
  box.id = "uncaught";
  box.className = "problem";
  box.textContent = `Something failed: ${message}`;
}

window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  report(event.reason && event.reason.message ? event.reason.message : String(event.reason));
});

const root = document.getElementById("app");
root.textContent = ""; // the "Loading…" notice
render(html`<${App} />`, root);
