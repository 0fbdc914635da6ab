// The managed browser (arena-node --browser, docs/operations.md "The managed
// browser"): the node starts Debian's Chromium itself, headless, with its own
// extension on the fake LMArena's origin; the extension's tabs link to the
// node even though the page's content-security policy forbids the page any
// connection but to its own origin; a chat is answered through them; a
// Chromium killed from outside is started again and its tabs come back; a
// node that stops leaves no Chromium behind. And the same extension, as
// GET /extension.zip offers it, installed by hand in a browser the node does
// not run.

import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {test} from 'node:test';
import {chromium} from 'playwright-core';
import {
    ArenaNode,
    ask,
    CHROMIUM,
    FAKE_ANSWER,
    FakeArena,
    http,
    LINK_TOKEN,
    reportDiagnostics,
    waitFor,
} from './lib/harness.mjs';

const TABS = 2;
// Only the page's own origin: a WebSocket from the page's world to the node
// (another port, so another origin) is refused by this policy.
const CSP = 'connect-src \'self\'';

/*  Processes whose command line names the node's profile: {pid, args}. */
function browserProcesses(profile) {
    const found = [];
    for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        let args;
        try {
            args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        } catch {
            continue; // gone meanwhile
        }
        if (args.some((a) => a === `--user-data-dir=${profile}`)) found.push({pid: Number(name), args});
    }
    return found;
}

/*  The browser's own process (not a renderer or helper: those have --type=). */
function browserMain(profile) {
    return browserProcesses(profile).find((p) => !p.args.some((a) => a.startsWith('--type=')));
}

async function selfTabs(node) {
    const r = await http(node.baseURL, 'GET', '/mesh/status', {timeoutMs: 3000});
    assert.equal(r.status, 200);
    return r.json.nodes.find((n) => n.self).tabs;
}

/*  Waits until the node has `n` healthy tabs, all from the fake arena. */
function waitHealthy(node, fake, n, timeoutMs = 30000) {
    return waitFor(async () => {
        const tabs = await selfTabs(node);
        return tabs.healthy === n && tabs.list.length === n &&
            tabs.list.every((t) => t.href.startsWith(`${fake.url}/`) && !t.challenged) && tabs;
    }, {timeoutMs, intervalMs: 200, what: `${n} healthy tab(s) from the managed browser`});
}

async function chat(node) {
    const r = await http(
        node.baseURL, 'POST', '/v1/chat/completions', {body: ask('fake-chat', 'Say hello.'), timeoutMs: 20000});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, FAKE_ANSWER);
}

test(
    'arena-node --browser: its own Chromium, extension tabs past the page\'s CSP, restarted when killed, gone with the node',
    {timeout: 150000}, async (t) => {
        const fake = await new FakeArena().start();
        const node = new ArenaNode({
            arenaOrigin: fake.url,
            extraArgs: ['--browser', '--browser-headless', '--browser-path', CHROMIUM, '--browser-tabs', String(TABS)],
        });
        const profile = join(node.dataDir, 'browser', 'profile');
        t.after(async () => {
            if (node.proc) await node.stop().catch(() => {});
            for (const p of browserProcesses(profile)) {
                try {
                    process.kill(p.pid, 'SIGKILL');
                } catch {
                    /* gone */
                }
            }
            await node.cleanup();
            await fake.cleanup();
        });
        try {
            await fake.control({csp: CSP});
            await node.start();
            // the extension the node wrote: for the fake's origin, the link in its isolated world
            const ext = join(node.dataDir, 'browser', 'extension');
            const manifest = JSON.parse(readFileSync(join(ext, 'manifest.json'), 'utf8'));
            assert.deepEqual(manifest.host_permissions, [`${fake.url}/*`]);
            assert.ok(readFileSync(join(ext, 'relay.js'), 'utf8').includes(`'${LINK_TOKEN}'`));
            const link = readFileSync(join(ext, 'link.js'), 'utf8');
            assert.ok(!link.includes(LINK_TOKEN), 'the page world\'s script holds no token');
            assert.ok(link.includes('function arenaMeshLink()'), 'link.js is the userscript\'s code');

            // its tabs link to the node, the CSP notwithstanding, and answer a chat
            await waitHealthy(node, fake, TABS);
            const page = await http(fake.url, 'GET', '/');
            assert.equal(page.headers.get('content-security-policy'), CSP);
            await chat(node);
            const first = browserMain(profile);
            assert.ok(first, 'the browser process, with the node\'s profile');
            assert.ok(first.args.includes('--headless=new'));
            assert.ok(first.args.some((a) => a === `--load-extension=${ext}`));

            // killed from outside: the node starts it again, the tabs come back
            const before = new Set((await selfTabs(node)).list.map((tab) => tab.id));
            process.kill(first.pid, 'SIGKILL');
            await waitFor(
                async () => (await selfTabs(node)).list.every((tab) => !before.has(tab.id)),
                {timeoutMs: 60000, intervalMs: 200, what: 'the killed browser\'s tabs to leave'});
            await waitHealthy(node, fake, TABS, 60000);
            const second = browserMain(profile);
            assert.ok(second && second.pid !== first.pid, 'a new browser process');
            await chat(node);
            assert.match(
                node.proc.err.text, /browser: .* was killed by signal 9 after \d+ s; starting it again in \d+ ms/);

            // the node stops: no process of its browser is left (none to reap either)
            const stopped = await node.stop();
            assert.equal(stopped.code, 0, JSON.stringify(stopped));
            const left = browserProcesses(profile);
            assert.deepEqual(left.map((p) => p.pid), [], 'no Chromium process left');
            // and it was stopped, not killed: Chromium wrote its profile and says it
            // ended cleanly (so the login's cookies are on disk, no "restore pages?" waits)
            const prefs = JSON.parse(readFileSync(join(profile, 'Default', 'Preferences'), 'utf8'));
            // (SIGTERM is a session's end to it; a kill leaves "Crashed")
            assert.ok(['Normal', 'SessionEnded'].includes(prefs.profile?.exit_type), prefs.profile?.exit_type);
        } catch (e) {
            reportDiagnostics(
                t, `${node.diagnostics()}\n${fake.diagnostics()}\n--- chromium.log:\n${(() => {
                    try {
                        return readFileSync(join(node.dataDir, 'browser', 'chromium.log'), 'utf8').slice(-6000);
                    } catch {
                        return '(none)';
                    }
                })()}`);
            throw e;
        }
    });

