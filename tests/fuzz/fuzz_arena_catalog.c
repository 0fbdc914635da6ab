/*  fuzz_arena_catalog — libFuzzer driver for arena_catalog_extract.

    The input is a page; every model returned must satisfy the documented
    invariants (valid UUID, a name — and organization, provider, display name
    when present — of 1..200 bytes without control characters, a known
    modality, no duplicate ids (twins may share a name), at most max_models,
    a creation time only for a version-7 id), and must survive
    arena_model_copy whole. A second run with a small max_models must return a
    prefix of the first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_catalog.h"

#define FUZZ_MAX_MODELS 64
#define FUZZ_SMALL_MAX 3

static void s_check_name(const char *s, bool optional)
{
    if (!s) {
        if (!optional)
            abort();
        return;
    }
    size_t len = strlen(s);
    if (len == 0 || len > 200)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

static void s_check_model(const arena_model_t *m)
{
    if (!m->id || !uuid_is_valid(m->id))
        abort();
    s_check_name(m->name, false);
    s_check_name(m->organization, true);
    s_check_name(m->provider, true);
    s_check_name(m->display_name, true);
    long long created = arena_model_created_ms(m);
    if (created < 0 || created > 0xffffffffffffLL || (created && m->id[14] != '7'))
        abort();
    if (m->modality != ARENA_MODALITY_CHAT && m->modality != ARENA_MODALITY_IMAGE &&
        m->modality != ARENA_MODALITY_SEARCH)
        abort();
    arena_model_t copy;
    if (arena_model_copy(&copy, m) == 0) {
        if (strcmp(copy.id, m->id) != 0 || strcmp(copy.name, m->name) != 0 ||
            (!copy.display_name) != (!m->display_name) ||
            (m->display_name && strcmp(copy.display_name, m->display_name) != 0) ||
            copy.user_selectable != m->user_selectable || copy.input_image != m->input_image)
            abort();
        arena_model_clear(&copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_catalog_t cat;
    int n = arena_catalog_extract((const char *)data, size, FUZZ_MAX_MODELS, &cat);
    if (n < 0)
        return 0;
    if ((size_t)n != cat.n || cat.n > FUZZ_MAX_MODELS || (cat.n == 0) != (cat.models == NULL))
        abort();
    for (size_t i = 0; i < cat.n; i++) {
        s_check_model(&cat.models[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cat.models[i].id, cat.models[j].id) == 0)
                abort();
    }

    arena_catalog_t small;
    if (arena_catalog_extract((const char *)data, size, FUZZ_SMALL_MAX, &small) >= 0) {
        size_t want = cat.n < FUZZ_SMALL_MAX ? cat.n : FUZZ_SMALL_MAX;
        if (small.n != want)
            abort();
        for (size_t i = 0; i < small.n; i++)
            if (strcmp(small.models[i].name, cat.models[i].name) != 0 ||
                strcmp(small.models[i].id, cat.models[i].id) != 0 ||
                small.models[i].user_selectable != cat.models[i].user_selectable)
                abort();
        arena_catalog_clear(&small);
    }
    arena_catalog_clear(&cat);
    return 0;
}
