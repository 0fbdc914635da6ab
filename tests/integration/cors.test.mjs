// The API at the HTTP edge for clients on other web origins and for people
// reading logs (issue #10 items 1, 2 and 6): CORS preflights and
// Access-Control-Allow-Origin on every API answer (200, 401, 404, 429, SSE),
// never on the userscript; the default (any origin with a key, none without,
// --cors-origin naming more); an x-request-id on every answer, the same one
// at the tab and in the logs of both nodes of a forwarded request; GET
// /v1/models/{id}.

import assert from 'node:assert/strict';
import {
    arenaTest,
    client,
    fake,
    http,
    waitFor,
    waitForModels,
    FAKE_ANSWER,
    LINK_TOKEN,
} from './lib/harness.mjs';

const PAGE = 'http://page.test:8080'; // the web page's origin
const REQ_ID_RE = /^req_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// what the openai SDK 6.x sends from a browser (its preflight asks for these)
const SDK_HEADERS = 'authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,' +
    'x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,' +
    'x-stainless-runtime-version,x-stainless-timeout';
const ask = (model, content, extra = {}) => ({model, messages: [{role: 'user', content}], ...extra});

/*  A browser's cross-origin request headers (Origin and Sec-Fetch-*). */
const from = (origin, headers = {}) => ({
    origin,
    'sec-fetch-site': 'cross-site',
    'sec-fetch-mode': 'cors',
    'sec-fetch-dest': 'empty',
    ...headers,
});

function preflight(node, path, origin, method = 'POST', requested = SDK_HEADERS) {
    return http(node, 'OPTIONS', path, {
        headers: from(origin, {
            'access-control-request-method': method,
            'access-control-request-headers': requested,
        }),
    });
}

/*  r carries the CORS headers that let origin read it. */
function assertReadable(r, origin, what) {
    assert.equal(r.headers.get('access-control-allow-origin'), origin, `${what}: Allow-Origin`);
    assert.match(r.headers.get('vary') ?? '', /\bOrigin\b/i, `${what}: Vary`);
    const exposed = r.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['x-request-id', 'retry-after', 'retry-after-ms', 'x-ratelimit-remaining-requests']) {
        assert.ok(exposed.includes(h), `${what}: Expose-Headers lacks ${h}: ${exposed}`);
    }
}

function assertUnreadable(r, what) {
    assert.equal(r.headers.get('access-control-allow-origin'), null, `${what}: Allow-Origin`);
}

function assertRequestId(r, what) {
    const id = r.headers.get('x-request-id');
    assert.match(id ?? '', REQ_ID_RE, `${what}: x-request-id ${id}`);
    return id;
}

