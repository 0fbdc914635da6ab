/*  fake_arena — the scripted LMArena of the fake link; see fake_arena.h.

    A fetch goes through the steps the real page and site would take, in
    order: the URL and method (404/405), the content type (400), minting the
    reCAPTCHA token in the page (a `fail` with stage "recaptcha" when the
    sitekey is wrong), the Zod-like schema check of the body (400 "ZodError"),
    the token check (403 "recaptcha validation failed"), the model and
    modality (400), the attachment size (413), duplicate ids (400
    "duplicate"), the pace rules (429 "prompt failed"), and only then the
    scenario. Ids are remembered once a request passes the checks: every
    attempt must use fresh ids. The era (2026 by default, or 2025) decides
    the page's catalog and site key, the allowed modes, whether
    modelBMessageId is required and whether answers carry participant B
    (ARENA-UPSTREAM-2026.md). Over real
    HTTP (fake_arena_handle_http, the fake-arena server) no token is minted
    here: the body brings one and the caller's token_check judges it. */
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tests/support/fake_arena.h"

#define S_DEFAULT_MAX_IDS (1u << 20)
#define S_NAME_MAX 200
#define S_MAX_COUNTED 1024 /* directives whose uses are counted (times=N) */
#define S_ACCOUNT_MAX 128  /* bytes of an account name that tell accounts apart */
#define S_N_DEFAULTS 4     /* the default models, first in every catalog */

typedef struct {
    uint8_t (*slots)[16]; /* all-zero: free (a UUIDv7 is never all zero) */
    size_t mask;          /* slots - 1, or 0 when none */
    size_t n;
} s_idset_t;

typedef struct {
    char *raw;
    unsigned long uses;
} s_counted_t;

/*  One row of the page's catalog. */
typedef struct {
    const fake_link_model_t *m; /* borrowed: self->models or s_era_models */
    char id[UUID_STR_LEN];
    bool selectable; /* userSelectable */
    bool stale;      /* an older twin: its id answers 404 "Models not found" */
} s_row_t;

/*  One account's recent accepted requests, for the pace rules. */
typedef struct {
    char name[S_ACCOUNT_MAX]; /* "" when the slot is free */
    long long last_ms;        /* start of the last accepted request */
    long long *times;         /* ring of the last pace.window accepted starts */
    size_t head, n;
    unsigned long long stamp; /* last use, to evict the oldest */
} s_account_t;

struct _fake_arena_t {
    char *origin;
    char *recaptcha_src;
    fake_era_t era;
    bool twin_retired; /* the twin's newer row answers 404, its older one serves */
    fake_models_t models;
    s_row_t *rows;
    size_t n_rows;
    fake_pace_t pace;
    s_account_t *accounts; /* FAKE_ARENA_MAX_ACCOUNTS, allocated when pacing */
    unsigned long long account_stamp;
    s_idset_t ids_new, ids_old; /* two generations: the oldest half is forgotten */
    size_t max_ids;
    s_counted_t counted[S_MAX_COUNTED];
    size_t n_counted, next_evict;
    unsigned long tokens; /* reCAPTCHA tokens minted */
};

/* ---- ids ----------------------------------------------------------------- */

static int s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*  Canonical UUID text to 16 bytes; -1 when not canonical. */
static int s_uuid_bytes(const char *s, uint8_t out[16])
{
    if (!s || strlen(s) != 36)
        return -1;
    for (int i = 0, b = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return -1;
            continue;
        }
        int hi = s_hex(s[i]), lo = s_hex(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[b++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

static int s_is_uuid7(const uint8_t b[16])
{
    return (b[6] >> 4) == 7 && (b[8] & 0xC0) == 0x80;
}

static size_t s_id_hash(const uint8_t k[16])
{
    uint64_t a, b;
    memcpy(&a, k, 8);
    memcpy(&b, k + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 31));
}

static const uint8_t s_zero[16];

static int s_idset_has(const s_idset_t *s, const uint8_t k[16])
{
    if (!s->slots)
        return 0;
    for (size_t i = s_id_hash(k) & s->mask;; i = (i + 1) & s->mask) {
        if (memcmp(s->slots[i], s_zero, 16) == 0)
            return 0;
        if (memcmp(s->slots[i], k, 16) == 0)
            return 1;
    }
}

static void s_idset_put(s_idset_t *s, const uint8_t k[16])
{
    size_t i = s_id_hash(k) & s->mask;
    while (memcmp(s->slots[i], s_zero, 16) != 0)
        i = (i + 1) & s->mask;
    memcpy(s->slots[i], k, 16);
    s->n++;
}

/*  Adds k, growing to keep the load at most one half. 0 or -1. */
static int s_idset_add(s_idset_t *s, const uint8_t k[16])
{
    if (!s->slots || (s->n + 1) * 2 > s->mask + 1) {
        size_t cap = s->slots ? (s->mask + 1) * 2 : 1024;
        s_idset_t bigger = {calloc(cap, 16), cap - 1, 0};
        if (!bigger.slots)
            return -1;
        for (size_t i = 0; s->slots && i <= s->mask; i++)
            if (memcmp(s->slots[i], s_zero, 16) != 0)
                s_idset_put(&bigger, s->slots[i]);
        free(s->slots);
        *s = bigger;
    }
    s_idset_put(s, k);
    return 0;
}

static void s_idset_free(s_idset_t *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static int s_seen(const fake_arena_t *self, const uint8_t k[16])
{
    return s_idset_has(&self->ids_new, k) || s_idset_has(&self->ids_old, k);
}

static int s_remember(fake_arena_t *self, const uint8_t k[16])
{
    if (self->ids_new.n >= self->max_ids / 2) {
        s_idset_free(&self->ids_old);
        self->ids_old = self->ids_new;
        memset(&self->ids_new, 0, sizeof self->ids_new);
    }
    return s_idset_add(&self->ids_new, k);
}

/* ---- models -------------------------------------------------------------- */

void fake_link_model_uuid(const char *name, char out[UUID_STR_LEN])
{
    static const char tag[] = "fake-arena-model:";
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)tag, sizeof tag - 1);
    crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
    crypto_generichash_final(&st, h, sizeof h);
    h[6] = (uint8_t)((h[6] & 0x0F) | 0x40);
    h[8] = (uint8_t)((h[8] & 0x3F) | 0x80);
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

/*  BLAKE2b-128 of tag + name. */
static void s_name_hash(const char *tag, const char *name, uint8_t h[16])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, (const unsigned char *)tag, strlen(tag));
    crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
    crypto_generichash_final(&st, h, 16);
}

