/*  mesh-bench — measures a mesh of real arena-node processes on loopback.

    Starts N `arena-node` children (ports 0, a temporary data dir each, every
    node seeded with the first node's mesh address), plays one browser tab on
    the first node in-process with the fake link (it serves the default fake
    models plus one `bench-cool-NN` model per cooldown round), and watches the
    nodes through GET /mesh/status with an epoll HTTP/1.1 client of its own
    (one keep-alive connection per node). Four measurements, one after the
    other, in this order:

      gossip    every node idle for S seconds: mesh bytes (in + out) per node
                per second, from the "mesh" counters of each node's own entry
      cooldown  the first node's tab answers 429 (retry=600) for a new model;
                from the client's receipt of the 429 to the moment the LAST
                other node's /mesh/status shows that model cooled
      ttfb      probe requests one at a time, interleaved, at the first node
                (which owns the tab) and at the second (no tab: one mesh hop);
                time to first byte of each
      dead      kill -9 of one node (never the first two); time until every
                other node shows it "dead"; a replacement joins between rounds
      forward   (only with --only forward; 2 nodes are enough) C concurrent
                streaming requests in a closed loop for S seconds at the second
                node (no tab: every answer crosses one mesh hop), then the same
                at the first node directly; each answer must be the 20 words
                asked for, whole and in order. Reports errors by kind (status,
                io, stall, lost words), and the CPU time (utime + stime from
                /proc/PID/stat) of each node per 1,000 streams in each phase

    Every child gets PR_SET_PDEATHSIG, every wait has a deadline, and every
    child is stopped at the end, on failure too. Usage: mesh-bench
    [--node PATH] [--nodes 32] [--rounds 20] [--dead-rounds 3] [--idle 10]
    [--samples 1000] [--poll-ms 5] [--only gossip|cooldown|ttfb|dead|forward]
    [--concurrency 200] [--seconds 60] [--secret S (--mesh-secret for every
    node)]. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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

#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "tests/support/fake_link.h"

#define MB_MAX_NODES 128
#define MB_MAX_ROUNDS 200            /* one fake model each */
#define MB_RX_MAX (16 * 1024 * 1024) /* largest response read */
#define MB_READY_MS 15000            /* a child's ready line */
#define MB_CONVERGE_MS 60000         /* the whole mesh alive everywhere */
#define MB_COOL_WAIT_MS 5000
#define MB_DEAD_POLL_MS 25
#define MB_DEAD_WAIT_MS 20000
#define MB_IO_MS 5000    /* one request/response */
#define MB_TTFB_MAX_S 60 /* the probes stop there even short of --samples */
#define MB_ID_MAX 80

typedef struct {
    const char *node_path;
    const char *only;
    int nodes;
    int rounds;
    int dead_rounds;
    int idle;
    int samples;
    int poll_ms;     /* cooldown: the interval between two polls of one node */
    int concurrency; /* forward */
    int seconds;     /* forward: each phase */
    const char *secret;
} mb_opts_t;

typedef struct {
    int fd;
    int port;
    bool busy;
    bool head_done;
    bool chunked;
    int status;
    long long clen;
    size_t body_at;
    long long t_sent, t_first; /* µs */
    abuf_t rx;
} hc_t;

typedef struct {
    pid_t pid;
    int out_fd; /* its stdout: the ready line */
    int http_port, link_port, mesh_port;
    char name[32];
    char id[MB_ID_MAX];
    char dir[64];
    hc_t hc; /* keep-alive connection for /mesh/status */
} mb_node_t;

typedef struct {
    mb_opts_t o;
    mb_node_t nodes[MB_MAX_NODES];
    int n;
    int spawned; /* names given so far */
    fake_link_t *fake;
    double poll_ms_mean; /* achieved interval between polls of one node, last phase */
} mb_t;

typedef struct {
    double cool_p50, cool_p99, cool_max, cool_poll;
    int cool_rounds, cool_missed;
    double dead_p50, dead_max;
    int dead_rounds, dead_missed;
    double kb_med, kb_max, kb_out_med;
    double ttfb_b50, ttfb_b99, ttfb_a50, ttfb_a99;
    unsigned long fwd_streams, fwd_errors, direct_streams, direct_errors;
    double fwd_cpu_a, fwd_cpu_b, direct_cpu; /* ms per 1,000 streams */
    bool have_cool, have_dead, have_gossip, have_ttfb, have_fwd;
} mb_summary_t;

static long long s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*  Nearest rank: with 20 samples p99 is the largest, not an interpolation. */
static double s_pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, s_cmp_d);
    size_t rank = (size_t)(p * (double)n + 0.999999);
    return v[rank ? rank - 1 : 0];
}

/* ---- the HTTP client: one request at a time per connection ---- */

static void s_hc_close(hc_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->busy = false;
}

static void s_hc_init(hc_t *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->port = port;
    c->rx.max = MB_RX_MAX;
}

static void s_hc_free(hc_t *c)
{
    s_hc_close(c);
    abuf_free(&c->rx);
}

static int s_hc_connect(hc_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        s_hc_close(c);
        return -1;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/*  Sends the whole request (small: it fits the socket buffer). */
static int s_hc_send(hc_t *c, const char *req, size_t len)
{
    if (c->fd < 0 && s_hc_connect(c) < 0)
        return -1;
    abuf_reset(&c->rx);
    c->head_done = c->chunked = false;
    c->status = 0;
    c->clen = -1;
    c->t_first = 0;
    c->t_sent = s_now_us();
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && poll(&p, 1, MB_IO_MS) > 0)
            continue;
        s_hc_close(c);
        return -1;
    }
    c->busy = true;
    return 0;
}

/*  Walks a chunked body: 1 complete (body appended to out when not NULL),
    0 more bytes needed, -1 malformed. Trailers are not expected. */
static int s_dechunk(const char *p, size_t len, abuf_t *out)
{
    size_t at = 0;
    for (;;) {
        const char *nl = memmem(p + at, len - at, "\r\n", 2);
        if (!nl)
            return 0;
        char *end = NULL;
        unsigned long long sz = strtoull(p + at, &end, 16);
        if (end == p + at)
            return -1;
        at = (size_t)(nl - p) + 2;
        if (sz == 0)
            return len - at >= 2 ? 1 : 0;
        if (sz > len - at || len - at - sz < 2)
            return 0;
        if (out && abuf_append(out, p + at, (size_t)sz) < 0)
            return -1;
        at += (size_t)sz + 2;
    }
}

