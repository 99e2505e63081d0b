// The drawing page: a canvas, debounced POSTs to /api/predict, one bar chart per model.
// The served dataset (GET /api/models) names the classes and says what to draw. Probabilities
// are the API's calibrated ones; when a model abstains the card says "not a digit" (or "not
// one of the classes") with its best guess's probability, and no bar is shown as the answer.
// Two modes: "one digit" (a square pad, read whole with ?single=true, as always) and "a number"
// (a pad three times as wide, read digit by digit: each digit's box drawn over the pad with
// its reading, and each card showing the whole number and every digit's reading). Both
// render the same answer: a number and its digits.
// No framework and nothing from the network but this server.
"use strict";

const DEBOUNCE_MS = 120; // while drawing, predict at most this often after the last move
// Pen width in px on the 280x280 pad; 24 (the default) is about an MNIST stroke (2-3 px) once
// scaled to 28x28. The slider lets a person write as thin or thick as their own hand.
const penInput = document.getElementById("pen");
const penWidth = () => Number(penInput.value);

// Pad sizes in canvas px, per mode; the number pad is as tall as the digit pad, so the same pen
// writes digits of the same size.
const PADS = { digit: [280, 280], number: [840, 280] };
let mode = location.hash === "#number" ? "number" : "digit";

const pad = document.getElementById("pad");
const boxes = document.getElementById("boxes");
const ink = pad.getContext("2d");
const seen = document.getElementById("seen").getContext("2d");
const statusLine = document.getElementById("status");
const cards = new Map(); // model name -> {digit, confidence, timing, rows, digits, refusal}
let classes = []; // class names in label order, from /api/models
let drawPrompt = "Draw on the pad."; // what to draw, from /api/models

let drawing = false;
let drawn = false;
let timer = null;
let sent = 0; // sequence number of the last request, so a stale answer is dropped
let shown = 0;

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

// -- the drawing pad ----------------------------------------------------------------------

function clearPad() {
  // Opaque white paper and dark ink, like a scanned digit: the PNG needs no alpha handling.
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  ink.strokeStyle = "#000";
  ink.fillStyle = "#000";
  ink.lineWidth = penWidth();
  ink.lineCap = "round";
  ink.lineJoin = "round";
  drawn = false;
  sent += 1; // an answer still in flight belongs to the old drawing
  showInputs([]);
  showBoxes([]);
  for (const card of cards.values()) showAnswer(card, null);
  setStatus(mode === "number" ? "Write a number, digits side by side." : "Draw with the mouse or a finger.");
}

function setMode(next) {
  mode = next;
  document.body.classList.toggle("number-mode", mode === "number");
  document.querySelector(`#modes input[value='${mode}']`).checked = true;
  [pad.width, pad.height] = PADS[mode]; // resizing a canvas clears it
  history.replaceState(null, "", mode === "number" ? "#number" : location.pathname + location.search);
  document.getElementById("prompt").textContent =
    mode === "number" ? "Write a number, its digits side by side." : drawPrompt;
  clearPad();
}

document.getElementById("modes").addEventListener("change", (event) => setMode(event.target.value));

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [
    ((event.clientX - box.left) * pad.width) / box.width,
    ((event.clientY - box.top) * pad.height) / box.height,
  ];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  drawn = true;
  const [x, y] = padPoint(event);
  ink.beginPath();
  ink.lineWidth = penWidth(); // a new width applies from the next stroke on
  ink.arc(x, y, penWidth() / 2, 0, 2 * Math.PI);
  ink.fill();
  ink.beginPath();
  ink.moveTo(x, y);
  schedule(DEBOUNCE_MS);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = padPoint(event);
  ink.lineTo(x, y);
  ink.stroke();
  schedule(DEBOUNCE_MS);
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  schedule(0);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
document.getElementById("clear").addEventListener("click", clearPad);

// -- talking to the API -------------------------------------------------------------------

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(predict, delay);
}

