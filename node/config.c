/*  config — see config.h.

    Builds a config_t from four layers applied in order — defaults, the config
    file, ARENA_* variables, flags — so that each later layer wins per setting.
    A repeatable set on one layer replaces what lower layers gave (flags
    repeated on the command line accumulate within their layer).

    One table (s_opts) describes every setting: flag, variable, file key, kind,
    range, field and help text; parsing, validation, --help and the docs all
    follow it. argv is parsed by hand (no getopt state), so config_load may be
    called any number of times in one process. No globals; one caller per
    config_t. */
#include "node/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "browser_link/link.h"
#include "mesh/mesh.h"
#include "mesh/mesh_discover.h"
#include "node/browser.h"
#include "node/forward.h"
#include "node/items.h"
#include "node/target.h"
#include "node/usage.h"
#include "node/verdict.h"
#include "protocol/arena_payload.h"
#include "protocol/hostport.h"
#include "protocol/jsonc.h"
#include "protocol/openai.h"

#define S_FILE_MAX (1024 * 1024) /* bytes of config file */
#define S_LIST_MAX 256           /* items per repeatable */
#define S_PATH_MAX 4000          /* data dir / config file path */
#define S_WHO_MAX 512            /* "config file PATH: key \"x\"" */
#define S_DEFAULT_FILE "arena-node.jsonc"
#define S_SECRET_FILE "arena-mesh/mesh-secret" /* under XDG_CONFIG_HOME or ~/.config */

typedef enum {
    S_TEXT,  /* char * at off, checked by `check` */
    S_LIST,  /* strlist_t at off, each item checked by `check` */
    S_ADDR,  /* bind HOST:PORT: char *host at off, int port at off2 */
    S_INT,   /* int at off in [min, max] */
    S_SIZE,  /* size_t at off in [min, max], optional k/m/g suffix */
    S_BOOL,  /* bool at off */
    S_LEVEL, /* alog_level_t at off */
    S_ACTION /* --help, --version: flags only */
} s_kind_t;

typedef enum {
    S_CHECK_NONE,
    S_CHECK_WORD,     /* 1..max printable characters, no spaces */
    S_CHECK_PATH,     /* 1..max characters, no control characters */
    S_CHECK_ORIGIN,   /* http(s)://host[:port] */
    S_CHECK_HOSTPORT, /* HOST:PORT with a port 1..65535 */
    S_CHECK_ALIAS,    /* ALIAS=MODEL, both sides non-empty, no spaces */
    S_CHECK_MODE,     /* an LMArena mode token: [a-z0-9-], under ARENA_MODE_MAX */
    S_CHECK_ONOFF,    /* "on" or "off" */
    S_CHECK_WINDOW,   /* COUNT/SECONDS, both positive */
    S_CHECK_HTTPNAME, /* a host name the HTTP front end answers to: HOST or HOST:PORT */
    S_CHECK_CORS,     /* an origin as S_CHECK_ORIGIN, or "*" */
    S_CHECK_PRICE,    /* MODEL=PROMPT/COMPLETION dollars per million tokens (node/usage.h) */
} s_check_t;

typedef enum {
    OPT_NAME,
    OPT_DATA,
    OPT_CONFIG,
    OPT_HTTP,
    OPT_LINK,
    OPT_MESH,
    OPT_ADVERTISE,
    OPT_SEED,
    OPT_DISCOVER,
    OPT_MESH_SECRET,
    OPT_MESH_SECRET_FILE,
    OPT_LINK_TOKEN,
    OPT_LINK_ORIGIN,
    OPT_ARENA_ORIGIN,
    OPT_API_KEY,
    OPT_ADMIN_KEY,
    OPT_ALLOW_ANONYMOUS,
    OPT_HTTP_NAME, /* the browser boundary (docs/operations.md, "Security") */
    OPT_CORS_ORIGIN,
    OPT_METRICS_PUBLIC,
    OPT_BODY_BUDGET,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_HELP,
    OPT_TAB_JOBS, /* first tuning extension */
    OPT_QUEUE,
    OPT_QUEUE_TIMEOUT,
    OPT_MAX_BODY,
    OPT_MAX_MESSAGES,
    OPT_MAX_JSON_DEPTH,
    OPT_RETRIES,
    OPT_COOLDOWN_DEFAULT,
    OPT_FIRST_BYTE_TIMEOUT,
    OPT_STREAM_IDLE_TIMEOUT,
    OPT_MAX_CONNECTIONS,
    OPT_MODEL_ALIAS,
    OPT_MODEL_ALLOW,
    OPT_LINK_MAX_PENDING,
    OPT_RESPONSES_KEEP,
    OPT_RESPONSES_KEEP_BYTES,
    OPT_STREAM_BUFFER,
    OPT_USAGE_KEEP,
    OPT_USAGE_ROLLUP_KEEP,
    OPT_PRICE,
    OPT_GOSSIP_INTERVAL, /* first mesh timing setting */
    OPT_GOSSIP_FANOUT,
    OPT_PING_INTERVAL,
    OPT_PING_TIMEOUT,
    OPT_SUSPECT_AFTER,
    OPT_DEAD_AFTER,
    OPT_FORGET_AFTER,
    OPT_MESH_MAX_PEERS,
    OPT_MESH_MAX_NEW,
    OPT_MESH_DIAL_RATE,
    OPT_DISCOVER_PORT,
    OPT_DISCOVER_INTERFACE,
    OPT_FORWARD_ACCEPT_TIMEOUT,
    OPT_ARENA_MODE, /* first upstream (2026) setting */
    OPT_RECAPTCHA_BACKOFF_MAX,
    OPT_PACE,
    OPT_PACE_INTERVAL,
    OPT_PACE_WINDOW,
    OPT_BROWSER, /* first managed-browser setting */
    OPT_BROWSER_TABS,
    OPT_BROWSER_HEADLESS,
    OPT_BROWSER_PATH,
    OPT_BROWSER_STUCK,
    OPT__COUNT
} s_opt_id_t;

typedef struct {
    const char *flag;    /* without the leading "--" */
    const char *env;     /* NULL: no variable */
    const char *key;     /* config-file key; NULL: not allowed in the file */
    const char *alt_key; /* accepted synonym in the file, or NULL */
    s_kind_t kind;
    s_check_t check;
    long long min, max; /* S_INT/S_SIZE: range; S_TEXT/S_LIST: max length */
    bool secret;        /* never echoed in error messages */
    size_t off, off2;
    const char *metavar;
    const char *help;
    const char *def; /* the default, read like any value by s_defaults; NULL: none */
    const char *unit;
} s_opt_t;

/*  Columns: flag, variable, file key, file synonym, kind, check, min, max,
    secret, field offset(s), metavar, help, default, unit. This table is the
    one place a default is written: s_defaults applies the default column
    through the same parsers as a flag, --help prints it (or s_shown's words
    for a setting without a default value). */
#define S_OFF(field) offsetof(config_t, field)
#define S_STR_(x) #x
#define S_STR(x) S_STR_(x) /* a default for --help, from its macro */
#define S_MS_MAX 86400000LL

/*  Mesh timing bounds (docs/configuration.md says why): the mesh ticks every
    half of its shortest interval but never more often than every 5 ms, so
    an interval under 10 ms cannot be kept; silences under 100 ms would turn
    a busy loop turn into a suspicion; 1 h is the mesh engine's own limit. */
#define S_TICKED_MIN 10LL
#define S_SILENCE_MIN 100LL
#define S_MESH_MS_MAX 3600000LL

#define S_ADMIN_KEY_MIN 16 /* bytes: it can make every other key */

