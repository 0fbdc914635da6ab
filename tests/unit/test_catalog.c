/*  test_catalog — the node's model catalog: replace/find/size/at, an empty
    list keeping the previous catalog, the updated time, and persistence
    through a real store (a second catalog_t on the same store, and a store
    reopened in its mkdtemp directory, see the models). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "node/catalog.h"
#include "node/store.h"

typedef struct {
    char root[256];
    char err[512];
    store_t *store;
} fx_t;

/*  One model as a test writes it; NULL org/provider stay NULL. */
typedef struct {
    const char *id, *name, *org, *provider;
    arena_modality_t modality;
    bool image;
} spec_t;

static const spec_t s_first[] = {
    {"0199f7a8-0000-4000-8000-000000000001", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true},
    {"0199f7a8-0000-4000-8000-000000000002", "claude-opus-4", "anthropic", "googleVertex",
     ARENA_MODALITY_CHAT, false},
    {"0199f7a8-0000-4000-8000-000000000003", "anon-model", NULL, NULL, ARENA_MODALITY_CHAT, false},
    {"0199f7a8-0000-4000-8000-000000000004", "imagen-4", "google", "google", ARENA_MODALITY_IMAGE,
     false},
    {"0199f7a8-0000-4000-8000-000000000005", "sonar-pro", "perplexity", "perplexity",
     ARENA_MODALITY_SEARCH, false},
};

static const spec_t s_second[] = {
    {"0199f7a8-0000-4000-8000-0000000000a1", "fake-chat", "fakeco", "fakeco", ARENA_MODALITY_CHAT,
     false},
    {"0199f7a8-0000-4000-8000-0000000000a2", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     false},
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
}

/*  The catalog holds exactly specs, in order, each found by name. */
static void s_expect(const catalog_t *c, const spec_t *specs, size_t n)
{
    assert_int_equal(catalog_size(c), n);
    for (size_t i = 0; i < n; i++) {
        s_model_eq(catalog_at(c, i), &specs[i]);
        const arena_model_t *f = catalog_find(c, specs[i].name);
        assert_ptr_equal(f, catalog_at(c, i));
    }
    assert_null(catalog_at(c, n));
    assert_null(catalog_at(c, n + 1000));
    assert_null(catalog_at(c, (size_t)-1));
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
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
    snprintf(fx->root, sizeof fx->root, "/tmp/test_catalog.XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    s_store_open(fx);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    store_destroy(&fx->store);
    nftw(fx->root, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_new),
        cmocka_unit_test(test_replace_find),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_empty_keeps_previous),
        cmocka_unit_test(test_updated),
        cmocka_unit_test_setup_teardown(test_persisted, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
