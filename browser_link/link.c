/*  link — the browser-link server; see link.h.

    Owns: the lws context (created here, serviced by the link thread, torn
    down by link_destroy after the thread joined), every tab connection and
    its bounded outbound queue, and both ends of the inproc PAIR between the
    node thread and the link thread.

    Threading: the link thread runs lws_service() and every lws callback; it
    alone touches connections and the link end of the pipe. The node thread
    uses the node end (link_send, link_close_tab, link_recv) and may call
    lws_cancel_service() to wake the link thread, nothing else of lws. Stop is
    an atomic flag plus a wake-up.

    Pipe messages are czmq multipart messages (zmsg_t), which ZeroMQ
    delivers whole or not at all: a one-byte kind frame, then one frame per
    field (an empty frame for an absent one). Node → link: 'S' tab text,
    'C' tab code (2 bytes, big-endian) reason. Link → node: 'H' tab href ua,
    'F' tab text, 'G' tab reason. Both ends have send and receive timeouts
    of 0, so zmsg_send and zmsg_recv never block. */
#include "browser_link/link.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zmq.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/hostport.h"
#include "protocol/frame.h"
#include "protocol/tsan.h"

#define S_PATH "/link"
#define S_PROTOCOL "arena-link"
#define S_PIPE_HWM 10000
#define S_HELLO_MAX_FRAME (64u * 1024) /* before hello, frames are small */
#define S_RX_KEEP (256u * 1024)        /* reassembly buffers above this are freed */
#define S_RETRY_US (5 * LWS_US_PER_MS) /* retry of events the node could not take yet */
#define S_CLOSE_GRACE_S 5              /* a closing peer that reads nothing is cut */
#define S_PEND_MAX 100000              /* events held for the node, hard cap */
#define S_ORIGIN_MAX 255
#define S_CLOSE_REASON_MAX 123

/*  Pipe messages order the sender's writes before the receiver's reads;
    TSan cannot see that through libzmq (protocol/tsan.h): one sync address
    per direction. */
#define S_PIPE_RELEASE(sync) ARENA_TSAN_RELEASE(sync)
#define S_PIPE_ACQUIRE(sync) ARENA_TSAN_ACQUIRE(sync)

/*  Close codes of LINK-PROTOCOL.md and our own. */
#define S_CLOSE_UNAUTHORIZED 4401
#define S_CLOSE_SILENT 4408
#define S_CLOSE_REPLACED 4409
#define S_CLOSE_TRY_LATER 1013
#define S_CLOSE_TOO_MANY 4429 /* the tab limit, or the pending limit (oldest first) */

typedef struct s_out {
    struct s_out *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE headroom, then the frame */
} s_out_t;

typedef struct s_pend {
    struct s_pend *next;
    zmsg_t *msg;
} s_pend_t;

/*  One tab connection: the lws per-session data, zeroed by lws. */
typedef struct s_conn {
    link_t *link;
    struct lws *wsi;
    struct s_conn *prev, *next;
    char tab[FRAME_MAX_ID + 1];
    bool hello_ok; /* passed hello: frames go to the node, GONE is due */
    bool replaced; /* GONE already sent when the tab reconnected */
    bool paused;   /* rx stopped while the node pipe is full */
    bool held;     /* rx stopped because the node asked (link_pause: back-pressure) */
    bool closing, close_now;
    int close_code;
    char close_reason[S_CLOSE_REASON_MAX + 1];
    abuf_t rx;
    s_out_t *out_head, *out_tail;
    size_t n_out;
    int64_t last_rx_us, hello_deadline_us, next_ping_us;
} s_conn_t;

struct _link_t {
    /* set by link_new, read-only afterwards */
    char *bind_addr, *token, *node_name;
    char **origins;
    size_t n_origins;
    size_t max_frame, max_tabs, max_pending, tab_queue_max;
    int64_t hello_us, ping_us, silent_us;
    int port;
    struct lws_context *ctx;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    char endpoint[80];      /* the inproc address of the pipe */
    zsock_t *node_end;      /* node thread */
    zsock_t *link_end;      /* link thread */
    char cmd_sync, ev_sync; /* TSan sync addresses, see S_PIPE_RELEASE */
    /* link thread only (and link_destroy after the join) */
    bool stopping;
    s_conn_t *conns; /* newest first */
    s_pend_t *pend_head, *pend_tail;
    size_t n_pend;
    lws_sorted_usec_list_t retry_sul;
};

typedef struct {
    const char *p; /* NULL: absent (sent as an empty frame) */
    size_t len;
} s_field_t;

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static s_field_t s_cstr(const char *s)
{
    return (s_field_t){s, s ? strlen(s) : 0};
}