static const s_opt_t s_opts[OPT__COUNT] = {
    [OPT_NAME] = {"name", "ARENA_NAME", "name", NULL, S_TEXT, S_CHECK_WORD, 1, 64, false,
                  S_OFF(name), 0, "NAME", "node name shown in the mesh", NULL, NULL},
    [OPT_DATA] = {"data", "ARENA_DATA", "data", NULL, S_TEXT, S_CHECK_PATH, 1, S_PATH_MAX, false,
                  S_OFF(data_dir), 0, "DIR", "state directory, created if missing", "./data", NULL},
    [OPT_CONFIG] = {"config", "ARENA_CONFIG", NULL, NULL, S_TEXT, S_CHECK_PATH, 1, S_PATH_MAX,
                    false, S_OFF(config_file), 0, "FILE", "JSONC config file", NULL, NULL},
    [OPT_HTTP] = {"http", "ARENA_HTTP", "http", NULL, S_ADDR, S_CHECK_NONE, 0, 0, false,
                  S_OFF(http_host), S_OFF(http_port), "ADDR:PORT",
                  "OpenAI API, status, userscript, dashboard", "127.0.0.1:5102", NULL},
    [OPT_LINK] = {"link", "ARENA_LINK", "link", NULL, S_ADDR, S_CHECK_NONE, 0, 0, false,
                  S_OFF(link_host), S_OFF(link_port), "ADDR:PORT", "browser-link WebSocket",
                  "127.0.0.1:5103", NULL},
    [OPT_MESH] = {"mesh", "ARENA_MESH", "mesh", NULL, S_ADDR, S_CHECK_NONE, 0, 0, false,
                  S_OFF(mesh_host), S_OFF(mesh_port), "ADDR:PORT", "mesh ROUTER bind",
                  "127.0.0.1:5104", NULL},
    [OPT_ADVERTISE] = {"advertise", "ARENA_ADVERTISE", "advertise", NULL, S_TEXT, S_CHECK_HOSTPORT,
                       1, HOSTPORT_MAX, false, S_OFF(advertise), 0, "HOST:PORT",
                       "mesh address peers should dial", NULL, NULL},
    [OPT_SEED] = {"seed", "ARENA_SEED", "seed", "seeds", S_LIST, S_CHECK_HOSTPORT, 1, HOSTPORT_MAX,
                  false, S_OFF(seeds), 0, "HOST:PORT", "a peer to join; repeatable", NULL, NULL},
    [OPT_DISCOVER] = {"discover", "ARENA_DISCOVER", "discover", NULL, S_BOOL, S_CHECK_NONE, 0, 0,
                      false, S_OFF(discover), 0, NULL,
                      "find the mesh's nodes on this LAN by UDP broadcast (needs a shared secret)",
                      "off", NULL},
    [OPT_MESH_SECRET] = {"mesh-secret", "ARENA_MESH_SECRET", "mesh_secret", NULL, S_TEXT,
                         S_CHECK_WORD, 1, 1024, true, S_OFF(mesh_secret), 0, "SECRET",
                         "shared mesh secret: nodes on other machines may join", NULL, NULL},
    [OPT_MESH_SECRET_FILE] = {"mesh-secret-file", "ARENA_MESH_SECRET_FILE", "mesh_secret_file",
                              NULL, S_TEXT, S_CHECK_PATH, 1, S_PATH_MAX, false,
                              S_OFF(mesh_secret_file), 0, "FILE",
                              "file holding the mesh secret, created (0600) if missing", NULL,
                              NULL},
    [OPT_LINK_TOKEN] = {"link-token", "ARENA_LINK_TOKEN", "link_token", NULL, S_TEXT, S_CHECK_WORD,
                        1, 256, true, S_OFF(link_token), 0, "TOKEN", "fixed link token", NULL,
                        NULL},
    [OPT_LINK_ORIGIN] = {"link-origin", "ARENA_LINK_ORIGIN", "link_origin", "link_origins", S_LIST,
                         S_CHECK_ORIGIN, 1, 255, false, S_OFF(link_origins), 0, "ORIGIN",
                         "extra allowed page origin for the browser link; repeatable", NULL, NULL},
    [OPT_ARENA_ORIGIN] = {"arena-origin", "ARENA_ARENA_ORIGIN", "arena_origin", NULL, S_TEXT,
                          S_CHECK_ORIGIN, 1, 255, false, S_OFF(arena_origin), 0, "ORIGIN",
                          "LMArena origin the tabs are on", ARENA_ORIGIN_DEFAULT, NULL},
    [OPT_API_KEY] = {"api-key", "ARENA_API_KEYS", "api_key", "api_keys", S_LIST, S_CHECK_WORD, 1,
                     256, true, S_OFF(api_keys), 0, "KEY", "accepted bearer key; repeatable", NULL,
                     NULL},
    [OPT_ADMIN_KEY] = {"admin-key", "ARENA_ADMIN_KEY", "admin_key", NULL, S_TEXT, S_CHECK_WORD,
                       S_ADMIN_KEY_MIN, 256, true, S_OFF(admin_key), 0, "KEY",
                       "key of the admin API (/admin/keys); never a user key", NULL, NULL},
    [OPT_ALLOW_ANONYMOUS] = {"allow-anonymous", "ARENA_ALLOW_ANONYMOUS", "allow_anonymous", NULL,
                             S_BOOL, S_CHECK_NONE, 0, 0, false, S_OFF(allow_anonymous), 0, NULL,
                             "allow a non-loopback --http with no API key", "off", NULL},
    [OPT_HTTP_NAME] = {"http-name", "ARENA_HTTP_NAME", "http_name", "http_names", S_LIST,
                       S_CHECK_HTTPNAME, 1, HOSTPORT_MAX, false, S_OFF(http_names), 0, "NAME",
                       "another Host the API answers to (NAME or NAME:PORT); repeatable", NULL,
                       NULL},
    [OPT_CORS_ORIGIN] = {"cors-origin", "ARENA_CORS_ORIGIN", "cors_origin", "cors_origins", S_LIST,
                         S_CHECK_CORS, 1, 255, false, S_OFF(cors_origins), 0, "ORIGIN",
                         "web origin allowed to call the API, * for any; repeatable", NULL, NULL},
    [OPT_METRICS_PUBLIC] = {"metrics-public", "ARENA_METRICS_PUBLIC", "metrics_public", NULL,
                            S_BOOL, S_CHECK_NONE, 0, 0, false, S_OFF(metrics_public), 0, NULL,
                            "serve GET /metrics without an API key", "off", NULL},
    [OPT_BODY_BUDGET] = {"body-budget", "ARENA_BODY_BUDGET", "body_budget", NULL, S_SIZE,
                         S_CHECK_NONE, 1024, 64LL * 1024 * 1024 * 1024, false, S_OFF(body_budget),
                         0, "BYTES", "request body bytes all clients may have in flight at once",
                         "64m", "bytes"},
    [OPT_LOG_LEVEL] = {"log-level", "ARENA_LOG_LEVEL", "log_level", NULL, S_LEVEL, S_CHECK_NONE, 0,
                       0, false, S_OFF(log_level), 0, "LEVEL", "error|warn|info|debug", "info",
                       NULL},
    [OPT_VERSION] = {"version", NULL, NULL, NULL, S_ACTION, S_CHECK_NONE, 0, 0, false, 0, 0, NULL,
                     "print the version and exit", NULL, NULL},
    [OPT_HELP] = {"help", NULL, NULL, NULL, S_ACTION, S_CHECK_NONE, 0, 0, false, 0, 0, NULL,
                  "print this help and exit", NULL, NULL},
    [OPT_TAB_JOBS] = {"tab-jobs", "ARENA_TAB_JOBS", "tab_jobs", NULL, S_INT, S_CHECK_NONE, 1, 10000,
                      false, S_OFF(tab_jobs), 0, "N", "concurrent fetches per tab", "1", NULL},
    [OPT_QUEUE] = {"queue", "ARENA_QUEUE", "queue", NULL, S_INT, S_CHECK_NONE, 0, 100000, false,
                   S_OFF(queue_max), 0, "N", "requests that may wait for a free tab", "256", NULL},
    [OPT_QUEUE_TIMEOUT] = {"queue-timeout", "ARENA_QUEUE_TIMEOUT", "queue_timeout", NULL, S_INT,
                           S_CHECK_NONE, 1, S_MS_MAX, false, S_OFF(queue_timeout_ms), 0, "MS",
                           "how long a request waits for capacity before 503", "10000",
                           "milliseconds"},
    [OPT_MAX_BODY] = {"max-body", "ARENA_MAX_BODY", "max_body", NULL, S_SIZE, S_CHECK_NONE, 1024,
                      1024LL * 1024 * 1024, false, S_OFF(max_body), 0, "BYTES",
                      "largest request body (k/m/g suffixes: KiB/MiB/GiB)", "32m", "bytes"},
    [OPT_MAX_MESSAGES] = {"max-messages", "ARENA_MAX_MESSAGES", "max_messages", NULL, S_INT,
                          S_CHECK_NONE, 1, 100000, false, S_OFF(max_messages), 0, "N",
                          "most messages in one chat request", S_STR(OPENAI_DEFAULT_MAX_MESSAGES),
                          NULL},
    [OPT_MAX_JSON_DEPTH] = {"max-json-depth", "ARENA_MAX_JSON_DEPTH", "max_json_depth", NULL, S_INT,
                            S_CHECK_NONE, 1, 2048, false, S_OFF(max_json_depth), 0, "N",
                            "deepest JSON nesting accepted in a request",
                            S_STR(OPENAI_DEFAULT_MAX_DEPTH), NULL},
    [OPT_RETRIES] = {"retries", "ARENA_RETRIES", "retries", NULL, S_INT, S_CHECK_NONE, 0, 100,
                     false, S_OFF(retries), 0, "N",
                     "extra attempts on other targets before the first byte", "2", NULL},
    [OPT_COOLDOWN_DEFAULT] = {"cooldown-default", "ARENA_COOLDOWN_DEFAULT", "cooldown_default",
                              NULL, S_INT, S_CHECK_NONE, 5, 604800, false,
                              S_OFF(cooldown_default_s), 0, "SECONDS",
                              "cooldown after a 429 without Retry-After",
                              S_STR(VERDICT_DEFAULT_COOLDOWN_S), "seconds"},
    [OPT_FIRST_BYTE_TIMEOUT] = {"first-byte-timeout", "ARENA_FIRST_BYTE_TIMEOUT",
                                "first_byte_timeout", NULL, S_INT, S_CHECK_NONE, 1, S_MS_MAX, false,
                                S_OFF(first_byte_timeout_ms), 0, "MS",
                                "wait for the first content byte of an upstream answer",
                                S_STR(TARGET_DEFAULT_FIRST_BYTE_MS), "milliseconds"},
    [OPT_STREAM_IDLE_TIMEOUT] = {"stream-idle-timeout", "ARENA_STREAM_IDLE_TIMEOUT",
                                 "stream_idle_timeout", NULL, S_INT, S_CHECK_NONE, 1, S_MS_MAX,
                                 false, S_OFF(stream_idle_timeout_ms), 0, "MS",
                                 "longest silence inside a running stream",
                                 S_STR(TARGET_DEFAULT_IDLE_MS), "milliseconds"},
    [OPT_MAX_CONNECTIONS] = {"max-connections", "ARENA_MAX_CONNECTIONS", "max_connections", NULL,
                             S_INT, S_CHECK_NONE, 1, 1000000, false, S_OFF(max_connections), 0, "N",
                             "simultaneous HTTP connections", "4096", NULL},
    [OPT_MODEL_ALIAS] = {"model-alias", "ARENA_MODEL_ALIAS", "model_alias", "model_aliases", S_LIST,
                         S_CHECK_ALIAS, 3, 401, false, S_OFF(model_aliases), 0, "ALIAS=MODEL",
                         "also serve MODEL under the name ALIAS; repeatable", NULL, NULL},
    [OPT_MODEL_ALLOW] = {"model-allow", "ARENA_MODEL_ALLOW", "model_allow", NULL, S_LIST,
                         S_CHECK_WORD, 1, 200, false, S_OFF(model_allow), 0, "MODEL",
                         "serve only these models (and aliases of them); repeatable", NULL, NULL},
    [OPT_LINK_MAX_PENDING] = {"link-max-pending", "ARENA_LINK_MAX_PENDING", "link_max_pending",
                              NULL, S_INT, S_CHECK_NONE, 1, 100000, false, S_OFF(link_max_pending),
                              0, "N",
                              "browser-link connections still waiting for hello; one more "
                              "closes the oldest",
                              S_STR(LINK_DEFAULT_MAX_PENDING), NULL},
    [OPT_RESPONSES_KEEP] = {"responses-keep", "ARENA_RESPONSES_KEEP", "responses_keep", NULL, S_INT,
                            S_CHECK_NONE, 0, 30 * 86400, false, S_OFF(responses_keep_s), 0,
                            "SECONDS",
                            "keep the output items of Responses answers this long, for "
                            "item_reference (0: keep none)",
                            S_STR(ITEMS_DEFAULT_KEEP_S), "seconds"},
    [OPT_RESPONSES_KEEP_BYTES] = {"responses-keep-bytes", "ARENA_RESPONSES_KEEP_BYTES",
                                  "responses_keep_bytes", NULL, S_SIZE, S_CHECK_NONE, 0,
                                  4LL * 1024 * 1024 * 1024, false, S_OFF(responses_keep_bytes), 0,
                                  "BYTES",
                                  "most bytes of Responses output items kept, oldest "
                                  "dropped first",
                                  "32m", "bytes"},
    [OPT_STREAM_BUFFER] = {"stream-buffer", "ARENA_STREAM_BUFFER", "stream_buffer", NULL, S_SIZE,
                           S_CHECK_NONE, 64 * 1024, 1LL << 30, false, S_OFF(stream_buffer), 0,
                           "BYTES",
                           "unsent streamed answer kept for one client; a client that falls "
                           "further behind is let go and its answer stopped",
                           "32m", "bytes"},
    [OPT_USAGE_KEEP] = {"usage-keep", "ARENA_USAGE_KEEP", "usage_keep", NULL, S_INT, S_CHECK_NONE,
                        0, 3650, false, S_OFF(usage_keep_days), 0, "DAYS",
                        "keep the raw usage row of each request this long (docs/usage.md); 0: "
                        "record no usage",
                        "30", "days"},
    [OPT_USAGE_ROLLUP_KEEP] = {"usage-rollup-keep", "ARENA_USAGE_ROLLUP_KEEP", "usage_rollup_keep",
                               NULL, S_INT, S_CHECK_NONE, 1, 3650, false,
                               S_OFF(usage_rollup_keep_days), 0, "DAYS",
                               "keep the hourly usage rollups this long", "400", "days"},
    [OPT_PRICE] = {"price", "ARENA_PRICE", "price", "prices", S_LIST, S_CHECK_PRICE, 3, 256, false,
                   S_OFF(prices), 0, "MODEL=IN/OUT",
                   "US dollars per million prompt (IN) and completion (OUT) tokens of a model, "
                   "for usage costs; repeatable",
                   NULL, NULL},
    [OPT_GOSSIP_INTERVAL] = {"gossip-interval", "ARENA_GOSSIP_INTERVAL", "gossip_interval", NULL,
                             S_INT, S_CHECK_NONE, S_TICKED_MIN, 60000, false,
                             S_OFF(gossip_interval_ms), 0, "MS",
                             "how often state digests go to random peers",
                             S_STR(MESH_DEFAULT_GOSSIP_MS), "milliseconds"},
    [OPT_GOSSIP_FANOUT] = {"gossip-fanout", "ARENA_GOSSIP_FANOUT", "gossip_fanout", NULL, S_INT,
                           S_CHECK_NONE, 1, 64, false, S_OFF(gossip_fanout), 0, "N",
                           "peers sent a digest each gossip interval", S_STR(MESH_DEFAULT_FANOUT),
                           NULL},
    [OPT_PING_INTERVAL] = {"ping-interval", "ARENA_PING_INTERVAL", "ping_interval", NULL, S_INT,
                           S_CHECK_NONE, S_TICKED_MIN, S_MESH_MS_MAX, false,
                           S_OFF(ping_interval_ms), 0, "MS", "ping a peer not heard from this long",
                           S_STR(MESH_DEFAULT_PING_MS), "milliseconds"},
    [OPT_PING_TIMEOUT] = {"ping-timeout", "ARENA_PING_TIMEOUT", "ping_timeout", NULL, S_INT,
                          S_CHECK_NONE, S_TICKED_MIN, S_MESH_MS_MAX, false, S_OFF(ping_timeout_ms),
                          0, "MS", "ping once more when a ping is unanswered this long",
                          S_STR(MESH_DEFAULT_PING_TIMEOUT_MS), "milliseconds"},
    [OPT_SUSPECT_AFTER] = {"suspect-after", "ARENA_SUSPECT_AFTER", "suspect_after", NULL, S_INT,
                           S_CHECK_NONE, S_SILENCE_MIN, S_MESH_MS_MAX, false,
                           S_OFF(suspect_after_ms), 0, "MS", "silence before a peer is suspect",
                           S_STR(MESH_DEFAULT_SUSPECT_MS), "milliseconds"},
    [OPT_DEAD_AFTER] = {"dead-after", "ARENA_DEAD_AFTER", "dead_after", NULL, S_INT, S_CHECK_NONE,
                        S_SILENCE_MIN, S_MESH_MS_MAX, false, S_OFF(dead_after_ms), 0, "MS",
                        "silence before a peer is dead", S_STR(MESH_DEFAULT_DEAD_MS),
                        "milliseconds"},
    [OPT_FORGET_AFTER] = {"forget-after", "ARENA_FORGET_AFTER", "forget_after", NULL, S_INT,
                          S_CHECK_NONE, S_SILENCE_MIN, S_MESH_MS_MAX, false, S_OFF(forget_after_ms),
                          0, "MS", "how long dead and departed peers are remembered",
                          S_STR(MESH_DEFAULT_FORGET_MS), "milliseconds"},
    [OPT_MESH_MAX_PEERS] = {"mesh-max-peers", "ARENA_MESH_MAX_PEERS", "mesh_max_peers", NULL, S_INT,
                            S_CHECK_NONE, 1, MESH_MAX_PEERS_LIMIT, false, S_OFF(mesh_max_peers), 0,
                            "N", "most peers this node keeps track of",
                            S_STR(MESH_DEFAULT_MAX_PEERS), NULL},
    [OPT_MESH_MAX_NEW] = {"mesh-max-new", "ARENA_MESH_MAX_NEW", "mesh_max_new", NULL, S_INT,
                          S_CHECK_NONE, 1, MESH_MAX_PEERS_LIMIT, false, S_OFF(mesh_max_new), 0, "N",
                          "most new peers one mesh message may introduce",
                          S_STR(MESH_DEFAULT_MAX_NEW), NULL},
    [OPT_MESH_DIAL_RATE] = {"mesh-dial-rate", "ARENA_MESH_DIAL_RATE", "mesh_dial_rate", NULL, S_INT,
                            S_CHECK_NONE, 1, 10000, false, S_OFF(mesh_dial_rate), 0, "N",
                            "most new peers dialed per second", S_STR(MESH_DEFAULT_DIAL_RATE),
                            "per second"},
    [OPT_DISCOVER_PORT] = {"discover-port", "ARENA_DISCOVER_PORT", "discover_port", NULL, S_INT,
                           S_CHECK_NONE, 1, 65535, false, S_OFF(discover_port), 0, "PORT",
                           "UDP port of --discover's beacons", S_STR(MESH_DISCOVER_DEFAULT_PORT),
                           NULL},
    [OPT_DISCOVER_INTERFACE] = {"discover-interface", "ARENA_DISCOVER_INTERFACE",
                                "discover_interface", NULL, S_TEXT, S_CHECK_WORD, 1, 64, false,
                                S_OFF(discover_interface), 0, "IFACE",
                                "network interface for --discover's beacons, * for all", NULL,
                                NULL},
    [OPT_FORWARD_ACCEPT_TIMEOUT] = {"forward-accept-timeout", "ARENA_FORWARD_ACCEPT_TIMEOUT",
                                    "forward_accept_timeout", NULL, S_INT, S_CHECK_NONE,
                                    S_SILENCE_MIN, 600000, false, S_OFF(forward_accept_timeout_ms),
                                    0, "MS", "a peer must accept a forwarded request within this",
                                    S_STR(FORWARD_DEFAULT_ACCEPT_MS), "milliseconds"},
    [OPT_ARENA_MODE] = {"arena-mode", "ARENA_ARENA_MODE", "arena_mode", NULL, S_TEXT, S_CHECK_MODE,
                        1, ARENA_MODE_MAX - 1, false, S_OFF(arena_mode), 0, "MODE",
                        "LMArena chat mode of a new conversation", ARENA_MODE_DEFAULT, NULL},
    [OPT_RECAPTCHA_BACKOFF_MAX] = {"recaptcha-backoff-max", "ARENA_RECAPTCHA_BACKOFF_MAX",
                                   "recaptcha_backoff_max", NULL, S_INT, S_CHECK_NONE, 60, 604800,
                                   false, S_OFF(recaptcha_backoff_max_s), 0, "SECONDS",
                                   "ceiling of the doubling cooldown after reCAPTCHA rejections",
                                   S_STR(VERDICT_DEFAULT_RECAPTCHA_BACKOFF_MAX_S), "seconds"},
    [OPT_PACE] = {"pace", "ARENA_PACE", "pace", NULL, S_TEXT, S_CHECK_ONOFF, 1, 16, false,
                  S_OFF(pace), 0, "on|off", "space the requests of each LMArena account", "on",
                  NULL},
    [OPT_PACE_INTERVAL] = {"pace-interval", "ARENA_PACE_INTERVAL", "pace_interval", NULL, S_INT,
                           S_CHECK_NONE, 0, 86400, false, S_OFF(pace_interval_s), 0, "SECONDS",
                           "least time between two request starts of one account", "60", "seconds"},
    [OPT_PACE_WINDOW] = {"pace-window", "ARENA_PACE_WINDOW", "pace_window", NULL, S_TEXT,
                         S_CHECK_WINDOW, 1, 32, false, S_OFF(pace_window), 0, "COUNT/SECONDS",
                         "most request starts of one account in any such window", "3/390", NULL},
    [OPT_BROWSER] = {"browser", "ARENA_BROWSER", "browser", NULL, S_BOOL, S_CHECK_NONE, 0, 0, false,
                     S_OFF(browser), 0, NULL,
                     "start and watch a Chromium with the link built in (profile in DATA/browser)",
                     "off", NULL},
    [OPT_BROWSER_TABS] = {"browser-tabs", "ARENA_BROWSER_TABS", "browser_tabs", NULL, S_INT,
                          S_CHECK_NONE, 1, 32, false, S_OFF(browser_tabs), 0, "N",
                          "tabs the managed browser keeps open on the arena origin", "1", NULL},
    [OPT_BROWSER_HEADLESS] = {"browser-headless", "ARENA_BROWSER_HEADLESS", "browser_headless",
                              NULL, S_BOOL, S_CHECK_NONE, 0, 0, false, S_OFF(browser_headless), 0,
                              NULL,
                              "no window (logging in needs a visible window once, on the same "
                              "profile)",
                              "off", NULL},
    [OPT_BROWSER_PATH] = {"browser-path", "ARENA_BROWSER_PATH", "browser_path", NULL, S_TEXT,
                          S_CHECK_PATH, 1, S_PATH_MAX, false, S_OFF(browser_path), 0, "FILE",
                          "the Chromium program to start", BROWSER_DEFAULT_PATH, NULL},
    [OPT_BROWSER_STUCK] = {"browser-stuck-after", "ARENA_BROWSER_STUCK_AFTER",
                           "browser_stuck_after", NULL, S_INT, S_CHECK_NONE, 10, 3600, false,
                           S_OFF(browser_stuck_s), 0, "SECONDS",
                           "reload a managed tab without a link (or showing a challenge) this long",
                           "120", "seconds"},
};

