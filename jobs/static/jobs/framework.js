// The training and tuning forms' framework fields (your code on SageMaker): the version input
// suggests the chosen framework's versions, and on the tuning form they show only for your code
// (the training form's source-kind switch in training.js hides them with the other code fields).
// Loaded after studio.js (base.html's page_scripts block).
"use strict";

(function () {
  const { onReady } = window.Studio;

  function initVersions(select) {
    const version = select.form && select.form.querySelector("input[data-framework-version]");
    if (!version) return;
    function update() {
      const list = document.getElementById("framework-versions-" + select.value);
      if (!list) return;
      version.setAttribute("list", list.id);
      const newest = list.querySelector("option");
      version.placeholder = newest ? newest.value : "";
    }
    select.addEventListener("change", update);
    update();
  }

  function initTuning() {
    const form = document.getElementById("tuning-job-form");
    if (!form) return;
    const algorithm = form.querySelector("select[name=algorithm]");
    function update() {
      form.querySelectorAll("[data-own-code]").forEach((element) => {
        element.hidden = algorithm.value !== "";
      });
    }
    algorithm.addEventListener("change", update);
    update();
  }

  onReady(() => {
    document.querySelectorAll("select[data-framework-select]").forEach(initVersions);
    initTuning();
  });
})();
