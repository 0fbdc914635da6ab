// The audit log (docs/operations.md, "Audit log"): real arena-node processes
// with --admin-key and a fake-link tab. Covers: key changes made with
// `arena-mesh keys` are rows with actor "admin" and the client's address;
// wrong keys make one auth_failed row (rate-limited, with a count); a model
// LMArena rate-limits makes cooldown_started; a second node joining makes
// peer_joined on the first and its stop peer_left; `arena-mesh audit` merges
// both nodes' rows; the admin key is required and bad query input is a 400.

import {before, after} from 'node:test';
import assert from 'node:assert/strict';
import {Arena, binary, fake, http, run, waitFor} from './lib/harness.mjs';

const ADMIN = 'integ-audit-admin-key-8c2d41e7';
const KEY = 'integ-audit-user-key-1';
const arena = new Arena();
let a;
let mesh;

before(async () => {
    ({node: a} = await arena.startPair({name: 'audit-a', apiKey: KEY, extraArgs: ['--admin-key', ADMIN]}, {tabs: 1}));
    mesh = binary('arena-mesh');
});
after(() => arena.cleanup());

async function entries(node, query = '') {
    const r = await http(node, 'GET', `/admin/audit${query}`, {headers: {authorization: `Bearer ${ADMIN}`}});
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text).entries;
}

async function nodeId(node) {
    const r = await http(node, 'GET', '/mesh/status', {headers: {authorization: `Bearer ${KEY}`}});
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text).self;
}

// first: the auth_failed window of 127.0.0.1 starts here
arena.test('wrong keys make one auth_failed row with a count; the admin key is required', async () => {
    const before = Date.now() - 1;
    for (const auth of ['Bearer wrong-1', 'Bearer wrong-2', null, `Bearer ${KEY}`]) {
        const headers = auth ? {authorization: auth} : {};
        const path = auth === `Bearer ${KEY}` ? '/admin/audit' : '/v1/models';
        const r = await http(a, 'GET', path, {headers});
        assert.equal(r.status, 401, r.text);
    }
    const rows = (await entries(a, `?since=${before}`)).filter((e) => e.kind === 'auth_failed');
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0].origin, '127.0.0.1');
    assert.match(rows[0].detail, /^failures=1\b/);
    const cli = await run(mesh, ['audit', '--node', a.baseURL, '--admin-key', 'not-the-admin-key-000']);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /401/);
    const none = await run(mesh, ['audit', '--node', a.baseURL]);
    assert.equal(none.code, 64, none.stderr);
});

arena.test('key changes are rows with actor admin and the client address', async () => {
    const before = Date.now() - 1;
    const keys = (args) => run(mesh, ['keys', ...args, '--node', a.baseURL, '--admin-key', ADMIN]);
    assert.equal((await keys(['create', '--name', 'audited', '--tier', 'free'])).code, 0);
    assert.equal((await keys(['set-tier', 'audited', 'premium'])).code, 0);
    assert.equal((await keys(['revoke', 'audited'])).code, 0);
    const rows = (await entries(a, `?since=${before}`)).filter((e) => e.subject === 'audited');
    assert.deepEqual(rows.map((e) => e.kind), ['key_created', 'key_retiered', 'key_revoked']);
    for (const e of rows) {
        assert.equal(e.actor, 'admin');
        assert.equal(e.origin, '127.0.0.1');
        assert.equal(e.node_id, await nodeId(a));
    }
    assert.equal(rows[1].detail, 'tier=premium');
    assert.ok(!JSON.stringify(rows).includes('ak-'), 'no key in the log');
});

arena.test('bad query input is a 400 and limit bounds the answer', async () => {
    for (const q of ['?since=abc', '?since=-5', '?limit=0', '?limit=1001', '?limit=x']) {
        const r = await http(a, 'GET', `/admin/audit${q}`, {headers: {authorization: `Bearer ${ADMIN}`}});
        assert.equal(r.status, 400, `${q}: ${r.text}`);
        assert.equal(JSON.parse(r.text).error.code, 'invalid_request');
    }
    assert.equal((await entries(a, '?limit=1')).length, 1);
});

arena.test('a model LMArena rate-limits makes cooldown_started', async () => {
    const r = await http(a, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json', authorization: `Bearer ${KEY}`},
        body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: fake('ratelimit retry=600')}]}),
    });
    assert.equal(r.status, 429, r.text);
    const row = (await entries(a)).find((e) => e.kind === 'cooldown_started');
    assert.ok(row, 'a cooldown_started row');
    assert.equal(row.subject, 'fake-chat');
    assert.match(row.detail, /reason=rate_limited/);
});

arena.test(
    'a node joining is peer_joined on the first, leaving peer_left; arena-mesh audit merges both logs', async () => {
        const b = await arena.startNode(
            {name: 'audit-b', apiKey: KEY, extraArgs: ['--admin-key', ADMIN, '--seed', `127.0.0.1:${a.mesh.port}`]});
        const idA = await nodeId(a);
        const idB = await nodeId(b);
        await waitFor(
            async () => (await entries(a)).some((e) => e.kind === 'peer_joined' && e.subject === idB),
            {timeoutMs: 20000, what: 'peer_joined of b on a'});
        await waitFor(
            async () => (await entries(b)).some((e) => e.kind === 'peer_joined' && e.subject === idA),
            {timeoutMs: 20000, what: 'peer_joined of a on b'});
        await waitFor(async () => {
            const r = await http(a, 'GET', '/mesh/status', {headers: {authorization: `Bearer ${KEY}`}});
            return JSON.parse(r.text).nodes.some((n) => n.id === idB && n.state === 'alive' && n.http);
        }, {timeoutMs: 20000, what: 'b alive in a\'s status'});
        const r = await run(mesh, ['audit', '--node', a.baseURL, '--admin-key', ADMIN, '--api-key', KEY, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.deepEqual(doc.unreachable, []);
        const nodes = new Set(doc.entries.map((e) => e.node_id));
        assert.ok(nodes.has(idA) && nodes.has(idB), r.stdout);
        const times = doc.entries.map((e) => e.at_ms);
        assert.deepEqual(times, [...times].sort((x, y) => x - y), 'merged by time');
        const table =
            await run(mesh, ['audit', '--node', a.baseURL, '--admin-key', ADMIN, '--api-key', KEY, '--since', '+1h']);
        assert.equal(table.code, 0, table.stderr);
        assert.match(table.stdout, /^TIME +NODE +KIND/);
        assert.match(table.stdout, /peer_joined/);
        assert.match(table.stdout, /key_created/);

        // b stops (SIGTERM: it says goodbye): a records peer_left or, if the
        // goodbye was lost, peer_dead
        await b.stop();
        await waitFor(
            async () =>
                (await entries(a)).some((e) => ['peer_left', 'peer_dead'].includes(e.kind) && e.subject === idB),
            {timeoutMs: 30000, what: 'peer_left of b on a'});
    });
