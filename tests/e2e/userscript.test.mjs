// The userscript on its own: Playwright stands in for the node on the link
// WebSocket (routeWebSocket), so each test says exactly which frames the tab
// gets and checks exactly which frames it sends. The page is still the fake
// LMArena's (its reCAPTCHA emulation mints the tokens); a few URLs are held
// or answered by Playwright routes to make jobs slow, failing or echoing.

import assert from 'node:assert/strict';
import {accountHash, e2eTest, sleep, waitFor, CONNECTED, CONNECTING, LINK_TOKEN} from './lib/harness.mjs';

/*  Plays the node: every connection the tab opens is recorded with the
    frames it sent; onConnect(conn) decides what to answer. */
async function playNode(w, {onConnect = welcome} = {}) {
    const conns = [];
    await w.context.routeWebSocket(w.node.linkURL, (ws) => {
        const conn = {ws, at: Date.now(), sent: [], closedBy: null};
        conns.push(conn);
        ws.onMessage((m) => {
            let f;
            try {
                f = JSON.parse(m);
            } catch {
                f = {unparsed: m};
            }
            conn.sent.push(f);
            if (f.type === 'hello') onConnect(conn, f);
        });
        ws.onClose((code) => (conn.closedBy = code ?? 'page'));
    });
    return conns;
}

function welcome(conn, hello, version = '1') {
    assert.equal(hello.token, LINK_TOKEN);
    conn.ws.send(JSON.stringify({type: 'welcome', node: 'played', version}));
}

const frames = (conn, type, id) => conn.sent.filter((f) => f.type === type && (id === undefined || f.id === id));

function waitSent(conn, pred, what, timeoutMs = 5000) {
    return waitFor(() => conn.sent.find(pred), {timeoutMs, intervalMs: 20, what});
}

/*  The job's frames: [head?, chunk…, done|fail] and nothing after its end. */
function jobFrames(conn, id) {
    return conn.sent.filter((f) => f.id === id && ['head', 'chunk', 'done', 'fail'].includes(f.type));
}

e2eTest('hello, welcome of another version, state, ping/pong, junk frames ignored', async (t, w) => {
    const conns = await playNode(w, {onConnect: (c, h) => welcome(c, h, '2')});
    const tab = await w.openTab();
    const [c] = conns;
    const hello = c.sent[0];
    assert.equal(hello.type, 'hello');
    assert.equal(hello.version, '1');
    assert.match(hello.tab, /^[0-9a-f-]{36}$/);
    assert.equal(hello.href, `${w.fake.url}/`);
    assert.match(hello.ua, /Chrom/);
    // A node of another version that welcomed us: keep going, say so in the console.
    assert.ok((await tab.title()).startsWith(CONNECTED));
    await waitFor(
        () => tab.console.some((l) => /link version 2/.test(l)), {timeoutMs: 2000, what: 'a console warning'});
    const state = await waitSent(c, (f) => f.type === 'state' && f.recaptcha, 'state with recaptcha after welcome');
    assert.deepEqual(
        state,
        {type: 'state', challenge: false, recaptcha: true, logged_in: true, account: accountHash('fake-user-1')});
    for (const junk of ['not json', '[1,2]', '{"no":"type"}', '{"type":"from-the-future","x":1}', '{"type":42}']) {
        c.ws.send(junk);
    }
    c.ws.send(JSON.stringify({type: 'ping', t: 1234567}));
    assert.deepEqual(await waitSent(c, (f) => f.type === 'pong', 'pong'), {type: 'pong', t: 1234567});
    c.ws.send(JSON.stringify({type: 'page', id: 'p9'}));
    const page = await waitSent(c, (f) => f.type === 'page', 'page');
    assert.equal(page.id, 'p9');
    assert.match(page.html, /^<html/);
    assert.equal(conns.length, 1, 'no reconnect: junk did not break the link');
    assert.equal(c.closedBy, null);
});

