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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
} bench_opts_t;

typedef struct {
    pid_t pid;
    int http_port;
    int link_port;
    char data_dir[64];
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
        execl(o->node_path, o->node_path, "--data", node->data_dir, "--http", "127.0.0.1:0",
              "--link", "127.0.0.1:0", "--mesh", "127.0.0.1:0", "--link-token", "bench-token",
              "--tab-jobs", jobs, "--queue", "20000", "--max-connections", "8000", "--log-level",
              "warn", "--pace", "off", (char *)NULL);
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

static void s_build_request(abuf_t *b, bool stream, const char *prompt, bool keepalive)
{
    abuf_t body = ABUF_INIT;
    abuf_printf(&body,
                "{\"model\":\"fake-chat\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
                "\"content\":\"%s\"}]}",
                stream ? "true" : "false", prompt);
    abuf_printf(b,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
                body.len, keepalive ? "" : "Connection: close\r\n", body.data);
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
    printf("throughput: %d keep-alive connections: %.0f non-streaming completions/s over %.1f s; "
           "%lu errors\n",
           o->conns, (double)c.done / secs, secs, c.errors);
    fflush(stdout);
    s_client_free(&c);
    abuf_free(&req);
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
    bench_opts_t o = {"build/arena-node", NULL, 200, 1000, 64, 10, 8};
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
        else {
            fprintf(stderr, "usage: arena-bench [--node PATH] [--only ttfb|streams|rss|throughput] "
                            "[--streams N] [--open N] [--conns N] [--seconds N] [--tabs N]\n");
            return 64;
        }
    }
    if (o.streams < 1 || o.open < 1 || o.conns < 1 || o.seconds < 1 || o.tabs < 1 ||
        o.tabs > FAKE_LINK_MAX_TABS) {
        fprintf(stderr, "arena-bench: counts must be positive\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    s_raise_nofile();
    alog_set_level(ALOG_WARN);
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
