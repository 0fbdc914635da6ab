// The traffic view (issue #12, item 3): this node's last hour from GET
// /mesh/traffic (node/traffic.c) as three Chart.js charts — requests per
// second, time to first byte p50 and p99, errors by kind (stacked) — and a
// text summary of the last minute for screen readers and tests. The whole
// hour is read once; while the view is shown, every second only the buckets
// from the newest one on (?since=) are read and merged. Chart.js comes from
// the node itself (GET /assets/chart.js), loaded the first time the view opens.
'use strict';
(() => {
    const HOUR_MS = 3600000;
    const MINUTE_MS = 60000;
    const COLORS = ['#cf222e', '#9a6700', '#8250df', '#0550ae', '#1a7f37', '#bf3989', '#57606a', '#0a3069'];
    const el = AM.el;
    let buckets = [];  // oldest first, as the node sent them
    let doc = null;    // the last document (its last_minute, to_ms, bucket_ms)
    let charts = null; // {rate, ttfb, errors}
    let busy = false;  // a fetch is under way
    let lib = null;    // the promise of Chart.js loaded
    const kindColor = new Map();

    const $ = (id) => document.getElementById(id);

    // Chart.js, from this node, once.
    function loadChart() {
        if (window.Chart) return Promise.resolve();
        if (!lib) {
            lib = new Promise((resolve, reject) => {
                const s = el('script', {src: '/assets/chart.js'});
                s.addEventListener('load', () => resolve());
                s.addEventListener('error', () => {
                    lib = null;
                    reject(new Error('Chart.js did not load'));
                });
                document.head.append(s);
            });
        }
        return lib;
    }

    function ms(v) {
        if (typeof v !== 'number') return 'n/a';
        return v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
    }

    const clock = (t) => new Date(t).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false});
    const clockS = (t) => new Date(t).toLocaleTimeString([], {hour12: false});

    function colorOf(kind) {
        if (!kindColor.has(kind)) kindColor.set(kind, COLORS[kindColor.size % COLORS.length]);
        return kindColor.get(kind);
    }

    // One chart's figure: a caption, and a canvas with an accessible name.
    function figure(id, caption, label) {
        return el(
            'figure', {class: 'chart'}, el('figcaption', {id: id + '-cap'}, caption),
            el('div', {class: 'chart-box'},
               el('canvas', {id, role: 'img', 'aria-label': label, 'aria-describedby': 'traffic-summary'})));
    }

    function build(s) {
        s.append(
            el('p', {id: 'traffic-node', class: 'note'}, 'This node\u2019s traffic.'),
            el('p', {id: 'traffic-summary', class: 'summary'}, 'Loading\u2026'),
            el('p', {id: 'traffic-error', class: 'error', hidden: ''}),
            el('div', {class: 'charts'},
               figure(
                   'traffic-rate', 'Requests per second',
                   'Chart: requests per second ending at this node, last hour, in 10 second buckets'),
               figure(
                   'traffic-ttfb', 'Time to first byte, p50 and p99',
                   'Chart: time to first byte of answers, median and 99th percentile, last hour'),
               figure(
                   'traffic-errors', 'Errors by kind, per minute',
                   'Chart: errors by kind per minute, stacked, last hour')),
            el('p', {class: 'note'},
               'Requests that entered the mesh at this node (chat, Responses, images), whichever node ' +
                   'served them, counted when they end; an error is the code the client got, or ' +
                   'client_closed for a client that left first. The summary above covers the last minute.'));
    }

    // The x axis of every chart: the last hour, as clock time, a tick every
    // ten minutes.
    function xAxis(stacked) {
        return {
            type: 'linear',
            stacked,
            afterBuildTicks: (scale) => {
                const step = 600000;
                const ticks = [];
                for (let v = Math.ceil(scale.min / step) * step; v <= scale.max; v += step) ticks.push({value: v});
                scale.ticks = ticks;
            },
            ticks: {callback: (v) => clock(v), maxRotation: 0, autoSkipPadding: 8},
            grid: {display: false},
            offset: false,
        };
    }

    // A point is drawn at the middle of its span (a bucket, a minute); its
    // tooltip names the span.
    function spanTitle(x, span) {
        const half = (span || doc?.bucket_ms || 10000) / 2;
        return clockS(x - half) + '\u2013' + clockS(x + half);
    }

    function options(yTitle, stacked, span) {
        return {
            animation: false,
            responsive: true,
            maintainAspectRatio: false,
            parsing: false,
            normalized: true,
            interaction: {mode: 'nearest', axis: 'x', intersect: false},
            plugins: {
                legend: {display: true, position: 'bottom', labels: {boxWidth: 12}},
                tooltip: {callbacks: {title: (items) => (items.length ? spanTitle(items[0].parsed.x, span) : '')}},
            },
            scales: {
                x: xAxis(stacked),
                y: {
                    beginAtZero: true,
                    stacked,
                    title: {display: true, text: yTitle},
                    ticks: {precision: stacked ? 0 : 2}
                },
            },
        };
    }

    function makeCharts() {
        // a dot on a lone value (no line reaches it), none elsewhere
        const dot = (ctx) => {
            const d = ctx.dataset.data, i = ctx.dataIndex;
            return ctx.raw && ctx.raw.y && !(d[i - 1] && d[i - 1].y) && !(d[i + 1] && d[i + 1].y) ? 2.5 : 0;
        };
        const line = (label, color) =>
            ({label, data: [], borderColor: color, backgroundColor: color, pointRadius: dot, borderWidth: 2});
        const rate = options('req/s', false);
        rate.plugins.legend.display = false;
        const errors = options('errors', true, MINUTE_MS);
        errors.datasets = {bar: {maxBarThickness: 12, barPercentage: 1, categoryPercentage: 1}};
        charts = {
            rate: new Chart($('traffic-rate'), {
                type: 'line',
                data: {datasets: [{...line('requests/s', '#0550ae'), fill: true, backgroundColor: '#0550ae33'}]},
                options: rate,
            }),
            ttfb: new Chart($('traffic-ttfb'), {
                type: 'line',
                data: {datasets: [line('p50', '#1a7f37'), line('p99', '#9a6700')]},
                options: options('ms', false),
            }),
            errors: new Chart($('traffic-errors'), {type: 'bar', data: {datasets: []}, options: errors}),
        };
    }

    // New buckets from the node: those from the first of them on replace ours.
    function merge(d) {
        const fresh = Array.isArray(d.buckets) ? d.buckets : [];
        if (fresh.length) {
            const from = fresh[0].start_ms;
            buckets = buckets.filter((b) => b.start_ms < from).concat(fresh);
        }
        buckets = buckets.filter((b) => b.start_ms > d.to_ms - HOUR_MS);
        doc = d;
    }

    function drawCharts() {
        if (!charts || !doc) return;
        const bms = doc.bucket_ms || 10000;
        const per = bms / 1000, half = bms / 2;
        // the hour up to the end of the current (partial) bucket
        const max = buckets.length ? buckets[buckets.length - 1].start_ms + bms : doc.to_ms;
        const min = max - HOUR_MS;
        for (const c of [charts.rate, charts.ttfb]) {
            c.options.scales.x.min = min;
            c.options.scales.x.max = max;
        }
        // the errors' minutes: up to the end of the current one, so its bar shows whole
        const mmax = Math.ceil(max / MINUTE_MS) * MINUTE_MS;
        charts.errors.options.scales.x.min = mmax - HOUR_MS;
        charts.errors.options.scales.x.max = mmax;
        const at = (b, y) => ({x: b.start_ms + half, y});
        charts.rate.data.datasets[0].data = buckets.map((b) => at(b, b.requests / per));
        charts.ttfb.data.datasets[0].data = buckets.map((b) => at(b, b.ttfb_p50_ms));
        charts.ttfb.data.datasets[1].data = buckets.map((b) => at(b, b.ttfb_p99_ms));
        // errors by the minute: a bar a person can see (a 10 s bucket is under a pixel)
        const kinds = [...new Set(buckets.flatMap((b) => Object.keys(b.errors || {})))].sort();
        const minutes = new Map();
        for (const b of buckets) {
            const m = Math.floor(b.start_ms / MINUTE_MS) * MINUTE_MS;
            if (!minutes.has(m)) minutes.set(m, {});
            const sum = minutes.get(m);
            for (const [k, n] of Object.entries(b.errors || {})) sum[k] = (sum[k] || 0) + n;
        }
        charts.errors.data.datasets =
            kinds.map((k) => ({
                          label: k,
                          backgroundColor: colorOf(k),
                          data: [...minutes].map(([m, sum]) => ({x: m + MINUTE_MS / 2, y: sum[k] || 0})),
                      }));
        for (const c of Object.values(charts)) c.update('none');
    }

    function drawSummary() {
        const self = (AM.status()?.nodes || []).find((n) => n.self);
        const name = self ? String(self.name) : String(doc?.node ?? '');
        $('traffic-node').textContent =
            `This node\u2019s traffic: ${name} (the node this page came from), the last hour in 10 s buckets.`;
        if (!doc) return;
        const m = doc.last_minute || {};
        const n = m.requests ?? 0;
        const secs = Math.max(1, (m.window_ms || 0) / 1000);
        const errs = Object.entries(m.errors || {}).sort((a, b) => b[1] - a[1]);
        const nerr = errs.reduce((s, [, c]) => s + c, 0);
        const summary = $('traffic-summary');
        summary.dataset.requests = String(n);
        summary.dataset.errors = JSON.stringify(m.errors || {});
        summary.textContent = `Last minute: ${(n / secs).toFixed(2)} requests/s (${n} request${n === 1 ? '' : 's'}), ` +
            `time to first byte p50 ${ms(m.ttfb_p50_ms)}, p99 ${ms(m.ttfb_p99_ms)}, ` +
            (nerr ? `${nerr} error${nerr === 1 ? '' : 's'}: ${errs.map(([k, c]) => `${k} ${c}`).join(', ')}.` :
                    'no errors.');
    }

    async function refresh() {
        if (busy) return;
        busy = true;
        try {
            await loadChart();
            if (!charts) makeCharts();
            const since = buckets.length ? buckets[buckets.length - 1].start_ms : null;
            const res = await AM.api('/mesh/traffic' + (since === null ? '' : '?since=' + since));
            if (!res.ok || !res.json || res.json.object !== 'traffic') throw new Error(AM.errorText(res));
            merge(res.json);
            $('traffic-error').hidden = true;
            drawCharts();
            drawSummary();
        } catch (e) {
            $('traffic-error').hidden = false;
            $('traffic-error').textContent = 'Traffic not updated: ' + e.message;
        } finally {
            busy = false;
        }
    }

    AM.view({
        name: 'traffic',
        title: 'Traffic',
        build,
        show: refresh,
        tick: refresh,
    });
})();
