// Finding the aggregators: AGGREGATOR users whose infoUrl is their GraphQL endpoint. Each
// endpoint is asked which root fields it has, so the search box uses whichever serves `search`
// and the map whichever serves `map`/`similar`. Absent or down, the views say so and fall back.
import { signal } from "@preact/signals";
import { gql } from "./api.js";
import { safeUrl } from "./text.js";

/** {state: "looking"|"ready", search: {url, name}|null, similarity: ..., problems: [string]} */
export const aggregators = signal({ state: "looking", search: null, similarity: null, problems: [] });

const FIELDS = "{ __schema { queryType { fields { name } } } }";

async function probe(user) {
  const url = safeUrl(user.infoUrl);
  if (!url) return { user, fields: [], problem: null };
  try {
    const data = await gql(FIELDS, {}, { url, auth: false });
    return { user, url, fields: data.__schema.queryType.fields.map((f) => f.name), problem: null };
  } catch (error) {
    return { user, url, fields: [], problem: `${user.name} (${url}) is not answering: ${error.message}` };
  }
}

let started = null;

export function discoverAggregators() {
  if (started) return started;
  started = (async () => {
    try {
      const data = await gql(
        `{ users(first: 50, filter: {type: AGGREGATOR}) { edges { node { id name infoUrl } } } }`,
      );
      const found = await Promise.all(data.users.edges.map((e) => probe(e.node)));
      const pick = (...names) => {
        const hit = found.find((f) => names.every((n) => f.fields.includes(n)));
        return hit ? { url: hit.url, name: hit.user.name } : null;
      };
      aggregators.value = {
        state: "ready",
        search: pick("search"),
        similarity: pick("similar", "map"),
        problems: found.map((f) => f.problem).filter(Boolean),
      };
    } catch (error) {
      aggregators.value = { state: "ready", search: null, similarity: null, problems: [error.message] };
      started = null; // try again on the next view (e.g. after signing in)
    }
  })();
  return started;
}

/** Marks an aggregator as down after a failed call, so views fall back without retrying. */
export function aggregatorFailed(kind, message) {
  const current = aggregators.value;
  aggregators.value = { ...current, [kind]: null, problems: [...current.problems, message] };
}
