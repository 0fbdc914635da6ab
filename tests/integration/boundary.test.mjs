// The HTTP front end against hostile clients (issue #9 items 4, 5, 8):
// requests refused on their headers alone (no body is buffered for a client
// without a key: the node's RSS is measured), cross-origin state changes and
// foreign Host names refused before anything reaches a tab, a quick 503 past
// --max-connections, and client aborts logged at debug, not as warnings.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import net from 'node:net';
import {
    arenaTest,
    client,
    collectStream,
    fake,
    http,
    waitFor,
    withTimeout,
    LINK_TOKEN,
} from './lib/harness.mjs';

const MiB = 1024 * 1024;
const ask = (model, content, extra = {}) => ({model, messages: [{role: 'user', content}], ...extra});

/*  The node's resident memory in bytes (/proc/PID/status VmRSS). */
function rssBytes(pid) {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    assert.ok(m, `VmRSS of ${pid}`);
    return Number(m[1]) * 1024;
}

/*  A raw connection to the node: {sock, text(), closed, answered(ms)}. */
function dial(port) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({host: '127.0.0.1', port}, () => resolve(conn));
        const conn = {sock, data: '', closed: false, waiters: new Set()};
        conn.wake = () => {
            for (const w of [...conn.waiters]) w();
        };
        sock.setEncoding('latin1');
        sock.on('data', (d) => {
            conn.data += d;
            conn.wake();
        });
        sock.on('error', () => {}); // a refused upload ends in EPIPE / ECONNRESET: expected
        sock.on('close', () => {
            conn.closed = true;
            conn.wake();
        });
        sock.once('error', (e) => (sock.connecting ? reject(e) : undefined));
    });
}

/*  Waits until the connection has a status line (or ms pass): the status, or 0. */
function answered(conn, ms) {
    const status = () => {
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(conn.data);
        return m ? Number(m[1]) : 0;
    };
    if (status() || conn.closed) return Promise.resolve(status());
    return new Promise((resolve) => {
        const done = () => {
            if (!status() && !conn.closed) return;
            clearTimeout(timer);
            conn.waiters.delete(done);
            resolve(status());
        };
        const timer = setTimeout(() => {
            conn.waiters.delete(done);
            resolve(status());
        }, ms);
        conn.waiters.add(done);
    });
}

/*  Writes up to `bytes` of body (never the last one), respecting back-pressure,
    until the socket closes or the deadline passes. Bytes written. */
async function pump(conn, bytes, deadline) {
    const chunk = Buffer.alloc(MiB, 0x20);
    let sent = 0;
    while (sent < bytes && !conn.closed && !conn.sock.destroyed && Date.now() < deadline) {
        const n = Math.min(chunk.length, bytes - sent);
        const ok = conn.sock.write(n === chunk.length ? chunk : chunk.subarray(0, n));
        sent += n;
        if (!ok) {
            await new Promise((resolve) => {
                const done = () => {
                    clearTimeout(timer);
                    conn.sock.off('drain', done);
                    conn.waiters.delete(done);
                    resolve();
                };
                const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
                conn.sock.once('drain', done);
                conn.waiters.add(done);
            });
        }
    }
    return sent;
}

arenaTest(
    'unauthenticated 32 MiB bodies: 401 on the headers, the node\'s memory stays flat', {timeout: 120000},
    async (t, arena) => {
        const N = 24;
        const BODY = 32 * MiB; // the default --max-body: admitted by size
        const node = await arena.startNode({name: 'rss-node', apiKey: 'sk-rss-right-key', logLevel: 'info'});
        const before = rssBytes(node.pid);
        const conns = await Promise.all(Array.from({length: N}, () => dial(node.http.port)));
        for (const c of conns) {
            c.sock.write(
                `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${node.http.port}\r\n` +
                `Content-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`);
        }
        // The answer comes before any body byte is sent.
        const early = await Promise.all(conns.map((c) => answered(c, 3000)));
        // Then every client tries to send all of its body but the last byte.
        const deadline = Date.now() + 30000;
        const sent = await Promise.all(conns.map((c) => pump(c, BODY - 1, deadline)));
        const peak = Math.max(rssBytes(node.pid), rssBytes(node.pid));
        for (const c of conns) c.sock.destroy();
        const grown = peak - before;
        t.diagnostic(
            `RSS before ${(before / MiB).toFixed(1)} MiB, with ${N} uploads ${(peak / MiB).toFixed(1)} MiB; ` +
            `body bytes written ${(sent.reduce((a, b) => a + b, 0) / MiB).toFixed(0)} MiB`);
        assert.ok(
            grown < 48 * MiB, `the node grew by ${(grown / MiB).toFixed(1)} MiB for ${N} unauthenticated uploads`);
        assert.deepEqual(early, Array(N).fill(401), 'every client got 401 before sending its body');
        for (const c of conns) assert.match(c.data, /"code":"invalid_api_key"/);
        const health = await http(node, 'GET', '/health');
        assert.equal(health.status, 200);
    });

