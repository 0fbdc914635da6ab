/*  test_prompt — prompt_lower and prompt_retry_note: the exact text a model
    sees for tools, tool history and response formats, and what is cleared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_payload.h"
#include "protocol/openai.h"
#include "protocol/prompt.h"

/*  Test bodies use ' for " so they stay readable. */
static openai_request_t *s_parse(const char *src)
{
    char *body = strdup(src);
    assert_non_null(body);
    for (char *c = body; *c; c++)
        if (*c == '\'')
            *c = '"';
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(body, strlen(body), NULL, &req, &err) < 0)
        fail_msg("parse: %s (%s)", err.message, err.param);
    free(body);
    return req;
}

static void s_expect_flat(const openai_request_t *req, const char *want)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(arena_payload_flatten(req, &out), 0);
    if (strcmp(out.data ? out.data : "", want) != 0)
        fail_msg("got:\n%s\n---- want:\n%s", out.data, want);
    abuf_free(&out);
}

#define WEATHER_TOOL                                                                               \
    "{'type':'function','function':{'name':'get_weather','description':'Weather of a city.',"      \
    "'parameters':{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}}}"

static const char *const s_tools_text =
    "# Tools\n\nYou can call these functions:\n\n## get_weather\nDescription: Weather of a "
    "city.\nParameters (JSON Schema): "
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]"
    "}\n\nTo call functions, reply with ONLY this JSON object, bare or in a ```json fence, with "
    "no other text before or after it:\n{\"tool_calls\":[{\"name\":\"<function "
    "name>\",\"arguments\":{<the arguments as a JSON object>}}]}\n";

static void test_tools_auto(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','tools':[" WEATHER_TOOL "],'messages':["
                "{'role':'system','content':'Be brief.'},{'role':'user','content':'Paris?'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_true(req->lowered);
    assert_int_equal(req->n_messages, 2); /* merged into the client's system message */
    assert_string_equal(req->messages[0].role, "system");
    assert_int_equal(req->n_tools, 1); /* kept for the answer side */
    abuf_t want = ABUF_INIT;
    assert_int_equal(
        abuf_printf(&want,
                    "System:\n%sCall a function only when it helps to answer; otherwise reply "
                    "with plain text (no such JSON object).\nYou may call several functions at "
                    "once (several entries in tool_calls).\nThe results of your calls will come "
                    "back in the next message.\n\nBe brief.\n\nUser:\nParis?",
                    s_tools_text),
        0);
    s_expect_flat(req, want.data);
    abuf_free(&want);
    /* lowering twice changes nothing */
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_int_equal(req->n_messages, 2);
    openai_request_destroy(&req);
}

static void test_tools_required_single(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','tools':[" WEATHER_TOOL "],'tool_choice':'required',"
                "'parallel_tool_calls':false,'messages':[{'role':'user','content':'Paris?'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    const char *sys = req->messages[0].content;
    assert_string_equal(req->messages[0].role, "system");
    assert_non_null(strstr(sys, "You must call at least one function in this reply; do not "
                                "answer in plain text.\n"));
    assert_non_null(strstr(sys, "Call at most one function per reply (one entry in "
                                "tool_calls).\n"));
    assert_null(strstr(sys, "otherwise reply with plain text"));
    openai_request_destroy(&req);
}

static void test_tools_named(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','tools':[" WEATHER_TOOL "],"
                "'tool_choice':{'type':'function','function':{'name':'get_weather'}},"
                "'messages':[{'role':'user','content':'Paris?'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_non_null(strstr(req->messages[0].content,
                           "You must call the function \"get_weather\" in this reply, and no "
                           "other; do not answer in plain text.\n"));
    openai_request_destroy(&req);
}

static void test_tools_none_not_stated(void **state)
{
    (void)state;
    openai_request_t *req = s_parse("{'model':'m','tools':[" WEATHER_TOOL "],'tool_choice':'none',"
                                    "'messages':[{'role':'user','content':'Paris?'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_int_equal(req->n_messages, 1);
    s_expect_flat(req, "Paris?");
    openai_request_destroy(&req);
}

/*  A whole tool round trip in the history, as the openai SDK sends it. */
static void test_tool_history(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(
        "{'model':'m','tools':[" WEATHER_TOOL "],'tool_choice':'none','messages':["
        "{'role':'user','content':'Paris and Rome?'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'call_a','type':'function','function':{'name':'get_weather','arguments':"
        "'{\\'city\\':\\'Paris\\'}'}},"
        "{'id':'call_b','type':'function','function':{'name':'get_weather','arguments':'not "
        "json'}}]},"
        "{'role':'tool','tool_call_id':'call_a','content':'21 C'},"
        "{'role':'tool','tool_call_id':'call_b','content':'25 C'},"
        "{'role':'function','name':'get_weather','content':'old style'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    for (size_t i = 0; i < req->n_messages; i++) {
        assert_int_equal(req->messages[i].n_tool_calls, 0);
        assert_null(req->messages[i].tool_calls);
        assert_null(req->messages[i].tool_call_id);
        assert_null(req->messages[i].name);
    }
    s_expect_flat(req, "User:\nParis and Rome?\n\nAssistant:\n"
                       "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":"
                       "\"Paris\"}},{\"name\":\"get_weather\",\"arguments\":\"not json\"}]}\n\n"
                       "Tool:\nTool result for get_weather (call_a):\n21 C\n\n"
                       "Tool:\nTool result for get_weather (call_b):\n25 C\n\n"
                       "Tool:\nTool result for get_weather:\nold style");
    /* the lowered request is what a peer gets: write → parse keeps it */
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_request_write(req, &out), 0);
    openai_request_t *again = NULL;
    assert_int_equal(openai_request_parse(out.data, out.len, NULL, &again, NULL), 0);
    assert_true(openai_request_equal(req, again));
    openai_request_destroy(&again);
    abuf_free(&out);
    openai_request_destroy(&req);
}

