// The recipe builder: steps with per-operation fields, a live preview on a sample, save, run and
// export, all through the recipe API. No framework: the operations and their fields come from the
// page's "recipe-config" (datasets/recipes.py's catalogue), so new operations need no JavaScript.
"use strict";

(function () {
  const PREVIEW_DELAY_MS = 350;

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function init() {
    const root = document.getElementById("recipe-builder");
    if (!root) return;
    const config = JSON.parse(document.getElementById("recipe-config").textContent);
    const canEdit = config.can_edit;
    const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
    const ops = {};
    config.catalogue.forEach((op) => { ops[op.op] = op; });
    const $ = (id) => document.getElementById(id);

    let savedName = config.recipe ? config.recipe.name : null;
    let steps = [];
    let split = null;
    let output = { format: "csv" };
    let lastPreview = null;
    let timer = null;
    let sequence = 0;
    let dirty = false;
    let uid = 0;

    if (config.recipe) {
      config.recipe.steps.forEach((step) => {
        if (step.op === "split") split = Object.assign({}, step);
        else steps.push(Object.assign({}, step));
      });
      output = Object.assign({ format: "csv" }, config.recipe.output || {});
    }

    // ---- What each step sees ----

    function version() {
      const number = Number($("recipe-version").value);
      return config.versions.find((item) => item.number === number) || null;
    }

    function schemaBefore(index) {
      if (lastPreview && lastPreview.schemas_before && lastPreview.schemas_before[index]) {
        return lastPreview.schemas_before[index];
      }
      const input = version() ? version().schema || [] : [];
      if (index === 0 || !lastPreview) return input;
      const seen = new Set(input.map((c) => c.name));
      return input.concat((lastPreview.schema || []).filter((c) => !seen.has(c.name)));
    }

    function finalSchema() {
      return lastPreview ? lastPreview.schema : schemaBefore(steps.length);
    }

    function typeOf(index, column) {
      const found = schemaBefore(index).find((c) => c.name === column);
      return found ? found.type : null;
    }

    function parseValue(text, type) {
      const value = String(text).trim();
      if (type === "integer" || type === "float") {
        const number = Number(value);
        return value !== "" && !Number.isNaN(number) ? number : value;
      }
      if (type === "boolean") {
        if (/^(true|yes|y|t|1)$/i.test(value)) return true;
        if (/^(false|no|n|f|0)$/i.test(value)) return false;
        return value;
      }
      if (type === null || type === undefined) {
        try {
          const parsed = JSON.parse(value);
          if (typeof parsed === "number" || typeof parsed === "boolean") return parsed;
        } catch (err) { /* plain text */ }
      }
      return value;
    }

    function visible(field, step) {
      return Object.entries(field.show_if || {}).every(([key, values]) => values.includes(step[key]));
    }

    function stepPayload(step) {
      const op = ops[step.op];
      const payload = { op: step.op };
      op.fields.forEach((field) => {
        if (visible(field, step) && step[field.name] !== undefined && step[field.name] !== "") {
          payload[field.name] = step[field.name];
        }
      });
      return payload;
    }

    function payloadSteps() {
      const list = steps.map(stepPayload);
      if (split) list.push(stepPayload(Object.assign({ op: "split" }, split)));
      return list;
    }

    function payloadOutput() {
      const result = { format: output.format };
      if (output.label) result.label = output.label;
      return result;
    }

    function newStep(op) {
      const step = { op: op };
      ops[op].fields.forEach((field) => {
        if (field.default !== undefined) step[field.name] = JSON.parse(JSON.stringify(field.default));
        else if (field.kind === "choice" && field.options) step[field.name] = field.options[0];
      });
      return step;
    }

    function changed() {
      dirty = true;
      schedulePreview();
    }

    // ---- Fields ----

    function columnChecklist(names, selected, onChange) {
      const box = el("div", { className: "recipe-columns" });
      const all = names.concat(selected.filter((name) => !names.includes(name)));
      if (!all.length) box.appendChild(el("span", { className: "muted small", text: "No columns known yet: pick a version." }));
      all.forEach((name) => {
        const input = el("input", { type: "checkbox", value: name, checked: selected.includes(name), disabled: !canEdit });
        input.addEventListener("change", () => {
          const values = Array.from(box.querySelectorAll("input:checked")).map((item) => item.value);
          onChange(values);
        });
        const missing = !names.includes(name);
        box.appendChild(el("label", { className: "recipe-chip" + (missing ? " recipe-chip-missing" : ""), title: missing ? "Not in the data at this step" : null }, [input, document.createTextNode(" " + name)]));
      });
      return box;
    }

    function selectOf(options, current, allowEmpty) {
      const select = el("select", { disabled: !canEdit });
      if (allowEmpty) select.appendChild(el("option", { value: "", text: "—" }));
      const all = options.slice();
      if (current && !all.includes(current)) all.push(current);
      all.forEach((value) => select.appendChild(el("option", { value: value, text: value, selected: value === current })));
      return select;
    }

    function fieldControl(step, index, field, rerender) {
      const id = "step-" + (++uid) + "-" + field.name;
      const names = schemaBefore(index).map((c) => c.name);
      const value = step[field.name];
      let control;
      switch (field.kind) {
        case "columns":
          control = columnChecklist(names, Array.isArray(value) ? value : [], (values) => {
            step[field.name] = values.length ? values : undefined;
            changed();
          });
          break;
        case "column":
          control = selectOf(names, value, true);
          control.addEventListener("change", () => { step[field.name] = control.value || undefined; changed(); });
          break;
        case "choice":
          control = selectOf(field.options, value, false);
          control.addEventListener("change", () => { step[field.name] = control.value; rerender(); changed(); });
          break;
        case "choices": {
          control = el("div", { className: "recipe-columns" });
          const selected = Array.isArray(value) ? value : [];
          field.options.forEach((option) => {
            const input = el("input", { type: "checkbox", value: option, checked: selected.includes(option), disabled: !canEdit });
            input.addEventListener("change", () => {
              step[field.name] = Array.from(control.querySelectorAll("input:checked")).map((item) => item.value);
              changed();
            });
            control.appendChild(el("label", { className: "recipe-chip" }, [input, document.createTextNode(" " + option)]));
          });
          break;
        }
        case "number":
        case "integer":
          control = el("input", { type: "number", step: field.kind === "integer" ? "1" : "any", value: value ?? "", disabled: !canEdit });
          control.addEventListener("input", () => {
            step[field.name] = control.value === "" ? undefined : Number(control.value);
            changed();
          });
          break;
        case "bool":
          control = el("input", { type: "checkbox", checked: Boolean(value), disabled: !canEdit });
          control.addEventListener("change", () => { step[field.name] = control.checked; changed(); });
          break;
        case "text":
          control = el("input", { type: "text", value: value ?? "", disabled: !canEdit });
          control.addEventListener("input", () => { step[field.name] = control.value || undefined; changed(); });
          break;
        case "value": {
          const shown = Array.isArray(value) ? "" : value ?? "";
          control = el("input", { type: "text", value: String(shown), disabled: !canEdit });
          control.addEventListener("input", () => {
            const column = step.column || (step.columns || [])[0];
            step[field.name] = control.value === "" ? undefined : parseValue(control.value, typeOf(index, column));
            changed();
          });
          break;
        }
        case "values": {
          const shown = Array.isArray(value) ? value.join(", ") : "";
          control = el("input", { type: "text", value: shown, placeholder: "a, b, c", disabled: !canEdit });
          control.addEventListener("input", () => {
            const column = step.column || (step.columns || [])[0];
            const items = control.value.split(",").map((item) => item.trim()).filter((item) => item !== "");
            step[field.name] = items.length ? items.map((item) => parseValue(item, typeOf(index, column))) : undefined;
            changed();
          });
          break;
        }
        case "mapping":
          control = mappingControl(step, field, names);
          break;
        default:
          control = el("span", { className: "muted", text: "(" + field.kind + ")" });
      }
      if (control.tagName === "INPUT" || control.tagName === "SELECT") control.id = id;
      const label = el("label", { for: control.id ? id : null, text: field.label + (field.required ? "" : " (optional)") });
      return el("div", { className: "field recipe-field recipe-field-" + field.kind }, [label, control, field.help ? el("span", { className: "help", text: field.help }) : null]);
    }

    function mappingControl(step, field, names) {
      const box = el("div", { className: "recipe-mapping" });
      const pairs = Object.entries(step[field.name] || {});
      if (!pairs.length) pairs.push(["", ""]);
      function sync() {
        const mapping = {};
        box.querySelectorAll(".recipe-mapping-row").forEach((row) => {
          const old = row.querySelector("select").value;
          const renamed = row.querySelector("input").value.trim();
          if (old && renamed) mapping[old] = renamed;
        });
        step[field.name] = Object.keys(mapping).length ? mapping : undefined;
        changed();
      }
      function row(old, renamed) {
        const select = selectOf(names, old, true);
        const input = el("input", { type: "text", value: renamed, placeholder: "new name", disabled: !canEdit });
        const remove = el("button", { type: "button", className: "btn btn-small btn-ghost", text: "✕", title: "Remove", hidden: !canEdit });
        const line = el("div", { className: "recipe-mapping-row" }, [select, el("span", { text: "→" }), input, remove]);
        select.addEventListener("change", sync);
        input.addEventListener("input", sync);
        remove.addEventListener("click", () => { line.remove(); sync(); });
        return line;
      }
      pairs.forEach(([old, renamed]) => box.appendChild(row(old, renamed)));
      const add = el("button", { type: "button", className: "btn btn-small", text: "Add a rename", hidden: !canEdit });
      add.addEventListener("click", () => box.insertBefore(row("", ""), add));
      box.appendChild(add);
      return box;
    }

    // ---- Steps ----

    function renderSteps() {
      const list = $("recipe-steps");
      list.textContent = "";
      steps.forEach((step, index) => list.appendChild(renderStep(step, index)));
      $("recipe-step-count").textContent = steps.length + (split ? 1 : 0) + " step" + (steps.length + (split ? 1 : 0) === 1 ? "" : "s");
      if (!steps.length) list.appendChild(el("li", { className: "empty", text: "No steps yet: add one below." }));
      renderSplit();
      renderLabel();
      showResults();
    }

    function renderStep(step, index) {
      const op = ops[step.op];
      const item = el("li", { className: "recipe-step", "data-index": index });
      const fields = el("div", { className: "recipe-fields" });
      function rerender() {
        fields.textContent = "";
        op.fields.forEach((field) => { if (visible(field, step)) fields.appendChild(fieldControl(step, index, field, rerender)); });
      }
      const tools = el("span", { className: "recipe-step-tools", hidden: !canEdit }, [
        el("button", { type: "button", className: "btn btn-small btn-ghost", title: "Move up", "aria-label": "Move step " + (index + 1) + " up", text: "↑", disabled: index === 0, onclick: () => move(index, -1) }),
        el("button", { type: "button", className: "btn btn-small btn-ghost", title: "Move down", "aria-label": "Move step " + (index + 1) + " down", text: "↓", disabled: index === steps.length - 1, onclick: () => move(index, 1) }),
        el("button", { type: "button", className: "btn btn-small btn-ghost recipe-remove", title: "Remove", "aria-label": "Remove step " + (index + 1), text: "✕", onclick: () => { steps.splice(index, 1); renderSteps(); changed(); } }),
      ]);
      item.appendChild(el("div", { className: "recipe-step-head" }, [
        el("span", { className: "recipe-step-number", text: String(index + 1) }),
        el("strong", { text: op.label }),
        el("span", { className: "muted small recipe-step-op", text: step.op }),
        el("span", { className: "recipe-step-result", "data-result": index }),
        tools,
      ]));
      item.appendChild(el("p", { className: "help", text: op.description }));
      item.appendChild(fields);
      item.appendChild(el("ul", { className: "errorlist", "data-error-for": "steps[" + index + "]" }));
      rerender();
      return item;
    }

    function move(index, delta) {
      const target = index + delta;
      if (target < 0 || target >= steps.length) return;
      const [step] = steps.splice(index, 1);
      steps.splice(target, 0, step);
      renderSteps();
      changed();
    }

    // ---- Split and output ----

    function renderSplit() {
      const enabled = Boolean(split);
      $("split-enabled").checked = enabled;
      $("split-body").hidden = !enabled;
      $("split-errors").setAttribute("data-error-for", "steps[" + steps.length + "]");
      if (!enabled) return;
      const fractions = split.fractions || {};
      ["train", "validation", "test"].forEach((part) => { $("split-" + part).value = fractions[part] ?? 0; });
      $("split-method").value = split.method || "random";
      $("split-seed").value = split.seed ?? 42;
      $("split-column-field").hidden = split.method === "random" || !split.method;
      $("split-seed-field").hidden = split.method === "time";
      const names = schemaBefore(steps.length).map((c) => c.name);
      const select = $("split-column");
      select.textContent = "";
      select.appendChild(el("option", { value: "", text: "—" }));
      names.concat(split.column && !names.includes(split.column) ? [split.column] : []).forEach((name) => {
        select.appendChild(el("option", { value: name, text: name, selected: name === split.column }));
      });
    }

    function readSplit() {
      if (!$("split-enabled").checked) { split = null; return; }
      const method = $("split-method").value;
      split = {
        fractions: {
          train: Number($("split-train").value || 0),
          validation: Number($("split-validation").value || 0),
          test: Number($("split-test").value || 0),
        },
        method: method,
      };
      if (method !== "random" && $("split-column").value) split.column = $("split-column").value;
      if (method !== "time") split.seed = Number($("split-seed").value || 0);
    }

    function renderLabel() {
      const select = $("recipe-label");
      const names = finalSchema().map((c) => c.name);
      select.textContent = "";
      select.appendChild(el("option", { value: "", text: "—" }));
      names.concat(output.label && !names.includes(output.label) ? [output.label] : []).forEach((name) => {
        select.appendChild(el("option", { value: name, text: name, selected: name === output.label }));
      });
      $("recipe-format").value = output.format;
    }

    // ---- Preview ----

    function schedulePreview() {
      clearTimeout(timer);
      timer = setTimeout(preview, PREVIEW_DELAY_MS);
    }

    async function send(method, url, body) {
      const response = await fetch(url, {
        method: method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try { data = await response.json(); } catch (err) { data = null; }
      return { ok: response.ok, status: response.status, data: data };
    }

    function clearErrors() {
      root.querySelectorAll(".errorlist[data-error-for]").forEach((list) => { list.textContent = ""; });
      root.querySelectorAll(".recipe-step-invalid").forEach((item) => item.classList.remove("recipe-step-invalid"));
    }

    function showErrors(errors) {
      clearErrors();
      Object.entries(errors || {}).forEach(([key, messages]) => {
        let list = root.querySelector('.errorlist[data-error-for="' + CSS.escape(key) + '"]');
        if (!list) list = root.querySelector('.errorlist[data-error-for="non_field_errors"]');
        [].concat(messages).forEach((message) => {
          list.appendChild(el("li", { text: typeof message === "string" ? message : JSON.stringify(message) }));
        });
        const step = list.closest(".recipe-step");
        if (step) step.classList.add("recipe-step-invalid");
      });
    }

    async function preview() {
      const current = version();
      if (!current) {
        $("preview-state").textContent = "No version to preview.";
        return;
      }
      const mine = ++sequence;
      $("preview-state").textContent = "Previewing…";
      let result;
      try {
        result = await send("POST", config.urls.preview, { version: current.number, steps: payloadSteps(), output: payloadOutput() });
      } catch (err) {
        if (mine === sequence) $("preview-state").textContent = "Preview failed: " + err.message;
        return;
      }
      if (mine !== sequence) return; // a newer preview is on its way
      if (result.ok) {
        const before = JSON.stringify(lastPreview && lastPreview.schemas_before);
        lastPreview = result.data;
        clearErrors();
        $("preview-state").textContent = "Up to date";
        const focusInSteps = $("recipe-steps").contains(document.activeElement) || $("recipe-split").contains(document.activeElement);
        if (JSON.stringify(lastPreview.schemas_before) !== before && !focusInSteps) renderSteps();
        else { renderLabel(); showResults(); }
      } else {
        $("preview-state").textContent = result.status === 400 ? "Fix the steps marked below" : "Preview failed (HTTP " + result.status + ")";
        showErrors(result.data);
        clearResults();
      }
    }

    function clearResults() {
      root.querySelectorAll("[data-result]").forEach((node) => { node.textContent = ""; });
      $("split-result").textContent = "";
    }

    function showResults() {
      const data = lastPreview;
      clearResults();
      const facts = $("preview-facts");
      facts.textContent = "";
      const schemaBody = $("preview-schema").querySelector("tbody");
      schemaBody.textContent = "";
      const head = $("preview-table").querySelector("thead");
      const body = $("preview-table").querySelector("tbody");
      head.textContent = "";
      body.textContent = "";
      if (!data) return;
      (data.steps || []).forEach((count) => {
        const text = count.parts
          ? Object.entries(count.parts).map(([name, rows]) => name + " " + rows).join(" · ")
          : "→ " + count.rows + " rows · " + count.columns + " columns";
        const node = count.op === "split" ? $("split-result") : root.querySelector('[data-result="' + count.index + '"]');
        if (node) node.textContent = text;
      });
      const add = (term, value) => { facts.appendChild(el("dt", { text: term })); facts.appendChild(el("dd", { text: value })); };
      add("Sample", data.sample_rows + " rows of v" + data.version);
      add("After the steps", data.row_count + " rows · " + data.columns.length + " columns");
      if (data.parts) add("Split", Object.entries(data.parts).map(([name, rows]) => name + " " + rows).join(" · "));
      add("Writes", data.outputs.join(", ") + " as " + data.output.format);
      data.schema.forEach((column) => {
        schemaBody.appendChild(el("tr", {}, [el("td", { className: "mono", text: column.name }), el("td", { text: column.type })]));
      });
      head.appendChild(el("tr", {}, data.columns.map((name) => el("th", { text: name }))));
      data.rows.forEach((row) => {
        body.appendChild(el("tr", {}, row.map((value) => el("td", {
          className: value === null ? "muted" : (typeof value === "number" ? "right mono" : ""),
          text: value === null ? "—" : String(value),
        }))));
      });
      $("preview-rows-note").textContent = "first " + data.rows.length + " of " + data.row_count + " sample rows";
    }

    // ---- Save, run, export ----

    function status(text, link) {
      const node = $("recipe-status");
      node.textContent = text;
      if (link) { node.appendChild(document.createTextNode(" ")); node.appendChild(link); }
    }

    function recipeUrl(template, name) {
      return template.replace("__recipe__", encodeURIComponent(name));
    }

    function updateExport() {
      const link = $("recipe-export");
      if (!savedName) { link.hidden = true; return; }
      link.hidden = false;
      const current = version();
      link.href = recipeUrl(config.urls.export, savedName) + (current ? "?version=" + current.number : "");
    }

    async function save() {
      const name = $("recipe-name").value.trim();
      const body = { name: name, steps: payloadSteps(), output: payloadOutput() };
      if (version()) body.version = version().number;
      status("Saving…");
      const result = savedName
        ? await send("PUT", recipeUrl(config.urls.recipe, savedName), body)
        : await send("POST", config.urls.create, body);
      if (!result.ok) {
        showErrors(result.data);
        status(result.status === 400 ? "Not saved: fix the problems marked below." : "Not saved (HTTP " + result.status + ").");
        return false;
      }
      dirty = false;
      const renamed = savedName !== result.data.name;
      savedName = result.data.name;
      if (renamed) {
        window.location.assign(recipeUrl(config.urls.page, savedName));
        return true;
      }
      status("Saved.");
      updateExport();
      return true;
    }

    async function run() {
      const current = version();
      if (!current) { status("Pick an input version first."); return; }
      if (dirty && !(await save())) return;
      status("Starting…");
      const result = await send("POST", recipeUrl(config.urls.run, savedName), { version: current.number });
      if (!result.ok) {
        showErrors(result.data);
        status("Not started (HTTP " + result.status + ").");
        return;
      }
      const job = result.data.job;
      status("Running as job", el("a", { href: config.urls.job.replace("__job__", encodeURIComponent(job.name)), text: job.name }));
    }

    // ---- Wiring ----

    const versionSelect = $("recipe-version");
    if (!config.versions.length) {
      versionSelect.appendChild(el("option", { value: "", text: "No tabular version yet" }));
      versionSelect.disabled = true;
    }
    config.versions.forEach((item) => {
      versionSelect.appendChild(el("option", { value: item.number, text: item.label + (item.rows !== null ? " · " + item.rows + " rows" : "") }));
    });
    if (config.default_version !== null && config.versions.some((item) => item.number === config.default_version)) {
      versionSelect.value = String(config.default_version);
    }
    versionSelect.addEventListener("change", () => { lastPreview = null; renderSteps(); updateExport(); schedulePreview(); });

    const add = $("recipe-add-op");
    if (add) {
      config.catalogue.filter((op) => op.op !== "split").forEach((op) => add.appendChild(el("option", { value: op.op, text: op.label })));
      $("recipe-add").addEventListener("click", () => {
        steps.push(newStep(add.value));
        renderSteps();
        changed();
        const last = $("recipe-steps").lastElementChild;
        if (last) last.scrollIntoView({ block: "nearest" });
      });
    }
    $("split-enabled").addEventListener("change", () => {
      if ($("split-enabled").checked) split = newStep("split");
      else split = null;
      delete (split || {}).op;
      renderSteps();
      changed();
    });
    ["split-train", "split-validation", "split-test", "split-seed", "split-column"].forEach((id) => {
      $(id).addEventListener(id === "split-column" ? "change" : "input", () => { readSplit(); changed(); });
    });
    $("split-method").addEventListener("change", () => { readSplit(); renderSplit(); changed(); });
    $("recipe-format").addEventListener("change", () => { output.format = $("recipe-format").value; changed(); });
    $("recipe-label").addEventListener("change", () => { output.label = $("recipe-label").value || undefined; changed(); });
    $("recipe-name").addEventListener("input", () => { dirty = true; });
    if ($("recipe-save")) $("recipe-save").addEventListener("click", save);
    if ($("recipe-run")) $("recipe-run").addEventListener("click", run);
    if (!canEdit) {
      root.querySelectorAll("#split-body input, #split-body select").forEach((node) => { node.disabled = true; });
    }
    window.addEventListener("beforeunload", (event) => { if (dirty && canEdit) event.preventDefault(); });

    if (split) delete split.op;
    renderSteps();
    updateExport();
    preview();
  }

  onReady(init);
})();
