/*  arena-bench — measures one arena-node with the fake browser link.

    Starts `arena-node` as a child process (port 0, a temporary data dir), a
    fake link in this process playing the tabs, and drives the node with an
    epoll HTTP/1.1 client of its own (raw sockets, so the client costs little
    and its timings are exact). Three measurements, run side by side in one
    invocation so their figures share the machine's state:

      ttfb        time to first byte of probe requests sent one at a time while
                  C other streams are open and flowing
      streams     C clients in a closed loop of short streaming requests;
                  completed streams per second
      rss         N streams held open at once (a slow drip); the node's
                  resident memory before and while they are open
      throughput  K keep-alive connections sending short non-streaming
                  completions back to back; completions per second

    The fake link answers a `text` job at once (head and first chunk in the
    same service turn), so the client's time to first byte bounds from above
    the time the node adds. Usage: arena-bench [--node PATH] [--only NAME]
    [--streams 200] [--open 1000] [--conns 64] [--seconds 10] [--tabs 8]. */
#define _GNU_SOURCE
#define S_ADMIN_KEY "bench-admin-key-0123456789"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node/keys.h"
#include "node/store.h"
#include "node/usage.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "tests/support/fake_link.h"

typedef struct {
    const char *node_path;
    const char *only;
    int streams;
    int open;
    int conns;
    int seconds;
    int tabs;
    int compare_keys; /* > 0: the key-check and usage comparison (s_bench_compare) */
    int rounds;
} bench_opts_t;

typedef struct {
    pid_t pid;
    int http_port;
    int link_port;
    char data_dir[64];
    bool keyed;   /* --admin-key and a key table */
    bool usage;   /* usage recorded (else --usage-keep 0) */
    char key[64]; /* the key its requests carry ("": none) */
} bench_node_t;

static long long s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the node under test ---- */

