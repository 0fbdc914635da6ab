// Keys and tiers replicated across the mesh (docs/keys.md, "Replication";
// docs/mesh-protocol.md, "Replicated records"): three real arena-node
// processes on loopback (A with a fake tab, B and C without), then a fourth
// started late. A key made on A works on C within the push bound (measured
// and printed); a key revoked on B is refused on A and C; a node stopped
// during a create and a revoke catches up after its restart (anti-entropy);
// a node started later catches up; a tier changed on one node (HTTP and
// `arena-mesh tiers set`) is seen on every node; a key whose tier a node
// does not hold is refused there with 403 tier_unknown until the tier comes;
// bad input to the tier endpoints is a clear 4xx and stores nothing,
// anywhere.

import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {Arena, binary, client, http, run, waitFor, waitForModels} from './lib/harness.mjs';

const ADMIN = 'integ-repl-admin-7c41d9e2';
const CONFIG_KEY = 'integ-repl-config-key';
// What this file writes down: a change reaches every live peer by one push
// (a few ms on loopback); it must be usable there within this bound.
const PUSH_BOUND_MS = 1000;
// A node that missed the push (down, or new) gets it by anti-entropy.
const REPAIR_BOUND_MS = 10000;

const arena = new Arena();
let A, B, C, D;
let mesh;

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];
const nodeOpts = (name, seeds = []) => ({
    name,
    apiKey: CONFIG_KEY,
    extraArgs: ['--admin-key', ADMIN, ...seeds],
});
const admin = {
    authorization: `Bearer ${ADMIN}`
};

async function status(node) {
    return (await http(node, 'GET', '/mesh/status', {headers: node.authHeaders()})).json;
}

async function waitAlive(node, names, timeoutMs = 15000) {
    return waitFor(async () => {
        const doc = await status(node);
        return names.every((n) => doc?.nodes?.some((p) => !p.self && p.name === n && p.state === 'alive'));
    }, {timeoutMs, intervalMs: 100, what: `${node.name} sees ${names.join(', ')} alive`});
}

function cli(node, args) {
    return run(mesh, [...args, '--node', node.baseURL, '--admin-key', ADMIN]);
}

async function createKey(node, name, tier = 'free') {
    const r = await cli(node, ['keys', 'create', '--name', name, '--tier', tier, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).key;
}

/*  The HTTP status a user key gets on GET /v1/models of node. */
async function keyStatus(node, key) {
    const r = await http(node, 'GET', '/v1/models', {headers: {authorization: `Bearer ${key}`}, timeoutMs: 3000});
    return r.status;
}

/*  Polls until key gets `want` on node; the ms it took from `since`. */
async function until(node, key, want, since, timeoutMs) {
    await waitFor(async () => (await keyStatus(node, key)) === want, {
        timeoutMs,
        intervalMs: 5,
        what: `key answered ${want} on ${node.name}`,
    });
    return Date.now() - since;
}

async function tiers(node) {
    const r = await http(node, 'GET', '/admin/tiers', {headers: admin});
    assert.equal(r.status, 200, r.text);
    return r.json.data;
}

async function putTier(node, name, body, headers = {
    'content-type': 'application/json',
    ...admin
}) {
    return http(
        node, 'PUT', `/admin/tiers/${name}`, {headers, body: typeof body === 'string' ? body : JSON.stringify(body)});
}

function chat(node, key) {
    return client(node, {apiKey: key}).chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: 'hello'}],
    });
}

before(async () => {
    mesh = binary('arena-mesh');
    ({node: A} = await arena.startPair(nodeOpts('repl-a'), {tabs: 1}));
    B = await arena.startNode(nodeOpts('repl-b', seedOf(A)));
    C = await arena.startNode(nodeOpts('repl-c', seedOf(A)));
    await waitAlive(A, ['repl-b', 'repl-c']);
    await waitAlive(B, ['repl-a', 'repl-c']);
    await waitAlive(C, ['repl-a', 'repl-b']);
    await waitForModels(C, 'fake-chat');
});
after(() => arena.cleanup());

const keys = {};
const measured = {};

/*  The record layer's counters of node: /mesh/status's self entry and
    /metrics' arena_mesh_records_total say the same. */
