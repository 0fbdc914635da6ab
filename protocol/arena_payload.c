/*  arena_payload — see arena_payload.h. Owns the shape of the LMArena
    `create-evaluation` body ("Current style" of ARENA-UPSTREAM.md) and the way
    an OpenAI conversation is flattened into its single user message.

    Flattening (userMessage.content):
      - exactly one message, a user message: its content verbatim;
      - otherwise blocks separated by one blank line ("\n\n"): first one block
        "System:\n" holding every system/developer content in order (joined by
        "\n\n"), then one block per other message in order, "User:\n<content>",
        "Assistant:\n<content>" or "Tool:\n<content>" (an unknown role is written
        as given). A message with a name is labelled with it: "User (Alice):\n";
        a system message with a name (SillyTavern's example dialogue,
        example_user / example_assistant) is not in the System block but a turn
        in place, "System (example_user):\n<content>". Messages with empty
        content are left out (their images still go up as attachments).
      e.g. "System:\nBe brief.\n\nUser:\nHi\n\nAssistant:\nHello!\n\nUser:\nHow are you?"

    Attachments: the image parts of the user messages, in order, named
    image-<n>.<ext> (n from 1). Limits count the prompt in UTF-8 code points and a
    data: URI in bytes. A NULL limits pointer, or a 0 field, means the default.

    Threading: no state; callable from any thread once sodium_init() has run. */
#include "protocol/arena_payload.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ARENA_DEFAULT_MAX_PROMPT_CHARS 113000
#define ARENA_DEFAULT_MAX_ATTACHMENT_BYTES (5u * 1024 * 1024)
#define ARENA_CTYPE_MAX 128

typedef struct {
    const char *ext;
    const char *ctype;
} s_image_type_t;

/* First entry for a content type gives its preferred extension. */
static const s_image_type_t s_image_types[] = {
    {"png", "image/png"},     {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},     {"webp", "image/webp"}, {"bmp", "image/bmp"},
    {"svg", "image/svg+xml"}, {"avif", "image/avif"}, {"heic", "image/heic"},
    {"heif", "image/heif"},   {"tif", "image/tiff"},  {"tiff", "image/tiff"},
    {"ico", "image/x-icon"},
};

const char *arena_modality_name(arena_modality_t m)
{
    switch (m) {
    case ARENA_MODALITY_IMAGE:
        return "image";
    case ARENA_MODALITY_SEARCH:
        return "search";
    case ARENA_MODALITY_CHAT:
    default:
        return "chat";
    }
}

void arena_payload_limits_default(arena_payload_limits_t *lim)
{
    lim->max_prompt_chars = ARENA_DEFAULT_MAX_PROMPT_CHARS;
    lim->max_attachment_bytes = ARENA_DEFAULT_MAX_ATTACHMENT_BYTES;
}

