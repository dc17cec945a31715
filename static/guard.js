// Deskward's guard for the app behind the proxy (docs/reverse-proxy.md), included by the app's
// pages or injected by the proxy:
//   <script src="/deskward/guard.js" defer></script>
// While the tab is open it holds Deskward's event stream, so an agent counts as present (Online)
// as in a Deskward tab. When the session ends, for whatever reason, the tab goes to Deskward's
// sign-in page with the reason and the way back (rd). Without JavaScript the app still works:
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

  function connect() {
    if (leaving) return;
    source = new EventSource(base + "/api/v1/events");
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
