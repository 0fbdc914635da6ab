// LMArena as it behaves in 2026 (the fake's default era), through the whole
// chain in Chromium: participant B riding along in every answer, a mode the
// site refuses (permanent: one upstream try), an answer the node does not
// recognise (drift, shown in /mesh/status), a catalog name listed twice with
// one row retired, 429 "prompt failed" flagging an account, the login gate,
// pacing per account against the site's own pace rules, and displayName.

import assert from 'node:assert/strict';
import {APIError} from 'openai';
import {
    accountHash,
    ask,
    collectStream,
    e2eTest,
    fake,
    http,
    waitFor,
    withTimeout,
    FAKE_ANSWER,
} from './lib/harness.mjs';

// What the fake adds as participant B (tests/support/fake_arena.h).
const B_ANSWER = 'Participant B must never reach the client.';
const B_THINKING = 'B weighs it.';
const DEFAULT_USER = 'fake-user-1'; // whom the fake logs a fresh browser in as
const SECOND_USER = 'second-user';
const HINT_LOGIN = 'log in to LMArena in this tab';

async function apiError(p) {
    try {
        const v = await p;
        assert.fail(`expected an APIError, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (!(e instanceof APIError)) throw e;
        return e;
    }
}

/*  The answering node's own entry of /mesh/status. */
async function selfStatus(w) {
    const st = await http(w.node.baseURL, 'GET', '/mesh/status');
    assert.equal(st.status, 200);
    return st.json.nodes.find((n) => n.self);
}

/*  Waits until /mesh/status lists n tabs, each with its account known. */
function waitAccountsKnown(w, n) {
    return waitFor(async () => {
        const me = await selfStatus(w);
        const list = me.tabs.list ?? [];
        return list.length === n && list.every((l) => l.account_known === true) && me;
    }, {timeoutMs: 10000, intervalMs: 100, what: `/mesh/status to know the accounts of ${n} tab(s)`});
}

/*  A tab of the world's browser (DEFAULT_USER) and one in a second browser
    context logged in as SECOND_USER; both connected, accounts known. */
async function twoAccounts(w) {
    const a = await w.connectTab();
    const b = await w.openTab({path: `/?as=${SECOND_USER}`, context: await w.newContext()});
    await w.waitHealthTabs(2);
    await waitAccountsKnown(w, 2);
    return {a, b};
}

/*  What the page handed the node for a job: its chunks joined, once the
    job's `done` has been seen (Playwright reports frames asynchronously). */
async function upstreamText(tab, job) {
    await waitFor(
        () => tab.sent('done').some((f) => f.id === job),
        {timeoutMs: 5000, intervalMs: 20, what: `done of job ${job}`});
    return tab.sent('chunk').filter((f) => f.id === job).map((f) => f.data).join('');
}

/*  The JSON values of the lines of `text` with prefix p (e.g. 'b0'). */
const linesOf = (text, p) =>
    text.split('\n').filter((l) => l.startsWith(`${p}:`)).map((l) => JSON.parse(l.slice(p.length + 1)));

/*  The page's rows for a publicName, in page order, each id once. */
async function pageRows(w, name) {
    const page = await http(w.fake.url, 'GET', '/');
    assert.equal(page.status, 200);
    const re = /\\"id\\":\\"([0-9a-f-]{36})\\",\\"publicName\\":\\"([^\\"]+)\\"/g;
    const ids = [...page.text.matchAll(re)].filter((m) => m[2] === name).map((m) => m[1]);
    return [...new Set(ids)];
}

const uuid7Ms = (u) => parseInt(u.replace(/-/g, '').slice(0, 12), 16);

e2eTest('participant B never reaches the client: A\'s answer exactly, with B\'s lines upstream', async (t, w) => {
    const tab = await w.connectTab();
    const sdk = w.client();
    const streamed = async (prompt) => {
        const got = await withTimeout(
            collectStream(await sdk.chat.completions.create(ask('fake-chat', prompt, {stream: true}))), 15000,
            'the stream to end');
        assert.equal(got.error, null, `stream error: ${got.error}`);
        assert.equal(got.content, FAKE_ANSWER);
        assert.equal(got.reasoning, '', 'B\'s reasoning is not A\'s');
        assert.equal(got.chunks.filter((c) => c.choices[0]?.finish_reason).length, 1);
        assert.equal(got.chunks.at(-1).choices[0].finish_reason, 'stop');
    };
    const whole = async (prompt) => {
        const r = await sdk.chat.completions.create(ask('fake-chat', prompt));
        assert.equal(r.choices[0].message.content, FAKE_ANSWER);
        assert.equal(r.choices[0].message.reasoning_content, undefined);
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.equal(r.usage.completion_tokens, 7, 'A\'s usage (B says 11)');
    };
    // B completes, then B fails (b3 + hasArenaError) while A completes.
    await streamed('Say hello.');
    await whole('Say hello again.');
    await streamed(fake('text bfail=1'));
    await whole(fake('text bfail=1', 'Once more.'));

    const reqs = await w.fake.requests();
    assert.deepEqual(reqs.map((q) => q.status), [200, 200, 200, 200]);
    // Playwright reports frames asynchronously: wait (bounded) to have seen all four.
    await waitFor(() => tab.received('fetch').length >= 4, {timeoutMs: 5000, what: 'four fetch frames at the tab'});
    const jobs = tab.received('fetch').map((f) => f.id);
    assert.equal(jobs.length, 4);
    for (const [i, job] of jobs.entries()) {
        const text = await upstreamText(tab, job);
        assert.equal(linesOf(text, 'a0').join(''), FAKE_ANSWER, `A's text upstream (job ${i})`);
        assert.deepEqual(linesOf(text, 'bg'), [B_THINKING], `B's reasoning upstream (job ${i})`);
        if (i < 2) {
            assert.equal(linesOf(text, 'b0').join(''), B_ANSWER, `B's text upstream (job ${i})`);
            assert.equal(linesOf(text, 'bd').length, 1, `B's finish upstream (job ${i})`);
        } else {
            assert.deepEqual(linesOf(text, 'b3'), ['B failed'], `B's error upstream (job ${i})`);
            assert.ok(linesOf(text, 'b0').includes('hasArenaError'), `B's hasArenaError upstream (job ${i})`);
            assert.equal(linesOf(text, 'bd').length, 0);
        }
        assert.ok(text.trimEnd().split('\n').at(-1).startsWith('ad:'), 'A\'s finish last');
    }
});