e2eTest('several jobs at once: a held one, a duplicate id, a quick one, aborts', async (t, w) => {
    const conns = await playNode(w);
    let held = null;
    await w.context.route('**/__e2e/hold', (route) => {
        held = route; // answered only when the test says so
    });
    const tab = await w.openTab();
    const [c] = conns;
    const send = (f) => c.ws.send(JSON.stringify(f));
    send({type: 'fetch', id: 'j1', url: '/__e2e/hold', method: 'POST', headers: {}, body: 'x'});
    await waitFor(() => held, {timeoutMs: 5000, what: 'the held request'});
    send({type: 'fetch', id: 'j1', url: '/', method: 'GET', headers: {}});
    const dup = await waitSent(c, (f) => f.type === 'fail' && f.id === 'j1', 'fail of the duplicate');
    assert.equal(dup.stage, 'fetch');
    assert.match(dup.message, /already running/);
    // A second job runs to its end while j1 waits.
    send({type: 'fetch', id: 'j2', url: '/', method: 'GET', headers: {}});
    await waitSent(c, (f) => f.type === 'done' && f.id === 'j2', 'done of j2');
    const j2 = jobFrames(c, 'j2');
    assert.equal(j2[0].type, 'head');
    assert.equal(j2[0].status, 200);
    assert.match(j2[0].headers['content-type'], /text\/html/);
    assert.match(j2.filter((f) => f.type === 'chunk').map((f) => f.data).join(''), /<\/html>/);
    // Abort j1: answered at once; a second abort and an abort of a finished job: nothing.
    send({type: 'abort', id: 'j1'});
    send({type: 'abort', id: 'j1'});
    send({type: 'abort', id: 'j2'});
    await waitFor(() => frames(c, 'fail', 'j1').length === 2, {timeoutMs: 3000, what: 'fail aborted of j1'});
    assert.deepEqual(frames(c, 'fail', 'j1').map((f) => f.stage), ['fetch', 'aborted']);
    await held.fulfill({status: 200, body: 'late'}).catch(() => {});
    await sleep(300);
    assert.equal(jobFrames(c, 'j1').filter((f) => f.type !== 'fail').length, 0, 'nothing after the abort');
    assert.equal(frames(c, 'done', 'j2').length, 1);
    assert.equal(frames(c, 'fail', 'j2').length, 0);
    assert.ok((await tab.title()).startsWith(CONNECTED));
});

e2eTest(
    'reCAPTCHA: minted with the page\'s sitekey into the named field; bad bodies and dead hosts fail cleanly',
    async (t, w) => {
        const conns = await playNode(w);
        const echoed = [];
        await w.context.route('**/__e2e/echo', (route) => {
            echoed.push(route.request().postData());
            route.fulfill({
                status: 418,
                contentType: 'application/json',
                headers: {'retry-after': '7'},
                body: route.request().postData()
            });
        });
        await w.openTab();
        const [c] = conns;
        const send = (f) => c.ws.send(JSON.stringify(f));
        const rc = {field: 'myToken', action: 'chat_submit', sitekey: 'not-the-page-sitekey'};
        send({
            type: 'fetch',
            id: 'j1',
            url: '/__e2e/echo',
            method: 'POST',
            headers: {'content-type': 'text/plain;charset=UTF-8'},
            body: '{"a":1}',
            recaptcha: rc
        });
        await waitSent(c, (f) => f.id === 'j1' && (f.type === 'done' || f.type === 'fail'), 'end of j1');
        const j1 = jobFrames(c, 'j1');
        assert.deepEqual(j1.map((f) => f.type).filter((x, i, a) => a.indexOf(x) === i), ['head', 'chunk', 'done']);
        // A non-2xx answer is head + chunks + done, with lower-case header names.
        assert.equal(j1[0].status, 418);
        assert.equal(j1[0].headers['retry-after'], '7');
        const body = JSON.parse(j1.filter((f) => f.type === 'chunk').map((f) => f.data).join(''));
        assert.equal(body.a, 1);
        assert.equal(typeof body.myToken, 'string');
        assert.ok(body.myToken.length > 0);
        assert.equal(echoed.length, 1);

        // The body must be a JSON object to take a token: fail, nothing sent upstream.
        send({
            type: 'fetch',
            id: 'j2',
            url: '/__e2e/echo',
            method: 'POST',
            headers: {},
            body: 'not json',
            recaptcha: rc
        });
        send({type: 'fetch', id: 'j3', url: '/__e2e/echo', method: 'POST', headers: {}, body: '[1]', recaptcha: rc});
        // A host that refuses the connection.
        send({type: 'fetch', id: 'j4', url: 'http://127.0.0.1:9/', method: 'GET', headers: {}});
        for (const id of ['j2', 'j3', 'j4']) {
            const f = await waitSent(c, (x) => x.id === id && (x.type === 'done' || x.type === 'fail'), `end of ${id}`);
            assert.equal(f.type, 'fail', id);
            assert.equal(f.stage, 'fetch', id);
            assert.equal(jobFrames(c, id).length, 1, `${id}: only its fail`);
        }
        assert.match(frames(c, 'fail', 'j2')[0].message, /not JSON/);
        assert.match(frames(c, 'fail', 'j3')[0].message, /not a JSON object/);
        assert.equal(echoed.length, 1, 'no request for the refused bodies');
    });

