// Studio's small page behaviours: no framework, progressive enhancement only.
"use strict";

(function () {
  const POLL_MS = 1000;
  const MAX_BACKOFF_MS = 10000;
  const LOG_PAGES_PER_TICK = 8;

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

  function renderMetrics(chart, empty, series) {
    const names = Object.keys(series || {});
    if (!names.length || typeof Plotly === "undefined") return;
    const traces = names.map((name) => ({
      name: name,
      x: series[name].map((p) => p.step),
      y: series[name].map((p) => p.value),
      type: "scatter",
      mode: "lines+markers",
      line: { width: 2 },
      marker: { size: 5 },
    }));
    const layout = {
      margin: { l: 50, r: 16, t: 12, b: 40 },
      height: 300,
      xaxis: { title: { text: "step" }, zeroline: false },
      yaxis: { zeroline: false },
      legend: { orientation: "h", y: -0.25 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "inherit", size: 12 },
    };
    chart.hidden = false;
    empty.hidden = true;
    Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true });
    chart.dataset.rendered = "true";
  }

  function isTerminal(container) {
    const live = container.querySelector("[data-terminal]");
    return live !== null && live.dataset.terminal === "true";
  }

  function initJobPage() {
    const page = document.getElementById("job-page");
    if (!page) return;
    const container = document.getElementById("job-live-container");
    const log = document.getElementById("job-log");
    const chart = document.getElementById("metrics-chart");
    const empty = document.getElementById("metrics-empty");
    const initial = document.getElementById("metrics-data");
    renderMetrics(chart, empty, initial ? JSON.parse(initial.textContent) : {});
    log.scrollTop = log.scrollHeight;
    if (isTerminal(container)) return;

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
        renderMetrics(chart, empty, (await getJSON(page.dataset.metricsUrl)).metrics);
        delay = POLL_MS;
      } catch (err) {
        console.warn("Studio: polling failed, retrying", err);
        terminal = false;
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
      if (terminal) {
        page.dataset.polling = "done";
        return;
      }
      window.setTimeout(tick, delay);
    }

    page.dataset.polling = "active";
    window.setTimeout(tick, POLL_MS);
  }

  onReady(() => {
    initAutosubmit();
    initConfirm();
    initCopy();
    initInputHelper();
    initJobPage();
  });
})();
