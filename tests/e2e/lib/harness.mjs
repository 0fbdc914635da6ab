// End-to-end harness: the real userscript in a real headless Chromium, on pages
// of the fake LMArena server (tests/support/fake_arena_main.c), linked to a real
// arena-node, driven by the official openai SDK. Everything on 127.0.0.1.
//
// One World per test owns a fake-arena process, an arena-node process, a
// Chromium and its tabs; world.cleanup() ends them all (and a process 'exit'
// hook kills any child left). Every wait is bounded. A failing test prints the
// node's and the fake's output, each tab's console and the fake's request log.
//
// The userscript is installed the way Tampermonkey runs it: fetched from the
// node's GET /userscript.user.js (link URL and token filled in by the node),
// run in the page's own context (@grant none) once the DOM is ready
// (@run-at document-idle), only in the top frame (@noframes), on every page
// load of a matching origin — reloads and navigations included.

import {createHash} from 'node:crypto';
import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, dirname} from 'node:path';
import {fileURLToPath} from 'node:url';
import {test} from 'node:test';
import {chromium} from 'playwright-core';
import OpenAI from 'openai';
import {FAKE_MODELS, fetchText, reportDiagnostics, waitFor, withTimeout} from '../../support/js/common.mjs';
import {binary, nodeArgs, Proc, READY_TIMEOUT_MS, waitNodeReady} from '../../support/js/process.mjs';

// The tests take the shared helpers from here too.
export * from '../../support/js/common.mjs';
export {BUILD_DIR, SOURCE_DIR, binary} from '../../support/js/process.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

export const CHROMIUM = process.env.ARENA_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(HERE, '..', 'artifacts');
export const LINK_TOKEN = 'e2e-link-token-7c41d9a2b35f';
export const CONNECTED = '✅ ';
export const CONNECTING = '⏳ ';

const CHROMIUM_ARGS = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'
];
const CONSOLE_KEEP = 200;

/*  Plain HTTP against base: {status, headers, text, json}, bounded. */
export async function http(base, method, path, {headers = {}, body, timeoutMs = 10000} = {}) {
    const init = {method, headers: {...headers}, timeoutMs};
    if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        if (typeof body !== 'string') init.headers['content-type'] = 'application/json';
    }
    return fetchText(`${base}${path}`, init);
}

/* ---- the fake LMArena server ---- */

/*  A full-page screenshot of page in ARTIFACTS/name; its path. Chromium
    sometimes refuses one capture ("Unable to capture screenshot", a
    transient compositor hiccup, more likely on a loaded machine) and takes
    the same picture when asked again: three tries. */
export async function screenshot(page, name) {
    mkdirSync(ARTIFACTS, {recursive: true});
    const path = join(ARTIFACTS, name);
    for (let attempt = 1;; attempt++) {
        try {
            await page.screenshot({path, fullPage: true});
            return path;
        } catch (e) {
            if (attempt >= 3 || !/Unable to capture screenshot/.test(e.message)) throw e;
            await new Promise((r) => setTimeout(r, 300));
        }
    }
}

export class FakeArena {
    async start() {
        this.proc = new Proc(binary('fake-arena'), ['--port', '0'], 'fake-arena');
        const m = await this.proc.waitLine(
            /^fake-arena ready url=(http:\/\/127\.0\.0\.1:\d+)\s*$/, READY_TIMEOUT_MS, 'ready line');
        this.url = m[1];
        return this;
    }

    /*  POST /__fake/control with {force, default, challenge, challenge_once, token_ttl_ms}. */
    async control(settings) {
        const r = await http(this.url, 'POST', '/__fake/control', {body: settings});
        if (r.status !== 200) throw new Error(`fake-arena control ${JSON.stringify(settings)}: ${r.status} ${r.text}`);
        return r.json;
    }

    async reset() {
        const r = await http(this.url, 'POST', '/__fake/reset', {body: {}});
        if (r.status !== 200) throw new Error(`fake-arena reset: ${r.status} ${r.text}`);
    }

    /*  Every create-evaluation received, oldest first, with `body` parsed. */
    async requests() {
        const r = await http(this.url, 'GET', '/__fake/requests');
        if (r.status !== 200 || r.json === undefined)
            throw new Error(`fake-arena requests: ${r.status} ${r.text.slice(0, 300)}`);
        const list = Array.isArray(r.json) ? r.json : r.json.requests;
        if (!Array.isArray(list)) throw new Error(`fake-arena requests: no list in ${r.text.slice(0, 300)}`);
        return list.map((req) => ({...req, body: s_parseBody(req.body)}));
    }

