/*  test_frame — decoding and encoding of LINK-PROTOCOL.md frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/frame.h"

typedef struct {
    const char *json;
    frame_rc_t rc;
    frame_type_t type;
} frame_case_t;

/*  Every frame type valid, and each malformed variant. */
static const frame_case_t s_cases[] = {
    /* hello */
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"T1\",\"version\":\"1\",\"href\":\"h\","
     "\"ua\":\"u\"}",
     FRAME_OK, FRAME_HELLO},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"T1\",\"version\":\"1\"}", FRAME_OK,
     FRAME_HELLO},
    {"{\"type\":\"hello\",\"tab\":\"T1\",\"version\":\"1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"version\":\"1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"T1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":7,\"tab\":\"T1\",\"version\":\"1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"\",\"version\":\"1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"a\\nb\",\"version\":\"1\"}", FRAME_MALFORMED,
     0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"a\\u0000b\",\"version\":\"1\"}",
     FRAME_MALFORMED, 0},
    {"{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"T1\",\"version\":\"1\",\"href\":3}",
     FRAME_MALFORMED, 0},
    /* head */
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"headers\":{\"content-type\":\"text/"
     "plain\",\"retry-after\":\"5\"}}",
     FRAME_OK, FRAME_HEAD},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":429}", FRAME_OK, FRAME_HEAD},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":99}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":600}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":\"200\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200.5}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"status\":200}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"headers\":[]}", FRAME_MALFORMED, 0},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"headers\":{\"content-type\":1}}",
     FRAME_MALFORMED, 0},
    /* chunk */
    {"{\"type\":\"chunk\",\"id\":\"J\",\"data\":\"abc\"}", FRAME_OK, FRAME_CHUNK},
    {"{\"type\":\"chunk\",\"id\":\"J\",\"data\":\"\"}", FRAME_OK, FRAME_CHUNK},
    {"{\"type\":\"chunk\",\"id\":\"J\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"chunk\",\"id\":\"J\",\"data\":null}", FRAME_MALFORMED, 0},
    {"{\"type\":\"chunk\",\"id\":5,\"data\":\"x\"}", FRAME_MALFORMED, 0},
    /* done */
    {"{\"type\":\"done\",\"id\":\"J\"}", FRAME_OK, FRAME_DONE},
    {"{\"type\":\"done\"}", FRAME_MALFORMED, 0},
    /* fail */
    {"{\"type\":\"fail\",\"id\":\"J\",\"stage\":\"fetch\",\"message\":\"net\"}", FRAME_OK,
     FRAME_FAIL},
    {"{\"type\":\"fail\",\"id\":\"J\",\"stage\":\"aborted\"}", FRAME_OK, FRAME_FAIL},
    {"{\"type\":\"fail\",\"id\":\"J\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"fail\",\"id\":\"J\",\"stage\":\"fetch\",\"message\":false}", FRAME_MALFORMED, 0},
    /* page reply and page request */
    {"{\"type\":\"page\",\"id\":\"P\",\"href\":\"https://x\",\"html\":\"<html>\"}", FRAME_OK,
     FRAME_PAGE},
    {"{\"type\":\"page\",\"id\":\"P\"}", FRAME_OK, FRAME_PAGE_REQ},
    {"{\"type\":\"page\",\"id\":\"P\",\"html\":1}", FRAME_MALFORMED, 0},
    {"{\"type\":\"page\",\"html\":\"x\"}", FRAME_MALFORMED, 0},
    /* state */
    {"{\"type\":\"state\",\"challenge\":false,\"recaptcha\":true}", FRAME_OK, FRAME_STATE},
    {"{\"type\":\"state\",\"challenge\":0,\"recaptcha\":true}", FRAME_MALFORMED, 0},
    {"{\"type\":\"state\",\"challenge\":true}", FRAME_MALFORMED, 0},
    /* state's logged_in and account: never a reason to drop the frame */
    {"{\"type\":\"state\",\"challenge\":false,\"recaptcha\":true,\"logged_in\":true,"
     "\"account\":\"0123456789abcdef0123456789abcdef\"}",
     FRAME_OK, FRAME_STATE},
    {"{\"type\":\"state\",\"challenge\":false,\"recaptcha\":true,\"logged_in\":\"yes\","
     "\"account\":42}",
     FRAME_OK, FRAME_STATE},
    {"{\"type\":\"state\",\"logged_in\":true,\"account\":\"0123456789abcdef0123456789abcdef\"}",
     FRAME_MALFORMED, 0},
    /* head's upload */
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"upload\":\"signed\"}", FRAME_OK, FRAME_HEAD},
    {"{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"upload\":[1]}", FRAME_OK, FRAME_HEAD},
    /* fail stage upload */
    {"{\"type\":\"fail\",\"id\":\"J\",\"stage\":\"upload\",\"message\":\"PUT 403\"}", FRAME_OK,
     FRAME_FAIL},
    /* pong, ping */
    {"{\"type\":\"pong\",\"t\":12345}", FRAME_OK, FRAME_PONG},
    {"{\"type\":\"pong\",\"t\":\"1\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"pong\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"ping\",\"t\":1}", FRAME_OK, FRAME_PING},
    {"{\"type\":\"ping\",\"t\":1.5}", FRAME_MALFORMED, 0},
    /* captured */
    {"{\"type\":\"captured\",\"session_id\":\"s\",\"message_id\":\"m\"}", FRAME_OK, FRAME_CAPTURED},
    {"{\"type\":\"captured\"}", FRAME_OK, FRAME_CAPTURED},
    /* welcome */
    {"{\"type\":\"welcome\",\"node\":\"n1\",\"version\":\"1\"}", FRAME_OK, LINK_WELCOME},
    {"{\"type\":\"welcome\",\"version\":\"1\"}", FRAME_MALFORMED, 0},
    /* fetch */
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\",\"method\":\"POST\",\"headers\":{"
     "\"content-type\":\"application/json\"},\"body\":\"{}\",\"recaptcha\":{\"field\":\"f\","
     "\"action\":\"a\",\"sitekey\":\"k\"}}",
     FRAME_OK, FRAME_FETCH},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\",\"method\":\"GET\"}", FRAME_OK, FRAME_FETCH},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"method\":\"GET\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\",\"method\":\"GET\",\"body\":{}}",
     FRAME_MALFORMED, 0},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\",\"method\":\"GET\",\"recaptcha\":true}",
     FRAME_MALFORMED, 0},
    {"{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/a\",\"method\":\"GET\",\"recaptcha\":{"
     "\"field\":\"f\"}}",
     FRAME_MALFORMED, 0},
    /* abort, reload */
    {"{\"type\":\"abort\",\"id\":\"J\"}", FRAME_OK, FRAME_ABORT},
    {"{\"type\":\"abort\",\"id\":\"\"}", FRAME_MALFORMED, 0},
    {"{\"type\":\"reload\"}", FRAME_OK, FRAME_RELOAD},
    /* envelope */
    {"{\"type\":\"capture\",\"on\":true}", FRAME_OK, FRAME_UNKNOWN},
    {"{\"type\":\"something-new\"}", FRAME_OK, FRAME_UNKNOWN},
    {"{\"id\":\"J\"}", FRAME_MALFORMED, 0},
    {"{\"type\":1}", FRAME_MALFORMED, 0},
    {"[\"hello\"]", FRAME_MALFORMED, 0},
    {"\"hello\"", FRAME_MALFORMED, 0},
    {"", FRAME_MALFORMED, 0},
    {"{", FRAME_MALFORMED, 0},
    {"{\"type\":\"done\",\"id\":\"J\"} trailing", FRAME_MALFORMED, 0},
    {"{\"type\":\"chunk\",\"id\":\"J\",\"data\":\"\\xff\"}", FRAME_MALFORMED, 0},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const frame_case_t *c = &s_cases[i];
        frame_t f;
        char err[128];
        frame_rc_t rc = frame_decode(c->json, strlen(c->json), &f, err, sizeof err);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d, want %d (%s)", i, c->json, rc, c->rc, err);
        if (rc == FRAME_OK) {
            if (f.type != c->type)
                fail_msg("case %zu (%s): type %d, want %d", i, c->json, f.type, c->type);
            assert_non_null(f.root);
        } else {
            assert_null(f.root);
            assert_true(err[0] != '\0');
        }
        frame_clear(&f);
    }
}

