// Download buttons for the export endpoint (GET /export/sounds/<id>.<format>), shown when the
// server has it.
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";

const FORMATS = [
  ["jams", "JAMS"],
  ["txt", "Audacity labels"],
  ["json", "Label Studio"],
  ["csv", "CSV"],
];

export function Downloads({ id }) {
  const [available, setAvailable] = useState(null);
  const base = `/export/sounds/${encodeURIComponent(id)}`;
  useEffect(() => {
    fetch(`${base}.csv`, { method: "HEAD" }).then(
      (response) => setAvailable(response.status !== 404),
      () => setAvailable(false),
    );
  }, [id]);
  if (available === null) return null;
  if (!available) return html`<p class="muted" data-testid="downloads">Downloads: this server has no export endpoint.</p>`;
  return html`<p class="downloads" data-testid="downloads">Download annotations:
    ${FORMATS.map(([ext, label]) => html` <a class="button" href=${`${base}.${ext}`} download>${label}</a>`)}</p>`;
}
