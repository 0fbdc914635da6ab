// Chat completions through the official openai SDK against a real arena-node
// with one fake-link tab: streaming, non-streaming, usage, reasoning, images,
// attachments, history flattening and fresh upstream ids.

import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {
    Arena,
    client,
    collectStream,
    fake,
    http,
    waitFor,
    FAKE_ANSWER,
    FAKE_MODELS,
    FAKE_THINKING,
    UUID7_RE,
} from './lib/harness.mjs';

const arena = new Arena();
let node;
let link;
let sdk;

before(async () => {
    ({node, link} = await arena.startPair({name: 'chat-node'}, {tabs: 1}));
    sdk = client(node);
});
after(() => arena.cleanup());

/*  Sends one request and returns the fetch event it caused at the fake link. */
async function lastFetchAfter(n) {
    return link.waitForEvent((ev) => ev.ev === 'fetch', 5000, {after: n});
}

arena.test('GET /v1/models lists the models of the tab page', async () => {
    const r = await http(node, 'GET', '/v1/models');
    assert.equal(r.status, 200);
    assert.equal(r.json.object, 'list');
    const ids = r.json.data.map((m) => m.id);
    for (const m of FAKE_MODELS) assert.ok(ids.includes(m), `${m} missing from ${ids}`);
    for (const m of r.json.data) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.equal(typeof m.owned_by, 'string');
    }
    const list = await sdk.models.list();
    assert.deepEqual(list.data.map((m) => m.id).sort(), ids.slice().sort());
});

arena.test('streaming: role first, content joins to the answer, finish stop', async () => {
    const stream = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: 'Say hello.'}],
        stream: true,
    });
    const {chunks, content, error} = await collectStream(stream);
    assert.equal(error, null, `stream failed: ${error}`);
    assert.ok(chunks.length >= 2, `only ${chunks.length} chunks`);
    assert.equal(content, FAKE_ANSWER);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'stop');
    for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0].finish_reason ?? null, null);
    const id = chunks[0].id;
    assert.match(id, /^chatcmpl-/);
    for (const c of chunks) {
        assert.equal(c.id, id, 'every chunk carries the same id');
        assert.equal(c.object, 'chat.completion.chunk');
        assert.equal(c.model, 'fake-chat');
        assert.equal(c.usage ?? null, null, 'no usage without include_usage');
    }
});

arena.test('non-streaming: one chat.completion with usage', async () => {
    const before = link.poll().length;
    const res = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: 'Say hello, please.'}],
    });
    const ev = await lastFetchAfter(before);
    assert.equal(res.object, 'chat.completion');
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.model, 'fake-chat');
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    assert.equal(res.choices[0].finish_reason, 'stop');
    const pt = Math.ceil(ev.body.userMessage.content.length / 4);
    assert.deepEqual(
        {p: res.usage.prompt_tokens, c: res.usage.completion_tokens, t: res.usage.total_tokens},
        {p: pt, c: 7, t: pt + 7},
    );
});

arena.test('stream_options.include_usage: a final chunk with usage', async () => {
    const before = link.poll().length;
    const stream = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: 'Count the usage.'}],
        stream: true,
        stream_options: {include_usage: true},
    });
    const {chunks, content, error} = await collectStream(stream);
    assert.equal(error, null, `stream failed: ${error}`);
    const ev = await lastFetchAfter(before);
    assert.equal(content, FAKE_ANSWER);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    const pt = Math.ceil(ev.body.userMessage.content.length / 4);
    assert.deepEqual(last.usage, {prompt_tokens: pt, completion_tokens: 7, total_tokens: pt + 7});
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage ?? null, null);
});

arena.test('usage scenario: upstream token counts pass through', async () => {
    const res = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: fake('usage pt=123 ct=45')}],
    });
    assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    assert.deepEqual(
        [res.usage.prompt_tokens, res.usage.completion_tokens, res.usage.total_tokens],
        [123, 45, 168],
    );
});

arena.test('search: citations become a sources list after the answer', async () => {
    const stream = await sdk.chat.completions.create({
        model: 'fake-search',
        messages: [{role: 'user', content: fake('search')}],
        stream: true,
    });
    const {content, error} = await collectStream(stream);
    assert.equal(error, null, `stream failed: ${error}`);
    assert.equal(content, `${FAKE_ANSWER}\n\nSources:\n1. [A](https://example.test/a)\n`);

    const whole = await sdk.chat.completions.create({
        model: 'fake-search',
        messages: [{role: 'user', content: fake('search')}],
    });
    assert.equal(whole.choices[0].message.content, content);
});