e2eTest(
    'a permanent 400 (\'direct\' mode) makes exactly one upstream request',
    {world: {node: {extraArgs: ['--arena-mode', 'direct']}}}, async (t, w) => {
        const a = await w.connectTab();
        const b = await w.connectTab();
        await w.waitHealthTabs(2);
        const e = await apiError(w.client().chat.completions.create(ask('fake-chat', 'Hello in direct mode.')));
        assert.equal(e.status, 502);
        assert.equal(e.code, 'upstream_error');
        assert.equal(e.param, 'mode');
        assert.match(e.message, /'direct' mode is not allowed when starting a new conversation/);
        const reqs = await w.fake.requests();
        assert.equal(reqs.filter((q) => /create-evaluation/.test(q.path)).length, 1, 'one upstream request');
        assert.equal(reqs[0].status, 400);
        assert.equal(reqs[0].body.mode, 'direct');
        const fetches = () => a.received('fetch').length + b.received('fetch').length;
        await waitFor(() => fetches() >= 1, {timeoutMs: 5000, what: 'the fetch frame at a tab'});
        await a.waitJobsEnded();
        await b.waitJobsEnded();
        assert.equal(fetches(), 1, 'no other tab tried');
    });

e2eTest(
    'drift: a mode the site does not know (400 ZodError) is diagnosed in /mesh/status',
    {world: {node: {extraArgs: ['--arena-mode', 'solo']}}}, async (t, w) => {
        const tabs = [await w.connectTab(), await w.connectTab()];
        await w.waitHealthTabs(2);
        const before = await selfStatus(w);
        assert.deepEqual(before.tabs.list.map((l) => [l.last_unrecognised, l.hint]), [[null, null], [null, null]]);
        const e = await apiError(w.client().chat.completions.create(ask('fake-chat', 'Hello in solo mode.')));
        assert.equal(e.status, 502);
        assert.equal(e.code, 'upstream_error');
        assert.equal(e.param, 'mode');
        const reqs = await w.fake.requests();
        assert.equal(reqs.length, 1, 'permanent: one upstream request');
        assert.equal(reqs[0].status, 400);
        assert.match(reqs[0].reason, /ZodError/);
        // The tab that met it carries the diagnosis; the other one nothing.
        await waitFor(
            () => tabs.some((x) => x.received('fetch').length > 0),
            {timeoutMs: 5000, what: 'the fetch frame at a tab'});
        for (const x of tabs) await x.waitJobsEnded();
        const ran = tabs.filter((x) => x.received('fetch').length > 0);
        assert.equal(ran.length, 1, 'one tab ran the request');
        const id = ran[0].sent('hello')[0].tab;
        const me = await selfStatus(w);
        const l = me.tabs.list.find((x) => x.id === id);
        assert.ok(l, 'the tab in tabs.list');
        const others = me.tabs.list.filter((x) => x.id !== id);
        assert.deepEqual(others.map((x) => [x.last_unrecognised, x.hint]), [[null, null]]);
        const u = l.last_unrecognised;
        assert.ok(u, 'last_unrecognised set');
        assert.equal(u.kind, '400 shape');
        assert.equal(u.field, 'mode');
        assert.equal(u.status, 400);
        assert.ok(u.body.startsWith('{"error":"ZodError: ['), `the body's first bytes: ${u.body}`);
        assert.ok(u.body.length <= 300);
        assert.match(u.body, /\\"path\\":\[\\"mode\\"\]/);
        assert.ok(u.at_ms > 0);
        assert.equal(typeof l.hint, 'string');
        assert.match(l.hint, /unrecognised/);
    });

