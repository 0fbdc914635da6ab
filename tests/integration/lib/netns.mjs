// Network namespaces for the integration tests (netns.test.mjs): two
// namespaces joined by a veth pair the test creates, a real arena-node in
// each on its namespace's address (so the mesh crosses a real link, with
// --mesh-secret as between machines), the fake link inside a namespace, and
// packet loss or a partition applied with nftables on the veth (this kernel
// has no netem): `numgen random mod 100 < N drop` on the input hook of both
// ends, so both directions lose packets and senders see no local errors.
//
// The test process stays in its own namespace and adds nothing to it but
// listeners on 127.0.0.1: each node's HTTP port is reached through a Unix
// socket relay (ns-relay.mjs) that runs inside the node's namespace.
//
// Names carry the test's pid (arnet<pid>a, arv<pid>a …); destroy() removes
// the namespaces (their veth ends go with them), a process 'exit' hook does
// it as a last resort, and a later run removes those of a run that died.

import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {binary, Proc, READY_TIMEOUT_MS, waitNodeReady} from '../../support/js/process.mjs';
import {FakeLink, LINK_TOKEN} from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const RELAY = join(HERE, 'ns-relay.mjs');
const PREFIX = 'arnet';
const TABLE = 'arenatest';
export const MESH_PORT = 5104; // every namespace is empty: the default port is free

/*  Namespaces created by this process, removed on exit whatever happens. */
const created = new Set();
process.on('exit', () => {
    for (const ns of created) s_try('ip', ['netns', 'del', ns]);
});

function s_run(cmd, args, input) {
    return execFileSync(cmd, args, {input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10000}).toString();
}

function s_try(cmd, args, input) {
    try {
        return s_run(cmd, args, input);
    } catch {
        return null;
    }
}

function s_why(e) {
    return (e.stderr?.toString() || e.message).trim().split('\n')[0];
}

function s_alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return e.code === 'EPERM';
    }
}

/*  Namespaces left by a run of this test whose process is gone. */
function s_removeStale() {
    const list = s_try('ip', ['netns', 'list']) ?? '';
    for (const line of list.split('\n')) {
        const m = /^(arnet(\d+)[a-z])\b/.exec(line.trim());
        if (m && Number(m[2]) !== process.pid && !s_alive(Number(m[2]))) s_try('ip', ['netns', 'del', m[1]]);
    }
}

/*  The test's table: `rule` on packets arriving over dev. */
function s_table(dev, rule) {
    return `table inet ${TABLE} {\n chain input {\n  type filter hook input priority 0; policy accept;\n` +
        `  iifname "${dev}" ${rule}\n }\n}\n`;
}

function s_lossRule(pct) {
    return `numgen random mod 100 < ${pct} counter drop`;
}

/*  Why these tests cannot run here, or null when they can: root, `ip`,
    `nft`, a namespace, and nf_tables inside it. */
export function netnsSkipReason() {
    if (process.platform !== 'linux') return 'network namespaces need Linux';
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
        return 'needs root to create network namespaces and nftables rules';
    }
    for (const [tool, args, pkg] of [['ip', ['-V'], 'iproute2'], ['nft', ['--version'], 'nftables']]) {
        try {
            s_run(tool, args);
        } catch (e) {
            return `${tool} cannot run (${s_why(e)}): install ${pkg} (tools/bootstrap.sh --test)`;
        }
    }
    s_removeStale();
    const probe = `${PREFIX}${process.pid}p`;
    try {
        s_run('ip', ['netns', 'add', probe]);
    } catch (e) {
        return `cannot create a network namespace: ${s_why(e)}`;
    }
    try {
        s_run('ip', ['netns', 'exec', probe, 'nft', '-f', '-'], s_table('lo', s_lossRule(1)));
    } catch (e) {
        return `nftables cannot filter inside a network namespace (no nf_tables?): ${s_why(e)}`;
    } finally {
        s_try('ip', ['netns', 'del', probe]);
    }
    return null;
}