/*  1 when the response in rx is complete, 0 not yet, -1 malformed. */
static int s_hc_parse(hc_t *c)
{
    if (!c->head_done) {
        char *end = strstr(c->rx.data, "\r\n\r\n");
        if (!end)
            return c->rx.len > 65536 ? -1 : 0;
        c->head_done = true;
        c->status = c->rx.len > 12 ? atoi(c->rx.data + 9) : 0;
        c->body_at = (size_t)(end + 4 - c->rx.data);
        char *te = strcasestr(c->rx.data, "transfer-encoding: chunked");
        c->chunked = te && te < end;
        char *cl = strcasestr(c->rx.data, "content-length:");
        c->clen = cl && cl < end ? atoll(cl + 15) : -1;
        if (!c->chunked && c->clen < 0)
            return -1; /* would need the close to end it: not what the node does */
    }
    const char *body = c->rx.data + c->body_at;
    size_t blen = c->rx.len - c->body_at;
    if (c->chunked)
        return s_dechunk(body, blen, NULL);
    return (long long)blen >= c->clen ? 1 : 0;
}

/*  Reads what is there: 1 response complete, 0 more to come, -1 failed
    (the connection is closed; the next send reconnects). */
static int s_hc_read(hc_t *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!c->t_first)
                c->t_first = s_now_us();
            if (abuf_append(&c->rx, buf, (size_t)n) < 0)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = c->rx.len ? s_hc_parse(c) : 0;
            if (rc == 1)
                c->busy = false;
            if (rc >= 0)
                return rc;
        }
        break; /* closed, failed or malformed */
    }
    s_hc_close(c);
    return -1;
}

/*  One request and its whole response, waiting at most MB_IO_MS. A
    keep-alive connection the server closed meanwhile is redialed once. */
static int s_hc_roundtrip(hc_t *c, const char *req, size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_hc_send(c, req, len) < 0)
            continue;
        long long until = s_now_us() + MB_IO_MS * 1000LL;
        int rc = 0;
        while (rc == 0 && s_now_us() < until) {
            struct pollfd p = {.fd = c->fd, .events = POLLIN};
            if (poll(&p, 1, 100) > 0)
                rc = s_hc_read(c);
        }
        if (rc == 1)
            return 0;
        bool stale = rc < 0 && c->rx.len == 0;
        s_hc_close(c);
        if (!stale)
            return -1;
    }
    return -1;
}

/*  The body of the complete response in c (dechunked); NULL on failure. */
static json_t *s_hc_json(const hc_t *c)
{
    const char *body = c->rx.data + c->body_at;
    size_t blen = c->rx.len - c->body_at;
    abuf_t plain = ABUF_INIT;
    if (c->chunked) {
        if (s_dechunk(body, blen, &plain) != 1) {
            abuf_free(&plain);
            return NULL;
        }
        body = plain.data ? plain.data : "";
        blen = plain.len;
    }
    json_t *doc = json_loadb(body, blen, 0, NULL);
    abuf_free(&plain);
    return doc;
}

static void s_chat_request(abuf_t *b, const char *model, bool stream, const char *prompt)
{
    abuf_t body = ABUF_INIT;
    abuf_printf(&body,
                "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
                "\"content\":\"%s\"}]}",
                model, stream ? "true" : "false", prompt);
    abuf_printf(b,
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                body.len, body.data);
    abuf_free(&body);
}

static const char s_status_req[] = "GET /mesh/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* ---- the nodes ---- */

