/*  fuzz_link_frame — libFuzzer driver for link_frame_decode.

    Every decoded frame is re-encoded with the matching encoder (where one
    exists) and decoded again: what the decoder accepts, the encoders must be
    able to write back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/link_frame.h"

static void s_reencode(const link_frame_t *f, abuf_t *b)
{
    link_recaptcha_t rc = {f->rc_field, f->rc_action, f->rc_sitekey};
    switch (f->type) {
    case LINK_HELLO:
        link_encode_hello(b, f->token, f->tab, f->href, f->ua);
        break;
    case LINK_HEAD:
        link_encode_head_ex(b, f->id, f->status, f->content_type, f->retry_after, f->upload);
        break;
    case LINK_CHUNK:
        link_encode_chunk(b, f->id, f->data, f->data_len);
        break;
    case LINK_DONE:
        link_encode_done(b, f->id);
        break;
    case LINK_FAIL:
        link_encode_fail(b, f->id, f->stage, f->message);
        break;
    case LINK_PAGE:
        link_encode_page(b, f->id, f->href, f->data, f->data_len);
        break;
    case LINK_STATE: {
        link_state_t st = {f->challenge, f->recaptcha, f->logged_in, f->account};
        link_encode_state_ex(b, &st);
        break;
    }
    case LINK_PONG:
        link_encode_pong(b, f->t);
        break;
    case LINK_WELCOME:
        link_encode_welcome(b, f->node);
        break;
    case LINK_FETCH:
        link_encode_fetch(b, f->id, f->url, f->method, f->content_type, f->body, f->body_len,
                          f->rc_field ? &rc : NULL);
        break;
    case LINK_ABORT:
        link_encode_abort(b, f->id);
        break;
    case LINK_PAGE_REQ:
        link_encode_page_req(b, f->id);
        break;
    case LINK_RELOAD:
        link_encode_reload(b);
        break;
    case LINK_PING:
        link_encode_ping(b, f->t);
        break;
    default:
        break;
    }
}

static int s_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    link_frame_t f;
    char err[128];
    if (link_frame_decode((const char *)data, size, &f, err, sizeof err) != LINK_OK)
        return 0;
    abuf_t b = ABUF_INIT;
    s_reencode(&f, &b);
    if (b.len) {
        link_frame_t g;
        if (link_frame_decode(b.data, b.len, &g, err, sizeof err) != LINK_OK)
            abort();
        /* welcome re-encodes with our version; everything else keeps its type */
        if (g.type != f.type)
            abort();
        if ((f.type == LINK_CHUNK || f.type == LINK_PAGE) &&
            (g.data_len != f.data_len || memcmp(g.data, f.data, f.data_len) != 0))
            abort();
        /* the fields added after version 1 survive the trip */
        if (g.logged_in != f.logged_in || !s_same(g.account, f.account) ||
            !s_same(g.upload, f.upload))
            abort();
        link_frame_clear(&g);
    }
    abuf_free(&b);
    link_frame_clear(&f);
    return 0;
}
