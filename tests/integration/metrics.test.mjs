// GET /metrics (docs/operations.md, "Metrics"): guarded by the API key
// unless --metrics-public, the counters move with the requests a node
// answers (ok, 404 model, 429 cooled), promtool accepts the text, and a
// real Prometheus started here scrapes a three-node mesh on loopback.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdtempSync, writeFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {APIError} from 'openai';
import {arenaTest, client, closedPort, fake, fetchText, http, waitFor, waitForModels} from './lib/harness.mjs';
import {Proc} from '../support/js/process.mjs';

const KEY = 'metrics-key-6b1f0c';
const seedOf = (node) => ['--seed', `127.0.0.1:${node.mesh.port}`];
const ask = (model, content) => ({model, messages: [{role: 'user', content}]});

async function apiError(p) {
    try {
        await p;
    } catch (e) {
        if (e instanceof APIError) return e;
        throw e;
    }
    throw new Error('expected an API error');
}

/*  A sample's key: name{k="v",…} with the labels sorted by name. */
const series = (name, labels) => {
    const l = Object.entries(labels).sort(([x], [y]) => (x < y ? -1 : 1));
    return l.length ? `${name}{${l.map(([k, v]) => `${k}="${v}"`).join(',')}}` : name;
};

/*  The samples of an exposition: Map of series() keys → number. */
function samples(text) {
    const out = new Map();
    for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
        assert.ok(m, `not a sample line: ${line}`);
        const labels = {};
        for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
        out.set(series(m[1], labels), Number(m[3]));
    }
    return out;
}
const req = (labels) => series('arena_requests_total', {route: 'chat', origin: 'client', ...labels});

async function scrape(node, headers = {
    authorization: `Bearer ${KEY}`
}) {
    const r = await http(node, 'GET', '/metrics', {headers});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return r.text;
}

/*  promtool check metrics on text: its lint findings fail the test. */
function promtoolCheck(text) {
    const r = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8', timeout: 15000});
    assert.ok(
        !r.error,
        `promtool did not run (${r.error?.message}): tools/bootstrap.sh --test installs ` +
            'Debian\'s prometheus package, which has it');
    assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
}

arenaTest(
    '/metrics: keyed like the API; requests counted by model, status and where they ran; promtool accepts it',
    async (t, arena) => {
        const {node, link} = await arena.startPair({name: 'metrics-node', apiKey: KEY}, {tabs: 1});
        const sdk = client(node);

        const none = await http(node, 'GET', '/metrics');
        assert.equal(none.status, 401, 'no key: refused like the API');
        const wrong = await http(node, 'GET', '/metrics', {headers: {authorization: 'Bearer nope'}});
        assert.equal(wrong.status, 401);

        const before = samples(await scrape(node));
        assert.equal(before.get(series('arena_limit_refusals_total', {reason: 'cooldown'})), 0);
        assert.equal(before.get('arena_tabs_connected'), 1);
        assert.equal(before.get('arena_tabs_healthy'), 1);

        const ok = await sdk.chat.completions.create(ask('fake-chat', 'Hi'));
        assert.ok(ok.choices[0].message.content.length > 0);
        const e404 = await apiError(sdk.chat.completions.create(ask('no-such-model-\u00e9"x', 'Hi')));
        assert.equal(e404.status, 404);
        // Cool fake-chat: the tab answers 429 (the attempt ran here), then the
        // node refuses at once while the model cools (ran nowhere).
        const e429 = await apiError(sdk.chat.completions.create(ask('fake-chat', fake('ratelimit retry=30'))));
        assert.equal(e429.status, 429);
        const cooled = await apiError(sdk.chat.completions.create(ask('fake-chat', 'Hi')));
        assert.equal(cooled.status, 429);
        assert.equal(link.fetches().length, 2, 'the cooled request never reached the tab');

        // s_completed runs once the answer went out: wait for the last one.
        let text;
        const after = await waitFor(async () => {
            text = await scrape(node);
            const s = samples(text);
            return s.get(series('arena_limit_refusals_total', {reason: 'cooldown'})) === 2 && s;
        }, {timeoutMs: 5000, what: 'two cooldown refusals counted'});
        const get = (k) => after.get(k) ?? 0;
        assert.equal(get(req({model: 'fake-chat', status: '200', served_by: 'local'})), 1, text);
        assert.equal(get(req({model: 'other', status: '404', served_by: 'none'})), 1, text);
        assert.equal(get(req({model: 'fake-chat', status: '429', served_by: 'local'})), 1, text);
        assert.equal(get(req({model: 'fake-chat', status: '429', served_by: 'none'})), 1, text);
        assert.ok(!text.includes('no-such-model'), 'a name no node serves never becomes a label');
        const total = [...after].filter(([k]) => k.startsWith('arena_requests_total{')).reduce((n, [, v]) => n + v, 0);
        assert.equal(total, 4, 'every request once, /metrics itself not counted');
        const hist = {route: 'chat', origin: 'client', served_by: 'local'};
        assert.equal(get(series('arena_request_duration_seconds_count', hist)), 2);
        assert.equal(get(series('arena_request_ttfb_seconds_count', hist)), 2);
        assert.equal(get(series('arena_request_ttfb_seconds_bucket', {...hist, le: '+Inf'})), 2);
        assert.ok(get(series('arena_request_duration_seconds_sum', hist)) > 0);
        assert.equal(get(series('arena_cooldowns_active', {model: 'fake-chat'})), 1, text);
        assert.equal(get(series('arena_requests_in_flight', {origin: 'client'})), 0);
        assert.equal(get('arena_queue_depth'), 0);
        for (const state of ['alive', 'suspect', 'unreachable', 'dead', 'left'])
            assert.equal(after.get(series('arena_mesh_peers', {state})), 0, state);
        promtoolCheck(text);
    });

