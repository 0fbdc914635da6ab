// Usage (docs/usage.md): every request is recorded on the node it entered
// (key, model, tokens — LMArena's when its stream says them, else estimated
// and marked — cost from --price), GET /v1/usage answers a user key its own
// usage and the admin key any key's, strictly validated; a request served
// over a mesh hop is counted once, on its origin.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {arenaTest, binary, http, run, waitFor, waitForModels} from './lib/harness.mjs';

const ADMIN = 'integ-usage-admin-key-8c2e41';
const KEY = 'integ-usage-config-key';
const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];

const chat = (node, key, content, more = {}) => http(node, 'POST', '/v1/chat/completions', {
    headers: {authorization: `Bearer ${key}`, 'content-type': 'application/json'},
    body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content}], ...more}),
});
/*  A node's raw usage rows (its database, read beside the running node:
    WAL lets a reader in), as [key, model, served_by, status, estimated]. */
function rawRows(node) {
    const r = spawnSync(
        'sqlite3',
        [
            '-readonly', '-separator', '|', join(node.dataDir, 'arena.db'),
            'SELECT key, model, served_by, status, estimated FROM usage_rows ORDER BY id'
        ],
        {encoding: 'utf8', timeout: 10000});
    assert.ok(!r.error, `sqlite3 did not run (${r.error?.message}): tools/bootstrap.sh --test installs it`);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
}
const usage = (node, key, query = '') =>
    http(node, 'GET', `/v1/usage${query}`, {headers: key ? {authorization: `Bearer ${key}`} : {}});