/* ---------------------------------------------------------- pipe messages */

/*  The kind frame, then one frame per field; NULL when out of memory. */
static zmsg_t *s_msg_new(char kind, const s_field_t *f, size_t n)
{
    zmsg_t *m = zmsg_new();
    if (!m || zmsg_addmem(m, &kind, 1) < 0)
        goto err;
    for (size_t i = 0; i < n; i++)
        if (zmsg_addmem(m, f[i].p ? f[i].p : "", f[i].p ? f[i].len : 0) < 0)
            goto err;
    return m;
err:
    zmsg_destroy(&m);
    return NULL;
}

/*  The kind of m and its n fields, borrowed from m (an empty field is "",
    never NULL); -1 when m has another shape. */
static int s_msg_fields(zmsg_t *m, char *kind, s_field_t *f, size_t n)
{
    zframe_t *k = zmsg_first(m);
    if (zmsg_size(m) != n + 1 || zframe_size(k) != 1)
        return -1;
    *kind = (char)zframe_data(k)[0];
    for (size_t i = 0; i < n; i++) {
        zframe_t *fr = zmsg_next(m);
        size_t len = zframe_size(fr);
        f[i] = (s_field_t){len ? (const char *)zframe_data(fr) : "", len};
    }
    return 0;
}

static char *s_field_dup(s_field_t f)
{
    char *s = malloc(f.len + 1);
    if (s) {
        if (f.len)
            memcpy(s, f.p, f.len);
        s[f.len] = '\0';
    }
    return s;
}

/* ------------------------------------------------------- origin matching */

typedef struct {
    const char *scheme, *host, *port;
    size_t scheme_len, host_len, port_len;
} s_origin_t;

/*  scheme "://" host [":" port], nothing after (no path, no user info).
    Host and port follow HOST:PORT's rule (protocol/hostport), the port
    optional; a pattern's host may start with "*." (a real origin's never
    matches one, see s_origin_match). */
static int s_origin_parse(const char *s, s_origin_t *o)
{
    memset(o, 0, sizeof *o);
    if (!s || strlen(s) > S_ORIGIN_MAX)
        return -1;
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return -1;
    for (const char *p = s; p < sep; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return -1;
    o->scheme = s;
    o->scheme_len = (size_t)(sep - s);
    const char *h = sep + 3;
    const char *start = h[0] == '*' && h[1] == '.' ? h + 2 : h; /* wildcard label */
    const char *end = start[0] == '[' ? strchr(start, ']') : start + strcspn(start, ":");
    if (!end || (start != h && start[0] == '['))
        return -1;
    if (start[0] == '[')
        end++;
    if (!hostport_host_valid(start, (size_t)(end - start)))
        return -1;
    o->host = h;
    o->host_len = (size_t)(end - h);
    if (*end == ':') {
        o->port = end + 1;
        o->port_len = strlen(o->port);
        return hostport_port(o->port, o->port_len) > 0 ? 0 : -1;
    }
    return *end == '\0' ? 0 : -1;
}

static bool s_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static bool s_origin_match(const s_origin_t *o, const s_origin_t *pat)
{
    if (!s_ieq(o->scheme, o->scheme_len, pat->scheme, pat->scheme_len))
        return false;
    if (o->port_len != pat->port_len ||
        (o->port_len && memcmp(o->port, pat->port, o->port_len) != 0))
        return false;
    if (o->host_len >= 2 && o->host[0] == '*')
        return false; /* a wildcard is never a real origin */
    if (pat->host_len > 2 && pat->host[0] == '*' && pat->host[1] == '.') {
        /* "*.domain": any sub-domain of domain, never domain itself */
        const char *dom = pat->host + 1; /* ".domain" */
        size_t dlen = pat->host_len - 1;
        return o->host_len > dlen && o->host[0] != '[' &&
               strncasecmp(o->host + o->host_len - dlen, dom, dlen) == 0;
    }
    return s_ieq(o->host, o->host_len, pat->host, pat->host_len);
}

int link_origin_allowed(const char *origin, const char *const *patterns, size_t n)
{
    s_origin_t o, pat;
    if (s_origin_parse(origin, &o) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s_origin_parse(patterns[i], &pat) == 0 && s_origin_match(&o, &pat))
            return 1;
    return 0;
}

/* ---------------------------------------------------- events to the node */

static void s_retry_cb(lws_sorted_usec_list_t *sul);

static void s_conn_close(s_conn_t *c, int code, const char *reason, bool now);

static void s_pause(s_conn_t *c)
{
    if (c && !c->paused) {
        c->paused = true;
        lws_rx_flow_control(c->wsi, 0);
    }
}

static void s_resume_all(link_t *self)
{
    for (s_conn_t *c = self->conns; c; c = c->next)
        if (c->paused) {
            c->paused = false;
            if (!c->held)
                lws_rx_flow_control(c->wsi, 1);
        }
}

/*  Sends what waits, in order; re-arms the retry timer while the node end
    is full and resumes the paused tabs once everything went. */
static void s_flush_pending(link_t *self)
{
    while (self->pend_head) {
        s_pend_t *p = self->pend_head;
        S_PIPE_RELEASE(&self->ev_sync);
        if (zmsg_send(&p->msg, self->link_end) < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                lws_sul_schedule(self->ctx, 0, &self->retry_sul, s_retry_cb, S_RETRY_US);
                return;
            }
            alog_error("link: event pipe failed (%s), an event is lost", zmq_strerror(errno));
        }
        zmsg_destroy(&p->msg);
        self->pend_head = p->next;
        if (!self->pend_head)
            self->pend_tail = NULL;
        self->n_pend--;
        free(p);
    }
    s_resume_all(self);
}

