// First load of the app in Chromium: bytes over the wire (compressed, as served) and
// raw, and the time from navigation to a usable sign-in form, cold cache and warm. Then
// what signing in costs next: the whole app's first load (a signed-in browser opening
// `/` on a cold cache, to the resources page), since `/signin` is only the sign-in app.
// Last, signing in through the form as a person does: the form has the focus for 3 s
// (typing) before Sign in is pressed, and the clock runs from the press to the top bar;
// the sign-in app fetches the whole app during those 3 s, the whole app needs nothing.
// Run by ./scripts/bench; prints a Markdown table.

import { contextWithSession, launchBrowser, newContext, startProxy } from '../lib/harness.mjs';

const RUNS = 5;
// BENCH_NET=MBIT,RTT_MS (say 10,40) has Chromium emulate that link, so the bytes show as
// time as they would on a real network; unset, loopback.
const [MBIT, RTT] = (process.env.BENCH_NET || '').split(',').map(Number);

/** Network events on, and the emulated link if one was asked for. */
async function watch(cdp) {
  await cdp.send('Network.enable');
  if (MBIT) {
    const bytesPerSecond = (MBIT * 1e6) / 8;
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: RTT || 0, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond });
  }
}

async function load(context, url, ready = 'sign-in') {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await watch(cdp);
  let wire = 0;
  let raw = 0;
  cdp.on('Network.loadingFinished', (e) => { wire += e.encodedDataLength; });
  cdp.on('Network.dataReceived', (e) => { raw += e.dataLength; });
  const start = performance.now();
  await page.goto(url);
  await page.getByTestId(ready).waitFor();
  const ms = performance.now() - start;
  await page.close();
  return { wire, raw, ms };
}

async function signInThroughTheForm(context, url, name, password, authenticator) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await watch(cdp);
  await page.goto(url);
  await page.getByTestId('username').focus();
  await page.getByTestId('username').fill(name);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('totp').fill(await authenticator.nextCode());
  await page.waitForTimeout(3000);
  const start = performance.now();
  await page.getByTestId('sign-in').click();
  await page.getByTestId('current-user').waitFor();
  const ms = performance.now() - start;
  await page.close();
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const proxy = await startProxy();
const browser = await launchBrowser({ trustProxy: proxy });
try {
  const cold = [];
  const warm = [];
  const after = [];
  const form = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await newContext(browser, { ignoreHTTPSErrors: false });
    cold.push(await load(context, `${proxy.url}/signin`));
    warm.push(await load(context, `${proxy.url}/signin`));
    await context.close();
    const session = await proxy.enrolAndSignIn(`bench${i}`);
    const signedIn = await contextWithSession(browser, proxy, session.cookie, { ignoreHTTPSErrors: false });
    after.push(await load(signedIn, `${proxy.url}/`, 'current-user'));
    await signedIn.close();
    const password = 'a long enough password';
    const authenticator = await proxy.enrol(`form${i}`, ['dev'], password);
    const fresh = await newContext(browser, { ignoreHTTPSErrors: false });
    form.push(await signInThroughTheForm(fresh, `${proxy.url}/signin`, `form${i}`, password, authenticator));
    await fresh.close();
  }
  const kb = (n) => (n / 1024).toFixed(1);
  const link = MBIT ? `, over an emulated ${MBIT} Mbit/s link with ${RTT || 0} ms round trips` : '';
  console.log(`| first load of /signin${link} | bytes on the wire | bytes decoded | time to a usable form (median of 5) |`);
  console.log('|---|---|---|---|');
  console.log(`| cold cache | ${kb(median(cold.map((r) => r.wire)))} KiB | ${kb(median(cold.map((r) => r.raw)))} KiB | ${median(cold.map((r) => r.ms)).toFixed(0)} ms |`);
  console.log(`| warm cache (hashed files immutable) | ${kb(median(warm.map((r) => r.wire)))} KiB | ${kb(median(warm.map((r) => r.raw)))} KiB | ${median(warm.map((r) => r.ms)).toFixed(0)} ms |`);
  console.log(`| then the whole app: \`/\` signed in, cold cache, to the top bar | ${kb(median(after.map((r) => r.wire)))} KiB | ${kb(median(after.map((r) => r.raw)))} KiB | ${median(after.map((r) => r.ms)).toFixed(0)} ms |`);
  console.log(`\nSigning in through the form on a cold cache, 3 s of typing, from pressing Sign in to the top bar (median of 5): ${median(form).toFixed(0)} ms.`);
} finally {
  await browser.close();
  await proxy.stop();
}
