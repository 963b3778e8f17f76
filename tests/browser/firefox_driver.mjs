// Drives Debian's Firefox ESR for tests/browser/test_html_view_firefox.py.
//
// puppeteer-core speaks WebDriver BiDi to the system Firefox (it downloads no
// browser). The Python test writes one JSON command per line on stdin and reads
// one JSON answer per line on stdout: {"ok": result} or {"error": message}.
//
// Two independent witnesses record network use:
// - `requests`: every request Firefox reports over BiDi interception. A file://
//   page of the export must cause none; each one is aborted, never sent.
// - `leaked`: the first line of every connection that reached a local proxy
//   listener, which the fresh profile uses for HTTP and HTTPS. It catches
//   what interception might not see. Hosts under `canary.invalid` are let
//   through interception on purpose, so the test can show the proxy sees them.
// Console errors and warnings, uncaught page errors, Content-Security-Policy
// refusals and dialogs are recorded too.

import net from 'node:net';
import readline from 'node:readline';
import puppeteer from 'puppeteer-core';

const CANARY = '.canary.invalid';
const events = {requests: [], leaked: [], errors: [], dialogs: []};

const proxy = net.createServer((socket) => {
  socket.on('error', () => {});
  socket.once('data', (data) => {
    events.leaked.push(data.toString('latin1').split('\r\n')[0]);
    socket.destroy();
  });
});
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const port = proxy.address().port;

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.env.REASONKIT_FIREFOX,
  headless: true,
  // Release builds ignore services.settings.server unless this is set; without
  // it Firefox polls Mozilla's remote settings through the proxy.
  env: {...process.env, MOZ_REMOTE_SETTINGS_DEVTOOLS: '1'},
  extraPrefsFirefox: {
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': port,
    'network.proxy.ssl': '127.0.0.1',
    'network.proxy.ssl_port': port,
    'network.proxy.no_proxies_on': '',
    'network.proxy.allow_hijacking_localhost': true,
    'network.prefetch-next': false,
    'services.settings.server': 'data:,#remote-settings-dummy/v1',
  },
});
const page = await browser.newPage();
// Firefox reports Content-Security-Policy refusals to its web console, which
// BiDi does not relay; the page's own violation event does reach us this way.
await page.evaluateOnNewDocument(() => {
  document.addEventListener('securitypolicyviolation', (event) => {
    console.error(`CSP refused ${event.effectiveDirective}: ${event.blockedURI}`);
  });
});
await page.setRequestInterception(true);
page.on('request', (request) => {
  const url = request.url();
  if (url.startsWith('file:')) {
    request.continue();
    return;
  }
  events.requests.push(url);
  if (new URL(url).hostname.endsWith(CANARY)) request.continue();
  else request.abort();
});
page.on('console', (message) => {
  if (message.type() === 'error' || message.type() === 'warn') {
    events.errors.push(`${message.type()}: ${message.text()}`);
  }
});
page.on('pageerror', (error) => events.errors.push(`pageerror: ${error}`));
page.on('dialog', (dialog) => {
  events.dialogs.push(dialog.message());
  dialog.dismiss().catch(() => {});
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const commands = {
  async viewport({width, height}) {
    await page.setViewport({width, height});
    return null;
  },
  async open({url}) {
    await page.goto(url, {waitUntil: 'load'});
    return page.url();
  },
  async evaluate({js}) {
    return await page.evaluate(js);
  },
  // A real pointer click on the `nth` link whose trimmed text is `text`.
  async click({text, nth = 0}) {
    const links = [];
    for (const link of await page.$$('a')) {
      if ((await link.evaluate((a) => a.textContent.trim())) === text) links.push(link);
    }
    if (links.length <= nth) throw new Error(`no link ${JSON.stringify(text)} #${nth}`);
    await Promise.all([page.waitForNavigation({waitUntil: 'load'}), links[nth].click()]);
    return page.url();
  },
  async mouse({x, y}) {
    await page.mouse.move(x, y);
    return null;
  },
  async key({key}) {
    await page.keyboard.press(key);
    return null;
  },
  async screenshot({path, fullPage}) {
    await page.screenshot({path, fullPage});
    return null;
  },
  // What the witnesses saw since the last call (after a moment for stragglers).
  async events() {
    await sleep(150);
    const seen = {...events};
    for (const key of Object.keys(events)) events[key] = [];
    return seen;
  },
  async version() {
    return await browser.version();
  },
};

const lines = readline.createInterface({input: process.stdin});
for await (const line of lines) {
  const command = JSON.parse(line);
  if (command.cmd === 'close') break;
  let answer;
  try {
    const result = await commands[command.cmd](command);
    answer = {ok: result === undefined ? null : result};
  } catch (error) {
    answer = {error: String(error && error.stack ? error.stack : error)};
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
await browser.close();
proxy.close();
