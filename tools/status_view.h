/*  status_view — the logic of the operator tool `arena-mesh`.

    Owns: the command line (options, environment defaults), the HTTP GET of a
    node's `/mesh/status` (libcurl, bounded body, timeouts), the view of that
    document (parsed by protocol/status_doc) a display needs, and every rendering of it: the status
   table, the model × node matrix, the models JSON and the pretty-printed status JSON.

    The status document is untrusted: parsing only fails on JSON syntax (or a
    body that is not UTF-8 JSON); a field that is missing or of the wrong type
    is recorded as unknown and renders as "?". Strings shown in tables are
    stripped of control characters and clipped, so a hostile peer name cannot
    drive the terminal. Every renderer appends to a caller-owned abuf_t and
    returns 0, or -1 when the buffer refuses the bytes.

    Threading: no shared state; every call works on its own arguments.
    mesh_http_get() needs curl_global_init() to have been called once by the
    process (arena_mesh.c does it; the unit test does it in main). */
#ifndef ARENA_TOOLS_STATUS_VIEW_H
#define ARENA_TOOLS_STATUS_VIEW_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "protocol/abuf.h"
#include "protocol/status_doc.h"

#define STATUS_VIEW_DEFAULT_NODE "http://127.0.0.1:5102"
#define STATUS_VIEW_MAX_BODY ((size_t)8 * 1024 * 1024) /* largest accepted answer */
#define STATUS_VIEW_TIMEOUT_MS 5000L                   /* connect and total */
#define STATUS_VIEW_MAX_NODES 256                      /* nodes kept from one answer */
#define STATUS_VIEW_MAX_MODELS 1024                    /* models kept per node */
#define STATUS_VIEW_MAX_ROWS 2048                      /* distinct models in the matrix */
#define STATUS_VIEW_CELL_COLS 48                       /* a name is clipped to this */
#define STATUS_VIEW_UNKNOWN (-1LL)                     /* a number that was missing or invalid */
#define STATUS_VIEW_DURATION_MAX 32                    /* buffer size for a formatted duration */

/*  Exit codes of arena-mesh. */
#define MESH_EXIT_OK 0
#define MESH_EXIT_FAIL 2 /* node unreachable, error answer, malformed or oversized body */
#define MESH_EXIT_USAGE 64
#define MESH_EXIT_INTERRUPTED 130 /* SIGINT during a single fetch (a watch exits 0) */

/* ---- the parsed /mesh/status view ---------------------------------------- */

/*  What the tables need of a protocol/status_doc document. Strings are
    borrowed from the document (NULL when the field was missing or not a
    string); numbers are STATUS_VIEW_UNKNOWN when missing, not a number,
    negative or above 2^53. */
typedef struct {
    const char *name;
    const char *modality;
    long long cooled_remaining_ms;
    const char *display_name; /* the site's label; NULL when absent, null or empty */
} status_view_model_t;

/*  One LMArena account a node's tabs are on (docs/upstream.md, pacing). */
typedef struct {
    const char *id;         /* the pace key: a 32-hex hash or "tab:<id>" */
    long long next_slot_ms; /* until its next pace slot (0: free) */
    long long flag_ms;      /* LMArena's flag left (0: none) */
} status_view_account_t;

#define STATUS_VIEW_MAX_ACCOUNTS 64 /* accounts kept per node */

typedef struct {
    const char *id;
    const char *name;
    const char *address;
    const char *http;
    const char *state; /* alive | suspect | unreachable | dead | left, or anything a peer sent */
    bool is_self;      /* "self": true, or id equal to the document's "self" */
    long long age_ms;
    bool never_heard;        /* "age_ms": null — not heard from directly (an unreachable peer) */
    const char *reported_by; /* id of the member that reports an unreachable peer, or NULL */
    bool indirect;           /* "indirect": true — alive only through other members' probes */
    long long uptime_ms;
    long long tabs_count;
    long long tabs_healthy;
    long long inflight;
    long long queued;
    long long capacity;
    long long node_cooled_remaining_ms;
    bool has_models; /* "models" was an array */
    status_view_model_t *models;
    size_t model_count;
    size_t models_dropped; /* beyond STATUS_VIEW_MAX_MODELS, or not objects */
    status_view_account_t *accounts;
    size_t account_count;
} status_view_node_t;