    /*  Waits until at least n requests are recorded (and pred holds for the list). */
    async waitRequests(n, {timeoutMs = 10000, pred = () => true, what} = {}) {
        return waitFor(async () => {
            const list = await this.requests();
            return list.length >= n && pred(list) && list;
        }, {timeoutMs, intervalMs: 100, what: what ?? `${n} request(s) recorded by fake-arena`});
    }

    async cleanup() {
        if (this.proc) await this.proc.stop('SIGTERM', 2000).catch(() => {});
    }

    diagnostics() {
        return this.proc ? this.proc.diagnostics(6000, 20000) : '';
    }
}

function s_parseBody(body) {
    if (typeof body !== 'string') return body;
    try {
        return JSON.parse(body);
    } catch {
        return body;
    }
}

/* ---- arena-node ---- */

export class ArenaNode {
    constructor(opts) {
        this.opts = opts;
        this.name = opts.name ?? `e2e-${process.pid}`;
        this.dataDir = mkdtempSync(join(tmpdir(), 'arena-e2e-'));
        this.runs = [];
        this.ports = {http: 0, link: 0, mesh: 0};
    }

    args() {
        const o = {...this.opts, name: this.name, dataDir: this.dataDir, token: LINK_TOKEN, ports: this.ports};
        return nodeArgs(o, ['--link-origin', o.arenaOrigin, '--arena-origin', o.arenaOrigin]);
    }

    async start() {
        this.proc = new Proc(binary('arena-node'), this.args(), `arena-node#${this.runs.length}`);
        this.runs.push(this.proc);
        const ready = await waitNodeReady(this.proc, READY_TIMEOUT_MS);
        this.ports = {http: ready.http.port, link: ready.link.port, mesh: ready.mesh.port};
        this.baseURL = `http://127.0.0.1:${this.ports.http}`;
        this.linkURL = `ws://127.0.0.1:${this.ports.link}/link`;
        return this;
    }

    stop(signal = 'SIGTERM') {
        return this.proc.stop(signal);
    }

    /*  SIGTERM, then start again on the same data dir, HTTP and link ports
        (the tab reconnects to the same URL). The mesh port is chosen afresh:
        its old one may have gone to another test's node in the meantime. */
    async restart() {
        const stopped = await this.stop();
        this.ports.mesh = 0;
        await this.start();
        return stopped;
    }

    health() {
        return http(this.baseURL, 'GET', '/health', {timeoutMs: 3000});
    }

    async cleanup() {
        for (const proc of this.runs) await proc.stop('SIGKILL', 2000).catch(() => {});
        rmSync(this.dataDir, {recursive: true, force: true});
    }

    diagnostics() {
        return this.runs.map((r) => r.diagnostics(6000, 20000)).join('\n');
    }
}

/* ---- the browser ---- */

/*  The userscript as Tampermonkey runs it: top frame only, once the DOM is
    ready, only on the fake arena's origin. An init script runs again on every
    page load of the context, as Tampermonkey re-injects on each load. */
function s_injection(script, origin) {
    return `(() => {
    if (window.top !== window || location.origin !== ${JSON.stringify(origin)}) return;
    const run = () => {
${script}
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run, { once: true });
    else run();
})();`;
}

export class Tab {
    constructor(world, page) {
        this.world = world;
        this.page = page;
        this.console = [];
        this.loads = 0; // main-frame loads (navigations, reloads)
        page.on('console', (m) => this.s_log(`console.${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => this.s_log(`pageerror: ${e.message}`));
        page.on('load', () => {
            this.loads++;
            this.s_log(`load #${this.loads} ${page.url()}`);
        });
        page.on('close', () => {
            this.s_log('closed');
            for (const c of this.conns) c.closed = true; // Playwright reports no ws close then
        });
        this.conns = []; // every link WebSocket of this tab, with its frames
        page.on('websocket', (ws) => this.s_watch(ws));
    }

    s_watch(ws) {
        const conn = {url: ws.url(), sent: [], received: [], closed: false};
        this.conns.push(conn);
        const parse = (payload) => {
            try {
                return JSON.parse(payload);
            } catch {
                return {unparsed: String(payload).slice(0, 200)};
            }
        };
        ws.on('framesent', ({payload}) => conn.sent.push(parse(payload)));
        ws.on('framereceived', ({payload}) => conn.received.push(parse(payload)));
        ws.on('close', () => (conn.closed = true));
    }

