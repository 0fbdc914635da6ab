// Integration harness: real arena-node processes, the fake browser link
// (tests/support/fake_link_main.c) and the official openai SDK, all on 127.0.0.1.
//
// Every process started here is tracked by an Arena (one per test file or per
// test) and killed by arena.cleanup(), and by a process 'exit' hook as a last
// resort. Every wait is bounded. When a test fails, arena.test() prints the
// stderr tail of every process and the last fake-link events as diagnostics.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { test } from 'node:test';
import OpenAI from 'openai';
import {
    sleep, waitFor, withTimeout, collectStream, fake, FAKE_ANSWER, FAKE_THINKING, FAKE_MODELS, UUID7_RE,
} from '../../support/js/common.mjs';

export {
    sleep, waitFor, withTimeout, collectStream, fake, FAKE_ANSWER, FAKE_THINKING, FAKE_MODELS, UUID7_RE,
};


const HERE = dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.ARENA_SOURCE_DIR ?? resolve(HERE, '../../..');
export const BUILD_DIR = process.env.ARENA_BUILD_DIR ?? join(SOURCE_DIR, 'build');
export const LINK_TOKEN = 'integ-link-token-3f9c2a7d41e8';

const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const LOG_KEEP_BYTES = 256 * 1024;

const live = new Set();
process.on('exit', () => {
    for (const child of live) {
        try {
            child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

export function binary(name) {
    const path = join(BUILD_DIR, name);
    if (!existsSync(path)) {
        throw new Error(`${name} not found at ${path} (set ARENA_BUILD_DIR to a build directory)`);
    }
    return path;
}




/*  A text tail buffer: keeps the last LOG_KEEP_BYTES characters. */
class Tail {
    constructor() {
        this.text = '';
    }
    push(s) {
        this.text += s;
        if (this.text.length > LOG_KEEP_BYTES) this.text = this.text.slice(-LOG_KEEP_BYTES);
    }
}

/*  Spawns a child, tracks it, collects its output, resolves its exit. */
function s_spawn(path, args, label) {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    const out = new Tail();
    const err = new Tail();
    const lineWaiters = [];
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s) => {
        out.push(s);
        partial += s;
        let nl;
        while ((nl = partial.indexOf('\n')) >= 0) {
            const line = partial.slice(0, nl);
            partial = partial.slice(nl + 1);
            for (const w of lineWaiters.slice()) w(line);
        }
    });
    child.stderr.on('data', (s) => err.push(s));
    const exited = new Promise((resolveExit) => {
        child.on('exit', (code, signal) => {
            live.delete(child);
            resolveExit({ code, signal });
        });
        child.on('error', (e) => {
            live.delete(child);
            err.push(`spawn error: ${e.message}\n`);
            resolveExit({ code: null, signal: null, error: e });
        });
    });
    let exitInfo = null;
    exited.then((info) => (exitInfo = info));
    return {
        child,
        label,
        out,
        err,
        exited,
        get exitInfo() {
            return exitInfo;
        },
        /* Resolves the first stdout line matching re (its match), bounded. */
        waitLine(re, timeoutMs, what) {
            return new Promise((resolveLine, reject) => {
                const done = (fn, v) => {
                    clearTimeout(timer);
                    const i = lineWaiters.indexOf(onLine);
                    if (i >= 0) lineWaiters.splice(i, 1);
                    fn(v);
                };
                const onLine = (line) => {
                    const m = re.exec(line);
                    if (m) done(resolveLine, m);
                };
                const timer = setTimeout(
                    () => done(reject, new Error(`${label}: no ${what} within ${timeoutMs} ms`)),
                    timeoutMs,
                );
                lineWaiters.push(onLine);
                for (const line of out.text.split('\n')) {
                    const m = re.exec(line);
                    if (m) return done(resolveLine, m);
                }
                exited.then((info) => {
                    if (lineWaiters.includes(onLine)) {
                        done(reject, new Error(`${label} exited (${JSON.stringify(info)}) before ${what}`));
                    }
                });
            });
        },
        /* Sends signal, waits up to timeoutMs, SIGKILLs if still running. */
        async stop(signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS) {
            if (exitInfo) return { ...exitInfo, ms: 0, timedOut: false };
            const t0 = Date.now();
            child.kill(signal);
            let timedOut = false;
            const timer = new Promise((r) => setTimeout(() => r('timeout'), timeoutMs));
            if ((await Promise.race([exited, timer])) === 'timeout') {
                timedOut = true;
                child.kill('SIGKILL');
                await withTimeout(exited, 5000, `${label} to die after SIGKILL`);
            }
            return { ...exitInfo, ms: Date.now() - t0, timedOut };
        },
    };
}

function s_hostport(s) {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const READY_RE =
    /^arena-node ready name=(\S+) http=(\S+:\d+) link=(\S+:\d+) mesh=(\S+:\d+)\s*$/;

/*  Node options: name, apiKey (string or array), tabJobs, queue, queueTimeout,
    maxBody, cooldownDefault, retries, logLevel, extraArgs, dataDir (reuse),
    linkPort (fixed), ready timeout. */
function s_nodeArgs(o, dataDir, linkPort) {
    const args = [
        '--name', o.name,
        '--data', dataDir,
        '--http', '127.0.0.1:0',
        '--link', `127.0.0.1:${linkPort ?? 0}`,
        '--mesh', '127.0.0.1:0',
        '--link-token', o.token ?? LINK_TOKEN,
        '--log-level', o.logLevel ?? 'debug',
    ];
    const keys = o.apiKey === undefined ? [] : [].concat(o.apiKey);
    for (const k of keys) args.push('--api-key', k);
    const num = { tabJobs: '--tab-jobs', queue: '--queue', queueTimeout: '--queue-timeout',
                  maxBody: '--max-body', cooldownDefault: '--cooldown-default', retries: '--retries' };
    for (const [key, flag] of Object.entries(num)) {
        if (o[key] !== undefined) args.push(flag, String(o[key]));
    }
    return args.concat(o.extraArgs ?? []);
}

let nodeSeq = 0;

export class ArenaNode {
    constructor(arena, opts) {
        this.arena = arena;
        this.opts = { ...opts, name: opts.name ?? `integ-${process.pid}-${++nodeSeq}` };
        this.name = this.opts.name;
        this.token = this.opts.token ?? LINK_TOKEN;
        this.apiKeys = this.opts.apiKey === undefined ? [] : [].concat(this.opts.apiKey);
        this.ownsDataDir = !opts.dataDir;
        this.dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'arena-integ-'));
        this.runs = []; // every process run (restarts add one)
        this.proc = null;
    }

    async start(linkPort) {
        const args = s_nodeArgs(this.opts, this.dataDir, linkPort);
        const run = s_spawn(binary('arena-node'), args, `arena-node[${this.name}#${this.runs.length}]`);
        this.runs.push(run);
        this.proc = run;
        const m = await run.waitLine(READY_RE, this.opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
                                     'ready line');
        this.name = m[1];
        this.http = s_hostport(m[2]);
        this.link = s_hostport(m[3]);
        this.mesh = s_hostport(m[4]);
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
        return this.apiKeys.length ? { authorization: `Bearer ${this.apiKeys[0]}` } : {};
    }

    async cleanup() {
        for (const run of this.runs) await run.stop('SIGKILL', 2000).catch(() => {});
        if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
    }

    diagnostics() {
        return this.runs.map((r) => {
            const exit = r.exitInfo ? ` exit=${JSON.stringify(r.exitInfo)}` : ' (running)';
            return `--- ${r.label}${exit}\n--- stdout:\n${r.out.text.slice(-8000)}` +
                   `\n--- stderr:\n${r.err.text.slice(-24000)}`;
        }).join('\n');
    }
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
        const args = ['--url', o.url ?? this.node.linkURL, '--token', o.token ?? this.node.token,
                      '--tabs', String(this.tabs), '--events', this.eventsFile];
        if (o.origin) args.push('--origin', o.origin);
        for (const [idx, d] of Object.entries(o.scenario ?? {})) args.push('--tab-scenario', `${idx}=${d}`);
        for (const [idx, d] of Object.entries(o.force ?? {})) args.push('--tab-force', `${idx}=${d}`);
        if (o.noReconnect) args.push('--no-reconnect');
        args.push(...(o.extraArgs ?? []));
        this.proc = s_spawn(binary('fake-link'), args, `fake-link#${FakeLink.seq}`);
        if (o.waitReady !== false) {
            await this.proc.waitLine(/^fake-link ready tabs=(\d+)/, o.readyTimeoutMs ?? READY_TIMEOUT_MS,
                                     'ready line');
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
        const fn = typeof pred === 'function' ? pred
            : (ev) => Object.entries(pred).every(([k, v]) => ev[k] === v);
        return this.poll().filter(fn);
    }

    fetches(pred = () => true) {
        return this.find((ev) => ev.ev === 'fetch' && pred(ev));
    }

    /*  The first event (after `after` events) matching pred, bounded. */
    async waitForEvent(pred, timeoutMs = 5000, { after = 0 } = {}) {
        const fn = typeof pred === 'function' ? pred
            : (ev) => Object.entries(pred).every(([k, v]) => ev[k] === v);
        return waitFor(() => this.poll().slice(after).find(fn), {
            timeoutMs, intervalMs: 25, what: `fake-link event ${pred.toString().slice(0, 160)}`,
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
        return { node, link };
    }

    async cleanup() {
        for (const l of this.links) await l.cleanup();
        for (const n of this.nodes) await n.cleanup();
        for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
        this.links = [];
        this.nodes = [];
        this.dirs = [];
        this.dir = undefined;
    }

    diagnostics() {
        return [...this.nodes.map((n) => n.diagnostics()), ...this.links.map((l) => l.diagnostics())]
            .join('\n');
    }

    /*  node:test test() that prints this arena's process logs when it fails. */
    test(name, opts, fn) {
        if (typeof opts === 'function') [opts, fn] = [{}, opts];
        return test(name, { timeout: 60000, ...opts }, async (t) => {
            try {
                await fn(t);
            } catch (e) {
                for (const line of this.diagnostics().split('\n')) t.diagnostic(line);
                throw e;
            }
        });
    }
}

/*  A test body with its own arena, cleaned up whatever happens. */
export function arenaTest(name, opts, fn) {
    if (typeof opts === 'function') [opts, fn] = [{}, opts];
    return test(name, { timeout: 60000, ...opts }, async (t) => {
        const arena = new Arena();
        t.after(() => arena.cleanup());
        try {
            await fn(t, arena);
        } catch (e) {
            for (const line of arena.diagnostics().split('\n')) t.diagnostic(line);
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
export async function http(node, method, path, { headers = {}, body, timeoutMs = 10000 } = {}) {
    const res = await fetch(`${node.baseURL}${path}`, {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
}

/*  Waits until GET /v1/models lists `name` (the node learned the tab's page). */
export async function waitForModels(node, name = 'fake-chat', timeoutMs = 15000) {
    return waitFor(async () => {
        const r = await http(node, 'GET', '/v1/models', { headers: node.authHeaders(), timeoutMs: 2000 });
        return r.status === 200 && r.json?.data?.some((m) => m.id === name) && r.json;
    }, { timeoutMs, intervalMs: 100, what: `${name} in GET /v1/models of ${node.name}` });
}

/*  A port nothing listens on (bound then closed). */
export function closedPort() {
    return new Promise((resolvePort, reject) => {
        const srv = net.createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolvePort(port));
        });
    });
}

/*  Runs a program to completion: {code, signal, stdout, stderr}, bounded. */
export function run(path, args, timeoutMs = 15000) {
    return new Promise((resolveRun, reject) => {
        const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        live.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
        child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`${path} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
        }, timeoutMs);
        child.on('error', (e) => {
            clearTimeout(timer);
            live.delete(child);
            reject(e);
        });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            live.delete(child);
            resolveRun({ code, signal, stdout, stderr });
        });
    });
}



/*  Retry-After checks shared by the 429 tests. */
export function retryAfter(headers) {
    const get = (k) => (typeof headers.get === 'function' ? headers.get(k) : headers[k]);
    const s = get('retry-after');
    const ms = get('retry-after-ms');
    return { s: s == null ? null : Number(s), ms: ms == null ? null : Number(ms), raw: { s, ms } };
}
