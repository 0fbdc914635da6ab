/*  http — see http.h. */
#include "node/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "node/admin.h"
#include "node/boundary.h"
#include "node/items.h"
#include "protocol/answer.h"
#include "protocol/arena_catalog.h"
#include "protocol/aspect.h"
#include "protocol/prompt.h"
#include "protocol/shape.h"
#include "protocol/alog.h"
#include "protocol/arena_sources.h"
#include "protocol/uuid7.h"

#define HTTP_STREAM_BLOCK (16 * 1024)
#define HTTP_MAX_PENDING_OUT (32u * 1024 * 1024) /* --stream-buffer's default */
#define HTTP_KEY_DIGEST 32                       /* crypto_generichash bytes of a key */
#define HTTP_BUSY_RETRY_MS 1000                  /* Retry-After of a 503 for load */
/* connections MHD accepts beyond --max-connections, to answer them 503 */
#define HTTP_SURPLUS(max) (16u + (unsigned)(max) / 16u)

typedef enum {
    REQ_NEW,    /* headers seen, body arriving */
    REQ_WAIT,   /* suspended, waiting for the job */
    REQ_READY,  /* a response is prepared, queue it on the next call */
    REQ_STREAM, /* 200 queued, the content reader drains `out` */
    REQ_SENT,   /* a whole response was queued */
    REQ_GONE,   /* the client left while suspended */
} req_state_t;

typedef struct _req_t req_t;
struct _req_t {
    http_t *http;
    struct MHD_Connection *conn;
    req_t *prev, *next; /* active list */
    int refs;           /* the connection, and a streaming response */
    req_state_t state;
    bool suspended;
    const route_t *route; /* set when the request is admitted */
    abuf_t body;          /* only for a route with a JSON body */
    size_t body_seen;     /* body bytes received */
    size_t reserved;      /* bytes of the node's body budget held */
    bool body_too_large;
    job_t *job;
    bool stream, finished;
    int status;
    long long retry_after_ms;
    abuf_t out;              /* prepared body, or unsent SSE bytes */
    answer_t *answer;        /* what the client reads, shaped (protocol/answer) */
    openai_request_t *again; /* a copy for the one retry of a structured answer */
    openai_request_t *retry; /* that retry, prepared: submitted on the next loop turn */
    char id[48];
    char rid[48];      /* x-request-id: "req_" + a UUIDv7, fresh per request */
    char ignored[160]; /* x-arena-ignored: fields accepted but not applied */
    bool cors;         /* an API path: CORS headers for an allowed origin (not the pages) */
    char *model;
    long long created;
    char client[65]; /* who asked: openai_request_t.client */
    bool keep_items; /* a Responses answer with store: its items go to http->items */
    /* what node/metrics records when it ends */
    const route_t *metered;     /* a chat, Responses or images request (not a preflight) */
    long long t0_ms;            /* arrival, monotonic */
    long long first_ms;         /* the headers were queued (the first byte), 0: not yet */
    int sent_status;            /* the status queued, 0: none */
    metrics_served_t served_by; /* where the last attempt ran */
    bool model_unknown;         /* the model is served nowhere (404 model_not_found) */
    bool rate_limited;          /* refused 429 rate_limited (cooling) */
    /* what node/traffic records: the error code the client got last ("":
       none), set wherever an error is queued or written into the answer */
    char said_error[TRAFFIC_KIND_MAX + 1];
    /* the key's tier limits (node/limits.h): the verdict its headers say,
       and while held, the admitted request's slot (released at its end) */
    bool limited;
    bool limit_held;
    limits_verdict_t lv;
    char limit_key[WIRE_MAX_KEY_NAME + 1];
    int priority; /* its tier's queue priority (dispatch_opts_t) */
    /* what node/usage records when it ends (usage_row_t) */
    char usage_key[USAGE_KEY_MAX + 1];    /* the key's name; "": not admitted to run */
    char served_node[USAGE_NODE_MAX + 1]; /* node id of the last attempt */
    unsigned long long prompt_quarters;   /* the prompt as sent, estimated */
    unsigned long long answer_quarters;   /* text and reasoning received, estimated */
    long long up_prompt, up_completion;   /* LMArena's usage, summed over attempts */
    bool up_said, up_unsaid;              /* an attempt's end carried usage / did not */
    bool usage_all;                       /* GET /v1/usage by the admin key (or an open node) */
    /* the key it presents (s_identify), looked up once: its digest, which
       --api-key it is (1-based, 0: none), its table record (live or not)
       and keys_generation then (a change of the table since, e.g. a
       revocation while the body came in: s_req_record looks again) */
    bool key_seen, key_given;
    int key_config;
    const char *viewer; /* an admin_reads route: "admin", "key" or "open" (s_authorized) */
    unsigned char key_digest[HTTP_KEY_DIGEST];
    const keys_record_t *key_rec;
    unsigned long long key_gen;
};

struct _http_t {
    http_config_t cfg;
    zloop_t *loop;
    struct MHD_Daemon *mhd;
    int epoll_fd;
    int port;
    req_t *active;
    size_t n_active;
    bool kick;       /* a connection was resumed: MHD must run */
    int soon_timer;  /* zloop timer id of a pending re-run, or -1 */
    int retry_timer; /* zloop timer id of pending retries (req->retry), or -1 */
    unsigned char (*key_digests)[HTTP_KEY_DIGEST]; /* of cfg.api_keys */
    size_t n_keys;
    size_t body_budget, body_inflight; /* bytes */
    size_t n_conns;                    /* open connections (MHD's limit is higher) */
    bool quiet_close;                  /* the next MHD log line is a close we asked for: debug */
    items_t *items; /* Responses output items for item_reference; made on first use */

    unsigned char admin_digest[HTTP_KEY_DIGEST]; /* of cfg.admin_key, when set */
};

/*  Keys are configured (auth required, CORS defaults of a keyed node):
    an --api-key, the --admin-key, or any record in the key table. */
static bool s_keys_on(const http_t *self)
{
    return self->n_keys > 0 || self->cfg.admin_key || keys_count(self->cfg.keys) > 0;
}

/*  The socket context of a connection accepted over --max-connections. */
static char s_over_limit;

static const job_sink_t s_job_sink;

/* ---- request lifetime ---- */

static void s_release_body(req_t *req)
{
    req->http->body_inflight -= req->reserved;
    req->reserved = 0;
    abuf_free(&req->body);
}

static void s_req_unref(req_t *req)
{
    if (--req->refs > 0)
        return;
    s_release_body(req);
    abuf_free(&req->out);
    answer_destroy(&req->answer);
    openai_request_destroy(&req->again);
    openai_request_destroy(&req->retry);
    free(req->model);
    free(req);
}

static void s_active_add(http_t *self, req_t *req)
{
    req->next = self->active;
    if (self->active)
        self->active->prev = req;
    self->active = req;
    self->n_active++;
}

static void s_active_remove(http_t *self, req_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else if (self->active == req)
        self->active = req->next;
    else
        return; /* not in the list */
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    self->n_active--;
}

/* ---- the waits clients are told ---- */

/*  Retry-After and retry-after-ms are slept by the SDKs (the openai SDK sleeps
    whatever retry-after-ms says, the AI SDK under 60 s): past this wait the
    answer says x-should-retry: false and the message says when, so a client
    gives up at once instead of stalling (docs/http-api.md, Errors). */
#define HTTP_CLIENT_RETRY_MAX_MS 20000

