/*  libFuzzer driver for protocol/jsonc. Beyond not crashing: the error text
    is terminated and starts with "line ", and input with nothing to strip
    (no '/', ',' or leading BOM) parses exactly as jansson parses it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/jsonc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[128];
    memset(err, 'X', sizeof err);
    json_t *v = jsonc_loadb(text, size, err, sizeof err);
    if (!memchr(err, '\0', sizeof err))
        __builtin_trap();
    if (!v && strncmp(err, "line ", 5) != 0)
        __builtin_trap();
    int plain = !memchr(text, '/', size) && !memchr(text, ',', size) &&
                !(size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0);
    if (plain) {
        json_error_t jerr;
        json_t *ref = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
        if ((ref == NULL) != (v == NULL) || (ref && !json_equal(ref, v)))
            __builtin_trap();
        json_decref(ref);
    }
    json_decref(v);
    return 0;
}
