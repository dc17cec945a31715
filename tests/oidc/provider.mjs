// A real OpenID provider for Deskward's single sign-on tests: the npm package oidc-provider
// (OpenID Certified) on a loopback port, with one client, its own sign-in page, PKCE required
// and back-channel logout, plus a small control port of the test's own.
//
// Usage: node tests/oidc/provider.mjs CONFIG.json
// CONFIG: {"client": {"client_id", "client_secret", "redirect_uri", "backchannel_logout_uri",
//          "token_endpoint_auth_method"?}, "users": [{"sub", "email", "email_verified", "name",
//          "password"?, "amr"?}], "claims_in_userinfo_only"?: bool}
// The provider directory (where `npm install oidc-provider` put node_modules) comes from
// DESKWARD_OIDC_PROVIDER_DIR.
//
// Once both ports listen it prints one line: `issuer http://127.0.0.1:P control http://127.0.0.1:Q`.
// The control port answers (JSON bodies):
//   POST /rotate                     a new signing key replaces the published one
//   POST /down, POST /up             the issuer port resets every connection / serves again
//   PUT  /users                      replaces the users ([{sub, email, ...}])
//   POST /logout-token {sub, sid?, variant?}  a logout token, as text: variant "good" (default),
//        "forged" (a key not published, same kid), "none" (alg none), "wrong_aud", "wrong_iss",
//        "no_events", "nonce", "old_iat"
//   POST /backchannel-logout {sub, sid?}  the provider's own back-channel logout of that subject
//        (sid when given) to the client's back-channel URI; answers {"status": N} from the client
//   GET  /backchannel-log            what the provider's own end-session sent and got back
//   POST /timings                    the time spent on each issuer request since the last call

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.DESKWARD_OIDC_PROVIDER_DIR;
if (!dir) {
  console.error('provider.mjs: DESKWARD_OIDC_PROVIDER_DIR is not set');
  process.exit(2);
}
const { default: Provider } = await import(
  pathToFileURL(join(dir, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const client = config.client;
let users = config.users ?? [];
const cookieKeys = [randomBytes(32).toString('hex')];
const backchannelLog = [];
let down = false;

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, jwk: { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' } };
}

function findUser(login) {
  return users.find((u) => u.sub === login || u.email === login);
}

const html = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The issuer's listener is bound first, so the issuer URL (its port) is known before the
// provider that names it is made.
const issuerServer = createServer();
await new Promise((ok) => issuerServer.listen(0, '127.0.0.1', ok));
const issuer = `http://127.0.0.1:${issuerServer.address().port}`;

function makeProvider(key) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: [client.redirect_uri],
      backchannel_logout_uri: client.backchannel_logout_uri,
      backchannel_logout_session_required: true,
      token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = html('Sign out of the test provider?', `${form}
            <button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
            <button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = html('Signed out of the test provider', '<p>You are signed out.</p>');
        },
      },
    },
    // Deskward listens on loopback in the tests: the provider's own guard against special-use
    // addresses (its dispatcher) would refuse the back-channel logout call.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
    },
    claims: {
      // amr with the openid scope: the ID token says how the person signed in.
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    conformIdTokenClaims: Boolean(config.claims_in_userinfo_only),
    async findAccount(ctx, sub) {
      const user = users.find((u) => u.sub === sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: user.email_verified,
            name: user.name,
          };
        },
      };
    },
    // First-party client: the grant covers what it asks for, no consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      grant.addOIDCClaims(['email', 'email_verified', 'name']);
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: [key.jwk] },
    cookies: { keys: cookieKeys },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = html('The test provider refused', `<pre>${escape(JSON.stringify(out))}</pre>`);
    },
  });
  // Why the provider refused the client, on stderr (the test's output) where it helps.
  for (const event of ['grant.error', 'userinfo.error', 'server_error']) {
    provider.on(event, (ctx, err) => console.error(`provider ${event}: ${err.message} ${err.error_detail ?? ''}`));
  }
  provider.on('backchannel.success', (ctx, c, sub, sid) => backchannelLog.push({ sub, sid, ok: true }));
  provider.on('backchannel.error', (ctx, err, c, sub, sid) => backchannelLog.push({ sub, sid, ok: false, error: String(err) }));
  return provider;
}

let key = newKey();
let provider = makeProvider(key);

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function loginPage(uid, error) {
  const alert = error ? `<p role="alert">${escape(error)}</p>` : '';
  return html('Sign in to the test provider', `${alert}
    <form method="post" action="/interaction/${uid}">
      <p><label for="login">E-mail</label> <input id="login" name="login" autocomplete="username" required></p>
      <p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password"></p>
      <p><button type="submit">Sign in</button></p>
    </form>`);
}

// The sign-in page: any known user, with their password when they have one.
async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login') {
    // A consent prompt despite the standing grant: grant what is missing.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(uid));
    return;
  }
  const form = await readForm(req);
  const user = findUser(form.get('login') ?? '');
  if (!user || (user.password !== undefined && user.password !== form.get('password'))) {
    res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
    res.end(loginPage(uid, 'Unknown e-mail or wrong password.'));
    return;
  }
  const login = { accountId: user.sub };
  if (user.amr) login.amr = user.amr;
  await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

// Down means unreachable for everyone: kept-alive connections are cut too, new ones reset.
const sockets = new Set();
issuerServer.on('connection', (socket) => {
  if (down) {
    socket.destroy();
    return;
  }
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
});
// How long the provider spent on each request (the benchmark subtracts it from Deskward's).
let timings = [];
issuerServer.on('request', (req, res) => {
  const t0 = process.hrtime.bigint();
  res.on('finish', () => {
    if (timings.length < 100000) {
      timings.push({
        method: req.method,
        path: new URL(req.url, issuer).pathname,
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      });
    }
  });
  const m = /^\/interaction\/([^/?]+)$/.exec(new URL(req.url, issuer).pathname);
  if (m) {
    interaction(req, res, m[1]).catch((err) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${err}`);
    });
    return;
  }
  provider.callback()(req, res);
});

