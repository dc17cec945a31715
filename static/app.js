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

  // Confirmation dialog. It posts to `o.action` with the page's CSRF token, `back`, and any
  // `o.ids` / `o.fields`, plus confirm=yes. `o.items` lists what will end (sessions or
  // people); `o.warning` is a stronger line; without `o.okLabel` there is nothing to confirm.
  function openConfirm(o) {
    if (!dialog || typeof dialog.showModal !== "function") return false;
    var form = document.getElementById("confirm-form");
    form.action = o.action || "";
    document.getElementById("confirm-title").textContent = o.title || "End session?";
    document.getElementById("confirm-text").textContent = o.text || "";
    var warning = document.getElementById("confirm-warning");
    warning.textContent = o.warning || "";
    warning.hidden = !o.warning;
    var list = document.getElementById("confirm-list");
    list.textContent = "";
    // An item is a line of text (a name), a session's facts (one line each), or a link.
    (o.items || []).forEach(function (t) {
      var li = document.createElement("li");
      if (Array.isArray(t)) {
        t.forEach(function (line) {
          var d = document.createElement("div");
          d.className = "line";
          d.textContent = line;
          li.appendChild(d);
        });
      } else if (t && t.href) {
        var a = document.createElement("a");
        a.href = t.href;
        a.textContent = t.text;
        li.appendChild(a);
      } else {
        li.textContent = t;
      }
      list.appendChild(li);
    });
    list.hidden = !(o.items && o.items.length);
    var ok = document.getElementById("confirm-ok");
    ok.hidden = o.okLabel === null;
    ok.textContent = o.okLabel || "End session";
    document.getElementById("confirm-cancel").textContent = o.okLabel === null ? "Close" : "Cancel";
    document.getElementById("confirm-back").value = local(location.pathname) + location.search;
    var extra = document.getElementById("confirm-extra");
    extra.textContent = "";
    function hidden(name, value) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = name; input.value = value;
      extra.appendChild(input);
    }
    (o.ids || []).forEach(function (id) { hidden("ids", id); });
    (o.fields || []).forEach(function (f) { hidden(f[0], f[1]); });
    hidden("confirm", "yes");
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
    return true;
  }
  if (dialog) {
    document.getElementById("confirm-cancel").addEventListener("click", function () { dialog.close(); });
    // Keep Tab inside the dialog (showModal makes the rest inert; this also wraps focus).
    dialog.addEventListener("keydown", function (e) {
      if (e.key !== "Tab") return;
      var f = Array.prototype.filter.call(dialog.querySelectorAll("button"), function (b) { return !b.hidden; });
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
    });
  }
  // The sessions a tooltip shows, for the dialog to list: each session's facts one a line,
  // the device in words without the raw user agent (the tooltip and the profile keep that),
  // and "and N more" as a link to the profile that lists them all.
  function sessionLines(tipId) {
    var tip = tipId && document.getElementById(tipId);
    if (!tip) return [];
    var words = function (el) { return el.textContent.replace(/\s+/g, " ").trim(); };
    var items = Array.prototype.map.call(tip.querySelectorAll(".tip-session"), function (s) {
      return Array.prototype.map.call(s.children, function (line) {
        var copy = line.cloneNode(true);
        copy.querySelectorAll(".raw").forEach(function (r) { r.remove(); });
        return words(copy);
      }).filter(function (t) { return t; });
    });
    var more = tip.querySelector(".tip-more");
    if (more) items.push({ text: words(more), href: more.getAttribute("data-href") });
    return items;
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("[data-confirm]");
    if (!el) return;
    if (openConfirm({
      action: el.getAttribute("data-confirm"),
      title: el.getAttribute("data-confirm-title"),
      text: el.getAttribute("data-confirm-text"),
      warning: el.getAttribute("data-confirm-warning"),
      items: sessionLines(el.getAttribute("data-confirm-list")),
    })) {
      e.preventDefault();
    }
  });
  // Forms that ask first (disabling an account, ending one's own sessions): the dialog posts
  // the same fields with confirm=yes. Without JavaScript the server asks on a page instead.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!f.hasAttribute || !f.hasAttribute("data-confirm-title")) return;
    var fields = Array.prototype.filter.call(f.elements, function (el) {
      return el.name && el.name !== "csrf_token" && el.name !== "back" && el.type !== "submit";
    }).map(function (el) { return [el.name, el.value]; });
    if (openConfirm({
      action: f.action,
      title: f.getAttribute("data-confirm-title"),
      text: f.getAttribute("data-confirm-text"),
      okLabel: f.getAttribute("data-confirm-ok"),
      fields: fields,
    })) {
      e.preventDefault();
    }
  });

  // Tooltips (WCAG 1.4.13): Escape hides the open one without moving hover or focus; it
  // comes back on the next hover or focus. One that would run off the bottom of the window
  // opens upward instead. A mouse click on an icon that does nothing (red) does not keep
  // its tooltip stuck open by focus.
  // When it fits on neither side (three sessions, an icon mid-screen, a short window) it
  // takes the roomier side and scrolls within it rather than being cut off.
  function openTip(wrap) {
    wrap.classList.remove("tip-dismissed", "tip-up");
    var tip = wrap.querySelector(".tip");
    if (!tip) return;
    tip.style.maxHeight = "";
    var shown = tip.style.display;
    tip.style.display = "block"; // measured even before :hover applies
    var height = tip.offsetHeight;
    tip.style.display = shown;
    var r = wrap.getBoundingClientRect();
    var below = window.innerHeight - r.bottom;
    var above = r.top;
    var up = below < height + 16 && above > below;
    if (up) wrap.classList.add("tip-up");
    var room = (up ? above : below) - 16;
    if (height > room) tip.style.maxHeight = Math.max(room, 48) + "px";
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

  // Times: the server writes them in the person's own zone, or in UTC when they set none
  // (what a page without JavaScript shows). Here every time on the page is written again in
  // one zone, the person's own or else the browser's, always with the zone named ("PST",
  // "UTC+1"), a relative hint, and UTC on hover (the server's title).
  var ZONE = document.body.getAttribute("data-zone") || "";
  var BROWSER_ZONE = "";
  try { BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (err) { /* old browser */ }
  var VIEW_ZONE = ZONE || BROWSER_ZONE;
  // The audit log reads its date filter in one zone, the form's `tz`, and shows its rows in
  // it. The server fills in the person's own zone; without one, the browser's goes in here
  // (and into the export link), unless the rows shown were already filtered by UTC days.
  var auditTz = document.getElementById("audit-tz");
  if (auditTz) {
    var dated = ["from", "to"].some(function (n) {
      var input = auditTz.form.elements[n];
      return input && input.value;
    });
    if (auditTz.value) VIEW_ZONE = auditTz.value;
    else if (dated || !VIEW_ZONE) VIEW_ZONE = "UTC";
    else {
      auditTz.value = VIEW_ZONE;
      var note = document.getElementById("audit-zone");
      if (note) {
        note.textContent = "Dates are days in " + VIEW_ZONE + " (your browser's time zone); times are shown in " +
          VIEW_ZONE + ", the export has them in UTC and in " + VIEW_ZONE + ".";
      }
      var csvLink = document.getElementById("audit-csv");
      if (csvLink) {
        var u = new URL(csvLink.href, location.href);
        u.searchParams.set("tz", VIEW_ZONE);
        csvLink.href = u.pathname + u.search;
      }
    }
  }
  var timeFormat = null;
  try {
    timeFormat = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
      timeZoneName: "short", timeZone: VIEW_ZONE || undefined
    });
  } catch (err) { /* a zone this browser does not know: the server's text stays */ }
  function zoned(ms) {
    // "GMT+1" is how browsers name a zone without letters; the server says "UTC+1".
    return timeFormat.format(new Date(ms)).replace(/\bGMT(?=[+-])/, "UTC");
  }
  document.querySelectorAll("[data-browser-zone]").forEach(function (el) {
    if (!BROWSER_ZONE) return;
    el.textContent = " (" + BROWSER_ZONE + ")";
    el.hidden = false;
  });
  function relative(ms) {
    var s = Math.round((Date.now() - ms) / 1000), future = s < 0;
    s = Math.abs(s);
    var text;
    if (s < 60) return future ? "in a moment" : "just now";
    if (s < 3600) text = Math.round(s / 60) + " min";
    else if (s < 86400) text = Math.round(s / 3600) + " h";
    else { var d = Math.round(s / 86400); text = d + (d === 1 ? " day" : " days"); }
    return future ? "in " + text : text + " ago";
  }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      if (t.hasAttribute("data-local")) return;
      var ms = Date.parse(t.getAttribute("datetime"));
      if (isNaN(ms)) return;
      // Already in the zone to show (the person's own, written by the server): kept, so the
      // zone is named as the server names it ("CET", where browsers say "GMT+1").
      var same = t.getAttribute("data-zone") === VIEW_ZONE;
      if (!same && !timeFormat) return;
      if (!t.title) t.title = new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
      t.textContent = (same ? t.textContent.trim() : zoned(ms)) + " (" + relative(ms) + ")";
      t.setAttribute("data-local", "1");
      t.setAttribute("data-zone", VIEW_ZONE);
    });
  }
  localTimes(document);

  // A number whose unit is chosen beside it (the Security page's timeout): the browser's
  // limits follow the unit chosen. The server checks again, in the unit typed.
  function unitLimits(select) {
    var input = document.getElementById(select.getAttribute("data-limits"));
    var o = select.options[select.selectedIndex];
    if (!input || !o) return;
    input.min = o.getAttribute("data-min");
    input.max = o.getAttribute("data-max");
  }
  document.querySelectorAll("select[data-limits]").forEach(unitLimits);
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-limits]")) unitLimits(e.target);
  });

  // "Copy" buttons (the recovery codes): shown only where the browser can copy; copies the
  // listed items' text, one a line, and says so beside the button.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var list = document.getElementById(button.getAttribute("data-copy"));
      var said = document.getElementById("recovery-copied");
      var text = Array.prototype.map.call(list.querySelectorAll("li"), function (li) {
        return li.textContent.trim();
      }).join("\n") + "\n";
      navigator.clipboard.writeText(text).then(function () {
        if (said) said.textContent = "Copied.";
      }, function () {
        if (said) said.textContent = "The browser did not allow copying: select the codes instead.";
      });
    });
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
    // A card's own button (Resend invitation) posts elsewhere with the form's CSRF token.
    if (e.submitter && e.submitter.hasAttribute("formaction")) return;
    var chosen = updateBulk();
    if (!chosen.length) { e.preventDefault(); return; }
    var ids = chosen.map(function (p) { return p.value; });
    var n = ids.length;
    var names = chosen.map(function (p) { return p.getAttribute("data-name") || p.value; });
    var items = names.slice(0, 10);
    if (names.length > 10) items.push("and " + (names.length - 10) + " more");
    var agents = n + " selected agent" + (n === 1 ? "" : "s");
    var live = chosen.filter(function (p) { return p.hasAttribute("data-has-session"); }).length;
    var opened = live === 0
      ? openConfirm({ title: "Nothing to end", items: items, okLabel: null,
          text: "None of the " + agents + " has an active session: there is nothing to end." })
      : openConfirm({ action: PREFIX + "/team/agents/bulk-end", title: "End sessions of the selected agents?",
          text: "Every active session of the " + agents + " will end (" + live + " agent" + (live === 1 ? "" : "s") +
            " with a session now). They will be signed out and must sign in again.",
          okLabel: "End sessions", ids: ids, items: items });
    if (opened) e.preventDefault();
  });
  updateBulk();

  // Live updates: one event stream per tab.
  if (!document.body.hasAttribute("data-signed-in") || !window.EventSource) return;
  var source = new EventSource(PREFIX + "/api/v1/events");
  // A page kept for Back must not hold its stream: browsers allow few connections per host.
  window.addEventListener("pagehide", function () { source.close(); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
  // The stream is open (tests wait for this before changing what the page shows).
  source.addEventListener("ready", function () { document.body.setAttribute("data-live", "open"); });
  // The reason travels with the tab: signing out here also ends this stream, and whichever
  // of the two navigations wins, the sign-in page says why (as guard.js does).
  source.addEventListener("session_ended", function (e) {
    source.close();
    var reason = "";
    try { reason = JSON.parse(e.data).reason || ""; } catch (err) { /* the page says why anyway */ }
    location.href = PREFIX + "/login" + (reason ? "?reason=" + encodeURIComponent(reason) : "");
  });
  // What a refresh of the list changed, in words, for the polite status region: sessions
  // that ended and people who signed in, by comparing each card's count before and after.
  function sessionCounts(root) {
    var out = {};
    root.querySelectorAll(".card[data-sessions]").forEach(function (c) {
      out[c.getAttribute("data-id")] = { name: c.getAttribute("data-name"), n: +c.getAttribute("data-sessions") };
    });
    return out;
  }
  function describeChanges(before, after) {
    var ended = [], endedTotal = 0, started = [];
    Object.keys(after).forEach(function (id) {
      var b = before[id], a = after[id];
      if (!b) return;
      if (a.n < b.n) { ended.push({ name: a.name, n: b.n - a.n }); endedTotal += b.n - a.n; }
      if (a.n > 0 && b.n === 0) started.push(a.name);
    });
    var parts = [];
    if (ended.length === 1) {
      parts.push(ended[0].name + "'s " + (ended[0].n === 1 ? "session" : ended[0].n + " sessions") + " ended");
    } else if (ended.length > 1) {
      parts.push(endedTotal + " sessions of " + ended.length + " people ended");
    }
    if (started.length === 1) parts.push(started[0] + " signed in");
    else if (started.length > 1) parts.push(started.length + " people signed in");
    return parts.join(". ");
  }
  function announce(text) {
    var region = document.getElementById("live-status");
    if (!region || !text) return;
    region.textContent = text;
  }
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
          var said = describeChanges(sessionCounts(current), sessionCounts(fresh));
          current.replaceWith(fresh);
          announce(said);
          localTimes(fresh);
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
