/*  test_openai — request parsing/validation, request write round trip, and
    every renderer's output decoded back with jansson (strict UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/openai.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/*  Test bodies use ' for " so the tables stay readable. */
static char *s_q(const char *src)
{
    char *s = strdup(src);
    assert_non_null(s);
    for (char *c = s; *c; c++)
        if (*c == '\'')
            *c = '"';
    return s;
}

static int s_parse_q(const char *src, const openai_limits_t *lim, openai_request_t **req,
                     openai_error_t *err)
{
    char *body = s_q(src);
    int rc = openai_request_parse(body, strlen(body), lim, req, err);
    free(body);
    return rc;
}

/*  Strictly decodes a JSON text (jansson rejects invalid UTF-8). */
static json_t *s_decode(const char *text, size_t len, size_t flags)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, flags, &jerr);
    if (!root)
        fail_msg("invalid JSON (%s): %.*s", jerr.text, (int)len, text);
    return root;
}

/*  Checks one `data: {...}\n\n` event and decodes its payload. */
static json_t *s_decode_sse(const abuf_t *b, size_t flags)
{
    assert_true(b->len > 8);
    assert_memory_equal(b->data, "data: ", 6);
    assert_memory_equal(b->data + b->len - 2, "\n\n", 2);
    /* exactly one event: no blank line before the end */
    assert_ptr_equal(strstr(b->data, "\n\n"), b->data + b->len - 2);
    return s_decode(b->data + 6, b->len - 8, flags);
}

static const char *s_get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", key);
    return json_string_value(v);
}

static long long s_get_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", key);
    return json_integer_value(v);
}

static json_t *s_choice0(json_t *root)
{
    json_t *choices = json_object_get(root, "choices");
    assert_true(json_is_array(choices));
    assert_int_equal(json_array_size(choices), 1);
    json_t *c = json_array_get(choices, 0);
    assert_int_equal(s_get_int(c, "index"), 0);
    return c;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  {"model":"m","messages":[<n copies of msg>]} with msg in ' notation. */
static char *s_body_messages(size_t n, const char *msg)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(abuf_puts(&b, "{'model':'m','messages':["), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(abuf_printf(&b, "%s%s", i ? "," : "", msg), 0);
    assert_int_equal(abuf_puts(&b, "]}"), 0);
    char *q = s_q(b.data);
    abuf_free(&b);
    return q;
}

/*  One user message whose content is n copies of part. */
static char *s_body_parts(size_t n, const char *part)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(abuf_puts(&b, "{'model':'m','messages':[{'role':'user','content':["), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(abuf_printf(&b, "%s%s", i ? "," : "", part), 0);
    assert_int_equal(abuf_puts(&b, "]}]}"), 0);
    char *q = s_q(b.data);
    abuf_free(&b);
    return q;
}

/*  A valid request with `depth` nested arrays in an unknown field. */
static char *s_body_nested(size_t depth)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(
        abuf_puts(&b,
                  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"x\":"),
        0);
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(abuf_puts(&b, "["), 0);
    for (size_t i = 0; i < depth; i++)
        assert_int_equal(abuf_puts(&b, "]"), 0);
    assert_int_equal(abuf_puts(&b, "}"), 0);
    return abuf_steal(&b, NULL);
}

static void s_round_trip(const openai_request_t *req, const openai_limits_t *lim)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_request_write(req, &out), 0);
    json_decref(s_decode(out.data, out.len, JSON_REJECT_DUPLICATES));
    openai_request_t *again = NULL;
    openai_error_t err;
    if (openai_request_parse(out.data, out.len, lim, &again, &err) < 0)
        fail_msg("re-parse failed: %s (%s) for %s", err.message, err.param, out.data);
    assert_true(openai_request_equal(req, again));
    openai_request_destroy(&again);
    abuf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Valid bodies                                                              */

/*  40 brackets: deeper than the default max_depth when outside a string. */
#define BR40 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
#define CL40 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"

typedef struct {
    const char *name;
    const char *body;
    const char *model;
    bool stream;
    bool include_usage;
    size_t n_messages;
    size_t n_images_total;
    size_t msg; /* the message checked by the fields below */
    const char *role;
    const char *content;
    size_t n_images;
    const char *url; /* first image of that message */
} valid_case_t;

static const valid_case_t s_valid[] = {
    {"minimal", "{'model':'gpt-4o','messages':[{'role':'user','content':'hi'}]}", "gpt-4o", false,
     false, 1, 0, 0, "user", "hi", 0, NULL},
    {"stream with usage",
     "{'model':'m','stream':true,'stream_options':{'include_usage':true},"
     "'messages':[{'role':'user','content':'hi'}]}",
     "m", true, true, 1, 0, 0, "user", "hi", 0, NULL},
    {"stream options without usage",
     "{'model':'m','stream':true,'stream_options':{},'messages':[{'role':'user','content':'x'}]}",
     "m", true, false, 1, 0, 0, "user", "x", 0, NULL},
    {"usage false",
     "{'model':'m','stream':false,'stream_options':{'include_usage':false},"
     "'messages':[{'role':'user','content':'x'}]}",
     "m", false, false, 1, 0, 0, "user", "x", 0, NULL},
    {"nulls mean absent",
     "{'model':'m','stream':null,'stream_options':null,'messages':[{'role':'user','content':'x'}]}",
     "m", false, false, 1, 0, 0, "user", "x", 0, NULL},
    {"unknown fields ignored",
     "{'model':'m','temperature':0.2,'max_tokens':100,'top_p':1,'user':'u','n':1,"
     "'tools':[{'type':'function','function':{'name':'f','parameters':{'type':'object'}}}],"
     "'stream_options':{'include_usage':true,'future':[1,2]},"
     "'messages':[{'role':'user','name':'bob','content':'x','extra':{'a':[null]}}]}",
     "m", false, true, 1, 0, 0, "user", "x", 0, NULL},
    {"every role",
     "{'model':'m','messages':[{'role':'system','content':'s'},{'role':'developer','content':'d'},"
     "{'role':'user','content':'u'},{'role':'assistant','content':'a'},"
     "{'role':'tool','content':'t','tool_call_id':'c1'}]}",
     "m", false, false, 5, 0, 4, "tool", "t", 0, NULL},
    {"developer role",
     "{'model':'m','messages':[{'role':'developer','content':'d'},{'role':'user','content':'u'}]}",
     "m", false, false, 2, 0, 0, "developer", "d", 0, NULL},
    {"assistant null content",
     "{'model':'m','messages':[{'role':'user','content':'q'},{'role':'assistant','content':null}]}",
     "m", false, false, 2, 0, 1, "assistant", "", 0, NULL},
    {"assistant without content",
     "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'function',"
     "'function':{'name':'f','arguments':'{}'}}]}]}",
     "m", false, false, 1, 0, 0, "assistant", "", 0, NULL},
    {"tool null content",
     "{'model':'m','messages':[{'role':'tool','content':null,'tool_call_id':'c'}]}", "m", false,
     false, 1, 0, 0, "tool", "", 0, NULL},
    {"empty content kept",
     "{'model':'m','messages':[{'role':'user','content':''},{'role':'user','content':'b'}]}", "m",
     false, false, 2, 0, 0, "user", "", 0, NULL},
    {"text parts joined",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},"
     "{'type':'text','text':'b'},{'type':'text','text':''}]}]}",
     "m", false, false, 1, 0, 0, "user", "a\nb\n", 0, NULL},
    {"empty parts", "{'model':'m','messages':[{'role':'user','content':[]}]}", "m", false, false, 1,
     0, 0, "user", "", 0, NULL},
    {"image object",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'look'},"
     "{'type':'image_url','image_url':{'url':'https://example.com/a.png','detail':'high'}}]}]}",
     "m", false, false, 1, 1, 0, "user", "look", 1, "https://example.com/a.png"},
    {"image plain string",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':'http://example.com/b.jpg'}]}]}",
     "m", false, false, 1, 1, 0, "user", "", 1, "http://example.com/b.jpg"},
    {"image data uri",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}},{'type':'text','text':'t'}]}]}",
     "m", false, false, 1, 1, 0, "user", "t", 1, "data:image/png;base64,iVBORw0KGgo="},
    {"image data uri svg+xml",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':{'url':'data:image/svg+xml;BASE64,PHN2Zz4='}}]}]}",
     "m", false, false, 1, 1, 0, "user", "", 1, "data:image/svg+xml;BASE64,PHN2Zz4="},
    {"scheme case",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':{'url':'HTTPS://EXAMPLE.COM/x'}}]}]}",
     "m", false, false, 1, 1, 0, "user", "", 1, "HTTPS://EXAMPLE.COM/x"},
    {"images across messages",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':'https://a/1'}]},{'role':'assistant','content':'ok'},"
     "{'role':'user','content':[{'type':'image_url','image_url':'https://a/2'},"
     "{'type':'image_url','image_url':'https://a/3'}]}]}",
     "m", false, false, 3, 3, 2, "user", "", 2, "https://a/2"},
    {"escapes decoded",
     "{'model':'m','messages':[{'role':'user','content':'h\\u00e9 \\ud83d\\ude00 "
     "a\\nb\\\"c\\\\'}]}",
     "m", false, false, 1, 0, 0, "user", "h\xc3\xa9 \xf0\x9f\x98\x80 a\nb\"c\\", 0, NULL},
    {"surrounding whitespace", " \n\t{'model':'m','messages':[{'role':'user','content':'x'}]}\r\n ",
     "m", false, false, 1, 0, 0, "user", "x", 0, NULL},
    {"brackets inside strings",
     "{'model':'m','messages':[{'role':'user','content':'{{{{\\\"" BR40 "'}]}", "m", false, false,
     1, 0, 0, "user", "{{{{\"" BR40, 0, NULL},
};

static void test_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_valid / sizeof s_valid[0]; i++) {
        const valid_case_t *c = &s_valid[i];
        openai_request_t *req = NULL;
        openai_error_t err;
        if (s_parse_q(c->body, NULL, &req, &err) < 0)
            fail_msg("%s: rejected: %d %s %s: %s", c->name, err.status, err.code, err.param,
                     err.message);
        assert_string_equal(req->model, c->model);
        assert_int_equal(req->stream, c->stream);
        assert_int_equal(req->include_usage, c->include_usage);
        assert_int_equal(req->n_messages, c->n_messages);
        assert_int_equal(req->n_images_total, c->n_images_total);
        const openai_message_t *m = &req->messages[c->msg];
        assert_string_equal(m->role, c->role);
        assert_non_null(m->content);
        if (strcmp(m->content, c->content) != 0)
            fail_msg("%s: content '%s' != '%s'", c->name, m->content, c->content);
        assert_int_equal(m->n_images, c->n_images);
        if (c->url)
            assert_string_equal(m->images[0].url, c->url);
        for (size_t k = 0; k < req->n_messages; k++)
            assert_non_null(req->messages[k].content);
        s_round_trip(req, NULL);
        openai_request_destroy(&req);
        assert_null(req);
    }
}

/* ------------------------------------------------------------------------ */
/* Invalid bodies                                                            */

