// console_smoke.mjs - the console in Debian's Chromium against the real
// server and agents (tests/integration/test_console_browser.sh sets them
// up): the page's security headers; a wrong token refused, then the right
// one; the fleet's devices; a rollout named by its release (not
// "undefined@undefined"); the audit log newest first past 1,000 entries;
// no page error or CSP violation; the page at 1280 and at 420 px wide.
import { URL, check, open, rows, run, shot, until } from './lib.mjs';

const TOKEN = process.env.FL_TOKEN;
const RELEASE = process.env.FL_RELEASE;
const HEAD = Number(process.env.FL_AUDIT_HEAD);
const DEVICES = process.env.FL_DEVICES.split(' ');

await run(async (browser) => {
  for (const width of [1280, 420]) {
    const page = await open(browser, width);
    const resp = await page.goto(URL + '/', { waitUntil: 'load' });
    const h = resp.headers();
    const csp = h['content-security-policy'] || '';
    check(resp.status() === 200, 'the console answered ' + resp.status());
    check(/default-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) &&
      !/unsafe-inline|unsafe-eval/.test(csp), 'content security policy: ' + csp);
    check(h['x-content-type-options'] === 'nosniff', 'nosniff');
    await page.waitForSelector('#login:not([hidden])');

    await page.type('#token', 'flt_not-a-token');
    await page.click('#login-form button');
    await until('the refusal', async () => (await page.$eval('#login-error', (e) => e.textContent)));
    check(await page.$eval('#fleet', (e) => e.hidden), 'the fleet shown to a wrong token');
    await shot(page, 'console-refused-' + width);

    await page.$eval('#token', (e) => { e.value = ''; });
    await page.type('#token', TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('#fleet:not([hidden])');
    const devs = await until('the devices', async () => {
      const r = await rows(page, '#devices');
      return r.length === DEVICES.length && r;
    });
    check(JSON.stringify(devs.map((r) => r[0]).sort()) === JSON.stringify(DEVICES),
      'devices: ' + JSON.stringify(devs));
    check(devs.every((r) => r[1] === 'accepted' && r[2] === 'online'),
      'device states: ' + JSON.stringify(devs));
    const ro = await until('the rollout', async () => (await rows(page, '#rollouts'))[0]);
    check(ro[1] === RELEASE, 'the rollout names ' + JSON.stringify(ro[1]) + ', not ' + RELEASE);
    const audit = await until('the audit log', async () => {
      const r = await rows(page, '#audit');
      return r.length && r;
    });
    check(Number(audit[0][0]) >= HEAD, 'the newest audit entry shown is ' + audit[0][0] +
      ', the log holds ' + HEAD);
    check(audit.every((r, i) => i === 0 || Number(r[0]) < Number(audit[i - 1][0])),
      'audit not newest first');
    // nothing wider than the window at either width
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(width === 1280 || over <= 0, 'the page is ' + over + ' px wider than ' + width);
    await shot(page, 'console-fleet-' + width);
    check(page.problems.length === 0, 'problems: ' + page.problems.join('; '));
    await page.close();
  }
});
