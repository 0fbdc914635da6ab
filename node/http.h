/*  http — the libmicrohttpd front end: the OpenAI API and the node's pages.

    MHD runs in external-epoll mode inside the node thread's zloop: its epoll
    fd is a zloop poller and MHD_run is called on readiness and on the node's
    tick. Requests waiting for a job are suspended; the dispatcher's sink
    resumes them. Response headers go out only with the first content delta
    (the first-byte rule); a stream then drains through a content reader that
    suspends when its buffer is empty. Suspended connections are checked for
    a client that left (a peek at the socket on every tick), which cancels the
    job end to end. Owned by the node thread. */
#ifndef ARENA_HTTP_H
#define ARENA_HTTP_H

#include <czmq.h>
#include <stddef.h>

#include "node/config.h"
#include "node/dispatch.h"
#include "node/routes.h"
#include "protocol/abuf.h"

typedef struct _http_t http_t;

typedef struct {
    const char *host;
    int port; /* 0: pick */
    size_t max_body;
    int max_connections;
    const strlist_t *api_keys; /* empty: no auth */
    openai_limits_t limits;
    dispatch_t *dispatch; /* borrowed */
    /* the body of every route of node/routes.h but ROUTE_CHAT, written by the
       node; returns the HTTP status (*content_type starts as application/json) */
    int (*render)(void *arg, route_id_t route, abuf_t *out, const char **content_type);
    void *arg;
} http_config_t;

/*  Binds and adds MHD to loop. NULL on failure (logged). */
http_t *http_new(const http_config_t *cfg, zloop_t *loop);
/*  Resumes and ends every request, stops MHD. */
void http_destroy(http_t **self_p);
int http_port(const http_t *self);
/*  Call on the node's tick: runs MHD timers and looks for clients gone. */
void http_tick(http_t *self);
/*  Runs MHD now if a suspended connection was resumed since its last run;
    call after handling events that feed jobs (link frames). */
void http_kick(http_t *self);
/*  Runs MHD (and again while resumes keep arriving, bounded). */
void http_run(http_t *self);
/*  Stops accepting new connections (shutdown). */
void http_quiesce(http_t *self);
/*  Requests in progress (waiting or streaming). */
size_t http_active(const http_t *self);

#endif