typedef struct {
    const char *name;
    const char *body;
    const char *param;   /* expected err->param ("" for the body as a whole) */
    const char *message; /* a substring of err->message */
} invalid_case_t;

#define MSG1(content) "{'model':'m','messages':[{'role':'user','content':" content "}]}"
#define PART1(part) MSG1("[" part "]")

static const invalid_case_t s_invalid[] = {
    {"empty body", "", "", "request body is empty"},
    {"not json", "hello", "", "malformed JSON body"},
    {"truncated", "{'model':", "", "malformed JSON body"},
    {"trailing garbage", "{'model':'m','messages':[{'role':'user','content':'x'}]} x", "",
     "malformed JSON body"},
    {"duplicate key", "{'model':'m','model':'n','messages':[{'role':'user','content':'x'}]}", "",
     "duplicate object key"},
    {"NUL escape", MSG1("'a\\u0000b'"), "", "malformed JSON body"},
    {"raw invalid utf-8", MSG1("'a\xff'"), "", "malformed JSON body"},
    {"array body", "[]", "", "must be a JSON object, not an array"},
    {"string body", "'x'", "", "must be a JSON object, not a string"},
    {"null body", "null", "", "must be a JSON object"},
    {"missing model", "{'messages':[{'role':'user','content':'x'}]}", "model",
     "missing required field: model"},
    {"model number", "{'model':4,'messages':[{'role':'user','content':'x'}]}", "model",
     "model must be a string, not a number"},
    {"model null", "{'model':null,'messages':[{'role':'user','content':'x'}]}", "model",
     "model must be a string, not null"},
    {"model empty", "{'model':'','messages':[{'role':'user','content':'x'}]}", "model",
     "model must not be empty"},
    {"model control char", "{'model':'a\\nb','messages':[{'role':'user','content':'x'}]}", "model",
     "control characters"},
    {"missing messages", "{'model':'m'}", "messages", "missing required field: messages"},
    {"messages object", "{'model':'m','messages':{'role':'user'}}", "messages",
     "messages must be an array, not an object"},
    {"messages empty", "{'model':'m','messages':[]}", "messages", "at least one message"},
    {"message not object", "{'model':'m','messages':['hi']}", "messages[0]",
     "messages[0] must be an object, not a string"},
    {"role missing", "{'model':'m','messages':[{'content':'x'}]}", "messages[0].role",
     "messages[0].role is required"},
    {"role unknown",
     "{'model':'m','messages':[{'role':'user','content':'x'},{'role':'robot','content':'x'}]}",
     "messages[1].role",
     "messages[1].role must be one of system, developer, user, assistant, tool"},
    {"role case", "{'model':'m','messages':[{'role':'User','content':'x'}]}", "messages[0].role",
     "must be one of"},
    {"role number", "{'model':'m','messages':[{'role':1,'content':'x'}]}", "messages[0].role",
     "must be one of"},
    {"user content missing", "{'model':'m','messages':[{'role':'user'}]}", "messages[0].content",
     "is required for role user"},
    {"system content null", "{'model':'m','messages':[{'role':'system','content':null}]}",
     "messages[0].content", "is required for role system"},
    {"content number",
     "{'model':'m','messages':[{'role':'user','content':'a'},{'role':'assistant','content':'b'},"
     "{'role':'user','content':3}]}",
     "messages[2].content",
     "messages[2].content must be a string, an array of content parts or null, not a number"},
    {"content object", MSG1("{'type':'text','text':'x'}"), "messages[0].content", "not an object"},
    {"content bool", MSG1("true"), "messages[0].content", "not a boolean"},
    {"part not object", MSG1("['x']"), "messages[0].content[0]",
     "messages[0].content[0] must be an object, not a string"},
    {"part type missing", PART1("{'text':'x'}"), "messages[0].content[0].type",
     "messages[0].content[0].type is required"},
    {"part type number", PART1("{'type':1,'text':'x'}"), "messages[0].content[0].type",
     "must be a string"},
    {"part type unknown", PART1("{'type':'text','text':'a'},{'type':'input_audio'}"),
     "messages[0].content[1].type", "must be \"text\" or \"image_url\""},
    {"text missing", PART1("{'type':'text'}"), "messages[0].content[0].text", "is required"},
    {"text number", PART1("{'type':'text','text':5}"), "messages[0].content[0].text",
     "must be a string"},
    {"text null", PART1("{'type':'text','text':null}"), "messages[0].content[0].text",
     "must be a string"},
    {"image_url missing", PART1("{'type':'image_url'}"), "messages[0].content[0].image_url",
     "is required"},
    {"image_url number", PART1("{'type':'image_url','image_url':7}"),
     "messages[0].content[0].image_url", "must be a string"},
    {"url missing", PART1("{'type':'image_url','image_url':{'detail':'low'}}"),
     "messages[0].content[0].image_url.url", "is required"},
    {"url number", PART1("{'type':'image_url','image_url':{'url':1}}"),
     "messages[0].content[0].image_url.url", "must be a string"},
    {"url ftp", PART1("{'type':'image_url','image_url':{'url':'ftp://x/y.png'}}"),
     "messages[0].content[0].image_url.url", "data:image/<type>;base64,<data> URI or an http(s)"},
    {"url javascript", PART1("{'type':'image_url','image_url':'javascript:alert(1)'}"),
     "messages[0].content[0].image_url", "http(s) URL"},
    {"url empty", PART1("{'type':'image_url','image_url':{'url':''}}"),
     "messages[0].content[0].image_url.url", "http(s) URL"},
    {"url bare scheme", PART1("{'type':'image_url','image_url':{'url':'https://'}}"),
     "messages[0].content[0].image_url.url", "http(s) URL"},
    {"url with space", PART1("{'type':'image_url','image_url':{'url':'http://a b'}}"),
     "messages[0].content[0].image_url.url", "http(s) URL"},
    {"data not image", PART1("{'type':'image_url','image_url':'data:text/plain;base64,aGk='}"),
     "messages[0].content[0].image_url", "data:image"},
    {"data not base64", PART1("{'type':'image_url','image_url':'data:image/png,rawbytes'}"),
     "messages[0].content[0].image_url", "data:image"},
    {"data empty payload", PART1("{'type':'image_url','image_url':'data:image/png;base64,'}"),
     "messages[0].content[0].image_url", "data:image"},
    {"data bad payload", PART1("{'type':'image_url','image_url':'data:image/png;base64,ab$c'}"),
     "messages[0].content[0].image_url", "data:image"},
    {"data no subtype", PART1("{'type':'image_url','image_url':'data:image/;base64,aGk='}"),
     "messages[0].content[0].image_url", "data:image"},
    {"stream string", "{'model':'m','stream':'yes','messages':[{'role':'user','content':'x'}]}",
     "stream", "stream must be a boolean, not a string"},
    {"stream number", "{'model':'m','stream':1,'messages':[{'role':'user','content':'x'}]}",
     "stream", "stream must be a boolean, not a number"},
    {"stream_options array",
     "{'model':'m','stream':true,'stream_options':[],'messages':[{'role':'user','content':'x'}]}",
     "stream_options", "stream_options must be an object, not an array"},
    {"include_usage string",
     "{'model':'m','stream':true,'stream_options':{'include_usage':'true'},"
     "'messages':[{'role':'user','content':'x'}]}",
     "stream_options.include_usage",
     "stream_options.include_usage must be a boolean, not a string"},
    {"too deep", "{'model':'m','messages':[{'role':'user','content':'x'}],'x':" BR40 CL40 "}", "",
     "nested deeper than 32 levels (max_depth)"},
    {"escaped backslash ends string",
     "{'model':'m','messages':[{'role':'user','content':'x\\\\'}],'x':" BR40 CL40 "}", "",
     "nested deeper than 32"},
};

static void s_expect_invalid(const char *name, const char *body, size_t len,
                             const openai_limits_t *lim, const char *param, const char *message)
{
    openai_request_t *req = (openai_request_t *)(uintptr_t)1; /* must be reset */
    openai_error_t err;
    memset(&err, 0x55, sizeof err);
    int rc = openai_request_parse(body, len, lim, &req, &err);
    if (rc != -1)
        fail_msg("%s: accepted", name);
    assert_null(req);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_request");
    assert_string_equal(err.type, "invalid_request_error");
    if (strcmp(err.param, param) != 0)
        fail_msg("%s: param '%s' != '%s' (%s)", name, err.param, param, err.message);
    if (!strstr(err.message, message))
        fail_msg("%s: message '%s' lacks '%s'", name, err.message, message);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_invalid / sizeof s_invalid[0]; i++) {
        const invalid_case_t *c = &s_invalid[i];
        char *body = s_q(c->body);
        s_expect_invalid(c->name, body, strlen(body), NULL, c->param, c->message);
        free(body);
    }
}

static void test_parse_null_args(void **state)
{
    (void)state;
    openai_error_t err;
    openai_request_t *req = NULL;
    assert_int_equal(openai_request_parse(NULL, 0, NULL, &req, &err), -1);
    assert_int_equal(err.status, 400);
    assert_int_equal(openai_request_parse("{}", 2, NULL, NULL, &err), -1);
    /* err may be NULL */
    assert_int_equal(openai_request_parse("[", 1, NULL, &req, NULL), -1);
    assert_null(req);
    openai_request_destroy(NULL);
    openai_request_destroy(&req);
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */

typedef struct {
    const char *name;
    const char *body;
    bool ok;
    const char *param;
    const char *message;
} limit_case_t;

static const limit_case_t s_small_limits[] = {
    {"model at limit", "{'model':'abcd','messages':[{'role':'user','content':'x'}]}", true, NULL,
     NULL},
    {"model over", "{'model':'abcde','messages':[{'role':'user','content':'x'}]}", false, "model",
     "model is 5 bytes long; at most 4 bytes are allowed"},
    {"messages at limit",
     "{'model':'m','messages':[{'role':'user','content':'x'},{'role':'user','content':'x'}]}", true,
     NULL, NULL},
    {"messages over",
     "{'model':'m','messages':[{'role':'user','content':'x'},{'role':'user','content':'x'},"
     "{'role':'user','content':'x'}]}",
     false, "messages", "messages has 3 entries; at most 2 are allowed (max_messages)"},
    {"parts at limit",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},"
     "{'type':'text','text':'a'}]}]}",
     true, NULL, NULL},
    {"parts over",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},"
     "{'type':'text','text':'a'},{'type':'text','text':'a'}]}]}",
     false, "messages[0].content", "has 3 parts; at most 2 are allowed (max_parts)"},
    {"one image",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
     "'image_url':'https://a/1'}]}]}",
     true, NULL, NULL},
    {"two images in one message",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':'https://"
     "a/1'},{'type':'image_url','image_url':'https://a/2'}]}]}",
     false, "messages[0].content[1]", "at most 1 image parts are allowed per request (max_images)"},
    {"images across messages",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':'https://"
     "a/1'}]},{'role':'user','content':[{'type':'image_url','image_url':'https://a/2'}]}]}",
     false, "messages[1].content[0]", "max_images"},
    {"depth at limit",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url','image_url':{'url':"
     "'https://a/1'}}]}]}",
     true, NULL, NULL},
    {"depth over",
     "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'x','extra':[[1]]}"
     "]}]}",
     false, "", "nested deeper than 6 levels (max_depth)"},
};