typedef struct {
    const char *self_id;
    long long generated_ms;
    bool has_nodes; /* "nodes" was an array */
    status_view_node_t *nodes;
    size_t node_count;
    size_t nodes_dropped; /* beyond STATUS_VIEW_MAX_NODES, or not objects */
    status_doc_t *doc;    /* the parsed document: owns every string above */
} status_view_t;

/*  Parses a status document. Returns NULL on a JSON syntax error or
    allocation failure, with a one-line reason in err (may be NULL). */
status_view_t *status_view_parse(const char *text, size_t len, char *err, size_t err_len);
void status_view_destroy(status_view_t **self_p);

/*  Effective availability of one model on one node: a whole-node cooldown
    cools every model of that node. */
typedef enum {
    MESH_CELL_ABSENT = 0, /* not served there */
    MESH_CELL_OK,
    MESH_CELL_COOLING,
    MESH_CELL_UNKNOWN /* a cooldown field was missing or invalid */
} mesh_cell_state_t;

/*  *remaining_ms gets the effective cooldown (0 when OK, unknown otherwise). */
mesh_cell_state_t status_view_model_state(const status_view_node_t *node,
                                          const status_view_model_t *model,
                                          long long *remaining_ms);

/* ---- rendering ------------------------------------------------------------ */

/*  "?" for a negative value; "0s", "3.2s", "42s", "5m", "29m59s", "2h5m",
    "3d4h" (each unit floored). Writes at most buf_len bytes, NUL-terminated. */
const char *status_view_format_duration(long long ms, char *buf, size_t buf_len);

/*  Display columns of a UTF-8 string as a terminal shows it: East Asian wide
    characters and emoji count 2, combining marks 0, other code points 1, and
    each byte of an invalid sequence 1. */
size_t status_view_display_width(const char *s);

/*  NODE ADDRESS STATE AGE TABS LOAD MODELS COOLED, then a summary line, then
    for each unreachable node a line starting "! " saying what to check, then
    (when any node reports accounts) ACCOUNT NODE NEXT-SLOT FLAGGED: each
    account's next free pace slot ("now", "41s") and its flag ("-", "29m"). */
int status_view_render_status(const status_view_t *view, abuf_t *out);
/*  MODEL MODALITY <node>..., rows sorted by name; cells ok / cool 12m / - / ?.
    A model whose display name (the first any node gives) differs from its
    name shows it after the name: "gpt-5-high (GPT-5)". */
int status_view_render_models(const status_view_t *view, abuf_t *out);
/*  {"models":[{"name","display_name","modality","nodes":[{"node","node_state",
    "state","cooled_remaining_ms"}]}]} with state ok | cooling | absent |
    unknown; display_name is null when no node gives one. */
int status_view_render_models_json(const status_view_t *view, abuf_t *out);
/*  Re-indents a JSON text that status_view_parse() accepted, by two spaces,
    with jansson (key order kept; numbers in jansson's spelling). */
int status_view_render_json_pretty(const char *text, size_t len, abuf_t *out);

/*  The one-line reason of a non-200 answer: "<url> answered HTTP <status>"
    plus ": <error.message>" from an OpenAI-shaped body, and a hint for 401. */
int status_view_describe_http_error(const char *url, long status, const char *body, size_t len,
                                    abuf_t *out);

/* ---- HTTP ------------------------------------------------------------------ */

typedef enum {
    MESH_HTTP_OK = 0,           /* an answer arrived; look at status */
    MESH_HTTP_UNREACHABLE = -1, /* refused, timed out, name not resolved */
    MESH_HTTP_TOOBIG = -2,      /* body above max_body */
    MESH_HTTP_CANCELLED = -3,   /* *cancel became non-zero */
    MESH_HTTP_ERROR = -4        /* anything else (bad URL, TLS, allocation) */
} mesh_http_rc_t;

