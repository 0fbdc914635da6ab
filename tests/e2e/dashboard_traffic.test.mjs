// The dashboard's traffic view (issue #12, item 3) in a real headless
// Chromium, against a mesh of three arena-nodes with fake tabs, the first
// guarded by an API key: the view names the node whose traffic it is (the
// one the page came from), draws its three charts from GET /mesh/traffic
// (Chart.js from the node), asks only for newer buckets after the first
// read, and shows a request made with the openai SDK in its last-minute
// summary and charts within 2 s, an error in the errors-by-kind chart too.
// Canvases have accessible names; axe-core finds no serious violation; no
// console error; nothing wider than a 390 px phone. Screenshots:
// tests/e2e/artifacts/dashboard-traffic-{desktop,phone}.png.

import assert from 'node:assert/strict';
import {after, before} from 'node:test';
import {chromium} from 'playwright-core';
import {Arena, client, fake, http, waitForModels, waitFor} from '../integration/lib/harness.mjs';
import {CHROMIUM, screenshot} from './lib/harness.mjs';
import {axeCheck} from './lib/axe.mjs';

const KEY = 'sk-dash-traffic-e2e-58a0d3';
const DESKTOP = {
    width: 1200,
    height: 900
};
const PHONE = {
    width: 390,
    height: 844
};
const SHOWS_WITHIN_MS = 2000; // issue #12: a request shows in the traffic view within 2 s

const arena = new Arena();
let A, B, C, browser;

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];

before(async () => {
    A = await arena.startNode({name: 'traffic-a', apiKey: KEY});
    B = await arena.startNode({name: 'traffic-b', extraArgs: seedOf(A)});
    C = await arena.startNode({name: 'traffic-c', extraArgs: seedOf(A)});
    for (const n of [A, B, C]) await arena.startFakeLink(n, {tabs: 1});
    for (const n of [A, B, C]) await waitForModels(n);
    await waitFor(async () => {
        const r = await http(A, 'GET', '/mesh/status', {headers: A.authHeaders()});
        return (r.json?.nodes ?? []).filter((x) => x.state === 'alive').length === 3;
    }, {timeoutMs: 20000, intervalMs: 100, what: 'three alive nodes seen by traffic-a'});
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
        timeout: 30000,
    });
});

after(async () => {
    await browser?.close().catch(() => {});
    await arena.cleanup();
});

/*  The summary's numbers: the last minute's requests and errors by kind. */
const summary = (page) => page.$eval('#traffic-summary', (p) => ({
                                                             requests: Number(p.dataset.requests ?? -1),
                                                             errors: JSON.parse(p.dataset.errors ?? '{}'),
                                                             text: p.textContent,
                                                         }));