/*  ms as OpenAI writes x-ratelimit-reset-*: "250ms", "20s", "6m0s", "1h2m3s". */
static void s_reset_text(char *out, size_t cap, long long ms)
{
    if (ms < 1000) {
        snprintf(out, cap, "%lldms", ms);
        return;
    }
    long long s = (ms + 999) / 1000;
    if (s >= 3600)
        snprintf(out, cap, "%lldh%lldm%llds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60)
        snprintf(out, cap, "%lldm%llds", s / 60, s % 60);
    else
        snprintf(out, cap, "%llds", s);
}

/*  The headers of a 429/503 that names a wait: Retry-After (seconds, rounded
    up), retry-after-ms, x-should-retry; a 429 (every session for the model is
    cooling) also says no request is taken before the cooldown ends, in
    OpenAI's x-ratelimit-*-requests names. The node does not know LMArena's
    limit itself, so x-ratelimit-limit-requests is never sent. */
static void s_limit_headers(const req_t *req, struct MHD_Response *resp);

static void s_retry_headers(struct MHD_Response *resp, int status, long long retry_after_ms,
                            bool limited)
{
    if (retry_after_ms <= 0)
        return;
    char v[32];
    snprintf(v, sizeof v, "%lld", (retry_after_ms + 999) / 1000);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    snprintf(v, sizeof v, "%lld", retry_after_ms);
    MHD_add_response_header(resp, "retry-after-ms", v);
    MHD_add_response_header(resp, "x-should-retry",
                            retry_after_ms > HTTP_CLIENT_RETRY_MAX_MS ? "false" : "true");
    if (status == 429 && !limited) {
        MHD_add_response_header(resp, "x-ratelimit-remaining-requests", "0");
        s_reset_text(v, sizeof v, retry_after_ms);
        MHD_add_response_header(resp, "x-ratelimit-reset-requests", v);
    }
}

/*  A wait past HTTP_CLIENT_RETRY_MAX_MS: the message says when capacity
    returns (UTC, and in seconds), since the client is told not to retry. */
static void s_say_when(openai_error_t *err, long long retry_after_ms)
{
    if (retry_after_ms <= HTTP_CLIENT_RETRY_MAX_MS)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long secs = (retry_after_ms + 999) / 1000;
    time_t when = (time_t)((now_ms + retry_after_ms + 999) / 1000);
    struct tm tm;
    char at[32];
    if (!gmtime_r(&when, &tm) || !strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return;
    size_t len = strlen(err->message);
    snprintf(err->message + len, sizeof err->message - len, "; capacity returns at %s (in %lld s)",
             at, secs);
}

static void s_resume(req_t *req)
{
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection(req->conn);
        req->http->kick = true;
    }
}

static void s_suspend(req_t *req)
{
    if (!req->suspended) {
        req->suspended = true;
        MHD_suspend_connection(req->conn);
    }
}

/* ---- responses ---- */

static const char *s_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/*  A response is queued: its status and time are the first byte's. */
static void s_sent(req_t *req, int status)
{
    if (req->sent_status)
        return;
    req->sent_status = status;
    req->first_ms = zclock_mono();
}

/*  The client gets this error (a refusal, an error answer, or an error
    event in a stream that began): node/traffic's kind for the request. */
static void s_said(req_t *req, const char *code)
{
    snprintf(req->said_error, sizeof req->said_error, "%s", code ? code : TRAFFIC_OTHER);
}

/*  What every answer carries: its x-request-id and, on an API path, Vary:
    Origin and (for an origin --cors-origin allows) the CORS headers that
    let the page read it, errors and streams included. */
static void s_edge_headers(const req_t *req, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "x-request-id", req->rid);
    if (req->viewer)
        MHD_add_response_header(resp, "x-arena-viewer", req->viewer);
    if (req->ignored[0])
        MHD_add_response_header(resp, "x-arena-ignored", req->ignored);
    if (!req->cors)
        return;
    MHD_add_response_header(resp, "Vary", "Origin");
    const char *origin = s_header(req->conn, "Origin");
    if (!boundary_cors_allows(req->http->cfg.cors_origins, s_keys_on(req->http), origin))
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", BOUNDARY_CORS_EXPOSE_HEADERS);
}

static enum MHD_Result s_queue_buf(req_t *req, int status, const char *ctype, const char *data,
                                   size_t len, long long retry_after_ms)
{
    struct MHD_Connection *conn = req->conn;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    s_edge_headers(req, resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    /* a cooldown's 429 keeps its own x-ratelimit-* (a tier's are for its answers) */
    bool tier_headers = req->limited && (status != 429 || req->lv.refused != LIMITS_NONE);
    s_retry_headers(resp, status, retry_after_ms, tier_headers);
    if (tier_headers)
        s_limit_headers(req, resp);
    s_sent(req, status);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/*  A refusal on the headers alone: the body (if any) is never read, so the
    connection closes after the answer. status overrides the code's own. */
static enum MHD_Result s_refuse(req_t *req, const char *code, int status, long long retry_after_ms,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result s_refuse(req_t *req, const char *code, int status, long long retry_after_ms,
                                const char *fmt, ...)
{
    openai_error_t err;
    openai_error_set(&err, code, NULL, NULL);
    if (status) {
        err.status = status;
        err.type = "invalid_request_error";
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    abuf_t b = ABUF_INIT;
    if (openai_render_error(&b, &err) < 0) {
        abuf_free(&b);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    abuf_free(&b);
    if (!resp)
        return MHD_NO;
    alog_debug("%s: refused %d %s", req->rid, err.status, err.code);
    s_said(req, err.code);
    s_edge_headers(req, resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (retry_after_ms > 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (retry_after_ms + 999) / 1000);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
        snprintf(v, sizeof v, "%lld", retry_after_ms);
        MHD_add_response_header(resp, "retry-after-ms", v);
    }
    s_sent(req, err.status);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)err.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_queue_error(req_t *req, const openai_error_t *err,
                                     long long retry_after_ms)
{
    abuf_t b = ABUF_INIT;
    if (openai_render_error(&b, err) < 0) {
        abuf_free(&b);
        return MHD_NO;
    }
    s_said(req, err->code);
    enum MHD_Result rc =
        s_queue_buf(req, err->status, "application/json", b.data, b.len, retry_after_ms);
    abuf_free(&b);
    return rc;
}

static enum MHD_Result s_queue_error_code(req_t *req, const char *code, const char *message)
{
    openai_error_t err;
    openai_error_set(&err, code, NULL, "%s", message);
    return s_queue_error(req, &err, 0);
}

/*  The content reader of a stream: hands out what is buffered, suspends
    when nothing is, ends after the last bytes of a finished stream. */
static ssize_t s_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    req_t *req = cls;
    if (req->state == REQ_GONE) {
        req->http->quiet_close = true; /* the client left: MHD's "error" is routine */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (req->out.len > 0) {
        size_t n = req->out.len < max ? req->out.len : max;
        memcpy(buf, req->out.data, n);
        abuf_consume(&req->out, n);
        return (ssize_t)n;
    }
    if (req->finished)
        return MHD_CONTENT_READER_END_OF_STREAM;
    s_suspend(req);
    return 0;
}

static void s_stream_free(void *cls)
{
    s_req_unref(cls);
}

static enum MHD_Result s_queue_stream(req_t *req)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, s_stream_read, req, s_stream_free);
    if (!resp)
        return MHD_NO;
    req->refs++;
    s_edge_headers(req, resp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    s_limit_headers(req, resp);
    req->state = REQ_STREAM;
    s_sent(req, MHD_HTTP_OK);
    enum MHD_Result rc = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- the job sink ---- */

/*  The answer could not be rendered: the client reads slower than the tab
    writes (out passed HTTP_MAX_PENDING_OUT), or memory ran out. */
static void s_answer_failed(req_t *req)
{
    alog_warn_rl("%s: answer not rendered (client too slow: more than %zu bytes pending "
                 "(--stream-buffer), or out of memory): ending it",
                 req->rid, req->out.max);
    dispatch_cancel(req->http->cfg.dispatch, &req->job);
    openai_error_t err;
    openai_error_set(&err, "internal_error", NULL, "the answer could not be rendered");
    s_said(req, err.code);
    if (answer_error(req->answer, &req->out, &err) < 0 || answer_started(req->answer))
        req->finished = true;
    if (!answer_started(req->answer)) {
        req->status = err.status;
        req->stream = false;
    }
    if (req->state == REQ_WAIT)
        req->state = REQ_READY;
    s_resume(req);
}

/*  The answer is complete (or failed) in out: send what is ready. */
static void s_answer_ready(req_t *req)
{
    if (answer_started(req->answer)) {
        req->finished = answer_finished(req->answer);
    } else {
        req->stream = false;
        req->status = answer_status(req->answer);
    }
    if (req->state == REQ_WAIT)
        req->state = REQ_READY;
    s_resume(req);
}

static void s_answer_end(req_t *req, const char *finish_reason, const usage_t *usage);

static void s_sink_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    req_t *req = arg;
    if (kind == DELTA_TEXT || kind == DELTA_REASONING)
        req->answer_quarters += shape_estimate_quarters(text, len);
    int rc = answer_delta(req->answer, &req->out, kind, text, len);
    if (rc == ANSWER_FAIL) {
        s_answer_failed(req);
        return;
    }
    if (rc == ANSWER_CUT) { /* stop or max_tokens: the rest is not wanted */
        dispatch_cancel(req->http->cfg.dispatch, &req->job);
        s_answer_end(req, NULL, NULL);
        return;
    }
    if (!answer_started(req->answer))
        return; /* held, or nothing the client reads yet */
    if (req->state == REQ_WAIT)
        req->state = REQ_READY; /* first byte: send the headers now */
    s_resume(req);
}

/*  A job at the request's queue priority. */
static job_t *s_submit(http_t *self, req_t *req, openai_request_t **oreq)
{
    dispatch_opts_t opts = {.priority = req->priority};
    return dispatch_submit_opts(self->cfg.dispatch, oreq, &s_job_sink, req, &opts);
}

/*  Submits the prepared retries, on a loop turn of their own: not from
    inside the sink call of the attempt that just ended. */
static int s_on_retries(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    http_t *self = arg;
    self->retry_timer = -1;
    for (req_t *req = self->active, *next; req; req = next) {
        next = req->next;
        if (req->retry && req->state != REQ_GONE && req->state != REQ_SENT)
            req->job = s_submit(self, req, &req->retry);
    }
    http_run(self);
    return 0;
}

/*  The one retry of an answer that failed its check (a response_format, a
    required tool call): the same request with the model's answer and what
    was wrong with it, as a new job on the next loop turn. 0, or -1 when it
    cannot be prepared. */
static int s_retry(req_t *req, const char *why)
{
    http_t *self = req->http;
    openai_request_t *again = req->again;
    req->again = NULL;
    openai_error_t err;
    if (!again || req->state == REQ_GONE || req->state == REQ_SENT ||
        prompt_lower(again, &err) < 0 ||
        prompt_retry_note(again, answer_retry_text(req->answer), why, &err) < 0 ||
        answer_retry(req->answer, again) < 0 ||
        (self->retry_timer < 0 &&
         (self->retry_timer = zloop_timer(self->loop, 1, 1, s_on_retries, self)) < 0)) {
        openai_request_destroy(&again);
        return -1;
    }
    alog_info("%s: the answer failed its check (%s): asking once more", req->rid, why);
    req->retry = again;
    return 0;
}

static int s_keep_item(void *arg, const openai_item_t *item)
{
    req_t *req = arg;
    return items_put(req->http->items, req->client, item, zclock_mono());
}

/*  A finished Responses answer: its output items are kept for a later
    item_reference by the same client (node/items). */
static void s_keep_items(req_t *req)
{
    http_t *self = req->http;
    if (!req->keep_items)
        return;
    req->keep_items = false;
    if (!self->items)
        self->items = items_new(ITEMS_MAX_COUNT, self->cfg.responses_keep_bytes,
                                self->cfg.responses_keep_s * 1000LL);
    if (!self->items || responses_writer_items(answer_responses(req->answer), s_keep_item, req) < 0)
        alog_warn_rl("%s: the answer's items were not kept (out of memory)", req->rid);
}

static void s_answer_end(req_t *req, const char *finish_reason, const usage_t *usage)
{
    req->job = NULL;
    if (usage && usage->prompt_tokens >= 0 && usage->completion_tokens >= 0) {
        req->up_prompt += usage->prompt_tokens;
        req->up_completion += usage->completion_tokens;
        req->up_said = true;
    } else {
        req->up_unsaid = true; /* cut, or the stream said none: estimated */
    }
    char why[320];
    int rc = answer_end(req->answer, &req->out, finish_reason, usage, why, sizeof why);
    if (rc == ANSWER_RETRY && s_retry(req, why) == 0)
        return;
    if (rc == ANSWER_RETRY) {
        openai_error_t err;
        openai_error_set(&err, "invalid_model_output", NULL,
                         "the model's answer failed its check: %s", why);
        s_said(req, err.code);
        answer_error(req->answer, &req->out, &err);
    } else if (rc == ANSWER_FAIL) {
        s_answer_failed(req);
        return;
    }
    s_keep_items(req);
    s_answer_ready(req);
}

static void s_sink_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    s_answer_end(arg, finish_reason, usage);
}

static void s_sink_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    req_t *req = arg;
    req->job = NULL;
    alog_info("%s: failed: %d %s", req->rid, err->status, err->code ? err->code : "");
    openai_error_t said = *err;
    if (err->code && strcmp(err->code, "model_not_found") == 0)
        req->model_unknown = true;
    if (!answer_started(req->answer) && err->code && strcmp(err->code, "rate_limited") == 0)
        req->rate_limited = true;
    if (!answer_started(req->answer)) {
        req->retry_after_ms = retry_after_ms;
        s_say_when(&said, retry_after_ms);
    }
    s_said(req, said.code);
    if (answer_error(req->answer, &req->out, &said) < 0)
        req->finished = true;
    s_answer_ready(req);
}

static void s_sink_attempt(void *arg, bool on_peer)
{
    req_t *req = arg;
    req->served_by = on_peer ? METRICS_SERVED_PEER : METRICS_SERVED_LOCAL;
}

static void s_sink_attempt_at(void *arg, const char *peer)
{
    req_t *req = arg;
    const char *node = peer ? peer : req->http->cfg.node_id;
    snprintf(req->served_node, sizeof req->served_node, "%s", node ? node : "");
}

static const job_sink_t s_job_sink = {s_sink_delta, s_sink_end, s_sink_error, s_sink_attempt,
                                      s_sink_attempt_at};

/* ---- admission: everything decided on the headers alone ---- */

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  The credential a request presents: the Bearer token of its
    Authorization header, or (only when query_ok: a link a person opens)
    its ?key=. false when there is none or it is malformed. */
static bool s_given_key(struct MHD_Connection *conn, bool query_ok, const char **key, size_t *klen)
{
    const char *h = NULL;
    size_t hlen = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &h,
                                      &hlen) == MHD_YES &&
        h)
        return boundary_bearer(h, hlen, key, klen);
    return query_ok &&
           MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "key", 3, key, klen) ==
               MHD_YES &&
           *key;
}

