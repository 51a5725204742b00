// Training pages: the launch form's show/hide, the live detail page, and the compare page's charts.
"use strict";

(function () {
  const POLL_MS = 1000;
  const METRICS_EVERY_TICKS = 2; // the metric curves are re-read every ~2 s while the job runs
  const MAX_BACKOFF_MS = 10000;
  const LOG_PAGES_PER_TICK = 8;
  const PLOT_CONFIG = { displaylogo: false, responsive: true };

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function readJSON(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  // ---- Launch form: show the chosen algorithm's hyperparameters, or the user-code fields. ----

  function initForm() {
    const form = document.getElementById("training-job-form");
    if (!form) return;
    const select = form.querySelector("select[name=algorithm]");
    function update() {
      const checked = form.querySelector("input[name=source_kind]:checked");
      const kind = checked ? checked.value : "builtin";
      form.querySelectorAll("[data-source-kind]").forEach((element) => {
        const algorithm = element.dataset.algorithm;
        element.hidden = element.dataset.sourceKind !== kind || (algorithm !== undefined && algorithm !== select.value);
      });
      form.querySelectorAll(".algorithm-summary").forEach((element) => {
        element.hidden = element.dataset.algorithm !== select.value;
      });
    }
    form.querySelectorAll("input[name=source_kind]").forEach((radio) => radio.addEventListener("change", update));
    select.addEventListener("change", update);
    update();
  }

  // ---- Figures built on the server (evaluation, compare): draw each [data-figure] once. ----

  function drawFigures(root, figures) {
    if (!figures || typeof Plotly === "undefined") return;
    root.querySelectorAll("[data-figure]").forEach((element) => {
      const figure = figures[element.dataset.figure];
      if (!figure || element.dataset.rendered) return;
      Plotly.newPlot(element, figure.data, figure.layout, PLOT_CONFIG);
      element.dataset.rendered = "true";
    });
  }

  // ---- Live metric curves: one chart per metric name, a line per channel (train, validation). ----

  function groupOf(metric) {
    const colon = metric.lastIndexOf(":");
    return colon >= 0
      ? { group: metric.slice(colon + 1), trace: metric.slice(0, colon) }
      : { group: metric, trace: metric };
  }

  function chartFor(container, group) {
    const id = "metric-chart-" + group.replace(/[^A-Za-z0-9_-]/g, "-");
    let chart = document.getElementById(id);
    if (chart) return chart;
    const figure = document.createElement("div");
    figure.className = "figure";
    const heading = document.createElement("h3");
    heading.className = "mono";
    heading.textContent = group;
    chart = document.createElement("div");
    chart.id = id;
    chart.className = "chart";
    chart.dataset.metricGroup = group;
    figure.append(heading, chart);
    container.append(figure);
    return chart;
  }

  function formatValue(value) {
    return Number(value.toPrecision(6)).toString();
  }

  // "Latest: train:logloss 0.0411 · validation:logloss 0.1336": every metric's last value.
  function renderLatest(latest, series, names) {
    if (!latest) return;
    latest.replaceChildren(document.createTextNode("Latest: "));
    names.forEach((name, index) => {
      const points = series[name];
      if (!points.length) return;
      if (index) latest.append(document.createTextNode(" · "));
      const code = document.createElement("code");
      code.textContent = name;
      latest.append(code, document.createTextNode(" " + formatValue(points[points.length - 1].value)));
    });
    latest.hidden = false;
  }

  function renderMetrics(container, empty, latest, series) {
    const names = Object.keys(series || {}).sort();
    if (!names.length) return;
    empty.hidden = true;
    renderLatest(latest, series, names);
    if (typeof Plotly === "undefined") return;
    const groups = new Map();
    names.forEach((name) => {
      const { group, trace } = groupOf(name);
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push({
        name: trace,
        x: series[name].map((p) => p.step),
        y: series[name].map((p) => p.value),
        type: "scatter",
        mode: series[name].length > 200 ? "lines" : "lines+markers",
        line: { width: 2 },
        marker: { size: 4 },
      });
    });
    groups.forEach((traces, group) => {
      // A metric printed once (a final value) is in the "Latest" line; a chart needs a curve.
      if (!traces.some((trace) => trace.x.length > 1)) return;
      const layout = {
        margin: { l: 56, r: 16, t: 12, b: 40 },
        height: 280,
        xaxis: { title: { text: "step" }, zeroline: false },
        yaxis: { zeroline: false },
        legend: { orientation: "h", y: -0.3 },
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)",
        font: { family: "inherit", size: 12 },
      };
      const chart = chartFor(container, group);
      Plotly.react(chart, traces, layout, PLOT_CONFIG);
      chart.dataset.rendered = "true";
      chart.dataset.points = String(traces.reduce((total, trace) => total + trace.x.length, 0));
    });
  }

  function isTerminal(container) {
    const live = container.querySelector("[data-terminal]");
    return live !== null && live.dataset.terminal === "true";
  }

  function initDetail() {
    const page = document.getElementById("training-page");
    if (!page) return;
    const container = document.getElementById("job-live-container");
    const log = document.getElementById("job-log");
    const charts = document.getElementById("metric-charts");
    const empty = document.getElementById("metrics-empty");
    const latest = document.getElementById("final-metrics");
    renderMetrics(charts, empty, latest, readJSON("metrics-data"));
    drawFigures(page, readJSON("evaluation-figures"));
    log.scrollTop = log.scrollHeight;
    if (page.dataset.terminal === "true") return;

    let offset = Number(log.dataset.offset || 0);
    let delay = POLL_MS;
    let tickCount = 0;

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
        if (terminal || tickCount % METRICS_EVERY_TICKS === 0) {
          renderMetrics(charts, empty, latest, (await getJSON(page.dataset.metricsUrl)).metrics);
        }
        tickCount += 1;
        delay = POLL_MS;
      } catch (err) {
        console.warn("Studio: polling failed, retrying", err);
        terminal = false;
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
      if (terminal) {
        page.dataset.polling = "done";
        // The finished page carries what the end produced: the evaluation and the artifacts.
        window.location.reload();
        return;
      }
      window.setTimeout(tick, delay);
    }

    page.dataset.polling = "active";
    window.setTimeout(tick, POLL_MS);
  }

  function initCompare() {
    const figures = readJSON("compare-figures");
    if (figures) drawFigures(document, figures);
  }

  onReady(() => {
    initForm();
    initDetail();
    initCompare();
  });
})();
