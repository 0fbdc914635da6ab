/*  http — see http.h. */
#include "node/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "protocol/alog.h"
#include "protocol/arena_sources.h"
#include "protocol/uuid7.h"

#define HTTP_STREAM_BLOCK (16 * 1024)
#define HTTP_MAX_PENDING_OUT (32u * 1024 * 1024) /* unsent stream bytes per client */
#define HTTP_MAX_CITATIONS (64u * 1024)          /* citation text kept per answer */

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
    bool is_chat;
    abuf_t body;
    bool body_too_large;
    job_t *job;
    bool stream, include_usage, first_sent, finished;
    int status;
    long long retry_after_ms;
    abuf_t out; /* prepared body, or unsent SSE bytes */
    abuf_t content, reasoning;
    abuf_t citations; /* search sources, appended as a list at the end */
    char id[48];
    char *model;
    long long created;
};

struct _http_t {
    http_config_t cfg;
    zloop_t *loop;
    struct MHD_Daemon *mhd;
    int epoll_fd;
    int port;
    req_t *active;
    size_t n_active;
    bool kick;      /* a connection was resumed: MHD must run */
    int soon_timer; /* zloop timer id of a pending re-run, or -1 */
};

static const job_sink_t s_job_sink;

/* ---- request lifetime ---- */

static void s_req_unref(req_t *req)
{
    if (--req->refs > 0)
        return;
    abuf_free(&req->body);
    abuf_free(&req->out);
    abuf_free(&req->content);
    abuf_free(&req->reasoning);
    abuf_free(&req->citations);
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

static enum MHD_Result s_queue_buf(struct MHD_Connection *conn, int status, const char *ctype,
                                   const char *data, size_t len, long long retry_after_ms)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after_ms > 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (retry_after_ms + 999) / 1000);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
        snprintf(v, sizeof v, "%lld", retry_after_ms);
        MHD_add_response_header(resp, "retry-after-ms", v);
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_queue_error(struct MHD_Connection *conn, const openai_error_t *err,
                                     long long retry_after_ms)
{
    abuf_t b = ABUF_INIT;
    if (openai_render_error(&b, err) < 0) {
        abuf_free(&b);
        return MHD_NO;
    }
    enum MHD_Result rc =
        s_queue_buf(conn, err->status, "application/json", b.data, b.len, retry_after_ms);
    abuf_free(&b);
    return rc;
}

static enum MHD_Result s_queue_error_code(struct MHD_Connection *conn, const char *code,
                                          const char *message)
{
    openai_error_t err;
    openai_error_set(&err, code, NULL, "%s", message);
    return s_queue_error(conn, &err, 0);
}

/*  The content reader of a stream: hands out what is buffered, suspends
    when nothing is, ends after the last bytes of a finished stream. */
static ssize_t s_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    req_t *req = cls;
    if (req->state == REQ_GONE)
        return MHD_CONTENT_READER_END_WITH_ERROR;
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
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    req->state = REQ_STREAM;
    enum MHD_Result rc = MHD_queue_response(req->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- the job sink ---- */

static void s_render_ctx(const req_t *req, openai_render_ctx_t *ctx)
{
    ctx->id = req->id;
    ctx->created = req->created;
    ctx->model = req->model;
}

static void s_stream_append_failed(req_t *req)
{
    /* The client reads slower than the tab writes: stop this one request. */
    alog_warn_rl("client too slow: more than %u bytes pending, ending its stream",
                 HTTP_MAX_PENDING_OUT);
    dispatch_cancel(req->http->cfg.dispatch, &req->job);
    req->finished = true;
}

static void s_sink_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    req_t *req = arg;
    if (kind == DELTA_CITATION) {
        req->citations.max = HTTP_MAX_CITATIONS;
        abuf_append(&req->citations, text, len); /* past the cap: dropped */
        return;
    }
    if (!req->stream) {
        abuf_t *dst = kind == DELTA_REASONING ? &req->reasoning : &req->content;
        int rc = 0;
        if (kind == DELTA_IMAGE)
            rc = abuf_puts(dst, "![image](") | abuf_append(dst, text, len) | abuf_puts(dst, ")\n");
        else
            rc = abuf_append(dst, text, len);
        if (rc < 0)
            s_stream_append_failed(req);
        return;
    }
    openai_render_ctx_t ctx;
    s_render_ctx(req, &ctx);
    if (openai_render_sse_delta(&req->out, &ctx, !req->first_sent, kind, text, len) < 0) {
        s_stream_append_failed(req);
        return;
    }
    req->first_sent = true;
    if (req->state == REQ_WAIT)
        req->state = REQ_READY; /* first byte: send the headers now */
    s_resume(req);
}