/*  The key the request presents, once per request (the first call
    decides; query_ok as s_given_key): hashed once, compared with every
    --api-key's digest (sodium_memcmp, all of them, so the time does not
    say which matched or where a wrong key differs) and looked up in the
    key table by its digest (keys_lookup: O(1)). */
static void s_identify(http_t *self, req_t *req, bool query_ok)
{
    if (req->key_seen)
        return;
    req->key_seen = true;
    const char *key = NULL;
    size_t klen = 0;
    if (!s_given_key(req->conn, query_ok, &key, &klen) || !boundary_printable(key, klen))
        return;
    req->key_given = true;
    crypto_generichash(req->key_digest, sizeof req->key_digest, (const unsigned char *)key, klen,
                       NULL, 0);
    for (size_t i = 0; i < self->n_keys; i++) {
        bool hit = sodium_memcmp(req->key_digest, self->key_digests[i], HTTP_KEY_DIGEST) == 0;
        if (hit && !req->key_config)
            req->key_config = (int)i + 1;
    }
    req->key_rec = keys_lookup(self->cfg.keys, req->key_digest);
    req->key_gen = keys_generation(self->cfg.keys);
}

/*  The table record (live or not) of the key s_identify saw, or NULL: the
    one it looked up, unless the table changed since (then by its digest
    again, O(1)). Valid until the table next changes. */
static const keys_record_t *s_req_record(http_t *self, req_t *req)
{
    if (!req->key_given || !self->cfg.keys)
        return NULL;
    if (req->key_gen != keys_generation(self->cfg.keys)) {
        req->key_rec = keys_lookup(self->cfg.keys, req->key_digest);
        req->key_gen = keys_generation(self->cfg.keys);
    }
    return req->key_rec;
}

/*  An admin route: the Bearer token is the --admin-key (never ?key=). */
static bool s_admin_authorized(http_t *self, struct MHD_Connection *conn)
{
    const char *key = NULL;
    size_t klen = 0;
    if (!self->cfg.admin_key || !s_given_key(conn, false, &key, &klen) ||
        !boundary_printable(key, klen))
        return false;
    unsigned char d[HTTP_KEY_DIGEST];
    crypto_generichash(d, sizeof d, (const unsigned char *)key, klen, NULL, 0);
    return sodium_memcmp(d, self->admin_digest, sizeof d) == 0;
}

/*  An auth route's key: a user key, or the admin key on a route that admin
    reads (the dashboard's polls). Sets req->viewer for such a route: who
    reads it ("admin", "key", "open": a node without keys), sent back as
    x-arena-viewer so the dashboard knows which views it can offer. */
static bool s_authorized(http_t *self, req_t *req, const route_t *route)
{
    bool admin = route->admin_reads && s_admin_authorized(self, req->conn);
    bool ok = !s_keys_on(self) || admin;
    if (!ok) {
        s_identify(self, req, route->query_key);
        ok = req->key_config || keys_live(s_req_record(self, req), s_now_ms());
    }
    if (ok && route->admin_reads)
        req->viewer = admin ? "admin" : s_keys_on(self) ? "key" : "open";
    return ok;
}

/*  The address this connection was accepted on, as a Host names it
    ("127.0.0.1", "[::1]"), and whether it is a loopback address. */
static bool s_local_name(struct MHD_Connection *conn, char *out, size_t outlen, bool *loopback)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    char a[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            struct in_addr v4;
            memcpy(&v4, &v6->sin6_addr.s6_addr[12], 4);
            inet_ntop(AF_INET, &v4, a, sizeof a);
            *loopback = v6->sin6_addr.s6_addr[12] == 127;
            snprintf(out, outlen, "%s", a);
        } else {
            inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof a);
            *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
            snprintf(out, outlen, "[%s]", a);
        }
        return true;
    }
    if (ss.ss_family != AF_INET)
        return false;
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &v4->sin_addr, a, sizeof a);
    *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    snprintf(out, outlen, "%s", a);
    return true;
}

