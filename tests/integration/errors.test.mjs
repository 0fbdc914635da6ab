// OpenAI-shaped errors (INTERFACES.md, errors table) as the official SDK sees
// them: status, error.code and headers, plus the rate-limit, capacity and
// retry behaviour of the dispatcher (ARCHITECTURE.md, A request's life).

import {describe, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {APIError} from 'openai';
import {
    Arena,
    arenaTest,
    client,
    collectStream,
    fake,
    http,
    retryAfter,
    waitFor,
    sleep,
    FAKE_ANSWER,
} from './lib/harness.mjs';

/*  Runs p, which must reject with an APIError; returns the error. */
async function apiError(p) {
    try {
        const v = await p;
        assert.fail(`expected an APIError, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (!(e instanceof APIError)) throw e;
        return e;
    }
}

/*  The raw error body of INTERFACES.md: {"error":{"message","type","param","code"}}. */
function assertErrorShape(r, status, code) {
    assert.equal(r.status, status, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(r.json && typeof r.json.error === 'object', r.text);
    const e = r.json.error;
    assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(e.code, code);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
    assert.equal(typeof e.type, 'string');
}

const ask = (model, content, extra = {}) => ({
    model,
    messages: [{role: 'user', content}],
    ...extra,
});

describe('request validation and routes', () => {
    const arena = new Arena();
    let node;
    let link;
    let sdk;
    before(async () => {
        ({node, link} = await arena.startPair({name: 'errors-node'}, {tabs: 1}));
        sdk = client(node);
    });
    after(() => arena.cleanup());

    arena.test('malformed JSON body → 400 invalid_request', async () => {
        const r = await http(node, 'POST', '/v1/chat/completions', {
            headers: {'content-type': 'application/json'},
            body: '{"model": "fake-chat", "messages": [',
        });
        assertErrorShape(r, 400, 'invalid_request');
        assert.equal(link.fetches().length, 0, 'bad input never reaches a tab');
    });

    arena.test('messages missing → 400 invalid_request', async () => {
        const e = await apiError(sdk.chat.completions.create({model: 'fake-chat'}));
        assert.equal(e.status, 400);
        assert.equal(e.code, 'invalid_request');
        const r = await http(node, 'POST', '/v1/chat/completions', {
            headers: {'content-type': 'application/json'},
            body: JSON.stringify({model: 'fake-chat'}),
        });
        assertErrorShape(r, 400, 'invalid_request');
        assert.equal(link.fetches().length, 0);
    });

    arena.test('unknown model → 404 model_not_found', async () => {
        const e = await apiError(sdk.chat.completions.create(ask('no-such-model', 'Hi')));
        assert.equal(e.status, 404);
        assert.equal(e.code, 'model_not_found');
        assert.equal(link.fetches().length, 0);
    });

    arena.test('moderation refusal → 422 content_rejected', async () => {
        const e = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('moderation'))));
        assert.equal(e.status, 422);
        assert.equal(e.code, 'content_rejected');
        assert.equal(link.fetches().length, 1, 'a moderation refusal is not retried');
        // Streaming: still an HTTP error, since no content was sent yet.
        const s = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('moderation'), {stream: true})));
        assert.equal(s.status, 422);
        assert.equal(s.code, 'content_rejected');
    });

    arena.test('unknown route → 404 JSON error', async () => {
        const r = await http(node, 'GET', '/no/such/route');
        assert.equal(r.status, 404);
        assert.equal(typeof r.json?.error?.message, 'string', r.text);
        const r2 = await http(node, 'POST', '/v1/no-such-endpoint', {body: '{}'});
        assert.equal(r2.status, 404);
        assert.equal(typeof r2.json?.error?.message, 'string', r2.text);
    });

    arena.test('GET /v1/chat/completions → 405', async () => {
        const r = await http(node, 'GET', '/v1/chat/completions');
        assert.equal(r.status, 405);
        assert.equal(typeof r.json?.error?.message, 'string', r.text);
    });

    arena.test('the node still serves after all of the above', async () => {
        const res = await sdk.chat.completions.create(ask('fake-chat', 'Hi'));
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    });
});

arenaTest('body over --max-body → 413 request_too_large', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'maxbody-node', maxBody: 65536});
    const sdk = client(node);
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', 'x'.repeat(100000))));
    assert.equal(e.status, 413);
    assert.equal(e.code, 'request_too_large');
    assert.equal(link.fetches().length, 0);
    const ok = await sdk.chat.completions.create(ask('fake-chat', 'y'.repeat(1000)));
    assert.equal(ok.choices[0].message.content, FAKE_ANSWER);
});

arenaTest('--api-key: missing or wrong key → 401 invalid_api_key; right key → 200', async (t, arena) => {
    const key = 'sk-integ-right-key';
    const {node} = await arena.startPair({name: 'apikey-node', apiKey: key});

    const wrong = await apiError(client(node, {apiKey: 'sk-wrong'}).chat.completions.create(ask('fake-chat', 'Hi')));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.code, 'invalid_api_key');

    const r = await http(node, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(ask('fake-chat', 'Hi')),
    });
    assertErrorShape(r, 401, 'invalid_api_key');

    const models = await http(node, 'GET', '/v1/models');
    assert.equal(models.status, 401);

    const right = await client(node, {apiKey: key}).chat.completions.create(ask('fake-chat', 'Hi'));
    assert.equal(right.choices[0].message.content, FAKE_ANSWER);
});

arenaTest('rate limit on the only tab → 429 with Retry-After; the model stays cooled', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'ratelimit-node'}, {tabs: 1});
    const sdk = client(node);

    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('ratelimit retry=30'))));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    const ra = retryAfter(e.headers);
    assert.ok(ra.s >= 25 && ra.s <= 30, `Retry-After ${ra.raw.s}`);
    assert.ok(ra.ms >= 25000 && ra.ms <= 30000, `retry-after-ms ${ra.raw.ms}`);
    assert.equal(link.fetches().length, 1);

    // Next request for that model: 429 at once, without reaching the tab.
    const t0 = Date.now();
    const again = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi')));
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.equal(again.status, 429);
    assert.equal(again.code, 'rate_limited');
    const ra2 = retryAfter(again.headers);
    assert.ok(ra2.s >= 20 && ra2.s <= 30, `Retry-After ${ra2.raw.s}`);
    assert.ok(ra2.ms >= 20000 && ra2.ms <= ra.ms, `retry-after-ms ${ra2.raw.ms}`);
    await sleep(300);
    assert.equal(link.fetches().length, 1, 'the cooled model must not reach the tab');

    // Another model on the same tab still works.
    const other = await sdk.chat.completions.create(ask('fake-chat-2', 'Hi'));
    assert.equal(other.choices[0].message.content, FAKE_ANSWER);
    assert.equal(link.fetches().length, 2);

    // /mesh/status shows the cooldown.
    const st = await http(node, 'GET', '/mesh/status');
    const m = st.json.nodes[0].models.find((x) => x.name === 'fake-chat');
    assert.ok(m.cooled_remaining_ms > 20000 && m.cooled_remaining_ms <= 30000, JSON.stringify(m));
});

arenaTest('no capacity: the only slot busy → 503 no_capacity with Retry-After', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'capacity-node', tabJobs: 1, queueTimeout: 500}, {tabs: 1});
    const sdk = client(node);

    const ac = new AbortController();
    const stalled = sdk.chat.completions.create(ask('fake-chat', fake('stall'), {stream: true}), {signal: ac.signal})
                        .then(() => 'resolved', (err) => err);
    const job = await link.waitForEvent((ev) => ev.ev === 'fetch', 5000);

    const t0 = Date.now();
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi')));
    const waited = Date.now() - t0;
    assert.equal(e.status, 503);
    assert.equal(e.code, 'no_capacity');
    const ra = retryAfter(e.headers);
    assert.ok(Number.isInteger(ra.s) && ra.s >= 1, `Retry-After ${ra.raw.s}`);
    assert.ok(waited >= 400 && waited < 5000, `503 after ${waited} ms (queue timeout 500)`);
    assert.equal(link.fetches().length, 1, 'the queued request never reached the tab');

    ac.abort();
    await link.waitForEvent((ev) => ev.ev === 'abort' && ev.id === job.id, 3000);
    const settled = await stalled;
    assert.ok(settled instanceof Error, `stalled request: ${settled}`);

    // The slot is free again.
    const ok = await sdk.chat.completions.create(ask('fake-chat', 'Hi'));
    assert.equal(ok.choices[0].message.content, FAKE_ANSWER);
});

arenaTest('upstream 500 on every tab → 502 upstream_error after retries', async (t, arena) => {
    const retries = 2;
    const {node, link} =
        await arena.startPair({name: 'err500-node', retries}, {tabs: 2, force: {0: 'error500', 1: 'error500'}});
    const sdk = client(node);
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi')));
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_error');
    const n = link.fetches().length;
    assert.ok(n >= 2 && n <= retries + 1, `${n} attempts for --retries ${retries}`);

    const s = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi', {stream: true})));
    assert.equal(s.status, 502, 'no content yet: the stream fails with a status, not an SSE error');
    assert.equal(s.code, 'upstream_error');
});

arenaTest('retry before the first byte: a Cloudflare-challenged tab is skipped', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'retry-node', tabJobs: 1}, {tabs: 2, force: {0: 'cloudflare'}});
    const sdk = client(node);
    // Whichever tab the node prefers: a slow first answer keeps it busy
    // (--tab-jobs 1) so that one of the first two requests meets tab 0.
    const first = sdk.chat.completions.create(ask('fake-chat', fake('drip ms=50 count=10', 'Hi')));
    await link.waitForEvent((e) => e.ev === 'fetch', 5000);
    const second = sdk.chat.completions.create(ask('fake-chat', 'Hi 1'));
    for (const res of await Promise.all([first, second])) {
        assert.ok(res.choices[0].message.content.startsWith(FAKE_ANSWER));
    }
    for (let i = 2; i < 4; i++) {
        const res = await sdk.chat.completions.create(ask('fake-chat', `Hi ${i}`));
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    }
    assert.equal(link.fetches((ev) => ev.tab === 1).length, 4, 'tab 1 served every request');
    const tab0 = link.fetches((ev) => ev.tab === 0);
    assert.ok(tab0.length >= 1, 'tab 0 was tried (else nothing was retried)');
    await waitFor(
        () => link.find({ev: 'reload', tab: 0}).length === tab0.length,
        {timeoutMs: 3000, what: 'one reload per challenge'});
    // While challenged (from its reload until its page is back), tab 0 gets no fetch.
    let challenged = false;
    for (const ev of link.find((e) => e.tab === 0)) {
        if (ev.ev === 'reload') challenged = true;
        if (ev.ev === 'welcome') challenged = false;
        if (ev.ev === 'fetch') assert.equal(challenged, false, `fetch ${ev.id} sent to a challenged tab`);
    }
});

arenaTest('a 429 on one of two tabs cools (node, model): one upstream try per cooldown', async (t, arena) => {
    // ARCHITECTURE.md, Cooldowns: a rate limit for model M on node N cools
    // (N, M), so the other tab of the same node is not tried for M either.
    const {node, link} =
        await arena.startPair({name: 'retry429-node', tabJobs: 1}, {tabs: 2, force: {0: 'ratelimit retry=600'}});
    const sdk = client(node);
    // Whichever tab the node picks first: while a slow answer keeps tab 1 busy
    // (--tab-jobs 1), the next request must go to tab 0 and meet the 429.
    const first = sdk.chat.completions.create(ask('fake-chat', fake('drip ms=50 count=10', 'Hi')))
                      .then((v) => ({v}), (e) => ({e}));
    const ev = await link.waitForEvent((e) => e.ev === 'fetch', 5000);
    let limited;
    if (ev.tab === 1) {
        limited = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi again')));
        const a = await first;
        assert.equal(a.e, undefined, `${a.e}`);
        assert.ok(a.v.choices[0].message.content.startsWith(FAKE_ANSWER));
    } else {
        limited = (await first).e;
        assert.ok(limited instanceof APIError, `${limited}`);
    }
    assert.equal(limited.status, 429);
    assert.equal(limited.code, 'rate_limited');
    assert.equal(link.fetches((ev) => ev.tab === 0).length, 1);
    const fetched = link.fetches().length;
    for (let i = 0; i < 3; i++) {
        const e = await apiError(sdk.chat.completions.create(ask('fake-chat', `Again ${i}`)));
        assert.equal(e.status, 429);
        assert.equal(e.code, 'rate_limited');
        const ra = retryAfter(e.headers);
        assert.ok(ra.s > 590 && ra.s <= 600, `Retry-After ${ra.raw.s}`);
        assert.ok(ra.ms > 590000 && ra.ms <= 600000, `retry-after-ms ${ra.raw.ms}`);
    }
    await sleep(300);
    assert.equal(link.fetches().length, fetched, 'no upstream try while (node, model) cools');
});

arenaTest('streaming answers keep working next to a stalled job on another tab', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'twotab-node', tabJobs: 1}, {tabs: 2});
    const sdk = client(node);
    const ac = new AbortController();
    const stalled = sdk.chat.completions.create(ask('fake-chat', fake('stall'), {stream: true}), {signal: ac.signal})
                        .catch((err) => err);
    await link.waitForEvent((ev) => ev.ev === 'fetch', 5000);
    const stream = await sdk.chat.completions.create(ask('fake-chat', 'Hi', {stream: true}));
    const got = await collectStream(stream);
    assert.equal(got.error, null);
    assert.equal(got.content, FAKE_ANSWER);
    const tabs = new Set(link.fetches().map((ev) => ev.tab));
    assert.equal(tabs.size, 2, 'the second request went to the free tab');
    ac.abort();
    await stalled;
    await waitFor(() => link.find({ev: 'abort'}).length === 1, {timeoutMs: 3000, what: 'abort event'});
});