static void test_limits_small(void **state)
{
    (void)state;
    /* 6 is the depth the written form needs for image parts */
    const openai_limits_t lim = {
        .max_depth = 6, .max_messages = 2, .max_parts = 2, .max_images = 1, .max_model_len = 4};
    for (size_t i = 0; i < sizeof s_small_limits / sizeof s_small_limits[0]; i++) {
        const limit_case_t *c = &s_small_limits[i];
        char *body = s_q(c->body);
        if (c->ok) {
            openai_request_t *req = NULL;
            openai_error_t err;
            if (openai_request_parse(body, strlen(body), &lim, &req, &err) < 0)
                fail_msg("%s: rejected: %s", c->name, err.message);
            s_round_trip(req, &lim);
            openai_request_destroy(&req);
        } else {
            s_expect_invalid(c->name, body, strlen(body), &lim, c->param, c->message);
        }
        free(body);
    }
}

static void s_expect_ok(const char *name, const char *body)
{
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(body, strlen(body), NULL, &req, &err) < 0)
        fail_msg("%s: rejected: %s (%s)", name, err.message, err.param);
    s_round_trip(req, NULL);
    openai_request_destroy(&req);
}

static void test_limits_default(void **state)
{
    (void)state;
    openai_limits_t lim;
    openai_limits_default(&lim);
    assert_int_equal(lim.max_depth, 32);
    assert_int_equal(lim.max_messages, 1024);
    assert_int_equal(lim.max_parts, 64);
    assert_int_equal(lim.max_images, 16);
    assert_int_equal(lim.max_model_len, 256);

    const char *msg = "{'role':'user','content':'x'}";
    char *body = s_body_messages(1024, msg);
    s_expect_ok("1024 messages", body);
    free(body);
    body = s_body_messages(1025, msg);
    s_expect_invalid("1025 messages", body, strlen(body), NULL, "messages",
                     "at most 1024 are allowed");
    free(body);

    const char *text = "{'type':'text','text':'t'}";
    body = s_body_parts(64, text);
    s_expect_ok("64 parts", body);
    free(body);
    body = s_body_parts(65, text);
    s_expect_invalid("65 parts", body, strlen(body), NULL, "messages[0].content",
                     "has 65 parts; at most 64");
    free(body);

    const char *img = "{'type':'image_url','image_url':{'url':'data:image/gif;base64,R0lG'}}";
    body = s_body_parts(16, img);
    s_expect_ok("16 images", body);
    free(body);
    body = s_body_parts(17, img);
    s_expect_invalid("17 images", body, strlen(body), NULL, "messages[0].content[16]",
                     "at most 16 image parts");
    free(body);

    char model[300], json[400];
    memset(model, 'm', sizeof model);
    model[256] = '\0';
    snprintf(json, sizeof json,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", model);
    s_expect_ok("model 256", json);
    model[256] = 'm', model[257] = '\0';
    snprintf(json, sizeof json,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", model);
    s_expect_invalid("model 257", json, strlen(json), NULL, "model", "257 bytes long");
}

static void test_depth(void **state)
{
    (void)state;
    char *body = s_body_nested(31); /* 31 arrays inside the root object: depth 32 */
    s_expect_ok("depth 32", body);
    free(body);
    body = s_body_nested(32);
    s_expect_invalid("depth 33", body, strlen(body), NULL, "", "max_depth");
    free(body);

    const char opens[] = {'[', '{'};
    for (size_t k = 0; k < 2; k++) {
        size_t n = 100000;
        char *bomb = malloc(n);
        assert_non_null(bomb);
        memset(bomb, opens[k], n);
        double t0 = s_now();
        s_expect_invalid("bomb", bomb, n, NULL, "", "nested deeper than 32 levels");
        assert_true(s_now() - t0 < 0.5);
        free(bomb);
    }
}

/* ------------------------------------------------------------------------ */
/* Write / equality                                                          */

static void test_write_format(void **state)
{
    (void)state;
    openai_request_t *req = NULL;
    openai_error_t err;
    assert_int_equal(
        s_parse_q(
            "{'model':'m','stream':true,'stream_options':{'include_usage':true},'temperature':"
            "1,'messages':[{'role':'system','content':[{'type':'text','text':'a'},{'type':"
            "'text','text':'b'}]},{'role':'user','content':[{'type':'image_url','image_url':"
            "'https://x/1'},{'type':'text','text':'see'}]},{'role':'user','content':[{'type':"
            "'image_url','image_url':{'url':'https://x/2'}}]}]}",
            NULL, &req, &err),
        0);
    abuf_t out = ABUF_INIT;
    assert_int_equal(abuf_puts(&out, "prefix:"), 0);
    assert_int_equal(openai_request_write(req, &out), 0);
    char *want = s_q(
        "prefix:{'model':'m','stream':true,'stream_options':{'include_usage':true},'messages':["
        "{'role':'system','content':'a\\nb'},"
        "{'role':'user','content':[{'type':'text','text':'see'},{'type':'image_url','image_url':{"
        "'url':'https://x/1'}}]},"
        "{'role':'user','content':[{'type':'image_url','image_url':{'url':'https://x/2'}}]}]}");
    assert_string_equal(out.data, want);
    free(want);
    s_round_trip(req, NULL);

    /* a capped buffer fails without leaving half a request behind */
    abuf_t capped = ABUF_INIT;
    capped.max = 40;
    assert_int_equal(abuf_puts(&capped, "keep"), 0);
    assert_int_equal(openai_request_write(req, &capped), -1);
    assert_int_equal(capped.len, 4);
    assert_string_equal(capped.data, "keep");
    assert_int_equal(openai_request_write(NULL, &out), -1);
    abuf_free(&capped);
    abuf_free(&out);
    openai_request_destroy(&req);
}

static void test_write_hand_built(void **state)
{
    (void)state;
    /* A request built in code (not parsed) with bytes jansson would refuse
       still serializes to strict JSON. */
    openai_message_t msg = {.role = "user", .content = "bad \xff\xfe bytes \x01", .images = NULL};
    openai_request_t req = {.model = "m\xc3", .messages = &msg, .n_messages = 1};
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_request_write(&req, &out), 0);
    json_t *root = s_decode(out.data, out.len, 0);
    assert_string_equal(s_get_str(root, "model"), "m\xef\xbf\xbd");
    json_t *m0 = json_array_get(json_object_get(root, "messages"), 0);
    assert_string_equal(s_get_str(m0, "content"), "bad \xef\xbf\xbd\xef\xbf\xbd bytes \x01");
    json_decref(root);
    abuf_free(&out);
}

static void test_equal(void **state)
{
    (void)state;
    const char *base = "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':"
                       "'a'},{'type':'image_url','image_url':'https://x/1'}]}]}";
    const char *variants[] = {
        "{'model':'n','messages':[{'role':'user','content':[{'type':'text','text':'a'},{'type':"
        "'image_url','image_url':'https://x/1'}]}]}",
        "{'model':'m','stream':true,'messages':[{'role':'user','content':[{'type':'text','text':"
        "'a'},{'type':'image_url','image_url':'https://x/1'}]}]}",
        "{'model':'m','stream_options':{'include_usage':true},'messages':[{'role':'user','content':"
        "[{'type':'text','text':'a'},{'type':'image_url','image_url':'https://x/1'}]}]}",
        "{'model':'m','messages':[{'role':'system','content':[{'type':'text','text':'a'},{'type':"
        "'image_url','image_url':'https://x/1'}]}]}",
        "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'b'},{'type':"
        "'image_url','image_url':'https://x/1'}]}]}",
        "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},{'type':"
        "'image_url','image_url':'https://x/2'}]}]}",
        "{'model':'m','messages':[{'role':'user','content':'a'}]}",
        "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},{'type':"
        "'image_url','image_url':'https://x/1'}]},{'role':'user','content':'a'}]}",
    };
    openai_request_t *a = NULL, *b = NULL;
    openai_error_t err;
    assert_int_equal(s_parse_q(base, NULL, &a, &err), 0);
    assert_int_equal(s_parse_q(base, NULL, &b, &err), 0);
    assert_true(openai_request_equal(a, b));
    assert_true(openai_request_equal(NULL, NULL));
    assert_false(openai_request_equal(a, NULL));
    openai_request_destroy(&b);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        assert_int_equal(s_parse_q(variants[i], NULL, &b, &err), 0);
        if (openai_request_equal(a, b))
            fail_msg("variant %zu compares equal", i);
        openai_request_destroy(&b);
    }
    openai_request_destroy(&a);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

typedef struct {
    const char *code;
    int status;
    const char *type;
} error_case_t;

static const error_case_t s_errors[] = {
    {"invalid_request", 400, "invalid_request_error"},
    {"invalid_api_key", 401, "authentication_error"},
    {"not_found", 404, "invalid_request_error"},
    {"model_not_found", 404, "invalid_request_error"},
    {"method_not_allowed", 405, "invalid_request_error"},
    {"request_too_large", 413, "invalid_request_error"},
    {"content_rejected", 422, "invalid_request_error"},
    {"rate_limited", 429, "rate_limit_error"},
    {"internal_error", 500, "server_error"},
    {"upstream_error", 502, "server_error"},
    {"no_capacity", 503, "server_error"},
};

static void test_error_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++) {
        const error_case_t *c = &s_errors[i];
        openai_error_t err;
        assert_int_equal(openai_error_status(c->code), c->status);
        openai_error_set(&err, c->code, NULL, "failed %d", 7);
        assert_int_equal(err.status, c->status);
        assert_string_equal(err.type, c->type);
        assert_string_equal(err.code, c->code);
        assert_string_equal(err.param, "");
        assert_string_equal(err.message, "failed 7");

        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_error(&out, &err), 0);
        json_t *root = s_decode(out.data, out.len, 0);
        json_t *e = json_object_get(root, "error");
        assert_int_equal(json_object_size(root), 1);
        assert_string_equal(s_get_str(e, "message"), "failed 7");
        assert_string_equal(s_get_str(e, "type"), c->type);
        assert_string_equal(s_get_str(e, "code"), c->code);
        assert_true(json_is_null(json_object_get(e, "param")));
        json_decref(root);
        abuf_free(&out);
    }
    assert_int_equal(openai_error_status("no_such_code"), 400);
    assert_int_equal(openai_error_status(NULL), 400);
    openai_error_t err;
    openai_error_set(&err, "no_such_code", "p", "x");
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "invalid_request_error");
    assert_string_equal(err.code, "no_such_code");
    openai_error_set(NULL, "invalid_request", NULL, "ignored");
}