static void test_fields(void **state)
{
    (void)state;
    frame_t f;
    const char *head = "{\"type\":\"head\",\"id\":\"J9\",\"status\":429,\"headers\":{"
                       "\"content-type\":\"text/plain\",\"retry-after\":\"30\"}}";
    assert_int_equal(frame_decode(head, strlen(head), &f, NULL, 0), FRAME_OK);
    assert_string_equal(f.id, "J9");
    assert_int_equal(f.status, 429);
    assert_string_equal(f.content_type, "text/plain");
    assert_string_equal(f.retry_after, "30");
    frame_clear(&f);

    const char *hello = "{\"type\":\"hello\",\"token\":\"tok\",\"tab\":\"tab-1\",\"version\":"
                        "\"1\",\"href\":\"https://lmarena.ai/\",\"ua\":\"UA\"}";
    assert_int_equal(frame_decode(hello, strlen(hello), &f, NULL, 0), FRAME_OK);
    assert_string_equal(f.token, "tok");
    assert_string_equal(f.tab, "tab-1");
    assert_string_equal(f.version, "1");
    assert_string_equal(f.href, "https://lmarena.ai/");
    assert_string_equal(f.ua, "UA");
    frame_clear(&f);

    const char *state_json = "{\"type\":\"state\",\"challenge\":true,\"recaptcha\":false}";
    assert_int_equal(frame_decode(state_json, strlen(state_json), &f, NULL, 0), FRAME_OK);
    assert_true(f.challenge);
    assert_false(f.recaptcha);
    frame_clear(&f);

    const char *pong = "{\"type\":\"pong\",\"t\":1700000000123}";
    assert_int_equal(frame_decode(pong, strlen(pong), &f, NULL, 0), FRAME_OK);
    assert_true(f.t == 1700000000123LL);
    frame_clear(&f);
}

