// ArenaMesh link, Manifest V3 extension: the isolated-world content script.
//
// Holds the WebSocket to the node for the page-world script (link.js, the
// userscript's code), relaying frames both ways as CustomEvents on the
// document. An isolated world's requests are not subject to the page's
// content-security policy, and its WebSocket carries the page's Origin, so
// the node's origin check is the userscript's. The node fills in LINK_URL and
// LINK_TOKEN when it writes the extension; the token is put into the hello
// frame here and never reaches the page's world. It also tells the
// extension's service worker (worker.js) whether this tab is linked and
// whether it shows a challenge, so a managed browser can reload a stuck tab.
(function arenaMeshRelay() {
    'use strict';

    const LINK_URL = '__ARENA_LINK_URL__';
    const LINK_TOKEN = '__ARENA_LINK_TOKEN__';
    const UP = 'arenamesh-link-up';
    const DOWN = 'arenamesh-link-down';
    const REPORT_MS = 10000; // to the service worker, also while nothing changes

    if (window.top !== window) return;

    const sockets = new Map(); // connection number → WebSocket
    const tab = {linked: false, challenge: false, reported: ''};

    function down(msg) {
        document.dispatchEvent(new CustomEvent(DOWN, {detail: JSON.stringify(msg)}));
    }

    function report(force) {
        const text = JSON.stringify({linked: tab.linked, challenge: tab.challenge});
        if (!force && text === tab.reported) return;
        tab.reported = text;
        try {
            chrome.runtime.sendMessage({type: 'arenamesh-tab', linked: tab.linked, challenge: tab.challenge})
                .catch(() => {});
        } catch (e) {
            // the extension was reloaded or removed: nothing to tell
        }
    }

    // A frame from the page's world on its way to the node: hello gets the
    // token; state says whether a challenge is on screen.
    function outgoing(data) {
        let frame;
        try {
            frame = JSON.parse(data);
        } catch (e) {
            return data;
        }
        if (!frame || typeof frame !== 'object') return data;
        if (frame.type === 'hello') {
            frame.token = LINK_TOKEN;
            return JSON.stringify(frame);
        }
        if (frame.type === 'state') {
            tab.challenge = frame.challenge === true;
            report(false);
        }
        return data;
    }

    function incoming(data) {
        if (typeof data === 'string' && data.includes('"welcome"')) {
            try {
                if (JSON.parse(data).type === 'welcome') {
                    tab.linked = true;
                    report(false);
                }
            } catch (e) {
                // not a frame the relay cares about
            }
        }
    }

    function open(c) {
        let ws;
        try {
            ws = new WebSocket(LINK_URL);
        } catch (e) {
            down({op: 'close', c: c, code: 1006, reason: String(e && e.message)});
            return;
        }
        sockets.set(c, ws);
        ws.onopen = () => down({op: 'open', c: c});
        ws.onmessage = (ev) => {
            incoming(ev.data);
            down({op: 'message', c: c, data: ev.data});
        };
        ws.onclose = (ev) => {
            sockets.delete(c);
            tab.linked = false;
            report(false);
            down({op: 'close', c: c, code: ev.code, reason: ev.reason});
        };
    }

    document.addEventListener(UP, (ev) => {
        let msg;
        try {
            msg = JSON.parse(ev.detail);
        } catch (e) {
            return;
        }
        if (!msg || typeof msg.c !== 'number') return;
        const ws = sockets.get(msg.c);
        if (msg.op === 'open' && !ws) {
            open(msg.c);
        } else if (msg.op === 'send' && ws && ws.readyState === WebSocket.OPEN && typeof msg.data === 'string') {
            ws.send(outgoing(msg.data));
        } else if (msg.op === 'close' && ws) {
            ws.close();
        }
    });

    report(true);
    setInterval(() => report(true), REPORT_MS);
})();