e2eTest(
    'a name listed twice: the newest row serves; when the site retires it, one 404 and the older row serves',
    async (t, w) => {
        const tab = await w.connectTab();
        // The page lists the twin twice: the stale older row first, the live newer one second.
        const [older, newer] = await pageRows(w, 'fake-twin');
        assert.ok(older && newer && older !== newer, `two rows: ${older}, ${newer}`);
        assert.ok(uuid7Ms(newer) > uuid7Ms(older), 'the second row is the newer UUIDv7');
        const sdk = w.client();
        const r1 = await sdk.chat.completions.create(ask('fake-twin', 'Twin, the live one.'));
        assert.equal(r1.choices[0].message.content, FAKE_ANSWER);
        let reqs = await w.fake.requests();
        assert.deepEqual(reqs.map((q) => [q.status, q.body.modelAId]), [[200, newer]], 'no 404 on the way');

        // The site retires the newer row (404 Models not found) and revives the older one.
        await w.fake.control({twin_retired: true});
        const pages = tab.sent('page').length;
        const refresh = await http(w.node.baseURL, 'POST', '/mesh/refresh-models', {body: {}});
        assert.equal(refresh.status, 202);
        assert.equal(refresh.json.tabs, 1);
        await waitFor(() => tab.sent('page').length > pages, {timeoutMs: 5000, what: 'the tab to send its page again'});
        const r2 = await sdk.chat.completions.create(ask('fake-twin', 'Twin, after the retirement.'));
        assert.equal(r2.choices[0].message.content, FAKE_ANSWER);
        reqs = await w.fake.requests();
        assert.deepEqual(
            reqs.slice(1).map((q) => [q.status, q.body.modelAId]), [[404, newer], [200, older]],
            'one 404 on the newest row, then one request on the other row');
        assert.match(reqs[1].reason ?? '', /Models not found/);
        // From now on straight to the live row.
        const r3 = await sdk.chat.completions.create(ask('fake-twin', 'Twin, once more.'));
        assert.equal(r3.choices[0].message.content, FAKE_ANSWER);
        reqs = await w.fake.requests();
        assert.equal(reqs.length, 4);
        assert.deepEqual([reqs[3].status, reqs[3].body.modelAId], [200, older]);
        const models = await http(w.node.baseURL, 'GET', '/v1/models');
        assert.equal(models.json.data.filter((m) => m.id === 'fake-twin').length, 1, 'still listed once');
    });