static void s_sink_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    req_t *req = arg;
    req->job = NULL;
    openai_render_ctx_t ctx;
    s_render_ctx(req, &ctx);
    abuf_t sources = ABUF_INIT;
    if (req->citations.len &&
        arena_sources_render(req->citations.data, req->citations.len, &sources) > 0) {
        if (req->stream)
            openai_render_sse_delta(&req->out, &ctx, !req->first_sent, DELTA_TEXT, sources.data,
                                    sources.len);
        else
            abuf_append(&req->content, sources.data, sources.len);
    }
    abuf_free(&sources);
    if (req->stream) {
        openai_render_sse_finish(&req->out, &ctx, finish_reason);
        if (req->include_usage)
            openai_render_sse_usage(&req->out, &ctx, usage);
        openai_render_sse_done(&req->out);
        req->finished = true;
    } else {
        req->status = 200;
        abuf_reset(&req->out);
        openai_render_completion(&req->out, &ctx, req->content.data ? req->content.data : "",
                                 req->content.len, req->reasoning.len ? req->reasoning.data : NULL,
                                 req->reasoning.len, finish_reason, usage);
    }
    if (req->state == REQ_WAIT)
        req->state = REQ_READY;
    s_resume(req);
}

static void s_sink_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    req_t *req = arg;
    req->job = NULL;
    if (req->state == REQ_STREAM || (req->stream && req->first_sent)) {
        /* After the first byte (even if its headers are not out yet): end the
           stream with an error event. */
        openai_render_sse_error(&req->out, err);
        openai_render_sse_done(&req->out);
        req->finished = true;
    } else {
        req->status = err->status;
        req->retry_after_ms = retry_after_ms;
        abuf_reset(&req->out);
        openai_render_error(&req->out, err);
        req->stream = false;
        if (req->state == REQ_WAIT || req->state == REQ_NEW)
            req->state = REQ_READY;
    }
    s_resume(req);
}

static const job_sink_t s_job_sink = {s_sink_delta, s_sink_end, s_sink_error};

/* ---- routing ---- */

static bool s_authorized(http_t *self, struct MHD_Connection *conn)
{
    const strlist_t *keys = self->cfg.api_keys;
    if (!keys || keys->n == 0)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *given = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        given = h + 7;
    if (!given)
        given = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "key");
    if (!given)
        return false;
    size_t glen = strlen(given);
    bool ok = false;
    for (size_t i = 0; i < keys->n; i++) {
        size_t klen = strlen(keys->items[i]);
        if (klen == glen && sodium_memcmp(keys->items[i], given, klen) == 0)
            ok = true;
    }
    return ok;
}

static enum MHD_Result s_render_route(http_t *self, struct MHD_Connection *conn, route_id_t route)
{
    abuf_t b = ABUF_INIT;
    const char *ctype = "application/json";
    int status = self->cfg.render(self->cfg.arg, route, &b, &ctype);
    enum MHD_Result rc = s_queue_buf(conn, status, ctype, b.data ? b.data : "", b.len, 0);
    abuf_free(&b);
    return rc;
}

/*  The id of the key the request was admitted with (auth passed, so the
    credential presented is a configured key): hex of BLAKE2b-64; "" when
    the node has no keys. Travels in a forwarded request's `fwd`. */
static void s_client_id(http_t *self, struct MHD_Connection *conn, char *out, size_t size)
{
    out[0] = '\0';
    const strlist_t *keys = self->cfg.api_keys;
    if (!keys || keys->n == 0 || size < 17)
        return;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *given = h && strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    if (!given)
        given = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "key");
    unsigned char hash[8];
    if (!given || crypto_generichash(hash, sizeof hash, (const unsigned char *)given, strlen(given),
                                     NULL, 0) != 0)
        return;
    sodium_bin2hex(out, size, hash, sizeof hash);
}

