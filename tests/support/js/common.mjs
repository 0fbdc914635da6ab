// Helpers shared by the integration and end-to-end harnesses: plain
// Node.js, no dependencies. Each harness re-exports those its tests use;
// process.mjs has the child-process side.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const FAKE_ANSWER = 'Hello from the fake arena.';
export const FAKE_THINKING = 'Thinking about it.';
export const FAKE_MODELS = ['fake-chat', 'fake-chat-2', 'fake-image', 'fake-search'];
export const UUID7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/*  Polls fn until it returns a truthy value; throws naming `what` after timeoutMs. */
export async function waitFor(fn, {timeoutMs = 10000, intervalMs = 50, what = 'condition'} = {}) {
    const deadline = Date.now() + timeoutMs;
    let lastErr;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            lastErr = e;
        }
        if (Date.now() >= deadline) {
            const why = lastErr ? ` (last error: ${lastErr.message})` : '';
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
        }
        await sleep(intervalMs);
    }
}

/*  Rejects naming `what` if promise does not settle within ms. */
export function withTimeout(promise, ms, what) {
    let timer;
    const guard = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    });
    return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/*  Reads an SDK stream to its end: chunks, joined content and reasoning, and
    the error that ended it (null when it ended normally). */
export async function collectStream(stream, {onChunk} = {}) {
    const chunks = [];
    let content = '';
    let reasoning = '';
    let error = null;
    try {
        for await (const chunk of stream) {
            chunks.push(chunk);
            const delta = chunk.choices?.[0]?.delta ?? {};
            if (typeof delta.content === 'string') content += delta.content;
            if (typeof delta.reasoning_content === 'string') reasoning += delta.reasoning_content;
            if (onChunk) await onChunk(chunk, chunks.length);
        }
    } catch (e) {
        error = e;
    }
    return {chunks, content, reasoning, error};
}

/*  A prompt carrying a fake-LMArena scenario directive. */
export function fake(directive, text = 'Say hello.') {
    return `${text} [[fake:${directive}]]`;
}

/*  fetch(url) bounded by timeoutMs: {status, headers, text, json}, json
    undefined when the body is not JSON. */
export async function fetchText(url, {method = 'GET', headers = {}, body, timeoutMs = 10000} = {}) {
    const res = await fetch(url, {method, headers, body, signal: AbortSignal.timeout(timeoutMs)});
    const text = await res.text();
    let json;
    try {
        json = JSON.parse(text);
    } catch {
        json = undefined;
    }
    return {status: res.status, headers: res.headers, text, json};
}

/*  Prints text as node:test diagnostics of test context t, line by line. */
export function reportDiagnostics(t, text) {
    for (const line of text.split('\n')) t.diagnostic(line);
}