arenaTest('usage: tokens as LMArena said or estimated, per key, with cost and the tier limits', async (t, arena) => {
    const {node} = await arena.startPair(
        {name: 'usage-node', apiKey: KEY, extraArgs: ['--admin-key', ADMIN, '--price', 'fake-chat=1000/2000']},
        {tabs: 1});
    const made = await http(node, 'POST', '/admin/keys', {
        headers: {authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json'},
        body: JSON.stringify({name: 'alice', tier: 'free'}),
    });
    assert.equal(made.status, 201, made.text);
    const alice = made.json.key;

    // nothing yet: zeros, the tier's limits, all of them remaining (-1: no limit)
    const empty = await usage(node, alice);
    assert.equal(empty.status, 200, empty.text);
    assert.equal(empty.json.object, 'usage');
    assert.equal(empty.json.range, 'day');
    assert.equal(empty.json.keys.length, 1);
    assert.equal(empty.json.keys[0].key, 'alice');
    assert.equal(empty.json.keys[0].totals.requests, 0);
    assert.deepEqual(empty.json.keys[0].limits, {
        tier: 'free',
        requests_per_minute: 10,
        requests_per_hour: 100,
        requests_per_day: 1000,
        tokens_per_day: null,
        concurrent: null,
        remaining: {requests_per_minute: 10, requests_per_hour: 100, requests_per_day: 1000, tokens_per_day: -1},
    });

    // LMArena's usage in the stream: taken as it is
    const said = await chat(node, alice, '[[fake:text ct=3]] count me');
    assert.equal(said.status, 200, said.text);
    assert.equal(said.json.usage.completion_tokens, 3);
    const pt = said.json.usage.prompt_tokens;
    // no usage in the stream: estimated (the answer "Hello from the fake arena." is 26 ASCII bytes → 7)
    const est = await chat(node, alice, '[[fake:text usage=0]] estimate me', {stream: true});
    assert.equal(est.status, 200, est.text);
    assert.match(est.text, /data: \[DONE\]/);
    // another key's request, and one refused (400) under alice
    assert.equal((await chat(node, KEY, 'the config key')).status, 200);
    const bad = await http(node, 'POST', '/v1/chat/completions', {
        headers: {authorization: `Bearer ${alice}`, 'content-type': 'application/json'},
        body: JSON.stringify({model: 'fake-chat', messages: []}),
    });
    assert.equal(bad.status, 400);

    const mine = await usage(node, alice, '?range=day&details=true');
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.json.keys.length, 1, 'a user key sees only its own usage');
    const k = mine.json.keys[0];
    assert.equal(k.key, 'alice');
    assert.equal(k.tier, 'free');
    assert.equal(k.totals.requests, 3, mine.text);
    assert.equal(k.totals.errors, 1);
    assert.equal(k.totals.estimated_requests, 1, 'the stream without usage is marked estimated');
    // two requests admitted (the 400 was refused before its limits counted it)
    assert.deepEqual(
        k.limits.remaining, {requests_per_minute: 8, requests_per_hour: 98, requests_per_day: 998, tokens_per_day: -1});
    assert.equal(k.totals.completion_tokens, 3 + 7);
    assert.ok(k.totals.prompt_tokens > pt, `the estimate adds prompt tokens (${k.totals.prompt_tokens} > ${pt})`);
    const estPrompt = k.totals.prompt_tokens - pt;
    assert.ok(k.totals.avg_ttfb_ms !== null && k.totals.avg_duration_ms >= 0);
    // cost: 1000 $/M prompt, 2000 $/M completion
    const cost = (k.totals.prompt_tokens * 1000 + k.totals.completion_tokens * 2000) / 1e6;
    assert.ok(Math.abs(k.totals.cost_usd - cost) < 1e-6, `cost ${k.totals.cost_usd} vs ${cost}`);
    assert.equal(mine.json.bucket, 'hour');
    const models = Object.fromEntries(k.models.map((m) => [m.model, m]));
    assert.equal(models['fake-chat'].requests, 2);
    assert.equal(models[''].requests, 1, 'the refused request read no model');
    assert.equal(k.buckets.reduce((n, b) => n + b.requests, 0), 3);
    assert.ok(k.buckets.every((b) => b.start_ms % 3600000 === 0));

    // the raw rows, in the order the requests ended: served here, the estimate marked
    const self = (await http(node, 'GET', '/mesh/status', {headers: {authorization: `Bearer ${KEY}`}})).json.self;
    assert.deepEqual(rawRows(node), [
        ['alice', 'fake-chat', self, '200', '0'],
        ['alice', 'fake-chat', self, '200', '1'],
        ['config-1', 'fake-chat', self, '200', '0'],
        ['alice', '', '', '400', '0'],
    ]);

    // the admin key: every key, or one
    const all = await usage(node, ADMIN, '?range=week');
    assert.equal(all.status, 200, all.text);
    const byKey = Object.fromEntries(all.json.keys.map((x) => [x.key, x]));
    assert.equal(byKey.alice.totals.requests, 3);
    assert.equal(byKey['config-1'].totals.requests, 1);
    assert.equal(byKey['config-1'].tier, 'config');
    assert.equal(all.json.totals.requests, 4);
    assert.equal(all.json.bucket, 'day');
    const one = await usage(node, ADMIN, '?key=config-1&range=month');
    assert.deepEqual(one.json.keys.map((x) => x.key), ['config-1']);
    assert.equal(one.json.keys[0].totals.requests, 1);

    // arena-mesh usage prints the same
    const mesh = binary('arena-mesh');
    const cliJson =
        await run(mesh, ['usage', '--node', node.baseURL, '--admin-key', ADMIN, '--range', 'week', '--json']);
    assert.equal(cliJson.code, 0, cliJson.stderr);
    assert.deepEqual(JSON.parse(cliJson.stdout).totals, all.json.totals);
    const table = await run(mesh, ['usage', '--node', node.baseURL, '--api-key', alice, '--details']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^alice\s+free\s+3\s+1\s/m, table.stdout);
    assert.match(table.stdout, /^ {2}fake-chat\s+2\s+0\s/m, table.stdout);
    assert.match(
        table.stdout,
        /limits: 10\/min 100\/hour 1000\/day, tokens none\/day; remaining 8\/min 98\/hour 998\/day, tokens none$/m,
        table.stdout);
    assert.match(table.stdout, /^TOTAL\s+3\s+1\s/m, table.stdout);
    assert.doesNotMatch(table.stdout, /config-1/, 'a user key sees only its own');
    const refused = await run(mesh, ['usage', '--node', node.baseURL, '--api-key', alice, '--key', 'config-1']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /HTTP 400 key is for the admin key/);
    const badRange = await run(mesh, ['usage', '--node', node.baseURL, '--range', 'year']);
    assert.equal(badRange.code, 64);
    assert.match(badRange.stderr, /--range must be day, week or month/);
    const wrong = await run(mesh, ['usage', '--node', node.baseURL, '--api-key', 'not-a-key']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /HTTP 401/);

    // kept across a restart (the pending batch is written on the way out)
    await node.restart();
    await waitForModels(node);
    const again = await usage(node, alice);
    assert.equal(again.json.keys[0].totals.requests, 3);
    assert.equal(again.json.keys[0].totals.prompt_tokens, pt + estPrompt);
});

