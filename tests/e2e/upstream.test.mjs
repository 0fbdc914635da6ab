// What LMArena refuses, seen through the real page: rate limits, rejected
// reCAPTCHA tokens and Cloudflare challenges, and what the node does about them.

import assert from 'node:assert/strict';
import {APIError} from 'openai';
import {accountHash, e2eTest, ask, fake, http, waitFor, withTimeout, FAKE_ANSWER, CONNECTED} from './lib/harness.mjs';

const CHALLENGE_HINT = 'solve the Cloudflare check in this tab';

/*  This node's own tabs as /mesh/status lists them. */
async function statusTabs(w) {
    const st = await http(w.node.baseURL, 'GET', '/mesh/status');
    assert.equal(st.status, 200);
    return st.json.nodes.find((n) => n.self).tabs;
}

async function apiError(p) {
    try {
        const v = await p;
        assert.fail(`expected an APIError, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (!(e instanceof APIError)) throw e;
        return e;
    }
}

e2eTest('429 upstream → cooldown → 429 with Retry-After, and the next request does not reach LMArena', async (t, w) => {
    await w.connectTab();
    const sdk = w.client();
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('ratelimit retry=30'))));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    const ra = Number(e.headers.get('retry-after'));
    assert.ok(ra >= 29 && ra <= 30, `Retry-After ${ra}`);
    const raMs = Number(e.headers.get('retry-after-ms'));
    assert.ok(raMs > 28000 && raMs <= 30000, `retry-after-ms ${raMs}`);
    const first = await w.fake.requests();
    assert.equal(first.length, 1);
    assert.equal(first[0].status, 429);

    // Cooled: answered at once, nothing new upstream.
    const again = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Plain question.')));
    assert.equal(again.status, 429);
    assert.ok(Number(again.headers.get('retry-after')) <= ra);
    assert.equal((await w.fake.requests()).length, 1, 'no new upstream request while cooled');

    // Another model is not cooled.
    const other = await sdk.chat.completions.create(ask('fake-chat-2', 'Hello?'));
    assert.equal(other.choices[0].message.content, FAKE_ANSWER);
    assert.equal((await w.fake.requests()).length, 2);
});

e2eTest('reCAPTCHA rejected once → one retry with a fresh token and fresh ids', async (t, w) => {
    await w.connectTab();
    const r = await w.client().chat.completions.create(ask('fake-chat', fake('recaptcha times=1')));
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 2, 'exactly one retry');
    assert.deepEqual(reqs.map((q) => q.status), [403, 200]);
    assert.equal(reqs[1].recaptcha_token_ok, true);
    for (const k of ['id', 'userMessageId', 'modelAMessageId']) {
        assert.notEqual(reqs[0].body[k], reqs[1].body[k], `fresh ${k}`);
    }
    // direct-battle: the page's own body has no modelBMessageId, nor does either attempt.
    assert.ok(reqs.every((q) => q.body.mode === 'direct-battle' && !('modelBMessageId' in q.body)));
    assert.notEqual(reqs[0].body.recaptchaV3Token, reqs[1].body.recaptchaV3Token, 'a fresh token');
    // The tab minted two tokens through grecaptcha.enterprise: two fetch jobs, two bodies.
    // Playwright reports frames asynchronously, possibly after the answer
    // reached us over HTTP: wait (bounded) until both jobs are seen ending.
    await waitFor(
        () => w.tabs[0].sent().filter((f) => f.type === 'done' || f.type === 'fail').length >= 2,
        {timeoutMs: 5000, what: 'both jobs to end at the tab'});
    assert.equal(w.tabs[0].received('fetch').length, 2);
});

e2eTest(
    'Cloudflare challenge → the tab is reloaded and a second tab serves the request', {world: {node: {tabJobs: 1}}},
    async (t, w) => {
        const a = await w.connectTab();
        const b = await w.connectTab();
        await w.waitHealthTabs(2);
        await w.fake.control({challenge_once: true});
        const loadsBefore = [a.loads, b.loads];

        const r = await w.client().chat.completions.create(ask('fake-chat', 'Hello through a challenge.'));
        assert.equal(r.choices[0].message.content, FAKE_ANSWER);

        const reqs = await w.fake.requests();
        assert.equal(reqs.length, 2);
        assert.equal(reqs[0].status, 403);
        assert.equal(reqs[1].status, 200);
        // The tab that met the challenge got `reload` and loaded the page again
        // (Playwright may miss the `reload` frame itself: the page unloads on it);
        // the other one served the retry.
        await waitFor(
            () => a.loads + b.loads > loadsBefore[0] + loadsBefore[1],
            {timeoutMs: 5000, what: 'a new page load in the challenged tab'});
        const hit = a.loads > loadsBefore[0] ? a : b;
        const other = hit === a ? b : a;
        assert.equal(hit.loads, loadsBefore[[a, b].indexOf(hit)] + 1, 'one reload');
        assert.equal(other.loads, loadsBefore[[a, b].indexOf(other)], 'the serving tab did not reload');
        assert.equal(other.received('reload').length, 0);
        // Frames are reported asynchronously (see above): wait for the job's end.
        await waitFor(
            () => other.sent('done').length >= 1, {timeoutMs: 5000, what: 'the retry to end at the other tab'});
        assert.equal(hit.received('fetch').length, 1, 'the challenged tab ran the first attempt');
        assert.equal(other.received('fetch').length, 1, 'the other tab ran the retry');
        assert.equal(other.sent('done').length, 1);
        // The reloaded page runs the script again and is back.
        await hit.waitConnected(10000);
        await w.waitHealthTabs(2);
        assert.ok(hit.conns.length >= 2, 'a new link connection after the reload');
    });

e2eTest('a challenge on screen is reported as state and keeps the tab out of routing', async (t, w) => {
    const tab = await w.connectTab();
    // The fake's reCAPTCHA script loads async: recaptcha may turn true in a second frame.
    await waitFor(() => tab.sent('state').at(-1)?.recaptcha === true, {timeoutMs: 3000, what: 'state with recaptcha'});
    // The fresh browser was logged in by the page as the fake's default user.
    const account = accountHash('fake-user-1');
    assert.match(account, /^[0-9a-f]{32}$/);
    assert.deepEqual(
        tab.sent('state').at(-1), {type: 'state', challenge: false, recaptcha: true, logged_in: true, account});
    const id = tab.sent('hello')[0].tab;
    const before = await statusTabs(w);
    assert.deepEqual(
        before.list.map((l) => [l.id, l.challenged, l.logged_in, l.account, l.account_known, l.hint]),
        [[id, false, true, account, true, null]]);

    // The page turns into Cloudflare's interstitial (as a challenge would).
    await tab.evaluate(() => {
        document.title = 'Just a moment...';
        const form = document.createElement('form');
        form.id = 'challenge-form';
        document.body.appendChild(form);
    });
    await waitFor(
        () => tab.sent('state').some((s) => s.challenge === true), {timeoutMs: 3000, what: 'state {challenge:true}'});
    assert.equal(await tab.title(), `${CONNECTED}Just a moment...`);
    await waitFor(
        async () => (await w.node.health()).json.status === 'degraded',
        {timeoutMs: 3000, what: '/health degraded (no healthy tab)'});
    assert.deepEqual(
        tab.sent('state').at(-1), {type: 'state', challenge: true, recaptcha: true, logged_in: true, account});
    const during = await statusTabs(w);
    assert.deepEqual([during.count, during.healthy], [1, 0]);
    assert.deepEqual(
        during.list.map((l) => [l.id, l.challenged, l.logged_in, l.account, l.hint]),
        [[id, true, true, account, CHALLENGE_HINT]]);

    // Solved: the form goes away, the site sets its title back.
    await tab.evaluate(() => {
        document.getElementById('challenge-form').remove();
        document.title = 'LMArena';
    });
    await waitFor(
        () => tab.sent('state').at(-1).challenge === false, {timeoutMs: 3000, what: 'state {challenge:false}'});
    await waitFor(
        async () => (await w.node.health()).json.status === 'ok', {timeoutMs: 3000, what: '/health ok again'});
    const r = await w.client().chat.completions.create(ask('fake-chat', 'After the challenge.'));
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const after = await statusTabs(w);
    assert.deepEqual(after.list.map((l) => [l.id, l.challenged, l.hint]), [[id, false, null]]);
    // One state frame per change, not one per poll; every one says who is logged in.
    const states = tab.sent('state').map((f) => JSON.stringify(f));
    assert.ok(states.every((v, i) => i === 0 || v !== states[i - 1]), `no repeats: ${states}`);
    assert.ok(tab.sent('state').every((f) => f.logged_in === true && f.account === account), `${states}`);
    assert.deepEqual(
        tab.sent('state').map((f) => f.challenge).filter((v, i, a) => i === 0 || v !== a[i - 1]), [false, true, false]);
});

e2eTest('a page opened on a challenge says so right after welcome', async (t, w) => {
    // A browser logged in before (the site set its session cookie), then
    // Cloudflare stands in front of the page.
    const login = await w.context.request.get(`${w.fake.url}/`);
    assert.equal(login.status(), 200);
    const account = accountHash('fake-user-1');
    await w.fake.control({challenge: true});
    const tab = await w.openTab();
    assert.equal(await tab.title(), `${CONNECTED}Just a moment...`);
    await waitFor(() => tab.sent('state').length >= 1, {timeoutMs: 3000, what: 'a state frame'});
    const first = tab.sent('state')[0];
    assert.equal(first.challenge, true);
    assert.equal(first.logged_in, true);
    assert.equal(first.account, account);
    assert.match(first.account, /^[0-9a-f]{32}$/);
    await w.waitHealthTabs(1);
    // The node reads `hello` and `state` one after the other: /health may
    // answer in between (the tab counted, its state not read yet).
    await waitFor(
        async () => (await w.node.health()).json.status === 'degraded',
        {timeoutMs: 3000, what: '/health degraded (the only tab is challenged)'});
    // Its state and what a person should do, once the node has read the state frame.
    const id = tab.sent('hello')[0].tab;
    const tabs = await waitFor(async () => {
        const l = await statusTabs(w);
        return l.list?.[0]?.account_known === true && l;
    }, {timeoutMs: 3000, what: '/mesh/status to know the tab\'s account'});
    assert.deepEqual([tabs.count, tabs.healthy, tabs.list.length], [1, 0, 1]);
    const [l] = tabs.list;
    assert.deepEqual(
        [l.id, l.challenged, l.logged_in, l.login_required, l.account, l.inflight, l.last_unrecognised],
        [id, true, true, false, account, 0, null]);
    assert.equal(l.hint, CHALLENGE_HINT);
});

e2eTest('moderation → 422 content_rejected, not retried', async (t, w) => {
    await w.connectTab();
    const e = await apiError(w.client().chat.completions.create(ask('fake-chat', fake('moderation'))));
    assert.equal(e.status, 422);
    assert.equal(e.code, 'content_rejected');
    assert.equal((await w.fake.requests()).length, 1);
});

e2eTest('the body breaks mid-way → the tab fails the job, the client gets a clean error', async (t, w) => {
    const tab = await w.connectTab();
    const stream = await w.client().chat.completions.create(ask('fake-chat', fake('midclose after=2'), {stream: true}));
    const chunks = [];
    let error = null;
    try {
        for await (const c of stream) chunks.push(c);
    } catch (e) {
        error = e;
    }
    assert.ok(error instanceof APIError, `stream error: ${error}`);
    assert.equal(error.code, 'upstream_error');
    assert.ok(chunks.some((c) => c.choices[0]?.delta?.content), 'the pieces before the break arrived');
    // The page's reader failed: head, chunks, then one fail with stage fetch.
    await withTimeout(tab.waitJobsEnded(), 6000, 'the job to end');
    const ends = tab.sent().filter((f) => f.type === 'done' || f.type === 'fail');
    assert.equal(ends.length, 1);
    assert.equal(ends[0].type, 'fail');
    assert.equal(ends[0].stage, 'fetch');
    // The tab stays connected and serves the next request.
    const r = await w.client().chat.completions.create(ask('fake-chat', 'Still there?'));
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
});

e2eTest(
    'every token expired (tokens_expired) → one retry, then the node cools itself: 429 for every model',
    async (t, w) => {
        await w.connectTab();
        // token_ttl_ms 1 was not enough: a retry minted and sent within the
        // same millisecond passed, now and then
        await w.fake.control({tokens_expired: true});
        const sdk = w.client();
        // Rejected, retried once with a fresh token and ids, rejected again: that is
        // "repeated" (ARENA-UPSTREAM.md), so the whole node cools for 1200 s and the
        // client is told when to come back.
        const e = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hello with a stale token.')));
        assert.equal(e.status, 429);
        const ra = Number(e.headers.get('retry-after'));
        assert.ok(ra > 1100 && ra <= 1200, `Retry-After ${ra}`);
        const reqs = await w.fake.requests();
        assert.equal(reqs.length, 2, 'the first try and one retry');
        assert.deepEqual(reqs.map((q) => [q.status, q.recaptcha_token_ok]), [[403, false], [403, false]]);
        assert.notEqual(reqs[0].body.id, reqs[1].body.id, 'fresh ids for the retry');
        assert.notEqual(reqs[0].body.recaptchaV3Token, reqs[1].body.recaptchaV3Token, 'a fresh token for the retry');
        const st = await http(w.node.baseURL, 'GET', '/mesh/status');
        assert.ok(st.json.nodes[0].node_cooled_remaining_ms > 1100000, 'the node itself is cooled');
        // Any model now: 429 at once, nothing more upstream.
        const cooled = await apiError(sdk.chat.completions.create(ask('fake-chat-2', 'Any model now.')));
        assert.equal(cooled.status, 429);
        assert.equal((await w.fake.requests()).length, 2, 'nothing more upstream while the node cools');
    });
