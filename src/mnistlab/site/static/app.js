// The static drawing page: a pad taking pointer events (mouse, pen, touch), the reader run in
// this page by onnxruntime-web, and the same answer `mnistlab predict` gives for the pad's PNG:
// the 28x28 it saw (layout.js), its calibrated bars or "not a digit" (reader.js), an occlusion
// map, and in number mode the line reader's digits (lines.js). No request leaves the folder.
"use strict";

import { LayoutError, padDigit, padInk } from "./layout.js";
import { ctcDecode, lineInput } from "./lines.js";
import { decide, digitLogits, lineLogProbs, loadModel, occlusion, PATCH, STRIDE } from "./reader.js";

const DEBOUNCE_MS = 120; // while drawing, read at most this often after the last move
const OCCLUSION_DELAY_MS = 250; // the pen's rest before the occlusion map is made
const PADS = { digit: [280, 280], number: [840, 280] }; // canvas px; the number pad as tall
const pad = document.getElementById("pad");
const ink = pad.getContext("2d", { willReadFrequently: true });
const penInput = document.getElementById("pen");
const statusLine = document.getElementById("status");
const $ = (id) => document.getElementById(id);

const state = { mode: "digit", digit: null, line: null, rows: [] };
let version = 0; // bumps on every change of the pad
let readVersion = 0; // the version the shown answer belongs to
let strokeEnd = null; // performance.now() of the last pointerup, for the read's timing
let running = null; // the read loop, while it runs
let timer = null;
let occlusionTimer = null;
let drawing = false;
let drawn = false;
let last = null; // the last answer, for the page's tests (window.mnistlab.settled)

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

// -- the pad ---------------------------------------------------------------------------------

function clearPad() {
  // White paper and black ink, as a scanned digit: the pad's PNG is what `predict` reads.
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = "#000";
  ink.fillStyle = "#000";
  ink.lineCap = "round";
  ink.lineJoin = "round";
  drawn = false;
  version += 1;
  readVersion = version;
  last = null;
  show(null);
}

function setMode(mode) {
  state.mode = mode;
  document.body.classList.toggle("number-mode", mode === "number");
  document.querySelector(`#modes input[value='${mode}']`).checked = true;
  [pad.width, pad.height] = PADS[mode];
  $("prompt").textContent = mode === "number" ? "Write a number, its digits side by side." : "Draw a digit on the pad.";
  clearPad();
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  pad.dataset.pointer = event.pointerType; // mouse, pen or touch: the tests check which arrived
  drawing = true;
  drawn = true;
  clearTimeout(occlusionTimer);
  const [x, y] = padPoint(event);
  const width = Number(penInput.value);
  ink.lineWidth = width;
  ink.beginPath();
  ink.arc(x, y, width / 2, 0, 2 * Math.PI);
  ink.fill();
  ink.beginPath();
  ink.moveTo(x, y);
  version += 1;
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  // Every point of a fast stroke (a pen or finger sends several per frame), in order.
  const points = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const point of points.length ? points : [event]) {
    const [x, y] = padPoint(point);
    ink.lineTo(x, y);
  }
  ink.stroke();
  version += 1;
  clearTimeout(timer);
  timer = setTimeout(requestRead, DEBOUNCE_MS);
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  strokeEnd = performance.now();
  clearTimeout(timer);
  requestRead();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
$("clear").addEventListener("click", clearPad);
$("modes").addEventListener("change", (event) => setMode(event.target.value));

// -- reading ---------------------------------------------------------------------------------

function requestRead() {
  if (!running) {
    running = readLoop()
      .catch((err) => setStatus(`The reader failed (${err.message ?? err}); reload the page.`, true))
      .finally(() => {
        running = null;
        scheduleOcclusion();
      });
  }
  return running;
}

// Reads until the answer shown is the pad's; the occlusion map follows when nothing is newer.
async function readLoop() {
  while (readVersion !== version && drawn && state.digit) {
    const seen = version;
    const since = strokeEnd ?? performance.now();
    strokeEnd = null;
    const answer = await readPad();
    answer.ms = performance.now() - since;
    answer.version = seen;
    readVersion = seen;
    last = answer;
    show(answer);
  }
}

