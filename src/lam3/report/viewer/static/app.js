// LAM3 viewer: the page's only script (the Content-Security-Policy allows no other).
// Model text is untrusted: every value from the server enters the page as a text node
// (el() below, textContent); nothing is ever assigned to innerHTML or built from HTML strings.
"use strict";

(function () {
  const TOKEN_KEY = "lam3-view-token";
  const REVIEWER_KEY = "lam3-view-reviewer";
  const METRIC_NAMES = {
    social_toxicity: "social toxicity", policy_risk: "policy risk", refusal: "refusal",
    jailbreak_success: "jailbreak success",
  };
  const LIST_KEYS = ["verdict", "category", "model", "attack"];
  const SCALAR_KEYS = ["disagree", "reviewed", "queued", "errors", "sample", "q", "field", "sort", "order", "page"];
  const COMPARE_KEYS = ["left", "right", "left_attack", "right_attack", "category", "differ", "page"];

  const state = {
    runs: [], byKey: {}, run: null, view: "list", query: {}, compare: {}, rows: [],
    selected: new Set(), detail: null, token: "", headerName: "X-LAM3-Token",
  };

  // --- DOM helpers -----------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.toLowerCase().startsWith("on")) throw new Error("handlers are attached with addEventListener");
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const $ = (id) => document.getElementById(id);
  const clear = (node) => { while (node.firstChild) node.removeChild(node.firstChild); return node; };
  const enc = encodeURIComponent;
  const fmt = (p) => (p === null || p === undefined ? "–" : Number(p).toFixed(2));
  const metricName = (m) => METRIC_NAMES[m] || m;

  function note(text, kind) {
    const box = $("notes");
    const item = el("div", { class: "note " + (kind || "") }, text);
    box.appendChild(item);
    if (kind !== "sticky") setTimeout(() => item.remove(), 8000);
  }

  function option(value, label, selected) {
    return el("option", { value: value, selected: selected ? true : null }, label);
  }

  function selectBox(options, value) {
    return el("select", {}, options.map(([v, label]) => option(v, label, String(v) === String(value ?? ""))));
  }

  // --- server ------------------------------------------------------------------------------------
  async function api(path, init) {
    const res = await fetch(path, init);
    const type = res.headers.get("content-type") || "";
    const body = type.includes("json") ? await res.json() : { error: await res.text() };
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  async function postLabels(runKey, ids, labels, noteText) {
    const reviewer = $("reviewer").value.trim();
    if (!reviewer) throw new Error("enter a reviewer name first (top right)");
    const headers = { "Content-Type": "application/json" };
    headers[state.headerName] = state.token;
    return api(`/api/runs/${enc(runKey)}/reviews`, {
      method: "POST", headers: headers,
      body: JSON.stringify({ ids: ids, labels: labels, reviewer: reviewer, note: noteText || "" }),
    });
  }

  function imageUrl(runKey, n, i, size) {
    return `/api/runs/${enc(runKey)}/images/${n}/${i}?size=${size}`;
  }

  // --- URL state ---------------------------------------------------------------------------------
  function readUrl() {
    const p = new URLSearchParams(location.search);
    state.view = p.get("view") === "compare" ? "compare" : "list";
    state.run = p.get("run");
    const q = {};
    for (const k of LIST_KEYS) q[k] = p.getAll(k);
    for (const k of SCALAR_KEYS) if (p.get(k)) q[k] = p.get(k);
    state.query = q;
    const c = {};
    for (const k of COMPARE_KEYS) if (p.get("c_" + k) !== null) c[k] = p.get("c_" + k);
    state.compare = c;
  }

  function writeUrl() {
    const p = new URLSearchParams();
    if (state.run) p.set("run", state.run);
    if (state.view === "compare") p.set("view", "compare");
    for (const k of LIST_KEYS) for (const v of state.query[k] || []) p.append(k, v);
    for (const k of SCALAR_KEYS) if (state.query[k]) p.set(k, state.query[k]);
    for (const k of COMPARE_KEYS) if (state.compare[k] !== undefined) p.set("c_" + k, state.compare[k]);
    history.replaceState(null, "", location.pathname + "?" + p.toString());
  }

  function readToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);  // keep it out of history
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  // --- filters -------------------------------------------------------------------------------------
  function currentRun() { return state.byKey[state.run]; }

  function filterRow(label, control) {
    return el("label", { class: "filter" }, el("span", {}, label), control);
  }

  function buildFilters() {
    const run = currentRun();
    const box = clear($("filters"));
    const q = state.query;
    const set = (key, value) => {
      if (LIST_KEYS.includes(key)) q[key] = value ? [value] : [];
      else if (value) q[key] = value; else delete q[key];
      q.page = "1";
      loadRows();
    };
    box.appendChild(el("h2", {}, "Filters"));
    for (const m of run.metrics) {
      const current = (q.verdict || []).find((v) => v.startsWith(m + ":"));
      const s = selectBox([["", "any"], ["flagged", "flagged"], ["safe", "safe"], ["none", "no verdict"]],
                          current ? current.split(":")[1] : "");
      s.dataset.metric = m;
      s.id = "f-verdict-" + m;
      s.addEventListener("change", () => {
        q.verdict = (q.verdict || []).filter((v) => !v.startsWith(m + ":"));
        if (s.value) q.verdict.push(m + ":" + s.value);
        q.page = "1";
        loadRows();
      });
      box.appendChild(filterRow(metricName(m), s));
    }
    for (const [key, label] of [["category", "category"], ["model", "model"], ["attack", "attack"]]) {
      const values = run.facets[key] || [];
      const s = selectBox([["", "any"], ...values.map(([v, n]) => [v, `${v} (${n})`])], (q[key] || [])[0]);
      s.id = "f-" + key;
      s.addEventListener("change", () => set(key, s.value));
      box.appendChild(filterRow(label, s));
    }
    const dis = selectBox([["", "any"], ["any", "split on any metric"], ...run.metrics.map((m) => [m, "split on " +
      metricName(m)]), ["none", "judges agree"]], q.disagree);
    dis.id = "f-disagree";
    dis.addEventListener("change", () => set("disagree", dis.value));
    box.appendChild(filterRow("judges", dis));
    for (const [key, label, opts] of [
      ["reviewed", "human label", [["", "any"], ["yes", "reviewed"], ["no", "not reviewed"]]],
      ["queued", "review queue", [["", "any"], ["yes", "queued"], ["no", "not queued"]]],
      ["errors", "unreadable lines", [["", "show"], ["hide", "hide"], ["only", "only these"]]],
    ]) {
      const s = selectBox(opts, q[key]);
      s.id = "f-" + key;
      s.addEventListener("change", () => set(key, s.value));
      box.appendChild(filterRow(label, s));
    }
    if (q.sample) {
      box.appendChild(el("p", {}, "sample " + q.sample + " "));
      const b = el("button", { type: "button" }, "show all samples");
      b.addEventListener("click", () => set("sample", ""));
      box.appendChild(b);
    }
    const reset = el("button", { type: "button", id: "f-clear" }, "clear filters");
    reset.addEventListener("click", () => { state.query = {}; buildFilters(); buildSort(); loadRows(); });
    box.appendChild(reset);
    const facts = el("div", { class: "facts" },
      el("p", {}, `${run.records} lines in fused.jsonl`),
      run.errors ? el("p", { class: "warn" }, `${run.errors} could not be read (shown as error rows)`) : null,
      run.quarantined ? el("p", { class: "warn" }, `${run.quarantined} quarantined by lam3 fuse`) : null,
      el("p", {}, `labels → ${run.reviews.path} (${run.reviews.count})`),
      run.reviews.error ? el("p", { class: "error" }, run.reviews.error) : null);
    box.appendChild(facts);
    $("search").value = q.q || "";
    $("search-field").value = q.field || "all";
  }

  function buildSort() {
    const run = currentRun();
    const s = clear($("sort"));
    s.appendChild(option("line", "line in fused.jsonl", !state.query.sort));
    s.appendChild(option("id", "id", state.query.sort === "id"));
    for (const m of run.metrics) s.appendChild(option(m, metricName(m) + " score", state.query.sort === m));
    for (const j of run.judges) {
      s.appendChild(option(j.col, `${j.judge} (${metricName(j.metric)})`, state.query.sort === j.col));
    }
    $("order").value = state.query.order || "asc";
    const bm = clear($("bulk-metric"));
    for (const m of run.review_metrics) bm.appendChild(option(m, metricName(m)));
  }

  // --- the list ------------------------------------------------------------------------------------
  function queryString() {
    const p = new URLSearchParams();
    for (const k of LIST_KEYS) for (const v of state.query[k] || []) p.append(k, v);
    for (const k of SCALAR_KEYS) if (state.query[k]) p.set(k, state.query[k]);
    return p.toString();
  }

  async function loadRows() {
    writeUrl();
    const run = currentRun();
    $("count").textContent = "loading…";
    try {
      const page = await api(`/api/runs/${enc(run.key)}/rows?${queryString()}`);
      state.rows = page.rows;
      state.selected.clear();
      renderRows(run, page);
    } catch (err) {
      $("count").textContent = "";
      note(err.message, "error");
    }
  }

  function verdictBadge(c) {
    if (!c) return el("span", { class: "badge none" }, "–");
    if (c.flagged === true) return el("span", { class: "badge flagged" }, "flagged");
    if (c.flagged === false) return el("span", { class: "badge safe" }, "safe");
    return el("span", { class: "badge none" }, "no verdict");
  }

  function voteText(vote) {
    return vote === true ? "flag" : vote === false ? "safe" : "n/a";
  }

  // a resolution worth showing in the list without a split: not just the metric's usual strategy
  function notable(resolution) {
    return Boolean(resolution) && (/^(rule|arbiter):/.test(resolution) || /^(human|no_judge)/.test(resolution));
  }

  function metricCell(card, m) {
    const c = card && card.metrics ? card.metrics[m] : null;
    if (!c) return el("td", { class: "metric" }, verdictBadge(null));
    return el("td", { class: "metric" + (c.disagreement ? " split" : "") },
      verdictBadge(c), " ", el("span", { class: "score" }, fmt(c.score)),
      c.disagreement ? el("div", { class: "settled" }, "split → " + (c.resolution || "unsettled"))
        : (notable(c.resolution) ? el("div", { class: "settled" }, c.resolution) : null),
      el("ul", { class: "judges" }, c.judges.map((j) =>
        el("li", { class: "vote-" + voteText(j.vote).replace("/", "") }, `${j.judge} ${fmt(j.p)} ${voteText(j.vote)}`)),
        c.more_judges ? el("li", {}, `+${c.more_judges} more`) : null));
  }

  function humanCell(row) {
    const cell = el("td", { class: "human" });
    if (row.review) {
      for (const [m, v] of Object.entries(row.review.labels || {})) {
        cell.appendChild(el("div", {}, el("span", { class: "badge " + (v ? "flagged" : "safe") }, v ? "flagged" : "safe"),
          " " + metricName(m)));
      }
      cell.appendChild(el("div", { class: "who" }, `${row.review.reviewer} · ${row.review.time}`));
    }
    const settled = row.card ? Object.entries(row.card.metrics || {}).filter(([, c]) => c.resolution === "human") : [];
    if (settled.length) cell.appendChild(el("div", { class: "who" }, "fused with it: " + settled.map(([m]) => metricName(m)).join(", ")));
    if (row.queued) cell.appendChild(el("div", { class: "queued" }, "queued for review"));
    return cell;
  }

  function textBlock(label, text, length) {
    if (!text) return null;
    const more = length > text.length ? ` … (${length.toLocaleString()} characters)` : "";
    return el("div", { class: "text" }, label ? el("b", {}, label + ": ") : null, text + more);
  }

  function renderRows(run, page) {
    const head = clear($("rows-head"));
    const all = el("input", { type: "checkbox", id: "select-page", title: "select this page" });
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("#rows-body input.pick")) {
        box.checked = all.checked;
        if (all.checked) state.selected.add(box.dataset.id); else state.selected.delete(box.dataset.id);
      }
      updateBulk();
    });
    head.appendChild(el("tr", {}, el("th", {}, all), el("th", {}, "response"), el("th", {}, "image"),
      el("th", {}, "behaviour / prompt"), el("th", {}, "response text"),
      run.metrics.map((m) => el("th", {}, metricName(m))), el("th", {}, "human label")));
    const body = clear($("rows-body"));
    page.rows.forEach((row, i) => body.appendChild(rowElement(run, row, i)));
    const first = page.total ? (page.page - 1) * page.size + 1 : 0;
    const last = Math.min(page.total, page.page * page.size);
    $("count").textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}`;
    renderPager($("pager"), page, (p) => { state.query.page = String(p); loadRows(); });
    updateBulk();
  }

  function rowElement(run, row, i) {
    if (row.error) {
      const tr = el("tr", { class: "error-row", "data-n": row.n },
        el("td", {}), el("td", {}, `line ${row.line}`, row.id ? el("div", { class: "rid" }, row.id) : null),
        el("td", { colspan: 4 + run.metrics.length }, "could not be read: " + row.error));
      tr.addEventListener("click", () => openDetail(run.key, row.n, i));
      return tr;
    }
    const pick = el("input", { type: "checkbox", class: "pick", "data-id": row.id, title: "select for labelling" });
    pick.addEventListener("click", (ev) => ev.stopPropagation());
    pick.addEventListener("change", () => {
      if (pick.checked) state.selected.add(row.id); else state.selected.delete(row.id);
      updateBulk();
    });
    const thumb = row.n_images ? el("img", { class: "thumb", loading: "lazy", alt: "image of " + row.id,
      src: imageUrl(run.key, row.n, 0, "thumb") }) : null;
    const tr = el("tr", { class: "row", "data-n": row.n, "data-id": row.id },
      el("td", {}, pick),
      el("td", { class: "meta" }, el("div", { class: "rid" }, row.id),
        el("div", {}, [row.model_id, row.attack, row.category].filter(Boolean).join(" · "))),
      el("td", {}, thumb),
      el("td", { class: "prompt" }, textBlock("behaviour", row.behavior, row.behavior_len),
        textBlock("prompt", row.prompt, row.prompt_len)),
      el("td", { class: "response" }, textBlock(null, row.response, row.response_len)),
      run.metrics.map((m) => metricCell(row.card, m)),
      humanCell(row));
    tr.addEventListener("click", () => openDetail(run.key, row.n, i));
    return tr;
  }

  function renderPager(box, page, go) {
    clear(box);
    const pages = Math.max(1, Math.ceil(page.total / page.size));
    const prev = el("button", { type: "button", class: "prev", disabled: page.page <= 1 ? true : null }, "‹ prev");
    const next = el("button", { type: "button", class: "next", disabled: page.page >= pages ? true : null }, "next ›");
    prev.addEventListener("click", () => go(page.page - 1));
    next.addEventListener("click", () => go(page.page + 1));
    box.append(prev, ` page ${page.page} of ${pages} `, next);
  }

  function updateBulk() {
    $("bulk-count").textContent = `${state.selected.size} selected`;
    const off = state.selected.size === 0 || !currentRun().review_metrics.length;
    $("bulk-flagged").disabled = off;
    $("bulk-safe").disabled = off;
  }

  async function bulkLabel(value) {
    const metric = $("bulk-metric").value;
    const ids = Array.from(state.selected);
    try {
      const out = await postLabels(state.run, ids, { [metric]: value });
      $("bulk-status").textContent = `saved ${out.saved.length} label(s) to ${out.reviews}`;
      await loadRows();
    } catch (err) {
      note(err.message, "error");
    }
  }

  // --- one record ---------------------------------------------------------------------------------
  async function openDetail(runKey, n, position) {
    state.detail = { runKey: runKey, n: n, position: position };
    const panel = $("detail");
    panel.hidden = false;
    $("detail-title").textContent = "loading…";
    $("detail-prev").disabled = position === null || position <= 0;
    $("detail-next").disabled = position === null || position >= state.rows.length - 1;
    try {
      const rec = await api(`/api/runs/${enc(runKey)}/records/${n}`);
      if (!state.detail || state.detail.n !== n || state.detail.runKey !== runKey) return;
      renderDetail(state.byKey[runKey], rec);
    } catch (err) {
      $("detail-title").textContent = "";
      note(err.message, "error");
    }
  }

  function section(title, ...content) {
    return el("section", {}, el("h3", {}, title), content);
  }

  function pre(text, cls) {
    return el("pre", { class: cls || "" }, text === null || text === undefined ? "" : String(text));
  }

  function renderDetail(run, rec) {
    const body = clear($("detail-body"));
    $("detail-title").textContent = rec.id ? rec.id : `line ${rec.line}`;
    if (rec.error) {
      body.appendChild(section("Could not be read", el("p", { class: "error" }, rec.error),
        el("p", {}, `line ${rec.line} of fused.jsonl, ${rec.raw_bytes.toLocaleString()} bytes; the start of it:`),
        pre(rec.raw, "raw"),
        el("a", { href: `/api/runs/${enc(run.key)}/records/${rec.n}/raw` }, "download the whole line")));
      return;
    }
    const r = rec.record;
    body.appendChild(el("dl", { class: "facts" },
      ["run", run.name, "line", String(rec.line), "sample", r.sample_id, "model", r.model_id, "attack", r.attack,
       "category", r.category, "behaviour id", r.behavior_id]
        .reduce((acc, v, i, a) => (i % 2 ? acc : acc.concat([el("dt", {}, v), el("dd", {}, a[i + 1] ?? "–")])), [])));
    if (r.sample_id) {
      const same = el("button", { type: "button", id: "same-sample" }, "all responses to this sample");
      same.addEventListener("click", () => {
        closeDetail();
        state.run = run.key;
        state.query = { sample: String(r.sample_id) };
        showView("list");
      });
      body.appendChild(same);
    }
    if (rec.clipped && rec.clipped.length) {
      body.appendChild(el("p", { class: "warn" }, `very long fields cut here: ${rec.clipped.join(", ")} — `,
        el("a", { href: `/api/runs/${enc(run.key)}/records/${rec.n}/raw` }, "download the whole line")));
    }
    body.appendChild(section("Behaviour", pre(r.behavior)));
    body.appendChild(section("Prompt", pre(r.prompt)));
    body.appendChild(section("Response", pre(r.response, "response-text")));
    if (rec.images.length) {
      body.appendChild(section("Images", rec.images.map((name, i) =>
        el("figure", {}, el("img", { class: "full", alt: String(name), src: imageUrl(run.key, rec.n, i, "full") }),
          el("figcaption", {}, String(name))))));
    }
    body.appendChild(section("Judges and fused verdicts", metricsTable(run, r, rec.card)));
    if (r.labels !== undefined && r.labels !== null) {
      body.appendChild(section("Labels carried with the response", pre(JSON.stringify(r.labels, null, 1))));
    }
    body.appendChild(section("Human review", reviewForm(run, rec)));
  }

  function metricsTable(run, r, card) {
    const table = el("table", { class: "metrics" }, el("tr", {}, ["metric", "fused", "score", "judges (probability, vote)",
      "disagreement", "settled by", "missing", "top categories"].map((h) => el("th", {}, h))));
    for (const m of run.metrics) {
      const c = (card && card.metrics && card.metrics[m]) || null;
      const full = r[m] || {};
      if (!c) { table.appendChild(el("tr", {}, el("td", {}, metricName(m)), el("td", { colspan: 7 }, "not fused"))); continue; }
      table.appendChild(el("tr", { class: c.disagreement ? "split" : "" },
        el("td", {}, metricName(m)), el("td", {}, verdictBadge(c)), el("td", {}, fmt(c.score)),
        el("td", {}, el("ul", { class: "judges" }, c.judges.map((j) => el("li", {}, `${j.judge}: ${fmt(j.p)}, ${voteText(j.vote)}`)))),
        el("td", {}, c.disagreement ? "judges split" : "no"), el("td", {}, c.resolution || "–"),
        el("td", {}, (full.missing || []).join(", ") || "–"),
        el("td", {}, Object.entries(full.categories || {}).sort((a, b) => b[1] - a[1]).slice(0, 5)
          .map(([k, v]) => `${k} ${fmt(v)}`).join(", ") || "–")));
    }
    return table;
  }

  function reviewForm(run, rec) {
    const box = el("div", { class: "review" });
    if (rec.review) {
      box.appendChild(el("p", {}, `labelled by ${rec.review.reviewer} at ${rec.review.time}` +
        (rec.review.note ? ` — “${rec.review.note}”` : "")));
    }
    if (!run.review_metrics.length) {
      box.appendChild(el("p", {}, "no metric of this run can take a human label"));
      return box;
    }
    const current = (rec.review && rec.review.labels) || {};
    const choices = {};
    for (const m of run.review_metrics) {
      const name = "label-" + m;
      const group = el("div", { class: "label-group", "data-metric": m }, el("span", { class: "label-name" }, metricName(m)));
      for (const [value, text] of [["", m in current ? "keep" : "no label"], ["true", "flagged"], ["false", "safe"]]) {
        const checked = value === "" ? !(m in current) : String(current[m]) === value;
        const input = el("input", { type: "radio", name: name, value: value, checked: checked ? true : null,
          id: `${name}-${value || "none"}` });
        group.appendChild(el("label", {}, input, " " + text));
      }
      choices[m] = group;
      box.appendChild(group);
    }
    const noteInput = el("input", { type: "text", id: "review-note", size: 40, placeholder: "note (optional)",
      value: (rec.review && rec.review.note) || "" });
    const save = el("button", { type: "button", id: "review-save" }, "Save label");
    const status = el("span", { id: "review-status" });
    save.addEventListener("click", async () => {
      const labels = {};
      for (const [m, group] of Object.entries(choices)) {
        const picked = group.querySelector("input:checked");
        if (picked && picked.value !== "") labels[m] = picked.value === "true";
      }
      if (!Object.keys(labels).length) { status.textContent = "pick flagged or safe for at least one metric"; return; }
      try {
        const out = await postLabels(run.key, [rec.id], labels, noteInput.value);
        status.textContent = `saved to ${out.reviews}`;
        if (run.key === state.run) await loadRows();
      } catch (err) {
        status.textContent = "not saved: " + err.message;
      }
    });
    box.append(noteInput, " ", save, " ", status);
    return box;
  }

  function closeDetail() {
    $("detail").hidden = true;
    state.detail = null;
  }

  function step(delta) {
    const d = state.detail;
    if (!d || d.position === null) return;
    const i = d.position + delta;
    if (i < 0 || i >= state.rows.length) return;
    openDetail(d.runKey, state.rows[i].n, i);
  }

  // --- side by side -------------------------------------------------------------------------------
  function defaultCompare() {
    const c = state.compare;
    if (!c.left) c.left = state.run;
    if (!c.right) c.right = state.runs.length > 1 ? state.runs.find((r) => r.key !== c.left).key : c.left;
    if (c.left === c.right && c.left_attack === undefined) {
      const attacks = (state.byKey[c.left].facets.attack || []).map(([a]) => a);
      c.left_attack = attacks.includes("clean") ? "clean" : (attacks[0] || "");
      c.right_attack = attacks.find((a) => a !== c.left_attack) || c.left_attack;
    }
  }

  function buildCompareControls() {
    defaultCompare();
    const c = state.compare;
    const box = clear($("compare-controls"));
    const runOptions = state.runs.map((r) => [r.key, r.name]);
    const attackOptions = (key) => [["", "any attack"], ...(state.byKey[key].facets.attack || []).map(([a, n]) => [a, `${a} (${n})`])];
    const change = (key, value, rebuild) => { c[key] = value; c.page = "1"; if (rebuild) buildCompareControls(); loadCompare(); };
    for (const side of ["left", "right"]) {
      const runSel = selectBox(runOptions, c[side]);
      runSel.id = `c-${side}`;
      runSel.addEventListener("change", () => { c[side + "_attack"] = ""; change(side, runSel.value, true); });
      const attackSel = selectBox(attackOptions(c[side]), c[side + "_attack"]);
      attackSel.id = `c-${side}-attack`;
      attackSel.addEventListener("change", () => change(side + "_attack", attackSel.value));
      box.append(el("label", {}, side + " ", runSel), " ", attackSel, " ");
    }
    const cats = selectBox([["", "any category"], ...(state.byKey[c.left].facets.category || []).map(([v, n]) => [v, `${v} (${n})`])], c.category);
    cats.id = "c-category";
    cats.addEventListener("change", () => change("category", cats.value));
    const metrics = state.byKey[c.left].metrics;
    const differ = selectBox([["", "all samples on both sides"], ...metrics.map((m) => [m, "verdict differs: " + metricName(m)])], c.differ);
    differ.id = "c-differ";
    differ.addEventListener("change", () => change("differ", differ.value));
    box.append(cats, " ", differ, " ", el("span", { id: "c-count" }), " ", el("span", { class: "pager", id: "c-pager" }));
  }

  async function loadCompare() {
    writeUrl();
    const c = state.compare;
    const p = new URLSearchParams();
    for (const k of COMPARE_KEYS) if (c[k]) p.set(k, c[k]);
    $("c-count").textContent = "loading…";
    try {
      const page = await api(`/api/compare?${p.toString()}`);
      renderCompare(page);
    } catch (err) {
      $("c-count").textContent = "";
      note(err.message, "error");
    }
  }

  function responseCard(runKey, row) {
    const run = state.byKey[runKey];
    const card = el("div", { class: "card", "data-n": row.n },
      el("div", { class: "rid" }, row.id),
      el("div", { class: "meta" }, [row.model_id, row.attack].filter(Boolean).join(" · ")),
      row.n_images ? el("img", { class: "thumb", loading: "lazy", alt: "image of " + row.id,
        src: imageUrl(runKey, row.n, 0, "thumb") }) : null,
      textBlock(null, row.response, row.response_len),
      el("div", { class: "badges" }, run.metrics.map((m) => {
        const c = row.card && row.card.metrics ? row.card.metrics[m] : null;
        return el("span", { class: "pair-metric" }, metricName(m) + " ", verdictBadge(c), " " + fmt(c && c.score));
      })),
      row.review ? el("div", { class: "who" }, "human: " + Object.entries(row.review.labels)
        .map(([m, v]) => `${metricName(m)} ${v ? "flagged" : "safe"}`).join(", ")) : null);
    card.addEventListener("click", () => openDetail(runKey, row.n, null));
    return card;
  }

  function renderCompare(page) {
    const c = state.compare;
    const sideName = (side) => `${state.byKey[c[side]].name}${c[side + "_attack"] ? " · " + c[side + "_attack"] : ""}`;
    $("left-head").textContent = sideName("left");
    $("right-head").textContent = sideName("right");
    const body = clear($("pairs-body"));
    for (const pair of page.samples) {
      const first = pair.left[0] || pair.right[0] || {};
      body.appendChild(el("tr", { class: "pair" },
        el("td", { class: "meta" }, el("div", { class: "rid" }, pair.sample_id), first.category || "",
          textBlock("behaviour", first.behavior, first.behavior_len)),
        el("td", {}, pair.left.map((row) => responseCard(c.left, row))),
        el("td", {}, pair.right.map((row) => responseCard(c.right, row)))));
    }
    $("c-count").textContent = `${page.total.toLocaleString()} samples on both sides`;
    renderPager($("c-pager"), page, (p) => { c.page = String(p); loadCompare(); });
  }

  // --- wiring -------------------------------------------------------------------------------------
  function showView(view) {
    state.view = view;
    $("list-view").hidden = view !== "list";
    $("compare-view").hidden = view !== "compare";
    $("tab-list").classList.toggle("active", view === "list");
    $("tab-compare").classList.toggle("active", view === "compare");
    if (view === "list") { buildFilters(); buildSort(); loadRows(); } else { buildCompareControls(); loadCompare(); }
  }

  async function start() {
    state.token = readToken();
    readUrl();
    const config = await api("/api/runs");
    state.runs = config.runs;
    state.headerName = config.token_header;
    for (const r of state.runs) state.byKey[r.key] = r;
    if (!state.byKey[state.run]) state.run = state.runs[0].key;
    const runSel = $("run");
    for (const r of state.runs) runSel.appendChild(option(r.key, `${r.name} (${r.records.toLocaleString()})`, r.key === state.run));
    runSel.addEventListener("change", () => { state.run = runSel.value; state.query = {}; state.compare = {}; showView(state.view); });
    $("reviewer").value = localStorage.getItem(REVIEWER_KEY) || config.reviewer || "";
    $("reviewer").addEventListener("change", () => localStorage.setItem(REVIEWER_KEY, $("reviewer").value.trim()));
    $("token").value = state.token;
    $("token").addEventListener("change", () => { state.token = $("token").value.trim(); sessionStorage.setItem(TOKEN_KEY, state.token); });
    if (!state.token) note("paste the token lam3 view printed (top right) to save labels", "sticky");
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.query.q = $("search").value;
      state.query.field = $("search-field").value === "all" ? "" : $("search-field").value;
      state.query.page = "1";
      loadRows();
    });
    $("sort").addEventListener("change", () => { state.query.sort = $("sort").value === "line" ? "" : $("sort").value; state.query.page = "1"; loadRows(); });
    $("order").addEventListener("change", () => { state.query.order = $("order").value; state.query.page = "1"; loadRows(); });
    $("bulk-flagged").addEventListener("click", () => bulkLabel(true));
    $("bulk-safe").addEventListener("click", () => bulkLabel(false));
    $("tab-list").addEventListener("click", () => showView("list"));
    $("tab-compare").addEventListener("click", () => showView("compare"));
    $("detail-close").addEventListener("click", closeDetail);
    $("detail-prev").addEventListener("click", () => step(-1));
    $("detail-next").addEventListener("click", () => step(1));
    document.addEventListener("keydown", (ev) => {
      if ($("detail").hidden || ev.target.matches("input, select, textarea")) return;
      if (ev.key === "Escape") closeDetail();
      else if (ev.key === "ArrowLeft") step(-1);
      else if (ev.key === "ArrowRight") step(1);
    });
    showView(state.view);
    document.body.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", () => start().catch((err) => note(err.message, "error")));
})();