async function records(node) {
    const self = (await status(node)).nodes.find((n) => n.self).mesh;
    const m = await http(node, 'GET', '/metrics', {headers: node.authHeaders()});
    assert.equal(m.status, 200, m.text);
    for (const outcome of ['applied', 'refused', 'sent']) {
        const line = m.text.match(new RegExp(`^arena_mesh_records_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'));
        assert.ok(line, `arena_mesh_records_total{outcome="${outcome}"} in /metrics`);
        assert.ok(Number(line[1]) >= self[`records_${outcome}`], `${outcome}: /metrics and /mesh/status agree`);
    }
    return self;
}

arena.test('a key made on A works on B and C within the push bound', async (t) => {
    const before = {a: await records(A), c: await records(C)};
    keys.k1 = await createKey(A, 'repl-k1');
    const made = Date.now();
    measured.create = await until(C, keys.k1, 200, made, PUSH_BOUND_MS + 2000);
    assert.equal(await keyStatus(B, keys.k1), 200);
    // the record layer's counters show it: A pushed it to B and C, C applied it
    const a = await records(A), c = await records(C);
    assert.ok(a.records_sent >= before.a.records_sent + 2, `A sent ${before.a.records_sent} → ${a.records_sent}`);
    assert.ok(
        c.records_applied >= before.c.records_applied + 1,
        `C applied ${before.c.records_applied} → ${c.records_applied}`);
    assert.equal(c.records_refused, 0);
    t.diagnostic(`create on A → usable on C after ${measured.create} ms (bound ${PUSH_BOUND_MS} ms)`);
    console.log(`# replication: create on A usable on C after ${measured.create} ms`);
    assert.ok(measured.create <= PUSH_BOUND_MS, `${measured.create} ms is over the ${PUSH_BOUND_MS} ms bound`);
    // and it serves: C has no tab, A's serves it through the mesh
    const done = await chat(C, keys.k1);
    assert.ok(done.choices[0].message.content.length > 0);
    // B lists it (from the replica, never the key itself)
    const r = await cli(B, ['keys', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout).data.find((k) => k.name === 'repl-k1');
    assert.equal(rec.tier, 'free');
    assert.equal(rec.active, true);
    assert.ok(!r.stdout.includes(keys.k1));
});

arena.test('a key revoked on B is refused on A and C within the push bound', async (t) => {
    const r = await cli(B, ['keys', 'revoke', 'repl-k1']);
    assert.equal(r.code, 0, r.stderr);
    const revoked = Date.now();
    const onA = await until(A, keys.k1, 401, revoked, PUSH_BOUND_MS + 2000);
    const onC = await until(C, keys.k1, 401, revoked, PUSH_BOUND_MS + 2000);
    measured.revoke = Math.max(onA, onC);
    t.diagnostic(`revoke on B → refused on A after ${onA} ms, on C after ${onC} ms`);
    console.log(`# replication: revoke on B refused on A after ${onA} ms, on C after ${onC} ms`);
    assert.ok(measured.revoke <= PUSH_BOUND_MS, `${measured.revoke} ms is over the ${PUSH_BOUND_MS} ms bound`);
    // the revoked name cannot be reused on another node either
    const again = await cli(C, ['keys', 'create', '--name', 'repl-k1', '--tier', 'free']);
    assert.equal(again.code, 1, again.stdout);
    assert.match(again.stderr, /exists/);
});

arena.test('a node down during a create and a revoke catches up after its restart', async (t) => {
    keys.k2 = await createKey(A, 'repl-k2');
    await until(C, keys.k2, 200, Date.now(), PUSH_BOUND_MS + 2000);
    await C.stop();
    keys.k3 = await createKey(A, 'repl-k3', 'premium');
    const rv = await cli(B, ['keys', 'revoke', 'repl-k2']);
    assert.equal(rv.code, 0, rv.stderr);
    const tb = await cli(B, ['keys', 'set-tier', 'repl-k3', 'enterprise']);
    assert.equal(tb.code, 0, tb.stderr);
    await C.start(C.link.port);
    const up = Date.now();
    const k3 = await until(C, keys.k3, 200, up, REPAIR_BOUND_MS);
    const k2 = await until(C, keys.k2, 401, up, REPAIR_BOUND_MS);
    await waitFor(async () => {
        const r = await cli(C, ['keys', 'list', '--json']);
        return JSON.parse(r.stdout).data.find((k) => k.name === 'repl-k3')?.tier === 'enterprise';
    }, {timeoutMs: REPAIR_BOUND_MS, what: 'the re-tier on C'});
    t.diagnostic(`restarted C: the new key after ${k3} ms, the revocation after ${k2} ms`);
    console.log(`# replication: restarted C caught up: create after ${k3} ms, revoke after ${k2} ms`);
});

arena.test('a node started later catches up with keys and tiers', async (t) => {
    const put = await putTier(A, 'silver', {per_minute: 20, per_hour: 200, per_day: 2000, priority: 3});
    assert.equal(put.status, 201, put.text);
    const started = Date.now();
    D = await arena.startNode(nodeOpts('repl-d', seedOf(C)));
    const k3 = await until(D, keys.k3, 200, started, REPAIR_BOUND_MS + 10000);
    await until(D, keys.k2, 401, started, REPAIR_BOUND_MS);
    await until(D, keys.k1, 401, started, REPAIR_BOUND_MS);
    await waitFor(
        async () => (await tiers(D)).find((x) => x.name === 'silver')?.per_minute === 20,
        {timeoutMs: REPAIR_BOUND_MS, what: 'the silver tier on D'});
    t.diagnostic(`new node D: keys usable ${k3} ms after it was started`);
});

arena.test('a tier changed on one node is seen on the others; a key of it works mesh-wide', async () => {
    const r = await putTier(B, 'gold', {
        per_minute: 7,
        per_hour: 70,
        per_day: 700,
        tokens_per_day: 50000,
        concurrent: 2,
        models: ['fake-chat'],
        priority: 6
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'gold');
    for (const n of [A, C, D]) {
        await waitFor(async () => {
            const g = (await tiers(n)).find((x) => x.name === 'gold');
            return g && g.per_minute === 7 && g.per_hour === 70 && g.per_day === 700 && g.tokens_per_day === 50000 &&
                g.concurrent === 2 && g.priority === 6 && JSON.stringify(g.models) === '["fake-chat"]';
        }, {timeoutMs: PUSH_BOUND_MS + 2000, what: `gold on ${n.name}`});
    }
    // the CLI changes one limit on C; the others stay, and A learns it
    const set = await cli(C, ['tiers', 'set', 'gold', '--per-minute', '8', '--models', '']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /gold\s+8\s+70\s+700/);
    await waitFor(async () => {
        const g = (await tiers(A)).find((x) => x.name === 'gold');
        return g?.per_minute === 8 && g.per_hour === 70 && g.models === null;
    }, {timeoutMs: PUSH_BOUND_MS + 2000, what: 'gold changed on A'});
    const list = await cli(D, ['tiers', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(JSON.parse(list.stdout).data.some((x) => x.name === 'config' && x.builtin));
    // a key of the new tier, made on D, works on A
    const k = await createKey(D, 'repl-gold', 'gold');
    await until(A, k, 200, Date.now(), PUSH_BOUND_MS + 2000);
    // the audit log holds the change once, on the node where it was made
    const audit = await http(B, 'GET', '/admin/audit', {headers: admin});
    assert.ok(audit.json.entries.some((e) => e.kind === 'tier_changed' && e.subject === 'gold'), audit.text);
    const auditA = await http(A, 'GET', '/admin/audit', {headers: admin});
    assert.ok(!auditA.json.entries.some((e) => e.kind === 'tier_changed' && e.subject === 'gold'), auditA.text);
});

arena.test('a key whose tier has not reached a node is refused there (403) until it does', async () => {
    // E learns the gold tier and a key of it, then (stopped) loses the tier
    // and its peers from its store, and comes back alone: it holds the key
    // but not its tier.
    const E = await arena.startNode(nodeOpts('repl-e', seedOf(A)));
    const k = await createKey(A, 'repl-gold-e', 'gold');
    await until(E, k, 200, Date.now(), REPAIR_BOUND_MS);
    await waitFor(
        async () => (await tiers(E)).some((x) => x.name === 'gold'), {timeoutMs: REPAIR_BOUND_MS, what: 'gold on E'});
    await E.stop();
    const db = `${E.dataDir}/arena.db`;
    const del = await run('sqlite3', [db, 'DELETE FROM tiers WHERE name = \'gold\'; DELETE FROM peers;']);
    assert.equal(del.code, 0, del.stderr);
    E.opts.extraArgs = ['--admin-key', ADMIN];
    await E.start(E.link.port);
    assert.ok(!(await tiers(E)).some((x) => x.name === 'gold'));
    const r = await http(E, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json', authorization: `Bearer ${k}`},
        body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: 'hi'}]}),
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error.code, 'tier_unknown');
    assert.match(r.json.error.message, /gold/);
    // back in the mesh, the tier arrives and the key serves
    await E.stop();
    E.opts.extraArgs = ['--admin-key', ADMIN, ...seedOf(A)];
    await E.start(E.link.port);
    await waitFor(
        async () => (await tiers(E)).some((x) => x.name === 'gold'),
        {timeoutMs: REPAIR_BOUND_MS, what: 'gold back on E'});
    await waitForModels(E, 'fake-chat');
    const done = await chat(E, k);
    assert.ok(done.choices[0].message.content.length > 0);
});

arena.test('bad input to the tier endpoints: a clear 4xx, nothing stored anywhere', async () => {
    const before = JSON.stringify(await tiers(A));
    const beforeB = JSON.stringify(await tiers(B));
    const cases = [
        ['config', {per_minute: 1}, 400, 'name'],
        ['bad%20name', {per_minute: 1}, 400, 'name'],
        ['x'.repeat(33), {per_minute: 1}, 400, 'name'],
        ['bronze', {per_minute: -1}, 400, 'per_minute'],
        ['bronze', {per_hour: '10'}, 400, 'per_hour'],
        ['bronze', {per_day: 1e12}, 400, 'per_day'],
        ['bronze', {tokens_per_day: 1.5}, 400, 'tokens_per_day'],
        ['bronze', {concurrent: null}, 400, 'concurrent'],
        ['bronze', {priority: 10}, 400, 'priority'],
        ['bronze', {models: ['']}, 400, 'models'],
        ['bronze', {models: 'a b'}, 400, 'models'],
        ['bronze', {models: 7}, 400, 'models'],
        ['bronze', {per_minute: 5, rpm: 5}, 400, 'rpm'],
        ['gold', {per_minute: 5, bogus: true}, 400, 'bogus'],
        ['bronze', 'not json', 400, null],
        ['bronze', '[1]', 400, null],
        ['bronze', '', 400, null],
    ];
    for (const [name, body, status, param] of cases) {
        const r = await putTier(A, name, body);
        assert.equal(r.status, status, `${name} ${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.json?.error?.param ?? null, param, `${name} ${JSON.stringify(body)}: ${r.text}`);
        assert.ok(r.json.error.message.length > 10, r.text);
    }
    // no admin key, a user key, a wrong one: 401; no JSON content type: refused
    for (const h of [{}, {authorization: `Bearer ${CONFIG_KEY}`}, {authorization: 'Bearer nope'}]) {
        const r = await putTier(A, 'bronze', {per_minute: 1}, {'content-type': 'application/json', ...h});
        assert.equal(r.status, 401, r.text);
        assert.equal((await http(A, 'GET', '/admin/tiers', {headers: h})).status, 401);
    }
    const noType = await putTier(A, 'bronze', {per_minute: 1}, admin);
    assert.ok(noType.status >= 400 && noType.status < 500, noType.text);
    // the CLI refuses before asking, or passes the node's refusal on
    const neg = await cli(A, ['tiers', 'set', 'bronze', '--per-minute', 'many']);
    assert.equal(neg.code, 64, neg.stderr);
    const cfg = await cli(A, ['tiers', 'set', 'config', '--per-minute', '5']);
    assert.equal(cfg.code, 1, cfg.stderr);
    assert.match(cfg.stderr, /config/);
    assert.equal(JSON.stringify(await tiers(A)), before, 'nothing stored on A');
    assert.equal(JSON.stringify(await tiers(B)), beforeB, 'nothing replicated to B');
});