// The occlusion map once the pen has rested OCCLUSION_DELAY_MS (49 more inputs: not while a
// person is still writing), in turn with the reads (one session runs one batch at a time).
function scheduleOcclusion() {
  clearTimeout(occlusionTimer);
  occlusionTimer = setTimeout(() => {
    const answer = last;
    if (running || drawing || answer?.kind !== "digit" || readVersion !== version) return;
    running = occlusion(state.digit.session, answer.image, answer.label, state.digit.record)
      .then((map) => {
        if (last === answer && readVersion === version) showOcclusion(answer.image, map);
      })
      .catch(() => {}) // the map is an extra: the answer stands without it
      .finally(() => {
        running = null;
        if (drawn && readVersion !== version) requestRead(); // a stroke ended while it ran
      });
  }, OCCLUSION_DELAY_MS);
}

async function readPad() {
  const pixels = ink.getImageData(0, 0, pad.width, pad.height).data;
  try {
    if (state.mode === "number" && state.line) {
      const line = await readLine(pixels);
      // As `predict` reads a number: the line reader's when it finds two or more symbols, else
      // the digit reader's reading of the whole ink (one digit reads as in digit mode).
      if (line.digits.length > 1) return line;
    }
    const image = padDigit(pixels, pad.width, pad.height);
    const logits = await digitLogits(state.digit.session, image, 1);
    return { kind: "digit", image, ...decide(logits, state.digit.record) };
  } catch (err) {
    if (err instanceof LayoutError) return { kind: "blank", message: err.message };
    throw err;
  }
}

async function readLine(pixels) {
  const { record, session } = state.line;
  const input = lineInput(padInk(pixels, pad.width, pad.height), pad.width, pad.height, record);
  const out = await lineLogProbs(session, input, record.height);
  return { kind: "line", input, ...ctcDecode(out.data, out.T, out.C, record) };
}

// -- showing ---------------------------------------------------------------------------------

const percent = (p) => `${(100 * p).toFixed(1)} %`;

function show(answer) {
  const record = state.digit?.record;
  const card = document.querySelector(".card");
  card.classList.toggle("abstained", Boolean(answer?.abstain));
  card.dataset.verdict = verdictOf(answer);
  $("answer").classList.toggle("refused", Boolean(answer?.abstain));
  $("timing").textContent = answer ? `read in ${answer.ms.toFixed(1)} ms after the last stroke` : "";
  $("reason").textContent = answer?.reason ?? ""; // as `mnistlab predict` words a refusal
  $("digits").replaceChildren();
  showSeen(answer?.kind === "digit" ? answer.image : null);
  showOcclusion(null);
  state.rows.forEach((row) => {
    row.fill.style.width = "0";
    row.value.textContent = "";
    for (const part of [row.label, row.fill]) part.classList.remove("top");
  });
  if (answer === null || answer.kind === "blank") {
    $("answer").textContent = "–";
    $("confidence").textContent = "";
    if (answer) setStatus(answer.message);
    return;
  }
  setStatus(`Read in ${answer.ms.toFixed(1)} ms, in this page.`);
  if (answer.kind === "line") {
    $("answer").textContent = answer.abstain ? record.refusal : answer.text;
    $("confidence").textContent = answer.reason ?? `${answer.digits.length} digits`;
    $("digits").replaceChildren(
      ...answer.digits.map((d) => Object.assign(document.createElement("li"), { textContent: `${d.symbol} · ${percent(d.confidence)}` })),
    );
    return;
  }
  const best = record.classes[answer.label];
  $("answer").textContent = answer.abstain ? record.refusal : best;
  $("confidence").textContent = answer.abstain ? `best guess ${best} at ${percent(answer.probabilities[answer.label])}` : percent(answer.probabilities[answer.label]);
  answer.probabilities.forEach((p, d) => {
    const row = state.rows[d];
    row.fill.style.width = `${(100 * p).toFixed(1)}%`;
    row.value.textContent = (100 * p).toFixed(1);
    const top = !answer.abstain && d === answer.label;
    for (const part of [row.label, row.fill]) part.classList.toggle("top", top);
  });
}