static void test_error_render(void **state)
{
    (void)state;
    openai_error_t err;
    char longparam[200];
    memset(longparam, 'p', sizeof longparam - 1);
    longparam[sizeof longparam - 1] = '\0';
    openai_error_set(&err, "invalid_request", longparam, "say \"%s\"\n\t\\ %s", "quoted",
                     "bad\xff");
    assert_int_equal(strlen(err.param), sizeof err.param - 1); /* truncated, terminated */

    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_error(&out, &err), 0);
    json_t *root = s_decode(out.data, out.len, 0);
    json_t *e = json_object_get(root, "error");
    assert_string_equal(s_get_str(e, "message"), "say \"quoted\"\n\t\\ bad\xef\xbf\xbd");
    assert_int_equal(strlen(s_get_str(e, "param")), sizeof err.param - 1);
    json_decref(root);

    abuf_reset(&out);
    openai_error_set(&err, "model_not_found", "model", "model %s is served nowhere", "x");
    assert_int_equal(openai_render_sse_error(&out, &err), 0);
    root = s_decode_sse(&out, 0);
    e = json_object_get(root, "error");
    assert_string_equal(s_get_str(e, "param"), "model");
    assert_string_equal(s_get_str(e, "code"), "model_not_found");
    assert_string_equal(s_get_str(e, "message"), "model x is served nowhere");
    json_decref(root);

    /* a long message is cut at the buffer, never overrun */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    openai_error_set(&err, "upstream_error", NULL, "%s", big);
    assert_int_equal(strlen(err.message), sizeof err.message - 1);
    abuf_reset(&out);
    assert_int_equal(openai_render_error(&out, &err), 0);
    json_decref(s_decode(out.data, out.len, 0));
    assert_int_equal(openai_render_error(&out, NULL), -1);
    abuf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

static const openai_render_ctx_t s_ctx = {"chatcmpl-abc", 1700000000, "gpt-4o"};

static void s_check_chunk_head(json_t *root)
{
    assert_string_equal(s_get_str(root, "id"), "chatcmpl-abc");
    assert_string_equal(s_get_str(root, "object"), "chat.completion.chunk");
    assert_int_equal(s_get_int(root, "created"), 1700000000);
    assert_string_equal(s_get_str(root, "model"), "gpt-4o");
}

typedef struct {
    const char *name;
    bool first;
    delta_kind_t kind;
    const char *text;
    const char *field; /* delta key expected */
    const char *value; /* its value */
} delta_case_t;

static const delta_case_t s_deltas[] = {
    {"first text", true, DELTA_TEXT, "Hello", "content", "Hello"},
    {"text", false, DELTA_TEXT, " world", "content", " world"},
    {"empty text", false, DELTA_TEXT, "", "content", ""},
    {"reasoning first", true, DELTA_REASONING, "think", "reasoning_content", "think"},
    {"reasoning", false, DELTA_REASONING, "more", "reasoning_content", "more"},
    {"image", false, DELTA_IMAGE, "https://img.example/a.png", "content",
     "![image](https://img.example/a.png)\n"},
    {"image first", true, DELTA_IMAGE, "https://img.example/a.png", "content",
     "![image](https://img.example/a.png)\n"},
    {"image link breakers", false, DELTA_IMAGE, "https://x/a b(1)<2>.png", "content",
     "![image](https://x/a%20b%281%29%3C2%3E.png)\n"},
    {"text with json specials", false, DELTA_TEXT, "\"q\" \\ \n\r\t\b\f \x01\x1f </script>",
     "content", "\"q\" \\ \n\r\t\b\f \x01\x1f </script>"},
};

static void test_render_sse_delta(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_deltas / sizeof s_deltas[0]; i++) {
        const delta_case_t *c = &s_deltas[i];
        abuf_t out = ABUF_INIT;
        assert_int_equal(
            openai_render_sse_delta(&out, &s_ctx, c->first, c->kind, c->text, strlen(c->text)), 0);
        json_t *root = s_decode_sse(&out, 0);
        s_check_chunk_head(root);
        json_t *choice = s_choice0(root);
        assert_true(json_is_null(json_object_get(choice, "finish_reason")));
        json_t *delta = json_object_get(choice, "delta");
        assert_true(json_is_object(delta));
        assert_int_equal(json_object_size(delta), c->first ? 2 : 1);
        if (c->first)
            assert_string_equal(s_get_str(delta, "role"), "assistant");
        if (strcmp(s_get_str(delta, c->field), c->value) != 0)
            fail_msg("%s: got '%s'", c->name, s_get_str(delta, c->field));
        json_decref(root);
        abuf_free(&out);
    }
}

static void test_render_sse_delta_edges(void **state)
{
    (void)state;
    abuf_t out = ABUF_INIT;
    assert_int_equal(abuf_puts(&out, "before"), 0);
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, true, DELTA_CITATION, "{\"a\":1}", 7),
                     0);
    assert_int_equal(out.len, 6);
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, (delta_kind_t)99, "x", 1), -1);
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, DELTA_TEXT, NULL, 3), -1);
    assert_int_equal(openai_render_sse_delta(&out, NULL, false, DELTA_TEXT, "x", 1), -1);
    assert_string_equal(out.data, "before");

    /* appends after existing data; NULL text with len 0 is an empty delta */
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, DELTA_TEXT, NULL, 0), 0);
    assert_memory_equal(out.data, "beforedata: ", 12);

    /* a cap that cannot hold the chunk leaves the buffer untouched */
    abuf_t capped = ABUF_INIT;
    capped.max = 120;
    assert_int_equal(abuf_puts(&capped, "x"), 0);
    char text[200];
    memset(text, 'a', sizeof text);
    assert_int_equal(openai_render_sse_delta(&capped, &s_ctx, true, DELTA_TEXT, text, sizeof text),
                     -1);
    assert_int_equal(capped.len, 1);
    assert_string_equal(capped.data, "x");
    assert_int_equal(openai_render_sse_delta(&capped, &s_ctx, true, DELTA_IMAGE, text, 100), -1);
    assert_int_equal(capped.len, 1);
    abuf_free(&capped);

    /* text with only the length bounding it (no NUL terminator needed) */
    abuf_reset(&out);
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, DELTA_TEXT, "abcdef", 3), 0);
    json_t *root = s_decode_sse(&out, 0);
    assert_string_equal(s_get_str(json_object_get(s_choice0(root), "delta"), "content"), "abc");
    json_decref(root);
    abuf_free(&out);
}

static void test_render_sse_finish_usage_done(void **state)
{
    (void)state;
    const char *reasons[] = {"stop", "length", "content_filter"};
    for (size_t i = 0; i < 3; i++) {
        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_sse_finish(&out, &s_ctx, reasons[i]), 0);
        json_t *root = s_decode_sse(&out, 0);
        s_check_chunk_head(root);
        json_t *choice = s_choice0(root);
        assert_string_equal(s_get_str(choice, "finish_reason"), reasons[i]);
        json_t *delta = json_object_get(choice, "delta");
        assert_true(json_is_object(delta));
        assert_int_equal(json_object_size(delta), 0);
        json_decref(root);
        abuf_free(&out);
    }

    typedef struct {
        usage_t in;
        long long p, c, t;
    } usage_case_t;
    const usage_case_t usages[] = {
        {{12, 34}, 12, 34, 46}, {{-1, -1}, 0, 0, 0}, {{-1, 5}, 0, 5, 5},
        {{7, -1}, 7, 0, 7},     {{0, 0}, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof usages / sizeof usages[0]; i++) {
        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_sse_usage(&out, &s_ctx, &usages[i].in), 0);
        json_t *root = s_decode_sse(&out, 0);
        s_check_chunk_head(root);
        json_t *choices = json_object_get(root, "choices");
        assert_true(json_is_array(choices));
        assert_int_equal(json_array_size(choices), 0);
        json_t *u = json_object_get(root, "usage");
        assert_int_equal(s_get_int(u, "prompt_tokens"), usages[i].p);
        assert_int_equal(s_get_int(u, "completion_tokens"), usages[i].c);
        assert_int_equal(s_get_int(u, "total_tokens"), usages[i].t);
        json_decref(root);
        abuf_free(&out);
    }

    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_sse_done(&out), 0);
    assert_string_equal(out.data, "data: [DONE]\n\n");
    assert_int_equal(openai_render_sse_done(NULL), -1);
    abuf_free(&out);
}

static void test_render_completion(void **state)
{
    (void)state;
    const usage_t usage = {10, 20};
    for (int with_reasoning = 0; with_reasoning < 2; with_reasoning++) {
        abuf_t out = ABUF_INIT;
        const char *reasoning = with_reasoning ? "because" : NULL;
        assert_int_equal(openai_render_completion(&out, &s_ctx, "Answer", 6, reasoning,
                                                  reasoning ? 7 : 0, "stop", &usage),
                         0);
        json_t *root = s_decode(out.data, out.len, JSON_REJECT_DUPLICATES);
        assert_string_equal(s_get_str(root, "id"), "chatcmpl-abc");
        assert_string_equal(s_get_str(root, "object"), "chat.completion");
        assert_int_equal(s_get_int(root, "created"), 1700000000);
        assert_string_equal(s_get_str(root, "model"), "gpt-4o");
        json_t *choice = s_choice0(root);
        assert_string_equal(s_get_str(choice, "finish_reason"), "stop");
        json_t *msg = json_object_get(choice, "message");
        assert_string_equal(s_get_str(msg, "role"), "assistant");
        assert_string_equal(s_get_str(msg, "content"), "Answer");
        if (with_reasoning)
            assert_string_equal(s_get_str(msg, "reasoning_content"), "because");
        else
            assert_null(json_object_get(msg, "reasoning_content"));
        json_t *u = json_object_get(root, "usage");
        assert_int_equal(s_get_int(u, "prompt_tokens"), 10);
        assert_int_equal(s_get_int(u, "completion_tokens"), 20);
        assert_int_equal(s_get_int(u, "total_tokens"), 30);
        json_decref(root);
        abuf_free(&out);
    }

    /* empty answer, unknown usage, length-limited */
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_completion(&out, &s_ctx, NULL, 0, NULL, 0, "length", NULL), 0);
    json_t *root = s_decode(out.data, out.len, 0);
    json_t *choice = s_choice0(root);
    assert_string_equal(s_get_str(json_object_get(choice, "message"), "content"), "");
    assert_string_equal(s_get_str(choice, "finish_reason"), "length");
    assert_int_equal(s_get_int(json_object_get(root, "usage"), "total_tokens"), 0);
    json_decref(root);
    assert_int_equal(openai_render_completion(&out, &s_ctx, NULL, 5, NULL, 0, "stop", NULL), -1);
    abuf_free(&out);
}

