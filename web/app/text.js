// Helpers for showing what users wrote: always as text (htm/Preact escape it), and links only
// for http(s) URLs.

/** The URL if it is an absolute http(s) URL, else null (javascript:, data:, relative...). */
export function safeUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function seconds(value) {
  if (!Number.isFinite(value)) return "–";
  const m = Math.floor(value / 60);
  const s = value - 60 * m;
  return m ? `${m}:${s.toFixed(1).padStart(4, "0")}` : `${s.toFixed(2)} s`;
}

export const LICENSES = {
  CC0: "CC0",
  CC_BY: "CC BY",
  CC_BY_SA: "CC BY-SA",
  CC_BY_ND: "CC BY-ND",
  CC_BY_NC: "CC BY-NC",
  CC_BY_NC_SA: "CC BY-NC-SA",
  CC_BY_NC_ND: "CC BY-NC-ND",
};

/** A stable colour for a name (creator, tag): hue from a string hash. */
export function colourOf(name, alpha = 1) {
  let hash = 0;
  for (const char of String(name)) hash = (hash * 31 + char.codePointAt(0)) | 0;
  return `hsla(${Math.abs(hash) % 360}, 70%, 55%, ${alpha})`;
}

/** Tags typed by a person: split on commas or spaces, trimmed, unique, non-empty. */
export function parseTags(text) {
  return [...new Set(String(text).split(/[,\s]+/).map((t) => t.trim()).filter(Boolean))];
}
