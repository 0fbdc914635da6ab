// A web page on another origin in a real Chromium calling the node's API
// (issue #10 item 1): a keyless node refuses it — the browser's preflight
// gets no CORS header, so the page's fetch fails and nothing reaches a tab —
// until --cors-origin names the page's origin; then the page reads plain and
// streamed chat answers with fetch() and with the openai SDK's own ESM build
// loaded in the page (dangerouslyAllowBrowser), and the exposed x-request-id;
// then a streamed Responses API call, a tool call and a json_schema answer.
// The page is served by a second HTTP server on another loopback port under
// the name page.test (--host-resolver-rules), so it is cross-site.

import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import {createServer} from 'node:http';
import {dirname, join, normalize} from 'node:path';
import {fileURLToPath} from 'node:url';
import {e2eTest, waitFor, FAKE_ANSWER} from './lib/harness.mjs';

const OPENAI_DIR = join(dirname(fileURLToPath(import.meta.url)), 'node_modules', 'openai');
const RESOLVE = ['--host-resolver-rules=MAP page.test 127.0.0.1'];
const REQ_ID_RE = /^req_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/*  The page's script: window.run(nodeURL) calls the node four ways and
    reports what the page could read ({ok, ...} or {error}) for each. */
const PAGE_SCRIPT = `
const ask = (stream) => ({model: 'fake-chat', stream, messages: [{role: 'user', content: 'Hi from page.test'}]});
const report = async (fn) => {
    try { return {ok: true, ...(await fn())}; } catch (e) { return {ok: false, error: String(e && e.message || e)}; }
};
window.run = async (node, x) => {
    const out = {};
    out.fetchPlain = await report(async () => {
        const r = await fetch(node + '/v1/chat/completions', {method: 'POST',
            headers: {'Content-Type': 'application/json', Authorization: 'Bearer none'}, body: JSON.stringify(ask(false))});
        const j = await r.json();
        return {status: r.status, requestId: r.headers.get('x-request-id'), content: j.choices[0].message.content, id: j.id};
    });
    out.fetchStream = await report(async () => {
        const r = await fetch(node + '/v1/chat/completions', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify(ask(true))});
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let text = '';
        for (;;) { const {done, value} = await reader.read(); if (done) break; text += dec.decode(value, {stream: true}); }
        let content = '';
        for (const line of text.split('\\n')) {
            if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
            content += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
        }
        return {status: r.status, type: r.headers.get('content-type'), requestId: r.headers.get('x-request-id'),
                content, done: text.includes('data: [DONE]')};
    });
    const {default: OpenAI} = await import('/openai/index.mjs');
    const sdk = new OpenAI({baseURL: node + '/v1', apiKey: 'none', dangerouslyAllowBrowser: true, maxRetries: 0, timeout: 20000});
    out.sdkPlain = await report(async () => {
        const {data, response} = await sdk.chat.completions.create(ask(false)).withResponse();
        return {content: data.choices[0].message.content, requestId: response.headers.get('x-request-id'), sdkRequestId: data._request_id};
    });
    out.sdkStream = await report(async () => {
        const stream = await sdk.chat.completions.create(ask(true));
        let content = '';
        for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
        return {content};
    });
    out.sdkModel = await report(async () => ({model: await sdk.models.retrieve('fake-chat')}));
    out.sdkResponses = await report(async () => {
        const stream = await sdk.responses.create({model: 'fake-chat', input: 'Hi from page.test', stream: true});
        let content = '', status = null;
        for await (const ev of stream) {
            if (ev.type === 'response.output_text.delta') content += ev.delta;
            if (ev.type === 'response.completed') status = ev.response.status;
        }
        return {content, status};
    });
    out.sdkTools = await report(async () => {
        const r = await sdk.chat.completions.create({model: 'fake-chat', tools: x.tools,
            messages: [{role: 'user', content: 'The weather in Paris? ' + x.toolDirective}]});
        const c = r.choices[0];
        return {finish: c.finish_reason, calls: c.message.tool_calls};
    });
    out.sdkJson = await report(async () => {
        const r = await sdk.chat.completions.create({model: 'fake-chat', response_format: x.format,
            messages: [{role: 'user', content: 'A city as JSON. ' + x.jsonDirective}]});
        return {content: r.choices[0].message.content};
    });
    return out;
};
`;

/*  What the page asks beyond plain chat: a tool call and a json_schema
    answer, the fake model told what to answer by a directive. */
const directive = (text) => `[[fake:text text="${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"]]`;
const EXTRAS = {
    tools: [{
        type: 'function',
        function: {
            name: 'get_weather',
            description: 'Weather of a city',
            parameters:
                {type: 'object', properties: {city: {type: 'string'}}, required: ['city'], additionalProperties: false}
        }
    }],
    toolDirective: directive('{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}'),
    format: {
        type: 'json_schema',
        json_schema: {
            name: 'city',
            strict: true,
            schema:
                {type: 'object', properties: {city: {type: 'string'}}, required: ['city'], additionalProperties: false}
        }
    },
    jsonDirective: directive('Here it is: ```json\n{"city":"Lyon"}\n```'),
};