static frame_t s_decode_ok(const abuf_t *b, frame_type_t want);

typedef struct {
    const char *extra; /* members added to a valid state frame */
    int logged_in;
    const char *account; /* expected, NULL: absent or dropped */
} state_case_t;

/*  logged_in and account: kept when well-formed, read as absent otherwise. */
static void test_state_account(void **state)
{
    (void)state;
    static const state_case_t cases[] = {
        {"", -1, NULL},
        {",\"logged_in\":true,\"account\":\"00112233445566778899aabbccddeeff\"", 1,
         "00112233445566778899aabbccddeeff"},
        {",\"logged_in\":false", 0, NULL},
        {",\"logged_in\":null", -1, NULL},
        {",\"logged_in\":1", -1, NULL},
        {",\"account\":\"00112233445566778899AABBCCDDEEFF\"", -1, NULL},       /* upper case */
        {",\"account\":\"00112233445566778899aabbccddeef\"", -1, NULL},        /* 31 */
        {",\"account\":\"00112233445566778899aabbccddeeff0\"", -1, NULL},      /* 33 */
        {",\"account\":\"00112233445566778899aabbccddeefg\"", -1, NULL},       /* not hex */
        {",\"account\":\"00112233445566778899aabbccddee\\u0000f\"", -1, NULL}, /* NUL */
        {",\"account\":\"\"", -1, NULL},
        {",\"account\":null", -1, NULL},
        {",\"account\":{}", -1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"type\":\"state\",\"challenge\":false,\"recaptcha\":true%s}",
                 cases[i].extra);
        frame_t f;
        char err[128];
        if (frame_decode(json, strlen(json), &f, err, sizeof err) != FRAME_OK)
            fail_msg("case %zu (%s): %s", i, json, err);
        if (f.logged_in != cases[i].logged_in)
            fail_msg("case %zu (%s): logged_in %d, want %d", i, json, f.logged_in,
                     cases[i].logged_in);
        if (cases[i].account)
            assert_string_equal(f.account, cases[i].account);
        else if (f.account)
            fail_msg("case %zu (%s): account %s kept", i, json, f.account);
        frame_clear(&f);
    }
    /* encoded and decoded back; a bad hash is refused by the encoder */
    abuf_t b = ABUF_INIT;
    frame_state_t st = {false, true, 1, "00112233445566778899aabbccddeeff"};
    assert_int_equal(frame_encode_state_ex(&b, &st), 0);
    assert_string_equal(b.data, "{\"type\":\"state\",\"challenge\":false,\"recaptcha\":true,"
                                "\"logged_in\":true,\"account\":"
                                "\"00112233445566778899aabbccddeeff\"}");
    frame_t f = s_decode_ok(&b, FRAME_STATE);
    assert_int_equal(f.logged_in, 1);
    assert_string_equal(f.account, st.account);
    frame_clear(&f);
    abuf_reset(&b);
    frame_state_t out = {true, false, 0, NULL};
    assert_int_equal(frame_encode_state_ex(&b, &out), 0);
    assert_string_equal(
        b.data, "{\"type\":\"state\",\"challenge\":true,\"recaptcha\":false,\"logged_in\":false}");
    f = s_decode_ok(&b, FRAME_STATE);
    assert_int_equal(f.logged_in, 0);
    assert_null(f.account);
    frame_clear(&f);
    abuf_reset(&b);
    assert_int_equal(abuf_puts(&b, "keep"), 0);
    frame_state_t bad = {false, false, 1, "00112233445566778899AABBCCDDEEFF"};
    assert_int_equal(frame_encode_state_ex(&b, &bad), -1);
    assert_string_equal(b.data, "keep");
    abuf_free(&b);
}