function logoutToken({ sub, sid, variant = 'good' }) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'logout+jwt', kid: key.jwk.kid };
  const claims = {
    iss: issuer,
    aud: client.client_id,
    iat: now,
    exp: now + 120,
    jti: randomUUID(),
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
  };
  if (sub) claims.sub = sub;
  if (sid) claims.sid = sid;
  let signer = key.privateKey;
  switch (variant) {
    case 'good': break;
    case 'forged': signer = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey; break;
    case 'none': header.alg = 'none'; break;
    case 'wrong_aud': claims.aud = 'someone-else'; break;
    case 'wrong_iss': claims.iss = 'http://127.0.0.1:1'; break;
    case 'no_events': delete claims.events; break;
    case 'nonce': claims.nonce = randomUUID(); break;
    case 'old_iat': claims.iat = now - 3600; claims.exp = now - 3500; break;
    default: throw new Error(`unknown variant ${variant}`);
  }
  const input = `${b64url(header)}.${b64url(claims)}`;
  if (header.alg === 'none') return `${input}.`;
  return `${input}.${sign('sha256', Buffer.from(input), signer).toString('base64url')}`;
}

async function control(req, res) {
  const path = new URL(req.url, 'http://control').pathname;
  const reply = (status, body) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
    res.end(text);
  };
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'POST /rotate':
      key = newKey();
      provider = makeProvider(key);
      return reply(200, { kid: key.jwk.kid });
    case 'POST /down':
      down = true;
      for (const socket of sockets) socket.destroy();
      return reply(200, {});
    case 'POST /up':
      down = false;
      return reply(200, {});
    case 'PUT /users':
      users = await readJson(req);
      return reply(200, {});
    case 'POST /logout-token':
      return reply(200, logoutToken(await readJson(req)));
    case 'POST /backchannel-logout': {
      const body = await readJson(req);
      const r = await fetch(client.backchannel_logout_uri, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: logoutToken(body) }),
      });
      return reply(200, { status: r.status, body: await r.text() });
    }
    case 'POST /timings': {
      const all = timings;
      timings = [];
      return reply(200, all);
    }
    case 'GET /backchannel-log':
      return reply(200, backchannelLog);
    default:
      return reply(404, `no ${route}`);
  }
}

const controlServer = createServer((req, res) => {
  control(req, res).catch((err) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err?.stack ?? err));
  });
});
await new Promise((ok) => controlServer.listen(0, '127.0.0.1', ok));

console.log(`issuer ${issuer} control http://127.0.0.1:${controlServer.address().port}`);
