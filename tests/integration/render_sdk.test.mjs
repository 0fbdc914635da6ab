// The renderers' bytes as the official openai SDK reads them: chat tool calls
// streamed as delta.tool_calls pieces and whole, and the Responses API's
// event stream and object (completed, failed, incomplete). The bytes come
// from protocol/openai.c and protocol/responses.c through
// `test_openai_render --write-fixtures DIR` and are served as they are by a
// loopback HTTP server; the HTTP wiring of the node is checked elsewhere.

import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {createServer} from 'node:http';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import OpenAI from 'openai';
import {binary, run} from '../support/js/process.mjs';

const dir = mkdtempSync(join(tmpdir(), 'arena-render-'));
let server;
let client;
let responsesFixture = 'resp_stream.sse';

before(async () => {
    const r = await run(binary('test_openai_render'), ['--write-fixtures', dir]);
    assert.equal(r.code, 0, r.stderr);
    server = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
            const stream = JSON.parse(body).stream === true;
            const send = (file) => {
                res.writeHead(200, {'content-type': stream ? 'text/event-stream' : 'application/json'});
                res.end(readFileSync(join(dir, file)));
            };
            if (req.url === '/v1/chat/completions') return send(stream ? 'chat_stream.sse' : 'chat_body.json');
            if (req.url === '/v1/responses') return send(stream ? responsesFixture : 'resp_body.json');
            res.writeHead(404).end();
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new OpenAI(
        {apiKey: 'k', baseURL: `http://127.0.0.1:${server.address().port}/v1`, maxRetries: 0, timeout: 10000});
});

after(() => {
    server?.close();
    rmSync(dir, {recursive: true, force: true});
});

const ASK = {
    model: 'gpt-4o',
    messages: [{role: 'user', content: 'hi'}]
};
const WEATHER_ARGS = '{"city":"Zürich","unit":"c"}';

/*  The answer text of a response (openai 6.30's stream helper does not add
    output_text; later versions do). */
const textOf = (r) =>
    r.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');

test('chat: ChatCompletionStream reassembles streamed tool calls', {timeout: 20000}, async () => {
    const done = await client.chat.completions.stream(ASK).finalChatCompletion();
    const choice = done.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.content, 'Let me check.');
    assert.deepEqual(
        choice.message.tool_calls.map((c) => [c.id, c.type, c.function.name, c.function.arguments]),
        [['call_w', 'function', 'get_weather', WEATHER_ARGS], ['call_1', 'function', 'get_time', '{"tz":"UTC"}']]);
    assert.equal(done.usage.total_tokens, 33);
});

test('chat: a whole body with tool calls has content null, refusal null, logprobs null', {timeout: 20000}, async () => {
    const done = await client.chat.completions.create(ASK);
    const choice = done.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.logprobs, null);
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.refusal, null);
    assert.equal(choice.message.tool_calls[0].function.arguments, WEATHER_ARGS);
});

test('responses: the stream and the body give the same response', {timeout: 20000}, async () => {
    responsesFixture = 'resp_stream.sse';
    const stream = client.responses.stream({model: 'gpt-4o', input: 'hi'});
    let deltas = '';
    let last = -1;
    stream.on('event', (e) => {
        assert.ok(e.sequence_number > last, `${e.type} out of order`);
        last = e.sequence_number;
    });
    stream.on('response.output_text.delta', (e) => (deltas += e.delta));
    // what a UI shows while a call streams: the SDK's running snapshot
    const argsSeen = {};
    stream.on('response.function_call_arguments.delta', (e) => (argsSeen[e.item_id] = e.snapshot));
    const streamed = await stream.finalResponse();
    const whole = await client.responses.create({model: 'gpt-4o', input: 'hi'});
    assert.equal(whole.output_text, 'Hello world €');
    for (const r of [streamed, whole]) {
        assert.equal(r.status, 'completed');
        assert.equal(textOf(r), 'Hello world €');
        assert.deepEqual(r.usage, {
            input_tokens: 11,
            input_tokens_details: {cached_tokens: 0},
            output_tokens: 22,
            output_tokens_details: {reasoning_tokens: 0},
            total_tokens: 33
        });
        const calls = r.output.filter((o) => o.type === 'function_call');
        assert.deepEqual(
            calls.map((c) => [c.call_id, c.name, c.arguments]),
            [['call_w', 'get_weather', WEATHER_ARGS], ['call_abc_3', 'get_time', '{"tz":"UTC"}']]);
        assert.equal(r.output[0].type, 'reasoning');
        assert.equal(r.output[0].summary[0].text, 'Thinking about it.');
    }
    assert.equal(deltas, 'Hello world €');
    for (const c of streamed.output.filter((o) => o.type === 'function_call')) {
        assert.equal(argsSeen[c.id], c.arguments);
    }
    // Apart from the fields the SDK computes itself, the same object.
    const computed = new Set(['parsed', 'parsed_arguments', 'output_parsed', 'output_text']);
    const plain = (o) => JSON.parse(JSON.stringify(o, (k, v) => (computed.has(k) ? undefined : v)));
    assert.deepEqual(plain(streamed), plain(whole));
});

test('responses: an error mid-stream rejects with its message', {timeout: 20000}, async () => {
    responsesFixture = 'resp_fail.sse';
    await assert.rejects(
        client.responses.stream({model: 'gpt-4o', input: 'hi'}).finalResponse(),
        (e) => /the tab went away/.test(e.message));
});

test('responses: a length cut is incomplete with reason max_output_tokens', {timeout: 20000}, async () => {
    responsesFixture = 'resp_len.sse';
    // openai 6.30's snapshot ignores response.incomplete (later versions
    // take it as the final response): read the event itself.
    const stream = client.responses.stream({model: 'gpt-4o', input: 'hi'});
    let r;
    stream.on('response.incomplete', (e) => (r = e.response));
    await stream.done();
    assert.equal(r.status, 'incomplete');
    assert.equal(r.incomplete_details.reason, 'max_output_tokens');
    assert.equal(r.output[0].status, 'incomplete');
    assert.equal(textOf(r), 'Once upon');
});
