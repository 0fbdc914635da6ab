// A hostile web page in a real Chromium against a keyless node with a
// connected tab (issue #9 item 4): a page on another origin (served by a
// second local HTTP server, under names Chromium resolves to 127.0.0.1 by
// --host-resolver-rules) tries the no-cors text/plain POST of a chat (the
// fake LMArena must see no request), includes the userscript as a <script>
// with a stubbed WebSocket (the link token must not be captured), and a
// DNS-rebinding page reads the node under its own name (refused).

import assert from 'node:assert/strict';
import {createServer} from 'node:http';
import {e2eTest, LINK_TOKEN} from './lib/harness.mjs';

const RESOLVE = ['--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1'];

/*  The attacker's page: the CSRF, then the script inclusion, each reporting
    into window.__report. */
function evilPage(nodeURL) {
    return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>evil</title></head><body><script>
window.__report = {captured: [], csrf: null, script: null};
// Whatever the userscript would say to its node lands here.
window.WebSocket = class {
    constructor(url) {
        window.__report.captured.push('url ' + url);
        this.readyState = 0;
        setTimeout(() => { this.readyState = 1; if (this.onopen) this.onopen({}); }, 0);
    }
    send(data) { window.__report.captured.push('send ' + data); }
    close() { this.readyState = 3; }
    addEventListener(type, fn) { this['on' + type] = fn; }
    removeEventListener() {}
};
window.WebSocket.CONNECTING = 0; window.WebSocket.OPEN = 1; window.WebSocket.CLOSING = 2; window.WebSocket.CLOSED = 3;
window.__csrf = fetch(${JSON.stringify(nodeURL)} + '/v1/chat/completions', {
    method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
    body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: 'CSRF from evil.test'}]}),
}).then((r) => (window.__report.csrf = 'answered ' + r.type), (e) => (window.__report.csrf = 'failed ' + e.message));
window.__script = new Promise((resolve) => {
    const s = document.createElement('script');
    s.src = ${JSON.stringify(nodeURL)} + '/userscript.user.js';
    s.onload = () => resolve((window.__report.script = 'loaded'));
    s.onerror = () => resolve((window.__report.script = 'error'));
    document.head.appendChild(s);
});
</script></body></html>`;
}

async function startEvil(nodeURL) {
    const server = createServer((req, res) => {
        res.writeHead(200, {'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store'});
        res.end(evilPage(nodeURL));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {server, port: server.address().port};
}

e2eTest(
    'a page on another origin cannot run a prompt nor take the link token', {world: {chromiumArgs: RESOLVE}},
    async (t, w) => {
        await w.connectTab(); // a prompt the node accepted would reach the fake LMArena
        const evil = await startEvil(w.node.baseURL);
        t.after(() => evil.server.close());
        // cross-site (evil.test) and same-site (127.0.0.1, another port)
        for (const origin of [`http://evil.test:${evil.port}`, `http://127.0.0.1:${evil.port}`]) {
            const page = await w.context.newPage();
            await page.goto(`${origin}/`, {waitUntil: 'load'});
            await page.evaluate(() => Promise.all([window.__csrf, window.__script]));
            // Whatever the userscript might do runs within a turn of its load: let timers fire.
            await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
            const report = await page.evaluate(() => window.__report);
            t.diagnostic(`${origin}: ${JSON.stringify(report).slice(0, 300)}`);
            assert.equal(report.script, 'error', `${origin}: the userscript ran as a script`);
            assert.ok(!JSON.stringify(report.captured).includes(LINK_TOKEN), `${origin}: the page captured the token`);
            assert.deepEqual(report.captured, [], `${origin}: the userscript reached its WebSocket`);
            // the no-cors POST came back (opaque) without reaching a tab
            assert.match(report.csrf, /^(answered opaque|failed )/);
            await page.close();
        }
        const reqs = await w.fake.requests();
        assert.equal(reqs.length, 0, `the fake LMArena saw ${reqs.length} request(s) from the page`);
        // the node itself still serves its own clients
        const ok =
            await w.client().chat.completions.create({model: 'fake-chat', messages: [{role: 'user', content: 'Hi'}]});
        assert.equal(ok.choices.length, 1);
    });

e2eTest(
    'DNS rebinding: a page under its own name reaching the node is refused', {world: {chromiumArgs: RESOLVE}},
    async (t, w) => {
        // The attacker's name now resolves to 127.0.0.1 and the page, on the
        // node's port, is same-origin with the node under that name.
        const page = await w.context.newPage();
        const nav = await page.goto(`http://rebind.test:${w.node.ports.http}/health`, {waitUntil: 'load'});
        assert.equal(nav.status(), 421, 'the page itself is refused');
        const got = await page.evaluate(async () => {
            const out = {};
            for (const path of ['/userscript.user.js', '/v1/models', '/']) {
                const r = await fetch(path);
                out[path] = {status: r.status, text: await r.text()};
            }
            const post = await fetch('/v1/chat/completions', {
                method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({model: 'fake-chat', messages: [{role: 'user', content: 'rebound'}]}),
            });
            out.post = {status: post.status, text: await post.text()};
            return out;
        });
        for (const [path, r] of Object.entries(got)) {
            assert.equal(r.status, 421, `${path}: ${r.text.slice(0, 200)}`);
            assert.ok(!r.text.includes(LINK_TOKEN), `${path} gave the token to the rebound page`);
            assert.equal(JSON.parse(r.text).error.code, 'misdirected_request');
        }
        assert.equal((await w.fake.requests()).length, 0);
        await page.close();
    });
