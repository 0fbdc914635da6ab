// Integration harness: real arena-node processes, the fake browser link
// (tests/support/fake_link_main.c) and the official openai SDK, all on 127.0.0.1.
//
// Every process started here is tracked by an Arena (one per test file or per
// test) and killed by arena.cleanup(), and by a process 'exit' hook as a last
// resort. Every wait is bounded. When a test fails, arena.test() prints the
// stderr tail of every process and the last fake-link events as diagnostics.

import {mkdtempSync, rmSync, existsSync, openSync, readSync, closeSync, fstatSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import net from 'node:net';
import {test} from 'node:test';
import OpenAI from 'openai';
import {fetchText, reportDiagnostics, waitFor} from '../../support/js/common.mjs';
import {binary, nodeArgs, Proc, READY_TIMEOUT_MS, STOP_TIMEOUT_MS, waitNodeReady} from '../../support/js/process.mjs';

// The tests take the shared helpers from here too.
export * from '../../support/js/common.mjs';
export {BUILD_DIR, SOURCE_DIR, binary, run} from '../../support/js/process.mjs';

export const LINK_TOKEN = 'integ-link-token-3f9c2a7d41e8';

let nodeSeq = 0;

/*  Node options: name, apiKey (string or array), token, tabJobs, queue,
    queueTimeout, maxBody, cooldownDefault, retries, logLevel, extraArgs,
    dataDir (reuse), linkPort (fixed), readyTimeoutMs. */
export class ArenaNode {
    constructor(arena, opts) {
        this.arena = arena;
        this.opts = {...opts, name: opts.name ?? `integ-${process.pid}-${++nodeSeq}`};
        this.name = this.opts.name;
        this.token = this.opts.token ?? LINK_TOKEN;
        this.apiKeys = this.opts.apiKey === undefined ? [] : [].concat(this.opts.apiKey);
        this.ownsDataDir = !opts.dataDir;
        this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'arena-integ-'));
        this.runs = []; // every process run (restarts add one)
        this.proc = null;
    }

    async start(linkPort) {
        const o = {...this.opts, dataDir: this.dataDir, token: this.token, ports: {link: linkPort}};
        const keys = this.apiKeys.flatMap((k) => ['--api-key', k]);
        const label = `arena-node[${this.name}#${this.runs.length}]`;
        this.proc = new Proc(binary('arena-node'), nodeArgs(o, keys), label);
        this.runs.push(this.proc);
        const ready = await waitNodeReady(this.proc, this.opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
        this.name = ready.name;
        this.http = ready.http;
        this.link = ready.link;
        this.mesh = ready.mesh;
        this.baseURL = `http://127.0.0.1:${this.http.port}`;
        this.linkURL = `ws://127.0.0.1:${this.link.port}/link`;
        return this;
    }

    get pid() {
        return this.proc.child.pid;
    }

    /*  {code, signal, ms, timedOut} of this run. */
    stop(signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS) {
        return this.proc.stop(signal, timeoutMs);
    }

    /*  Stops (SIGTERM) if running and starts again on the same data dir and the
        same link port, so a reconnecting fake link finds it again. HTTP and
        mesh ports are chosen afresh: read baseURL again after this. */
    async restart() {
        const stopped = await this.stop();
        await this.start(this.link.port);
        return stopped;
    }

    authHeaders() {
        return this.apiKeys.length ? {authorization: `Bearer ${this.apiKeys[0]}`} : {};
    }

    async cleanup() {
        for (const proc of this.runs) await proc.stop('SIGKILL', 2000).catch(() => {});
        if (this.ownsDataDir) rmSync(this.dataDir, {recursive: true, force: true});
    }

    diagnostics() {
        return this.runs.map((r) => r.diagnostics()).join('\n');
    }
}

/*  pred as a function of an event: pred itself, or an object of fields the event must have. */
function s_matcher(pred) {
    return typeof pred === 'function' ? pred : (ev) => Object.entries(pred).every(([k, v]) => ev[k] === v);
}