/*  What --help says for a setting whose default is not a value. */
static const char *const s_shown[OPT__COUNT] = {
    [OPT_NAME] = "host name",
    [OPT_CONFIG] = "DIR/" S_DEFAULT_FILE " when present",
    [OPT_ADVERTISE] = "from --mesh",
    [OPT_SEED] = "none",
    [OPT_DISCOVER_INTERFACE] = "the first that can broadcast",
    [OPT_MESH_SECRET] = "the secret file's",
    [OPT_LINK_TOKEN] = "generated once, kept in DATA",
    [OPT_MESH_SECRET_FILE] = "~/.config/arena-mesh/mesh-secret ($XDG_CONFIG_HOME if set)",
    [OPT_LINK_ORIGIN] = "none",
    [OPT_API_KEY] = "none",
    [OPT_ADMIN_KEY] = "none: no admin API",
    [OPT_HTTP_NAME] = "none",
    [OPT_CORS_ORIGIN] = "any with --api-key, else none",
    [OPT_MODEL_ALIAS] = "none",
    [OPT_MODEL_ALLOW] = "all",
    [OPT_PRICE] = "none: every model costs 0",
};

/*  Relations between mesh timings, checked once all layers are merged:
    lo (+ lo2 when set) must be less than hi. */
typedef struct {
    s_opt_id_t lo, lo2, hi; /* lo2 OPT__COUNT: none */
    const char *why;
} s_relation_t;

