// The dashboard's keys, usage and audit views (issue #12, items 4 and 5) in a
// real headless Chromium, against a three-node mesh: the page's node started
// with an API key, the admin key, a price for the fake tabs' model and two
// fake tabs, and two peers without tabs:
//  - the admin key typed into the key form opens the keys view; a key made
//    there with the keyboard (name, tier, expiry, models) is shown once, with
//    a working Copy button (and its fallback: the key selected), and is
//    listed as active;
//  - a chat request with that key (openai SDK) succeeds and shows in the
//    usage view within 2 s of its end (the view reads GET /v1/usage every
//    second), and in the keys view as its last use and this month's count;
//  - the key works on the other nodes too (replicated; their requests go to
//    the tabs of the page's node);
//  - Revoke asks first (Escape cancels, the focus goes to Cancel), then
//    DELETEs /admin/keys/NAME: the same request is refused 401, on every node;
//  - Change tier POSTs the tier and the row shows it;
//  - the audit view lists the creation, the revocation and the change, and
//    its kind and text filters narrow the rows;
//  - a user key sees its own usage and what is left of its limits, and the
//    keys and audit views say they need the admin key (the page never calls
//    an admin path with it);
//  - no console error; axe-core finds no serious or critical violation in
//    each view; nothing wider than a 390 px phone screen. Screenshots:
//    tests/e2e/artifacts/dashboard-{keys,usage,audit}-{desktop,phone}.png.

import assert from 'node:assert/strict';
import {after, before} from 'node:test';
import {chromium} from 'playwright-core';
import {Arena, client, http, waitForModels, waitFor} from '../integration/lib/harness.mjs';
import {CHROMIUM, screenshot} from './lib/harness.mjs';
import {axeCheck} from './lib/axe.mjs';

const KEY = 'sk-dash-admin-e2e-71c2d0';
const ADMIN = 'admin-dash-e2e-5e93a8b1c4';
const DESKTOP = {
    width: 1200,
    height: 800
};
const PHONE = {
    width: 390,
    height: 844
};
const SHOWN_WITHIN_MS = 2000; // a request in the usage view after it ended

const arena = new Arena();
let A, B, C, browser;

const shot = (page, name) => screenshot(page, `dashboard-${name}.png`);
const adminHeaders = {
    authorization: `Bearer ${ADMIN}`
};
const ask = {
    model: 'fake-chat',
    messages: [{role: 'user', content: 'Hello from the dashboard test.'}]
};

async function open(viewport = DESKTOP) {
    const context = await browser.newContext({viewport});
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    const errors = [];
    const requests = []; // "METHOD path" of every call the page made to the node
    page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => {
        const u = new URL(r.url());
        requests.push(`${r.method()} ${u.pathname}${u.search}`);
    });
    await page.goto(`${A.baseURL}/`);
    return {page, errors, requests, context};
}

/*  The key typed into the key form with the keyboard; the page then knows who it is. */
async function enterKey(page, key, viewer) {
    await page.waitForSelector('#keyform:not([hidden])');
    await page.focus('#key');
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#keyform', {state: 'hidden'});
    await page.waitForFunction((v) => document.body.dataset.viewer === v, viewer);
}

async function view(page, name) {
    await page.focus(`nav button[data-view="${name}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`#view-${name}:not([hidden])`);
}

async function narrow(page, name) {
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= PHONE.width, `${name}: the page is ${wide}px wide at ${PHONE.width}px`);
}

const rowText = (page, key) => page.innerText(`#keys-table tr[data-key="${key}"]`);

/*  Fills the create form with the keyboard and submits it; the key shown once. */
async function createKey(page, {name, tierLetter, tier, expires, models}) {
    await page.focus('#kc-name');
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'kc-tier');
    await page.keyboard.type(tierLetter); // a select's type-ahead
    assert.equal(await page.inputValue('#kc-tier'), tier);
    if (expires) await page.fill('#kc-expires', expires); // (a date field's typing order depends on the locale)
    await page.focus('#kc-models');
    if (models) await page.keyboard.type(models);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#keys-new:not([hidden])');
    assert.match(await page.textContent('#keys-new-title'), new RegExp(name));
    const key = await page.inputValue('#keys-new-value');
    assert.match(key, /^ak-[A-Za-z0-9_-]{43}$/);
    await page.waitForSelector(`#keys-table tr[data-key="${name}"]`);
    return key;
}