static int s_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void s_rmtree(const char *dir)
{
    if (dir[0])
        nftw(dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*  Forks and execs one node; its stdout comes back on out_fd, its stderr
    goes to DIR/node.log. seed_port 0: no seed. */
static int s_node_spawn(mb_t *mb, mb_node_t *nd, int seed_port, int tab_jobs)
{
    memset(nd, 0, sizeof *nd);
    nd->out_fd = -1;
    s_hc_init(&nd->hc, 0);
    snprintf(nd->name, sizeof nd->name, "mb-%02d", mb->spawned++);
    snprintf(nd->dir, sizeof nd->dir, "/tmp/mesh-bench-XXXXXX");
    if (!mkdtemp(nd->dir)) {
        nd->dir[0] = 0;
        return -1;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return -1;
    char log[128], seed[64];
    snprintf(log, sizeof log, "%s/node.log", nd->dir);
    snprintf(seed, sizeof seed, "127.0.0.1:%d", seed_port);
    nd->pid = fork();
    if (nd->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
        dup2(out[1], 1);
        int err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0)
            dup2(err, 2);
        const char *argv[32] = {mb->o.node_path, "--name", nd->name, "--data", nd->dir, "--http",
                                "127.0.0.1:0", "--link", "127.0.0.1:0", "--mesh", "127.0.0.1:0",
                                "--link-token", "bench-token", "--log-level", "warn", "--pace",
                                "off",
                                /* the bench's requests say "Host: 127.0.0.1", without the port */
                                "--http-name", "127.0.0.1"};
        int k = 19; /* pacing would hold the bench's requests back by design */
        if (seed_port > 0) {
            argv[k++] = "--seed";
            argv[k++] = seed;
        }
        char jobs[16];
        snprintf(jobs, sizeof jobs, "%d", tab_jobs);
        if (tab_jobs) {
            argv[k++] = "--tab-jobs";
            argv[k++] = jobs;
        }
        if (mb->o.secret) {
            argv[k++] = "--mesh-secret";
            argv[k++] = mb->o.secret;
        }
        argv[k] = NULL;
        execv(mb->o.node_path, (char *const *)argv);
        perror("exec arena-node");
        _exit(127);
    }
    close(out[1]);
    nd->out_fd = out[0];
    return nd->pid > 0 ? 0 : -1;
}

static int s_port_after(const char *line, const char *key)
{
    const char *k = strstr(line, key);
    const char *colon = k ? strchr(k + strlen(key), ':') : NULL;
    const char *space = k ? strchr(k + strlen(key), ' ') : NULL;
    if (!colon || (space && colon > space))
        return -1;
    return atoi(colon + 1);
}

/*  Reads `arena-node ready name=… http=H:P link=H:P mesh=H:P` by deadline. */
static int s_node_ready(mb_node_t *nd, long long deadline_us)
{
    char line[1024];
    size_t len = 0;
    while (len + 1 < sizeof line) {
        long long left = (deadline_us - s_now_us()) / 1000;
        struct pollfd p = {.fd = nd->out_fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t n = read(nd->out_fd, line + len, 1);
        if (n <= 0)
            return -1;
        if (line[len] == '\n') {
            line[len] = 0;
            if (strncmp(line, "arena-node ready ", 17) == 0)
                break;
            len = 0;
            continue;
        }
        len++;
    }
    line[len] = 0;
    nd->http_port = s_port_after(line, " http=");
    nd->link_port = s_port_after(line, " link=");
    nd->mesh_port = s_port_after(line, " mesh=");
    if (nd->http_port <= 0 || nd->link_port <= 0 || nd->mesh_port <= 0)
        return -1;
    s_hc_init(&nd->hc, nd->http_port);
    return 0;
}

/*  The last lines of a node's log (its stderr), for a failure report. */
static void s_print_log_tail(const mb_node_t *nd)
{
    char path[128];
    static const int keep = 40;
    char ring[40][512];
    snprintf(path, sizeof path, "%s/node.log", nd->dir);
    FILE *f = nd->dir[0] ? fopen(path, "r") : NULL;
    if (!f)
        return;
    int n = 0;
    while (fgets(ring[n % keep], sizeof ring[0], f))
        n++;
    fclose(f);
    fprintf(stderr, "--- %s: the last lines of %s\n", nd->name, path);
    for (int k = n > keep ? n - keep : 0; k < n; k++)
        fputs(ring[k % keep], stderr);
}

static void s_node_reap(mb_node_t *nd)
{
    if (nd->out_fd >= 0)
        close(nd->out_fd);
    nd->out_fd = -1;
    s_hc_free(&nd->hc);
    s_rmtree(nd->dir);
    nd->dir[0] = 0;
    nd->pid = 0;
}

static void s_node_kill9(mb_node_t *nd)
{
    if (nd->pid > 0) {
        kill(nd->pid, SIGKILL);
        waitpid(nd->pid, NULL, 0);
    }
    s_node_reap(nd);
}

/*  SIGTERM to all, up to 5 s for them to finish, then SIGKILL. Returns how
    many did not end cleanly (exit status 0). */
static int s_stop_all(mb_t *mb)
{
    for (int i = 0; i < mb->n; i++)
        if (mb->nodes[i].pid > 0)
            kill(mb->nodes[i].pid, SIGTERM);
    long long until = s_now_us() + 5000000LL;
    int failed = 0;
    for (int i = 0; i < mb->n; i++) {
        mb_node_t *nd = &mb->nodes[i];
        int status = 0;
        pid_t rc = 0;
        while (nd->pid > 0 && (rc = waitpid(nd->pid, &status, WNOHANG)) == 0) {
            if (s_now_us() > until) {
                kill(nd->pid, SIGKILL);
                waitpid(nd->pid, NULL, 0);
                fprintf(stderr, "mesh-bench: %s did not stop within 5 s of SIGTERM\n", nd->name);
                failed++;
                break;
            }
            s_sleep_ms(10);
        }
        if (rc > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "mesh-bench: %s ended with status 0x%x\n", nd->name, status);
            s_print_log_tail(nd); /* a crash or a sanitizer report */
            failed++;
        }
        s_node_reap(nd);
    }
    mb->n = 0;
    return failed;
}

/* ---- watching /mesh/status ---- */

/*  True when doc satisfies what the caller waits for; may record from it. */
typedef bool(mb_check_fn)(void *arg, int idx, json_t *doc);

/*  The entry of node `id` in a /mesh/status document, or NULL. */
static json_t *s_entry(json_t *doc, const char *id)
{
    json_t *nodes = json_object_get(doc, "nodes");
    size_t i;
    json_t *e;
    json_array_foreach(nodes, i, e)
    {
        const char *eid = json_string_value(json_object_get(e, "id"));
        if (eid && strcmp(eid, id) == 0)
            return e;
    }
    return NULL;
}

/*  Polls GET /mesh/status of every node i with which[i], one request in
    flight per node and a new one no sooner than interval_ms after the last,
    until check() holds for each or the deadline passes. done_us[i] is when
    the first byte of the answer that satisfied it arrived (-1: never).
    Returns how many were satisfied. */
static int s_poll_until(mb_t *mb, const bool *which, int interval_ms, long long deadline_us,
                        mb_check_fn *check, void *arg, long long *done_us)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    long long next_at[MB_MAX_NODES] = {0};
    int want = 0, got = 0;
    long long polls = 0, t_start = s_now_us();
    for (int i = 0; i < mb->n; i++) {
        done_us[i] = -1;
        want += which[i] ? 1 : 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (which[i] && mb->nodes[i].hc.fd >= 0 && ep >= 0)
            epoll_ctl(ep, EPOLL_CTL_ADD, mb->nodes[i].hc.fd, &ev); /* kept from a last phase */
    }
    while (ep >= 0 && got < want && s_now_us() < deadline_us) {
        long long now = s_now_us();
        for (int i = 0; i < mb->n; i++) {
            hc_t *c = &mb->nodes[i].hc;
            if (!which[i] || done_us[i] >= 0 || c->busy || now < next_at[i])
                continue;
            bool fresh = c->fd < 0;
            if (s_hc_send(c, s_status_req, sizeof s_status_req - 1) < 0) {
                next_at[i] = now + 100000; /* retry the connection later */
                continue;
            }
            if (fresh) {
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            }
            next_at[i] = now + interval_ms * 1000LL;
            polls++;
        }
        struct epoll_event evs[MB_MAX_NODES];
        int n = epoll_wait(ep, evs, MB_MAX_NODES, 1);
        for (int k = 0; k < n; k++) {
            int i = (int)evs[k].data.u32;
            hc_t *c = &mb->nodes[i].hc;
            if (c->fd < 0 || s_hc_read(c) != 1)
                continue; /* more to come, or closed (s_hc_read closed it) */
            json_t *doc = c->status == 200 ? s_hc_json(c) : NULL;
            if (doc && done_us[i] < 0 && check(arg, i, doc)) {
                done_us[i] = c->t_first;
                got++;
            }
            json_decref(doc);
        }
    }
    long long t_end = s_now_us(), active = 0;
    for (int i = 0; i < mb->n; i++) {
        if (mb->nodes[i].hc.busy)
            s_hc_close(&mb->nodes[i].hc); /* its answer would be read by the next phase */
        if (which[i])
            active += (done_us[i] >= 0 ? done_us[i] : t_end) - t_start;
    }
    if (ep >= 0)
        close(ep);
    /* time each node was watched over the requests it got: the resolution */
    mb->poll_ms_mean = polls ? (double)active / 1000 / (double)polls : 0;
    return got;
}

static void s_all_but(const mb_t *mb, bool *which, int except)
{
    for (int i = 0; i < mb->n; i++)
        which[i] = i != except;
}

static bool s_check_self_id(void *arg, int idx, json_t *doc)
{
    mb_t *mb = arg;
    const char *id = json_string_value(json_object_get(doc, "self"));
    if (!id || strlen(id) >= MB_ID_MAX)
        return false;
    snprintf(mb->nodes[idx].id, sizeof mb->nodes[idx].id, "%s", id);
    return true;
}

/*  Every other node alive, and the first node's catalog (fake models plus
    one per cooldown round) known. */
static bool s_check_converged(void *arg, int idx, json_t *doc)
{
    mb_t *mb = arg;
    json_t *nodes = json_object_get(doc, "nodes");
    size_t i;
    json_t *e;
    int alive = 0;
    json_array_foreach(nodes, i, e)
    {
        const char *state = json_string_value(json_object_get(e, "state"));
        if (!json_is_true(json_object_get(e, "self")) && state && strcmp(state, "alive") == 0)
            alive++;
    }
    json_t *first = idx == 0 ? NULL : s_entry(doc, mb->nodes[0].id);
    size_t models = json_array_size(json_object_get(first, "models"));
    return alive == mb->n - 1 && (idx == 0 || models >= 4 + (size_t)mb->o.rounds);
}

static int s_converge(mb_t *mb, const char *what)
{
    bool which[MB_MAX_NODES];
    long long done[MB_MAX_NODES];
    long long t0 = s_now_us();
    s_all_but(mb, which, -1);
    int got = s_poll_until(mb, which, 100, t0 + MB_CONVERGE_MS * 1000LL, s_check_self_id, mb, done);
    if (got < mb->n)
        return -1;
    got = s_poll_until(mb, which, 100, t0 + MB_CONVERGE_MS * 1000LL, s_check_converged, mb, done);
    if (got < mb->n) {
        fprintf(stderr, "mesh-bench: %s: only %d of %d nodes see the whole mesh after %d s\n", what,
                got, mb->n, MB_CONVERGE_MS / 1000);
        return -1;
    }
    printf("mesh-bench: %s: %d nodes see each other alive after %.1f s\n", what, mb->n,
           (double)(s_now_us() - t0) / 1e6);
    fflush(stdout);
    return 0;
}

#define MB_FWD_TABS 4
#define MB_FWD_TAB_JOBS 64 /* per tab: 256 streams at once on the first node */
#define MB_FWD_WORDS 20
#define MB_FWD_STALL_MS 30000 /* one stream, request to [DONE] */

static bool s_forward_mode(const mb_t *mb)
{
    return mb->o.only && strcmp(mb->o.only, "forward") == 0;
}

static int s_start_mesh(mb_t *mb)
{
    long long deadline = s_now_us() + MB_READY_MS * 1000LL;
    mb->n = 1;
    if (s_node_spawn(mb, &mb->nodes[0], 0, s_forward_mode(mb) ? MB_FWD_TAB_JOBS : 4) < 0 ||
        s_node_ready(&mb->nodes[0], deadline) < 0) {
        fprintf(stderr, "mesh-bench: cannot start %s\n", mb->o.node_path);
        s_print_log_tail(&mb->nodes[0]);
        return -1;
    }
    for (int i = 1; i < mb->o.nodes; i++) {
        mb->n = i + 1;
        if (s_node_spawn(mb, &mb->nodes[i], mb->nodes[0].mesh_port, 0) < 0)
            return -1;
    }
    deadline = s_now_us() + MB_READY_MS * 1000LL;
    for (int i = 1; i < mb->n; i++)
        if (s_node_ready(&mb->nodes[i], deadline) < 0) {
            fprintf(stderr, "mesh-bench: node %s did not say ready\n", mb->nodes[i].name);
            s_print_log_tail(&mb->nodes[i]);
            return -1;
        }
    return 0;
}

static int s_start_fake(mb_t *mb, fake_link_model_t *models, char (*names)[32])
{
    for (int r = 0; r < mb->o.rounds; r++) {
        snprintf(names[r], sizeof names[r], "bench-cool-%02d", r);
        models[r] = (fake_link_model_t){.name = names[r]};
    }
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", mb->nodes[0].link_port);
    fake_link_config_t fc = {.url = url,
                             .token = "bench-token",
                             .tabs = s_forward_mode(mb) ? MB_FWD_TABS : 1,
                             .models = models,
                             .n_models = (size_t)mb->o.rounds,
                             .max_jobs_per_tab = s_forward_mode(mb) ? MB_FWD_TAB_JOBS : 8};
    mb->fake = fake_link_new(&fc);
    if (!mb->fake || fake_link_wait_ready(mb->fake, fc.tabs, 10000) < 0) {
        fprintf(stderr, "mesh-bench: the fake link did not connect\n");
        return -1;
    }
    return 0;
}

/* ---- measurements ---- */

typedef struct {
    uint64_t in, out, msgs_in, msgs_out;
    bool ok;
} mb_counters_t;

static bool s_check_counters(void *arg, int idx, json_t *doc)
{
    mb_counters_t *c = &((mb_counters_t *)arg)[idx];
    json_t *me = s_entry(doc, json_string_value(json_object_get(doc, "self")));
    json_t *m = json_object_get(me, "mesh");
    if (!json_is_object(m))
        return false;
    c->in = (uint64_t)json_integer_value(json_object_get(m, "bytes_in"));
    c->out = (uint64_t)json_integer_value(json_object_get(m, "bytes_out"));
    c->msgs_in = (uint64_t)json_integer_value(json_object_get(m, "msgs_in"));
    c->msgs_out = (uint64_t)json_integer_value(json_object_get(m, "msgs_out"));
    c->ok = true;
    return true;
}

static int s_read_counters(mb_t *mb, mb_counters_t *c, long long *at)
{
    bool which[MB_MAX_NODES];
    s_all_but(mb, which, -1);
    memset(c, 0, sizeof *c * (size_t)mb->n);
    return s_poll_until(mb, which, 1000, s_now_us() + 10000000LL, s_check_counters, c, at);
}

static void s_bench_gossip(mb_t *mb, mb_summary_t *sum)
{
    mb_counters_t a[MB_MAX_NODES], b[MB_MAX_NODES];
    long long ta[MB_MAX_NODES], tb[MB_MAX_NODES];
    s_sleep_ms(2000); /* the joins' hellos and first deltas are over */
    if (s_read_counters(mb, a, ta) < mb->n) {
        fprintf(stderr, "gossip: no \"mesh\" counters in /mesh/status (an older arena-node?)\n");
        return;
    }
    s_sleep_ms(mb->o.idle * 1000);
    if (s_read_counters(mb, b, tb) < mb->n)
        return;
    double all[MB_MAX_NODES], out[MB_MAX_NODES], msgs[MB_MAX_NODES];
    double total_in = 0, total_out = 0;
    for (int i = 0; i < mb->n; i++) {
        double secs = (double)(tb[i] - ta[i]) / 1e6;
        double din = (double)(b[i].in - a[i].in), dout = (double)(b[i].out - a[i].out);
        all[i] = (din + dout) / 1000 / secs;
        out[i] = dout / 1000 / secs;
        msgs[i] = (double)(b[i].msgs_in - a[i].msgs_in + b[i].msgs_out - a[i].msgs_out) / secs;
        total_in += din;
        total_out += dout;
    }
    sum->kb_med = s_pct(all, (size_t)mb->n, 0.5);
    sum->kb_max = s_pct(all, (size_t)mb->n, 1.0);
    sum->kb_out_med = s_pct(out, (size_t)mb->n, 0.5);
    double msgs_med = s_pct(msgs, (size_t)mb->n, 0.5);
    sum->have_gossip = true;
    printf("gossip: %d idle nodes for %d s: mesh traffic per node (in + out) median %.2f KB/s, max "
           "%.2f KB/s; sent median %.2f KB/s; %.0f messages/s per node (median); mesh-wide %.1f "
           "KB/s sent, %.1f KB/s received\n",
           mb->n, mb->o.idle, sum->kb_med, sum->kb_max, sum->kb_out_med, msgs_med,
           total_out / 1000 / mb->o.idle, total_in / 1000 / mb->o.idle);
    fflush(stdout);
}

typedef struct {
    const mb_t *mb;
    const char *model;
} mb_cool_arg_t;

static bool s_check_cooled(void *arg, int idx, json_t *doc)
{
    (void)idx;
    mb_cool_arg_t *a = arg;
    json_t *e = s_entry(doc, a->mb->nodes[0].id);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(e, "models"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (name && strcmp(name, a->model) == 0)
            return json_integer_value(json_object_get(m, "cooled_remaining_ms")) > 0;
    }
    return false;
}

static void s_bench_cooldown(mb_t *mb, mb_summary_t *sum)
{
    hc_t api;
    s_hc_init(&api, mb->nodes[0].http_port);
    double last[MB_MAX_ROUNDS], first[MB_MAX_ROUNDS], poll_ms = 0;
    int done = 0, missed = 0;
    bool which[MB_MAX_NODES];
    long long at[MB_MAX_NODES];
    s_all_but(mb, which, 0);
    for (int r = 0; r < mb->o.rounds; r++) {
        char model[32];
        snprintf(model, sizeof model, "bench-cool-%02d", r);
        abuf_t req = ABUF_INIT;
        s_chat_request(&req, model, false, "cool [[fake:ratelimit retry=600]]");
        int rc = s_hc_roundtrip(&api, req.data, req.len);
        abuf_free(&req);
        if (rc < 0 || api.status != 429) {
            fprintf(stderr, "cooldown: round %d: expected 429 from %s, got %d\n", r,
                    mb->nodes[0].name, rc < 0 ? -1 : api.status);
            missed++;
            continue;
        }
        long long t0 = api.t_first;
        mb_cool_arg_t arg = {mb, model};
        int got = s_poll_until(mb, which, mb->o.poll_ms, t0 + MB_COOL_WAIT_MS * 1000LL,
                               s_check_cooled, &arg, at);
        poll_ms += mb->poll_ms_mean;
        if (got < mb->n - 1) {
            fprintf(stderr, "cooldown: round %d: %d of %d nodes knew within %d ms\n", r, got,
                    mb->n - 1, MB_COOL_WAIT_MS);
            missed++;
            continue;
        }
        long long lo = -1, hi = -1;
        for (int i = 1; i < mb->n; i++) {
            if (lo < 0 || at[i] < lo)
                lo = at[i];
            hi = at[i] > hi ? at[i] : hi;
        }
        first[done] = (double)(lo - t0) / 1000;
        last[done++] = (double)(hi - t0) / 1000;
        s_sleep_ms(150 + (r * 37) % 100); /* land at a different phase of the node's tick */
    }
    s_hc_free(&api);
    if (!done)
        return;
    sum->cool_p50 = s_pct(last, (size_t)done, 0.5);
    sum->cool_p99 = s_pct(last, (size_t)done, 0.99);
    sum->cool_max = s_pct(last, (size_t)done, 1.0);
    sum->cool_poll = poll_ms / (done + missed);
    sum->cool_rounds = done;
    sum->cool_missed = missed;
    sum->have_cool = true;
    printf("cooldown: %d rounds, %d nodes each polled every %d ms asked, %.1f ms achieved: known "
           "by all p50 %.1f ms, p99 %.1f ms, max %.1f ms (first node to know p50 %.1f ms); %d "
           "rounds failed\n",
           done, mb->n - 1, mb->o.poll_ms, sum->cool_poll, sum->cool_p50, sum->cool_p99,
           sum->cool_max, s_pct(first, (size_t)done, 0.5), missed);
    fflush(stdout);
}

static void s_bench_ttfb(mb_t *mb, mb_summary_t *sum)
{
    hc_t b, a; /* b owns the tab; a reaches it through one mesh hop */
    s_hc_init(&b, mb->nodes[0].http_port);
    s_hc_init(&a, mb->nodes[1].http_port);
    abuf_t req = ABUF_INIT;
    s_chat_request(&req, "fake-chat", true, "probe [[fake:text]]");
    size_t n = (size_t)mb->o.samples;
    double *sb = calloc(n, sizeof *sb), *sa = calloc(n, sizeof *sa);
    size_t nb = 0, na = 0;
    unsigned long errors = 0;
    long long until = s_now_us() + MB_TTFB_MAX_S * 1000000LL;
    for (size_t i = 0; sb && sa && i < n + 20 && s_now_us() < until; i++) {
        hc_t *order[2] = {i % 2 ? &a : &b, i % 2 ? &b : &a};
        for (int k = 0; k < 2; k++) {
            hc_t *c = order[k];
            if (s_hc_roundtrip(c, req.data, req.len) < 0 || c->status != 200) {
                errors++;
                continue;
            }
            if (i < 20)
                continue; /* warm-up */
            double ms = (double)(c->t_first - c->t_sent) / 1000;
            if (c == &b)
                sb[nb++] = ms;
            else
                sa[na++] = ms;
        }
    }
    if (nb && na) {
        sum->ttfb_b50 = s_pct(sb, nb, 0.5);
        sum->ttfb_b99 = s_pct(sb, nb, 0.99);
        sum->ttfb_a50 = s_pct(sa, na, 0.5);
        sum->ttfb_a99 = s_pct(sa, na, 0.99);
        sum->have_ttfb = true;
        printf("ttfb: %zu + %zu streaming probes one at a time, interleaved: at the tab's node p50 "
               "%.3f ms, p99 %.3f ms; one mesh hop away p50 %.3f ms, p99 %.3f ms; the hop adds "
               "%.3f ms at p50; %lu errors\n",
               nb, na, sum->ttfb_b50, sum->ttfb_b99, sum->ttfb_a50, sum->ttfb_a99,
               sum->ttfb_a50 - sum->ttfb_b50, errors);
        fflush(stdout);
    }
    free(sb);
    free(sa);
    abuf_free(&req);
    s_hc_free(&a);
    s_hc_free(&b);
}

/* ---- forward: concurrent streams through one hop ---- */

typedef enum { FE_STATUS, FE_IO, FE_STALL, FE_LOST, FE_N } fs_err_t;
static const char *const s_fe_names[FE_N] = {"status", "io", "stall", "lost"};

typedef struct {
    int fd;
    abuf_t rx;
    long long t_sent; /* µs */
    bool busy;
    int redials; /* in a row without an answer byte */
} fs_conn_t;

typedef struct {
    int port;
    int ep;
    fs_conn_t *c;
    int n;
    const char *req;
    size_t req_len;
    const char *expect;
    unsigned long done, errors[FE_N];
    unsigned long status_seen[6]; /* 1xx..5xx of the errors */
    char first_error[200];
} fs_run_t;

/*  utime + stime of pid in ms (/proc/PID/stat), -1 when unreadable. */
static long long s_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static void s_fs_close(fs_run_t *r, fs_conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
}

static int s_fs_send(fs_run_t *r, fs_conn_t *c)
{
    if (c->fd < 0) {
        hc_t h;
        s_hc_init(&h, r->port);
        if (s_hc_connect(&h) < 0)
            return -1;
        c->fd = h.fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            s_fs_close(r, c);
            return -1;
        }
    }
    abuf_reset(&c->rx);
    c->t_sent = s_now_us();
    size_t off = 0;
    while (off < r->req_len) {
        ssize_t n = send(c->fd, r->req + off, r->req_len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && poll(&p, 1, MB_IO_MS) > 0)
            continue;
        s_fs_close(r, c);
        return -1;
    }
    c->busy = true;
    return 0;
}