static const s_relation_t s_relations[] = {
    {OPT_PING_TIMEOUT, OPT__COUNT, OPT_PING_INTERVAL,
     "so the second ping goes out before the next regular one"},
    {OPT_PING_INTERVAL, OPT_PING_TIMEOUT, OPT_SUSPECT_AFTER,
     "so a quiet peer gets both pings before it is suspected"},
    {OPT_SUSPECT_AFTER, OPT__COUNT, OPT_DEAD_AFTER, "so a peer is suspect before it is dead"},
    {OPT_DEAD_AFTER, OPT__COUNT, OPT_FORGET_AFTER,
     "so a dead peer is remembered (and greeted again every dead-after) before it is forgotten"},
};

/*  Which layer a value comes from: it names the culprit in messages. */
typedef struct {
    const char *file; /* config file path for the file layer, else NULL */
    bool from_env;
    bool touched[OPT__COUNT]; /* repeatables already replaced on this layer */
} s_layer_t;

/*  One parsed command-line option. */
typedef struct {
    s_opt_id_t id;
    const char *value; /* NULL for a bare boolean or action */
} s_arg_t;

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void s_who(const s_layer_t *layer, const s_opt_t *o, const char *key, char *who,
                  size_t wholen)
{
    if (layer->file)
        snprintf(who, wholen, "config file %s: key \"%s\"", layer->file, key ? key : o->key);
    else if (layer->from_env)
        snprintf(who, wholen, "%s", o->env);
    else
        snprintf(who, wholen, "--%s", o->flag);
}