void fake_link_model_uuid7(const char *name, long long base_ms, char out[UUID_STR_LEN])
{
    uint8_t h[16];
    s_name_hash("fake-arena-model-v7:", name, h);
    uint32_t off = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    uint64_t ts = (uint64_t)base_ms + off % 86400000u; /* under one day after base_ms */
    for (int i = 0; i < 6; i++)
        h[i] = (uint8_t)(ts >> (40 - 8 * i));
    h[6] = (uint8_t)((h[6] & 0x0F) | 0x70);
    h[8] = (uint8_t)((h[8] & 0x3F) | 0x80);
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

void fake_link_model_id(const char *name, const char *era, char out[UUID_STR_LEN])
{
    fake_era_t e = FAKE_ERA_2026;
    if (fake_era_parse(era, &e) == 0 && e == FAKE_ERA_2025)
        fake_link_model_uuid(name, out);
    else
        fake_link_model_uuid7(name, FAKE_LINK_UUID7_BASE_MS, out);
}

bool fake_link_account_ok(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++, n++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return s && n == 32;
}

/* ---- eras ---------------------------------------------------------------- */

int fake_era_parse(const char *s, fake_era_t *out)
{
    if (!s || strcmp(s, "2026") == 0)
        *out = FAKE_ERA_2026;
    else if (strcmp(s, "2025") == 0)
        *out = FAKE_ERA_2025;
    else
        return -1;
    return 0;
}

const char *fake_era_name(fake_era_t era)
{
    return era == FAKE_ERA_2025 ? "2025" : "2026";
}

const char *fake_era_sitekey(fake_era_t era)
{
    return era == FAKE_ERA_2025 ? FAKE_ARENA_SITEKEY_2025 : FAKE_ARENA_SITEKEY_2026;
}

static const fake_link_model_t s_default_models[S_N_DEFAULTS] = {
    {"fake-chat", NULL, "chat", NULL, true},
    {"fake-chat-2", NULL, "chat", NULL, false},
    {"fake-image", NULL, "image", NULL, true},
    {"fake-search", NULL, "search", NULL, false},
};

/*  The 2026 page's extra rows, after the defaults: the twin's stale row,
    its live row, and a row users may not select. */
static const fake_link_model_t s_era_models[] = {
    {FAKE_ARENA_TWIN, NULL, "chat", "fakeco", false},
    {FAKE_ARENA_HIDDEN, NULL, "chat", "fakeco", false},
};

__attribute__((format(printf, 3, 4))) static int s_err(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void s_model_free(fake_link_model_t *m)
{
    free((void *)m->name);
    free((void *)m->id);
    free((void *)m->modality);
    free((void *)m->organization);
    memset(m, 0, sizeof *m);
}

void fake_models_free(fake_models_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        s_model_free(&m->models[i]);
    free(m->models);
    memset(m, 0, sizeof *m);
}

static int s_printable_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_NAME_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return 0;
    return 1;
}

/*  Validates src and adds a deep copy (replacing a model of the same name). */
static int s_models_add(fake_models_t *m, const fake_link_model_t *src, char *err, size_t errlen)
{
    if (!src->name || !s_printable_name(src->name))
        return s_err(err, errlen, "model name missing, empty, over %d bytes or not printable",
                     S_NAME_MAX);
    const char *modality = src->modality ? src->modality : "chat";
    if (strcmp(modality, "chat") && strcmp(modality, "image") && strcmp(modality, "search"))
        return s_err(err, errlen, "model %s: modality \"%s\" is not chat, image or search",
                     src->name, modality);
    uint8_t b[16];
    if (src->id && s_uuid_bytes(src->id, b) < 0)
        return s_err(err, errlen, "model %s: id \"%s\" is not a UUID", src->name, src->id);
    if (src->organization && strlen(src->organization) > S_NAME_MAX)
        return s_err(err, errlen, "model %s: organization too long", src->name);
    size_t at = m->n;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->models[i].name, src->name) == 0)
            at = i;
    if (at == m->n && m->n == FAKE_LINK_MAX_MODELS)
        return s_err(err, errlen, "more than %d models", FAKE_LINK_MAX_MODELS);
    /* id stays NULL when not given: each era's page derives its own. */
    fake_link_model_t copy = {strdup(src->name), src->id ? strdup(src->id) : NULL, strdup(modality),
                              strdup(src->organization ? src->organization : "fakeco"),
                              src->image_input};
    if (!copy.name || (src->id && !copy.id) || !copy.modality || !copy.organization) {
        s_model_free(&copy);
        return s_err(err, errlen, "out of memory");
    }
    if (at == m->n) {
        fake_link_model_t *grown = realloc(m->models, (m->n + 1) * sizeof *grown);
        if (!grown) {
            s_model_free(&copy);
            return s_err(err, errlen, "out of memory");
        }
        m->models = grown;
        m->n++;
    } else {
        s_model_free(&m->models[at]);
    }
    m->models[at] = copy;
    return 0;
}

static const char *s_opt_string(json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (v && !json_is_string(v))
        *bad = 1;
    return json_string_value(v);
}