static void s_truncate(abuf_t *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

static const char *s_text(const char *s)
{
    return s ? s : "";
}

static bool s_role_is(const openai_message_t *m, const char *role)
{
    return m->role && strcmp(m->role, role) == 0;
}

static bool s_is_system(const openai_message_t *m)
{
    return s_role_is(m, "system") || s_role_is(m, "developer");
}

/*  A system message with a name (SillyTavern's example dialogue:
    example_user, example_assistant) is a turn of its own, in place. */
static bool s_in_system_block(const openai_message_t *m)
{
    return s_is_system(m) && !(m->name && m->name[0]);
}

static const char *s_role_label(const openai_message_t *m)
{
    if (!m->role || s_role_is(m, "user"))
        return "User";
    if (s_role_is(m, "assistant"))
        return "Assistant";
    if (s_role_is(m, "tool"))
        return "Tool";
    if (s_is_system(m))
        return "System";
    return m->role;
}

/*  "User:\n", or "User (Alice):\n" for a message with a name. */
static int s_put_label(abuf_t *out, const openai_message_t *m)
{
    if (abuf_puts(out, s_role_label(m)) < 0)
        return -1;
    if (m->name && m->name[0] && abuf_printf(out, " (%s)", m->name) < 0)
        return -1;
    return abuf_puts(out, ":\n");
}

/* Appends "\n\n" before every block but the first. */
static int s_block_sep(abuf_t *out, bool *first)
{
    if (*first) {
        *first = false;
        return 0;
    }
    return abuf_puts(out, "\n\n");
}

static int s_flatten_system(const openai_request_t *req, abuf_t *out, bool *first)
{
    bool opened = false;
    for (size_t i = 0; i < req->n_messages; i++) {
        const openai_message_t *m = &req->messages[i];
        const char *text = s_text(m->content);
        if (!s_in_system_block(m) || !*text)
            continue;
        if (!opened) {
            if (s_block_sep(out, first) < 0 || abuf_puts(out, "System:\n") < 0)
                return -1;
            opened = true;
        } else if (abuf_puts(out, "\n\n") < 0) {
            return -1;
        }
        if (abuf_puts(out, text) < 0)
            return -1;
    }
    return 0;
}

static int s_flatten_turns(const openai_request_t *req, abuf_t *out, bool *first)
{
    for (size_t i = 0; i < req->n_messages; i++) {
        const openai_message_t *m = &req->messages[i];
        const char *text = s_text(m->content);
        if (s_in_system_block(m) || !*text)
            continue;
        if (s_block_sep(out, first) < 0 || s_put_label(out, m) < 0 || abuf_puts(out, text) < 0)
            return -1;
    }
    return 0;
}

int arena_payload_flatten(const openai_request_t *req, abuf_t *out)
{
    if (!req || !out || (req->n_messages && !req->messages))
        return -1;
    if (req->n_messages == 1 && s_role_is(&req->messages[0], "user") &&
        !(req->messages[0].name && req->messages[0].name[0]))
        return abuf_puts(out, s_text(req->messages[0].content));
    size_t start = out->len;
    bool first = true;
    if (s_flatten_system(req, out, &first) < 0 || s_flatten_turns(req, out, &first) < 0) {
        s_truncate(out, start);
        return -1;
    }
    return 0;
}

/* UTF-8 code points: every byte that is not a continuation byte. */
static size_t s_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* "6.1 MB", "5 MB", "12.5 KB", "900 bytes": one decimal, ".0" dropped,
   rounded up for a size (so a size just over a limit never reads as equal to
   it) and down for a limit. */
static void s_format_size(char *buf, size_t size, size_t bytes, bool round_up)
{
    static const struct {
        size_t unit;
        const char *name;
    } units[] = {{1024 * 1024, "MB"}, {1024, "KB"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (bytes < units[i].unit)
            continue;
        size_t unit = units[i].unit;
        size_t tenths = bytes / unit * 10 + (bytes % unit) * 10 / unit;
        if (round_up && (bytes % unit) * 10 % unit)
            tenths++;
        if (tenths % 10)
            snprintf(buf, size, "%zu.%zu %s", tenths / 10, tenths % 10, units[i].name);
        else
            snprintf(buf, size, "%zu %s", tenths / 10, units[i].name);
        return;
    }
    snprintf(buf, size, "%zu bytes", bytes);
}

static bool s_is_data_uri(const char *url)
{
    return strncasecmp(url, "data:", 5) == 0;
}

static bool s_ctype_char(int c)
{
    return isalnum(c) || strchr("!#$&^_.+-", c) != NULL;
}

/* The media type of a data: URI ("data:image/jpeg;base64,..."), lower-cased
   into buf; 0, or -1 when it is missing or not a type/subtype token. */
static int s_data_uri_ctype(const char *url, char *buf, size_t size)
{
    const char *p = url + 5;
    size_t n = 0, slashes = 0;
    for (; p[n] && p[n] != ';' && p[n] != ','; n++) {
        int c = (unsigned char)p[n];
        if (n + 1 >= size || (c != '/' && !s_ctype_char(c)))
            return -1;
        slashes += c == '/';
        buf[n] = (char)tolower(c);
    }
    buf[n] = '\0';
    if (n == 0 || slashes != 1 || buf[0] == '/' || buf[n - 1] == '/')
        return -1;
    return 0;
}

/* Content type guessed from the extension of an http(s) URL's path. */
static const char *s_url_ctype(const char *url)
{
    size_t end = strcspn(url, "?#");
    const char *scheme = strstr(url, "://");
    bool has_scheme = scheme && (size_t)(scheme - url) < end;
    size_t path_from = has_scheme ? (size_t)(scheme - url) + 3 : 0;
    size_t seg = path_from;
    for (size_t i = path_from; i < end; i++)
        if (url[i] == '/')
            seg = i + 1;
    const char *dot = NULL;
    for (size_t i = seg; i < end; i++)
        if (url[i] == '.')
            dot = url + i;
    if (!dot || (has_scheme && seg == path_from)) /* no path: the dot is the host's */
        return "image/png";
    size_t ext_len = (size_t)(url + end - dot - 1);
    for (size_t i = 0; i < sizeof s_image_types / sizeof s_image_types[0]; i++) {
        const char *ext = s_image_types[i].ext;
        if (strlen(ext) == ext_len && strncasecmp(dot + 1, ext, ext_len) == 0)
            return s_image_types[i].ctype;
    }
    return "image/png";
}

/* File extension for a content type: the table's, else the subtype's letters
   and digits (at most 8), else "bin". */
static void s_ctype_ext(const char *ctype, char *buf, size_t size)
{
    for (size_t i = 0; i < sizeof s_image_types / sizeof s_image_types[0]; i++) {
        if (strcmp(ctype, s_image_types[i].ctype) == 0) {
            snprintf(buf, size, "%s", s_image_types[i].ext);
            return;
        }
    }
    const char *sub = strchr(ctype, '/');
    size_t n = 0;
    for (sub = sub ? sub + 1 : ctype; *sub && n < 8 && n + 1 < size; sub++)
        if (isalnum((unsigned char)*sub))
            buf[n++] = *sub;
    buf[n] = '\0';
    if (n == 0)
        snprintf(buf, size, "bin");
}

static void s_attachment_ctype(const char *url, char *buf, size_t size)
{
    if (s_is_data_uri(url)) {
        if (s_data_uri_ctype(url, buf, size) < 0)
            snprintf(buf, size, "image/png");
        return;
    }
    snprintf(buf, size, "%s", s_url_ctype(url));
}

typedef struct {
    size_t count;     /* user images */
    size_t url_bytes; /* their URLs, summed */
} s_images_t;

/* Counts the user images and checks every data: URI against the limit. */
static int s_check_images(const openai_request_t *req, const arena_payload_limits_t *lim,
                          s_images_t *img, openai_error_t *err)
{
    img->count = img->url_bytes = 0;
    for (size_t i = 0; i < req->n_messages; i++) {
        const openai_message_t *m = &req->messages[i];
        if (!s_role_is(m, "user"))
            continue;
        if (m->n_images && !m->images) {
            openai_error_set(err, "invalid_request", "messages", "message %zu: images missing", i);
            return -1;
        }
        for (size_t j = 0; j < m->n_images; j++) {
            const char *url = m->images[j].url;
            if (!url || !*url) {
                openai_error_set(err, "invalid_request", "messages",
                                 "message %zu: image %zu has no URL", i, j + 1);
                return -1;
            }
            size_t len = strlen(url);
            img->count++;
            img->url_bytes += len;
            if (s_is_data_uri(url) && len > lim->max_attachment_bytes) {
                char have[48], max[48];
                s_format_size(have, sizeof have, len, true);
                s_format_size(max, sizeof max, lim->max_attachment_bytes, false);
                openai_error_set(err, "request_too_large", "messages",
                                 "image %zu is %s; LMArena accepts about %s per attachment",
                                 img->count, have, max);
                return -1;
            }
        }
    }
    return 0;
}

static int s_put_str(abuf_t *out, const char *s, size_t len)
{
    if (abuf_append(out, "\"", 1) < 0 || abuf_json_escape(out, s, len) < 0 ||
        abuf_append(out, "\"", 1) < 0)
        return -1;
    return 0;
}

static int s_put_key_str(abuf_t *out, const char *key, const char *s)
{
    if (abuf_puts(out, key) < 0)
        return -1;
    return s_put_str(out, s, strlen(s));
}

static int s_put_attachment(abuf_t *out, size_t n, const char *url)
{
    char ctype[ARENA_CTYPE_MAX], ext[16], name[48];
    s_attachment_ctype(url, ctype, sizeof ctype);
    s_ctype_ext(ctype, ext, sizeof ext);
    snprintf(name, sizeof name, "image-%zu.%s", n, ext);
    if (abuf_puts(out, n > 1 ? ",{" : "{") < 0 || s_put_key_str(out, "\"name\":", name) < 0 ||
        s_put_key_str(out, ",\"contentType\":", ctype) < 0 ||
        s_put_key_str(out, ",\"url\":", url) < 0 || abuf_puts(out, "}") < 0)
        return -1;
    return 0;
}

static int s_put_attachments(abuf_t *out, const openai_request_t *req)
{
    size_t n = 0;
    if (abuf_puts(out, "\"experimental_attachments\":[") < 0)
        return -1;
    for (size_t i = 0; i < req->n_messages; i++) {
        const openai_message_t *m = &req->messages[i];
        if (!s_role_is(m, "user"))
            continue;
        for (size_t j = 0; j < m->n_images; j++)
            if (s_put_attachment(out, ++n, m->images[j].url) < 0)
                return -1;
    }
    return abuf_puts(out, "]");
}

int arena_mode_valid(const char *mode)
{
    size_t n = mode ? strlen(mode) : 0;
    if (n == 0 || n >= ARENA_MODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((mode[i] >= 'a' && mode[i] <= 'z') || (mode[i] >= '0' && mode[i] <= '9') ||
              mode[i] == '-'))
            return 0;
    return 1;
}

int arena_mode_has_b(const char *mode)
{
    return mode && (strcmp(mode, "battle") == 0 || strcmp(mode, "side-by-side") == 0 ||
                    strcmp(mode, "direct") == 0);
}

static void s_new_ids(arena_ids_t *ids, bool with_b)
{
    uuid7_generate(ids->session_id);
    uuid7_generate(ids->user_message_id);
    uuid7_generate(ids->model_a_message_id);
    if (with_b)
        uuid7_generate(ids->model_b_message_id);
    else
        ids->model_b_message_id[0] = '\0';
}

static int s_put_body(abuf_t *out, const arena_ids_t *ids, const char *model_arena_id,
                      const char *mode, const abuf_t *prompt, const openai_request_t *req,
                      arena_modality_t modality)
{
    if (s_put_key_str(out, "{\"id\":", ids->session_id) < 0 ||
        s_put_key_str(out, ",\"mode\":", mode) < 0 ||
        s_put_key_str(out, ",\"modelAId\":", model_arena_id) < 0 ||
        s_put_key_str(out, ",\"userMessageId\":", ids->user_message_id) < 0 ||
        s_put_key_str(out, ",\"modelAMessageId\":", ids->model_a_message_id) < 0 ||
        (ids->model_b_message_id[0] &&
         s_put_key_str(out, ",\"modelBMessageId\":", ids->model_b_message_id) < 0) ||
        abuf_puts(out, ",\"userMessage\":{\"content\":") < 0 ||
        s_put_str(out, prompt->data ? prompt->data : "", prompt->len) < 0 ||
        abuf_puts(out, ",") < 0 || s_put_attachments(out, req) < 0 ||
        abuf_puts(out, ",\"metadata\":{}}") < 0 ||
        s_put_key_str(out, ",\"modality\":", arena_modality_name(modality)) < 0 ||
        abuf_puts(out, "}") < 0)
        return -1;
    return 0;
}

static int s_check_args(const openai_request_t *req, const char *model_arena_id,
                        arena_modality_t modality, const abuf_t *out, openai_error_t *err)
{
    if (!out) {
        openai_error_set(err, "invalid_request", "", "no output buffer");
        return -1;
    }
    if (!req || req->n_messages == 0 || !req->messages) {
        openai_error_set(err, "invalid_request", "messages", "messages must not be empty");
        return -1;
    }
    if (!model_arena_id || !uuid_is_valid(model_arena_id)) {
        openai_error_set(err, "invalid_request", "model",
                         "the model has no valid LMArena id in the catalog");
        return -1;
    }
    if (modality != ARENA_MODALITY_CHAT && modality != ARENA_MODALITY_IMAGE &&
        modality != ARENA_MODALITY_SEARCH) {
        openai_error_set(err, "invalid_request", "model", "unknown model modality %d",
                         (int)modality);
        return -1;
    }
    return 0;
}

static int s_check_prompt(const abuf_t *prompt, const s_images_t *img,
                          const arena_payload_limits_t *lim, openai_error_t *err)
{
    size_t chars = s_utf8_chars(prompt->data ? prompt->data : "", prompt->len);
    if (chars > lim->max_prompt_chars) {
        openai_error_set(err, "request_too_large", "messages",
                         "the conversation is %zu characters once flattened; LMArena accepts "
                         "about %zu characters per message",
                         chars, lim->max_prompt_chars);
        return -1;
    }
    if (chars == 0 && img->count == 0) {
        openai_error_set(err, "invalid_request", "messages",
                         "nothing to send: every message is empty");
        return -1;
    }
    return 0;
}

int arena_payload_build(const openai_request_t *req, const char *model_arena_id,
                        arena_modality_t modality, const char *mode,
                        const arena_payload_limits_t *lim, abuf_t *out, arena_ids_t *ids_out,
                        openai_error_t *err)
{
    arena_payload_limits_t eff;
    arena_payload_limits_default(&eff);
    if (lim && lim->max_prompt_chars)
        eff.max_prompt_chars = lim->max_prompt_chars;
    if (lim && lim->max_attachment_bytes)
        eff.max_attachment_bytes = lim->max_attachment_bytes;

    if (s_check_args(req, model_arena_id, modality, out, err) < 0)
        return -1;
    if (!mode)
        mode = ARENA_MODE_DEFAULT;
    if (!arena_mode_valid(mode)) {
        openai_error_set(err, "invalid_request", "", "the LMArena mode \"%.40s\" is not valid",
                         mode);
        return -1;
    }
    s_images_t img;
    if (s_check_images(req, &eff, &img, err) < 0)
        return -1;
    abuf_t prompt = ABUF_INIT;
    if (arena_payload_flatten(req, &prompt) < 0)
        goto oom;
    if (s_check_prompt(&prompt, &img, &eff, err) < 0) {
        abuf_free(&prompt);
        return -1;
    }
    arena_ids_t ids;
    s_new_ids(&ids, arena_mode_has_b(mode));
    size_t start = out->len;
    /* One reservation up front: the attachments can be several MB. Best effort:
       an exact append below still reports a cap that is really exceeded. */
    (void)abuf_reserve(out, prompt.len + prompt.len / 8 + img.url_bytes + img.count * 96 + 512);
    if (s_put_body(out, &ids, model_arena_id, mode, &prompt, req, modality) < 0) {
        s_truncate(out, start);
        abuf_free(&prompt);
        if (out->max) {
            openai_error_set(err, "request_too_large", "messages",
                             "the LMArena request would exceed %zu bytes", out->max);
            return -1;
        }
        goto oom;
    }
    abuf_free(&prompt);
    if (ids_out)
        *ids_out = ids;
    return 0;
oom:
    abuf_free(&prompt);
    openai_error_set(err, "no_capacity", "", "out of memory building the LMArena request");
    return -1;
}
