/*  target — one attempt of one request on one target, whatever runs it
    (ARCHITECTURE.md, "A request's life": "targets are one abstraction with
    two kinds"). A local tab (node/tabs, tabs_target_ops) and a peer over
    one mesh hop (node/forward, forward_target_ops) both implement the ops
    below; the dispatcher holds one target_t per job and never asks which
    kind runs it, except to remember what it tried.

    An attempt reports to its target_sink_t: any number of delta calls, then
    exactly one end or fail — never after target_abort, and never from inside
    target_start. A failure comes as a verdict (target_fail_t): what went
    wrong and what the client should see; for a local tab it also carries
    what LMArena answered, and the dispatcher alone decides what that costs
    (cooldowns, node/verdict). Owned by the node thread. */
#ifndef ARENA_TARGET_H
#define ARENA_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/arena_catalog.h"
#include "protocol/arena_stream.h"
#include "protocol/delta.h"
#include "protocol/openai.h"

/*  Attempt timeouts, cited by the option table (node/config.c):
    --first-byte-timeout and --stream-idle-timeout. */
#define TARGET_DEFAULT_FIRST_BYTE_MS 180000
#define TARGET_DEFAULT_IDLE_MS 180000

/*  Why an attempt failed, and what the client should see if it is final. */
typedef struct {
    arena_fail_t cls;
    bool retryable;      /* another target (or fresh ids) may succeed, content aside: the
                            dispatcher applies the first-byte rule (after_content) */
    bool after_content;  /* content deltas were already delivered */
    bool fresh_ids;      /* the same tab may succeed with fresh ids (empty answer) */
    long long cooled_ms; /* > 0: this failure cooled the model (or node) that long */
    bool permanent;      /* the site refused the request itself: no other target tries */
    bool stale;          /* 404 Models not found: the row is marked stale; retry once */
    openai_error_t err;  /* status, code and message for the client */
    /* What a local tab saw of LMArena's answer: the input of the cooldown
       policy (node/verdict). answered is false for everything else (a peer's
       failure carries its cooldown in cooled_ms already). The pointers are
       borrowed for the fail call only. */
    bool answered;            /* a non-2xx answer, classified into cls */
    long long retry_after_ms; /* its Retry-After in ms, -1: none or unreadable */
    const char *model;        /* the catalog name the attempt asked for */
    const char *tab;          /* the tab's id; NULL: the tab is gone */
    const char *account;      /* the cooldown id of the tab's account; NULL: tab gone */
} target_fail_t;

typedef struct {
    void (*delta)(void *arg, delta_kind_t kind, const char *text, size_t len);
    void (*end)(void *arg, const char *finish_reason, const usage_t *usage);
    void (*fail)(void *arg, const target_fail_t *f);
} target_sink_t;

/*  What an attempt is asked to do. */
typedef struct {
    const openai_request_t *req; /* borrowed for the start call */
    const arena_model_t *model; /* the local catalog row (a tab needs it); may be NULL for a peer */
    long long deadline_ms;      /* the first-byte deadline a peer is given; 0: none */
} target_req_t;

typedef enum { TARGET_TAB, TARGET_PEER } target_kind_t;

typedef struct {
    target_kind_t kind;
    const char *name; /* "tab", "peer": for logs */
    /*  Starts an attempt on the target called id. NULL with err filled when
        it cannot start (err->status 503: busy or unreachable now, another
        target may take it; else the request itself is refused). */
    void *(*start)(void *impl, const char *id, const target_req_t *req, const target_sink_t *sink,
                   void *arg, openai_error_t *err);
    /*  Stops the attempt (NULLs *attempt_p); no sink call follows. */
    void (*abort)(void *impl, void **attempt_p);
    /*  The id of the target the attempt runs on (borrowed). */
    const char *(*id)(const void *attempt);
} target_ops_t;

/*  One attempt slot: which implementation, and the attempt while it runs. */
typedef struct {
    const target_ops_t *ops;
    void *impl;
    void *attempt; /* NULL: nothing runs */
} target_t;

/*  0 when the attempt runs in t; -1 with err filled (t stays empty). */
static inline int target_start(target_t *t, const target_ops_t *ops, void *impl, const char *id,
                               const target_req_t *req, const target_sink_t *sink, void *arg,
                               openai_error_t *err)
{
    void *attempt = ops->start(impl, id, req, sink, arg, err);
    if (!attempt)
        return -1;
    t->ops = ops;
    t->impl = impl;
    t->attempt = attempt;
    return 0;
}

static inline bool target_running(const target_t *t)
{
    return t->attempt != NULL;
}

/*  Stops what runs in t, if anything; no sink call follows. */
static inline void target_abort(target_t *t)
{
    if (t->attempt)
        t->ops->abort(t->impl, &t->attempt);
    t->attempt = NULL;
}

/*  The attempt reported its end or failure: t is empty again. */
static inline void target_done(target_t *t)
{
    t->attempt = NULL;
}

static inline const char *target_id(const target_t *t)
{
    return t->attempt ? t->ops->id(t->attempt) : "";
}

static inline bool target_is(const target_t *t, target_kind_t kind)
{
    return t->attempt && t->ops->kind == kind;
}

#endif