arenaTest('GET /v1/usage: bad input is a clear 4xx naming the parameter', async (t, arena) => {
    const node = await arena.startNode({name: 'usage-bad', apiKey: KEY, extraArgs: ['--admin-key', ADMIN]});
    const cases = [
        [KEY, '?range=year', 400, 'range'],
        [KEY, '?range=', 400, 'range'],
        [KEY, '?details=yes', 400, 'details'],
        [KEY, '?foo=1', 400, 'foo'],
        [KEY, '?range=day&range=week', 400, 'range'],
        [KEY, '?key=config-1', 400, 'key'], // a user key sees its own only
        [ADMIN, '?key=no%20such', 400, 'key'],
        [ADMIN, '?limit=3', 400, 'limit'],
    ];
    for (const [key, q, status, param] of cases) {
        const r = await usage(node, key, q);
        assert.equal(r.status, status, `${q}: ${r.text}`);
        assert.equal(r.json.error.param, param, q);
        assert.equal(r.json.error.type, 'invalid_request_error', q);
    }
    assert.equal((await usage(node, null)).status, 401);
    assert.equal((await usage(node, 'wrong-key')).status, 401);
    const post = await http(node, 'POST', '/v1/usage', {headers: {authorization: `Bearer ${KEY}`}});
    assert.equal(post.status, 405);
    const ok = await usage(node, KEY, '?range=month&details=false');
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json.keys.map((x) => x.key), ['config-1']);
    assert.equal(ok.json.keys[0].models, undefined, 'no details unless asked');
});

arenaTest('usage over a mesh hop: counted once, on the node the request entered', async (t, arena) => {
    const {node: b} = await arena.startPair({name: 'usage-b', apiKey: KEY}, {tabs: 1});
    const a = await arena.startNode({name: 'usage-a', apiKey: KEY, extraArgs: seedOf(b)});
    await waitForModels(a);
    const r = await chat(a, KEY, '[[fake:text ct=4]] through the mesh');
    assert.equal(r.status, 200, r.text);
    const onA = await usage(a, KEY, '?details=true');
    assert.equal(onA.json.keys[0].totals.requests, 1, onA.text);
    assert.equal(onA.json.keys[0].totals.completion_tokens, 4, 'LMArena\'s usage crossed the hop');
    assert.equal(onA.json.keys[0].totals.estimated_requests, 0);
    assert.equal(onA.json.keys[0].totals.prompt_tokens, r.json.usage.prompt_tokens);
    // the raw rows (written: the answers above flushed them): one, on A, served by B
    const bId = (await http(b, 'GET', '/mesh/status', {headers: b.authHeaders()})).json.self;
    assert.deepEqual(rawRows(a), [['config-1', 'fake-chat', bId, '200', '0']]);
    assert.deepEqual(rawRows(b), []);
    // B counts it once too, when A's rollup comes (usage_mesh.test.mjs), never as its own
    await waitFor(
        async () => (await usage(b, KEY)).json.keys[0].totals.requests === 1,
        {timeoutMs: 10000, intervalMs: 50, what: 'A\'s rollup on B'});
    assert.equal((await usage(b, KEY)).json.totals.requests, 1, 'the serving node records nothing');
});

arenaTest('a node without keys records under "-" and answers everything', async (t, arena) => {
    const {node} = await arena.startPair({name: 'usage-open'}, {tabs: 1});
    assert.equal((await chat(node, 'anything', 'open')).status, 200);
    const r = await usage(node, null);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.keys.map((x) => [x.key, x.totals.requests]), [['-', 1]]);
});