static int s_models_from_json(fake_models_t *m, const char *text, size_t len, char *err,
                              size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return s_err(err, errlen, "models file: line %d: %s", jerr.line, jerr.text);
    int rc = 0;
    if (!json_is_array(root))
        rc = s_err(err, errlen, "models file: not a JSON array");
    for (size_t i = 0; rc == 0 && i < json_array_size(root); i++) {
        json_t *o = json_array_get(root, i);
        int bad = !json_is_object(o);
        json_t *img = json_object_get(o, "image_input");
        fake_link_model_t src = {s_opt_string(o, "name", &bad), s_opt_string(o, "id", &bad),
                                 s_opt_string(o, "modality", &bad),
                                 s_opt_string(o, "organization", &bad), json_is_true(img)};
        if (img && !json_is_boolean(img))
            bad = 1;
        if (bad)
            rc = s_err(err, errlen,
                       "models file: entry %zu: expected {\"name\":string, "
                       "\"id\"?:string, \"modality\"?:string, \"organization\"?:string, "
                       "\"image_input\"?:bool}",
                       i);
        else if (s_models_add(m, &src, err, errlen) < 0)
            rc = -1;
    }
    json_decref(root);
    return rc;
}

int fake_models_build(const fake_link_model_t *extra, size_t n_extra, const char *file_text,
                      size_t file_len, fake_models_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t n_def = sizeof s_default_models / sizeof s_default_models[0];
    for (size_t i = 0; i < n_def; i++)
        if (s_models_add(out, &s_default_models[i], err, errlen) < 0)
            goto fail;
    for (size_t i = 0; i < n_extra; i++)
        if (s_models_add(out, &extra[i], err, errlen) < 0)
            goto fail;
    if (file_text && s_models_from_json(out, file_text, file_len, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    fake_models_free(out);
    return -1;
}

static const s_row_t *s_row_by_id(const fake_arena_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->n_rows; i++)
        if (strcasecmp(self->rows[i].id, id) == 0)
            return &self->rows[i];
    return NULL;
}

static void s_row_set(s_row_t *r, const fake_link_model_t *m, fake_era_t era, long long base_ms,
                      bool selectable, bool stale)
{
    r->m = m;
    r->selectable = selectable;
    r->stale = stale;
    if (m->id)
        snprintf(r->id, sizeof r->id, "%s", m->id);
    else if (base_ms)
        fake_link_model_uuid7(m->name, base_ms, r->id);
    else
        fake_link_model_id(m->name, fake_era_name(era), r->id);
}

/*  The page's rows for the era: the defaults, in 2026 the twin (stale, then
    live) and the hidden row, then every other model. 0 or -1. */
static int s_rows_build(fake_arena_t *self)
{
    s_row_t *rows = calloc(self->models.n + 3, sizeof *rows);
    if (!rows)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i <= self->models.n; i++) {
        if (i == S_N_DEFAULTS && self->era == FAKE_ERA_2026) {
            s_row_set(&rows[n++], &s_era_models[0], self->era, FAKE_LINK_UUID7_STALE_MS, true,
                      !self->twin_retired);
            s_row_set(&rows[n++], &s_era_models[0], self->era, 0, true, self->twin_retired);
            s_row_set(&rows[n++], &s_era_models[1], self->era, 0, false, false);
        }
        if (i < self->models.n)
            s_row_set(&rows[n++], &self->models.models[i], self->era, 0, true, false);
    }
    free(self->rows);
    self->rows = rows;
    self->n_rows = n;
    return 0;
}

/* ---- the arena ----------------------------------------------------------- */

fake_arena_t *fake_arena_new(const fake_arena_config_t *cfg, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        s_err(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    fake_era_t era;
    if (fake_era_parse(cfg->era, &era) < 0) {
        s_err(err, errlen, "era \"%.20s\" is not 2026 or 2025", cfg->era);
        return NULL;
    }
    fake_arena_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    self->era = era;
    self->origin = strdup(cfg->origin ? cfg->origin : FAKE_LINK_DEFAULT_ORIGIN);
    self->recaptcha_src = strdup(FAKE_ARENA_RECAPTCHA_SRC);
    self->max_ids = cfg->max_ids ? cfg->max_ids : S_DEFAULT_MAX_IDS;
    if (self->max_ids < 8)
        self->max_ids = 8;
    if (!self->origin || !self->recaptcha_src) {
        s_err(err, errlen, "out of memory");
        goto fail;
    }
    if (fake_models_build(cfg->models, cfg->n_models, cfg->models_text, cfg->models_len,
                          &self->models, err, errlen) < 0)
        goto fail;
    if (s_rows_build(self) < 0) {
        s_err(err, errlen, "out of memory");
        goto fail;
    }
    return self;
fail:
    fake_arena_destroy(&self);
    return NULL;
}

void fake_arena_destroy(fake_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fake_arena_t *self = *self_p;
    free(self->origin);
    free(self->recaptcha_src);
    fake_models_free(&self->models);
    free(self->rows);
    for (size_t i = 0; self->accounts && i < FAKE_ARENA_MAX_ACCOUNTS; i++)
        free(self->accounts[i].times);
    free(self->accounts);
    s_idset_free(&self->ids_new);
    s_idset_free(&self->ids_old);
    for (size_t i = 0; i < self->n_counted; i++)
        free(self->counted[i].raw);
    free(self);
    *self_p = NULL;
}

/*  How many fetches (this one included) carried this exact directive. */
static unsigned long s_count_use(fake_arena_t *self, const char *raw)
{
    for (size_t i = 0; i < self->n_counted; i++)
        if (strcmp(self->counted[i].raw, raw) == 0)
            return ++self->counted[i].uses;
    char *copy = strdup(raw);
    if (!copy)
        return 1;
    s_counted_t *slot;
    if (self->n_counted < S_MAX_COUNTED) {
        slot = &self->counted[self->n_counted++];
    } else {
        slot = &self->counted[self->next_evict];
        self->next_evict = (self->next_evict + 1) % S_MAX_COUNTED;
        free(slot->raw);
    }
    *slot = (s_counted_t){copy, 1};
    return 1;
}

/* ---- outcomes ------------------------------------------------------------ */

void fake_outcome_clear(fake_outcome_t *o)
{
    if (!o)
        return;
    fake_plan_clear(&o->plan);
    json_decref(o->body);
    json_decref(o->recaptcha);
    memset(o, 0, sizeof *o);
}

/*  A refusal: status, content type and whole body; reason for the event. */
static int s_refuse(fake_outcome_t *o, int status, const char *content_type, const char *body,
                    const char *reason)
{
    o->rejected = true;
    snprintf(o->reason, sizeof o->reason, "%s", reason);
    o->plan.status = status;
    o->plan.content_type = content_type;
    if (abuf_puts(&o->plan.body, body) < 0 ||
        fake_plan_add_chunk(&o->plan, 0, o->plan.body.len, 0) < 0)
        return -1;
    return 0;
}

/*  {"error": message} with the given status. */
static int s_refuse_json(fake_outcome_t *o, int status, const char *message, const char *reason)
{
    json_t *v = json_pack("{s:s}", "error", message);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    int rc = text ? s_refuse(o, status, "application/json", text, reason ? reason : message) : -1;
    free(text);
    return rc;
}

/*  A page-side failure: no request left the page. */
static void s_page_fail(fake_outcome_t *o, const char *stage, const char *message)
{
    o->rejected = true;
    snprintf(o->reason, sizeof o->reason, "%s", message);
    o->plan.end = FAKE_END_FAIL;
    o->plan.fail_stage = stage;
    snprintf(o->plan.fail_message, sizeof o->plan.fail_message, "%s", message);
}

/* ---- Zod-like schema check ------------------------------------------------ */

static const char *s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/*  One Zod issue: {"code","expected","received","path","message"}. */
static json_t *s_issue_type(json_t *path, const char *expected, const json_t *got)
{
    const char *received = got ? s_type_name(got) : "undefined";
    char msg[96];
    if (got)
        snprintf(msg, sizeof msg, "Expected %s, received %s", expected, received);
    else
        snprintf(msg, sizeof msg, "Required");
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "code", "invalid_type", "expected", expected,
                     "received", received, "path", path, "message", msg);
}