async function predict() {
  if (!drawn) return;
  const ticket = ++sent;
  let response, answer;
  try {
    // One digit: the whole drawing is one digit, as the page always read it.
    response = await fetch(mode === "number" ? "/api/predict" : "/api/predict?single=true", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: pad.toDataURL("image/png") }),
    });
    answer = await response.json();
  } catch (err) {
    setStatus("The server did not answer; is `mnistlab serve` still running?", true);
    return;
  }
  if (ticket < sent || ticket < shown) return; // a newer drawing or answer won the race
  shown = ticket;
  if (!response.ok) {
    setStatus(answer.error || `Error ${response.status}.`, true);
    return;
  }
  const first = answer.models[0];
  showInputs(first.digits.map((digit) => digit.input));
  showBoxes(mode === "number" ? first.digits : []);
  for (const result of answer.models) {
    const card = cards.get(result.name);
    if (card) showAnswer(card, result);
  }
  setStatus(`Answered in ${answer.ms.toFixed(1)} ms.${specks(first.dropped)}`);
}

function specks(dropped) {
  if (mode !== "number" || !dropped) return "";
  return ` ${dropped} speck${dropped === 1 ? "" : "s"} too small for a digit left out.`;
}

// -- rendering ----------------------------------------------------------------------------

// The 28x28 inputs the (first) model saw, side by side: one for a digit, one per digit of a number.
function showInputs(inputs) {
  const canvas = seen.canvas;
  canvas.width = 28 * Math.max(1, inputs.length);
  canvas.style.width = mode === "number" ? `${56 * Math.max(1, inputs.length)}px` : "";
  canvas.style.height = mode === "number" ? "56px" : "";
  seen.clearRect(0, 0, canvas.width, 28);
  inputs.forEach((pixels, k) => {
    const image = seen.createImageData(28, 28);
    pixels.flat().forEach((value, i) => {
      image.data.set([value, value, value, 255], 4 * i);
    });
    seen.putImageData(image, 28 * k, 0);
  });
}

// Each digit's box over the pad (the first model's digits), labelled with its reading. Boxes
// are in the canvas' pixels; as percentages they follow the pad however large it is shown.
function showBoxes(digits) {
  boxes.replaceChildren();
  digits.forEach((digit, i) => {
    const [x0, y0, x1, y1] = digit.box;
    const node = element("div", "box");
    node.classList.toggle("refused", digit.abstain);
    node.dataset.verdict = digit.abstain ? "abstain" : digit.class;
    Object.assign(node.style, {
      left: `${(100 * x0) / pad.width}%`,
      top: `${(100 * y0) / pad.height}%`,
      width: `${(100 * (x1 - x0)) / pad.width}%`,
      height: `${(100 * (y1 - y0)) / pad.height}%`,
    });
    node.append(element("span", "tag", `${i + 1}: ${digitText(digit)}`));
    boxes.append(node);
  });
}

// One digit of a number: its reading and calibrated confidence, or the refusal and best guess.
function digitText(digit) {
  if (digit.abstain) return `${refusalOf(digit)} (best guess ${classes[digit.top[0][0]]}, ${percent(digit.probability)})`;
  return `${digit.class} · ${percent(digit.probability)}`;
}

const refusalOf = (digit) => (digit.reason || "not a digit").split(":")[0];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function makeCard(model) {
  const root = element("article", "card model");
  root.dataset.model = model.name;
  root.append(element("h2", "", model.name));
  const accuracy = model.accuracy == null ? "accuracy unknown" : `${(100 * model.accuracy).toFixed(2)} % test accuracy`;
  root.append(element("div", "meta", `${model.kind} (${model.recipe}), ${accuracy}`));
  root.append(element("div", "rule", ruleText(model)));
  const answer = element("div", "answer");
  const digit = element("span", "digit", "–");
  const confidence = element("span", "confidence", "");
  const timing = element("span", "confidence timing", "");
  answer.append(digit, confidence, timing);
  root.append(answer);
  const bars = element("div", "bars");
  const rows = [];
  for (let d = 0; d < classes.length; d++) {
    const label = element("span", "label", classes[d]);
    const track = element("div", "track");
    const fill = element("div", "fill");
    track.append(fill);
    const value = element("span", "value", "");
    bars.append(label, track, value);
    rows.push({ label, track, fill, value });
  }
  root.append(bars);
  const digits = element("ol", "digits");
  root.append(digits);
  document.getElementById("models").append(root);
  return { root, digit, confidence, timing, rows, digits, refusal: model.refusal };
}

