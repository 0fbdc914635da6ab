// Node lifecycle and the non-API pages: /health, /mesh/status, /, the
// userscript; client aborts, tab loss mid-stream, SIGTERM with a stream in
// flight, and cooldowns that survive a restart.

import {describe, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {once} from 'node:events';
import net from 'node:net';
import {APIError} from 'openai';
import {
    Arena,
    arenaTest,
    client,
    collectStream,
    fake,
    http,
    retryAfter,
    sleep,
    waitFor,
    waitForModels,
    withTimeout,
    FAKE_ANSWER,
    FAKE_MODELS,
} from './lib/harness.mjs';

const ask = (model, content, extra = {}) => ({
    model,
    messages: [{role: 'user', content}],
    ...extra,
});

async function apiError(p) {
    try {
        const v = await p;
        assert.fail(`expected an APIError, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (!(e instanceof APIError)) throw e;
        return e;
    }
}

describe('status pages', () => {
    const arena = new Arena();
    let node;
    before(async () => {
        ({node} = await arena.startPair({name: 'status-node'}, {tabs: 1}));
    });
    after(() => arena.cleanup());

    arena.test('GET /health', async () => {
        const r = await http(node, 'GET', '/health');
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
        const {status, node: name, tabs, peers} = r.json;
        assert.deepEqual({status, node: name, tabs, peers}, {status: 'ok', node: 'status-node', tabs: 1, peers: 0});
    });

    arena.test('GET /mesh/status: this node alone, alive, with its models', async () => {
        const r = await http(node, 'GET', '/mesh/status');
        assert.equal(r.status, 200);
        const st = r.json;
        assert.equal(st.nodes.length, 1);
        const me = st.nodes[0];
        assert.equal(me.self, true);
        assert.equal(me.name, 'status-node');
        assert.equal(me.state, 'alive');
        assert.equal(st.self, me.id);
        assert.equal(typeof st.generated_ms, 'number');
        assert.equal(me.tabs.count, 1);
        const names = me.models.map((m) => m.name);
        for (const m of FAKE_MODELS) assert.ok(names.includes(m), `${m} missing from ${names}`);
        for (const m of me.models) assert.equal(m.cooled_remaining_ms, 0);
        const img = me.models.find((m) => m.name === 'fake-image');
        assert.equal(img.modality, 'image');
    });

    arena.test('GET / is a page pointing at the userscript', async () => {
        const r = await http(node, 'GET', '/');
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
        assert.ok(r.text.includes('/userscript.user.js'));
    });

    arena.test('GET /userscript.user.js carries this node\'s link URL and token', async () => {
        const r = await http(node, 'GET', '/userscript.user.js');
        assert.equal(r.status, 200);
        assert.ok(r.text.includes('==UserScript=='), 'userscript metadata block');
        assert.ok(r.text.includes('==/UserScript=='), 'userscript metadata block end');
        assert.ok(r.text.includes(`ws://127.0.0.1:${node.link.port}/link`), 'link URL');
        assert.ok(r.text.includes(node.token), 'link token');
    });
});