static json_t *s_path(const char *a, const char *b)
{
    return b ? json_pack("[s,s]", a, b) : a ? json_pack("[s]", a) : json_array();
}

/*  Checks a UUIDv7 string member. NULL when fine, else an issue. */
static json_t *s_check_id(json_t *body, const char *key, uint8_t out[16])
{
    json_t *v = json_object_get(body, key);
    if (!json_is_string(v))
        return s_issue_type(s_path(key, NULL), "string", v);
    if (s_uuid_bytes(json_string_value(v), out) < 0 || !s_is_uuid7(out))
        return json_pack("{s:s,s:s,s:s,s:o}", "validation", "uuid", "code", "invalid_string",
                         "message", "Invalid uuid (expected a version 7 UUID)", "path",
                         s_path(key, NULL));
    return NULL;
}

static json_t *s_check_enum(json_t *body, const char *key, const char *const *options, size_t n)
{
    json_t *v = json_object_get(body, key);
    if (!json_is_string(v))
        return s_issue_type(s_path(key, NULL), "string", v);
    json_t *opts = json_array();
    char msg[160] = "Invalid enum value. Expected ";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(json_string_value(v), options[i]) == 0) {
            json_decref(opts);
            return NULL;
        }
        json_array_append_new(opts, json_string(options[i]));
        size_t at = strlen(msg);
        snprintf(msg + at, sizeof msg - at, "%s'%s'", i ? " | " : "", options[i]);
    }
    size_t at = strlen(msg);
    snprintf(msg + at, sizeof msg - at, ", received '%.32s'", json_string_value(v));
    return json_pack("{s:s,s:s,s:o,s:o,s:s}", "received", json_string_value(v), "code",
                     "invalid_enum_value", "options", opts, "path", s_path(key, NULL), "message",
                     msg);
}

static json_t *s_check_attachments(json_t *um)
{
    json_t *atts = json_object_get(um, "experimental_attachments");
    if (!atts)
        return NULL;
    if (!json_is_array(atts))
        return s_issue_type(s_path("userMessage", "experimental_attachments"), "array", atts);
    size_t i;
    json_t *a;
    json_array_foreach(atts, i, a)
    {
        static const char *const keys[] = {"name", "contentType", "url"};
        const char *bad = NULL;
        for (size_t k = 0; k < 3 && !bad; k++)
            if (!json_is_string(json_object_get(a, keys[k])))
                bad = keys[k];
        if (!json_is_object(a) || bad) {
            json_t *path =
                json_pack("[s,s,I]", "userMessage", "experimental_attachments", (json_int_t)i);
            if (bad && json_is_object(a))
                json_array_append_new(path, json_string(bad));
            return s_issue_type(path, json_is_object(a) ? "string" : "object",
                                json_is_object(a) ? json_object_get(a, bad) : a);
        }
    }
    return NULL;
}

static json_t *s_check_user_message(json_t *body)
{
    json_t *um = json_object_get(body, "userMessage");
    if (!json_is_object(um))
        return s_issue_type(s_path("userMessage", NULL), "object", um);
    json_t *content = json_object_get(um, "content");
    if (!json_is_string(content))
        return s_issue_type(s_path("userMessage", "content"), "string", content);
    json_t *issue = s_check_attachments(um);
    if (issue)
        return issue;
    json_t *meta = json_object_get(um, "metadata");
    if (!json_is_object(meta))
        return s_issue_type(s_path("userMessage", "metadata"), "object", meta);
    return NULL;
}

/*  The first schema issue of the body, or NULL. ids receives the ids
    (*n_ids: 3, or 4 with modelBMessageId). 2025 allows mode "direct" only
    and requires modelBMessageId; 2026 allows the four modes of the site's
    Zod enum and requires modelBMessageId only for side-by-side and battle. */
