/*  test_link — the browser-link server against real WebSocket clients.

    Each test starts a link_t on 127.0.0.1 port 0 and drives libwebsockets
    client connections from the test thread (a client lws context pumped
    with lws_service(ctx, -1)); raw sockets check the HTTP answers to
    refused upgrades. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "browser_link/link.h"
#include "protocol/abuf.h"
#include "protocol/frame.h"

#define S_TOKEN "secret-token-123"

/* ----------------------------------------------------------- the client */

typedef struct {
    char *data;
    size_t len;
    int frags; /* sent as this many WebSocket fragments */
} tx_t;

typedef struct {
    struct lws *wsi;
    const char *origin; /* sent as is (lws's own origin option prefixes http://) */
    bool established, closed, failed;
    int close_code; /* from the server's close frame, 0: none */
    char close_reason[128];
    /* received messages */
    char **rx;
    size_t *rx_len;
    size_t n_rx;
    abuf_t part;
    /* messages to send */
    tx_t *tx;
    size_t n_tx, tx_at, tx_frag_at;
    bool want_close;
    bool auto_pong;    /* answer the server's ping frames */
    int64_t closed_ms; /* s_ms() when it closed */
} tc_t;

typedef struct {
    link_t *link;
    struct lws_context *cctx;
    bool drain; /* move link events into ev while pumping */
    link_event_t *ev;
    size_t n_ev;
} env_t;

static int64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  Makes room for element n of a growable array (capacity doubles from 8). */
#define S_GROW(arr, n)                                                                             \
    do {                                                                                           \
        if ((n) == 0 || ((n) >= 8 && ((n) & ((n)-1)) == 0)) {                                      \
            (arr) = realloc((arr), ((n) ? (n)*2 : 8) * sizeof *(arr));                             \
            assert_non_null(arr);                                                                  \
        }                                                                                          \
    } while (0)

static void s_tc_push(tc_t *t, const char *data, size_t len, int frags)
{
    S_GROW(t->tx, t->n_tx);
    t->tx[t->n_tx].data = malloc(len ? len : 1);
    assert_non_null(t->tx[t->n_tx].data);
    memcpy(t->tx[t->n_tx].data, data, len);
    t->tx[t->n_tx].len = len;
    t->tx[t->n_tx].frags = frags;
    t->n_tx++;
    if (t->wsi && t->established)
        lws_callback_on_writable(t->wsi);
}

static void s_tc_send(tc_t *t, const char *text)
{
    s_tc_push(t, text, strlen(text), 1);
}

static void s_tc_received(tc_t *t)
{
    S_GROW(t->rx, t->n_rx);
    S_GROW(t->rx_len, t->n_rx);
    t->rx_len[t->n_rx] = t->part.len;
    t->rx[t->n_rx] = abuf_steal(&t->part, NULL);
    assert_non_null(t->rx[t->n_rx]);
    t->n_rx++;
    if (!t->auto_pong)
        return;
    frame_t f;
    if (frame_decode(t->rx[t->n_rx - 1], t->rx_len[t->n_rx - 1], &f, NULL, 0) == FRAME_OK &&
        f.type == FRAME_PING) {
        abuf_t b = ABUF_INIT;
        assert_int_equal(frame_encode_pong(&b, f.t), 0);
        s_tc_push(t, b.data, b.len, 1);
        abuf_free(&b);
    }
    frame_clear(&f);
}