describe('client abort', () => {
    const arena = new Arena();
    let node;
    let link;
    let sdk;
    before(async () => {
        ({node, link} = await arena.startPair({name: 'abort-node'}, {tabs: 1}));
        sdk = client(node);
    });
    after(() => arena.cleanup());

    arena.test('abort after the first chunk → the tab gets an abort for that job', async () => {
        const before = link.poll().length;
        const ac = new AbortController();
        const stream = await sdk.chat.completions.create(
            ask('fake-chat', fake('drip ms=200 count=100'), {stream: true}), {signal: ac.signal});
        const job = await link.waitForEvent((ev) => ev.ev === 'fetch', 3000, {after: before});
        let seen = 0;
        const got = await withTimeout(
            collectStream(stream, {
                onChunk: () => {
                    seen++;
                    ac.abort();
                },
            }),
            5000, 'the aborted stream to end');
        assert.ok(seen >= 1);
        assert.ok(got.chunks.length < 100, 'the stream stopped early');
        const ab = await link.waitForEvent((ev) => ev.ev === 'abort' && ev.id === job.id, 3000);
        assert.equal(ab.tab, job.tab);
        await link.waitForEvent((ev) => ev.ev === 'end' && ev.id === job.id, 3000);
    });

    arena.test('abort before the first byte (stalled upstream) → abort reaches the tab', async () => {
        const before = link.poll().length;
        const ac = new AbortController();
        const pending =
            sdk.chat.completions.create(ask('fake-chat', fake('stall'), {stream: true}), {signal: ac.signal})
                .catch((e) => e);
        const job = await link.waitForEvent((ev) => ev.ev === 'fetch', 3000, {after: before});
        await sleep(200);
        ac.abort();
        const err = await withTimeout(pending, 3000, 'the aborted request to settle');
        assert.ok(err instanceof Error);
        await link.waitForEvent((ev) => ev.ev === 'abort' && ev.id === job.id, 3000);
    });

    arena.test('after aborts the tab serves the next request', async () => {
        const res = await sdk.chat.completions.create(ask('fake-chat', 'Hi'));
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    });
});

