// Usage rollups replicated across the mesh (docs/usage.md, "Replication"):
// three real arena-node processes on loopback. Requests enter on A — one
// served by A's own tab, one (A's tab gone) forwarded to B's tab over a
// mesh hop — and GET /v1/usage on B and on C counts each exactly once, in
// the admin key's view and in the user key's own, within the push bound
// (measured and printed); a request entering on C shows up on A (every
// origin is summed); a node stopped while usage is recorded catches up
// after its restart; an origin stopped right after a request (its last
// change written on the way out, not yet sealed) hands it on after its
// restart; a node started later catches up.

import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {Arena, http, waitFor, waitForModels} from './lib/harness.mjs';

const ADMIN = 'integ-usage-mesh-admin-5d1f0b';
const CONFIG_KEY = 'integ-usage-mesh-config-key';
// What docs/usage.md writes down: a node's changed rollups are pushed once a
// second, so a request is counted on every live node within about a second.
const PUSH_BOUND_MS = 3000;
// A node that missed the pushes (down, or new) gets them by anti-entropy.
const REPAIR_BOUND_MS = 15000;

const arena = new Arena();
let A, B, C, linkA;
let user; // a user key made on A (replicated as keys are)

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];
const nodeOpts = (name, seeds = []) => ({name, apiKey: CONFIG_KEY, extraArgs: ['--admin-key', ADMIN, ...seeds]});

async function status(node) {
    return (await http(node, 'GET', '/mesh/status', {headers: node.authHeaders()})).json;
}

async function waitAlive(node, names, timeoutMs = 15000) {
    return waitFor(async () => {
        const doc = await status(node);
        return names.every((n) => doc?.nodes?.some((p) => !p.self && p.name === n && p.state === 'alive'));
    }, {timeoutMs, intervalMs: 100, what: `${node.name} sees ${names.join(', ')} alive`});
}

const chat = (node, key, content) => http(node, 'POST', '/v1/chat/completions', {
    headers: {authorization: `Bearer ${key}`, 'content-type': 'application/json'},
    body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content}]}),
});

const usage = (node, key, query = '') =>
    http(node, 'GET', `/v1/usage${query}`, {headers: {authorization: `Bearer ${key}`}});

/*  Requests of the user key on node: [its own view, the admin key's view of
    it, the admin key's total of every key]. */
async function counts(node) {
    const own = await usage(node, user, '?details=true');
    assert.equal(own.status, 200, own.text);
    const all = await usage(node, ADMIN);
    assert.equal(all.status, 200, all.text);
    const mine = all.json.keys.find((k) => k.key === 'mesh-user');
    return [own.json.keys[0].totals.requests, mine ? mine.totals.requests : 0, all.json.totals.requests];
}

/*  Waits until node counts n requests of the user key in both views (and n
    in all); the ms it took from since. */
async function until(node, n, since, timeoutMs) {
    let last;
    try {
        await waitFor(async () => {
            last = await counts(node);
            return last.every((c) => c === n);
        }, {timeoutMs, intervalMs: 20, what: `${node.name} counts ${n} request(s)`});
    } catch (e) {
        e.message += ` (last seen: own view, admin view, all keys = ${last})`;
        throw e;
    }
    return Date.now() - since;
}

/*  A node's raw usage rows as [key, served_by]. */
function rawRows(node) {
    const r = spawnSync(
        'sqlite3',
        [
            '-readonly', '-separator', '|', join(node.dataDir, 'arena.db'),
            'SELECT key, served_by FROM usage_rows ORDER BY id'
        ],
        {encoding: 'utf8', timeout: 10000});
    assert.ok(!r.error, `sqlite3 did not run (${r.error?.message})`);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
}

