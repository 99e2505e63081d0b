// MNIST's layout in JavaScript: `mnistlab.data.layout` and `mnistlab.inference.digits` step by
// step, so the page's 28x28 equals what `mnistlab predict` makes of the pad's PNG (the Python
// docstring of `centre_digit` lists the algorithm; both follow it). Floats are doubles, as
// numpy's float64; where Python compares in float32 (the noise floor), Math.fround does too.
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

// `layout.weights`: (n rows of {start, w}) from m pixels to n. Shrinking: exact area averaging
// (overlaps counted in units of 1/n are integers); growing: linear interpolation between pixel
// centres, clamped at the ends. With `areaOnly`, area averaging both ways (the line reader's).
export function weights(m, n, areaOnly = false) {
  const rows = [];
  if (n <= m || areaOnly) {
    for (let k = 0; k < n; k++) {
      const lo = k * m;
      const hi = (k + 1) * m;
      const start = Math.floor(lo / n);
      const w = [];
      for (let i = start; i < m && i * n < hi; i++) {
        const overlap = Math.min(hi, (i + 1) * n) - Math.max(lo, i * n);
        w.push(Math.max(overlap, 0) / m);
      }
      rows.push({ start, w });
    }
    return rows;
  }
  for (let k = 0; k < n; k++) {
    const numerator = Math.min(Math.max((2 * k + 1) * m - n, 0), 2 * n * (m - 1));
    const left = Math.floor(numerator / (2 * n));
    const fraction = (numerator - left * 2 * n) / (2 * n);
    rows.push(left + 1 <= m - 1 ? { start: left, w: [1 - fraction, fraction] } : { start: left, w: [1] });
  }
  return rows;
}

// crop (h, w) -> (nh, nw): widths first, then heights, as W(h, nh) @ (crop @ W(w, nw).T).
export function resample(crop, h, w, nh, nw, areaOnly = false) {
  const across = weights(w, nw, areaOnly);
  const down = weights(h, nh, areaOnly);
  const tmp = new Float64Array(h * nw);
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < nw; k++) {
      const { start, w: ws } = across[k];
      let sum = 0;
      for (let j = 0; j < ws.length; j++) sum += crop[y * w + start + j] * ws[j];
      tmp[y * nw + k] = sum;
    }
  }
  const out = new Float64Array(nh * nw);
  for (let k = 0; k < nh; k++) {
    const { start, w: ws } = down[k];
    for (let x = 0; x < nw; x++) {
      let sum = 0;
      for (let j = 0; j < ws.length; j++) sum += ws[j] * tmp[(start + j) * nw + x];
      out[k * nw + x] = sum;
    }
  }
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
  let crop = cropOf(Float64Array.from(ink), width, box);
  const scale = BOX / Math.max(h, w);
  const nh = Math.max(1, roundHalfEven(h * scale));
  const nw = Math.max(1, roundHalfEven(w * scale));
  if (nh !== h || nw !== w) crop = resample(crop, h, w, nh, nw);
  let peak = 0;
  for (const v of crop) if (v > peak) peak = v;
  if (!(peak > 0)) throw new LayoutError(`${name} holds no digit: nothing stands out from its background; ${fix}.`);
  const gain = 255 / peak;
  const digit = crop.map((v) => v * gain);
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
