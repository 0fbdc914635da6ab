/*  test_catalog — the node's model catalog: replace/find/size/at, an empty
    list keeping the previous catalog, the updated time, persistence through
    a real store (a second catalog_t on the same store, and a store reopened
    in its mkdtemp directory, see the models), and the 2026 rules: twins
    sharing a publicName (the newest UUIDv7 serves, the others are
    fallbacks), rows that are not user-selectable, stale marks (moving to a
    fallback, kept across replaces, bounded) and the 2026 page fixture. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "node/catalog.h"
#include "node/store.h"
#include "tests/support/test_tmpdir.h"

#define FIXTURE_2026 ARENA_SOURCE_DIR "/tests/fixtures/arena_page_2026.html"

typedef struct {
    char root[256];
    char err[512];
    store_t *store;
} fx_t;

/*  One model as a test writes it; NULL org/provider/display stay NULL. */
typedef struct {
    const char *id, *name, *org, *provider;
    arena_modality_t modality;
    bool image;
    const char *display;
    bool hidden; /* userSelectable: false */
} spec_t;

static const spec_t s_first[] = {
    {"0199f7a8-0000-4000-8000-000000000001", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true, "GPT-5 (high)", false},
    {"0199f7a8-0000-4000-8000-000000000002", "claude-opus-4", "anthropic", "googleVertex",
     ARENA_MODALITY_CHAT, false, NULL, false},
    {"0199f7a8-0000-4000-8000-000000000003", "anon-model", NULL, NULL, ARENA_MODALITY_CHAT, false,
     NULL, false},
    {"0199f7a8-0000-4000-8000-000000000004", "imagen-4", "google", "google", ARENA_MODALITY_IMAGE,
     false, NULL, false},
    {"0199f7a8-0000-4000-8000-000000000005", "sonar-pro", "perplexity", "perplexity",
     ARENA_MODALITY_SEARCH, false, NULL, false},
};

