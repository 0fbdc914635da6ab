// The dashboard (issue #12, first step) in a real headless Chromium: a mesh of
// three arena-nodes, each with a fake tab (tests/support/fake_link_main.c),
// the first one guarded by an API key. The page asks for the key in its form
// (a wrong key is refused with a message), keeps it out of the URL, shows the
// three nodes alive and the fake tabs' models on every node, and shows a node
// killed with SIGKILL dead within the mesh's timing (dead after 5.5 s of
// silence, docs/mesh-protocol.md) plus the page's one-second poll. The models
// view says which node a request would go to now (the node's "routing"). A node
// without a tab opens the setup view by itself. No console error once the
// key is right. Screenshots of every view at desktop and phone width go to
// tests/e2e/artifacts/dashboard-*.png. Chart.js is loaded from the node
// (GET /assets/chart.js) into the page and runs.

import assert from 'node:assert/strict';
import {after, before, test} from 'node:test';
import {chromium} from 'playwright-core';
import {Arena, client, http, waitForModels, waitFor} from '../integration/lib/harness.mjs';
import {CHROMIUM, screenshot} from './lib/harness.mjs';
import {axeCheck} from './lib/axe.mjs';

const KEY = 'sk-dash-e2e-2b7f01c9';
const DESKTOP = {
    width: 1200,
    height: 800
};
const PHONE = {
    width: 390,
    height: 844
};
// dead_ms (5.5 s) + the page's poll (1 s) + slack for a loaded machine
const DEAD_WITHIN_MS = 12000;

const arena = new Arena();
let A, B, C, browser;

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];

async function aliveSeen(node, n) {
    return waitFor(async () => {
        const r = await http(node, 'GET', '/mesh/status', {headers: node.authHeaders()});
        const nodes = r.json?.nodes ?? [];
        return nodes.filter((x) => x.state === 'alive' && x.tabs?.count > 0).length >= n && r.json;
    }, {timeoutMs: 20000, intervalMs: 100, what: `${n} alive nodes with a tab seen by ${node.name}`});
}

const shot = (page, name) => screenshot(page, `dashboard-${name}.png`);

/*  A page on url with its console errors and page errors collected. */
async function open(url, viewport = DESKTOP) {
    const context = await browser.newContext({viewport});
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(url);
    return {page, errors, context};
}

async function view(page, name) {
    await page.click(`nav button[data-view="${name}"]`);
    await page.waitForSelector(`#view-${name}:not([hidden])`);
}

before(async () => {
    A = await arena.startNode({name: 'dash-a', apiKey: KEY});
    B = await arena.startNode({name: 'dash-b', extraArgs: seedOf(A)});
    C = await arena.startNode({name: 'dash-c', extraArgs: seedOf(A)});
    for (const n of [A, B, C]) await arena.startFakeLink(n, {tabs: n === A ? 2 : 1});
    for (const n of [A, B, C]) await waitForModels(n);
    await aliveSeen(A, 3);
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
        timeout: 30000
    });
});

after(async () => {
    await browser?.close().catch(() => {});
    await arena.cleanup();
});

