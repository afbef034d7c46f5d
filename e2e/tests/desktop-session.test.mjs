// A desktop in the browser, end to end: the real proxy's RDP client (IronRDP) against
// FreeRDP's shadow server (NLA) on an Xvfb display, and Chromium running the page and
// its decoding worker (IronRDP in wasm). What the canvas shows is compared with the X
// server's own framebuffer; keys, clicks and the wheel are checked where they land, in
// an xterm on the desktop that writes everything it receives to a file.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  compareImages, launchBrowser, readPng, screenshot, signedInPage, startProxy, startShadowDesktop, until,
} from '../lib/harness.mjs';

const PASSWORD = 'desktop pass 42';
const artifacts = path.join(import.meta.dirname, '..', 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });
let proxy;
let desktop;
let browser;

before(async () => {
  proxy = await startProxy(`
[roles.lab]
desktop_labels = { env = "lab" }
desktop_users = ["alice"]
recordings = "own"

[roles.elsewhere]
desktop_labels = { env = "prod" }
desktop_users = ["*"]
`);
  desktop = await startShadowDesktop({ user: 'alice', password: PASSWORD, scene: true, text: 'hello from the desktop' });
  const added = proxy.run(['desktops', 'add', 'lab', '--addr', `127.0.0.1:${desktop.port}`, '--labels', 'env=lab', '--user', 'alice'], `${PASSWORD}\n`);
  assert.equal(added.status, 0, added.err);
  const checked = proxy.run(['desktops', 'check', 'lab', '--trust-first-use']);
  assert.equal(checked.status, 0, checked.err);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await desktop?.stop();
  await proxy?.stop();
});

/** The user's finished desktop recording, from `gatehouse recordings list`. */
function finishedRecording(user) {
  return proxy.cli('recordings', 'list').split('\n').filter(Boolean).map((line) => JSON.parse(line))
    .find((r) => r.user === user && r.kind === 'desktop' && r.ended_at);
}

/** Codec, size and length of a video file, as ffprobe reads them. */
function probeVideo(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', file], { encoding: 'utf8' });
  const { streams: [stream], format } = JSON.parse(out);
  return { codec: stream.codec_name, width: stream.width, height: stream.height, seconds: Number(format.duration) };
}

/** The video's last frame, decoded by ffmpeg. */
function lastFrame(file) {
  const png = execFileSync('ffmpeg', ['-v', 'error', '-sseof', '-0.5', '-i', file, '-update', '1', '-f', 'image2', '-c:v', 'png', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 64 << 20 });
  return readPng(png);
}

/** Opens the desktop from the resources page; resolves once it is connected. */
async function openDesktop(name, roles, errors) {
  const { page } = await signedInPage(proxy, browser, name, roles, errors, { viewport: { width: 1400, height: 1100 } });
  await page.goto(`${proxy.url}/`);
  await page.locator('[data-desktop="lab"] [data-testid="open-desktop"]').click();
  await page.waitForURL(/\/desktops\/lab$/);
  return page;
}

/** The canvas as the person sees it (the page at one device pixel per CSS pixel). */
async function canvasPixels(page) {
  return readPng(await page.locator('[data-testid="desktop-canvas"]').screenshot());
}