/*  head's upload: a short word kept, anything else read as absent. */
static void test_head_upload(void **state)
{
    (void)state;
    static const struct {
        const char *value, *want;
    } cases[] = {
        {"\"signed\"", "signed"},
        {"\"inline\"", "inline"},
        {"\"future-mode_2\"", "future-mode_2"},
        {"\"Signed\"", NULL},
        {"\"\"", NULL},
        {"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", NULL}, /* 33 */
        {"\"a b\"", NULL},
        {"7", NULL},
        {"null", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"upload\":%s}",
                 cases[i].value);
        frame_t f;
        assert_int_equal(frame_decode(json, strlen(json), &f, NULL, 0), FRAME_OK);
        if (cases[i].want)
            assert_string_equal(f.upload, cases[i].want);
        else if (f.upload)
            fail_msg("case %zu (%s): upload %s kept", i, json, f.upload);
        frame_clear(&f);
    }
    abuf_t b = ABUF_INIT;
    assert_int_equal(frame_encode_head_ex(&b, "J", 200, "text/plain", NULL, "inline"), 0);
    assert_string_equal(b.data, "{\"type\":\"head\",\"id\":\"J\",\"status\":200,\"headers\":{"
                                "\"content-type\":\"text/plain\"},\"upload\":\"inline\"}");
    frame_t f = s_decode_ok(&b, FRAME_HEAD);
    assert_string_equal(f.upload, "inline");
    assert_string_equal(f.content_type, "text/plain");
    frame_clear(&f);
    abuf_reset(&b);
    assert_int_equal(frame_encode_head(&b, "J", 200, NULL, NULL), 0);
    f = s_decode_ok(&b, FRAME_HEAD);
    assert_null(f.upload);
    frame_clear(&f);
    abuf_reset(&b);
    assert_int_equal(frame_encode_head_ex(&b, "J", 200, NULL, NULL, "not ok"), -1);
    assert_int_equal(b.len, 0);
    abuf_free(&b);
}

