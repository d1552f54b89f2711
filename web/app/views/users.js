// Users: the list by type, and a user's page (type, aboutMe, info link, what it published).
import { useEffect, useState } from "preact/hooks";
import { html } from "../html.js";
import { gql } from "../api.js";
import { seconds } from "../text.js";
import { Creator, ExternalLink, Problem, Tags } from "../components/common.js";
import { SoundCard } from "./sounds.js";

const USERS = `query($type: UserType, $after: String) {
  users(first: 50, after: $after, filter: {type: $type}) {
    pageInfo { endCursor hasNextPage }
    edges { node { id name type aboutMe } }
  }
}`;
const USER = `query($id: ID!) { node(id: $id) { __typename ... on User {
  id name type aboutMe infoUrl createdAt
  sounds(first: 20, order: DESC) { totalCount edges { node { id title durationSeconds license tags createdBy { id name type } } } }
  annotations(first: 20, order: DESC) { totalCount edges { node { id startSeconds endSeconds tags dataUrl sound { id title } } } }
} } }`;

export function UsersView() {
  const [type, setType] = useState("");
  const [state, setState] = useState({ items: [], cursor: null, more: false, error: null });

  async function load(reset) {
    try {
      const data = await gql(USERS, { type: type || null, after: reset ? null : state.cursor });
      const page = data.users;
      setState({
        items: [...(reset ? [] : state.items), ...page.edges.map((e) => e.node)],
        cursor: page.pageInfo.endCursor,
        more: page.pageInfo.hasNextPage,
        error: null,
      });
    } catch (error) {
      setState({ ...state, error: error.message });
    }
  }
  useEffect(() => {
    load(true);
  }, [type]);

  return html`<section>
    <h1>Users</h1>
    <select value=${type} onChange=${(e) => setType(e.target.value)} data-testid="user-type">
      <option value="">every type</option>
      ${["HUMAN", "DATASET", "FEATUREBOT", "AGGREGATOR"].map((t) => html`<option value=${t}>${t}</option>`)}
    </select>
    ${state.error && html`<${Problem}>Could not load users: ${state.error}<//>`}
    <ul class="cards" data-testid="users">${state.items.map((u) => html`<li class="card" key=${u.id}>
      <${Creator} user=${u} /> <span class="about">${u.aboutMe}</span></li>`)}</ul>
    ${state.more && html`<button type="button" onClick=${() => load(false)}>Load more</button>`}
  </section>`;
}

export function UserView({ id }) {
  const [user, setUser] = useState(null);
  const [problem, setProblem] = useState(null);
  useEffect(() => {
    gql(USER, { id }).then(
      (data) => (data.node && data.node.__typename === "User" ? setUser(data.node) : setProblem(`there is no user with id ${id}`)),
      (error) => setProblem(`could not load this user: ${error.message}`),
    );
  }, [id]);
  if (problem) return html`<${Problem}>${problem}<//>`;
  if (!user) return html`<p class="muted">Loading…</p>`;
  return html`<article>
    <h1 data-testid="user-name">${user.name} <small>${user.type}</small></h1>
    <p class="about" data-testid="about">${user.aboutMe}</p>
    ${user.infoUrl && html`<p>info: <${ExternalLink} url=${user.infoUrl} /></p>`}
    <h2>Sounds (${user.sounds.totalCount})</h2>
    <ul class="cards">${user.sounds.edges.map((e) => html`<${SoundCard} key=${e.node.id} sound=${e.node} />`)}</ul>
    <h2>Annotations (${user.annotations.totalCount})</h2>
    <ul class="annotations">${user.annotations.edges.map(({ node }) => html`<li key=${node.id}>
      <a href=${`/sounds/${encodeURIComponent(node.sound.id)}`}>${node.sound.title}</a>
      ${seconds(node.startSeconds)} – ${seconds(node.endSeconds)} <${Tags} tags=${node.tags} />
      ${node.dataUrl && html`<small>array</small>`}</li>`)}</ul>
  </article>`;
}