static void s_retry_cb(lws_sorted_usec_list_t *sul)
{
    link_t *self = (link_t *)(void *)((char *)sul - offsetof(link_t, retry_sul));
    s_flush_pending(self);
}

/*  Queues *msg_p (consumed) behind the events already waiting. */
static void s_pend_push(link_t *self, zmsg_t **msg_p)
{
    s_pend_t *p = malloc(sizeof *p);
    if (!p) {
        alog_error("link: out of memory, an event for the node is lost");
        zmsg_destroy(msg_p);
        return;
    }
    p->next = NULL;
    p->msg = *msg_p;
    *msg_p = NULL;
    if (self->pend_tail)
        self->pend_tail->next = p;
    else
        self->pend_head = p;
    self->pend_tail = p;
    self->n_pend++;
    lws_sul_schedule(self->ctx, 0, &self->retry_sul, s_retry_cb, S_RETRY_US);
}

/*  Hands one event to the node thread. Never drops for a full pipe: the
    event waits (in order) and the tab it came from stops being read. */
static void s_emit(link_t *self, s_conn_t *c, char kind, const s_field_t *f, size_t n)
{
    if (self->stopping)
        return;
    if (kind == 'F' && self->n_pend >= S_PEND_MAX) {
        alog_warn_rl("link: node is not taking events, closing tab %s", c ? c->tab : "?");
        if (c)
            s_conn_close(c, S_CLOSE_TRY_LATER, "node busy", true);
        return;
    }
    zmsg_t *msg = s_msg_new(kind, f, n);
    if (!msg) {
        alog_error("link: out of memory, a '%c' event is lost", kind);
        if (c)
            s_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory", true);
        return;
    }
    if (!self->pend_head) {
        S_PIPE_RELEASE(&self->ev_sync);
        if (zmsg_send(&msg, self->link_end) == 0)
            return;
        if (errno != EAGAIN && errno != EINTR) {
            alog_error("link: event pipe failed (%s), an event is lost", zmq_strerror(errno));
            zmsg_destroy(&msg);
            return;
        }
    }
    s_pend_push(self, &msg);
    s_pause(c);
}

/* ----------------------------------------------------------- connections */

static void s_timer_arm(s_conn_t *c)
{
    int64_t due = c->hello_deadline_us;
    if (c->hello_ok) {
        due = c->last_rx_us + c->link->silent_us;
        if (c->next_ping_us < due)
            due = c->next_ping_us;
    }
    int64_t wait = due - s_now_us();
    lws_set_timer_usecs(c->wsi, wait < 1000 ? 1000 : wait);
}

/*  Asks lws for a close with this code. `now` drops what is still queued;
    otherwise the queue is flushed first. */
static void s_conn_close(s_conn_t *c, int code, const char *reason, bool now)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_now = now;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    abuf_free(&c->rx);
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, S_CLOSE_GRACE_S);
}