static json_t *s_check_schema(json_t *body, fake_era_t era, uint8_t ids[4][16], size_t *n_ids)
{
    static const char *const id_keys[] = {"id", "userMessageId", "modelAMessageId",
                                          "modelBMessageId"};
    static const char *const modes_2025[] = {"direct"};
    static const char *const modes_2026[] = {"direct", "direct-battle", "side-by-side", "battle"};
    static const char *const modalities[] = {"chat", "image", "search"};
    *n_ids = 0;
    if (!json_is_object(body))
        return s_issue_type(s_path(NULL, NULL), "object", body);
    json_t *issue = s_check_id(body, id_keys[0], ids[0]);
    if (!issue)
        issue = era == FAKE_ERA_2025 ? s_check_enum(body, "mode", modes_2025, 1)
                                     : s_check_enum(body, "mode", modes_2026, 4);
    if (!issue && !json_is_string(json_object_get(body, "modelAId")))
        issue = s_issue_type(s_path("modelAId", NULL), "string", json_object_get(body, "modelAId"));
    const char *mode = json_string_value(json_object_get(body, "mode"));
    bool need_b = era == FAKE_ERA_2025 ||
                  (mode && (strcmp(mode, "side-by-side") == 0 || strcmp(mode, "battle") == 0));
    size_t n = need_b || json_object_get(body, id_keys[3]) ? 4 : 3;
    for (size_t i = 1; i < n && !issue; i++)
        issue = s_check_id(body, id_keys[i], ids[i]);
    if (!issue)
        *n_ids = n;
    if (!issue)
        issue = s_check_user_message(body);
    if (!issue)
        issue = s_check_enum(body, "modality", modalities, 3);
    return issue;
}

static int s_refuse_zod(fake_outcome_t *o, json_t *issue)
{
    json_t *issues = json_array();
    json_array_append_new(issues, issue);
    char *text = json_dumps(issues, JSON_COMPACT);
    json_decref(issues);
    if (!text)
        return -1;
    size_t n = strlen(text) + 16;
    char *msg = malloc(n);
    int rc = -1;
    if (msg) {
        snprintf(msg, n, "ZodError: %s", text);
        rc = s_refuse_json(o, 400, msg, msg);
    }
    free(msg);
    free(text);
    return rc;
}

/* ---- the request's steps -------------------------------------------------- */

static const char *s_header(json_t *headers, const char *name)
{
    const char *key;
    json_t *v;
    json_object_foreach(headers, key, v)
    {
        if (strcasecmp(key, name) == 0)
            return json_string_value(v);
    }
    return NULL;
}

/*  URL, method and content type. 1 when refused, 0 to go on, -1 on OOM. */
static int s_check_transport(fake_arena_t *self, const fake_request_t *req, fake_outcome_t *o)
{
    size_t olen = strlen(self->origin);
    const char *path = req->url;
    if (path && strncmp(path, self->origin, olen) == 0 && path[olen] == '/')
        path += olen;
    if (!path || strcmp(path, FAKE_ARENA_PATH) != 0)
        return s_refuse(o, 404, "text/html; charset=utf-8",
                        "<!DOCTYPE html><html><head><title>404: This page could not be found."
                        "</title></head><body><h1>404</h1><h2>This page could not be found.</h2>"
                        "</body></html>",
                        "unknown url") < 0
                   ? -1
                   : 1;
    if (!req->method || strcasecmp(req->method, "POST") != 0)
        return s_refuse_json(o, 405, "Method Not Allowed", "method is not POST") < 0 ? -1 : 1;
    const char *ct = s_header(req->headers, "content-type");
    if (!ct || strcasecmp(ct, FAKE_ARENA_CONTENT_TYPE) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "Unsupported content-type \"%.80s\" (expected %s)", ct ? ct : "",
                 FAKE_ARENA_CONTENT_TYPE);
        return s_refuse_json(o, 400, msg, msg) < 0 ? -1 : 1;
    }
    return 0;
}

/*  What the page does before sending: parse the body, mint a token, set it
    as the asked field, serialise again (JSON.stringify). *upstream receives
    the text LMArena gets (malloc'd). 1 when the page failed, 0, -1 OOM. */
static int s_page_send(fake_arena_t *self, const fake_request_t *req, fake_outcome_t *o,
                       char **upstream, char token[80])
{
    token[0] = '\0';
    if (!req->rc_field) {
        *upstream = req->body ? strndup(req->body, req->body_len) : strdup("");
        return *upstream ? 0 : -1;
    }
    o->recaptcha = json_pack("{s:s,s:s}", "field", req->rc_field, "action",
                             req->rc_action ? req->rc_action : "");
    if (!o->recaptcha)
        return -1;
    if (req->rc_sitekey) {
        json_object_set_new(o->recaptcha, "sitekey", json_string(req->rc_sitekey));
        if (strcmp(req->rc_sitekey, fake_era_sitekey(self->era)) != 0) {
            s_page_fail(o, "recaptcha", "Invalid site key or not loaded in api.js");
            return 1;
        }
    }
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        s_page_fail(o, "fetch", "the body is not a JSON object: cannot set the reCAPTCHA token");
        return 1;
    }
    char rnd[UUID_STR_LEN];
    uuid4_generate(rnd);
    snprintf(token, 80, "03AFcWeA-fake.%lu.%s", ++self->tokens, rnd);
    json_object_set_new(o->recaptcha, "token", json_string(token));
    json_object_set_new(body, req->rc_field, json_string(token));
    *upstream = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return *upstream ? 0 : -1;
}

/*  A token the body brought (the HTTP server's pages mint their own): the
    request's token_check decides. 1 when refused, 0 when valid, -1 OOM. */
static int s_check_brought_token(const fake_http_t *http, json_t *body, fake_outcome_t *o)
{
    const char *sent = json_string_value(json_object_get(body, FAKE_ARENA_RC_FIELD));
    char why[200] = "";
    if (!sent)
        snprintf(why, sizeof why, "no recaptchaV3Token in the body");
    else if (http->token_check(http->token_arg, sent, why, sizeof why) == 0)
        return 0;
    else if (!why[0])
        snprintf(why, sizeof why, "recaptchaV3Token refused");
    return s_refuse_json(o, 403, "recaptcha validation failed", why) < 0 ? -1 : 1;
}

/*  The token minted in the page for this request. 1 when refused. */
static int s_check_minted_token(json_t *body, const char *token, fake_outcome_t *o)
{
    const char *sent = json_string_value(json_object_get(body, FAKE_ARENA_RC_FIELD));
    const char *action = json_string_value(json_object_get(o->recaptcha, "action"));
    if (!sent || !token[0] || strcmp(sent, token) != 0)
        return s_refuse_json(o, 403, "recaptcha validation failed",
                             "no freshly minted recaptchaV3Token in the body") < 0
                   ? -1
                   : 1;
    if (!action || strcmp(action, FAKE_ARENA_RC_ACTION) != 0)
        return s_refuse_json(o, 403, "recaptcha validation failed",
                             "token minted for another action") < 0
                   ? -1
                   : 1;
    return 0;
}