typedef struct {
    long status;
    char *body; /* NUL-terminated, owned: mesh_http_response_free() */
    size_t len;
} mesh_http_response_t;

typedef struct {
    const char *api_key;                 /* sent as "Authorization: Bearer KEY"; NULL: none */
    long timeout_ms;                     /* connect and total; <= 0: STATUS_VIEW_TIMEOUT_MS */
    size_t max_body;                     /* 0: STATUS_VIEW_MAX_BODY */
    const volatile sig_atomic_t *cancel; /* polled during the transfer; may be NULL */
    const char *display;                 /* the URL that "cannot reach" names; NULL: url */
} mesh_http_opts_t;

/*  GET url. On MESH_HTTP_OK, *resp holds status and body; otherwise err holds
    a one-line message naming the URL (e.g. "cannot reach URL: Connection
    refused — is arena-node running?"). Redirects are not followed. */
mesh_http_rc_t mesh_http_get(const char *url, const mesh_http_opts_t *opts,
                             mesh_http_response_t *resp, char *err, size_t err_len);
/*  POST url with an empty body; otherwise as mesh_http_get. */
mesh_http_rc_t mesh_http_post(const char *url, const mesh_http_opts_t *opts,
                              mesh_http_response_t *resp, char *err, size_t err_len);
/*  method ("GET", "POST", "DELETE") with json_body (sent as
    application/json; NULL: none); otherwise as mesh_http_get. */
mesh_http_rc_t mesh_http_request(const char *url, const mesh_http_opts_t *opts, const char *method,
                                 const char *json_body, mesh_http_response_t *resp, char *err,
                                 size_t err_len);
void mesh_http_response_free(mesh_http_response_t *resp);

/* ---- command line --------------------------------------------------------- */

typedef enum { MESH_CMD_STATUS = 0, MESH_CMD_MODELS } mesh_cmd_t;

typedef enum {
    MESH_ARGS_RUN = 0,
    MESH_ARGS_HELP,
    MESH_ARGS_VERSION,
    MESH_ARGS_USAGE /* err holds the reason */
} mesh_args_rc_t;

typedef struct {
    mesh_cmd_t cmd;
    char node[512]; /* base URL without trailing '/' */
    char url[560];  /* node + "/mesh/status" */
    char api_key[512];
    bool has_api_key;
    bool json;
    bool watch;
    double watch_seconds; /* default 2 */
    bool refresh;         /* models --refresh: the node re-reads its tabs' pages first */
} mesh_args_t;

/*  Parses argv (argv[0] is the program). env_node / env_api_key are the values
    of ARENA_NODE / ARENA_API_KEY (NULL or "" when unset). */
mesh_args_rc_t mesh_args_parse(int argc, char **argv, const char *env_node, const char *env_api_key,
                               mesh_args_t *args, char *err, size_t err_len);
void mesh_args_usage(FILE *to);

/*  One fetch and render into out (the frame) or err (the one-line reason).
    Returns MESH_EXIT_OK, MESH_EXIT_FAIL, or MESH_EXIT_INTERRUPTED when
    *cancel was set during the fetch. */
int status_view_fetch_render(const mesh_args_t *args, const volatile sig_atomic_t *cancel,
                             abuf_t *out, abuf_t *err);

/*  models --refresh: POST /mesh/refresh-models, then wait (≤ 10 s) until the
    node's catalog is newer. MESH_EXIT_OK, or MESH_EXIT_FAIL with err (no tab
    connected, node unreachable, no new catalog in time). */
int status_view_refresh(const mesh_args_t *args, const volatile sig_atomic_t *cancel, abuf_t *err);

/*  The whole tool: parse arguments, run once or watch until *stop is set.
    Returns the process exit code. tty says whether out is a terminal (the
    watch mode then clears the screen between frames). */
int status_view_main(int argc, char **argv, const char *env_node, const char *env_api_key,
                     const volatile sig_atomic_t *stop, FILE *out, FILE *err, bool tty);

#endif
