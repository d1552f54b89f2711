// The peaks bot's array as wavesurfer peaks: (blocks, 2) [min, max] -> one interleaved channel
// [min0, max0, min1, max1, ...], which wavesurfer's line renderer draws as the envelope.
import { NpyError, parseHeader } from "./npy.js";

export async function loadPeaks(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new NpyError(`cannot fetch the peaks ${url}: ${error.message}`);
  }
  if (!response.ok) throw new NpyError(`the peaks ${url} answered HTTP ${response.status}`);
  const buffer = await response.arrayBuffer();
  const header = parseHeader(buffer, url);
  if (header.shape.length !== 2 || header.shape[1] !== 2) throw new NpyError(`the peaks ${url} have shape (${header.shape}), not (blocks, 2)`);
  const count = header.shape[0] * 2;
  if (header.offset + count * header.itemsize > buffer.byteLength) throw new NpyError(`the peaks ${url} are truncated`);
  const view = new DataView(buffer, header.offset);
  const peaks = new Float32Array(count);
  const scale = header.getter === "getInt16" ? 1 / 32768 : header.getter === "getInt8" ? 1 / 128 : 1;
  for (let k = 0; k < count; k++) peaks[k] = view[header.getter](k * header.itemsize, header.littleEndian) * scale;
  return peaks;
}