arenaTest(
    'a client that stops reading a stream is let go past --stream-buffer; the model\'s stream is stopped',
    async (t, arena) => {
        const {node, link} =
            await arena.startPair({name: 'slow-node', extraArgs: ['--stream-buffer', '1m']}, {tabs: 1});
        // ~31 MB of SSE: far more than the socket buffers (a few MB) and the 1 MiB the
        // node may hold for this client
        const body = JSON.stringify(ask('fake-chat', fake('long chars=20000000'), {stream: true}));
        const url = new URL(node.baseURL);
        const before = link.poll().length;
        const sock = net.connect(Number(url.port), url.hostname);
        t.after(() => sock.destroy());
        await once(sock, 'connect');
        sock.pause(); // reads nothing from now on
        sock.write(
            `POST /v1/chat/completions HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        const job = await link.waitForEvent((ev) => ev.ev === 'fetch', 5000, {after: before});
        await link.waitForEvent((ev) => ev.ev === 'abort' && ev.id === job.id, 30000);
        // the node serves others meanwhile
        const res = await client(node).chat.completions.create(ask('fake-chat', 'Still there?'));
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    });

arenaTest('tab lost mid-stream → the stream ends with an error event', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'midclose-node'}, {tabs: 1, noReconnect: true});
    const sdk = client(node);
    const stream = await sdk.chat.completions.create(ask('fake-chat', fake('midclose after=2'), {stream: true}));
    const got = await withTimeout(collectStream(stream), 10000, 'the broken stream to end');
    // The node sends `data: {"error":{...}}` then `data: [DONE]`; the SDK turns
    // the error event into an APIError without an HTTP status.
    assert.ok(got.error instanceof APIError, `stream error: ${got.error}`);
    assert.equal(got.error.status, undefined);
    assert.equal(got.error.code, 'upstream_error');
    assert.equal(got.chunks[0].choices[0].delta.role, 'assistant');
    assert.ok(got.content.length > 0, 'the first pieces arrived before the loss');
    assert.ok(
        FAKE_ANSWER.startsWith(got.content) && got.content !== FAKE_ANSWER,
        `content ${JSON.stringify(got.content)} is a proper prefix of the answer`);
    assert.equal(
        got.chunks.filter((c) => c.choices[0]?.delta?.content).length, 2, 'exactly the 2 pieces sent before the close');
    assert.ok(got.chunks.every((c) => c.choices[0]?.finish_reason == null), 'no finish after a loss');
    await link.waitForEvent((ev) => ev.ev === 'closed', 3000);
});

arenaTest('tab lost after content, non-streaming → 502 upstream_error', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'midclose2-node'}, {tabs: 1, noReconnect: true});
    const sdk = client(node);
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('midclose after=2'))));
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_error');
    assert.equal(link.fetches().length, 1, 'no retry after content arrived');
    const h = await http(node, 'GET', '/health');
    assert.equal(h.json.tabs, 0);
});

arenaTest('SIGTERM with a stream in flight → exit 0 within 5 s, the client does not hang', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'sigterm-node'}, {tabs: 1});
    const sdk = client(node);
    const stream = await sdk.chat.completions.create(ask('fake-chat', fake('drip ms=200 count=100'), {stream: true}));
    let stopped;
    const got = withTimeout(
        collectStream(stream, {
            onChunk: (c, n) => {
                if (n === 1) stopped = node.stop('SIGTERM', 5000);
            },
        }),
        8000, 'the stream to end after SIGTERM');
    const result = await got;
    const exit = await stopped;
    assert.equal(exit.timedOut, false, `no exit within 5 s (${exit.ms} ms)`);
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    assert.ok(result.chunks.length < 100, 'the stream was cut short');
    // Either a clean error event or a connection error: never a silent hang.
    if (result.error) assert.ok(result.error instanceof Error);
    assert.ok(link.fetches().length === 1);
});

arenaTest('SIGTERM when idle → exit 0 quickly', async (t, arena) => {
    const node = await arena.startNode({name: 'idle-node'});
    const exit = await node.stop('SIGTERM', 5000);
    assert.equal(exit.timedOut, false);
    assert.equal(exit.code, 0);
    assert.ok(exit.ms < 5000);
});

arenaTest('a cooldown survives a restart', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'restart-node'}, {tabs: 1});
    let sdk = client(node);
    const e = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('ratelimit retry=600'))));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    assert.equal(link.fetches().length, 1);

    const exit = await node.restart();
    assert.equal(exit.timedOut, false);
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    // The catalog is persisted too, so wait for the tab itself: the fake link
    // reconnects by itself (back-off up to 2 s).
    await waitForModels(node, 'fake-chat', 20000);
    await waitFor(
        async () => (await http(node, 'GET', '/health')).json?.tabs === 1,
        {timeoutMs: 15000, what: 'the fake link to reconnect to the restarted node'});
    sdk = client(node);

    const again = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi')));
    assert.equal(again.status, 429);
    assert.equal(again.code, 'rate_limited');
    const ra = retryAfter(again.headers);
    assert.ok(ra.s > 500 && ra.s <= 600, `Retry-After ${ra.raw.s}`);
    assert.ok(ra.ms > 500000 && ra.ms <= 600000, `retry-after-ms ${ra.raw.ms}`);
    await sleep(300);
    assert.equal(link.fetches().length, 1, 'no new fetch for the cooled model');

    const other = await sdk.chat.completions.create(ask('fake-chat-2', 'Hi'));
    assert.equal(other.choices[0].message.content, FAKE_ANSWER);
});

arenaTest(
    'catalog policy: --model-allow filters, --model-alias serves a model under another name', async (t, arena) => {
        const {node, link} = await arena.startPair(
            {
                name: 'policy-node',
                extraArgs: ['--model-allow', 'fake-chat', '--model-alias', 'house=fake-chat-2'],
            },
            {tabs: 1});
        const sdk = client(node);
        await waitFor(
            async () => (await sdk.models.list()).data.length === 2, {timeoutMs: 5000, what: 'two served models'});
        const ids = (await sdk.models.list()).data.map((m) => m.id).sort();
        assert.deepEqual(ids, ['fake-chat', 'house']);

        const viaAlias = await sdk.chat.completions.create({
            model: 'house',
            messages: [{role: 'user', content: 'hi'}],
        });
        assert.equal(viaAlias.model, 'house');
        assert.equal(viaAlias.choices[0].message.content, FAKE_ANSWER);
        const status = JSON.parse((await http(node, 'GET', '/mesh/status')).text);
        const house = status.nodes[0].models.find((m) => m.name === 'house');
        assert.ok(house, 'the alias is listed in /mesh/status');
        const fetches = link.fetches();
        assert.equal(
            fetches[fetches.length - 1].body.modelAId, house.arena_id, 'the alias reaches its target upstream');

        await assert.rejects(
            sdk.chat.completions.create({model: 'fake-chat-2', messages: [{role: 'user', content: 'hi'}]}),
            (e) => e.status === 404 && e.code === 'model_not_found',
        );
    });
