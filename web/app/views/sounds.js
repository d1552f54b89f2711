// The sounds list: cursor pages loaded as the list scrolls; filters by dataset user, creator
// type and tags; a search box that uses the search aggregator when one answers, else the API's
// exact tag filter.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { apiKey, gql, nodesByIds } from "../api.js";
import { aggregators, discoverAggregators } from "../aggregators.js";
import { searchIds, suggestTags } from "../search.js";
import { parseTags, seconds } from "../text.js";
import { route } from "../router.js";
import { Creator, LicenseBadge, Problem, Tags } from "../components/common.js";

const PAGE = 20;
const SOUND_FIELDS = "id title durationSeconds license tags createdBy { id name type }";
const SOUNDS = `query($first: Int, $after: String, $filter: SoundFilter) {
  sounds(first: $first, after: $after, filter: $filter) {
    pageInfo { endCursor hasNextPage }
    edges { node { ${SOUND_FIELDS} } }
  }
}`;
const DATASETS = `{ users(first: 100, filter: {type: DATASET}) { edges { node { id name } } } }`;

/** The sounds of `ids` (search hits), in order. */
function soundsByIds(ids) {
  return nodesByIds(ids, `... on Sound { ${SOUND_FIELDS} }`);
}

export function SoundCard({ sound }) {
  return html`<li class="card" data-testid="sound-card">
    <a class="title" href=${`/sounds/${encodeURIComponent(sound.id)}`}>${sound.title}</a>
    <${LicenseBadge} license=${sound.license} />
    <span class="muted">${seconds(sound.durationSeconds)}</span>
    <${Creator} user=${sound.createdBy} />
    <${Tags} tags=${sound.tags} />
  </li>`;
}

export function SoundsView() {
  const query = route.value.query;
  const [filters, setFilters] = useState({
    createdBy: query.get("createdBy") || "",
    creatorType: query.get("creatorType") || "",
    tags: query.get("tags") || "",
    text: query.get("q") || "",
  });
  const [draft, setDraft] = useState(query.get("q") || "");
  const [datasets, setDatasets] = useState([]);
  const [completions, setCompletions] = useState([]);
  // `gen`: the generation of the list the state holds, so that a page asked for by a stale
  // observer or button (of a list since replaced) is never appended to the new one.
  const [state, setState] = useState({ items: [], cursor: null, more: true, loading: false, error: null, note: null, gen: 0 });
  const generation = useRef(0);
  const sentinel = useRef(null);
  const agg = aggregators.value;

  useEffect(() => {
    discoverAggregators();
    gql(DATASETS).then((d) => setDatasets(d.users.edges.map((e) => e.node)), () => {});
  }, []);

  async function load(reset) {
    const mine = reset ? ++generation.current : state.gen;
    if (mine !== generation.current) return; // the next page of a list that was replaced
    const base = reset ? { items: [], cursor: null, more: true, gen: mine } : state;
    if (!base.more) return;
    setState({ ...base, loading: true, error: null, note: null });
    try {
      if (filters.text && agg.search) {
        const ids = await searchIds(filters.text);
        if (ids !== null) {
          const items = await soundsByIds(ids);
          if (mine === generation.current)
            setState({ items, cursor: null, more: false, loading: false, error: null, note: `search by ${agg.search.name}`, gen: mine });
          return;
        }
      }
      const tags = parseTags(`${filters.tags} ${filters.text}`);
      const filter = {
        createdBy: filters.createdBy || null,
        creatorType: filters.creatorType || null,
        tags: tags.length ? tags : null,
      };
      const data = await gql(SOUNDS, { first: PAGE, after: base.cursor, filter });
      if (mine !== generation.current) return;
      const page = data.sounds;
      setState({
        items: [...base.items, ...page.edges.map((e) => e.node)],
        cursor: page.pageInfo.endCursor,
        more: page.pageInfo.hasNextPage,
        loading: false,
        error: null,
        note: filters.text ? "exact tag match (no search aggregator is answering)" : null,
        gen: mine,
      });
    } catch (error) {
      if (mine === generation.current) setState({ ...base, loading: false, error: error.message });
    }
  }

  useEffect(() => {
    load(true);
  }, [filters, agg.state, Boolean(agg.search), apiKey.value]);

  useEffect(() => {
    // the address says what is shown, so it can be shared (without re-rendering the view)
    const names = { createdBy: "createdBy", creatorType: "creatorType", tags: "tags", text: "q" };
    const params = new URLSearchParams(Object.entries(names).filter(([k]) => filters[k]).map(([k, n]) => [n, filters[k]]));
    const search = params.toString();
    history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}`);
  }, [filters]);

  useEffect(() => {
    const node = sentinel.current;
    if (!node) return undefined;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && state.more && !state.loading && !state.error) load(false);
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [state]);

  const set = (name) => (event) => setFilters({ ...filters, [name]: event.target.value });
  const complete = (text) => {
    const last = text.split(/[,\s]+/).pop();
    suggestTags(last).then((tags) => setCompletions(tags.map((t) => text.slice(0, text.length - last.length) + t)));
  };
  return html`<section>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); setFilters({ ...filters, text: draft.trim() }); }}>
      <input type="search" name="q" placeholder=${agg.search ? "Search titles, tags, users…" : "Tags (exact match)…"}
        value=${draft} onInput=${(e) => { setDraft(e.target.value); complete(e.target.value); }} data-testid="search"
        list="tag-completions" autocomplete="off" />
      <datalist id="tag-completions" data-testid="completions">${completions.map((c) => html`<option value=${c} />`)}</datalist>
      <button type="submit">Search</button>
      <select name="createdBy" onChange=${set("createdBy")} value=${filters.createdBy} data-testid="dataset-filter">
        <option value="">any dataset</option>
        ${datasets.map((d) => html`<option value=${d.id}>${d.name}</option>`)}
      </select>
      <select name="creatorType" onChange=${set("creatorType")} value=${filters.creatorType} data-testid="type-filter">
        <option value="">any creator type</option>
        ${["HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR"].map((t) => html`<option value=${t}>${t}</option>`)}
      </select>
      <input name="tags" placeholder="tags: all of…" value=${filters.tags} onChange=${set("tags")} data-testid="tag-filter" />
    </form>
    <p class="muted" data-testid="search-mode">${agg.state === "looking"
      ? "looking for a search aggregator…"
      : agg.search ? `search: ${agg.search.name}` : "search: exact tags (no search aggregator)"}
      ${state.note ? ` · ${state.note}` : ""}</p>
    ${agg.problems.map((p) => html`<${Problem} testid="aggregator-problem">${p}<//>`)}
    <ul class="cards" data-testid="sounds">${state.items.map((s) => html`<${SoundCard} key=${s.id} sound=${s} />`)}</ul>
    ${state.error && html`<${Problem}>Could not load sounds: ${state.error}<//>`}
    ${!state.loading && !state.error && state.items.length === 0 && html`<p class="muted">No sounds match.</p>`}
    <div ref=${sentinel} class="sentinel" data-testid="more">
      ${state.loading ? "loading…" : state.more && !state.error ? html`<button type="button" onClick=${() => load(false)}>Load more</button>` : ""}
    </div>
  </section>`;
}
