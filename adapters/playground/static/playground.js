// supportbot playground: live updates and form posts without reloading.
// Rule: text from users is only ever set with textContent or form .value.
// The agent console and the why panel are re-read as server-rendered,
// server-escaped HTML and parsed with DOMParser (inert: no script runs).
"use strict";

(function () {
  const main = document.querySelector("main.panes");
  const toastEl = document.getElementById("toast");
  const KIND = { answer: "bot_answer", agent_reply: "agent_reply", system: "system" };
  const EMOJI = { eyes: "\u{1F440}", white_check_mark: "\u2705" };
  let toastTimer = null;

  function toast(text, isError) {
    if (!toastEl) return;
    toastEl.textContent = text;
    toastEl.classList.toggle("toast--error", !!isError);
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastEl.hidden = true; }, 4000);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function hidden(name, value) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function csrf(role) {
    const meta = document.querySelector('meta[name="csrf-' + role + '"]');
    return meta ? meta.content : "";
  }

  async function parseFragment(url) {
    const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    return Array.from(doc.body.childNodes).map(function (n) { return document.importNode(n, true); });
  }

  // ------------------------------------------------------------------ text with code (mirrors views.blocks)
  const FENCE = /```[^\n]*\n([\s\S]*?)(?:\n```|$)/g;
  const CODE_LINE = new RegExp("^(?:Traceback \\(most recent call last\\):?" +
    "|\\s*File \".*\", line \\d+.*" +
    "|\\s*at [\\w$.<>/\\\\:-]+\\(.*\\)?.*" +
    "|(?:[\\w.]+\\.)?\\w*(?:Error|Exception|Exit|Interrupt)(?::.*)?" +
    "|Caused by:.*|\\s*\\.\\.\\. \\d+ more|(?: {2,}|\\t)\\S.*)$");
  const FOLD_LINES = 6, FOLD_CHARS = 400;

  function splitLines(text, out) {
    const lines = text.split("\n");
    let prose = [];
    let i = 0;
    while (i < lines.length) {
      let j = i;
      while (j < lines.length && CODE_LINE.test(lines[j])) j++;
      if (j - i >= 2) {
        if (prose.length) { out.push(["text", prose.join("\n")]); prose = []; }
        out.push(["code", lines.slice(i, j).join("\n")]);
        i = j;
      } else {
        prose.push(lines[i]);
        i++;
      }
    }
    if (prose.length) out.push(["text", prose.join("\n")]);
  }

  function textParts(text) {
    const parts = [];
    let pos = 0;
    text = String(text || "");
    for (const m of text.matchAll(FENCE)) {
      splitLines(text.slice(pos, m.index), parts);
      parts.push(["code", m[1].replace(/\n+$/, "")]);
      pos = m.index + m[0].length;
    }
    splitLines(text.slice(pos), parts);
    return parts.filter(function (p) { return p[1].trim(); });
  }

  function richText(container, text) {
    textParts(text).forEach(function (p) {
      if (p[0] === "text") { container.append(el("p", "prose", p[1].replace(/^\n+|\n+$/g, ""))); return; }
      const pre = el("pre", "code");
      pre.append(el("code", null, p[1]));
      const lines = p[1].split("\n").length;
      if (lines > FOLD_LINES || p[1].length > FOLD_CHARS) {
        const details = el("details", "code-fold");
        const head = p[1].trimStart();
        const what = head.startsWith("Traceback") || p[1].slice(0, 200).includes(" at ") ? "Stack trace" : "Code";
        details.append(el("summary", null, what + " (" + lines + " lines)"), pre);
        container.append(details);
      } else {
        container.append(pre);
      }
    });
    return container;
  }

  // ------------------------------------------------------------------ customer thread
  function messageNode(m, conversationId) {
    const li = el("li", "msg msg--" + m.kind + (m.kind === "customer" ? " msg--mine" : ""));
    if (m.id) li.dataset.messageId = m.id;
    const meta = el("div", "msg__meta");
    meta.append(el("span", "msg__author", m.kind === "customer" ? "You" : m.author || "supportbot"));
    meta.append(el("time", null, new Date().toISOString().slice(11, 16)));
    if (m.html) {
      // Safe HTML rendered by the server from the bot's own Markdown (every text escaped there).
      const body = el("div", "msg__text msg__text--md");
      body.innerHTML = m.html;
      body.querySelectorAll("a").forEach(function (a) { a.target = "_blank"; });
      li.append(meta, body);
    } else {
      li.append(meta, richText(el("div", "msg__text"), m.text));
    }
    const sources = m.citations || [];  // the server leaves out sources a reply already links to
    if (sources.length) {
      const ul = el("ul", "cites");
      ul.setAttribute("aria-label", "Sources");
      sources.forEach(function (c) {
        const item = el("li");
        const url = safeUrl(c.url);
        if (url) {
          const a = el("a", null, c.title);
          a.href = url;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          item.append(a);
        } else {
          item.textContent = c.title;
        }
        ul.append(item);
      });
      li.append(ul);
    }
    if (m.kind !== "customer" && conversationId) {
      const actions = el("div", "msg__actions");
      // Without a decision id (e.g. a hand-off notice) the panel shows every decision, newest first.
      const why = el("a", "why-link", "Why?");
      const path = "/why/" + encodeURIComponent(conversationId) +
        (m.decision_id ? "?decision=" + encodeURIComponent(m.decision_id) : "");
      why.href = path;
      why.dataset.why = path + (m.decision_id ? "&" : "?") + "fragment=1";
      actions.append(why);
      if (m.feedback) {
        const form = el("form", "js-form feedback");
        form.method = "post";
        form.action = "/customer/feedback";
        form.dataset.role = "customer";
        form.append(hidden("csrf_token", csrf("customer")), hidden("conversation_id", conversationId));
        form.append(el("span", "feedback__q", "Did this help?"));
        [["1", "\u{1F44D} Yes", "This helped"], ["0", "\u{1F44E} No", "This did not help"]].forEach(function (b) {
          const button = el("button", "icon-btn", b[1]);
          button.name = "positive";
          button.value = b[0];
          button.setAttribute("aria-label", b[2]);
          button.title = b[2];
          form.append(button);
        });
        actions.append(form);
      }
      li.append(actions);
    }
    return li;
  }

  function appendMessage(m, conversationId) {
    const thread = document.getElementById("thread");
    if (!thread) return;
    const empty = document.getElementById("thread-empty");
    if (empty) empty.remove();
    thread.append(messageNode(m, conversationId));
    const wrap = thread.closest(".thread-wrap");
    if (wrap) wrap.scrollTop = wrap.scrollHeight;
  }

  async function reloadThread() {
    if (!main) return;
    const channel = main.dataset.channelId;
    const response = await fetch("/api/threads/" + encodeURIComponent(channel), { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    if (!data.conversation_id) return;
    main.dataset.conversationId = data.conversation_id;
    const thread = document.getElementById("thread");
    thread.replaceChildren();
    data.messages.forEach(function (m) { appendMessage(m, data.conversation_id); });
  }

  function showReaction(name) {
    const box = document.getElementById("reactions");
    if (!box || !EMOJI[name]) return;
    if (Array.from(box.children).some(function (s) { return s.dataset.emoji === name; })) return;
    const span = el("span", null, EMOJI[name]);
    span.dataset.emoji = name;
    box.append(span);
    box.hidden = false;
  }

  function addConversationTab(channelId, title) {
    let nav = document.querySelector(".conv-list");
    if (!nav) {
      nav = el("nav", "conv-list");
      nav.setAttribute("aria-label", "Your conversations");
      const head = el("p", "conv-list__head", "Your conversations ");
      head.append(el("span", "chip__count", "0"));
      nav.append(head, el("ul"));
      document.querySelector(".pane--customer .pane__head").after(nav);
    }
    nav.querySelectorAll(".conv-tab").forEach(function (t) { t.classList.remove("is-active"); t.removeAttribute("aria-current"); });
    const tab = el("a", "conv-tab is-active");
    tab.href = "/?c=" + encodeURIComponent(channelId);
    tab.setAttribute("aria-current", "page");
    const prose = textParts(title).find(function (p) { return p[0] === "text"; });  // as the server titles it
    const line = (prose ? prose[1] : title).split(/\s+/).join(" ").trim() || title.split(/\s+/).join(" ").trim();
    tab.title = line;
    const dot = el("span", "dot dot--open");
    dot.setAttribute("aria-hidden", "true");
    tab.append(dot, el("span", "conv-tab__title", line.length > 120 ? line.slice(0, 120) + "…" : line));
    const item = el("li");
    item.append(tab);
    nav.querySelector("ul").prepend(item);
    const count = nav.querySelector(".conv-list__head .chip__count");
    if (count) count.textContent = String(nav.querySelectorAll(".conv-tab").length);
    const account = document.querySelector("select#account");
    if (account) account.disabled = true;  // the account is fixed once the conversation started
  }

  // ------------------------------------------------------------------ agent console: queue and detail
  const consoleBox = document.getElementById("console");
  const view = { filter: "all", selected: "", detail: false };
  (function readInitialView() {
    const grid = document.getElementById("console-items");
    const params = new URLSearchParams(window.location.search);
    view.filter = (grid && grid.dataset.currentFilter) || params.get("f") || "all";
    view.selected = (grid && grid.dataset.selected) || "";
  })();
  let consoleTimer = null;
  let consoleBusy = false;

  function scheduleConsoleRefresh() {
    clearTimeout(consoleTimer);
    consoleTimer = setTimeout(refreshConsole, 120);
  }

  function consoleUrl() {
    return "/console?f=" + encodeURIComponent(view.filter) + "&sel=" + encodeURIComponent(view.selected);
  }

  async function refreshConsole() {
    const box = consoleBox;
    if (!box) return;
    if (consoleBusy) { scheduleConsoleRefresh(); return; }
    consoleBusy = true;
    try {
      // Keep what the agent is typing, which sections are open and where the lists were scrolled.
      const typed = {};
      box.querySelectorAll("textarea[id], input[id]:not([type=hidden]), select[id]").forEach(function (f) {
        if (f.type === "checkbox") typed[f.id] = f.checked; else if (f.value !== f.defaultValue) typed[f.id] = f.value;
      });
      const open = [];
      box.querySelectorAll("details").forEach(function (d, i) {
        const key = (d.closest("[data-conversation-id]") || {}).dataset;
        open.push([(key ? key.conversationId : "") + ":" + d.className + ":" + i, d.open]);
      });
      const scroll = {};
      box.querySelectorAll(".queue__list, .detail").forEach(function (n) { scroll[n.className] = n.scrollTop; });
      const before = view.selected;
      const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
      const nodes = await parseFragment(consoleUrl());
      box.replaceChildren.apply(box, nodes);
      const grid = document.getElementById("console-items");
      view.selected = grid ? grid.dataset.selected : "";
      if (grid && view.detail && view.selected) grid.classList.add("is-detail");
      const count = document.getElementById("switch-count");
      if (count && grid) count.textContent = grid.dataset.count;
      Object.keys(typed).forEach(function (id) {
        const f = document.getElementById(id);
        if (!f) return;
        if (f.type === "checkbox") f.checked = typed[id]; else f.value = typed[id];
      });
      const openMap = new Map(open);
      box.querySelectorAll("details").forEach(function (d, i) {
        const key = (d.closest("[data-conversation-id]") || {}).dataset;
        const k = (key ? key.conversationId : "") + ":" + d.className + ":" + i;
        if (openMap.has(k)) d.open = openMap.get(k);
      });
      box.querySelectorAll(".queue__list, .detail").forEach(function (n) {
        if (n.className in scroll && !(n.classList.contains("detail") && before !== view.selected)) n.scrollTop = scroll[n.className];
      });
      const row = document.getElementById("q-" + view.selected);
      if (row && before !== view.selected) row.scrollIntoView({ block: "nearest" });
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    } catch (err) {
      toast("Could not refresh the console: " + err.message, true);
    } finally {
      consoleBusy = false;
    }
  }

  function select(conversationId, showDetail) {
    view.selected = conversationId;
    if (showDetail) view.detail = true;
    // instant feedback; the refresh brings the conversation itself
    document.querySelectorAll(".qrow").forEach(function (r) {
      r.classList.toggle("is-selected", r.dataset.conversationId === conversationId);
    });
    refreshConsole();
  }

  function visibleRows() {
    return Array.from(document.querySelectorAll(".qrow")).filter(function (r) { return !r.hidden; });
  }

  function step(delta) {
    const rows = visibleRows();
    if (!rows.length) return;
    const at = rows.findIndex(function (r) { return r.dataset.conversationId === view.selected; });
    const next = rows[Math.max(0, Math.min(rows.length - 1, at + delta))];
    if (at === -1) { select(rows[0].dataset.conversationId, false); return; }
    if (next.dataset.conversationId !== view.selected) select(next.dataset.conversationId, view.detail);
  }

  if (consoleBox) {
    consoleBox.addEventListener("click", function (e) {
      const chip = e.target.closest("a[data-filter]");
      if (chip) {
        e.preventDefault();
        view.filter = chip.dataset.filter;
        consoleBox.querySelectorAll("[data-filter]").forEach(function (c) {
          c.classList.toggle("is-active", c === chip);
        });
        refreshConsole();
        return;
      }
      const link = e.target.closest("[data-select]");
      if (link) {
        e.preventDefault();
        select(link.dataset.select, true);
        return;
      }
      if (e.target.closest("[data-back]")) {
        view.detail = false;
        const grid = document.getElementById("console-items");
        if (grid) grid.classList.remove("is-detail");
        const row = document.getElementById("q-" + view.selected);
        if (row) row.focus();
      }
    });
    setInterval(function () { if (!document.hidden) scheduleConsoleRefresh(); }, 30000);  // "in 12 min" stays true
  }

  // ------------------------------------------------------------------ one pane at a time on a phone
  function showView(name) {
    if (!main) return;
    main.dataset.view = name;
    document.querySelectorAll(".viewswitch__btn").forEach(function (b) {
      const on = b.dataset.view === name;
      b.classList.toggle("is-active", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  document.querySelectorAll(".viewswitch__btn").forEach(function (b) {
    b.addEventListener("click", function () { showView(b.dataset.view); });
  });
  if (main) showView(new URLSearchParams(window.location.search).get("view") === "agent" ? "agent" : "customer");

  // ------------------------------------------------------------------ keyboard shortcuts
  const shortcutsBox = document.getElementById("shortcuts");
  const shortcutsToggle = document.getElementById("shortcuts-toggle");
  function toggleShortcuts(force) {
    if (!shortcutsBox) return;
    const show = force === undefined ? shortcutsBox.hidden : force;
    shortcutsBox.hidden = !show;
    if (shortcutsToggle) shortcutsToggle.setAttribute("aria-expanded", show ? "true" : "false");
  }
  if (shortcutsToggle) shortcutsToggle.addEventListener("click", function () { toggleShortcuts(); });

  function typing(target) {
    if (!target || !target.closest) return false;
    return !!target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]");
  }

  function openAction(name, focusSelector) {
    const details = document.querySelector('#detail details[data-action="' + name + '"]');
    if (!details) return false;
    details.open = true;
    const field = details.querySelector(focusSelector);
    if (field) { field.focus(); if (field.select && name === "edit") field.setSelectionRange(field.value.length, field.value.length); }
    return true;
  }

  function press(selector) {
    const button = document.querySelector("#detail " + selector);
    if (!button || button.disabled) return false;
    button.click();
    return true;
  }

  const KEYS = {
    j: function () { step(1); return true; },
    n: function () { step(1); return true; },
    k: function () { step(-1); return true; },
    p: function () { step(-1); return true; },
    a: function () { return press('button[data-action="approve"]') || "No draft to approve here."; },
    e: function () { return openAction("edit", "textarea") || "No draft to edit here."; },
    r: function () { return openAction("reject", "input[name=reason]") || "No draft to reject here."; },
    c: function () { return press('button[data-action="claim"]') || "Nothing to claim here."; },
    x: function () {
      return press('button[data-action="resolve"]') || press('button[data-action="resolve-conversation"]') ||
        "Nothing to resolve here.";
    },
    "/": function () {
      const reply = document.querySelector("#detail form.reply textarea");
      if (!reply) return "This conversation has no staff thread yet.";
      reply.focus();
      return true;
    },
    "?": function () { toggleShortcuts(); return true; },
  };

  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      if (typing(e.target) && consoleBox && consoleBox.contains(e.target)) e.target.blur();
      toggleShortcuts(false);
      return;
    }
    if (!consoleBox || e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typing(e.target)) return;
    if (whyPanel && !whyPanel.hidden) return;
    const action = KEYS[e.key];
    if (!action) return;
    if (main && main.dataset.view === "customer" && window.matchMedia("(max-width: 900px)").matches) return;
    e.preventDefault();
    const done = action();
    if (typeof done === "string") toast(done, true);
  });

  // ------------------------------------------------------------------ why panel
  const whyPanel = document.getElementById("why-panel");
  let whyOpener = null;
  function closeWhy() {
    if (!whyPanel || whyPanel.hidden) return;
    whyPanel.hidden = true;
    if (whyOpener && document.contains(whyOpener)) whyOpener.focus();
  }
  async function openWhy(url) {
    whyOpener = document.activeElement;
    if (!whyPanel) { window.location.href = url.replace(/[?&]fragment=1/, ""); return; }
    const body = document.getElementById("why-body");
    body.replaceChildren(el("p", "muted", "Loading…"));
    whyPanel.hidden = false;
    try {
      body.replaceChildren.apply(body, await parseFragment(url));
      const selected = body.querySelector(".is-selected");
      if (selected) selected.scrollIntoView({ block: "nearest" });
    } catch (err) {
      body.replaceChildren(el("p", "error", "Could not load: " + err.message));
    }
    document.getElementById("why-close").focus();
  }
  if (whyPanel) {
    document.getElementById("why-close").addEventListener("click", closeWhy);
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeWhy(); });
  }

  // ------------------------------------------------------------------ forms
  async function post(form, submitter, data) {
    data = data || new FormData(form);
    if (submitter && submitter.name) data.set(submitter.name, submitter.value);
    const role = form.dataset.role || "customer";
    const response = await fetch(form.action, {
      method: "POST", body: new URLSearchParams(data), credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": data.get("csrf_token") || csrf(role) },
    });
    let body = null;
    try { body = await response.json(); } catch (e) { body = { ok: false, message: "HTTP " + response.status }; }
    return body;
  }

  document.addEventListener("click", function (e) {
    const link = e.target.closest("[data-why]");
    if (link) { e.preventDefault(); openWhy(link.dataset.why); }
  });

  document.addEventListener("submit", async function (e) {
    const form = e.target;
    if (form.id === "composer") {
      e.preventDefault();
      const textarea = form.querySelector("textarea");
      const text = textarea.value;
      if (!text.trim()) return;
      const data = new FormData(form);
      appendMessage({ kind: "customer", text: text });
      textarea.value = "";
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const result = await post(form, null, data);
        if (!result.ok) { toast(result.message, true); return; }
        if (result.conversation_id && main) {
          main.dataset.conversationId = result.conversation_id;
          if (!/[?&]c=/.test(window.location.search)) {
            history.replaceState(null, "", "/?c=" + encodeURIComponent(result.channel_id));
            addConversationTab(result.channel_id, text);
          }
        }
        if (result.status_code === "ignored") toast("No reply needed: " + result.message);
      } catch (err) {
        toast("Not sent: " + err.message, true);
      } finally {
        button.disabled = false;
        textarea.focus();
      }
      return;
    }
    if (!form.classList.contains("js-form")) return;
    e.preventDefault();
    const buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      const result = await post(form, e.submitter);
      toast(result.message, !result.ok);
      if (form.dataset.role === "agent") scheduleConsoleRefresh();
    } catch (err) {
      toast(err.message, true);
    } finally {
      buttons.forEach(function (b) { b.disabled = false; });
    }
  });

  const composerText = document.getElementById("message-text");
  if (composerText) {
    composerText.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        document.getElementById("composer").requestSubmit();
      }
    });
  }
  const accountSelect = document.querySelector("select[data-autosubmit]");
  if (accountSelect) {
    accountSelect.addEventListener("change", function () {
      window.location.href = "/?account=" + encodeURIComponent(accountSelect.value);
    });
  }

  // ------------------------------------------------------------------ server-sent events
  const ready = { customer: false, staff: false };
  function markReady(stream, ok) {
    ready[stream] = ok;
    const live = ready.customer && ready.staff;
    document.body.dataset.live = live ? "ready" : "connecting";
    const status = document.getElementById("live-status");
    if (status) status.classList.toggle("is-down", !live);
  }

  if (main && window.EventSource) {
    let customerConnected = false;
    const customer = new EventSource("/events/customer");
    customer.addEventListener("ready", function () {
      if (customerConnected) reloadThread();  // we may have missed messages while disconnected
      customerConnected = true;
      markReady("customer", true);
    });
    customer.addEventListener("message", function (e) {
      const data = JSON.parse(e.data);
      if (data.channel_id !== main.dataset.channelId) return;
      main.dataset.conversationId = data.conversation_id || main.dataset.conversationId;
      appendMessage({ kind: KIND[data.kind] || "system", author: data.author, text: data.text,
                      html: data.html, citations: data.listed, decision_id: data.decision_id, feedback: data.feedback,
                      id: data.message_id }, data.conversation_id);
    });
    customer.addEventListener("reaction", function (e) {
      const data = JSON.parse(e.data);
      if (data.channel_id === main.dataset.channelId) showReaction(data.emoji);
    });
    customer.onerror = function () { markReady("customer", false); };

    let staffConnected = false;
    const staff = new EventSource("/events/staff");
    staff.addEventListener("ready", function () {
      if (staffConnected) scheduleConsoleRefresh();
      staffConnected = true;
      markReady("staff", true);
    });
    staff.addEventListener("changed", scheduleConsoleRefresh);
    staff.onerror = function () { markReady("staff", false); };
  }
})();