/*  Cuts a tab that does not read: a close frame could never be written. */
static void s_conn_kill(s_conn_t *c, const char *reason)
{
    if (!c->closing) {
        c->closing = true;
        c->close_now = true;
        c->close_code = S_CLOSE_TRY_LATER;
        snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    }
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int s_conn_queue(s_conn_t *c, const char *text, size_t len)
{
    s_out_t *o = malloc(sizeof *o + LWS_PRE + len);
    if (!o)
        return -1;
    o->next = NULL;
    o->len = len;
    memcpy(o->buf + LWS_PRE, text, len);
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->n_out++;
    lws_callback_on_writable(c->wsi);
    return 0;
}

static void s_conn_free_queue(s_conn_t *c)
{
    while (c->out_head) {
        s_out_t *o = c->out_head;
        c->out_head = o->next;
        free(o);
    }
    c->out_tail = NULL;
    c->n_out = 0;
}

/*  The tab that currently owns this id (at most one). */
static s_conn_t *s_find_tab(link_t *self, const char *tab)
{
    for (s_conn_t *c = self->conns; c; c = c->next)
        if (c->hello_ok && !c->replaced && strcmp(c->tab, tab) == 0)
            return c;
    return NULL;
}

/*  Connections past hello that are not on their way out. */
static size_t s_count_tabs(link_t *self)
{
    size_t n = 0;
    for (s_conn_t *c = self->conns; c; c = c->next)
        n += c->hello_ok && !c->replaced && !c->closing;
    return n;
}

/*  Keeps the connections waiting for hello at max_pending: the oldest goes
    (the list is newest first), so a stream of connections that never say
    hello cannot keep a tab that just connected from saying it. */
static void s_limit_pending(link_t *self)
{
    size_t n = 0;
    s_conn_t *oldest = NULL;
    for (s_conn_t *c = self->conns; c; c = c->next)
        if (!c->hello_ok && !c->closing) {
            n++;
            oldest = c;
        }
    if (n > self->max_pending && oldest) {
        alog_warn_rl("link: %zu connections have not said hello, closing the oldest", n);
        s_conn_close(oldest, S_CLOSE_TOO_MANY, "too many connections before hello", true);
    }
}

static bool s_token_equal(const char *given, const char *want)
{
    size_t lg = strlen(given), lw = strlen(want);
    unsigned char d = lg != lw;
    for (size_t i = 0; i < lw; i++)
        d |= (unsigned char)(want[i] ^ (i < lg ? given[i] : 0));
    return d == 0;
}

static void s_conn_welcome(s_conn_t *c)
{
    abuf_t b = ABUF_INIT;
    if (frame_encode_welcome(&b, c->link->node_name) < 0 || s_conn_queue(c, b.data, b.len) < 0)
        s_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory", true);
    abuf_free(&b);
}

static void s_conn_hello(s_conn_t *c, const char *text, size_t len)
{
    link_t *self = c->link;
    frame_t f;
    char err[128];
    frame_rc_t rc = frame_decode(text, len, &f, err, sizeof err);
    if (rc != FRAME_OK || f.type != FRAME_HELLO) {
        alog_warn_rl("link: first frame is not a valid hello (%s)", rc ? err : "wrong type");
        s_conn_close(c, S_CLOSE_UNAUTHORIZED, "hello required", true);
    } else if (!s_token_equal(f.token, self->token)) {
        alog_warn_rl("link: tab %s sent a wrong token", f.tab);
        s_conn_close(c, S_CLOSE_UNAUTHORIZED, "bad token", true);
    } else {
        snprintf(c->tab, sizeof c->tab, "%s", f.tab);
        s_conn_t *old = s_find_tab(self, c->tab);
        if (!old && s_count_tabs(self) >= self->max_tabs) {
            alog_warn_rl("link: %zu tabs already, tab %s refused", self->max_tabs, c->tab);
            s_conn_close(c, S_CLOSE_TOO_MANY, "too many tabs", true);
            frame_clear(&f);
            return;
        }
        if (old) {
            old->replaced = true;
            s_field_t gone[] = {s_cstr(c->tab), s_cstr("replaced")};
            s_emit(self, NULL, 'G', gone, 2);
            s_conn_close(old, S_CLOSE_REPLACED, "replaced", true);
        }
        c->hello_ok = true;
        c->rx.max = self->max_frame;
        c->next_ping_us = s_now_us() + self->ping_us;
        s_conn_welcome(c);
        s_field_t hello[] = {s_cstr(c->tab), s_cstr(f.href), s_cstr(f.ua)};
        s_emit(self, c, 'H', hello, 3);
        alog_info("link: tab %s connected", c->tab);
        s_timer_arm(c);
    }
    frame_clear(&f);
}

static int s_conn_open(link_t *self, s_conn_t *c, struct lws *wsi)
{
    c->link = self;
    c->wsi = wsi;
    c->next = self->conns;
    if (self->conns)
        self->conns->prev = c;
    self->conns = c;
    c->rx.max = self->max_frame < S_HELLO_MAX_FRAME ? self->max_frame : S_HELLO_MAX_FRAME;
    c->last_rx_us = s_now_us();
    c->hello_deadline_us = c->last_rx_us + self->hello_us;
    s_timer_arm(c);
    s_limit_pending(self);
    return 0;
}

static void s_conn_closed(s_conn_t *c)
{
    link_t *self = c->link;
    if (!self)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        self->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->hello_ok && !c->replaced) {
        const char *why = c->closing ? c->close_reason : "closed";
        s_field_t gone[] = {s_cstr(c->tab), s_cstr(why)};
        s_emit(self, NULL, 'G', gone, 2);
        alog_info("link: tab %s gone (%s)", c->tab, why);
    }
    s_conn_free_queue(c);
    abuf_free(&c->rx);
    c->link = NULL;
}