static void s_fs_error(fs_run_t *r, fs_err_t kind, const char *what)
{
    r->errors[kind]++;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof r->first_error, "%s: %.180s", s_fe_names[kind], what);
}

/*  The content of an SSE answer (each "content":"…" joined; the words hold
    no escapes) into text; true when it ended with [DONE]. */
static bool s_fs_content(const char *body, abuf_t *text)
{
    static const char key[] = "\"content\":\"";
    for (const char *p = body; (p = strstr(p, key));) {
        p += sizeof key - 1;
        const char *q = strchr(p, '"');
        if (!q)
            break;
        abuf_append(text, p, (size_t)(q - p));
        p = q;
    }
    return strstr(body, "data: [DONE]") != NULL;
}

/*  One complete response on c: checked and counted. */
static void s_fs_complete(fs_run_t *r, fs_conn_t *c, int status, const char *body, size_t blen)
{
    abuf_t plain = ABUF_INIT, text = ABUF_INIT;
    if (status != 200) {
        char what[160];
        snprintf(what, sizeof what, "HTTP %d %.120s", status, body);
        s_fs_error(r, FE_STATUS, what);
        if (status >= 100 && status < 600)
            r->status_seen[status / 100]++;
    } else if (s_dechunk(body, blen, &plain) != 1) {
        s_fs_error(r, FE_IO, "malformed chunked body");
    } else {
        bool done = s_fs_content(plain.data ? plain.data : "", &text);
        if (!done || !text.data || strcmp(text.data, r->expect) != 0) {
            char what[160];
            snprintf(what, sizeof what, "%s, got \"%.100s\"", done ? "words lost" : "no [DONE]",
                     text.data ? text.data : "");
            s_fs_error(r, FE_LOST, what);
        } else {
            r->done++;
        }
    }
    abuf_free(&plain);
    abuf_free(&text);
    c->busy = false;
    (void)c;
}

