// Talking to Cochlea's GraphQL API (same origin): queries and mutations by fetch POST,
// subscriptions over graphql-ws (protocol graphql-transport-ws). The API key from `login` lives
// in sessionStorage (gone when the tab closes); the password is never kept anywhere.
import { signal } from "@preact/signals";
import { createClient } from "graphql-ws";

const KEY = "cochlea.apiKey";
const NAME = "cochlea.viewer";

export const apiKey = signal(sessionStorage.getItem(KEY));
export const viewerName = signal(sessionStorage.getItem(NAME));
/** Set when the server refused to read anonymously or rejected the key: the app asks to sign in. */
export const authProblem = signal(null);

/** An error a view can show: `message` in words, `code` as the API's extensions.code. */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || "ERROR";
  }
}

export function signIn(key, name) {
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(NAME, name);
  apiKey.value = key;
  viewerName.value = name;
  authProblem.value = null;
  resetSubscriptions();
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(NAME);
  apiKey.value = null;
  viewerName.value = null;
  resetSubscriptions();
}

/** The `data` of a query or mutation; throws ApiError (network, HTTP, GraphQL errors). */
export async function gql(query, variables = {}, { url = "/graphql", auth = true } = {}) {
  const headers = { "content-type": "application/json" };
  if (auth && apiKey.value) headers.authorization = `Bearer ${apiKey.value}`;
  let response;
  try {
    response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new ApiError(`cannot reach ${url}: ${error.message}`, "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${url} answered HTTP ${response.status} without GraphQL JSON`, "HTTP");
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = (first.extensions && first.extensions.code) || "GRAPHQL";
    if (code === "UNAUTHENTICATED" && url === "/graphql") authProblem.value = first.message;
    throw new ApiError(first.message, code);
  }
  return body.data;
}

let client = null;

function wsClient() {
  if (!client) {
    const url = new URL("/graphql", location.href).href.replace(/^http/, "ws");
    client = createClient({
      url,
      lazy: true,
      retryAttempts: 3,
      connectionParams: () => (apiKey.value ? { authorization: `Bearer ${apiKey.value}` } : {}),
    });
  }
  return client;
}

function resetSubscriptions() {
  if (client) client.dispose();
  client = null;
}

/** Subscribe; `onData(data)` per event, `onError(ApiError)` once, `onConnected()` when the
 * socket is up. Returns the unsubscribe. */
export function subscribe(query, variables, { onData, onError, onConnected = () => {} }) {
  const ws = wsClient();
  const stopListening = ws.on("connected", onConnected);
  const stop = ws.subscribe(
    { query, variables },
    {
      next: (result) => {
        if (result.errors && result.errors.length) {
          onError(new ApiError(result.errors[0].message, result.errors[0].extensions?.code));
        } else {
          onData(result.data);
        }
      },
      error: (error) => {
        const message = error instanceof Error ? error.message : error?.reason || "the live connection closed";
        onError(new ApiError(`live updates stopped: ${message || "connection failed"}`, "WEBSOCKET"));
      },
      complete: () => {},
    },
  );
  return () => {
    stopListening();
    stop();
  };
}

/** The nodes of `ids` (in order; missing ones dropped), `selection` on each, by aliased `node`
 * queries of at most 20 root fields each (the API's limit per request). */
export async function nodesByIds(ids, selection, { chunk = 20 } = {}) {
  const parts = [];
  for (let first = 0; first < ids.length; first += chunk) parts.push(ids.slice(first, first + chunk));
  const pages = await Promise.all(
    parts.map(async (part) => {
      const params = part.map((_, i) => `$i${i}: ID!`).join(", ");
      const fields = part.map((_, i) => `n${i}: node(id: $i${i}) { ${selection} }`).join("\n");
      const data = await gql(`query(${params}) { ${fields} }`, Object.fromEntries(part.map((id, i) => [`i${i}`, id])));
      return part.map((_, i) => data[`n${i}`]);
    }),
  );
  return pages.flat().filter((node) => node && node.id);
}