before(async () => {
    ({node: A, link: linkA} = await arena.startPair(nodeOpts('um-a'), {tabs: 1}));
    ({node: B} = await arena.startPair(nodeOpts('um-b', seedOf(A)), {tabs: 1}));
    C = await arena.startNode(nodeOpts('um-c', seedOf(A)));
    await waitAlive(A, ['um-b', 'um-c']);
    await waitAlive(B, ['um-a', 'um-c']);
    await waitAlive(C, ['um-a', 'um-b']);
    await waitForModels(C, 'fake-chat');
    const made = await http(A, 'POST', '/admin/keys', {
        headers: {authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json'},
        body: JSON.stringify({name: 'mesh-user', tier: 'free'}),
    });
    assert.equal(made.status, 201, made.text);
    user = made.json.key;
    for (const n of [B, C]) {
        await waitFor(
            async () => (await usage(n, user)).status === 200,
            {timeoutMs: 10000, intervalMs: 50, what: `the user key works on ${n.name}`});
    }
});
after(() => arena.cleanup());

arena.test('requests entering on A are counted once on B and on C', async (t) => {
    const ids = {A: (await status(A)).self, B: (await status(B)).self};
    // one served by A's own tab
    const r1 = await chat(A, user, 'served here');
    assert.equal(r1.status, 200, r1.text);
    const t1 = Date.now();
    // A's tab goes: the next request entering on A is served by B's, over a hop
    await linkA.stop();
    const r2 = await waitFor(async () => {
        const r = await chat(A, user, 'through the mesh');
        return r.status === 200 ? r : null;
    }, {timeoutMs: 10000, intervalMs: 100, what: 'a request on A served through B'});
    const t2 = Date.now();
    await usage(A, user); // writes the pending rows
    assert.deepEqual(
        rawRows(A), [['mesh-user', ids.A], ['mesh-user', ids.B]], 'one row served by A, one by B, both recorded on A');
    assert.deepEqual(rawRows(B), [], 'the serving node records nothing');

    const onB = await until(B, 2, t2, PUSH_BOUND_MS + 5000);
    const onC = await until(C, 2, t2, PUSH_BOUND_MS + 5000);
    t.diagnostic(
        `first request visible on B and C within ${Date.now() - t1} ms; ` +
        `second on B after ${onB} ms, on C after ${onC} ms (bound ${PUSH_BOUND_MS} ms)`);
    console.log(`# usage replication: a request on A counted on B after ${onB} ms, on C after ${onC} ms`);
    assert.ok(onB <= PUSH_BOUND_MS && onC <= PUSH_BOUND_MS, `${onB}/${onC} ms is over the ${PUSH_BOUND_MS} ms bound`);
    assert.deepEqual(await counts(A), [2, 2, 2]);
    // the details too: one model, the hour's bucket
    const own = (await usage(C, user, '?details=true')).json.keys[0];
    assert.deepEqual(own.models.map((m) => [m.model, m.requests]), [['fake-chat', 2]]);
    assert.equal(own.buckets.reduce((n, b) => n + b.requests, 0), 2);
    assert.equal(own.totals.completion_tokens, r1.json.usage.completion_tokens + r2.json.usage.completion_tokens);
});

arena.test('a request entering on C is counted on A: every origin is summed', async () => {
    const r = await chat(C, user, 'from C');
    assert.equal(r.status, 200, r.text);
    await until(A, 3, Date.now(), PUSH_BOUND_MS + 5000);
    await until(B, 3, Date.now(), PUSH_BOUND_MS + 5000);
    assert.deepEqual(await counts(C), [3, 3, 3]);
});

arena.test('a node stopped while usage is recorded catches up after its restart', async (t) => {
    await C.stop();
    for (let i = 0; i < 2; i++) assert.equal((await chat(A, user, `while C is down ${i}`)).status, 200);
    await until(B, 5, Date.now(), PUSH_BOUND_MS + 5000);
    await C.start(C.link.port);
    const t0 = Date.now();
    const took = await until(C, 5, t0, REPAIR_BOUND_MS);
    t.diagnostic(`restarted C caught up after ${took} ms`);
    assert.deepEqual(await counts(A), [5, 5, 5]);
});

arena.test('an origin stopped right after a request: the rollup reaches the others after its restart', async (t) => {
    assert.equal((await chat(A, user, 'just before a restart')).status, 200);
    await A.restart(); // SIGTERM at once: the pending batch is written on the way out, unsealed
    const t0 = Date.now();
    await waitAlive(A, ['um-b', 'um-c']);
    const took = await until(B, 6, t0, REPAIR_BOUND_MS);
    await until(C, 6, t0, REPAIR_BOUND_MS);
    t.diagnostic(`A's last rollup reached B ${took} ms after A's restart`);
    assert.deepEqual(await counts(A), [6, 6, 6]);
});

arena.test('a node started later catches up', async (t) => {
    const D = await arena.startNode(nodeOpts('um-d', seedOf(B)));
    const t0 = Date.now();
    await waitFor(
        async () => (await usage(D, user)).status === 200,
        {timeoutMs: REPAIR_BOUND_MS, intervalMs: 50, what: 'the user key reached D'});
    const took = await until(D, 6, t0, REPAIR_BOUND_MS);
    t.diagnostic(`new node D caught up after ${took} ms`);
});
