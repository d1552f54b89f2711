// Reading frames of a NumPy .npy array over HTTP Range requests: the header once, then only
// the byte span of the frames asked for. Every failure is an NpyError whose message says what
// the server or the file did wrong.

export class NpyError extends Error {}

const TYPES = { f4: [4, "getFloat32"], f8: [8, "getFloat64"], i2: [2, "getInt16"], i4: [4, "getInt32"], u1: [1, "getUint8"], i1: [1, "getInt8"], u2: [2, "getUint16"] };

/** GET bytes [start, end] (inclusive); the server must answer 206, anything else is an error. */
export async function fetchRange(url, start, end) {
  const controller = new AbortController();
  let response;
  try {
    response = await fetch(url, { headers: { range: `bytes=${start}-${end}` }, signal: controller.signal });
  } catch (error) {
    throw new NpyError(`cannot fetch ${url}: ${error.message}`);
  }
  if (response.status === 200) {
    controller.abort(); // do not download a whole array the server will not slice
    throw new NpyError(`${url} answered 200 without honouring the Range request (it must answer 206)`);
  }
  if (response.status !== 206) {
    controller.abort();
    throw new NpyError(`${url} answered HTTP ${response.status}`);
  }
  return response.arrayBuffer();
}

/** Parse an .npy header (format versions 1-3) from its first bytes. */
export function parseHeader(buffer, url) {
  const bytes = new Uint8Array(buffer);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) {
    throw new NpyError(`${url} is not an .npy file (bad magic bytes)`);
  }
  const major = bytes[6];
  const view = new DataView(buffer);
  const [length, start] = major === 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  if (major < 1 || major > 3 || start + length > bytes.length) {
    throw new NpyError(`${url} has a malformed .npy header (version ${major}, length ${length})`);
  }
  const text = new TextDecoder("latin1").decode(bytes.subarray(start, start + length));
  const descr = text.match(/'descr':\s*'([<>|=])([a-z]\d+)'/);
  const fortran = text.match(/'fortran_order':\s*(True|False)/);
  const shape = text.match(/'shape':\s*\(([\d,\s]*)\)/);
  if (!descr || !fortran || !shape) throw new NpyError(`${url} has a malformed .npy header: ${text.slice(0, 80)}`);
  const type = TYPES[descr[2]];
  if (!type) throw new NpyError(`${url} has dtype ${descr[2]}, which the explorer cannot draw`);
  if (fortran[1] === "True") throw new NpyError(`${url} is in Fortran order; frames must be rows (C order)`);
  const dims = shape[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return {
    offset: start + length,
    shape: dims,
    itemsize: type[0],
    getter: type[1],
    littleEndian: descr[1] !== ">",
  };
}

/** A ranged reader of one 2-D (frames, bins) array: `open()` then `frames(i, j)`. */
export class NpyReader {
  constructor(url, { headerBytes = 256 } = {}) {
    this.url = url;
    this.headerBytes = headerBytes;
    this.header = null;
    this.requests = 0;
  }

  async open() {
    let buffer = await fetchRange(this.url, 0, this.headerBytes - 1);
    this.requests += 1;
    const view = new DataView(buffer);
    const needed = buffer.byteLength >= 12 ? (new Uint8Array(buffer)[6] === 1 ? 10 + view.getUint16(8, true) : 12 + view.getUint32(8, true)) : 0;
    if (needed > buffer.byteLength && needed < 1 << 20) {
      buffer = await fetchRange(this.url, 0, needed - 1);
      this.requests += 1;
    }
    this.header = parseHeader(buffer, this.url);
    if (this.header.shape.length !== 2) {
      throw new NpyError(`${this.url} has shape (${this.header.shape}); the feature layer draws (frames, bins)`);
    }
    return this.header;
  }

  /** Float32Array of frames [i, j) (row-major, bins per frame) by one Range request. */
  async frames(i, j) {
    const { offset, shape, itemsize, getter, littleEndian } = this.header;
    const bins = shape[1];
    const first = offset + i * bins * itemsize;
    const last = offset + j * bins * itemsize - 1;
    const buffer = await fetchRange(this.url, first, last);
    this.requests += 1;
    const count = Math.floor(buffer.byteLength / itemsize);
    if (count < (j - i) * bins) throw new NpyError(`${this.url} is shorter than its header says (truncated)`);
    const view = new DataView(buffer);
    const out = new Float32Array(count);
    for (let k = 0; k < count; k++) out[k] = view[getter](k * itemsize, littleEndian);
    return out;
  }
}
