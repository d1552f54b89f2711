// The shell: header with navigation and sign-in state, and the current view by route.
import { useEffect } from "preact/hooks";
import { html } from "./html.js";
import { route, follow, navigate } from "./router.js";
import { apiKey, authProblem, signOut, viewerName } from "./api.js";
import { SoundsView } from "./views/sounds.js";
import { SoundView } from "./views/sound.js";
import { UsersView, UserView } from "./views/users.js";
import { MapView } from "./views/map.js";
import { SignInView } from "./views/signin.js";

function current(path, query) {
  let match;
  if (path === "/" || path === "/sounds") return html`<${SoundsView} key=${query.toString()} />`;
  if ((match = path.match(/^\/sounds\/([^/]+)$/))) return html`<${SoundView} id=${decodeURIComponent(match[1])} />`;
  if (path === "/users") return html`<${UsersView} />`;
  if ((match = path.match(/^\/users\/([^/]+)$/))) return html`<${UserView} id=${decodeURIComponent(match[1])} />`;
  if (path === "/map") return html`<${MapView} />`;
  if (path === "/sign-in") return html`<${SignInView} />`;
  return html`<p class="problem">No such page: ${path}</p>`;
}

function AuthBanner() {
  const problem = authProblem.value;
  useEffect(() => {
    if (problem && apiKey.value) signOut(); // an expired or revoked key: carry on anonymously
  }, [problem]);
  if (!problem || route.value.path === "/sign-in") return null;
  return html`<div class="problem" role="alert" data-testid="auth-problem">
    The API refused the request: ${problem}.
    <a href="/sign-in">Sign in</a>${viewerName.value ? "" : " (you are browsing anonymously)"}.
  </div>`;
}

export function App() {
  const { path } = route.value;
  return html`<div onClick=${follow}>
    <header class="top">
      <a class="brand" href="/">Cochlea</a>
      <nav>
        <a href="/sounds" class=${path === "/" || path.startsWith("/sounds") ? "active" : ""}>Sounds</a>
        <a href="/users" class=${path.startsWith("/users") ? "active" : ""}>Users</a>
        <a href="/map" class=${path === "/map" ? "active" : ""}>Map</a>
        <a href="/graphiql">GraphiQL</a>
      </nav>
      <span class="who">
        ${viewerName.value
          ? html`signed in as <b data-testid="viewer">${viewerName.value}</b>
              <button type="button" onClick=${() => { signOut(); navigate("/"); }}>Sign out</button>`
          : html`<a href="/sign-in">Sign in</a>`}
      </span>
    </header>
    <${AuthBanner} />
    <main>${current(path, route.value.query)}</main>
  </div>`;
}