e2eTest(
    '429 prompt failed flags the account, not the model: its tabs rest, the other account serves',
    {world: {node: {tabJobs: 1}}}, async (t, w) => {
        const {a, b} = await twoAccounts(w);
        const byUser = {[DEFAULT_USER]: a, [SECOND_USER]: b};
        const sdk = w.client();
        const r = await sdk.chat.completions.create(ask('fake-chat', fake('promptfailed times=1')));
        assert.equal(r.choices[0].message.content, FAKE_ANSWER);
        let reqs = await w.fake.requests();
        assert.deepEqual(reqs.map((q) => q.status), [429, 200], 'one 429, then served');
        const flagged = reqs[0].account;
        const other = reqs[1].account;
        assert.notEqual(flagged, other, 'served by the other account');
        assert.ok(byUser[flagged] && byUser[other], `accounts ${flagged}, ${other}`);

        const me = await selfStatus(w);
        const acc = (user) => me.accounts.find((x) => x.id === accountHash(user));
        const f = acc(flagged);
        assert.ok(f, `account of ${flagged} in /mesh/status`);
        assert.ok(
            f.flag_remaining_ms > 1700000 && f.flag_remaining_ms <= 1800000,
            `flag_remaining_ms ${f.flag_remaining_ms} (≈ 1800 s)`);
        assert.equal(acc(other).flag_remaining_ms, 0);
        const tabOf = (user) => me.tabs.list.find((l) => l.account === accountHash(user));
        assert.match(tabOf(flagged).hint ?? '', /flagged/);
        assert.equal(tabOf(other).hint, null);
        assert.equal(me.tabs.healthy, 1);

        // Every later request, whatever the model, goes to the other account's tab.
        for (const model of ['fake-chat', 'fake-chat-2', 'fake-search', 'fake-chat']) {
            const x = await sdk.chat.completions.create(ask(model, `After the flag, ${model}.`));
            assert.equal(x.choices[0].message.content, FAKE_ANSWER, model);
        }
        reqs = await w.fake.requests();
        assert.equal(reqs.length, 6);
        assert.deepEqual(reqs.slice(2).map((q) => [q.status, q.account]), Array(4).fill([200, other]));
        await waitFor(
            () => byUser[other].received('fetch').length >= 5,
            {timeoutMs: 5000, what: 'five fetch frames at the other account\'s tab'});
        await byUser[flagged].waitJobsEnded();
        assert.equal(byUser[flagged].received('fetch').length, 1, 'the flagged account\'s tab got nothing more');
        assert.equal(byUser[other].received('fetch').length, 5);
    });

e2eTest(
    'login gate: a logged-out tab says so; LMArena\'s 401 takes it out of routing until it logs in',
    {world: {node: {queueTimeout: 1500}}}, async (t, w) => {
        const tab = await w.openTab({path: '/?as='});
        await w.waitHealthTabs(1);
        await w.waitModels();
        const id = tab.sent('hello')[0].tab;
        const me = await waitFor(async () => {
            const s = await selfStatus(w);
            return s.tabs.list?.[0]?.logged_in === false && s;
        }, {timeoutMs: 5000, what: '/mesh/status: the tab logged out'});
        const [l] = me.tabs.list;
        assert.deepEqual(
            [l.id, l.logged_in, l.login_required, l.challenged, l.hint], [id, false, false, false, HINT_LOGIN]);
        assert.equal(l.account_known, false, 'no account without a session');

        // The tab's word alone does not gate it (the session cookie may be
        // HttpOnly, out of the script's reach): one request goes up, LMArena
        // answers 401, and no other tab can take it.
        const e = await apiError(w.client().chat.completions.create(ask('fake-chat', 'Hello, logged out.')));
        assert.equal(e.status, 502);
        assert.equal(e.code, 'upstream_error');
        assert.match(e.message, /not logged in/);
        let reqs = await w.fake.requests();
        assert.deepEqual(reqs.map((q) => [q.status, q.account]), [[401, 'default']], 'one request, refused 401');
        // From the 401 on the tab is out of routing, and says what to do.
        const gated = await selfStatus(w);
        assert.deepEqual(
            gated.tabs.list.map((x) => [x.id, x.logged_in, x.login_required, x.hint]), [[id, false, true, HINT_LOGIN]]);
        assert.equal(gated.tabs.healthy, 0);
        assert.equal((await w.node.health()).json.status, 'degraded');

        // The next request is not sent upstream: 503 once the queue timeout is over.
        const t0 = Date.now();
        const e2 = await apiError(w.client().chat.completions.create(ask('fake-chat', 'Hello again, logged out.')));
        const ms = Date.now() - t0;
        assert.equal(e2.status, 503);
        assert.equal(e2.code, 'no_capacity');
        assert.ok(ms >= 1400, `answered after the queue timeout (${ms} ms)`);
        assert.equal((await w.fake.requests()).length, 1, 'nothing more reached LMArena');
        await tab.waitJobsEnded();
        assert.equal(tab.received('fetch').length, 1);

        // Logged in, the same tab serves again.
        await tab.page.goto(`${w.fake.url}/?as=late-user`, {waitUntil: 'load'});
        await tab.waitConnected();
        await waitFor(async () => {
            const s = await selfStatus(w);
            const x = s.tabs.list?.[0];
            return s.tabs.list.length === 1 && x.logged_in === true && !x.login_required && s.tabs.healthy === 1;
        }, {timeoutMs: 10000, what: '/mesh/status: the tab logged in'});
        assert.equal((await selfStatus(w)).tabs.list[0].hint, null);
        const r = await w.client().chat.completions.create(ask('fake-chat', 'Hello, logged in.'));
        assert.equal(r.choices[0].message.content, FAKE_ANSWER);
        reqs = await w.fake.requests();
        assert.deepEqual(reqs.map((q) => [q.status, q.account]), [[401, 'default'], [200, 'late-user']]);
    });

