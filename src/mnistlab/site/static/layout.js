// MNIST's layout in JavaScript: `mnistlab.data.layout` and `mnistlab.inference.digits` step by
// step, so the page's 28x28 equals what `mnistlab predict` makes of the pad's PNG (the Python
// module docstring of `mnistlab.data.layout` lists the algorithm; both follow it). Floats are
// doubles; where Python computes in float32 (the ink, the Lanczos passes, the gain), Math.fround
// rounds as numpy does.
"use strict";

export const SIDE = 28;
export const BOX = 20; // the longer side of the digit inside the field
export const CENTRE = 14; // centre of mass, (row, column) in pixel-index coordinates
export const MIN_CONTRAST = 32; // of 255: fainter ink than this over the background is blank
export const NOISE_FRACTION = 0.2; // ink under this share of the strongest is noise

export class LayoutError extends Error {}

// Python's round() and numpy's rint: halves go to the even neighbour.
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest < 0.5) return floor;
  if (rest > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

// RGBA bytes (a canvas' ImageData) to grey on 0..255 as Pillow's convert("L") makes it:
// L = (19595 R + 38470 G + 7471 B + 32768) >> 16. The pad is opaque, so alpha plays no part.
export function greyOf(rgba, width, height) {
  const grey = new Float64Array(width * height);
  for (let i = 0; i < width * height; i++) {
    grey[i] = (rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 32768) >> 16;
  }
  return grey;
}

// numpy's median of the outer frame (top row, bottom row, then the side columns).
function borderMedian(values, width, height) {
  const frame = [];
  for (let x = 0; x < width; x++) frame.push(values[x]);
  for (let x = 0; x < width; x++) frame.push(values[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) frame.push(values[y * width]);
  for (let y = 1; y < height - 1; y++) frame.push(values[y * width + width - 1]);
  frame.sort((a, b) => a - b);
  const n = frame.length;
  return n % 2 ? frame[(n - 1) / 2] : (frame[n / 2 - 1] + frame[n / 2]) / 2;
}

// Light-on-dark: inverted when the frame is the lighter side (`digits._light_on_dark`).
export function lightOnDark(grey, width, height) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of grey) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (borderMedian(grey, width, height) > (lo + hi) / 2) return grey.map((v) => 255 - v);
  return grey;
}

// `layout.clean_ink`: background (the frame's median) subtracted, faint noise set to zero.
export function cleanInk(ink, width, height, name = "The drawing", fix = "draw a digit first") {
  const background = borderMedian(ink, width, height);
  const out = ink.map((v) => Math.max(v - background, 0));
  let peak = 0;
  for (const v of out) if (v > peak) peak = v;
  if (peak < MIN_CONTRAST) {
    throw new LayoutError(`${name} holds no digit: nothing stands out from its background; ${fix}.`);
  }
  const floor = Math.fround(NOISE_FRACTION * peak); // numpy compares float32 ink in float32
  return out.map((v) => (v >= floor ? v : 0));
}

// The page's pad (RGBA) to cleaned light-on-dark ink, as `predict` treats the pad's PNG.
export function padInk(rgba, width, height) {
  return cleanInk(lightOnDark(greyOf(rgba, width, height), width, height), width, height);
}

// `layout.lanczos_weights`: Pillow's Lanczos-3 coefficients from m pixels to n, as rows of
// {start, w} (the taps from `start` on), each row divided by its sum added in tap order.
export function lanczosWeights(m, n) {
  const scale = m / n;
  const filterscale = Math.max(scale, 1);
  const support = 3 * filterscale;
  const inverse = 1 / filterscale;
  const rows = [];
  for (let k = 0; k < n; k++) {
    const centre = (k + 0.5) * scale;
    const start = Math.max(Math.trunc(centre - support + 0.5), 0);
    const end = Math.min(Math.trunc(centre + support + 0.5), m);
    const w = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      const x = (i - centre + 0.5) * inverse;
      w.push(lanczos(x));
      total += w[w.length - 1];
    }
    rows.push({ start, w: total !== 0 ? w.map((v) => v / total) : w });
  }
  return rows;
}

