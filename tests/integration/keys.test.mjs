// API keys on one node (docs/keys.md): made with `arena-mesh keys` against a
// real arena-node started with --admin-key and one fake-link tab, then used
// through the official openai SDK. Covers: a made key works at once, the
// list never shows a key, re-tiering, revocation and expiry refuse at once,
// the model allow-list, the admin key is no user key and a user key no admin
// key, bad input to every endpoint is a 4xx with nothing stored, a key
// revoked while its request's body is on the way is refused when the body
// ends, and the table survives a restart.

import {before, after} from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import {Arena, binary, client, closedPort, http, run, waitFor} from './lib/harness.mjs';

const ADMIN = 'integ-admin-key-5b1e9c0d7a';
const CONFIG_KEY = 'integ-config-key-1';
const arena = new Arena();
let node;
let mesh;

before(async () => {
    ({node} = await arena.startPair(
         {name: 'keys-node', apiKey: CONFIG_KEY, extraArgs: ['--admin-key', ADMIN]},
         {tabs: 1},
         ));
    mesh = binary('arena-mesh');
});
after(() => arena.cleanup());

function keys(args, {admin = ADMIN} = {}) {
    const auth = admin === null ? [] : ['--admin-key', admin];
    return run(mesh, ['keys', ...args, '--node', node.baseURL, ...auth]);
}

async function create(name, tier, more = []) {
    const r = await keys(['create', '--name', name, '--tier', tier, '--json', ...more]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.name, name);
    assert.match(doc.key, /^ak-[A-Za-z0-9_-]{43}$/);
    return doc;
}