/*  Two namespaces a and b joined by a veth pair, 10.231.0.1/24 and .2/24. */
/*  Namespaces named by sides (['a', 'b'] by default): two joined by a veth
    pair, or with {bridge: true} any number, each joined by a veth pair to a
    bridge in a hub namespace of its own (a LAN: broadcasts reach every
    side). Side i has the address 10.231.0.(i+1)/24 on its veth end. */
export class TestNet {
    constructor(opts = {}) {
        const id = process.pid;
        this.sides = opts.sides ?? ['a', 'b'];
        this.bridge = opts.bridge ?? false;
        if (!this.bridge && this.sides.length !== 2) throw new Error('more than two sides need a bridge');
        if (this.sides.includes('h')) throw new Error('side "h" is the hub');
        this.ns = {};
        this.veth = {};
        this.addr = {};
        this.sides.forEach((s, i) => {
            this.ns[s] = `${PREFIX}${id}${s}`;
            this.veth[s] = `arv${id}${s}`;
            this.addr[s] = `10.231.0.${i + 1}`;
        });
        this.hub = this.bridge ? `${PREFIX}${id}h` : null;
    }

    create() {
        for (const ns of [...this.sides.map((s) => this.ns[s]), ...(this.hub ? [this.hub] : [])]) {
            s_run('ip', ['netns', 'add', ns]);
            created.add(ns);
        }
        if (this.bridge) {
            const br = 'br0';
            s_run('ip', ['-n', this.hub, 'link', 'add', br, 'type', 'bridge']);
            s_run('ip', ['-n', this.hub, 'link', 'set', br, 'up']);
            for (const s of this.sides) {
                const port = `arh${process.pid}${s}`;
                s_run('ip', [
                    'link', 'add', this.veth[s], 'netns', this.ns[s], 'type', 'veth', 'peer', 'name', port, 'netns',
                    this.hub
                ]);
                s_run('ip', ['-n', this.hub, 'link', 'set', port, 'master', br]);
                s_run('ip', ['-n', this.hub, 'link', 'set', port, 'up']);
            }
        } else {
            s_run('ip', [
                'link', 'add', this.veth.a, 'netns', this.ns.a, 'type', 'veth', 'peer', 'name', this.veth.b, 'netns',
                this.ns.b
            ]);
        }
        for (const s of this.sides) {
            s_run('ip', ['-n', this.ns[s], 'link', 'set', 'lo', 'up']);
            s_run('ip', ['-n', this.ns[s], 'addr', 'add', `${this.addr[s]}/24`, 'dev', this.veth[s]]);
            s_run('ip', ['-n', this.ns[s], 'link', 'set', this.veth[s], 'up']);
        }
        return this;
    }

    /*  Replaces the test's table in both namespaces (one nft transaction
        each) with `rule` on packets arriving over the veth. */
    s_rule(rule) {
        for (const s of this.sides) {
            const table = rule ? s_table(this.veth[s], rule) : '';
            s_run(
                'ip', ['netns', 'exec', this.ns[s], 'nft', '-f', '-'],
                `table inet ${TABLE}\ndelete table inet ${TABLE}\n${table}`);
        }
    }

    /*  pct % of the packets in each direction are dropped. */
    loss(pct) {
        this.s_rule(s_lossRule(pct));
    }

    /*  Every packet in each direction is dropped. */
    partition() {
        this.s_rule('counter drop');
    }

    /*  No rule any more: the link works again. */
    heal() {
        this.s_rule(null);
    }

    /*  Packets the current rule dropped, both ends together. */
    dropped() {
        let n = 0;
        for (const s of this.sides) {
            const out = s_try('ip', ['netns', 'exec', this.ns[s], 'nft', 'list', 'table', 'inet', TABLE]) ?? '';
            for (const m of out.matchAll(/counter packets (\d+)/g)) n += Number(m[1]);
        }
        return n;
    }

    destroy() {
        for (const ns of [...this.sides.map((s) => this.ns[s]), ...(this.hub ? [this.hub] : [])]) {
            s_try('ip', ['netns', 'del', ns]);
            created.delete(ns);
        }
    }
}