static void test_ids_bounded(void **state)
{
    (void)state;
    char id[FRAME_MAX_ID + 2];
    char json[FRAME_MAX_ID + 64];
    frame_t f;
    memset(id, 'a', FRAME_MAX_ID);
    id[FRAME_MAX_ID] = '\0';
    snprintf(json, sizeof json, "{\"type\":\"done\",\"id\":\"%s\"}", id);
    assert_int_equal(frame_decode(json, strlen(json), &f, NULL, 0), FRAME_OK);
    frame_clear(&f);
    id[FRAME_MAX_ID] = 'a';
    id[FRAME_MAX_ID + 1] = '\0';
    snprintf(json, sizeof json, "{\"type\":\"done\",\"id\":\"%s\"}", id);
    assert_int_equal(frame_decode(json, strlen(json), &f, NULL, 0), FRAME_MALFORMED);
    snprintf(json, sizeof json,
             "{\"type\":\"hello\",\"token\":\"t\",\"tab\":\"%s\",\"version\":\"1\"}", id);
    assert_int_equal(frame_decode(json, strlen(json), &f, NULL, 0), FRAME_MALFORMED);
    /* the encoders refuse what the decoder would refuse */
    abuf_t b = ABUF_INIT;
    assert_int_equal(frame_encode_done(&b, id), -1);
    assert_int_equal(frame_encode_hello(&b, "t", id, NULL, NULL), -1);
    assert_int_equal(frame_encode_abort(&b, ""), -1);
    assert_int_equal(frame_encode_chunk(&b, "a b\n", "x", 1), -1);
    assert_int_equal(frame_encode_head(&b, "J", 42, NULL, NULL), -1);
    assert_int_equal(b.len, 0);
    abuf_free(&b);
}

static void test_toobig(void **state)
{
    (void)state;
    frame_t f;
    char err[128];
    /* the length is checked before the buffer is read at all */
    static const char small[] = "{}";
    assert_int_equal(frame_decode(small, (size_t)FRAME_MAX + 1, &f, err, sizeof err), FRAME_TOOBIG);
    assert_null(f.root);
    assert_true(err[0] != '\0');
    assert_int_equal(frame_decode(NULL, 0, &f, err, sizeof err), FRAME_MALFORMED);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *json = malloc(depth * 2 + 1);
    assert_non_null(json);
    memset(json, '[', depth);
    memset(json + depth, ']', depth);
    json[depth * 2] = '\0';
    frame_t f;
    assert_int_equal(frame_decode(json, depth * 2, &f, NULL, 0), FRAME_MALFORMED);
    free(json);
}

static frame_t s_decode_ok(const abuf_t *b, frame_type_t want)
{
    frame_t f;
    char err[128];
    frame_rc_t rc = frame_decode(b->data, b->len, &f, err, sizeof err);
    if (rc != FRAME_OK)
        fail_msg("decode of %s: %s", b->data, err);
    assert_int_equal(f.type, want);
    return f;
}