static enum MHD_Result s_start_chat(http_t *self, req_t *req)
{
    openai_error_t err;
    openai_request_t *oreq = NULL;
    if (req->body_too_large) {
        openai_error_set(&err, "request_too_large", NULL,
                         "request body exceeds the limit of %zu bytes", self->cfg.max_body);
        return s_queue_error(req->conn, &err, 0);
    }
    if (openai_request_parse(req->body.data ? req->body.data : "", req->body.len, &self->cfg.limits,
                             &oreq, &err) < 0)
        return s_queue_error(req->conn, &err, 0);
    s_client_id(self, req->conn, oreq->client, sizeof oreq->client);
    abuf_free(&req->body);
    req->stream = oreq->stream;
    req->include_usage = oreq->include_usage;
    req->model = strdup(oreq->model);
    req->created = (long long)time(NULL);
    char uuid[UUID_STR_LEN];
    uuid7_generate(uuid);
    snprintf(req->id, sizeof req->id, "chatcmpl-%s", uuid);
    if (!req->model) {
        openai_request_destroy(&oreq);
        return MHD_NO;
    }
    req->state = REQ_WAIT;
    s_active_add(self, req);
    req->job = dispatch_submit(self->cfg.dispatch, &oreq, &s_job_sink, req);
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
    return s_queue_buf(req->conn, req->status, "application/json",
                       req->out.data ? req->out.data : "", req->out.len, req->retry_after_ms);
}

static enum MHD_Result s_route(http_t *self, req_t *req, const char *url, const char *method)
{
    struct MHD_Connection *conn = req->conn;
    const route_t *route = NULL;
    switch (routes_resolve(method, url, &route)) {
    case ROUTES_NOT_FOUND: {
        openai_error_t err;
        openai_error_set(&err, "not_found", NULL, "no route %s %.200s", method, url);
        return s_queue_error(conn, &err, 0);
    }
    case ROUTES_BAD_METHOD: {
        openai_error_t err;
        openai_error_set(&err, "method_not_allowed", NULL, "use %s on %s", route->method,
                         route->id == ROUTE_CHAT ? route->path : "this path");
        return s_queue_error(conn, &err, 0);
    }
    case ROUTES_OK:
        break;
    }
    if (route->auth && !s_authorized(self, conn))
        return s_queue_error_code(conn, "invalid_api_key",
                                  "missing or wrong API key (Authorization: Bearer KEY)");
    if (route->id == ROUTE_CHAT)
        return s_start_chat(self, req);
    return s_render_route(self, conn, route->id);
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
        req->body.max = self->cfg.max_body;
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > self->cfg.max_body)
            req->body_too_large = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->body_too_large && abuf_append(&req->body, upload_data, *upload_data_size) < 0) {
            req->body_too_large = true;
            abuf_free(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (req->state) {
    case REQ_NEW:
        /* chat reports a body too large itself, after its method and key checks */
        if (req->body_too_large && strcmp(url, routes_get(ROUTE_CHAT)->path) != 0)
            return s_queue_error_code(conn, "request_too_large", "request body too large");
        {
            enum MHD_Result rc = s_route(self, req, url, method);
            if (req->state == REQ_READY) /* ended before returning (e.g. 404 model) */
                return s_queue_ready(req);
            return rc;
        }
    case REQ_READY:
        return s_queue_ready(req);
    case REQ_GONE:
        return MHD_NO;
    default:
        return MHD_YES; /* resumed without news (should not happen): wait again */
    }
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
        alog_debug("client left (termination %d): cancelling its job", (int)toe);
        dispatch_cancel(self->cfg.dispatch, &req->job);
    }
    s_active_remove(self, req);
    req->state = REQ_GONE;
    s_req_unref(req);
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
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* A client that leaves mid-stream is routine, not a warning. */
    if (strstr(line, "application error generating response") ||
        strstr(line, "no longer available"))
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
        free(self);
        return NULL;
    }
    self->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER,
        s_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!self->mhd) {
        alog_error("http: cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
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
    zmq_pollitem_t item = {NULL, self->epoll_fd, ZMQ_POLLIN, 0};
    zloop_poller_end(self->loop, &item);
    MHD_stop_daemon(self->mhd);
    free(self);
    *self_p = NULL;
}