static int s_node_start(bench_node_t *node, const bench_opts_t *o)
{
    snprintf(node->data_dir, sizeof node->data_dir, "/tmp/arena-bench-XXXXXX");
    if (!mkdtemp(node->data_dir))
        return -1;
    int out[2];
    if (pipe(out) < 0)
        return -1;
    node->pid = fork();
    if (node->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        char jobs[16];
        snprintf(jobs, sizeof jobs, "%d", (o->open + o->tabs - 1) / o->tabs + 16);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the bench dying takes its nodes along */
        /* keyed: the admin API (its key makes the table); usage: recorded
           (the default), else --usage-keep 0 (nothing recorded) */
        const char *argv[32] = {o->node_path,  "--data",       node->data_dir, "--http",
                                "127.0.0.1:0", "--link",       "127.0.0.1:0",  "--mesh",
                                "127.0.0.1:0", "--link-token", "bench-token",  "--tab-jobs",
                                jobs,          "--queue",      "20000",        "--max-connections",
                                "8000",        "--log-level",  "warn",         "--pace",
                                "off"};
        int n = 21;
        if (node->keyed) {
            argv[n++] = "--admin-key";
            argv[n++] = S_ADMIN_KEY;
        }
        if (!node->usage) {
            argv[n++] = "--usage-keep";
            argv[n++] = "0";
        }
        execv(o->node_path, (char *const *)argv);
        perror("exec arena-node");
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[512];
    int rc = -1;
    while (f && fgets(line, sizeof line, f)) {
        char *h = strstr(line, " http=");
        char *l = strstr(line, " link=");
        if (strncmp(line, "arena-node ready", 16) == 0 && h && l) {
            node->http_port = atoi(strchr(h + 6, ':') + 1);
            node->link_port = atoi(strchr(l + 6, ':') + 1);
            rc = 0;
            break;
        }
    }
    return rc;
}

static void s_node_stop(bench_node_t *node)
{
    if (node->pid > 0) {
        kill(node->pid, SIGTERM);
        waitpid(node->pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", node->data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "arena-bench: could not remove %s\n", node->data_dir);
}

static long s_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* ---- the HTTP client ---- */

typedef struct {
    int fd;
    bool busy;    /* a request is in flight */
    bool headers; /* response headers seen */
    bool chunked;
    long long clen; /* Content-Length, -1 unknown */
    size_t body_at; /* offset of the body in rx */
    long long t_send;
    long long t_first;
    int status;
    abuf_t rx;
    size_t sent;
} bconn_t;

typedef struct {
    int ep;
    int port;
    const char *req;
    size_t req_len;
    bconn_t *conns;
    int n;
    long long *ttfb; /* µs samples */
    size_t n_ttfb, cap_ttfb;
    unsigned long done, errors;
    unsigned long first_bytes; /* requests that saw their first byte */
    bool keepalive;
    bool repeat;
} bclient_t;

static int s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static const char *s_key; /* the Authorization of the requests built next ("" none) */
static int s_port;        /* … and the port their Host names (a keyed node checks it) */

static void s_build_request(abuf_t *b, bool stream, const char *prompt, bool keepalive)
{
    abuf_t body = ABUF_INIT;
    abuf_printf(&body,
                "{\"model\":\"fake-chat\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
                "\"content\":\"%s\"}]}",
                stream ? "true" : "false", prompt);
    abuf_printf(b,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s%s\r\n%s",
                s_port, body.len, keepalive ? "" : "Connection: close\r\n",
                s_key && s_key[0] ? "Authorization: Bearer " : "", s_key ? s_key : "",
                s_key && s_key[0] ? "\r\n" : "", body.data);
    abuf_free(&body);
}

static void s_conn_open(bclient_t *c, bconn_t *k)
{
    k->fd = s_connect(c->port);
    abuf_reset(&k->rx);
    k->headers = k->chunked = false;
    k->clen = -1;
    k->sent = 0;
    k->busy = k->fd >= 0;
    k->t_send = s_now_us();
    k->t_first = 0;
    if (k->fd < 0) {
        c->errors++;
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = k};
    epoll_ctl(c->ep, EPOLL_CTL_ADD, k->fd, &ev);
}

static void s_conn_close(bclient_t *c, bconn_t *k)
{
    if (k->fd >= 0) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, k->fd, NULL);
        close(k->fd);
    }
    k->fd = -1;
    k->busy = false;
}

static void s_sample(bclient_t *c, long long us)
{
    if (c->n_ttfb == c->cap_ttfb) {
        size_t cap = c->cap_ttfb ? c->cap_ttfb * 2 : 4096;
        long long *p = realloc(c->ttfb, cap * sizeof *p);
        if (!p)
            return;
        c->ttfb = p;
        c->cap_ttfb = cap;
    }
    c->ttfb[c->n_ttfb++] = us;
}

/*  1 when the response in rx is complete. */
static int s_parse(bconn_t *k)
{
    if (!k->headers) {
        char *end = strstr(k->rx.data, "\r\n\r\n");
        if (!end)
            return 0;
        k->headers = true;
        k->status = atoi(k->rx.data + 9);
        k->body_at = (size_t)(end + 4 - k->rx.data);
        k->chunked = strcasestr(k->rx.data, "transfer-encoding: chunked") != NULL;
        char *cl = strcasestr(k->rx.data, "content-length:");
        k->clen = cl && cl < end ? atoll(cl + 15) : -1;
    }
    size_t body = k->rx.len - k->body_at;
    if (k->chunked)
        return body >= 5 && memcmp(k->rx.data + k->rx.len - 5, "0\r\n\r\n", 5) == 0;
    return k->clen >= 0 && (long long)body >= k->clen;
}

static void s_on_ready(bclient_t *c, bconn_t *k, unsigned events)
{
    if ((events & EPOLLOUT) && k->sent < c->req_len) {
        ssize_t n = send(k->fd, c->req + k->sent, c->req_len - k->sent, MSG_NOSIGNAL);
        if (n > 0)
            k->sent += (size_t)n;
        if (k->sent == c->req_len) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = k};
            epoll_ctl(c->ep, EPOLL_CTL_MOD, k->fd, &ev);
        }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    char buf[65536];
    for (;;) {
        ssize_t n = recv(k->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!k->t_first) {
                k->t_first = s_now_us();
                c->first_bytes++;
                s_sample(c, k->t_first - k->t_send);
            }
            abuf_append(&k->rx, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* closed or failed */
        if (!s_parse(k) || k->status != 200)
            c->errors++;
        else
            c->done++;
        s_conn_close(c, k);
        if (c->repeat)
            s_conn_open(c, k);
        return;
    }
    if (s_parse(k)) {
        if (k->status == 200)
            c->done++;
        else
            c->errors++;
        if (c->keepalive && c->repeat) {
            abuf_reset(&k->rx);
            k->headers = false;
            k->sent = 0;
            k->t_send = s_now_us();
            k->t_first = 0;
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = k};
            epoll_ctl(c->ep, EPOLL_CTL_MOD, k->fd, &ev);
        } else {
            s_conn_close(c, k);
            if (c->repeat)
                s_conn_open(c, k);
        }
    }
}

