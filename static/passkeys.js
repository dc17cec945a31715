// Passkeys on the Sign-in methods page (registering) and in the sign-in's second step: the
// WebAuthn ceremonies through the JSON API. Options and answers travel as base64url, which
// navigator.credentials takes and gives as ArrayBuffers.
(function () {
  "use strict";
  var PREFIX = document.body.getAttribute("data-prefix") || "";

  function toBuf(b64) {
    var s = b64.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function csrf() {
    var m = document.querySelector("meta[name=csrf-token]");
    return m ? m.getAttribute("content") : "";
  }
  function post(path, body) {
    return fetch(PREFIX + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || ("HTTP " + r.status));
        return j;
      });
    });
  }
  function say(el, text) {
    if (el) { el.textContent = text; el.hidden = false; }
  }

  var add = document.getElementById("add-passkey");
  if (add) {
    add.addEventListener("submit", function (e) {
      e.preventDefault();
      var out = document.getElementById("passkey-message");
      var name = add.querySelector("input[name=name]").value;
      var password = add.querySelector("input[name=password]").value;
      post("/api/v1/me/mfa/passkeys/options", { password: password }).then(function (start) {
        var pk = start.options.publicKey;
        pk.challenge = toBuf(pk.challenge);
        pk.user.id = toBuf(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          return post("/api/v1/me/mfa/passkeys", {
            registration: start.registration,
            name: name,
            credential: {
              id: cred.id,
              rawId: toB64(cred.rawId),
              type: cred.type,
              response: {
                attestationObject: toB64(cred.response.attestationObject),
                clientDataJSON: toB64(cred.response.clientDataJSON)
              },
              extensions: {}
            }
          });
        });
      }).then(function () {
        window.location.reload();
      }, function (err) {
        say(out, "The passkey was not added: " + err.message);
      });
    });
  }

  var use = document.getElementById("use-passkey");
  if (use) {
    use.hidden = false;
    use.addEventListener("click", function () {
      var challenge = use.getAttribute("data-challenge");
      var rd = use.getAttribute("data-rd") || undefined;
      var out = document.getElementById("passkey-message");
      post("/api/v1/auth/login/mfa/passkey-options", { challenge: challenge }).then(function (opts) {
        var pk = opts.publicKey;
        pk.challenge = toBuf(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (cred) {
        return post("/api/v1/auth/login/mfa", {
          challenge: challenge,
          rd: rd,
          credential: {
            id: cred.id,
            rawId: toB64(cred.rawId),
            type: cred.type,
            response: {
              authenticatorData: toB64(cred.response.authenticatorData),
              clientDataJSON: toB64(cred.response.clientDataJSON),
              signature: toB64(cred.response.signature),
              userHandle: cred.response.userHandle ? toB64(cred.response.userHandle) : null
            },
            extensions: {}
          }
        });
      }).then(function (done) {
        window.location.assign(done.redirect_to || (PREFIX + "/"));
      }, function (err) {
        say(out, "The passkey did not sign you in: " + err.message);
      });
    });
  }
})();