// What a reading says, as `predict` would: the class, the number, or the refusal.
function verdictOf(answer) {
  if (answer === null || answer.kind === "blank") return "";
  if (answer.abstain) return "abstain";
  return answer.kind === "line" ? answer.text : state.digit.record.classes[answer.label];
}

function showSeen(image) {
  const seen = $("seen").getContext("2d");
  const data = seen.createImageData(28, 28);
  for (let i = 0; i < 784; i++) data.data.set(image ? [image[i], image[i], image[i], 255] : [0, 0, 0, 255], 4 * i);
  seen.putImageData(data, 0, 0);
}

// The digit in grey, each occluded square tinted by how much hiding it lowered the answer.
function showOcclusion(image, map) {
  const canvas = $("occlusion").getContext("2d");
  const data = canvas.createImageData(28, 28);
  let most = 1e-6;
  if (map) for (const d of map.drops) most = Math.max(most, d);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const grey = image ? image[y * 28 + x] * 0.5 : 0;
      let heat = 0;
      if (map) {
        const i = Math.min(Math.floor(y / STRIDE), map.steps - 1);
        const j = Math.min(Math.floor(x / STRIDE), map.steps - 1);
        heat = Math.sqrt(Math.max(0, map.drops[i * map.steps + j]) / most); // sqrt: the lesser squares show too
      }
      data.data.set([Math.min(255, grey + 255 * heat), grey + 72 * heat, grey, 255], 4 * (y * 28 + x));
    }
  }
  canvas.putImageData(data, 0, 0);
  canvas.canvas.dataset.shown = map ? "yes" : "";
}

function makeBars(classes) {
  const bars = $("bars");
  state.rows = classes.map((name) => {
    const label = Object.assign(document.createElement("span"), { className: "label", textContent: name });
    const track = Object.assign(document.createElement("div"), { className: "track" });
    const fill = Object.assign(document.createElement("div"), { className: "fill" });
    const value = Object.assign(document.createElement("span"), { className: "value" });
    track.append(fill);
    bars.append(label, track, value);
    return { label, fill, value };
  });
}

function ruleText(record) {
  if (!record.calibrated) return "not calibrated: raw softmax, never refuses";
  const rule = record.abstention;
  const refuses = rule.threshold === null ? "never refuses" : `refuses below ${rule.score} ${rule.threshold.toFixed(3)}`;
  return `calibrated (T ${record.temperature.toFixed(2)}), ${refuses}`;
}

// -- start -----------------------------------------------------------------------------------

async function start() {
  const site = await (await fetch("site.json")).json();
  const record = await (await fetch(site.digit)).json();
  state.digit = { record, session: await loadModel(site.digit.replace(/\.json$/, ".onnx")) };
  if (site.line) {
    const lineRecord = await (await fetch(site.line)).json();
    state.line = { record: lineRecord, session: await loadModel(site.line.replace(/\.json$/, ".onnx")) };
  }
  $("modes").hidden = !state.line;
  if (!state.line && state.mode === "number") setMode("digit");
  $("no-number").hidden = Boolean(state.line);
  $("model-name").textContent = `${record.name} (${record.model})`;
  $("rule").textContent = ruleText(record);
  makeBars(record.classes);
  setStatus("Ready: draw with the mouse, a pen or a finger.");
  if (drawn) requestRead();
}

// The page's own tests wait on this: the answer for what the pad shows now.
window.mnistlab = {
  ready: null,
  async settled() {
    await window.mnistlab.ready;
    while (running || (drawn && readVersion !== version)) await requestRead();
    return last && { ...last, image: last.image ? Array.from(last.image) : null, input: undefined };
  },
};

setMode(location.hash === "#number" ? "number" : "digit");
window.mnistlab.ready = start().catch((err) => {
  setStatus(`The reader did not load (${err.message ?? err}); reload the page.`, true);
  throw err;
});
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
