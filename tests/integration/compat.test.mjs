// Issue #10 end to end through a real arena-node with one fake-link tab:
// each OpenAI field a client relies on either works as OpenAI's API does or
// is refused with a 400 naming it. stop and max_tokens cut the answer (also
// a match split across upstream deltas) and abort the upstream; n, audio,
// logit_bias, store refused; logprobs/refusal null; names reach the model;
// tools lowered into the prompt and parsed back (tool_choice, history,
// unparseable or unknown calls as text, streamed pieces); structured output
// checked and retried once with the error stated; the Responses API over raw
// HTTP; images; and the same shaping across a mesh hop.
//
// What the real SDKs do with these answers is clients.test.mjs; here the
// node's behaviour is checked field by field, mostly over raw HTTP.

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
    waitForModels,
    FAKE_ANSWER,
} from './lib/harness.mjs';
import {chatChunks, count, fetchesSince, post, postSSE, promptOf, say} from './lib/compat.mjs';

const MODEL = 'fake-chat';
const IMAGE_URL = 'https://images.fake-arena.test/1.png'; /* the fake's image scenario */
const WEATHER = {
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'The weather of a city',
        parameters: {
            type: 'object',
            properties: {city: {type: 'string'}},
            required: ['city'],
            additionalProperties: false,
        },
    },
};
const TIME = {
    type: 'function',
    function: {name: 'get_time', parameters: {type: 'object', properties: {}}}
};
const CALL = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}';
const CITY_SCHEMA = {
    type: 'object',
    properties: {city: {type: 'string'}, temp: {type: 'number'}},
    required: ['city', 'temp'],
    additionalProperties: false,
};
const CITY_FORMAT = {
    type: 'json_schema',
    json_schema: {name: 'city', strict: true, schema: CITY_SCHEMA}
};
const TOOLS_HEADING = '# Tools';
const ECHO = '[[fake:echo]]';
const RETRY_SAYS = 'Your previous answer was not valid:';

/*  The prompt LMArena got, from an echo answer (the upstream body). */
const echoed = (answer) => JSON.parse(answer).userMessage.content;
const user = (content, extra = {}) => ({role: 'user', content, ...extra});
const chat = (content, extra = {}) => ({model: MODEL, messages: [user(content)], ...extra});

/*  p must reject with an openai APIError; returns it. */
async function apiError(p) {
    try {
        const v = await p;
        assert.fail(`expected an APIError, got ${JSON.stringify(v).slice(0, 300)}`);
    } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof APIError, String(e));
        return e;
    }
}

/*  A 400 naming param, in OpenAI's error shape. */
function assert400(r, param) {
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.error?.param, param, r.text);
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.equal(typeof r.json.error.message, 'string');
}

/*  The tab saw an abort for job (and the job ended aborted or, when its
    last chunk was on the wire already, done: the abort then answers nothing). */
async function assertAborted(link, job) {
    const ab = await link.waitForEvent((ev) => ev.ev === 'abort' && ev.id === job.id, 3000);
    assert.equal(ab.tab, job.tab);
    const end = await link.waitForEvent((ev) => ev.ev === 'end' && ev.id === job.id, 3000);
    assert.equal(end.how, 'aborted', 'the upstream stream was cut before its end');
}

