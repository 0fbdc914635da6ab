// Multi-turn conversations through the Responses API with the Vercel AI
// SDK's defaults (@ai-sdk/openai's openai(model): `store` left true), against
// a real arena-node with a fake link tab. With store true the SDK sends the
// assistant's earlier output items back as {"type":"item_reference","id":…}
// instead of their text; the node keeps the items of its own answers (per API
// key, --responses-keep) so those references resolve.
//
// Each second turn ends with the fake's `echo` scenario, whose answer is the
// upstream request LMArena received: the first answer's text must be in its
// flattened prompt, as the assistant's turn. A reference made with one API key
// and sent with another is a 400 naming the item, as an unknown id is.

import {describe, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {createOpenAI} from '@ai-sdk/openai';
import {APICallError, generateText, streamText} from 'ai';
import {Arena, fake, http, FAKE_ANSWER} from './lib/harness.mjs';

const MODEL = 'fake-chat';
const KEY_A = 'responses-key-a-7c1e94';
const KEY_B = 'responses-key-b-35d0af';
const THINKING = 'Thinking about it.'; // the fake's `reasoning` scenario

/*  @ai-sdk/openai with the given key, every request body it sends kept in
    `sent` (parsed). */
function provider(node, apiKey) {
    const sent = [];
    const fetchRecording = async (url, init) => {
        if (init?.body) sent.push(JSON.parse(init.body));
        return fetch(url, init);
    };
    const p = createOpenAI({baseURL: `${node.baseURL}/v1`, apiKey, fetch: fetchRecording});
    p.sent = sent;
    return p;
}

/*  The upstream request the echo scenario answered with: its flattened prompt. */
function echoedPrompt(text) {
    const echoed = JSON.parse(text);
    assert.equal(typeof echoed.userMessage?.content, 'string', `not an echo: ${text.slice(0, 200)}`);
    return echoed.userMessage.content;
}

/*  The item_reference ids of a Responses request body. */
const refs = (body) => body.input.filter((i) => i.type === 'item_reference').map((i) => i.id);

async function rejection(p) {
    try {
        const v = await p;
        assert.fail(`expected a rejection, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        return e;
    }
}

describe('Responses API: the AI SDK\'s multi-turn defaults (item_reference)', () => {
    const arena = new Arena();
    let node;
    before(async () => {
        ({node} = await arena.startPair({name: 'responses-node', apiKey: [KEY_A, KEY_B]}, {tabs: 1}));
    });
    after(() => arena.cleanup());

    arena.test('generateText: turn 2 refers to turn 1\'s answer, the model sees its text', async () => {
        const openai = provider(node, KEY_A);
        const turn1 = [{role: 'user', content: 'First question?'}];
        const r1 = await generateText({model: openai(MODEL), messages: turn1, maxRetries: 0});
        assert.equal(r1.text, FAKE_ANSWER);
        const part = r1.response.messages[0].content.find((p) => p.type === 'text');
        const itemId = part?.providerOptions?.openai?.itemId;
        assert.match(itemId ?? '', /^msg_/, 'the answer carries its item id');

        const messages = [...turn1, ...r1.response.messages, {role: 'user', content: fake('echo', 'Second?')}];
        const r2 = await generateText({model: openai(MODEL), messages, maxRetries: 0});
        assert.deepEqual(refs(openai.sent.at(-1)), [itemId], 'the SDK sent the answer as a reference');
        const flat = echoedPrompt(r2.text);
        assert.match(flat, /^User:\nFirst question\?\n\nAssistant:\nHello from the fake arena\.\n\nUser:\nSecond\?/);

        // Another API key cannot read it: the same 400 as an unknown id.
        const other = provider(node, KEY_B);
        const e = await rejection(generateText({model: other(MODEL), messages, maxRetries: 0}));
        assert.ok(APICallError.isInstance(e), String(e));
        assert.equal(e.statusCode, 400);
        const body = JSON.parse(e.responseBody);
        assert.equal(body.error.param, 'input[1]');
        assert.match(body.error.message, new RegExp(`"${itemId}"`));
        assert.match(body.error.message, /for 24 hours, for the API key that made them/);
        assert.match(body.error.message, /providerOptions\.openai\.store = false/);

        // With store: false the SDK sends the text itself: any key may.
        const r3 = await generateText(
            {model: other(MODEL), messages, maxRetries: 0, providerOptions: {openai: {store: false}}});
        assert.deepEqual(refs(other.sent.at(-1)), []);
        assert.match(echoedPrompt(r3.text), /Assistant:\nHello from the fake arena\./);
    });

    arena.test('streamText: the same two turns, streamed', async () => {
        const openai = provider(node, KEY_A);
        const turn1 = [{role: 'user', content: 'Streamed question?'}];
        const errors = [];
        const s1 = streamText(
            {model: openai(MODEL), messages: turn1, maxRetries: 0, onError: ({error}) => errors.push(error)});
        let text1 = '';
        for await (const piece of s1.textStream) text1 += piece;
        assert.deepEqual(errors, []);
        assert.equal(text1, FAKE_ANSWER);
        const {messages: answer1} = await s1.response;

        const s2 = streamText({
            model: openai(MODEL),
            messages: [...turn1, ...answer1, {role: 'user', content: fake('echo', 'Streamed again?')}],
            maxRetries: 0,
            onError: ({error}) => errors.push(error)
        });
        let text2 = '';
        for await (const piece of s2.textStream) text2 += piece;
        assert.deepEqual(errors, []);
        assert.equal(refs(openai.sent.at(-1)).length, 1, 'the SDK sent the answer as a reference');
        assert.match(echoedPrompt(text2), /User:\nStreamed question\?\n\nAssistant:\nHello from the fake arena\./);
    });

    arena.test('reasoning and text referred to: the text reaches the model, the reasoning does not', async () => {
        const openai = provider(node, KEY_A);
        const turn1 = [{role: 'user', content: fake('reasoning', 'Think first.')}];
        const r1 = await generateText({model: openai(MODEL), messages: turn1, maxRetries: 0});
        assert.equal(r1.text, FAKE_ANSWER);
        assert.equal(r1.reasoningText, THINKING);
        const messages = [...turn1, ...r1.response.messages, {role: 'user', content: fake('echo', 'Then?')}];
        const r2 = await generateText({model: openai(MODEL), messages, maxRetries: 0});
        const ids = refs(openai.sent.at(-1));
        assert.equal(ids.length, 2, `two references: ${ids}`);
        assert.ok(ids.some((id) => id.startsWith('rs_')) && ids.some((id) => id.startsWith('msg_')), String(ids));
        const flat = echoedPrompt(r2.text);
        assert.match(flat, /Assistant:\nHello from the fake arena\./);
        assert.ok(!flat.includes(THINKING), 'the reasoning is not sent back up');
    });

    arena.test('raw: an unknown id, previous_response_id', async () => {
        const post = (body) => http(node, 'POST', '/v1/responses', {
            headers: {'content-type': 'application/json', authorization: `Bearer ${KEY_A}`},
            body: JSON.stringify(body)
        });
        let r = await post(
            {model: MODEL, input: [{role: 'user', content: 'Hi'}, {type: 'item_reference', id: 'msg_made_up_0'}]});
        assert.equal(r.status, 400);
        assert.equal(r.json.error.param, 'input[1]');
        assert.match(r.json.error.message, /"msg_made_up_0", which this node does not have/);
        // A whole earlier response is not kept: previous_response_id stays a 400.
        r = await post({model: MODEL, input: 'Hi', previous_response_id: 'resp_x'});
        assert.equal(r.status, 400);
        assert.equal(r.json.error.param, 'previous_response_id');
        // The answer says what it did: store true by default, false when asked.
        r = await post({model: MODEL, input: 'Hi'});
        assert.equal(r.status, 200);
        assert.equal(r.json.store, true);
        r = await post({model: MODEL, input: 'Hi', store: false});
        assert.equal(r.status, 200);
        assert.equal(r.json.store, false);
        // store: false keeps nothing: a reference to that answer is unknown.
        const id = r.json.output[0].id;
        r = await post({model: MODEL, input: [{role: 'user', content: 'Hi'}, {type: 'item_reference', id}]});
        assert.equal(r.status, 400);
        assert.equal(r.json.error.param, 'input[1]');
    });
});

describe('Responses API: --responses-keep 0 keeps nothing', () => {
    const arena = new Arena();
    let node;
    before(async () => {
        ({node} = await arena.startPair(
             {name: 'responses-keep0', apiKey: KEY_A, extraArgs: ['--responses-keep', '0']}, {tabs: 1}));
    });
    after(() => arena.cleanup());

    arena.test('the answer says store false, and its reference is a 400 naming it', async () => {
        const openai = provider(node, KEY_A);
        const turn1 = [{role: 'user', content: 'First question?'}];
        const r1 = await generateText({model: openai(MODEL), messages: turn1, maxRetries: 0});
        assert.equal(r1.text, FAKE_ANSWER);
        assert.equal(r1.response.body?.store, false);
        const messages = [...turn1, ...r1.response.messages, {role: 'user', content: 'Second?'}];
        const e = await rejection(generateText({model: openai(MODEL), messages, maxRetries: 0}));
        assert.ok(APICallError.isInstance(e), String(e));
        assert.equal(e.statusCode, 400);
        const body = JSON.parse(e.responseBody);
        assert.equal(body.error.param, 'input[1]');
        assert.match(body.error.message, /store: false/);
    });
});