before(async () => {
    A = await arena.startNode({
        name: 'dash-admin',
        apiKey: KEY,
        extraArgs: ['--admin-key', ADMIN, '--price', 'fake-chat=1000/2000'],
    });
    await arena.startFakeLink(A, {tabs: 2});
    await waitForModels(A);
    const seed = ['--seed', `127.0.0.1:${A.mesh.port}`];
    B = await arena.startNode({name: 'dash-admin-b', apiKey: KEY, extraArgs: seed});
    C = await arena.startNode({name: 'dash-admin-c', apiKey: KEY, extraArgs: seed});
    await waitForModels(C); // A's tabs' models, by gossip: C forwards to A
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

let userKey = null; // made in the admin test, used by the user test

arena.test(
    'admin: make a key, use it, see it in the usage view, revoke it; the audit log', {timeout: 120000}, async (t) => {
        const {page, errors, requests, context} = await open();
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: A.baseURL});
        await enterKey(page, ADMIN, 'admin');

        // ---- Keys: the config key listed; a key made with the keyboard
        await view(page, 'keys');
        await page.waitForSelector('#keys-admin:not([hidden])');
        await page.waitForFunction(() => document.querySelectorAll('#kc-tier option').length >= 3);
        const tiers = await page.$$eval('#kc-tier option', (os) => os.map((o) => o.value));
        assert.deepEqual(tiers.sort(), ['enterprise', 'free', 'premium'], 'the tiers of GET /admin/tiers, not config');
        await page.waitForSelector('#keys-table tr[data-key="config-1"]');
        assert.match(await rowText(page, 'config-1'), /set with --api-key/);
        assert.equal(await page.$('#keys-revoke-config-1'), null, 'a --api-key key cannot be revoked here');

        const year = new Date().getFullYear() + 2;
        const aliceKey = await createKey(
            page, {name: 'e2e-alice', tierLetter: 'p', tier: 'premium', expires: `${year}-06-30`, models: 'fake-chat'});
        assert.match(await page.textContent('#keys-new-note'), /will not be shown again/);
        // the focus is on the key, selected, ready to copy
        assert.equal(await page.evaluate(() => document.activeElement.id), 'keys-new-value');
        const alice = await rowText(page, 'e2e-alice');
        assert.match(alice, /premium/);
        assert.match(alice, /active/);
        assert.match(alice, /fake-chat/);
        assert.match(alice, new RegExp(String(year)), 'the expiry');
        assert.match(alice, /none this month/);
        // the node has it as the form said
        const listed = (await http(A, 'GET', '/admin/keys', {
                           headers: adminHeaders
                       })).json.data.find((k) => k.name === 'e2e-alice');
        assert.equal(listed.tier, 'premium');
        assert.deepEqual(listed.models, ['fake-chat']);
        const exp = new Date(listed.expires);
        assert.deepEqual(
            [exp.getFullYear(), exp.getMonth(), exp.getDate(), exp.getHours()], [year, 6, 1, 0],
            'it expires at the end of the day chosen, in the browser\'s time zone');

        // Copy: the clipboard holds the key
        await page.click('#keys-copy');
        await page.waitForFunction(() => /Copied/.test(document.getElementById('keys-copied').textContent));
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), aliceKey);
        // … and without a clipboard, the key is selected for Ctrl+C
        await page.evaluate(
            () => Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true}));
        await page.evaluate(() => window.getSelection().removeAllRanges());
        await page.click('#keys-copy');
        await page.waitForFunction(() => /Ctrl\+C/.test(document.getElementById('keys-copied').textContent));
        assert.deepEqual(
            await page.evaluate(() => {
                const i = document.getElementById('keys-new-value');
                return [document.activeElement === i, i.value.slice(i.selectionStart, i.selectionEnd)];
            }),
            [true, aliceKey]);
        await shot(page, 'keys-desktop');
        await axeCheck(page, 'keys');
        await page.click('#keys-new-done');
        assert.ok(await page.isHidden('#keys-new'));
        assert.equal(await page.inputValue('#keys-new-value'), '', 'the key is gone from the page');

        // A second key for the user test (tier free), moved to premium and back with Change tier.
        userKey = await createKey(page, {name: 'e2e-bob', tierLetter: 'f', tier: 'free'});
        await page.click('#keys-new-done');
        await page.click('#keys-tier-e2e-bob');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'keys-newtier-e2e-bob');
        await page.selectOption('#keys-newtier-e2e-bob', 'enterprise');
        await page.click('#keys-save-e2e-bob');
        await page.waitForFunction(
            () => /enterprise/.test(document.querySelector('#keys-table tr[data-key="e2e-bob"]').innerText));
        assert.ok(requests.includes('POST /admin/keys/e2e-bob/tier'), requests.join('\n'));
        await page.click('#keys-tier-e2e-bob');
        await page.selectOption('#keys-newtier-e2e-bob', 'free');
        await page.keyboard.press('Tab'); // to Save
        await page.keyboard.press('Enter');
        await page.waitForFunction(
            () => /\bfree\b/.test(document.querySelector('#keys-table tr[data-key="e2e-bob"]').innerText));
        assert.equal(
            (await http(A, 'GET', '/admin/keys', {headers: adminHeaders}))
                .json.data.find((k) => k.name === 'e2e-bob')
                .tier,
            'free');

        // ---- Usage: a request with the new key shows within 2 s of its end
        await view(page, 'usage');
        await page.waitForFunction(
            () => /All keys, the last day/.test(document.getElementById('usage-summary').textContent));
        assert.match(await page.textContent('#usage-summary'), /\b0 requests\b/);
        const sdk = client(A, {apiKey: aliceKey});
        const answer = await sdk.chat.completions.create(ask);
        assert.ok(answer.choices[0].message.content.length > 0);
        const t0 = Date.now();
        await page.waitForFunction(() => {
            const r = document.querySelector('#usage-keys tr[data-row="e2e-alice"]');
            return r && r.children[2].textContent === '1';
        }, null, {timeout: SHOWN_WITHIN_MS});
        t.diagnostic(`the request showed in the usage view ${Date.now() - t0} ms after it ended`);
        const summary = await page.textContent('#usage-summary');
        assert.match(summary, /\b1 request\b/);
        assert.match(summary, /cost \$0\.\d{4}/);
        assert.doesNotMatch(summary, /cost \$0\.0000/, 'the price of fake-chat counts');
        // the chart: drawn with one key's series, one bucket holding the request
        await page.waitForFunction(() => {
            const c = window.Chart && Chart.getChart(document.getElementById('usage-time'));
            return c &&
                c.data.datasets.some((d) => d.label === 'e2e-alice' && d.data.reduce((a, b) => a + b, 0) === 1) &&
                c.data.labels.length === 24;
        });
        // per model over time too: fake-chat's series, its one request in one hour
        await page.waitForFunction(() => {
            const c = Chart.getChart(document.getElementById('usage-models'));
            return c && c.data.labels.length === 24 &&
                c.data.datasets.some(
                    (d) => d.label === 'fake-chat' && d.data.reduce((a, b) => a + b, 0) === 1 &&
                        d.data.filter((v) => v).length === 1);
        });
        assert.match(await page.textContent('#usage-models-text'), /^fake-chat: [^:;]+ 1$/);
        assert.match(await page.textContent('#usage-models-cap'), /^Requests by hour, per model/);
        // the key selector narrows to one key, the measure to tokens
        await page.selectOption('#usage-key', 'e2e-alice');
        await page.selectOption('#usage-measure', 'tokens');
        assert.match(await page.textContent('#usage-summary'), /^Key e2e-alice/);
        assert.match(await page.textContent('#usage-time-cap'), /^Tokens by hour/);
        await page.selectOption('#usage-range', 'week');
        await page.waitForFunction(
            () => /the last week, by day/.test(document.getElementById('usage-summary').textContent));
        await page.waitForFunction(
            () => Chart.getChart(document.getElementById('usage-time')).data.labels.length === 8);
        await page.selectOption('#usage-measure', 'requests');
        await shot(page, 'usage-desktop');
        await axeCheck(page, 'usage');

        // the keys view: its last use and this month's count
        await view(page, 'keys');
        await page.waitForFunction(
            () => /ago/.test(
                document.querySelector('#keys-table tr[data-key="e2e-alice"] .keys-last')?.textContent ?? ''));
        const used =
            await page.$$eval('#keys-table tr[data-key="e2e-alice"] td', (tds) => tds.map((td) => td.textContent));
        assert.equal(used[6], '1', used.join('|'));

        // ---- The key made in A's dashboard works on the other nodes too
        for (const n of [B, C]) {
            await waitFor(async () => {
                try {
                    await client(n, {apiKey: aliceKey}).chat.completions.create(ask);
                    return true;
                } catch (e) {
                    if (e.status === 401) return false; // not replicated there yet
                    throw e;
                }
            }, {timeoutMs: 5000, intervalMs: 100, what: `the new key accepted by ${n.name}`});
        }

        // ---- Revoke: a confirmation step first; Escape cancels it
        await page.focus('#keys-revoke-e2e-alice');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#keys-confirm-e2e-alice');
        assert.equal(
            await page.evaluate(() => document.activeElement.id), 'keys-cancel-e2e-alice', 'the focus on Cancel');
        assert.match(await rowText(page, 'e2e-alice'), /cannot be undone/);
        await page.keyboard.press('Escape');
        await page.waitForSelector('#keys-confirm-e2e-alice', {state: 'detached'});
        assert.equal(await page.evaluate(() => document.activeElement.id), 'keys-revoke-e2e-alice');
        assert.ok(!requests.some((r) => r.startsWith('DELETE')), 'nothing revoked yet');
        // again, and confirmed with the keyboard
        await page.keyboard.press('Enter');
        await page.waitForSelector('#keys-confirm-e2e-alice');
        await page.keyboard.press('Shift+Tab');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'keys-confirm-e2e-alice');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#keys-table tr[data-key="e2e-alice"][data-state="revoked"]');
        assert.deepEqual(requests.filter((r) => r.startsWith('DELETE')), ['DELETE /admin/keys/e2e-alice']);
        assert.match(await page.textContent('#keys-msg'), /e2e-alice revoked/);
        assert.match(await rowText(page, 'e2e-bob'), /active/, 'only that key');
        // the same request is refused now, here at once and on the others within the gossip bound
        await assert.rejects(sdk.chat.completions.create(ask), (e) => e.status === 401);
        for (const n of [B, C]) {
            await waitFor(async () => {
                try {
                    await client(n, {apiKey: aliceKey}).chat.completions.create(ask);
                    return false; // not revoked there yet
                } catch (e) {
                    if (e.status === 401) return true;
                    throw e;
                }
            }, {timeoutMs: 5000, intervalMs: 100, what: `the revoked key refused by ${n.name}`});
        }
        await client(A, {apiKey: userKey}).chat.completions.create(ask); // bob's still works (used by the user test)

        // ---- Audit: the creation and revocation; the kind and text filters
        await view(page, 'audit');
        await page.waitForSelector('#audit-admin:not([hidden])');
        assert.match(await page.innerText('#view-audit'), /this node's/);
        assert.match(await page.innerText('#view-audit'), /arena-mesh audit/);
        await page.waitForSelector('#audit-table tr[data-kind="key_revoked"]');
        const kinds = await page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => tr.dataset.kind));
        for (const k of ['key_created', 'key_revoked', 'key_retiered']) assert.ok(kinds.includes(k), kinds.join(','));
        // newest first
        const times = await page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.id)));
        assert.deepEqual(times, [...times].sort((a, b) => b - a));
        const options = await page.$$eval('#audit-kind option', (os) => os.map((o) => o.value));
        assert.ok(options.includes('key_revoked') && options.includes('key_created'), options.join(','));
        await page.selectOption('#audit-kind', 'key_revoked');
        const revoked =
            await page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.kind, tr.innerText]));
        assert.equal(revoked.length, 1, JSON.stringify(revoked));
        assert.match(revoked[0][1], /admin\s+127\.0\.0\.1\s+e2e-alice/);
        await page.selectOption('#audit-kind', '');
        await page.fill('#audit-text', 'e2e-bob');
        await page.waitForFunction(
            () => [...document.querySelectorAll('#audit-table tbody tr')].every((tr) => /e2e-bob/.test(tr.innerText)));
        const bobRows = await page.$$eval('#audit-table tbody tr', (trs) => trs.map((tr) => tr.dataset.kind));
        assert.deepEqual(bobRows.sort(), ['key_created', 'key_retiered', 'key_retiered']);
        // a since in the future leaves nothing
        await page.fill('#audit-since', '2099-01-01T00:00:00');
        await page.dispatchEvent('#audit-since', 'change');
        await page.waitForFunction(() => document.getElementById('audit-summary').textContent === 'No row matches.');
        await page.click('#audit-reset');
        await page.waitForFunction(() => document.querySelectorAll('#audit-table tbody tr').length >= 5);
        await shot(page, 'audit-desktop');
        await axeCheck(page, 'audit');

        // ---- Phone width: the three views, nothing wider than the screen
        await page.setViewportSize(PHONE);
        for (const v of ['keys', 'usage', 'audit']) {
            await view(page, v);
            if (v === 'usage') await page.waitForFunction(() => Chart.getChart(document.getElementById('usage-time')));
            await narrow(page, v);
            await shot(page, `${v}-phone`);
            await axeCheck(page, `${v} (phone)`);
        }

        assert.deepEqual(errors, [], 'no console errors');
        await context.close();
    });