describe('one node, one fake tab', () => {
    const arena = new Arena();
    let node;
    let link;
    let sdk;
    before(async () => {
        ({node, link} = await arena.startPair({name: 'compat-node'}, {tabs: 1}));
        await waitForModels(node, 'fake-image');
        sdk = client(node);
    });
    after(() => arena.cleanup());

    /*  Runs fn; returns [its result, the fetch events it caused]. */
    async function seen(fn) {
        const mark = link.poll().length;
        const out = await fn();
        return [out, fetchesSince(link, mark)];
    }

    /* ---- stop ---- */

    arena.test('stop: a string cuts the answer before it, also when split across deltas', async () => {
        // piece=3: "abc","deS","TOP","xyz": the match spans two upstream deltas.
        const body = chat(`Spell it. ${say('abcdeSTOPxyz', {piece: 3, split: 1})}`, {stop: 'STOP'});
        const whole = await post(node, '/v1/chat/completions', body);
        assert.equal(whole.status, 200, whole.text);
        assert.equal(whole.json.choices[0].message.content, 'abcde');
        assert.equal(whole.json.choices[0].finish_reason, 'stop');

        const streamed = await postSSE(node, '/v1/chat/completions', body);
        const {chunks, content, done} = chatChunks(streamed.events);
        assert.equal(content, 'abcde');
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
        assert.ok(done, 'the stream ends with [DONE]');
        assert.ok(!streamed.text.includes('STOP') && !streamed.text.includes('xyz'), 'nothing past the match');
    });

    arena.test('stop: a partial match that fails is released whole; a match at the start leaves ""', async () => {
        // "ST" held at a delta's end, then "X": no match, nothing lost; "ST" at the very end too
        const body = chat(`Go. ${say('abcSTXyz ST', {piece: 2})}`, {stop: 'STOP'});
        const whole = await sdk.chat.completions.create(body);
        assert.equal(whole.choices[0].message.content, 'abcSTXyz ST');
        assert.equal(whole.choices[0].finish_reason, 'stop');
        const streamed = chatChunks((await postSSE(node, '/v1/chat/completions', body)).events);
        assert.equal(streamed.content, 'abcSTXyz ST');

        const first = chat(`Go. ${say('STOP at once')}`, {stop: ['STOP']});
        const empty = await sdk.chat.completions.create(first);
        assert.equal(empty.choices[0].message.content, '');
        const r = chatChunks((await postSSE(node, '/v1/chat/completions', first)).events);
        assert.equal(r.content, '');
        assert.equal(r.chunks[0].choices[0].delta.role, 'assistant', 'the role still comes first');
        assert.equal(r.chunks.at(-1).choices[0].finish_reason, 'stop');
    });

    arena.test('stop: a list of 4, the first match in the text wins (not in the list)', async () => {
        const stop = ['never-1', 'STOP', 'END', 'never-2'];
        const body = chat(`Go. ${say('Hello END world STOP more', {piece: 2})}`, {stop});
        const res = await sdk.chat.completions.create(body);
        assert.equal(res.choices[0].message.content, 'Hello ');
        assert.equal(res.choices[0].finish_reason, 'stop');
        const {content, chunks, error} =
            await collectStream(await sdk.chat.completions.create({...body, stream: true}));
        assert.equal(error, null);
        assert.equal(content, 'Hello ');
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    });

    arena.test('stop aborts the upstream stream (streamed and not)', async () => {
        // drip: 16 pieces of 2 characters, 40 ms apart: "ST" and "OP" arrive apart
        const drip = fake('drip ms=40 count=16 text="one two STOP three four five"', 'Count.');
        for (const stream of [true, false]) {
            const [out, fetches] = await seen(async () => {
                if (!stream)
                    return (await sdk.chat.completions.create(chat(drip, {stop: ['STOP']}))).choices[0].message.content;
                const got =
                    await collectStream(await sdk.chat.completions.create(chat(drip, {stop: ['STOP'], stream: true})));
                assert.equal(got.error, null);
                assert.equal(got.chunks.at(-1).choices[0].finish_reason, 'stop');
                return got.content;
            });
            assert.equal(out, 'one two ', `stream=${stream}`);
            assert.equal(fetches.length, 1);
            await assertAborted(link, fetches[0]);
        }
    });

    arena.test('stop: 5 sequences → 400 param stop, nothing upstream', async () => {
        const [r, fetches] =
            await seen(() => post(node, '/v1/chat/completions', chat('Hi', {stop: ['a', 'b', 'c', 'd', 'e']})));
        assert400(r, 'stop');
        assert.equal(fetches.length, 0);
        const e = await apiError(sdk.chat.completions.create(chat('Hi', {stop: ['a', 'b', 'c', 'd', 'e']})));
        assert.equal(e.status, 400);
        assert.equal(e.param, 'stop');
    });

    /* ---- limits ---- */

    arena.test('max_tokens / max_completion_tokens cut with finish_reason length, upstream aborted', async () => {
        const long = 'Hello from the fake arena. Hello from the fake arena.'; /* drip repeats it to 40 pieces */
        const drip = fake('drip ms=30 count=40', 'Talk.');
        const cases = [
            [{max_tokens: 3}, false],
            [{max_tokens: 3}, true],
            [{max_completion_tokens: 2}, false],
            [{max_completion_tokens: 2}, true],
        ];
        for (const [limit, stream] of cases) {
            const n = limit.max_tokens ?? limit.max_completion_tokens;
            const [res, fetches] = await seen(async () => {
                if (!stream) {
                    const r = await post(node, '/v1/chat/completions', chat(drip, limit));
                    assert.equal(r.status, 200, r.text);
                    return {content: r.json.choices[0].message.content, finish: r.json.choices[0].finish_reason};
                }
                const r = await postSSE(node, '/v1/chat/completions', chat(drip, limit));
                const {chunks, content, done} = chatChunks(r.events);
                assert.ok(done);
                return {content, finish: chunks.at(-1).choices[0].finish_reason};
            });
            const what = `${JSON.stringify(limit)} stream=${stream}`;
            assert.equal(res.finish, 'length', what);
            // ASCII: 4 characters a token, cut before the one that would pass n
            assert.equal(res.content, long.slice(0, 4 * n), what);
            assert.equal(fetches.length, 1);
            await assertAborted(link, fetches[0]);
        }
    });

    /* ---- fields refused, fields answered null, fields ignored ---- */

    arena.test('n:2 → 400 param n; audio, modalities audio, logit_bias, store:true → 400 naming them', async () => {
        const mark = link.poll().length;
        const refused = [
            [{n: 2}, 'n'],
            [{audio: {voice: 'alloy', format: 'mp3'}}, 'audio'],
            [{modalities: ['text', 'audio']}, 'modalities'],
            [{logit_bias: {50256: -100}}, 'logit_bias'],
            [{store: true}, 'store'],
        ];
        for (const [extra, param] of refused)
            assert400(await post(node, '/v1/chat/completions', chat('Hi', extra)), param);
        const e = await apiError(sdk.chat.completions.create(chat('Hi', {n: 2})));
        assert.equal(e.status, 400);
        assert.equal(e.param, 'n');
        assert.equal(fetchesSince(link, mark).length, 0, 'nothing refused reached the tab');
        // what OpenAI's defaults mean is accepted
        for (const extra of [{n: 1}, {logit_bias: {}}, {store: false}, {modalities: ['text']}]) {
            const r = await post(node, '/v1/chat/completions', chat('Hi', extra));
            assert.equal(r.status, 200, `${JSON.stringify(extra)}: ${r.text}`);
        }
    });

    arena.test('logprobs:true → "logprobs": null in every choice; message.refusal null', async () => {
        const whole = await post(node, '/v1/chat/completions', chat('Hi', {logprobs: true, top_logprobs: 2}));
        assert.equal(whole.status, 200, whole.text);
        const choice = whole.json.choices[0];
        assert.ok('logprobs' in choice && choice.logprobs === null, JSON.stringify(choice));
        assert.ok('refusal' in choice.message && choice.message.refusal === null, JSON.stringify(choice));
        assert.equal(choice.message.content, FAKE_ANSWER);

        const streamed = await postSSE(node, '/v1/chat/completions', chat('Hi', {logprobs: true}));
        const {chunks, content} = chatChunks(streamed.events);
        assert.equal(content, FAKE_ANSWER);
        for (const c of chunks.filter((c) => c.choices.length)) {
            assert.ok('logprobs' in c.choices[0] && c.choices[0].logprobs === null, JSON.stringify(c));
        }
    });

    arena.test('temperature, top_p, seed: accepted and named in x-arena-ignored', async () => {
        const r = await post(node, '/v1/chat/completions', chat('Hi', {temperature: 0.2, top_p: 0.9, seed: 7}));
        assert.equal(r.status, 200, r.text);
        const ignored = (r.headers.get('x-arena-ignored') ?? '').split(',');
        for (const f of ['temperature', 'top_p', 'seed']) assert.ok(ignored.includes(f), `${f} in ${ignored}`);
        const plain = await post(node, '/v1/chat/completions', chat('Hi'));
        assert.equal(plain.headers.get('x-arena-ignored'), null, 'nothing ignored: no header');
    });

    /* ---- names ---- */

    arena.test('name on messages reaches the model as the label (SillyTavern example dialogue)', async () => {
        const res = await sdk.chat.completions.create({
            model: MODEL,
            messages: [
                {role: 'system', content: 'You are Seraphina.'},
                {role: 'system', name: 'example_user', content: 'Who are you?'},
                {role: 'system', name: 'example_assistant', content: 'A guardian of the forest.'},
                {role: 'user', name: 'Traveller', content: `Hello there. ${ECHO}`},
            ],
        });
        const prompt = echoed(res.choices[0].message.content);
        assert.equal(
            prompt,
            'System:\nYou are Seraphina.\n\n' +
                'System (example_user):\nWho are you?\n\n' +
                'System (example_assistant):\nA guardian of the forest.\n\n' +
                `User (Traveller):\nHello there. ${ECHO}`);
    });

    /* ---- tools ---- */

    arena.test('tool_choice none: no tool statement, a call-shaped answer stays text', async () => {
        const [res, fetches] = await seen(
            () => sdk.chat.completions.create(chat(`Weather? ${say(CALL)}`, {tools: [WEATHER], tool_choice: 'none'})));
        assert.equal(fetches.length, 1);
        assert.ok(!promptOf(fetches[0]).includes(TOOLS_HEADING), promptOf(fetches[0]));
        assert.ok(!promptOf(fetches[0]).includes('## get_weather'));
        assert.equal(res.choices[0].message.content, CALL);
        assert.equal(res.choices[0].message.tool_calls ?? undefined, undefined);
        assert.equal(res.choices[0].finish_reason, 'stop');
    });

    arena.test('tool_choice auto, required, named: the prompt states the rule; the call comes back', async () => {
        const rules = [
            ['auto', 'Call a function only when it helps to answer'],
            ['required', 'You must call at least one function in this reply'],
            [
                {type: 'function', function: {name: 'get_weather'}},
                'You must call the function "get_weather" in this reply, and no other'
            ],
        ];
        for (const [choice, rule] of rules) {
            const [res, fetches] = await seen(
                () => sdk.chat.completions.create(
                    chat(`Weather in Paris? ${say(CALL)}`, {tools: [WEATHER, TIME], tool_choice: choice})));
            const what = JSON.stringify(choice);
            assert.equal(fetches.length, 1, what);
            const prompt = promptOf(fetches[0]);
            assert.ok(prompt.startsWith(`System:\n${TOOLS_HEADING}`), prompt);
            assert.equal(count(prompt, TOOLS_HEADING), 1);
            for (const f of ['## get_weather', 'Description: The weather of a city', '## get_time', rule]) {
                assert.ok(prompt.includes(f), `${what}: "${f}" in\n${prompt}`);
            }
            const m = res.choices[0].message;
            assert.equal(res.choices[0].finish_reason, 'tool_calls', what);
            assert.equal(m.content, null);
            assert.equal(m.tool_calls.length, 1);
            assert.equal(m.tool_calls[0].function.name, 'get_weather');
            assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), {city: 'Paris'});
            assert.match(m.tool_calls[0].id, /^call_[A-Za-z0-9]{24}$/);
        }
    });

    arena.test('a reply claiming a call that does not parse, or calling an unknown tool, is text', async () => {
        const broken = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Par';
        const unknown = '{"tool_calls":[{"name":"launch_rockets","arguments":{}}]}';
        for (const answer of [broken, unknown]) {
            const body = chat(`Weather? ${say(answer)}`, {tools: [WEATHER]});
            const res = await sdk.chat.completions.create(body);
            assert.equal(res.choices[0].message.content, answer);
            assert.equal(res.choices[0].message.tool_calls ?? undefined, undefined);
            assert.equal(res.choices[0].finish_reason, 'stop');
            const {content, chunks, error} =
                await collectStream(await sdk.chat.completions.create({...body, stream: true}));
            assert.equal(error, null);
            assert.equal(content, answer);
            assert.ok(chunks.every((c) => !c.choices[0]?.delta?.tool_calls));
            assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
        }
    });

    arena.test('tool_choice required / named without the call: asked once more with the error, then text', async () => {
        const rules = [
            ['required', /a tool call was required/],
            [{type: 'function', function: {name: 'get_weather'}}, /get_weather/],
        ];
        for (const [choice, said] of rules) {
            // named: a call of another function does not count
            const answer =
                choice === 'required' ? 'It is sunny.' : '{"tool_calls":[{"name":"get_time","arguments":{}}]}';
            for (const stream of [false, true]) {
                const body = chat(`Weather? ${say(answer)}`, {tools: [WEATHER, TIME], tool_choice: choice});
                const [res, fetches] = await seen(async () => {
                    if (!stream) {
                        const m = (await sdk.chat.completions.create(body)).choices[0];
                        return {content: m.message.content, calls: m.message.tool_calls, finish: m.finish_reason};
                    }
                    const {chunks, content} = chatChunks((await postSSE(node, '/v1/chat/completions', body)).events);
                    const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
                    return {
                        content,
                        calls: calls.length ? calls : undefined,
                        finish: chunks.at(-1).choices[0].finish_reason
                    };
                });
                const what = `${JSON.stringify(choice)} stream=${stream}`;
                assert.equal(fetches.length, 2, `${what}: asked once more`);
                const tail = promptOf(fetches[1]).slice(promptOf(fetches[0]).length);
                assert.ok(tail.includes(RETRY_SAYS), tail);
                assert.match(tail, said);
                assert.match(tail, /reply with ONLY the tool_calls JSON object/);
                assert.equal(res.content, answer, what);
                assert.equal(res.calls ?? undefined, undefined, what);
                assert.equal(res.finish, 'stop', what);
            }
        }
    });

    arena.test('parallel_tool_calls false: the prompt says one call, one call comes back', async () => {
        const two =
            '{"tool_calls":[{"name":"get_time","arguments":{}},{"name":"get_weather","arguments":{"city":"Oslo"}}]}';
        const [res, fetches] = await seen(
            () => sdk.chat.completions.create(
                chat(`Both? ${say(two)}`, {tools: [WEATHER, TIME], parallel_tool_calls: false})));
        assert.ok(promptOf(fetches[0]).includes('Call at most one function per reply'), promptOf(fetches[0]));
        assert.equal(res.choices[0].message.tool_calls.length, 1);
        assert.equal(res.choices[0].message.tool_calls[0].function.name, 'get_time');
        const both = await sdk.chat.completions.create(chat(`Both? ${say(two)}`, {tools: [WEATHER, TIME]}));
        assert.deepEqual(both.choices[0].message.tool_calls.map((c) => c.function.name), ['get_time', 'get_weather']);
    });

    arena.test('history: assistant tool_calls, tool and role "function" results reach the model readably', async () => {
        const res = await sdk.chat.completions.create({
            model: MODEL,
            tools: [WEATHER, TIME],
            messages: [
                user('Weather and time in Paris?'),
                {
                    role: 'assistant',
                    content: 'Checking.',
                    tool_calls: [
                        {
                            id: 'call_w1',
                            type: 'function',
                            function: {name: 'get_weather', arguments: '{"city":"Paris"}'}
                        },
                    ],
                },
                {role: 'tool', tool_call_id: 'call_w1', content: 'Sunny, 21 C'},
                {role: 'function', name: 'get_time', content: '12:00'},
                user(`So? ${ECHO}`),
            ],
        });
        const prompt = echoed(res.choices[0].message.content);
        const history = prompt.slice(prompt.indexOf('User:\nWeather and time'));
        assert.equal(
            history,
            'User:\nWeather and time in Paris?\n\n' +
                'Assistant:\nChecking.\n\n{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}\n\n' +
                'Tool:\nTool result for get_weather (call_w1):\nSunny, 21 C\n\n' +
                'Tool:\nTool result for get_time:\n12:00\n\n' +
                `User:\nSo? ${ECHO}`);
    });

    arena.test('streamed: prose, then delta.tool_calls pieces, finish_reason tool_calls', async () => {
        const answer = `Let me look that up. ${CALL}`;
        const body = chat(`Weather? ${say(answer, {piece: 5})}`, {tools: [WEATHER]});
        const r = await postSSE(node, '/v1/chat/completions', body);
        const {chunks, content, done} = chatChunks(r.events);
        assert.ok(done);
        assert.equal(content, 'Let me look that up. ');
        const pieces = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
        assert.ok(pieces.length >= 2, JSON.stringify(pieces));
        assert.equal(pieces[0].index, 0);
        assert.equal(pieces[0].type, 'function');
        assert.match(pieces[0].id, /^call_/);
        assert.equal(pieces.map((p) => p.function?.name ?? '').join(''), 'get_weather');
        assert.deepEqual(JSON.parse(pieces.map((p) => p.function?.arguments ?? '').join('')), {city: 'Paris'});
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
        const i = chunks.findIndex((c) => c.choices[0]?.delta?.tool_calls);
        assert.ok(chunks.slice(0, i).some((c) => c.choices[0].delta.content), 'the prose comes first');

        const whole = await sdk.chat.completions.create(body);
        assert.equal(whole.choices[0].message.content, 'Let me look that up. ');
        assert.equal(whole.choices[0].message.tool_calls[0].function.name, 'get_weather');
        assert.equal(whole.choices[0].finish_reason, 'tool_calls');
    });

    /* ---- structured output ---- */

    arena.test('json_object and strict json_schema: valid answers come back bare, the prompt says so', async () => {
        const [obj, f1] = await seen(
            () => sdk.chat.completions.create(
                chat(`As JSON. ${say('```json\n{"a": [1, 2]}\n```')}`, {response_format: {type: 'json_object'}})));
        assert.deepEqual(JSON.parse(obj.choices[0].message.content), {a: [1, 2]});
        assert.ok(promptOf(f1[0]).includes('Answer with one JSON object only'), promptOf(f1[0]));

        const city = {city: 'Paris', temp: 21};
        const [res, f2] = await seen(
            () => sdk.chat.completions.create(
                chat(`Weather. ${say(JSON.stringify(city))}`, {response_format: CITY_FORMAT})));
        assert.deepEqual(JSON.parse(res.choices[0].message.content), city);
        assert.equal(res.choices[0].finish_reason, 'stop');
        assert.equal(f2.length, 1);
        assert.ok(promptOf(f2[0]).includes(`Schema: ${JSON.stringify(CITY_SCHEMA)}`), promptOf(f2[0]));
    });

    arena.test('json_schema: invalid first, valid on the retry → 200; the retry states the error', async () => {
        const city = {city: 'Rome', temp: 18};
        for (const stream of [false, true]) {
            const body = chat(
                `Weather. ${say('{"town": "Rome"}', {then: JSON.stringify(city)})}`, {response_format: CITY_FORMAT});
            const [content, fetches] = await seen(async () => {
                if (!stream) return (await sdk.chat.completions.create(body)).choices[0].message.content;
                const r = await postSSE(node, '/v1/chat/completions', body);
                assert.equal(r.status, 200);
                const {chunks, content, done} = chatChunks(r.events);
                assert.ok(done);
                assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
                assert.ok(!r.text.includes('town'), 'nothing of the failed answer was sent');
                return content;
            });
            assert.deepEqual(JSON.parse(content), city, `stream=${stream}`);
            assert.equal(fetches.length, 2, 'asked twice');
            const retry = promptOf(fetches[1]);
            assert.ok(retry.startsWith(promptOf(fetches[0])), 'the retry repeats the conversation');
            const tail = retry.slice(promptOf(fetches[0]).length);
            assert.ok(tail.startsWith('\n\nAssistant:\n{"town": "Rome"}\n\nUser:\n'), tail);
            assert.ok(tail.includes(RETRY_SAYS), tail);
            assert.match(tail, /does not match the schema/);
            assert.match(tail, /town|city|temp/, 'the error names what failed');
        }
    });

    arena.test('tools with json_object: a call comes back as tool_calls, else the JSON is checked', async () => {
        const both = {tools: [WEATHER], response_format: {type: 'json_object'}};
        const [call, f1] = await seen(() => sdk.chat.completions.create(chat(`Weather? ${say(CALL)}`, both)));
        assert.equal(call.choices[0].finish_reason, 'tool_calls');
        assert.equal(call.choices[0].message.tool_calls[0].function.name, 'get_weather');
        const prompt = promptOf(f1[0]);
        assert.ok(
            prompt.includes(TOOLS_HEADING) && prompt.includes('When you answer without calling a function: '), prompt);
        const [json, f2] =
            await seen(() => sdk.chat.completions.create(chat(`Weather? ${say('{"sunny": true}')}`, both)));
        assert.deepEqual(JSON.parse(json.choices[0].message.content), {sunny: true});
        assert.equal(f2.length, 1);
    });

    arena.test('the client leaving during the retry aborts the retry\'s upstream job', async () => {
        const mark = link.poll().length;
        const ac = new AbortController();
        const body =
            chat(`Weather. ${say('not yet', {then: '{"a": 1}', ttfb: 600})}`, {response_format: {type: 'json_object'}});
        const pending = fetch(`${node.baseURL}/v1/chat/completions`, {
                            method: 'POST',
                            headers: {'content-type': 'application/json'},
                            body: JSON.stringify(body),
                            signal: ac.signal,
                        }).catch((e) => e);
        const retry = await link.waitForEvent(
            (ev) => ev.ev === 'fetch' && promptOf(ev).includes(RETRY_SAYS), 5000, {after: mark});
        ac.abort();
        assert.equal((await pending).name, 'AbortError');
        await assertAborted(link, retry);
    });

    arena.test('a strict schema that cannot be applied → 400 naming it, nothing upstream', async () => {
        const mark = link.poll().length;
        const bad = {type: 'bogus'};
        assert400(
            await post(node, '/v1/chat/completions', chat('Hi', {
                           response_format: {type: 'json_schema', json_schema: {name: 'x', strict: true, schema: bad}},
                       })),
            'response_format.json_schema.schema');
        assert400(
            await post(node, '/v1/responses', {
                model: MODEL,
                input: 'Hi',
                text: {format: {type: 'json_schema', name: 'x', strict: true, schema: bad}},
            }),
            'text.format.schema');
        assert400(
            await post(
                node, '/v1/chat/completions', chat('Hi', {
                    response_format: {type: 'json_schema', json_schema: {name: 'x', strict: true, schema: {$ref: '#'}}},
                })),
            'response_format.json_schema.schema');
        assert.equal(fetchesSince(link, mark).length, 0);
    });

    arena.test('json_schema without strict: any valid JSON passes; a length cut is returned as cut', async () => {
        const loose = {type: 'json_schema', json_schema: {name: 'city', schema: CITY_SCHEMA}};
        const [res, fetches] = await seen(
            () => sdk.chat.completions.create(chat(`Weather. ${say('{"town": 1}')}`, {response_format: loose})));
        assert.equal(fetches.length, 1);
        assert.deepEqual(JSON.parse(res.choices[0].message.content), {town: 1});
        // as OpenAI: JSON cut by max_tokens comes back cut, finish_reason length (no retry)
        const [cut, f2] = await seen(
            () => sdk.chat.completions.create(chat(
                `Weather. ${say('{"city": "Paris", "temp": 21}')}`, {response_format: CITY_FORMAT, max_tokens: 2})));
        assert.equal(f2.length, 1);
        assert.equal(cut.choices[0].finish_reason, 'length');
        assert.equal(cut.choices[0].message.content, '{"city":'); /* 8 ASCII bytes: 2 tokens */
    });

    arena.test('an answer the upstream cut (length, content filter) is returned as it is, not retried', async () => {
        for (const [finish, reason] of [['length', 'length'], ['content-filter', 'content_filter']]) {
            for (const stream of [false, true]) {
                const body = chat(`Weather. ${say('{"city": "Par', {finish})}`, {response_format: CITY_FORMAT});
                const [res, fetches] = await seen(async () => {
                    if (!stream) {
                        const r = await post(node, '/v1/chat/completions', body);
                        assert.equal(r.status, 200, r.text);
                        return {content: r.json.choices[0].message.content, finish: r.json.choices[0].finish_reason};
                    }
                    const {chunks, content} = chatChunks((await postSSE(node, '/v1/chat/completions', body)).events);
                    return {content, finish: chunks.at(-1).choices[0].finish_reason};
                });
                assert.equal(fetches.length, 1, `${finish} stream=${stream}: not asked again`);
                assert.deepEqual(res, {content: '{"city": "Par', finish: reason});
            }
        }
    });

    arena.test('search citations: a Sources list after text, never in JSON or tool-call answers', async () => {
        const text =
            await sdk.chat.completions.create({model: 'fake-search', messages: [user(`News? ${fake('search')}`)]});
        assert.equal(text.choices[0].message.content, `${FAKE_ANSWER}\n\nSources:\n1. [A](https://example.test/a)\n`);
        const json = await sdk.chat.completions.create({
            model: 'fake-search',
            messages: [user(`News? ${say('{"a": 1}', {}, 'search')}`)],
            response_format: {type: 'json_object'},
        });
        assert.deepEqual(JSON.parse(json.choices[0].message.content), {a: 1});
        const streamed = await postSSE(node, '/v1/chat/completions', {
            model: 'fake-search',
            messages: [user(`News? ${say(CALL, {}, 'search')}`)],
            tools: [WEATHER],
        });
        const {chunks, content} = chatChunks(streamed.events);
        assert.equal(content, '');
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
        assert.ok(!streamed.text.includes('Sources'), streamed.text);
    });

    arena.test(
        'structured answer invalid twice → 502 invalid_model_output, streamed too (no half stream)', async () => {
            for (const format of [{type: 'json_object'}, CITY_FORMAT]) {
                for (const stream of [false, true]) {
                    const body = chat(`Weather. ${say('no JSON here')}`, {response_format: format});
                    const [r, fetches] =
                        await seen(() => (stream ? postSSE : post)(node, '/v1/chat/completions', body));
                    const what = `${format.type} stream=${stream}`;
                    assert.equal(fetches.length, 2, what);
                    assert.equal(r.status, 502, `${what}: ${r.text}`);
                    assert.match(r.headers.get('content-type'), /^application\/json/, what);
                    assert.equal(r.json.error.code, 'invalid_model_output');
                    assert.equal(r.json.error.param, 'response_format');
                    assert.match(r.json.error.message, /not valid JSON/);
                    assert.ok(!r.text.includes('data:'), 'an error body, not a stream');
                }
            }
            const e = await apiError(sdk.chat.completions.create(
                chat(`Weather. ${say('still none')}`, {response_format: CITY_FORMAT, stream: true})));
            assert.equal(e.status, 502);
            assert.equal(e.code, 'invalid_model_output');
        });

    /* ---- Responses API, raw ---- */

    arena.test('Responses: streamed events in order, usage on response.completed; the whole object', async () => {
        const body = {model: MODEL, input: 'Say hello.', instructions: 'Be brief.'};
        const r = await postSSE(node, '/v1/responses', body);
        assert.equal(r.status, 200, r.text);
        const types = r.events.map((e) => e.data.type);
        assert.equal(types[0], 'response.created');
        assert.equal(types.at(-1), 'response.completed');
        for (const e of r.events) assert.equal(e.event, e.data.type, 'each event named by its type');
        assert.deepEqual(r.events.map((e) => e.data.sequence_number), r.events.map((_, i) => i));
        const deltas = r.events.filter((e) => e.data.type === 'response.output_text.delta');
        assert.ok(deltas.length >= 2);
        assert.equal(deltas.map((e) => e.data.delta).join(''), FAKE_ANSWER);
        const first = types.indexOf('response.output_text.delta');
        assert.ok(types.indexOf('response.output_item.added') < first);
        assert.ok(types.indexOf('response.output_text.done') > types.lastIndexOf('response.output_text.delta'));
        const done = r.events.at(-1).data.response;
        assert.equal(done.status, 'completed');
        assert.equal(done.instructions, 'Be brief.');
        assert.equal(done.output[0].content[0].text, FAKE_ANSWER);
        assert.equal(done.usage.output_tokens, 7);
        assert.equal(done.usage.total_tokens, done.usage.input_tokens + 7);
        assert.ok(!r.text.includes('[DONE]'), 'the Responses stream has no [DONE]');

        const whole = await post(node, '/v1/responses', body);
        assert.equal(whole.status, 200, whole.text);
        assert.equal(whole.json.object, 'response');
        assert.equal(whole.json.status, 'completed');
        assert.match(whole.json.id, /^resp_/);
        assert.equal(whole.json.output[0].type, 'message');
        assert.equal(whole.json.output[0].role, 'assistant');
        assert.equal(whole.json.output[0].content[0].type, 'output_text');
        assert.equal(whole.json.output[0].content[0].text, FAKE_ANSWER);
        assert.equal(whole.json.usage.output_tokens, 7);
    });

    arena.test('Responses: max_output_tokens → incomplete (max_output_tokens), upstream aborted', async () => {
        const input = fake('drip ms=30 count=40', 'Talk.');
        for (const stream of [false, true]) {
            const [r, fetches] = await seen(
                () => (stream ? postSSE : post)(node, '/v1/responses', {model: MODEL, input, max_output_tokens: 2}));
            assert.equal(r.status, 200, r.text);
            const res = stream ? r.events.at(-1).data.response : r.json;
            if (stream) assert.equal(r.events.at(-1).data.type, 'response.incomplete');
            assert.equal(res.status, 'incomplete');
            assert.deepEqual(res.incomplete_details, {reason: 'max_output_tokens'});
            assert.equal(res.output[0].content[0].text, 'Hello fr');
            assert.equal(fetches.length, 1);
            await assertAborted(link, fetches[0]);
        }
    });

    arena.test('Responses: instructions reach the model; previous_response_id → 400', async () => {
        const r = await post(
            node, '/v1/responses',
            {model: MODEL, instructions: 'Answer in French.', input: [{role: 'user', content: `Hello. ${ECHO}`}]});
        assert.equal(r.status, 200, r.text);
        const prompt = echoed(r.json.output[0].content[0].text);
        assert.equal(prompt, `System:\nAnswer in French.\n\nUser:\nHello. ${ECHO}`);
        assert.equal(r.json.instructions, 'Answer in French.', 'instructions echoed');
        // a system message in input is not instructions
        const sys = await post(
            node, '/v1/responses',
            {model: MODEL, input: [{role: 'system', content: 'Be brief.'}, {role: 'user', content: 'Hello.'}]});
        assert.equal(sys.status, 200, sys.text);
        assert.equal(sys.json.instructions, null);

        const mark = link.poll().length;
        assert400(
            await post(node, '/v1/responses', {model: MODEL, input: 'more', previous_response_id: 'resp_123'}),
            'previous_response_id');
        assert.equal(fetchesSince(link, mark).length, 0);
    });

    arena.test('Responses: a function call, then function_call_output reaches the model', async () => {
        const tool = {
            type: 'function',
            name: 'get_weather',
            description: 'The weather of a city',
            parameters: WEATHER.function.parameters,
            strict: true
        };
        const ask = {role: 'user', content: `Weather in Paris? ${say(CALL)}`};
        const first = await post(node, '/v1/responses', {model: MODEL, input: [ask], tools: [tool]});
        assert.equal(first.status, 200, first.text);
        const call = first.json.output.find((o) => o.type === 'function_call');
        assert.ok(call, JSON.stringify(first.json.output));
        assert.equal(call.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.arguments), {city: 'Paris'});
        assert.match(call.call_id, /^call_/);

        const streamed = await postSSE(node, '/v1/responses', {model: MODEL, input: [ask], tools: [tool]});
        const added = streamed.events.find(
            (e) => e.data.type === 'response.output_item.added' && e.data.item.type === 'function_call');
        assert.ok(added, streamed.text);
        assert.ok(streamed.events.some((e) => e.data.type === 'response.function_call_arguments.done'));
        assert.equal(streamed.events.at(-1).data.type, 'response.completed');

        const next = await post(node, '/v1/responses', {
            model: MODEL,
            tools: [tool],
            input: [
                ask,
                call,
                {type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 21 C'},
                {role: 'user', content: `And so? ${ECHO}`},
            ],
        });
        assert.equal(next.status, 200, next.text);
        const text = next.json.output.find((o) => o.type === 'message').content[0].text;
        const prompt = echoed(text);
        assert.ok(prompt.includes(`Assistant:\n${CALL}`), prompt);
        assert.ok(prompt.includes(`Tool:\nTool result for get_weather (${call.call_id}):\nSunny, 21 C`), prompt);
    });

    arena.test('Responses: text.format json_schema checked (and retried once)', async () => {
        const city = {city: 'Oslo', temp: 3};
        const format = {type: 'json_schema', name: 'city', strict: true, schema: CITY_SCHEMA};
        const [r, fetches] = await seen(
            () => post(
                node, '/v1/responses',
                {model: MODEL, input: `Weather. ${say('Oslo, 3 C', {then: JSON.stringify(city)})}`, text: {format}}));
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(JSON.parse(r.json.output[0].content[0].text), city);
        assert.equal(fetches.length, 2);
        assert.ok(promptOf(fetches[1]).includes(RETRY_SAYS));
        assert.equal(r.json.text.format.type, 'json_schema');
    });

    /* ---- images ---- */

    arena.test('images: a URL from the image model; size → the nearest aspect ratio in the prompt', async () => {
        const [r, fetches] = await seen(
            () => post(
                node, '/v1/images/generations',
                {model: 'fake-image', prompt: `A lighthouse. ${fake('image', '').trim()}`, size: '1792x1024'}));
        assert.equal(r.status, 200, r.text);
        assert.equal(typeof r.json.created, 'number');
        assert.deepEqual(r.json.data, [{url: IMAGE_URL}]);
        assert.equal(fetches.length, 1);
        assert.equal(fetches[0].body.modality, 'image');
        assert.ok(promptOf(fetches[0]).endsWith('Aspect ratio: 16:9'), promptOf(fetches[0]));

        const portrait = await seen(
            () => post(
                node, '/v1/images/generations',
                {model: 'fake-image', prompt: `Tall. ${fake('image', '').trim()}`, size: '1024x1792'}));
        assert.ok(promptOf(portrait[1][0]).endsWith('Aspect ratio: 9:16'));

        const res = await sdk.images.generate({
            model: 'fake-image',
            prompt: `A cat. ${fake('image url=https://img.test/c.png', '').trim()}`,
            stream: false
        });
        assert.equal(res.data[0].url, 'https://img.test/c.png');
    });

    arena.test('images: size, n, response_format, stream and a chat model refused; unknown model 404', async () => {
        const mark = link.poll().length;
        const img = (extra) => post(node, '/v1/images/generations', {model: 'fake-image', prompt: 'A cat.', ...extra});
        assert400(await img({size: 'bad'}), 'size');
        assert400(await img({n: 2}), 'n');
        assert400(await img({response_format: 'b64_json'}), 'response_format');
        assert400(await img({model: MODEL}), 'model');
        // partial images as events: the SDK would read a JSON answer as an empty stream
        assert400(await img({stream: true}), 'stream');
        const missing = await img({model: 'no-such-image-model'});
        assert.equal(missing.status, 404, missing.text);
        assert.equal(missing.json.error.code, 'model_not_found');
        assert.equal(fetchesSince(link, mark).length, 0, 'nothing refused reached the tab');
        const e = await apiError(sdk.images.generate({model: 'fake-image', prompt: 'A cat.', size: 'bad'}));
        assert.equal(e.status, 400);
        assert.equal(e.param, 'size');
    });

    arena.test('images: a model that answers no image → 502 naming what it said', async () => {
        const r = await post(
            node, '/v1/images/generations', {model: 'fake-image', prompt: `A dog. ${say('I cannot draw.')}`});
        assert.equal(r.status, 502, r.text);
        assert.equal(r.json.error.code, 'upstream_error');
        assert.match(r.json.error.message, /I cannot draw/);
    });

    // Last: it cools fake-image on this node.
    arena.test('images: a rate-limited image model cools like chat: 429, then 429 at once', async () => {
        const r = await post(
            node, '/v1/images/generations',
            {model: 'fake-image', prompt: `A cat. ${fake('ratelimit retry=30', '').trim()}`});
        assert.equal(r.status, 429, r.text);
        assert.equal(r.headers.get('retry-after'), '30');
        const [again, fetches] =
            await seen(() => post(node, '/v1/images/generations', {model: 'fake-image', prompt: 'A cat.'}));
        assert.equal(again.status, 429, again.text);
        assert.ok(Number(again.headers.get('retry-after')) > 0);
        assert.equal(fetches.length, 0, 'the cooled model is not asked');
        const chatOk = await post(node, '/v1/chat/completions', chat('Hi'));
        assert.equal(chatOk.status, 200, 'another model still served');
    });
});