arenaTest('a web page cannot use a keyless node: no-cors POST, foreign Host, script inclusion', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'csrf-node'}, {tabs: 1});
    const body = JSON.stringify(ask('fake-chat', 'Hi from another origin'));
    // fetch(node, {method: 'POST', mode: 'no-cors', body}) from http://evil.test
    const csrf = await http(node, 'POST', '/v1/chat/completions', {
        headers: {
            'content-type': 'text/plain;charset=UTF-8',
            origin: 'http://evil.test',
            'sec-fetch-site': 'cross-site',
            'sec-fetch-mode': 'no-cors',
            'sec-fetch-dest': 'empty',
        },
        body,
    });
    assert.equal(csrf.status, 403, csrf.text);
    assert.equal(csrf.json?.error?.code, 'origin_not_allowed');
    // the same with a JSON type (only possible with CORS, which the page does not get)
    const json = await http(node, 'POST', '/v1/chat/completions', {
        headers: {'content-type': 'application/json', origin: 'http://evil.test'},
        body,
    });
    assert.equal(json.status, 403, json.text);
    // a Blob body carries no type at all: refused by type even without Origin
    const untyped = await http(node, 'POST', '/v1/chat/completions', {body: new Blob([body])});
    assert.equal(untyped.status, 415, untyped.text);
    // DNS rebinding: the page's own name in Host
    // (fetch() sets Host itself: a raw request)
    const rebound = await dial(node.http.port);
    rebound.sock.write(`GET /userscript.user.js HTTP/1.1\r\nHost: rebind.test:${node.http.port}\r\n\r\n`);
    assert.equal(await answered(rebound, 5000), 421, rebound.data);
    await waitFor(
        () => rebound.closed || /\r\n\r\n\{.*\}$/s.test(rebound.data), {timeoutMs: 5000, what: 'the whole answer'});
    rebound.sock.destroy();
    assert.match(rebound.data, /"code":"misdirected_request"/);
    assert.ok(!rebound.data.includes(LINK_TOKEN), 'no token under a foreign Host');
    // <script src=…/userscript.user.js>
    const script = await http(node, 'GET', '/userscript.user.js', {
        headers: {'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script'},
    });
    assert.equal(script.status, 403);
    assert.ok(!script.text.includes(LINK_TOKEN));
    // nothing of the above reached the tab; a plain client still works
    assert.equal(link.fetches().length, 0, 'no request reached the tab');
    const ok = await client(node).chat.completions.create(ask('fake-chat', 'Hi'));
    assert.equal(ok.choices.length, 1);
    const us = await http(node, 'GET', '/userscript.user.js');
    assert.equal(us.status, 200);
    assert.ok(us.text.includes(LINK_TOKEN));
    assert.match(us.headers.get('content-type'), /^text\/plain/);
    assert.equal(us.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(us.headers.get('access-control-allow-origin'), null);
});

arenaTest('past --max-connections a new client gets a quick 503, then service resumes', async (t, arena) => {
    const node = await arena.startNode({name: 'maxconn-node', extraArgs: ['--max-connections', '6']});
    const port = node.http.port;
    const get = `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
    const held = [];
    for (let i = 0; i < 6; i++) {
        const c = await dial(port);
        c.sock.write(get);
        assert.equal(await answered(c, 5000), 200);
        held.push(c); // kept alive
    }
    for (let i = 0; i < 3; i++) {
        const c = await dial(port);
        const t0 = Date.now();
        c.sock.write(get);
        const status = await answered(c, 5000);
        const ms = Date.now() - t0;
        c.sock.destroy();
        assert.equal(status, 503, `client ${i + 7}: ${c.data.slice(0, 200)}`);
        assert.ok(ms < 2000, `answered in ${ms} ms`);
        assert.match(c.data, /\r\nRetry-After: 1\r\n/i);
    }
    for (const c of held) c.sock.destroy();
    await waitFor(
        async () => (await http(node, 'GET', '/health', {timeoutMs: 2000})).status === 200,
        {timeoutMs: 5000, intervalMs: 50, what: 'service after the connections closed'});
});

arenaTest('client aborts are logged at debug, never as warnings', async (t, arena) => {
    const {node, link} = await arena.startPair({name: 'abortlog-node'}, {tabs: 1});
    const sdk = client(node);
    // mid-stream
    const ac = new AbortController();
    const stream = await sdk.chat.completions.create(
        ask('fake-chat', fake('drip ms=100 count=100'), {stream: true}), {signal: ac.signal});
    await withTimeout(collectStream(stream, {onChunk: () => ac.abort()}), 5000, 'the aborted stream');
    await link.waitForEvent((ev) => ev.ev === 'abort', 3000);
    // while waiting for the first byte
    const before = link.poll().length;
    const ac2 = new AbortController();
    const pending = sdk.chat.completions.create(ask('fake-chat', fake('stall'), {stream: true}), {signal: ac2.signal})
                        .catch((e) => e);
    await link.waitForEvent((ev) => ev.ev === 'fetch', 3000, {after: before});
    ac2.abort();
    await withTimeout(pending, 3000, 'the aborted request');
    await link.waitForEvent((ev) => ev.ev === 'abort', 3000, {after: before});
    // and a raw client that leaves in the middle of its upload
    const c = await dial(node.http.port);
    // Expect: 100-continue makes the node say when it has read and admitted
    // the headers; leaving only then is leaving mid-upload (leaving earlier
    // may close the socket before the node read a byte: nothing to report)
    c.sock.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${node.http.port}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n');
    assert.equal(await answered(c, 5000), 100, `the headers admitted: ${c.data.slice(0, 200)}`);
    c.sock.write('{"model":');
    c.sock.destroy();
    // the node notes it ("client left before its answer"; MHD may add its own
    // "closed by remote side with incomplete request"): at debug
    await waitFor(
        () => /client left before its answer/.test(node.proc.err.text),
        {timeoutMs: 5000, intervalMs: 50, what: 'the node to log the upload the client left'});
    const ok = await sdk.chat.completions.create(ask('fake-chat', 'Hi'));
    assert.equal(ok.choices.length, 1);
    const warnings = node.proc.err.text.split('\n').filter((l) => /^W: .*http: /.test(l));
    assert.deepEqual(warnings, [], 'no HTTP warnings for clients that left');
});