static void test_roundtrip_node_to_tab(void **state)
{
    (void)state;
    abuf_t b = ABUF_INIT;
    frame_t f;

    assert_int_equal(frame_encode_welcome(&b, "node \"one\""), 0);
    assert_string_equal(b.data,
                        "{\"type\":\"welcome\",\"node\":\"node \\\"one\\\"\",\"version\":\"1\"}");
    f = s_decode_ok(&b, LINK_WELCOME);
    assert_string_equal(f.node, "node \"one\"");
    assert_string_equal(f.version, FRAME_PROTOCOL_VERSION);
    frame_clear(&f);

    abuf_reset(&b);
    static const char body[] = "{\"a\":\"x\\ny\"}\0tail";
    frame_recaptcha_t rc = {"recaptchaV3Token", "chat_submit", NULL};
    assert_int_equal(frame_encode_fetch(&b, "J1", "/nextjs-api/stream", "POST", "application/json",
                                        body, sizeof body - 1, &rc),
                     0);
    assert_non_null(strstr(b.data, "\"headers\":{\"content-type\":\"application/json\"}"));
    assert_null(strstr(b.data, "sitekey"));
    f = s_decode_ok(&b, FRAME_FETCH);
    assert_string_equal(f.id, "J1");
    assert_string_equal(f.url, "/nextjs-api/stream");
    assert_string_equal(f.method, "POST");
    assert_string_equal(f.content_type, "application/json");
    assert_int_equal(f.body_len, sizeof body - 1);
    assert_memory_equal(f.body, body, sizeof body - 1);
    assert_string_equal(f.rc_field, "recaptchaV3Token");
    assert_string_equal(f.rc_action, "chat_submit");
    assert_null(f.rc_sitekey);
    frame_clear(&f);

    abuf_reset(&b);
    frame_recaptcha_t rc2 = {"f", "a", "sk"};
    assert_int_equal(frame_encode_fetch(&b, "J2", "/x", "GET", NULL, NULL, 0, &rc2), 0);
    assert_string_equal(b.data, "{\"type\":\"fetch\",\"id\":\"J2\",\"url\":\"/x\",\"method\":"
                                "\"GET\",\"headers\":{},\"recaptcha\":{\"field\":\"f\","
                                "\"action\":\"a\",\"sitekey\":\"sk\"}}");
    f = s_decode_ok(&b, FRAME_FETCH);
    assert_null(f.body);
    assert_null(f.content_type);
    assert_string_equal(f.rc_sitekey, "sk");
    frame_clear(&f);
    assert_null(strstr(b.data, "request_id"));

    /* the client's x-request-id rides along, optional (the tab may ignore it) */
    abuf_reset(&b);
    assert_int_equal(frame_encode_fetch_ex(&b, "J3", "/x", "POST", NULL, "{}", 2, NULL,
                                           "req_0190a000-0000-7000-8000-000000000001"),
                     0);
    f = s_decode_ok(&b, FRAME_FETCH);
    assert_string_equal(f.request_id, "req_0190a000-0000-7000-8000-000000000001");
    frame_clear(&f);
    abuf_reset(&b);
    assert_int_equal(frame_encode_fetch_ex(&b, "J4", "/x", "POST", NULL, "{}", 2, NULL, "a\nb"),
                     -1);
    assert_int_equal(b.len, 0);
    /* another shape, or a control character, reads as absent */
    static const char *const odd[] = {
        "{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/\",\"method\":\"GET\",\"headers\":{},"
        "\"request_id\":7}",
        "{\"type\":\"fetch\",\"id\":\"J\",\"url\":\"/\",\"method\":\"GET\",\"headers\":{},"
        "\"request_id\":\"a\\u0001\"}",
    };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(frame_decode(odd[i], strlen(odd[i]), &f, NULL, 0), FRAME_OK);
        assert_null(f.request_id);
        frame_clear(&f);
    }

    abuf_reset(&b);
    assert_int_equal(frame_encode_abort(&b, "J3"), 0);
    assert_string_equal(b.data, "{\"type\":\"abort\",\"id\":\"J3\"}");
    f = s_decode_ok(&b, FRAME_ABORT);
    assert_string_equal(f.id, "J3");
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_page_req(&b, "P1"), 0);
    f = s_decode_ok(&b, FRAME_PAGE_REQ);
    assert_string_equal(f.id, "P1");
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_reload(&b), 0);
    f = s_decode_ok(&b, FRAME_RELOAD);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_ping(&b, -5), 0);
    assert_string_equal(b.data, "{\"type\":\"ping\",\"t\":-5}");
    f = s_decode_ok(&b, FRAME_PING);
    assert_true(f.t == -5);
    frame_clear(&f);
    abuf_free(&b);
}

