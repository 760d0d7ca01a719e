/* The one JavaScript island: the autosave outbox of the inspection page, photo uploads, and the
 * warning at sign-out about answers not sent yet.
 *
 * Every change to an item becomes an entry with an id made here (client_id) and the revision the
 * tablet last saw (base_revision). Entries live in localStorage until the server acknowledges
 * them, so a flaky network, a reload or an expired login loses nothing; a retried entry keeps its
 * id, so the server applies it once. Entries for one item are sent in order; a newer unsent edit
 * of the same item replaces an older unsent one.
 *
 * The outbox belongs to the person who typed: it is stored under the signed-in user's id (the
 * page's [data-user-id]) and each entry carries that id as `author`, which the server checks
 * against the session. On a shared tablet, the next inspector's sign-in therefore never sends the
 * previous one's edits: they wait for their author to sign in again (or to discard them).
 *
 * Loaded once per browser tab (in <head>, deferred after htmx); boosted navigation swaps the body
 * without reloading it, so forms are wired whenever htmx loads content and the signed-in user is
 * read from the page each time it matters.
 */
(function () {
  "use strict";

  const STORE = "inspect-outbox-v2:";
  const csrf = () => (document.querySelector("input[name=csrf_token]") || {}).value || "";
  const newId = () =>
    (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const currentUser = () => (document.querySelector("[data-user-id]") || { dataset: {} }).dataset.userId || "";

  // Outboxes by author, read from localStorage on first use.
  const boxes = {};
  function boxOf(uid) {
    if (!uid) return [];
    if (!boxes[uid]) {
      try { boxes[uid] = JSON.parse(localStorage.getItem(STORE + uid) || "[]"); } catch (e) { boxes[uid] = []; }
      boxes[uid].forEach((entry) => { entry.sending = false; delete entry.blocked; });
    }
    return boxes[uid];
  }
  function setBox(uid, entries) { boxes[uid] = entries; persist(uid); }
  function persist(uid) {
    const keep = (name, value) => (name === "sending" || name === "blocked" ? undefined : value);
    try {
      if (boxes[uid] && boxes[uid].length) localStorage.setItem(STORE + uid, JSON.stringify(boxes[uid], keep));
      else localStorage.removeItem(STORE + uid);
    } catch (e) { /* storage full: keep in memory */ }
  }
  const mine = () => boxOf(currentUser());

  let forms = {};
  const itemOf = (form) => form.closest(".item");
  const stateOf = (form) => itemOf(form).querySelector(".save-state");

  function setState(form, state, text) {
    const badge = stateOf(form);
    badge.dataset.state = state;
    badge.textContent = text;
    refreshOverall();
  }

  function refreshOverall() {
    const overall = document.getElementById("outbox-state");
    if (!overall) return;
    const pending = mine().filter((e) => forms[e.key]);
    overall.textContent = pending.length ? `待保存 ${pending.length} 项${navigator.onLine ? "" : "（离线，联网后自动保存）"}` : "全部已保存";
    overall.dataset.state = pending.length ? "pending" : "saved";
  }

  function fieldsOf(form) {
    const skip = new Set(["csrf_token", "client_id", "base_revision", "author"]);
    const fields = [];
    new FormData(form).forEach((value, name) => { if (!skip.has(name) && typeof value === "string") fields.push([name, value]); });
    return fields;
  }

  function applyFields(form, fields) {
    form.querySelectorAll("input[type=radio], input[type=checkbox]").forEach((box) => {
      box.checked = fields.some(([n, v]) => n === box.name && v === box.value);
    });
    form.querySelectorAll("input[type=number], textarea").forEach((input) => {
      const found = fields.find(([n]) => n === input.name);
      input.value = found ? found[1] : "";
    });
  }

  function enqueue(form) {
    const uid = currentUser();
    if (!uid) return;
    const key = form.dataset.key;
    try { localStorage.setItem(`inspect-last-${key.split(":")[0]}`, key); } catch (e) { /* ignore */ }
    const box = boxOf(uid).filter((e) => e.key !== key || e.sending);
    const pendingBase = box.filter((e) => e.key === key).length ? null : Number(form.dataset.revision);
    box.push({ id: newId(), key, url: form.action, fields: fieldsOf(form), base: pendingBase, author: uid });
    setBox(uid, box);
    setState(form, "saving", "保存中…");
    pump();
  }

  let busy = false;
  let retryDelay = 1000;
  let retryTimer = null;

  async function pump() {
    if (busy) return;
    const uid = currentUser();
    const entry = boxOf(uid).find((e) => forms[e.key] && !e.blocked);
    if (!entry) { refreshOverall(); return; }
    busy = true;
    entry.sending = true;
    const form = forms[entry.key];
    if (entry.base === null) entry.base = Number(form.dataset.revision);
    const body = new FormData();
    entry.fields.forEach(([n, v]) => body.append(n, v));
    body.append("client_id", entry.id);
    body.append("base_revision", String(entry.base));
    body.append("author", entry.author);
    let response = null;
    try {
      response = await fetch(entry.url, {
        method: "POST", body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrf() },
      });
    } catch (e) { response = null; }
    entry.sending = false;
    busy = false;
    if (response === null || response.status >= 500 || response.status === 429) {
      setState(form, "retrying", navigator.onLine ? "保存失败，正在重试…" : "离线，联网后自动保存");
      persist(uid);
      scheduleRetry();
      return;
    }
    if (response.status === 401 || response.redirected) {
      setState(form, "failed", "登录已超时：请重新登录，未保存的修改已留在本机，登录后自动保存");
      persist(uid);
      return;
    }
    retryDelay = 1000;
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: "服务器返回了无法识别的结果" }; }
    if (response.status === 409 && data.wrong_author) {
      // Signed in as someone else meanwhile (another tab): the entry stays for its author.
      entry.blocked = true;
      setState(form, "failed", data.error);
      return;
    }
    setBox(uid, boxOf(uid).filter((e) => e !== entry));
    if (response.ok) {
      form.dataset.revision = String(data.revision);
      boxOf(uid).forEach((e) => { if (e.key === entry.key && e.base === entry.base) e.base = data.revision; });
      itemOf(form).classList.toggle("is-failing", !!data.failing);
      itemOf(form).dataset.score = data.score === null ? "" : data.score;
      setState(form, "saved", `已保存 ${data.saved_at}`);
      updateProgress(data);
    } else if (response.status === 409 && data.conflict) {
      showConflict(form, entry, data);
    } else {
      setState(form, "failed", data.error || `保存失败（${response.status}）`);
    }
    persist(uid);
    pump();
  }

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = setTimeout(() => { retryTimer = null; pump(); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  function updateProgress(data) {
    const answered = document.getElementById("progress-answered");
    const bar = document.getElementById("progress-bar");
    if (answered && typeof data.answered === "number") { answered.textContent = data.answered; }
    if (bar && typeof data.answered === "number") { bar.value = Math.min(data.answered, bar.max); }
    const failing = document.getElementById("progress-failing");
    if (failing) failing.textContent = document.querySelectorAll(".item.is-failing").length;
    const score = document.getElementById("progress-score");
    if (score) {
      let total = 0;
      document.querySelectorAll(".item[data-score]").forEach((item) => { total += Number(item.dataset.score || 0); });
      score.textContent = String(Math.round(total * 100) / 100);
    }
    const status = document.querySelector(".inspection-head .status");
    if (status && data.status) { status.textContent = data.status; status.className = "status status-in_progress"; }
  }

  function showConflict(form, entry, data) {
    const box = itemOf(form).querySelector(".conflict");
    setState(form, "conflict", "与他人的修改冲突");
    box.hidden = false;
    box.querySelector("p").textContent = data.error;
    box.querySelector(".keep-mine").onclick = () => {
      box.hidden = true;
      form.dataset.revision = String(data.current.revision);
      applyFields(form, entry.fields);
      enqueue(form);
    };
    box.querySelector(".take-theirs").onclick = () => {
      box.hidden = true;
      form.dataset.revision = String(data.current.revision);
      const value = data.current.value || {};
      const fields = [["note", data.current.note || ""]];
      if (value.values) value.values.forEach((v) => fields.push(["value", v]));
      else if (value.value !== undefined) fields.push(["value", value.value]);
      if (value.counts) Object.entries(value.counts).forEach(([i, n]) => fields.push([`d${i}`, String(n)]));
      if (value.score !== undefined) fields.push(["score", value.score]);
      applyFields(form, fields);
      setState(form, "saved", "已采用对方的修改");
    };
  }

  // Changes: taps save at once, typing saves after a pause.
  const timers = new Map();
  const flushTyping = () => { timers.forEach((timer, form) => { clearTimeout(timer); enqueue(form); }); timers.clear(); };

  function wireAnswerForm(form) {
    form.addEventListener("change", () => { clearTimeout(timers.get(form)); timers.delete(form); enqueue(form); });
    form.addEventListener("input", (event) => {
      if (!event.target.matches("textarea, input[type=number]")) return;
      clearTimeout(timers.get(form));
      timers.set(form, setTimeout(() => { timers.delete(form); enqueue(form); }, 800));
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); enqueue(form); });
    const fullMarks = form.querySelector("[data-full-marks]");
    if (fullMarks) {
      fullMarks.addEventListener("click", () => {
        form.querySelectorAll("input.count").forEach((input) => { input.value = "0"; });
        form.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = false; });
        const direct = form.querySelector("input[name=score]");
        if (direct) direct.value = "";
        enqueue(form);
      });
    }
    // An edit waiting from an earlier visit (reload, lost connection, expired login) comes back.
    const waiting = mine().filter((e) => e.key === form.dataset.key).pop();
    if (waiting) { applyFields(form, waiting.fields); setState(form, "saving", "待保存（上次未完成）"); }
  }

  // Submitting waits for every answer to be saved, so the server judges what the inspector sees.
  function wireSubmitForm(submitForm) {
    submitForm.addEventListener("submit", (event) => {
      flushTyping();
      if (!mine().some((e) => forms[e.key])) return;
      event.preventDefault();
      const button = submitForm.querySelector("button");
      button.setAttribute("aria-busy", "true");
      button.textContent = "正在保存答案，完成后自动提交…";
      const wait = setInterval(() => {
        if (!mine().some((e) => forms[e.key])) { clearInterval(wait); submitForm.submit(); }
      }, 200);
    });
  }

  function once(element) {
    if (element.dataset.wired) return false;
    element.dataset.wired = "1";
    return true;
  }

  // Whatever htmx loads (the first page, a boosted navigation, a fragment): wire what is new.
  function wire() {
    mine().forEach((entry) => { delete entry.blocked; }); // the page may be another user's now
    forms = {};
    document.querySelectorAll("form[data-autosave]").forEach((form) => { forms[form.dataset.key] = form; });
    Object.values(forms).forEach((form) => { if (once(form)) wireAnswerForm(form); });
    document.querySelectorAll("form.submit-bar").forEach((form) => { if (once(form)) wireSubmitForm(form); });
    document.querySelectorAll(".photo-form").forEach((form) => { if (once(form)) wirePhotoForm(form); });
    document.querySelectorAll("form.remove-photo").forEach((form) => {
      if (once(form)) form.addEventListener("submit", (event) => { event.preventDefault(); removePhoto(form.action, form.closest("li")); });
    });
    // Coming back to the inspection page resumes at the item last worked on.
    const head = document.getElementById("inspection-head");
    if (head && once(head) && !location.hash) {
      const last = localStorage.getItem(`inspect-last-${head.dataset.inspection}`);
      if (last && forms[last]) itemOf(forms[last]).scrollIntoView({ block: "center" });
    }
    refreshOverall();
    pump();
  }

  // Photos: uploaded as soon as they are taken; a failed upload is retried with the same id.
  function wirePhotoForm(form) {
    const list = form.closest(".photos").querySelector(".thumbs");
    form.addEventListener("submit", (event) => event.preventDefault());
    form.querySelectorAll("input[type=file]").forEach((input) => {
      input.addEventListener("change", () => {
        Array.from(input.files).forEach((file) => upload(form, list, file, newId(), 0));
        input.value = "";
      });
    });
  }

  async function upload(form, list, file, id, attempt) {
    let slot = list.querySelector(`li[data-upload="${id}"]`);
    if (!slot) {
      slot = document.createElement("li");
      slot.dataset.upload = id;
      slot.className = "uploading";
      slot.textContent = "上传中…";
      list.appendChild(slot);
    }
    const body = new FormData();
    body.append("item_code", form.querySelector("input[name=item_code]").value);
    body.append("client_id", id);
    body.append("photo", file);
    let response = null;
    try {
      response = await fetch(form.action, { method: "POST", body, credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRFToken": csrf() } });
    } catch (e) { response = null; }
    if (response === null || response.status >= 500) {
      slot.textContent = "上传失败，重试中…";
      if (attempt < 8) setTimeout(() => upload(form, list, file, id, attempt + 1), Math.min(1000 * 2 ** attempt, 30000));
      return;
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: `上传失败（${response.status}）` }; }
    if (!response.ok) {
      slot.className = "upload-error";
      slot.textContent = data.error || `上传失败（${response.status}）`;
      return;
    }
    slot.className = "";
    slot.removeAttribute("data-upload");
    slot.innerHTML = "";
    const link = document.createElement("a");
    link.href = data.full; link.target = "_blank";
    const img = document.createElement("img");
    img.src = data.thumb; img.alt = "现场照片";
    link.appendChild(img);
    slot.appendChild(link);
    slot.appendChild(removeButton(data.remove, slot));
  }

  function removeButton(url, slot) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "remove";
    button.textContent = "×";
    button.setAttribute("aria-label", "删除照片");
    button.addEventListener("click", () => removePhoto(url, slot));
    return button;
  }

  async function removePhoto(url, slot) {
    const response = await fetch(url, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRFToken": csrf() } });
    if (response.ok) slot.remove();
  }

  // Signing out with answers not sent yet: say how many, and let the user go back to send them,
  // keep them on this tablet for their own next sign-in, or discard them — never silently.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-logout]") || form.dataset.confirmed) return;
    flushTyping();
    const pending = mine();
    const dialog = document.getElementById("unsent-dialog");
    if (!pending.length || !dialog) return;
    event.preventDefault();
    event.stopImmediatePropagation(); // before htmx's boost sends the form
    dialog.querySelector("[data-unsent-count]").textContent = String(pending.length);
    dialog.returnValue = "";
    dialog.showModal();
  }, true);

  document.addEventListener("click", (event) => {
    const button = event.target.closest("#unsent-dialog button[data-choice]");
    if (!button) return;
    const dialog = button.closest("dialog");
    const choice = button.dataset.choice;
    dialog.close(choice);
    const logout = document.querySelector("form[data-logout]");
    if (choice === "send") {
      const pending = mine();
      if (pending.some((e) => forms[e.key])) { retryDelay = 1000; pump(); }
      else if (pending.length) window.location.assign(pending[0].url.replace(/\/answers\/.*$/, ""));
      return;
    }
    if (choice === "discard") setBox(currentUser(), []);
    if (choice === "discard" || choice === "keep") {
      logout.dataset.confirmed = "1";
      logout.requestSubmit();
    }
  });

  window.addEventListener("online", () => { retryDelay = 1000; pump(); });
  if (window.htmx) htmx.onLoad(wire);
  else document.addEventListener("DOMContentLoaded", wire);
})();