static void test_render_models(void **state)
{
    (void)state;
    const openai_model_entry_t models[] = {
        {"gpt-4o", 1700000000, "openai", NULL},
        {"claude \"q\"", 1, "arena", "Claude \"Q\" 4.5"},
        {"bad\xff", 2, NULL, "D\xff"},
    };
    for (size_t n = 0; n <= 3; n++) {
        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_models(&out, models, n), 0);
        json_t *root = s_decode(out.data, out.len, 0);
        assert_string_equal(s_get_str(root, "object"), "list");
        json_t *data = json_object_get(root, "data");
        assert_true(json_is_array(data));
        assert_int_equal(json_array_size(data), n);
        for (size_t i = 0; i < n && i < 2; i++) {
            json_t *m = json_array_get(data, i);
            assert_string_equal(s_get_str(m, "id"), models[i].id);
            assert_string_equal(s_get_str(m, "object"), "model");
            assert_int_equal(s_get_int(m, "created"), models[i].created);
            assert_string_equal(s_get_str(m, "owned_by"), models[i].owned_by);
            /* display_name only when the entry has one */
            json_t *d = json_object_get(m, "display_name");
            if (models[i].display_name)
                assert_string_equal(json_string_value(d), models[i].display_name);
            else
                assert_null(d);
        }
        if (n == 3) {
            json_t *m = json_array_get(data, 2);
            assert_string_equal(s_get_str(m, "id"), "bad\xef\xbf\xbd");
            assert_string_equal(s_get_str(m, "owned_by"), "");
            assert_string_equal(s_get_str(m, "display_name"), "D\xef\xbf\xbd");
        }
        json_decref(root);
        abuf_free(&out);
    }
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_models(&out, NULL, 1), -1);
    abuf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 sanitizing                                                          */

#define FFFD "\xef\xbf\xbd"

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    const char *out;
    size_t out_len;
} utf8_case_t;

#define U8(name, in, out)                                                                          \
    {                                                                                              \
        name, in, sizeof in - 1, out, sizeof out - 1                                               \
    }

static const utf8_case_t s_utf8[] = {
    U8("ascii", "plain", "plain"),
    U8("two byte", "caf\xc3\xa9", "caf\xc3\xa9"),
    U8("three byte", "\xe2\x82\xac", "\xe2\x82\xac"),
    U8("four byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),
    U8("max code point", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),
    U8("lone 0xff",
       "a\xff"
       "b",
       "a" FFFD "b"),
    U8("lone continuation", "\x80", FFFD),
    U8("overlong slash", "\xc0\xaf", FFFD FFFD),
    U8("overlong three", "\xe0\x80\xaf", FFFD FFFD FFFD),
    U8("surrogate", "\xed\xa0\x80", FFFD FFFD FFFD),
    U8("above max", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD),
    U8("f5 lead", "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD),
    U8("truncated at end", "ok\xe2\x82", "ok" FFFD FFFD),
    U8("truncated mid", "x\xe2\x82y", "x" FFFD FFFD "y"),
    U8("truncated four", "\xf0\x9f\x98", FFFD FFFD FFFD),
    U8("mixed", "\"\xfe\\\n\xc3\xa9", "\"" FFFD "\\\n\xc3\xa9"),
    U8("nul", "a\0b", "a\0b"),
};

static void s_check_utf8_json(const utf8_case_t *c, const abuf_t *out, bool sse,
                              const char *(*pick)(json_t *root, size_t *len))
{
    json_t *root =
        sse ? s_decode_sse(out, JSON_ALLOW_NUL) : s_decode(out->data, out->len, JSON_ALLOW_NUL);
    size_t len = 0;
    const char *got = pick(root, &len);
    if (len != c->out_len || memcmp(got, c->out, len) != 0)
        fail_msg("%s: wrong text (%zu bytes)", c->name, len);
    json_decref(root);
}

static const char *s_pick_delta(json_t *root, size_t *len)
{
    json_t *v = json_object_get(json_object_get(s_choice0(root), "delta"), "content");
    assert_true(json_is_string(v));
    *len = json_string_length(v);
    return json_string_value(v);
}

static const char *s_pick_reasoning(json_t *root, size_t *len)
{
    json_t *v = json_object_get(json_object_get(s_choice0(root), "message"), "reasoning_content");
    assert_true(json_is_string(v));
    *len = json_string_length(v);
    return json_string_value(v);
}

static const char *s_pick_model(json_t *root, size_t *len)
{
    json_t *v = json_object_get(root, "model");
    assert_true(json_is_string(v));
    *len = json_string_length(v);
    return json_string_value(v);
}

static void test_render_invalid_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_utf8 / sizeof s_utf8[0]; i++) {
        const utf8_case_t *c = &s_utf8[i];
        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, DELTA_TEXT, c->in, c->len),
                         0);
        s_check_utf8_json(c, &out, true, s_pick_delta);

        abuf_reset(&out);
        assert_int_equal(
            openai_render_completion(&out, &s_ctx, "a", 1, c->in, c->len, "stop", NULL), 0);
        s_check_utf8_json(c, &out, false, s_pick_reasoning);

        /* the client's model name is echoed too */
        if (!memchr(c->in, '\0', c->len)) {
            openai_render_ctx_t ctx = {"id", 1, c->in};
            abuf_reset(&out);
            assert_int_equal(openai_render_sse_finish(&out, &ctx, "stop"), 0);
            s_check_utf8_json(c, &out, true, s_pick_model);
        }
        abuf_free(&out);
    }
}

static void test_render_large(void **state)
{
    (void)state;
    /* a large delta of mixed text renders and decodes */
    size_t n = 1 << 20;
    char *text = malloc(n);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)("ab\"\n\xc3\xa9\xff\x01"[i % 8]);
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, true, DELTA_TEXT, text, n), 0);
    json_t *root = s_decode_sse(&out, 0);
    json_decref(root);
    abuf_free(&out);
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Issue #10: tools, formats, stop, limits, names; Responses; images         */

typedef int (*parse_fn)(const char *, size_t, const openai_limits_t *, openai_request_t **,
                        openai_error_t *);

static openai_request_t *s_ok(parse_fn fn, const char *src)
{
    char *body = s_q(src);
    openai_request_t *req = NULL;
    openai_error_t err;
    if (fn(body, strlen(body), NULL, &req, &err) < 0)
        fail_msg("rejected: %s (param %s)\n%s", err.message, err.param, body);
    free(body);
    return req;
}

/*  write → parse yields an equal request (what a peer receives). */
static void s_rt10(const openai_request_t *req)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_request_write(req, &out), 0);
    openai_request_t *again = NULL;
    openai_error_t err;
    if (openai_request_parse(out.data, out.len, NULL, &again, &err) < 0)
        fail_msg("written request rejected: %s\n%s", err.message, out.data);
    if (!openai_request_equal(req, again))
        fail_msg("round trip differs:\n%s", out.data);
    openai_request_destroy(&again);
    abuf_free(&out);
}

#define TOOL_F                                                                                     \
    "{'type':'function','function':{'name':'get_weather','description':'d','strict':true,"         \
    "'parameters':{'type':'object','properties':{'city':{'type':'string'}}}}}"

