// Calls to the search aggregator (its own GraphQL endpoint), shaped by its contract:
// search(text, first, after, kind, filter) -> ranked hits pointing at Cochlea ids; suggest(prefix).
import { gql } from "./api.js";
import { aggregatorFailed, aggregators } from "./aggregators.js";

const SEARCH = `query($text: String!, $first: Int, $kind: SearchKind) {
  search(text: $text, first: $first, kind: $kind) { edges { node { id score } } }
}`;
const SUGGEST = `query($prefix: String!) { suggest(prefix: $prefix, first: 10) { tag count } }`;

/** Cochlea ids of the best hits of `text` (sounds by default); null when no search aggregator. */
export async function searchIds(text, { kind = "SOUND", first = 40 } = {}) {
  const found = aggregators.value.search;
  if (!found) return null;
  try {
    const data = await gql(SEARCH, { text, first, kind }, { url: found.url, auth: false });
    return data.search.edges.map((edge) => edge.node.id);
  } catch (error) {
    aggregatorFailed("search", `the search aggregator ${found.name} failed: ${error.message}`);
    return null;
  }
}

/** Tag completions for `prefix` from the search aggregator, or [] when it is absent or down. */
export async function suggestTags(prefix) {
  const found = aggregators.value.search;
  if (!found || !prefix) return [];
  try {
    const data = await gql(SUGGEST, { prefix }, { url: found.url, auth: false });
    return (data.suggest || []).map((s) => s.tag).filter(Boolean);
  } catch {
    return [];
  }
}
