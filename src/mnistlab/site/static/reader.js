// The models in onnxruntime-web's WebAssembly build, and the digit reader's decision as
// `mnistlab.reader` makes it: z = logits / temperature (doubles), p = softmax(z); score "energy"
// = temperature * logsumexp(z), "msp" = max(p); answer argmax(p) when score >= threshold, else
// the refusal ("not a digit"); a null threshold never refuses.
"use strict";

import * as ort from "./ort/ort.wasm.min.mjs";

// One thread: a static host seldom sends the cross-origin isolation headers that threads
// need, and one digit is far too small a job to share. Files come from this folder's ort/.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;

export async function loadModel(path) {
  return ort.InferenceSession.create(new URL(path, import.meta.url).href, { executionProviders: ["wasm"] });
}

// Logits (Float32Array, N x C) of N 28x28 uint8 images stored one after another.
export async function digitLogits(session, images, n) {
  const input = new Float32Array(n * 784);
  for (let i = 0; i < input.length; i++) input[i] = images[i] / 255;
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input, [n, 1, 28, 28]) };
  const out = await session.run(feeds);
  return out[session.outputNames[0]].data;
}

// log_probs (Float32Array, T x C) of the line reader for its input (1, 1, height, W).
export async function lineLogProbs(session, input, height) {
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input.data, [1, 1, height, input.width]) };
  const out = (await session.run(feeds))[session.outputNames[0]];
  return { data: out.data, T: out.dims[1], C: out.dims[2] };
}

// One image's decision from its C logits and the model's record (models/digit.json).
export function decide(logits, record) {
  const T = record.temperature;
  const z = Array.from(logits, (v) => v / T);
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  const probabilities = e.map((v) => v / total);
  let label = 0;
  for (let c = 1; c < probabilities.length; c++) if (probabilities[c] > probabilities[label]) label = c;
  const rule = record.abstention;
  const score = rule.score === "msp" ? probabilities[label] : T * (top + Math.log(total));
  const threshold = rule.threshold;
  const abstain = threshold !== null && score < threshold;
  const reason = abstain
    ? `${record.refusal}: ${rule.score} ${score.toFixed(3)} is below the threshold ${threshold.toFixed(3)}`
    : null;
  return { probabilities, label, score, threshold, abstain, reason };
}

// Occlusion: the drop of the calibrated log-probability of `label` when a PATCH x PATCH square
// (stride STRIDE) of the input is blanked, one batch of every position. (rows x cols) values.
export const PATCH = 4;
export const STRIDE = 4;
export async function occlusion(session, image, label, record) {
  const steps = Math.floor((28 - PATCH) / STRIDE) + 1;
  const n = steps * steps;
  const batch = new Uint8Array(n * 784);
  for (let k = 0; k < n; k++) {
    batch.set(image, k * 784);
    const y0 = Math.floor(k / steps) * STRIDE;
    const x0 = (k % steps) * STRIDE;
    for (let y = y0; y < y0 + PATCH; y++) batch.fill(0, k * 784 + y * 28 + x0, k * 784 + y * 28 + x0 + PATCH);
  }
  const logits = await digitLogits(session, concat(image, batch), n + 1);
  const C = logits.length / (n + 1);
  // In log-probability: a sure answer (0.9999) still shows which squares it leans on.
  const logOf = (at) => Math.log(Math.max(decide(logits.subarray(at * C, (at + 1) * C), record).probabilities[label], 1e-300));
  const base = logOf(0);
  const drops = new Float64Array(n);
  for (let k = 0; k < n; k++) drops[k] = base - logOf(k + 1);
  return { steps, drops };
}

function concat(first, rest) {
  const out = new Uint8Array(first.length + rest.length);
  out.set(first, 0);
  out.set(rest, first.length);
  return out;
}