e2eTest('reconnect back-off 1 s, 2 s, 4 s; reset by welcome; 4409 gives a new tab id', async (t, w) => {
    let mode = 'refuse';
    const conns = await playNode(w, {
        onConnect: (c, h) => {
            if (mode === 'refuse') c.ws.close({code: 4401, reason: 'bad token'});
            else welcome(c, h);
        },
    });
    // The delays are measured in the page, from a socket's close event to the
    // next socket: what the script itself waits, without the two trips
    // through Playwright's route that a loaded machine stretches.
    await w.context.addInitScript(() => {
        const Native = window.WebSocket;
        const log = (window.__e2eSockets = []);
        window.WebSocket = class extends Native {
            constructor(...args) {
                super(...args);
                const entry = {created: performance.now(), closed: null};
                log.push(entry);
                this.addEventListener('close', () => (entry.closed = performance.now()));
            }
        };
    });
    const tab = await w.openTab({connected: false});
    await waitFor(() => conns.length >= 4, {timeoutMs: 12000, what: '4 connection attempts'});
    assert.ok((await tab.title()).startsWith(CONNECTING), 'shown as connecting');
    const sockets = await tab.evaluate(() => window.__e2eSockets);
    assert.ok(sockets.length >= 4, `${sockets.length} sockets made in the page`);
    const gaps = sockets.slice(1, 4).map((s, i) => Math.round(s.created - sockets[i].closed));
    t.diagnostic(`back-off measured in the page: ${gaps.join(', ')} ms`);
    for (const [i, want] of [1000, 2000, 4000].entries()) {
        assert.ok(gaps[i] >= want * 0.95 && gaps[i] <= want + 500, `gap ${i}: ${gaps[i]} ms, want ~${want}`);
    }
    // Welcomed: back to 1 s. Then replaced (4409): a new id on the next hello.
    mode = 'welcome';
    await waitFor(() => conns.length >= 5, {timeoutMs: 10000, what: 'the 5th attempt'});
    await tab.waitConnected();
    const id = conns[4].sent[0].tab;
    assert.ok(conns.slice(0, 5).every((c) => c.sent[0].tab === id), 'same id while refused');
    conns[4].ws.close({code: 4409, reason: 'replaced'});
    await waitFor(() => conns[5]?.sent.length, {timeoutMs: 3000, what: 'a hello after 4409'});
    const gap = conns[5].at - conns[4].at;
    assert.ok(gap < 2500, `reconnect after welcome took ${gap} ms`);
    assert.notEqual(conns[5].sent[0].tab, id, 'a new tab id after 4409');
    await tab.waitConnected();
});