static void s_conn_message(s_conn_t *c)
{
    if (!c->hello_ok) {
        s_conn_hello(c, c->rx.data, c->rx.len);
        return;
    }
    s_field_t frame[] = {s_cstr(c->tab), {c->rx.data, c->rx.len}};
    s_emit(c->link, c, 'F', frame, 2);
}

static int s_conn_receive(s_conn_t *c, const void *in, size_t len)
{
    if (!c->link || c->closing)
        return 0;
    c->last_rx_us = s_now_us();
    if (lws_frame_is_binary(c->wsi)) {
        s_conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "text frames only", true);
        return 0;
    }
    size_t room = c->rx.max - c->rx.len;
    size_t remaining = lws_remaining_packet_payload(c->wsi);
    if (len > room || remaining > room - len || abuf_append(&c->rx, in, len) < 0) {
        alog_warn_rl("link: frame over %zu bytes from tab %s", c->rx.max,
                     c->hello_ok ? c->tab : "(before hello)");
        s_conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too big", true);
        return 0;
    }
    if (!lws_is_final_fragment(c->wsi))
        return 0;
    s_conn_message(c);
    if (c->rx.cap > S_RX_KEEP)
        abuf_free(&c->rx);
    else
        abuf_reset(&c->rx);
    return 0;
}

static int s_conn_writeable(s_conn_t *c)
{
    if (!c->link)
        return 0;
    if (c->closing && (c->close_now || !c->out_head)) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)c->close_reason, strlen(c->close_reason));
        return -1;
    }
    s_out_t *o = c->out_head;
    if (!o)
        return 0;
    c->out_head = o->next;
    if (!c->out_head)
        c->out_tail = NULL;
    c->n_out--;
    int n = lws_write(c->wsi, o->buf + LWS_PRE, o->len, LWS_WRITE_TEXT);
    bool short_write = n < 0 || (size_t)n < o->len;
    free(o);
    if (short_write) {
        alog_warn_rl("link: write to tab %s failed", c->tab);
        return -1;
    }
    if (c->out_head || c->closing)
        lws_callback_on_writable(c->wsi);
    return 0;
}

static void s_conn_ping(s_conn_t *c)
{
    if (c->n_out >= c->link->tab_queue_max)
        return; /* the queue is already behind; silence decides */
    abuf_t b = ABUF_INIT;
    if (frame_encode_ping(&b, s_wall_ms()) == 0)
        s_conn_queue(c, b.data, b.len);
    abuf_free(&b);
}

static void s_conn_tick(s_conn_t *c)
{
    if (!c->link || c->closing)
        return;
    int64_t now = s_now_us();
    if (!c->hello_ok) {
        if (now >= c->hello_deadline_us) {
            alog_warn_rl("link: a connection sent no hello in time");
            s_conn_close(c, S_CLOSE_UNAUTHORIZED, "hello timeout", true);
            return;
        }
    } else {
        if (c->held)
            c->last_rx_us = now; /* not read on purpose: not silent */
        if (now - c->last_rx_us >= c->link->silent_us) {
            alog_warn("link: tab %s is silent, closing it", c->tab);
            s_conn_close(c, S_CLOSE_SILENT, "silent", true);
            return;
        }
        if (now >= c->next_ping_us) {
            s_conn_ping(c);
            c->next_ping_us = now + c->link->ping_us;
        }
    }
    s_timer_arm(c);
}

/* -------------------------------------------------------- node commands */

static void s_cmd_send(link_t *self, s_field_t tab, s_field_t text)
{
    char id[FRAME_MAX_ID + 1];
    if (tab.len > FRAME_MAX_ID)
        return;
    memcpy(id, tab.p, tab.len);
    id[tab.len] = '\0';
    s_conn_t *c = s_find_tab(self, id);
    if (!c || c->closing) {
        alog_debug("link: frame for gone tab %s dropped", id);
        return;
    }
    if (c->n_out >= self->tab_queue_max) {
        alog_warn("link: tab %s is not reading (%zu frames queued), cutting it", id, c->n_out);
        s_conn_kill(c, "queue full");
        return;
    }
    if (s_conn_queue(c, text.p, text.len) < 0) {
        alog_error("link: out of memory queueing for tab %s", id);
        s_conn_kill(c, "out of memory");
    }
}