/* ---- lookups ---------------------------------------------------------- */

static int s_by_flag(const char *name, size_t len)
{
    for (int i = 0; i < OPT__COUNT; i++)
        if (strlen(s_opts[i].flag) == len && memcmp(s_opts[i].flag, name, len) == 0)
            return i;
    return -1;
}

static int s_by_env(const char *name, size_t len)
{
    for (int i = 0; i < OPT__COUNT; i++)
        if (s_opts[i].env && strlen(s_opts[i].env) == len && memcmp(s_opts[i].env, name, len) == 0)
            return i;
    return -1;
}

static int s_by_key(const char *key)
{
    for (int i = 0; i < OPT__COUNT; i++) {
        const s_opt_t *o = &s_opts[i];
        if ((o->key && strcmp(o->key, key) == 0) || (o->alt_key && strcmp(o->alt_key, key) == 0))
            return i;
    }
    return -1;
}

/* ---- scalar parsers --------------------------------------------------- */

/*  Decimal integer, the whole string, optional leading '-'. */
static int s_parse_ll(const char *s, long long *out)
{
    if (!s || !*s || isspace((unsigned char)*s) || *s == '+')
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/*  Bytes with an optional k/m/g (KiB/MiB/GiB) suffix. */
static int s_parse_size(const char *s, long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return -1;
    long long mul = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mul = 1024LL;
            break;
        case 'm':
            mul = 1024LL * 1024;
            break;
        case 'g':
            mul = 1024LL * 1024 * 1024;
            break;
        default:
            return -1;
        }
        if (end[1])
            return -1;
    }
    if (v > LLONG_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int s_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/*  http(s)://host[:port] with nothing after; host and port as HOST:PORT
    has them (protocol/hostport), the port optional here. */
static int s_origin_ok(const char *s)
{
    const char *host;
    if (strncasecmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        host = s + 7;
    else
        return 0;
    const char *end = host[0] == '[' ? strchr(host, ']') : host + strcspn(host, ":");
    if (!end)
        return 0;
    if (host[0] == '[')
        end++;
    if (!hostport_host_valid(host, (size_t)(end - host)))
        return 0;
    return *end == '\0' || (*end == ':' && hostport_port(end + 1, strlen(end + 1)) > 0);
}

/*  NAME or NAME:PORT ([IPv6] or [IPv6]:PORT), as a Host header has it. */
static int s_http_name_ok(const char *s)
{
    const char *end = s[0] == '[' ? strchr(s, ']') : s + strcspn(s, ":");
    if (!end)
        return 0;
    if (s[0] == '[')
        end++;
    if (!hostport_host_valid(s, (size_t)(end - s)))
        return 0;
    return *end == '\0' || (*end == ':' && hostport_port(end + 1, strlen(end + 1)) > 0);
}

/*  Checks one text value against its option; fills err naming `who`. */
static int s_check_text(const s_opt_t *o, const char *v, const char *who, char *err, size_t errlen)
{
    size_t len = strlen(v);
    const char *shown = o->secret ? "(hidden)" : v;
    if (len < (size_t)o->min || len > (size_t)o->max)
        return s_fail(err, errlen, "%s: must be %lld to %lld characters long, got %zu", who, o->min,
                      o->max, len);
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return s_fail(err, errlen, "%s: contains a control character", who);
        if (o->check == S_CHECK_WORD && c == ' ')
            return s_fail(err, errlen, "%s: must not contain spaces", who);
    }
    if (o->check == S_CHECK_CORS && strcmp(v, "*") != 0 && !s_origin_ok(v))
        return s_fail(err, errlen,
                      "%s: expected * or an origin like https://host[:port] (no path), got \"%s\"",
                      who, shown);
    if (o->check == S_CHECK_HTTPNAME && !s_http_name_ok(v))
        return s_fail(err, errlen, "%s: expected a host name NAME or NAME:PORT, got \"%s\"", who,
                      shown);
    if (o->check == S_CHECK_ORIGIN && !s_origin_ok(v))
        return s_fail(err, errlen,
                      "%s: expected an origin like https://host[:port] (no path), got \"%s\"", who,
                      shown);
    if (o->check == S_CHECK_ALIAS) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1] || strchr(eq + 1, '=') || strchr(v, ' '))
            return s_fail(err, errlen, "%s: expected ALIAS=MODEL (no spaces, one '='), got \"%s\"",
                          who, shown);
    }
    usage_price_t price;
    if (o->check == S_CHECK_PRICE && usage_price_parse(v, &price) != 0)
        return s_fail(err, errlen,
                      "%s: expected MODEL=IN/OUT, dollars per million prompt and completion "
                      "tokens (e.g. gpt-4o=2.5/10), got \"%s\"",
                      who, shown);
    if (o->check == S_CHECK_MODE && !arena_mode_valid(v))
        return s_fail(err, errlen,
                      "%s: expected an LMArena mode such as direct-battle (lower-case letters, "
                      "digits and '-'), got \"%s\"",
                      who, shown);
    if (o->check == S_CHECK_ONOFF && strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
        return s_fail(err, errlen, "%s: expected on or off, got \"%s\"", who, shown);
    if (o->check == S_CHECK_WINDOW && config_parse_window(v, NULL, NULL) != 0)
        return s_fail(err, errlen,
                      "%s: expected COUNT/SECONDS (1..1000 starts in 1..86400 s), got \"%s\"", who,
                      shown);
    if (o->check == S_CHECK_HOSTPORT) {
        hostport_t hp;
        if (hostport_parse(v, len, &hp) != 0 || hp.port == 0)
            return s_fail(err, errlen,
                          "%s: expected HOST:PORT (or [IPv6]:PORT) with a port 1..65535, "
                          "got \"%s\"",
                          who, shown);
    }
    return 0;
}

/* ---- setters ---------------------------------------------------------- */

