/*  jsonc — see jsonc.h.

    Owns nothing beyond one call. Pure and thread-safe.

    The text is rewritten into a copy before jansson sees it: comments become
    spaces (newlines kept, one space per UTF-8 character so that jansson's
    character columns still match the file), a trailing comma before '}' or
    ']' becomes a space, and a leading UTF-8 byte-order mark is dropped.
    Strings, escapes included, are copied untouched. */
#include "protocol/jsonc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Far above any config file; keeps len + 1 from wrapping and a stray
    multi-gigabyte input from being copied. */
#define JSONC_MAX_INPUT (64u * 1024u * 1024u)

typedef enum { S_CODE, S_STRING, S_LINE_COMMENT, S_BLOCK_COMMENT } s_state_t;

typedef struct {
    char *out;
    size_t o;
    s_state_t state;
    size_t last_sig;            /* out index of the last significant char + 1; 0: none */
    size_t prev_sig;            /* the one before it, same encoding */
    int line, column;           /* 1-based position of the current input byte */
    int open_line, open_column; /* where the pending block comment began */
} s_strip_t;

static void s_error(char *err, size_t errlen, int line, int column, const char *what)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "line %d column %d: %s", line, column, what);
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void s_significant(s_strip_t *st)
{
    st->prev_sig = st->last_sig;
    st->last_sig = st->o; /* index + 1 of the byte just written */
}

/*  Blanks the comma in "x , }" (a value before it): jansson then sees "x   }". */
static void s_drop_trailing_comma(s_strip_t *st)
{
    if (!st->last_sig || st->out[st->last_sig - 1] != ',' || !st->prev_sig)
        return;
    char before = st->out[st->prev_sig - 1];
    if (before == '[' || before == '{' || before == ',' || before == ':')
        return;
    st->out[st->last_sig - 1] = ' ';
    st->last_sig = st->prev_sig;
    st->prev_sig = 0;
}

/*  A byte inside a comment: newlines stay, each other character is a space. */
static void s_blank(s_strip_t *st, char c)
{
    if (c == '\n' || c == '\r')
        st->out[st->o++] = c;
    else if (((unsigned char)c & 0xC0) != 0x80)
        st->out[st->o++] = ' ';
}

/*  Handles one byte in code; returns how many input bytes it consumed. */
static size_t s_code(s_strip_t *st, const char *p, size_t left)
{
    char c = p[0];
    if (c == '/' && left > 1 && (p[1] == '/' || p[1] == '*')) {
        st->state = p[1] == '/' ? S_LINE_COMMENT : S_BLOCK_COMMENT;
        st->open_line = st->line, st->open_column = st->column;
        st->out[st->o++] = ' ';
        st->out[st->o++] = ' ';
        return 2;
    }
    if (c == '}' || c == ']')
        s_drop_trailing_comma(st);
    st->out[st->o++] = c;
    if (c == '"')
        st->state = S_STRING;
    if (!s_is_space(c))
        s_significant(st);
    return 1;
}

static size_t s_step(s_strip_t *st, const char *p, size_t left)
{
    switch (st->state) {
    case S_CODE:
        return s_code(st, p, left);
    case S_STRING:
        st->out[st->o++] = p[0];
        if (p[0] == '"') {
            st->state = S_CODE;
            s_significant(st);
        } else if (p[0] == '\\' && left > 1) {
            st->out[st->o++] = p[1];
            return 2;
        }
        return 1;
    case S_LINE_COMMENT:
        if (p[0] == '\n')
            st->state = S_CODE;
        s_blank(st, p[0]);
        return 1;
    case S_BLOCK_COMMENT:
        if (p[0] == '*' && left > 1 && p[1] == '/') {
            st->state = S_CODE;
            st->out[st->o++] = ' ';
            st->out[st->o++] = ' ';
            return 2;
        }
        s_blank(st, p[0]);
        return 1;
    }
    return 1;
}

/*  Advances the 1-based line/column (in characters) over n input bytes. */
static void s_advance(s_strip_t *st, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n')
            st->line++, st->column = 1;
        else if (((unsigned char)p[i] & 0xC0) != 0x80)
            st->column++;
    }
}

json_t *jsonc_loadb(const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    if (!text && len > 0) {
        s_error(err, errlen, 1, 1, "no input");
        return NULL;
    }
    if (len > JSONC_MAX_INPUT) {
        s_error(err, errlen, 1, 1, "input larger than 64 MiB");
        return NULL;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3, len -= 3;
    s_strip_t st = {.out = malloc(len + 1), .state = S_CODE, .line = 1, .column = 1};
    if (!st.out) {
        s_error(err, errlen, 1, 1, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < len;) {
        size_t used = s_step(&st, text + i, len - i);
        s_advance(&st, text + i, used);
        i += used;
    }
    if (st.state == S_BLOCK_COMMENT) {
        s_error(err, errlen, st.open_line, st.open_column, "unterminated block comment");
        free(st.out);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(st.out, st.o, JSON_DECODE_ANY, &jerr);
    free(st.out);
    if (!root)
        s_error(err, errlen, jerr.line, jerr.column, jerr.text);
    return root;
}