/*  The token, then model, modality and attachments. 1 when refused. */
static int s_check_semantics(fake_arena_t *self, const fake_http_t *http, json_t *body,
                             const char *token, fake_outcome_t *o)
{
    int rc = http ? s_check_brought_token(http, body, o) : s_check_minted_token(body, token, o);
    if (rc != 0)
        return rc;
    const char *model_id = json_string_value(json_object_get(body, "modelAId"));
    const s_row_t *row = s_row_by_id(self, model_id);
    char msg[256];
    if (!row) {
        snprintf(msg, sizeof msg, "Invalid modelAId: model %.64s not found", model_id);
        return s_refuse_json(o, 400, msg, msg) < 0 ? -1 : 1;
    }
    if (row->stale) {
        snprintf(msg, sizeof msg, "Models not found: %s", row->id);
        return s_refuse_json(o, 404, msg, msg) < 0 ? -1 : 1;
    }
    if (!row->selectable)
        return s_refuse_json(o, 400, "Selected model is not available for user selection", NULL) < 0
                   ? -1
                   : 1;
    const fake_link_model_t *m = row->m;
    const char *modality = json_string_value(json_object_get(body, "modality"));
    if (strcmp(modality, m->modality) != 0) {
        snprintf(msg, sizeof msg, "Invalid modality \"%s\" for model %s (expected \"%s\")",
                 modality, m->name, m->modality);
        return s_refuse_json(o, 400, msg, msg) < 0 ? -1 : 1;
    }
    json_t *atts =
        json_object_get(json_object_get(body, "userMessage"), "experimental_attachments");
    size_t i;
    json_t *a;
    json_array_foreach(atts, i, a)
    {
        if (!m->image_input) {
            snprintf(msg, sizeof msg, "Model %s does not support image input", m->name);
            return s_refuse_json(o, 400, msg, msg) < 0 ? -1 : 1;
        }
        if (json_string_length(json_object_get(a, "url")) > FAKE_ARENA_MAX_ATTACHMENT)
            return s_refuse_json(o, 413, "Payload too large", "attachment over 5 MiB") < 0 ? -1 : 1;
    }
    return 0;
}