test(
    'GET /extension.zip: unzipped and loaded by hand into a Chromium, its tab links to the node past the page\'s CSP',
    {timeout: 90000}, async (t) => {
        const fake = await new FakeArena().start();
        const node = new ArenaNode({arenaOrigin: fake.url});
        const dir = mkdtempSync(join(tmpdir(), 'arena-ext-'));
        let context;
        t.after(async () => {
            if (context) await context.close().catch(() => {});
            await node.cleanup();
            await fake.cleanup();
            rmSync(dir, {recursive: true, force: true});
        });
        try {
            await fake.control({csp: CSP});
            await node.start();
            const r = await fetch(`${node.baseURL}/extension.zip`);
            assert.equal(r.status, 200);
            assert.equal(r.headers.get('content-type'), 'application/zip');
            assert.match(r.headers.get('content-disposition'), /attachment; filename="arenamesh-link.zip"/);
            writeFileSync(join(dir, 'ext.zip'), Buffer.from(await r.arrayBuffer()));
            execFileSync('unzip', ['-q', 'ext.zip'], {cwd: dir});
            const ext = join(dir, 'arenamesh-link');
            assert.ok(readFileSync(join(ext, 'relay.js'), 'utf8').includes(`'${node.linkURL}'`));
            // installed by hand: the worker leaves the person's tabs alone
            assert.ok(readFileSync(join(ext, 'worker.js'), 'utf8').includes('\'off\' === \'on\''));
            context = await chromium.launchPersistentContext(join(dir, 'profile'), {
                executablePath: CHROMIUM,
                headless: true,
                ignoreDefaultArgs: ['--disable-extensions'],
                args:
                    ['--no-sandbox', '--headless=new', `--load-extension=${ext}`, `--disable-extensions-except=${ext}`],
                timeout: 30000,
            });
            const page = await context.newPage();
            await page.goto(`${fake.url}/`);
            await waitHealthy(node, fake, 1);
            // the page's world holds the userscript's code, not the socket: the title says linked
            await waitFor(
                async () => (await page.title()).startsWith('\u2705 '),
                {timeoutMs: 10000, what: 'the tab title to start with the linked mark'});
            await chat(node);
        } catch (e) {
            reportDiagnostics(t, `${node.diagnostics()}\n${fake.diagnostics()}`);
            throw e;
        }
    });

test(
    '--browser-stuck-after: a managed tab that shows a challenge is reloaded by the extension, and serves once clear',
    {timeout: 120000}, async (t) => {
        const fake = await new FakeArena().start();
        const node = new ArenaNode({
            arenaOrigin: fake.url,
            extraArgs: ['--browser', '--browser-headless', '--browser-path', CHROMIUM, '--browser-stuck-after', '10'],
        });
        t.after(async () => {
            // SIGTERM first: the node stops its browser before the profile is removed
            if (node.proc) await node.stop().catch(() => {});
            await node.cleanup();
            await fake.cleanup();
        });
        try {
            await fake.control({challenge: true});
            await node.start();
            // the tab links from the challenge page and says what it sees
            await waitFor(async () => {
                const tabs = await selfTabs(node);
                return tabs.list.length === 1 && tabs.list[0].challenged && tabs.healthy === 0;
            }, {timeoutMs: 30000, intervalMs: 200, what: 'the tab to report a challenge'});
            const shown = Date.now();
            // the challenge is gone from the site, but the page on screen is still
            // the challenge: only a reload (the extension's, nobody else reloads) clears it
            await fake.control({challenge: false});
            await waitHealthy(node, fake, 1, 60000);
            const took = Date.now() - shown;
            assert.ok(took >= 5000, `cleared after ${took} ms: sooner than the stuck time allows`);
            await chat(node);
        } catch (e) {
            reportDiagnostics(t, `${node.diagnostics()}\n${fake.diagnostics()}`);
            throw e;
        }
    });
