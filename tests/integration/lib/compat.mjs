// Helpers of compat.test.mjs: raw JSON and SSE requests (what the SDKs hide:
// headers, the exact events, a status before any byte), directives whose
// answer is a given text, and what the fake link saw for one request.

import {http} from './harness.mjs';

/*  POST path with body as JSON: {status, headers, text, json}. */
export function post(node, path, body, {headers = {}, timeoutMs = 15000} = {}) {
    return http(node, 'POST', path, {
        headers: {'content-type': 'application/json', ...node.authHeaders(), ...headers},
        body: JSON.stringify(body),
        timeoutMs,
    });
}

/*  Server-sent events of text: [{event, data}] with data parsed as JSON
    where it is JSON ("[DONE]" stays a string); event null when unnamed. */
export function parseSSE(text) {
    const events = [];
    for (const block of text.split(/\r?\n\r?\n/)) {
        let event = null;
        const data = [];
        for (const line of block.split(/\r?\n/)) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        const raw = data.join('\n');
        let parsed = raw;
        try {
            parsed = JSON.parse(raw);
        } catch {
            // "[DONE]"
        }
        events.push({event, data: parsed});
    }
    return events;
}

/*  POST with stream:true; the whole answer read: {status, headers, text,
    events} (events only for a text/event-stream answer). */
export async function postSSE(node, path, body, opts) {
    const r = await post(node, path, {...body, stream: true}, opts);
    const sse = (r.headers.get('content-type') ?? '').startsWith('text/event-stream');
    return {...r, events: sse ? parseSSE(r.text) : null};
}

/*  A chat stream's chunks (the JSON events, [DONE] left out), and their
    joined content. */
export function chatChunks(events) {
    const chunks = events.filter((e) => typeof e.data === 'object').map((e) => e.data);
    const content = chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
    return {chunks, content, done: events.at(-1)?.data === '[DONE]'};
}

const quote = (s) => `"${String(s).replace(/["\\]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

let nonce = 0;
/*  A directive answering exactly `text` (scenario `name`, text by default),
    with more keys: {then, piece, split, ms, count, …}. Every directive made
    here is unique (a `seed`, which only shapes split=1), so a `then=` count
    starts afresh for each test. */
export function say(text, keys = {}, name = 'text') {
    const kv = {text, ...keys};
    if (name === 'text' && kv.seed === undefined) kv.seed = 1000 + ++nonce;
    const parts = Object.entries(kv).map(([k, v]) => `${k}=${typeof v === 'number' ? v : quote(v)}`);
    return `[[fake:${name} ${parts.join(' ')}]]`;
}

/*  The fetch events the fake link saw after `mark` (an events count). */
export function fetchesSince(link, mark) {
    return link.poll().slice(mark).filter((ev) => ev.ev === 'fetch');
}

/*  The prompt LMArena got in a fetch event. */
export const promptOf = (ev) => ev.body.userMessage.content;

/*  How often needle occurs in haystack. */
export const count = (haystack, needle) => haystack.split(needle).length - 1;