/*  Duplicate ids (against memory and within the body), then remember them. */
static int s_check_fresh(fake_arena_t *self, uint8_t ids[4][16], size_t n, fake_outcome_t *o)
{
    for (size_t i = 0; i < n; i++) {
        int dup = s_seen(self, ids[i]);
        for (size_t j = 0; j < i && !dup; j++)
            dup = memcmp(ids[i], ids[j], 16) == 0;
        if (dup) {
            const char *msg = i == 0 ? "duplicate evaluation session id" : "duplicate message id";
            return s_refuse_json(o, 400, msg, msg) < 0 ? -1 : 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (s_remember(self, ids[i]) < 0)
            return -1;
    return 0;
}

/*  force, else the prompt's last directive, else fallback, else text. */
static int s_choose(const fake_request_t *req, const char *content, size_t len, fake_directive_t *d,
                    char *err, size_t errlen)
{
    if (req->force)
        return fake_directive_parse(req->force, d, err, errlen);
    int found = fake_directive_find(content, len, d, err, errlen);
    if (found != 0)
        return found < 0 ? -1 : 0;
    return fake_directive_parse(req->fallback ? req->fallback : "text", d, err, errlen);
}

static int s_run_scenario(fake_arena_t *self, const fake_request_t *req, bool bytes, json_t *body,
                          const char *upstream, fake_outcome_t *o)
{
    json_t *content = json_object_get(json_object_get(body, "userMessage"), "content");
    const char *who = bytes ? "fake-arena" : "fake-link";
    fake_directive_t d;
    char err[300], msg[400];
    if (s_choose(req, json_string_value(content), json_string_length(content), &d, err,
                 sizeof err) < 0) {
        snprintf(msg, sizeof msg, "%s: bad directive: %s", who, err);
        return s_refuse_json(o, 500, msg, msg);
    }
    snprintf(o->scenario, sizeof o->scenario, "%s", d.name);
    bool counted = strcmp(d.name, "recaptcha") == 0 || strcmp(d.name, "promptfailed") == 0 ||
                   (strcmp(d.name, "text") == 0 && fake_directive_get(&d, "then"));
    fake_scenario_in_t in = {&d,
                             json_string_value(content),
                             json_string_length(content),
                             upstream,
                             strlen(upstream),
                             counted ? s_count_use(self, d.raw) : 1,
                             self->era == FAKE_ERA_2026};
    int rc = bytes ? fake_scenario_plan_bytes(&in, &o->plan, err, sizeof err)
                   : fake_scenario_plan(&in, &o->plan, err, sizeof err);
    fake_directive_clear(&d);
    if (rc == 0)
        return 0;
    snprintf(msg, sizeof msg, "%s: bad directive: %s", who, err);
    return s_refuse_json(o, 500, msg, msg);
}

/* ---- pace ----------------------------------------------------------------- */

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  The account's slot, taking the least recently used one for a new
    account. NULL when out of memory. */
static s_account_t *s_account(fake_arena_t *self, const char *name)
{
    if (!self->accounts &&
        !(self->accounts = calloc(FAKE_ARENA_MAX_ACCOUNTS, sizeof *self->accounts)))
        return NULL;
    char key[S_ACCOUNT_MAX];
    snprintf(key, sizeof key, "%s", name);
    s_account_t *a = NULL, *victim = NULL; /* a free slot, else the least recently used */
    for (size_t i = 0; i < FAKE_ARENA_MAX_ACCOUNTS && !a; i++) {
        s_account_t *s = &self->accounts[i];
        if (s->name[0] && strcmp(s->name, key) == 0)
            a = s;
        else if (!victim || (victim->name[0] && (!s->name[0] || s->stamp < victim->stamp)))
            victim = s;
    }
    if (!a) {
        a = victim;
        free(a->times);
        memset(a, 0, sizeof *a);
        memcpy(a->name, key, sizeof key);
    }
    if (self->pace.window && !a->times && !(a->times = calloc(self->pace.window, sizeof *a->times)))
        return NULL;
    a->stamp = ++self->account_stamp;
    return a;
}

/*  The pace rules: 1 when the request is refused (429 prompt failed), 0
    when accepted (and counted), -1 out of memory. */
static int s_check_pace(fake_arena_t *self, const char *account, fake_outcome_t *o)
{
    const fake_pace_t *p = &self->pace;
    if (!p->interval_ms && !p->window)
        return 0;
    const char *name = account && account[0] ? account : FAKE_ARENA_ACCOUNT_DEFAULT;
    s_account_t *a = s_account(self, name);
    if (!a)
        return -1;
    long long now = s_now_ms();
    char why[200] = "";
    size_t recent = 0;
    for (size_t i = 0; p->window && i < a->n; i++)
        recent += now - a->times[i] < (long long)p->window_ms;
    if (p->interval_ms && a->n && now - a->last_ms < (long long)p->interval_ms)
        snprintf(why, sizeof why, "pace: %lld ms after account %.40s's previous request (%u)",
                 now - a->last_ms, name, p->interval_ms);
    else if (p->window && recent >= p->window)
        snprintf(why, sizeof why, "pace: account %.40s already sent %zu requests within %u ms",
                 name, recent, p->window_ms);
    if (why[0]) {
        o->pace_violation = true;
        return s_refuse_json(o, 429, "prompt failed", why) < 0 ? -1 : 1;
    }
    a->last_ms = now;
    if (p->window) {
        a->times[a->head] = now;
        a->head = (a->head + 1) % p->window;
        if (a->n < p->window)
            a->n++;
    } else {
        a->n = 1; /* the interval rule only needs "there was one" */
    }
    return 0;
}

int fake_arena_set_pace(fake_arena_t *self, const fake_pace_t *pace)
{
    fake_pace_t p = pace ? *pace : (fake_pace_t){0, 0, 0};
    if (p.window > FAKE_ARENA_MAX_PACE_WINDOW || p.interval_ms > FAKE_ARENA_MAX_PACE_MS ||
        p.window_ms > FAKE_ARENA_MAX_PACE_MS || (p.window && !p.window_ms))
        return -1;
    for (size_t i = 0; self->accounts && i < FAKE_ARENA_MAX_ACCOUNTS; i++)
        free(self->accounts[i].times);
    free(self->accounts);
    self->accounts = NULL;
    self->pace = p;
    return 0;
}

void fake_arena_set_era(fake_arena_t *self, fake_era_t era)
{
    fake_era_t was = self->era;
    self->era = era;
    if (s_rows_build(self) < 0)
        self->era = was; /* out of memory: the old rows stay right for the old era */
}

fake_era_t fake_arena_era(const fake_arena_t *self)
{
    return self->era;
}

int fake_arena_set_twin_retired(fake_arena_t *self, bool retired)
{
    bool was = self->twin_retired;
    self->twin_retired = retired;
    if (s_rows_build(self) < 0) {
        self->twin_retired = was; /* out of memory: the old rows stay */
        return -1;
    }
    return 0;
}

bool fake_arena_twin_retired(const fake_arena_t *self)
{
    return self->twin_retired;
}

const char *fake_arena_sitekey(const fake_arena_t *self)
{
    return fake_era_sitekey(self->era);
}

/* ---- a request ------------------------------------------------------------ */

static int s_handle(fake_arena_t *self, const fake_request_t *req, const fake_http_t *http,
                    fake_outcome_t *o)
{
    char *upstream = NULL, token[80];
    if (req->body) {
        json_t *sent = json_loadb(req->body, req->body_len, 0, NULL);
        o->body = sent ? sent : json_stringn(req->body, req->body_len);
    }
    int rc = s_check_transport(self, req, o);
    if (rc == 0 && http && req->rc_field)
        rc = -1; /* programmer error: an HTTP request brings its own token */
    if (rc == 0)
        rc = s_page_send(self, req, o, &upstream, token);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    json_t *body = json_loads(upstream, 0, NULL);
    json_decref(o->body);
    o->body = body ? json_incref(body) : json_string(upstream);
    uint8_t ids[4][16];
    size_t n_ids;
    json_t *issue = s_check_schema(body, self->era, ids, &n_ids);
    if (issue)
        rc = s_refuse_zod(o, issue) < 0 ? -1 : 1;
    if (rc == 0 && self->era == FAKE_ERA_2026 &&
        strcmp(json_string_value(json_object_get(body, "mode")), "direct") == 0)
        rc = s_refuse_json(o, 400, "'direct' mode is not allowed when starting a new conversation",
                           NULL) < 0
                 ? -1
                 : 1;
    if (rc == 0)
        rc = s_check_semantics(self, http, body, token, o);
    if (rc == 0)
        rc = s_check_fresh(self, ids, n_ids, o);
    if (rc == 0)
        rc = s_check_pace(self, req->account, o);
    if (rc == 0)
        rc = s_run_scenario(self, req, http != NULL, body, upstream, o);
    json_decref(body);
    free(upstream);
    return rc < 0 ? -1 : 0;
}

int fake_arena_handle(fake_arena_t *self, const fake_request_t *req, fake_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_handle(self, req, NULL, out) < 0) {
        fake_outcome_clear(out);
        return -1;
    }
    return 0;
}

int fake_arena_handle_http(fake_arena_t *self, const fake_request_t *req, const fake_http_t *http,
                           fake_outcome_t *out)
{
    memset(out, 0, sizeof *out);
    if (!http || !http->token_check || s_handle(self, req, http, out) < 0) {
        fake_outcome_clear(out);
        return -1;
    }
    return 0;
}

int fake_arena_set_recaptcha_src(fake_arena_t *self, const char *src)
{
    char *copy = strdup(src ? src : FAKE_ARENA_RECAPTCHA_SRC);
    if (!copy)
        return -1;
    free(self->recaptcha_src);
    self->recaptcha_src = copy;
    return 0;
}

/* ---- the page ------------------------------------------------------------ */

/*  "fake-chat-2" → "Fake Chat 2": the human name of the 2026 rows. */
static char *s_display_name(const char *name)
{
    char *d = strdup(name);
    for (char *p = d; p && *p; p++) {
        if (*p == '-' || *p == '_')
            *p = ' ';
        else if ((p == d || p[-1] == ' ') && *p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
    return d;
}

/*  One catalog row. 2025: {id, publicName, organization?, provider?,
    capabilities}; 2026 adds name, displayName and userSelectable. */
static json_t *s_model_json(const s_row_t *row, fake_era_t era)
{
    const fake_link_model_t *m = row->m;
    json_t *in = json_pack("{s:b}", "text", 1);
    if (m->image_input)
        json_object_set_new(in, "image", json_true());
    json_t *out = strcmp(m->modality, "image") == 0
                      ? json_pack("{s:{s:[s,s,s]}}", "image", "aspectRatios", "1:1", "16:9", "9:16")
                  : strcmp(m->modality, "search") == 0 ? json_pack("{s:b}", "search", 1)
                                                       : json_pack("{s:b}", "text", 1);
    json_t *o = json_pack("{s:s,s:s}", "id", row->id, "publicName", m->name);
    if (o && era == FAKE_ERA_2026) {
        char *display = s_display_name(m->name);
        json_object_set_new(o, "name", json_string(m->name));
        json_object_set_new(o, "displayName", display ? json_string(display) : json_null());
        free(display);
    }
    if (o && m->organization[0]) {
        json_object_set_new(o, "organization", json_string(m->organization));
        json_object_set_new(o, "provider", json_string(m->organization));
    }
    json_t *caps = json_pack("{s:o,s:o}", "inputCapabilities", in, "outputCapabilities", out);
    if (o && caps)
        json_object_set_new(o, "capabilities", caps);
    else
        json_decref(caps), json_decref(o), o = NULL;
    if (o && era == FAKE_ERA_2026)
        json_object_set_new(o, "userSelectable", json_boolean(row->selectable));
    return o;
}

/*  Appends s as the inside of a JS string literal in a <script>: JSON
    escapes plus <, >, & and U+2028/9 as \uXXXX, as Next.js writes them. */
static int s_js_escape(abuf_t *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '<' ? "\\u003c" : c == '>' ? "\\u003e" : c == '&' ? "\\u0026" : NULL;
        size_t skip = 1;
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            esc = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!esc)
            continue;
        if (abuf_json_escape(b, s + run, i - run) < 0 || abuf_puts(b, esc) < 0)
            return -1;
        run = i + skip;
        i += skip - 1;
    }
    return abuf_json_escape(b, s + run, len - run);
}

/*  <script>self.__next_f.push([1,"<row>"])</script> for one flight row. */
static int s_push(abuf_t *out, const char *row)
{
    if (abuf_puts(out, "<script>self.__next_f.push([1,\"") < 0 ||
        s_js_escape(out, row, strlen(row)) < 0 || abuf_puts(out, "\"])</script>") < 0)
        return -1;
    return 0;
}

/*  "N:<json>\n" rows carrying the catalog, as a client component's props. */
static char *s_row(const char *prefix, json_t *props)
{
    char *json = props ? json_dumps(props, JSON_COMPACT) : NULL;
    json_decref(props);
    if (!json)
        return NULL;
    abuf_t b = ABUF_INIT;
    int rc = abuf_printf(&b, "%s%s]\n", prefix, json);
    free(json);
    if (rc < 0) {
        abuf_free(&b);
        return NULL;
    }
    return abuf_steal(&b, NULL);
}

static json_t *s_catalog(const fake_arena_t *self)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < self->n_rows; i++)
        if (json_array_append_new(list, s_model_json(&self->rows[i], self->era)) < 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

int fake_arena_page(fake_arena_t *self, abuf_t *out)
{
    json_t *list = s_catalog(self);
    const char *first = self->n_rows ? self->rows[0].id : "";
    const char *second = self->n_rows > 1 ? self->rows[1].id : first;
    char *rows[2] = {
        s_row("6:[\"$\",\"$L7\",null,",
              json_pack("{s:O,s:s,s:s,s:s}", "initialModels", list, "initialModelAId", first,
                        "initialModelBId", second, "initialMode",
                        self->era == FAKE_ERA_2025 ? "direct" : "direct-battle")),
        s_row("9:[\"$\",\"$La\",null,", json_pack("{s:O,s:b}", "models", list, "isLoggedIn", 1)),
    };
    json_decref(list);
    size_t mark = out->len;
    int rc = rows[0] && rows[1] ? 0 : -1;
    if (rc == 0)
        rc = abuf_printf(
            out,
            "<!DOCTYPE html><html lang=\"en\" class=\"dark\"><head><meta charSet=\"utf-8\"/>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
            "<link rel=\"stylesheet\" href=\"/_next/static/css/fake-app.css\" "
            "data-precedence=\"next\"/><title>LMArena</title><meta name=\"description\" "
            "content=\"Compare AI models side by side.\"/><link rel=\"canonical\" href=\"%s/\"/>"
            "<script src=\"%s?render=%s\" "
            "async=\"\"></script></head><body class=\"antialiased\"><div id=\"root\">"
            "<main><h1>LMArena</h1><textarea placeholder=\"Ask anything...\"></textarea>"
            "</main></div><script>(self.__next_f=self.__next_f||[]).push([0])</script>"
            "<script>self.__next_f.push([1,\"1:HL[\\\"/_next/static/css/fake-app.css\\\","
            "\\\"style\\\"]\\n2:I[7831,[\\\"app/layout\\\"],\\\"\\\"]\\n\"])</script>",
            self->origin, self->recaptcha_src, fake_era_sitekey(self->era));
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = s_push(out, rows[i]);
    if (rc == 0)
        rc = abuf_puts(out, "<script>self.__next_f.push([1,\"b:[\\\"$\\\",\\\"footer\\\",null,"
                            "{\\\"children\\\":\\\"LMArena\\\"}]\\n\"])</script></body></html>");
    free(rows[0]);
    free(rows[1]);
    if (rc < 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}