arena.test('reasoning: delta.reasoning_content before the content', async () => {
    const stream = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: fake('reasoning')}],
        stream: true,
    });
    const {chunks, content, reasoning, error} = await collectStream(stream);
    assert.equal(error, null, `stream failed: ${error}`);
    assert.equal(reasoning, FAKE_THINKING);
    assert.equal(content, FAKE_ANSWER);
    const firstReasoning = chunks.findIndex((c) => typeof c.choices[0]?.delta?.reasoning_content === 'string');
    const firstContent = chunks.findIndex(
        (c) => typeof c.choices[0]?.delta?.content === 'string' && c.choices[0].delta.content.length > 0);
    assert.ok(firstReasoning < firstContent, 'reasoning comes before the answer');
    assert.ok(!content.includes(reasoning), 'reasoning is not mixed into content');

    const whole = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: fake('reasoning')}],
    });
    assert.equal(whole.choices[0].message.reasoning_content, reasoning);
    assert.equal(whole.choices[0].message.content, content);
});

arena.test('image model: the answer links the generated image', async () => {
    const before = link.poll().length;
    const res = await sdk.chat.completions.create({
        model: 'fake-image',
        messages: [{role: 'user', content: fake('image', 'Draw a cat.')}],
    });
    const ev = await lastFetchAfter(before);
    assert.equal(ev.body.modality, 'image');
    assert.ok(
        res.choices[0].message.content.includes('![image](https://images.fake-arena.test/1.png)'),
        `content: ${res.choices[0].message.content}`);

    const stream = await sdk.chat.completions.create({
        model: 'fake-image',
        messages: [{role: 'user', content: fake('image', 'Draw a dog.')}],
        stream: true,
    });
    const got = await collectStream(stream);
    assert.equal(got.error, null, `stream failed: ${got.error}`);
    assert.ok(got.content.includes('![image](https://images.fake-arena.test/1.png)'), got.content);
});

// A 1×1 transparent PNG.
const PNG_DATA_URI = 'data:image/png;base64,' +
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

arena.test('image_url part: becomes an upstream attachment', async () => {
    const before = link.poll().length;
    const res = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [{
            role: 'user',
            content: [
                {type: 'text', text: 'What is in this picture?'},
                {type: 'image_url', image_url: {url: PNG_DATA_URI}},
            ],
        }],
    });
    assert.equal(res.choices[0].message.content, FAKE_ANSWER);
    const ev = await lastFetchAfter(before);
    const atts = ev.body.userMessage.experimental_attachments;
    assert.ok(Array.isArray(atts) && atts.length === 1, JSON.stringify(atts));
    assert.equal(atts[0].contentType, 'image/png');
    assert.equal(atts[0].url, PNG_DATA_URI);
    assert.equal(typeof atts[0].name, 'string');
    assert.ok(ev.body.userMessage.content.includes('What is in this picture?'));
});

arena.test('multi-turn with a system prompt: flattened, system first', async () => {
    const before = link.poll().length;
    const last = fake('echo', 'And the second question?');
    const res = await sdk.chat.completions.create({
        model: 'fake-chat',
        messages: [
            {role: 'system', content: 'You are terse.'},
            {role: 'user', content: 'First question?'},
            {role: 'assistant', content: 'First answer.'},
            {role: 'user', content: last},
        ],
    });
    const ev = await lastFetchAfter(before);
    const flat = ev.body.userMessage.content;
    assert.equal(
        flat, `System:\nYou are terse.\n\nUser:\nFirst question?\n\nAssistant:\nFirst answer.\n\nUser:\n${last}`);
    // The echo scenario answers with the upstream request it received.
    const echoed = JSON.parse(res.choices[0].message.content);
    assert.equal(echoed.userMessage.content, flat);
    assert.equal(echoed.id, ev.body.id);
});

arena.test('upstream body: create-evaluation shape with fresh UUIDv7 ids', async () => {
    const before = link.poll().length;
    for (let i = 0; i < 3; i++) {
        await sdk.chat.completions.create({
            model: 'fake-chat',
            messages: [{role: 'user', content: `Request ${i}.`}],
        });
    }
    const fetches = await waitFor(() => {
        const f = link.poll().slice(before).filter((e) => e.ev === 'fetch');
        return f.length >= 3 && f;
    }, {timeoutMs: 5000, what: '3 fetch events'});
    assert.equal(fetches.length, 3);
    const ids = [];
    for (const ev of fetches) {
        const b = ev.body;
        // the page's own 2026 body: direct-battle, no modelBMessageId
        assert.equal(b.mode, 'direct-battle');
        assert.equal('modelBMessageId' in b, false);
        assert.equal(b.modality, 'chat');
        assert.equal(typeof b.modelAId, 'string');
        assert.ok(b.modelAId.length > 0);
        for (const k of ['id', 'userMessageId', 'modelAMessageId']) {
            assert.match(b[k], UUID7_RE, `${k}=${b[k]}`);
            ids.push(b[k]);
        }
    }
    assert.equal(new Set(ids).size, ids.length, `ids repeat: ${ids}`);
    assert.equal(new Set(fetches.map((e) => e.id)).size, 3, 'job ids repeat');
});

arena.test('the fake LMArena accepted every request the node sent', async () => {
    // A `rejected` event means the upstream body or fetch frame failed the
    // fake's LMArena validation (schema, reCAPTCHA, duplicate ids, modality).
    assert.deepEqual(link.find({ev: 'rejected'}), []);
    assert.ok(link.fetches().length >= 10);
});
