// The clients people use, unchanged, against a real arena-node with one fake
// link tab (issue #10 item 9): the openai SDK, the Vercel AI SDK
// (@ai-sdk/openai-compatible and @ai-sdk/openai) and LangChain's ChatOpenAI,
// plus SillyTavern's and NextChat's request bodies posted raw.
//
// POST /v1/responses, tool calls and json_schema are probed first (a 404, a
// tool-call answer back as text, a non-JSON answer back as a 200); a probe that
// finds one missing fails the test with what it saw.
//
// Rate limits (item 7): a cooldown past 20 s makes the SDKs give up at once
// (x-should-retry: false) with a message saying when; a short one is slept
// and retried by the SDK itself.

import {describe, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync, readdirSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {APIError} from 'openai';
import {APICallError, RetryError, generateObject, generateText, stepCountIs, streamText, tool} from 'ai';
import {HumanMessage, ToolMessage} from '@langchain/core/messages';
import {z} from 'zod';
import {Arena, arenaTest, collectStream, fake, http, retryAfter, withTimeout, FAKE_ANSWER} from './lib/harness.mjs';
import {
    aiCompatible,
    aiOpenAI,
    fakeText,
    langchain,
    openaiClient,
    probeJsonSchema,
    probeResponses,
    probeTools,
    recordingFetch,
    CITY_SCHEMA,
    TOOL_CALL_ANSWER,
    WEATHER_TOOL,
} from './lib/clients.mjs';

const MODEL = 'fake-chat';
const MISSING = 'no-such-model-x1';
/*  The answer after a tool result: a bare directive value survives any quoting
    of the tool result by a client. */
const FINAL = 'Sunny_in_Paris';
const TOOL_RESULT = `Sunny, 21 C. [[fake:text text=${FINAL}]]`;
const CITY = {
    city: 'Paris',
    temp: 21
};
const CITY_ANSWER = fakeText(JSON.stringify(CITY));

/*  Runs p, which must reject; returns the error. */
async function rejection(p) {
    try {
        const v = await p;
        assert.fail(`expected a rejection, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        return e;
    }
}

/*  The node serves what the probe looked for (Responses, tools, json_schema):
    a probe's reason (what it saw instead) fails the test — these were skipped
    while the features were being built, and a skip would now hide a regression. */
function supported(reason) {
    if (reason) assert.fail(`the node does not serve it: ${reason}`);
}

describe('openai SDK, AI SDK and LangChain against one node', () => {
    const arena = new Arena();
    let node;
    let link;
    let why = {};
    before(async () => {
        ({node, link} = await arena.startPair({name: 'clients-node'}, {tabs: 1}));
        why = {
            responses: await probeResponses(node),
            tools: await probeTools(node),
            schema: await probeJsonSchema(node),
        };
    });
    after(() => arena.cleanup());

    /* ---- openai SDK ---- */

    arena.test('openai SDK: chat, streamed chat, and an unknown model as APIError 404', async () => {
        const sdk = openaiClient(node, {maxRetries: 0});
        const res = await sdk.chat.completions.create({model: MODEL, messages: [{role: 'user', content: 'Hi'}]});
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
        assert.equal(res.choices[0].finish_reason, 'stop');

        const stream = await sdk.chat.completions.create({
            model: MODEL,
            messages: [{role: 'user', content: 'Hi'}],
            stream: true,
        });
        const {content, chunks, error} = await collectStream(stream);
        assert.equal(error, null, `stream failed: ${error}`);
        assert.equal(content, FAKE_ANSWER);
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');

        const e =
            await rejection(sdk.chat.completions.create({model: MISSING, messages: [{role: 'user', content: 'Hi'}]}));
        assert.ok(e instanceof APIError, String(e));
        assert.equal(e.status, 404);
        assert.equal(e.code, 'model_not_found');
        assert.match(e.message, new RegExp(MISSING));
    });

    arena.test('openai SDK: tool round trip (tools → tool_calls → tool result → answer), also streamed', async () => {
        supported(why.tools);
        const sdk = openaiClient(node, {maxRetries: 0});
        const user = {role: 'user', content: `What is the weather in Paris? ${fakeText(TOOL_CALL_ANSWER)}`};
        const first = await sdk.chat.completions.create({model: MODEL, messages: [user], tools: [WEATHER_TOOL]});
        const choice = first.choices[0];
        assert.equal(choice.finish_reason, 'tool_calls');
        assert.equal(choice.message.tool_calls.length, 1);
        const call = choice.message.tool_calls[0];
        assert.equal(call.type, 'function');
        assert.equal(call.function.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.function.arguments), {city: 'Paris'});
        assert.ok(call.id, 'a tool call has an id');

        const final = await sdk.chat.completions.create({
            model: MODEL,
            messages: [user, choice.message, {role: 'tool', tool_call_id: call.id, content: TOOL_RESULT}],
            tools: [WEATHER_TOOL],
        });
        assert.equal(final.choices[0].message.content, FINAL);
        assert.equal(final.choices[0].finish_reason, 'stop');

        // Streamed: delta.tool_calls pieces join to the same call.
        const stream =
            await sdk.chat.completions.create({model: MODEL, messages: [user], tools: [WEATHER_TOOL], stream: true});
        const {chunks, error} = await collectStream(stream);
        assert.equal(error, null, `stream failed: ${error}`);
        let name = '';
        let args = '';
        for (const c of chunks)
            for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
                name += tc.function?.name ?? '';
                args += tc.function?.arguments ?? '';
            }
        assert.equal(name, 'get_weather');
        assert.deepEqual(JSON.parse(args), {city: 'Paris'});
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    });

    arena.test('openai SDK: response_format json_schema answer', async () => {
        supported(why.schema);
        const sdk = openaiClient(node, {maxRetries: 0});
        const res = await sdk.chat.completions.create({
            model: MODEL,
            messages: [{role: 'user', content: `Weather in Paris as JSON. ${CITY_ANSWER}`}],
            response_format: {type: 'json_schema', json_schema: {name: 'weather', strict: true, schema: CITY_SCHEMA}},
        });
        assert.deepEqual(JSON.parse(res.choices[0].message.content), CITY);
    });

    /* ---- Vercel AI SDK ---- */

    for (const [label, model] of [
             ['AI SDK createOpenAICompatible', () => aiCompatible(node)(MODEL)],
             ['AI SDK openai.chat(model)', () => aiOpenAI(node).chat(MODEL)],
    ]) {
        arena.test(`${label}: generateText, streamText, and an unknown model as APICallError 404`, async () => {
            const r = await generateText({model: model(), prompt: 'Say hello.', maxRetries: 0});
            assert.equal(r.text, FAKE_ANSWER);
            assert.equal(r.finishReason, 'stop');

            const errors = [];
            const s = streamText(
                {model: model(), prompt: 'Say hello.', maxRetries: 0, onError: ({error}) => errors.push(error)});
            let text = '';
            for await (const piece of s.textStream) text += piece;
            assert.deepEqual(errors, []);
            assert.equal(text, FAKE_ANSWER);
            assert.equal(await s.finishReason, 'stop');

            const bad = label.includes('Compatible') ? aiCompatible(node)(MISSING) : aiOpenAI(node).chat(MISSING);
            const e = await rejection(generateText({model: bad, prompt: 'Hi', maxRetries: 0}));
            assert.ok(APICallError.isInstance(e), String(e));
            assert.equal(e.statusCode, 404);
            assert.match(e.message, new RegExp(MISSING));
        });
    }

    arena.test('AI SDK openai(model) (Responses API): generateText and streamText', async () => {
        supported(why.responses);
        const r = await generateText({model: aiOpenAI(node)(MODEL), prompt: 'Say hello.', maxRetries: 0});
        assert.equal(r.text, FAKE_ANSWER);
        const errors = [];
        const s = streamText({
            model: aiOpenAI(node)(MODEL),
            prompt: 'Say hello.',
            maxRetries: 0,
            onError: ({error}) => errors.push(error)
        });
        let text = '';
        for await (const piece of s.textStream) text += piece;
        assert.deepEqual(errors, []);
        assert.equal(text, FAKE_ANSWER);
    });

    arena.test('AI SDK generateText with a tool: the tool runs, the answer follows (stopWhen)', async () => {
        supported(why.tools);
        for (const model of [aiCompatible(node)(MODEL), aiOpenAI(node).chat(MODEL)]) {
            const cities = [];
            const r = await generateText({
                model,
                maxRetries: 0,
                prompt: `What is the weather in Paris? ${fakeText(TOOL_CALL_ANSWER)}`,
                tools: {
                    get_weather: tool({
                        description: 'The weather of a city',
                        inputSchema: z.object({city: z.string()}),
                        execute: async ({city}) => {
                            cities.push(city);
                            return TOOL_RESULT;
                        },
                    }),
                },
                stopWhen: stepCountIs(3),
            });
            assert.deepEqual(cities, ['Paris']);
            assert.equal(r.steps.length, 2);
            assert.equal(r.text, FINAL);
        }
    });

    arena.test('AI SDK generateObject with a zod schema', async () => {
        supported(why.schema);
        for (const model of [aiCompatible(node)(MODEL), aiOpenAI(node).chat(MODEL)]) {
            const r = await generateObject({
                model,
                maxRetries: 0,
                schema: z.object({city: z.string(), temp: z.number()}),
                prompt: `Weather in Paris. ${CITY_ANSWER}`,
            });
            assert.deepEqual(r.object, CITY);
        }
    });

    /* ---- LangChain ---- */

    arena.test('LangChain ChatOpenAI: invoke, stream, and an unknown model carrying the 404', async () => {
        const llm = langchain(node);
        const msg = await llm.invoke('Say hello.');
        assert.equal(msg.content, FAKE_ANSWER);

        let text = '';
        for await (const chunk of await llm.stream('Say hello.')) text += chunk.content;
        assert.equal(text, FAKE_ANSWER);

        const e = await rejection(langchain(node, {model: MISSING}).invoke('Hi'));
        assert.equal(e.status, 404, String(e));
        assert.match(e.message, new RegExp(MISSING));
    });

    arena.test('LangChain ChatOpenAI with useResponsesApi: invoke and stream', async () => {
        supported(why.responses);
        const llm = langchain(node, {useResponsesApi: true});
        const msg = await llm.invoke('Say hello.');
        assert.equal(msg.text, FAKE_ANSWER);
        let text = '';
        for await (const chunk of await llm.stream('Say hello.')) text += chunk.text;
        assert.equal(text, FAKE_ANSWER);
    });

    arena.test('LangChain bindTools: tool_calls, then the ToolMessage gets the answer', async () => {
        supported(why.tools);
        const llm = langchain(node).bindTools([WEATHER_TOOL]);
        const human = new HumanMessage(`What is the weather in Paris? ${fakeText(TOOL_CALL_ANSWER)}`);
        const ai = await llm.invoke([human]);
        assert.equal(ai.tool_calls.length, 1);
        assert.equal(ai.tool_calls[0].name, 'get_weather');
        assert.deepEqual(ai.tool_calls[0].args, {city: 'Paris'});
        const final =
            await llm.invoke([human, ai, new ToolMessage({tool_call_id: ai.tool_calls[0].id, content: TOOL_RESULT})]);
        assert.equal(final.content, FINAL);
    });

    arena.test('LangChain withStructuredOutput (json_schema)', async () => {
        supported(why.schema);
        const llm = langchain(node).withStructuredOutput(
            z.object({city: z.string(), temp: z.number()}), {method: 'jsonSchema', strict: true});
        assert.deepEqual(await llm.invoke(`Weather in Paris. ${CITY_ANSWER}`), CITY);
    });

    /* ---- request bodies of chat front-ends, posted raw ---- */

    const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
    /*  What each body must get: 200 with the whole answer, or a 400 naming the
        field the node cannot honour. */
    const expected = {
        'sillytavern-chat.json': {status: 200},
        'sillytavern-stream.json': {status: 200},
        'sillytavern-logit-bias.json': {status: 400, param: 'logit_bias'},
        'nextchat-chat.json': {status: 200},
        'nextchat-stream.json': {status: 200},
    };
    arena.test('every fixture has an expectation', () => {
        assert.deepEqual(readdirSync(fixtures).filter((f) => f.endsWith('.json')).sort(), Object.keys(expected).sort());
    });
    for (const [file, want] of Object.entries(expected)) {
        arena.test(`raw body ${file} → ${want.status}${want.param ? ` naming ${want.param}` : ''}`, async () => {
            const body = readFileSync(fixtures + file, 'utf8');
            const r = await http(
                node, 'POST', '/v1/chat/completions',
                {headers: {'content-type': 'application/json', ...node.authHeaders()}, body});
            assert.equal(r.status, want.status, r.text.slice(0, 400));
            if (want.status === 400) {
                assert.equal(r.json.error.param, want.param, r.text);
                return;
            }
            if (JSON.parse(body).stream) {
                assert.match(r.headers.get('content-type'), /^text\/event-stream/);
                const events = r.text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
                assert.equal(events.at(-1), '[DONE]');
                const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
                assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), FAKE_ANSWER);
                assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
            } else {
                assert.equal(r.json.choices[0].message.content, FAKE_ANSWER);
                assert.equal(r.json.choices[0].finish_reason, 'stop');
            }
        });
    }
});

/* ---- rate limits that do not stall clients (item 7) ---- */

const TIME_RE = /capacity returns at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(in (\d+) s\)/;

/*  A node whose only tab LMArena rate-limited for `seconds`: every session
    for fake-chat is cooling. */
async function cooled(arena, seconds) {
    const {node, link} = await arena.startPair({name: `cooled-${seconds}`}, {tabs: 1});
    const r = await http(node, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({model: MODEL, messages: [{role: 'user', content: fake(`ratelimit retry=${seconds}`)}]}),
    });
    assert.equal(r.status, 429, r.text);
    return {node, link, first: r};
}

/*  The message names a moment `seconds` (±2) from now, and says it in seconds. */
function assertSaysWhen(message, seconds) {
    const m = TIME_RE.exec(message);
    assert.ok(m, `no "capacity returns at … (in N s)" in: ${message}`);
    const at = Date.parse(m[1]);
    const delta = (at - Date.now()) / 1000;
    assert.ok(delta > seconds - 10 && delta <= seconds + 2, `returns at ${m[1]}: ${delta} s from now`);
    assert.ok(Number(m[2]) > seconds - 10 && Number(m[2]) <= seconds, `in ${m[2]} s`);
}

arenaTest('a 10-minute cooldown: the openai SDK (default retries) gives up at once, told when', async (t, arena) => {
    const {node, first} = await cooled(arena, 600);
    assert.equal(first.headers.get('x-should-retry'), 'false');
    assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(first.headers.get('x-ratelimit-reset-requests'), /^(9m[0-9]+s|10m0s)$/);
    assert.equal(first.headers.get('x-ratelimit-limit-requests'), null, 'the node does not know the limit');

    const rec = recordingFetch();
    const sdk = openaiClient(node, {fetch: rec}); // the SDK's default maxRetries (2)
    const t0 = Date.now();
    const e = await withTimeout(
        rejection(sdk.chat.completions.create({model: MODEL, messages: [{role: 'user', content: 'Hi'}]})), 15000,
        'the openai SDK gave up');
    const took = Date.now() - t0;
    assert.ok(e instanceof APIError, String(e));
    assert.equal(e.status, 429);
    assert.equal(e.code, 'rate_limited');
    assert.equal(rec.seen.length, 1, `the SDK retried: ${rec.seen.map((s) => s.status)}`);
    assert.ok(took < 2000, `gave up after ${took} ms`);
    assertSaysWhen(e.message, 600);
    const ra = retryAfter(e.headers);
    assert.ok(ra.ms > 590000 && ra.ms <= 600000, `retry-after-ms ${ra.raw.ms}`);

    // Streamed, the same.
    const rec2 = recordingFetch();
    const t1 = Date.now();
    const e2 = await withTimeout(
        rejection(openaiClient(node, {
                      fetch: rec2
                  }).chat.completions.create({model: MODEL, messages: [{role: 'user', content: 'Hi'}], stream: true})),
        15000, 'the streaming openai SDK gave up');
    assert.ok(e2 instanceof APIError, String(e2));
    assert.equal(e2.status, 429);
    assert.equal(rec2.seen.length, 1, `the SDK retried: ${rec2.seen.map((s) => s.status)}`);
    assert.ok(Date.now() - t1 < 2000, `gave up after ${Date.now() - t1} ms`);
    assertSaysWhen(e2.message, 600);

    // LangChain with its default retries (its own loop: a Retry-After past
    // 60 s is a capacity error at once).
    const t2 = Date.now();
    const e3 =
        await withTimeout(rejection(langchain(node, {maxRetries: null}).invoke('Hi')), 15000, 'LangChain gave up');
    assert.ok(Date.now() - t2 < 2000, `gave up after ${Date.now() - t2} ms`);
    assert.equal(e3.status, 429, String(e3));
    assertSaysWhen(e3.message, 600);
});

arenaTest(
    'a 10-minute cooldown: the AI SDK gives up within its own backoff, the 429 and when in the error',
    async (t, arena) => {
        const {node} = await cooled(arena, 600);
        // The AI SDK decides on the status alone (429 and 5xx are retryable) and
        // sleeps its own backoff (2 s, 4 s) when retry-after-ms is 60 s or more:
        // with its default maxRetries (2) it gives up after ~6 s, not 10 minutes.
        const rec = recordingFetch();
        const t0 = Date.now();
        const e = await withTimeout(
            rejection(generateText({model: aiCompatible(node, {fetch: rec})(MODEL), prompt: 'Hi'})), 30000,
            'the AI SDK gave up');
        const took = Date.now() - t0;
        assert.ok(RetryError.isInstance(e), String(e));
        assert.ok(took < 12000, `gave up after ${took} ms`);
        assert.ok(rec.seen.every((s) => s.status === 429), rec.seen.map((s) => s.status).join());
        const last = e.lastError;
        assert.ok(APICallError.isInstance(last), String(last));
        assert.equal(last.statusCode, 429);
        assertSaysWhen(last.message, 600);

        // maxRetries: 0 gives the 429 itself, at once.
        const t1 = Date.now();
        const e0 = await rejection(generateText({model: aiCompatible(node)(MODEL), prompt: 'Hi', maxRetries: 0}));
        assert.ok(Date.now() - t1 < 2000, `took ${Date.now() - t1} ms`);
        assert.ok(APICallError.isInstance(e0), String(e0));
        assert.equal(e0.statusCode, 429);
        assert.equal(e0.responseHeaders['x-should-retry'], 'false');
        assertSaysWhen(e0.message, 600);
    });

arenaTest(
    'a short cooldown (5 s, the node\'s floor): the openai SDK, the AI SDK and LangChain wait and get the answer',
    async (t, arena) => {
        const {node, first} = await cooled(arena, 1);
        assert.equal(first.headers.get('x-should-retry'), 'true');
        assert.doesNotMatch(first.json.error.message, TIME_RE);
        assert.match(first.headers.get('x-ratelimit-reset-requests'), /^([1-5]s|[0-9]+ms)$/);

        // The three with their default retries, at once, in the same cooldown.
        const rec = recordingFetch();
        const rec2 = recordingFetch();
        const [res, r, lc] = await withTimeout(
            Promise.all([
                openaiClient(node, {fetch: rec})
                    .chat.completions.create({model: MODEL, messages: [{role: 'user', content: 'Hi'}]}),
                generateText({model: aiCompatible(node, {fetch: rec2})(MODEL), prompt: 'Hi'}),
                langchain(node, {maxRetries: null}).invoke('Hi'),
            ]),
            30000, 'the three clients answered');
        assert.equal(res.choices[0].message.content, FAKE_ANSWER);
        assert.equal(r.text, FAKE_ANSWER);
        assert.equal(lc.content, FAKE_ANSWER);
        for (const [who, seen] of [['openai', rec.seen], ['AI SDK', rec2.seen]]) {
            assert.equal(seen[0].status, 429, `${who}: the first try met the cooldown`);
            assert.equal(seen[0].headers.get('x-should-retry'), 'true');
            assert.equal(seen.at(-1).status, 200, `${who}: ${seen.map((s) => s.status)}`);
            const waitMs = Number(seen[0].headers.get('retry-after-ms'));
            const slept = seen.at(-1).at - seen[0].at;
            assert.ok(slept >= waitMs - 100, `${who} slept ${slept} ms of retry-after-ms ${waitMs}`);
        }
    });
