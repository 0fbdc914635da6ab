// The mesh with several real arena-node processes on loopback: forwarding to
// a peer's tab, cooldown gossip, failure detection, rejoin, secrets, aborts.

import assert from 'node:assert/strict';
import {statSync} from 'node:fs';
import net from 'node:net';
import {join} from 'node:path';
import {APIError} from 'openai';
import {
    arenaTest,
    client,
    collectStream,
    fake,
    http,
    retryAfter,
    sleep,
    waitFor,
    waitForModels,
    FAKE_ANSWER,
} from './lib/harness.mjs';
import {CONFIG_HOME} from '../support/js/process.mjs';

const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];

async function status(node) {
    return JSON.parse((await http(node, 'GET', '/mesh/status', {headers: node.authHeaders()})).text);
}

/*  Waits until `node` sees a peer named `name` in `state` (alive, suspect…). */
async function waitPeer(node, name, state, timeoutMs = 10000) {
    return waitFor(async () => {
        const doc = await status(node);
        return doc.nodes.find((n) => !n.self && n.name === name && n.state === state);
    }, {timeoutMs, intervalMs: 100, what: `${node.name} sees ${name} ${state}`});
}

async function apiError(p) {
    try {
        await p;
    } catch (e) {
        if (e instanceof APIError) return e;
        throw e;
    }
    throw new Error('expected an API error');
}

arenaTest('a request at a node without tabs is served by a peer\'s tab, streamed back intact', async (t, arena) => {
    const {node: b, link} = await arena.startPair({name: 'mesh-b'}, {tabs: 1});
    const a = await arena.startNode({name: 'mesh-a', extraArgs: seedOf(b)});
    await waitPeer(a, 'mesh-b', 'alive');
    await waitForModels(a, 'fake-chat');

    const direct = await client(b).chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: fake('long chars=30000')}],
    });
    const before = link.fetches().length;
    const stream = await client(a).chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: fake('long chars=30000')}],
        stream: true,
        stream_options: {include_usage: true},
    });
    const {content, chunks, error} = await collectStream(stream);
    assert.equal(error, null, `stream failed: ${error}`);
    assert.equal(content, direct.choices[0].message.content, 'the hop changes nothing');
    assert.ok(content.length >= 30000);
    assert.ok(chunks.at(-1).usage, 'usage crosses the hop');
    assert.equal(link.fetches().length, before + 1, 'served by the peer\'s tab');

    const whole = await client(a).chat.completions.create({
        model: 'fake-chat',
        messages: [{role: 'user', content: 'hi'}],
    });
    assert.equal(whole.choices[0].message.content, FAKE_ANSWER);

    // The status document: the peer reached directly, the hop's traffic counted.
    const doc = await status(a);
    const me = doc.nodes.find((n) => n.self);
    const peer = doc.nodes.find((n) => n.name === 'mesh-b');
    assert.equal(peer.indirect, false);
    assert.equal(peer.reported_by, null);
    assert.ok(me.mesh.bytes_in > 30000, `the answer crossed the mesh: ${JSON.stringify(me.mesh)}`);
    assert.ok(me.mesh.msgs_in > 0 && me.mesh.msgs_out > 0);
    for (const k of ['ping_req_sent', 'ping_req_served', 'ping_req_refused', 'indirect_acks', 'stale_acks']) {
        assert.equal(typeof me.mesh[k], 'number', k);
    }
});

