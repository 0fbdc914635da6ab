/*  verdict — the dispatcher's cooldown policy (ARCHITECTURE.md, "Cooldowns";
    ARENA-UPSTREAM.md failures table): what a local tab's failure costs. A
    tab classifies LMArena's answer and reports it (target_fail_t); the
    dispatcher hands it here, and this decides:

    - a 429 rate limit cools (this node, the model) for the answer's
      Retry-After, else cooldown_default_ms (never less than 5 s);
    - a 429 "prompt failed" flags the tab's account: every tab on it, here
      and by gossip everywhere, rests that long;
    - two reCAPTCHA rejections in a row cool the whole node, with a back-off
      that doubles up to its ceiling; a tab's good answer starts over.

    It fills the verdict's cooled_ms and, where the time is part of it, the
    client's message. What is the tab's own state (a challenge, a login, a
    drifting answer) stays in node/tabs. Owned by the node thread. */
#ifndef ARENA_VERDICT_H
#define ARENA_VERDICT_H

#include "node/cooldown.h"
#include "node/target.h"

typedef struct _verdict_t verdict_t;

/*  The defaults, cited by the option table (node/config.c). */
#define VERDICT_DEFAULT_COOLDOWN_S 1800
#define VERDICT_DEFAULT_RECAPTCHA_BACKOFF_S 1200
#define VERDICT_DEFAULT_RECAPTCHA_BACKOFF_MAX_S 7200

typedef struct {
    cooldown_t *cooldowns; /* borrowed */
    const char *node_id;
    long long cooldown_default_ms;      /* 0: VERDICT_DEFAULT_COOLDOWN_S */
    long long recaptcha_backoff_ms;     /* first whole-node cooldown, doubles; 0: the default */
    long long recaptcha_backoff_max_ms; /* its ceiling; 0: the default */
    /* a cooldown was set: the node republishes its state (urgent) */
    void (*on_cooled)(void *arg);
    void *arg;
} verdict_config_t;

verdict_t *verdict_new(const verdict_config_t *cfg);
void verdict_destroy(verdict_t **self_p);

/*  Applies the policy to a local tab's failure (f->answered; anything else
    is left as it is). */
void verdict_apply(verdict_t *self, target_fail_t *f);
/*  A local tab answered well: the reCAPTCHA strikes start over. */
void verdict_success(verdict_t *self);

#endif