static void s_cmd_close(link_t *self, s_field_t tab, s_field_t code, s_field_t reason)
{
    char id[FRAME_MAX_ID + 1], why[S_CLOSE_REASON_MAX + 1];
    if (tab.len > FRAME_MAX_ID || code.len != 2)
        return;
    memcpy(id, tab.p, tab.len);
    id[tab.len] = '\0';
    size_t wlen = reason.len < S_CLOSE_REASON_MAX ? reason.len : S_CLOSE_REASON_MAX;
    if (wlen)
        memcpy(why, reason.p, wlen);
    why[wlen] = '\0';
    s_conn_t *c = s_find_tab(self, id);
    if (c)
        s_conn_close(c, (unsigned char)code.p[0] << 8 | (unsigned char)code.p[1],
                     wlen ? why : "closed by node", false);
}

/*  link_pause: stop or resume reading the tab's connection. */
static void s_cmd_hold(link_t *self, s_field_t tab, s_field_t on)
{
    char id[FRAME_MAX_ID + 1];
    if (tab.len > FRAME_MAX_ID || on.len != 1)
        return;
    memcpy(id, tab.p, tab.len);
    id[tab.len] = '\0';
    s_conn_t *c = s_find_tab(self, id);
    if (!c || c->closing || c->held == (on.p[0] == '1'))
        return;
    c->held = on.p[0] == '1';
    lws_rx_flow_control(c->wsi, c->held || c->paused ? 0 : 1);
}

static void s_command(link_t *self, zmsg_t *msg)
{
    char kind;
    s_field_t f[3];
    if (s_msg_fields(msg, &kind, f, 2) == 0 && kind == 'S')
        s_cmd_send(self, f[0], f[1]);
    else if (s_msg_fields(msg, &kind, f, 2) == 0 && kind == 'P')
        s_cmd_hold(self, f[0], f[1]);
    else if (s_msg_fields(msg, &kind, f, 3) == 0 && kind == 'C')
        s_cmd_close(self, f[0], f[1], f[2]);
    else
        alog_error("link: undecodable command from the node");
}

static void s_drain_commands(link_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv(self->link_end))) {
        S_PIPE_ACQUIRE(&self->cmd_sync);
        s_command(self, msg);
        zmsg_destroy(&msg);
    }
}

/* ----------------------------------------------------------- lws glue */

static int s_http_reject(struct lws *wsi, unsigned int status)
{
    if (lws_return_http_status(wsi, status, NULL))
        return -1;
    return 1;
}

