// lib.mjs - what the console's browser tests share: Debian's Chromium
// driven by puppeteer-core (no browser is downloaded), trusting only the
// test server's own key, every page error and CSP violation collected, and
// screenshots into the build folder so that a failing run can be looked at.
//
// Environment: FL_URL (the server), FL_SPKI (base64 SHA-256 of the server
// certificate's public key), FL_SHOTS (the screenshot folder), CHROMIUM
// (default /usr/bin/chromium).
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

export const URL = process.env.FL_URL;
const SHOTS = process.env.FL_SHOTS || '.';

export async function launch() {
  const args = [
    // trust the test server's key and nothing else that is self-signed
    '--ignore-certificate-errors-spki-list=' + process.env.FL_SPKI,
    '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage',
  ];
  // Chromium's sandbox needs user namespaces that root in a container lacks
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
    userDataDir: fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'fl-chromium-')),
  });
}

// A page of width w, with page.problems: uncaught errors, console errors
// (CSP violations among them) and failed requests other than the API's own
// refusals, which the tests provoke.
export async function open(browser, w = 1280, h = 900) {
  const page = await browser.newPage();
  await page.setViewport({ width: w, height: h });
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text()))
      page.problems.push('console: ' + m.text());
  });
  page.on('requestfailed', (r) => page.problems.push('request failed: ' + r.url()));
  return page;
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

// The texts of the cells of the rows under selector.
export async function rows(page, selector) {
  return page.$$eval(selector + ' tr', (trs) =>
    trs.map((tr) => [...tr.children].map((td) => td.textContent)));
}

export async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      if ((last = await fn())) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + ' (last: ' + last + ')');
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function check(ok, what) {
  if (!ok) throw new Error(what);
}

// Runs body(browser); prints "1 passed, 0 failed" as the integration tests
// do, or the failure, and exits non-zero.
export async function run(body) {
  const browser = await launch();
  try {
    await body(browser);
    console.log('1 passed, 0 failed');
  } catch (e) {
    console.error('FAIL: ' + e.message);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