static void s_client_run(bclient_t *c, long long until_us, bool (*stop)(bclient_t *))
{
    struct epoll_event evs[256];
    while (s_now_us() < until_us && !(stop && stop(c))) {
        int n = epoll_wait(c->ep, evs, 256, 50);
        for (int i = 0; i < n; i++)
            s_on_ready(c, evs[i].data.ptr, evs[i].events);
    }
}

static int s_client_init(bclient_t *c, int port, int n, const char *req, bool keepalive,
                         bool repeat)
{
    memset(c, 0, sizeof *c);
    c->ep = epoll_create1(0);
    c->port = port;
    c->req = req;
    c->req_len = strlen(req);
    c->n = n;
    c->keepalive = keepalive;
    c->repeat = repeat;
    c->conns = calloc((size_t)n, sizeof *c->conns);
    if (c->ep < 0 || !c->conns)
        return -1;
    for (int i = 0; i < n; i++)
        s_conn_open(c, &c->conns[i]);
    return 0;
}

static void s_client_free(bclient_t *c)
{
    for (int i = 0; i < c->n; i++) {
        s_conn_close(c, &c->conns[i]);
        abuf_free(&c->conns[i].rx);
    }
    free(c->conns);
    free(c->ttfb);
    close(c->ep);
}

static int s_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static long long s_pct(long long *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, s_cmp_ll);
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

/* ---- measurements ---- */

static bool s_all_open(bclient_t *c);

/*  Time to first byte of one request at a time (a probe), while `streams`
    other streams are open and flowing (a drip of one chunk per 100 ms each). */
static double s_fig_ttfb50, s_fig_ttfb99, s_fig_streams, s_fig_throughput; /* the last run's */

static void s_bench_ttfb(const bench_node_t *node, const bench_opts_t *o)
{
    abuf_t bg_req = ABUF_INIT, probe_req = ABUF_INIT;
    s_build_request(&bg_req, true, "bench [[fake:drip ms=100 count=100000]]", false);
    s_build_request(&probe_req, true, "probe [[fake:text]]", true);
    bclient_t bg, probe;
    if (s_client_init(&bg, node->http_port, o->streams, bg_req.data, false, false) < 0)
        return;
    s_client_run(&bg, s_now_us() + 10000000LL, s_all_open);
    if (s_client_init(&probe, node->http_port, 1, probe_req.data, true, true) < 0)
        return;
    long long until = s_now_us() + o->seconds * 1000000LL;
    struct epoll_event evs[256];
    while (s_now_us() < until) {
        /* Serve both clients: the background streams must keep draining. */
        int n = epoll_wait(bg.ep, evs, 256, 0);
        for (int i = 0; i < n; i++)
            s_on_ready(&bg, evs[i].data.ptr, evs[i].events);
        n = epoll_wait(probe.ep, evs, 256, 1);
        for (int i = 0; i < n; i++)
            s_on_ready(&probe, evs[i].data.ptr, evs[i].events);
    }
    size_t n = probe.n_ttfb;
    long long p50 = s_pct(probe.ttfb, n, 0.50), p99 = s_pct(probe.ttfb, n, 0.99);
    s_fig_ttfb50 = (double)p50 / 1000;
    s_fig_ttfb99 = (double)p99 / 1000;
    printf("ttfb: %lu streams open and flowing; %zu probe requests one at a time: time to first "
           "byte p50 %.3f ms, p99 %.3f ms; %lu errors\n",
           bg.first_bytes, n, (double)p50 / 1000, (double)p99 / 1000, probe.errors + bg.errors);
    fflush(stdout);
    s_client_free(&probe);
    s_client_free(&bg);
    abuf_free(&bg_req);
    abuf_free(&probe_req);
    usleep(500000);
}