static void test_roundtrip_tab_to_node(void **state)
{
    (void)state;
    abuf_t b = ABUF_INIT;
    frame_t f;

    assert_int_equal(frame_encode_hello(&b, "tok", "tab-1", "https://lmarena.ai/c/1", NULL), 0);
    f = s_decode_ok(&b, FRAME_HELLO);
    assert_string_equal(f.token, "tok");
    assert_string_equal(f.tab, "tab-1");
    assert_string_equal(f.version, "1");
    assert_string_equal(f.href, "https://lmarena.ai/c/1");
    assert_null(f.ua);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_head(&b, "J", 503, NULL, "7"), 0);
    assert_string_equal(b.data, "{\"type\":\"head\",\"id\":\"J\",\"status\":503,\"headers\":{"
                                "\"retry-after\":\"7\"}}");
    f = s_decode_ok(&b, FRAME_HEAD);
    assert_int_equal(f.status, 503);
    assert_null(f.content_type);
    assert_string_equal(f.retry_after, "7");
    frame_clear(&f);

    /* data with a NUL, quotes, control bytes and multi-byte UTF-8 */
    abuf_reset(&b);
    static const char data[] = "a0:\"h\xc3\xa9llo\"\n\0\x01\t\xe2\x9c\x85 \xf0\x9f\x98\x80";
    assert_int_equal(frame_encode_chunk(&b, "J", data, sizeof data - 1), 0);
    f = s_decode_ok(&b, FRAME_CHUNK);
    assert_string_equal(f.id, "J");
    assert_int_equal(f.data_len, sizeof data - 1);
    assert_memory_equal(f.data, data, sizeof data - 1);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_chunk(&b, "J", NULL, 0), 0);
    f = s_decode_ok(&b, FRAME_CHUNK);
    assert_int_equal(f.data_len, 0);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_done(&b, "J"), 0);
    f = s_decode_ok(&b, FRAME_DONE);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_fail(&b, "J", "recaptcha", "no \"token\""), 0);
    f = s_decode_ok(&b, FRAME_FAIL);
    assert_string_equal(f.stage, "recaptcha");
    assert_string_equal(f.message, "no \"token\"");
    frame_clear(&f);

    abuf_reset(&b);
    static const char html[] = "<html><body>\xc3\xbc</body></html>";
    assert_int_equal(frame_encode_page(&b, "P", "https://arena.ai/", html, sizeof html - 1), 0);
    f = s_decode_ok(&b, FRAME_PAGE);
    assert_string_equal(f.href, "https://arena.ai/");
    assert_int_equal(f.data_len, sizeof html - 1);
    assert_memory_equal(f.data, html, sizeof html - 1);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_state(&b, true, false), 0);
    f = s_decode_ok(&b, FRAME_STATE);
    assert_true(f.challenge);
    assert_false(f.recaptcha);
    frame_clear(&f);

    abuf_reset(&b);
    assert_int_equal(frame_encode_pong(&b, 123456789012LL), 0);
    f = s_decode_ok(&b, FRAME_PONG);
    assert_true(f.t == 123456789012LL);
    frame_clear(&f);
    abuf_free(&b);
}

/*  An encoder that hits the buffer cap leaves the buffer as it was. */
static void test_encode_capped(void **state)
{
    (void)state;
    abuf_t b = ABUF_INIT;
    b.max = 40;
    assert_int_equal(abuf_puts(&b, "keep"), 0);
    char big[100];
    memset(big, 'x', sizeof big);
    assert_int_equal(frame_encode_chunk(&b, "J", big, sizeof big), -1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    frame_recaptcha_t rc = {"field", "action", "sitekey"};
    assert_int_equal(frame_encode_fetch(&b, "J", "/u", "POST", "a/b", "{}", 2, &rc), -1);
    assert_string_equal(b.data, "keep");
    abuf_free(&b);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(frame_type_name(FRAME_HELLO), "hello");
    assert_string_equal(frame_type_name(FRAME_PAGE), "page");
    assert_string_equal(frame_type_name(FRAME_PAGE_REQ), "page");
    assert_string_equal(frame_type_name(FRAME_PING), "ping");
    assert_string_equal(frame_type_name(FRAME_UNKNOWN), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_state_account),
        cmocka_unit_test(test_head_upload),
        cmocka_unit_test(test_ids_bounded),
        cmocka_unit_test(test_toobig),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_roundtrip_node_to_tab),
        cmocka_unit_test(test_roundtrip_tab_to_node),
        cmocka_unit_test(test_encode_capped),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
