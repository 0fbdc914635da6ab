// Lives and deaths around a request: the client leaves, the tab is closed, the
// node restarts, the site renames its tab, a duplicated tab takes our id. Also
// saves screenshots of the node's page and of a connected tab (artifacts/).

import assert from 'node:assert/strict';
import {APIError} from 'openai';
import {
    e2eTest,
    ask,
    collectStream,
    fake,
    http,
    sleep,
    waitFor,
    withTimeout,
    FAKE_ANSWER,
    CONNECTED,
    CONNECTING,
} from './lib/harness.mjs';

e2eTest('client abort → the page\'s fetch is aborted', async (t, w) => {
    const tab = await w.connectTab();
    const sdk = w.client();
    const ctl = new AbortController();
    const stream = await sdk.chat.completions.create(
        ask('fake-chat', fake('drip ms=200 count=50', 'Stream me.'), {stream: true}), {signal: ctl.signal});
    let seen = 0;
    const got = await withTimeout(
        collectStream(stream, {
            onChunk: (c) => {
                if (c.choices[0]?.delta?.content && ++seen === 2) ctl.abort();
            }
        }),
        15000, 'the aborted stream to end');
    // The SDK ends an aborted stream's iteration quietly (or with APIUserAbortError).
    assert.ok(!got.error || got.error.name === 'APIUserAbortError', `stream error: ${got.error}`);
    assert.equal(seen, 2, 'no content after the abort');
    // The node sent `abort`, the page aborted its fetch, LMArena saw the request go.
    const abortFrame = await waitFor(
        () => tab.received('abort').find((f) => f.id === tab.received('fetch').at(-1).id),
        {timeoutMs: 5000, what: 'abort frame at the tab'});
    const reqs = await w.fake.waitRequests(1, {
        timeoutMs: 5000,
        pred: (l) => l.filter((r) => r.aborted).length >= 1,
        what: 'fake-arena to record the request as aborted',
    });
    const last = reqs.find((r) => r.body?.userMessage?.content?.includes('Stream me.'));
    assert.ok(last, 'the streamed request reached LMArena');
    assert.equal(last.aborted, true);
    await tab.waitJobsEnded();
    const end = tab.sent().find((f) => f.id === abortFrame.id && (f.type === 'fail' || f.type === 'done'));
    assert.deepEqual([end.type, end.stage], ['fail', 'aborted']);
    // Still connected, and serves the next request.
    assert.ok((await tab.title()).startsWith(CONNECTED));
    const r = await sdk.chat.completions.create(ask('fake-chat-2', 'Next one.'));
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
});

e2eTest('tab closed mid-stream → the stream ends with an error the client can read', async (t, w) => {
    const tab = await w.connectTab();
    const stream =
        await w.client().chat.completions.create(ask('fake-chat', fake('drip ms=200 count=50'), {stream: true}));
    let closedAt = 0;
    const got = await withTimeout(
        collectStream(stream, {
            onChunk: async (c) => {
                if (c.choices[0]?.delta?.content && !closedAt) {
                    closedAt = Date.now();
                    await tab.page.close();
                }
            }
        }),
        15000, 'the stream to end after the tab closed');
    const ms = Date.now() - closedAt;
    // The node ends the SSE stream with an error event and [DONE]; the SDK throws
    // an APIError without an HTTP status (the status line said 200 already).
    assert.ok(got.error instanceof APIError, `stream error: ${got.error}`);
    assert.equal(got.error.status, undefined);
    assert.equal(got.error.code, 'upstream_error');
    assert.ok(got.content.length > 0 && got.content.length < 50, `content before the loss: ${got.content}`);
    assert.ok(got.chunks.every((c) => c.choices[0]?.finish_reason == null), 'no finish_reason after a loss');
    assert.ok(ms < 5000, `the error came ${ms} ms after the tab closed`);
    const h = await waitFor(async () => {
        const r = await w.node.health();
        return r.json.tabs === 0 && r.json;
    }, {timeoutMs: 5000, what: '/health tabs 0'});
    assert.equal(h.status, 'degraded');
    // Closing the page aborted its fetch too.
    await w.fake.waitRequests(
        1, {timeoutMs: 5000, pred: (l) => l[0].aborted === true, what: 'the closed tab\'s fetch recorded as aborted'});
});