static int s_confirm_upgrade(link_t *self, struct lws *wsi)
{
    char uri[64], origin[S_ORIGIN_MAX + 2];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, S_PATH) != 0)
        return s_http_reject(wsi, HTTP_STATUS_NOT_FOUND);
    int n = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
    if (n <= 0 ||
        !link_origin_allowed(origin, (const char *const *)self->origins, self->n_origins)) {
        alog_warn_rl("link: upgrade from origin \"%s\" refused", n > 0 ? origin : "");
        return s_http_reject(wsi, HTTP_STATUS_FORBIDDEN);
    }
    return 0; /* counted once established: s_conn_open */
}

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    link_t *self = lws_context_user(lws_get_context(wsi));
    s_conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return s_confirm_upgrade(self, wsi);
    case LWS_CALLBACK_HTTP:
        return s_http_reject(wsi, HTTP_STATUS_NOT_FOUND);
    case LWS_CALLBACK_ESTABLISHED:
        return s_conn_open(self, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        return s_conn_receive(c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return s_conn_writeable(c);
    case LWS_CALLBACK_TIMER:
        s_conn_tick(c);
        return 0;
    case LWS_CALLBACK_CLOSED:
        s_conn_closed(c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (self && !self->stopping)
            s_drain_commands(self);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols s_protocols[] = {
    {.name = S_PROTOCOL,
     .callback = s_callback,
     .per_session_data_size = sizeof(s_conn_t),
     .rx_buffer_size = 64 * 1024},
    {.name = NULL, .callback = NULL},
};

static void s_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    alog_write(level & LLL_ERR ? ALOG_ERROR : ALOG_WARN, "lws: %.*s", (int)n, line);
}

static void *s_thread(void *arg)
{
    link_t *self = arg;
    while (!atomic_load(&self->stop))
        if (lws_service(self->ctx, 0) < 0) {
            alog_error("link: lws service failed, the browser link stops");
            break;
        }
    return NULL;
}

/* ------------------------------------------------------------ public API */

static int s_copy_config(link_t *self, const link_config_t *cfg)
{
    self->bind_addr = strdup(cfg->bind_addr);
    self->token = strdup(cfg->token);
    self->node_name = strdup(cfg->node_name ? cfg->node_name : "arena-node");
    self->origins = calloc(cfg->n_origins + 1, sizeof *self->origins);
    if (!self->bind_addr || !self->token || !self->node_name || !self->origins)
        return -1;
    for (size_t i = 0; i < cfg->n_origins; i++) {
        if (!cfg->origins[i] || !(self->origins[i] = strdup(cfg->origins[i])))
            return -1;
        self->n_origins++;
    }
    self->port = cfg->port;
    self->max_frame = cfg->max_frame && cfg->max_frame < FRAME_MAX ? cfg->max_frame : FRAME_MAX;
    self->max_tabs = cfg->max_tabs ? cfg->max_tabs : LINK_DEFAULT_MAX_TABS;
    self->max_pending = cfg->max_pending ? cfg->max_pending : LINK_DEFAULT_MAX_PENDING;
    self->tab_queue_max = cfg->tab_queue_max ? cfg->tab_queue_max : LINK_DEFAULT_TAB_QUEUE_MAX;
    int hello = cfg->hello_timeout_ms > 0 ? cfg->hello_timeout_ms : LINK_DEFAULT_HELLO_TIMEOUT_MS;
    int ping = cfg->ping_interval_ms > 0 ? cfg->ping_interval_ms : LINK_DEFAULT_PING_INTERVAL_MS;
    int silent = cfg->silent_close_ms > 0 ? cfg->silent_close_ms : LINK_DEFAULT_SILENT_CLOSE_MS;
    self->hello_us = (int64_t)hello * 1000;
    self->ping_us = (int64_t)ping * 1000;
    self->silent_us = (int64_t)silent * 1000;
    return 0;
}

static zsock_t *s_pair(const char *endpoint, bool bind)
{
    zsock_t *s = zsock_new(ZMQ_PAIR);
    if (!s)
        return NULL;
    zsock_set_sndhwm(s, S_PIPE_HWM);
    zsock_set_rcvhwm(s, S_PIPE_HWM);
    zsock_set_sndtimeo(s, 0); /* a full pipe is EAGAIN, never a wait */
    zsock_set_rcvtimeo(s, 0); /* an empty one too */
    zsock_set_linger(s, 0);
    int rc = bind ? zsock_bind(s, "%s", endpoint) : zsock_connect(s, "%s", endpoint);
    if (rc < 0)
        zsock_destroy(&s);
    return s;
}

static int s_start_lws(link_t *self)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (!strchr(self->bind_addr, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.user = self;
    info.port = self->port;
    info.iface = self->bind_addr;
    info.protocols = s_protocols;
    info.vhost_name = "arena-link";
    info.timeout_secs = 10;
    self->ctx = lws_create_context(&info);
    if (!self->ctx)
        return -1;
    struct lws_vhost *vh = lws_create_vhost(self->ctx, &info);
    if (!vh)
        return -1;
    self->port = lws_get_vhost_listen_port(vh);
    return self->port > 0 ? 0 : -1;
}

static int s_start_thread(link_t *self)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the node thread */
    int rc = pthread_create(&self->thread, NULL, s_thread, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    self->thread_started = true;
    return 0;
}

link_t *link_new(const link_config_t *cfg)
{
    if (!cfg || !cfg->bind_addr || !cfg->token || !*cfg->token ||
        (cfg->n_origins && !cfg->origins) || cfg->port < 0 || cfg->port > 65535) {
        alog_error("link: invalid configuration");
        return NULL;
    }
    link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init(&self->stop, false);
    /* unique per link_t; the time part covers an address reused after a free */
    snprintf(self->endpoint, sizeof self->endpoint, "inproc://arena-link-%p-%llx", (void *)self,
             (unsigned long long)s_now_us());
    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    if (s_copy_config(self, cfg) < 0)
        goto err;
    self->node_end = s_pair(self->endpoint, true);
    self->link_end = self->node_end ? s_pair(self->endpoint, false) : NULL;
    if (!self->link_end) {
        alog_error("link: cannot create the node pipe");
        goto err;
    }
    if (s_start_lws(self) < 0) {
        alog_error("link: cannot listen on %s:%d", self->bind_addr, cfg->port);
        goto err;
    }
    if (s_start_thread(self) < 0) {
        alog_error("link: cannot start the link thread");
        goto err;
    }
    alog_info("link: listening on ws://%s:%d%s", self->bind_addr, self->port, S_PATH);
    return self;
err:
    link_destroy(&self);
    return NULL;
}

void link_destroy(link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    link_t *self = *self_p;
    if (self->thread_started) {
        atomic_store(&self->stop, true);
        lws_cancel_service(self->ctx);
        pthread_join(self->thread, NULL);
    }
    self->stopping = true; /* closes during teardown tell the node nothing */
    if (self->ctx) {
        lws_sul_cancel(&self->retry_sul);
        lws_context_destroy(self->ctx);
    }
    while (self->pend_head) {
        s_pend_t *p = self->pend_head;
        self->pend_head = p->next;
        zmsg_destroy(&p->msg);
        free(p);
    }
    zsock_destroy(&self->link_end);
    if (self->node_end)
        zsock_unbind(self->node_end, "%s", self->endpoint); /* inproc names free at once */
    zsock_destroy(&self->node_end);
    for (size_t i = 0; i < self->n_origins; i++)
        free(self->origins[i]);
    free(self->origins);
    free(self->bind_addr);
    free(self->token);
    free(self->node_name);
    free(self);
    *self_p = NULL;
}

int link_port(link_t *self)
{
    return self ? self->port : -1;
}

zsock_t *link_pipe(link_t *self)
{
    return self ? self->node_end : NULL;
}

/*  One command to the link thread, never blocking. */
static int s_command_send(link_t *self, char kind, const s_field_t *f, size_t n)
{
    zmsg_t *msg = s_msg_new(kind, f, n);
    if (!msg)
        return -1;
    S_PIPE_RELEASE(&self->cmd_sync);
    if (zmsg_send(&msg, self->node_end) < 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    lws_cancel_service(self->ctx);
    return 0;
}

static bool s_tab_ok(const char *tab)
{
    return tab && *tab && strlen(tab) <= FRAME_MAX_ID;
}

int link_send(link_t *self, const char *tab, const char *text, size_t len)
{
    if (!self || !s_tab_ok(tab) || (!text && len) || len > self->max_frame)
        return -1;
    s_field_t f[] = {s_cstr(tab), {text ? text : "", len}};
    return s_command_send(self, 'S', f, 2);
}

int link_pause(link_t *self, const char *tab, bool paused)
{
    if (!self || !s_tab_ok(tab))
        return -1;
    s_field_t f[] = {s_cstr(tab), {paused ? "1" : "0", 1}};
    return s_command_send(self, 'P', f, 2);
}

static bool s_close_code_ok(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

int link_close_tab(link_t *self, const char *tab, int code, const char *reason)
{
    if (!self || !s_tab_ok(tab) || !s_close_code_ok(code))
        return -1;
    char c[2] = {(char)(code >> 8), (char)(code & 0xff)};
    s_field_t f[] = {s_cstr(tab), {c, 2}, s_cstr(reason)};
    return s_command_send(self, 'C', f, 3);
}

static int s_event_decode(zmsg_t *msg, link_event_t *ev)
{
    char kind;
    s_field_t f[3];
    if (s_msg_fields(msg, &kind, f, 3) == 0 && kind == 'H') {
        ev->kind = LINK_EV_HELLO;
        ev->tab = s_field_dup(f[0]);
        ev->href = f[1].len ? s_field_dup(f[1]) : NULL;
        ev->ua = f[2].len ? s_field_dup(f[2]) : NULL;
        ev->text = strdup("");
        return ev->tab && ev->text && (ev->href || !f[1].len) && (ev->ua || !f[2].len) ? 0 : -1;
    }
    if (s_msg_fields(msg, &kind, f, 2) == 0 && (kind == 'F' || kind == 'G')) {
        ev->kind = kind == 'F' ? LINK_EV_FRAME : LINK_EV_GONE;
        ev->tab = s_field_dup(f[0]);
        ev->text = s_field_dup(f[1]);
        ev->len = f[1].len;
        return ev->tab && ev->text ? 0 : -1;
    }
    return -1;
}

int link_recv(link_t *self, link_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    if (!self)
        return -1;
    for (;;) {
        zmsg_t *msg = zmsg_recv(self->node_end);
        if (!msg)
            return -1;
        S_PIPE_ACQUIRE(&self->ev_sync);
        int rc = s_event_decode(msg, ev);
        zmsg_destroy(&msg);
        if (rc == 0)
            return 0;
        alog_error("link: an event from the link thread could not be read");
        link_event_clear(ev);
    }
}

void link_event_clear(link_event_t *ev)
{
    if (!ev)
        return;
    free(ev->tab);
    free(ev->href);
    free(ev->ua);
    free(ev->text);
    memset(ev, 0, sizeof *ev);
}