e2eTest(
    'pacing in the page: each account starts at most once per interval, the third request waits and gets 503',
    {world: {node: {pace: 'on', paceInterval: 30, queueTimeout: 1500}}}, async (t, w) => {
        await twoAccounts(w);
        // LMArena's own rules: an account starting sooner gets 429 prompt failed.
        await w.fake.control({pace: {interval_ms: 30000, window: 3, window_ms: 390000}});
        const sdk = w.client();
        for (const i of [1, 2]) {
            const r = await sdk.chat.completions.create(ask('fake-chat', `Paced request ${i}.`));
            assert.equal(r.choices[0].message.content, FAKE_ANSWER);
        }
        const t0 = Date.now();
        const e = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Paced request 3.')));
        const ms = Date.now() - t0;
        assert.equal(e.status, 503);
        assert.equal(e.code, 'no_capacity');
        assert.ok(ms >= 1400, `waited for a slot until the queue timeout (${ms} ms)`);
        const reqs = await w.fake.requests();
        assert.equal(reqs.length, 2, 'the third request never went upstream');
        assert.deepEqual(reqs.map((q) => q.status), [200, 200]);
        assert.ok(reqs.every((q) => q.pace_violation === false), 'LMArena saw no pace violation');
        assert.deepEqual(reqs.map((q) => q.account).sort(), [DEFAULT_USER, SECOND_USER].sort(), 'one per account');
        const me = await selfStatus(w);
        for (const user of [DEFAULT_USER, SECOND_USER]) {
            const acc = me.accounts.find((x) => x.id === accountHash(user));
            assert.ok(acc, `account of ${user} in /mesh/status`);
            assert.ok(acc.next_slot_ms > 0 && acc.next_slot_ms <= 30000, `${user}: next_slot_ms ${acc.next_slot_ms}`);
            assert.equal(acc.flag_remaining_ms, 0);
        }
    });

e2eTest('/v1/models carries each row\'s displayName as display_name', async (t, w) => {
    await w.connectTab();
    const models = await http(w.node.baseURL, 'GET', '/v1/models');
    assert.equal(models.status, 200);
    const shown = Object.fromEntries(models.json.data.map((m) => [m.id, m.display_name]));
    assert.deepEqual(shown, {
        'fake-chat': 'Fake Chat',
        'fake-chat-2': 'Fake Chat 2',
        'fake-image': 'Fake Image',
        'fake-search': 'Fake Search',
        'fake-twin': 'Fake Twin',
    });
    // The same names in /mesh/status, for arena-mesh models.
    const me = await selfStatus(w);
    for (const m of me.models) assert.equal(m.display_name, shown[m.name], m.name);
});