describe('a desktop in the browser', () => {
  test('the canvas shows what the desktop shows, pixel for pixel within compression', async () => {
    const errors = [];
    const page = await openDesktop('dana', ['lab'], errors);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    assert.match(await page.locator('[data-testid="desktop-status"]').textContent(), /Connected, 1024×768/);
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    assert.equal(await canvas.getAttribute('data-width'), '1024');
    // The desktop paints its first screen in pieces; wait until two looks agree.
    let shown;
    await until(async () => {
      const a = await canvasPixels(page);
      await new Promise((r) => setTimeout(r, 400));
      const b = await canvasPixels(page);
      shown = b;
      return compareImages(a, b, 0).offShare === 0 && compareImages(b, desktop.screen()).mean < 2;
    }, 'the canvas settles on the desktop', 20_000).catch(() => {});
    const truth = desktop.screen();
    assert.equal(shown.width, 1024);
    assert.equal(shown.height, 768);
    const diff = compareImages(shown, truth);
    fs.writeFileSync(path.join(artifacts, 'desktop-canvas-vs-framebuffer.txt'), `mean ${diff.mean}\noff ${diff.offShare}\n`);
    assert.ok(diff.mean < 2 && diff.offShare < 0.01, `canvas vs framebuffer: mean ${diff.mean.toFixed(3)}, ${(diff.offShare * 100).toFixed(2)}% pixels off`);
    // And not by accident: the solid window is there, in its colour, where X put it.
    const at = (img, x, y) => [...img.rgba.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];
    const green = at(shown, 700, 120);
    assert.ok(Math.abs(green[0] - 0x2a) < 8 && Math.abs(green[1] - 0x9d) < 8 && Math.abs(green[2] - 0x5c) < 8, `solid window colour ${green}`);
    await screenshot(page, '50-desktop-canvas');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('keys, clicks, the wheel and Ctrl+Alt+Del reach the desktop', async () => {
    const errors = [];
    const page = await openDesktop('dora', ['lab'], errors);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    // The probe xterm sits at (20, 520) on the desktop; X gives focus to the window
    // under the pointer.
    const probe = { x: box.x + 200, y: box.y + 560 };
    await page.mouse.move(probe.x, probe.y);
    const before = desktop.received().length;
    await page.keyboard.type('typed in chromium 123');
    // Keys travel by position and the desktop's layout makes the characters: Shift
    // held with the key for 1 makes '!', with A a capital.
    await page.keyboard.press('Shift+Digit1');
    await page.keyboard.press('Shift+KeyA');
    await until(() => desktop.received().subarray(before).toString().includes('typed in chromium 123!A'), 'typed text arrives');
    await page.mouse.click(probe.x, probe.y);
    await until(() => desktop.received().includes(Buffer.from('\x1b[M ')), 'a left click is reported (button 0 pressed)');
    await page.mouse.wheel(0, -100);
    await until(() => desktop.received().includes(Buffer.from('\x1b[M`')), 'a wheel step up is reported (button 4)');
    await page.mouse.wheel(0, 100);
    await until(() => desktop.received().includes(Buffer.from('\x1b[Ma')), 'a wheel step down is reported (button 5)');
    await page.locator('[data-testid="ctrl-alt-del"]').click();
    await page.mouse.move(probe.x, probe.y);
    await until(() => desktop.received().includes(Buffer.from('\x1b[3;7~')), 'Ctrl+Alt+Del arrives as Ctrl+Alt+Delete');
    await screenshot(page, '51-desktop-typed');
    // The session was recorded, and the recording is a desktop recording.
    await page.locator('[data-testid="disconnect"]').click();
    await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor();
    const listed = await until(() => finishedRecording('dora'), 'the recording is listed and finished').catch(() => null);
    assert.ok(listed, 'a finished desktop recording for dora');
    assert.equal(listed.target, 'lab');
    assert.equal(listed.login, 'alice');
    assert.deepEqual(errors, []);
  });

  test('the recording plays in the player and shows what the live session showed at the same moments', async () => {
    const errors = [];
    const page = await openDesktop('pia', ['lab'], errors);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    /** Waits until the canvas stops changing; returns it. */
    const settled = async (p, locator) => {
      let last = null;
      return until(async () => {
        const now = readPng(await p.locator(locator).screenshot());
        const same = last && compareImages(last, now, 0).offShare === 0;
        last = now;
        if (!same) await new Promise((r) => setTimeout(r, 300));
        return same && now;
      }, 'the canvas settles', 20_000);
    };
    const before = await settled(page, '[data-testid="desktop-canvas"]');
    const quietFrom = Date.now();
    // Quiet for over five seconds, so the recording has a keyframe after it.
    await new Promise((r) => setTimeout(r, 6000));
    const quietTo = Date.now();
    const box = await page.locator('[data-testid="desktop-canvas"]').boundingBox();
    await page.mouse.move(box.x + 200, box.y + 560);
    await page.keyboard.type('recorded words');
    await until(() => desktop.received().toString().includes('recorded words'), 'typed text arrives');
    await new Promise((r) => setTimeout(r, 1500));
    const afterTyping = await settled(page, '[data-testid="desktop-canvas"]');
    assert.ok(compareImages(before, afterTyping).offShare > 0.0001, 'the typed words show on the desktop');
    await page.locator('[data-testid="disconnect"]').click();
    await page.locator('[data-testid="desktop-status"][data-state="closed"]').waitFor();

    const { id } = await until(() => finishedRecording('pia'), 'the recording is finished');
    await page.goto(`${proxy.url}/recordings/${id}`);
    const player = page.locator('[data-testid="player"][data-kind="desktop"]');
    await player.waitFor();
    await page.locator('[data-testid="timeline"]:enabled').waitFor();
    const meta = await page.evaluate(async (rid) => (await fetch(`/api/v1/recordings/${rid}`)).json(), id);
    assert.equal(meta.kind, 'desktop');
    const cast = await page.evaluate(async (rid) => { const r = await fetch(`/api/v1/recordings/${rid}/cast`); return { status: r.status, body: await r.json() }; }, id);
    assert.equal(cast.status, 422);
    assert.match(cast.body.message, /desktop recording: it has no terminal text/);
    const seek = async (ms) => {
      await page.locator('[data-testid="timeline"]').evaluate((el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', { bubbles: true })); }, ms);
      await page.locator(`[data-testid="player-canvas"][data-seeked="${ms}"]`).waitFor({ timeout: 15_000 });
      return readPng(await page.locator('[data-testid="player-canvas"]').screenshot());
    };
    const quietMiddle = Math.round(((quietFrom + quietTo) / 2 - meta.started_at_ms) / 100) * 100;
    const atEnd = Math.floor(meta.duration_ms / 100) * 100;
    const shots = {};
    for (const [name, ms] of [['quiet', quietMiddle], ['end', atEnd], ['quiet again', quietMiddle]]) {
      shots[name] = await seek(ms);
    }
    const same = (a, b) => compareImages(a, b);
    for (const [name, live] of [['quiet', before], ['end', afterTyping], ['quiet again', before]]) {
      const diff = same(shots[name], live);
      assert.ok(diff.mean < 0.5 && diff.offShare < 0.001, `${name}: player vs live differ (mean ${diff.mean.toFixed(3)}, ${(diff.offShare * 100).toFixed(3)}% off)`);
    }
    await screenshot(page, '53-desktop-player');
    // The terminal player's controls, the same component: the keys (a digit jumps to that
    // tenth, so 0 to the start), the time under the pointer on the timeline, idle skip.
    await player.focus();
    await page.keyboard.press('0');
    await page.locator('[data-testid="player-canvas"][data-seeked="0"]').waitFor({ timeout: 15_000 });
    const line = await page.locator('[data-testid="timeline"]').boundingBox();
    await page.mouse.move(line.x + line.width / 2, line.y + line.height / 2);
    const hover = page.locator('[data-testid="hover-time"]');
    await hover.waitFor();
    assert.match(await hover.innerText(), /^\d+:\d\d$/);
    await screenshot(page, '53b-desktop-player-hover');
    assert.equal(await page.locator('[data-testid="idle-limit"]').inputValue(), '2000', 'idle skip over 2 s, as in the terminal player');
    await page.locator('[data-testid="idle-limit"]').selectOption('0');
    // And it plays: from the quiet moment to the end.
    await seek(quietMiddle);
    await page.locator('[data-testid="speed"]').selectOption('4');
    await page.locator('[data-testid="play-pause"]').click();
    await until(async () => Number(await page.locator('[data-testid="player-canvas"]').getAttribute('data-position')) > quietMiddle + 1000, 'playback moves');

    // Exported as a video: the proxy makes it with ffmpeg, the page follows its progress
    // and offers the file; its last frame is the screen the session ended on.
    await page.locator('[data-testid="export-video"]').click();
    await page.locator('[data-testid="video-progress"], [data-testid="download-video"]').first().waitFor({ timeout: 15_000 });
    const download = page.locator('[data-testid="download-video"]');
    await download.waitFor({ timeout: 180_000 });
    await screenshot(page, '53c-desktop-player-video');
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    const webm = path.join(artifacts, 'desktop-recording.webm');
    await file.saveAs(webm);
    const video = probeVideo(webm);
    assert.deepEqual([video.codec, video.width, video.height], ['vp8', 1024, 768]);
    assert.ok(Math.abs(video.seconds - meta.duration_ms / 1000) < 1, `the video lasts as long as the recording: ${video.seconds} s vs ${meta.duration_ms} ms`);
    const last = lastFrame(webm);
    const diff = compareImages(last, afterTyping, 48);
    console.log(`video's last frame against the live screen: mean ${diff.mean.toFixed(2)}, ${(diff.offShare * 100).toFixed(2)}% off`);
    assert.ok(diff.mean < 6 && diff.offShare < 0.02, `the video ends on the session's last screen (mean ${diff.mean.toFixed(2)}, ${(diff.offShare * 100).toFixed(2)}% off)`);
    const bad = await page.evaluate(async (rid) => { const r = await fetch(`/api/v1/recordings/${rid}/video?format=gif`); return { status: r.status, body: await r.json() }; }, id);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /WebM or MP4/);

    // Someone else with the same role (recordings = "own") cannot start, follow or take
    // pia's video: the recording does not exist for them.
    const other = await signedInPage(proxy, browser, 'quinn', ['lab'], []);
    await other.page.goto(`${proxy.url}/`);
    const theirs = await other.page.evaluate(async (rid) => {
      const { csrf_token: csrf } = await (await fetch('/api/v1/session')).json();
      const base = `/api/v1/recordings/${rid}/video?format=webm`;
      const start = await fetch(base, { method: 'POST', headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: 'null' });
      const status = await fetch(base);
      const file = await fetch(`/api/v1/recordings/${rid}/video/file?format=webm`);
      return [start.status, status.status, file.status];
    }, id);
    assert.deepEqual(theirs, [404, 404, 404]);
    await other.context.close();
    assert.match(proxy.cli('audit', '--limit', '500'), new RegExp(`"kind":"recording.export","user":"pia".*${id} as video \\(webm\\): downloaded, \\d+ bytes`));

    // And from the command line, as MP4, with its progress on stderr.
    const mp4 = path.join(artifacts, 'desktop-recording.mp4');
    const exported = proxy.run(['recordings', 'export', id, '--output', mp4]);
    assert.equal(exported.status, 0, exported.err);
    assert.match(exported.err, /100% \(\d+ of \d+ frames\)/);
    assert.match(exported.err, /Wrote .*desktop-recording\.mp4 \(\d+ bytes, mp4 at 10 frames a second\)/);
    const h264 = probeVideo(mp4);
    assert.deepEqual([h264.codec, h264.width, h264.height], ['h264', 1024, 768]);
    assert.match(proxy.cli('audit', '--limit', '500'), new RegExp(`"kind":"recording.export","user":"pia".*${id} as video \\(webm\\)`));
    // The refused export above is the only failed request (and the wrong format).
    assert.deepEqual(errors.filter((e) => !/status of 422|status of 400/.test(e)), []);
    await page.close();
  });

  test('a desktop bigger than the window is scaled to fit, and the pointer still lands where it points', async () => {
    const errors = [];
    const { page } = await signedInPage(proxy, browser, 'sami', ['lab'], errors, { viewport: { width: 800, height: 620 } });
    await page.goto(`${proxy.url}/desktops/lab`);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    const canvas = page.locator('[data-testid="desktop-canvas"]');
    let box = await canvas.boundingBox();
    assert.ok(box.width < 800 && box.height < 620, `scaled down: ${box.width}x${box.height}`);
    assert.ok(Math.abs(box.width / box.height - 1024 / 768) < 0.01, 'the aspect ratio is kept');
    // The probe xterm's middle, in desktop pixels, mapped through the scale.
    const scale = box.width / 1024;
    await page.mouse.move(box.x + 200 * scale, box.y + 560 * scale);
    await page.keyboard.type('scaled');
    await until(() => desktop.received().toString().includes('scaled'), 'typing reaches the window under the scaled pointer');
    await page.setViewportSize({ width: 1400, height: 1100 });
    await until(async () => (await canvas.boundingBox()).width === 1024, 'one desktop pixel per CSS pixel once it fits');
    box = await canvas.boundingBox();
    assert.equal(box.height, 768);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('refusals and failures are sentences on the page', async () => {
    const errors = [];
    // A role without the desktop: the resources page has no Open, and the address
    // typed by hand is refused by the proxy.
    const { page } = await signedInPage(proxy, browser, 'eve', ['elsewhere'], errors, { viewport: { width: 1200, height: 900 } });
    await page.goto(`${proxy.url}/desktops/lab`);
    await page.locator('[data-testid="desktop-error"]').waitFor({ timeout: 20_000 });
    assert.match(await page.locator('[data-testid="desktop-error"]').textContent(), /do not give you access to the desktop lab/);
    // A wrong password on the desktop's side: the person learns it is the account.
    desktop.setPassword('changed on the server');
    try {
      const other = await openDesktop('dina', ['lab'], errors);
      await other.locator('[data-testid="desktop-error"]').waitFor({ timeout: 30_000 });
      assert.match(await other.locator('[data-testid="desktop-error"]').textContent(), /user name or password is probably wrong/);
      await screenshot(other, '52-desktop-wrong-password');
    } finally {
      desktop.setPassword(PASSWORD);
    }
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
  });

  test('bad input from a browser ends only that session, clearly, and its recording stays whole', async () => {
    const bob = await proxy.enrolAndSignIn('bob', ['lab']);
    /** Opens the desktop socket, waits for activation, sends `payload`; resolves on close. */
    const misbehave = (payload) => new Promise((resolve) => {
      const ws = new WebSocket(`wss://localhost:${proxy.port}/api/v1/desktops/lab/connect?width=800&height=600`, {
        headers: { cookie: bob.cookie, origin: proxy.url },
        ca: fs.readFileSync(path.join(proxy.dir, 'data', 'tls', 'cert.pem')),
      });
      let activated = false;
      ws.on('message', (data) => {
        if (!activated && data[0] === 0x0a) {
          activated = true;
          ws.send(payload);
        }
      });
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason), activated }));
      ws.on('error', () => {});
    });
    const garbage = await misbehave(Buffer.from([0xff, 0xff, 0xff]));
    assert.ok(garbage.activated);
    assert.equal(garbage.code, 4400);
    assert.match(garbage.reason, /a message the desktop protocol does not have/);
    // DesktopKey { scancode: 300, down: true }: no such key.
    const badKey = await misbehave(Buffer.from([0x12, 0x05, 0x08, 0xac, 0x02, 0x18, 0x01]));
    assert.equal(badKey.code, 4400);
    assert.match(badKey.reason, /refuses: a scan code must be below 256/);
    // A "response" that is not a frame acknowledgement: raw RDP is never forwarded.
    const raw = await misbehave(Buffer.from([0x0a, 0x04, 0x03, 0x00, 0x00, 0x04]));
    assert.equal(raw.code, 4400);
    assert.match(raw.reason, /not a frame acknowledgement/);
    const huge = await misbehave(Buffer.alloc(200 * 1024, 0x0a));
    assert.notEqual(huge.code, 1000, 'an oversized message ends the session');
    // The proxy goes on serving: health, and a well-behaved session still works.
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200);
    const fine = await new Promise((resolve) => {
      const ws = new WebSocket(`wss://localhost:${proxy.port}/api/v1/desktops/lab/connect`, {
        headers: { cookie: bob.cookie, origin: proxy.url },
        ca: fs.readFileSync(path.join(proxy.dir, 'data', 'tls', 'cert.pem')),
      });
      const frames = [];
      ws.on('message', (data) => { frames.push(data); if (frames.length >= 2) ws.close(1000); });
      ws.on('close', () => resolve(frames));
      ws.on('error', () => {});
    });
    assert.ok(fine.length >= 2 && fine[0][0] === 0x0a && fine[1][0] === 0x12, 'activation and graphics for the next session');
    // Each session's recording ended with the reason, and reads back to its end record.
    const recordings = await until(() => {
      const mine = proxy.cli('recordings', 'list').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.user === 'bob');
      return mine.length >= 5 && mine.every((r) => r.ended_at) && mine;
    }, 'bob\'s five recordings are finished');
    assert.ok(recordings.some((r) => /a scan code must be below 256/.test(r.end_reason)), JSON.stringify(recordings.map((r) => r.end_reason)));
    for (const r of recordings) {
      const file = fs.readFileSync(path.join(proxy.dir, 'data', 'recordings', `${r.id}.ghrec`));
      assert.equal(file.subarray(0, 8).toString(), 'GHREC01\n');
      assert.equal(file.length, r.bytes, 'the size the table says: nothing torn');
    }
  });

  test('a desktop that goes away mid-session: the page says so, the recording ends with why', async () => {
    const errors = [];
    const page = await openDesktop('gus', ['lab'], errors);
    await page.locator('[data-testid="desktop-status"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await desktop.stop();
    desktop = null;
    await page.locator('[data-testid="desktop-error"]').waitFor({ timeout: 20_000 });
    assert.match(await page.locator('[data-testid="desktop-error"]').textContent(), /The desktop closed the session/);
    await page.locator('[data-testid="reconnect"]').waitFor();
    await screenshot(page, '54-desktop-gone');
    const gone = await until(() => finishedRecording('gus'), 'the recording is finished');
    assert.match(gone.end_reason, /desktop closed/);
    assert.equal((await proxy.request('GET', '/api/v1/health')).status, 200);
  });
});
