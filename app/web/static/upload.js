// Upload: each chosen file goes to the API as the raw request body (no form
// encoding, no buffering in the browser), one after the other, with a
// progress bar per file; the server streams it once through BLAKE3 and
// SHA-256 into write-once storage and answers with the exhibit.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  const table = document.getElementById("results");
  const problem = document.getElementById("upload-error");
  const max = Number(form.dataset.max);

  function cell(row, text, cls) {
    const td = row.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function send(file, params, bar) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const url = `/api/v1/cases/${encodeURIComponent(params.get("case"))}/exhibits?` + params.toString();
      xhr.open("POST", url);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: xhr.statusText }; }
        resolve({ ok: xhr.status === 201, body });
      };
      xhr.onerror = () => resolve({ ok: false, body: { error: `${file.name}: the connection failed; nothing was recorded, upload it again` } });
      xhr.send(file);
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.hidden = true;
    const data = new FormData(form);
    const files = Array.from(document.getElementById("files").files);
    if (data.get("declared_hash") && files.length !== 1) {
      problem.textContent = "A declared acquisition hash is for one file: upload the files one by one.";
      problem.hidden = false;
      return;
    }
    table.hidden = false;
    const body = table.tBodies[0];
    const rows = files.map((file) => {
      const row = body.insertRow();
      cell(row, file.name);
      const bar = document.createElement("progress");
      bar.max = 1; bar.value = 0;
      bar.setAttribute("aria-label", `upload of ${file.name}`);
      row.insertCell().appendChild(bar);
      return { file, row, bar };
    });
    document.getElementById("start").disabled = true;
    for (const { file, row, bar } of rows) {
      if (file.size > max) {
        cell(row, ""); cell(row, `refused: ${file.size.toLocaleString()} bytes is over the limit of ${max.toLocaleString()}`, "error");
        continue;
      }
      const params = new URLSearchParams();
      for (const [key, value] of data.entries()) {
        if (key !== "files" && value) params.set(key, value);
      }
      params.set("name", file.name);
      const { ok, body: answer } = await send(file, params, bar);
      if (ok) {
        bar.value = 1;
        cell(row, answer.reference || "", "reference");
        cell(row, answer.status + (answer.message ? `: ${answer.message}` : ""), `status-${answer.status}`);
        cell(row, answer.sha256, "hash sha256");
        cell(row, answer.blake3, "hash blake3");
      } else {
        cell(row, ""); cell(row, answer.error || "failed", "error");
      }
    }
    document.getElementById("start").disabled = false;
  });
});