/*  Closed loop: `streams` clients each sending a short streaming request
    again as soon as the last one ended. */
static void s_bench_streams(const bench_node_t *node, const bench_opts_t *o)
{
    abuf_t req = ABUF_INIT;
    s_build_request(&req, true, "bench [[fake:text]]", false);
    bclient_t c;
    if (s_client_init(&c, node->http_port, o->streams, req.data, false, true) < 0)
        return;
    long long t0 = s_now_us();
    s_client_run(&c, t0 + 1000000LL, NULL); /* warm-up second, not counted */
    c.n_ttfb = 0;
    c.done = c.errors = 0;
    t0 = s_now_us();
    s_client_run(&c, t0 + o->seconds * 1000000LL, NULL);
    double secs = (double)(s_now_us() - t0) / 1e6;
    long long p50 = s_pct(c.ttfb, c.n_ttfb, 0.50);
    s_fig_streams = (double)c.done / secs;
    printf("streams: %d clients in a closed loop: %.0f completed streams/s (time to first byte "
           "p50 %.1f ms under that load); %lu errors\n",
           o->streams, (double)c.done / secs, (double)p50 / 1000, c.errors);
    fflush(stdout);
    s_client_free(&c);
    abuf_free(&req);
}

static bool s_all_open(bclient_t *c)
{
    return c->first_bytes >= (unsigned long)c->n;
}

static void s_bench_rss(const bench_node_t *node, const bench_opts_t *o)
{
    long idle = s_rss_kb(node->pid);
    abuf_t req = ABUF_INIT;
    s_build_request(&req, true, "bench [[fake:drip ms=1000 count=30]]", false);
    bclient_t c;
    if (s_client_init(&c, node->http_port, o->open, req.data, false, false) < 0)
        return;
    long long t0 = s_now_us();
    s_client_run(&c, t0 + 20000000LL, s_all_open);
    long open_kb = s_rss_kb(node->pid);
    printf("rss: %lu of %d streams open after %.1f s: node RSS %.1f MB idle, %.1f MB with them "
           "open; %lu errors\n",
           c.first_bytes, o->open, (double)(s_now_us() - t0) / 1e6, (double)idle / 1024,
           (double)open_kb / 1024, c.errors);
    fflush(stdout);
    s_client_free(&c); /* closing the sockets aborts the streams in the tabs */
    abuf_free(&req);
    usleep(500000);
}

static void s_bench_throughput(const bench_node_t *node, const bench_opts_t *o)
{
    abuf_t req = ABUF_INIT;
    s_build_request(&req, false, "bench [[fake:text piece=64]]", true);
    bclient_t c;
    if (s_client_init(&c, node->http_port, o->conns, req.data, true, true) < 0)
        return;
    long long t0 = s_now_us();
    s_client_run(&c, t0 + 1000000LL, NULL);
    c.done = c.errors = 0;
    t0 = s_now_us();
    s_client_run(&c, t0 + o->seconds * 1000000LL, NULL);
    double secs = (double)(s_now_us() - t0) / 1e6;
    s_fig_throughput = (double)c.done / secs;
    printf("throughput: %d keep-alive connections: %.0f non-streaming completions/s over %.1f s; "
           "%lu errors\n",
           o->conns, (double)c.done / secs, secs, c.errors);
    fflush(stdout);
    s_client_free(&c);
    abuf_free(&req);
}

/*  One blocking HTTP/1.1 exchange (Connection: close); the whole answer
    into out. 0, or -1. */