/*  Host is one of the node's names (boundary_host_ok). */
static bool s_host_ok(http_t *self, struct MHD_Connection *conn, const char *host)
{
    char local[INET6_ADDRSTRLEN + 2];
    boundary_where_t w = {
        .port = self->port, .bound = self->cfg.host, .names = self->cfg.http_names};
    if (host && s_local_name(conn, local, sizeof local, &w.local_loopback))
        w.local = local;
    return boundary_host_ok(&w, host);
}

static bool s_state_changing(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/*  Bytes of body announced by Content-Length (0 when none), or *chunked
    when its size is unknown. false when Content-Length is malformed. */
static bool s_announced_body(struct MHD_Connection *conn, size_t *bytes, bool *chunked)
{
    *bytes = 0;
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    *chunked = te && strcasecmp(te, "identity") != 0;
    if (*chunked)
        return true;
    if (!cl)
        return true;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || end == cl || *end || cl[0] == '-')
        return false;
    *bytes = v > (unsigned long long)SIZE_MAX ? SIZE_MAX : (size_t)v;
    return true;
}

/*  The answer to OPTIONS on an API route (docs/http-api.md, "CORS"): 204
    with the CORS headers for an origin --cors-origin allows, 403 without
    any for another; no key asked (browsers send none on a preflight). The
    request headers asked for are reflected when they are well-formed
    names, else the fixed list the SDKs need is offered. */
static enum MHD_Result s_preflight(http_t *self, req_t *req, const route_t *route)
{
    const char *origin = s_header(req->conn, "Origin");
    if (origin && !boundary_cors_allows(self->cfg.cors_origins, s_keys_on(self), origin))
        return s_refuse(req, "origin_not_allowed", 403, 0,
                        "requests from this web origin are not allowed (see --cors-origin)");
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    bool get = strcmp(route->method, "GET") == 0;
    const char *methods = get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
    s_edge_headers(req, resp); /* x-request-id, Vary, Allow-Origin for an allowed origin */
    MHD_add_response_header(resp, "Allow", methods);
    if (origin) {
        const char *asked = s_header(req->conn, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Vary", "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                boundary_header_tokens(asked) ? asked
                                                              : BOUNDARY_CORS_ALLOW_HEADERS);
        MHD_add_response_header(resp, "Access-Control-Max-Age", BOUNDARY_CORS_MAX_AGE);
    }
    s_sent(req, MHD_HTTP_NO_CONTENT);
    enum MHD_Result rc = MHD_queue_response(req->conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return rc;
}

/*  The client's address ("127.0.0.1", "::1"); "" when unknown. */
static void s_client_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            struct in_addr v4;
            memcpy(&v4, &a6->s6_addr[12], 4);
            inet_ntop(AF_INET, &v4, out, (socklen_t)outlen);
        } else {
            inet_ntop(AF_INET6, a6, out, (socklen_t)outlen);
        }
    }
}

/*  The name usage records a request under (node/usage.h): "config-N" for
    the N-th --api-key, a table key's name, USAGE_NO_KEY on a node without
    keys. false when the credential is none of them. */
static bool s_usage_key(http_t *self, req_t *req, char *out, size_t size)
{
    snprintf(out, size, "%s", USAGE_NO_KEY);
    if (!s_keys_on(self))
        return true;
    s_identify(self, req, false);
    if (req->key_config) {
        snprintf(out, size, "config-%d", req->key_config);
        return true;
    }
    const keys_record_t *rec = s_req_record(self, req);
    if (!keys_live(rec, s_now_ms()))
        return false;
    snprintf(out, size, "%s", rec->name);
    return true;
}

/*  Who asks GET /v1/usage: the admin key (any key's usage), a user key (its
    own) or anyone on a node without keys (everything). false: refused. */
static bool s_usage_who(http_t *self, struct MHD_Connection *conn, req_t *req)
{
    if (!s_keys_on(self) || s_admin_authorized(self, conn)) {
        req->usage_all = true;
        return true;
    }
    return s_usage_key(self, req, req->usage_key, sizeof req->usage_key);
}

/*  An authentication failure, in the audit log (rate-limited there). */
static void s_audit_auth_failed(http_t *self, struct MHD_Connection *conn, const char *what)
{
    char addr[INET6_ADDRSTRLEN] = "";
    s_client_addr(conn, addr, sizeof addr);
    if (self->cfg.audit)
        audit_auth_failed(self->cfg.audit, s_now_ms(), addr[0] ? addr : "unknown", what);
}

/*  The first call of a request (headers only): admits it, or queues the
    refusal, and the connection closes without its body being read. */
static enum MHD_Result s_admit(http_t *self, req_t *req, const char *url, const char *method)
{
    struct MHD_Connection *conn = req->conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    req->state = REQ_SENT; /* unless admitted below */
    /* resolved first (it is pure) so that even the refusals before it know
       whether the path is the API's (CORS headers) or a page's (never) */
    const route_t *route = NULL;
    routes_rc_t routed = routes_resolve(method, url, &route);
    req->cors = !route || route->cors;
    if (route && routed != ROUTES_PREFLIGHT &&
        (route->id == ROUTE_CHAT || route->id == ROUTE_RESPONSES || route->id == ROUTE_IMAGES))
        req->metered = route;
    if (ci && ci->socket_context == &s_over_limit)
        return s_refuse(req, "no_capacity", 0, HTTP_BUSY_RETRY_MS,
                        "too many connections (more than --max-connections %d): try again",
                        self->cfg.max_connections);
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!s_host_ok(self, conn, host))
        return s_refuse(req, "misdirected_request", 421, 0,
                        "this node does not answer to the Host \"%.100s\" (see --http-name)", host);
    switch (routed) {
    case ROUTES_NOT_FOUND:
        return s_refuse(req, "not_found", 0, 0, "no route %s %.200s", method, url);
    case ROUTES_BAD_METHOD:
        return s_refuse(req, "method_not_allowed", 0, 0, "use %s on %s", route->method,
                        route->json_body ? route->path : "this path");
    case ROUTES_PREFLIGHT:
        return s_preflight(self, req, route);
    case ROUTES_OK:
        break;
    }
    if (s_state_changing(method) &&
        !boundary_origin_ok(self->cfg.cors_origins, s_keys_on(self), host, s_header(conn, "Origin"),
                            s_header(conn, "Sec-Fetch-Site")))
        return s_refuse(req, "origin_not_allowed", 403, 0,
                        "requests from this web origin are not allowed (see --cors-origin)");
    if ((route->id == ROUTE_USERSCRIPT || route->id == ROUTE_EXTENSION) &&
        !boundary_userscript_ok(s_header(conn, "Sec-Fetch-Dest"), s_header(conn, "Sec-Fetch-Mode"),
                                s_header(conn, "Sec-Fetch-Site")))
        return s_refuse(req, "origin_not_allowed", 403, 0,
                        "the userscript is installed by opening its link, not loaded by a page");
    bool open_metrics = route->id == ROUTE_METRICS && self->cfg.metrics_public;
    if (route->auth && !open_metrics && !s_authorized(self, req, route)) {
        s_audit_auth_failed(self, conn, "api key");
        return s_refuse(req, "invalid_api_key", 0, 0,
                        "missing or wrong API key (Authorization: Bearer KEY)");
    }
    if (routes_admin(route) && !s_admin_authorized(self, conn)) {
        s_audit_auth_failed(self, conn, "admin key");
        return s_refuse(req, "invalid_api_key", 0, 0,
                        self->cfg.admin_key
                            ? "missing or wrong admin key (Authorization: Bearer ADMIN_KEY)"
                            : "this node has no admin API: start it with --admin-key");
    }
    if (route->id == ROUTE_USAGE && !s_usage_who(self, conn, req)) {
        s_audit_auth_failed(self, conn, "api key");
        return s_refuse(req, "invalid_api_key", 0, 0,
                        "missing or wrong API key (Authorization: Bearer KEY): a user key sees "
                        "its own usage, the admin key any key's");
    }
    if (route->json_body && !boundary_json_type(s_header(conn, "Content-Type")))
        return s_refuse(req, "unsupported_media_type", 415, 0,
                        "send the body as JSON with Content-Type: application/json");
    size_t body = 0;
    bool chunked = false;
    if (!s_announced_body(conn, &body, &chunked))
        return s_refuse(req, "invalid_request", 0, 0, "malformed Content-Length");
    if (body > self->cfg.max_body)
        return s_refuse(req, "request_too_large", 0, 0,
                        "request body exceeds the limit of %zu bytes", self->cfg.max_body);
    size_t need = chunked ? self->cfg.max_body : body; /* chunked: as large as allowed */
    if (!route->json_body)
        need = 0; /* read and dropped, never kept */
    if (need > self->body_budget - self->body_inflight) {
        alog_warn_rl("http: request bodies in flight at the budget (%zu bytes): 503",
                     self->body_budget);
        return s_refuse(req, "no_capacity", 0, HTTP_BUSY_RETRY_MS,
                        "the node is receiving too many request bodies: try again");
    }
    self->body_inflight += need;
    req->reserved = need;
    req->route = route;
    req->body.max = self->cfg.max_body;
    req->state = REQ_NEW;
    return MHD_YES;
}