export class FakeLink {
    constructor(arena, node, opts) {
        this.arena = arena;
        this.node = node;
        this.opts = opts;
        this.tabs = opts.tabs ?? 1;
        this.eventsFile = join(arena.scratch(), `events-${++FakeLink.seq}.jsonl`);
        this.events = [];
        this.offset = 0;
        this.partial = '';
    }

    async start() {
        const o = this.opts;
        const args = [
            ['--url', o.url ?? this.node.linkURL],
            ['--token', o.token ?? this.node.token],
            ['--tabs', String(this.tabs)],
            ['--events', this.eventsFile],
        ].flat();
        if (o.origin) args.push('--origin', o.origin);
        for (const [idx, d] of Object.entries(o.scenario ?? {})) args.push('--tab-scenario', `${idx}=${d}`);
        for (const [idx, d] of Object.entries(o.force ?? {})) args.push('--tab-force', `${idx}=${d}`);
        if (o.noReconnect) args.push('--no-reconnect');
        args.push(...(o.extraArgs ?? []));
        this.proc = new Proc(binary('fake-link'), args, `fake-link#${FakeLink.seq}`);
        if (o.waitReady !== false) {
            await this.proc.waitLine(/^fake-link ready tabs=(\d+)/, o.readyTimeoutMs ?? READY_TIMEOUT_MS, 'ready line');
        }
        return this;
    }

    /*  Reads whatever the fake link appended to its events file. */
    poll() {
        if (!existsSync(this.eventsFile)) return this.events;
        const fd = openSync(this.eventsFile, 'r');
        try {
            const size = fstatSync(fd).size;
            if (size > this.offset) {
                const buf = Buffer.alloc(size - this.offset);
                const n = readSync(fd, buf, 0, buf.length, this.offset);
                this.offset += n;
                this.partial += buf.subarray(0, n).toString('utf8');
                let nl;
                while ((nl = this.partial.indexOf('\n')) >= 0) {
                    const line = this.partial.slice(0, nl).trim();
                    this.partial = this.partial.slice(nl + 1);
                    if (line) this.events.push(JSON.parse(line));
                }
            }
        } finally {
            closeSync(fd);
        }
        return this.events;
    }

    /*  Events so far matching pred (an object of fields or a function). */
    find(pred = () => true) {
        return this.poll().filter(s_matcher(pred));
    }

    fetches(pred = () => true) {
        return this.find((ev) => ev.ev === 'fetch' && pred(ev));
    }

    /*  The first event (after `after` events) matching pred, bounded. */
    async waitForEvent(pred, timeoutMs = 5000, {after = 0} = {}) {
        const fn = s_matcher(pred);
        return waitFor(() => this.poll().slice(after).find(fn), {
            timeoutMs,
            intervalMs: 25,
            what: `fake-link event ${pred.toString().slice(0, 160)}`,
        });
    }

    stop(signal = 'SIGTERM') {
        return this.proc.stop(signal, 3000);
    }

    async cleanup() {
        if (this.proc) await this.proc.stop('SIGKILL', 2000).catch(() => {});
    }

    diagnostics() {
        if (!this.proc) return '';
        let evs = [];
        try {
            evs = this.poll().slice(-40).map((e) => {
                const s = JSON.stringify(e);
                return s.length > 600 ? `${s.slice(0, 600)}…` : s;
            });
        } catch (e) {
            evs = [`(events unreadable: ${e.message})`];
        }
        return `--- ${this.proc.label} stderr:\n${this.proc.err.text.slice(-8000)}` +
            `\n--- ${this.proc.label} last events:\n${evs.join('\n')}`;
    }
}
FakeLink.seq = 0;

/*  Owns every node and fake link of a scope; cleanup() kills them all. */
export class Arena {
    constructor() {
        this.nodes = [];
        this.links = [];
        this.dirs = [];
    }