arena.test('a user key: its own usage and remaining limits; keys and audit need the admin key', async () => {
    assert.ok(userKey, 'made by the admin test');
    const {page, errors, requests, context} = await open();
    await enterKey(page, userKey, 'key');
    await view(page, 'usage');
    await page.waitForFunction(
        () => /^Your key e2e-bob, the last day/.test(document.getElementById('usage-summary').textContent));
    assert.match(await page.textContent('#usage-summary'), /\b1 request\b/);
    assert.ok(await page.isHidden('#usage-key-field'), 'no key selector for a user key');
    await page.waitForSelector('#usage-limits:not([hidden])');
    const limits = await page.$$eval(
        '#usage-limits-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    assert.deepEqual(limits.slice(0, 3), [
        ['Requests per minute', '10', '9'],
        ['Requests per hour', '100', '99'],
        ['Requests per day', '1,000', '999'],
    ]);
    assert.match(await page.textContent('#usage-limits-table caption'), /Tier free/);
    assert.deepEqual(await page.$$eval('#usage-keys tbody tr', (trs) => trs.map((tr) => tr.dataset.row)), ['e2e-bob']);
    await shot(page, 'usage-user-desktop');
    await axeCheck(page, 'usage (user key)');

    await view(page, 'keys');
    assert.match(await page.textContent('#keys-need-admin'), /needs the admin key/);
    assert.ok(await page.isHidden('#keys-admin'));
    await page.click('#keys-need-admin button');
    await page.waitForSelector('#view-usage:not([hidden])');
    await view(page, 'audit');
    assert.match(await page.textContent('#audit-need'), /needs the admin key/);
    await axeCheck(page, 'audit (user key)');
    assert.deepEqual(requests.filter((r) => r.includes('/admin/')), [], 'no admin call with a user key');
    assert.deepEqual(errors, [], 'no console errors');
    await context.close();
});
