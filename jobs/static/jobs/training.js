// Training pages: the launch form's show/hide, the live detail page, and the compare page's charts.
// Loaded after studio.js (base.html's page_scripts block), whose helpers it uses through `Studio`.
"use strict";

(function () {
  const { onReady, getJSON, readJSON, lineTrace, chartLayout, pollJob, PLOT_CONFIG } = window.Studio;
  const METRICS_EVERY_TICKS = 2; // the metric curves are re-read every ~2 s while the job runs

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
      groups.get(group).push(
        lineTrace(trace, series[name], {
          mode: series[name].length > 200 ? "lines" : "lines+markers",
          marker: { size: 4 },
        }),
      );
    });
    groups.forEach((traces, group) => {
      // A metric printed once (a final value) is in the "Latest" line; a chart needs a curve.
      if (!traces.some((trace) => trace.x.length > 1)) return;
      const layout = chartLayout({
        margin: { l: 56, r: 16, t: 12, b: 40 },
        height: 280,
        legend: { orientation: "h", y: -0.3 },
      });
      const chart = chartFor(container, group);
      Plotly.react(chart, traces, layout, PLOT_CONFIG);
      chart.dataset.rendered = "true";
      chart.dataset.points = String(traces.reduce((total, trace) => total + trace.x.length, 0));
    });
  }

  function initDetail() {
    const page = document.getElementById("training-page");
    if (!page) return;
    const log = document.getElementById("job-log");
    const charts = document.getElementById("metric-charts");
    const empty = document.getElementById("metrics-empty");
    const latest = document.getElementById("final-metrics");
    renderMetrics(charts, empty, latest, readJSON("metrics-data"));
    drawFigures(page, readJSON("evaluation-figures"));
    log.scrollTop = log.scrollHeight;
    if (page.dataset.terminal === "true") return;

    let tickCount = 0;
    pollJob(page, {
      refresh: async (terminal) => {
        if (terminal || tickCount % METRICS_EVERY_TICKS === 0) {
          renderMetrics(charts, empty, latest, (await getJSON(page.dataset.metricsUrl)).metrics);
        }
        tickCount += 1;
      },
      // The finished page carries what the end produced: the evaluation and the artifacts.
      done: () => window.location.reload(),
    });
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
