// Deskward's small script: confirmation dialogs, bulk selection and live updates over
// Server-Sent Events. Every page also works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // Deskward's --path-prefix: links from the server carry it; paths kept for the server
  // ("back") are without it, as the server's own redirects add it.
  var PREFIX = document.body.getAttribute("data-prefix") || "";
  function local(path) {
    return PREFIX && path.indexOf(PREFIX + "/") === 0 ? path.slice(PREFIX.length) : path;
  }
  var dialog = document.getElementById("confirm-dialog");

  // Confirmation dialog: any element with data-confirm opens it and posts to that URL.
  function openConfirm(action, title, text, okLabel, extraIds) {
    if (!dialog || typeof dialog.showModal !== "function") return false;
    var form = document.getElementById("confirm-form");
    form.action = action;
    document.getElementById("confirm-title").textContent = title || "End session?";
    document.getElementById("confirm-text").textContent = text || "";
    document.getElementById("confirm-ok").textContent = okLabel || "End session";
    document.getElementById("confirm-back").value = local(location.pathname) + location.search;
    var extra = document.getElementById("confirm-extra");
    extra.textContent = "";
    (extraIds || []).forEach(function (id) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "ids"; input.value = id;
      extra.appendChild(input);
    });
    if (extraIds) {
      var c = document.createElement("input");
      c.type = "hidden"; c.name = "confirm"; c.value = "yes";
      extra.appendChild(c);
    }
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
    return true;
  }
  if (dialog) {
    document.getElementById("confirm-cancel").addEventListener("click", function () { dialog.close(); });
    // Keep Tab inside the dialog (showModal makes the rest inert; this also wraps focus).
    dialog.addEventListener("keydown", function (e) {
      if (e.key !== "Tab") return;
      var f = dialog.querySelectorAll("button");
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
    });
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-confirm]");
    if (!el) return;
    if (openConfirm(el.getAttribute("data-confirm"), el.getAttribute("data-confirm-title"), el.getAttribute("data-confirm-text"))) {
      e.preventDefault();
    }
  });

  // Tooltips (WCAG 1.4.13): Escape hides the open one without moving hover or focus; it
  // comes back on the next hover or focus. One that would run off the bottom of the window
  // opens upward instead. A mouse click on an icon that does nothing (red) does not keep
  // its tooltip stuck open by focus.
  function openTip(wrap) {
    wrap.classList.remove("tip-dismissed", "tip-up");
    var tip = wrap.querySelector(".tip");
    if (!tip) return;
    var shown = tip.style.display;
    tip.style.display = "block"; // measured even before :hover applies
    var height = tip.offsetHeight;
    tip.style.display = shown;
    var r = wrap.getBoundingClientRect();
    var below = window.innerHeight - r.bottom;
    if (below < height + 16 && r.top > below) wrap.classList.add("tip-up");
  }
  document.addEventListener("mouseover", function (e) {
    var w = e.target.closest && e.target.closest(".tip-wrap");
    if (w && !w.contains(e.relatedTarget)) openTip(w);
  });
  document.addEventListener("focusin", function (e) {
    var w = e.target.closest && e.target.closest(".tip-wrap");
    if (w) openTip(w);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll(".tip-wrap:hover, .tip-wrap:focus-within").forEach(function (w) {
      w.classList.add("tip-dismissed");
    });
  });
  document.addEventListener("click", function (e) {
    var red = e.target.closest && e.target.closest(".sess.none");
    if (red && e.detail > 0) red.blur();
  });

  // Bulk selection on Agents.
  function updateBulk() {
    var picks = document.querySelectorAll("input.pick");
    var chosen = Array.prototype.filter.call(picks, function (p) { return p.checked; });
    var link = document.getElementById("bulk-end");
    var count = document.getElementById("selected-count");
    var all = document.getElementById("select-all");
    if (link) link.hidden = chosen.length === 0;
    if (count) count.textContent = chosen.length ? chosen.length + " selected" : "";
    if (all) {
      all.checked = picks.length > 0 && chosen.length === picks.length;
      all.indeterminate = chosen.length > 0 && chosen.length < picks.length;
    }
    return chosen;
  }
  document.addEventListener("change", function (e) {
    if (e.target.id === "select-all") {
      document.querySelectorAll("input.pick").forEach(function (p) { p.checked = e.target.checked; });
    }
    if (e.target.id === "select-all" || e.target.classList.contains("pick")) updateBulk();
  });
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "bulk-form") return;
    var chosen = updateBulk();
    if (!chosen.length) { e.preventDefault(); return; }
    var ids = chosen.map(function (p) { return p.value; });
    var n = ids.length;
    if (openConfirm(PREFIX + "/team/agents/bulk-end", "End sessions of the selected agents?",
        "Every active session of the " + n + " selected agent" + (n === 1 ? "" : "s") +
        " will end. They will be signed out and must sign in again.", "End sessions", ids)) {
      e.preventDefault();
    }
  });
  updateBulk();

  // Live updates: one event stream per tab.
  if (!document.body.hasAttribute("data-signed-in") || !window.EventSource) return;
  var source = new EventSource(PREFIX + "/api/v1/events");
  // A page kept for Back must not hold its stream: browsers allow few connections per host.
  window.addEventListener("pagehide", function () { source.close(); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
  source.addEventListener("session_ended", function () {
    source.close();
    location.href = PREFIX + "/login";
  });
  var pending = null;
  function refreshList() {
    var list = document.getElementById("team-list");
    if (!list) return;
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () {
      pending = null;
      fetch(location.pathname + location.search, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("team-list");
          var current = document.getElementById("team-list");
          if (!fresh || !current) return;
          var checked = {};
          current.querySelectorAll("input.pick:checked").forEach(function (p) { checked[p.value] = true; });
          if (current.contains(document.activeElement) && document.activeElement.closest(".tip-wrap")) return;
          current.replaceWith(fresh);
          fresh.querySelectorAll("input.pick").forEach(function (p) { if (checked[p.value]) p.checked = true; });
          updateBulk();
        })
        .catch(function () {});
    }, 150);
  }
  source.addEventListener("member", refreshList);
  source.addEventListener("status", function (e) {
    refreshList();
    var mine = document.getElementById("my-status");
    if (mine && document.body.getAttribute("data-kind") === "agent") {
      try {
        var d = JSON.parse(e.data);
        mine.textContent = d.status === "online" ? "Online" : "Offline";
        mine.className = "badge " + d.status;
        var on = document.getElementById("go-online"), off = document.getElementById("go-offline");
        if (on && off) { on.hidden = d.status === "online"; off.hidden = d.status !== "online"; }
      } catch (err) { /* ignore malformed data */ }
    }
  });
})();
