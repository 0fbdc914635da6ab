// Child processes for the integration and end-to-end harnesses: where the
// binaries are, spawning with bounded output tails, waiting for a ready line,
// stopping with a SIGKILL fallback, diagnostics, and arena-node's command line
// and ready line. Plain Node.js, no dependencies.
//
// Every child spawned here is tracked until it exits; a process 'exit' hook
// SIGKILLs any a test left running. Every wait is bounded.
//
// The children see XDG_CONFIG_HOME set to a directory of this run (removed at
// exit): an arena-node started without --mesh-secret keeps its per-user mesh
// secret there (docs/mesh-protocol.md, "The mesh port"), so the nodes of one
// run share a secret and never touch the real user's ~/.config.

import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {withTimeout} from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

export const SOURCE_DIR = process.env.ARENA_SOURCE_DIR ?? resolve(HERE, '../../..');
export const BUILD_DIR = process.env.ARENA_BUILD_DIR ?? join(SOURCE_DIR, 'build');
export const READY_TIMEOUT_MS = 10000;
export const STOP_TIMEOUT_MS = 5000;

const TAIL_CHARS = 256 * 1024; // output kept per stream
const LINES_KEEP = 1000;       // complete stdout lines kept for waitLine()
const KILL_WAIT_MS = 5000;     // for a child to die after SIGKILL
const PIPE_WAIT_MS = 1000;     // for the last output once a child has exited

/*  This run's XDG_CONFIG_HOME (see the top). */
export const CONFIG_HOME = mkdtempSync(join(tmpdir(), 'arena-config-'));
process.env.XDG_CONFIG_HOME = CONFIG_HOME;
process.on('exit', () => rmSync(CONFIG_HOME, {recursive: true, force: true}));

/*  Children that have not exited yet. */
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

/*  The path of a built binary; throws naming ARENA_BUILD_DIR when it is missing. */
export function binary(name) {
    const path = join(BUILD_DIR, name);
    if (!existsSync(path)) {
        throw new Error(`${name} not found at ${path} (set ARENA_BUILD_DIR to a build directory)`);
    }
    return path;
}

/*  A text buffer that keeps only its last TAIL_CHARS characters. */
class Tail {
    constructor() {
        this.text = '';
    }

    push(s) {
        this.text += s;
        if (this.text.length > TAIL_CHARS) this.text = this.text.slice(-TAIL_CHARS);
    }
}

/*  True when promise has not settled within ms (its own result is dropped). */
async function s_timesOut(promise, ms) {
    let timer;
    const timeout = new Promise((r) => (timer = setTimeout(() => r(true), ms)));
    try {
        return await Promise.race([promise.then(() => false), timeout]);
    } finally {
        clearTimeout(timer);
    }
}

/*  A tracked child with its stdout and stderr tails (out, err), its exit
    (exited, a promise of exitInfo = {code, signal[, error]}), waitLine(),
    stop() and diagnostics(). */
export class Proc {
    constructor(path, args, label) {
        this.label = label;
        this.out = new Tail();
        this.err = new Tail();
        this.exitInfo = null;
        this.lines = []; // the last LINES_KEEP complete stdout lines
        this.lineWaiters = new Set();
        this.partial = ''; // stdout after its last newline
        this.child = spawn(path, args, {stdio: ['ignore', 'pipe', 'pipe']});
        live.add(this.child);
        this.child.stdout.setEncoding('utf8').on('data', (s) => this.s_stdout(s));
        this.child.stderr.setEncoding('utf8').on('data', (s) => this.err.push(s));
        this.exited = new Promise((resolveExit) => {
            this.child.on('exit', (code, signal) => resolveExit(this.s_exit({code, signal})));
            this.child.on('error', (e) => {
                this.err.push(`spawn error: ${e.message}\n`);
                resolveExit(this.s_exit({code: null, signal: null, error: e.message}));
            });
        });
        this.pipesClosed = new Promise((r) => this.child.on('close', r));
    }

    s_stdout(s) {
        this.out.push(s);
        this.partial += s;
        let nl;
        while ((nl = this.partial.indexOf('\n')) >= 0) {
            const line = this.partial.slice(0, nl);
            this.partial = this.partial.slice(nl + 1);
            this.lines.push(line);
            if (this.lines.length > LINES_KEEP) this.lines.shift();
            for (const waiter of [...this.lineWaiters]) waiter(line);
        }
    }

    /*  The first exit report wins (a failed kill() reports an error later). */
    s_exit(info) {
        live.delete(this.child);
        this.exitInfo ??= info;
        return this.exitInfo;
    }

    /*  Waits (PIPE_WAIT_MS at most) for the last output, then lets go of the
        pipes: a grandchild holding them must not keep the test process alive. */
    async s_releasePipes() {
        await s_timesOut(this.pipesClosed, PIPE_WAIT_MS);
        this.child.stdout.destroy();
        this.child.stderr.destroy();
    }

