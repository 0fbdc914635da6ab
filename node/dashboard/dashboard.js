// The dashboard's core (GET /, compiled into arena-node: node/pages.c, with
// the views of node/dashboard/view-*.js after it and start.js last).
// Polls GET /mesh/status once a second with the key kept in sessionStorage
// (never in a URL) and draws the mesh view and the models × nodes matrix;
// countdowns tick between polls. Everything from the node is put on the page
// as text (textContent), never as HTML. Other views register with AM.view().
'use strict';
const AM = (() => {
    const KEY = 'arenamesh.key';
    const POLL_MS = 1000;
    const VIEWS = ['mesh', 'models', 'setup'];
    const extra = new Map(); // name → the spec of a view registered with AM.view
    const $ = (id) => document.getElementById(id);
    const body = document.body;
    let chosen = false; // the person picked a view: no automatic switching
    let status = null;  // the last /mesh/status document
    let viewer = null;  // who the key is: "admin", "key", "open" (x-arena-viewer)
    let fetchedAt = 0;  // Date.now() when it arrived
    let timer = 0;
    let waitingKey = false;
    let started = false;

    function el(tag, attrs, ...kids) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v !== undefined && v !== null) e.setAttribute(k, v);
        }
        for (const k of kids) {
            if (k !== undefined && k !== null) e.append(k);
        }
        return e;
    }

    function duration(ms) {
        if (typeof ms !== 'number' || ms < 0) return '?';
        const s = Math.floor(ms / 1000);
        if (s < 10) return (ms / 1000).toFixed(1) + ' s';
        if (s < 120) return s + ' s';
        const m = Math.floor(s / 60);
        if (m < 120) return m + ' min ' + (s % 60) + ' s';
        const h = Math.floor(m / 60);
        if (h < 48) return h + ' h ' + (m % 60) + ' min';
        return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
    }

    // What is left of a remaining time the document gave, now.
    const left = (ms) => (typeof ms === 'number' ? Math.max(0, ms - (Date.now() - fetchedAt)) : ms);

    function show(view, byPerson) {
        if (byPerson) chosen = true;
        const was = body.dataset.view;
        for (const v of VIEWS) {
            $('view-' + v).hidden = v !== view;
            const b = document.querySelector(`nav button[data-view="${v}"]`);
            if (v === view) b.setAttribute('aria-current', 'page');
            else b.removeAttribute('aria-current');
        }
        body.dataset.view = view;
        if (was !== view && extra.has(was) && extra.get(was).hide) extra.get(was).hide();
        if (was !== view && extra.has(view) && extra.get(view).show) extra.get(view).show();
    }

    /*  A view of its own: spec {name, title, build(section), show(), hide(),
        tick()}: a nav button (before Setup) and a section are made for it;
        build fills the section once; show and hide run as it is opened and
        left; tick runs every second while it is open. */
    function view(spec) {
        const name = spec.name;
        const section =
            el('section', {id: 'view-' + name, 'aria-labelledby': 'h-' + name, hidden: ''},
               el('h2', {id: 'h-' + name}, spec.title));
        $('view-setup').before(section);
        const b = el('button', {type: 'button', 'data-view': name, 'aria-controls': 'view-' + name}, spec.title);
        b.addEventListener('click', () => show(name, true));
        document.querySelector('nav button[data-view="setup"]').before(b);
        VIEWS.push(name);
        extra.set(name, spec);
        if (spec.build) spec.build(section);
    }

    /*  A call to this node's API with the dashboard's key: {status, ok,
        json (null when the body is not JSON), headers}; throws when the node
        does not answer. opts: {method, body (sent as JSON)}. */
    async function api(path, opts = {}) {
        const key = sessionStorage.getItem(KEY);
        const headers = key ? {Authorization: 'Bearer ' + key} : {};
        const init = {method: opts.method || 'GET', headers, cache: 'no-store'};
        if (opts.body !== undefined) {
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(opts.body);
        }
        const r = await fetch(path, init);
        let json = null;
        try {
            json = await r.json();
        } catch (e) {
            json = null;
        }
        return {status: r.status, ok: r.ok, json, headers: r.headers};
    }

    // OpenAI's error shape as one line, for a view to show.
    const errorText = (res) => res && res.json && res.json.error ? `${res.status}: ${res.json.error.message}` :
                                                                   `the node answered ${res.status}`;

    function live(text) {
        $('live').textContent = text;
    }

    function askKey(message) {
        waitingKey = true;
        clearTimeout(timer);
        $('keymsg').textContent = message;
        $('keyform').hidden = false;
        live('Waiting for an API key.');
        $('key').focus();
    }

    function stateOf(n) {
        return n.indirect && n.state === 'alive' ? 'indirect' : String(n.state);
    }

    function tabLine(t, n) {
        let what = 'connected';
        if (t.challenged) what = 'challenged';
        else if (t.login_required) what = 'needs login';
        else if (t.logged_in === false) what = 'not logged in';
        const parts = [what];
        const acct = (n.accounts || []).find((a) => a.id === t.account);
        if (acct && left(acct.flag_remaining_ms) > 0)
            parts.push('account flagged for ' + duration(left(acct.flag_remaining_ms)));
        if (acct && left(acct.next_slot_ms) > 0) {
            const until = new Date(fetchedAt + acct.next_slot_ms).toLocaleTimeString();
            parts.push('paced until ' + until + ' (' + duration(left(acct.next_slot_ms)) + ')');
        }
        if (t.inflight) parts.push(t.inflight + ' in flight');
        if (t.hint) parts.push(t.hint);
        return el('li', null, String(t.href || t.id) + ': ' + parts.join(', '));
    }

    function linkText(n, self) {
        if (n.self) return 'this node';
        const st = stateOf(n);
        let t = st;
        if (n.age_ms === null || n.age_ms === undefined) t += ', never heard from';
        else t += ', heard ' + duration(n.age_ms) + ' ago';
        if (n.reported_by) {
            const by = (status.nodes || []).find((x) => x.id === n.reported_by);
            t += ', reported by ' + (by ? by.name : n.reported_by);
        }
        if (self && n.state === 'unreachable') t += ' (this node cannot dial ' + n.address + ')';
        return t;
    }

    function card(n, self) {
        const st = stateOf(n);
        const tabs = n.tabs || {};
        const load = n.load || {};
        const dl = el('dl');
        const row = (k, v) => dl.append(el('dt', null, k), el('dd', null, v));
        row('State', el('span', {class: 'badge ' + st}, st));
        const tabText =
            `${tabs.count ?? 0} (${tabs.healthy ?? 0} healthy)` + (n.state === 'alive' ? '' : ', last known');
        if (Array.isArray(tabs.list) && tabs.list.length)
            row('Tabs', el('div', null, tabText, el('ul', null, ...tabs.list.map((x) => tabLine(x, n)))));
        else row('Tabs', tabText);
        row('Load',
            `${load.inflight ?? 0} in flight / ${load.capacity ?? 0}` + (load.queued ? `, ${load.queued} queued` : ''));
        row('Uptime', duration(n.uptime_ms));
        row('Link', linkText(n, self));
        if (left(n.paced_remaining_ms) > 0) row('Paced', 'next slot in ' + duration(left(n.paced_remaining_ms)));
        if (left(n.node_cooled_remaining_ms) > 0) row('Cooldown', duration(left(n.node_cooled_remaining_ms)));
        row('Address', String(n.http || n.address || ''));
        return el(
            'article', {class: 'card state-' + st, 'data-node': n.name, 'data-state': st},
            el('h3', null, String(n.name), n.self ? el('span', {class: 'sub'}, 'this node') : null), dl);
    }

    function drawMesh() {
        const nodes = status.nodes || [];
        const self = nodes.find((n) => n.self);
        $('nodes').replaceChildren(...nodes.map((n) => card(n, self)));
        const alive = nodes.filter((n) => n.state === 'alive').length;
        $('mesh-summary').textContent = `${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${alive} alive.`;
    }

    // Where a request for the model sent to this node would go now (the
    // node's "routing", computed by the code that routes): null when unsaid.
    function routeOf(name) {
        const r = status.routing && status.routing[name];
        return r && typeof r === 'object' ? r : null;
    }

    const ROUTE_WORDS = {queue: 'queued', cooling: 'no node: cooling', none: 'no node', local: '', peer: ''};

    // The "Served now by" cell: the node's name, or why none would take it.
    function routeCell(route, nodes) {
        if (!route) return el('td', {class: 'absent'}, '?');
        const state = String(route.state ?? '');
        const node = route.node ? nodes.find((n) => n.id === route.node) : null;
        let text = node ? String(node.name) : route.node ? String(route.node) : ROUTE_WORDS[state] ?? state;
        if (state === 'cooling' && typeof route.retry_ms === 'number') text += ' ' + duration(left(route.retry_ms));
        const td = el(
            'td',
            {class: 'route ' + (route.node ? 'ok' : 'cool'), 'data-route': state, 'data-node': node ? node.name : null},
            text);
        if (route.why) td.append(el('span', {class: 'sub'}, String(route.why)));
        return td;
    }

    function cell(node, model, serves) {
        const mark = serves ? ' · serves now' : '';
        const cls = serves ? ' serves' : '';
        if (!model) return el('td', {class: 'absent'}, '–');
        const rem = Math.max(left(node.node_cooled_remaining_ms) || 0, left(model.cooled_remaining_ms) || 0);
        if (rem > 0) {
            const why = model.reason ? ` (${model.reason})` : '';
            return el('td', {class: 'cool' + cls}, 'cooling ' + duration(rem) + why + mark);
        }
        if (left(node.paced_remaining_ms) > 0)
            return el('td', {class: 'cool' + cls}, 'paced ' + duration(left(node.paced_remaining_ms)) + mark);
        return el('td', {class: 'ok' + cls}, (node.state === 'alive' ? 'ok' : 'ok (' + stateOf(node) + ')') + mark);
    }

    function drawModels() {
        const nodes = status.nodes || [];
        const rows = new Map();
        nodes.forEach((n, i) => {
            for (const m of n.models || []) {
                const name = String(m.name ?? '?');
                if (!rows.has(name)) rows.set(name, {name, modality: m.modality, display: null, at: []});
                const r = rows.get(name);
                if (!r.display && m.display_name) r.display = m.display_name;
                if (!r.modality) r.modality = m.modality;
                if (!r.at[i]) r.at[i] = m;
            }
        });
        const names = [...rows.keys()].sort();
        const head =
            el('tr', null, el('th', {scope: 'col'}, 'Model'), el('th', {scope: 'col'}, 'Modality'),
               el('th', {scope: 'col'}, 'Served now by', el('span', {class: 'sub'}, 'a request sent to this node')),
               ...nodes.map((n) => el('th', {scope: 'col'}, String(n.name), el('span', {class: 'sub'}, stateOf(n)))));
        const trs = names.map((name) => {
            const r = rows.get(name);
            const route = routeOf(name);
            const label = el('th', {scope: 'row'}, name);
            if (r.display && r.display !== name) label.append(el('span', {class: 'sub'}, String(r.display)));
            return el(
                'tr', {'data-model': name}, label, el('td', null, String(r.modality ?? '?')), routeCell(route, nodes),
                ...nodes.map((n, i) => cell(n, r.at[i], !!route && !!route.node && route.node === n.id)));
        });
        $('models').replaceChildren(
            el('caption', {class: 'note'}, 'Models × nodes'), el('thead', null, head), el('tbody', null, ...trs));
        $('models-summary').textContent = `${names.length} model${names.length === 1 ? '' : 's'} on ${
            nodes.length} node${nodes.length === 1 ? '' : 's'}.`;
    }

    // The setup view's counts, rendered by the node with the page, kept live.
    function drawSetup() {
        const self = (status.nodes || []).find((n) => n.self);
        if (!self) return;
        $('setup-tabs').textContent = String(self.tabs?.count ?? 0);
        $('setup-models').textContent = String((self.models || []).length);
    }

    function draw() {
        if (!status) return;
        drawMesh();
        drawModels();
        drawSetup();
    }

    async function poll() {
        clearTimeout(timer);
        const key = sessionStorage.getItem(KEY);
        const headers = key ? {Authorization: 'Bearer ' + key} : {};
        let r;
        try {
            r = await fetch('/mesh/status', {headers, cache: 'no-store'});
            viewer = r.ok ? r.headers.get('x-arena-viewer') : viewer;
            body.dataset.viewer = viewer || '';
        } catch (e) {
            live('The node does not answer; trying again.');
            timer = setTimeout(poll, POLL_MS);
            return;
        }
        if (r.status === 401) {
            askKey(key ? 'The node refused this key (401). Enter a valid API key.' : 'This node asks for an API key.');
            return;
        }
        if (!r.ok) {
            live(`/mesh/status answered ${r.status}; trying again.`);
            timer = setTimeout(poll, POLL_MS);
            return;
        }
        try {
            status = await r.json();
        } catch (e) {
            live('/mesh/status answered something that is not JSON; trying again.');
            timer = setTimeout(poll, POLL_MS);
            return;
        }
        fetchedAt = Date.now();
        const self = (status.nodes || []).find((n) => n.self);
        if (!chosen && self) show(self.tabs && self.tabs.count ? 'mesh' : 'setup', false);
        draw();
        live('Updated ' + new Date(fetchedAt).toLocaleTimeString() + '.');
        timer = setTimeout(poll, POLL_MS);
    }

    function start() {
        if (started) return;
        started = true;
        for (const b of document.querySelectorAll('nav button[data-view]')) {
            if (!extra.has(b.dataset.view)) b.addEventListener('click', () => show(b.dataset.view, true));
        }
        setInterval(() => {
            if (waitingKey) return;
            draw();
            const v = extra.get(body.dataset.view);
            if (v && v.tick) v.tick();
        }, 1000);
        show(body.dataset.tabs === '0' ? 'setup' : 'mesh', false);
        if (body.dataset.keys === '1' && !sessionStorage.getItem(KEY)) askKey('This node asks for an API key.');
        else poll();
    }

    $('keyform').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const key = $('key').value.trim();
        if (!key) return;
        sessionStorage.setItem(KEY, key);
        $('key').value = '';
        $('keyform').hidden = true;
        waitingKey = false;
        live('Checking the key…');
        poll();
    });

    return {
        el,
        duration,
        left,
        api,
        errorText,
        view,
        start,
        show: (name) => show(name, true),
        status: () => status,
        viewer: () => viewer,
        live,
    };
})();