static const spec_t s_second[] = {
    {"0199f7a8-0000-4000-8000-0000000000a1", "fake-chat", "fakeco", "fakeco", ARENA_MODALITY_CHAT,
     false, NULL, false},
    {"0199f7a8-0000-4000-8000-0000000000a2", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     false, NULL, false},
    {"0199f7a8-0000-4000-8000-0000000000a3", "internal-only", "lmarena", NULL, ARENA_MODALITY_CHAT,
     false, "Internal \u00e9", true},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char *s_dup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/*  A heap catalog with the specs, as arena_catalog_extract would hand it over. */
static arena_catalog_t s_build(const spec_t *specs, size_t n)
{
    arena_catalog_t cat = {0};
    cat.models = calloc(n ? n : 1, sizeof *cat.models);
    assert_non_null(cat.models);
    for (size_t i = 0; i < n; i++) {
        arena_model_t *m = &cat.models[i];
        m->id = s_dup(specs[i].id);
        m->name = s_dup(specs[i].name);
        m->organization = s_dup(specs[i].org);
        m->provider = s_dup(specs[i].provider);
        m->modality = specs[i].modality;
        m->input_image = specs[i].image;
        m->display_name = s_dup(specs[i].display);
        m->user_selectable = !specs[i].hidden;
    }
    cat.n = n;
    return cat;
}

static void s_str_eq(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void s_model_eq(const arena_model_t *m, const spec_t *s)
{
    assert_non_null(m);
    assert_string_equal(m->id, s->id);
    assert_string_equal(m->name, s->name);
    s_str_eq(m->organization, s->org);
    s_str_eq(m->provider, s->provider);
    assert_int_equal(m->modality, s->modality);
    assert_int_equal(m->input_image, s->image);
    s_str_eq(m->display_name, s->display);
    assert_int_equal(m->user_selectable, !s->hidden);
}

/*  The catalog holds exactly specs, in order, each found by name. */
static void s_expect(const catalog_t *c, const spec_t *specs, size_t n)
{
    assert_int_equal(catalog_size(c), n);
    for (size_t i = 0; i < n; i++) {
        s_model_eq(catalog_at(c, i), &specs[i]);
        const arena_model_t *f = catalog_find(c, specs[i].name);
        assert_ptr_equal(f, specs[i].hidden ? NULL : catalog_at(c, i));
    }
    assert_null(catalog_at(c, n));
    assert_null(catalog_at(c, n + 1000));
    assert_null(catalog_at(c, (size_t)-1));
}

static void s_store_open(fx_t *fx)
{
    fx->store = store_open(fx->root, fx->err, sizeof fx->err);
    if (!fx->store)
        fail_msg("store_open: %s", fx->err);
}

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_catalog"), 0);
    s_store_open(fx);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    store_destroy(&fx->store);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

/*  The id of the row serving name, or NULL. */
static const char *s_served_id(const catalog_t *c, const char *name)
{
    const arena_model_t *m = catalog_find(c, name);
    return m ? m->id : NULL;
}

static void s_served_is(const catalog_t *c, const char *name, const char *id)
{
    const char *got = s_served_id(c, name);
    if (!id && got)
        fail_msg("%s: served by %s, want none", name, got);
    if (id && (!got || strcmp(got, id) != 0))
        fail_msg("%s: served by %s, want %s", name, got ? got : "none", id);
}

/*  The listing is exactly names (in order), each entry the row find returns. */
static void s_listing_is(const catalog_t *c, const char *const *names, size_t n)
{
    if (catalog_served_count(c) != n)
        fail_msg("%zu served, want %zu", catalog_served_count(c), n);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const arena_model_t *m = catalog_served_at(c, i, &name);
        assert_non_null(m);
        if (strcmp(name, names[i]) != 0)
            fail_msg("entry %zu: %s, want %s", i, name, names[i]);
        assert_ptr_equal(m, catalog_find(c, name));
    }
    assert_null(catalog_served_at(c, n, &(const char *){NULL}));
}

/* ---- tests ---- */

static void test_empty_new(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    assert_int_equal(catalog_size(c), 0);
    assert_null(catalog_at(c, 0));
    assert_null(catalog_find(c, "gpt-5-high"));
    assert_null(catalog_find(c, ""));
    assert_int_equal(catalog_updated(c), 0);
    catalog_destroy(&c);
    assert_null(c);
    catalog_destroy(&c);
    catalog_destroy(NULL);
}

static void test_replace_find(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    arena_catalog_t cat = s_build(s_first, N_OF(s_first));
    assert_int_equal(catalog_replace(c, &cat), 0);
    /* the models were taken: cat is empty and owns nothing */
    assert_int_equal(cat.n, 0);
    assert_null(cat.models);
    s_expect(c, s_first, N_OF(s_first));

    static const char *const absent[] = {"", "gpt-5", "GPT-5-HIGH", "gpt-5-high ", "fake-chat"};
    for (size_t i = 0; i < N_OF(absent); i++)
        assert_null(catalog_find(c, absent[i]));

    /* a second replace swaps the whole list (nothing merged) */
    cat = s_build(s_second, N_OF(s_second));
    assert_int_equal(catalog_replace(c, &cat), 0);
    assert_int_equal(cat.n, 0);
    s_expect(c, s_second, N_OF(s_second));
    assert_null(catalog_find(c, "claude-opus-4"));
    catalog_destroy(&c);
}

/*  Allow-list and aliases: lookups and listings apply them, the stored
    catalog does not change. */
static void test_policy(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    arena_catalog_t cat = s_build(s_first, N_OF(s_first));
    assert_int_equal(catalog_replace(c, &cat), 0);
    static const char *const aliases[] = {"best=gpt-5-high", "pic=imagen-4", "ghost=not-listed"};
    static const char *const allow[] = {"gpt-5-high", "sonar-pro"};
    assert_int_equal(catalog_set_policy(c, aliases, N_OF(aliases), allow, N_OF(allow)), 0);

    const struct {
        const char *ask;
        const char *serves; /* NULL: not served */
    } table[] = {
        {"gpt-5-high", "gpt-5-high"},
        {"sonar-pro", "sonar-pro"},
        {"anon-model", NULL},
        {"imagen-4", NULL},
        {"best", "gpt-5-high"},
        {"pic", "imagen-4"},
        {"ghost", NULL},
        {"not-listed", NULL},
        {"best=gpt-5-high", NULL},
    };
    for (size_t i = 0; i < N_OF(table); i++) {
        const arena_model_t *m = catalog_find(c, table[i].ask);
        if (!table[i].serves) {
            if (m)
                fail_msg("%s should not be served", table[i].ask);
        } else {
            assert_non_null(m);
            assert_string_equal(m->name, table[i].serves);
        }
    }
    /* Listing: allowed catalog models in page order, then aliases with a target. */
    static const char *const served[][2] = {{"gpt-5-high", "gpt-5-high"},
                                            {"sonar-pro", "sonar-pro"},
                                            {"best", "gpt-5-high"},
                                            {"pic", "imagen-4"}};
    assert_int_equal(catalog_served_count(c), N_OF(served));
    for (size_t i = 0; i < N_OF(served); i++) {
        const char *name = NULL;
        const arena_model_t *m = catalog_served_at(c, i, &name);
        assert_non_null(m);
        assert_string_equal(name, served[i][0]);
        assert_string_equal(m->name, served[i][1]);
    }
    assert_null(catalog_served_at(c, N_OF(served), &(const char *){NULL}));
    assert_int_equal(catalog_size(c), N_OF(s_first)); /* stored whole */

    /* No policy: everything, no aliases. */
    assert_int_equal(catalog_set_policy(c, NULL, 0, NULL, 0), 0);
    assert_int_equal(catalog_served_count(c), N_OF(s_first));
    assert_null(catalog_find(c, "best"));
    static const char *const bad[] = {"no-equals-sign"};
    assert_int_equal(catalog_set_policy(c, bad, 1, NULL, 0), -1);
    catalog_destroy(&c);
}

static void test_empty_keeps_previous(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    arena_catalog_t empty = {0};
    /* empty on an empty catalog */
    assert_int_equal(catalog_replace(c, &empty), -1);
    assert_int_equal(catalog_size(c), 0);
    assert_int_equal(catalog_updated(c), 0);

    arena_catalog_t cat = s_build(s_first, N_OF(s_first));
    assert_int_equal(catalog_replace(c, &cat), 0);
    long long updated = catalog_updated(c);

    /* a page that yielded nothing (n == 0, with or without an array) */
    assert_int_equal(catalog_replace(c, &empty), -1);
    arena_catalog_t hollow = s_build(NULL, 0);
    assert_int_equal(catalog_replace(c, &hollow), -1);
    arena_catalog_clear(&hollow);
    s_expect(c, s_first, N_OF(s_first));
    assert_int_equal(catalog_updated(c), updated);
    catalog_destroy(&c);
}

static void test_updated(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    long long before = (long long)time(NULL);
    arena_catalog_t cat = s_build(s_first, 1);
    assert_int_equal(catalog_replace(c, &cat), 0);
    long long after = (long long)time(NULL);
    /* unix seconds, not ms */
    assert_in_range(catalog_updated(c), before, after);
    catalog_destroy(&c);
}

static void test_persisted(void **state)
{
    fx_t *fx = *state;
    catalog_t *a = catalog_new(fx->store);
    assert_non_null(a);
    assert_int_equal(catalog_size(a), 0);
    arena_catalog_t cat = s_build(s_first, N_OF(s_first));
    assert_int_equal(catalog_replace(a, &cat), 0);

    /* a second catalog on the same store sees the models, in order */
    long long before = (long long)time(NULL);
    catalog_t *b = catalog_new(fx->store);
    long long after = (long long)time(NULL);
    assert_non_null(b);
    s_expect(b, s_first, N_OF(s_first));
    assert_in_range(catalog_updated(b), before, after); /* the load */
    catalog_destroy(&b);

    /* a replace overwrites the stored list */
    cat = s_build(s_second, N_OF(s_second));
    assert_int_equal(catalog_replace(a, &cat), 0);
    b = catalog_new(fx->store);
    s_expect(b, s_second, N_OF(s_second));
    catalog_destroy(&b);

    /* an empty list is not stored either */
    arena_catalog_t empty = {0};
    assert_int_equal(catalog_replace(a, &empty), -1);
    catalog_destroy(&a);

    /* and it all survives closing the store (a restart) */
    store_destroy(&fx->store);
    s_store_open(fx);
    b = catalog_new(fx->store);
    assert_non_null(b);
    s_expect(b, s_second, N_OF(s_second));
    catalog_destroy(&b);
}

/*  Twins: UUIDv7 ids from 2025 and 2026 (ms in the first 48 bits). */
#define V7_2025A "01988579-aa80-7d4f-a85d-6e7f8091a2b3" /* 2025-08-07 */
#define V7_2025B "019ab721-6c79-7e50-b96e-7f8091a2b3c4" /* 2025-11-24 */
#define V7_2025C "019b3c5e-1a2b-7c3d-8e4f-5a6b7c8d9e0f" /* 2025-12 */
#define V7_2026A "019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9" /* 2026-05-20 */
#define V7_2026B "019e8423-4a8c-7b2d-8a3b-4c5d6e7f8091" /* 2026-06-01 */
#define V7_TIE_1 "019fa8b8-9495-75c7-a0d5-e6f708192a3b" /* the same ms … */
#define V7_TIE_2 "019fa8b8-9495-76d8-b1e6-f708192a3b4c" /* … as this one */
#define V4_1 "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
#define V4_2 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define V4_3 "ffffffff-ffff-4fff-bfff-ffffffffffff"

#define TWIN(id, name, display, hidden)                                                            \
    {                                                                                              \
        id, name, "org", "prov", ARENA_MODALITY_CHAT, false, display, hidden                       \
    }

static const spec_t s_twins[] = {
    TWIN(V7_2025A, "gpt-5-high", "GPT-5 old", false),          /* 0: older, first */
    TWIN(V7_2026A, "gpt-5-high", "GPT-5 (high)", false),       /* 1: newest: serves */
    TWIN(V7_2025B, "gpt-5-high", "GPT-5 mid", false),          /* 2: next-newest */
    TWIN(V7_2026B, "opus", "Opus new", true),                  /* 3: newest, not selectable */
    TWIN(V7_2025A "x", "opus", NULL, false),                   /* 4: non-v7 (not a uuid) */
    TWIN(V7_2025C, "opus", "Opus", false),                     /* 5: serves */
    TWIN(V7_TIE_2, "grok", NULL, false),                       /* 6: same ms … */
    TWIN(V7_TIE_1, "grok", NULL, false),                       /* 7: … later row: serves */
    TWIN(V4_3, "qwen", NULL, false),                           /* 8: v4 ids: … */
    TWIN(V4_1, "qwen", NULL, false),                           /* 9 */
    TWIN(V4_2, "qwen", NULL, false),                           /* 10: … the later row serves */
    TWIN(V7_2026B "y", "nightwhisper", "Gemini 3 Pro", false), /* 11: not v7 … */
    TWIN(V7_2025A "y", "hidden", "Hidden", true),              /* 12: nothing selectable */
};

/*  Every id is unique (rows 4, 11 and 12 append to another's). */
static void test_twins_served(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    arena_catalog_t cat = s_build(s_twins, N_OF(s_twins));
    assert_int_equal(catalog_replace(c, &cat), 0);
    assert_int_equal(catalog_size(c), N_OF(s_twins)); /* every row kept */
    for (size_t i = 0; i < N_OF(s_twins); i++)
        s_model_eq(catalog_at(c, i), &s_twins[i]);

    s_served_is(c, "gpt-5-high", V7_2026A);
    assert_string_equal(catalog_find(c, "gpt-5-high")->display_name, "GPT-5 (high)");
    s_served_is(c, "opus", V7_2025C);
    s_served_is(c, "grok", V7_TIE_1);
    s_served_is(c, "qwen", V4_2);
    s_served_is(c, "nightwhisper", V7_2026B "y");
    assert_string_equal(catalog_find(c, "nightwhisper")->display_name, "Gemini 3 Pro");
    s_served_is(c, "hidden", NULL);
    /* one entry per name, where the name first appears */
    static const char *const names[] = {"gpt-5-high", "opus", "grok", "qwen", "nightwhisper"};
    s_listing_is(c, names, N_OF(names));

    /* an alias resolves to the served twin; an alias of a hidden row to nothing */
    static const char *const aliases[] = {"best=gpt-5-high", "secret=hidden"};
    assert_int_equal(catalog_set_policy(c, aliases, N_OF(aliases), NULL, 0), 0);
    s_served_is(c, "best", V7_2026A);
    s_served_is(c, "secret", NULL);
    static const char *const with_alias[] = {"gpt-5-high", "opus",         "grok",
                                             "qwen",       "nightwhisper", "best"};
    s_listing_is(c, with_alias, N_OF(with_alias));
    /* the allow-list filters names, not twins */
    static const char *const allow[] = {"opus", "hidden"};
    assert_int_equal(catalog_set_policy(c, NULL, 0, allow, N_OF(allow)), 0);
    static const char *const only_opus[] = {"opus"};
    s_listing_is(c, only_opus, 1);
    s_served_is(c, "gpt-5-high", NULL);
    s_served_is(c, "hidden", NULL);
    catalog_destroy(&c);
}

static void test_mark_stale(void **state)
{
    (void)state;
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    assert_int_equal(catalog_mark_stale(c, V7_2026A), -1); /* empty catalog */
    arena_catalog_t cat = s_build(s_twins, N_OF(s_twins));
    assert_int_equal(catalog_replace(c, &cat), 0);
    static const char *const aliases[] = {"best=gpt-5-high"};
    assert_int_equal(catalog_set_policy(c, aliases, 1, NULL, 0), 0);
    const arena_model_t *before = catalog_find(c, "gpt-5-high");

    /* the serving twin answers 404: the next-newest takes over */
    assert_int_equal(catalog_mark_stale(c, V7_2026A), 1);
    s_served_is(c, "gpt-5-high", V7_2025B);
    s_served_is(c, "best", V7_2025B);
    assert_ptr_equal(catalog_at(c, 1), before); /* no row freed or moved */
    assert_int_equal(catalog_size(c), N_OF(s_twins));
    static const char *const names[] = {"gpt-5-high", "opus",         "grok",
                                        "qwen",       "nightwhisper", "best"};
    s_listing_is(c, names, N_OF(names)); /* same names, same order */
    /* again: the same answer, nothing changes */
    assert_int_equal(catalog_mark_stale(c, V7_2026A), 1);
    s_served_is(c, "gpt-5-high", V7_2025B);
    /* a fallback that is not serving: still 1 (the name has a row) */
    assert_int_equal(catalog_mark_stale(c, V7_2025A), 1);
    s_served_is(c, "gpt-5-high", V7_2025B);
    /* the last one: the name is gone, and its alias with it */
    assert_int_equal(catalog_mark_stale(c, V7_2025B), 0);
    s_served_is(c, "gpt-5-high", NULL);
    s_served_is(c, "best", NULL);
    static const char *const left[] = {"opus", "grok", "qwen", "nightwhisper"};
    s_listing_is(c, left, N_OF(left));
    assert_int_equal(catalog_mark_stale(c, V7_2025B), 0); /* known, already stale */
    /* opus: the non-selectable newest row never serves, the non-v7 one does */
    assert_int_equal(catalog_mark_stale(c, V7_2025C), 1);
    s_served_is(c, "opus", V7_2025A "x");
    assert_int_equal(catalog_mark_stale(c, V7_2026B), 1);
    s_served_is(c, "opus", V7_2025A "x");
    assert_int_equal(catalog_mark_stale(c, V7_2025A "x"), 0);
    s_served_is(c, "opus", NULL);
    /* the equal-time twin: the earlier row takes over */
    assert_int_equal(catalog_mark_stale(c, V7_TIE_1), 1);
    s_served_is(c, "grok", V7_TIE_2);
    /* a hidden row can be marked too; its name stays unserved */
    assert_int_equal(catalog_mark_stale(c, V7_2025A "y"), 0);
    /* unknown ids */
    assert_int_equal(catalog_mark_stale(c, "not-in-the-catalog"), -1);
    assert_int_equal(catalog_mark_stale(c, ""), -1);
    assert_int_equal(catalog_mark_stale(c, NULL), -1);
    catalog_destroy(&c);
}

/*  A page re-read that still lists a stale twin does not bring it back; a
    store-backed catalog keeps serving the fallback after the replace too. */
static void test_stale_survives_replace(void **state)
{
    fx_t *fx = *state;
    catalog_t *c = catalog_new(fx->store);
    assert_non_null(c);
    arena_catalog_t cat = s_build(s_twins, N_OF(s_twins));
    assert_int_equal(catalog_replace(c, &cat), 0);
    assert_int_equal(catalog_mark_stale(c, V7_2026A), 1);
    s_served_is(c, "gpt-5-high", V7_2025B);

    cat = s_build(s_twins, N_OF(s_twins)); /* the same page again */
    assert_int_equal(catalog_replace(c, &cat), 0);
    s_served_is(c, "gpt-5-high", V7_2025B);
    /* a page without the stale row, then with it again */
    cat = s_build(s_twins + 2, N_OF(s_twins) - 2);
    assert_int_equal(catalog_replace(c, &cat), 0);
    s_served_is(c, "gpt-5-high", V7_2025B);
    assert_int_equal(catalog_mark_stale(c, V7_2026A), -1); /* not on this page */
    cat = s_build(s_twins, N_OF(s_twins));
    assert_int_equal(catalog_replace(c, &cat), 0);
    s_served_is(c, "gpt-5-high", V7_2025B);
    /* the rows are stored whole; a new catalog_t (a restart) starts afresh */
    catalog_t *d = catalog_new(fx->store);
    assert_non_null(d);
    assert_int_equal(catalog_size(d), N_OF(s_twins));
    for (size_t i = 0; i < N_OF(s_twins); i++)
        s_model_eq(catalog_at(d, i), &s_twins[i]);
    s_served_is(d, "gpt-5-high", V7_2026A);
    s_served_is(d, "opus", V7_2025C);
    s_served_is(d, "hidden", NULL);
    catalog_destroy(&d);
    catalog_destroy(&c);
}

/*  The marks are bounded: past 1024 the oldest is forgotten (and its row
    serves again). */
static void test_stale_bounded(void **state)
{
    (void)state;
    enum { N = 1100, KEEP = 1024 };
    static spec_t specs[N];
    static char ids[N][40], names[N][16];
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "0199f7a8-0000-4000-8000-%012zu", i);
        snprintf(names[i], sizeof names[i], "m-%zu", i);
        specs[i] = (spec_t)TWIN(ids[i], names[i], NULL, false);
    }
    catalog_t *c = catalog_new(NULL);
    assert_non_null(c);
    arena_catalog_t cat = s_build(specs, N);
    assert_int_equal(catalog_replace(c, &cat), 0);
    for (size_t i = 0; i < KEEP; i++)
        assert_int_equal(catalog_mark_stale(c, ids[i]), 0);
    assert_int_equal(catalog_served_count(c), N - KEEP);
    s_served_is(c, names[0], NULL);
    assert_int_equal(catalog_mark_stale(c, ids[KEEP]), 0); /* one more: forgets ids[0] */
    s_served_is(c, names[0], ids[0]);
    s_served_is(c, names[1], NULL);
    s_served_is(c, names[KEEP], NULL);
    assert_int_equal(catalog_served_count(c), N - KEEP);
    catalog_destroy(&c);
}

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/*  The 2026 page end to end: extracted, served, stored and reloaded. */
static void test_fixture_2026(void **state)
{
    fx_t *fx = *state;
    size_t len;
    char *html = s_read_file(FIXTURE_2026, &len);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(html, len, 0, &cat), 13);
    free(html);
    catalog_t *c = catalog_new(fx->store);
    assert_non_null(c);
    assert_int_equal(catalog_replace(c, &cat), 0);
    static const char *const names[] = {"gpt-5-high",
                                        "claude-opus-4-5",
                                        "nightwhisper",
                                        "stealth-lynx-0901",
                                        "gemini-3-pro-image-preview",
                                        "ppl-sonar-pro-high",
                                        "deepseek-v3.2",
                                        "grok-4.1-thinking",
                                        "kimi-k2"};
    for (int round = 0; round < 2; round++) {
        s_listing_is(c, names, N_OF(names));
        s_served_is(c, "gpt-5-high", "019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9");
        s_served_is(c, "claude-opus-4-5", "019ab721-6c79-7e50-b96e-7f8091a2b3c4");
        s_served_is(c, "grok-4.1-thinking", "019fa8b8-9495-76d8-b1e6-f708192a3b4c");
        s_served_is(c, "arena-router-internal", NULL);
        s_served_is(c, "veo-3.1-fast", NULL);
        assert_string_equal(catalog_find(c, "nightwhisper")->display_name, "Gemini 3 Pro");
        assert_null(catalog_find(c, "stealth-lynx-0901")->display_name);
        assert_int_equal(catalog_size(c), 13);
        /* a restart: the same from the store */
        catalog_destroy(&c);
        store_destroy(&fx->store);
        s_store_open(fx);
        c = catalog_new(fx->store);
        assert_non_null(c);
    }
    assert_int_equal(catalog_mark_stale(c, "019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9"), 1);
    s_served_is(c, "gpt-5-high", "01988579-aa80-7d4f-a85d-6e7f8091a2b3");
    assert_int_equal(catalog_mark_stale(c, "01988579-aa80-7d4f-a85d-6e7f8091a2b3"), 0);
    assert_int_equal(catalog_mark_stale(c, "019ab721-6c79-7e50-b96e-7f8091a2b3c4"), 0);
    s_served_is(c, "claude-opus-4-5", NULL); /* the other twin is not selectable */
    catalog_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_new),
        cmocka_unit_test(test_replace_find),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_empty_keeps_previous),
        cmocka_unit_test(test_updated),
        cmocka_unit_test_setup_teardown(test_persisted, s_setup, s_teardown),
        cmocka_unit_test(test_twins_served),
        cmocka_unit_test(test_mark_stale),
        cmocka_unit_test_setup_teardown(test_stale_survives_replace, s_setup, s_teardown),
        cmocka_unit_test(test_stale_bounded),
        cmocka_unit_test_setup_teardown(test_fixture_2026, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
