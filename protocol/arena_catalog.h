/*  arena_catalog — extracts LMArena's model list from the page HTML
    (Next.js flight data: self.__next_f.push([1,"…"]) with JSON escaped inside
    a string; sometimes under "initialModels"). Un-escapes each push string,
    finds model objects with a real JSON parser and keeps every row in page
    order, twins included: in 2026 several rows share one publicName (the
    older ones answer 404) and some are not user-selectable. Only exact
    repeats of one id are dropped (first wins). Choosing which row serves a
    name is node/catalog's business. */
#ifndef ARENA_ARENA_CATALOG_H
#define ARENA_ARENA_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/arena_payload.h"

typedef struct {
    char *id;           /* LMArena model uuid */
    char *name;         /* publicName: what clients ask for */
    char *organization; /* may be NULL (anonymous models) */
    char *provider;     /* may be NULL */
    arena_modality_t modality;
    bool input_image;     /* accepts image attachments */
    char *display_name;   /* displayName: what the site shows; NULL when the row has none */
    bool user_selectable; /* userSelectable (true when the key is absent); false: the site
                             refuses it in a request ("not available for user selection") */
    char *aspect_ratios;  /* image models: outputCapabilities.image.aspectRatios joined
                             with ',' ("1:1,16:9"), each W:H of 1..4 digits; NULL: none */
} arena_model_t;

/*  At most this many aspect ratios are kept per model (the rest dropped). */
#define ARENA_MAX_ASPECT_RATIOS 16
/*  Bytes of arena_model_t.aspect_ratios at most (with its NUL). */
#define ARENA_ASPECT_RATIOS_MAX (ARENA_MAX_ASPECT_RATIOS * 10)

typedef struct {
    arena_model_t *models;
    size_t n;
} arena_catalog_t;

/*  Returns the number of models found (0 when the page holds none) or -1 on
    allocation failure. The caller frees with arena_catalog_clear. At most
    max_models are kept (0: 4096). */
int arena_catalog_extract(const char *html, size_t len, size_t max_models, arena_catalog_t *out);
void arena_catalog_clear(arena_catalog_t *cat);
/*  Deep copy of one model into dst; 0 or -1. */
int arena_model_copy(arena_model_t *dst, const arena_model_t *src);
void arena_model_clear(arena_model_t *m);
/*  Unix milliseconds when m's id was minted: the 48-bit timestamp of a
    canonical version-7 UUID string; 0 for any other id (or version). Newer
    twins of one publicName have later ids. */
long long arena_model_created_ms(const arena_model_t *m);

#endif
