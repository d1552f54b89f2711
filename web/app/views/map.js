// The sound map: the similarity aggregator's segments (points on the unit sphere) drawn in an
// equirectangular projection on a canvas; drag to pan, wheel to zoom; colour by creator or tag;
// a click plays that segment; "similar to this" lists its neighbours.
import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { gql, nodesByIds } from "../api.js";
import { aggregatorFailed, aggregators, discoverAggregators } from "../aggregators.js";
import { colourOf, seconds } from "../text.js";
import { Problem, Tags } from "../components/common.js";
import { route } from "../router.js";

const SEGMENT = "sound startSeconds endSeconds score point { x y z }";
const MAP = `query($center: PointInput!, $radius: Float, $first: Int, $filter: SimilarityFilter) {
  map(center: $center, radius: $radius, first: $first, filter: $filter) { ${SEGMENT} }
}`;
const SIMILAR = `query($sound: ID!, $time: Float!, $first: Int) {
  similar(sound: $sound, time: $time, first: $first) { ${SEGMENT} }
}`;
const MAX_POINTS = 2000; // the most `map` returns at once

/** The map of one creator's sounds or of tagged ones: `/map?createdBy=ID&tags=a,b`. */
function mapFilter(query) {
  const createdBy = query.get("createdBy") || null;
  const tags = (query.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean);
  return createdBy || tags.length ? { createdBy, tags: tags.length ? tags : null } : null;
}

/** Longitude/latitude (radians) of a point on the sphere. */
export function lonLat({ x, y, z }) {
  const r = Math.hypot(x, y, z) || 1;
  return [Math.atan2(y, x), Math.asin(Math.max(-1, Math.min(1, z / r)))];
}

function unitOf(lon, lat) {
  return { x: Math.cos(lat) * Math.cos(lon), y: Math.cos(lat) * Math.sin(lon), z: Math.sin(lat) };
}

async function soundsOf(ids) {
  const found = await nodesByIds([...new Set(ids)], "... on Sound { id title audioUrl tags createdBy { id name } }");
  return new Map(found.map((s) => [s.id, s]));
}