static int s_exchange(int port, const char *req, abuf_t *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        fprintf(stderr, "arena-bench: 127.0.0.1:%d: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    abuf_reset(out);
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        abuf_append(out, buf, (size_t)n);
    close(fd);
    return out->len ? 0 : -1;
}

/*  The tier of the bench's keys: no limits (a tier's limits would refuse
    the load with 429s; what is measured is the key check, not them). */
#define S_BENCH_TIER_BODY                                                                          \
    "{\"per_minute\":0,\"per_hour\":0,\"per_day\":0,\"tokens_per_day\":0,\"concurrent\":0}"

/*  The keyed node's table: a tier without limits (PUT /admin/tiers/bench),
    then n keys of it made through the admin API; the last one's key is
    what the requests carry. */
static int s_make_keys(bench_node_t *node, int n)
{
    abuf_t req = ABUF_INIT, out = ABUF_INIT;
    int rc = 0;
    abuf_printf(&req,
                "PUT /admin/tiers/bench HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer "
                "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: "
                "close\r\n\r\n%s",
                node->http_port, S_ADMIN_KEY, strlen(S_BENCH_TIER_BODY), S_BENCH_TIER_BODY);
    if (s_exchange(node->http_port, req.data, &out) < 0 ||
        (strncmp(out.data, "HTTP/1.1 201", 12) != 0 &&
         strncmp(out.data, "HTTP/1.1 200", 12) != 0)) {
        fprintf(stderr, "arena-bench: PUT /admin/tiers/bench: %.300s\n",
                out.len ? out.data : "no answer");
        rc = -1;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        char body[128];
        int len = snprintf(body, sizeof body, "{\"name\":\"bench-%05d\",\"tier\":\"bench\"}", i);
        abuf_reset(&req);
        abuf_printf(
            &req,
            "POST /admin/keys HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: "
            "close\r\n\r\n%s",
            node->http_port, S_ADMIN_KEY, len, body);
        const char *k = NULL;
        if (s_exchange(node->http_port, req.data, &out) < 0 ||
            strncmp(out.data, "HTTP/1.1 201", 12) != 0 || !(k = strstr(out.data, "\"key\":\""))) {
            fprintf(stderr, "arena-bench: POST /admin/keys: %.300s\n",
                    out.len ? out.data : "no answer");
            rc = -1;
        } else
            snprintf(node->key, sizeof node->key, "%.*s", (int)strcspn(k + 7, "\""), k + 7);
    }
    abuf_free(&req);
    abuf_free(&out);
    return rc;
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static fake_link_t *s_fake_for(const bench_node_t *node, const bench_opts_t *o);

#define S_NODES 3
#define S_MICRO_CHECKS 200000

/*  The key check alone, without the network: a table of n keys in memory
    (node/keys.h), S_MICRO_CHECKS keys_check calls of its last key (the
    hash of the key and its lookup by digest). Microseconds per check. */
static double s_keys_micro(int n)
{
    keys_t *k = keys_new(NULL, "bench-node");
    char key[KEYS_KEY_LEN] = "";
    long long now = 1800000000000LL;
    for (int i = 0; k && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bench-%05d", i);
        if (keys_create(k, name, "free", 0, "", now, key, NULL) != KEYS_OK) {
            keys_destroy(&k);
            return -1;
        }
    }
    if (!k)
        return -1;
    size_t len = strlen(key), hits = 0;
    long long t0 = s_now_us();
    for (int i = 0; i < S_MICRO_CHECKS; i++)
        hits += keys_check(k, key, len, now + 1) != NULL;
    double us = (double)(s_now_us() - t0) / S_MICRO_CHECKS;
    keys_destroy(&k);
    return hits == S_MICRO_CHECKS ? us : -1;
}
#define S_MICRO_ROWS 100000

/*  The recording alone, without the network's noise: S_MICRO_ROWS rows of
    64 keys × 4 models, recorded and written in batches as the node does
    (usage_record; usage_flush at USAGE_BATCH_MAX rows), into a fresh store.
    Microseconds per request. */
static double s_usage_micro(void)
{
    char dir[] = "/tmp/arena-bench-usage-XXXXXX", err[256];
    if (!mkdtemp(dir))
        return -1;
    store_t *st = store_open(dir, err, sizeof err);
    const char *const prices[] = {"m0=2.5/10", "m1=0.15/0.6"};
    usage_config_t c = {st, "bench-node", 30, 400, prices, 2};
    usage_meter_t *u = st ? usage_new(&c) : NULL;
    double us = -1;
    if (u) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long now = (long long)ts.tv_sec * 1000;
        long long t0 = s_now_us();
        for (int i = 0; i < S_MICRO_ROWS; i++) {
            usage_row_t r = {.at_ms = now + i / 100,
                             .status = 200,
                             .prompt_tokens = 100,
                             .completion_tokens = 40,
                             .ttfb_ms = 1,
                             .duration_ms = 3};
            snprintf(r.key, sizeof r.key, "bench-%05d", i % 64);
            snprintf(r.model, sizeof r.model, "m%d", i % 4);
            snprintf(r.served_by, sizeof r.served_by, "bench-node");
            usage_record(u, &r);
        }
        usage_flush(u);
        us = (double)(s_now_us() - t0) / S_MICRO_ROWS;
    }
    usage_destroy(&u);
    store_destroy(&st);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "arena-bench: could not remove %s\n", dir);
    return us;
}