// What the card says about its model's decision rule, from GET /api/models.
function ruleText(model) {
  if (!model.calibrated) return "not calibrated: raw softmax, never abstains";
  const refuses = model.threshold == null ? "never refuses" : `refuses below ${model.score} ${model.threshold.toFixed(3)}`;
  return `calibrated (T ${model.temperature.toFixed(2)}), ${refuses}`;
}

const percent = (p) => `${(100 * p).toFixed(1)} %`;

// One render path for both modes: an answer is a number (one digit is a number of one digit).
// The card shows the number, or the refusal; a one-digit number also its digit's calibrated
// confidence and bars (the number mode hides the bars and lists every digit's reading instead).
function showAnswer(card, result) {
  const digits = result === null ? [] : result.digits;
  const one = digits.length === 1 ? digits[0] : null;
  const refused = result !== null && result.abstain;
  card.root.classList.toggle("answered", result !== null);
  card.root.classList.toggle("abstained", refused);
  card.root.dataset.verdict = result === null ? "" : result.number ?? "abstain";
  card.root.dataset.number = result?.number ?? "";
  card.root.title = result?.reason || "";
  card.digit.classList.toggle("refused", refused);
  card.timing.textContent = result ? `· ${result.ms.toFixed(2)} ms` : "";
  if (result === null) {
    card.digit.textContent = "–";
    card.confidence.textContent = "";
  } else if (refused) {
    // The refusal, and how sure the model is of its best guess (calibrated), not a confident answer.
    const first = digits.findIndex((digit) => digit.abstain);
    card.digit.textContent = one ? card.refusal : "no number";
    card.confidence.textContent = one
      ? `best guess ${classes[one.top[0][0]]} at ${percent(one.probability)}`
      : `digit ${first + 1} of ${digits.length} is ${refusalOf(digits[first])}`;
  } else {
    card.digit.textContent = result.number;
    card.confidence.textContent = one ? percent(one.probability) : `${digits.length} digits`;
  }
  card.digits.replaceChildren(
    ...digits.map((digit) => {
      const item = element("li", digit.abstain ? "refused" : "", digitText(digit));
      item.title = digit.reason || "";
      return item;
    }),
  );
  card.rows.forEach((row, d) => {
    const p = one ? one.probabilities[d] : 0;
    const top = one !== null && !one.abstain && d === one.label;
    row.fill.style.width = `${(100 * p).toFixed(1)}%`;
    row.value.textContent = one ? `${(100 * p).toFixed(1)}` : "";
    for (const part of [row.label, row.track, row.value]) part.classList.toggle("top", top);
  });
}

async function loadModels() {
  try {
    const response = await fetch("/api/models");
    const { models, dataset } = await response.json();
    classes = dataset.classes;
    drawPrompt = dataset.prompt;
    // Numbers are digits: a dataset of objects has only the one-drawing mode.
    document.getElementById("modes").hidden = dataset.image_kind !== "digits";
    setMode(dataset.image_kind === "digits" ? mode : "digit");
    document.title = `mnistlab: ${dataset.title}`;
    for (const model of models) {
      const card = makeCard(model);
      card.digit.classList.toggle("name", classes.some((name) => name.length > 1));
      cards.set(model.name, card);
    }
  } catch (err) {
    setStatus("Could not list the models; reload the page.", true);
  }
}

setMode(mode);
loadModels();
