/*  wire_msg_equal — field-by-field equality of decoded mesh messages, for
    the codec's unit test and its fuzz driver (round trips must give equal
    messages). Written from the C structs of protocol/wire.h, not from
    the codec: NULL and "" strings are equal, byte blobs compare by length
    and content, every list in order. Pure; any thread. */
#ifndef ARENA_WIRE_MSG_EQUAL_H
#define ARENA_WIRE_MSG_EQUAL_H

#include <stdbool.h>

#include "protocol/wire.h"

bool mesh_state_equal(const wire_state_t *a, const wire_state_t *b);
bool wire_record_equal(const wire_record_t *a, const wire_record_t *b);
/*  Every field, whatever the type: unused fields must match too (a builder
    leaves them zero, and so must the decoder). */
bool wire_msg_equal(const wire_msg_t *a, const wire_msg_t *b);

#endif
