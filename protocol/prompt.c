/*  prompt — see prompt.h. Owns every sentence the node adds to a
    conversation for tools and structured output, so that what a model is
    told lives in one file. */
#include "protocol/prompt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int s_oom(openai_error_t *err)
{
    openai_error_set(err, "internal_error", NULL, "out of memory while building the prompt");
    return -1;
}

static bool s_tools_stated(const openai_request_t *req)
{
    return req->n_tools && req->tool_choice != OPENAI_TOOL_NONE;
}

static const char *const s_call_shape =
    "{\"tool_calls\":[{\"name\":\"<function name>\",\"arguments\":{<the arguments as a JSON "
    "object>}}]}";

static int s_state_tools(const openai_request_t *req, abuf_t *b)
{
    if (abuf_puts(b, "# Tools\n\nYou can call these functions:\n") < 0)
        return -1;
    for (size_t i = 0; i < req->n_tools; i++) {
        const openai_tool_t *t = &req->tools[i];
        if (abuf_printf(b, "\n## %s\n", t->name) < 0)
            return -1;
        if (t->description && t->description[0] &&
            abuf_printf(b, "Description: %s\n", t->description) < 0)
            return -1;
        if (abuf_printf(b, "Parameters (JSON Schema): %s\n",
                        t->parameters ? t->parameters : "{\"type\":\"object\",\"properties\":{}}") <
            0)
            return -1;
    }
    if (abuf_printf(b,
                    "\nTo call functions, reply with ONLY this JSON object, bare or in a ```json "
                    "fence, with no other text before or after it:\n%s\n",
                    s_call_shape) < 0)
        return -1;
    const char *rule = "";
    switch (req->tool_choice) {
    case OPENAI_TOOL_AUTO:
    case OPENAI_TOOL_NONE:
        rule = "Call a function only when it helps to answer; otherwise reply with plain text "
               "(no such JSON object).\n";
        break;
    case OPENAI_TOOL_REQUIRED:
        rule = "You must call at least one function in this reply; do not answer in plain "
               "text.\n";
        break;
    case OPENAI_TOOL_NAMED:
        if (abuf_printf(b,
                        "You must call the function \"%s\" in this reply, and no other; do "
                        "not answer in plain text.\n",
                        req->tool_choice_name ? req->tool_choice_name : "") < 0)
            return -1;
        break;
    }
    if (abuf_puts(b, rule) < 0)
        return -1;
    if (abuf_puts(b, req->parallel_tool_calls
                         ? "You may call several functions at once (several entries in "
                           "tool_calls).\n"
                         : "Call at most one function per reply (one entry in tool_calls).\n") < 0)
        return -1;
    return abuf_puts(b, "The results of your calls will come back in the next message.\n");
}

static int s_state_format(const openai_request_t *req, abuf_t *b, bool after_tools)
{
    if (after_tools && abuf_puts(b, "\n") < 0)
        return -1;
    if (abuf_puts(b, "# Answer format\n\n") < 0)
        return -1;
    if (after_tools && abuf_puts(b, "When you answer without calling a function: ") < 0)
        return -1;
    if (req->format == OPENAI_FORMAT_JSON_OBJECT)
        return abuf_puts(b, "Answer with one JSON object only: no text before or after it.\n");
    if (abuf_puts(b, "Answer with JSON matching this JSON Schema only: no text before or after "
                     "it.\n") < 0)
        return -1;
    if (req->format_name && abuf_printf(b, "Schema name: %s\n", req->format_name) < 0)
        return -1;
    return abuf_printf(b, "Schema: %s\n", req->format_schema ? req->format_schema : "{}");
}

/*  Inserts a system message holding text first. */
static int s_insert_first(openai_request_t *req, const char *role, const char *text)
{
    openai_message_t *grown = realloc(req->messages, (req->n_messages + 1) * sizeof *grown);
    if (!grown)
        return -1;
    req->messages = grown;
    openai_message_t msg = {0};
    msg.role = strdup(role);
    msg.content = strdup(text);
    if (!msg.role || !msg.content) {
        free(msg.role);
        free(msg.content);
        return -1;
    }
    memmove(grown + 1, grown, req->n_messages * sizeof *grown);
    grown[0] = msg;
    req->n_messages++;
    return 0;
}

static int s_append(openai_request_t *req, const char *role, const char *text)
{
    openai_message_t *grown = realloc(req->messages, (req->n_messages + 1) * sizeof *grown);
    if (!grown)
        return -1;
    req->messages = grown;
    openai_message_t *msg = &grown[req->n_messages];
    memset(msg, 0, sizeof *msg);
    msg->role = strdup(role);
    msg->content = strdup(text);
    if (!msg->role || !msg->content) {
        free(msg->role);
        free(msg->content);
        memset(msg, 0, sizeof *msg);
        return -1;
    }
    req->n_messages++;
    return 0;
}