/*  Reads c: a response may complete (then counted). */
static void s_fs_read(fs_run_t *r, fs_conn_t *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            c->redials = 0;
            if (abuf_append(&c->rx, buf, (size_t)n) < 0)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            char *end = c->rx.data ? strstr(c->rx.data, "\r\n\r\n") : NULL;
            if (!end)
                return;
            int status = atoi(c->rx.data + 9);
            const char *body = end + 4;
            size_t blen = c->rx.len - (size_t)(body - c->rx.data);
            char *cl = strcasestr(c->rx.data, "content-length:");
            if (cl && cl < end) { /* an error answer */
                if ((long long)blen < atoll(cl + 15))
                    return;
                s_fs_complete(r, c, status, body, blen);
                return;
            }
            if (status == 200 && s_dechunk(body, blen, NULL) == 0)
                return;
            s_fs_complete(r, c, status, body, blen);
            return;
        }
        break; /* closed or failed */
    }
    bool stale = c->rx.len == 0 && c->redials++ < 3; /* a keep-alive the server closed */
    s_fs_close(r, c);
    if (stale) {
        c->busy = true; /* re-sent below by the loop */
        c->t_sent = 0;
        return;
    }
    s_fs_error(r, FE_IO, "connection closed mid-answer");
}

/*  C connections in a closed loop for `seconds` at port; then waits for
    what runs. */
