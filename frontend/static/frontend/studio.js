// Studio's small page behaviours: no framework, progressive enhancement only.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 10000;
  const LOG_PAGES_PER_TICK = 8;
  const PLOT_CONFIG = { displaylogo: false, responsive: true };

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // Project switcher: changing the select opens that project.
  function initAutosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  }

  // Forms that destroy or stop something ask first.
  function initConfirm() {
    document.addEventListener("submit", (event) => {
      const form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  function initCopy() {
    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.addEventListener("click", async () => {
        const source = document.querySelector(button.dataset.copy);
        try {
          await navigator.clipboard.writeText(source.textContent.trim());
          button.textContent = "Copied";
        } catch (err) {
          // Clipboard needs a secure context; select the text so the user can copy it by hand.
          const range = document.createRange();
          range.selectNodeContents(source);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
      });
    });
  }

  // Launch form: append "name=uri" for a picked artifact to the inputs textarea.
  function initInputHelper() {
    document.querySelectorAll("[data-append-to]").forEach((helper) => {
      const target = document.getElementById(helper.dataset.appendTo);
      helper.querySelector("button").addEventListener("click", () => {
        const name = helper.querySelector(".input-channel").value.trim();
        const uri = helper.querySelector(".input-uri").value.trim();
        if (!name || !uri) return;
        const current = target.value.replace(/\s+$/, "");
        target.value = (current ? current + "\n" : "") + name + "=" + uri + "\n";
        helper.querySelector(".input-uri").value = "";
      });
    });
  }

  // ---- Job detail: poll the fragment, the log and the metrics until the job is terminal. ----

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  // The JSON a template wrote with json_script, or null when the page has none.
  function readJSON(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  // A metric's curve: one Plotly line over its {step, value} points.
  function lineTrace(name, points, options) {
    return Object.assign(
      {
        name: name,
        x: points.map((p) => p.step),
        y: points.map((p) => p.value),
        type: "scatter",
        mode: "lines+markers",
        line: { width: 2 },
        marker: { size: 5 },
      },
      options,
    );
  }

  // The layout of a metric chart (step on x), on the page's own background and font.
  function chartLayout(options) {
    return Object.assign(
      {
        margin: { l: 50, r: 16, t: 12, b: 40 },
        height: 300,
        xaxis: { title: { text: "step" }, zeroline: false },
        yaxis: { zeroline: false },
        legend: { orientation: "h", y: -0.25 },
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)",
        font: { family: "inherit", size: 12 },
      },
      options,
    );
  }

  function renderMetrics(chart, empty, series) {
    const names = Object.keys(series || {});
    if (!names.length || typeof Plotly === "undefined") return;
    const traces = names.map((name) => lineTrace(name, series[name]));
    chart.hidden = false;
    empty.hidden = true;
    Plotly.react(chart, traces, chartLayout(), PLOT_CONFIG);
    chart.dataset.rendered = "true";
  }

  function isTerminal(container) {
    const live = container.querySelector("[data-terminal]");
    return live !== null && live.dataset.terminal === "true";
  }

  // Poll a live job page until its fragment says the job is terminal. Each tick reads the fragment
  // into #job-live-container, the new log text into #job-log, then awaits `refresh(terminal)` for
  // whatever else the page draws; `done()` runs once at the end. Failures back off, then retry.
  function pollJob(page, { refresh, done } = {}) {
    const container = document.getElementById("job-live-container");
    const log = document.getElementById("job-log");
    let offset = Number(log.dataset.offset || 0);
    let delay = POLL_MS;

    async function readLog() {
      for (let i = 0; i < LOG_PAGES_PER_TICK; i++) {
        const url = new URL(page.dataset.logsUrl, window.location.href);
        url.searchParams.set("offset", String(offset));
        const data = await getJSON(url);
        if (data.text) {
          // Follow the end only if the reader is already there, so scrolling back stays put.
          const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
          log.append(document.createTextNode(data.text));
          if (atBottom) log.scrollTop = log.scrollHeight;
        }
        offset = data.next_offset;
        log.dataset.offset = String(offset);
        if (!data.text || data.complete) return;
      }
    }

    async function readFragment() {
      const response = await fetch(page.dataset.fragmentUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error("fragment: HTTP " + response.status);
      container.innerHTML = await response.text();
      return isTerminal(container);
    }

    async function tick() {
      let terminal = false;
      try {
        // The fragment first: once it says terminal, the log and metrics read after it are final.
        terminal = await readFragment();
        await readLog();
        if (refresh) await refresh(terminal);
        delay = POLL_MS;
      } catch (err) {
        console.warn("Studio: polling failed, retrying", err);
        terminal = false;
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
      if (terminal) {
        page.dataset.polling = "done";
        if (done) done();
        return;
      }
      window.setTimeout(tick, delay);
    }

    page.dataset.polling = "active";
    window.setTimeout(tick, POLL_MS);
  }

  function initJobPage() {
    const page = document.getElementById("job-page");
    if (!page) return;
    const container = document.getElementById("job-live-container");
    const log = document.getElementById("job-log");
    const chart = document.getElementById("metrics-chart");
    const empty = document.getElementById("metrics-empty");
    renderMetrics(chart, empty, readJSON("metrics-data") || {});
    log.scrollTop = log.scrollHeight;
    if (isTerminal(container)) return;
    pollJob(page, {
      refresh: async () => renderMetrics(chart, empty, (await getJSON(page.dataset.metricsUrl)).metrics),
    });
  }

  // A job's SageMaker card: its dry run lists the job's inputs, so it is built on the server only
  // when the reader opens it (once; a failed fetch is tried again on the next opening).
  function initSageMakerDryRun() {
    document.querySelectorAll("details[data-dry-run-url]").forEach((details) => {
      const body = details.querySelector("[data-dry-run-body]");

      async function load() {
        if (details.dataset.state === "loading" || details.dataset.state === "loaded") return;
        details.dataset.state = "loading";
        try {
          const response = await fetch(details.dataset.dryRunUrl, { credentials: "same-origin" });
          if (!response.ok) throw new Error("HTTP " + response.status);
          body.innerHTML = await response.text();
          details.dataset.state = "loaded";
        } catch (err) {
          console.warn("Studio: the dry run could not be loaded", err);
          body.textContent = "The dry run could not be loaded (" + err.message + "); close and open it to try again.";
          details.dataset.state = "failed";
        }
      }

      details.addEventListener("toggle", () => {
        if (details.open) load();
      });
      if (details.open) load();
    });
  }

  // For page scripts loaded after this one (base.html's page_scripts block).
  window.Studio = { onReady, getJSON, readJSON, lineTrace, chartLayout, isTerminal, pollJob, PLOT_CONFIG };

  onReady(() => {
    initAutosubmit();
    initConfirm();
    initCopy();
    initInputHelper();
    initJobPage();
    initSageMakerDryRun();
  });
})();
