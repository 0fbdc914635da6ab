// ==UserScript==
// @name         ArenaMesh link
// @namespace    arenamesh
// @version      0.2.0
// @description  Lets an ArenaMesh node run LMArena requests in this logged-in tab.
// @match        https://lmarena.ai/*
// @match        https://*.lmarena.ai/*
// @match        https://arena.ai/*
// @match        https://*.arena.ai/*
// @grant        none
// @noframes
// @run-at       document-idle
// ==/UserScript==

// Speaks the browser link protocol, version 1 (docs/link-protocol.md), with the
// node at LINK_URL: the node sends `fetch` jobs, the tab runs them with the
// page's own fetch (cookies, reCAPTCHA, Cloudflare are the browser's business)
// and streams `head`, `chunk`s and exactly one `done` or `fail` back. The node
// fills in LINK_URL and LINK_TOKEN when it serves this file at
// /userscript.user.js. One connection at a time; jobs belong to the connection
// that started them, so a late frame never reaches a later connection.
(function arenaMeshLink() {
    'use strict';

    const LINK_URL = '__ARENA_LINK_URL__';
    const LINK_TOKEN = '__ARENA_LINK_TOKEN__';
    const VERSION = '1';
    const TAB_KEY = 'arenamesh-tab-id';
    const PREFIX_CONNECTED = '✅ ';
    const PREFIX_CONNECTING = '⏳ ';
    const PREFIX_RE = /^(?:✅|⏳) /;
    const BACKOFF_MIN_MS = 1000;
    const BACKOFF_MAX_MS = 30000;
    const RECAPTCHA_WAIT_MS = 10000; // for grecaptcha to load, then for a token
    const STATE_POLL_MS = 1000;
    const CLOSE_REPLACED = 4409; // another connection took our tab id
    const CHALLENGE_TITLE_RE = /^(Just a moment\.\.\.|Attention Required! \| Cloudflare)/;
    const CHALLENGE_SELECTOR = '#challenge-form, #challenge-stage, #challenge-running, #cf-challenge-running';
    const AUTH_COOKIE = 'arena-auth-prod-v1';  // Supabase session; since 2026 maybe split into .0, .1, …
    const ACCOUNT_SALT = 'arenamesh-account:'; // the node sees a hash of the user id, never the id
    const UPLOAD_ACTIONS = ['generateUploadUrl', 'getSignedUrl'];
    const ACTION_RE =
        /createServerReference\)\(\s*"([0-9a-fA-F]{40,42})"[^"]{0,300}"(generateUploadUrl|getSignedUrl)"/g;

    if (window.__arenaMeshLink) return; // injected twice into one page: keep the first
    window.__arenaMeshLink = {version: VERSION};

    const link = {
        conn: null, // {ws, jobs: Map(job id → {ctl, ended})} of the open connection
        connected: false,
        backoffMs: BACKOFF_MIN_MS,
        retryTimer: null,
        state: null, // last `state` frame sent on this connection, as JSON text
    };

    // The logged-in account, re-read from the auth cookie on every state check.
    const account = {
        raw: undefined, // the cookie's text when last read (null: none)
        id: null,       // the user id it holds (null: logged out)
        hash: null,     // hex hash of id, once computed
        pending: false, // hashing is under way: state waits for it
    };

    // Next.js server action ids of the upload steps, found in the page's own
    // scripts; kept for this page load (a script is read once).
    const uploadActions = {ids: {}, scanned: new Set()};

    /* ---- tab identity and title ---- */

    function tabId() {
        let id = sessionStorage.getItem(TAB_KEY);
        if (!id) {
            id = crypto.randomUUID();
            sessionStorage.setItem(TAB_KEY, id);
        }
        return id;
    }

    function forgetTabId() {
        sessionStorage.removeItem(TAB_KEY);
    }

    function baseTitle() {
        return document.title.replace(PREFIX_RE, '');
    }

    function showState() {
        const want = (link.connected ? PREFIX_CONNECTED : PREFIX_CONNECTING) + baseTitle();
        if (document.title !== want) document.title = want;
    }

    // The site sets its own title (Next.js replaces <title>); put the prefix back.
    function watchTitle() {
        const observer = new MutationObserver(() => {
            showState();
            reportState();
        });
        observer.observe(document.head || document.documentElement, {
            childList: true,
            subtree: true,
            characterData: true,
        });
    }

    /* ---- what the tab can see of itself ---- */

    function challengeShown() {
        return CHALLENGE_TITLE_RE.test(baseTitle()) || document.querySelector(CHALLENGE_SELECTOR) !== null;
    }

    function recaptchaPresent() {
        return !!(window.grecaptcha && window.grecaptcha.enterprise);
    }

    /* ---- the logged-in account ---- */

    function cookieJar() {
        const jar = new Map();
        for (const part of document.cookie.split(';')) {
            const eq = part.indexOf('=');
            if (eq > 0) jar.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
        }
        return jar;
    }

    // The auth cookie's value, whole or joined from its parts .0, .1, …; null when absent.
    function authCookie() {
        const jar = cookieJar();
        if (jar.has(AUTH_COOKIE)) return jar.get(AUTH_COOKIE);
        const parts = [];
        for (let i = 0; jar.has(AUTH_COOKIE + '.' + i); i++) parts.push(jar.get(AUTH_COOKIE + '.' + i));
        return parts.length ? parts.join('') : null;
    }

    // Standard or URL-safe base64, padded or not, to bytes.
    function base64Bytes(text) {
        let b64 = text.replace(/-/g, '+').replace(/_/g, '/');
        while (b64.length % 4) b64 += '=';
        return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    }

    // The user id of a Supabase session cookie ("base64-" + base64 of the
    // session JSON, or the JSON itself); null when unreadable or anonymous.
    function sessionUserId(raw) {
        try {
            let text = decodeURIComponent(raw);
            if (text.startsWith('base64-')) text = new TextDecoder().decode(base64Bytes(text.slice(7)));
            const user = JSON.parse(text).user;
            if (!user || typeof user.id !== 'string' || user.id === '' || user.is_anonymous === true) return null;
            return user.id;
        } catch (e) {
            return null;
        }
    }

    function hex(bytes) {
        return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    }

    async function hashAccount(id) {
        try {
            const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(ACCOUNT_SALT + id));
            if (account.id === id) account.hash = hex(new Uint8Array(digest).slice(0, 16));
        } catch (e) {
            console.warn('ArenaMesh: cannot hash the account: ' + errorText(e));
        }
        if (account.id === id) account.pending = false;
        reportState();
    }

    // Re-reads the cookie; a new user id starts hashing (state waits for it).
    function readAccount() {
        const raw = authCookie();
        if (raw === account.raw) return;
        account.raw = raw;
        const id = raw === null ? null : sessionUserId(raw);
        if (id === account.id) return; // e.g. a refreshed token of the same user
        account.id = id;
        account.hash = null;
        account.pending = id !== null;
        if (id !== null) hashAccount(id);
    }

    function reportState() {
        if (!link.connected) return;
        readAccount();
        if (account.pending) return; // hashAccount reports when done
        const frame = {type: 'state', challenge: challengeShown(), recaptcha: recaptchaPresent()};
        frame.logged_in = account.id !== null;
        if (account.hash) frame.account = account.hash;
        const text = JSON.stringify(frame);
        if (text === link.state) return;
        link.state = text;
        sendOn(link.conn, frame);
    }

    /* ---- frames ---- */

    function sendOn(conn, frame) {
        if (!conn || conn !== link.conn || conn.ws.readyState !== WebSocket.OPEN) return false;
        conn.ws.send(JSON.stringify(frame));
        return true;
    }

    function errorText(e) {
        return String((e && e.message) || e || 'unknown error');
    }

    /* ---- reCAPTCHA ---- */

    function pageSitekey() {
        for (const el of document.querySelectorAll('script[src*="recaptcha"]')) {
            const m = /[?&]render=([^&#]+)/.exec(el.src);
            if (m && m[1] !== 'explicit') return decodeURIComponent(m[1]);
        }
        return null;
    }

    function withTimeout(promise, ms, what) {
        let timer;
        const guard = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(what + ' took longer than ' + ms + ' ms')), ms);
        });
        return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
    }

    async function waitForRecaptcha(signal) {
        const deadline = Date.now() + RECAPTCHA_WAIT_MS;
        while (!recaptchaPresent()) {
            if (signal.aborted) throw new Error('aborted');
            if (Date.now() >= deadline) throw new Error('grecaptcha.enterprise is not on this page');
            await new Promise((r) => setTimeout(r, 100));
        }
        return window.grecaptcha.enterprise;
    }

    async function mintToken(rc, signal) {
        const g = await waitForRecaptcha(signal);
        const sitekey = pageSitekey() || rc.sitekey;
        if (!sitekey) throw new Error('no reCAPTCHA sitekey on the page or in the job');
        await withTimeout(new Promise((resolve) => g.ready(resolve)), RECAPTCHA_WAIT_MS, 'grecaptcha.ready');
        const token = await withTimeout(
            Promise.resolve(g.execute(sitekey, {action: rc.action || 'chat_submit'})), RECAPTCHA_WAIT_MS,
            'grecaptcha.execute');
        if (typeof token !== 'string' || token === '') throw new Error('grecaptcha.execute gave no token');
        return token;
    }

    function bodyWithToken(body, field, token) {
        let obj;
        try {
            obj = JSON.parse(body);
        } catch (e) {
            throw new Error('the job\'s body is not JSON, cannot add ' + field);
        }
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
            throw new Error('the job\'s body is not a JSON object, cannot add ' + field);
        }
        obj[field] = token;
        return JSON.stringify(obj);
    }

    /* ---- image uploads (Next.js server actions) ---- */

    // Reads the page's not yet read same-origin Next.js scripts for the
    // upload actions' ids; null while any is missing.
    async function findUploadActions(signal) {
        const ids = uploadActions.ids;
        for (const el of document.querySelectorAll('script[src*="/_next/static/"]')) {
            if (UPLOAD_ACTIONS.every((name) => ids[name])) break;
            const src = new URL(el.src, location.href);
            if (src.origin !== location.origin || uploadActions.scanned.has(src.href)) continue;
            uploadActions.scanned.add(src.href);
            let text;
            try {
                const resp = await fetch(src.href, {credentials: 'same-origin', signal: signal});
                if (!resp.ok) continue;
                text = await resp.text();
            } catch (e) {
                if (signal.aborted) throw e;
                uploadActions.scanned.delete(src.href); // try it again next time
                continue;
            }
            for (const m of text.matchAll(ACTION_RE)) ids[m[2]] = ids[m[2]] || m[1];
        }
        return UPLOAD_ACTIONS.every((name) => ids[name]) ? ids : null;
    }

    // Calls a server action the way the page's own code does; the answer's
    // `{success, data}` row gives data, anything else throws.
    async function callAction(name, actionId, args, signal) {
        const resp = await fetch(location.href, {
            method: 'POST',
            headers:
                {'Next-Action': actionId, 'Accept': 'text/x-component', 'Content-Type': 'text/plain;charset=UTF-8'},
            body: JSON.stringify(args),
            credentials: 'include',
            signal: signal,
        });
        const text = await resp.text();
        if (!resp.ok) throw new Error(name + ' answered HTTP ' + resp.status);
        for (const line of text.split('\n')) {
            const m = /^[0-9a-f]+:(\{.*\})\s*$/.exec(line);
            let row;
            try {
                row = m && JSON.parse(m[1]);
            } catch (e) {
                continue;
            }
            if (!row || !('success' in row)) continue;
            if (row.success === true && row.data && typeof row.data === 'object') return row.data;
            throw new Error(name + ' failed: ' + (row.error || row.message || 'no detail'));
        }
        throw new Error(name + ' gave no result');
    }

    // A data: URI as {mime, bytes}.
    function decodeDataUri(url) {
        const m = /^data:([^,]*?),(.*)$/s.exec(url);
        if (!m) throw new Error('a data: URI without a comma');
        const params = m[1].split(';');
        const isBase64 = params[params.length - 1].toLowerCase() === 'base64';
        const bytes =
            isBase64 ? base64Bytes(m[2].replace(/\s/g, '')) : new TextEncoder().encode(decodeURIComponent(m[2]));
        return {mime: params[0] || 'application/octet-stream', bytes: bytes};
    }

    async function uploadAttachment(att, ids, signal) {
        const {mime, bytes} = decodeDataUri(att.url);
        const contentType = typeof att.contentType === 'string' && att.contentType ? att.contentType : mime;
        const name = typeof att.name === 'string' && att.name ? att.name : 'image';
        const slot = await callAction('generateUploadUrl', ids.generateUploadUrl, [name, contentType], signal);
        if (typeof slot.uploadUrl !== 'string' || typeof slot.key !== 'string') {
            throw new Error('generateUploadUrl gave no uploadUrl and key');
        }
        const put = await fetch(
            slot.uploadUrl, {method: 'PUT', headers: {'Content-Type': contentType}, body: bytes, signal: signal});
        if (!put.ok) throw new Error('the upload of ' + name + ' answered HTTP ' + put.status);
        const signed = await callAction('getSignedUrl', ids.getSignedUrl, [slot.key], signal);
        if (typeof signed.url !== 'string') throw new Error('getSignedUrl gave no url');
        return {name: slot.key, contentType: contentType, url: signed.url};
    }

    function isDataAttachment(att) {
        return !!att && typeof att === 'object' && typeof att.url === 'string' && /^data:/i.test(att.url);
    }

    // Uploads the body's data: attachments and puts their signed URLs in
    // their place. {body, upload}: upload is "signed", "inline" (the page has
    // no upload actions: the data: URIs stay) or null (nothing to upload).
    async function uploadImages(body, signal) {
        let obj;
        try {
            obj = JSON.parse(body);
        } catch (e) {
            return {body: body, upload: null};
        }
        const atts = obj && obj.userMessage && obj.userMessage.experimental_attachments;
        if (!Array.isArray(atts) || !atts.some(isDataAttachment)) return {body: body, upload: null};
        const ids = await findUploadActions(signal);
        if (!ids) return {body: body, upload: 'inline'};
        for (let i = 0; i < atts.length; i++) {
            if (isDataAttachment(atts[i])) atts[i] = await uploadAttachment(atts[i], ids, signal);
        }
        return {body: JSON.stringify(obj), upload: 'signed'};
    }

    /* ---- jobs ---- */

    // Frames of a job that has not ended yet (nothing follows its done/fail).
    function sendJob(conn, id, job, frame) {
        if (!job.ended) sendOn(conn, Object.assign({id: id}, frame));
    }

    // Sends the job's one `done` or `fail`; later calls do nothing.
    function endJob(conn, id, job, frame) {
        if (job.ended) return;
        sendJob(conn, id, job, frame);
        job.ended = true;
        if (conn.jobs.get(id) === job) conn.jobs.delete(id);
    }

    function failJob(conn, id, job, stage, e) {
        const aborted = job.ctl.signal.aborted;
        endJob(conn, id, job, {
            type: 'fail',
            stage: aborted ? 'aborted' : stage,
            message: aborted ? 'aborted by the node' : errorText(e),
        });
    }

    function responseHeaders(resp) {
        const headers = {};
        resp.headers.forEach((v, k) => {
            headers[k.toLowerCase()] = v;
        });
        return headers;
    }

    async function streamBody(conn, id, job, resp) {
        if (!resp.body) return; // no body at all (e.g. 204): head then done
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        try {
            for (;;) {
                const {done, value} = await reader.read();
                if (done) break;
                const text = decoder.decode(value, {stream: true});
                if (job.ended) return;
                if (text) sendJob(conn, id, job, {type: 'chunk', data: text});
            }
            const tail = decoder.decode();
            if (tail) sendJob(conn, id, job, {type: 'chunk', data: tail});
        } finally {
            reader.releaseLock();
        }
    }

    async function runFetch(conn, frame) {
        const id = frame.id;
        const job = {ctl: new AbortController(), ended: false};
        conn.jobs.set(id, job);
        let stage = 'fetch';
        try {
            let body = typeof frame.body === 'string' ? frame.body : undefined;
            let upload = null;
            if (body !== undefined) {
                stage = 'upload';
                ({body, upload} = await uploadImages(body, job.ctl.signal));
                stage = 'fetch';
            }
            const rc = frame.recaptcha;
            if (rc && typeof rc === 'object') {
                stage = 'recaptcha';
                const token = await mintToken(rc, job.ctl.signal);
                stage = 'fetch';
                body = bodyWithToken(body || '{}', rc.field || 'recaptchaV3Token', token);
            }
            if (job.ctl.signal.aborted) throw new Error('aborted');
            const resp = await fetch(frame.url, {
                method: frame.method || 'POST',
                headers: frame.headers || {},
                body: body,
                credentials: 'include',
                signal: job.ctl.signal,
            });
            const head = {type: 'head', status: resp.status, headers: responseHeaders(resp)};
            if (upload) head.upload = upload;
            sendJob(conn, id, job, head);
            await streamBody(conn, id, job, resp);
            endJob(conn, id, job, {type: 'done'});
        } catch (e) {
            failJob(conn, id, job, stage, e);
        }
    }

    function startFetch(conn, frame) {
        if (typeof frame.id !== 'string' || typeof frame.url !== 'string') return;
        if (conn.jobs.has(frame.id)) {
            sendOn(conn, {type: 'fail', id: frame.id, stage: 'fetch', message: 'job id already running'});
            return;
        }
        runFetch(conn, frame);
    }

    // Replies at once, even while a token is still being minted.
    function abortJob(conn, id) {
        const job = conn.jobs.get(id);
        if (!job) return; // already ended: its done/fail went out before
        job.ctl.abort();
        failJob(conn, id, job, 'aborted');
    }

    function abortAll(conn) {
        for (const job of conn.jobs.values()) job.ctl.abort();
        conn.jobs.clear();
    }

    /* ---- node → tab ---- */

    function onWelcome(conn, frame) {
        if (frame.version !== VERSION) {
            // The node accepted our hello, so it speaks our version; say it once.
            console.warn('ArenaMesh: node speaks link version ' + frame.version + ', this script ' + VERSION);
        }
        link.connected = true;
        link.backoffMs = BACKOFF_MIN_MS;
        link.state = null;
        showState();
        reportState();
    }

    function onFrame(conn, frame) {
        switch (frame.type) {
            case 'welcome':
                onWelcome(conn, frame);
                break;
            case 'fetch':
                startFetch(conn, frame);
                break;
            case 'abort':
                abortJob(conn, frame.id);
                break;
            case 'page':
                sendOn(
                    conn, {type: 'page', id: frame.id, href: location.href, html: document.documentElement.outerHTML});
                break;
            case 'reload':
                location.reload();
                break;
            case 'ping':
                sendOn(conn, {type: 'pong', t: frame.t});
                break;
            default:
                break; // unknown types are ignored (forward compatibility)
        }
    }

    /* ---- connection ---- */

    function onMessage(conn, ev) {
        let frame;
        try {
            frame = JSON.parse(ev.data);
        } catch (e) {
            return; // malformed: dropped
        }
        if (frame && typeof frame === 'object' && typeof frame.type === 'string') onFrame(conn, frame);
    }

    function onClose(conn, ev) {
        if (conn !== link.conn) return;
        link.conn = null;
        link.connected = false;
        abortAll(conn); // the node has failed them already
        // A duplicated browser tab copies session storage, our id included.
        if (ev.code === CLOSE_REPLACED) forgetTabId();
        showState();
        scheduleConnect();
    }

    function scheduleConnect() {
        if (link.retryTimer) return;
        const delay = link.backoffMs;
        link.backoffMs = Math.min(link.backoffMs * 2, BACKOFF_MAX_MS);
        link.retryTimer = setTimeout(() => {
            link.retryTimer = null;
            connect();
        }, delay);
    }

    function connect() {
        showState();
        let ws;
        try {
            ws = new WebSocket(LINK_URL);
        } catch (e) {
            console.warn('ArenaMesh: cannot open ' + LINK_URL + ': ' + errorText(e));
            scheduleConnect();
            return;
        }
        const conn = {ws: ws, jobs: new Map()};
        link.conn = conn;
        ws.onopen = () => sendOn(conn, {
            type: 'hello',
            token: LINK_TOKEN,
            tab: tabId(),
            version: VERSION,
            href: location.href,
            ua: navigator.userAgent,
        });
        ws.onmessage = (ev) => onMessage(conn, ev);
        ws.onclose = (ev) => onClose(conn, ev);
    }

    watchTitle();
    setInterval(reportState, STATE_POLL_MS);
    connect();
})();