    /*  Frames the tab sent (all connections), optionally of one type. */
    sent(type) {
        return this.conns.flatMap((c) => c.sent).filter((f) => !type || f.type === type);
    }

    received(type) {
        return this.conns.flatMap((c) => c.received).filter((f) => !type || f.type === type);
    }

    /*  The protocol's job rule, checked on every connection of this tab: each
        `fetch` gets exactly one `done` or `fail` (at most one when the socket
        closed first), and no frame of that job after it. Returns a list of
        problems (empty when all is well). */
    jobProblems() {
        const problems = [];
        this.conns.forEach((c, ci) => {
            for (const f of c.received.filter((r) => r.type === 'fetch')) {
                const mine = c.sent.filter((s) => s.id === f.id && s.type !== 'page');
                const ends = mine.filter((s) => s.type === 'done' || s.type === 'fail');
                if (ends.length > 1 || (ends.length === 0 && !c.closed)) {
                    problems.push(`conn ${ci} job ${f.id}: ${ends.length} done/fail`);
                }
                const last = mine.findIndex((s) => s.type === 'done' || s.type === 'fail');
                if (last >= 0 && last !== mine.length - 1)
                    problems.push(`conn ${ci} job ${f.id}: frames after its end`);
            }
        });
        return problems;
    }

    /*  Waits (bounded) until every job on an open connection has ended. */
    async waitJobsEnded(timeoutMs = 5000) {
        await waitFor(() => this.jobProblems().length === 0, {
            timeoutMs,
            intervalMs: 50,
            what: 'every job of the tab to end once'
        }).catch((e) => {
            throw new Error(`${e.message}: ${this.jobProblems().join('; ')}`);
        });
    }

    s_log(line) {
        this.console.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
        if (this.console.length > CONSOLE_KEEP) this.console.shift();
    }

    title() {
        return this.page.title();
    }

    /*  Waits until the title starts with ✅ (the userscript got `welcome`). */
    async waitConnected(timeoutMs = 10000) {
        return waitFor(
            async () => (await this.page.title()).startsWith(CONNECTED),
            {timeoutMs, intervalMs: 50, what: 'the tab title to start with ✅'});
    }

    /*  The last `state` the userscript would report, evaluated in the page. */
    evaluate(fn, arg) {
        return this.page.evaluate(fn, arg);
    }
}

export class World {
    constructor(opts = {}) {
        this.opts = opts;
        this.tabs = [];
    }

    async start() {
        this.fake = await new FakeArena().start();
        this.node = await new ArenaNode({...this.opts.node, arenaOrigin: this.fake.url}).start();
        this.script = await this.fetchUserscript();
        this.browser = await chromium.launch({
            executablePath: CHROMIUM,
            headless: true,
            args: [...CHROMIUM_ARGS, ...(this.opts.chromiumArgs ?? [])],
            timeout: 30000
        });
        this.context = await this.browser.newContext({viewport: {width: 1100, height: 700}});
        this.context.setDefaultTimeout(10000);
        await this.context.addInitScript({content: s_injection(this.script, this.fake.url)});
        return this;
    }

    /*  GET /userscript.user.js as a person installing it would. */
    async fetchUserscript() {
        const r = await http(this.node.baseURL, 'GET', '/userscript.user.js');
        if (r.status !== 200) throw new Error(`GET /userscript.user.js: ${r.status}`);
        if (!r.text.includes(`'${this.node.linkURL}'`) || !r.text.includes(`'${LINK_TOKEN}'`)) {
            throw new Error('the served userscript does not carry this node\'s link URL and token');
        }
        return r.text;
    }

    /*  Another browser context with the userscript installed: its own
        cookies, so its tabs can be logged into another account. */
    async newContext() {
        const context = await this.browser.newContext({viewport: {width: 1100, height: 700}});
        context.setDefaultTimeout(10000);
        await context.addInitScript({content: s_injection(this.script, this.fake.url)});
        return context;
    }

    /*  A new tab on the fake arena's page (in context, default the world's), connected (title ✅). */
    async openTab({path = '/', connected = true, context = this.context} = {}) {
        const page = await context.newPage();
        const tab = new Tab(this, page);
        this.tabs.push(tab);
        await page.goto(`${this.fake.url}${path}`, {waitUntil: 'load'});
        if (connected) await tab.waitConnected();
        return tab;
    }

