// Deskward's guard for the app behind the proxy (docs/reverse-proxy.md), included by the app's
// pages or injected by the proxy:
//   <script src="/deskward/guard.js" defer></script>
// While the tab is open it holds Deskward's event stream, so an agent counts as present (Online)
// as in a Deskward tab. When the session ends, for whatever reason, the tab goes to Deskward's
// sign-in page with the reason and the way back (rd). A minute before the session would end for
// inactivity it shows a warning with "Stay signed in". Without JavaScript the app still works:
// the proxy refuses the next request of an ended session anyway.
//
// DeskwardGuard.signOut(rd) is the app's sign-out button: it opens Deskward's "Sign out?" page,
// which ends the session once confirmed and then goes to rd (by default this page, so the
// next sign-in comes back here).
(function () {
  "use strict";
  // Included and injected both: one guard is enough.
  if (window.deskwardGuard) return;
  window.deskwardGuard = true;
  var script = document.currentScript;
  if (!script) return;
  // Deskward's root, --path-prefix included: where this script came from.
  var base = script.src.replace(/\/guard\.js([?#].*)?$/, "");
  window.DeskwardGuard = {
    signOut: function (rd) {
      location.href = base + "/logout?rd=" + encodeURIComponent(rd || location.href);
    }
  };
  if (!window.EventSource || !window.fetch) return;
  var source = null;
  var retry = null;
  var leaving = false;

  function signIn(reason) {
    if (leaving) return;
    leaving = true;
    if (source) source.close();
    var to = base + "/login?";
    if (reason) to += "reason=" + encodeURIComponent(reason) + "&";
    location.href = to + "rd=" + encodeURIComponent(location.href);
  }

  // The stream was refused or closed for good: either the session is gone (sign in again)
  // or Deskward is out of reach for now (try again later).
  function check() {
    fetch(base + "/api/v1/me", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (r.status === 401) signIn(""); else later(); })
      .catch(later);
  }

  function later() {
    if (retry || leaving) return;
    retry = setTimeout(function () { retry = null; connect(); }, 5000);
  }

  // The warning before the session ends. Deskward's stream says when (`session_expiring`, a
  // minute ahead: a background tab's own timers may run once a minute, the server's do not)
  // and when activity in any tab moved the end (`session_extended`). "Stay signed in" makes
  // one request to Deskward, which counts as activity like any other.
  var warning = null;
  var countdown = null;
  var focusBefore = null;

  function css(el, rules) {
    // Set property by property: a Content-Security-Policy without 'unsafe-inline' for styles
    // refuses style attributes written as text, not these.
    for (var k in rules) el.style[k] = rules[k];
  }

  function clearWarning() {
    if (countdown) { clearInterval(countdown); countdown = null; }
    if (!warning) return;
    var had = warning.contains(document.activeElement);
    warning.remove();
    warning = null;
    if (had && focusBefore && focusBefore.focus) focusBefore.focus();
  }

  function clock(ms) {
    try {
      return new Date(ms).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", timeZoneName: "short" })
        .replace(/\bGMT(?=[+-])/, "UTC");
    } catch (err) {
      return new Date(ms).toISOString().slice(11, 16) + " UTC";
    }
  }

  function warn(info) {
    clearWarning();
    var ends = Date.parse(info.expires_at);
    if (isNaN(ends)) return;
    // The server's clock decides; this only counts down the seconds it gave.
    var until = Date.now() + Math.max(0, info.seconds_left || 0) * 1000;
    focusBefore = document.activeElement;
    var box = document.createElement("div");
    box.id = "deskward-expiry";
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-modal", "false");
    box.setAttribute("aria-labelledby", "deskward-expiry-title");
    box.setAttribute("aria-describedby", "deskward-expiry-text");
    css(box, {
      position: "fixed", top: "16px", left: "50%", transform: "translateX(-50%)", zIndex: "2147483647",
      maxWidth: "32rem", width: "calc(100% - 32px)", boxSizing: "border-box", padding: "16px 20px",
      background: "#ffffff", color: "#1a1a1a", border: "2px solid #1a1a1a", borderRadius: "8px",
      boxShadow: "0 4px 16px rgba(0,0,0,.25)", font: "16px/1.4 system-ui, sans-serif", textAlign: "left"
    });
    var title = document.createElement("p");
    title.id = "deskward-expiry-title";
    css(title, { margin: "0 0 6px", fontWeight: "700" });
    var text = document.createElement("p");
    text.id = "deskward-expiry-text";
    css(text, { margin: "0 0 12px" });
    var left = document.createElement("span");
    function tick() {
      var s = Math.max(0, Math.round((until - Date.now()) / 1000));
      left.textContent = s > 0 ? " (in " + s + " second" + (s === 1 ? "" : "s") + ")" : "";
    }
    var button = document.createElement("button");
    button.type = "button";
    button.id = "deskward-stay";
    css(button, {
      font: "inherit", fontWeight: "600", padding: "8px 16px", cursor: "pointer", minHeight: "44px",
      background: "#0b4fb3", color: "#ffffff", border: "2px solid #0b4fb3", borderRadius: "6px"
    });
    if (info.extendable === false) {
      title.textContent = "Your session is ending";
      text.textContent = "Your session reaches the longest time it may last at " + clock(ends) +
        "; you will need to sign in again then.";
      button.textContent = "OK";
      button.addEventListener("click", clearWarning);
    } else {
      title.textContent = "You will be signed out soon";
      text.textContent = "Nothing has happened in this session for a while, so it ends at " + clock(ends) + ".";
      button.textContent = "Stay signed in";
      button.addEventListener("click", function () { stay(button); });
    }
    text.appendChild(left);
    box.appendChild(title);
    box.appendChild(text);
    box.appendChild(button);
    (document.body || document.documentElement).appendChild(box);
    warning = box;
    tick();
    countdown = setInterval(tick, 1000);
    button.focus({ preventScroll: true });
  }

  // One request that counts as activity (a read: no CSRF token needed). The stream then says
  // `session_extended` to every tab of the session; this one clears at once.
  function stay(button) {
    button.disabled = true;
    fetch(base + "/api/v1/me", { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { signIn(""); return; }
        if (!r.ok) throw new Error("status " + r.status);
        clearWarning();
      })
      .catch(function () {
        button.disabled = false;
        var text = document.getElementById("deskward-expiry-text");
        if (text) text.textContent = "Deskward could not be reached. Try again in a moment.";
      });
  }

  function connect() {
    if (leaving) return;
    source = new EventSource(base + "/api/v1/events");
    source.addEventListener("session_expiring", function (e) {
      try { warn(JSON.parse(e.data)); } catch (err) { /* nothing to show */ }
    });
    source.addEventListener("session_extended", clearWarning);
    source.addEventListener("session_ended", function (e) {
      var reason = "";
      try { reason = JSON.parse(e.data).reason || ""; } catch (err) { /* the page says why anyway */ }
      signIn(reason);
    });
    source.onerror = function () {
      // While CONNECTING the browser retries by itself (a network blip, a restart).
      if (source.readyState === EventSource.CLOSED) check();
    };
  }

  // A page kept for Back must not hold its stream: browsers allow few connections per host.
  window.addEventListener("pagehide", function () { if (source) source.close(); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) connect(); });
  connect();
})();