arenaTest(
    'a node with a key: preflight and Allow-Origin on every API answer, never on the userscript', async (t, arena) => {
        const key = 'sk-cors-key';
        const {node} = await arena.startPair({name: 'cors-keyed', apiKey: key}, {tabs: 1});
        const auth = {authorization: `Bearer ${key}`};

        // the preflight of the SDK's chat call: no key on it (browsers send none)
        const pre = await preflight(node, '/v1/chat/completions', PAGE);
        assert.equal(pre.status, 204, pre.text);
        assert.equal(pre.headers.get('access-control-allow-origin'), PAGE);
        assert.match(pre.headers.get('access-control-allow-methods'), /\bPOST\b/);
        assert.equal(pre.headers.get('access-control-allow-headers'), SDK_HEADERS);
        assert.ok(Number(pre.headers.get('access-control-max-age')) > 0);
        assertRequestId(pre, 'preflight');
        const preModels = await preflight(node, '/v1/models/fake-chat', PAGE, 'GET', 'authorization');
        assert.equal(preModels.status, 204, preModels.text);

        const ids = new Set();
        const seen = (r, what) => {
            const id = assertRequestId(r, what);
            assert.ok(!ids.has(id), `${what}: x-request-id ${id} used twice`);
            ids.add(id);
        };
        // 200, 401, 404 (route and model), 405
        const models = await http(node, 'GET', '/v1/models', {headers: from(PAGE, auth)});
        assert.equal(models.status, 200);
        assertReadable(models, PAGE, 'GET /v1/models');
        seen(models, 'GET /v1/models');
        const noKey = await http(node, 'GET', '/v1/models', {headers: from(PAGE)});
        assert.equal(noKey.status, 401);
        assertReadable(noKey, PAGE, '401');
        seen(noKey, '401');
        const chatNoKey = await http(node, 'POST', '/v1/chat/completions', {
            headers: from(PAGE, {'content-type': 'application/json'}),
            body: JSON.stringify(ask('fake-chat', 'hi')),
        });
        assert.equal(chatNoKey.status, 401);
        assertReadable(chatNoKey, PAGE, 'chat 401');
        seen(chatNoKey, 'chat 401');
        const nowhere = await http(node, 'POST', '/v1/chat/completions', {
            headers: from(PAGE, {...auth, 'content-type': 'application/json'}),
            body: JSON.stringify(ask('no-such-model', 'hi')),
        });
        assert.equal(nowhere.status, 404, nowhere.text);
        assert.equal(nowhere.json.error.code, 'model_not_found');
        assertReadable(nowhere, PAGE, 'chat 404');
        seen(nowhere, 'chat 404');
        const route404 = await http(node, 'GET', '/v1/nothing', {headers: from(PAGE, auth)});
        assert.equal(route404.status, 404);
        assertReadable(route404, PAGE, 'route 404');
        seen(route404, 'route 404');
        const health = await http(node, 'GET', '/health', {headers: from(PAGE)});
        assertReadable(health, PAGE, '/health');
        seen(health, '/health');

        // a 429 (the tab's rate limit): its Retry-After readable by the page
        const limited = await http(node, 'POST', '/v1/chat/completions', {
            headers: from(PAGE, {...auth, 'content-type': 'application/json'}),
            body: JSON.stringify(ask('fake-chat-2', fake('ratelimit retry=30'))),
            timeoutMs: 20000,
        });
        assert.equal(limited.status, 429, limited.text);
        assertReadable(limited, PAGE, '429');
        assert.ok(Number(limited.headers.get('retry-after-ms')) > 0);
        seen(limited, '429');

        // 200 chat, streamed (SSE) and not
        const plain = await http(node, 'POST', '/v1/chat/completions', {
            headers: from(PAGE, {...auth, 'content-type': 'application/json'}),
            body: JSON.stringify(ask('fake-chat', 'Hi')),
            timeoutMs: 20000,
        });
        assert.equal(plain.status, 200, plain.text);
        assertReadable(plain, PAGE, 'chat 200');
        const plainId = assertRequestId(plain, 'chat 200');
        assert.equal(plain.json.id, `chatcmpl-${plainId.slice(4)}`, 'the completion id reuses the request id');
        const sse = await http(node, 'POST', '/v1/chat/completions', {
            headers: from(PAGE, {...auth, 'content-type': 'application/json'}),
            body: JSON.stringify(ask('fake-chat', 'Hi', {stream: true})),
            timeoutMs: 20000,
        });
        assert.equal(sse.status, 200, sse.text);
        assert.match(sse.headers.get('content-type'), /^text\/event-stream/);
        assertReadable(sse, PAGE, 'SSE');
        seen(sse, 'SSE');
        assert.ok(sse.text.includes('[DONE]'));

        // the userscript (it holds the link token): never a CORS header
        const us = await http(node, 'GET', `/userscript.user.js?key=${key}`, {headers: from(PAGE)});
        assert.equal(us.status, 200);
        assert.ok(us.text.includes(LINK_TOKEN));
        assertUnreadable(us, 'userscript');
        assertRequestId(us, 'userscript');
        const usPre = await preflight(node, '/userscript.user.js', PAGE, 'GET', 'authorization');
        assert.equal(usPre.status, 405);
        assertUnreadable(usPre, 'userscript preflight');
        const index = await http(node, 'GET', '/', {headers: from(PAGE)});
        assertUnreadable(index, 'index');
        assertRequestId(index, 'index');

        // GET /v1/models/{id}
        const one = await http(node, 'GET', '/v1/models/fake-chat', {headers: from(PAGE, auth)});
        assert.equal(one.status, 200, one.text);
        assertReadable(one, PAGE, 'GET /v1/models/{id}');
        const listed = models.json.data.find((m) => m.id === 'fake-chat');
        assert.deepEqual(one.json, listed);
        assert.equal(one.json.object, 'model');
        const missing = await http(node, 'GET', '/v1/models/org/some-model:tag.1', {headers: auth});
        assert.equal(missing.status, 404, missing.text);
        assert.equal(missing.json.error.code, 'model_not_found');
        assert.equal(missing.json.error.param, 'model');
        assert.ok(missing.json.error.message.includes('org/some-model:tag.1'));
        const encoded = await http(node, 'GET', '/v1/models/org%2Fsome-model%3Atag.1', {headers: auth});
        assert.equal(encoded.status, 404);
        assert.ok(encoded.json.error.message.includes('org/some-model:tag.1'), encoded.text);
        assert.equal((await http(node, 'GET', '/v1/models/fake-chat')).status, 401);
        // the SDK's models.retrieve
        const retrieved = await client(node).models.retrieve('fake-chat');
        assert.equal(retrieved.id, 'fake-chat');
    });

