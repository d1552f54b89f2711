// The waveform: wavesurfer.js 8 with its regions, timeline, zoom and hover plugins. With a
// peaks array (the `peaks` bot's min/max per block) and the duration, wavesurfer only sets the
// <audio> element's src, so the browser streams the audio by Range requests; without peaks, a
// short sound is fetched and decoded whole (as wavesurfer does), and a long one plays unpainted.
import WaveSurfer from "wavesurfer.js";
import RegionsPlugin from "wavesurfer.js/regions";
import TimelinePlugin from "wavesurfer.js/timeline";
import ZoomPlugin from "wavesurfer.js/zoom";
import HoverPlugin from "wavesurfer.js/hover";

/** Longest sound (s) whose audio is downloaded whole for drawing when it has no peaks. */
export const DECODE_LIMIT_SECONDS = 600;

/** {wavesurfer, regions, ready: Promise}; `onPhase(phase, message)`: loading|ready|error. */
export function createWaveform(container, timeline, { audioUrl, duration, peaks, onPhase }) {
  const regions = RegionsPlugin.create();
  const media = document.createElement("audio");
  media.preload = "metadata";
  media.dataset.testid = "audio";
  container.appendChild(media); // hidden (no controls); the buttons drive it
  const flat = !peaks && duration > DECODE_LIMIT_SECONDS;
  const channel = peaks || (flat ? new Float32Array(2) : null);
  const wavesurfer = WaveSurfer.create({
    container,
    media,
    height: 120,
    waveColor: "#7aa6c2",
    progressColor: "#2d5d7b",
    cursorColor: "#d33",
    normalize: Boolean(peaks),
    minPxPerSec: 0,
    autoScroll: true,
    plugins: [
      regions,
      TimelinePlugin.create({ container: timeline, height: 18 }),
      ZoomPlugin.create({ scale: 0.25, maxZoom: 2000 }),
      HoverPlugin.create({ lineColor: "#d33", labelBackground: "#333", labelColor: "#fff" }),
    ],
  });
  onPhase("loading", flat ? "no peaks for this long sound: playing without drawing its waveform" : "");
  wavesurfer.on("error", (error) => onPhase("error", `the audio could not be loaded: ${error && error.message ? error.message : error}`));
  const ready = new Promise((resolve) => {
    wavesurfer.on("ready", () => {
      onPhase("ready", "");
      resolve();
    });
  });
  const loading = channel ? wavesurfer.load(audioUrl, [channel], duration) : wavesurfer.load(audioUrl);
  loading.catch((error) => onPhase("error", `the audio could not be loaded from ${audioUrl}: ${error && error.message ? error.message : error}`));
  return { wavesurfer, regions, ready };
}

/** Seconds [start, end) currently in view. */
export function visibleRange(wavesurfer) {
  const duration = wavesurfer.getDuration() || 0;
  const total = wavesurfer.getWrapper().scrollWidth || 1;
  const width = wavesurfer.getWidth() || total;
  const left = wavesurfer.getScroll();
  return [(left / total) * duration, (Math.min(total, left + width) / total) * duration];
}