arena.test('the traffic view: a request and an error show within 2 s, charts named, phone width', async (t) => {
    const context = await browser.newContext({viewport: DESKTOP});
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    const reads = []; // every GET /mesh/traffic the page makes
    page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/mesh/traffic') reads.push(new URL(r.url()).search);
    });
    await page.goto(`${A.baseURL}/`);
    await page.waitForSelector('#keyform:not([hidden])');
    await page.fill('#key', KEY);
    await page.press('#key', 'Enter');
    await page.waitForSelector('#view-mesh:not([hidden])');

    // The traffic view: a button among the others, this node's traffic named.
    await page.click('nav button[data-view="traffic"]');
    await page.waitForSelector('#view-traffic:not([hidden])');
    assert.equal(await page.getAttribute('nav button[data-view="traffic"]', 'aria-current'), 'page');
    await page.waitForFunction(() => document.getElementById('traffic-summary').dataset.requests !== undefined);
    await page.waitForFunction(() => /traffic-a/.test(document.getElementById('traffic-node').textContent));
    assert.match(await page.textContent('#traffic-node'), /traffic-a \(the node this page came from\)/);
    const before0 = await summary(page);
    assert.equal(before0.requests, 0, before0.text);
    assert.match(before0.text, /^Last minute: 0\.00 requests\/s \(0 requests\).*no errors\.$/);
    // three charts, each a canvas with an accessible name, drawn by Chart.js
    const canvases = await page.$$eval('#view-traffic canvas', (cs) => cs.map((c) => ({
                                                                                  id: c.id,
                                                                                  role: c.getAttribute('role'),
                                                                                  label: c.getAttribute('aria-label'),
                                                                                  chart: !!window.Chart?.getChart(c),
                                                                              })));
    assert.deepEqual(canvases.map((c) => c.id), ['traffic-rate', 'traffic-ttfb', 'traffic-errors']);
    for (const c of canvases) {
        assert.equal(c.role, 'img', c.id);
        assert.match(c.label, /^Chart: .+last hour/, c.id);
        assert.ok(c.chart, `${c.id} is a Chart.js chart`);
    }

    // A request with the openai SDK: in the summary and the charts within 2 s of its end.
    const sdk = client(A, {apiKey: KEY});
    const r = await sdk.chat.completions.create(
        {model: 'fake-chat', messages: [{role: 'user', content: fake('text ttfb=250')}]});
    assert.match(r.choices[0].message.content, /fake arena/);
    let t0 = Date.now();
    await page.waitForFunction(
        () => document.getElementById('traffic-summary').dataset.requests === '1', null, {timeout: SHOWS_WITHIN_MS});
    t.diagnostic(`the request showed ${Date.now() - t0} ms after it ended`);
    const one = await summary(page);
    assert.match(one.text, /\(1 request\), time to first byte p50 \d+ ms, p99 \d+ ms, no errors\./);
    const p50 = Number(one.text.match(/p50 (\d+) ms/)[1]);
    assert.ok(p50 >= 225 && p50 < 2000, `p50 ${p50} ms for a first byte held 250 ms`);
    const drawn = await page.evaluate(() => {
        const sum = (id, i) => Chart.getChart(id).data.datasets[i].data.reduce((s, p) => s + (p.y || 0), 0);
        return {rate: sum('traffic-rate', 0), p50: sum('traffic-ttfb', 0), p99: sum('traffic-ttfb', 1)};
    });
    assert.ok(Math.abs(drawn.rate - 0.1) < 1e-9, `one request in a 10 s bucket is 0.1 req/s: ${drawn.rate}`);
    assert.ok(drawn.p50 >= 225 && drawn.p99 >= 225, JSON.stringify(drawn));

    // An error request: its kind in the summary and in the errors-by-kind chart within 2 s.
    const e = await sdk.chat.completions.create({model: 'no-such-model', messages: [{role: 'user', content: 'hi'}]})
                  .catch((err) => err);
    assert.equal(e.status, 404);
    t0 = Date.now();
    await page.waitForFunction(
        () => JSON.parse(document.getElementById('traffic-summary').dataset.errors || '{}').model_not_found === 1, null,
        {timeout: SHOWS_WITHIN_MS});
    t.diagnostic(`the error showed ${Date.now() - t0} ms after it ended`);
    const two = await summary(page);
    assert.equal(two.requests, 2);
    assert.deepEqual(two.errors, {model_not_found: 1});
    assert.match(two.text, /1 error: model_not_found 1\.$/);
    const bars = await page.evaluate(
        () => Chart.getChart('traffic-errors')
                  .data.datasets.map((d) => ({label: d.label, total: d.data.reduce((s, p) => s + p.y, 0)})));
    assert.deepEqual(bars, [{label: 'model_not_found', total: 1}]);
    // every bucket once, in order, however many times the newest was read again
    const rate = await page.evaluate(() => Chart.getChart('traffic-rate').data.datasets[0].data);
    assert.ok(rate.every((p, i) => i === 0 || p.x > rate[i - 1].x), JSON.stringify(rate));
    assert.ok(Math.abs(rate.reduce((s, p) => s + p.y, 0) - 0.2) < 1e-9, 'two requests: 0.2 req/s summed');

    // After the first read, only newer buckets are asked for.
    assert.equal(reads[0], '', 'the first read is the whole hour');
    assert.ok(reads.length >= 3, reads.join(' '));
    for (const q of reads.slice(1)) assert.match(q, /^\?since=\d+$/);
    // (the data are the node's: the view's last read agrees with GET /mesh/traffic)
    const doc = (await http(A, 'GET', '/mesh/traffic', {headers: A.authHeaders()})).json;
    assert.equal(doc.last_minute.requests, 2);

    // Accessibility: axe-core on the view, no serious or critical violation.
    await axeCheck(page, 'traffic', '#view-traffic');
    await screenshot(page, 'dashboard-traffic-desktop.png');

    // Phone width: the charts one above the other, nothing wider than the screen.
    await page.setViewportSize(PHONE);
    await page.waitForFunction((w) => document.documentElement.scrollWidth <= w, PHONE.width);
    const box = await page.$eval('#traffic-rate', (c) => c.getBoundingClientRect().width);
    assert.ok(box > 250 && box <= PHONE.width, `the chart is ${box}px wide`);
    await screenshot(page, 'dashboard-traffic-phone.png');

    assert.deepEqual(errors, [], 'no console errors');
    await context.close();
});