arenaTest('a node without a key allows no web origin unless --cors-origin names it', async (t, arena) => {
    const {node} = await arena.startPair({name: 'cors-keyless'}, {tabs: 1});
    const pre = await preflight(node, '/v1/chat/completions', PAGE);
    assert.equal(pre.status, 403, pre.text);
    assertUnreadable(pre, 'refused preflight');
    assert.equal(pre.headers.get('access-control-allow-methods'), null);
    const models = await http(node, 'GET', '/v1/models', {headers: from(PAGE)});
    assert.equal(models.status, 200); // answered, unreadable by the page
    assertUnreadable(models, 'keyless /v1/models');
    assertRequestId(models, 'keyless /v1/models');
    const post = await http(node, 'POST', '/v1/chat/completions', {
        headers: from(PAGE, {'content-type': 'application/json'}),
        body: JSON.stringify(ask('fake-chat', 'Hi')),
    });
    assert.equal(post.status, 403);
    assertUnreadable(post, 'keyless chat');

    const {node: named} = await arena.startPair({name: 'cors-named', extraArgs: ['--cors-origin', PAGE]}, {tabs: 1});
    const ok = await preflight(named, '/v1/chat/completions', PAGE);
    assert.equal(ok.status, 204, ok.text);
    assert.equal(ok.headers.get('access-control-allow-origin'), PAGE);
    const chat = await http(named, 'POST', '/v1/chat/completions', {
        headers: from(PAGE, {'content-type': 'application/json'}),
        body: JSON.stringify(ask('fake-chat', 'Hi')),
        timeoutMs: 20000,
    });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(chat.json.choices[0].message.content, FAKE_ANSWER);
    assertReadable(chat, PAGE, 'named origin chat');
    const other = await preflight(named, '/v1/chat/completions', 'http://other.test');
    assert.equal(other.status, 403);
    assertUnreadable(other, 'another origin');
});

arenaTest('one x-request-id follows a forwarded request: both nodes\' logs and the tab', async (t, arena) => {
    const {node: b, link} = await arena.startPair({name: 'rid-b'}, {tabs: 1});
    const a = await arena.startNode({name: 'rid-a', extraArgs: ['--seed', `127.0.0.1:${b.mesh.port}`]});
    await waitForModels(a, 'fake-chat');
    const r = await http(a, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(ask('fake-chat', 'Hi through the mesh', {stream: true})),
        timeoutMs: 20000,
    });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.text.includes('[DONE]'));
    const id = assertRequestId(r, 'forwarded');
    assert.ok(r.text.includes(`"id":"chatcmpl-${id.slice(4)}"`), 'the chunks carry chatcmpl-<same uuid>');
    const logOf = (node) => node.proc.err.text.split('\n').filter((l) => l.includes(id));
    // the origin: started, forwarded, answered; the executor: ran, sent to its tab, ended
    await waitFor(
        () => logOf(a).some((l) => /answered 200/.test(l)) && logOf(b).some((l) => /ended here/.test(l)),
        {what: `${id} ended in both logs`});
    assert.ok(logOf(a).some((l) => /chat for fake-chat/.test(l)), logOf(a).join('\n'));
    assert.ok(logOf(a).some((l) => /forwarded to peer/.test(l)), logOf(a).join('\n'));
    assert.ok(logOf(b).some((l) => /forwarded by peer .* runs here/.test(l)), logOf(b).join('\n'));
    assert.ok(logOf(b).some((l) => /sent to tab/.test(l)), logOf(b).join('\n'));
    // the tab got it in its fetch frame
    const fetched = link.fetches();
    assert.equal(fetched.at(-1).request_id, id);
    // a failure is logged with its id too
    const failed = await http(a, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(ask('no-such-model', 'Hi')),
    });
    assert.equal(failed.status, 404);
    const fid = assertRequestId(failed, 'failed');
    await waitFor(
        () => a.proc.err.text.split('\n').some((l) => l.includes(fid) && /failed: 404 model_not_found/.test(l)),
        {what: `${fid} failure logged`});
});