function lanczos(x) {
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

function sinc(x) {
  if (x === 0) return 1;
  const y = x * Math.PI;
  return Math.sin(y) / y;
}

// Exact area averaging from m pixels to n, either way (the line reader's resampling): output
// pixel k is the mean over [k m / n, (k + 1) m / n); overlaps in units of 1 / n are integers.
export function areaWeights(m, n) {
  const rows = [];
  for (let k = 0; k < n; k++) {
    const lo = k * m;
    const hi = (k + 1) * m;
    const start = Math.floor(lo / n);
    const w = [];
    for (let i = start; i < m && i * n < hi; i++) w.push((Math.min(hi, (i + 1) * n) - Math.max(lo, i * n)) / m);
    rows.push({ start, w });
  }
  return rows;
}

// One pass of a weight matrix: along each row (across, each row's w -> n) or down each column
// (each column's h -> n); sums in tap order, stored as float32 when asked.
function across(values, h, w, rows, float32) {
  const n = rows.length;
  const out = new Float64Array(h * n);
  for (let y = 0; y < h; y++) {
    const base = y * w;
    for (let k = 0; k < n; k++) {
      const { start, w: ws } = rows[k];
      let sum = 0;
      for (let j = 0; j < ws.length; j++) sum += values[base + start + j] * ws[j];
      out[y * n + k] = float32 ? Math.fround(sum) : sum;
    }
  }
  return out;
}

function down(values, h, w, rows, float32) {
  const n = rows.length;
  const out = new Float64Array(n * w);
  for (let k = 0; k < n; k++) {
    const { start, w: ws } = rows[k];
    for (let x = 0; x < w; x++) {
      let sum = 0;
      for (let j = 0; j < ws.length; j++) sum += values[(start + j) * w + x] * ws[j];
      out[k * w + x] = float32 ? Math.fround(sum) : sum;
    }
  }
  return out;
}

// crop (h, w) -> (nh, nw): widths first, then heights, each pass only when that side changes.
// Lanczos passes are stored as float32, as Pillow stores them; area averaging stays in doubles.
export function resample(crop, h, w, nh, nw, area = false) {
  const weights = area ? areaWeights : lanczosWeights;
  let out = crop;
  if (nw !== w) out = across(out, h, w, weights(w, nw), !area);
  if (nh !== h) out = down(out, h, nw, weights(h, nh), !area);
  return out;
}

// The bounding box of ink > 0: [x0, y0, x1, y1) or null.
export function inkBox(ink, width, height) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

export function cropOf(ink, width, box) {
  const [x0, y0, x1, y1] = box;
  const w = x1 - x0;
  const crop = new Float64Array(w * (y1 - y0));
  for (let y = y0; y < y1; y++) crop.set(ink.subarray(y * width + x0, y * width + x1), (y - y0) * w);
  return crop;
}

// `layout.centre_digit`: cleaned ink to the centred 28x28 (Uint8Array, row-major).
export function centreDigit(ink, width, height, name = "The drawing", fix = "draw a digit first") {
  const box = inkBox(ink, width, height);
  if (box === null) throw new LayoutError(`${name} holds no digit: nothing stands out from its background; ${fix}.`);
  const h = box[3] - box[1];
  const w = box[2] - box[0];
  let crop = cropOf(ink, width, box); // cleaned ink: whole or half units, exact in float32
  const scale = BOX / Math.max(h, w);
  const nh = Math.max(1, roundHalfEven(h * scale));
  const nw = Math.max(1, roundHalfEven(w * scale));
  crop = resample(crop, h, w, nh, nw).map((v) => Math.max(v, 0)); // the negative lobes clipped
  let peak = 0;
  for (const v of crop) if (v > peak) peak = v;
  if (!(peak > 0)) throw new LayoutError(`${name} holds no digit: nothing stands out from its background; ${fix}.`);
  const gain = Math.fround(255 / peak); // numpy: float32 crop times a Python float, in float32
  const digit = crop.map((v) => Math.fround(v * gain));
  // Centre of mass, then the integer shift that puts it nearest (14, 14) inside the field.
  let mass = 0;
  let my = 0;
  let mx = 0;
  for (let y = 0; y < nh; y++) {
    let row = 0;
    for (let x = 0; x < nw; x++) row += digit[y * nw + x];
    mass += row;
    my += row * y;
  }
  for (let x = 0; x < nw; x++) {
    let column = 0;
    for (let y = 0; y < nh; y++) column += digit[y * nw + x];
    mx += column * x;
  }
  const top = Math.min(Math.max(roundHalfEven(CENTRE - my / mass), 0), SIDE - nh);
  const left = Math.min(Math.max(roundHalfEven(CENTRE - mx / mass), 0), SIDE - nw);
  const field = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      field[(top + y) * SIDE + left + x] = Math.min(255, Math.max(0, roundHalfEven(digit[y * nw + x])));
    }
  }
  return field;
}

// The pad's RGBA to the 28x28 the digit reader sees: `read_number(..., single=True)`'s input.
export function padDigit(rgba, width, height) {
  return centreDigit(padInk(rgba, width, height), width, height);
}