    scratch() {
        if (!this.dir) {
            this.dir = mkdtempSync(join(tmpdir(), 'arena-integ-scratch-'));
            this.dirs.push(this.dir);
        }
        return this.dir;
    }

    async startNode(opts = {}) {
        const node = new ArenaNode(this, opts);
        this.nodes.push(node);
        return node.start(opts.linkPort);
    }

    async startFakeLink(node, opts = {}) {
        const link = new FakeLink(this, node, opts);
        this.links.push(link);
        return link.start();
    }

    /*  A node with a fake link whose models are listed. */
    async startPair(nodeOpts = {}, linkOpts = {}, model = 'fake-chat') {
        const node = await this.startNode(nodeOpts);
        const link = await this.startFakeLink(node, linkOpts);
        await waitForModels(node, model);
        return {node, link};
    }

    async cleanup() {
        for (const l of this.links) await l.cleanup();
        for (const n of this.nodes) await n.cleanup();
        for (const d of this.dirs) rmSync(d, {recursive: true, force: true});
        this.links = [];
        this.nodes = [];
        this.dirs = [];
        this.dir = undefined;
    }

    diagnostics() {
        return [...this.nodes.map((n) => n.diagnostics()), ...this.links.map((l) => l.diagnostics())].join('\n');
    }

    /*  node:test test() that prints this arena's process logs when it fails. */
    test(name, opts, fn) {
        if (typeof opts === 'function') [opts, fn] = [{}, opts];
        return test(name, {timeout: 60000, ...opts}, async (t) => {
            try {
                await fn(t);
            } catch (e) {
                reportDiagnostics(t, this.diagnostics());
                throw e;
            }
        });
    }
}

/*  A test body with its own arena, cleaned up whatever happens. */
export function arenaTest(name, opts, fn) {
    if (typeof opts === 'function') [opts, fn] = [{}, opts];
    return test(name, {timeout: 60000, ...opts}, async (t) => {
        const arena = new Arena();
        t.after(() => arena.cleanup());
        try {
            await fn(t, arena);
        } catch (e) {
            reportDiagnostics(t, arena.diagnostics());
            throw e;
        }
    });
}

/*  The official SDK pointed at the node; no SDK retries (the node retries). */
export function client(node, opts = {}) {
    return new OpenAI({
        baseURL: `${node.baseURL}/v1`,
        apiKey: opts.apiKey ?? node.apiKeys[0] ?? 'none',
        maxRetries: 0,
        timeout: opts.timeout ?? 20000,
    });
}

/*  Plain HTTP: {status, headers, text, json}. Bounded by timeoutMs. */
export async function http(node, method, path, {headers = {}, body, timeoutMs = 10000} = {}) {
    return fetchText(`${node.baseURL}${path}`, {method, headers, body, timeoutMs});
}

/*  Waits until GET /v1/models lists `name` (the node learned the tab's page). */
export async function waitForModels(node, name = 'fake-chat', timeoutMs = 15000) {
    return waitFor(async () => {
        const r = await http(node, 'GET', '/v1/models', {headers: node.authHeaders(), timeoutMs: 2000});
        return r.status === 200 && r.json?.data?.some((m) => m.id === name) && r.json;
    }, {timeoutMs, intervalMs: 100, what: `${name} in GET /v1/models of ${node.name}`});
}

/*  A port nothing listens on (bound then closed). */
export function closedPort() {
    return new Promise((resolvePort, reject) => {
        const srv = net.createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const {port} = srv.address();
            srv.close(() => resolvePort(port));
        });
    });
}

/*  Retry-After checks shared by the 429 tests. */
export function retryAfter(headers) {
    const get = (k) => (typeof headers.get === 'function' ? headers.get(k) : headers[k]);
    const s = get('retry-after');
    const ms = get('retry-after-ms');
    return {s: s == null ? null : Number(s), ms: ms == null ? null : Number(ms), raw: {s, ms}};
}
