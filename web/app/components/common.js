// Small shared pieces: a problem box, a licence badge, a creator link, a tag list.
import { html } from "../html.js";
import { LICENSES, colourOf, safeUrl } from "../text.js";

export function Problem({ children, testid = "problem" }) {
  return html`<p class="problem" role="alert" data-testid=${testid}>${children}</p>`;
}

export function LicenseBadge({ license }) {
  return html`<span class="badge" title="Creative Commons licence">${LICENSES[license] || license}</span>`;
}

export function Creator({ user }) {
  if (!user) return null;
  return html`<a class="creator" href=${`/users/${encodeURIComponent(user.id)}`}>
    <span class="dot" style=${{ background: colourOf(user.name) }}></span>${user.name}
    <small>${user.type}</small></a>`;
}

/** Tags as links to the sounds that have them. */
export function Tags({ tags }) {
  return html`<span class="tags">${(tags || []).map(
    (tag) => html`<a class="tag" href=${`/sounds?tags=${encodeURIComponent(tag)}`}>${tag}</a>`,
  )}</span>`;
}

/** An external link only for http(s) URLs; anything else is shown as plain text. */
export function ExternalLink({ url, children }) {
  const href = safeUrl(url);
  if (!href) return url ? html`<span class="unsafe-url">${url}</span>` : null;
  return html`<a href=${href} target="_blank" rel="noopener noreferrer nofollow">${children || href}</a>`;
}
