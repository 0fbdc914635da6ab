// ArenaMesh link, Manifest V3 extension: the MAIN-world content script.
//
// This file is built (CMakeLists.txt) as link-head.js + the userscript
// (userscript/arena-link.user.js, unchanged: the same link code) +
// link-tail.js. The userscript's code runs in the page's own world, as
// Tampermonkey runs it, so its fetches are the page's (cookies, reCAPTCHA);
// but here `WebSocket` inside it is RelaySocket: frames go to the extension's
// isolated-world script (relay.js), which holds the real WebSocket to the
// node. The page's content-security policy governs the page's world only, so
// it cannot block the link; and the link token stays in relay.js (the
// userscript's LINK_TOKEN is empty here, relay.js puts the token into hello).
(function arenaMeshExtensionLink() {
    'use strict';

    const UP = 'arenamesh-link-up';     // page world → relay.js
    const DOWN = 'arenamesh-link-down'; // relay.js → page world
    const sockets = new Map();          // connection number → RelaySocket
    let next = 0;

    function up(msg) {
        document.dispatchEvent(new CustomEvent(UP, {detail: JSON.stringify(msg)}));
    }

    // What the userscript uses of a WebSocket: readyState, send, close and
    // the onopen/onmessage/onclose handlers.
    class RelaySocket {
        constructor(url) {
            this.url = url;
            this.c = ++next;
            this.readyState = RelaySocket.CONNECTING;
            this.onopen = null;
            this.onmessage = null;
            this.onclose = null;
            sockets.set(this.c, this);
            up({op: 'open', c: this.c});
        }

        send(data) {
            if (this.readyState !== RelaySocket.OPEN) throw new Error('the link is not open');
            up({op: 'send', c: this.c, data: String(data)});
        }

        close() {
            if (this.readyState >= RelaySocket.CLOSING) return;
            this.readyState = RelaySocket.CLOSING;
            up({op: 'close', c: this.c});
        }
    }
    RelaySocket.CONNECTING = 0;
    RelaySocket.OPEN = 1;
    RelaySocket.CLOSING = 2;
    RelaySocket.CLOSED = 3;

    document.addEventListener(DOWN, (ev) => {
        let msg;
        try {
            msg = JSON.parse(ev.detail);
        } catch (e) {
            return;
        }
        const sock = msg && sockets.get(msg.c);
        if (!sock) return;
        if (msg.op === 'open' && sock.readyState === RelaySocket.CONNECTING) {
            sock.readyState = RelaySocket.OPEN;
            if (sock.onopen) sock.onopen({});
        } else if (msg.op === 'message' && sock.readyState === RelaySocket.OPEN) {
            if (sock.onmessage) sock.onmessage({data: msg.data});
        } else if (msg.op === 'close') {
            sockets.delete(sock.c);
            sock.readyState = RelaySocket.CLOSED;
            if (sock.onclose) sock.onclose({code: msg.code || 1006, reason: msg.reason || ''});
        }
    });

    (function userscript(WebSocket) {
        // ---- userscript/arena-link.user.js follows ----