static void s_fs_run(fs_run_t *r, int seconds)
{
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->c = calloc((size_t)r->n, sizeof *r->c);
    if (r->ep < 0 || !r->c) {
        fprintf(stderr, "forward: out of memory\n");
        return;
    }
    for (int i = 0; i < r->n; i++)
        r->c[i].fd = -1;
    long long until = s_now_us() + seconds * 1000000LL;
    struct epoll_event evs[256];
    for (;;) {
        long long now = s_now_us();
        bool running = now < until, any = false;
        for (int i = 0; i < r->n; i++) {
            fs_conn_t *c = &r->c[i];
            if (c->busy && c->t_sent && now - c->t_sent > MB_FWD_STALL_MS * 1000LL) {
                s_fs_error(r, FE_STALL, "no whole answer in 30 s");
                s_fs_close(r, c);
            }
            if (c->busy && !c->t_sent && s_fs_send(r, c) < 0) /* a stale keep-alive: again */
                s_fs_error(r, FE_IO, "cannot connect or send");
            if (!c->busy && running && s_fs_send(r, c) < 0)
                s_fs_error(r, FE_IO, "cannot connect or send");
            any = any || c->busy;
        }
        if (!running && !any)
            break;
        int k = epoll_wait(r->ep, evs, 256, 100);
        for (int i = 0; i < k; i++)
            s_fs_read(r, evs[i].data.ptr);
    }
    for (int i = 0; i < r->n; i++) {
        s_fs_close(r, &r->c[i]);
        abuf_free(&r->c[i].rx);
    }
    free(r->c);
    close(r->ep);
}

typedef struct {
    unsigned long streams, errors;
    double cpu_a, cpu_b; /* ms per 1,000 streams */
} fs_phase_t;

static unsigned long s_fs_errors(const fs_run_t *r)
{
    unsigned long e = 0;
    for (int k = 0; k < FE_N; k++)
        e += r->errors[k];
    return e;
}