arenaTest('a cooldown on one node is known by every node quickly', async (t, arena) => {
    const {node: b, link} = await arena.startPair({name: 'cool-b'}, {tabs: 1});
    const a = await arena.startNode({name: 'cool-a', extraArgs: seedOf(b)});
    const c = await arena.startNode({name: 'cool-c', extraArgs: seedOf(b)});
    await waitPeer(a, 'cool-b', 'alive');
    await waitPeer(c, 'cool-b', 'alive');
    await waitForModels(a, 'fake-chat-2');
    await waitForModels(c, 'fake-chat-2');

    const e = await apiError(client(b).chat.completions.create({
        model: 'fake-chat-2',
        messages: [{role: 'user', content: fake('ratelimit retry=120')}],
    }));
    assert.equal(e.status, 429);
    const t0 = Date.now();
    for (const n of [a, c]) {
        await waitFor(async () => {
            const doc = await status(n);
            const peer = doc.nodes.find((x) => x.name === 'cool-b');
            return peer?.models.find((m) => m.name === 'fake-chat-2')?.cooled_remaining_ms > 100000;
        }, {timeoutMs: 2000, intervalMs: 20, what: `${n.name} knows the cooldown`});
    }
    t.diagnostic(`cooldown known by both peers after ${Date.now() - t0} ms`);
    const fetches = link.fetches().length;
    const e2 = await apiError(client(a).chat.completions.create({
        model: 'fake-chat-2',
        messages: [{role: 'user', content: 'hi'}],
    }));
    assert.equal(e2.status, 429);
    assert.equal(e2.code, 'rate_limited');
    const ra = retryAfter(e2.headers);
    assert.ok(ra.s > 100 && ra.s <= 120, `Retry-After ${JSON.stringify(ra.raw)}`);
    assert.ok(ra.ms > 100000 && ra.ms <= 120000, `retry-after-ms ${JSON.stringify(ra.raw)}`);
    assert.equal(link.fetches().length, fetches, 'no new upstream request');
});

arenaTest(
    'kill -9 of the serving node mid-stream → a clean error; the next request goes to a live node',
    async (t, arena) => {
        const {node: b, link: lb} = await arena.startPair({name: 'kill-b'}, {tabs: 1});
        const {node: c, link: lc} = await arena.startPair({name: 'kill-c', extraArgs: seedOf(b)}, {tabs: 1});
        const a = await arena.startNode({name: 'kill-a', extraArgs: seedOf(b)});
        await waitPeer(a, 'kill-b', 'alive');
        await waitPeer(a, 'kill-c', 'alive');
        await waitForModels(a, 'fake-chat');

        const stream = await client(a, {timeout: 30000}).chat.completions.create({
            model: 'fake-chat',
            messages: [{role: 'user', content: fake('drip ms=200 count=200')}],
            stream: true,
        });
        let killed = null;
        const t0 = Date.now();
        const {content, error} = await collectStream(stream, {
            onChunk: () => {
                if (killed) return;
                const onB = lb.fetches().length > 0;
                killed = onB ? b : c;
                killed.proc.child.kill('SIGKILL');
            },
        });
        assert.ok(killed, 'the stream started');
        assert.ok(content.length > 0, 'some content arrived before the kill');
        assert.ok(error, 'the stream ends with an error event, not silently');
        t.diagnostic(`stream ended ${Date.now() - t0} ms after start: ${error}`);
        const live = killed === b ? c : b;
        const liveLink = killed === b ? lc : lb;
        const before = liveLink.fetches().length;
        const next = await client(a, {timeout: 20000}).chat.completions.create({
            model: 'fake-chat',
            messages: [{role: 'user', content: 'hi'}],
        });
        assert.equal(next.choices[0].message.content, FAKE_ANSWER);
        assert.equal(liveLink.fetches().length, before + 1, `served by ${live.name}`);
    });

arenaTest('SIGSTOP makes a node suspect then dead; SIGCONT brings it back', async (t, arena) => {
    const b = await arena.startNode({name: 'stop-b'});
    const a = await arena.startNode({name: 'stop-a', extraArgs: seedOf(b)});
    await waitPeer(a, 'stop-b', 'alive');
    b.proc.child.kill('SIGSTOP');
    try {
        await waitPeer(a, 'stop-b', 'suspect', 5000);
        await waitPeer(a, 'stop-b', 'dead', 9000);
    } finally {
        b.proc.child.kill('SIGCONT');
    }
    await waitPeer(a, 'stop-b', 'alive', 10000);
    await waitPeer(b, 'stop-a', 'alive', 10000);
});

