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

// The 2026 page's rows the node serves: the four defaults and the twin (served
// once, by its live row); fake-hidden (userSelectable: false) never. Each
// carries the page's displayName.
const SERVED = {
    'fake-chat': 'Fake Chat',
    'fake-chat-2': 'Fake Chat 2',
    'fake-image': 'Fake Image',
    'fake-search': 'Fake Search',
    'fake-twin': 'Fake Twin',
};

/*  The unix ms a UUIDv7 was made at (its first 48 bits). */
const uuid7Ms = (u) => parseInt(u.replace(/-/g, '').slice(0, 12), 16);

/*  The ids of a 2026 direct-battle body: id, userMessageId and
    modelAMessageId, each a UUIDv7 made just now (not reused, not from the
    page), all different; no modelBMessageId (the page's own direct-battle
    body leaves it out). */
function assertFreshIds(b, t0) {
    const ids = ['id', 'userMessageId', 'modelAMessageId'].map((k) => {
        assert.match(b[k], UUID7_RE, k);
        const ms = uuid7Ms(b[k]);
        assert.ok(ms >= t0 - 1000 && ms <= Date.now() + 1000, `${k} made now: ${new Date(ms).toISOString()}`);
        return b[k];
    });
    assert.equal(new Set(ids).size, 3, `three different ids: ${ids}`);
    assert.ok(!('modelBMessageId' in b), `no modelBMessageId in a direct-battle body: ${b.modelBMessageId}`);
}

e2eTest('the tab connects and the node lists the models from its page', async (t, w) => {
    const tab = await w.connectTab();
    assert.ok((await tab.title()).startsWith(CONNECTED));
    const models = await http(w.node.baseURL, 'GET', '/v1/models');
    const ids = models.json.data.map((m) => m.id);
    assert.deepEqual([...ids].sort(), [...FAKE_MODELS, 'fake-twin'].sort());
    assert.equal(ids.filter((id) => id === 'fake-twin').length, 1, 'the twin listed once');
    assert.ok(!ids.includes('fake-hidden'), 'a row users may not select is not served');
    for (const m of models.json.data) assert.equal(m.display_name, SERVED[m.id], `display_name of ${m.id}`);
    const h = await w.node.health();
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.tabs, 1);
    // The script came from the node with its link URL and token filled in.
    assert.ok(!w.script.includes('__ARENA_LINK_'), 'no placeholder left in the served userscript');
    assert.ok(w.script.includes(LINK_TOKEN));
});

e2eTest('streaming answer', async (t, w) => {
    await w.connectTab();
    const t0 = Date.now();
    const stream = await w.client().chat.completions.create(ask('fake-chat', 'Say hello.', {stream: true}));
    const got = await withTimeout(collectStream(stream), 15000, 'the stream to end');
    assert.equal(got.error, null, `stream error: ${got.error}`);
    assert.equal(got.content, FAKE_ANSWER);
    assert.equal(got.chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(got.chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.equal(new Set(got.chunks.map((c) => c.id)).size, 1, 'one completion id');

    // What LMArena received, from the page: a direct-battle create-evaluation
    // with fresh ids and a reCAPTCHA token minted in the page.
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 1);
    const [req] = reqs;
    assert.equal(req.status, 200);
    assert.equal(req.scenario, 'text');
    assert.equal(req.recaptcha_token_ok, true);
    assert.equal(req.aborted, false);
    const b = req.body;
    assert.equal(b.mode, 'direct-battle');
    assert.equal(b.modality, 'chat');
    assertFreshIds(b, t0);
    assert.equal(typeof b.recaptchaV3Token, 'string');
    assert.match(b.userMessage.content, /Say hello\./);
});

e2eTest('non-streaming answer with usage', async (t, w) => {
    await w.connectTab();
    const t0 = Date.now();
    const r = await w.client().chat.completions.create(ask('fake-chat', 'Say hello.'));
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, 7);
    assert.ok(r.usage.prompt_tokens > 0);
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].body.mode, 'direct-battle');
    assertFreshIds(reqs[0].body, t0);
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

const PNG_URL = `data:image/png;base64,${PNG_1X1}`;
const askImage = () => ({
    model: 'fake-chat',
    messages: [{
        role: 'user',
        content: [
            {type: 'text', text: 'What is in this picture?'},
            {type: 'image_url', image_url: {url: PNG_URL}},
        ]
    }],
});

e2eTest('an image attachment goes up through the page and arrives signed in experimental_attachments', async (t, w) => {
    await w.connectTab();
    const r = await w.client().chat.completions.create(askImage());
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 1);
    const [req] = reqs;
    assert.equal(req.status, 200, req.reason);
    assert.equal(req.attachments_mode, 'signed');
    const att = req.body.userMessage.experimental_attachments;
    assert.equal(att.length, 1);
    assert.equal(att[0].contentType, 'image/png');
    // {name: the storage key, url: the signed URL of that object}
    assert.match(att[0].name, /^uploads\/[0-9a-f]{16}\/[^/]+\.png$/);
    assert.ok(att[0].url.startsWith(`${w.fake.url}/__fake/storage/${att[0].name}?`), att[0].url);
    assert.match(att[0].url, /[?&]X-Amz-Signature=[0-9a-f]+/);
    const stored = await fetch(att[0].url, {signal: AbortSignal.timeout(5000)});
    assert.equal(stored.status, 200);
    assert.deepEqual(Buffer.from(await stored.arrayBuffer()), Buffer.from(PNG_1X1, 'base64'));
});

e2eTest('a page without upload actions: the image stays inline in experimental_attachments', async (t, w) => {
    await w.fake.control({uploads: false});
    await w.connectTab();
    const r = await w.client().chat.completions.create(askImage());
    assert.equal(r.choices[0].message.content, FAKE_ANSWER);
    const reqs = await w.fake.requests();
    assert.equal(reqs.length, 1);
    const [req] = reqs;
    assert.equal(req.status, 200, req.reason);
    assert.equal(req.attachments_mode, 'inline');
    const att = req.body.userMessage.experimental_attachments;
    assert.equal(att.length, 1);
    assert.equal(att[0].contentType, 'image/png');
    assert.equal(att[0].url, PNG_URL);
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