static void s_fs_phase(mb_t *mb, int port, const char *name, fs_phase_t *out)
{
    char expect[MB_FWD_WORDS * 4 + 1] = "", prompt[256];
    for (int w = 1; w <= MB_FWD_WORDS; w++) {
        char word[8];
        snprintf(word, sizeof word, w < MB_FWD_WORDS ? "w%02d " : "w%02d", w);
        strcat(expect, word);
    }
    snprintf(prompt, sizeof prompt, "bench [[fake:text text=\\\"%s\\\" piece=4]]", expect);
    abuf_t req = ABUF_INIT;
    s_chat_request(&req, "fake-chat", true, prompt);
    fs_run_t r = {.port = port,
                  .n = mb->o.concurrency,
                  .req = req.data,
                  .req_len = req.len,
                  .expect = expect};
    pid_t a = mb->nodes[1].pid, b = mb->nodes[0].pid;
    long long a0 = s_cpu_ms(a), b0 = s_cpu_ms(b), t0 = s_now_us();
    s_fs_run(&r, mb->o.seconds);
    long long a1 = s_cpu_ms(a), b1 = s_cpu_ms(b), t1 = s_now_us();
    unsigned long n = r.done ? r.done : 1;
    out->streams = r.done;
    out->errors = s_fs_errors(&r);
    out->cpu_a = (double)(a1 - a0) * 1000.0 / (double)n;
    out->cpu_b = (double)(b1 - b0) * 1000.0 / (double)n;
    printf("forward: %s: %d concurrent streams for %d s (%.1f s with the drain): %lu whole "
           "answers (%.0f/s), %lu errors (status %lu, io %lu, stall %lu, lost %lu)%s%s; CPU per "
           "1,000 streams: %s %.1f ms, %s %.1f ms\n",
           name, r.n, mb->o.seconds, (double)(t1 - t0) / 1e6, r.done,
           (double)r.done / ((double)(t1 - t0) / 1e6), out->errors, r.errors[FE_STATUS],
           r.errors[FE_IO], r.errors[FE_STALL], r.errors[FE_LOST],
           r.first_error[0] ? "; first: " : "", r.first_error, mb->nodes[1].name, out->cpu_a,
           mb->nodes[0].name, out->cpu_b);
    fflush(stdout);
    abuf_free(&req);
}

static void s_bench_forward(mb_t *mb, mb_summary_t *sum)
{
    s_sleep_ms(1000); /* the joins are over */
    printf("forward: the tab is on %s (pid %d), requests go to %s (pid %d, no tab), then to %s "
           "directly\n",
           mb->nodes[0].name, (int)mb->nodes[0].pid, mb->nodes[1].name, (int)mb->nodes[1].pid,
           mb->nodes[0].name);
    fflush(stdout);
    fs_phase_t hop, direct;
    s_fs_phase(mb, mb->nodes[1].http_port, "one hop", &hop);
    s_fs_phase(mb, mb->nodes[0].http_port, "direct", &direct);
    sum->fwd_streams = hop.streams;
    sum->fwd_errors = hop.errors;
    sum->fwd_cpu_a = hop.cpu_a;
    sum->fwd_cpu_b = hop.cpu_b;
    sum->direct_streams = direct.streams;
    sum->direct_errors = direct.errors;
    sum->direct_cpu = direct.cpu_b;
    sum->have_fwd = true;
}

typedef struct {
    char id[MB_ID_MAX];
} mb_dead_arg_t;

static bool s_check_dead(void *arg, int idx, json_t *doc)
{
    (void)idx;
    json_t *e = s_entry(doc, ((mb_dead_arg_t *)arg)->id);
    const char *state = json_string_value(json_object_get(e, "state"));
    return state && strcmp(state, "dead") == 0;
}

static int s_replace(mb_t *mb, int idx)
{
    mb_node_t *nd = &mb->nodes[idx];
    if (s_node_spawn(mb, nd, mb->nodes[0].mesh_port, false) < 0 ||
        s_node_ready(nd, s_now_us() + MB_READY_MS * 1000LL) < 0) {
        fprintf(stderr, "mesh-bench: the replacement node %s did not start\n", nd->name);
        return -1;
    }
    return s_converge(mb, "replacement joined");
}

static void s_bench_dead(mb_t *mb, mb_summary_t *sum)
{
    double all[16], first[16];
    int done = 0, missed = 0;
    for (int r = 0; r < mb->o.dead_rounds && r < 16; r++) {
        int victim = mb->n - 1 - r % (mb->n - 2); /* never the seed, never the hop node */
        mb_dead_arg_t arg;
        snprintf(arg.id, sizeof arg.id, "%s", mb->nodes[victim].id);
        s_node_kill9(&mb->nodes[victim]);
        long long t0 = s_now_us();
        bool which[MB_MAX_NODES];
        long long at[MB_MAX_NODES];
        s_all_but(mb, which, victim);
        int got = s_poll_until(mb, which, MB_DEAD_POLL_MS, t0 + MB_DEAD_WAIT_MS * 1000LL,
                               s_check_dead, &arg, at);
        if (got < mb->n - 1) {
            fprintf(stderr, "dead: round %d: %d of %d nodes saw it dead within %d s\n", r, got,
                    mb->n - 1, MB_DEAD_WAIT_MS / 1000);
            missed++;
        } else {
            long long lo = -1, hi = -1;
            for (int i = 0; i < mb->n; i++) {
                if (i == victim)
                    continue;
                if (lo < 0 || at[i] < lo)
                    lo = at[i];
                hi = at[i] > hi ? at[i] : hi;
            }
            first[done] = (double)(lo - t0) / 1e6;
            all[done++] = (double)(hi - t0) / 1e6;
            printf("dead: round %d: %s killed; first node knew after %.2f s, all %d after %.2f s\n",
                   r, mb->nodes[victim].name[0] ? mb->nodes[victim].name : "?", first[done - 1],
                   mb->n - 1, all[done - 1]);
            fflush(stdout);
        }
        if (r + 1 < mb->o.dead_rounds && s_replace(mb, victim) < 0)
            break;
    }
    if (!done)
        return;
    sum->dead_p50 = s_pct(all, (size_t)done, 0.5);
    sum->dead_max = s_pct(all, (size_t)done, 1.0);
    sum->dead_rounds = done;
    sum->dead_missed = missed;
    sum->have_dead = true;
    printf("dead: %d rounds, %d nodes polled each every %d ms: shown dead by all after p50 %.2f s, "
           "max %.2f s (first node p50 %.2f s); %d rounds failed\n",
           done, mb->n - 1, MB_DEAD_POLL_MS, sum->dead_p50, sum->dead_max,
           s_pct(first, (size_t)done, 0.5), missed);
    fflush(stdout);
}

static const char *s_verdict(bool ok)
{
    return ok ? "met" : "MISSED";
}

