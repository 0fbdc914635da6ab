/*  fuzz_frame — libFuzzer driver for frame_decode.

    Every decoded frame is re-encoded with the matching encoder (where one
    exists) and decoded again: what the decoder accepts, the encoders must be
    able to write back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"

static void s_reencode(const frame_t *f, abuf_t *b)
{
    frame_recaptcha_t rc = {f->rc_field, f->rc_action, f->rc_sitekey};
    switch (f->type) {
    case FRAME_HELLO:
        frame_encode_hello(b, f->token, f->tab, f->href, f->ua);
        break;
    case FRAME_HEAD:
        frame_encode_head_ex(b, f->id, f->status, f->content_type, f->retry_after, f->upload);
        break;
    case FRAME_CHUNK:
        frame_encode_chunk(b, f->id, f->data, f->data_len);
        break;
    case FRAME_DONE:
        frame_encode_done(b, f->id);
        break;
    case FRAME_FAIL:
        frame_encode_fail(b, f->id, f->stage, f->message);
        break;
    case FRAME_PAGE:
        frame_encode_page(b, f->id, f->href, f->data, f->data_len);
        break;
    case FRAME_STATE: {
        frame_state_t st = {f->challenge, f->recaptcha, f->logged_in, f->account};
        frame_encode_state_ex(b, &st);
        break;
    }
    case FRAME_PONG:
        frame_encode_pong(b, f->t);
        break;
    case LINK_WELCOME:
        frame_encode_welcome(b, f->node);
        break;
    case FRAME_FETCH:
        frame_encode_fetch_ex(b, f->id, f->url, f->method, f->content_type, f->body, f->body_len,
                              f->rc_field ? &rc : NULL, f->request_id);
        break;
    case FRAME_ABORT:
        frame_encode_abort(b, f->id);
        break;
    case FRAME_PAGE_REQ:
        frame_encode_page_req(b, f->id);
        break;
    case FRAME_RELOAD:
        frame_encode_reload(b);
        break;
    case FRAME_PING:
        frame_encode_ping(b, f->t);
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
    frame_t f;
    char err[128];
    if (frame_decode((const char *)data, size, &f, err, sizeof err) != FRAME_OK)
        return 0;
    abuf_t b = ABUF_INIT;
    s_reencode(&f, &b);
    if (b.len) {
        frame_t g;
        if (frame_decode(b.data, b.len, &g, err, sizeof err) != FRAME_OK)
            abort();
        /* welcome re-encodes with our version; everything else keeps its type */
        if (g.type != f.type)
            abort();
        if ((f.type == FRAME_CHUNK || f.type == FRAME_PAGE) &&
            (g.data_len != f.data_len || memcmp(g.data, f.data, f.data_len) != 0))
            abort();
        /* the fields added after version 1 survive the trip */
        if (g.logged_in != f.logged_in || !s_same(g.account, f.account) ||
            !s_same(g.upload, f.upload) || !s_same(g.request_id, f.request_id))
            abort();
        frame_clear(&g);
    }
    abuf_free(&b);
    frame_clear(&f);
    return 0;
}