static void test_fields_chat(void **state)
{
    (void)state;
    openai_request_t *req =
        s_ok(openai_request_parse,
             "{'model':'m','stop':['END','\\n\\n'],'max_completion_tokens':50,'n':1,"
             "'logprobs':true,'top_logprobs':2,'tools':[" TOOL_F
             ",{'type':'function','function':{'name':'b-2'}}],"
             "'tool_choice':{'type':'function','function':{'name':'b-2'}},"
             "'parallel_tool_calls':false,'store':false,'modalities':['text'],'logit_bias':{},"
             "'response_format':{'type':'json_schema','json_schema':{'name':'out','strict':true,"
             "'schema':{'type':'object','required':['a']}}},"
             "'messages':[{'role':'system','name':'example_user','content':'hi'},"
             "{'role':'user','name':'Alice','content':'weather?'},"
             "{'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"
             "'function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}}]},"
             "{'role':'tool','tool_call_id':'call_1','content':'21 C'},"
             "{'role':'assistant','function_call':{'name':'b-2','arguments':'{}'}},"
             "{'role':'function','name':'b-2','content':'ok'}]}");
    assert_int_equal(req->n_stop, 2);
    assert_string_equal(req->stop[0], "END");
    assert_string_equal(req->stop[1], "\n\n");
    assert_int_equal(req->max_tokens, 50);
    assert_true(req->logprobs);
    assert_int_equal(req->n_tools, 2);
    assert_string_equal(req->tools[0].name, "get_weather");
    assert_string_equal(req->tools[0].description, "d");
    assert_string_equal(req->tools[0].parameters,
                        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}");
    assert_true(req->tools[0].strict);
    assert_null(req->tools[1].parameters);
    assert_int_equal(req->tool_choice, OPENAI_TOOL_NAMED);
    assert_string_equal(req->tool_choice_name, "b-2");
    assert_false(req->parallel_tool_calls);
    assert_int_equal(req->format, OPENAI_FORMAT_JSON_SCHEMA);
    assert_string_equal(req->format_name, "out");
    assert_string_equal(req->format_schema, "{\"type\":\"object\",\"required\":[\"a\"]}");
    assert_true(req->format_strict);
    assert_string_equal(req->messages[0].name, "example_user");
    assert_string_equal(req->messages[1].name, "Alice");
    const openai_message_t *a = &req->messages[2];
    assert_string_equal(a->content, "");
    assert_int_equal(a->n_tool_calls, 1);
    assert_string_equal(a->tool_calls[0].id, "call_1");
    assert_string_equal(a->tool_calls[0].name, "get_weather");
    assert_string_equal(a->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_string_equal(req->messages[3].tool_call_id, "call_1");
    assert_int_equal(req->messages[4].n_tool_calls, 1); /* function_call */
    assert_string_equal(req->messages[4].tool_calls[0].name, "b-2");
    assert_string_equal(req->messages[4].tool_calls[0].id, "call_m4");
    assert_string_equal(req->messages[5].role, "tool"); /* role function */
    assert_string_equal(req->messages[5].name, "b-2");
    assert_null(req->messages[5].tool_call_id);
    assert_string_equal(req->ignored, "");
    s_rt10(req);
    openai_request_destroy(&req);

    /* defaults; stop as one string; max_tokens alone; json_object; functions */
    req = s_ok(openai_request_parse,
               "{'model':'m','stop':'###','max_tokens':7,'response_format':{'type':'json_object'},"
               "'functions':[{'name':'f','parameters':{'type':'object'}}],'function_call':'auto',"
               "'messages':[{'role':'user','content':'x'}]}");
    assert_int_equal(req->n_stop, 1);
    assert_string_equal(req->stop[0], "###");
    assert_int_equal(req->max_tokens, 7);
    assert_int_equal(req->format, OPENAI_FORMAT_JSON_OBJECT);
    assert_int_equal(req->n_tools, 1);
    assert_int_equal(req->tool_choice, OPENAI_TOOL_AUTO);
    assert_true(req->parallel_tool_calls);
    s_rt10(req);
    openai_request_destroy(&req);

    req = s_ok(openai_request_parse, "{'model':'m','messages':[{'role':'user','content':'x'}],"
                                     "'stop':[],'max_tokens':null,'tool_choice':'none'}");
    assert_int_equal(req->n_stop, 0);
    assert_int_equal(req->max_tokens, -1);
    assert_int_equal(req->tool_choice, OPENAI_TOOL_NONE);
    assert_int_equal(req->format, OPENAI_FORMAT_TEXT);
    s_rt10(req);
    openai_request_destroy(&req);
}

static void test_fields_ignored(void **state)
{
    (void)state;
    /* the OpenAI SDK's hints and SillyTavern's extensions */
    openai_request_t *req =
        s_ok(openai_request_parse,
             "{'model':'m','temperature':0.7,'top_p':1,'frequency_penalty':0,'presence_penalty':0,"
             "'seed':3,'user':'u','metadata':{'a':'b'},'top_k':40,'min_p':0.1,"
             "'repetition_penalty':1.1,'include_reasoning':true,'nothing':null,"
             "'stream_options':{'include_usage':true,'include_obfuscation':false},"
             "'messages':[{'role':'user','content':'x'}]}");
    assert_string_equal(req->ignored,
                        "stream_options.include_obfuscation,temperature,top_p,frequency_penalty,"
                        "presence_penalty,seed,user,metadata,top_k,min_p,repetition_penalty,"
                        "include_reasoning");
    openai_request_destroy(&req);
    /* a list longer than the field keeps whole names only */
    abuf_t b = ABUF_INIT;
    assert_int_equal(abuf_puts(&b, "{'model':'m','messages':[{'role':'user','content':'x'}]"), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(abuf_printf(&b, ",'hint_number_%02d':1", i), 0);
    assert_int_equal(abuf_puts(&b, ",'w\\u00e9ird':1}"), 0);
    req = s_ok(openai_request_parse, b.data);
    abuf_free(&b);
    assert_true(strlen(req->ignored) < sizeof req->ignored);
    assert_non_null(strstr(req->ignored, "hint_number_00,hint_number_01"));
    /* whole names only; a name with other bytes is listed as "?" */
    char list[sizeof req->ignored];
    memcpy(list, req->ignored, sizeof list);
    size_t names = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        names++;
        if (strcmp(t, "?") != 0 && strlen(t) != strlen("hint_number_00"))
            fail_msg("cut name '%s' in '%s'", t, req->ignored);
    }
    assert_true(names >= 10);
    assert_non_null(strstr(req->ignored, ",?"));
    openai_request_destroy(&req);
}

/*  SillyTavern's (Chat Completion, custom source) and NextChat's bodies:
    every extension field is accepted and listed. */
static void test_fields_clients(void **state)
{
    (void)state;
    openai_request_t *req = s_ok(
        openai_request_parse,
        "{'messages':[{'role':'system','content':'Write the next reply of Seraphina.'},"
        "{'role':'system','name':'example_user','content':'Hi'},"
        "{'role':'system','name':'example_assistant','content':'*smiles* Hello.'},"
        "{'role':'system','content':'[Start a new Chat]'},"
        "{'role':'assistant','content':'*You wake up.*'},{'role':'user','content':'Where am I?'}],"
        "'model':'gpt-4o','temperature':1,'frequency_penalty':0,'presence_penalty':0,'top_p':1,"
        "'max_tokens':300,'stream':true,'logit_bias':{},'stop':[],'top_k':0,'min_p':0,"
        "'repetition_penalty':1,'top_a':0,'seed':-1,'n':1,'include_reasoning':true,"
        "'reasoning_effort':'medium'}");
    assert_int_equal(req->n_messages, 6);
    assert_string_equal(req->messages[1].name, "example_user");
    assert_int_equal(req->max_tokens, 300);
    assert_int_equal(req->n_stop, 0);
    assert_string_equal(req->ignored, "temperature,frequency_penalty,presence_penalty,top_p,"
                                      "top_k,min_p,repetition_penalty,top_a,seed,"
                                      "include_reasoning,reasoning_effort");
    openai_request_destroy(&req);
    req = s_ok(openai_request_parse,
               "{'messages':[{'role':'system','content':'You are ChatGPT.'},"
               "{'role':'user','content':[{'type':'text','text':'what is this?'},{'type':"
               "'image_url','image_url':{'url':'data:image/jpeg;base64,/9j/4AAQ'}}]}],"
               "'stream':true,'model':'gpt-4o-mini','temperature':0.5,'presence_penalty':0,"
               "'frequency_penalty':0,'top_p':1,'max_tokens':4000}");
    assert_int_equal(req->n_images_total, 1);
    assert_string_equal(req->ignored, "temperature,presence_penalty,frequency_penalty,top_p");
    openai_request_destroy(&req);
}

typedef struct {
    parse_fn fn;
    const char *body;
    const char *param;
    const char *message;
} invalid10_t;

#define M1 "'messages':[{'role':'user','content':'x'}]"
#define RI "'input':'x'"

static const invalid10_t s_invalid10[] = {
    {openai_request_parse, "{'model':'m','n':2," M1 "}", "n", "must be 1"},
    {openai_request_parse, "{'model':'m','n':'1'," M1 "}", "n", "must be 1"},
    {openai_request_parse, "{'model':'m','stop':['a','b','c','d','e']," M1 "}", "stop",
     "at most 4"},
    {openai_request_parse, "{'model':'m','stop':''," M1 "}", "stop", "non-empty"},
    {openai_request_parse, "{'model':'m','stop':['a',1]," M1 "}", "stop", "non-empty strings"},
    {openai_request_parse, "{'model':'m','stop':5," M1 "}", "stop", "a string or an array"},
    {openai_request_parse, "{'model':'m','max_tokens':0," M1 "}", "max_tokens", "positive"},
    {openai_request_parse, "{'model':'m','max_completion_tokens':1.5," M1 "}",
     "max_completion_tokens", "positive"},
    {openai_request_parse, "{'model':'m','max_tokens':5,'max_completion_tokens':6," M1 "}",
     "max_completion_tokens", "differ"},
    {openai_request_parse, "{'model':'m','top_logprobs':3," M1 "}", "top_logprobs",
     "needs logprobs"},
    {openai_request_parse, "{'model':'m','logprobs':'yes'," M1 "}", "logprobs", "boolean"},
    {openai_request_parse, "{'model':'m','audio':{'voice':'alloy'}," M1 "}", "audio",
     "not supported"},
    {openai_request_parse, "{'model':'m','modalities':['text','audio']," M1 "}", "modalities",
     "only contain"},
    {openai_request_parse, "{'model':'m','prediction':{'type':'content'}," M1 "}", "prediction",
     "not supported"},
    {openai_request_parse, "{'model':'m','logit_bias':{'50256':-100}," M1 "}", "logit_bias",
     "cannot bias"},
    {openai_request_parse, "{'model':'m','web_search_options':{}," M1 "}", "web_search_options",
     "search model"},
    {openai_request_parse, "{'model':'m','store':true," M1 "}", "store", "keeps no"},
    {openai_request_parse, "{'model':'m','tools':{}," M1 "}", "tools", "must be an array"},
    {openai_request_parse, "{'model':'m','tools':[{'type':'web_search'}]," M1 "}", "tools[0].type",
     "only function tools"},
    {openai_request_parse, "{'model':'m','tools':[{'type':'function'}]," M1 "}",
     "tools[0].function", "required"},
    {openai_request_parse,
     "{'model':'m','tools':[{'type':'function','function':{'name':'a b'}}]," M1 "}",
     "tools[0].function.name", "letters, digits"},
    {openai_request_parse,
     "{'model':'m','tools':[{'type':'function','function':{'name':'"
     "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345'}}]," M1 "}",
     "tools[0].function.name", "1 to 64"},
    {openai_request_parse,
     "{'model':'m','tools':[{'type':'function','function':{'name':'f','parameters':[]}}]," M1 "}",
     "tools[0].function.parameters", "must be an object"},
    {openai_request_parse,
     "{'model':'m','tools':[{'type':'function','function':{'name':'f'}},"
     "{'type':'function','function':{'name':'f'}}]," M1 "}",
     "tools[1]", "repeats"},
    {openai_request_parse, "{'model':'m','tools':[" TOOL_F "],'functions':[{'name':'g'}]," M1 "}",
     "functions", "cannot both"},
    {openai_request_parse, "{'model':'m','tool_choice':'required'," M1 "}", "tool_choice",
     "no tools"},
    {openai_request_parse, "{'model':'m','tool_choice':'maybe'," M1 "}", "tool_choice", "must be"},
    {openai_request_parse,
     "{'model':'m','tools':[" TOOL_F "],'tool_choice':{'type':'function','function':{'name':"
     "'other'}}," M1 "}",
     "tool_choice", "not among the tools"},
    {openai_request_parse,
     "{'model':'m','tools':[" TOOL_F "],'tool_choice':{'type':'file_search'}," M1 "}",
     "tool_choice.type", "only function tools"},
    {openai_request_parse,
     "{'model':'m','functions':[{'name':'f'}],'function_call':{'name':'g'}," M1 "}",
     "function_call", "not among"},
    {openai_request_parse,
     "{'model':'m','tools':[" TOOL_F "],'tool_choice':'auto','function_call':'auto'," M1 "}",
     "function_call", "cannot both"},
    {openai_request_parse, "{'model':'m','parallel_tool_calls':1," M1 "}", "parallel_tool_calls",
     "boolean"},
    {openai_request_parse, "{'model':'m','response_format':{'type':'xml'}," M1 "}",
     "response_format.type", "json_schema"},
    {openai_request_parse, "{'model':'m','response_format':'json'," M1 "}", "response_format",
     "an object"},
    {openai_request_parse, "{'model':'m','response_format':{'type':'json_schema'}," M1 "}",
     "response_format.json_schema", "required"},
    {openai_request_parse,
     "{'model':'m','response_format':{'type':'json_schema','json_schema':{'schema':{}}}," M1 "}",
     "response_format.json_schema.name", "required"},
    {openai_request_parse,
     "{'model':'m','response_format':{'type':'json_schema','json_schema':{'name':'n',"
     "'schema':true}}," M1 "}",
     "response_format.json_schema.schema", "an object"},
    {openai_request_parse, "{'model':'m','messages':[{'role':'user','name':5,'content':'x'}]}",
     "messages[0].name", "a string"},
    {openai_request_parse,
     "{'model':'m','messages':[{'role':'user','name':'a\\tb','content':'x'}]}", "messages[0].name",
     "control characters"},
    {openai_request_parse,
     "{'model':'m','messages':[{'role':'user','name':'"
     "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij12345','content':'x'}]}",
     "messages[0].name", "at most 64"},
    {openai_request_parse, "{'model':'m','messages':[{'role':'assistant','tool_calls':{}}]}",
     "messages[0].tool_calls", "an array"},
    {openai_request_parse, "{'model':'m','messages':[{'role':'assistant','tool_calls':[{}]}]}",
     "messages[0].tool_calls[0].id", "required"},
    {openai_request_parse,
     "{'model':'m','messages':[{'role':'user','content':'q'},{'role':'user','content':'q'},"
     "{'role':'user','content':'q'},{'role':'assistant','tool_calls':[{'id':'c','type':"
     "'function','function':{'name':'f','arguments':{}}}]}]}",
     "messages[3].tool_calls[0].function.arguments", "a string"},
    {openai_request_parse,
     "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'custom',"
     "'function':{'name':'f','arguments':''}}]}]}",
     "messages[0].tool_calls[0].type", "function"},
    {openai_request_parse, "{'model':'m','messages':[{'role':'tool','tool_call_id':3}]}",
     "messages[0].tool_call_id", "a string"},
    {openai_request_parse, "{'model':'m','messages':[{'role':'function','content':'x'}]}",
     "messages[0].name", "required"},
    {openai_request_parse, "{'model':'m','image_size':'big'," M1 "}", "image_size", "auto"},
    /* Responses */
    {openai_responses_parse, "{'model':'m'}", "input", "missing required field"},
    {openai_responses_parse, "{'input':'x'}", "model", "missing required field"},
    {openai_responses_parse, "{'model':'m','input':5}", "input", "a string or an array"},
    {openai_responses_parse, "{'model':'m','input':[]}", "input", "at least one"},
    {openai_responses_parse, "{'model':'m'," RI ",'previous_response_id':'resp_1'}",
     "previous_response_id", "not whole responses"},
    {openai_responses_parse, "{'model':'m'," RI ",'conversation':'conv_1'}", "conversation",
     "keeps no conversations"},
    {openai_responses_parse, "{'model':'m'," RI ",'background':true}", "background",
     "no background"},
    {openai_responses_parse, "{'model':'m'," RI ",'tools':[{'type':'web_search_preview'}]}",
     "tools[0].type", "only function tools"},
    {openai_responses_parse, "{'model':'m'," RI ",'tools':[{'type':'function'}]}", "tools[0].name",
     "required"},
    {openai_responses_parse,
     "{'model':'m'," RI ",'tools':[{'type':'function','name':'f'}],'tool_choice':{'type':"
     "'function','name':'g'}}",
     "tool_choice", "not among"},
    {openai_responses_parse, "{'model':'m'," RI ",'text':{'format':{'type':'json_schema'}}}",
     "text.format.name", "required"},
    {openai_responses_parse, "{'model':'m'," RI ",'text':{'format':{'type':'yaml'}}}",
     "text.format.type", "json_schema"},
    {openai_responses_parse, "{'model':'m'," RI ",'max_output_tokens':0}", "max_output_tokens",
     "positive"},
    {openai_responses_parse, "{'model':'m','input':[{'type':'item_reference','id':'msg_1'}]}",
     "input[0]", "store: false"},
    {openai_responses_parse, "{'model':'m','input':[{'role':'robot','content':'x'}]}",
     "input[0].role", "must be one of"},
    {openai_responses_parse,
     "{'model':'m','input':[{'role':'user','content':[{'type':'input_file','file_id':'f'}]}]}",
     "input[0].content[0].type", "input_file"},
    {openai_responses_parse,
     "{'model':'m','input':[{'role':'user','content':[{'type':'input_image','file_id':'f'}]}]}",
     "input[0].content[0].image_url", "file ids"},
    {openai_responses_parse, "{'model':'m','input':[{'type':'function_call','name':'f'}]}",
     "input[0].call_id", "required"},
    {openai_responses_parse,
     "{'model':'m','input':[{'type':'function_call_output','call_id':'c'}]}", "input[0].output",
     "required"},
    {openai_responses_parse,
     "{'model':'m','input':[{'type':'function_call_output','call_id':'c','output':[{'type':"
     "'input_image','image_url':'https://x.test/a.png'}]}]}",
     "input[0].output", "text only"},
    {openai_responses_parse,
     "{'model':'m','input':[{'type':'function_call_output','call_id':'c','output':[{'type':"
     "'input_text'}]}]}",
     "input[0].output[0].text", "required"},
    {openai_responses_parse, "{'model':'m','input':[{'type':'computer_call'}]}", "input[0].type",
     "not supported"},
    /* images */
    {openai_images_parse, "{'prompt':'a cat'}", "model", "missing required field"},
    {openai_images_parse, "{'model':'m'}", "prompt", "required"},
    {openai_images_parse, "{'model':'m','prompt':''}", "prompt", "non-empty"},
    {openai_images_parse, "{'model':'m','prompt':'a','n':2}", "n", "must be 1"},
    {openai_images_parse, "{'model':'m','prompt':'a','response_format':'b64_json'}",
     "response_format", "url"},
    {openai_images_parse, "{'model':'m','prompt':'a','size':'1024'}", "size", "auto"},
    {openai_images_parse, "{'model':'m','prompt':'a','size':'0x5'}", "size", "auto"},
    {openai_images_parse, "{'model':'m','prompt':'a','size':'1024x1024x'}", "size", "auto"},
};

static void test_fields_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_invalid10 / sizeof s_invalid10[0]; i++) {
        const invalid10_t *c = &s_invalid10[i];
        char *body = s_q(c->body);
        openai_request_t *req = (openai_request_t *)(uintptr_t)1;
        openai_error_t err;
        if (c->fn(body, strlen(body), NULL, &req, &err) != -1)
            fail_msg("case %zu accepted: %s", i, body);
        assert_null(req);
        assert_int_equal(err.status, 400);
        if (strcmp(err.param, c->param) != 0)
            fail_msg("case %zu: param '%s' != '%s' (%s)", i, err.param, c->param, err.message);
        if (!strstr(err.message, c->message))
            fail_msg("case %zu: message '%s' lacks '%s'", i, err.message, c->message);
        free(body);
    }
}

