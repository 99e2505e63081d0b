// The line reader's side of the page, as its exported metadata `mnistlab_line` and
// `mnistlab.lines` (preprocess, decode) describe it:
//   input: cleaned light-on-dark ink (background 0) cropped to ink > 0 (one row of writing
//   only), scaled with exact area averaging to ink_rows[1] - ink_rows[0] = 20 rows and
//   max(1, round(w * 20 / h)) columns, placed on a zero canvas `height` (32) rows tall at rows
//   ink_rows (6..25) with `pad` (8) empty columns each side, divided by its maximum;
//   decoding of log_probs (T, C): argmax per column, repeats collapsed, blanks dropped; any
//   "not a digit" symbol refuses the line; a digit's confidence is the largest
//   softmax(log_probs / temperature) of its class over its columns; the line abstains when it
//   holds no symbol or its least confident digit is under the rule's threshold.
"use strict";

import { LayoutError, cropOf, inkBox, resample, roundHalfEven } from "./layout.js";

const ROW_GROUP = 0.6; // a row group at least this share of the tallest one's height...
const ROW_GAP = 0.25; // ...apart from another by an empty band this tall: two rows of writing

// `mnistlab.lines.preprocess.check_one_row`: whether the crop's rows holding ink (booleans)
// form several rows of writing.
export function severalRows(rowsWithInk) {
  const groups = []; // [first row, rows] of each run of rows holding ink
  let start = null;
  [...rowsWithInk, false].forEach((ink, i) => {
    if (ink && start === null) start = i;
    if (!ink && start !== null) {
      groups.push([start, i - start]);
      start = null;
    }
  });
  const tallest = Math.max(...groups.map(([, rows]) => rows));
  const tall = groups.filter(([, rows]) => rows >= ROW_GROUP * tallest);
  return tall.some(([a, rows], i) => i + 1 < tall.length && tall[i + 1][0] - (a + rows) >= ROW_GAP * tallest);
}

// Cleaned ink (Float64Array, width x height) -> {data: Float32Array(height * W), width: W},
// or null when there is no ink; throws LayoutError for several rows of writing.
export function lineInput(ink, width, height, record, name = "The drawing") {
  const box = inkBox(ink, width, height);
  if (box === null) return null;
  const [rowTop, rowEnd] = record.ink_rows;
  const inkHeight = rowEnd - rowTop;
  const h = box[3] - box[1];
  const w = box[2] - box[0];
  let crop = cropOf(ink, width, box);
  const rowsWithInk = Array.from({ length: h }, (_, y) => crop.subarray(y * w, (y + 1) * w).some((v) => v > 0));
  if (severalRows(rowsWithInk)) throw new LayoutError(`${name} has several rows of writing; crop one row.`);
  const nw = Math.max(1, roundHalfEven((w * inkHeight) / h)); // numpy: round(w * 20 / h)
  crop = resample(crop, h, w, inkHeight, nw, true);
  const W = nw + 2 * record.pad;
  const data = new Float32Array(record.height * W);
  let peak = 0;
  for (const v of crop) if (v > peak) peak = v;
  for (let y = 0; y < inkHeight; y++) {
    for (let x = 0; x < nw; x++) data[(rowTop + y) * W + record.pad + x] = peak > 0 ? crop[y * nw + x] / peak : 0;
  }
  return { data, width: W };
}

// log_probs: Float32Array (T * C), row-major. Returns {text, digits: [{symbol, confidence,
// columns: [first, last]}], refused, abstain, minConfidence, reason}.
export function ctcDecode(logProbs, T, C, record) {
  const temperature = record.temperature;
  const blank = record.blank;
  // The exported record lists the symbols of classes 1..C-1 ("0".."9", "not a digit"); a list
  // of C names the blank too.
  const offset = record.symbols.length === C ? 0 : 1;
  const symbols = record.symbols;
  const digits = [];
  let previous = -1;
  let refused = false;
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logProbs[t * C + c] > logProbs[t * C + best]) best = c;
    // softmax(log_probs[t] / T) of the column's best class, in doubles
    let top = -Infinity;
    for (let c = 0; c < C; c++) top = Math.max(top, logProbs[t * C + c] / temperature);
    let total = 0;
    for (let c = 0; c < C; c++) total += Math.exp(logProbs[t * C + c] / temperature - top);
    const p = Math.exp(logProbs[t * C + best] / temperature - top) / total;
    if (best !== previous && best !== blank) {
      const symbol = symbols[best - offset];
      if (!/^[0-9]$/.test(symbol)) refused = true;
      digits.push({ symbol, index: best, confidence: p, columns: [t, t] });
    } else if (best === previous && best !== blank) {
      const last = digits[digits.length - 1];
      last.confidence = Math.max(last.confidence, p);
      last.columns[1] = t;
    }
    previous = best;
  }
  const minConfidence = digits.length ? Math.min(...digits.map((d) => d.confidence)) : 0;
  const threshold = record.rule?.threshold ?? null;
  // Worded as `predict` words a number's refusal: its first refused digit's reason.
  let reason = null;
  const k = digits.findIndex(
    (d) => !/^[0-9]$/.test(d.symbol) || (threshold !== null && d.confidence < threshold),
  );
  if (k >= 0) {
    const d = digits[k];
    const why = /^[0-9]$/.test(d.symbol)
      ? `not sure: the line reader's confidence ${d.confidence.toFixed(3)} is below the threshold ${threshold.toFixed(3)}`
      : "not a digit: the line reader reads this symbol as no digit";
    reason = `digit ${k + 1} of ${digits.length}: ${why}`;
  } else if (!digits.length) reason = "not a digit: no digit found in the line";
  return {
    text: digits.filter((d) => /^[0-9]$/.test(d.symbol)).map((d) => d.symbol).join(""),
    digits,
    refused,
    abstain: reason !== null,
    minConfidence,
    reason,
  };
}
