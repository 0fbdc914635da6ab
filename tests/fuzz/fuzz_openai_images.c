/*  fuzz_openai_images — openai_images_parse (POST /v1/images/generations)
    on arbitrary bytes. An accepted request has one user message and a size,
    and survives write → parse (image_size is carried as an extension). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/openai.h"
#include "tests/fuzz/fuzz_openai_round_trip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_images_parse((const char *)data, size, NULL, &req, &err) < 0) {
        if (req || (err.status != 400 && err.status != 500) || !err.code || !err.type)
            abort();
        return 0;
    }
    if (req->n_messages != 1 || strcmp(req->messages[0].role, "user") != 0 || !req->image_size[0])
        abort();
    fuzz_openai_round_trip(req, NULL);
    openai_request_destroy(&req);
    return 0;
}