e2eTest('node restarted → the tab reconnects by itself and serves again', async (t, w) => {
    const tab = await w.connectTab();
    const loads = tab.loads;
    const stopped = await w.node.restart();
    assert.equal(stopped.code, 0, `SIGTERM exit ${JSON.stringify(stopped)}`);
    assert.equal(stopped.timedOut, false);
    // Back-off from 1 s: the first or second try finds the node again.
    await withTimeout(
        waitFor(async () => (await tab.title()).startsWith(CONNECTING), {timeoutMs: 5000}).catch(() => {}), 6000,
        'connecting');
    await tab.waitConnected(15000);
    await w.waitHealthTabs(1, 10000);
    assert.equal(tab.loads, loads, 'no page reload was needed');
    assert.ok(tab.conns.length >= 2, 'a new link connection');
    assert.equal(tab.sent('hello').at(-1).tab, tab.sent('hello')[0].tab, 'same tab id after the restart');
    await w.waitModels();
    const r = await w.client().chat.completions.create(ask('fake-chat', 'After the restart.'));
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
});

e2eTest('the site renames its tab → the ✅ prefix stays in front', async (t, w) => {
    const tab = await w.connectTab();
    assert.equal(await tab.title(), `${CONNECTED}LMArena`);
    await tab.evaluate(() => {
        document.title = 'New chat · LMArena';
    });
    await waitFor(
        async () => (await tab.title()) === `${CONNECTED}New chat · LMArena`,
        {timeoutMs: 2000, what: 'the prefix back on document.title'});
    // Next.js swaps the <title> element itself.
    await tab.evaluate(() => {
        document.querySelector('title').remove();
        const el = document.createElement('title');
        el.textContent = 'Another page';
        document.head.appendChild(el);
    });
    await waitFor(
        async () => (await tab.title()) === `${CONNECTED}Another page`,
        {timeoutMs: 2000, what: 'the prefix on a replaced <title>'});
    await sleep(300);
    assert.equal(await tab.title(), `${CONNECTED}Another page`, 'stable: no prefix piling up');
});

e2eTest('a duplicated tab (same session id) → the old one takes a new id after 4409', async (t, w) => {
    const a = await w.connectTab();
    const idA = a.sent('hello')[0].tab;
    // Duplicating a browser tab copies its sessionStorage: tab B starts with A's id.
    const b = await w.openTab({connected: false});
    await b.evaluate((id) => sessionStorage.setItem('arenamesh-tab-id', id), idA);
    await b.page.reload();
    await b.waitConnected();
    assert.equal(b.sent('hello').at(-1).tab, idA);
    // A was replaced (4409), picked a new id and came back.
    await waitFor(() => a.sent('hello').length >= 2, {timeoutMs: 8000, what: 'tab A to say hello again'});
    await a.waitConnected();
    const idA2 = a.sent('hello').at(-1).tab;
    assert.notEqual(idA2, idA);
    await w.waitHealthTabs(2);
    assert.equal((await w.node.health()).json.tabs, 2);
});

e2eTest('screenshots: the node\'s page and a connected tab', async (t, w) => {
    const tab = await w.connectTab();
    const shot = await w.screenshot(tab.page, 'connected-tab.png');
    assert.ok((await tab.title()).startsWith(CONNECTED));
    // A headless screenshot has no title bar: draw the title (and its code
    // points, in case the machine has no emoji font) in a page of its own.
    const title = await tab.title();
    const points = [...title].slice(0, 2).map((ch) => `U+${ch.codePointAt(0).toString(16).toUpperCase()}`);
    const titled = await w.context.newPage();
    await titled.setContent(`<h2>Title of the connected tab</h2><p style="font-size:28px">${
        title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</p><p>first code points: ${points.join(' ')}</p>`);
    await w.screenshot(titled, 'connected-tab-title.png');
    assert.equal(points[0], 'U+2705');
    const index = await w.context.newPage();
    await index.goto(`${w.node.baseURL}/`);
    await w.screenshot(index, 'node-index.png');
    const html = await http(w.node.baseURL, 'GET', '/');
    assert.match(html.text, /Browser tabs connected now: <strong id="setup-tabs">1<\/strong>/);
    // The four defaults and the twin (one name, served by its live row); not fake-hidden.
    assert.match(html.text, /models known: <strong id="setup-models">5<\/strong>/);
    t.diagnostic(`screenshots in ${shot.replace(/[^/]+$/, '')}`);
});