export function MapView() {
  const canvasEl = useRef(null);
  const audioEl = useRef(null);
  const [points, setPoints] = useState([]);
  const [sounds, setSounds] = useState(new Map());
  const [view, setView] = useState({ lon: 0, lat: 0, scale: 1 });
  const [colourBy, setColourBy] = useState("creator");
  const [chosen, setChosen] = useState(null);
  const [similar, setSimilar] = useState(null);
  const [problem, setProblem] = useState(null);
  const agg = aggregators.value;
  const drag = useRef(null);
  const filter = mapFilter(route.value.query);
  const filterKey = JSON.stringify(filter);

  useEffect(() => {
    discoverAggregators();
  }, []);

  // Points around the view's centre (the whole sphere at scale 1).
  useEffect(() => {
    const found = agg.similarity;
    if (!found) return undefined;
    const timer = setTimeout(async () => {
      const radius = Math.min(Math.PI, (1.2 * Math.PI) / view.scale); // radians: the whole view
      try {
        const variables = { center: unitOf(view.lon, view.lat), radius, first: MAX_POINTS, filter };
        const data = await gql(MAP, variables, { url: found.url, auth: false });
        const got = data.map;
        const known = await soundsOf(got.map((p) => p.sound)); // before the dots, so a click can play
        setSounds(known);
        setPoints(got);
        setProblem(null);
      } catch (error) {
        setProblem(`the map could not be loaded: ${error.message}`);
        if (error.code === "NETWORK") aggregatorFailed("similarity", `the similarity aggregator ${found.name} is not answering: ${error.message}`);
      }
    }, 150);
    return () => clearTimeout(timer);
  }, [agg.similarity && agg.similarity.url, filterKey, Math.round(view.lon * 20), Math.round(view.lat * 20), Math.round(view.scale * 4)]);

  function project(point, width, height) {
    const [lon, lat] = lonLat(point.point);
    let dlon = lon - view.lon;
    dlon = ((((dlon + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
    const x = width / 2 + (dlon / (2 * Math.PI)) * width * view.scale;
    const y = height / 2 - ((lat - view.lat) / Math.PI) * height * view.scale;
    return [x, y];
  }

  const colour = (p) => {
    const sound = sounds.get(p.sound);
    if (!sound) return "#888";
    return colourOf(colourBy === "creator" ? sound.createdBy.name : (sound.tags || [])[0] || "untagged");
  };

  useEffect(() => {
    const canvas = canvasEl.current;
    if (!canvas) return;
    const width = (canvas.width = canvas.clientWidth);
    const height = (canvas.height = canvas.clientHeight);
    const context = canvas.getContext("2d");
    context.fillStyle = "#101820";
    context.fillRect(0, 0, width, height);
    for (const p of points) {
      const [x, y] = project(p, width, height);
      if (x < -4 || y < -4 || x > width + 4 || y > height + 4) continue;
      context.fillStyle = colour(p);
      context.beginPath();
      context.arc(x, y, chosen === p ? 6 : 3.5, 0, 2 * Math.PI);
      context.fill();
    }
    canvas.dataset.points = String(points.length);
  }, [points, sounds, view, colourBy, chosen, Boolean(agg.similarity)]);

  function play(segment) {
    const sound = sounds.get(segment.sound);
    const audio = audioEl.current;
    if (!sound || !audio) return;
    if (audio.dataset.sound !== sound.id) {
      audio.src = sound.audioUrl;
      audio.dataset.sound = sound.id;
    }
    audio.dataset.start = String(segment.startSeconds);
    audio.dataset.end = String(segment.endSeconds);
    audio.currentTime = segment.startSeconds;
    audio.play().catch((error) => setProblem(`the segment could not play: ${error.message}`));
  }

  function nearest(event) {
    const canvas = canvasEl.current;
    const rect = canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left;
    const my = event.clientY - rect.top;
    let best = null;
    let bestDistance = 64;
    for (const p of points) {
      const [x, y] = project(p, canvas.width, canvas.height);
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d < bestDistance) [best, bestDistance] = [p, d];
    }
    return best;
  }

  async function findSimilar(segment) {
    const found = agg.similarity;
    if (!found) return;
    try {
      const time = (segment.startSeconds + segment.endSeconds) / 2;
      const data = await gql(SIMILAR, { sound: segment.sound, time, first: 10 }, { url: found.url, auth: false });
      const more = await soundsOf(data.similar.map((s) => s.sound));
      setSounds(new Map([...sounds, ...more]));
      setSimilar(data.similar);
    } catch (error) {
      setProblem(`similar segments could not be found: ${error.message}`);
    }
  }

  const handlers = {
    onMouseDown: (e) => (drag.current = { x: e.clientX, y: e.clientY, view, moved: false }),
    onMouseMove: (e) => {
      const d = drag.current;
      if (!d) return;
      const dx = e.clientX - d.x;
      const dy = e.clientY - d.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) d.moved = true;
      if (!d.moved) return;
      const canvas = canvasEl.current;
      setView({
        ...d.view,
        lon: d.view.lon - (dx / canvas.width) * 2 * Math.PI / d.view.scale,
        lat: Math.max(-Math.PI / 2, Math.min(Math.PI / 2, d.view.lat + (dy / canvas.height) * Math.PI / d.view.scale)),
      });
    },
    onMouseUp: (e) => {
      const d = drag.current;
      drag.current = null;
      if (d && !d.moved) {
        const p = nearest(e);
        setChosen(p);
        setSimilar(null);
        if (p) play(p);
      }
    },
    onWheel: (e) => {
      e.preventDefault();
      setView({ ...view, scale: Math.max(1, Math.min(64, view.scale * (e.deltaY < 0 ? 1.25 : 0.8))) });
    },
  };

  const chosenSound = chosen && sounds.get(chosen.sound);
  return html`<section class="map">
    <h1>Sound map</h1>
    ${agg.state === "looking" && html`<p class="muted">Looking for a similarity aggregator…</p>`}
    ${agg.state === "ready" && !agg.similarity && html`<${Problem} testid="map-absent">No similarity aggregator is answering, so there is no map to show.
      ${agg.problems.length ? ` (${agg.problems.join("; ")})` : " (none is registered as an AGGREGATOR user with its GraphQL endpoint as infoUrl)"}<//>`}
    ${problem && html`<${Problem}>${problem}<//>`}
    ${agg.similarity && html`<div>
      <label>colour by <select value=${colourBy} onChange=${(e) => setColourBy(e.target.value)}>
        <option value="creator">creator</option><option value="tag">tag</option></select></label>
      <span class="muted"> ${points.length} segments${filter ? " (filtered)" : ""} from ${agg.similarity.name} · drag to pan, wheel to zoom, click to play</span>
      <canvas class="mapcanvas" ref=${canvasEl} data-testid="map-canvas" ...${handlers}></canvas>
    </div>`}
    <audio ref=${audioEl} data-testid="map-audio" onTimeUpdate=${(e) => {
      const a = e.target;
      if (a.dataset.end && a.currentTime >= Number(a.dataset.end)) a.pause();
    }}></audio>
    ${chosen && html`<p data-testid="map-chosen">
      ${chosenSound ? html`<a href=${`/sounds/${encodeURIComponent(chosenSound.id)}`}>${chosenSound.title}</a>` : chosen.sound}
      ${" "}${seconds(chosen.startSeconds)} – ${seconds(chosen.endSeconds)}
      ${chosenSound && html`<${Tags} tags=${chosenSound.tags} />`}
      <button type="button" onClick=${() => findSimilar(chosen)} data-testid="similar">Similar to this</button></p>`}
    ${similar && html`<ol data-testid="similar-list">${similar.map((s) => {
      const sound = sounds.get(s.sound);
      return html`<li><button type="button" class="linkish" onClick=${() => { setChosen(s); play(s); }}>
        ${sound ? sound.title : s.sound} ${seconds(s.startSeconds)} – ${seconds(s.endSeconds)}</button>
        <small> score ${Number(s.score).toFixed(3)}</small></li>`;
    })}</ol>`}
  </section>`;
}