static int s_tc_writeable(tc_t *t)
{
    if (t->want_close) {
        lws_close_reason(t->wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
        return -1;
    }
    if (t->tx_at >= t->n_tx)
        return 0;
    tx_t *m = &t->tx[t->tx_at];
    size_t per = (m->len + (size_t)m->frags - 1) / (size_t)m->frags;
    size_t off = per * (size_t)t->tx_frag_at;
    size_t n = off + per > m->len ? m->len - off : per;
    bool first = t->tx_frag_at == 0, last = (int)t->tx_frag_at == m->frags - 1;
    unsigned char *buf = malloc(LWS_PRE + n + 1);
    assert_non_null(buf);
    memcpy(buf + LWS_PRE, m->data + off, n);
    int w = lws_write(t->wsi, buf + LWS_PRE, n,
                      (enum lws_write_protocol)lws_write_ws_flags(LWS_WRITE_TEXT, first, last));
    free(buf);
    if (w < (int)n)
        return -1;
    if (last) {
        t->tx_at++;
        t->tx_frag_at = 0;
    } else {
        t->tx_frag_at++;
    }
    if (t->tx_at < t->n_tx)
        lws_callback_on_writable(t->wsi);
    return 0;
}

static int s_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    tc_t *t = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (t->origin) {
            char **p = in;
            int n = snprintf(*p, len, "Origin: %s\r\n", t->origin);
            if (n < 0 || (size_t)n >= len)
                return -1;
            *p += n;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        t->established = true;
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        t->failed = true;
        t->wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        assert_int_equal(abuf_append(&t->part, in, len), 0);
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
            s_tc_received(t);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return s_tc_writeable(t);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *p = in;
            t->close_code = p[0] << 8 | p[1];
            snprintf(t->close_reason, sizeof t->close_reason, "%.*s", (int)(len - 2),
                     (const char *)in + 2);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        t->closed = true;
        t->closed_ms = s_ms();
        t->wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols s_client_protocols[] = {
    {.name = "test-client", .callback = s_client_cb, .rx_buffer_size = 64 * 1024},
    {.name = NULL, .callback = NULL},
};

static void s_tc_free(tc_t *t)
{
    for (size_t i = 0; i < t->n_rx; i++)
        free(t->rx[i]);
    for (size_t i = 0; i < t->n_tx; i++)
        free(t->tx[i].data);
    free(t->rx);
    free(t->rx_len);
    free(t->tx);
    abuf_free(&t->part);
    memset(t, 0, sizeof *t);
}

/* -------------------------------------------------------- environment */

static const char *const s_origins[] = {"https://lmarena.ai", "https://*.lmarena.ai",
                                        "https://arena.ai", "https://*.arena.ai"};

static link_config_t s_config(void)
{
    return (link_config_t){
        .bind_addr = "127.0.0.1",
        .port = 0,
        .token = S_TOKEN,
        .node_name = "test-node",
        .origins = s_origins,
        .n_origins = sizeof s_origins / sizeof s_origins[0],
        .hello_timeout_ms = 3000,
        .ping_interval_ms = 10000,
        .silent_close_ms = 30000,
    };
}

static void s_env_start(env_t *e, const link_config_t *cfg)
{
    memset(e, 0, sizeof *e);
    e->drain = true;
    e->link = link_new(cfg);
    assert_non_null(e->link);
    assert_true(link_port(e->link) > 0);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s_client_protocols;
    e->cctx = lws_create_context(&info);
    assert_non_null(e->cctx);
}

static void s_env_stop(env_t *e)
{
    lws_context_destroy(e->cctx);
    link_destroy(&e->link);
    assert_null(e->link);
    for (size_t i = 0; i < e->n_ev; i++)
        link_event_clear(&e->ev[i]);
    free(e->ev);
    memset(e, 0, sizeof *e);
}

static void s_drain(env_t *e)
{
    link_event_t ev;
    while (link_recv(e->link, &ev) == 0) {
        S_GROW(e->ev, e->n_ev);
        e->ev[e->n_ev++] = ev;
    }
}

static void s_pump(env_t *e)
{
    lws_service(e->cctx, -1);
    if (e->drain)
        s_drain(e);
    usleep(500);
}

#define S_WAIT(e, cond, ms)                                                                        \
    do {                                                                                           \
        int64_t s_deadline_ = s_ms() + (ms);                                                       \
        while (!(cond) && s_ms() < s_deadline_)                                                    \
            s_pump(e);                                                                             \
    } while (0)

/*  Keeps pumping for ms (to see that nothing more happens). */
static void s_settle(env_t *e, int ms)
{
    int64_t end = s_ms() + ms;
    while (s_ms() < end)
        s_pump(e);
}

static void s_connect(env_t *e, tc_t *t, const char *origin)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = e->cctx;
    ci.address = "127.0.0.1";
    ci.port = link_port(e->link);
    ci.path = "/link";
    ci.host = "127.0.0.1";
    t->origin = origin;
    ci.ietf_version_or_minus_one = -1;
    ci.userdata = t;
    ci.pwsi = &t->wsi;
    ci.local_protocol_name = "test-client";
    assert_non_null(lws_client_connect_via_info(&ci));
}

static void s_hello(tc_t *t, const char *token, const char *tab)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(frame_encode_hello(&b, token, tab, "https://lmarena.ai/c/1", "TestUA/1.0"), 0);
    s_tc_send(t, b.data);
    abuf_free(&b);
}

/*  Index of the first event of kind for tab at or after from, or -1. */
static long s_find_ev(const env_t *e, link_ev_kind_t kind, const char *tab, size_t from)
{
    for (size_t i = from; i < e->n_ev; i++)
        if (e->ev[i].kind == kind && strcmp(e->ev[i].tab, tab) == 0)
            return (long)i;
    return -1;
}

static size_t s_count_ev(const env_t *e, link_ev_kind_t kind, const char *tab)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_ev; i++)
        n += e->ev[i].kind == kind && strcmp(e->ev[i].tab, tab) == 0;
    return n;
}

/*  Index of the first received message of that type, or -1. */
static long s_find_rx(const tc_t *t, frame_type_t type, size_t from)
{
    for (size_t i = from; i < t->n_rx; i++) {
        frame_t f;
        if (frame_decode(t->rx[i], t->rx_len[i], &f, NULL, 0) != FRAME_OK)
            continue;
        bool hit = f.type == type;
        frame_clear(&f);
        if (hit)
            return (long)i;
    }
    return -1;
}

/*  Connects, says hello and waits for HELLO at the node and welcome at the tab. */
static void s_open_tab(env_t *e, tc_t *t, const char *tab)
{
    size_t from = e->n_ev;
    s_connect(e, t, "https://lmarena.ai");
    s_hello(t, S_TOKEN, tab);
    S_WAIT(e, s_find_ev(e, LINK_EV_HELLO, tab, from) >= 0 && s_find_rx(t, LINK_WELCOME, 0) >= 0,
           5000);
    assert_true(t->established);
    assert_true(s_find_ev(e, LINK_EV_HELLO, tab, from) >= 0);
    assert_true(s_find_rx(t, LINK_WELCOME, 0) >= 0);
}

/* --------------------------------------------------------- raw HTTP */

/*  Sends one HTTP request and returns the response status, -1 on failure. */
static int s_http_status(int port, const char *path, const char *origin, bool upgrade)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int status = -1;
    char req[1024], resp[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", path, port);
    if (upgrade)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n");
    if (origin)
        n += snprintf(req + n, sizeof req - (size_t)n, "Origin: %s\r\n", origin);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || write(fd, req, (size_t)n) != n)
        goto done;
    size_t got = 0;
    while (got < sizeof resp - 1 && !memchr(resp, '\n', got)) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    resp[got] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