static void s_list_clear(strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int s_set_str(char **dst, const char *v, char *err, size_t errlen)
{
    char *copy = strdup(v);
    if (!copy)
        return s_fail(err, errlen, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

static int s_list_push(strlist_t *l, const char *v, const char *who, char *err, size_t errlen)
{
    if (l->n >= S_LIST_MAX)
        return s_fail(err, errlen, "%s: at most %d values", who, S_LIST_MAX);
    char **items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (!items)
        return s_fail(err, errlen, "out of memory");
    l->items = items;
    if (!(items[l->n] = strdup(v)))
        return s_fail(err, errlen, "out of memory");
    l->n++;
    return 0;
}

/*  Adds one item to a repeatable; the first item on a layer drops the
    values of lower layers. */
static int s_list_add(config_t *cfg, s_layer_t *layer, s_opt_id_t id, const char *v,
                      const char *who, char *err, size_t errlen)
{
    const s_opt_t *o = &s_opts[id];
    strlist_t *l = (strlist_t *)((char *)cfg + o->off);
    if (!layer->touched[id]) {
        s_list_clear(l);
        layer->touched[id] = true;
    }
    if (s_check_text(o, v, who, err, errlen) != 0)
        return -1;
    return s_list_push(l, v, who, err, errlen);
}

/*  "a, b,,c" → a b c, each through s_list_add. */
static int s_list_add_commas(config_t *cfg, s_layer_t *layer, s_opt_id_t id, const char *v,
                             const char *who, char *err, size_t errlen)
{
    const s_opt_t *o = &s_opts[id];
    strlist_t *l = (strlist_t *)((char *)cfg + o->off);
    s_list_clear(l);
    layer->touched[id] = true;
    while (*v) {
        const char *comma = strchr(v, ',');
        size_t n = comma ? (size_t)(comma - v) : strlen(v);
        while (n && isspace((unsigned char)*v))
            v++, n--;
        while (n && isspace((unsigned char)v[n - 1]))
            n--;
        if (n) {
            char *item = strndup(v, n);
            if (!item)
                return s_fail(err, errlen, "out of memory");
            int rc = s_list_add(cfg, layer, id, item, who, err, errlen);
            free(item);
            if (rc != 0)
                return -1;
        }
        if (!comma)
            break;
        v = comma + 1;
    }
    return 0;
}

static int s_set_addr(config_t *cfg, const s_opt_t *o, const char *v, const char *who, char *err,
                      size_t errlen)
{
    hostport_t hp;
    if (hostport_parse(v, strlen(v), &hp) != 0)
        return s_fail(err, errlen,
                      "%s: expected ADDR:PORT (or [IPv6]:PORT) with a port 0..65535, got \"%s\"",
                      who, v);
    if (s_set_str((char **)((char *)cfg + o->off), hp.host, err, errlen) != 0)
        return -1;
    *(int *)((char *)cfg + o->off2) = hp.port;
    return 0;
}

static int s_set_int(config_t *cfg, const s_opt_t *o, long long v, bool ok, const char *raw,
                     const char *who, char *err, size_t errlen)
{
    if (!ok || v < o->min || v > o->max) {
        if (o->kind == S_SIZE)
            return s_fail(err, errlen,
                          "%s: expected a size from %lld to %lld bytes (a k, m or g suffix "
                          "means KiB, MiB, GiB), got \"%s\"",
                          who, o->min, o->max, raw);
        return s_fail(err, errlen, "%s: expected an integer from %lld to %lld%s%s, got \"%s\"", who,
                      o->min, o->max, o->unit ? " " : "", o->unit ? o->unit : "", raw);
    }
    if (o->kind == S_SIZE)
        *(size_t *)((char *)cfg + o->off) = (size_t)v;
    else
        *(int *)((char *)cfg + o->off) = (int)v;
    return 0;
}

/*  Applies one textual value (a flag or a variable) to the setting. */
static int s_apply_text(config_t *cfg, s_layer_t *layer, s_opt_id_t id, const char *v, char *err,
                        size_t errlen)
{
    const s_opt_t *o = &s_opts[id];
    char who[S_WHO_MAX];
    s_who(layer, o, NULL, who, sizeof who);
    long long n = 0;
    int bad = 0;
    switch (o->kind) {
    case S_TEXT:
        if (s_check_text(o, v, who, err, errlen) != 0)
            return -1;
        return s_set_str((char **)((char *)cfg + o->off), v, err, errlen);
    case S_LIST:
        if (layer->from_env)
            return s_list_add_commas(cfg, layer, id, v, who, err, errlen);
        return s_list_add(cfg, layer, id, v, who, err, errlen);
    case S_ADDR:
        return s_set_addr(cfg, o, v, who, err, errlen);
    case S_INT:
        bad = s_parse_ll(v, &n);
        return s_set_int(cfg, o, n, bad == 0, v, who, err, errlen);
    case S_SIZE:
        bad = s_parse_size(v, &n);
        return s_set_int(cfg, o, n, bad == 0, v, who, err, errlen);
    case S_BOOL:
        if (s_parse_bool(v, (bool *)((char *)cfg + o->off)) != 0)
            return s_fail(err, errlen, "%s: expected true or false (or 1/0, yes/no), got \"%s\"",
                          who, v);
        return 0;
    case S_LEVEL:
        if (alog_level_parse(v, (alog_level_t *)((char *)cfg + o->off)) != 0)
            return s_fail(err, errlen, "%s: expected error, warn, info or debug, got \"%s\"", who,
                          v);
        return 0;
    case S_ACTION:
        break;
    }
    return s_fail(err, errlen, "%s: cannot be set this way", who);
}

/*  Applies one config-file value; JSON types must match the setting. */
static int s_apply_json(config_t *cfg, s_layer_t *layer, s_opt_id_t id, const char *key, json_t *v,
                        char *err, size_t errlen)
{
    const s_opt_t *o = &s_opts[id];
    char who[S_WHO_MAX];
    s_who(layer, o, key, who, sizeof who);
    if (o->kind == S_LIST && layer->touched[id])
        return s_fail(err, errlen, "%s: \"%s\" and \"%s\" set the same list; keep one", who, o->key,
                      o->alt_key ? o->alt_key : o->key);
    switch (o->kind) {
    case S_INT:
    case S_SIZE:
        if (json_is_integer(v)) {
            char raw[32];
            snprintf(raw, sizeof raw, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            return s_set_int(cfg, o, json_integer_value(v), true, raw, who, err, errlen);
        }
        if (o->kind == S_SIZE && json_is_string(v))
            break;
        return s_fail(err, errlen, "%s: expected a JSON integer from %lld to %lld", who, o->min,
                      o->max);
    case S_BOOL:
        if (!json_is_boolean(v))
            return s_fail(err, errlen, "%s: expected true or false", who);
        *(bool *)((char *)cfg + o->off) = json_is_true(v);
        return 0;
    case S_LIST:
        if (json_is_array(v)) {
            s_list_clear((strlist_t *)((char *)cfg + o->off));
            layer->touched[id] = true;
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (!json_is_string(item))
                    return s_fail(err, errlen, "%s: expected an array of strings", who);
                if (s_list_add(cfg, layer, id, json_string_value(item), who, err, errlen) != 0)
                    return -1;
            }
            return 0;
        }
        if (!json_is_string(v))
            return s_fail(err, errlen, "%s: expected a string or an array of strings", who);
        return s_list_add(cfg, layer, id, json_string_value(v), who, err, errlen);
    default:
        break;
    }
    if (!json_is_string(v))
        return s_fail(err, errlen, "%s: expected a string", who);
    return s_apply_text(cfg, layer, id, json_string_value(v), err, errlen);
}

/* ---- layers ----------------------------------------------------------- */

/*  The bottom layer: every default of the table, read like a flag; the
    name, which has none there, is the host name. */
static int s_defaults(config_t *cfg, char *err, size_t errlen)
{
    s_layer_t layer = {0};
    for (int i = 0; i < OPT__COUNT; i++)
        if (s_opts[i].def && s_apply_text(cfg, &layer, (s_opt_id_t)i, s_opts[i].def, err, errlen))
            return -1;
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "arena-node");
    for (char *p = host; *p; p++)
        if (!isgraph((unsigned char)*p))
            *p = '-';
    host[64] = '\0';
    return s_set_str(&cfg->name, host, err, errlen);
}

int config_parse_window(const char *s, int *count, int *seconds)
{
    long long c = 0, sec = 0;
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || slash == s || !slash[1])
        return -1;
    char head[24];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof head)
        return -1;
    memcpy(head, s, n);
    head[n] = '\0';
    if (s_parse_ll(head, &c) != 0 || s_parse_ll(slash + 1, &sec) != 0 || c < 1 || c > 1000 ||
        sec < 1 || sec > 86400)
        return -1;
    if (count)
        *count = (int)c;
    if (seconds)
        *seconds = (int)sec;
    return 0;
}