/*  The page's server: its HTML, and the openai package's files under /openai/. */
async function startPage() {
    const server = createServer(async (req, res) => {
        const path = new URL(req.url, 'http://x').pathname;
        if (path === '/') {
            res.writeHead(200, {'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store'});
            res.end(
                `<!DOCTYPE html><html><head><meta charset="utf-8"><title>page</title></head><body>` +
                `<script type="module">${PAGE_SCRIPT}</script></body></html>`);
            return;
        }
        const rel = normalize(path.slice('/openai/'.length));
        if (!path.startsWith('/openai/') || rel.startsWith('..')) {
            res.writeHead(404).end();
            return;
        }
        try {
            const body = await readFile(join(OPENAI_DIR, rel));
            res.writeHead(200, {'content-type': 'text/javascript; charset=utf-8'});
            res.end(body);
        } catch {
            res.writeHead(404).end();
        }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {server, origin: `http://page.test:${server.address().port}`};
}

async function runPage(w, origin) {
    const page = await w.context.newPage();
    await page.goto(`${origin}/`, {waitUntil: 'load'});
    await page.waitForFunction(() => typeof window.run === 'function');
    const out = await page.evaluate(([node, x]) => window.run(node, x), [w.node.baseURL, EXTRAS]);
    await page.close();
    return out;
}

e2eTest(
    'a page on another origin: refused by a keyless node, served once --cors-origin names it (fetch and the openai SDK)',
    {world: {chromiumArgs: RESOLVE}}, async (t, w) => {
        await w.connectTab();
        const pageSrv = await startPage();
        t.after(() => pageSrv.server.close());

        // keyless, no --cors-origin: the browser blocks every call, no prompt reaches a tab
        const refused = await runPage(w, pageSrv.origin);
        t.diagnostic(`refused: ${JSON.stringify(refused).slice(0, 600)}`);
        for (const [how, r] of Object.entries(refused)) {
            assert.equal(r.ok, false, `${how}: the page read an answer: ${JSON.stringify(r)}`);
        }
        assert.equal((await w.fake.requests()).length, 0, 'a refused page reached the fake LMArena');

        // the same node naming the page's origin
        w.node.opts.extraArgs = ['--cors-origin', pageSrv.origin];
        await w.node.restart();
        await waitFor(async () => (await w.node.health()).json?.tabs >= 1, {what: 'the tab back', timeoutMs: 15000});
        await w.waitModels(['fake-chat']);
        const served = await runPage(w, pageSrv.origin);
        t.diagnostic(`served: ${JSON.stringify(served).slice(0, 1200)}`);
        for (const [how, r] of Object.entries(served)) assert.equal(r.ok, true, `${how}: ${r.error}`);
        assert.equal(served.fetchPlain.status, 200);
        assert.equal(served.fetchPlain.content, FAKE_ANSWER);
        assert.match(served.fetchPlain.requestId ?? '', REQ_ID_RE, 'x-request-id readable (exposed)');
        assert.equal(served.fetchPlain.id, `chatcmpl-${served.fetchPlain.requestId.slice(4)}`);
        assert.equal(served.fetchStream.status, 200);
        assert.match(served.fetchStream.type, /^text\/event-stream/);
        assert.equal(served.fetchStream.content, FAKE_ANSWER);
        assert.ok(served.fetchStream.done);
        assert.match(served.fetchStream.requestId ?? '', REQ_ID_RE);
        assert.equal(served.sdkPlain.content, FAKE_ANSWER);
        assert.match(served.sdkPlain.requestId ?? '', REQ_ID_RE);
        assert.equal(served.sdkPlain.sdkRequestId, served.sdkPlain.requestId, 'the SDK reads _request_id');
        assert.equal(served.sdkStream.content, FAKE_ANSWER);
        assert.equal(served.sdkModel.model.id, 'fake-chat');
        assert.equal(served.sdkResponses.content, FAKE_ANSWER, 'the Responses API streamed to the page');
        assert.equal(served.sdkResponses.status, 'completed');
        assert.equal(served.sdkTools.finish, 'tool_calls');
        assert.equal(served.sdkTools.calls?.length, 1, JSON.stringify(served.sdkTools));
        assert.equal(served.sdkTools.calls[0].function.name, 'get_weather');
        assert.deepEqual(JSON.parse(served.sdkTools.calls[0].function.arguments), {city: 'Paris'});
        assert.deepEqual(JSON.parse(served.sdkJson.content), {city: 'Lyon'}, 'the bare JSON');
        assert.equal((await w.fake.requests()).length, 7, 'each call reached the fake LMArena once');
    });
