// Model Monitor pages: draw the figures the server built (the page's "monitoring-figures" JSON) into
// their [data-figure] divs, and refresh a drift report's page until it is finished. Loaded after
// studio.js (window.Studio).
"use strict";

(function () {
  const { onReady, readJSON, PLOT_CONFIG } = window.Studio;
  const REPORT_REFRESH_MS = 3000;

  function drawFigures() {
    const figures = readJSON("monitoring-figures");
    if (!figures || typeof Plotly === "undefined") return;
    document.querySelectorAll("[data-figure]").forEach((element) => {
      const figure = figures[element.dataset.figure];
      if (!figure || element.dataset.rendered) return;
      Plotly.newPlot(element, figure.data, figure.layout, PLOT_CONFIG);
      element.dataset.rendered = "true";
    });
  }

  // A report still running: read its page again in a while (the server decides when it is done).
  function refreshRunningReport() {
    const page = document.querySelector("[data-report-running='true']");
    if (page) window.setTimeout(() => window.location.reload(), REPORT_REFRESH_MS);
  }

  onReady(() => {
    drawFigures();
    refreshRunningReport();
  });
})();
