// The client libraries people point at an OpenAI-compatible server, built
// against a node of the harness: the openai SDK, the Vercel AI SDK (its
// OpenAI provider and its generic OpenAI-compatible one) and LangChain's
// ChatOpenAI. Plus the runtime probes that decide whether a feature the node
// is still growing (Responses API, tools, json_schema) can be tested yet.

import OpenAI from 'openai';
import {createOpenAI} from '@ai-sdk/openai';
import {createOpenAICompatible} from '@ai-sdk/openai-compatible';
import {ChatOpenAI} from '@langchain/openai';
import {http} from './harness.mjs';

/*  A fetch that remembers every answer it got: [{status, headers, at}]. The
    SDKs take it as their `fetch` option, so a test sees their retries. */
export function recordingFetch() {
    const seen = [];
    const f = async (url, init) => {
        const res = await fetch(url, init);
        seen.push({status: res.status, headers: res.headers, at: Date.now()});
        return res;
    };
    f.seen = seen;
    return f;
}

const apiKey = (node) => node.apiKeys[0] ?? 'none';

/*  The openai SDK; maxRetries as given (default: the SDK's own, 2). */
export function openaiClient(node, {maxRetries, fetch, timeout = 20000} = {}) {
    return new OpenAI({
        baseURL: `${node.baseURL}/v1`,
        apiKey: apiKey(node),
        timeout,
        fetch,
        ...(maxRetries === undefined ? {} : {maxRetries})
    });
}

/*  @ai-sdk/openai-compatible's provider: provider(model) is a chat model. */
export function aiCompatible(node, {fetch} = {}) {
    return createOpenAICompatible({
        name: 'arena',
        baseURL: `${node.baseURL}/v1`,
        apiKey: apiKey(node),
        supportsStructuredOutputs: true,
        fetch,
    });
}

/*  @ai-sdk/openai's provider: provider.chat(model) uses chat completions,
    provider(model) the Responses API. */
export function aiOpenAI(node, {fetch} = {}) {
    return createOpenAI({baseURL: `${node.baseURL}/v1`, apiKey: apiKey(node), fetch});
}

/*  LangChain's ChatOpenAI; useResponsesApi routes it to POST /v1/responses.
    maxRetries null: LangChain's own default (6, its own retry loop; the openai
    SDK under it never retries). */
export function langchain(node, {model = 'fake-chat', maxRetries = 0, useResponsesApi = false} = {}) {
    return new ChatOpenAI({
        model,
        apiKey: apiKey(node),
        configuration: {baseURL: `${node.baseURL}/v1`},
        ...(maxRetries === null ? {} : {maxRetries}),
        useResponsesApi,
    });
}

const post = (node, path, body) => http(
    node, 'POST', path,
    {headers: {'content-type': 'application/json', ...node.authHeaders()}, body: JSON.stringify(body)});

/*  The fake answer of a tool call, as the node asks a model to write it. */
export const TOOL_CALL_ANSWER = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}';
export const fakeText = (text) => `[[fake:text text="${text.replace(/["\\]/g, (c) => `\\${c}`)}"]]`;

export const WEATHER_TOOL = {
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'The weather of a city',
        parameters: {
            type: 'object',
            properties: {city: {type: 'string'}},
            required: ['city'],
            additionalProperties: false,
        },
    },
};

/*  null when POST /v1/responses is served, else why a test of it is skipped. */
export async function probeResponses(node) {
    const r = await post(node, '/v1/responses', {model: 'fake-chat', input: 'Say hello.'});
    if (r.status === 404 && r.json?.error?.code === 'not_found') return 'POST /v1/responses not served yet (404)';
    if (r.status === 405) return 'POST /v1/responses not served yet (405)';
    return null;
}

/*  null when the node turns a model's tool-call JSON into OpenAI tool_calls. */
export async function probeTools(node) {
    const r = await post(node, '/v1/chat/completions', {
        model: 'fake-chat',
        messages: [{role: 'user', content: `Weather in Paris? ${fakeText(TOOL_CALL_ANSWER)}`}],
        tools: [WEATHER_TOOL],
    });
    if (r.status === 200 && r.json?.choices?.[0]?.message?.tool_calls?.length) return null;
    if (r.status === 400) return `tools refused: 400 param=${r.json?.error?.param} (not supported yet)`;
    return `tools not supported yet: a tool-call answer came back as ${r.status} ` +
        `${JSON.stringify(r.json?.choices?.[0]?.message ?? r.text).slice(0, 120)} without tool_calls`;
}

export const CITY_SCHEMA = {
    type: 'object',
    properties: {city: {type: 'string'}, temp: {type: 'number'}},
    required: ['city', 'temp'],
    additionalProperties: false,
};

/*  null when the node checks a json_schema answer: an answer that is not JSON
    must not come back as a 200 carrying it. */
export async function probeJsonSchema(node) {
    const r = await post(node, '/v1/chat/completions', {
        model: 'fake-chat',
        messages: [{role: 'user', content: `Weather? ${fakeText('not json at all')}`}],
        response_format: {type: 'json_schema', json_schema: {name: 'weather', strict: true, schema: CITY_SCHEMA}},
    });
    if (r.status === 400 && r.json?.error?.param?.startsWith('response_format'))
        return `response_format json_schema refused: 400 param=${r.json.error.param} (not supported yet)`;
    if (r.status === 200 && r.json?.choices?.[0]?.message?.content === 'not json at all')
        return 'response_format json_schema not checked yet: a non-JSON answer came back as 200';
    return null;
}
