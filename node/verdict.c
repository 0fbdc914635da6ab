/*  verdict — see verdict.h. */
#include "node/verdict.h"

#include <czmq.h>
#include <stdlib.h>

#include "protocol/alog.h"

struct _verdict_t {
    verdict_config_t cfg;
    int recaptcha_strikes;
    long long recaptcha_backoff_ms; /* the next whole-node cooldown */
};

verdict_t *verdict_new(const verdict_config_t *cfg)
{
    verdict_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.cooldown_default_ms <= 0)
        self->cfg.cooldown_default_ms = VERDICT_DEFAULT_COOLDOWN_S * 1000LL;
    if (self->cfg.recaptcha_backoff_ms <= 0)
        self->cfg.recaptcha_backoff_ms = VERDICT_DEFAULT_RECAPTCHA_BACKOFF_S * 1000LL;
    if (self->cfg.recaptcha_backoff_max_ms <= 0)
        self->cfg.recaptcha_backoff_max_ms = VERDICT_DEFAULT_RECAPTCHA_BACKOFF_MAX_S * 1000LL;
    if (self->cfg.recaptcha_backoff_max_ms < self->cfg.recaptcha_backoff_ms)
        self->cfg.recaptcha_backoff_max_ms = self->cfg.recaptcha_backoff_ms;
    self->recaptcha_backoff_ms = self->cfg.recaptcha_backoff_ms;
    return self;
}

void verdict_destroy(verdict_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static void s_cooled(verdict_t *self)
{
    if (self->cfg.on_cooled)
        self->cfg.on_cooled(self->cfg.arg);
}

/*  The answer's Retry-After, else the configured default. */
static long long s_retry_ms(const verdict_t *self, const target_fail_t *f)
{
    return f->retry_after_ms >= 0 ? f->retry_after_ms : self->cfg.cooldown_default_ms;
}

static void s_rate_limit(verdict_t *self, target_fail_t *f, long long now)
{
    const char *model = f->model ? f->model : "";
    f->cooled_ms = cooldown_set(self->cfg.cooldowns, self->cfg.node_id, model, s_retry_ms(self, f),
                                "rate_limited", now);
    alog_info("model %s rate-limited upstream: cooling %llds", model, f->cooled_ms / 1000);
    openai_error_set(&f->err, "rate_limited", NULL,
                     "LMArena rate-limited model %s; retry in %lld s", model,
                     (f->cooled_ms + 999) / 1000);
    s_cooled(self);
}

/*  429 prompt failed: the account is flagged, every tab on it (here and, by
    gossip, on every node) stops for the default cooldown. */
static void s_account_flag(verdict_t *self, target_fail_t *f, long long now)
{
    if (f->account) {
        f->cooled_ms = cooldown_set(self->cfg.cooldowns, f->account, COOLDOWN_ALL,
                                    s_retry_ms(self, f), "account_flag", now);
        alog_warn("LMArena flagged the account of tab %s (429 prompt failed): its tabs rest %llds",
                  f->tab ? f->tab : "?", f->cooled_ms / 1000);
        s_cooled(self);
    }
    openai_error_set(&f->err, "rate_limited", NULL,
                     "LMArena flagged the account (prompt failed); retry in %lld s",
                     (f->cooled_ms + 999) / 1000);
}

static void s_recaptcha_strike(verdict_t *self, target_fail_t *f, long long now)
{
    if (++self->recaptcha_strikes < 2)
        return;
    f->cooled_ms = cooldown_set(self->cfg.cooldowns, self->cfg.node_id, COOLDOWN_ALL,
                                self->recaptcha_backoff_ms, "recaptcha", now);
    alog_warn("reCAPTCHA rejected twice in a row: cooling this node for %llds",
              f->cooled_ms / 1000);
    self->recaptcha_backoff_ms *= 2;
    if (self->recaptcha_backoff_ms > self->cfg.recaptcha_backoff_max_ms)
        self->recaptcha_backoff_ms = self->cfg.recaptcha_backoff_max_ms;
    self->recaptcha_strikes = 0;
    s_cooled(self);
}

void verdict_apply(verdict_t *self, target_fail_t *f)
{
    if (!f->answered)
        return;
    long long now = zclock_time();
    switch (f->cls) {
    case ARENA_FAIL_RATE_LIMIT:
        s_rate_limit(self, f, now);
        break;
    case ARENA_FAIL_ACCOUNT_FLAG:
        s_account_flag(self, f, now);
        break;
    case ARENA_FAIL_RECAPTCHA:
        s_recaptcha_strike(self, f, now);
        break;
    default:
        break;
    }
}

void verdict_success(verdict_t *self)
{
    self->recaptcha_strikes = 0;
    self->recaptcha_backoff_ms = self->cfg.recaptcha_backoff_ms;
}
