// A sound: its facts, the waveform with every annotation as a region (grouped and toggled by
// creator), the feature layer under it, live new annotations, downloads and tagging.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { html } from "../html.js";
import { apiKey, gql, subscribe } from "../api.js";
import { colourOf, seconds } from "../text.js";
import { Creator, ExternalLink, LicenseBadge, Problem, Tags } from "../components/common.js";
import { createWaveform, visibleRange } from "../components/waveform.js";
import { FeatureLayer } from "../components/features.js";
import { loadPeaks } from "../components/peaks.js";
import { Tagger } from "../components/tagger.js";
import { ANNOTATION_FIELDS, isFeature, isPeaks, isSegment, loadAnnotations } from "./annotations.js";
import { Downloads } from "./downloads.js";

const SOUND = `query($id: ID!) {
  node(id: $id) { __typename ... on Sound {
    id title audioUrl lowQualityAudioUrl infoUrl license durationSeconds tags createdAt
    createdBy { id name type } } }
  viewer { id name type }
}`;
const LIVE = `subscription($after: String, $sound: ID!) {
  annotationCreated(after: $after, filter: {sound: $sound}) { cursor node { ${ANNOTATION_FIELDS} } }
}`;

function regionContent(annotation) {
  const element = document.createElement("span");
  element.className = "region-label";
  element.textContent = (annotation.tags || []).join(" ");
  return element;
}