arena.test('the key form, the mesh view, the models matrix; a killed node turns dead', async (t) => {
    const {page, errors, context} = await open(`${A.baseURL}/`);

    // The keyed node asks for the key before anything else.
    await page.waitForSelector('#keyform:not([hidden])');
    assert.match(await page.textContent('#keymsg'), /asks for an API key/);
    assert.equal(await page.getAttribute('#key', 'type'), 'password');
    await shot(page, 'key-desktop');

    // A wrong key: the node's 401 brings the form back with a clear message.
    await page.fill('#key', 'sk-wrong');
    await page.press('#key', 'Enter');
    await page.waitForFunction(() => /refused this key/.test(document.getElementById('keymsg').textContent));
    assert.ok(!(await page.isHidden('#keyform')));
    // The browser reports the 401 itself ("Failed to load resource"): expected here only.
    assert.ok(errors.every((e) => /401/.test(e)), errors.join('\n'));
    errors.length = 0;

    // The right key, entered with the keyboard only.
    await page.focus('#key');
    await page.keyboard.type(KEY);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#keyform', {state: 'hidden'});
    assert.ok(!page.url().includes(KEY), 'the key is not in the URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('arenamesh.key')), KEY);

    // Mesh view (the node has tabs: it opens on the mesh): three cards, alive.
    await page.waitForSelector('#view-mesh:not([hidden])');
    await page.waitForFunction(() => document.querySelectorAll('#nodes .card[data-state="alive"]').length === 3);
    const cards = await page.$$eval('#nodes .card', (cs) => cs.map((c) => ({name: c.dataset.node, text: c.innerText})));
    assert.deepEqual(cards.map((c) => c.name).sort(), ['dash-a', 'dash-b', 'dash-c']);
    const a = cards.find((c) => c.name === 'dash-a');
    assert.match(a.text, /this node/);
    assert.match(a.text, /2 \(2 healthy\)/);
    assert.match(a.text, /in flight \/ \d+/);
    assert.match(cards.find((c) => c.name === 'dash-b').text, /alive, heard/);
    await shot(page, 'mesh-desktop');
    await axeCheck(page, 'mesh');
    await axeCheck(page, 'key form', '#keyform'); // hidden now: checked on its own

    // Models × nodes: the fake tabs' models, served (ok) on all three nodes,
    // and which node a request sent to dash-a would go to now: dash-a itself
    // (its tabs are free, local tabs come first), marked in its cell.
    await view(page, 'models');
    // (the peers' catalogs reach dash-a by gossip: wait for all three cells)
    await page.waitForFunction(
        () => document.querySelectorAll('#models tr[data-model="fake-chat"] td.ok:not(.route)').length === 3);
    const row = await page.$$eval('#models tr[data-model="fake-chat"] td', (tds) => tds.map((td) => td.textContent));
    assert.equal(row.length, 5, row.join('|')); // modality, served now by, three nodes
    assert.equal(row[0], 'chat');
    assert.deepEqual(row.slice(2), ['ok · serves now', 'ok', 'ok']); // dash-a's column first
    const served = await page.$eval(
        '#models tr[data-model="fake-chat"] td.route',
        (td) => ({node: td.dataset.node, state: td.dataset.route, text: td.textContent}));
    assert.equal(served.node, 'dash-a');
    assert.equal(served.state, 'local');
    assert.match(served.text, /^dash-a.*tab of this node is free/);
    assert.equal(
        await page.$$eval('#models td.serves', (tds) => tds.length),
        await page.$$eval('#models tbody tr', (trs) => trs.length), 'one node serves each model now');
    const heads = await page.$$eval('#models thead th', (ths) => ths.map((th) => th.textContent));
    assert.match(heads[2], /^Served now by/);
    for (const n of ['dash-a', 'dash-b', 'dash-c']) assert.ok(heads.some((h) => h.startsWith(n)), heads.join('|'));
    await shot(page, 'models-desktop');
    await axeCheck(page, 'models');

    // Setup: the connect-a-tab steps, one click away.
    await view(page, 'setup');
    assert.match(await page.innerText('#view-setup'), /Connect a browser tab/);
    await shot(page, 'setup-desktop');
    await axeCheck(page, 'setup');
    // keyboard only: Tab moves from one view's button to the next, Enter opens it
    await page.focus('nav button[data-view="mesh"]');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-models:not([hidden])');
    assert.equal(await page.getAttribute('nav button[data-view="models"]', 'aria-current'), 'page');

    // Phone width: the same views, nothing wider than the screen.
    await page.setViewportSize(PHONE);
    for (const v of ['mesh', 'models', 'setup']) {
        await view(page, v);
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(wide <= PHONE.width, `${v}: the page is ${wide}px wide at ${PHONE.width}px`);
        await shot(page, `${v}-phone`);
        await axeCheck(page, `${v} (phone)`);
    }
    await page.setViewportSize(DESKTOP);
    await view(page, 'mesh');

    // A node killed turns dead on the mesh view within the mesh's timing.
    const t0 = Date.now();
    await C.stop('SIGKILL');
    await page.waitForSelector('#nodes .card[data-node="dash-c"][data-state="dead"]', {timeout: DEAD_WITHIN_MS});
    t.diagnostic(`dash-c shown dead ${Date.now() - t0} ms after SIGKILL`);
    await shot(page, 'mesh-dead-desktop');

    // Chart.js for the traffic view to come: served from the binary, no key needed.
    await page.addScriptTag({url: '/assets/chart.js'});
    assert.match(await page.evaluate(() => typeof Chart === 'function' && Chart.version), /^3\./);

    assert.deepEqual(errors, [], 'no console errors once the key is right');
    await context.close();
});

arena.test('a node without a tab opens the setup view by itself', async () => {
    const D = await arena.startNode({name: 'dash-lonely'});
    const {page, errors, context} = await open(`${D.baseURL}/`);
    await page.waitForSelector('#view-setup:not([hidden])');
    assert.ok(await page.isHidden('#view-mesh'));
    assert.ok(await page.isHidden('#keyform'), 'no key is asked for on a keyless node');
    assert.match(await page.innerText('#view-setup'), /Connect a browser tab/);
    // it stays there once the status has been read (the node still has no tab)
    await page.waitForFunction(() => /Updated/.test(document.getElementById('live').textContent));
    assert.ok(!(await page.isHidden('#view-setup')));
    await shot(page, 'setup-notab-desktop');
    assert.equal(await page.textContent('#setup-tabs'), '0');
    // a tab connects: the setup view's count follows within 2 s, no reload
    await arena.startFakeLink(D, {tabs: 1});
    await page.waitForFunction(
        () => document.getElementById('setup-tabs').textContent === '1', null,
        {timeout: 2000 + 1000}); // the poll's second, and the link's hello
    assert.notEqual(await page.textContent('#setup-models'), '0');
    assert.deepEqual(errors, []);
    await context.close();
});

arena.test('a paced tab shows until when, counting down; the models matrix says paced', async () => {
    const X = 'cccccccccccccccccccccccccccccccc';
    const P = await arena.startNode({name: 'dash-paced', pace: 'on', paceInterval: 30, paceWindow: '3/390'});
    await arena.startFakeLink(P, {tabs: 1, extraArgs: ['--account', X]});
    await waitForModels(P);
    await waitFor(async () => {
        const doc = (await http(P, 'GET', '/mesh/status')).json;
        return doc?.nodes?.find((n) => n.self)?.accounts?.some((a) => a.id === X);
    }, {timeoutMs: 5000, intervalMs: 50, what: 'dash-paced knows its tab\'s account'});
    await client(P).chat.completions.create({model: 'fake-chat', messages: [{role: 'user', content: 'Hi.'}]});
    const {page, errors, context} = await open(`${P.baseURL}/`);
    await page.waitForSelector('#view-mesh:not([hidden])');
    const line = () => page.textContent('#nodes .card[data-node="dash-paced"] li');
    await page.waitForFunction(() => /paced until/.test(document.querySelector('#nodes li')?.textContent ?? ''));
    const first = Number((await line()).match(/\((\d+) s\)/)[1]);
    assert.ok(first > 15 && first <= 30, await line());
    // the countdown ticks between polls
    await page.waitForFunction((f) => {
        const m = (document.querySelector('#nodes li')?.textContent ?? '').match(/\((\d+) s\)/);
        return m && Number(m[1]) < f;
    }, first, {timeout: 5000});
    await shot(page, 'mesh-paced-desktop');
    await view(page, 'models');
    await page.waitForFunction(
        () => /^paced \d+ s$/.test(
            document.querySelector('#models tr[data-model="fake-chat"] td:nth-child(4)')?.textContent ?? ''));
    // its only account waits for its slot and no other node serves it: a request would queue
    const route = await page.$eval(
        '#models tr[data-model="fake-chat"] td.route', (td) => ({state: td.dataset.route, text: td.textContent}));
    assert.equal(route.state, 'queue');
    assert.match(route.text, /^queued.*wait for their pace slot, and no peer has a free slot/);
    assert.equal(await page.$$eval('#models td.serves', (tds) => tds.length), 0);
    assert.deepEqual(errors, []);
    await context.close();
});
