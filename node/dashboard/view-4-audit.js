// The audit view (issue #12, item 5): this node's audit log (GET
// /admin/audit?since=&limit=, docs/operations.md#audit-log), newest first,
// with filters: the kind (of the kinds present), a since date and time, and a
// text filter over actor, subject and detail. Read again every 2 s while
// shown (only the rows from the newest one on). The admin key only; it says
// so to a user key. `arena-mesh audit` gathers every node's log.
'use strict';
(() => {
    const {el} = AM;
    const REFRESH_MS = 2000;
    const LIMIT = 1000; // rows per request (the node's bound)
    const KEEP = 5000;  // rows kept in the page at most (the newest)
    const $ = (id) => document.getElementById(id);
    let rows = new Map(); // id → entry
    let newest = null;    // at_ms of the newest row held
    let base = '';        // the since the rows were loaded from ('' the newest rows)
    let startedAt = 0;    // Date.now() when the last read began (0: read now); ticks come every second
    let loading = false;
    let again = false;
    let shownFor = null;
    let drawn = ''; // what the table was drawn from (to skip drawing it again)

    function field(id, label, control, hint) {
        const kids = [
            el('label',
               {for: id
               },
               label),
            control
        ];
        if (hint) kids.push(el('span', {class: 'sub', id: id + '-hint'}, hint));
        return el('div', {class: 'field'}, ...kids);
    }

    function build(section) {
        const kind = el('select', {id: 'audit-kind'}, el('option', {value: ''}, 'All kinds'));
        const since =
            el('input', {id: 'audit-since', type: 'datetime-local', step: '1', 'aria-describedby': 'audit-since-hint'});
        const text =
            el('input', {id: 'audit-text', type: 'search', autocomplete: 'off', 'aria-describedby': 'audit-text-hint'});
        kind.addEventListener('change', draw);
        text.addEventListener('input', draw);
        since.addEventListener('change', () => {
            rows = new Map();
            newest = null;
            drawn = '';
            load();
        });
        const reset = el('button', {type: 'button', id: 'audit-reset'}, 'Clear the filters');
        reset.addEventListener('click', () => {
            kind.value = '';
            text.value = '';
            if (since.value) {
                since.value = '';
                since.dispatchEvent(new Event('change'));
            } else {
                draw();
            }
        });
        section.append(
            el('p', {id: 'audit-need', class: 'note', hidden: ''}),
            el('div', {id: 'audit-admin', hidden: ''},
               el('p', {class: 'note'}, 'This is ', el('strong', null, 'this node\'s'),
                  ' audit log: key and tier changes made through it, failed authentications, peers joining and ',
                  'leaving, cooldowns. Each node keeps its own; ', el('code', null, 'arena-mesh audit'),
                  ' gathers the whole mesh\'s.'),
               el('form',
                  {class: 'controls', id: 'audit-filters', role: 'search', 'aria-label': 'Filter the audit log'},
                  field('audit-kind', 'Kind', kind), field('audit-since', 'Since', since, 'This browser\'s time.'),
                  field('audit-text', 'Actor, subject or detail', text, 'Shows the rows that contain it.'), reset),
               el('p', {id: 'audit-summary'}), el('p', {id: 'audit-msg', class: 'error', role: 'alert'}),
               el('div', {class: 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'audit-caption'},
                  el('table', {id: 'audit-table'}))));
        $('audit-filters').addEventListener('submit', (ev) => ev.preventDefault());
    }

    const sinceMs = () => {
        const v = $('audit-since').value;
        const t = v ? new Date(v).getTime() : NaN;
        return Number.isFinite(t) ? t : null;
    };

    function shown() {
        const kind = $('audit-kind').value;
        const text = $('audit-text').value.trim().toLowerCase();
        const since = sinceMs();
        return [...rows.values()]
            .filter(
                (e) => (!kind || e.kind === kind) && (since === null || e.at_ms >= since) &&
                    (!text || [e.actor, e.subject, e.detail].some((f) => String(f ?? '').toLowerCase().includes(text))))
            .sort((a, b) => b.at_ms - a.at_ms || b.id - a.id);
    }

    function drawKinds() {
        const sel = $('audit-kind');
        const was = sel.value;
        const kinds = [...new Set([...rows.values()].map((e) => String(e.kind)))];
        if (was && !kinds.includes(was)) kinds.push(was);
        kinds.sort();
        if ([...sel.options].map((o) => o.value).join('\n') === ['', ...kinds].join('\n')) return;
        sel.replaceChildren(el('option', {value: ''}, 'All kinds'), ...kinds.map((k) => el('option', {value: k}, k)));
        sel.value = was;
    }

    function draw() {
        drawKinds();
        const list = shown();
        const key = [
            list.length, list.length ? list[0].id : '', $('audit-kind').value, $('audit-text').value,
            $('audit-since').value, rows.size
        ].join('|');
        if (key === drawn) return;
        drawn = key;
        const cap = `${list.length} of ${rows.size} row${rows.size === 1 ? '' : 's'} read, newest first.`;
        $('audit-summary').textContent = list.length ?
            `${list.length} row${list.length === 1 ? '' : 's'} shown; the newest: ${list[0].kind} ` +
                `${list[0].subject ? list[0].subject + ' ' : ''}at ${new Date(list[0].at_ms).toLocaleString()}.` :
            'No row matches.';
        $('audit-table')
            .replaceChildren(
                el('caption', {id: 'audit-caption', class: 'note'}, cap),
                el('thead', null,
                   el('tr', null,
                      ...['Time', 'Kind', 'Actor', 'Origin', 'Subject', 'Detail'].map(
                          (h) => el('th', {scope: 'col'}, h)))),
                el('tbody', null,
                   ...list.slice(0, 500).map(
                       (e) =>
                           el('tr', {'data-kind': String(e.kind), 'data-id': String(e.id)},
                              el('td', {class: 'nowrap'}, new Date(e.at_ms).toLocaleString()),
                              el('td', null, String(e.kind)), el('td', null, String(e.actor ?? '')),
                              el('td', null, String(e.origin ?? '')), el('td', null, String(e.subject ?? '')),
                              el('td', null, String(e.detail ?? ''))))));
        if (list.length > 500)
            $('audit-caption').append(' The first 500 are shown: narrow the filters for the others.');
    }

    async function load() {
        if (loading) {
            again = true; // a read asked for meanwhile (a change made, a filter): once this one ends
            return;
        }
        loading = true;
        again = false;
        startedAt = Date.now();
        const since = sinceMs();
        const from = since === null ? '' : String(Math.max(0, Math.floor(since)));
        // the rows from the newest held on (the same ms may hold more), else the
        // newest rows, or the first ones from the since chosen
        const q = newest !== null && base === from ? `since=${newest}&limit=${LIMIT}` :
            from ? `since=${from}&limit=${LIMIT}` :
                   `limit=${LIMIT}`;
        try {
            const r = await AM.api('/admin/audit?' + q);
            if (!r.ok) {
                $('audit-msg').textContent = 'The audit log could not be read: ' + AM.errorText(r) + '.';
                return;
            }
            $('audit-msg').textContent = '';
            if (base !== from) {
                rows = new Map();
                newest = null;
                base = from;
            }
            for (const e of (r.json && r.json.entries) || []) {
                rows.set(e.id, e);
                if (newest === null || e.at_ms > newest) newest = e.at_ms;
            }
            if (rows.size > KEEP) {
                const keep = [...rows.values()].sort((a, b) => b.at_ms - a.at_ms || b.id - a.id).slice(0, KEEP);
                rows = new Map(keep.map((e) => [e.id, e]));
            }
            draw();
        } catch (e) {
            $('audit-msg').textContent = 'The node does not answer; trying again.';
        } finally {
            loading = false;
            if (again) load();
        }
    }

    function frame() {
        const who = AM.viewer();
        const admin = who === 'admin';
        $('audit-admin').hidden = !admin;
        $('audit-need').hidden = admin;
        if (who !== shownFor) {
            shownFor = who;
            rows = new Map();
            newest = null;
            drawn = '';
            $('audit-need').textContent = who === 'key' ?
                'The audit log needs the admin key (--admin-key): this is a user key.' :
                who === 'open' ? 'This node has no admin key (--admin-key): its audit log is read with one.' :
                                 'Checking the key…';
        }
        return admin;
    }

    AM.view({
        name: 'audit',
        title: 'Audit',
        build,
        show() {
            if (frame()) load();
        },
        tick() {
            if (frame() && Date.now() - startedAt >= REFRESH_MS - 500) load();
        },
    });
})();
