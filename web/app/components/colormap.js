// A 256-entry colour map (viridis, as piecewise-linear stops) for the feature layer.
export const STOPS = [
  [0.0, [68, 1, 84]],
  [0.25, [59, 82, 139]],
  [0.5, [33, 145, 140]],
  [0.75, [94, 201, 98]],
  [1.0, [253, 231, 37]],
];

function build() {
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    let k = 0;
    while (k < STOPS.length - 2 && x > STOPS[k + 1][0]) k++;
    const [x0, c0] = STOPS[k];
    const [x1, c1] = STOPS[k + 1];
    const f = (x - x0) / (x1 - x0);
    for (let c = 0; c < 3; c++) lut[4 * i + c] = Math.round(c0[c] + f * (c1[c] - c0[c]));
    lut[4 * i + 3] = 255;
  }
  return lut;
}

/** RGBA bytes of entry i at lut[4i .. 4i+3]. */
export const LUT = build();