/*  An arena-node inside one namespace of a TestNet: HTTP and the link on the
    namespace's loopback, the mesh on its veth address with --mesh-secret.
    Shaped like harness.mjs's ArenaNode (baseURL, authHeaders, cleanup,
    diagnostics) so the harness helpers (client, http, waitForModels) work. */
export class NsNode {
    constructor(testNet, side, opts) {
        this.testNet = testNet;
        this.side = side;
        this.ns = testNet.ns[side];
        this.address = testNet.addr[side];
        this.opts = opts;
        this.name = opts.name;
        this.token = opts.token ?? LINK_TOKEN;
        this.apiKeys = [];
        this.dir = mkdtempSync(join(tmpdir(), 'arena-netns-'));
        this.sockets = new Set();
        this.procs = [];
    }

    /*  The test's end of the relay: 127.0.0.1:port here → the Unix socket. */
    s_front() {
        this.sock = join(this.dir, 'http.sock');
        this.front = net.createServer((down) => {
            const up = net.connect({path: this.sock});
            const cut = () => {
                down.destroy();
                up.destroy();
            };
            for (const s of [down, up]) {
                this.sockets.add(s);
                s.on('close', () => this.sockets.delete(s));
                s.on('error', cut);
            }
            down.pipe(up);
            up.pipe(down);
        });
        return new Promise((resolve, reject) => {
            this.front.on('error', reject);
            this.front.listen(0, '127.0.0.1', () => resolve(this.front.address().port));
        });
    }

    s_spawn(path, args, label) {
        const proc = new Proc('ip', ['netns', 'exec', this.ns, path, ...args], label);
        this.procs.push(proc);
        return proc;
    }

    async start() {
        // The node's HTTP port inside the namespace is the relay's port here,
        // so the Host header the clients send names the node's own address.
        const port = await this.s_front();
        const at = `${this.address}:${MESH_PORT}`;
        this.proc = this.s_spawn(
            binary('arena-node'),
            [
                '--name',
                this.name,
                '--data',
                join(this.dir, 'data'),
                '--http',
                `127.0.0.1:${port}`,
                '--link',
                '127.0.0.1:0',
                // wildcard: bound to every address, no --advertise (the node finds its own)
                ...(this.opts.wildcard ? ['--mesh', `0.0.0.0:${MESH_PORT}`] : ['--mesh', at, '--advertise', at]),
                '--mesh-secret',
                this.opts.secret,
                '--link-token',
                this.token,
                '--log-level',
                this.opts.logLevel ?? 'info',
                '--pace',
                'off',
                ...(this.opts.extraArgs ?? []),
            ],
            `arena-node[${this.name}@${this.ns}]`);
        const ready = await waitNodeReady(this.proc, READY_TIMEOUT_MS);
        this.http = ready.http;
        this.link = ready.link;
        this.mesh = ready.mesh;
        const relay = this.s_spawn(process.execPath, [RELAY, this.sock, String(port)], `ns-relay[${this.name}]`);
        await relay.waitLine(/^ns-relay ready/, READY_TIMEOUT_MS, 'ready line');
        this.baseURL = `http://127.0.0.1:${port}`;
        return this;
    }

    authHeaders() {
        return {};
    }

    async cleanup() {
        for (const p of this.procs) await p.stop('SIGKILL', 2000).catch(() => {});
        for (const s of this.sockets) s.destroy();
        if (this.front) await new Promise((r) => this.front.close(r));
        rmSync(this.dir, {recursive: true, force: true});
    }

    diagnostics() {
        return this.procs.map((p) => p.diagnostics()).join('\n');
    }
}

/*  The fake link (its tabs) inside the node's namespace. */
export class NsFakeLink extends FakeLink {
    async start() {
        const args = [
            '--url', `ws://127.0.0.1:${this.node.link.port}/link`, '--token', this.node.token, '--tabs',
            String(this.tabs), '--events', this.eventsFile
        ];
        this.proc =
            new Proc('ip', ['netns', 'exec', this.node.ns, binary('fake-link'), ...args], `fake-link[${this.node.ns}]`);
        await this.proc.waitLine(/^fake-link ready tabs=(\d+)/, READY_TIMEOUT_MS, 'ready line');
        return this;
    }
}