/* ---- the mesh hop ---- */

arenaTest('mesh: tools, stop and json_schema at a node without tabs behave the same via a peer', async (t, arena) => {
    const {node: b, link} = await arena.startPair({name: 'compat-b'}, {tabs: 1});
    const a = await arena.startNode({name: 'compat-a', extraArgs: ['--seed', `127.0.0.1:${b.mesh.port}`]});
    await waitForModels(a, MODEL);
    const sdkA = client(a);
    const since = async (fn) => {
        const mark = link.poll().length;
        const out = await fn();
        return [out, fetchesSince(link, mark)];
    };

    // tools: stated once (on A), parsed on A
    const [res, f1] = await since(
        () => sdkA.chat.completions.create(
            chat(`Weather in Paris? ${say(CALL)}`, {tools: [WEATHER], tool_choice: 'required'})));
    assert.equal(res.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(JSON.parse(res.choices[0].message.tool_calls[0].function.arguments), {city: 'Paris'});
    assert.equal(f1.length, 1);
    assert.equal(count(promptOf(f1[0]), TOOLS_HEADING), 1, 'lowered once, on A');
    assert.equal(count(promptOf(f1[0]), 'You must call at least one function'), 1);

    // stop: cut on A, and B's tab gets the abort
    const drip = fake('drip ms=40 count=16 text="one two STOP three four five"', 'Count.');
    const [got, f2] = await since(
        async () => collectStream(await sdkA.chat.completions.create(chat(drip, {stop: 'STOP', stream: true}))));
    assert.equal(got.error, null);
    assert.equal(got.content, 'one two ');
    assert.equal(got.chunks.at(-1).choices[0].finish_reason, 'stop');
    await assertAborted(link, f2[0]);

    // json_schema: checked on A, the retry goes through B's tab again
    const city = {city: 'Lima', temp: 19};
    const [whole, f3] = await since(
        () => sdkA.chat.completions.create(
            chat(`Weather. ${say('not yet', {then: JSON.stringify(city)})}`, {response_format: CITY_FORMAT})));
    assert.deepEqual(JSON.parse(whole.choices[0].message.content), city);
    assert.equal(f3.length, 2);
    assert.equal(count(promptOf(f3[1]), '# Answer format'), 1);
    assert.ok(promptOf(f3[1]).includes(RETRY_SAYS));

    // images: A maps the size to the aspect ratios B's tab offers
    await waitForModels(a, 'fake-image');
    const [img, f4] = await since(() => post(a, '/v1/images/generations', {
                                      model: 'fake-image',
                                      prompt: `A lighthouse. ${fake('image', '').trim()}`,
                                      size: '1792x1024',
                                  }));
    assert.equal(img.status, 200, img.text);
    assert.deepEqual(img.json.data, [{url: IMAGE_URL}]);
    assert.ok(promptOf(f4[0]).endsWith('Aspect ratio: 16:9'), promptOf(f4[0]));

    // the Responses API: a function call parsed on A, streamed
    const [resp, f5] =
        await since(() => postSSE(a, '/v1/responses', {
                        model: MODEL,
                        input: `Weather in Paris? ${say(CALL)}`,
                        tools: [{type: 'function', name: 'get_weather', parameters: WEATHER.function.parameters}],
                    }));
    assert.equal(resp.status, 200, resp.text);
    const done = resp.events.at(-1).data;
    assert.equal(done.type, 'response.completed');
    assert.equal(done.response.output[0].type, 'function_call');
    assert.deepEqual(JSON.parse(done.response.output[0].arguments), {city: 'Paris'});
    assert.equal(count(promptOf(f5[0]), TOOLS_HEADING), 1);

    // the hop served them: A has no tab
    const health = await http(a, 'GET', '/health');
    assert.equal(health.json?.tabs ?? 0, 0, health.text);
});