/*  Bounds: 128 tools, 64 KiB of schema. */
static void test_fields_bounds(void **state)
{
    (void)state;
    for (int n = 128; n <= 129; n++) {
        abuf_t b = ABUF_INIT;
        assert_int_equal(abuf_puts(&b, "{\"model\":\"m\","
                                       "\"messages\":[{\"role\":\"user\","
                                       "\"content\":\"x\"}],\"tools\":["),
                         0);
        for (int i = 0; i < n; i++)
            assert_int_equal(abuf_printf(&b,
                                         "%s{\"type\":\"function\",\"function\":{\"name\":"
                                         "\"f%d\"}}",
                                         i ? "," : "", i),
                             0);
        assert_int_equal(abuf_puts(&b, "]}"), 0);
        openai_request_t *req = NULL;
        openai_error_t err;
        int rc = openai_request_parse(b.data, b.len, NULL, &req, &err);
        assert_int_equal(rc, n == 128 ? 0 : -1);
        if (rc < 0)
            assert_string_equal(err.param, "tools");
        openai_request_destroy(&req);
        abuf_free(&b);
    }
    for (size_t len = 65000; len <= 66000; len += 1000) {
        abuf_t b = ABUF_INIT;
        assert_int_equal(abuf_puts(&b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                                       "\"content\":\"x\"}],\"response_format\":{\"type\":"
                                       "\"json_schema\",\"json_schema\":{\"name\":\"n\","
                                       "\"schema\":{\"description\":\""),
                         0);
        for (size_t i = 0; i < len; i++)
            assert_int_equal(abuf_append(&b, "a", 1), 0);
        assert_int_equal(abuf_puts(&b, "\"}}}}"), 0);
        openai_request_t *req = NULL;
        openai_error_t err;
        int rc = openai_request_parse(b.data, b.len, NULL, &req, &err);
        assert_int_equal(rc, len == 65000 ? 0 : -1);
        if (rc < 0)
            assert_string_equal(err.param, "response_format.json_schema.schema");
        openai_request_destroy(&req);
        abuf_free(&b);
    }
}

