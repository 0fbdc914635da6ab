// Traffic (GET /mesh/traffic, node/traffic.h): real requests through a node
// with a fake tab show in its last hour — counted in the bucket they ended
// in, an answer's time to first byte as p50/p99, each error by the code the
// client got (model_not_found, invalid_request, invalid_api_key) and a client
// that left before its answer as client_closed; ?since= returns only newer
// buckets; the query is validated (400 with param); the route takes a user
// key and the admin key, and nothing without a key.

import assert from 'node:assert/strict';
import {arenaTest, client, fake, http, waitFor} from './lib/harness.mjs';

const KEY = 'integ-traffic-key-5d21c9';
const ADMIN = 'integ-traffic-admin-7e03aa';
const auth = (key) => ({authorization: `Bearer ${key}`});
const traffic = (node, query = '', key = KEY) => http(node, 'GET', `/mesh/traffic${query}`, {headers: auth(key)});

/*  Sums over the buckets of a document: requests and errors by kind. */
function totals(doc) {
    const t = {requests: 0, errors: {}};
    for (const b of doc.buckets) {
        t.requests += b.requests;
        for (const [k, n] of Object.entries(b.errors)) t.errors[k] = (t.errors[k] ?? 0) + n;
    }
    return t;
}

arenaTest('traffic: requests, TTFB and errors by kind in GET /mesh/traffic', async (t, arena) => {
    const {node} = await arena.startPair({name: 'traffic-node', apiKey: KEY, extraArgs: ['--admin-key', ADMIN]});
    const status = await http(node, 'GET', '/mesh/status', {headers: auth(KEY)});
    const id = status.json.self;

    // before any request: the document, empty
    const empty = await traffic(node);
    assert.equal(empty.status, 200, empty.text);
    assert.equal(empty.json.object, 'traffic');
    assert.equal(empty.json.node, id);
    assert.equal(empty.json.bucket_ms, 10000);
    assert.ok(empty.json.buckets.length >= 1, 'the current bucket is listed');
    assert.ok(empty.json.from_ms <= empty.json.to_ms);
    assert.equal(totals(empty.json).requests, 0);
    assert.equal(empty.json.last_minute.requests, 0);
    assert.equal(empty.json.last_minute.ttfb_p50_ms, null);

    // two answers, each held 300 ms before its first byte by the fake tab
    const sdk = client(node);
    const before = Date.now();
    for (let i = 0; i < 2; i++) {
        const r = await sdk.chat.completions.create(
            {model: 'fake-chat', messages: [{role: 'user', content: fake('text ttfb=300')}]});
        assert.match(r.choices[0].message.content, /fake arena/);
    }
    // errors: an unknown model (404 model_not_found), a malformed body (400
    // invalid_request), a wrong key (401 invalid_api_key)
    await assert.rejects(
        sdk.chat.completions.create({model: 'no-such-model', messages: [{role: 'user', content: 'hi'}]}),
        (e) => e.status === 404 && e.code === 'model_not_found');
    const bad = await http(node, 'POST', '/v1/chat/completions', {
        headers: {...auth(KEY), 'content-type': 'application/json'},
        body: JSON.stringify({model: 'fake-chat', messages: []}),
    });
    assert.equal(bad.status, 400, bad.text);
    const wrong = await http(node, 'POST', '/v1/chat/completions', {
        headers: {...auth('not-a-key'), 'content-type': 'application/json'},
        body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: 'hi'}]}),
    });
    assert.equal(wrong.status, 401);
    // a client that leaves while its answer is awaited (the tab stalls)
    const gone = new AbortController();
    const leaving = fetch(`${node.baseURL}/v1/chat/completions`, {
                        method: 'POST',
                        headers: {...auth(KEY), 'content-type': 'application/json'},
                        body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: fake('stall')}]}),
                        signal: gone.signal,
                    }).catch((e) => e);
    await waitFor(async () => {
        const s = await http(node, 'GET', '/mesh/status', {headers: auth(KEY)});
        return s.json?.nodes?.find((n) => n.self)?.load?.inflight >= 1;
    }, {what: 'the stalled request in flight'});
    gone.abort();
    assert.equal((await leaving).name, 'AbortError');

    // all six recorded once they ended (the one that left: when the node notices)
    const doc = await waitFor(async () => {
        const r = await traffic(node);
        return r.status === 200 && totals(r.json).requests >= 6 && r.json.last_minute.errors.client_closed && r.json;
    }, {what: 'six requests and a client_closed in /mesh/traffic'});
    const sum = totals(doc);
    assert.equal(sum.requests, 6);
    assert.deepEqual(sum.errors, {model_not_found: 1, invalid_request: 1, invalid_api_key: 1, client_closed: 1});
    assert.deepEqual(doc.last_minute.errors, sum.errors);
    assert.equal(doc.last_minute.requests, 6);
    // TTFB of the two answers (not of the refusals): 300 ms held by the tab,
    // within the histogram's resolution (9.1 %) and some scheduling
    for (const q of ['ttfb_p50_ms', 'ttfb_p99_ms']) {
        const v = doc.last_minute[q];
        assert.ok(v >= 270 && v < 1500, `${q} ${v}: about 300 ms`);
    }
    const busy = doc.buckets.filter((b) => b.requests > 0);
    for (const b of busy) {
        assert.ok(b.start_ms % 10000 === 0 && b.start_ms >= before - 10000 && b.start_ms <= Date.now());
        if (b.ttfb_p50_ms !== null) assert.ok(b.ttfb_p50_ms >= 270, `bucket p50 ${b.ttfb_p50_ms}`);
    }
    assert.ok(busy.some((b) => b.ttfb_p99_ms !== null), 'a bucket has the answers\' TTFB');

    // ?since=: only buckets from then on, the newest of them again
    const last = doc.buckets[doc.buckets.length - 1].start_ms;
    const newer = await traffic(node, `?since=${last}`);
    assert.equal(newer.status, 200, newer.text);
    assert.ok(newer.json.buckets.length >= 1 && newer.json.buckets.every((b) => b.start_ms >= last));
    assert.equal(newer.json.buckets[0].start_ms, last);
    assert.ok(newer.json.buckets.length < doc.buckets.length || doc.buckets.length === 1);

    // the admin key reads it too; no key, or a wrong one, does not
    const admin = await traffic(node, '', ADMIN);
    assert.equal(admin.status, 200, admin.text);
    assert.equal(admin.headers.get('x-arena-viewer'), 'admin');
    assert.equal((await http(node, 'GET', '/mesh/traffic')).status, 401);
    assert.equal((await traffic(node, '', 'nope')).status, 401);

    // a bad query: 400 invalid_request naming the parameter
    for (const [q, param] of [
             ['?since=abc', 'since'], ['?since=-5', 'since'], ['?until=1', 'until'], ['?since=1&since=2', 'since']]) {
        const r = await traffic(node, q);
        assert.equal(r.status, 400, `${q}: ${r.text}`);
        assert.equal(r.json.error.code, 'invalid_request');
        assert.equal(r.json.error.param, param, q);
    }
});
