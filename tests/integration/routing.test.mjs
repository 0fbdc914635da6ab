// "Which node would serve a request now" (GET /mesh/status "routing",
// dispatch_peek): with the local tab healthy a node names itself; a model
// served only on a peer names the peer; a node whose only tab is busy names
// the peer with a free slot — and a request sent then really runs there;
// with every holder cooling, null with the reason and the wait; a model
// served nowhere is not listed.

import assert from 'node:assert/strict';
import {APIError} from 'openai';
import {arenaTest, client, fake, http, waitFor, waitForModels} from './lib/harness.mjs';

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];

async function status(node) {
    const r = await http(node, 'GET', '/mesh/status', {headers: node.authHeaders()});
    assert.equal(r.status, 200, r.text);
    return r.json;
}

/*  Waits until node's routing of model satisfies pred; returns the entry. */
async function waitRoute(node, model, pred, what) {
    return waitFor(async () => {
        const route = (await status(node)).routing?.[model];
        return route && pred(route) && route;
    }, {timeoutMs: 10000, intervalMs: 50, what: `${node.name}: ${what}`});
}

arenaTest('routing: /mesh/status says which node would serve each model now', async (t, arena) => {
    // A: one tab taking one job at a time; B: no tab; C: one tab
    const {node: a, link: la} = await arena.startPair({name: 'route-a', tabJobs: 1}, {tabs: 1});
    const b = await arena.startNode({name: 'route-b', extraArgs: seedOf(a)});
    const {node: c, link: lc} = await arena.startPair({name: 'route-c', tabJobs: 1, extraArgs: seedOf(a)}, {tabs: 1});
    const ida = (await status(a)).self, idb = (await status(b)).self, idc = (await status(c)).self;
    await waitForModels(b, 'fake-chat');

    // a node with a healthy tab: itself (local tabs come first)
    const local = await waitRoute(a, 'fake-chat', (r) => r.node === ida, 'itself for fake-chat');
    assert.equal(local.state, 'local');
    assert.match(local.why, /tab of this node is free/);
    assert.equal(local.retry_ms, undefined);
    // B serves nothing itself: a peer with a free slot (A or C, both idle)
    const remote = await waitRoute(
        b, 'fake-chat', (r) => r.state === 'peer' && / 2 peers /.test(r.why), 'a peer (of two) for fake-chat');
    assert.ok([ida, idc].includes(remote.node), `names a holder: ${remote.node}`);
    assert.match(remote.why, /^not served here; the least loaded of 2 peers with a free slot$/);
    // every model of the mesh has an entry; a model served nowhere has none
    const doc = await status(b);
    for (const m of ['fake-chat', 'fake-chat-2', 'fake-image', 'fake-search']) assert.ok(doc.routing[m], m);
    assert.equal(doc.routing['no-such-model'], undefined);
    assert.ok(!Object.values(doc.routing).some((r) => r.node === idb), 'B never names itself');

    // A's only slot busy (a stalled answer): A names C, and a request sent to A now runs on C
    const stalled = new AbortController();
    const hold = fetch(`${a.baseURL}/v1/chat/completions`, {
                     method: 'POST',
                     headers: {'content-type': 'application/json'},
                     body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: fake('stall')}]}),
                     signal: stalled.signal,
                 }).catch((e) => e);
    t.after(() => stalled.abort());
    await la.waitForEvent((ev) => ev.ev === 'fetch' && ev.scenario === 'stall');
    const busy = await waitRoute(a, 'fake-chat', (r) => r.node === idc, 'C while its own tab is busy');
    assert.equal(busy.state, 'peer');
    assert.match(busy.why, /^this node's tabs are busy; the one peer with a free slot$/);
    const before = lc.fetches().length;
    const r = await client(a).chat.completions.create(
        {model: 'fake-chat', messages: [{role: 'user', content: 'where do I run?'}]});
    assert.match(r.choices[0].message.content, /fake arena/);
    assert.equal(lc.fetches().length, before + 1, 'the request ran on C, as the peek said');
    stalled.abort();
    assert.equal((await hold).name, 'AbortError');
    await waitRoute(a, 'fake-chat', (r) => r.node === ida, 'itself again once its tab is free');

    // every holder of fake-chat-2 cooling: null, the reason and the wait, on every node
    for (const n of [a, c]) {
        const e = await client(n)
                      .chat.completions
                      .create({model: 'fake-chat-2', messages: [{role: 'user', content: fake('ratelimit retry=120')}]})
                      .catch((err) => err);
        assert.ok(e instanceof APIError && e.status === 429, `${n.name}: ${e}`);
    }
    for (const n of [a, b, c]) {
        const cool = await waitRoute(n, 'fake-chat-2', (x) => x.state === 'cooling', 'fake-chat-2 cooling');
        assert.equal(cool.node, null);
        assert.match(cool.why, /^every node serving it is cooling down \(.+\): refused for \d+ s$/);
        assert.ok(cool.retry_ms > 60000 && cool.retry_ms <= 120000, `retry_ms ${cool.retry_ms}`);
    }
    // … while fake-chat is still served
    assert.equal((await status(b)).routing['fake-chat'].state, 'peer');
});