/*  What a key check and usage recording cost per request: three nodes up
    at once — no keys and no usage (--usage-keep 0); --admin-key and a
    table of compare_keys keys, no usage; the same keys and usage recorded
    (the default) — measured in turn for each measurement, `rounds` times;
    medians and the ratios to the first. */
static int s_bench_compare(const bench_opts_t *o)
{
    bench_node_t nodes[S_NODES] = {{.keyed = false, .usage = false},
                                   {.keyed = true, .usage = false},
                                   {.keyed = true, .usage = true}};
    static const char *const labels[S_NODES] = {"no keys, no usage", "keys, no usage",
                                                "keys + usage"};
    fake_link_t *fakes[S_NODES] = {NULL};
    int rc = 0;
    for (int i = 0; i < S_NODES && rc == 0; i++) {
        if (s_node_start(&nodes[i], o) < 0 || !(fakes[i] = s_fake_for(&nodes[i], o))) {
            fprintf(stderr, "arena-bench: cannot start node %d\n", i);
            rc = 1;
        }
    }
    long long t0 = s_now_us();
    for (int i = 0; i < S_NODES && rc == 0; i++)
        if (nodes[i].keyed && s_make_keys(&nodes[i], o->compare_keys) < 0) {
            fprintf(stderr, "arena-bench: cannot make the keys\n");
            rc = 1;
        }
    if (rc == 0)
        printf("compare: %d keys made in %.1f s; %d rounds of %d s per measurement and node\n",
               o->compare_keys, (double)(s_now_us() - t0) / 1e6, o->rounds, o->seconds);
    enum { F_TTFB50, F_TTFB99, F_STREAMS, F_THROUGHPUT, F_N };
    double *fig[S_NODES][F_N];
    for (int i = 0; i < S_NODES; i++)
        for (int f = 0; f < F_N; f++)
            fig[i][f] = calloc((size_t)o->rounds, sizeof(double));
    for (int r = 0; rc == 0 && r < o->rounds; r++) {
        for (int i = 0; i < S_NODES; i++) {
            s_key = nodes[i].key;
            s_port = nodes[i].http_port;
            printf("round %d, %s:\n", r + 1, labels[i]);
            s_bench_ttfb(&nodes[i], o);
            fig[i][F_TTFB50][r] = s_fig_ttfb50;
            fig[i][F_TTFB99][r] = s_fig_ttfb99;
        }
        for (int i = 0; i < S_NODES; i++) {
            s_key = nodes[i].key;
            s_port = nodes[i].http_port;
            printf("round %d, %s: ", r + 1, labels[i]);
            s_bench_streams(&nodes[i], o);
            fig[i][F_STREAMS][r] = s_fig_streams;
        }
        for (int i = 0; i < S_NODES; i++) {
            s_key = nodes[i].key;
            s_port = nodes[i].http_port;
            printf("round %d, %s: ", r + 1, labels[i]);
            s_bench_throughput(&nodes[i], o);
            fig[i][F_THROUGHPUT][r] = s_fig_throughput;
        }
    }
    if (rc == 0) {
        static const char *const names[F_N] = {
            "TTFB p50 (ms), 200 streams open", "TTFB p99 (ms), 200 streams open",
            "completed streams/s, 200 clients", "non-streaming completions/s, 64 connections"};
        printf("\n| figure (median of %d rounds) | %s | %s (%d) | %s (%d) | ratio keys | ratio "
               "keys + usage |\n|---|---|---|---|---|---|\n",
               o->rounds, labels[0], labels[1], o->compare_keys, labels[2], o->compare_keys);
        for (int f = 0; f < F_N; f++) {
            double m[S_NODES];
            for (int i = 0; i < S_NODES; i++)
                m[i] = s_median(fig[i][f], o->rounds);
            printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", names[f], m[0], m[1], m[2],
                   m[0] > 0 ? m[1] / m[0] : 0, m[0] > 0 ? m[2] / m[0] : 0);
        }
        printf("\nusage recording alone (usage_record and the batched flush, %d rows): %.2f us "
               "per request\n",
               S_MICRO_ROWS, s_usage_micro());
        printf("key check alone (keys_check: the hash and the lookup by digest, %d keys): %.3f "
               "us per request\n",
               o->compare_keys, s_keys_micro(o->compare_keys));
    }
    for (int i = 0; i < S_NODES; i++)
        for (int f = 0; f < F_N; f++)
            free(fig[i][f]);
    s_key = NULL;
    for (int i = 0; i < S_NODES; i++) {
        fake_link_destroy(&fakes[i]);
        s_node_stop(&nodes[i]);
    }
    return rc;
}