arenaTest('mesh timing flags: a stopped node is dead within 3.5 s, not the default 5.5 s', async (t, arena) => {
    const timing =
        ['--ping-interval', '200', '--ping-timeout', '100', '--suspect-after', '600', '--dead-after', '1500'];
    const b = await arena.startNode({name: 'timing-b', extraArgs: timing});
    const a = await arena.startNode({name: 'timing-a', extraArgs: [...timing, ...seedOf(b)]});
    await waitPeer(a, 'timing-b', 'alive');
    await waitPeer(b, 'timing-a', 'alive');
    const bound = 3500; // dead-after 1500 ms plus slack; the default 5500 ms cannot meet it
    const t0 = Date.now();
    b.proc.child.kill('SIGSTOP');
    let suspect, dead;
    try {
        await waitPeer(a, 'timing-b', 'suspect', bound);
        suspect = Date.now() - t0;
        await waitPeer(a, 'timing-b', 'dead', Math.max(1, bound - suspect));
        dead = Date.now() - t0;
    } finally {
        b.proc.child.kill('SIGCONT');
    }
    t.diagnostic(`timing-b suspect after ${suspect} ms, dead after ${dead} ms`);
    assert.ok(dead <= bound, `dead after ${dead} ms, want at most ${bound} ms`);
    // dead-after counts from the last word heard, at most a ping interval before the stop
    assert.ok(dead >= 1000, `dead after ${dead} ms: sooner than --dead-after allows`);
    await waitPeer(a, 'timing-b', 'alive', 5000);
    await waitPeer(b, 'timing-a', 'alive', 5000);
});

arenaTest('a restarted node rejoins from its stored peers, without a seed', async (t, arena) => {
    const b = await arena.startNode({name: 'rejoin-b'});
    const a = await arena.startNode({name: 'rejoin-a', extraArgs: seedOf(b)});
    await waitPeer(a, 'rejoin-b', 'alive');
    const stopped = await a.stop();
    assert.equal(stopped.code, 0);
    await waitPeer(b, 'rejoin-a', 'left', 3000);
    a.opts.extraArgs = []; // no seed this time
    await a.start();
    await waitPeer(a, 'rejoin-b', 'alive');
    await waitPeer(b, 'rejoin-a', 'alive');
});

arenaTest('a node with a different mesh secret is never admitted', async (t, arena) => {
    const a = await arena.startNode({name: 'sec-a', extraArgs: ['--mesh-secret', 'red-apple-42']});
    const b = await arena.startNode({
        name: 'sec-b',
        extraArgs: ['--mesh-secret', 'blue-pear-17', ...seedOf(a)],
    });
    const c = await arena.startNode({
        name: 'sec-c',
        extraArgs: ['--mesh-secret', 'red-apple-42', ...seedOf(a)],
    });
    await waitPeer(a, 'sec-c', 'alive');
    await waitPeer(c, 'sec-a', 'alive');
    await sleep(2500);
    for (const n of [a, b, c]) {
        const names = (await status(n)).nodes.map((x) => x.name);
        if (n !== b) assert.ok(!names.includes('sec-b'), `${n.name} admitted sec-b: ${names}`);
        else assert.deepEqual(names, ['sec-b'], `sec-b joined someone: ${names}`);
    }
    const log = b.proc.err.text;
    const lines = log.split('\n').filter((l) => /mesh-secret/.test(l));
    assert.ok(lines.length >= 1, `sec-b says why it cannot join:\n${log.slice(-3000)}`);
    assert.ok(lines.length <= 2, `said once, not repeatedly:\n${lines.join('\n')}`);
});

