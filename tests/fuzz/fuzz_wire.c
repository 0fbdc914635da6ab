/*  fuzz_wire — libFuzzer driver for wire_msg_decode.

    Whatever the decoder accepts, the encoder must write back (it refuses
    only what the decoder refuses, and a canonical encoding is never larger
    than the input), that encoding must decode again to an equal message,
    and encoding that must give the same bytes. Every state it accepts was
    signed by the key its id is made from, over the exact bytes it carries;
    so was every replicated record (by its writer), which must also survive
    wire_record_pack/unpack, the form a node keeps.
    Seeds: corpus/wire/,
    written by test_wire with ARENA_WRITE_CORPUS set. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/ident.h"
#include "protocol/wire.h"
#include "tests/support/wire_msg_equal.h"

static bool s_bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_msg_t m, m2;
    char err[256];
    if (wire_msg_decode(data, size, &m, err, sizeof err) != WIRE_MSG_OK)
        return 0;
    if (!m.from || strcmp(wire_type_name(m.type), "unknown") == 0)
        abort();
    abuf_t b = ABUF_INIT, b2 = ABUF_INIT;
    if (wire_msg_encode(&m, &b) != 0 || b.len > size)
        abort();
    if (wire_msg_decode((const uint8_t *)b.data, b.len, &m2, err, sizeof err) != WIRE_MSG_OK)
        abort();
    if (!wire_msg_equal(&m, &m2))
        abort();
    if (wire_msg_encode(&m2, &b2) != 0 || !s_bytes_eq(b.data, b.len, b2.data, b2.len))
        abort();
    for (size_t i = 0; i < m.n_states; i++) {
        const wire_state_t *st = &m.states[i];
        if (!st->sealed || !ident_id_matches(st->id, st->pk) ||
            !ident_verify_state(st->pk, st->sealed, st->sealed_len, st->sig))
            abort();
        wire_state_t copy;
        if (wire_state_copy(&copy, &m.states[i]) != 0 || !mesh_state_equal(&copy, &m.states[i]))
            abort();
        wire_state_clear(&copy);
    }
    for (size_t i = 0; i < m.n_records; i++) { /* every record is its writer's word */
        const wire_record_t *r = &m.records[i];
        if (!r->sealed || !ident_id_matches(r->node, r->pk) ||
            !ident_verify_record(r->pk, r->sealed, r->sealed_len, r->sig) ||
            r->payload_len > WIRE_MAX_PAYLOAD || r->version_ms == 0)
            abort();
        abuf_t env = ABUF_INIT;
        wire_record_t back;
        if (wire_record_pack(r, &env) != 0 ||
            wire_record_unpack((const uint8_t *)env.data, env.len, &back, err, sizeof err) !=
                WIRE_MSG_OK ||
            !wire_record_equal(r, &back))
            abort();
        wire_record_clear(&back);
        abuf_free(&env);
    }
    if (m.type == WIRE_TSUM && m.n_buckets &&
        (m.n_buckets > WIRE_MAX_BUCKETS || (m.n_buckets & (m.n_buckets - 1)) != 0))
        abort();
    abuf_free(&b);
    abuf_free(&b2);
    wire_msg_clear(&m);
    wire_msg_clear(&m2);
    return 0;
}
