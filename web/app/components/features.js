// The feature layer: a Canvas 2D drawing of a bot's (frames, bins) array for the time span in
// view, aligned with the waveform above it. Only the frames in view are read, in tiles of
// TILE frames by one Range request each (kept in a small LRU cache). Magnitudes (stft, mel) are
// drawn in dB, the STFT's bins on a log-frequency axis; every view is scaled from its own
// minimum to its maximum through the colour map.
import { LUT } from "./colormap.js";
import { NpyReader } from "./npy.js";

const TILE = 256;
const CACHE_TILES = 64;
const MAX_FRAMES = 8192;
const LOG_KINDS = new Set(["stft", "mel"]);
const LOG_FREQUENCY_KINDS = new Set(["stft"]);
const LOG_ROWS = 256;

/** The bin drawn in each image row (row 0 at the bottom): all bins, or log-spaced ones. */
function rowBins(bins, logFrequency) {
  if (!logFrequency || bins <= LOG_ROWS) return Int32Array.from({ length: bins }, (_, b) => b);
  return Int32Array.from({ length: LOG_ROWS }, (_, r) =>
    Math.min(bins - 1, Math.round(Math.exp((r / (LOG_ROWS - 1)) * Math.log(bins))) - 1),
  );
}
const FLOOR_DB = 80;

export class FeatureLayer {
  /** `kind` is the bot name (log scale for stft/mel); `onStatus(text, isError)` reports. */
  constructor(canvas, { url, metadata, kind, onStatus }) {
    this.canvas = canvas;
    this.kind = kind;
    this.frameRate = Number(metadata && metadata.frameRate) || 0;
    this.reader = new NpyReader(url, { headerBytes: Math.max(128, Number(metadata && metadata.dataOffset) || 128) });
    this.onStatus = onStatus;
    this.tiles = new Map();
    this.view = null;
    this.pending = null;
    this.failed = false;
  }

  async open() {
    if (!this.frameRate) throw new Error(`the ${this.kind} array has no frameRate in its metadata`);
    const header = await this.reader.open();
    [this.frameCount, this.bins] = header.shape;
    return header;
  }

  /** Draw seconds [start, end) across the canvas width (called on scroll, zoom, resize). */
  show(start, end) {
    this.view = [start, end];
    if (this.failed) return;
    if (!this.pending) {
      this.pending = Promise.resolve()
        .then(() => this.draw())
        .catch((error) => {
          this.failed = true;
          this.onStatus(error.message, true);
        })
        .finally(() => {
          this.pending = null;
          if (!this.failed && this.drawn && (this.drawn[0] !== this.view[0] || this.drawn[1] !== this.view[1])) {
            this.show(...this.view);
          }
        });
    }
  }

  async tile(index) {
    if (this.tiles.has(index)) {
      const hit = this.tiles.get(index);
      this.tiles.delete(index);
      this.tiles.set(index, hit);
      return hit;
    }
    const first = index * TILE;
    const last = Math.min(this.frameCount, first + TILE);
    const promise = this.reader.frames(first, last);
    this.tiles.set(index, promise);
    if (this.tiles.size > CACHE_TILES) this.tiles.delete(this.tiles.keys().next().value);
    try {
      return await promise;
    } catch (error) {
      this.tiles.delete(index);
      throw error;
    }
  }

  async draw() {
    const [start, end] = this.view;
    const canvas = this.canvas;
    const width = Math.max(1, Math.round(canvas.clientWidth));
    const height = Math.max(1, Math.round(canvas.clientHeight));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const context = canvas.getContext("2d");
    const rate = this.frameRate;
    const i0 = Math.max(0, Math.floor(start * rate - 0.5));
    const i1 = Math.min(this.frameCount, Math.ceil(end * rate + 0.5));
    this.drawn = [start, end];
    if (i1 - i0 > MAX_FRAMES) {
      context.clearRect(0, 0, width, height);
      this.onStatus(`${i1 - i0} frames in view: zoom in to draw ${this.kind}`, false);
      return;
    }
    if (i1 <= i0) {
      context.clearRect(0, 0, width, height);
      return;
    }
    const bins = this.bins;
    const values = new Float32Array((i1 - i0) * bins);
    const t0 = Math.floor(i0 / TILE);
    const t1 = Math.floor((i1 - 1) / TILE);
    const tiles = await Promise.all(Array.from({ length: t1 - t0 + 1 }, (_, k) => this.tile(t0 + k)));
    tiles.forEach((data, k) => {
      const first = (t0 + k) * TILE;
      const from = Math.max(i0, first);
      const to = Math.min(i1, first + data.length / bins);
      values.set(data.subarray((from - first) * bins, (to - first) * bins), (from - i0) * bins);
    });
    const log = LOG_KINDS.has(this.kind);
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < values.length; k++) {
      let v = values[k];
      if (log) v = values[k] = 20 * Math.log10(Math.max(Math.abs(v), 1e-10));
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (log) lo = Math.max(lo, hi - FLOOR_DB);
    const span = hi > lo ? hi - lo : 1;
    const frames = i1 - i0;
    const rows = rowBins(bins, LOG_FREQUENCY_KINDS.has(this.kind));
    const image = new ImageData(frames, rows.length);
    for (let f = 0; f < frames; f++) {
      for (let r = 0; r < rows.length; r++) {
        const v = values[f * bins + rows[r]];
        const index = Number.isFinite(v) ? Math.round((Math.min(Math.max(v, lo), hi) - lo) / span * 255) : 0;
        const p = 4 * ((rows.length - 1 - r) * frames + f); // the lowest bin at the bottom
        image.data[p] = LUT[4 * index];
        image.data[p + 1] = LUT[4 * index + 1];
        image.data[p + 2] = LUT[4 * index + 2];
        image.data[p + 3] = 255;
      }
    }
    const offscreen = new OffscreenCanvas(frames, rows.length);
    offscreen.getContext("2d").putImageData(image, 0, 0);
    const secondsPerPixel = (end - start) / width;
    const x = ((i0 - 0.5) / rate - start) / secondsPerPixel; // frame i is centred at i / rate
    const w = frames / rate / secondsPerPixel;
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, width, height);
    context.drawImage(offscreen, 0, 0, frames, rows.length, x, 0, w, height);
    Object.assign(canvas.dataset, { start: String(start), end: String(end), lo: String(lo), hi: String(hi), frames: `${i0}-${i1}` });
    canvas.dataset.state = "drawn";
    this.onStatus(`${this.kind}: frames ${i0}–${i1} of ${this.frameCount}, ${bins} bins${log ? ", dB" : ""}${rows.length < bins ? ", log frequency" : ""}`, false);
  }
}