static fake_link_t *s_fake_for(const bench_node_t *node, const bench_opts_t *o)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", node->link_port);
    fake_link_config_t fc = {.url = url, .token = "bench-token", .tabs = (size_t)o->tabs};
    fc.max_jobs_per_tab = (size_t)((o->open + o->tabs - 1) / o->tabs + 16);
    fake_link_t *fake = fake_link_new(&fc);
    if (!fake || fake_link_wait_ready(fake, (size_t)o->tabs, 10000) < 0) {
        fake_link_destroy(&fake);
        return NULL;
    }
    usleep(300000); /* let the node read the model catalog from the page */
    return fake;
}

static void s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    bench_opts_t o = {"build/arena-node", NULL, 200, 1000, 64, 10, 8, 0, 3};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--node") == 0)
            o.node_path = argv[i + 1];
        else if (strcmp(argv[i], "--only") == 0)
            o.only = argv[i + 1];
        else if (strcmp(argv[i], "--streams") == 0)
            o.streams = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--open") == 0)
            o.open = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--conns") == 0)
            o.conns = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0)
            o.seconds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tabs") == 0)
            o.tabs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--compare-keys") == 0)
            o.compare_keys = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            o.rounds = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: arena-bench [--node PATH] [--only ttfb|streams|rss|throughput] "
                            "[--streams N] [--open N] [--conns N] [--seconds N] [--tabs N] "
                            "[--compare-keys N [--rounds N]]\n");
            return 64;
        }
    }
    if (o.streams < 1 || o.open < 1 || o.conns < 1 || o.seconds < 1 || o.tabs < 1 ||
        o.tabs > FAKE_LINK_MAX_TABS || o.compare_keys < 0 || o.compare_keys > 100000 ||
        o.rounds < 1 || o.rounds > 99) {
        fprintf(stderr, "arena-bench: counts must be positive\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    s_raise_nofile();
    alog_set_level(ALOG_WARN);
    if (o.compare_keys > 0)
        return s_bench_compare(&o);
    bench_node_t node = {0};
    if (s_node_start(&node, &o) < 0) {
        fprintf(stderr, "arena-bench: cannot start %s\n", o.node_path);
        s_node_stop(&node);
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", node.link_port);
    fake_link_config_t fc = {.url = url, .token = "bench-token", .tabs = (size_t)o.tabs};
    fc.max_jobs_per_tab = (size_t)((o.open + o.tabs - 1) / o.tabs + 16);
    fake_link_t *fake = fake_link_new(&fc);
    if (!fake || fake_link_wait_ready(fake, (size_t)o.tabs, 10000) < 0) {
        fprintf(stderr, "arena-bench: the fake link did not connect\n");
        fake_link_destroy(&fake);
        s_node_stop(&node);
        return 1;
    }
    usleep(300000); /* let the node read the model catalog from the page */
    s_port = node.http_port;
    printf("arena-bench: node pid %d, %d tabs, %d s per measurement\n", (int)node.pid, o.tabs,
           o.seconds);
    if (!o.only || strcmp(o.only, "ttfb") == 0)
        s_bench_ttfb(&node, &o);
    if (!o.only || strcmp(o.only, "streams") == 0)
        s_bench_streams(&node, &o);
    if (!o.only || strcmp(o.only, "rss") == 0)
        s_bench_rss(&node, &o);
    if (!o.only || strcmp(o.only, "throughput") == 0)
        s_bench_throughput(&node, &o);
    fake_link_destroy(&fake);
    s_node_stop(&node);
    return 0;
}
