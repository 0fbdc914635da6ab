/*  link — the browser-link server: a libwebsockets server in its own thread
    that userscript tabs connect to (LINK-PROTOCOL.md).

    The link thread owns the lws context and every connection. It checks the
    upgrade's Origin against the allow-list (403 otherwise), requires a
    `hello` with the node's token within hello_timeout_ms (close 4401
    otherwise), replies `welcome`, pings every ping_interval_ms and closes a
    tab silent for silent_close_ms, answers nothing else itself: every other
    frame goes to the node thread as text.

    Connections that have not said hello yet are *pending*: at most
    max_pending at once, apart from the tabs. One more closes the oldest
    pending connection (4429), so connections that never say hello can
    neither hold tabs out (they are not tabs) nor keep a new tab from
    connecting (it is the newest). A connection becomes a tab with a valid
    hello; past max_tabs the hello is refused (4429), unless it replaces a
    tab of the same id.

    Threading: link_new/link_send/link_pause/link_close_tab/link_recv/link_destroy are
    called from the node thread only. The node polls link_pipe() (a zsock,
    readable when events wait) in its zloop and drains it with link_recv.
    Node → link commands travel over the same inproc PAIR; the node wakes
    the link thread with lws_cancel_service(), which drains them in
    LWS_CALLBACK_EVENT_WAIT_CANCELLED. Sends never block: a full queue
    returns -1 and the caller fails that one job. */
#ifndef ARENA_LINK_H
#define ARENA_LINK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _link_t link_t;

/*  What a zero in link_config_t means (only max_pending is a node option:
    --link-max-pending, whose default is this one). */
#define LINK_DEFAULT_HELLO_TIMEOUT_MS 5000
#define LINK_DEFAULT_PING_INTERVAL_MS 15000
#define LINK_DEFAULT_SILENT_CLOSE_MS 45000
#define LINK_DEFAULT_MAX_TABS 256
#define LINK_DEFAULT_MAX_PENDING 32
#define LINK_DEFAULT_TAB_QUEUE_MAX 1024

typedef struct {
    const char *bind_addr;      /* required: the host of --link, e.g. "127.0.0.1" */
    int port;                   /* 0: pick a free port */
    const char *token;          /* required in hello */
    const char *node_name;      /* sent in welcome; NULL: "arena-node" */
    const char *const *origins; /* allowed Origin patterns; a "*." host prefix match sub-domains */
    size_t n_origins;
    size_t max_frame;     /* 0: FRAME_MAX; larger closes with 1009 */
    int hello_timeout_ms; /* 0: LINK_DEFAULT_HELLO_TIMEOUT_MS */
    int ping_interval_ms; /* 0: LINK_DEFAULT_PING_INTERVAL_MS */
    int silent_close_ms;  /* 0: LINK_DEFAULT_SILENT_CLOSE_MS */
    size_t max_tabs;      /* connections past hello; 0: LINK_DEFAULT_MAX_TABS */
    size_t max_pending;   /* connections before hello; 0: LINK_DEFAULT_MAX_PENDING */
    size_t tab_queue_max; /* queued outbound frames per tab; 0: LINK_DEFAULT_TAB_QUEUE_MAX */
} link_config_t;

typedef enum {
    LINK_EV_HELLO, /* a tab passed hello: tab, href, ua */
    LINK_EV_FRAME, /* any later frame from that tab: tab, text/len (not yet decoded) */
    LINK_EV_GONE,  /* the tab's connection closed (or was replaced): tab, text = reason */
} link_ev_kind_t;

typedef struct {
    link_ev_kind_t kind;
    char *tab;  /* owned */
    char *href; /* owned, HELLO only; NULL when the tab sent none (or "") */
    char *ua;   /* owned, HELLO only; NULL when the tab sent none (or "") */
    char *text; /* owned, NUL-terminated */
    size_t len;
} link_event_t;

/*  Starts the thread and binds. NULL on failure (reason logged). */
link_t *link_new(const link_config_t *cfg);
void link_destroy(link_t **self_p);
/*  The bound port (after port 0). */
int link_port(link_t *self);
/*  Readable when link_recv has something. */
zsock_t *link_pipe(link_t *self);
/*  Non-blocking. 0 and ev filled, or -1 when nothing waits. */
int link_recv(link_t *self, link_event_t *ev);
void link_event_clear(link_event_t *ev);
/*  Queues one text frame for a tab. -1 when the queue is full (nothing sent). */
int link_send(link_t *self, const char *tab, const char *text, size_t len);
/*  Back-pressure: stops (paused) or resumes reading the tab's connection
    (lws rx flow control), so the tab's frames wait in the browser and TCP
    rather than in the node; a held tab is not closed as silent. Frames
    already read still arrive. -1 when the command could not be queued. */
int link_pause(link_t *self, const char *tab, bool paused);
/*  Closes a tab's connection with a WebSocket close code. */
int link_close_tab(link_t *self, const char *tab, int code, const char *reason);
/*  Allowed-origin matching (exposed for tests). */
int link_origin_allowed(const char *origin, const char *const *patterns, size_t n);

#endif