export function SoundView({ id }) {
  const [sound, setSound] = useState(null);
  const [viewer, setViewer] = useState(null);
  const [problem, setProblem] = useState(null);
  const [annotations, setAnnotations] = useState([]);
  const [cursor, setCursor] = useState(undefined);
  const [phase, setPhase] = useState({ phase: "loading", message: "" });
  const [hidden, setHidden] = useState(new Set());
  const [feature, setFeature] = useState("");
  const [featureStatus, setFeatureStatus] = useState({ text: "", error: false });
  const [selection, setSelection] = useState(null);
  const [live, setLive] = useState({ state: "connecting", message: "" });
  const [playing, setPlaying] = useState(false);
  const [zoom, setZoom] = useState(0);
  const waveEl = useRef(null);
  const timelineEl = useRef(null);
  const canvasEl = useRef(null);
  const wave = useRef(null);
  const layer = useRef(null);

  useEffect(() => {
    let gone = false;
    (async () => {
      try {
        const data = await gql(SOUND, { id });
        if (gone) return;
        if (!data.node || data.node.__typename !== "Sound") {
          setProblem(`there is no sound with id ${id}`);
          return;
        }
        setSound(data.node);
        setViewer(data.viewer);
        const loaded = await loadAnnotations(id);
        if (gone) return;
        setAnnotations(loaded.items);
        setCursor(loaded.cursor);
      } catch (error) {
        if (!gone) setProblem(`could not load this sound: ${error.message}`);
      }
    })();
    return () => {
      gone = true;
    };
  }, [id, apiKey.value]);

  const features = useMemo(() => annotations.filter(isFeature), [annotations]);
  const peaks = useMemo(() => annotations.find(isPeaks), [annotations]);
  const segments = useMemo(() => annotations.filter(isSegment), [annotations]);
  const creators = useMemo(() => {
    const byId = new Map();
    for (const a of segments) {
      const entry = byId.get(a.createdBy.id) || { user: a.createdBy, count: 0 };
      entry.count += 1;
      byId.set(a.createdBy.id, entry);
    }
    return [...byId.values()];
  }, [segments]);
  const knownTags = useMemo(() => [...new Set(segments.flatMap((a) => a.tags || []).concat(sound ? sound.tags : []))].sort(), [segments, sound]);

  // The waveform, once the sound and its annotations (for peaks) are known.
  useEffect(() => {
    if (!sound || cursor === undefined) return undefined;
    let gone = false;
    let created = null;
    (async () => {
      let channel = null;
      if (peaks) {
        try {
          channel = await loadPeaks(peaks.dataUrl);
        } catch (error) {
          setFeatureStatus({ text: `${error.message}; drawing from the audio instead`, error: true });
        }
      }
      if (gone) return;
      created = createWaveform(waveEl.current, timelineEl.current, {
        audioUrl: sound.audioUrl,
        duration: sound.durationSeconds,
        peaks: channel,
        onPhase: (value, message) => !gone && setPhase({ phase: value, message }),
      });
      wave.current = created;
      const { wavesurfer, regions } = created;
      wavesurfer.on("play", () => setPlaying(true));
      wavesurfer.on("pause", () => setPlaying(false));
      wavesurfer.on("zoom", (value) => setZoom(value));
      const redraw = () => layer.current && layer.current.show(...visibleRange(wavesurfer));
      for (const event of ["scroll", "zoom", "redrawcomplete", "resize", "ready"]) wavesurfer.on(event, redraw);
      regions.on("region-clicked", (region, event) => {
        event.stopPropagation();
        region.play(true);
      });
      regions.on("region-created", (region) => {
        if (region.id.startsWith("a:")) return;
        for (const other of regions.getRegions()) if (other !== region && !other.id.startsWith("a:")) other.remove();
        region.setOptions({ id: "selection" });
        setSelection({ start: region.start, end: region.end });
      });
      regions.on("region-updated", (region) => {
        if (region.id === "selection") setSelection({ start: region.start, end: region.end });
      });
    })();
    return () => {
      gone = true;
      if (created) created.wavesurfer.destroy();
      wave.current = null;
    };
  }, [sound, cursor === undefined, peaks && peaks.dataUrl]);

  // Drag-selecting a segment: only for a signed-in viewer who may annotate.
  useEffect(() => {
    if (!wave.current || phase.phase !== "ready" || !viewer || viewer.type === "AGGREGATOR") return undefined;
    return wave.current.regions.enableDragSelection({ color: "rgba(255, 170, 0, 0.35)" });
  }, [phase.phase, viewer]);

  // Regions for the visible creators' segments.
  useEffect(() => {
    if (!wave.current || phase.phase !== "ready") return;
    const { regions } = wave.current;
    const wanted = new Map(segments.filter((a) => !hidden.has(a.createdBy.id)).map((a) => [`a:${a.id}`, a]));
    for (const region of regions.getRegions()) {
      if (region.id.startsWith("a:") && !wanted.has(region.id)) region.remove();
    }
    const present = new Set(regions.getRegions().map((r) => r.id));
    for (const [regionId, a] of wanted) {
      if (present.has(regionId)) continue;
      regions.addRegion({
        id: regionId,
        start: a.startSeconds,
        end: Math.max(a.endSeconds, a.startSeconds + 0.01),
        color: colourOf(a.createdBy.name, 0.14),
        content: regionContent(a),
        drag: false,
        resize: false,
      });
    }
    waveEl.current.dataset.regions = String(wanted.size);
  }, [segments, hidden, phase.phase]);

  // The feature layer for the chosen array.
  useEffect(() => {
    layer.current = null;
    const canvas = canvasEl.current;
    if (canvas) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    if (canvas) delete canvas.dataset.state;
    const chosen = features.find((a) => a.id === feature);
    if (!chosen || !canvas) {
      setFeatureStatus({ text: "", error: false });
      return;
    }
    const onStatus = (text, error) => {
      setFeatureStatus({ text, error });
      if (error) canvas.dataset.state = "error";
    };
    const next = new FeatureLayer(canvas, { url: chosen.dataUrl, metadata: chosen.metadata, kind: chosen.createdBy.name, onStatus });
    setFeatureStatus({ text: `reading the ${chosen.createdBy.name} header…`, error: false });
    let replaced = false;
    next.open().then(
      () => {
        if (replaced) return;
        layer.current = next;
        if (wave.current && phase.phase === "ready") next.show(...visibleRange(wave.current.wavesurfer));
        else next.show(0, sound.durationSeconds);
      },
      (error) => !replaced && onStatus(`the ${chosen.createdBy.name} array cannot be drawn: ${error.message}`, true),
    );
    return () => {
      replaced = true;
    };
  }, [feature, features.map((a) => a.id).join(), phase.phase === "ready"]);

  // New annotations of this sound, live.
  useEffect(() => {
    if (cursor === undefined) return undefined;
    setLive({ state: "connecting", message: "" });
    const stop = subscribe(LIVE, { after: cursor, sound: id }, {
      onData: (data) => {
        const node = data.annotationCreated.node;
        setLive({ state: "live", message: "" });
        setAnnotations((items) => (items.some((a) => a.id === node.id) ? items : [...items, node]));
      },
      onError: (error) => setLive({ state: "down", message: error.message }),
      onConnected: () => setLive((s) => (s.state === "connecting" ? { state: "live", message: "" } : s)),
    });
    return stop;
  }, [cursor === undefined, id, apiKey.value]);

  if (problem) return html`<${Problem}>${problem}<//>`;
  if (!sound) return html`<p class="muted">Loading the sound…</p>`;

  const ws = wave.current && wave.current.wavesurfer;
  const toggle = (userId) => {
    const next = new Set(hidden);
    if (next.has(userId)) next.delete(userId);
    else next.add(userId);
    setHidden(next);
  };
  const playProblem = (error) => setPhase({ phase: "ready", message: `the audio could not play: ${error.message}` });
  const playSegment = (a) => ws && phase.phase === "ready" && ws.play(a.startSeconds, a.endSeconds).catch(playProblem);
  return html`<article class="sound">
    <h1 data-testid="sound-title">${sound.title}</h1>
    <p class="facts">
      <${LicenseBadge} license=${sound.license} />
      <${Creator} user=${sound.createdBy} />
      <span>${seconds(sound.durationSeconds)}</span>
      ${sound.infoUrl && html`<span>info: <${ExternalLink} url=${sound.infoUrl} /></span>`}
      <${Tags} tags=${sound.tags} />
    </p>
    <div class="controls">
      <button type="button" data-testid="play" disabled=${phase.phase !== "ready"} onClick=${() => ws && ws.playPause().catch(playProblem)}>${playing ? "Pause" : "Play"}</button>
      <label>zoom <input type="range" min="0" max="500" step="5" value=${zoom} data-testid="zoom"
        onInput=${(e) => ws && ws.zoom(Number(e.target.value))} /></label>
      <label>feature <select data-testid="feature" value=${feature} onChange=${(e) => setFeature(e.target.value)}>
        <option value="">none</option>
        ${features.map((a) => html`<option value=${a.id}>${a.createdBy.name}</option>`)}
      </select></label>
      <span class="muted" data-testid="phase">${phase.phase}</span>
      <span class=${live.state === "down" ? "problem inline" : "muted"} data-testid="live">
        ${live.state === "down" ? live.message : live.state === "live" ? "● live" : "connecting…"}</span>
    </div>
    ${phase.message && html`<${Problem} testid="audio-problem">${phase.message}<//>`}
    <div class="wave" ref=${waveEl} data-phase=${phase.phase} data-testid="waveform"></div>
    <div ref=${timelineEl}></div>
    <canvas class="feature" ref=${canvasEl} data-testid="feature-canvas" hidden=${!feature}></canvas>
    ${featureStatus.text && html`<p class=${featureStatus.error ? "problem" : "muted"} data-testid="feature-status">${featureStatus.text}</p>`}
    ${selection && html`<${Tagger} sound=${id} selection=${selection} known=${knownTags}
      onCancel=${() => { setSelection(null); wave.current && wave.current.regions.getRegions().forEach((r) => r.id === "selection" && r.remove()); }}
      onSaved=${(a) => {
        setAnnotations((items) => (items.some((x) => x.id === a.id) ? items : [...items, a]));
        wave.current && wave.current.regions.getRegions().forEach((r) => r.id === "selection" && r.remove());
        setSelection(null);
      }} />`}
    ${viewer ? (viewer.type !== "AGGREGATOR" && !selection && html`<p class="muted">Drag across the waveform to tag a segment.</p>`)
      : html`<p class="muted"><a href="/sign-in">Sign in</a> to tag segments.</p>`}
    <${Downloads} id=${id} />
    <section class="creators" data-testid="creators">
      <h2>Annotations by creator</h2>
      ${creators.length === 0 && html`<p class="muted">No segments yet.</p>`}
      ${creators.map(({ user, count }) => html`<label class="creator-toggle">
        <input type="checkbox" checked=${!hidden.has(user.id)} onChange=${() => toggle(user.id)} />
        <span class="dot" style=${{ background: colourOf(user.name) }}></span>${user.name} <small>${user.type} · ${count}</small>
      </label>`)}
      <ol class="annotations" data-testid="annotations">
        ${segments.filter((a) => !hidden.has(a.createdBy.id)).slice(0, 300).map((a) => html`<li key=${a.id} data-id=${a.id}>
          <button type="button" class="linkish" onClick=${() => playSegment(a)}>${seconds(a.startSeconds)} – ${seconds(a.endSeconds)}</button>
          <${Tags} tags=${a.tags} /> <small>${a.createdBy.name}</small></li>`)}
      </ol>
    </section>
  </article>`;
}
