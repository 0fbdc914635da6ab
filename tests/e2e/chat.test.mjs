// Answers through the whole chain: openai SDK → arena-node → WebSocket → the
// userscript in Chromium → the page's fetch → fake LMArena, and back.

import assert from 'node:assert/strict';
import {
    e2eTest,
    ask,
    collectStream,
    fake,
    http,
    withTimeout,
    FAKE_ANSWER,
    FAKE_MODELS,
    FAKE_THINKING,
    LINK_TOKEN,
    UUID7_RE,
    CONNECTED,
} from './lib/harness.mjs';

// A 1×1 PNG.
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

e2eTest('the tab connects and the node lists the models from its page', async (t, w) => {
    const tab = await w.connectTab();
    assert.ok((await tab.title()).startsWith(CONNECTED));
    const models = await http(w.node.baseURL, 'GET', '/v1/models');
    assert.deepEqual(models.json.data.map((m) => m.id).sort(), [...FAKE_MODELS].sort());
    const h = await w.node.health();
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.tabs, 1);
    // The script came from the node with its link URL and token filled in.
    assert.ok(!w.script.includes('__ARENA_LINK_'), 'no placeholder left in the served userscript');
    assert.ok(w.script.includes(LINK_TOKEN));
});

e2eTest('streaming answer', async (t, w) => {
    await w.connectTab();
    const stream = await w.client().chat.completions.create(ask('fake-chat', 'Say hello.', {stream: true}));
    const got = await withTimeout(collectStream(stream), 15000, 'the stream to end');
    assert.equal(got.error, null, `stream error: ${got.error}`);
    assert.equal(got.content, FAKE_ANSWER);
    assert.equal(got.chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(got.chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.equal(new Set(got.chunks.map((c) => c.id)).size, 1, 'one completion id');

    // What LMArena received, from the page: a create-evaluation with fresh ids
    // and a reCAPTCHA token minted in the page.
    const [req] = await w.fake.requests();
    assert.equal(req.status, 200);
    assert.equal(req.scenario, 'text');
    assert.equal(req.recaptcha_token_ok, true);
    assert.equal(req.aborted, false);
    const b = req.body;
    assert.equal(b.mode, 'direct');
    assert.equal(b.modality, 'chat');
    for (const k of ['id', 'userMessageId', 'modelAMessageId', 'modelBMessageId']) assert.match(b[k], UUID7_RE, k);
    assert.equal(typeof b.recaptchaV3Token, 'string');
    assert.match(b.userMessage.content, /Say hello\./);
});

e2eTest('non-streaming answer with usage', async (t, w) => {
    await w.connectTab();
    const r = await w.client().chat.completions.create(ask('fake-chat', 'Say hello.'));
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, 7);
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal((await w.fake.requests()).length, 1);
});

e2eTest('multi-turn history with a system prompt reaches LMArena flattened', async (t, w) => {
    await w.connectTab();
    const messages = [
        {role: 'system', content: 'You are a terse pirate.'},
        {role: 'user', content: 'First question, about ships.'},
        {role: 'assistant', content: 'Arr, ships be fine.'},
        {role: 'user', content: 'Second question, about parrots.'},
    ];
    const r = await w.client().chat.completions.create({model: 'fake-chat-2', messages});
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const [req] = await w.fake.requests();
    const content = req.body.userMessage.content;
    // Every turn is there, the system prompt first, in order.
    const at = messages.map((m) => content.indexOf(m.content));
    assert.ok(at.every((i) => i >= 0), `every turn in ${JSON.stringify(content)}`);
    assert.deepEqual([...at].sort((a, b) => a - b), at, 'turns in order, system first');
    assert.equal(req.body.modelAId !== undefined, true);
});

e2eTest('an image attachment arrives in experimental_attachments', async (t, w) => {
    await w.connectTab();
    const url = `data:image/png;base64,${PNG_1X1}`;
    const r = await w.client().chat.completions.create({
        model: 'fake-chat',
        messages: [{
            role: 'user',
            content: [
                {type: 'text', text: 'What is in this picture?'},
                {type: 'image_url', image_url: {url}},
            ]
        }],
    });
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const [req] = await w.fake.requests();
    assert.equal(req.status, 200);
    const att = req.body.userMessage.experimental_attachments;
    assert.equal(att.length, 1);
    assert.equal(att[0].contentType, 'image/png');
    assert.equal(att[0].url, url);
    assert.equal(typeof att[0].name, 'string');
});

e2eTest('an image model answers with a Markdown image link', async (t, w) => {
    await w.connectTab();
    const r = await w.client().chat.completions.create(ask('fake-image', fake('image', 'Draw a cat.')));
    assert.match(r.choices[0].message.content, /!\[[^\]]*\]\(https:\/\/images\.fake-arena\.test\/1\.png\)/);
    const [req] = await w.fake.requests();
    assert.equal(req.body.modality, 'image');
    assert.equal(req.status, 200);
});

e2eTest('reasoning arrives as delta.reasoning_content', async (t, w) => {
    await w.connectTab();
    const stream = await w.client().chat.completions.create(ask('fake-chat', fake('reasoning'), {stream: true}));
    const got = await withTimeout(collectStream(stream), 15000, 'the stream to end');
    assert.equal(got.error, null, `stream error: ${got.error}`);
    assert.equal(got.reasoning, FAKE_THINKING);
    assert.equal(got.content, FAKE_ANSWER);
    const firstReasoning = got.chunks.findIndex((c) => c.choices[0]?.delta?.reasoning_content);
    const firstContent = got.chunks.findIndex((c) => c.choices[0]?.delta?.content);
    assert.ok(firstReasoning >= 0 && firstReasoning < firstContent, 'reasoning before the answer');
});

e2eTest('several jobs at once on one tab (--tab-jobs 4)', {world: {node: {tabJobs: 4}}}, async (t, w) => {
    await w.connectTab();
    const sdk = w.client();
    const prompts = [0, 1, 2, 3].map((i) => fake('drip ms=100 count=8', `Job ${i}.`));
    const t0 = Date.now();
    const all = await withTimeout(
        Promise.all(prompts.map((p) => sdk.chat.completions.create(ask('fake-chat', p)))), 20000, 'four answers');
    const ms = Date.now() - t0;
    for (const r of all) assert.equal(r.choices[0].finish_reason, 'stop');
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 4);
    assert.ok(reqs.every((r) => r.status === 200 && !r.aborted));
    // Four 800 ms drips in one tab, run together rather than one after
    // another: LMArena saw every request begin before the first one ended.
    const lastStart = Math.max(...reqs.map((r) => r.t_ms));
    const firstEnd = Math.min(...reqs.map((r) => r.end_ms));
    assert.ok(lastStart < firstEnd, `overlap: last start ${lastStart}, first end ${firstEnd} (took ${ms} ms)`);
});