arenaTest('--metrics-public: /metrics without a key, the API still keyed', async (t, arena) => {
    const node = await arena.startNode({name: 'metrics-public', apiKey: KEY, extraArgs: ['--metrics-public']});
    const text = await scrape(node, {});
    assert.match(text, /^arena_limit_refusals_total\{reason="cooldown"\} 0$/m);
    promtoolCheck(text);
    assert.equal((await http(node, 'GET', '/v1/models')).status, 401);
    assert.equal((await http(node, 'GET', '/mesh/status')).status, 401);
});

/*  Why `prometheus` cannot run here, or null (a reason is a failure, never a
    skip: the bootstrap installs it, and the issue asks for the real scrape). */
function prometheusRuns() {
    const r = spawnSync('prometheus', ['--version'], {encoding: 'utf8', timeout: 15000});
    if (r.error) return `prometheus cannot run here (${r.error.message}); tools/bootstrap.sh --test installs it`;
    if (r.status !== 0) return `prometheus --version exited ${r.status}: ${r.stderr.slice(0, 300)}`;
    return null;
}

const whyNot = prometheusRuns();

arenaTest(
    'a real Prometheus scrapes a three-node mesh: every target up, the metrics queryable', {timeout: 120000},
    async (t, arena) => {
        assert.equal(whyNot, null, whyNot);
        const {node: b, link} = await arena.startPair({name: 'prom-b', apiKey: KEY}, {tabs: 1});
        const a = await arena.startNode({name: 'prom-a', apiKey: KEY, extraArgs: seedOf(b)});
        const c = await arena.startNode({name: 'prom-c', apiKey: KEY, extraArgs: seedOf(b)});
        const nodes = [a, b, c];
        await waitForModels(a, 'fake-chat');
        // a has no tab: its request runs in b's tab (served_by peer at a, origin peer at b)
        const hop = await client(a).chat.completions.create(ask('fake-chat', 'Hi'));
        assert.ok(hop.choices[0].message.content.length > 0);
        assert.equal(link.fetches().length, 1);

        const dir = mkdtempSync(join(tmpdir(), 'arena-prom-'));
        t.after(() => rmSync(dir, {recursive: true, force: true}));
        const targets = nodes.map((n) => `'127.0.0.1:${n.http.port}'`).join(', ');
        writeFileSync(join(dir, 'prometheus.yml'), [
            'global:',
            '  scrape_interval: 1s',
            '  scrape_timeout: 1s',
            '  evaluation_interval: 1s',
            'scrape_configs:',
            '  - job_name: arena',
            '    authorization:',
            `      credentials: '${KEY}'`,
            '    static_configs:',
            `      - targets: [${targets}]`,
            '',
        ].join('\n'));
        const port = await closedPort();
        const prom = new Proc(
            'prometheus',
            [
                `--config.file=${join(dir, 'prometheus.yml')}`,
                `--storage.tsdb.path=${join(dir, 'data')}`,
                `--web.listen-address=127.0.0.1:${port}`,
                '--log.level=warn',
            ],
            'prometheus');
        t.after(() => prom.stop('SIGKILL', 3000));
        const api = async (path) => {
            if (prom.exitInfo) throw new Error(`prometheus exited: ${prom.diagnostics()}`);
            const r = await fetchText(`http://127.0.0.1:${port}${path}`, {timeoutMs: 2000});
            return r.status === 200 ? r.json : undefined;
        };
        try {
            const up = await waitFor(async () => {
                const j = await api('/api/v1/targets');
                const active = j?.data?.activeTargets ?? [];
                return active.length === 3 && active.every((x) => x.health === 'up') && active;
            }, {timeoutMs: 30000, intervalMs: 250, what: 'Prometheus to report all three targets up'});
            assert.deepEqual(
                up.map((x) => x.labels.instance).sort(), nodes.map((n) => `127.0.0.1:${n.http.port}`).sort());
            const q = (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
            const ups = await waitFor(async () => {
                const r = (await q('up'))?.data?.result ?? [];
                return r.length === 3 && r.every((x) => x.value[1] === '1') && r;
            }, {timeoutMs: 15000, intervalMs: 250, what: 'up == 1 for the three nodes'});
            assert.equal(ups.length, 3);
            // each node sees the two others alive
            await waitFor(async () => {
                const r = (await q('arena_mesh_peers{state="alive"}'))?.data?.result ?? [];
                return r.length === 3 && r.every((x) => x.value[1] === '2');
            }, {timeoutMs: 15000, intervalMs: 250, what: 'arena_mesh_peers{state="alive"} == 2 everywhere'});
            // the hop: counted at a (served by a peer) and at b (forwarded to it)
            const hopAt = async (expr, instance) => waitFor(async () => {
                const r = (await q(expr))?.data?.result ?? [];
                return r.find((x) => x.metric.instance === instance && x.value[1] === '1');
            }, {timeoutMs: 15000, intervalMs: 250, what: `${expr} on ${instance}`});
            await hopAt(
                'arena_requests_total{route="chat",model="fake-chat",status="200",served_by="peer"}',
                `127.0.0.1:${a.http.port}`);
            await hopAt(
                'arena_requests_total{route="forwarded",origin="peer",served_by="local",status="200"}',
                `127.0.0.1:${b.http.port}`);
            const bytes = (await q('sum(arena_mesh_bytes_total)'))?.data?.result ?? [];
            assert.ok(Number(bytes[0]?.value[1]) > 0, 'mesh traffic counted');
        } catch (e) {
            t.diagnostic(prom.diagnostics());
            throw e;
        }
    });