/*  The userscript holds the link token. Served as text/plain with nosniff,
    a browser refuses to run it as a page's <script> (and s_admit refuses
    such fetches before); Cross-Origin-Resource-Policy keeps it out of other
    origins' no-cors loads; never a CORS header. Userscript managers install
    it by its .user.js name, whatever its type. The extension's zip holds the
    token too: the same headers, as a download (ctype application/zip). */
static enum MHD_Result s_queue_userscript(req_t *req, int status, const abuf_t *b,
                                          const char *ctype)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b->len, b->data ? b->data : "", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    s_edge_headers(req, resp); /* req->cors is false here: x-request-id only */
    bool zip = status == 200 && strcmp(ctype, "application/zip") == 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            zip ? ctype : "text/plain; charset=utf-8");
    if (zip)
        MHD_add_response_header(resp, "Content-Disposition",
                                "attachment; filename=\"arenamesh-link.zip\"");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; sandbox");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    s_sent(req, status);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_render_route(http_t *self, req_t *req, const char *url)
{
    abuf_t b = ABUF_INIT;
    const char *ctype = "application/json";
    route_id_t route = req->route->id;
    req->status = self->cfg.render(self->cfg.arg, route, routes_param(req->route, url), &b, &ctype);
    enum MHD_Result rc = route == ROUTE_USERSCRIPT || route == ROUTE_EXTENSION
                             ? s_queue_userscript(req, req->status, &b, ctype)
                             : s_queue_buf(req, req->status, ctype, b.data ? b.data : "", b.len, 0);
    abuf_free(&b);
    return rc;
}

/*  The id of the key the request was admitted with (auth passed, so the
    credential presented, read as s_authorized reads it, is a configured
    key): hex of BLAKE2b-64; "" when the node has no keys. Travels in a
    forwarded request's `fwd`. */
static void s_client_id(http_t *self, struct MHD_Connection *conn, char *out, size_t size)
{
    out[0] = '\0';
    const char *key = NULL;
    size_t klen = 0;
    unsigned char hash[8];
    if (!s_keys_on(self) || size < 2 * sizeof hash + 1 || !s_given_key(conn, false, &key, &klen) ||
        crypto_generichash(hash, sizeof hash, (const unsigned char *)key, klen, NULL, 0) != 0)
        return;
    sodium_bin2hex(out, size, hash, sizeof hash);
}

/*  An images request names an image model; its size becomes the aspect
    ratio the model offers nearest to it, stated in the prompt (LMArena's
    request has no size: docs/http-api.md, "Images"). 0, or -1 with err. */
static int s_image_prompt(http_t *self, openai_request_t *oreq, openai_error_t *err)
{
    char ratios[ARENA_ASPECT_RATIOS_MAX], ratio[16];
    int kind = dispatch_model_kind(self->cfg.dispatch, oreq->model, ratios, sizeof ratios);
    if (kind < 0)
        return 0; /* served nowhere: the dispatcher's 404 says so */
    if (kind != (int)ARENA_MODALITY_IMAGE) {
        openai_error_set(err, "invalid_request", "model",
                         "model '%.200s' does not generate images; use /v1/chat/completions",
                         oreq->model);
        return -1;
    }
    int rc = aspect_for_size(oreq->image_size, ratios, ratio, sizeof ratio);
    if (rc < 0) {
        openai_error_set(err, "invalid_request", "size",
                         "size must be \"auto\" or <width>x<height> in pixels (1..%d)",
                         ASPECT_MAX_SIDE);
        return -1;
    }
    if (rc == 0 || oreq->n_messages == 0)
        return 0;
    openai_message_t *m = &oreq->messages[oreq->n_messages - 1];
    size_t n = strlen(m->content);
    char *grown = realloc(m->content, n + sizeof "\n\nAspect ratio: " + strlen(ratio));
    if (!grown) {
        openai_error_set(err, "internal_error", NULL, "out of memory");
        return -1;
    }
    sprintf(grown + n, "\n\nAspect ratio: %s", ratio);
    m->content = grown;
    return 0;
}

/*  The answer's id: "chatcmpl-" or "resp_" and the request id's UUID. */
static answer_api_t s_api(req_t *req)
{
    const char *uuid = req->rid + 4;
    switch (req->route->id) {
    case ROUTE_RESPONSES:
        snprintf(req->id, sizeof req->id, "resp_%s", uuid);
        return ANSWER_RESPONSES;
    case ROUTE_IMAGES:
        snprintf(req->id, sizeof req->id, "img_%s", uuid);
        return ANSWER_IMAGES;
    default:
        snprintf(req->id, sizeof req->id, "chatcmpl-%s", uuid);
        return ANSWER_CHAT;
    }
}

/*  An item_reference of req's client, among this node's kept items. */
static bool s_find_item(void *arg, const char *id, openai_item_t *out)
{
    req_t *req = arg;
    return items_get(req->http->items, req->client, id, zclock_mono(), out);
}

/*  Parses the body as its route says; 0 with *out, or -1 with err. */
static int s_parse(http_t *self, req_t *req, openai_request_t **out, openai_error_t *err)
{
    const char *body = req->body.data ? req->body.data : "";
    size_t len = req->body.len;
    const openai_limits_t *lim = &self->cfg.limits;
    openai_items_t items = {s_find_item, req, self->cfg.responses_keep_s};
    switch (req->route->id) {
    case ROUTE_RESPONSES:
        return openai_responses_parse_ex(body, len, lim, &items, out, err);
    case ROUTE_IMAGES:
        if (openai_images_parse(body, len, lim, out, err) < 0)
            return -1;
        if (s_image_prompt(self, *out, err) == 0)
            return 0;
        openai_request_destroy(out);
        return -1;
    default:
        return openai_request_parse(body, len, lim, out, err);
    }
}

/*  A Responses request's `instructions`, to echo in the response object. */
static const char *s_instructions(const openai_request_t *oreq)
{
    return oreq->instructions && oreq->n_messages ? oreq->messages[0].content : NULL;
}

/*  The table record of the key the request presents, or NULL (a config
    key, anonymous): the one s_identify looked up with its headers. */
static const keys_record_t *s_table_record(http_t *self, req_t *req)
{
    if (!self->cfg.keys || !s_keys_on(self))
        return NULL;
    s_identify(self, req, false);
    return s_req_record(self, req);
}

/*  A key of the table, checked again now that the model is known: revoked
    or expired since the headers (401), or a model its allow-list does not
    name (404 model_not_found, as OpenAI answers a model a key may not
    use). 0 when it may go on (a config key: any model). A table key's
    name goes to name (usage's key, from the same lookup). */
static int s_table_refuses(http_t *self, req_t *req, const char *model, openai_error_t *err,
                           char *name, size_t name_size)
{
    const keys_record_t *rec = s_table_record(self, req);
    if (!rec)
        return 0; /* a config key (admitted with the headers) */
    snprintf(name, name_size, "%s", rec->name);
    if (!keys_live(rec, s_now_ms())) {
        openai_error_set(err, "invalid_api_key", NULL,
                         "missing or wrong API key (Authorization: Bearer KEY)");
        return -1;
    }
    if (!tiers_find(self->cfg.tiers, rec->tier)) { /* replicated ahead of its tier */
        openai_error_set(err, "tier_unknown", NULL,
                         "this key's tier '%.32s' has not reached this node yet; try again "
                         "in a few seconds, or another node",
                         rec->tier);
        return -1;
    }
    if (keys_model_allowed(rec, model))
        return 0;
    openai_error_set(err, "model_not_found", "model",
                     "the model '%.200s' does not exist or this key may not use it", model);
    return -1;
}

/* ---- the key's tier limits (node/limits.h; docs/keys.md, "Limits") ---- */

/*  OpenAI's x-ratelimit-* headers of the key's tier: requests (the window
    with the least room) and, when the tier limits them, tokens per day. */
