// History-API routing: the server answers index.html for every view path.
import { signal } from "@preact/signals";

export const route = signal(parse(location));

function parse(loc) {
  return { path: loc.pathname, query: new URLSearchParams(loc.search) };
}

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route.value = parse(location);
  window.scrollTo(0, 0);
}

/** Click handler for in-app links: keeps modifier-clicks (new tab) to the browser. */
export function follow(event) {
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.origin !== location.origin) return;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.pathname.startsWith("/graphql") || link.pathname.startsWith("/graphiql")) return;
  if (link.pathname.startsWith("/export") || link.pathname.startsWith("/files")) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
}

window.addEventListener("popstate", () => {
  route.value = parse(location);
});