/*  {"tool_calls":[{"name":…,"arguments":…}]} for a message's calls. */
static char *s_calls_json(const openai_message_t *m)
{
    json_t *root = json_object();
    json_t *arr = json_array();
    if (!root || !arr || json_object_set_new(root, "tool_calls", arr) < 0) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = 0; i < m->n_tool_calls; i++) {
        const openai_tool_call_t *c = &m->tool_calls[i];
        const char *text = c->arguments ? c->arguments : "{}";
        json_t *args = json_loads(text, JSON_DECODE_ANY, NULL);
        if (!args)
            args = json_string(text);
        json_t *call = json_object();
        if (!call || json_array_append_new(arr, call) < 0 ||
            json_object_set_new(call, "name", json_string(c->name ? c->name : "")) < 0 ||
            json_object_set_new(call, "arguments", args) < 0) {
            json_decref(root);
            return NULL;
        }
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static const char *s_call_name(const openai_request_t *req, size_t upto, const char *id)
{
    for (size_t i = upto; i-- > 0;) {
        const openai_message_t *m = &req->messages[i];
        for (size_t j = 0; j < m->n_tool_calls; j++)
            if (id && m->tool_calls[j].id && strcmp(m->tool_calls[j].id, id) == 0)
                return m->tool_calls[j].name;
    }
    return NULL;
}

static int s_set_content(openai_message_t *m, abuf_t *b)
{
    char *text = strdup(b->data ? b->data : "");
    if (!text)
        return -1;
    free(m->content);
    m->content = text;
    return 0;
}

/*  Rewrites message i's tool calls or tool result as text. */
static int s_lower_message(openai_request_t *req, size_t i)
{
    openai_message_t *m = &req->messages[i];
    abuf_t b = ABUF_INIT;
    int rc = 0;
    if (m->n_tool_calls) {
        char *json = s_calls_json(m);
        const char *own = m->content ? m->content : "";
        rc = json && abuf_puts(&b, own) == 0 && (!*own || abuf_puts(&b, "\n\n") == 0) &&
                     abuf_puts(&b, json) == 0 && s_set_content(m, &b) == 0
                 ? 0
                 : -1;
        free(json);
    } else if (m->role && strcmp(m->role, "tool") == 0) {
        const char *name = m->name ? m->name : s_call_name(req, i, m->tool_call_id);
        if (abuf_puts(&b, "Tool result") < 0 || (name && abuf_printf(&b, " for %s", name) < 0) ||
            (m->tool_call_id && abuf_printf(&b, " (%s)", m->tool_call_id) < 0) ||
            abuf_printf(&b, ":\n%s", m->content ? m->content : "") < 0 || s_set_content(m, &b) < 0)
            rc = -1;
    }
    abuf_free(&b);
    return rc;
}

static void s_clear_tool_fields(openai_message_t *m)
{
    for (size_t j = 0; j < m->n_tool_calls; j++) {
        free(m->tool_calls[j].id);
        free(m->tool_calls[j].name);
        free(m->tool_calls[j].arguments);
    }
    free(m->tool_calls);
    m->tool_calls = NULL;
    m->n_tool_calls = 0;
    free(m->tool_call_id);
    m->tool_call_id = NULL;
    if (m->role && strcmp(m->role, "tool") == 0) {
        free(m->name);
        m->name = NULL;
    }
}

/*  The statement goes first: into the client's leading system message when
    there is one without a name (the flattened text is the same as with a
    message of its own, and the count of messages a peer checks stays), else
    as a new system message. */
static int s_state_first(openai_request_t *req, abuf_t *b)
{
    openai_message_t *m0 = req->n_messages ? &req->messages[0] : NULL;
    bool merge = m0 && m0->role && m0->content && !m0->name && !m0->n_images &&
                 (strcmp(m0->role, "system") == 0 || strcmp(m0->role, "developer") == 0);
    if (!merge)
        return s_insert_first(req, "system", b->data);
    if (m0->content[0] && (abuf_puts(b, "\n\n") < 0 || abuf_puts(b, m0->content) < 0))
        return -1;
    return s_set_content(m0, b);
}

int prompt_lower(openai_request_t *req, openai_error_t *err)
{
    if (!req) {
        openai_error_set(err, "internal_error", NULL, "no request to lower");
        return -1;
    }
    if (req->lowered)
        return 0;
    /* history first: tool results look up the calls they answer */
    for (size_t i = 0; i < req->n_messages; i++)
        if (s_lower_message(req, i) < 0)
            return s_oom(err);
    for (size_t i = 0; i < req->n_messages; i++)
        s_clear_tool_fields(&req->messages[i]);
    bool tools = s_tools_stated(req);
    bool format = req->format != OPENAI_FORMAT_TEXT;
    if (tools || format) {
        abuf_t b = ABUF_INIT;
        int rc = 0;
        if (tools)
            rc = s_state_tools(req, &b);
        if (rc == 0 && format)
            rc = s_state_format(req, &b, tools);
        while (rc == 0 && b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = '\0';
        if (rc == 0)
            rc = s_state_first(req, &b);
        abuf_free(&b);
        if (rc < 0)
            return s_oom(err);
    }
    req->lowered = true;
    return 0;
}

int prompt_retry_note(openai_request_t *req, const char *answer, const char *error,
                      openai_error_t *err)
{
    if (!req) {
        openai_error_set(err, "internal_error", NULL, "no request to retry");
        return -1;
    }
    abuf_t b = ABUF_INIT;
    const char *want = "Answer again, following the required format exactly.";
    if (req->format == OPENAI_FORMAT_JSON_OBJECT)
        want = "Answer again with one JSON object only: no text before or after it.";
    else if (req->format == OPENAI_FORMAT_JSON_SCHEMA)
        want = "Answer again with JSON matching the schema only: no text before or after it.";
    else if (s_tools_stated(req))
        want = "Answer again: to call functions, reply with ONLY the tool_calls JSON object.";
    int rc = abuf_printf(&b, "Your previous answer was not valid: %s\n%s",
                         error && *error ? error : "it did not have the required form", want);
    if (rc == 0)
        rc = s_append(req, "assistant", answer ? answer : "");
    if (rc == 0 && s_append(req, "user", b.data) < 0) {
        /* keep the pair whole: drop the assistant turn again */
        openai_message_t *m = &req->messages[--req->n_messages];
        free(m->role);
        free(m->content);
        memset(m, 0, sizeof *m);
        rc = -1;
    }
    abuf_free(&b);
    return rc < 0 ? s_oom(err) : 0;
}