done:
    close(fd);
    return status;
}

/* ---------------------------------------------------------------- tests */

typedef struct {
    const char *origin;
    int allowed;
} origin_case_t;

/*  An origin's host and port follow HOST:PORT's one rule (protocol/hostport),
    the same the config check applies to --link-origin: an origin that is not
    well formed never matches, not even itself. */
static void test_origin_hostport_rule(void **state)
{
    (void)state;
    static const origin_case_t cases[] = {
        {"http://my_host:8080", 1}, {"http://h:65535", 1}, {"http://[::1]:3000", 1},
        {"http://h:65536", 0},      {"http://h:0", 0},     {"http://[zz]:3000", 0},
        {"http://a..b", 0},         {"http://*.[::1]", 0}, {"http://h:1x", 0},
        {"http://[::1", 0},         {"http://h:", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pat = cases[i].origin;
        int got = link_origin_allowed(cases[i].origin, &pat, 1);
        if (got != cases[i].allowed)
            fail_msg("origin \"%s\": %d, want %d", cases[i].origin, got, cases[i].allowed);
    }
}

static void test_origin_allowed(void **state)
{
    (void)state;
    static const char *const pats[] = {"https://lmarena.ai", "https://*.lmarena.ai",
                                       "https://arena.ai", "http://localhost:3000",
                                       "https://*.Example.COM"};
    static const origin_case_t cases[] = {
        {"https://lmarena.ai", 1},
        {"https://LMArena.AI", 1},
        {"HTTPS://lmarena.ai", 1},
        {"https://www.lmarena.ai", 1},
        {"https://a.b.lmarena.ai", 1},
        {"https://arena.ai", 1},
        {"https://www.arena.ai", 0}, /* no wildcard for arena.ai in this list */
        {"http://localhost:3000", 1},
        {"http://localhost:3001", 0},
        {"http://localhost", 0},
        {"https://x.example.com", 1},
        {"https://example.com", 0},
        {"https://lmarena.ai.evil.com", 0},
        {"https://evil-lmarena.ai", 0},
        {"https://evillmarena.ai", 0},
        {"https://.lmarena.ai", 0},
        {"https://a..lmarena.ai", 0},
        {"https://lmarena.ai.", 0},
        {"https://lmarena.ai:443", 0},
        {"https://www.lmarena.ai:8443", 0},
        {"https://lmarena.ai/", 0},
        {"https://lmarena.ai/path", 0},
        {"https://user@lmarena.ai", 0},
        {"https://evil.com@lmarena.ai", 0},
        {"https://evil.com#.lmarena.ai", 0},
        {"https://evil.com?.lmarena.ai", 0},
        {"http://lmarena.ai", 0},
        {"wss://lmarena.ai", 0},
        {"https://*.lmarena.ai", 0},
        {"null", 0},
        {"", 0},
        {"lmarena.ai", 0},
        {"https://", 0},
        {"https://lmarena.ai:", 0},
        {"https://lmarena.ai:99999x", 0},
        {"https://lmarena.ai\r\nX: y", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = link_origin_allowed(cases[i].origin, pats, sizeof pats / sizeof pats[0]);
        if (got != cases[i].allowed)
            fail_msg("origin \"%s\": %d, want %d", cases[i].origin ? cases[i].origin : "(null)",
                     got, cases[i].allowed);
    }
    assert_int_equal(link_origin_allowed("https://lmarena.ai", NULL, 0), 0);
    char longer[400];
    memset(longer, 'a', sizeof longer);
    memcpy(longer, "https://", 8);
    strcpy(longer + sizeof longer - 13, ".lmarena.ai");
    assert_int_equal(link_origin_allowed(longer, pats, 2), 0);
}

typedef struct {
    const char *path;
    const char *origin;
    bool upgrade;
    int status;
} upgrade_case_t;

static void test_upgrade_http(void **state)
{
    (void)state;
    static const upgrade_case_t cases[] = {
        {"/link", "https://lmarena.ai", true, 101},
        {"/link", "https://www.lmarena.ai", true, 101},
        {"/link", "https://arena.ai", true, 101},
        {"/link", "https://lmarena.ai.evil.com", true, 403},
        {"/link", "https://evil.com", true, 403},
        {"/link", "http://lmarena.ai", true, 403},
        {"/link", "https://lmarena.ai:8443", true, 403},
        {"/link", "null", true, 403},
        {"/link", NULL, true, 403},
        {"/other", "https://lmarena.ai", true, 404},
        {"/link", "https://lmarena.ai", false, 404},
    };
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const upgrade_case_t *c = &cases[i];
        int got = s_http_status(link_port(e.link), c->path, c->origin, c->upgrade);
        if (got != c->status)
            fail_msg("%s origin %s upgrade %d: HTTP %d, want %d", c->path,
                     c->origin ? c->origin : "(none)", c->upgrade, got, c->status);
    }
    s_env_stop(&e);
}

static void test_client_origin(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t good = {0}, evil = {0}, lookalike = {0};
    s_connect(&e, &good, "https://lmarena.ai");
    s_connect(&e, &evil, "https://evil.com");
    s_connect(&e, &lookalike, "https://lmarena.ai.evil.com");
    S_WAIT(&e, good.established && evil.failed && lookalike.failed, 5000);
    assert_true(good.established);
    assert_true(evil.failed);
    assert_false(evil.established);
    assert_true(lookalike.failed);
    assert_false(lookalike.established);
    s_env_stop(&e);
    s_tc_free(&good);
    s_tc_free(&evil);
    s_tc_free(&lookalike);
}

static void test_hello_frames_gone(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t t = {0};
    s_open_tab(&e, &t, "tab-A");
    long h = s_find_ev(&e, LINK_EV_HELLO, "tab-A", 0);
    assert_string_equal(e.ev[h].href, "https://lmarena.ai/c/1");
    assert_string_equal(e.ev[h].ua, "TestUA/1.0");
    frame_t f;
    long w = s_find_rx(&t, LINK_WELCOME, 0);
    assert_int_equal(frame_decode(t.rx[w], t.rx_len[w], &f, NULL, 0), FRAME_OK);
    assert_string_equal(f.node, "test-node");
    assert_string_equal(f.version, FRAME_PROTOCOL_VERSION);
    frame_clear(&f);

    /* tab → node: exact text, multi-byte UTF-8 and a raw NUL included */
    static const char frame[] =
        "{\"type\":\"chunk\",\"id\":\"J1\",\"data\":\"h\xc3\xa9 \xf0\x9f\x98"
        "\x80\\n\"}\0tail";
    size_t from = e.n_ev;
    s_tc_push(&t, frame, sizeof frame - 1, 1);
    S_WAIT(&e, s_find_ev(&e, LINK_EV_FRAME, "tab-A", from) >= 0, 5000);
    long fr = s_find_ev(&e, LINK_EV_FRAME, "tab-A", from);
    assert_true(fr >= 0);
    assert_int_equal(e.ev[fr].len, sizeof frame - 1);
    assert_memory_equal(e.ev[fr].text, frame, sizeof frame - 1);
    assert_int_equal(e.ev[fr].text[e.ev[fr].len], '\0');

    /* node → tab, in order */
    size_t rx_from = t.n_rx;
    static const char *const out[] = {"{\"type\":\"page\",\"id\":\"P1\"}",
                                      "{\"type\":\"abort\",\"id\":\"J1\"}",
                                      "{\"type\":\"reload\"}"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(link_send(e.link, "tab-A", out[i], strlen(out[i])), 0);
    S_WAIT(&e, t.n_rx >= rx_from + 3, 5000);
    assert_int_equal(t.n_rx, rx_from + 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(t.rx_len[rx_from + i], strlen(out[i]));
        assert_memory_equal(t.rx[rx_from + i], out[i], strlen(out[i]));
    }
    /* a frame for an unknown tab goes nowhere */
    assert_int_equal(link_send(e.link, "tab-nobody", "{}", 2), 0);

    /* the tab closing → GONE */
    t.want_close = true;
    lws_callback_on_writable(t.wsi);
    S_WAIT(&e, t.closed && s_find_ev(&e, LINK_EV_GONE, "tab-A", 0) >= 0, 5000);
    long g = s_find_ev(&e, LINK_EV_GONE, "tab-A", 0);
    assert_true(g > fr);
    assert_string_equal(e.ev[g].text, "closed");
    s_settle(&e, 100);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-A"), 1);
    s_env_stop(&e);
    s_tc_free(&t);
}

typedef struct {
    const char *name;
    const char *first; /* NULL: send nothing */
    int hello_ms;
    int min_ms; /* the close does not come before this */
} reject_case_t;

static void test_hello_rejected(void **state)
{
    (void)state;
    static const reject_case_t cases[] = {
        {"wrong token", "{\"type\":\"hello\",\"token\":\"nope\",\"tab\":\"T\",\"version\":\"1\"}",
         3000, 0},
        {"token prefix",
         "{\"type\":\"hello\",\"token\":\"secret\",\"tab\":\"T\",\"version\":\"1\"}", 3000, 0},
        {"no token", "{\"type\":\"hello\",\"tab\":\"T\",\"version\":\"1\"}", 3000, 0},
        {"not hello", "{\"type\":\"pong\",\"t\":1}", 3000, 0},
        {"not json", "hello", 3000, 0},
        {"timeout", NULL, 300, 250},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const reject_case_t *c = &cases[i];
        link_config_t cfg = s_config();
        cfg.hello_timeout_ms = c->hello_ms;
        env_t e;
        s_env_start(&e, &cfg);
        tc_t t = {0};
        int64_t start = s_ms();
        s_connect(&e, &t, "https://lmarena.ai");
        if (c->first)
            s_tc_send(&t, c->first);
        S_WAIT(&e, t.closed || t.failed, 5000);
        int64_t took = s_ms() - start;
        if (!t.closed || t.close_code != 4401)
            fail_msg("%s: closed %d code %d", c->name, t.closed, t.close_code);
        if (took < c->min_ms || took > 3000)
            fail_msg("%s: closed after %lld ms", c->name, (long long)took);
        s_settle(&e, 50);
        assert_int_equal(e.n_ev, 0); /* neither HELLO nor GONE */
        s_env_stop(&e);
        s_tc_free(&t);
    }
}

static void test_replaced(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t a = {0}, b = {0};
    s_open_tab(&e, &a, "tab-X");
    s_open_tab(&e, &b, "tab-X");
    S_WAIT(&e, a.closed, 5000);
    assert_true(a.closed);
    assert_int_equal(a.close_code, 4409);
    assert_false(b.closed);
    /* HELLO(a), GONE(replaced), HELLO(b) in that order */
    long h1 = s_find_ev(&e, LINK_EV_HELLO, "tab-X", 0);
    long g = s_find_ev(&e, LINK_EV_GONE, "tab-X", 0);
    long h2 = s_find_ev(&e, LINK_EV_HELLO, "tab-X", (size_t)h1 + 1);
    assert_true(h1 >= 0 && g > h1 && h2 > g);
    assert_string_equal(e.ev[g].text, "replaced");
    s_settle(&e, 300);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-X"), 1);

    /* frames for tab-X now go to the new connection */
    size_t a_rx = a.n_rx, b_rx = b.n_rx;
    assert_int_equal(link_send(e.link, "tab-X", "{\"type\":\"reload\"}", 17), 0);
    S_WAIT(&e, b.n_rx > b_rx, 5000);
    assert_int_equal(b.n_rx, b_rx + 1);
    assert_int_equal(a.n_rx, a_rx);

    b.want_close = true;
    lws_callback_on_writable(b.wsi);
    S_WAIT(&e, s_count_ev(&e, LINK_EV_GONE, "tab-X") == 2, 5000);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-X"), 2);
    s_env_stop(&e);
    s_tc_free(&a);
    s_tc_free(&b);
}

static size_t s_count_rx(const tc_t *t, frame_type_t type)
{
    size_t n = 0;
    for (long i = s_find_rx(t, type, 0); i >= 0; i = s_find_rx(t, type, (size_t)i + 1))
        n++;
    return n;
}

static void test_ping_and_silence(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    cfg.ping_interval_ms = 200;
    cfg.silent_close_ms = 600;
    env_t e;
    s_env_start(&e, &cfg);
    tc_t live = {0}, mute = {0};
    live.auto_pong = true;
    s_open_tab(&e, &live, "tab-live");
    s_open_tab(&e, &mute, "tab-mute");
    int64_t start = s_ms();
    S_WAIT(&e, mute.closed, 3000);
    int64_t took = s_ms() - start;
    assert_true(mute.closed);
    assert_int_equal(mute.close_code, 4408);
    assert_true(took >= 400 && took < 2000);
    assert_true(s_count_rx(&mute, FRAME_PING) >= 2);
    S_WAIT(&e, s_find_ev(&e, LINK_EV_GONE, "tab-mute", 0) >= 0, 2000);
    long g = s_find_ev(&e, LINK_EV_GONE, "tab-mute", 0);
    assert_true(g >= 0);
    assert_string_equal(e.ev[g].text, "silent");

    /* the tab that answers stays, and its pongs reach the node */
    s_settle(&e, 800);
    assert_false(live.closed);
    assert_true(s_count_rx(&live, FRAME_PING) >= 5);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-live"), 0);
    long p = s_find_ev(&e, LINK_EV_FRAME, "tab-live", 0);
    assert_true(p >= 0);
    frame_t f;
    assert_int_equal(frame_decode(e.ev[p].text, e.ev[p].len, &f, NULL, 0), FRAME_OK);
    assert_int_equal(f.type, FRAME_PONG);
    assert_true(f.t > 0);
    frame_clear(&f);
    s_env_stop(&e);
    s_tc_free(&live);
    s_tc_free(&mute);
}

static char *s_chunk_frame(size_t total)
{
    char *s = malloc(total + 1);
    assert_non_null(s);
    static const char head[] = "{\"type\":\"chunk\",\"id\":\"J\",\"data\":\"";
    memcpy(s, head, sizeof head - 1);
    memset(s + sizeof head - 1, 'x', total - (sizeof head - 1) - 2);
    memcpy(s + total - 2, "\"}", 3);
    return s;
}

typedef struct {
    size_t size;
    int frags;
    bool delivered;
} size_case_t;

static void test_frame_size(void **state)
{
    (void)state;
    static const size_case_t cases[] = {
        {4096, 1, true},  {4097, 1, false}, {3000, 3, true},
        {6000, 3, false}, {5000, 1, false}, {4096, 4, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_case_t *c = &cases[i];
        link_config_t cfg = s_config();
        cfg.max_frame = 4096;
        env_t e;
        s_env_start(&e, &cfg);
        tc_t t = {0};
        s_open_tab(&e, &t, "tab-S");
        char *frame = s_chunk_frame(c->size);
        size_t from = e.n_ev;
        s_tc_push(&t, frame, c->size, c->frags);
        if (c->delivered) {
            S_WAIT(&e, s_find_ev(&e, LINK_EV_FRAME, "tab-S", from) >= 0, 5000);
            long fr = s_find_ev(&e, LINK_EV_FRAME, "tab-S", from);
            if (fr < 0)
                fail_msg("%zu bytes in %d fragments not delivered", c->size, c->frags);
            assert_int_equal(e.ev[fr].len, c->size);
            assert_memory_equal(e.ev[fr].text, frame, c->size);
            assert_false(t.closed);
        } else {
            S_WAIT(&e, t.closed && s_find_ev(&e, LINK_EV_GONE, "tab-S", 0) >= 0, 5000);
            if (!t.closed || t.close_code != 1009)
                fail_msg("%zu bytes in %d fragments: closed %d code %d", c->size, c->frags,
                         t.closed, t.close_code);
            assert_int_equal(s_find_ev(&e, LINK_EV_FRAME, "tab-S", from), -1);
            long g = s_find_ev(&e, LINK_EV_GONE, "tab-S", 0);
            assert_true(g >= 0);
            assert_string_equal(e.ev[g].text, "frame too big");
        }
        free(frame);
        s_env_stop(&e);
        s_tc_free(&t);
    }
}

/*  Upgrades a raw socket on /link; the fd, or -1. */
static int s_raw_upgrade(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    static const char req[] = "GET /link HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nOrigin: https://lmarena.ai\r\n\r\n";
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char resp[1024];
    size_t got = 0;
    /* byte by byte so nothing after the headers is consumed */
    while (got < sizeof resp - 1 && (got < 4 || memcmp(resp + got - 4, "\r\n\r\n", 4) != 0)) {
        if (read(fd, resp + got, 1) != 1)
            break;
        got++;
    }
    resp[got] = '\0';
    assert_non_null(strstr(resp, " 101 "));
    return fd;
}

/*  Before hello a connection may not make the link buffer much: a frame
    announcing 200 KiB is refused from its header, before its payload. */
static void test_big_frame_before_hello(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    int fd = s_raw_upgrade(link_port(e.link));
    unsigned char hdr[14] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x03, 0x20, 0x00, 1, 2, 3, 4};
    unsigned char part[1000];
    for (size_t i = 0; i < sizeof part; i++)
        part[i] = (unsigned char)('x' ^ hdr[10 + i % 4]);
    assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(write(fd, part, sizeof part), (ssize_t)sizeof part);
    unsigned char close_frame[4] = {0};
    size_t got = 0;
    while (got < sizeof close_frame) {
        ssize_t r = read(fd, close_frame + got, sizeof close_frame - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    assert_int_equal(got, 4);
    assert_int_equal(close_frame[0], 0x88);                       /* FIN + close */
    assert_int_equal(close_frame[2] << 8 | close_frame[3], 1009); /* message too big */
    close(fd);
    s_settle(&e, 50);
    assert_int_equal(e.n_ev, 0);
    s_env_stop(&e);
}

static void test_close_tab(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t t = {0};
    s_open_tab(&e, &t, "tab-C");
    assert_int_equal(link_close_tab(e.link, "tab-C", 1004, "reserved"), -1);
    assert_int_equal(link_close_tab(e.link, "tab-C", 5000, "too high"), -1);
    assert_int_equal(link_close_tab(e.link, NULL, 4000, "x"), -1);
    /* queued frames go out before the close */
    assert_int_equal(link_send(e.link, "tab-C", "{\"type\":\"reload\"}", 17), 0);
    assert_int_equal(link_close_tab(e.link, "tab-C", 4000, "bye now"), 0);
    S_WAIT(&e, t.closed && s_find_ev(&e, LINK_EV_GONE, "tab-C", 0) >= 0, 5000);
    assert_true(t.closed);
    assert_int_equal(t.close_code, 4000);
    assert_string_equal(t.close_reason, "bye now");
    assert_true(s_find_rx(&t, FRAME_RELOAD, 0) >= 0);
    long g = s_find_ev(&e, LINK_EV_GONE, "tab-C", 0);
    assert_true(g >= 0);
    assert_string_equal(e.ev[g].text, "bye now");
    s_env_stop(&e);
    s_tc_free(&t);
}

static void test_api_bounds(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    link_event_t ev;
    assert_int_equal(link_recv(e.link, &ev), -1);
    assert_int_equal(link_send(e.link, NULL, "x", 1), -1);
    assert_int_equal(link_send(e.link, "", "x", 1), -1);
    char longtab[FRAME_MAX_ID + 2];
    memset(longtab, 't', sizeof longtab - 1);
    longtab[sizeof longtab - 1] = '\0';
    assert_int_equal(link_send(e.link, longtab, "x", 1), -1);
    assert_int_equal(link_send(e.link, "t", NULL, 1), -1);
    assert_non_null(link_pipe(e.link));

    /* the same port twice: the second link fails cleanly */
    link_config_t again = s_config();
    again.port = link_port(e.link);
    assert_null(link_new(&again));
    link_config_t notoken = s_config();
    notoken.token = "";
    assert_null(link_new(&notoken));
    assert_null(link_new(NULL));
    link_destroy(NULL);
    s_env_stop(&e);
}

/*  The tab limit counts tabs (past hello), not connections: a tab over it is
    refused at its hello with 4429, a tab that reconnects under its own id
    replaces itself even at the limit, and a freed place is taken again. */
static void test_max_tabs(void **state)
{
    (void)state;
    link_config_t cfg = s_config();
    cfg.max_tabs = 1;
    env_t e;
    s_env_start(&e, &cfg);
    tc_t t1 = {0}, t2 = {0}, again = {0}, t2b = {0};
    s_open_tab(&e, &t1, "tab-1");
    s_connect(&e, &t2, "https://lmarena.ai");
    s_hello(&t2, S_TOKEN, "tab-2");
    S_WAIT(&e, t2.closed || t2.failed, 5000);
    assert_true(t2.established);
    assert_true(t2.closed);
    assert_int_equal(t2.close_code, 4429);
    assert_string_equal(t2.close_reason, "too many tabs");
    assert_int_equal(s_count_ev(&e, LINK_EV_HELLO, "tab-2"), 0);

    s_open_tab(&e, &again, "tab-1"); /* a reload of tab-1 at the limit */
    S_WAIT(&e, t1.closed, 5000);
    assert_int_equal(t1.close_code, 4409);
    assert_false(again.closed);

    again.want_close = true;
    lws_callback_on_writable(again.wsi);
    S_WAIT(&e, s_count_ev(&e, LINK_EV_GONE, "tab-1") == 2, 5000);
    s_open_tab(&e, &t2b, "tab-2");
    assert_false(t2b.closed);
    s_env_stop(&e);
    s_tc_free(&t1);
    s_tc_free(&t2);
    s_tc_free(&again);
    s_tc_free(&t2b);
}

/*  The lockout of issue #9: 300 upgrades that never say hello (more than the
    256-tab limit) must not keep a real tab out. Connections before hello
    have their own limit (max_pending) and the oldest of them goes when it is
    full, so the tab gets in at once, even while more silent connections keep
    arriving behind it; every silent connection is closed, the last ones when
    their hello deadline passes, and the tab stays. */
static void test_pending_cannot_crowd_out_tabs(void **state)
{
    (void)state;
    enum { SILENT = 300, BEHIND = 16, PENDING = 32, HELLO_MS = 2000, TAB_MS = 1500 };
    link_config_t cfg = s_config();
    cfg.hello_timeout_ms = HELLO_MS;
    cfg.max_pending = PENDING;
    env_t e;
    s_env_start(&e, &cfg);
    tc_t *silent = calloc(SILENT + BEHIND, sizeof *silent);
    assert_non_null(silent);
    for (size_t i = 0; i < SILENT; i++)
        s_connect(&e, &silent[i], "https://lmarena.ai");
    size_t settled = 0;
    int64_t deadline = s_ms() + 10000;
    while (settled < SILENT && s_ms() < deadline) {
        s_pump(&e);
        settled = 0;
        for (size_t i = 0; i < SILENT; i++)
            settled += silent[i].established || silent[i].failed;
    }
    assert_int_equal(settled, SILENT);

    /* the real tab, then more silent upgrades behind it */
    tc_t tab = {0};
    int64_t start = s_ms();
    s_connect(&e, &tab, "https://lmarena.ai");
    s_hello(&tab, S_TOKEN, "tab-real");
    for (size_t i = SILENT; i < SILENT + BEHIND; i++)
        s_connect(&e, &silent[i], "https://lmarena.ai");
    S_WAIT(&e,
           tab.closed || tab.failed ||
               (s_find_ev(&e, LINK_EV_HELLO, "tab-real", 0) >= 0 &&
                s_find_rx(&tab, LINK_WELCOME, 0) >= 0),
           TAB_MS);
    int64_t took = s_ms() - start;
    if (!tab.established || tab.closed || s_find_ev(&e, LINK_EV_HELLO, "tab-real", 0) < 0 ||
        s_find_rx(&tab, LINK_WELCOME, 0) < 0)
        fail_msg("after %d silent upgrades the tab did not get in within %d ms: established %d "
                 "failed %d closed %d (code %d)",
                 SILENT, TAB_MS, tab.established, tab.failed, tab.closed, tab.close_code);
    print_message("the tab got in after %lld ms\n", (long long)took);

    /* every silent connection goes: over the limit at once, the rest at
       their hello deadline */
    size_t closed = 0;
    deadline = s_ms() + HELLO_MS + 3000;
    while (closed < SILENT + BEHIND && s_ms() < deadline) {
        s_pump(&e);
        closed = 0;
        for (size_t i = 0; i < SILENT + BEHIND; i++)
            closed += silent[i].closed;
    }
    size_t n_over = 0, n_late = 0;
    for (size_t i = 0; i < SILENT + BEHIND; i++) {
        const tc_t *t = &silent[i];
        if (!t->established || !t->closed)
            fail_msg("silent connection %zu: established %d closed %d", i, t->established,
                     t->closed);
        if (t->close_code == 4429) {
            n_over++;
        } else if (t->close_code == 4401) {
            n_late++;
            if (t->closed_ms - start < (i < SILENT ? 0 : HELLO_MS - 100))
                fail_msg("silent connection %zu closed %lld ms after the tab came, before its "
                         "hello deadline",
                         i, (long long)(t->closed_ms - start));
        } else {
            fail_msg("silent connection %zu closed with %d", i, t->close_code);
        }
    }
    assert_true(n_late <= PENDING);
    assert_true(n_over >= SILENT + BEHIND + 1 - PENDING);
    assert_false(tab.closed);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-real"), 0);

    /* pending connections are not tabs: a second tab still has its place */
    tc_t tab2 = {0};
    s_open_tab(&e, &tab2, "tab-second");
    s_env_stop(&e);
    for (size_t i = 0; i < SILENT + BEHIND; i++)
        s_tc_free(&silent[i]);
    free(silent);
    s_tc_free(&tab);
    s_tc_free(&tab2);
}

/*  A tab that stops reading is cut once its queue is full, not buffered forever. */
static void test_queue_full(void **state)
{
    (void)state;
    enum { FRAME = 1024 * 1024, FRAMES = 64 };
    link_config_t cfg = s_config();
    cfg.tab_queue_max = 4;
    env_t e;
    s_env_start(&e, &cfg);
    tc_t t = {0};
    s_open_tab(&e, &t, "tab-Q");
    lws_rx_flow_control(t.wsi, 0);
    char *frame = s_chunk_frame(FRAME);
    for (int i = 0; i < FRAMES; i++)
        assert_int_equal(link_send(e.link, "tab-Q", frame, FRAME), 0);
    free(frame);
    S_WAIT(&e, s_find_ev(&e, LINK_EV_GONE, "tab-Q", 0) >= 0, 10000);
    long g = s_find_ev(&e, LINK_EV_GONE, "tab-Q", 0);
    assert_true(g >= 0);
    assert_string_equal(e.ev[g].text, "queue full");
    s_env_stop(&e);
    s_tc_free(&t);
}

/*  The node does not read for a while: nothing is lost, order is kept. */
static void test_backpressure(void **state)
{
    (void)state;
    enum { N = 30000 };
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t t = {0};
    s_open_tab(&e, &t, "tab-B");
    e.drain = false;
    char buf[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "{\"type\":\"pong\",\"t\":%d}", i);
        s_tc_push(&t, buf, (size_t)n, 1);
    }
    /* send until everything went or the link stopped reading us for a second */
    int64_t idle_since = s_ms(), end;
    size_t seen = t.tx_at;
    while (t.tx_at < t.n_tx && s_ms() - idle_since < 1000) {
        lws_service(e.cctx, -1);
        if (t.tx_at != seen) {
            seen = t.tx_at;
            idle_since = s_ms();
        }
    }
    s_settle(&e, 200);
    e.drain = true;
    size_t base = e.n_ev;
    end = s_ms() + 30000;
    while (e.n_ev < base + N && s_ms() < end) {
        lws_service(e.cctx, -1);
        s_drain(&e);
    }
    size_t got = 0;
    for (size_t i = base; i < e.n_ev; i++) {
        if (e.ev[i].kind != LINK_EV_FRAME)
            continue;
        snprintf(buf, sizeof buf, "{\"type\":\"pong\",\"t\":%zu}", got);
        if (strcmp(e.ev[i].text, buf) != 0)
            fail_msg("event %zu: %s, want %s", got, e.ev[i].text, buf);
        got++;
    }
    assert_int_equal(got, N);
    assert_false(t.closed);
    s_env_stop(&e);
    s_tc_free(&t);
}

/*  link_pause: the node stops reading one tab (the back-pressure of a
    forwarded request, docs/mesh-protocol.md "Flow control"): that tab's
    frames wait in the tab and TCP while another tab's still arrive; once
    resumed every frame arrives, in order, and the tab was never closed. */
static void test_pause(void **state)
{
    (void)state;
    enum { N = 10000 };
    link_config_t cfg = s_config();
    env_t e;
    s_env_start(&e, &cfg);
    tc_t p = {0}, q = {0};
    s_open_tab(&e, &p, "tab-P");
    s_open_tab(&e, &q, "tab-Q");
    assert_int_equal(link_pause(e.link, NULL, true), -1);
    assert_int_equal(link_pause(e.link, "tab-P", true), 0);
    /* commands keep their order: once this frame reaches the tab, the pause holds */
    assert_int_equal(link_send(e.link, "tab-P", "{\"type\":\"reload\"}", 17), 0);
    S_WAIT(&e, s_find_rx(&p, FRAME_RELOAD, 0) >= 0, 5000);
    assert_true(s_find_rx(&p, FRAME_RELOAD, 0) >= 0);
    size_t base = e.n_ev;
    char buf[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "{\"type\":\"pong\",\"t\":%d}", i);
        s_tc_push(&p, buf, (size_t)n, 1);
    }
    s_tc_push(&q, "{\"type\":\"pong\",\"t\":0}", 21, 1);
    S_WAIT(&e, s_count_ev(&e, LINK_EV_FRAME, "tab-Q") >= 1, 5000);
    assert_int_equal(s_count_ev(&e, LINK_EV_FRAME, "tab-Q"), 1); /* the other tab is read */
    s_settle(&e, 300);
    size_t held = s_count_ev(&e, LINK_EV_FRAME, "tab-P");
    if (held > 0)
        fail_msg("tab-P was read while paused: %zu of %d frames", held, N);
    assert_int_equal(link_pause(e.link, "tab-P", false), 0);
    S_WAIT(&e, e.n_ev >= base + N + 1, 30000); /* tab-P's N and tab-Q's one */
    size_t got = 0;
    for (size_t i = base; i < e.n_ev; i++) {
        if (e.ev[i].kind != LINK_EV_FRAME || strcmp(e.ev[i].tab, "tab-P") != 0)
            continue;
        snprintf(buf, sizeof buf, "{\"type\":\"pong\",\"t\":%zu}", got);
        if (strcmp(e.ev[i].text, buf) != 0)
            fail_msg("event %zu: %s, want %s", got, e.ev[i].text, buf);
        got++;
    }
    assert_int_equal(got, N);
    assert_false(p.closed);
    assert_int_equal(s_count_ev(&e, LINK_EV_GONE, "tab-P"), 0);
    s_env_stop(&e);
    s_tc_free(&p);
    s_tc_free(&q);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER=test_replaced */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_allowed),
        cmocka_unit_test(test_origin_hostport_rule),
        cmocka_unit_test(test_upgrade_http),
        cmocka_unit_test(test_client_origin),
        cmocka_unit_test(test_hello_frames_gone),
        cmocka_unit_test(test_hello_rejected),
        cmocka_unit_test(test_replaced),
        cmocka_unit_test(test_ping_and_silence),
        cmocka_unit_test(test_frame_size),
        cmocka_unit_test(test_big_frame_before_hello),
        cmocka_unit_test(test_close_tab),
        cmocka_unit_test(test_api_bounds),
        cmocka_unit_test(test_max_tabs),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_pending_cannot_crowd_out_tabs),
        cmocka_unit_test(test_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