static void s_limit_headers(const req_t *req, struct MHD_Response *resp)
{
    if (!req->limited)
        return;
    char v[48];
    const limits_verdict_t *lv = &req->lv;
    if (lv->has_requests) {
        snprintf(v, sizeof v, "%lld", lv->req_limit);
        MHD_add_response_header(resp, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof v, "%lld", lv->req_remaining);
        MHD_add_response_header(resp, "x-ratelimit-remaining-requests", v);
        s_reset_text(v, sizeof v, lv->req_reset_ms);
        MHD_add_response_header(resp, "x-ratelimit-reset-requests", v);
    }
    if (lv->has_tokens) {
        snprintf(v, sizeof v, "%lld", lv->tok_limit);
        MHD_add_response_header(resp, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof v, "%lld", lv->tok_remaining);
        MHD_add_response_header(resp, "x-ratelimit-remaining-tokens", v);
        s_reset_text(v, sizeof v, lv->tok_reset_ms);
        MHD_add_response_header(resp, "x-ratelimit-reset-tokens", v);
    }
}

#define HTTP_LIMIT_PEERS 256 /* peers' counts one admission adds */

/*  A table key's tier: its model allow-list (404 model_not_found), then
    its limits, counted mesh-wide (429 rate_limited naming the window, with
    *retry_ms for Retry-After). 0 when it may go on (counted: its slot is
    released when it ends). */
static int s_limit_refuses(http_t *self, req_t *req, const char *model, openai_error_t *err,
                           long long *retry_ms)
{
    const keys_record_t *rec = s_table_record(self, req);
    const tier_t *tier = tiers_find(self->cfg.tiers, rec ? rec->tier : TIERS_CONFIG);
    req->priority = tier ? tier->priority : 0;
    if (!rec)
        return 0;
    if (!limits_tier_allows(tier, model)) {
        openai_error_set(err, "model_not_found", "model",
                         "the model '%.200s' does not exist or this key may not use it", model);
        return -1;
    }
    if (!self->cfg.key_limits || !tier)
        return 0;
    limits_peer_t peers[HTTP_LIMIT_PEERS];
    size_t n = self->cfg.key_peers
                   ? self->cfg.key_peers(self->cfg.arg, rec->name, peers, HTTP_LIMIT_PEERS)
                   : 0;
    if (n > HTTP_LIMIT_PEERS)
        n = HTTP_LIMIT_PEERS;
    bool ok = limits_admit(self->cfg.key_limits, rec->name, tier, peers, n, s_now_ms(), &req->lv);
    req->limited = req->lv.has_requests || req->lv.has_tokens;
    if (ok) {
        req->limit_held = req->limited || tier->concurrent > 0;
        snprintf(req->limit_key, sizeof req->limit_key, "%s", rec->name);
        if (req->limit_held && self->cfg.on_counted)
            self->cfg.on_counted(self->cfg.arg);
        return 0;
    }
    req->limited = true;
    char what[160];
    limits_describe(&req->lv, tier, what, sizeof what);
    openai_error_set(err, "rate_limited", NULL, "rate limit reached for key %s: %s", rec->name,
                     what);
    *retry_ms = req->lv.retry_after_ms;
    s_say_when(err, *retry_ms);
    metrics_limit_refusal(self->cfg.metrics, tier->name, limits_window_name(req->lv.refused));
    alog_info("%s: refused 429: key %s, %s", req->rid, rec->name, what);
    return -1;
}

/*  The tokens a request used, the one count both usage (its row) and the
    tokens-per-day limit take: LMArena's when every attempt's end carried
    them; else, when an attempt ended without them, this node's estimate of
    the prompt as sent and of the text received (*estimated); none for a
    request that failed without an end. */
static void s_tokens_used(const req_t *req, long long *prompt, long long *completion,
                          bool *estimated)
{
    *prompt = *completion = 0;
    *estimated = false;
    if (req->up_said && !req->up_unsaid) {
        *prompt = req->up_prompt;
        *completion = req->up_completion;
    } else if (req->up_unsaid) { /* it ended without LMArena's counts: estimated */
        *prompt = (long long)((req->prompt_quarters + 3) / 4);
        *completion = (long long)((req->answer_quarters + 3) / 4);
        *estimated = true;
    }
}

/*  The end of an admitted request (answered, failed, client gone): its
    slot is free, its tokens (s_tokens_used) count. */
static void s_limit_release(http_t *self, req_t *req)
{
    if (!req->limit_held)
        return;
    req->limit_held = false;
    long long prompt, completion;
    bool estimated;
    s_tokens_used(req, &prompt, &completion, &estimated);
    long long tokens = prompt + completion;
    limits_end(self->cfg.key_limits, req->limit_key, tokens, s_now_ms());
    if (tokens > 0 && self->cfg.on_counted)
        self->cfg.on_counted(self->cfg.arg);
}

/*  An admin route (node/admin.c): the key table's answer, whole. */
static enum MHD_Result s_admin(http_t *self, req_t *req, const char *url)
{
    abuf_t b = ABUF_INIT;
    char origin[INET6_ADDRSTRLEN] = "";
    s_client_addr(req->conn, origin, sizeof origin);
    admin_request_t ar = {
        .route = req->route->id,
        .param = routes_param(req->route, url),
        .body = req->body.data,
        .len = req->body.len,
        .now_ms = s_now_ms(),
        .n_config = self->n_keys,
        .audit = self->cfg.audit,
        .tiers = self->cfg.tiers,
        .origin = origin,
        .since = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "since"),
        .limit = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit")};
    req->status = admin_handle(self->cfg.keys, &ar, &b);
    s_release_body(req);
    enum MHD_Result rc =
        s_queue_buf(req, req->status, "application/json", b.data ? b.data : "", b.len, 0);
    abuf_free(&b);
    return rc;
}

/*  The query parameters of GET /v1/usage and /mesh/traffic, as MHD decoded them. */
#define HTTP_USAGE_ARGS 8
typedef struct {
    const char *names[HTTP_USAGE_ARGS], *values[HTTP_USAGE_ARGS];
    size_t n;
    bool over;
} s_args_t;

static enum MHD_Result s_usage_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    s_args_t *a = cls;
    if (a->n == HTTP_USAGE_ARGS) {
        a->over = true;
        return MHD_NO;
    }
    a->names[a->n] = key;
    a->values[a->n++] = value;
    return MHD_YES;
}

/*  The tier of a key name: a table key's, "config" for config-N, none for
    USAGE_NO_KEY or an unknown name. */
static const char *s_usage_tier(http_t *self, const char *name)
{
    if (strncmp(name, "config-", 7) == 0)
        return TIERS_CONFIG;
    const keys_record_t *rec = keys_find(self->cfg.keys, name);
    return rec ? rec->tier : NULL;
}

/*  GET /v1/usage (node/usage.h, docs/usage.md). */
static enum MHD_Result s_usage(http_t *self, req_t *req)
{
    openai_error_t err;
    s_args_t a = {0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, s_usage_arg, &a);
    usage_query_t q;
    if (!self->cfg.usage) {
        openai_error_set(&err, "not_found", NULL, "this node records no usage");
        return s_queue_error(req, &err, 0);
    }
    if (a.over) {
        openai_error_set(&err, "invalid_request", "query", "too many query parameters");
        return s_queue_error(req, &err, 0);
    }
    if (usage_query_parse(a.names, a.values, a.n, req->usage_all, &q, &err) < 0)
        return s_queue_error(req, &err, 0);
    size_t n_table = keys_count(self->cfg.keys);
    usage_subject_t one;
    usage_subject_t *all = NULL;
    usage_report_t rep = {.q = &q,
                          .now_ms = s_now_ms(),
                          .tiers = self->cfg.tiers,
                          .remaining = self->cfg.usage_remaining,
                          .arg = self->cfg.usage_remaining_arg};
    if (!req->usage_all || q.has_key) {
        const char *name = req->usage_all ? q.key : req->usage_key;
        one = (usage_subject_t){name, s_usage_tier(self, name)};
        rep.subjects = &one;
        rep.n_subjects = 1;
    } else {
        all = calloc(n_table + self->n_keys + 1, sizeof *all);
        if (!all)
            return MHD_NO;
        char(*names)[32] = calloc(self->n_keys + 1, sizeof *names);
        if (!names) {
            free(all);
            return MHD_NO;
        }
        for (size_t i = 0; i < n_table; i++)
            all[rep.n_subjects++] = (usage_subject_t){keys_at(self->cfg.keys, i)->name,
                                                      keys_at(self->cfg.keys, i)->tier};
        for (size_t i = 0; i < self->n_keys; i++) {
            snprintf(names[i], sizeof names[i], "config-%zu", i + 1);
            all[rep.n_subjects++] = (usage_subject_t){names[i], TIERS_CONFIG};
        }
        rep.subjects = all;
        rep.all_keys = true;
        abuf_t b = ABUF_INIT;
        int rc = usage_render(self->cfg.usage, &rep, &b);
        free(names);
        free(all);
        enum MHD_Result r =
            rc == 0 ? s_queue_buf(req, 200, "application/json", b.data, b.len, 0) : MHD_NO;
        abuf_free(&b);
        return r;
    }
    abuf_t b = ABUF_INIT;
    int rc = usage_render(self->cfg.usage, &rep, &b);
    enum MHD_Result r =
        rc == 0 ? s_queue_buf(req, 200, "application/json", b.data, b.len, 0) : MHD_NO;
    abuf_free(&b);
    return r;
}