/*  A peer receives the lowered request and must not state the tools again. */
static void test_lowered_once(void **state)
{
    (void)state;
    openai_request_t *req = s_parse("{'model':'m','tools':[" WEATHER_TOOL "],'messages':["
                                    "{'role':'user','content':'Paris?'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_request_write(req, &out), 0);
    assert_non_null(strstr(out.data, "\"arena_lowered\":true"));
    openai_request_t *again = NULL;
    assert_int_equal(openai_request_parse(out.data, out.len, NULL, &again, NULL), 0);
    assert_true(again->lowered);
    assert_int_equal(prompt_lower(again, NULL), 0);
    assert_int_equal(again->n_messages, 2);
    assert_true(openai_request_equal(req, again));
    openai_request_destroy(&again);
    abuf_free(&out);
    openai_request_destroy(&req);
}

static void test_assistant_text_and_calls(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(
        "{'model':'m','messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':'Let me look.','tool_calls':[{'id':'c1','type':'function',"
        "'function':{'name':'f','arguments':'{}'}}]}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_string_equal(req->messages[1].content,
                        "Let me look.\n\n{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}}]}");
    openai_request_destroy(&req);
}

static void test_json_object(void **state)
{
    (void)state;
    openai_request_t *req = s_parse("{'model':'m','response_format':{'type':'json_object'},"
                                    "'messages':[{'role':'user','content':'List 3 colors.'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    s_expect_flat(req, "System:\n# Answer format\n\nAnswer with one JSON object only: no text "
                       "before or after it.\n\nUser:\nList 3 colors.");
    assert_int_equal(req->format, OPENAI_FORMAT_JSON_OBJECT);
    openai_request_destroy(&req);
}

static void test_json_schema(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(
        "{'model':'m','response_format':{'type':'json_schema','json_schema':{'name':'colors',"
        "'strict':true,'schema':{'type':'object','properties':{'c':{'type':'array'}}}}},"
        "'messages':[{'role':'user','content':'List 3 colors.'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_string_equal(req->messages[0].content,
                        "# Answer format\n\nAnswer with JSON matching this JSON Schema only: no "
                        "text before or after it.\nSchema name: colors\nSchema: "
                        "{\"type\":\"object\",\"properties\":{\"c\":{\"type\":\"array\"}}}");
    openai_request_destroy(&req);
}

static void test_tools_and_format(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','tools':[" WEATHER_TOOL "],'response_format':{'type':"
                "'json_object'},'messages':[{'role':'user','content':'x'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    assert_non_null(strstr(req->messages[0].content,
                           "\n# Answer format\n\nWhen you answer without calling a function: "
                           "Answer with one JSON object only"));
    openai_request_destroy(&req);
}

static void test_retry_note(void **state)
{
    (void)state;
    openai_request_t *req = s_parse("{'model':'m','response_format':{'type':'json_object'},"
                                    "'messages':[{'role':'user','content':'x'}]}");
    assert_int_equal(prompt_lower(req, NULL), 0);
    size_t n = req->n_messages;
    assert_int_equal(prompt_retry_note(req, "Sure! {\"a\":", "not valid JSON", NULL), 0);
    assert_int_equal(req->n_messages, n + 2);
    assert_string_equal(req->messages[n].role, "assistant");
    assert_string_equal(req->messages[n].content, "Sure! {\"a\":");
    assert_string_equal(req->messages[n + 1].role, "user");
    assert_string_equal(req->messages[n + 1].content,
                        "Your previous answer was not valid: not valid JSON\nAnswer again with "
                        "one JSON object only: no text before or after it.");
    openai_request_destroy(&req);
    assert_int_equal(prompt_lower(NULL, NULL), -1);
    assert_int_equal(prompt_retry_note(NULL, "a", "b", NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tools_auto),
        cmocka_unit_test(test_tools_required_single),
        cmocka_unit_test(test_tools_named),
        cmocka_unit_test(test_tools_none_not_stated),
        cmocka_unit_test(test_tool_history),
        cmocka_unit_test(test_lowered_once),
        cmocka_unit_test(test_assistant_text_and_calls),
        cmocka_unit_test(test_json_object),
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_tools_and_format),
        cmocka_unit_test(test_retry_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