/*  A local process speaks plain ZeroMQ (ZMTP 3.0, the NULL mechanism, as a
    DEALER) to the mesh port of a node started with an API key and no mesh
    secret: the node answers with a CURVE greeting and hangs up; it never
    says READY, so no hello or fwd of that process is ever read (before the
    mesh was always CURVE, such a node answered READY and took the hello,
    then the fwd: completions without the API key). */
function zmtpNullProbe(port, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        let got = Buffer.alloc(0);
        const timer = setTimeout(() => {
            sock.destroy();
            resolve({got, closed: false});
        }, timeoutMs);
        sock.on('connect', () => {
            const greeting = Buffer.alloc(64);
            greeting[0] = 0xff;
            greeting[9] = 0x7f;
            greeting[10] = 3; // ZMTP 3.0
            greeting.write('NULL', 12, 'ascii');
            const props = Buffer.concat([
                Buffer.from([11]),
                Buffer.from('Socket-Type'),
                Buffer.from([0, 0, 0, 6]),
                Buffer.from('DEALER'),
                Buffer.from([8]),
                Buffer.from('Identity'),
                Buffer.from([0, 0, 0, 8]),
                Buffer.from('intruder'),
            ]);
            const body = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), props]);
            const ready = Buffer.concat([Buffer.from([0x04, body.length]), body]);
            sock.write(Buffer.concat([greeting, ready]));
        });
        sock.on('data', (d) => (got = Buffer.concat([got, d])));
        sock.on('error', () => {});
        sock.on('close', () => {
            clearTimeout(timer);
            resolve({got, closed: true});
        });
        sock.on('timeout', reject);
    });
}

arenaTest('the mesh port of a node without --mesh-secret is CURVE: plain ZeroMQ gets nothing', async (t, arena) => {
    const a = await arena.startNode({name: 'door-a', apiKey: 'door-key-1'});
    const {got, closed} = await zmtpNullProbe(a.mesh.port, 3000);
    assert.ok(closed, 'the node hangs up on a NULL-mechanism client');
    // what it sent before hanging up may be lost to the reset: when it got
    // here, its greeting names CURVE
    if (got.length >= 17) assert.equal(got.subarray(12, 17).toString('ascii'), 'CURVE');
    assert.ok(!got.includes(Buffer.from('READY')), 'never READY to a stranger');
    const doc = JSON.parse((await http(a, 'GET', '/mesh/status', {headers: a.authHeaders()})).text);
    assert.deepEqual(doc.nodes.map((n) => n.name), ['door-a']);
    // the per-user secret it made, in this run's XDG_CONFIG_HOME
    const st = statSync(join(CONFIG_HOME, 'arena-mesh', 'mesh-secret'));
    assert.equal(st.mode & 0o777, 0o600);
    // and nodes of the same user on this machine still meet without a flag
    const b = await arena.startNode({name: 'door-b', apiKey: 'door-key-1', extraArgs: seedOf(a)});
    await waitPeer(b, 'door-a', 'alive');
});

arenaTest('client abort at the origin reaches the remote tab', async (t, arena) => {
    const {node: b, link} = await arena.startPair({name: 'abort-b'}, {tabs: 1});
    const a = await arena.startNode({name: 'abort-a', extraArgs: seedOf(b)});
    await waitPeer(a, 'abort-b', 'alive');
    await waitForModels(a, 'fake-chat');
    const ctl = new AbortController();
    const stream = await client(a).chat.completions.create(
        {
            model: 'fake-chat',
            messages: [{role: 'user', content: fake('drip ms=200 count=100')}],
            stream: true,
        },
        {signal: ctl.signal});
    let got = 0;
    try {
        for await (const chunk of stream) {
            if (chunk.choices[0]?.delta?.content) got++;
            if (got === 2) ctl.abort();
        }
    } catch {
        /* the abort surfaces as an error: expected */
    }
    const fetch = link.fetches().at(-1);
    await link.waitForEvent((e) => e.ev === 'abort' && e.id === fetch.id, 5000);
});

