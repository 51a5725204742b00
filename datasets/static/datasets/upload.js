// The upload page: drag and drop, chunked upload through the API with a real progress bar,
// resume after a dropped connection, then the review page. No framework.
//
// Protocol (datasets API): POST uploads/ → {uuid, received_bytes}; PUT uploads/<uuid>/ with a
// chunk and "Content-Range: bytes START-END/TOTAL"; a chunk at the wrong offset gets 409 with the
// server's received_bytes; GET uploads/<uuid>/ says where to resume; POST uploads/<uuid>/complete/
// checks the file and stages it.
"use strict";

(function () {
  const MAX_RETRIES = 8;
  const MAX_BACKOFF_MS = 15000;

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  function formatBytes(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value.toFixed(0) : value.toFixed(1)) + " " + units[unit];
  }

  function sleep(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  // An error the server explained (a 4xx with a JSON body): retrying will not help.
  class RefusedError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  function describe(body) {
    if (!body || typeof body !== "object") return "The server refused the request.";
    if (body.detail) return String(body.detail);
    return Object.entries(body)
      .map(([field, messages]) => (Array.isArray(messages) ? messages.join(" ") : String(messages)))
      .join(" ");
  }

  function initUploadPage() {
    const page = document.getElementById("upload-page");
    if (!page) return;
    const form = document.getElementById("upload-form");
    const input = form.querySelector('input[type="file"]');
    const dropzone = document.getElementById("dropzone");
    const progress = document.getElementById("upload-progress");
    const bar = document.getElementById("upload-bar");
    const message = document.getElementById("upload-message");
    const figures = document.getElementById("upload-figures");
    const errorBox = document.getElementById("upload-error");
    const cancelButton = document.getElementById("upload-cancel");
    const uploadsUrl = page.dataset.uploadsUrl;
    const reviewUrl = page.dataset.reviewUrl;
    const chunkBytes = Number(page.dataset.chunkBytes) || 8 * 1024 * 1024;
    const csrfToken = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
    let busy = false;
    let cancelled = false;
    let currentXhr = null;
    let currentUpload = null;

    function showError(text) {
      errorBox.textContent = text;
      errorBox.hidden = false;
      message.textContent = "Stopped.";
      page.dataset.state = "error";
    }

    function setProgress(sent, total, startedAt, startBytes) {
      const percent = total ? Math.floor((sent / total) * 100) : 0;
      bar.max = 100;
      bar.value = percent;
      bar.setAttribute("aria-valuenow", String(percent));
      const seconds = (performance.now() - startedAt) / 1000;
      const rate = seconds > 0.5 ? (sent - startBytes) / seconds : 0;
      figures.textContent =
        formatBytes(sent) + " of " + formatBytes(total) + " (" + percent + "%)" +
        (rate ? " · " + formatBytes(rate) + "/s" : "");
      page.dataset.percent = String(percent);
    }

    async function api(method, url, body) {
      const response = await fetch(url, {
        method: method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let data = null;
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
      if (response.status >= 400 && response.status < 500) throw new RefusedError(describe(data), response.status);
      if (!response.ok) throw new Error(method + " " + url + ": HTTP " + response.status);
      return data;
    }

    // One chunk with XMLHttpRequest: unlike fetch, it reports upload progress within the chunk.
    function putChunk(url, blob, start, total, onProgress) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        currentXhr = xhr;
        xhr.open("PUT", url);
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.setRequestHeader("Content-Range", "bytes " + start + "-" + (start + blob.size - 1) + "/" + total);
        xhr.setRequestHeader("X-CSRFToken", csrfToken);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.onprogress = (event) => onProgress(event.loaded);
        xhr.onload = () => {
          let data = null;
          try {
            data = JSON.parse(xhr.responseText);
          } catch (err) {
            data = null;
          }
          resolve({ status: xhr.status, data: data });
        };
        xhr.onerror = () => reject(new Error("network error"));
        xhr.onabort = () => reject(new Error("aborted"));
        xhr.send(blob);
      });
    }

    async function sendFile(file) {
      busy = true;
      cancelled = false;
      page.dataset.state = "uploading";
      errorBox.hidden = true;
      progress.hidden = false;
      cancelButton.hidden = false;
      message.textContent = "Uploading " + file.name + "…";
      const upload = await api("POST", uploadsUrl, {
        filename: file.name,
        total_size: file.size,
        content_type: file.type || "",
      });
      currentUpload = upload;
      const uploadUrl = uploadsUrl + upload.uuid + "/";
      let offset = upload.received_bytes || 0;
      let retries = 0;
      const startedAt = performance.now();
      const startBytes = offset;
      setProgress(offset, file.size, startedAt, startBytes);
      while (offset < file.size) {
        if (cancelled) return;
        const end = Math.min(offset + chunkBytes, file.size);
        try {
          const result = await putChunk(uploadUrl, file.slice(offset, end), offset, file.size, (loaded) =>
            setProgress(offset + loaded, file.size, startedAt, startBytes)
          );
          if (result.status === 200) {
            offset = result.data.received_bytes;
            retries = 0;
          } else if (result.status === 409 && result.data) {
            // The server has a different offset (a retried chunk that had arrived after all): go on
            // from there. The same offset means an earlier request is still writing: give it a moment.
            if (result.data.status && result.data.status !== "receiving") throw new RefusedError(describe(result.data), 409);
            if (result.data.received_bytes === offset) await sleep(1000);
            offset = result.data.received_bytes;
          } else if (result.status >= 400 && result.status < 500) {
            throw new RefusedError(describe(result.data), result.status);
          } else {
            throw new Error("HTTP " + result.status);
          }
        } catch (err) {
          if (err instanceof RefusedError || cancelled) throw err;
          // A dropped connection or a server hiccup: wait, ask the server how far it got, resume.
          retries += 1;
          if (retries > MAX_RETRIES) throw new Error("The connection keeps failing (" + err.message + "); try again later.");
          const wait = Math.min(1000 * 2 ** (retries - 1), MAX_BACKOFF_MS);
          message.textContent = "Connection lost; retrying in " + Math.round(wait / 1000) + " s…";
          page.dataset.retries = String(Number(page.dataset.retries || 0) + 1);
          await sleep(wait);
          try {
            const status = await api("GET", uploadUrl);
            offset = status.received_bytes;
          } catch (statusError) {
            if (statusError instanceof RefusedError) throw statusError;
            continue; // still unreachable: the next attempt retries the same offset
          }
          message.textContent = "Uploading " + file.name + "…";
        }
        setProgress(offset, file.size, startedAt, startBytes);
      }
      cancelButton.hidden = true;
      message.textContent = "Checking the file (format, columns, every row)…";
      page.dataset.state = "checking";
      const staged = await api("POST", uploadUrl + "complete/");
      page.dataset.state = "staged";
      message.textContent = "Checked. Opening the review…";
      window.location.assign(reviewUrl.replace("00000000-0000-0000-0000-000000000000", staged.uuid));
    }

    async function start(file) {
      if (busy || !file) return;
      try {
        await sendFile(file);
      } catch (err) {
        if (!cancelled) showError(err.message || String(err));
      } finally {
        busy = false;
      }
    }

    cancelButton.addEventListener("click", async () => {
      cancelled = true;
      if (currentXhr) currentXhr.abort();
      message.textContent = "Cancelled.";
      page.dataset.state = "cancelled";
      cancelButton.hidden = true;
      if (currentUpload) {
        try {
          await api("DELETE", uploadsUrl + currentUpload.uuid + "/");
        } catch (err) {
          // The server expires unfinished uploads anyway.
        }
      }
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.files.length) start(input.files[0]);
      else showError("Choose a file first.");
    });
    input.addEventListener("change", () => {
      if (input.files.length) start(input.files[0]);
    });
    ["dragenter", "dragover"].forEach((name) =>
      dropzone.addEventListener(name, (event) => {
        event.preventDefault();
        dropzone.classList.add("dragging");
      })
    );
    ["dragleave", "drop"].forEach((name) =>
      dropzone.addEventListener(name, (event) => {
        event.preventDefault();
        dropzone.classList.remove("dragging");
      })
    );
    dropzone.addEventListener("drop", (event) => {
      const files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) start(files[0]);
    });
    page.dataset.ready = "true";
  }

  onReady(initUploadPage);
})();
