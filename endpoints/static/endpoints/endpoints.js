// Inference pages: the model form's show/hide, the deploy form's default names, and the endpoint
// page (its live status, metric charts and test console). Loaded after studio.js (window.Studio).
"use strict";

(function () {
  const { onReady, getJSON, readJSON, PLOT_CONFIG } = window.Studio;
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 10000;
  const METRICS_REFRESH_MS = 15000;

  // ---- New model: show the training-job picker or the upload, as the source radio says. ----

  function initModelForm() {
    const form = document.getElementById("model-form");
    if (!form) return;
    function update() {
      const checked = form.querySelector("input[name=source]:checked");
      const source = checked ? checked.value : "training_job";
      form.querySelectorAll("[data-model-source]").forEach((element) => {
        element.hidden = element.dataset.modelSource !== source;
      });
    }
    form.querySelectorAll("input[name=source]").forEach((radio) => radio.addEventListener("change", update));
    update();
  }

  // ---- Deploy: names the server filled in follow the chosen model until the user edits them. ----

  function initDeployForm() {
    const form = document.getElementById("deploy-form");
    const select = form && form.querySelector("select[name=model]");
    if (!select) return;
    const names = ["endpoint_name", "config_name"].map((name) => form.querySelector(`input[name=${name}]`));
    names.forEach((input) => {
      input.dataset.suggested = input.value;
      input.addEventListener("input", () => delete input.dataset.suggested);
    });
    select.addEventListener("change", () => {
      names.forEach((input) => {
        if (input.dataset.suggested === undefined) return;
        // Empty: the server picks a free name from the model's (shown as the placeholder).
        input.value = "";
        input.dataset.suggested = "";
        input.placeholder = select.value ? (input.name === "endpoint_name" ? select.value : select.value + "-config") : "";
      });
    });
  }

  // ---- Endpoint page: the live fragment while it moves, then one reload with the final state. ----

  function initLive(page) {
    if (page.dataset.stable === "true") return;
    const container = document.getElementById("endpoint-live-container");
    let delay = POLL_MS;

    async function tick() {
      try {
        const response = await fetch(page.dataset.fragmentUrl, { credentials: "same-origin" });
        if (response.status === 404) {
          // Deleted: nothing left to show.
          window.location.assign(page.dataset.listUrl);
          return;
        }
        if (!response.ok) throw new Error("fragment: HTTP " + response.status);
        container.innerHTML = await response.text();
        const live = document.getElementById("endpoint-live");
        page.dataset.status = live.dataset.status;
        delay = POLL_MS;
        if (live.dataset.stable === "true") {
          page.dataset.polling = "done";
          // The forms, console and panels depend on the status: the reloaded page carries them.
          window.location.reload();
          return;
        }
      } catch (err) {
        console.warn("Studio: polling failed, retrying", err);
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
      window.setTimeout(tick, delay);
    }

    page.dataset.polling = "active";
    window.setTimeout(tick, POLL_MS);
  }

  function drawFigures(figures) {
    if (!figures || typeof Plotly === "undefined") return;
    document.querySelectorAll("#metric-charts [data-figure]").forEach((element) => {
      const figure = figures[element.dataset.figure];
      if (!figure) return;
      element.closest(".figure").hidden = false;
      Plotly.react(element, figure.data, figure.layout, PLOT_CONFIG);
      element.dataset.rendered = "true";
    });
  }

  function initMetrics(page) {
    const select = document.getElementById("metrics-minutes");
    drawFigures(readJSON("metric-figures"));
    async function refresh() {
      const url = new URL(page.dataset.metricsUrl, window.location.href);
      url.searchParams.set("minutes", select.value);
      try {
        drawFigures((await getJSON(url)).figures);
      } catch (err) {
        console.warn("Studio: reading the metrics failed", err);
      }
    }
    select.addEventListener("change", refresh);
    window.setInterval(() => {
      if (!document.hidden) refresh();
    }, METRICS_REFRESH_MS);
  }

  function initConsole() {
    const form = document.getElementById("console-form");
    if (!form) return;
    const answer = document.getElementById("console-answer");
    const state = document.getElementById("console-state");
    const button = document.getElementById("console-send");
    const show = (id, text) => (document.getElementById(id).textContent = text);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      state.textContent = "Sending…";
      answer.dataset.state = "sending";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        let data;
        try {
          data = await response.json();
        } catch (err) {
          data = { error: "HTTP " + response.status, message: response.statusText };
        }
        if (!response.ok) {
          // The console refused to send it (no permission, an invalid form): say why.
          show("console-status", String(response.status));
          show("console-variant", "—");
          show("console-content-type", "—");
          show("console-latency", "");
          show("console-body", (data.error ? data.error + ": " : "") + (data.message || ""));
          answer.dataset.ok = "false";
        } else {
          show("console-status", String(data.status));
          show("console-variant", data.variant || "—");
          show("console-content-type", data.content_type || "—");
          show("console-latency", data.model_ms ? "model " + data.model_ms + " ms" : "");
          show("console-body", data.body_encoding === "base64" ? "(base64) " + data.body : data.body);
          answer.dataset.ok = data.status === 200 ? "true" : "false";
        }
        answer.hidden = false;
        answer.dataset.state = "answered";
        state.textContent = "";
      } catch (err) {
        state.textContent = "The request failed: " + err.message;
        answer.dataset.state = "failed";
      } finally {
        button.disabled = false;
      }
    });
  }

  function initEndpointPage() {
    const page = document.getElementById("endpoint-page");
    if (!page) return;
    initLive(page);
    initMetrics(page);
    initConsole();
  }

  onReady(() => {
    initModelForm();
    initDeployForm();
    initEndpointPage();
  });
})();
