// A real OpenID provider for the single sign-on tests: npm's oidc-provider (a certified
// OpenID Connect implementation), with its own development login and consent pages,
// which Chromium fills in as a person would. The accounts are the test's; `tamper`
// lets a test play the attacker between the provider's token endpoint and the proxy
// (or a misconfigured provider): the ID token re-signed with the provider's own key but
// for another audience or already expired, or its payload changed without re-signing.

import http from 'node:http';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import { freePort } from './harness.mjs';

/**
 * Starts the provider on a loopback port (`port`, or a free one). `clients`: [{ client_id, client_secret,
 * redirect_uris }]. `accounts`: { login: { groups, email, name } } (mutable: a test may
 * move someone between groups). Returns { issuer, accounts, tamper, stop }.
 */
export async function startIdp({ clients, accounts, port: wanted }) {
  const port = wanted ?? await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const signingKey = await importJWK(jwk, 'RS256');
  const tamper = { mode: null };

  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', ...c,
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: ['e2e-only-cookie-key-0123456789abcdef'] },
    pkce: { required: () => true },
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups'],
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, preferred_username: id, name: account.name ?? id, email: account.email ?? `${id}@corp.example`, email_verified: true, groups: account.groups };
        },
      };
    },
  });
  // Quiet: the provider logs every refused request, which the tests cause on purpose.
  provider.on('server_error', () => {});

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || !tamper.mode || !ctx.body?.id_token) return;
    const token = ctx.body.id_token;
    const claims = decodeJwt(token);
    const header = decodeProtectedHeader(token);
    const now = Math.floor(Date.now() / 1000);
    if (tamper.mode === 'tampered') {
      // The payload changed (a more powerful name), the signature left as it was.
      const [h, , s] = token.split('.');
      const forged = Buffer.from(JSON.stringify({ ...claims, preferred_username: 'admin', groups: ['ops'] })).toString('base64url');
      ctx.body = { ...ctx.body, id_token: `${h}.${forged}.${s}` };
      return;
    }
    const changed = tamper.mode === 'audience' ? { ...claims, aud: 'someone-else' } : { ...claims, iat: now - 7200, exp: now - 3600 };
    const resigned = await new SignJWT(changed).setProtectedHeader({ alg: header.alg, kid: header.kid, typ: header.typ }).sign(signingKey);
    ctx.body = { ...ctx.body, id_token: resigned };
  });

  const server = http.createServer(provider.callback());
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    issuer, accounts, tamper,
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * At the provider's own pages in `page`: types `login` and a password into its login
 * form, then answers its consent page (`consent`: 'continue' or 'cancel').
 */
export async function signInAtProvider(page, login, { consent = 'continue' } = {}) {
  await page.locator('input[name="login"]').waitFor({ timeout: 15_000 });
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password will do here');
  await page.locator('button[type="submit"]').click();
  // The consent page (first time for this client in this browser).
  const consentButton = page.locator('button:has-text("Continue")');
  await consentButton.waitFor({ timeout: 15_000 });
  if (consent === 'cancel') {
    await page.locator('a:has-text("Cancel")').click();
  } else {
    await consentButton.click();
  }
}