/*  Splits argv into options; checks names and values are present. */
static int s_parse_argv(int argc, char **argv, s_arg_t *args, size_t *nargs, char *err,
                        size_t errlen)
{
    *nargs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!a || strncmp(a, "--", 2) != 0 || !a[2])
            return s_fail(err, errlen,
                          "unexpected argument \"%s\" (options start with --; see "
                          "--help)",
                          a ? a : "(null)");
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int id = s_by_flag(name, len);
        if (id < 0)
            return s_fail(err, errlen, "unknown option --%.*s (see --help)", (int)len, name);
        const s_opt_t *o = &s_opts[id];
        const char *value = eq ? eq + 1 : NULL;
        if (o->kind == S_ACTION && value)
            return s_fail(err, errlen, "--%s takes no value", o->flag);
        if (o->kind != S_ACTION && o->kind != S_BOOL && !value) {
            if (i + 1 >= argc || !argv[i + 1] || strncmp(argv[i + 1], "--", 2) == 0)
                return s_fail(err, errlen, "--%s needs a value: --%s %s", o->flag, o->flag,
                              o->metavar);
            value = argv[++i];
        }
        args[*nargs].id = (s_opt_id_t)id;
        args[*nargs].value = value;
        (*nargs)++;
    }
    return 0;
}

/*  The last non-empty value of each ARENA_* variable we know. */
static void s_scan_env(char **envp, const char *vals[OPT__COUNT])
{
    for (int i = 0; i < OPT__COUNT; i++)
        vals[i] = NULL;
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, "ARENA_", 6) != 0)
            continue;
        int id = s_by_env(*e, (size_t)(eq - *e));
        if (id >= 0 && eq[1])
            vals[id] = eq + 1;
    }
}

static int s_read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return s_fail(err, errlen, "config file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > S_FILE_MAX) {
        fclose(f);
        return s_fail(err, errlen, "config file %s: not a regular file of at most %d bytes", path,
                      S_FILE_MAX);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return s_fail(err, errlen, "out of memory");
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return s_fail(err, errlen, "config file %s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static int s_apply_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (s_read_file(path, &text, &len, err, errlen) != 0)
        return -1;
    char jerr[256] = "";
    json_t *root = jsonc_loadb(text, len, jerr, sizeof jerr);
    free(text);
    if (!root)
        return s_fail(err, errlen, "config file %s: %s", path, jerr);
    int rc = 0;
    if (!json_is_object(root))
        rc = s_fail(err, errlen, "config file %s: expected a JSON object at the top", path);
    s_layer_t layer = {.file = path};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (rc != 0)
            break;
        int id = s_by_key(key);
        if (id < 0) {
            int fid = s_by_flag(key, strlen(key));
            if (fid >= 0 && !s_opts[fid].key)
                rc = s_fail(err, errlen, "config file %s: \"%s\" cannot be set in a config file",
                            path, key);
            else
                rc = s_fail(err, errlen,
                            "config file %s: unknown key \"%s\" (keys are the flag names with "
                            "'_' for '-', e.g. \"link_origin\")",
                            path, key);
            break;
        }
        rc = s_apply_json(cfg, &layer, (s_opt_id_t)id, key, v, err, errlen);
    }
    json_decref(root);
    return rc;
}

/*  The config file to read: --config, ARENA_CONFIG, else DATA's default
    file when present (DATA from --data, ARENA_DATA or ./data). */
static int s_find_file(const s_arg_t *args, size_t nargs, const char *env[OPT__COUNT], char **path,
                       char *err, size_t errlen)
{
    const char *flag_config = NULL, *flag_data = NULL;
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].id == OPT_CONFIG)
            flag_config = args[i].value;
        if (args[i].id == OPT_DATA)
            flag_data = args[i].value;
    }
    const char *explicit = flag_config ? flag_config : env[OPT_CONFIG];
    if (explicit) {
        s_layer_t layer = {.from_env = !flag_config};
        char who[S_WHO_MAX];
        s_who(&layer, &s_opts[OPT_CONFIG], NULL, who, sizeof who);
        if (s_check_text(&s_opts[OPT_CONFIG], explicit, who, err, errlen) != 0)
            return -1;
        return s_set_str(path, explicit, err, errlen);
    }
    const char *data = flag_data ? flag_data : env[OPT_DATA] ? env[OPT_DATA] : "./data";
    if (!*data || strlen(data) > S_PATH_MAX)
        return 0; /* reported when --data / ARENA_DATA is applied */
    char buf[S_PATH_MAX + sizeof S_DEFAULT_FILE + 2];
    snprintf(buf, sizeof buf, "%s/%s", data, S_DEFAULT_FILE);
    struct stat st;
    if (stat(buf, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return s_fail(err, errlen, "config file %s: %s", buf, strerror(errno));
    }
    return s_set_str(path, buf, err, errlen);
}

static int s_apply_env(config_t *cfg, const char *env[OPT__COUNT], char *err, size_t errlen)
{
    s_layer_t layer = {.from_env = true};
    for (int i = 0; i < OPT__COUNT; i++)
        if (env[i] && i != OPT_CONFIG &&
            s_apply_text(cfg, &layer, (s_opt_id_t)i, env[i], err, errlen) != 0)
            return -1;
    return 0;
}

static int s_apply_flags(config_t *cfg, const s_arg_t *args, size_t nargs, char *err, size_t errlen)
{
    s_layer_t layer = {0};
    for (size_t i = 0; i < nargs; i++) {
        s_opt_id_t id = args[i].id;
        if (id == OPT_CONFIG)
            continue;
        if (s_opts[id].kind == S_BOOL && !args[i].value) {
            *(bool *)((char *)cfg + s_opts[id].off) = true;
            continue;
        }
        if (s_apply_text(cfg, &layer, id, args[i].value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int s_int_of(const config_t *cfg, s_opt_id_t id)
{
    return *(const int *)((const char *)cfg + s_opts[id].off);
}

/*  The first broken relation of s_relations, naming every setting in it. */
static int s_check_relations(const config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof s_relations / sizeof s_relations[0]; i++) {
        const s_relation_t *r = &s_relations[i];
        long long lo = s_int_of(cfg, r->lo);
        long long hi = s_int_of(cfg, r->hi);
        char left[128];
        if (r->lo2 == OPT__COUNT) {
            snprintf(left, sizeof left, "--%s (%lld ms)", s_opts[r->lo].flag, lo);
        } else {
            long long lo2 = s_int_of(cfg, r->lo2);
            snprintf(left, sizeof left, "--%s (%lld ms) + --%s (%lld ms)", s_opts[r->lo].flag, lo,
                     s_opts[r->lo2].flag, lo2);
            lo += lo2;
        }
        if (lo >= hi)
            return s_fail(err, errlen, "mesh timing: %s must be less than --%s (%lld ms): %s", left,
                          s_opts[r->hi].flag, hi, r->why);
    }
    return 0;
}

/*  Mesh timing relations, then the security defaults (ARCHITECTURE.md): no
    open API, no clear-text mesh. */
static int s_validate(const config_t *cfg, char *err, size_t errlen)
{
    if (s_check_relations(cfg, err, errlen) != 0)
        return -1;
    if (cfg->body_budget < cfg->max_body)
        return s_fail(err, errlen,
                      "--body-budget (%zu bytes) must be at least --max-body (%zu bytes): one "
                      "largest request must fit",
                      cfg->body_budget, cfg->max_body);
    for (size_t i = 0; cfg->admin_key && i < cfg->api_keys.n; i++)
        if (strcmp(cfg->admin_key, cfg->api_keys.items[i]) == 0)
            return s_fail(err, errlen,
                          "--admin-key must not be one of the --api-key keys: the "
                          "admin key is never accepted as a user key");
    char addr[300];
    if (!hostport_is_loopback(cfg->http_host) && cfg->api_keys.n == 0 && !cfg->admin_key &&
        !cfg->allow_anonymous) {
        hostport_format(addr, sizeof addr, cfg->http_host, cfg->http_port);
        return s_fail(err, errlen,
                      "refusing to serve the API on %s without an API key: set --api-key (or "
                      "ARENA_API_KEYS) or pass --allow-anonymous",
                      addr);
    }
    if (!hostport_is_loopback(cfg->mesh_host) && cfg->mesh_secret_local) {
        hostport_format(addr, sizeof addr, cfg->mesh_host, cfg->mesh_port);
        return s_fail(err, errlen,
                      "refusing to open the mesh on %s without a mesh secret: set --mesh-secret "
                      "(or ARENA_MESH_SECRET, or --mesh-secret-file) so every node shares one, "
                      "or bind --mesh to a loopback address",
                      addr);
    }
    /* the mesh refuses these too at start-up (mesh.c); say so before anything starts */
    for (size_t i = 0; cfg->mesh_secret_local && i <= cfg->seeds.n; i++) {
        const char *ep = i < cfg->seeds.n ? cfg->seeds.items[i] : cfg->advertise;
        hostport_t hp;
        if (!ep || hostport_parse(ep, strlen(ep), &hp) != 0 || hostport_is_loopback(hp.host))
            continue;
        return s_fail(err, errlen,
                      "refusing %s %s without a mesh secret: a peer on another machine needs "
                      "--mesh-secret (or ARENA_MESH_SECRET, or --mesh-secret-file), the same on "
                      "every node",
                      i < cfg->seeds.n ? "the seed" : "to advertise", ep);
    }
    return 0;
}

static const char *s_getenv(char **envp, const char *name)
{
    size_t n = strlen(name);
    const char *v = NULL;
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            v = *e + n + 1;
    return v && *v ? v : NULL;
}

/*  Neither --mesh-secret nor --mesh-secret-file: the per-user secret file
    (XDG base directories), a secret of this machine only
    (mesh_secret_local: the mesh stays on loopback). Without HOME or
    XDG_CONFIG_HOME the path stays NULL and the node says so at start. */
static int s_secret_default(config_t *cfg, char **envp, char *err, size_t errlen)
{
    if (cfg->mesh_secret || cfg->mesh_secret_file)
        return 0;
    cfg->mesh_secret_local = true;
    const char *xdg = s_getenv(envp, "XDG_CONFIG_HOME"), *home = s_getenv(envp, "HOME");
    if (xdg && xdg[0] != '/')
        xdg = NULL; /* the XDG rule: a relative value is ignored */
    if (!xdg && !home)
        return 0;
    size_t len = strlen(xdg ? xdg : home) + sizeof "/.config/" S_SECRET_FILE;
    if (len > S_PATH_MAX)
        return s_fail(err, errlen, "the default mesh secret file path is too long");
    if (!(cfg->mesh_secret_file = malloc(len)))
        return s_fail(err, errlen, "out of memory");
    snprintf(cfg->mesh_secret_file, len, "%s%s" S_SECRET_FILE, xdg ? xdg : home,
             xdg ? "/" : "/.config/");
    return 0;
}

/*  --help / --version, whichever comes first: 1 when one was handled. */
static int s_action(const s_arg_t *args, size_t nargs, FILE *out)
{
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].id == OPT_HELP) {
            config_usage(out);
            return 1;
        }
        if (args[i].id == OPT_VERSION) {
            fprintf(out, "arena-node %s\n", ARENA_VERSION);
            return 1;
        }
    }
    return 0;
}

