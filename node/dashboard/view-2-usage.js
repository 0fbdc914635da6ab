// The usage view (issue #12, item 4): GET /v1/usage?range=…&details=true
// (docs/usage.md) as charts (Chart.js, served by the node at
// /assets/chart.js) and tables, read again every second while shown. With
// the admin key (or on a node without keys) every key's usage, with a key
// selector; with a user key its own usage and what is left of its limits.
// A range selector (the last day by hour, week or month by UTC day) and a
// measure selector (requests, tokens, cost); a text summary of the totals.
'use strict';
(() => {
    const {el} = AM;
    const REFRESH_MS = 1000; // a request shows within about this (plus the mesh's second for a peer's)
    const HOUR = 3600000;
    const DAY = 86400000;
    const TOP_KEYS = 8;    // datasets in the chart over time; the rest summed as "other keys"
    const TOP_MODELS = 12; // series in the chart per model (the rest as one)
    const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#56b4e9', '#e69f00', '#999933', '#332288', '#888888'];
    const MEASURES = {
        requests: {label: 'Requests', of: (s) => s.requests || 0},
        tokens: {label: 'Tokens', of: (s) => s.total_tokens || 0},
        cost: {label: 'Cost (US$)', of: (s) => s.cost_usd || 0},
    };
    const RANGES = {
        day: 'the last day, by hour',
        week: 'the last week, by day (UTC)',
        month: 'the last 30 days, by day (UTC)',
    };
    const $ = (id) => document.getElementById(id);
    let doc = null;    // the last answer
    let startedAt = 0; // Date.now() when the last read began (0: read now); ticks come every second
    let loading = false;
    let again = false;
    let shownFor = null;
    let charts = {time: null, models: null};
    let chartLib = null; // the promise of window.Chart

    const num = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '0');
    const cost = (usd) => '$' + (typeof usd === 'number' ? usd.toFixed(usd >= 100 ? 2 : 4) : '0');
    const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many || one + 's'}`;
    const fullAccess = () => AM.viewer() === 'admin' || AM.viewer() === 'open';

    /*  Chart.js, loaded once for the whole page (another view may have added
        the same script already). */
    function chartJs() {
        if (window.Chart) return Promise.resolve(window.Chart);
        if (!chartLib) {
            chartLib = new Promise((resolve, reject) => {
                let s = document.querySelector('script[src="/assets/chart.js"]');
                if (!s) {
                    s = el('script', {src: '/assets/chart.js'});
                    document.head.append(s);
                }
                s.addEventListener('load', () => resolve(window.Chart));
                s.addEventListener('error', () => {
                    chartLib = null;
                    reject(new Error('/assets/chart.js did not load'));
                });
            });
        }
        return chartLib;
    }

    function select(id, label, options) {
        const s = el('select', {id}, ...options.map(([v, t]) => el('option', {value: v}, t)));
        s.addEventListener('change', () => {
            if (id === 'usage-range') load();
            else draw();
        });
        return el('div', {class: 'field'}, el('label', {for: id
                  }, label), s);
    }

    function build(section) {
        const keyField = select('usage-key', 'Key', [['', 'All keys']]);
        keyField.id = 'usage-key-field';
        section.append(
            el('p', {id: 'usage-who', class: 'note'}),
            el('div', {class: 'controls'},
               select('usage-range', 'Range', [['day', 'Last day'], ['week', 'Last week'], ['month', 'Last 30 days']]),
               keyField,
               select('usage-measure', 'Measure', [['requests', 'Requests'], ['tokens', 'Tokens'], ['cost', 'Cost']])),
            el('p', {id: 'usage-summary'}), el('p', {id: 'usage-msg', class: 'error', role: 'alert'}),
            el('div', {id: 'usage-limits', hidden: ''}, el('h3', {id: 'usage-limits-h'}, 'Remaining limits'),
               el('div', {class: 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'usage-limits-h'},
                  el('table', {id: 'usage-limits-table'}))),
            el('div', {class: 'charts'},
               el('figure', null, el('figcaption', {id: 'usage-time-cap'}),
                  el('div', {class: 'chartbox'},
                     el('canvas',
                        {id: 'usage-time', role: 'img', 'aria-labelledby': 'usage-time-cap usage-time-text'})),
                  el('p', {id: 'usage-time-text', class: 'sr-only'})),
               el('figure', null, el('figcaption', {id: 'usage-models-cap'}),
                  el('div', {class: 'chartbox'},
                     el('canvas',
                        {id: 'usage-models', role: 'img', 'aria-labelledby': 'usage-models-cap usage-models-text'})),
                  el('p', {id: 'usage-models-text', class: 'sr-only'}))),
            el('h3', {id: 'usage-keys-h'}, 'By key'),
            el('div', {class: 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'usage-keys-h'},
               el('table', {id: 'usage-keys'})),
            el('h3', {id: 'usage-models-h'}, 'By model'),
            el('div', {class: 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'usage-models-h'},
               el('table', {id: 'usage-models-table'})),
            el('p', {class: 'note'},
               'Every node\'s requests are counted once, on the node they entered; another node\'s show here about a ',
               'second after they end. Costs are from the nodes\' price tables (--price; 0 when none is set).'));
    }

    /*  The keys the view shows: all, or the one chosen. */
    function chosenKeys() {
        const keys = (doc && doc.keys) || [];
        const k = $('usage-key').value;
        return k && fullAccess() ? keys.filter((x) => x.key === k) : keys;
    }

    /*  Every bucket start of the answer's range (the answer lists only the
        buckets with usage). */
    function bucketStarts() {
        const size = doc.bucket === 'hour' ? HOUR : DAY;
        const out = [];
        for (let t = Math.floor(doc.from_ms / size) * size; t <= doc.to_ms; t += size) out.push(t);
        return out;
    }

    function bucketLabel(t) {
        const d = new Date(t);
        if (doc.bucket === 'hour') return d.toLocaleTimeString([], {hour: 'numeric'});
        return d.toISOString().slice(5, 10); // a UTC day: MM-DD
    }

    function sums(list) {
        const s = {requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0};
        for (const x of list) {
            for (const f of Object.keys(s)) s[f] += x[f] || 0;
        }
        return s;
    }

    function byModel(keys) {
        const m = new Map();
        for (const k of keys) {
            for (const x of k.models || []) {
                const name = x.model === '' ? '(no model)' : String(x.model);
                if (!m.has(name)) m.set(name, []);
                m.get(name).push(x);
            }
        }
        // each model's hours or days, over the keys shown
        return [...m].map(([model, list]) => ({model, ...sums(list), buckets: list.flatMap((x) => x.buckets || [])}));
    }

    function summary(keys, models) {
        const t = sums(keys.map((k) => k.totals || {}));
        const who = fullAccess() ? ($('usage-key').value ? `Key ${$('usage-key').value}` : 'All keys') :
                                                           `Your key ${keys[0] ? keys[0].key : ''                        }`;
        const last = Math.max(0, ...keys.map((k) => (typeof k.last_ms === 'number' ? k.last_ms : 0)));
        return `${who}, ${RANGES[doc.range]}: ${plural(t.requests, 'request')} ` +
            `(${plural(t.errors, 'error')}), ${plural(t.total_tokens, 'token')} ` +
            `(${num(t.prompt_tokens)} prompt, ${num(t.completion_tokens)} completion), cost ${cost(t.cost_usd)}; ` +
            (fullAccess() ? `${plural(keys.filter((k) => (k.totals || {}).requests).length, 'key')} and ` : '') +
            `${plural(models.length, 'model')} with requests.` +
            (last ? ` Last request recorded ${new Date(last).toLocaleString()}.` : '');
    }

    function table(id, caption, cols, rows) {
        $(id).replaceChildren(
            el('caption', {class: 'note'}, caption),
            el('thead', null, el('tr', null, ...cols.map((c) => el('th', {scope: 'col'}, c)))),
            el('tbody', null,
               ...rows.map(
                   (r) =>
                       el('tr', {'data-row': r[0]}, el('th', {scope: 'row'}, r[0]),
                          ...r.slice(1).map((v) => el('td', {class: 'num'}, v))))));
    }

    const limit = (v) => (typeof v === 'number' ? num(v) : 'none');
    const remaining = (v) => (typeof v !== 'number' ? 'not known' : v < 0 ? 'no limit' : num(v));

    function drawLimits(keys) {
        const box = $('usage-limits');
        const k = keys[0];
        box.hidden = fullAccess() || !k;
        if (box.hidden) return;
        const l = k.limits;
        if (!l) {
            $('usage-limits-table').replaceChildren(el('caption', {class: 'note'}, 'This key has no tier: no limits.'));
            return;
        }
        const r = l.remaining || {};
        table(
            'usage-limits-table', `Tier ${l.tier}: what is left now, counted over every node.`,
            ['Window', 'Limit', 'Left now'], [
                ['Requests per minute', limit(l.requests_per_minute), remaining(r.requests_per_minute)],
                ['Requests per hour', limit(l.requests_per_hour), remaining(r.requests_per_hour)],
                ['Requests per day', limit(l.requests_per_day), remaining(r.requests_per_day)],
                ['Tokens per day', limit(l.tokens_per_day), remaining(r.tokens_per_day)],
                ['Requests at once', limit(l.concurrent), '–'],
            ]);
    }

    function drawKeySelect() {
        const sel = $('usage-key');
        $('usage-key-field').hidden = !fullAccess();
        const names = ((doc && doc.keys) || []).map((k) => String(k.key)).sort();
        const was = sel.value;
        if (was && !names.includes(was)) names.push(was);
        const have = [...sel.options].map((o) => o.value).join('\n');
        if (have === ['', ...names].join('\n')) return;
        sel.replaceChildren(el('option', {value: ''}, 'All keys'), ...names.map((n) => el('option', {value: n}, n)));
        sel.value = was;
    }

    /*  A stacked chart over the range: one series per item (a key, a model:
        name(item) labels it, item.buckets holds its hours or days), the
        `top` largest and the rest as one. */
    function timeData(items, name, measure, top, others) {
        const starts = bucketStarts();
        const at = new Map(starts.map((t, i) => [t, i]));
        const series = items.map((k) => {
            const data = starts.map(() => 0);
            for (const b of k.buckets || []) {
                if (at.has(b.start_ms)) data[at.get(b.start_ms)] += measure.of(b);
            }
            return {label: name(k), data, total: data.reduce((a, b) => a + b, 0)};
        });
        series.sort((a, b) => b.total - a.total);
        const shown = series.slice(0, top);
        const rest = series.slice(top);
        if (rest.length) {
            shown.push({
                label: `${rest.length} other ${others}`,
                data: starts.map((_, i) => rest.reduce((a, s) => a + s.data[i], 0)),
            });
        }
        return {
            labels: starts.map(bucketLabel),
            datasets: shown.map(
                (s, i) =>
                    ({label: s.label, data: s.data, backgroundColor: COLORS[i % COLORS.length], maxBarThickness: 40})),
        };
    }

    function chartText(data, measure) {
        const fmt = measure === MEASURES.cost ? cost : num;
        return data.datasets
                   .map((d) => {
                       const parts = data.labels.map((l, i) => [l, d.data[i]]).filter(([, v]) => v);
                       return `${d.label}: ` +
                           (parts.length ? parts.map(([l, v]) => `${l} ${fmt(v)}`).join(', ') : 'none');
                   })
                   .join('; ') ||
            'No data.';
    }

    async function drawCharts(time, models, measure) {
        let Chart;
        try {
            Chart = await chartJs();
        } catch (e) {
            $('usage-msg').textContent = 'The charts could not be drawn: ' + e.message + '.';
            return;
        }
        if ($('view-usage').hidden) return; // drawn when shown again (a hidden canvas has no size)
        // whole numbers on the value axis but for the cost
        const ticks = measure === MEASURES.cost ? {} : {precision: 0};
        const options = (data) => ({
            animation: false,
            responsive: true,
            maintainAspectRatio: false,
            plugins: {legend: {display: data.datasets.length > 1, position: 'bottom'}},
            scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks}},
        });
        for (const [name, data] of [['time', time], ['models', models]]) {
            const c = charts[name];
            if (c) {
                c.data = data;
                c.options = options(data);
                c.update('none');
            } else {
                charts[name] = new Chart($('usage-' + name), {type: 'bar', data, options: options(data)});
            }
        }
    }

    function draw() {
        if (!doc) return;
        drawKeySelect();
        const keys = chosenKeys();
        const models = byModel(keys);
        const measure = MEASURES[$('usage-measure').value] || MEASURES.requests;
        $('usage-summary').textContent = summary(keys, models);
        const unit = doc.bucket === 'hour' ? 'hour' : 'day';
        $('usage-time-cap').textContent = `${measure.label} by ${unit}` + (fullAccess() ? ', per key' : '');
        $('usage-models-cap').textContent = `${measure.label} by ${unit}, per model`;
        const time = timeData(keys, (k) => String(k.key), measure, TOP_KEYS, 'keys');
        const mod = timeData(models, (m) => m.model, measure, TOP_MODELS, 'models');
        $('usage-time-text').textContent = chartText(time, measure);
        $('usage-models-text').textContent = chartText(mod, measure);
        drawLimits(keys);
        table(
            'usage-keys', fullAccess() ? 'Every key with usage in the range.' : 'This key.',
            ['Key', 'Tier', 'Requests', 'Errors', 'Tokens', 'Cost', 'Last request'], keys.map((k) => {
                const t = k.totals || {};
                return [
                    String(k.key), String(k.tier ?? '–'), num(t.requests), num(t.errors), num(t.total_tokens),
                    cost(t.cost_usd), typeof k.last_ms === 'number' ? new Date(k.last_ms).toLocaleString() : 'none'
                ];
            }));
        table(
            'usage-models-table', 'Every model asked for in the range.',
            ['Model', 'Requests', 'Errors', 'Tokens', 'Cost'],
            models.map((m) => [m.model, num(m.requests), num(m.errors), num(m.total_tokens), cost(m.cost_usd)]));
        drawCharts(time, mod, measure);
    }

    async function load() {
        if (loading) {
            again = true; // a read asked for meanwhile (a change made, a filter): once this one ends
            return;
        }
        loading = true;
        again = false;
        startedAt = Date.now();
        const range = $('usage-range').value;
        try {
            const r = await AM.api(`/v1/usage?range=${encodeURIComponent(range)}&details=true`);
            if (range !== $('usage-range').value) return; // the range changed meanwhile
            if (!r.ok) {
                $('usage-msg').textContent = 'The usage could not be read: ' + AM.errorText(r) + '.';
                return;
            }
            $('usage-msg').textContent = '';
            doc = r.json;
            draw();
        } catch (e) {
            $('usage-msg').textContent = 'The node does not answer; trying again.';
        } finally {
            loading = false;
            if (again) load();
        }
    }

    function frame() {
        const who = AM.viewer();
        if (who === shownFor) return !!who;
        shownFor = who;
        doc = null;
        $('usage-key').value = '';
        $('usage-who').textContent = who === 'admin' ? 'Every key\'s usage, mesh-wide (the admin key).' :
            who === 'open' ? 'Every request\'s usage, mesh-wide (this node has no keys: the key is "-").' :
            who === 'key'  ? 'The usage of your key, mesh-wide, and what is left of its limits.' :
                             'Checking the key…';
        return !!who;
    }

    AM.view({
        name: 'usage',
        title: 'Usage',
        build,
        show() {
            if (frame()) load();
            for (const c of Object.values(charts)) {
                if (c) c.resize();
            }
        },
        tick() {
            if (frame() && Date.now() - startedAt >= REFRESH_MS - 500) load();
        },
    });
})();