    /*  Tabs connected as the node sees them (GET /health). */
    async waitHealthTabs(n, timeoutMs = 10000) {
        return waitFor(async () => {
            const r = await this.node.health();
            return r.status === 200 && r.json.tabs >= n && r.json;
        }, {timeoutMs, intervalMs: 100, what: `GET /health to show tabs >= ${n}`});
    }

    /*  GET /v1/models lists every fake model (learned from a tab's page). */
    async waitModels(names = FAKE_MODELS, timeoutMs = 15000) {
        return waitFor(async () => {
            const r = await http(this.node.baseURL, 'GET', '/v1/models', {timeoutMs: 3000});
            const ids = r.json?.data?.map((m) => m.id) ?? [];
            return r.status === 200 && names.every((n) => ids.includes(n)) && r.json;
        }, {timeoutMs, intervalMs: 100, what: `GET /v1/models to list ${names.join(', ')}`});
    }

    /*  openTab(), then the node sees it and lists the models. */
    async connectTab(opts) {
        const tab = await this.openTab(opts);
        await this.waitHealthTabs(this.tabs.filter((t) => !t.page.isClosed()).length);
        await this.waitModels();
        return tab;
    }

    client(opts = {}) {
        return new OpenAI(
            {baseURL: `${this.node.baseURL}/v1`, apiKey: 'none', maxRetries: 0, timeout: opts.timeout ?? 20000});
    }

    /*  A full-page screenshot of page in ARTIFACTS/name (screenshot above),
        this world's page brought to the front first. */
    async screenshot(page, name) {
        await page.bringToFront();
        return screenshot(page, name);
    }

    async cleanup() {
        if (this.browser) await withTimeout(this.browser.close(), 10000, 'chromium to close').catch(() => {});
        if (this.node) await this.node.cleanup();
        if (this.fake) await this.fake.cleanup();
    }

    async diagnostics() {
        const parts = [];
        if (this.node) parts.push(this.node.diagnostics());
        if (this.fake) parts.push(this.fake.diagnostics());
        this.tabs.forEach((t, i) => {
            const frames = t.conns.map((c, ci) => {
                const sent = JSON.stringify(c.sent.map(s_brief));
                const received = JSON.stringify(c.received.map(s_brief));
                return `conn ${ci}${c.closed ? ' (closed)' : ''}: sent ${sent} received ${received}`;
            });
            parts.push(`--- tab ${i}:\n${t.console.join('\n')}\n${frames.join('\n').slice(-12000)}`);
        });
        if (this.fake?.url) {
            const reqs = await this.fake.requests().catch((e) => `(unreadable: ${e.message})`);
            const text = JSON.stringify(reqs, null, 1);
            parts.push(`--- fake-arena requests:\n${text.length > 12000 ? `${text.slice(0, 12000)}…` : text}`);
        }
        return parts.join('\n');
    }
}

/*  A frame shortened for diagnostics. */
function s_brief(f) {
    const b = {...f};
    for (const k of ['html', 'body', 'data', 'ua']) {
        if (typeof b[k] === 'string' && b[k].length > 80) b[k] = `${b[k].slice(0, 80)}…(${b[k].length})`;
    }
    return b;
}

/*  A node:test test with its own World (started unless opts.start === false),
    cleaned up whatever happens; diagnostics printed and saved when it fails. */
export function e2eTest(name, opts, fn) {
    if (typeof opts === 'function') [opts, fn] = [{}, opts];
    const {world: worldOpts = {}, ...testOpts} = opts;
    return test(name, {timeout: 90000, ...testOpts}, async (t) => {
        const world = new World(worldOpts);
        t.after(() => world.cleanup());
        try {
            await world.start();
            await fn(t, world);
            // Whatever the test did, every job of every tab ended exactly once.
            for (const tab of world.tabs) await tab.waitJobsEnded();
        } catch (e) {
            const diag = await world.diagnostics().catch((d) => `(diagnostics failed: ${d.message})`);
            reportDiagnostics(t, diag);
            try {
                mkdirSync(ARTIFACTS, {recursive: true});
                writeFileSync(join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.log`), diag);
            } catch {
                /* best effort */
            }
            throw e;
        }
    });
}

/*  The account hash a tab reports for a site user id (docs/userscript.md, "state"). */
export const accountHash = (userId) =>
    createHash('sha256').update(`arenamesh-account:${userId}`, 'utf8').digest('hex').slice(0, 32);

export const ask = (model, content, extra = {}) => ({model, messages: [{role: 'user', content}], ...extra});