async function listed() {
    const r = await keys(['list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).data;
}

function chat(key, model = 'fake-chat') {
    return client(node, {apiKey: key}).chat.completions.create({
        model,
        messages: [{role: 'user', content: 'hello'}],
    });
}

async function refused(promise, status, code) {
    await assert.rejects(promise, (e) => {
        assert.equal(e.status, status, `${e.status} ${e.message}`);
        if (code) assert.equal(e.code ?? e.error?.code, code);
        return true;
    });
}

const admin = {
    authorization: `Bearer ${ADMIN}`,
    'content-type': 'application/json'
};

arena.test('a key made with arena-mesh works for chat at once; the list never shows it', async () => {
    const made = await create('alice', 'free');
    assert.equal(made.tier, 'free');
    assert.equal(made.expires, null);
    assert.equal(made.models, null);
    assert.equal(typeof made.created_ms, 'number');
    const res = await chat(made.key);
    assert.equal(res.object, 'chat.completion');
    assert.ok(res.choices[0].message.content.length > 0);
    const text = JSON.stringify(await listed());
    assert.ok(!text.includes(made.key), 'the list shows no key');
    assert.ok(!text.includes('hash'), 'nor a hash');
    const alice = (await listed()).find((k) => k.name === 'alice');
    assert.equal(alice.tier, 'free');
    assert.equal(alice.active, true);
    assert.ok((await listed()).some((k) => k.name === 'config-1' && k.tier === 'config'));
    const plain = await keys(['list']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /alice\s+free\s+active/);
    assert.ok(!plain.stdout.includes(made.key));
    // the --api-key key keeps working beside it
    assert.equal((await chat(CONFIG_KEY)).object, 'chat.completion');
});

arena.test('create without --json shows the key once, in plain text', async () => {
    const r = await keys(['create', '--name', 'plain-1', '--tier', 'premium']);
    assert.equal(r.code, 0, r.stderr);
    const key = r.stdout.match(/ak-[A-Za-z0-9_-]{43}/)?.[0];
    assert.ok(key, r.stdout);
    assert.equal((await chat(key)).object, 'chat.completion');
});

arena.test('set-tier moves a key; revoke refuses it at once, and everywhere after', async () => {
    const made = await create('bob', 'free');
    const t = await keys(['set-tier', 'bob', 'enterprise']);
    assert.equal(t.code, 0, t.stderr);
    assert.equal((await listed()).find((k) => k.name === 'bob').tier, 'enterprise');
    assert.equal((await chat(made.key)).object, 'chat.completion');
    const r = await keys(['revoke', 'bob']);
    assert.equal(r.code, 0, r.stderr);
    await refused(chat(made.key), 401, 'invalid_api_key');
    const bob = (await listed()).find((k) => k.name === 'bob');
    assert.equal(bob.revoked, true);
    const again = await keys(['revoke', 'bob']);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /no live key named 'bob'/);
    const reuse = await keys(['create', '--name', 'bob', '--tier', 'free']);
    assert.equal(reuse.code, 1);
    assert.match(reuse.stderr, /409/);
});

/*  A raw request whose body waits: its headers go with Expect: 100-continue,
    and the node's "100 Continue" says it admitted them (a refusal would be
    the final answer instead). send(body) writes the body and resolves with
    the final status line's code and the whole answer. */
async function heldRequest(key, bodyText) {
    const sock = net.connect(node.http.port, '127.0.0.1');
    sock.setEncoding('latin1');
    let data = '';
    const waiters = new Set();
    sock.on('data', (d) => {
        data += d;
        for (const w of [...waiters]) w();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
        for (const w of [...waiters]) w();
    });
    const until = (pred, what) => new Promise((resolve, reject) => {
        const check = () => {
            if (pred()) {
                clearTimeout(timer);
                waiters.delete(check);
                resolve();
            } else if (sock.destroyed) {
                clearTimeout(timer);
                reject(new Error(`closed waiting for ${what}: ${data}`));
            }
        };
        const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`timed out waiting for ${what}: ${data}`));
        }, 10000);
        waiters.add(check);
        check();
    });
    sock.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${node.http.port}\r\n` +
        `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(bodyText)}\r\nExpect: 100-continue\r\n` +
        'Connection: close\r\n\r\n');
    await until(() => /^HTTP\/1\.1 \d{3} /.test(data), 'the answer to the headers');
    assert.match(data, /^HTTP\/1\.1 100 /, 'the headers were admitted');
    return {
        async send() {
            data = '';
            sock.write(bodyText);
            await until(() => sock.destroyed || sock.readableEnded, 'the end of the answer');
            return {status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(data)?.[1]), text: data};
        },
    };
}

arena.test('a key revoked while its request body is on the way is refused when the body ends', async () => {
    /* the record the headers found moves in the table (a key sorted before
       it is made), then the key is revoked: the request must see the
       revocation, not a stale record (keys_generation) */
    const made = await create('mid-zz', 'free');
    const body = JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: 'hello'}]});
    const ok = await heldRequest(made.key, body);
    assert.equal((await ok.send()).status, 200, 'a live key: answered');
    const held = await heldRequest(made.key, body);
    await create('mid-aa', 'free');
    const r = await keys(['revoke', 'mid-zz']);
    assert.equal(r.code, 0, r.stderr);
    const answer = await held.send();
    assert.equal(answer.status, 401, answer.text);
    assert.match(answer.text, /invalid_api_key/);
});

arena.test('an expired key is refused', async () => {
    const r = await http(node, 'POST', '/admin/keys', {
        headers: admin,
        body: JSON.stringify({name: 'brief', tier: 'free', expires: Date.now() + 1500}),
    });
    assert.equal(r.status, 201, r.text);
    const key = r.json.key;
    assert.equal((await http(node, 'GET', '/v1/models', {headers: {authorization: `Bearer ${key}`}})).status, 200);
    await waitFor(async () => {
        const m = await http(node, 'GET', '/v1/models', {headers: {authorization: `Bearer ${key}`}});
        return m.status === 401;
    }, {timeoutMs: 10000, intervalMs: 100, what: 'the key to expire'});
    await refused(chat(key), 401, 'invalid_api_key');
    assert.equal((await listed()).find((k) => k.name === 'brief').active, false);
    // a date in the past is refused by the node: exit 1, its message
    const past = await keys(['create', '--name', 'old', '--tier', 'free', '--expires', '2001-01-01']);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /expires/);
});

arena.test('a model allow-list refuses other models with 404 model_not_found', async () => {
    const made = await create('narrow', 'premium', ['--models', 'fake-chat']);
    assert.deepEqual(made.models, ['fake-chat']);
    assert.equal((await chat(made.key, 'fake-chat')).object, 'chat.completion');
    await refused(chat(made.key, 'fake-chat-2'), 404, 'model_not_found');
    const resp = client(node, {apiKey: made.key}).responses.create({model: 'fake-chat-2', input: 'hi'});
    await refused(resp, 404, 'model_not_found');
});

arena.test('the admin key is no user key; a user key is no admin key', async () => {
    await refused(chat(ADMIN), 401, 'invalid_api_key');
    const made = await create('carol', 'free');
    const r = await keys(['list'], {admin: made.key});
    assert.equal(r.code, 1);
    assert.match(r.stderr, /401/);
    assert.match(r.stderr, /--admin-key or ARENA_ADMIN_KEY/);
    for (const [m, p] of [
             ['GET', '/admin/keys'], ['POST', '/admin/keys'], ['DELETE', '/admin/keys/carol'],
             ['POST', '/admin/keys/carol/tier']]) {
        for (const auth of [made.key, CONFIG_KEY, undefined]) {
            const headers = {'content-type': 'application/json'};
            if (auth) headers.authorization = `Bearer ${auth}`;
            const a = await http(node, m, p, {headers, body: m === 'POST' ? '{"tier":"free"}' : undefined});
            assert.equal(a.status, 401, `${m} ${p}: ${a.text}`);
            assert.equal(a.json.error.code, 'invalid_api_key');
        }
    }
    assert.equal((await listed()).find((k) => k.name === 'carol').tier, 'free');
    // without --admin-key, ARENA_ADMIN_KEY is read; without either, a usage error
    process.env.ARENA_ADMIN_KEY = ADMIN;
    try {
        const env = await keys(['list'], {admin: null});
        assert.equal(env.code, 0, env.stderr);
    } finally {
        delete process.env.ARENA_ADMIN_KEY;
    }
    const none = await keys(['list'], {admin: null});
    assert.equal(none.code, 64);
    assert.match(none.stderr, /admin key/);
});

arena.test('bad input to every endpoint: a clear 4xx, nothing stored', async () => {
    await create('dave', 'free');
    const before = JSON.stringify(await listed());
    const cases = [
        ['POST', '/admin/keys', {tier: 'free'}, 400, 'name'],
        ['POST', '/admin/keys', {name: 'with space', tier: 'free'}, 400, 'name'],
        ['POST', '/admin/keys', {name: 'x'.repeat(65), tier: 'free'}, 400, 'name'],
        ['POST', '/admin/keys', {name: 'eve'}, 400, 'tier'],
        ['POST', '/admin/keys', {name: 'eve', tier: 'platinum'}, 400, 'tier'],
        ['POST', '/admin/keys', {name: 'eve', tier: 'free', expires: 1}, 400, 'expires'],
        ['POST', '/admin/keys', {name: 'eve', tier: 'free', models: 'fake-chat'}, 400, 'models'],
        ['POST', '/admin/keys', {name: 'eve', tier: 'free', models: []}, 400, 'models'],
        ['POST', '/admin/keys', {name: 'eve', tier: 'free', key: 'ak-mine'}, 400, 'key'],
        ['POST', '/admin/keys', '{"name":', 400, null],
        ['POST', '/admin/keys', {name: 'dave', tier: 'free'}, 409, 'name'],
        ['POST', '/admin/keys/dave/tier', {tier: 'platinum'}, 400, 'tier'],
        ['POST', '/admin/keys/dave/tier', {}, 400, 'tier'],
        ['POST', '/admin/keys/dave/tier', 'null', 400, null],
        ['POST', '/admin/keys/nobody/tier', {tier: 'free'}, 404, 'name'],
        ['DELETE', '/admin/keys/nobody', undefined, 404, 'name'],
        ['DELETE', '/admin/keys/bad%20name', undefined, 404, null],
        ['PUT', '/admin/keys', undefined, 405, null],
    ];
    for (const [method, path, body, status, param] of cases) {
        const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
        const r = await http(node, method, path, {headers: admin, body: text});
        assert.equal(r.status, status, `${method} ${path} ${text}: ${r.text}`);
        assert.equal(typeof r.json.error.message, 'string');
        if (param) assert.equal(r.json.error.param, param, `${method} ${path} ${text}`);
    }
    const noType = await http(node, 'POST', '/admin/keys', {
        headers: {authorization: `Bearer ${ADMIN}`},
        body: JSON.stringify({name: 'eve', tier: 'free'}),
    });
    assert.equal(noType.status, 415);
    assert.equal(JSON.stringify(await listed()), before, 'nothing stored');
    // the command line refuses what it can before asking
    for (const args
             of [['create', '--name', 'eve'], ['revoke'], ['set-tier', 'dave'], ['frob'],
                 ['create', '--name', 'eve', '--tier', 'free', '--expires', 'tomorrow']]) {
        const r = await keys(args);
        assert.equal(r.code, 64, `${args.join(' ')}: ${r.code} ${r.stderr}`);
    }
    const bad = await keys(['set-tier', 'dave', 'platinum']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown tier 'platinum'/);
    assert.equal(JSON.stringify(await listed()), before, 'nothing stored');
});

arena.test('arena-mesh keys against a closed port → exit 2 naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await run(mesh, ['keys', 'list', '--node', url, '--admin-key', ADMIN]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(url), r.stderr);
});

arena.test('the table survives a restart: keys work, revoked stay revoked', async () => {
    const kept = await create('frank', 'premium', ['--models', 'fake-chat,fake-chat-2']);
    const gone = await create('gina', 'free');
    assert.equal((await keys(['revoke', 'gina'])).code, 0);
    const before = JSON.stringify(await listed());
    await node.restart();
    await waitFor(
        async () => (await http(node, 'GET', '/health')).status === 200,
        {timeoutMs: 10000, intervalMs: 100, what: 'the node back'});
    assert.equal(JSON.stringify(await listed()), before);
    const m = await http(node, 'GET', '/v1/models', {headers: {authorization: `Bearer ${kept.key}`}});
    assert.equal(m.status, 200);
    const g = await http(node, 'GET', '/v1/models', {headers: {authorization: `Bearer ${gone.key}`}});
    assert.equal(g.status, 401);
});