// Pacing (docs/upstream.md): an account that just started a request rests
// until its next slot, here and on every node whose tabs are on it; the
// request goes to a node with a tab of an account with a free slot, and
// waits (up to --queue-timeout) only when none has one.
arenaTest('pacing moves requests to another node of a three-node mesh', async (t, arena) => {
    const X = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const Y = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const pace = {pace: 'on', paceInterval: 30, paceWindow: '3/390', queueTimeout: 1500};
    const {node: a, link: la} =
        await arena.startPair({name: 'pace-a', ...pace}, {tabs: 1, extraArgs: ['--account', X]});
    const {node: b, link: lb} = await arena.startPair(
        {name: 'pace-b', ...pace, extraArgs: seedOf(a)},
        {tabs: 1, extraArgs: ['--account', X]}); // the same login as a's tab
    const {node: c, link: lc} =
        await arena.startPair({name: 'pace-c', ...pace, extraArgs: seedOf(a)}, {tabs: 1, extraArgs: ['--account', Y]});
    for (const n of ['pace-b', 'pace-c']) await waitPeer(a, n, 'alive');
    await waitPeer(b, 'pace-c', 'alive');
    // every node knows its tab's account
    for (const [n, acc] of [[a, X], [b, X], [c, Y]]) {
        await waitFor(
            async () => (await status(n)).nodes.find((x) => x.self).accounts.some((q) => q.id === acc),
            {timeoutMs: 5000, intervalMs: 50, what: `${n.name} knows its tab's account`});
    }
    const served = () => [la, lb, lc].map((l) => l.fetches().length);
    const ask = () =>
        client(a).chat.completions.create({model: 'fake-chat', messages: [{role: 'user', content: 'Hi.'}]});

    // 1: a's own tab (no hop), on account X
    assert.equal((await ask()).choices[0].message.content, FAKE_ANSWER);
    assert.deepEqual(served(), [1, 0, 0]);
    // X's slot is taken: b (same account) learns it through the mesh and
    // rests too, and a learns that b rests
    await waitFor(async () => {
        const peer = (await status(a)).nodes.find((x) => x.name === 'pace-b');
        return peer.paced_remaining_ms > 20000;
    }, {timeoutMs: 5000, intervalMs: 50, what: 'pace-a sees pace-b paced (account X shared)'});
    const me = (await status(a)).nodes.find((x) => x.self);
    const x = me.accounts.find((q) => q.id === X);
    assert.ok(x.next_slot_ms > 20000 && x.next_slot_ms <= 30000, `next slot ${x.next_slot_ms}`);

    // 2: neither a nor b may use X: c's tab (account Y) serves it
    assert.equal((await ask()).choices[0].message.content, FAKE_ANSWER);
    assert.deepEqual(served(), [1, 0, 1]);

    // 3: every account in the mesh is paced: it waits for the queue timeout, then 503
    const t0 = Date.now();
    const e = await apiError(ask());
    assert.equal(e.status, 503);
    assert.equal(e.code, 'no_capacity');
    assert.match(e.message, /resting between requests \(pacing/);
    assert.ok(retryAfter(e.headers).s > 10, 'Retry-After: until the next slot');
    assert.ok(Date.now() - t0 >= 1400, 'it waited for a slot first');
    assert.deepEqual(served(), [1, 0, 1], 'no account was used before its slot');
    // the status shows each account's next slot, on every node
    const doc = await status(b);
    assert.ok(doc.nodes.find((n) => n.self).accounts.find((q) => q.id === X).next_slot_ms > 0);
    assert.ok(doc.nodes.find((n) => n.name === 'pace-c').accounts.find((q) => q.id === Y).next_slot_ms > 0);
});

// Lossless forwarding (docs/mesh-protocol.md, "Flow control"): many concurrent
// streams of many small deltas cross one hop while the origin stops reading
// for a moment (SIGSTOP: its mesh queues fill). The executor sends only
// within the credit the origin granted and keeps the rest, so every stream
// arrives whole and in order once the origin reads again. Without flow
// control the executor's queue to the origin overflowed and chunks were
// dropped (a cut answer ended as an error).
arenaTest(
    'concurrent streams through a hop all arrive whole while the origin stalls', {timeout: 120000},
    async (t, arena) => {
        const streams = 48;
        const {node: b} = await arena.startPair({name: 'flow-b', tabJobs: 16}, {tabs: 4});
        const a = await arena.startNode({name: 'flow-a', extraArgs: seedOf(b)});
        await waitPeer(a, 'flow-b', 'alive');
        await waitForModels(a, 'fake-chat');
        // 1500 one-character deltas per answer, each stream's own text
        const texts = Array.from(
            {length: streams},
            (_, i) => Array.from({length: 1500}, (_, k) => String.fromCharCode(97 + ((i + k) % 26))).join(''));
        let started = 0;
        const runs = texts.map(async (text) => {
            const stream = await client(a).chat.completions.create({
                model: 'fake-chat',
                messages: [{role: 'user', content: fake(`text text="${text}" piece=1`)}],
                stream: true,
            });
            let counted = false;
            return collectStream(stream, {
                onChunk: () => {
                    if (!counted) {
                        counted = true;
                        started++;
                    }
                },
            });
        });
        await waitFor(() => started === streams, {timeoutMs: 30000, intervalMs: 20, what: 'every stream started'});
        // The origin stops reading (well below the mesh's suspect time), then reads again.
        process.kill(a.pid, 'SIGSTOP');
        await sleep(1200);
        process.kill(a.pid, 'SIGCONT');
        const t0 = Date.now();
        const results = await Promise.all(runs);
        results.forEach((r, i) => {
            assert.equal(r.error, null, `stream ${i} failed: ${r.error}`);
            assert.equal(r.content, texts[i], `stream ${i} arrived whole and in order`);
        });
        assert.ok(Date.now() - t0 < 60000, 'bounded in time');
    });

// A forwarded request carries who asked, as the origin verified it: the id
// of the client's API key (hex of BLAKE2b-64), the same for the same key and
// another for another key; never the key itself. The executor keeps it with
// the job (it says so in its debug log).
arenaTest('a forwarded request carries the id of the client key the origin accepted', async (t, arena) => {
    const keys = ['key-one-5b2f81c0d9e7', 'key-two-0a6e3d91f4c2'];
    const {node: b} = await arena.startPair({name: 'client-b', logLevel: 'debug'}, {tabs: 1});
    const a = await arena.startNode({name: 'client-a', apiKey: keys, extraArgs: seedOf(b)});
    await waitPeer(b, 'client-a', 'alive'); // a's /mesh/status needs a key
    await waitForModels(a, 'fake-chat');
    const ids = [];
    for (const key of [keys[0], keys[1], keys[0]]) {
        const before = b.proc.err.text.length;
        const answer = await client(a, {apiKey: key}).chat.completions.create({
            model: 'fake-chat',
            messages: [{role: 'user', content: 'hi'}],
        });
        assert.equal(answer.choices[0].message.content, FAKE_ANSWER);
        const line = await waitFor(() => /runs here \(client ([0-9a-f]+|none)\)/.exec(b.proc.err.text.slice(before)), {
            timeoutMs: 5000,
            what: 'the executor logs the forwarded request',
        });
        ids.push(line[1]);
    }
    assert.match(ids[0], /^[0-9a-f]{16}$/);
    assert.equal(ids[2], ids[0], 'the same key, the same id');
    assert.notEqual(ids[1], ids[0], 'another key, another id');
    for (const k of keys) assert.ok(!b.proc.err.text.includes(k), 'the key itself never leaves the origin');
});