/*  GET /mesh/traffic (node/traffic.h): this node's last hour. */
static enum MHD_Result s_traffic(http_t *self, req_t *req)
{
    openai_error_t err;
    s_args_t a = {0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, s_usage_arg, &a);
    long long since = -1;
    if (!self->cfg.traffic) {
        openai_error_set(&err, "not_found", NULL, "this node keeps no traffic history");
        return s_queue_error(req, &err, 0);
    }
    if (a.over) {
        openai_error_set(&err, "invalid_request", "query", "too many query parameters");
        return s_queue_error(req, &err, 0);
    }
    if (traffic_query_parse(a.names, a.values, a.n, &since, &err) < 0)
        return s_queue_error(req, &err, 0);
    abuf_t b = ABUF_INIT;
    int rc = traffic_render(self->cfg.traffic, self->cfg.node_id, s_now_ms(), since, &b);
    enum MHD_Result r =
        rc == 0 ? s_queue_buf(req, 200, "application/json", b.data, b.len, 0) : MHD_NO;
    abuf_free(&b);
    return r;
}

/*  A chat, a response or an image: parsed, lowered for LMArena (tools and
    formats stated in the prompt), then a job whose deltas the answer
    shapes. */
static enum MHD_Result s_start_answer(http_t *self, req_t *req)
{
    openai_error_t err;
    openai_request_t *oreq = NULL;
    if (req->body_too_large) {
        openai_error_set(&err, "request_too_large", NULL,
                         "request body exceeds the limit of %zu bytes", self->cfg.max_body);
        return s_queue_error(req, &err, 0);
    }
    s_client_id(self, req->conn, req->client, sizeof req->client);
    int parsed = s_parse(self, req, &oreq, &err);
    s_release_body(req); /* its budget is free for others now */
    if (parsed < 0) {
        if (self->cfg.usage) /* recorded under its key, as an error */
            s_usage_key(self, req, req->usage_key, sizeof req->usage_key);
        return s_queue_error(req, &err, 0);
    }
    int refused =
        s_table_refuses(self, req, oreq->model, &err, req->usage_key, sizeof req->usage_key);
    /* not a table key: a config key (found before the table is scanned) or none */
    if (self->cfg.usage && !req->usage_key[0] &&
        !s_usage_key(self, req, req->usage_key, sizeof req->usage_key))
        req->usage_key[0] = '\0'; /* cannot happen: admitted with a key */
    if (refused < 0) {
        openai_request_destroy(&oreq);
        return s_queue_error(req, &err, 0);
    }
    long long limit_retry_ms = 0;
    if (s_limit_refuses(self, req, oreq->model, &err, &limit_retry_ms) < 0) {
        openai_request_destroy(&oreq);
        return s_queue_error(req, &err, limit_retry_ms);
    }
    memcpy(oreq->client, req->client, sizeof oreq->client);
    oreq->store = oreq->store && self->cfg.responses_keep_s > 0 && self->cfg.responses_keep_bytes;
    req->keep_items = oreq->store;
    snprintf(oreq->request_id, sizeof oreq->request_id, "%s", req->rid);
    snprintf(req->ignored, sizeof req->ignored, "%s", oreq->ignored);
    req->created = (long long)time(NULL);
    answer_meta_t meta = {s_api(req), req->id, req->created, oreq->model, NULL, 0};
    meta.instructions = meta.api == ANSWER_RESPONSES ? s_instructions(oreq) : NULL;
    req->answer = answer_new(&meta, oreq);
    req->model = strdup(oreq->model);
    /* a structured answer may be asked for once more: keep the request as sent */
    bool checked = oreq->format != OPENAI_FORMAT_TEXT ||
                   (oreq->n_tools && (oreq->tool_choice == OPENAI_TOOL_REQUIRED ||
                                      oreq->tool_choice == OPENAI_TOOL_NAMED));
    if (checked)
        req->again = openai_request_clone(oreq);
    if (!req->answer || !req->model || (checked && !req->again) || prompt_lower(oreq, &err) < 0) {
        openai_request_destroy(&oreq);
        return MHD_NO; /* out of memory */
    }
    req->stream = answer_streaming(req->answer);
    if (req->stream)
        req->out.max = self->cfg.stream_buffer ? self->cfg.stream_buffer
                                               : HTTP_MAX_PENDING_OUT; /* past it: let go */
    alog_info("%s: %s for %s%s (client %s)", req->rid, req->route->name, req->model,
              req->stream ? ", streamed" : "", oreq->client[0] ? oreq->client : "none");
    /* for usage and the tokens-per-day limit (s_tokens_used) */
    for (size_t i = 0; (self->cfg.usage || req->limit_held) && i < oreq->n_messages; i++)
        req->prompt_quarters +=
            shape_estimate_quarters(oreq->messages[i].content, strlen(oreq->messages[i].content));
    req->state = REQ_WAIT;
    s_active_add(self, req);
    req->job = s_submit(self, req, &oreq);
    if (req->state == REQ_WAIT)
        s_suspend(req);
    return MHD_YES;
}

/*  Queues what a resumed (or synchronously finished) request prepared. */
static enum MHD_Result s_queue_ready(req_t *req)
{
    if (req->stream)
        return s_queue_stream(req);
    req->state = REQ_SENT;
    return s_queue_buf(req, req->status, "application/json", req->out.data ? req->out.data : "",
                       req->out.len, req->retry_after_ms);
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_t *self = cls;
    req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->http = self;
        req->conn = conn;
        req->refs = 1;
        req->t0_ms = zclock_mono();
        char uuid[UUID_STR_LEN];
        uuid7_generate(uuid);
        snprintf(req->rid, sizeof req->rid, "req_%s", uuid);
        *con_cls = req;
        return s_admit(self, req, url, method);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->state != REQ_NEW)
            return MHD_YES; /* refused already: nothing is kept */
        req->body_seen += n;
        if (req->body_seen > self->cfg.max_body) {
            req->body_too_large = true; /* chunked past the limit */
            abuf_free(&req->body);
        } else if (req->route->json_body && abuf_append(&req->body, upload_data, n) < 0) {
            return MHD_NO; /* out of memory */
        }
        return MHD_YES;
    }
    switch (req->state) {
    case REQ_NEW:
        if (req->body_too_large) {
            req->state = REQ_SENT;
            return s_queue_error_code(req, "request_too_large", "request body too large");
        }
        if (routes_admin(req->route)) {
            req->state = REQ_SENT;
            return s_admin(self, req, url);
        }
        if (req->route->id == ROUTE_USAGE) {
            req->state = REQ_SENT;
            return s_usage(self, req);
        }
        if (req->route->id == ROUTE_MESH_TRAFFIC) {
            req->state = REQ_SENT;
            return s_traffic(self, req);
        }
        if (req->route->json_body) {
            enum MHD_Result rc = s_start_answer(self, req);
            if (req->state == REQ_READY) /* ended before returning (e.g. 404 model) */
                return s_queue_ready(req);
            return rc;
        }
        req->state = REQ_SENT;
        return s_render_route(self, req, url);
    case REQ_READY:
        return s_queue_ready(req);
    case REQ_GONE:
        self->quiet_close = true; /* the client left: MHD's "internal error" is routine */
        return MHD_NO;
    default:
        return MHD_YES; /* resumed without news (should not happen): wait again */
    }
}

/*  A chat, Responses or images request this node admitted ended: one usage
    row (node/usage.h), its tokens as s_tokens_used counts them. */
static void s_record_usage(http_t *self, req_t *req, long long now_mono)
{
    if (!self->cfg.usage || !req->metered || !req->usage_key[0])
        return;
    usage_row_t row = {
        .at_ms = s_now_ms(),
        .status = req->sent_status ? req->sent_status : 499,
        .ttfb_ms = req->first_ms ? req->first_ms - req->t0_ms : -1,
        .duration_ms = now_mono - req->t0_ms,
    };
    snprintf(row.key, sizeof row.key, "%s", req->usage_key);
    snprintf(row.model, sizeof row.model, "%s", req->model ? req->model : "");
    snprintf(row.served_by, sizeof row.served_by, "%s", req->served_node);
    s_tokens_used(req, &row.prompt_tokens, &row.completion_tokens, &row.estimated);
    if (usage_record(self->cfg.usage, &row) < 0)
        alog_warn_rl("%s: its usage was not recorded", req->rid);
}

/*  A chat, Responses or images request ended: node/metrics counts it. A
    client that left before any header is a 499 (nginx's "client closed
    request"); one that left mid-stream got its 200. */
