// The keys view (issue #12, item 4): with the admin key, every key of the
// mesh (GET /admin/keys) with its tier, state, expiry, models, creation, last
// use and this month's requests and cost (GET /v1/usage?range=month); a form
// that makes a key (POST /admin/keys; the key is shown once, with a copy
// button), and per key Revoke (DELETE /admin/keys/NAME, after a confirmation
// step on the page) and Change tier (POST /admin/keys/NAME/tier). With a
// user key it says that it needs the admin key. Everything from the node is
// put on the page as text.
'use strict';
(() => {
    const {el} = AM;
    const REFRESH_MS = 2000;
    const $ = (id) => document.getElementById(id);
    let keys = [];         // GET /admin/keys' data
    let tiers = [];        // GET /admin/tiers' data, without the config tier
    let usage = new Map(); // key name → its /v1/usage?range=month entry
    let pending = null;    // {name, kind: 'revoke' | 'tier'}: a row in an action step
    let startedAt = 0;     // Date.now() when the last read began (0: read now); ticks come every second
    let loading = false;
    let again = false;
    let shownFor = null; // the viewer the view was last drawn for

    const when = (ms) => (typeof ms === 'number' && ms > 0 ? new Date(ms).toLocaleString() : '–');
    // An expiry at local midnight (what the form makes) as the day it ends.
    function expiry(ms) {
        const d = new Date(ms);
        if (d.getHours() || d.getMinutes() || d.getSeconds() || d.getMilliseconds()) return when(ms);
        return 'end of ' + new Date(ms - 1).toLocaleDateString();
    }
    const ago = (ms) => (typeof ms === 'number' ? AM.duration(Math.max(0, Date.now() - ms)) + ' ago' : '');
    const cost = (usd) => '$' + (typeof usd === 'number' ? usd : 0).toFixed(usd >= 100 ? 2 : 4);
    const stateOf = (k) => (k.revoked ? 'revoked' : k.active ? 'active' : 'expired');
    const tableKey = (k) => k.created_by !== 'config';

    function say(text, isError) {
        const m = $('keys-msg');
        m.textContent = text;
        m.className = isError ? 'error' : 'note';
    }

    function build(section) {
        section.append(
            el('p', {id: 'keys-need-admin', class: 'note', hidden: ''}),
            el('div', {id: 'keys-admin', hidden: ''},
               el('p', {class: 'note'},
                  'The keys of the whole mesh: a change made here holds on every node within seconds. ',
                  'Requests and cost are this month\'s (the last 30 days), from every node.'),
               el('p', {id: 'keys-msg', role: 'status', 'aria-live': 'polite'}), newKeyPanel(), createForm(),
               el('div', {
                   id: 'keys-region',
                   class: 'scroll',
                   tabindex: '0',
                   role: 'region',
                   'aria-labelledby': 'keys-caption'
               },
                  el('table', {id: 'keys-table', role: 'table'}))));
    }

    /*  The key just made: shown once, until Done. */
    function newKeyPanel() {
        const input = el('input', {
            id: 'keys-new-value',
            type: 'text',
            readonly: '',
            spellcheck: 'false',
            autocomplete: 'off',
            'aria-describedby': 'keys-new-note'
        });
        const copy = el('button', {type: 'button', id: 'keys-copy'}, 'Copy');
        const done = el('button', {type: 'button', id: 'keys-new-done'}, 'Done');
        copy.addEventListener('click', () => copyKey(input));
        done.addEventListener('click', () => {
            input.value = '';
            $('keys-new').hidden = true;
            $('kc-name').focus();
        });
        return el(
            'div', {id: 'keys-new', class: 'keys-new', role: 'group', 'aria-labelledby': 'keys-new-title', hidden: ''},
            el('h3', {id: 'keys-new-title'}, 'New key'),
            el('label',
               {for: 'keys-new-value'
               },
               'The key'),
            el('div', {class: 'keys-copyline'}, input, copy),
            el('p', {id: 'keys-new-note', class: 'warn'},
               'Copy it now: it will not be shown again (the node keeps only a hash of it).'),
            el('p', {id: 'keys-copied', role: 'status', 'aria-live': 'polite'}), done);
    }

    async function copyKey(input) {
        const note = $('keys-copied');
        try {
            if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
            await navigator.clipboard.writeText(input.value);
            note.textContent = 'Copied to the clipboard.';
        } catch (e) {
            // No clipboard (an http page on another host, or no permission):
            // the text selected, for the person to copy.
            input.focus();
            input.select();
            note.textContent =
                'The browser did not let the page copy: the key is selected, press Ctrl+C (⌘C) to copy it.';
        }
    }

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

    function createForm() {
        const form =
            el('form', {id: 'keys-create', class: 'panel', 'aria-labelledby': 'keys-create-title'},
               el('h3', {id: 'keys-create-title'}, 'Create a key'),
               el('div', {class: 'controls'},
                  field(
                      'kc-name', 'Name', el('input', {
                          id: 'kc-name',
                          name: 'name',
                          required: '',
                          maxlength: '64',
                          pattern: '[A-Za-z0-9._\\-]{1,64}',
                          autocomplete: 'off',
                          'aria-describedby': 'kc-name-hint'
                      }),
                      '1–64 of A–Z a–z 0–9 . _ -'),
                  field('kc-tier', 'Tier', el('select', {id: 'kc-tier', name: 'tier', required: ''})),
                  field(
                      'kc-expires', 'Expires (optional)',
                      el('input',
                         {id: 'kc-expires', name: 'expires', type: 'date', 'aria-describedby': 'kc-expires-hint'}),
                      'It stops working when that day ends (your time).'),
                  field(
                      'kc-models', 'Models (optional)',
                      el('input',
                         {id: 'kc-models', name: 'models', autocomplete: 'off', 'aria-describedby': 'kc-models-hint'}),
                      'Names, separated by commas or spaces; empty: any.')),
               el('button', {type: 'submit'}, 'Create key'));
        form.addEventListener('submit', (ev) => {
            ev.preventDefault();
            create(form);
        });
        return form;
    }

    async function create(form) {
        const name = $('kc-name').value.trim();
        const body = {name, tier: $('kc-tier').value};
        const day = $('kc-expires').value; // YYYY-MM-DD
        if (day) {
            const [y, m, d] = day.split('-').map(Number);
            body.expires = new Date(y, m - 1, d + 1).getTime(); // the end of that day, here
        }
        const models = $('kc-models').value.split(/[\s,]+/).filter((x) => x);
        if (models.length) body.models = models;
        const button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        let res;
        try {
            res = await AM.api('/admin/keys', {method: 'POST', body});
        } catch (e) {
            res = null;
        } finally {
            button.disabled = false;
        }
        if (!res || res.status !== 201 || !res.json || typeof res.json.key !== 'string') {
            say('The key was not made: ' + (res ? AM.errorText(res) : 'the node does not answer') + '.', true);
            return;
        }
        form.reset();
        say(`Key ${res.json.name} made (tier ${res.json.tier}).`, false);
        $('keys-new-title').textContent = `New key “${res.json.name}”`;
        $('keys-new-value').value = res.json.key;
        $('keys-copied').textContent = '';
        $('keys-new').hidden = false;
        $('keys-new-value').focus();
        $('keys-new-value').select();
        await load();
    }

    async function revoke(name) {
        let res;
        try {
            res = await AM.api('/admin/keys/' + encodeURIComponent(name), {method: 'DELETE'});
        } catch (e) {
            res = null;
        }
        pending = null;
        if (res && res.ok) say(`Key ${name} revoked: it is refused on every node from now on.`, false);
        else say(`Key ${name} was not revoked: ` + (res ? AM.errorText(res) : 'the node does not answer') + '.', true);
        await load();
        focusRow(name, 'revoke');
    }

    async function retier(name, tier) {
        let res;
        try {
            res = await AM.api('/admin/keys/' + encodeURIComponent(name) + '/tier', {method: 'POST', body: {tier}});
        } catch (e) {
            res = null;
        }
        pending = null;
        if (res && res.ok) say(`Key ${name} is now in tier ${res.json.tier}.`, false);
        else
            say(`The tier of ${name} was not changed: ` + (res ? AM.errorText(res) : 'the node does not answer') + '.',
                true);
        await load();
        focusRow(name, 'tier');
    }

    function focusRow(name, what) {
        const b = $(`keys-${what}-${name}`) || $('keys-region');
        if (b) b.focus();
    }

    function tierText(t) {
        const lim = [];
        if (t.per_minute) lim.push(t.per_minute + '/min');
        if (t.per_hour) lim.push(t.per_hour + '/h');
        if (t.per_day) lim.push(t.per_day + '/day');
        return t.name + (lim.length ? ' (' + lim.join(', ') + ')' : ' (no limit)');
    }

    function drawTiers() {
        const sel = $('kc-tier');
        const was = sel.value;
        sel.replaceChildren(...tiers.map((t) => el('option', {value: t.name}, tierText(t))));
        if (tiers.some((t) => t.name === was)) sel.value = was;
    }

    /*  The actions cell of a table key: buttons, or the step one of them opened. */
    function actions(k) {
        const td = el('td', {class: 'keys-actions'});
        const name = k.name;
        if (!tableKey(k)) {
            td.append(el('span', {class: 'sub'}, 'set with --api-key'));
            return td;
        }
        if (k.revoked) return td;
        if (pending && pending.name === name && pending.kind === 'revoke') {
            const yes = el('button', {type: 'button', class: 'danger', id: `keys-confirm-${name}`}, `Revoke ${name}`);
            const no = el('button', {type: 'button', id: `keys-cancel-${name}`}, 'Cancel');
            yes.addEventListener('click', () => revoke(name));
            no.addEventListener('click', () => cancel(name, 'revoke'));
            const box =
                el('div', {role: 'group', 'aria-labelledby': `keys-ask-${name}`, class: 'keys-confirm'},
                   el('p', {id: `keys-ask-${name}`},
                      `Revoke ${name}? It is refused at once, on every node; this cannot be undone.`),
                   yes, no);
            box.addEventListener('keydown', (ev) => {
                if (ev.key === 'Escape') cancel(name, 'revoke');
            });
            td.append(box);
            return td;
        }
        if (pending && pending.name === name && pending.kind === 'tier') {
            const sel =
                el('select', {id: `keys-newtier-${name}`},
                   ...tiers.map((t) => el('option', {value: t.name}, tierText(t))));
            sel.value = k.tier;
            const save = el('button', {type: 'button', id: `keys-save-${name}`}, 'Save');
            const no = el('button', {type: 'button', id: `keys-cancel-${name}`}, 'Cancel');
            save.addEventListener('click', () => retier(name, sel.value));
            no.addEventListener('click', () => cancel(name, 'tier'));
            const box = el('div', {role: 'group', class: 'keys-confirm'}, el('label', {for: `keys-newtier-${name}`
                           }, `New tier for ${name}`), sel, save, no);
            box.addEventListener('keydown', (ev) => {
                if (ev.key === 'Escape') cancel(name, 'tier');
            });
            td.append(box);
            return td;
        }
        const tierB = el(
            'button', {type: 'button', id: `keys-tier-${name}`, 'aria-label': `Change tier of ${name}`}, 'Change tier');
        const revB =
            el('button', {type: 'button', id: `keys-revoke-${name}`, class: 'danger', 'aria-label': `Revoke ${name}`},
               'Revoke');
        tierB.addEventListener('click', () => open(name, 'tier', `keys-newtier-${name}`));
        revB.addEventListener('click', () => open(name, 'revoke', `keys-cancel-${name}`));
        td.append(tierB, revB);
        return td;
    }

    // An action step opened on a row; the focus goes into it (for a revoke,
    // to Cancel: Enter pressed twice revokes nothing).
    function open(name, kind, focusId) {
        pending = {name, kind};
        draw();
        const f = $(focusId);
        if (f) f.focus();
    }

    function cancel(name, kind) {
        pending = null;
        draw();
        focusRow(name, kind);
    }

    const COLS = ['Name', 'Tier', 'State', 'Expires', 'Models', 'Created', 'Last use', 'Requests', 'Cost', 'Actions'];

    /*  A cell of the keys table: explicit roles, so the table stays one for
        assistive technology when a phone's style lays each row out as a card;
        data-label names its column there. */
    const cell = (i, attrs, ...kids) => el('td', {role: 'cell', 'data-label': COLS[i], ...attrs}, ...kids);

    function row(k) {
        const u = usage.get(k.name);
        const st = stateOf(k);
        const last = u && typeof u.last_ms === 'number' ?
            el('span', null, when(u.last_ms), el('span', {class: 'sub'}, ago(u.last_ms))) :
            'none this month';
        const t = u ? u.totals || {} : {};
        const act = actions(k);
        act.setAttribute('role', 'cell');
        act.dataset.label = COLS[9];
        return el(
            'tr', {role: 'row', 'data-key': k.name, 'data-state': st},
            el('th', {scope: 'row', role: 'rowheader'}, String(k.name)), cell(1, null, String(k.tier)),
            cell(2, null, el('span', {class: 'badge ' + st}, st)),
            cell(3, null, k.expires ? expiry(k.expires) : 'never'),
            cell(4, null, Array.isArray(k.models) ? k.models.join(', ') : 'any'), cell(5, null, when(k.created_ms)),
            cell(6, {class: 'keys-last'}, last), cell(7, {class: 'num'}, String(t.requests ?? 0)),
            cell(8, {class: 'num'}, cost(t.cost_usd)), act);
    }

    function draw() {
        const table = $('keys-table');
        // the focus stays where it was when the rows are drawn again
        const focused =
            document.activeElement && table.contains(document.activeElement) ? document.activeElement.id : '';
        const head = el(
            'tr', null,
            ...['Name', 'Tier', 'State', 'Expires', 'Models', 'Created', 'Last use', 'Requests', 'Cost', 'Actions'].map(
                (h) => el('th', {scope: 'col'}, h)));
        const live = keys.filter((k) => !k.revoked).length;
        table.replaceChildren(
            el('caption', {id: 'keys-caption', class: 'note'},
               `${keys.length} key${keys.length === 1 ? '' : 's'}, ${live} not revoked.`),
            el('thead', {role: 'rowgroup'}, head), el('tbody', {role: 'rowgroup'}, ...keys.map(row)));
        if (focused && $(focused)) $(focused).focus();
    }

    async function load() {
        if (loading) {
            again = true; // a read asked for meanwhile (a change made, a filter): once this one ends
            return;
        }
        loading = true;
        again = false;
        startedAt = Date.now();
        try {
            const [k, t, u] = await Promise.all(
                [AM.api('/admin/keys'), tiers.length ? null : AM.api('/admin/tiers'), AM.api('/v1/usage?range=month')]);
            if (!k.ok) {
                say('The keys could not be read: ' + AM.errorText(k) + '.', true);
                return;
            }
            keys = Array.isArray(k.json && k.json.data) ? k.json.data : [];
            if (t && t.ok) {
                tiers = (t.json.data || []).filter((x) => x.name !== 'config' && !x.builtin);
                drawTiers();
            } else if (t) {
                say('The tiers could not be read: ' + AM.errorText(t) + '.', true);
            }
            usage = new Map();
            if (u.ok) {
                for (const e of (u.json && u.json.keys) || []) usage.set(e.key, e);
            }
            if (pending && !keys.some((x) => x.name === pending.name && !x.revoked)) pending = null;
            draw();
        } catch (e) {
            say('The node does not answer; trying again.', true);
        } finally {
            loading = false;
            if (again) load();
        }
    }

    // What the view shows for who the key is.
    function frame() {
        const who = AM.viewer();
        const admin = who === 'admin';
        $('keys-admin').hidden = !admin;
        const need = $('keys-need-admin');
        need.hidden = admin;
        if (who !== shownFor) {
            shownFor = who;
            if (who === 'key') {
                need.textContent = 'Managing keys needs the admin key (--admin-key): this is a user key. ' +
                    'Its own usage and remaining limits are in the Usage view.';
                need.append(' ', usageButton());
            } else if (who === 'open') {
                need.textContent = 'This node has no admin key (--admin-key): keys are made and revoked with one.';
            } else if (!admin) {
                need.textContent = 'Checking the key…';
            } else {
                tiers = [];
                startedAt = 0;
            }
        }
        return admin;
    }

    function usageButton() {
        const b = el('button', {type: 'button', class: 'linkish'}, 'Open the Usage view');
        b.addEventListener('click', () => AM.show('usage'));
        return b;
    }

    AM.view({
        name: 'keys',
        title: 'Keys',
        build,
        show() {
            if (frame()) load();
        },
        hide() {
            pending = null;
        },
        tick() {
            if (frame() && Date.now() - startedAt >= REFRESH_MS - 500 && !pending) load();
        },
    });
})();