    /*  The match of the first stdout line matching re: among the lines seen so
        far, else the next one to come. Rejects after timeoutMs, or when the
        child exits first, naming `what`. */
    waitLine(re, timeoutMs, what) {
        const seen = this.lines.map((line) => re.exec(line)).find(Boolean);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolveLine, reject) => {
            const finish = (settle, value) => {
                clearTimeout(timer);
                this.lineWaiters.delete(onLine);
                settle(value);
            };
            const onLine = (line) => {
                const m = re.exec(line);
                if (m) finish(resolveLine, m);
            };
            const fail = (why) => finish(reject, new Error(`${this.label}${why}`));
            const timer = setTimeout(() => fail(`: no ${what} within ${timeoutMs} ms`), timeoutMs);
            this.lineWaiters.add(onLine);
            this.exited.then((info) => {
                if (this.lineWaiters.has(onLine)) fail(` exited (${JSON.stringify(info)}) before ${what}`);
            });
        });
    }

    /*  Sends signal, waits up to timeoutMs, then SIGKILLs; lets go of the pipes.
        {code, signal, ms, timedOut}: ms from the signal to the exit. */
    async stop(signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS) {
        if (this.exitInfo) {
            await this.s_releasePipes();
            return {...this.exitInfo, ms: 0, timedOut: false};
        }
        const t0 = Date.now();
        this.child.kill(signal);
        const timedOut = await s_timesOut(this.exited, timeoutMs);
        if (timedOut) {
            this.child.kill('SIGKILL');
            await withTimeout(this.exited, KILL_WAIT_MS, `${this.label} to die after SIGKILL`);
        }
        const ms = Date.now() - t0;
        await this.s_releasePipes();
        return {...this.exitInfo, ms, timedOut};
    }

    /*  The label, the exit (or "running") and the tails of stdout and stderr. */
    diagnostics(stdoutChars = 8000, stderrChars = 24000) {
        const exit = this.exitInfo ? ` exit=${JSON.stringify(this.exitInfo)}` : ' (running)';
        return `--- ${this.label}${exit}\n--- stdout:\n${this.out.text.slice(-stdoutChars)}` +
            `\n--- stderr:\n${this.err.text.slice(-stderrChars)}`;
    }
}

/*  Runs a program to completion: {code, signal, stdout, stderr}. SIGKILLs it
    and rejects with its output when it has not exited within timeoutMs. */
export function run(path, args, timeoutMs = 15000) {
    return new Promise((resolveRun, reject) => {
        const child = spawn(path, args, {stdio: ['ignore', 'pipe', 'pipe']});
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
            resolveRun({code, signal, stdout, stderr});
        });
    });
}

/* ---- arena-node ---- */

/*  Numeric arena-node options a test may set, by their option name. */
const NODE_NUMBER_FLAGS = {
    tabJobs: '--tab-jobs',
    queue: '--queue',
    queueTimeout: '--queue-timeout',
    maxBody: '--max-body',
    cooldownDefault: '--cooldown-default',
    retries: '--retries',
    paceInterval: '--pace-interval',
};

/*  arena-node's command line from o: name, dataDir, token, ports {http, link,
    mesh} (every address on 127.0.0.1; a port unset or 0: any free one),
    logLevel (default debug), pace (default 'off': a test that is about
    pacing sets it, with paceInterval/paceWindow), the numeric options above
    that are set, then `more` and o.extraArgs. */
export function nodeArgs(o, more = []) {
    const ports = o.ports ?? {};
    const at = (port) => `127.0.0.1:${port ?? 0}`;
    const args = [
        ['--name', o.name],
        ['--data', o.dataDir],
        ['--http', at(ports.http)],
        ['--link', at(ports.link)],
        ['--mesh', at(ports.mesh)],
        ['--link-token', o.token],
        ['--log-level', o.logLevel ?? 'debug'],
        ['--pace', o.pace ?? 'off'],
        o.paceWindow ? ['--pace-window', o.paceWindow] : [],
        more,
    ].flat();
    for (const [key, flag] of Object.entries(NODE_NUMBER_FLAGS)) {
        if (o[key] !== undefined) args.push(flag, String(o[key]));
    }
    return args.concat(o.extraArgs ?? []);
}

const NODE_READY_RE = /^arena-node ready name=(\S+) http=(\S+):(\d+) link=(\S+):(\d+) mesh=(\S+):(\d+)\s*$/;

/*  Waits for arena-node's ready line: {name, http, link, mesh}, each address
    as {host, port}. */
export async function waitNodeReady(proc, timeoutMs = READY_TIMEOUT_MS) {
    const m = await proc.waitLine(NODE_READY_RE, timeoutMs, 'ready line');
    const address = (i) => ({host: m[i], port: Number(m[i + 1])});
    return {name: m[1], http: address(2), link: address(4), mesh: address(6)};
}