static void s_record(http_t *self, req_t *req)
{
    if (!req->metered || !self->cfg.metrics)
        return;
    metrics_route_t route = req->metered->id == ROUTE_RESPONSES ? METRICS_ROUTE_RESPONSES
                            : req->metered->id == ROUTE_IMAGES  ? METRICS_ROUTE_IMAGES
                                                                : METRICS_ROUTE_CHAT;
    long long now = zclock_mono();
    metrics_request_t r = {
        .route = route,
        .origin = METRICS_ORIGIN_CLIENT,
        .served_by = req->served_by,
        .model = req->model,
        .model_known = req->model && !req->model_unknown,
        .status = req->sent_status ? req->sent_status : 499,
        .ttfb_s = req->first_ms ? (double)(req->first_ms - req->t0_ms) / 1000.0 : -1,
        .duration_s = (double)(now - req->t0_ms) / 1000.0,
    };
    metrics_request(self->cfg.metrics, &r);
    if (req->rate_limited && req->sent_status == 429)
        metrics_refusal(self->cfg.metrics, METRICS_REFUSAL_COOLDOWN);
}

/*  A chat, Responses or images request ended: node/traffic counts it, with
    the error the client got, or client_closed for a client that left
    before its answer was whole (before any header, or mid-stream), and
    the time to its first byte when an answer began (not a refusal's). */
static void s_record_traffic(http_t *self, req_t *req, enum MHD_RequestTerminationCode toe)
{
    if (!req->metered || !self->cfg.traffic)
        return;
    const char *kind = req->said_error[0] ? req->said_error : NULL;
    if (!kind && (!req->sent_status || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK))
        kind = TRAFFIC_CLIENT_CLOSED;
    bool began = req->first_ms && req->sent_status && req->sent_status < 400;
    traffic_record(self->cfg.traffic, s_now_ms(), kind, began ? req->first_ms - req->t0_ms : -1);
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    http_t *self = cls;
    req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    if (req->job) {
        alog_info("%s: client left (termination %d): cancelling its job", req->rid, (int)toe);
        dispatch_cancel(self->cfg.dispatch, &req->job);
    } else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        /* MHD reports some of these itself, not all (a reset may go unsaid) */
        alog_debug("%s: client left before its answer (termination %d)", req->rid, (int)toe);
    } else if (req->model) { /* a chat that ran */
        alog_info("%s: answered %d%s", req->rid, req->stream ? 200 : req->status,
                  req->stream ? " (stream)" : "");
    } else if (req->route) {
        alog_debug("%s: %s answered %d", req->rid, req->route->name, req->status);
    }
    s_record(self, req);
    s_record_traffic(self, req, toe);
    s_limit_release(self, req);
    s_record_usage(self, req, zclock_mono());
    s_active_remove(self, req);
    s_release_body(req);
    req->state = REQ_GONE;
    s_req_unref(req);
}

/*  Counts connections; one accepted over --max-connections (MHD's own limit
    is higher, so it is accepted rather than left in the backlog) is marked
    and gets a 503 for its request. */
static void s_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    http_t *self = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        self->n_conns++;
        if (self->n_conns > (size_t)self->cfg.max_connections)
            *socket_context = &s_over_limit;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && self->n_conns > 0) {
        self->n_conns--;
    }
}

/*  A suspended connection does not notice its client leaving: peek. */
static bool s_client_gone(req_t *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

void http_tick(http_t *self)
{
    for (req_t *req = self->active, *next; req; req = next) {
        next = req->next;
        if (!req->suspended || !s_client_gone(req))
            continue;
        alog_debug("client left a waiting request: cancelling its job");
        dispatch_cancel(self->cfg.dispatch, &req->job);
        req->state = REQ_GONE;
        s_resume(req);
    }
    items_prune(self->items, zclock_mono());
    http_run(self);
}

/*  MHD keeps connections with work left (data already read, a response to
    finish) on an internal list that does not make its epoll fd readable:
    MHD_get_timeout() says 0 then, and MHD must run again now. */
static bool s_mhd_wants_run(http_t *self)
{
    MHD_UNSIGNED_LONG_LONG to = 0;
    return MHD_get_timeout(self->mhd, &to) == MHD_YES && to == 0;
}

static int s_on_soon(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    http_t *self = arg;
    self->soon_timer = -1;
    http_run(self);
    return 0;
}

void http_run(http_t *self)
{
    for (int turns = 0; turns < 8; turns++) {
        self->kick = false;
        MHD_run(self->mhd);
        self->quiet_close = false;
        if (!self->kick && !s_mhd_wants_run(self))
            return;
    }
    /* Still busy: come back on the next loop turn rather than starve others. */
    if (self->soon_timer < 0)
        self->soon_timer = zloop_timer(self->loop, 1, 1, s_on_soon, self);
}

static int s_on_epoll(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    (void)item;
    http_run(arg);
    return 0;
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* A client that leaves (mid-stream, mid-request, while waiting) is
       routine, not a warning: MHD's own words for it, and the "error" it
       reports when we close a connection whose client left. */
    http_t *self = cls;
    bool quiet = self && self->quiet_close;
    if (self)
        self->quiet_close = false;
    if (quiet || strstr(line, "application error generating response") ||
        strstr(line, "no longer available") || strstr(line, "forcibly closed") ||
        strstr(line, "closed by remote side") || strstr(line, "Failed to send") ||
        strstr(line, "Connection socket is closed"))
        alog_debug("http: %s", line);
    else
        alog_warn_rl("http: %s", line);
}

http_t *http_new(const http_config_t *cfg, zloop_t *loop)
{
    http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->loop = loop;
    self->soon_timer = -1;
    self->retry_timer = -1;
    self->body_budget = cfg->body_budget ? cfg->body_budget : cfg->max_body * 2;
    if (self->body_budget < cfg->max_body)
        self->body_budget = cfg->max_body;
    self->n_keys = cfg->api_keys ? cfg->api_keys->n : 0;
    if (self->n_keys) {
        self->key_digests = calloc(self->n_keys, sizeof *self->key_digests);
        if (!self->key_digests) {
            free(self);
            return NULL;
        }
        for (size_t i = 0; i < self->n_keys; i++)
            crypto_generichash(self->key_digests[i], HTTP_KEY_DIGEST,
                               (const unsigned char *)cfg->api_keys->items[i],
                               strlen(cfg->api_keys->items[i]), NULL, 0);
    }
    if (cfg->admin_key)
        crypto_generichash(self->admin_digest, sizeof self->admin_digest,
                           (const unsigned char *)cfg->admin_key, strlen(cfg->admin_key), NULL, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        alog_error("http: %s is not a numeric IPv4 or IPv6 address", cfg->host);
        free(self->key_digests);
        free(self);
        return NULL;
    }
    /* MHD stops accepting at its limit (new clients would wait in the
       backlog): ours is lower, and the surplus gets a quick 503. */
    unsigned limit = (unsigned)cfg->max_connections + HTTP_SURPLUS(cfg->max_connections);
    self->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER,
        s_mhd_log, self, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, s_notify_conn, self, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_END);
    if (!self->mhd) {
        alog_error("http: cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        free(self->key_digests);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    self->epoll_fd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : cfg->port;
    zmq_pollitem_t item = {NULL, self->epoll_fd, ZMQ_POLLIN, 0};
    if (self->epoll_fd < 0 || zloop_poller(loop, &item, s_on_epoll, self) < 0) {
        alog_error("http: cannot poll the MHD epoll fd");
        MHD_stop_daemon(self->mhd);
        free(self->key_digests);
        free(self);
        return NULL;
    }
    return self;
}

void http_kick(http_t *self)
{
    if (self->kick)
        http_run(self);
}

void http_quiesce(http_t *self)
{
    MHD_socket fd = MHD_quiesce_daemon(self->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

size_t http_active(const http_t *self)
{
    return self->n_active;
}

int http_port(const http_t *self)
{
    return self->port;
}

void http_destroy(http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_t *self = *self_p;
    /* Every suspended connection must be resumed before MHD stops. */
    for (req_t *req = self->active; req; req = req->next) {
        if (req->job)
            dispatch_cancel(self->cfg.dispatch, &req->job);
        if (req->state != REQ_STREAM)
            req->state = REQ_GONE;
        req->finished = true;
        s_resume(req);
    }
    MHD_run(self->mhd);
    if (self->soon_timer >= 0)
        zloop_timer_end(self->loop, self->soon_timer);
    if (self->retry_timer >= 0)
        zloop_timer_end(self->loop, self->retry_timer);
    zmq_pollitem_t item = {NULL, self->epoll_fd, ZMQ_POLLIN, 0};
    zloop_poller_end(self->loop, &item);
    MHD_stop_daemon(self->mhd);
    items_destroy(&self->items);
    free(self->key_digests);
    free(self);
    *self_p = NULL;
}