e2eTest('a reload re-injects the script; two injections in one page make one connection', async (t, w) => {
    const conns = await playNode(w);
    const tab = await w.openTab();
    // Tampermonkey and a second copy of the script in the same page: one link.
    await tab.evaluate((src) => {
        const s = document.createElement('script');
        s.textContent = src;
        document.head.appendChild(s);
    }, w.script);
    await sleep(500);
    assert.equal(conns.length, 1);
    assert.equal(await tab.title(), `${CONNECTED}${(await tab.title()).slice(CONNECTED.length)}`);
    assert.ok(!(await tab.title()).slice(CONNECTED.length).startsWith(CONNECTED), 'no double prefix');
    conns[0].ws.send(JSON.stringify({type: 'reload'}));
    await waitFor(() => tab.loads >= 2, {timeoutMs: 5000, what: 'the page to load again'});
    await waitFor(() => conns.length === 2, {timeoutMs: 5000, what: 'a new connection after the reload'});
    await tab.waitConnected();
    assert.equal(conns[1].sent[0].tab, conns[0].sent[0].tab, 'the tab id survives a reload');
});

/*  The first `state` the connection sent after index `from` for which pred holds. */
function waitState(conn, from, pred, what, timeoutMs = 5000) {
    return waitFor(() => {
        const i = conn.sent.findIndex((f, n) => n >= from && f.type === 'state' && pred(f));
        return i >= 0 && {frame: conn.sent[i], at: i};
    }, {timeoutMs, intervalMs: 20, what});
}

e2eTest('state names the logged-in account by its hash, re-read when the cookie changes', async (t, w) => {
    const conns = await playNode(w);
    const tab = await w.openTab();
    const [c] = conns;
    const first = accountHash('fake-user-1');
    // (a loaded machine may send a first state before the page's reCAPTCHA
    // script has loaded, recaptcha false: the next state says it is there)
    let s = await waitState(c, 0, (f) => f.logged_in === true && f.recaptcha === true, 'state of the default account');
    assert.deepEqual(s.frame, {type: 'state', challenge: false, recaptcha: true, logged_in: true, account: first});
    assert.match(s.frame.account, /^[0-9a-f]{32}$/);
    // Another tab of the same browser logs in as someone else: this tab's
    // poll sees the new cookie and says so, once.
    const other = await w.openTab({path: '/?as=other'});
    s = await waitState(c, s.at + 1, (f) => f.account === accountHash('other'), 'state of the other account');
    assert.notEqual(accountHash('other'), first);
    // A cookie split into .0 and .1 (as LMArena does since 2026) is joined.
    await other.page.goto(`${w.fake.url}/?as=split-user&split=1`);
    const names = (await w.context.cookies()).map((k) => k.name).filter((n) => n.startsWith('arena-auth-prod-v1'));
    assert.deepEqual(names.sort(), ['arena-auth-prod-v1.0', 'arena-auth-prod-v1.1']);
    s = await waitState(c, s.at + 1, (f) => f.account === accountHash('split-user'), 'state of the split cookie');
    // Logged out: no account at all.
    await other.page.goto(`${w.fake.url}/?as=`);
    s = await waitState(c, s.at + 1, (f) => f.logged_in === false, 'state logged out');
    assert.deepEqual(s.frame, {type: 'state', challenge: false, recaptcha: true, logged_in: false});
    // Logged in again; then an anonymous session, which is no login.
    await other.page.goto(`${w.fake.url}/?as=back`);
    s = await waitState(c, s.at + 1, (f) => f.account === accountHash('back'), 'state logged in again');
    await other.page.goto(`${w.fake.url}/?as=guest&anon=1`);
    s = await waitState(c, s.at + 1, (f) => f.logged_in === false, 'state of an anonymous session');
    assert.equal(s.frame.account, undefined);
    // Only changes are sent, and the user id itself never leaves the page.
    const states = c.sent.filter((f) => f.type === 'state').map((f) => JSON.stringify(f));
    assert.ok(states.every((f, i) => i === 0 || f !== states[i - 1]), `no repeats: ${states.join(' ')}`);
    for (const id of ['fake-user-1', 'other', 'split-user', 'back']) {
        assert.ok(!JSON.stringify(c.sent).includes(id), `${id} not sent`);
    }
    assert.ok((await tab.title()).startsWith(CONNECTED));
});