/*  equal sees every new field. */
static void test_fields_equal(void **state)
{
    (void)state;
    static const char *const variants[] = {
        "",
        ",'stop':'x'",
        ",'max_tokens':9",
        ",'logprobs':true",
        ",'tools':[{'type':'function','function':{'name':'f'}}]",
        ",'tools':[{'type':'function','function':{'name':'f','strict':true}}]",
        ",'tools':[{'type':'function','function':{'name':'f','description':'d'}}]",
        ",'tools':[{'type':'function','function':{'name':'f','parameters':{}}}]",
        ",'tools':[{'type':'function','function':{'name':'f'}}],'tool_choice':'required'",
        ",'tools':[{'type':'function','function':{'name':'f'}}],'tool_choice':{'type':"
        "'function','function':{'name':'f'}}",
        ",'tool_choice':'none'",
        ",'parallel_tool_calls':false",
        ",'response_format':{'type':'json_object'}",
        ",'response_format':{'type':'json_schema','json_schema':{'name':'a'}}",
        ",'response_format':{'type':'json_schema','json_schema':{'name':'b'}}",
        ",'response_format':{'type':'json_schema','json_schema':{'name':'a','strict':true}}",
        ",'response_format':{'type':'json_schema','json_schema':{'name':'a','schema':{}}}",
        ",'image_size':'auto'",
        ",'arena_lowered':true",
        ",'messages':[{'role':'user','content':'x','name':'n'}]",
        ",'messages':[{'role':'tool','content':'x','tool_call_id':'c'}]",
        ",'messages':[{'role':'tool','content':'x'}]",
        ",'messages':[{'role':'assistant','content':'x','tool_calls':[{'id':'c','function':{"
        "'name':'f','arguments':'{}'}}]}]",
        ",'messages':[{'role':'assistant','content':'x','tool_calls':[{'id':'d','function':{"
        "'name':'f','arguments':'{}'}}]}]",
        ",'messages':[{'role':'assistant','content':'x','tool_calls':[{'id':'c','function':{"
        "'name':'g','arguments':'{}'}}]}]",
        ",'messages':[{'role':'assistant','content':'x','tool_calls':[{'id':'c','function':{"
        "'name':'f','arguments':'[]'}}]}]",
    };
    size_t n = sizeof variants / sizeof variants[0];
    openai_request_t *reqs[sizeof variants / sizeof variants[0]];
    for (size_t i = 0; i < n; i++) {
        char body[512];
        bool own_messages = strstr(variants[i], "'messages'") != NULL;
        snprintf(body, sizeof body, "{'model':'m'%s%s}",
                 own_messages ? "" : ",'messages':[{'role':'assistant','content':'x'}]",
                 variants[i]);
        reqs[i] = s_ok(openai_request_parse, body);
        s_rt10(reqs[i]);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (openai_request_equal(reqs[i], reqs[j]) != (i == j))
                fail_msg("variants %zu and %zu: equal is %d", i, j, (int)(i != j));
    for (size_t i = 0; i < n; i++)
        openai_request_destroy(&reqs[i]);
}

/*  What @ai-sdk/openai's default model (the Responses API) sends: system
    and user messages, input_text/input_image parts, an earlier answer as
    output_text (with its item id), a tool round trip, flat tools,
    text.format json_schema, hints. */
static void test_responses_ai_sdk(void **state)
{
    (void)state;
    openai_request_t *req = s_ok(
        openai_responses_parse,
        "{'model':'gpt-4o','input':["
        "{'role':'system','content':'Be brief.'},"
        "{'role':'user','content':[{'type':'input_text','text':'Weather in Paris?'},"
        "{'type':'input_image','image_url':'data:image/png;base64,iVBORw0KGgo=','detail':'auto'}"
        "]},"
        "{'role':'assistant','content':[{'type':'output_text','text':'Checking.'}],'id':'msg_1'},"
        "{'type':'function_call','call_id':'call_1','name':'weather','arguments':'{\\'city\\':"
        "\\'Paris\\'}','id':'fc_1'},"
        "{'type':'function_call','call_id':'call_2','name':'weather','arguments':'{}'},"
        "{'type':'function_call_output','call_id':'call_1','output':'21 C'},"
        "{'type':'function_call_output','call_id':'call_2','output':[{'type':'input_text',"
        "'text':'25'},{'type':'input_text','text':'C'}]},"
        "{'type':'reasoning','id':'rs_1','summary':[]}],"
        "'temperature':0.3,'top_p':1,'max_output_tokens':300,'store':false,"
        "'include':['reasoning.encrypted_content'],'stream':true,"
        "'tools':[{'type':'function','name':'weather','description':'w','parameters':{'type':"
        "'object','properties':{}},'strict':false}],'tool_choice':'auto',"
        "'text':{'format':{'type':'json_schema','strict':true,'name':'response','schema':{"
        "'type':'object'}},'verbosity':'low'}}");
    assert_string_equal(req->model, "gpt-4o");
    assert_true(req->stream);
    assert_int_equal(req->max_tokens, 300);
    assert_int_equal(req->n_messages, 5);
    assert_string_equal(req->messages[0].role, "system");
    assert_string_equal(req->messages[1].content, "Weather in Paris?");
    assert_int_equal(req->messages[1].n_images, 1);
    assert_int_equal(req->n_images_total, 1);
    const openai_message_t *a = &req->messages[2];
    assert_string_equal(a->role, "assistant");
    assert_string_equal(a->content, "Checking.");
    assert_int_equal(a->n_tool_calls, 2);
    assert_string_equal(a->tool_calls[0].id, "call_1");
    assert_string_equal(a->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_string_equal(req->messages[3].role, "tool");
    assert_string_equal(req->messages[3].tool_call_id, "call_1");
    assert_string_equal(req->messages[3].name, "weather");
    assert_string_equal(req->messages[3].content, "21 C");
    assert_string_equal(req->messages[4].content, "25\nC");
    assert_int_equal(req->n_tools, 1);
    assert_string_equal(req->tools[0].parameters, "{\"type\":\"object\",\"properties\":{}}");
    assert_int_equal(req->format, OPENAI_FORMAT_JSON_SCHEMA);
    assert_string_equal(req->format_name, "response");
    assert_true(req->format_strict);
    assert_string_equal(req->ignored, "input.reasoning,text.verbosity,temperature,top_p,include");
    assert_false(req->store);
    s_rt10(req);
    openai_request_destroy(&req);
}

/*  @langchain/openai's Responses body: typed message items, instructions,
    a string input. */
static void test_responses_langchain(void **state)
{
    (void)state;
    openai_request_t *req =
        s_ok(openai_responses_parse,
             "{'model':'o3-mini','instructions':'You are helpful.','input':["
             "{'type':'message','role':'developer','content':'Rules.'},"
             "{'type':'message','role':'user','content':[{'type':'input_text','text':'hi'}]},"
             "{'type':'message','role':'assistant','id':'msg_2','status':'completed',"
             "'content':[{'type':'output_text','text':'hello','annotations':[]},"
             "{'type':'refusal','refusal':'no'}]},"
             "{'type':'message','role':'user','content':'again'}],"
             "'parallel_tool_calls':false,'reasoning':{'effort':'low'},'stream':false,"
             "'text':{'format':{'type':'json_object'}}}");
    assert_int_equal(req->n_messages, 5);
    assert_string_equal(req->messages[0].role, "system");
    assert_string_equal(req->messages[0].content, "You are helpful.");
    assert_string_equal(req->messages[1].role, "developer");
    assert_string_equal(req->messages[3].content, "hello\nno");
    assert_false(req->parallel_tool_calls);
    assert_int_equal(req->format, OPENAI_FORMAT_JSON_OBJECT);
    assert_string_equal(req->ignored, "reasoning");
    s_rt10(req);
    openai_request_destroy(&req);

    req = s_ok(openai_responses_parse, "{'model':'m','input':'Tell me a joke.','store':true}");
    assert_int_equal(req->n_messages, 1);
    assert_string_equal(req->messages[0].role, "user");
    assert_string_equal(req->messages[0].content, "Tell me a joke.");
    assert_int_equal(req->max_tokens, -1);
    assert_string_equal(req->ignored, "");
    assert_true(req->store);
    openai_request_destroy(&req);
    /* store is OpenAI's default; chat never stores */
    req = s_ok(openai_responses_parse, "{'model':'m','input':'x'}");
    assert_true(req->store);
    openai_request_destroy(&req);
    req = s_ok(openai_request_parse, "{'model':'m','messages':[{'role':'user','content':'x'}]}");
    assert_false(req->store);
    openai_request_destroy(&req);
}

/*  The items a test lookup knows: client "k1"'s answers. */
static const openai_item_t s_known_items[] = {
    {OPENAI_ITEM_MESSAGE, "msg_A_0", "The first answer.", NULL, NULL},
    {OPENAI_ITEM_REASONING, "rs_A_1", "Thinking.", NULL, NULL},
    {OPENAI_ITEM_CALL, "fc_A_2", "{\"city\":\"Paris\"}", "call_9", "weather"},
};

static int s_lookups;

static bool s_find_item(void *arg, const char *id, openai_item_t *out)
{
    s_lookups++;
    if (strcmp((const char *)arg, "k1") != 0)
        return false; /* another client's: nothing */
    for (size_t i = 0; i < sizeof s_known_items / sizeof s_known_items[0]; i++)
        if (strcmp(s_known_items[i].id, id) == 0) {
            *out = s_known_items[i];
            return true;
        }
    return false;
}

/*  What @ai-sdk/openai sends on a second turn with store left true: the
    earlier output items as references, resolved through the lookup. */
static void test_responses_item_reference(void **state)
{
    (void)state;
    openai_items_t items = {s_find_item, (void *)"k1", 86400};
    char *body = s_q("{'model':'m','input':["
                     "{'role':'user','content':[{'type':'input_text','text':'Hi'}]},"
                     "{'type':'item_reference','id':'rs_A_1'},"
                     "{'type':'item_reference','id':'msg_A_0'},"
                     "{'id':'fc_A_2'},"
                     "{'type':'function_call_output','call_id':'call_9','output':'21 C'},"
                     "{'role':'user','content':[{'type':'input_text','text':'And?'}]}]}");
    openai_request_t *req = NULL;
    openai_error_t err;
    s_lookups = 0;
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &items, &req, &err), 0);
    assert_int_equal(s_lookups, 3);
    assert_int_equal(req->n_messages, 4);
    assert_string_equal(req->messages[1].role, "assistant");
    assert_string_equal(req->messages[1].content, "The first answer.");
    /* the call joins the message before it: one assistant turn */
    assert_int_equal(req->messages[1].n_tool_calls, 1);
    assert_string_equal(req->messages[1].tool_calls[0].id, "call_9");
    assert_string_equal(req->messages[1].tool_calls[0].name, "weather");
    assert_string_equal(req->messages[1].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_string_equal(req->messages[2].role, "tool");
    assert_string_equal(req->messages[2].name, "weather");
    assert_string_equal(req->messages[3].content, "And?");
    assert_string_equal(req->ignored, "input.reasoning");
    assert_true(req->store);
    s_rt10(req);
    openai_request_destroy(&req);

    /* another client, an unknown id, no lookup: the same clear 400 */
    items.arg = (void *)"k2";
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &items, &req, &err), -1);
    assert_null(req);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.param, "input[1]");
    assert_non_null(strstr(err.message, "\"rs_A_1\""));
    assert_non_null(strstr(err.message, "for 24 hours"));
    assert_non_null(strstr(err.message, "providerOptions.openai.store = false"));
    free(body);
    items.arg = (void *)"k1";
    items.keep_s = 5400;
    body = s_q("{'model':'m','input':[{'role':'user','content':'x'},"
               "{'type':'item_reference','id':'msg_B_0'}]}");
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &items, &req, &err), -1);
    assert_string_equal(err.param, "input[1]");
    assert_non_null(strstr(err.message, "for 90 minutes"));
    assert_int_equal(openai_responses_parse(body, strlen(body), NULL, &req, &err), -1);
    assert_string_equal(err.param, "input[1]");
    assert_non_null(strstr(err.message, "keeps no responses"));
    free(body);
    body = s_q("{'model':'m','input':[{'type':'item_reference'}]}");
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &items, &req, &err), -1);
    assert_string_equal(err.param, "input[0].id");
    free(body);
    body = s_q("{'model':'m','input':[{'type':'item_reference','id':'msg_A_0'}],'store':false}");
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &items, &req, &err), 0);
    assert_false(req->store);
    assert_string_equal(req->messages[0].content, "The first answer.");
    openai_request_destroy(&req);
    free(body);
}

static void test_images_parse(void **state)
{
    (void)state;
    openai_request_t *req =
        s_ok(openai_images_parse, "{'model':'dall-e-3','prompt':'a red fox','n':1,'size':"
                                  "'1792x1024','response_format':'url','quality':'hd',"
                                  "'style':'vivid','user':'u'}");
    assert_string_equal(req->model, "dall-e-3");
    assert_string_equal(req->image_size, "1792x1024");
    assert_int_equal(req->n_messages, 1);
    assert_string_equal(req->messages[0].role, "user");
    assert_string_equal(req->messages[0].content, "a red fox");
    assert_string_equal(req->ignored, "quality,style,user");
    s_rt10(req);
    openai_request_destroy(&req);
    req = s_ok(openai_images_parse, "{'model':'m','prompt':'x'}");
    assert_string_equal(req->image_size, "auto");
    openai_request_destroy(&req);
    /* the prompt bound counts characters: 32000 é pass, 32001 do not */
    for (int n = 32000; n <= 32001; n++) {
        abuf_t b = ABUF_INIT;
        assert_int_equal(abuf_puts(&b, "{\"model\":\"m\",\"prompt\":\""), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(abuf_puts(&b, "\xC3\xA9"), 0);
        assert_int_equal(abuf_puts(&b, "\"}"), 0);
        openai_error_t err;
        int rc = openai_images_parse(b.data, b.len, NULL, &req, &err);
        assert_int_equal(rc, n == 32000 ? 0 : -1);
        if (rc < 0)
            assert_string_equal(err.param, "prompt");
        openai_request_destroy(&req);
        abuf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_null_args),
        cmocka_unit_test(test_limits_small),
        cmocka_unit_test(test_limits_default),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_write_format),
        cmocka_unit_test(test_write_hand_built),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_error_render),
        cmocka_unit_test(test_render_sse_delta),
        cmocka_unit_test(test_render_sse_delta_edges),
        cmocka_unit_test(test_render_sse_finish_usage_done),
        cmocka_unit_test(test_render_completion),
        cmocka_unit_test(test_render_models),
        cmocka_unit_test(test_render_invalid_utf8),
        cmocka_unit_test(test_render_large),
        cmocka_unit_test(test_fields_chat),
        cmocka_unit_test(test_fields_ignored),
        cmocka_unit_test(test_fields_clients),
        cmocka_unit_test(test_fields_invalid),
        cmocka_unit_test(test_fields_bounds),
        cmocka_unit_test(test_fields_equal),
        cmocka_unit_test(test_responses_ai_sdk),
        cmocka_unit_test(test_responses_langchain),
        cmocka_unit_test(test_responses_item_reference),
        cmocka_unit_test(test_images_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
