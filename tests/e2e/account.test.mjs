// The 2026 page as the userscript meets it, with a real arena-node: the tab
// reports its LMArena account (a hash, per browser), and images go up through
// the page's Next.js server actions (generateUploadUrl → PUT → getSignedUrl)
// before create-evaluation, or stay inline data: URIs when the page has no
// such actions. The head frame says which path a job took.

import assert from 'node:assert/strict';
import {accountHash, ask, e2eTest, fetchText, http, waitFor, FAKE_ANSWER} from './lib/harness.mjs';

const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PNG_URL = `data:image/png;base64,${PNG_1X1}`;

const askImage = (text = 'What is in this picture?') => ({
    model: 'fake-chat',
    messages: [{role: 'user', content: [{type: 'text', text}, {type: 'image_url', image_url: {url: PNG_URL}}]}],
});

/*  The last frame of a type the tab sent for job id (any job when id is undefined). */
const lastSent = (tab, type, id) => tab.sent(type).filter((f) => id === undefined || f.id === id).at(-1);

/*  The n-th (from 1) head frame the tab sent, once Playwright has seen it. */
const nthHead = (tab, n) =>
    waitFor(() => tab.sent('head')[n - 1], {timeoutMs: 5000, intervalMs: 20, what: `head frame #${n}`});

async function uploads(w) {
    const r = await http(w.fake.url, 'GET', '/__fake/uploads');
    assert.equal(r.status, 200);
    return r.json;
}

e2eTest('two browsers, two accounts: each tab reports its own account hash', async (t, w) => {
    const a = await w.connectTab();
    const b = await w.openTab({path: '/?as=second-user', context: await w.newContext()});
    await w.waitHealthTabs(2);
    const stateOf = (tab, want) => waitFor(
        () => tab.sent('state').find((f) => f.account === want),
        {timeoutMs: 5000, intervalMs: 50, what: `a state frame with account ${want}`});
    const sa = await stateOf(a, accountHash('fake-user-1'));
    const sb = await stateOf(b, accountHash('second-user'));
    assert.equal(sa.logged_in, true);
    assert.equal(sb.logged_in, true);
    assert.notEqual(sa.account, sb.account);
});

e2eTest('an image goes up through the page\'s server actions and is sent as a signed URL', async (t, w) => {
    const tab = await w.connectTab();
    const r = await w.client().chat.completions.create(askImage());
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const [req] = await w.fake.waitRequests(1);
    assert.equal(req.status, 200, req.reason);
    assert.equal(req.attachments_mode, 'signed');
    assert.equal(req.account, 'fake-user-1');
    const att = req.body.userMessage.experimental_attachments;
    assert.equal(att.length, 1);
    assert.equal(att[0].contentType, 'image/png');
    assert.match(att[0].name, /^uploads\/[0-9a-f]{16}\/image-1\.png$/);
    assert.ok(att[0].url.startsWith(`${w.fake.url}/__fake/storage/${att[0].name}?`), att[0].url);
    // What the storage holds (and serves at the signed URL) is the image.
    const list = await uploads(w);
    assert.deepEqual(list.map((u) => [u.key, u.content_type, u.stored]), [[att[0].name, 'image/png', true]]);
    const got = await fetch(att[0].url, {signal: AbortSignal.timeout(5000)});
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), Buffer.from(PNG_1X1, 'base64'));
    // The node is told which path the job took.
    const head = await nthHead(tab, 1);
    assert.equal(head.upload, 'signed');
    assert.equal(head.status, 200);

    // A text-only request uploads nothing and says nothing about uploads.
    await w.client().chat.completions.create(ask('fake-chat', 'Hello.'));
    const [, text] = await w.fake.waitRequests(2);
    assert.equal(text.attachments_mode, 'none');
    assert.equal((await nthHead(tab, 2)).upload, undefined);
    assert.equal((await uploads(w)).length, 1);
});

e2eTest('without the upload actions on the page the image stays an inline data: URI', async (t, w) => {
    await w.fake.control({uploads: false});
    const page = await fetchText(`${w.fake.url}/`);
    assert.ok(!page.text.includes('app-actions.js'), 'the page names no upload actions');
    const tab = await w.connectTab();
    const r = await w.client().chat.completions.create(askImage());
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const [req] = await w.fake.waitRequests(1);
    assert.equal(req.attachments_mode, 'inline');
    assert.equal(req.body.userMessage.experimental_attachments[0].url, PNG_URL);
    assert.equal((await nthHead(tab, 1)).upload, 'inline');
    assert.deepEqual(await uploads(w), []);
});

e2eTest('an upload that fails ends the job with fail stage upload, and nothing is evaluated', async (t, w) => {
    // The object store refuses the PUT.
    await w.context.route(
        '**/__fake/storage/**',
        (route) => route.request().method() === 'PUT' ?
            route.fulfill({status: 503, contentType: 'application/xml', body: '<Error/>'}) :
            route.continue());
    const tab = await w.connectTab();
    await assert.rejects(w.client().chat.completions.create(askImage()), (e) => {
        assert.match(String(e.message), /upload/i);
        return true;
    });
    const fail = await waitFor(() => lastSent(tab, 'fail'), {timeoutMs: 5000, what: 'a fail frame'});
    assert.equal(fail.stage, 'upload');
    assert.match(fail.message, /upload of image-1\.png answered HTTP 503/);
    assert.equal(tab.sent('head').length, 0, 'no head: create-evaluation never went out');
    assert.deepEqual((await w.fake.requests()).filter((q) => /create-evaluation/.test(q.path)), []);
});

e2eTest('a logged-out tab says so; in era 2026 the site answers its create-evaluation 401', async (t, w) => {
    const tab = await w.openTab({path: '/?as='});
    // (the fake's reCAPTCHA script loads async: a loaded machine may send a
    // first state before it, recaptcha false, then one with it)
    const state = await waitFor(
        () => tab.sent('state').find((f) => f.recaptcha), {timeoutMs: 5000, what: 'a state frame with recaptcha'});
    assert.deepEqual(state, {type: 'state', challenge: false, recaptcha: true, logged_in: false});
    assert.ok(tab.sent('state').every((f) => f.logged_in === false), 'never logged in');
    const html = await tab.evaluate(() => document.documentElement.outerHTML);
    assert.match(html, /isLoggedIn\\":false/);
    const evaluate = () => tab.evaluate(async () => {
        const r = await fetch('/nextjs-api/stream/create-evaluation', {
            method: 'POST',
            headers: {'content-type': 'text/plain;charset=UTF-8'},
            body: '{}',
            credentials: 'include',
        });
        return {status: r.status, text: await r.text()};
    });
    assert.deepEqual(await evaluate(), {status: 401, text: '{"error":"Unauthorized"}'});
    const [req] = await w.fake.waitRequests(1);
    assert.equal(req.status, 401);
    assert.match(req.reason, /not logged in/);
    // The 2025 site did not ask: the same request reaches validation.
    await w.fake.control({era: '2025'});
    assert.equal((await evaluate()).status, 400);
});
