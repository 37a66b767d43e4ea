// The page of `captra serve`: one section per served model (its card and a form for its input kind), talking to
// the JSON API of the same server. Plain JavaScript, nothing fetched from elsewhere.
"use strict";

const keyInput = document.getElementById("api-key");

function headers(extra = {}) {
  const key = keyInput.value || sessionStorage.getItem("captra-api-key") || "";
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

async function call(url, options = {}) {
  const response = await fetch(url, { ...options, headers: headers(options.headers) });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (response.status === 401) {
    document.getElementById("key-field").hidden = false;
  }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function cardTable(card) {
  const rows = [
    ["task", card.task], ["route", "POST " + card.route], ["checkpoints", card.checkpoints.join(", ")],
    ["training steps / epoch", card.training_steps + " / " + card.epoch],
    ["vocabularies", Object.entries(card.vocabularies).map(([side, v]) => `${side}: ${v.size} (${v.tokenizer})`).join("; ")],
    ...(card.search ? [["search", `${card.search.strategy}, beam ${card.search.beam_size}, ` +
                                  `length penalty ${card.search.length_penalty}`]] : []),
    ...(card.classes ? [["classes", card.classes.join(", ")]] : []),
    ["attention", card.attention ? "yes" : "no"],
    ["provenance", `captra ${card.provenance.captra} (${card.provenance.commit}), torch ${card.provenance.torch}, ` +
                   `${card.provenance.device}${card.provenance.int8 ? ", int8" : ""}, ${card.provenance.cpu}`],
  ];
  const table = element("table");
  for (const [name, value] of rows) table.append(element("tr", {}, element("td", {}, name), element("td", {}, String(value))));
  return element("details", { class: "card" }, element("summary", {}, "Model card"), table);
}

function options(form, model) {
  const beam = form.elements.beam.value, nBest = form.elements.n_best.value;
  const chosen = { n_best: nBest ? Number(nBest) : 1, attention: model.attention };
  if (beam && model.search) chosen.beam = Math.max(Number(beam), chosen.n_best);  // a model without search has no beam
  return chosen;
}

function nbestList(outputs) {
  const list = element("ol", { class: "nbest" });
  for (const output of outputs) {
    const score = output.score === null ? "" : output.score.toFixed(3);
    list.append(element("li", {}, element("span", { class: "text" }, output.text), element("span", { class: "score" }, score)));
  }
  return list;
}

// Attention over input tokens (e.g. an alignment): a table, output tokens down, input tokens across.
function attentionTable(attention) {
  const table = element("table", { class: "alignment" });
  const head = element("tr", {}, element("th"));
  for (const token of attention.input_tokens) head.append(element("th", {}, token));
  table.append(element("thead", {}, head));
  const body = element("tbody");
  attention.weights.forEach((weights, row) => {
    const line = element("tr", {}, element("th", {}, attention.output_tokens[row]));
    for (const weight of weights) {
      line.append(element("td", { title: weight.toFixed(3), style: `background: rgba(34, 85, 204, ${weight})` }));
    }
    body.append(line);
  });
  table.append(body);
  return table;
}

// Only the answer to a panel's latest request is shown (an older, slower one is dropped).
function latest(panel) {
  panel.asked = (panel.asked || 0) + 1;
  const mine = panel.asked;
  return () => mine === panel.asked;
}

async function ask(model, results, body, headers = {}) {
  const current = latest(results);
  results.replaceChildren(element("p", {}, model.verb + "\u2026"));
  try {
    const answer = await call(`${model.route}?model=${encodeURIComponent(model.name)}`, { method: "POST", headers, body });
    return current() ? answer : null;
  } catch (failure) {
    if (current()) results.replaceChildren(element("p", { class: "error" }, failure.message));
    return null;
  }
}

function textPanel(section, model) {
  const panel = document.getElementById("text-panel").content.cloneNode(true);
  const form = panel.querySelector("form"), results = panel.querySelector(".results");
  form.querySelector("button").textContent = model.verb;
  form.elements.beam.closest("label").hidden = !model.search;  // a model without a search has no beam
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = form.elements.text.value.split("\n").filter((line) => line.trim());
    const answer = await ask(model, results, JSON.stringify({ text, ...options(form, model) }),
                             { "Content-Type": "application/json" });
    if (!answer) return;
    results.replaceChildren(...answer.results.map((result) => element("div", { class: "result" },
      element("p", {}, element("b", {}, result.input)), nbestList(result.outputs),
      result.attention ? attentionTable(result.attention) : "")));
  });
  section.append(panel);
}

// Attention over an image's region grid: a canvas over the picture darkens where the word did not look.
function drawAttention(canvas, grid, weights) {
  const [rows, columns] = grid;
  canvas.width = columns;
  canvas.height = rows;
  const context = canvas.getContext("2d");
  const most = Math.max(...weights) || 1;
  context.clearRect(0, 0, columns, rows);
  weights.forEach((weight, index) => {
    context.fillStyle = `rgba(0, 0, 0, ${0.75 * (1 - weight / most)})`;
    context.fillRect(index % columns, Math.floor(index / columns), 1, 1);
  });
}

function imageResult(result, imageUrl) {
  const picture = element("div", { class: "picture" }, element("img", { src: imageUrl, alt: result.input }),
                          element("canvas"));
  const canvas = picture.querySelector("canvas");
  const attention = result.attention;
  const words = element("p", { class: "words" });
  (attention ? attention.output_tokens : []).forEach((word, index) => {
    const button = element("span", { class: "word", tabindex: "0" }, word);
    const show = () => {
      words.querySelectorAll(".word").forEach((other) => other.classList.remove("active"));
      button.classList.add("active");
      canvas.dataset.word = word;
      drawAttention(canvas, attention.grid, attention.weights[index]);
    };
    button.addEventListener("mouseenter", show);
    button.addEventListener("click", show);
    words.append(button, " ");
  });
  return element("div", { class: "result" }, picture, attention ? words : element("p", {}, result.outputs[0].text),
                 nbestList(result.outputs));
}

function imagePanel(section, model) {
  const panel = document.getElementById("image-panel").content.cloneNode(true);
  const form = panel.querySelector("form"), results = panel.querySelector(".results");
  const drop = panel.querySelector(".drop"), input = form.elements.image;
  let shown = null;
  async function send(file) {
    const body = new FormData();
    body.append("images", file, file.name);
    for (const [name, value] of Object.entries(options(form, model))) body.append(name, String(value));
    const answer = await ask(model, results, body);
    if (!answer) return;
    if (shown) URL.revokeObjectURL(shown);
    shown = URL.createObjectURL(file);
    results.replaceChildren(imageResult(answer.results[0], shown));
  }
  input.addEventListener("change", () => input.files.length && send(input.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
  });
  section.append(panel);
}

async function start() {
  const container = document.getElementById("models");
  const status = element("p", { id: "status" }, "Loading the models\u2026");
  container.replaceChildren(status);
  try {
    const { models } = await call("/v1/models");
    status.remove();
    for (const model of models) {
      const section = element("section", { class: "model", "data-model": model.name, "data-input": model.input },
                              element("h2", {}, model.name === model.task ? model.name : `${model.name} \u2014 ${model.task}`), cardTable(model));
      (model.input === "image" ? imagePanel : textPanel)(section, model);  // the endpoint's input kind
      container.append(section);
    }
  } catch (failure) {
    status.textContent = "The models could not be listed: " + failure.message;
    status.className = "error";
  }
}

keyInput.addEventListener("change", () => {
  sessionStorage.setItem("captra-api-key", keyInput.value);
  start();
});
start();