static void s_summary(const mb_t *mb, const mb_summary_t *s)
{
    printf("summary (%d nodes):\n", mb->o.nodes);
    if (s->have_cool)
        printf("  cooldown known by all   p50 %7.1f ms   p99 %7.1f ms   target p99 < 500 ms: %s\n",
               s->cool_p50, s->cool_p99, s_verdict(s->cool_p99 < 500 && !s->cool_missed));
    if (s->have_dead)
        printf("  dead shown by all       p50 %7.2f s    max %7.2f s    target <= 6 s: %s\n",
               s->dead_p50, s->dead_max, s_verdict(s->dead_max <= 6.0 && !s->dead_missed));
    if (s->have_gossip)
        printf("  idle gossip per node    med %7.2f KB/s max %7.2f KB/s target < 20 KB/s: %s\n",
               s->kb_med, s->kb_max, s_verdict(s->kb_max < 20));
    if (s->have_ttfb)
        printf("  ttfb direct / one hop   p50 %.3f / %.3f ms, p99 %.3f / %.3f ms; hop adds %.3f ms "
               "target < 1 ms: %s\n",
               s->ttfb_b50, s->ttfb_a50, s->ttfb_b99, s->ttfb_a99, s->ttfb_a50 - s->ttfb_b50,
               s_verdict(s->ttfb_a50 - s->ttfb_b50 < 1.0));
    if (s->have_fwd) {
        printf("  forward errors          %lu of %lu via one hop, %lu of %lu direct      target "
               "0: %s\n",
               s->fwd_errors, s->fwd_streams + s->fwd_errors, s->direct_errors,
               s->direct_streams + s->direct_errors, s_verdict(s->fwd_errors == 0));
        printf("  CPU per 1,000 streams   hop node %.1f ms, tab node %.1f ms (forwarded); tab "
               "node %.1f ms (direct)\n",
               s->fwd_cpu_a, s->fwd_cpu_b, s->direct_cpu);
        printf("  the hop's CPU per stream %.1f ms (hop node) + %.1f ms (tab node's extra) = "
               "%.1f ms; the direct path's %.1f ms  target hop <= direct: %s\n",
               s->fwd_cpu_a, s->fwd_cpu_b - s->direct_cpu,
               s->fwd_cpu_a + s->fwd_cpu_b - s->direct_cpu, s->direct_cpu,
               s_verdict(s->fwd_cpu_a + s->fwd_cpu_b - s->direct_cpu <= s->direct_cpu));
    }
    fflush(stdout);
}

static void s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int s_usage(void)
{
    fprintf(stderr,
            "usage: mesh-bench [--node PATH] [--nodes N (3..%d)] [--rounds N (1..%d)] "
            "[--dead-rounds N (0..16)] [--idle SECONDS] [--samples N] [--poll-ms MS] "
            "[--only gossip|cooldown|ttfb|dead|forward] [--concurrency N] [--seconds S] "
            "[--secret S]\n",
            MB_MAX_NODES, MB_MAX_ROUNDS);
    return 64;
}

static int s_parse(int argc, char **argv, mb_opts_t *o)
{
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        if (strcmp(k, "--node") == 0)
            o->node_path = v;
        else if (strcmp(k, "--only") == 0)
            o->only = v;
        else if (strcmp(k, "--nodes") == 0)
            o->nodes = atoi(v);
        else if (strcmp(k, "--rounds") == 0)
            o->rounds = atoi(v);
        else if (strcmp(k, "--dead-rounds") == 0)
            o->dead_rounds = atoi(v);
        else if (strcmp(k, "--idle") == 0)
            o->idle = atoi(v);
        else if (strcmp(k, "--samples") == 0)
            o->samples = atoi(v);
        else if (strcmp(k, "--poll-ms") == 0)
            o->poll_ms = atoi(v);
        else if (strcmp(k, "--concurrency") == 0)
            o->concurrency = atoi(v);
        else if (strcmp(k, "--seconds") == 0)
            o->seconds = atoi(v);
        else if (strcmp(k, "--secret") == 0)
            o->secret = v;
        else
            return -1;
    }
    bool only_ok = !o->only || strcmp(o->only, "gossip") == 0 || strcmp(o->only, "cooldown") == 0 ||
                   strcmp(o->only, "ttfb") == 0 || strcmp(o->only, "dead") == 0 ||
                   strcmp(o->only, "forward") == 0;
    bool forward = o->only && strcmp(o->only, "forward") == 0;
    if (o->nodes < (forward ? 2 : 3) || o->concurrency < 1 || o->concurrency > 4096 ||
        o->seconds < 1 || o->seconds > 3600 || o->nodes > MB_MAX_NODES || o->rounds < 1 ||
        o->rounds > MB_MAX_ROUNDS || o->dead_rounds < 0 || o->dead_rounds > 16 || o->idle < 1 ||
        o->idle > 600 || o->samples < 1 || o->samples > 1000000 || o->poll_ms < 1 ||
        o->poll_ms > 1000 || !only_ok)
        return -1;
    return 0;
}

static bool s_wanted(const mb_t *mb, const char *what)
{
    return !mb->o.only || strcmp(mb->o.only, what) == 0;
}

int main(int argc, char **argv)
{
    mb_t mb = {0};
    mb.o = (mb_opts_t){"build/arena-node", NULL, 32, 20, 3, 10, 1000, 5, 200, 60, NULL};
    if (s_parse(argc, argv, &mb.o) < 0)
        return s_usage();
    signal(SIGPIPE, SIG_IGN);
    s_raise_nofile();
    alog_set_level(ALOG_WARN);
    fake_link_model_t models[MB_MAX_ROUNDS];
    char names[MB_MAX_ROUNDS][32];
    mb_summary_t sum = {0};
    long long t_start = s_now_us();
    int rc = 1;
    if (s_start_mesh(&mb) < 0 || s_start_fake(&mb, models, names) < 0 ||
        s_converge(&mb, "mesh formed") < 0)
        goto done;
    printf("mesh-bench: %d arena-node processes (first: %s, pid %d, holds the one fake tab)\n",
           mb.n, mb.nodes[0].name, (int)mb.nodes[0].pid);
    fflush(stdout);
    if (s_wanted(&mb, "gossip"))
        s_bench_gossip(&mb, &sum);
    if (s_wanted(&mb, "cooldown"))
        s_bench_cooldown(&mb, &sum);
    if (s_wanted(&mb, "ttfb"))
        s_bench_ttfb(&mb, &sum);
    if (s_wanted(&mb, "dead") && mb.o.dead_rounds > 0)
        s_bench_dead(&mb, &sum);
    if (s_forward_mode(&mb)) /* never in the default run: it needs the tabs it asked for */
        s_bench_forward(&mb, &sum);
    s_summary(&mb, &sum);
    rc = 0;
done:
    fake_link_destroy(&mb.fake);
    if (s_stop_all(&mb) > 0)
        rc = 1;
    printf("mesh-bench: done in %.0f s\n", (double)(s_now_us() - t_start) / 1e6);
    return rc;
}
