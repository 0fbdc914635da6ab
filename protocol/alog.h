/*  alog — the one logging facade of ArenaMesh.

    Levels are checked before any formatting. The default sink writes one line
    per record to stderr; the node installs a sink over zsys_* at start-up.
    Thread-safe: the level is an atomic, sinks must be thread-safe themselves.
    alog_*_rl() variants rate-limit repeats of one call site (at most one
    record per second, with a count of what was suppressed). */
#ifndef ARENA_ALOG_H
#define ARENA_ALOG_H

#include <stdarg.h>

typedef enum { ALOG_ERROR = 0, ALOG_WARN = 1, ALOG_INFO = 2, ALOG_DEBUG = 3 } alog_level_t;

typedef void(alog_sink_fn)(alog_level_t level, const char *line);

void alog_set_level(alog_level_t level);
alog_level_t alog_level(void);
/*  Parses "error|warn|info|debug"; returns -1 on anything else. */
int alog_level_parse(const char *name, alog_level_t *out);
/*  NULL restores the stderr sink. */
void alog_set_sink(alog_sink_fn *sink);

void alog_write(alog_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void alog_vwrite(alog_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define alog_enabled(lvl) ((lvl) <= alog_level())
#define alog_error(...) alog_write(ALOG_ERROR, __VA_ARGS__)
#define alog_warn(...)                                                                             \
    do {                                                                                           \
        if (alog_enabled(ALOG_WARN))                                                               \
            alog_write(ALOG_WARN, __VA_ARGS__);                                                    \
    } while (0)
#define alog_info(...)                                                                             \
    do {                                                                                           \
        if (alog_enabled(ALOG_INFO))                                                               \
            alog_write(ALOG_INFO, __VA_ARGS__);                                                    \
    } while (0)
#define alog_debug(...)                                                                            \
    do {                                                                                           \
        if (alog_enabled(ALOG_DEBUG))                                                              \
            alog_write(ALOG_DEBUG, __VA_ARGS__);                                                   \
    } while (0)

/*  Rate-limited warning: one record per call site per second. */
typedef struct {
    long long last_ms;
    unsigned suppressed;
} alog_rl_t;
void alog_rl_write(alog_rl_t *rl, alog_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define alog_warn_rl(...)                                                                          \
    do {                                                                                           \
        static alog_rl_t alog__rl_;                                                                \
        if (alog_enabled(ALOG_WARN))                                                               \
            alog_rl_write(&alog__rl_, ALOG_WARN, __VA_ARGS__);                                     \
    } while (0)

#endif
