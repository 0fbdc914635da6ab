/*  alog — see alog.h. */
#include "protocol/alog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int s_level = ALOG_INFO;
static _Atomic(alog_sink_fn *) s_sink;

void alog_set_level(alog_level_t level)
{
    atomic_store(&s_level, (int)level);
}

alog_level_t alog_level(void)
{
    return (alog_level_t)atomic_load(&s_level);
}

int alog_level_parse(const char *name, alog_level_t *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (alog_level_t)i;
            return 0;
        }
    return -1;
}

void alog_set_sink(alog_sink_fn *sink)
{
    atomic_store(&s_sink, sink);
}

static void s_stderr_sink(alog_level_t level, const char *line)
{
    static const char tag[] = "EWID";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%c: (arena) %s %s\n", tag[level & 3], when, line);
}

void alog_vwrite(alog_level_t level, const char *fmt, va_list ap)
{
    if (!alog_enabled(level))
        return;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    alog_sink_fn *sink = atomic_load(&s_sink);
    (sink ? sink : s_stderr_sink)(level, line);
}

void alog_write(alog_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    alog_vwrite(level, fmt, ap);
    va_end(ap);
}

void alog_rl_write(alog_rl_t *rl, alog_level_t level, const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (rl->last_ms && now - rl->last_ms < 1000) {
        rl->suppressed++;
        return;
    }
    if (rl->suppressed)
        alog_write(level, "(%u similar messages suppressed)", rl->suppressed);
    rl->last_ms = now;
    rl->suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    alog_vwrite(level, fmt, ap);
    va_end(ap);
}