static int s_load(config_t *cfg, int argc, char **argv, char **envp, FILE *out, s_arg_t *args,
                  char *err, size_t errlen)
{
    size_t nargs = 0;
    if (s_parse_argv(argc, argv, args, &nargs, err, errlen) != 0)
        return -1;
    if (s_action(args, nargs, out))
        return 1;
    const char *env[OPT__COUNT];
    s_scan_env(envp, env);
    if (s_defaults(cfg, err, errlen) != 0 ||
        s_find_file(args, nargs, env, &cfg->config_file, err, errlen) != 0)
        return -1;
    if (cfg->config_file && s_apply_file(cfg, cfg->config_file, err, errlen) != 0)
        return -1;
    if (s_apply_env(cfg, env, err, errlen) != 0 ||
        s_apply_flags(cfg, args, nargs, err, errlen) != 0 ||
        s_secret_default(cfg, envp, err, errlen) != 0)
        return -1;
    if (cfg->discover && cfg->mesh_secret_local)
        return s_fail(err, errlen,
                      "--discover needs the mesh's shared secret (--mesh-secret or "
                      "--mesh-secret-file): beacons carry a proof of it");
    return s_validate(cfg, err, errlen);
}

int config_load(config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
                size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (err && errlen)
        err[0] = '\0';
    if (argc < 0)
        return s_fail(err, errlen, "bad argument count");
    s_arg_t *args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return s_fail(err, errlen, "out of memory");
    int rc = s_load(cfg, argc, argv, envp, out ? out : stdout, args, err, errlen);
    free(args);
    if (rc != 0)
        config_free(cfg);
    return rc;
}

void config_free(config_t *cfg)
{
    if (!cfg)
        return;
    char **strs[] = {
        &cfg->name,        &cfg->data_dir,         &cfg->config_file,        &cfg->http_host,
        &cfg->link_host,   &cfg->mesh_host,        &cfg->advertise,          &cfg->mesh_secret,
        &cfg->link_token,  &cfg->arena_origin,     &cfg->arena_mode,         &cfg->pace,
        &cfg->pace_window, &cfg->mesh_secret_file, &cfg->discover_interface, &cfg->browser_path};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    free(cfg->admin_key);
    s_list_clear(&cfg->seeds);
    s_list_clear(&cfg->link_origins);
    s_list_clear(&cfg->api_keys);
    s_list_clear(&cfg->http_names);
    s_list_clear(&cfg->cors_origins);
    s_list_clear(&cfg->model_aliases);
    s_list_clear(&cfg->prices);
    s_list_clear(&cfg->model_allow);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- usage ------------------------------------------------------------ */

/*  "  --flag METAVAR         help (default: X)" and, indented below, the
    variable and config key; a default that would pass column 100 moves to
    the second line. */
static void s_usage_opt(FILE *out, const s_opt_t *o)
{
    char left[64], def[128] = "";
    if (o->metavar)
        snprintf(left, sizeof left, "--%s %s", o->flag, o->metavar);
    else
        snprintf(left, sizeof left, "--%s", o->flag);
    const char *shown = o->def ? o->def : s_shown[o - s_opts];
    if (shown)
        snprintf(def, sizeof def, "(default: %s)", shown);
    if (strlen(left) <= 22)
        fprintf(out, "  %-22s  %s", left, o->help);
    else
        fprintf(out, "  %s\n%26s%s", left, "", o->help);
    bool wrap = 26 + strlen(o->help) + 1 + strlen(def) > 100;
    if (def[0] && !wrap)
        fprintf(out, " %s", def);
    fputc('\n', out);
    if (!o->env)
        return;
    bool list = o->kind == S_LIST;
    fprintf(out, "%26s", "");
    if (def[0] && wrap)
        fprintf(out, "%s; ", def);
    fprintf(out, "env %s%s", o->env, list ? " (comma list)" : "");
    if (o->key)
        fprintf(out, ", config \"%s\"%s", o->key, list ? " (array)" : "");
    fputc('\n', out);
}

void config_usage(FILE *out)
{
    fprintf(out,
            "arena-node %s — one node of an ArenaMesh: LMArena tabs as an OpenAI API\n\n"
            "arena-node [options]\n",
            ARENA_VERSION);
    for (int i = 0; i < OPT_VERSION; i++)
        s_usage_opt(out, &s_opts[i]);
    fprintf(out, "  %-22s  %s\n", "--version | --help", "print the version or this help and exit");
    fprintf(out, "\nTuning:\n");
    for (int i = OPT_TAB_JOBS; i < OPT_GOSSIP_INTERVAL; i++)
        s_usage_opt(out, &s_opts[i]);
    fprintf(out, "\nMesh timing (every node of a mesh should use the same values) and bounds:\n");
    for (int i = OPT_GOSSIP_INTERVAL; i < OPT_ARENA_MODE; i++)
        s_usage_opt(out, &s_opts[i]);
    fprintf(out, "  Must hold: ping-timeout < ping-interval, ping-interval + ping-timeout <\n"
                 "  suspect-after < dead-after < forget-after.\n");
    fprintf(out, "\nLMArena (docs/upstream.md; --pace off for tests and private deployments):\n");
    for (int i = OPT_ARENA_MODE; i < OPT_BROWSER; i++)
        s_usage_opt(out, &s_opts[i]);
    fprintf(out, "\nThe managed browser (docs/operations.md, \"The managed browser\"):\n");
    for (int i = OPT_BROWSER; i < OPT__COUNT; i++)
        s_usage_opt(out, &s_opts[i]);
    fprintf(out,
            "\nPrecedence: flags > ARENA_* environment > config file > defaults, per setting.\n"
            "Flags take \"--flag VALUE\" or \"--flag=VALUE\". A repeatable set on a higher level\n"
            "replaces (does not extend) the lower levels. Booleans in the environment: 1/0,\n"
            "true/false, yes/no. Config-file keys are the flag names with '_' for '-'.\n"
            "Port 0 in any ADDR:PORT picks a free port. See docs/configuration.md.\n");
}
