/*  status_view — see status_view.h. */
#include "tools/status_view.h"

#include "protocol/status_doc.h"
#include "protocol/utf8.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_COOLED_SHOWN 8 /* cooled models listed per node before "+N more" */
#define S_PRETTY_MAX ((size_t)64 * 1024 * 1024)
#define S_MIB ((size_t)1024 * 1024)

/* ==== parsing: protocol/status_doc, seen as a display needs it ============= */

/*  A count or a duration as the tables show it: negative, null or missing
    is unknown. */
static long long s_num(int64_t v)
{
    return v < 0 ? STATUS_VIEW_UNKNOWN : (long long)v;
}

static void s_view_models(status_view_node_t *n, const status_doc_node_t *d)
{
    size_t want = d->n_models < STATUS_VIEW_MAX_MODELS ? d->n_models : STATUS_VIEW_MAX_MODELS;
    n->has_models = d->has_models;
    n->models_dropped = d->models_dropped + (d->n_models - want);
    for (size_t i = 0; i < want; i++) {
        const status_doc_model_t *m = &d->models[i];
        const char *dn = m->display_name;
        n->models[n->model_count++] = (status_view_model_t){
            .name = m->name,
            .modality = m->modality,
            .cooled_remaining_ms = s_num(m->cooled_remaining_ms),
            .display_name = dn && *dn ? dn : NULL,
        };
    }
}

static void s_view_node(status_view_node_t *n, const status_doc_node_t *d, const char *self_id)
{
    n->id = d->id;
    n->name = d->name;
    n->address = d->address;
    n->http = d->http;
    n->state = d->state;
    n->is_self = d->local || (self_id && d->id && strcmp(self_id, d->id) == 0);
    n->age_ms = s_num(d->age_ms);
    n->never_heard = d->age_ms == STATUS_DOC_NULL;
    n->reported_by = d->reported_by;
    n->indirect = d->indirect;
    n->uptime_ms = s_num(d->uptime_ms);
    n->tabs_count = s_num(d->tabs_count);
    n->tabs_healthy = s_num(d->tabs_healthy);
    n->inflight = s_num(d->inflight);
    n->queued = s_num(d->queued);
    n->capacity = s_num(d->capacity);
    n->node_cooled_remaining_ms = s_num(d->node_cooled_remaining_ms);
    s_view_models(n, d);
    for (size_t i = 0; i < d->n_accounts && i < STATUS_VIEW_MAX_ACCOUNTS; i++)
        n->accounts[n->account_count++] = (status_view_account_t){
            .id = d->accounts[i].id,
            .next_slot_ms = s_num(d->accounts[i].next_slot_ms),
            .flag_ms = s_num(d->accounts[i].flag_remaining_ms),
        };
}

status_view_t *status_view_parse(const char *text, size_t len, char *err, size_t err_len)
{
    status_doc_t *doc = NULL;
    if (status_doc_parse((const uint8_t *)text, len, &doc, err, err_len) != STATUS_DOC_OK)
        return NULL;
    status_view_t *view = calloc(1, sizeof *view);
    if (!view) {
        status_doc_destroy(&doc);
        goto err;
    }
    view->doc = doc;
    size_t want = doc->n_nodes < STATUS_VIEW_MAX_NODES ? doc->n_nodes : STATUS_VIEW_MAX_NODES;
    if (!(view->nodes = calloc(want ? want : 1, sizeof *view->nodes)))
        goto err;
    view->self_id = doc->self;
    view->generated_ms = s_num(doc->generated_ms);
    view->has_nodes = doc->has_nodes;
    view->nodes_dropped = doc->nodes_dropped + (doc->n_nodes - want);
    for (size_t i = 0; i < want; i++) {
        const status_doc_node_t *d = &doc->nodes[i];
        status_view_node_t *n = &view->nodes[view->node_count++];
        size_t models = d->n_models < STATUS_VIEW_MAX_MODELS ? d->n_models : STATUS_VIEW_MAX_MODELS;
        n->models = models ? calloc(models, sizeof *n->models) : NULL;
        n->accounts = d->n_accounts ? calloc(d->n_accounts, sizeof *n->accounts) : NULL;
        if ((models && !n->models) || (d->n_accounts && !n->accounts))
            goto err;
        s_view_node(n, d, doc->self);
    }
    return view;
err:
    if (err && err_len)
        snprintf(err, err_len, "out of memory");
    status_view_destroy(&view);
    return NULL;
}

void status_view_destroy(status_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    status_view_t *self = *self_p;
    for (size_t i = 0; i < self->node_count; i++) {
        free(self->nodes[i].models);
        free(self->nodes[i].accounts);
    }
    free(self->nodes);
    status_doc_destroy(&self->doc);
    free(self);
    *self_p = NULL;
}

mesh_cell_state_t status_view_model_state(const status_view_node_t *node,
                                          const status_view_model_t *model, long long *remaining_ms)
{
    long long n = node->node_cooled_remaining_ms;
    long long m = model->cooled_remaining_ms;
    *remaining_ms = STATUS_VIEW_UNKNOWN;
    if (n > 0 || m > 0) {
        *remaining_ms = n > m ? n : m;
        return MESH_CELL_COOLING;
    }
    if (n == STATUS_VIEW_UNKNOWN || m == STATUS_VIEW_UNKNOWN)
        return MESH_CELL_UNKNOWN;
    *remaining_ms = 0;
    return MESH_CELL_OK;
}

/* ==== text helpers ========================================================= */

const char *status_view_format_duration(long long ms, char *buf, size_t buf_len)
{
    const long long s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;
    if (!buf || !buf_len)
        return buf;
    if (ms < 0)
        snprintf(buf, buf_len, "?");
    else if (ms < 10 * s && (ms / 100) % 10)
        snprintf(buf, buf_len, "%lld.%llds", ms / s, (ms / 100) % 10);
    else if (ms < m)
        snprintf(buf, buf_len, "%llds", ms / s);
    else if (ms < h)
        snprintf(buf, buf_len, (ms % m) / s ? "%lldm%llds" : "%lldm", ms / m, (ms % m) / s);
    else if (ms < d)
        snprintf(buf, buf_len, (ms % h) / m ? "%lldh%lldm" : "%lldh", ms / h, (ms % h) / m);
    else
        snprintf(buf, buf_len, (ms % d) / h ? "%lldd%lldh" : "%lldd", ms / d, (ms % d) / h);
    return buf;
}

#define S_BAD_CP 0xFFFFFFFFu

/*  One UTF-8 sequence (protocol/utf8); returns bytes used (>= 1). *cp is
    S_BAD_CP on an invalid sequence, of which one byte is consumed. */
static size_t s_utf8_next(const unsigned char *p, size_t len, uint32_t *cp)
{
    size_t n = utf8_decode(p, len, cp);
    if (n == 0) {
        *cp = S_BAD_CP;
        return 1;
    }
    return n;
}

typedef struct {
    uint32_t lo, hi;
} s_range_t;

static bool s_in(uint32_t cp, const s_range_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return true;
    return false;
}

static const s_range_t s_zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},   {0x064B, 0x065F},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},   {0x200B, 0x200F},
    {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF},
};

static const s_range_t s_wide[] = {
    {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
    {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
    {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
    {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

/*  Code points a terminal would act on rather than print: C0, DEL, C1, and the
    bidirectional overrides that reorder what follows them. */
static bool s_is_control(uint32_t cp)
{
    return utf8_is_control(cp) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static size_t s_cp_width(uint32_t cp)
{
    if (cp == S_BAD_CP || s_is_control(cp))
        return 1; /* printed as '?' */
    if (s_in(cp, s_zero_width, sizeof s_zero_width / sizeof s_zero_width[0]))
        return 0;
    if (s_in(cp, s_wide, sizeof s_wide / sizeof s_wide[0]))
        return 2;
    return 1;
}

size_t status_view_display_width(const char *s)
{
    size_t w = 0, len = s ? strlen(s) : 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += s_utf8_next(p + i, len - i, &cp);
        w += s_cp_width(cp);
    }
    return w;
}

/*  Appends s made safe for a terminal: controls and invalid bytes become '?',
    and a string wider than max_cols is clipped with "…". NULL or "" is "?". */
static int s_clean(abuf_t *out, const char *s, size_t max_cols)
{
    if (!s || !*s)
        return abuf_puts(out, "?");
    size_t len = strlen(s), total = status_view_display_width(s), w = 0;
    size_t room = total > max_cols ? max_cols - 1 : total;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = s_utf8_next(p + i, len - i, &cp);
        size_t cw = s_cp_width(cp);
        if (w + cw > room)
            break;
        bool bad = cp == S_BAD_CP || s_is_control(cp);
        if (bad ? abuf_puts(out, "?") : abuf_append(out, p + i, n))
            return -1;
        w += cw;
        i += n;
    }
    return total > max_cols ? abuf_puts(out, "…") : 0;
}

/*  A count or "?". */
static int s_count(abuf_t *out, long long v)
{
    return v < 0 ? abuf_puts(out, "?") : abuf_printf(out, "%lld", v);
}

static int s_duration(abuf_t *out, long long ms)
{
    char buf[STATUS_VIEW_DURATION_MAX];
    return abuf_puts(out, status_view_format_duration(ms, buf, sizeof buf));
}

/* ==== tables =============================================================== */

/*  Cells are appended row by row; widths come from content; columns are
    separated by two spaces and the last column is not padded. */
typedef struct {
    size_t ncols;
    size_t ncells;
    size_t cap;
    char **cells;
} s_table_t;

static void s_table_free(s_table_t *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->ncells = t->cap = 0;
}

/*  Takes the text of cell (reset afterwards). */
static int s_table_cell(s_table_t *t, abuf_t *cell)
{
    if (t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = realloc(t->cells, cap * sizeof *cells);
        if (!cells)
            return -1;
        t->cells = cells;
        t->cap = cap;
    }
    char *text = abuf_steal(cell, NULL);
    if (!text)
        return -1;
    t->cells[t->ncells++] = text;
    return 0;
}

static int s_table_text(s_table_t *t, const char *text)
{
    abuf_t cell = ABUF_INIT;
    if (abuf_puts(&cell, text) < 0 || s_table_cell(t, &cell) < 0) {
        abuf_free(&cell);
        return -1;
    }
    return 0;
}

static int s_table_render(const s_table_t *t, abuf_t *out)
{
    size_t *width = calloc(t->ncols, sizeof *width);
    if (!width)
        return -1;
    for (size_t i = 0; i < t->ncells; i++) {
        size_t w = status_view_display_width(t->cells[i]);
        if (w > width[i % t->ncols])
            width[i % t->ncols] = w;
    }
    int rc = 0;
    for (size_t i = 0; i < t->ncells && rc == 0; i++) {
        size_t col = i % t->ncols;
        rc = abuf_puts(out, t->cells[i]);
        if (col + 1 == t->ncols) {
            rc = rc ? rc : abuf_puts(out, "\n");
            continue;
        }
        for (size_t pad = width[col] - status_view_display_width(t->cells[i]) + 2; pad && !rc;
             pad--)
            rc = abuf_puts(out, " ");
    }
    free(width);
    return rc;
}

/* ==== status table ========================================================= */

static int s_node_label(abuf_t *cell, const status_view_node_t *n)
{
    if (s_clean(cell, n->name, STATUS_VIEW_CELL_COLS) < 0)
        return -1;
    return n->is_self ? abuf_puts(cell, "*") : 0;
}

static int s_ratio(abuf_t *cell, long long a, long long b)
{
    if (s_count(cell, a) < 0 || abuf_puts(cell, "/") < 0)
        return -1;
    return s_count(cell, b);
}

static int s_load(abuf_t *cell, const status_view_node_t *n)
{
    if (s_ratio(cell, n->inflight, n->capacity) < 0)
        return -1;
    if (n->queued <= 0) /* queued is shown only when known and non-zero */
        return 0;
    return abuf_printf(cell, " +%lld queued", n->queued);
}

static int s_models_ok(abuf_t *cell, const status_view_node_t *n)
{
    if (!n->has_models)
        return abuf_puts(cell, "?");
    long long ok = 0, rem;
    for (size_t i = 0; i < n->model_count; i++)
        ok += status_view_model_state(n, &n->models[i], &rem) == MESH_CELL_OK;
    return abuf_printf(cell, "%lld", ok);
}

/*  "ALL 19m, fake-chat 29m59s, …" or "-". */
static int s_cooled(abuf_t *cell, const status_view_node_t *n)
{
    size_t shown = 0, more = 0;
    int rc = 0;
    if (n->node_cooled_remaining_ms != 0) {
        rc = abuf_puts(cell, "ALL ");
        rc = rc ? rc : s_duration(cell, n->node_cooled_remaining_ms);
        shown++;
    }
    for (size_t i = 0; i < n->model_count && rc == 0; i++) {
        const status_view_model_t *m = &n->models[i];
        if (m->cooled_remaining_ms == 0)
            continue;
        if (shown == S_COOLED_SHOWN) {
            more++;
            continue;
        }
        rc = shown++ ? abuf_puts(cell, ", ") : 0;
        rc = rc ? rc : s_clean(cell, m->name, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(cell, " ");
        rc = rc ? rc : s_duration(cell, m->cooled_remaining_ms);
    }
    if (rc == 0 && more)
        rc = abuf_printf(cell, ", +%zu more", more);
    if (rc == 0 && shown == 0)
        rc = abuf_puts(cell, "-");
    return rc;
}

static int s_status_row(s_table_t *t, const status_view_node_t *n)
{
    abuf_t cell = ABUF_INIT;
    int rc = 0;
    for (int col = 0; col < 8 && rc == 0; col++) {
        switch (col) {
        case 0:
            rc = s_node_label(&cell, n);
            break;
        case 1:
            rc = s_clean(&cell, n->address, STATUS_VIEW_CELL_COLS);
            break;
        case 2:
            rc = s_clean(&cell, n->state, STATUS_VIEW_CELL_COLS);
            break;
        case 3:
            rc = n->never_heard ? abuf_puts(&cell, "-") : s_duration(&cell, n->age_ms);
            break;
        case 4:
            rc = s_ratio(&cell, n->tabs_healthy, n->tabs_count);
            break;
        case 5:
            rc = s_load(&cell, n);
            break;
        case 6:
            rc = s_models_ok(&cell, n);
            break;
        default:
            rc = s_cooled(&cell, n);
            break;
        }
        rc = rc ? rc : s_table_cell(t, &cell);
    }
    abuf_free(&cell);
    return rc;
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool s_is_alive(const status_view_node_t *n)
{
    return n->state && strcmp(n->state, "alive") == 0;
}

/*  Distinct model names: *total over all nodes, *available OK on an alive node. */
static int s_count_models(const status_view_t *v, size_t *total, size_t *available)
{
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < v->node_count; i++)
        cap += v->nodes[i].model_count;
    const char **names = calloc(cap ? cap * 2 : 1, sizeof *names);
    if (!names)
        return -1;
    const char **ok = names + cap;
    size_t n_ok = 0;
    for (size_t i = 0; i < v->node_count; i++) {
        const status_view_node_t *node = &v->nodes[i];
        for (size_t j = 0; j < node->model_count; j++) {
            long long rem;
            const status_view_model_t *m = &node->models[j];
            const char *name = m->name ? m->name : "?";
            names[n++] = name;
            if (s_is_alive(node) && status_view_model_state(node, m, &rem) == MESH_CELL_OK)
                ok[n_ok++] = name;
        }
    }
    *total = *available = 0;
    qsort(names, n, sizeof *names, s_cmp_str);
    qsort(ok, n_ok, sizeof *ok, s_cmp_str);
    for (size_t i = 0; i < n; i++)
        *total += i == 0 || strcmp(names[i - 1], names[i]) != 0;
    for (size_t i = 0; i < n_ok; i++)
        *available += i == 0 || strcmp(ok[i - 1], ok[i]) != 0;
    free(names);
    return 0;
}

static int s_state_counts(const status_view_t *v, abuf_t *out)
{
    static const char *const states[] = {"alive", "suspect", "unreachable", "dead", "left"};
    enum { N = sizeof states / sizeof states[0] };
    size_t counts[N + 1] = {0};
    for (size_t i = 0; i < v->node_count; i++) {
        size_t k = 0;
        while (k < N && !(v->nodes[i].state && strcmp(v->nodes[i].state, states[k]) == 0))
            k++;
        counts[k]++;
    }
    int rc = abuf_printf(out, "%zu alive", counts[0]);
    for (size_t k = 1; k <= N && rc == 0; k++)
        if (counts[k])
            rc = abuf_printf(out, ", %zu %s", counts[k], k < N ? states[k] : "other");
    return rc;
}

static const status_view_node_t *s_node_by_id(const status_view_t *v, const char *id)
{
    for (size_t i = 0; id && i < v->node_count; i++)
        if (v->nodes[i].id && strcmp(v->nodes[i].id, id) == 0)
            return &v->nodes[i];
    return NULL;
}

/*  "! pi at 10.0.0.8:5104 is reached from desk only through other members:
    check desk's route to 10.0.0.8:5104". */
static int s_indirect_note(const status_view_node_t *n, const char *me, abuf_t *out)
{
    int rc = abuf_puts(out, "! ");
    rc = rc ? rc : s_clean(out, n->name, STATUS_VIEW_CELL_COLS);
    rc = rc ? rc : abuf_puts(out, " at ");
    rc = rc ? rc : s_clean(out, n->address, STATUS_VIEW_CELL_COLS);
    rc = rc ? rc : abuf_puts(out, " is reached from ");
    rc = rc ? rc : me ? s_clean(out, me, STATUS_VIEW_CELL_COLS) : abuf_puts(out, "this node");
    rc = rc ? rc : abuf_puts(out, " only through other members: check ");
    rc = rc ? rc : me ? s_clean(out, me, STATUS_VIEW_CELL_COLS) : abuf_puts(out, "this node");
    rc = rc ? rc : abuf_puts(out, "'s route to ");
    rc = rc ? rc : s_clean(out, n->address, STATUS_VIEW_CELL_COLS);
    return rc ? rc : abuf_puts(out, "\n");
}

/*  "! laptop at 10.0.0.7:5104 is unreachable from desk (reported by pi):
    check that desk can reach 10.0.0.7:5104 (firewall, VPN, laptop's
    --advertise)" for each unreachable node, and a note for each node alive
    only through other members' probes. */
static int s_unreachable_notes(const status_view_t *v, abuf_t *out)
{
    const char *me = NULL;
    for (size_t i = 0; i < v->node_count && !me; i++)
        if (v->nodes[i].is_self)
            me = v->nodes[i].name;
    int rc = 0;
    for (size_t i = 0; i < v->node_count && rc == 0; i++) {
        const status_view_node_t *n = &v->nodes[i];
        if (n->indirect && !n->is_self && n->state && strcmp(n->state, "alive") == 0) {
            rc = s_indirect_note(n, me, out);
            continue;
        }
        if (!n->state || strcmp(n->state, "unreachable") != 0)
            continue;
        const status_view_node_t *by = s_node_by_id(v, n->reported_by);
        rc = abuf_puts(out, "! ");
        rc = rc ? rc : s_clean(out, n->name, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(out, " at ");
        rc = rc ? rc : s_clean(out, n->address, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(out, " is unreachable from ");
        rc = rc ? rc : me ? s_clean(out, me, STATUS_VIEW_CELL_COLS) : abuf_puts(out, "this node");
        if (rc == 0 && n->reported_by) {
            rc = abuf_puts(out, " (reported by ");
            rc = rc ? rc
                    : s_clean(out, by && by->name ? by->name : n->reported_by,
                              STATUS_VIEW_CELL_COLS);
            rc = rc ? rc : abuf_puts(out, ")");
        }
        rc = rc ? rc : abuf_puts(out, ": check that ");
        rc = rc ? rc : me ? s_clean(out, me, STATUS_VIEW_CELL_COLS) : abuf_puts(out, "this node");
        rc = rc ? rc : abuf_puts(out, " can reach ");
        rc = rc ? rc : s_clean(out, n->address, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(out, " (firewall, VPN, ");
        rc = rc ? rc : s_clean(out, n->name, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(out, "'s --advertise)\n");
    }
    return rc;
}

/*  "3 nodes: 3 alive · 4 tabs · 7 models": tabs are the healthy tabs of alive
    nodes, models the distinct models usable now (un-cooled on an alive node). */
static int s_status_summary(const status_view_t *v, abuf_t *out)
{
    if (!v->has_nodes)
        return abuf_puts(out, "? nodes (the answer has no \"nodes\" list)\n");
    long long tabs = 0;
    for (size_t i = 0; i < v->node_count && tabs >= 0; i++)
        if (s_is_alive(&v->nodes[i]))
            tabs = v->nodes[i].tabs_healthy < 0 ? -1 : tabs + v->nodes[i].tabs_healthy;
    size_t total, available;
    if (s_count_models(v, &total, &available) < 0)
        return -1;
    int rc = abuf_printf(out, "%zu node%s: ", v->node_count, v->node_count == 1 ? "" : "s");
    rc = rc ? rc : s_state_counts(v, out);
    rc = rc ? rc : abuf_puts(out, " · ");
    rc = rc ? rc : s_count(out, tabs);
    rc = rc ? rc
            : abuf_printf(out, " tab%s · %zu model%s", tabs == 1 ? "" : "s", available,
                          available == 1 ? "" : "s");
    if (rc == 0 && total > available)
        rc = abuf_printf(out, " (+%zu unavailable)", total - available);
    if (rc == 0 && v->nodes_dropped)
        rc = abuf_printf(out, " · %zu more entries not shown", v->nodes_dropped);
    rc = rc ? rc : abuf_puts(out, "\n");
    return rc ? rc : s_unreachable_notes(v, out);
}

/*  "3e1f0a2b…" for a hash, "tab 9f1c2d3e…" for a tab's own account. */
static int s_account_label(abuf_t *cell, const char *id)
{
    if (!id)
        return abuf_puts(cell, "?");
    bool tab = strncmp(id, "tab:", 4) == 0;
    char head[16];
    snprintf(head, sizeof head, "%.8s", tab ? id + 4 : id);
    int rc = tab ? abuf_puts(cell, "tab ") : 0;
    rc = rc ? rc : s_clean(cell, head, 8);
    return rc ? rc : abuf_puts(cell, "…");
}

static int s_accounts_table(const status_view_t *v, abuf_t *out)
{
    size_t any = 0;
    for (size_t i = 0; i < v->node_count; i++)
        any += v->nodes[i].account_count;
    if (!any)
        return 0;
    static const char *const head[] = {"ACCOUNT", "NODE", "NEXT SLOT", "FLAGGED"};
    s_table_t t = {.ncols = 4};
    int rc = abuf_puts(out, "\n");
    for (size_t i = 0; i < 4 && rc == 0; i++)
        rc = s_table_text(&t, head[i]);
    for (size_t i = 0; i < v->node_count && rc == 0; i++) {
        const status_view_node_t *n = &v->nodes[i];
        for (size_t k = 0; k < n->account_count && rc == 0; k++) {
            const status_view_account_t *a = &n->accounts[k];
            abuf_t cell = ABUF_INIT;
            rc = s_account_label(&cell, a->id);
            rc = rc ? rc : s_table_cell(&t, &cell);
            rc = rc ? rc : s_node_label(&cell, n);
            rc = rc ? rc : s_table_cell(&t, &cell);
            if (rc == 0) {
                if (a->next_slot_ms == 0)
                    rc = abuf_puts(&cell, "now");
                else if (a->next_slot_ms == STATUS_VIEW_UNKNOWN)
                    rc = abuf_puts(&cell, "-"); /* a peer's: its pace is its own */
                else
                    rc = s_duration(&cell, a->next_slot_ms);
            }
            rc = rc ? rc : s_table_cell(&t, &cell);
            if (rc == 0)
                rc = a->flag_ms > 0 ? s_duration(&cell, a->flag_ms) : abuf_puts(&cell, "-");
            rc = rc ? rc : s_table_cell(&t, &cell);
            abuf_free(&cell);
        }
    }
    rc = rc ? rc : s_table_render(&t, out);
    s_table_free(&t);
    return rc;
}

int status_view_render_status(const status_view_t *view, abuf_t *out)
{
    static const char *const head[] = {"NODE", "ADDRESS", "STATE",  "AGE",
                                       "TABS", "LOAD",    "MODELS", "COOLED"};
    s_table_t t = {.ncols = 8};
    int rc = 0;
    for (size_t i = 0; i < 8 && rc == 0; i++)
        rc = s_table_text(&t, head[i]);
    for (size_t i = 0; i < view->node_count && rc == 0; i++)
        rc = s_status_row(&t, &view->nodes[i]);
    rc = rc ? rc : s_table_render(&t, out);
    rc = rc ? rc : s_status_summary(view, out);
    rc = rc ? rc : s_accounts_table(view, out);
    s_table_free(&t);
    return rc;
}

/* ==== models: matrix and JSON ============================================== */

typedef struct {
    const char *name; /* never NULL: "?" for a nameless model */
    size_t node;
    size_t model;
} s_entry_t;

static int s_cmp_entry(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->model < y->model ? -1 : x->model > y->model;
}

/*  Every (model, node) pair, sorted by model name then node order. */
static s_entry_t *s_entries(const status_view_t *v, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < v->node_count; i++)
        n += v->nodes[i].model_count;
    s_entry_t *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return NULL;
    n = 0;
    for (size_t i = 0; i < v->node_count; i++)
        for (size_t j = 0; j < v->nodes[i].model_count; j++) {
            const char *name = v->nodes[i].models[j].name;
            e[n++] = (s_entry_t){name ? name : "?", i, j};
        }
    qsort(e, n, sizeof *e, s_cmp_entry);
    *count = n;
    return e;
}

/*  One matrix row: the effective state per node (the first entry of a node
    wins) and the first modality named. Returns the index after the group. */
typedef struct {
    const char *name;
    const char *modality;
    const char *display_name; /* the first any node gives, or NULL */
    mesh_cell_state_t *state; /* per node */
    long long *remaining;     /* per node */
} s_row_t;

static size_t s_row_fill(const status_view_t *v, const s_entry_t *e, size_t n, size_t at,
                         s_row_t *row)
{
    row->name = e[at].name;
    row->modality = NULL;
    row->display_name = NULL;
    for (size_t i = 0; i < v->node_count; i++) {
        row->state[i] = MESH_CELL_ABSENT;
        row->remaining[i] = STATUS_VIEW_UNKNOWN;
    }
    size_t k = at;
    for (; k < n && strcmp(e[k].name, row->name) == 0; k++) {
        const status_view_node_t *node = &v->nodes[e[k].node];
        const status_view_model_t *m = &node->models[e[k].model];
        if (!row->modality)
            row->modality = m->modality;
        if (!row->display_name)
            row->display_name = m->display_name;
        if (row->state[e[k].node] == MESH_CELL_ABSENT)
            row->state[e[k].node] = status_view_model_state(node, m, &row->remaining[e[k].node]);
    }
    return k;
}

typedef struct {
    const status_view_t *v;
    s_entry_t *e;
    size_t n;
    s_row_t row;
} s_rows_t;

static int s_rows_init(s_rows_t *r, const status_view_t *v)
{
    size_t cols = v->node_count ? v->node_count : 1;
    *r = (s_rows_t){.v = v};
    r->e = s_entries(v, &r->n);
    r->row.state = calloc(cols, sizeof *r->row.state);
    r->row.remaining = calloc(cols, sizeof *r->row.remaining);
    return r->e && r->row.state && r->row.remaining ? 0 : -1;
}

static void s_rows_free(s_rows_t *r)
{
    free(r->e);
    free(r->row.state);
    free(r->row.remaining);
}

static int s_matrix_header(s_table_t *t, const status_view_t *v)
{
    int rc = s_table_text(t, "MODEL");
    rc = rc ? rc : s_table_text(t, "MODALITY");
    abuf_t cell = ABUF_INIT;
    for (size_t i = 0; i < v->node_count && rc == 0; i++) {
        const status_view_node_t *n = &v->nodes[i];
        rc = s_node_label(&cell, n);
        if (rc == 0 && !s_is_alive(n)) {
            rc = abuf_puts(&cell, " (");
            rc = rc ? rc : s_clean(&cell, n->state, 16);
            rc = rc ? rc : abuf_puts(&cell, ")");
        }
        rc = rc ? rc : s_table_cell(t, &cell);
    }
    abuf_free(&cell);
    return rc;
}

static int s_matrix_cell(abuf_t *cell, mesh_cell_state_t state, long long remaining)
{
    switch (state) {
    case MESH_CELL_OK:
        return abuf_puts(cell, "ok");
    case MESH_CELL_COOLING:
        return abuf_puts(cell, "cool ") < 0 ? -1 : s_duration(cell, remaining);
    case MESH_CELL_UNKNOWN:
        return abuf_puts(cell, "?");
    default:
        return abuf_puts(cell, "-");
    }
}

static int s_matrix_row(s_table_t *t, const status_view_t *v, const s_row_t *row, bool *available)
{
    abuf_t cell = ABUF_INIT;
    int rc = s_clean(&cell, row->name, STATUS_VIEW_CELL_COLS);
    if (rc == 0 && row->display_name && strcmp(row->display_name, row->name) != 0) {
        rc = abuf_puts(&cell, " (");
        rc = rc ? rc : s_clean(&cell, row->display_name, STATUS_VIEW_CELL_COLS);
        rc = rc ? rc : abuf_puts(&cell, ")");
    }
    rc = rc ? rc : s_table_cell(t, &cell);
    rc = rc ? rc : s_clean(&cell, row->modality, 16);
    rc = rc ? rc : s_table_cell(t, &cell);
    *available = false;
    for (size_t i = 0; i < v->node_count && rc == 0; i++) {
        *available |= row->state[i] == MESH_CELL_OK && s_is_alive(&v->nodes[i]);
        rc = s_matrix_cell(&cell, row->state[i], row->remaining[i]);
        rc = rc ? rc : s_table_cell(t, &cell);
    }
    abuf_free(&cell);
    return rc;
}

static int s_matrix_summary(const status_view_t *v, size_t rows, size_t available, size_t dropped,
                            abuf_t *out)
{
    if (!v->has_nodes)
        return abuf_puts(out, "? models (the answer has no \"nodes\" list)\n");
    int rc =
        abuf_printf(out, "%zu model%s on %zu node%s · %zu available now", rows,
                    rows == 1 ? "" : "s", v->node_count, v->node_count == 1 ? "" : "s", available);
    if (rc == 0 && dropped)
        rc = abuf_printf(out, " · %zu more models not shown", dropped);
    return rc ? rc : abuf_puts(out, "\n");
}

int status_view_render_models(const status_view_t *view, abuf_t *out)
{
    s_table_t t = {.ncols = 2 + view->node_count};
    s_rows_t r;
    size_t rows = 0, available = 0, dropped = 0;
    int rc = s_rows_init(&r, view);
    rc = rc ? rc : s_matrix_header(&t, view);
    for (size_t at = 0; at < r.n && rc == 0;) {
        at = s_row_fill(view, r.e, r.n, at, &r.row);
        if (rows == STATUS_VIEW_MAX_ROWS) {
            dropped++;
            continue;
        }
        bool ok;
        rc = s_matrix_row(&t, view, &r.row, &ok);
        rows++;
        available += ok;
    }
    rc = rc ? rc : s_table_render(&t, out);
    rc = rc ? rc : s_matrix_summary(view, rows, available, dropped, out);
    s_table_free(&t);
    s_rows_free(&r);
    return rc;
}

static json_t *s_json_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

static const char *const s_state_names[] = {"absent", "ok", "cooling", "unknown"};

static json_t *s_json_row(const status_view_t *v, const s_row_t *row)
{
    json_t *nodes = json_array();
    json_t *obj = json_pack("{s:o, s:o, s:o, s:o}", "name", s_json_str(row->name), "display_name",
                            s_json_str(row->display_name), "modality", s_json_str(row->modality),
                            "nodes", nodes);
    if (!obj)
        return NULL;
    for (size_t i = 0; i < v->node_count; i++) {
        const status_view_node_t *n = &v->nodes[i];
        long long rem = row->state[i] == MESH_CELL_ABSENT ? STATUS_VIEW_UNKNOWN : row->remaining[i];
        json_t *cell = json_pack("{s:o, s:o, s:o, s:s, s:o}", "node", s_json_str(n->name),
                                 "node_id", s_json_str(n->id), "node_state", s_json_str(n->state),
                                 "state", s_state_names[row->state[i]], "cooled_remaining_ms",
                                 rem < 0 ? json_null() : json_integer((json_int_t)rem));
        if (json_array_append_new(nodes, cell) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int status_view_render_models_json(const status_view_t *view, abuf_t *out)
{
    s_rows_t r;
    json_t *models = json_array();
    json_t *root = json_pack("{s:o}", "models", models);
    int rc = s_rows_init(&r, view) < 0 || !root ? -1 : 0;
    size_t rows = 0;
    for (size_t at = 0; at < r.n && rc == 0 && rows < STATUS_VIEW_MAX_ROWS; rows++) {
        at = s_row_fill(view, r.e, r.n, at, &r.row);
        rc = json_array_append_new(models, s_json_row(view, &r.row));
    }
    char *text = rc == 0 ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    rc = text && abuf_puts(out, text) == 0 && abuf_puts(out, "\n") == 0 ? 0 : -1;
    free(text);
    json_decref(root);
    s_rows_free(&r);
    return rc;
}

/* ==== pretty JSON ========================================================== */

int status_view_render_json_pretty(const char *text, size_t len, abuf_t *out)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return -1;
    /* two-space indent to a bounded size; a deeper or larger document is
       written compact rather than refused */
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s && strlen(s) > S_PRETTY_MAX) {
        free(s);
        s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(doc);
    int rc = s && abuf_puts(out, s) == 0 && abuf_puts(out, "\n") == 0 ? 0 : -1;
    free(s);
    return rc;
}

/* ==== HTTP ================================================================= */

int status_view_describe_http_error(const char *url, long status, const char *body, size_t len,
                                    abuf_t *out)
{
    int rc = abuf_printf(out, "%s answered HTTP %ld", url, status);
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *error = json_object_get(root, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *code = json_string_value(json_object_get(error, "code"));
    if (rc == 0 && message) {
        rc = abuf_puts(out, ": ");
        rc = rc ? rc : s_clean(out, message, 200);
    }
    if (rc == 0 && code) {
        rc = abuf_puts(out, " (");
        rc = rc ? rc : s_clean(out, code, 40);
        rc = rc ? rc : abuf_puts(out, ")");
    }
    json_decref(root);
    if (rc == 0 && status == 401)
        rc = abuf_puts(out, " — pass the key with --api-key or ARENA_API_KEY");
    if (rc == 0 && status == 404)
        rc = abuf_puts(out, " — is this an arena-node?");
    return rc;
}

typedef struct {
    abuf_t body;
    size_t max;
    bool toobig;
    const volatile sig_atomic_t *cancel;
} s_sink_t;

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s_sink_t *sink = ud;
    size_t n = size * nmemb;
    if (n > sink->max - sink->body.len) {
        sink->toobig = true;
        return 0;
    }
    return abuf_append(&sink->body, data, n) == 0 ? n : 0;
}

static int s_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const s_sink_t *sink = ud;
    return sink->cancel && *sink->cancel ? 1 : 0;
}

static void s_size_text(size_t bytes, char *buf, size_t len)
{
    if (bytes % S_MIB == 0)
        snprintf(buf, len, "%zu MiB", bytes / S_MIB);
    else
        snprintf(buf, len, "%zu bytes", bytes);
}

static mesh_http_rc_t s_curl_failure(CURL *curl, CURLcode code, const char *url,
                                     const mesh_http_opts_t *o, const s_sink_t *sink,
                                     const char *detail, char *err, size_t err_len)
{
    const char *shown = o->display ? o->display : url;
    char size[32];
    long os_errno = 0;
    s_size_text(sink->max, size, sizeof size);
    switch (code) {
    case CURLE_ABORTED_BY_CALLBACK:
        snprintf(err, err_len, "cancelled");
        return MESH_HTTP_CANCELLED;
    case CURLE_FILESIZE_EXCEEDED:
        snprintf(err, err_len, "%s answered with more than %s", url, size);
        return MESH_HTTP_TOOBIG;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        snprintf(err, err_len, "cannot reach %s: %s — is arena-node running?", shown,
                 os_errno ? strerror((int)os_errno) : "connection failed");
        return MESH_HTTP_UNREACHABLE;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, err_len, "cannot reach %s: no answer within %ld %s — is arena-node running?",
                 shown, o->timeout_ms % 1000 ? o->timeout_ms : o->timeout_ms / 1000,
                 o->timeout_ms % 1000 ? "ms" : "s");
        return MESH_HTTP_UNREACHABLE;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, err_len, "cannot reach %s: cannot resolve the host name", shown);
        return MESH_HTTP_UNREACHABLE;
    default:
        if (code == CURLE_WRITE_ERROR && sink->toobig) {
            snprintf(err, err_len, "%s answered with more than %s", url, size);
            return MESH_HTTP_TOOBIG;
        }
        snprintf(err, err_len, "%s: %s", url, detail[0] ? detail : curl_easy_strerror(code));
        return MESH_HTTP_ERROR;
    }
}

static bool s_header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return false;
    return true;
}

static int s_curl_setup(CURL *curl, const char *url, const mesh_http_opts_t *o, s_sink_t *sink,
                        struct curl_slist **headers, char *detail, const char *method,
                        const char *body)
{
    char auth[600];
    bool post = strcmp(method, "GET") != 0;
    *headers = curl_slist_append(NULL, "Accept: application/json");
    if (!*headers)
        return -1;
    if (body) {
        struct curl_slist *more = curl_slist_append(*headers, "Content-Type: application/json");
        if (!more)
            return -1;
        *headers = more;
    }
    if (o->api_key) {
        if (!s_header_safe(o->api_key) ||
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key) >= (int)sizeof auth)
            return -1;
        struct curl_slist *more = curl_slist_append(*headers, auth);
        if (!more)
            return -1;
        *headers = more;
    }
    CURLcode c = curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    c = c ? c : curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    c = c ? c : curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    c = c ? c : curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_USERAGENT, "arena-mesh/" ARENA_VERSION);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    c = c ? c : curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_XFERINFODATA, sink);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    c = c ? c : curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    if (post && (strcmp(method, "POST") == 0 || body)) { /* a PUT carries its body too */
        c = c ? c : curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        c = c ? c : curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    if (post && strcmp(method, "POST") != 0)
        c = c ? c : curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    return c == CURLE_OK ? 0 : -1;
}

static mesh_http_rc_t s_http(const char *url, const mesh_http_opts_t *opts, const char *method,
                             const char *body, mesh_http_response_t *resp, char *err,
                             size_t err_len)
{
    mesh_http_opts_t o = opts ? *opts : (mesh_http_opts_t){0};
    o.timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : STATUS_VIEW_TIMEOUT_MS;
    s_sink_t sink = {.max = o.max_body ? o.max_body : STATUS_VIEW_MAX_BODY, .cancel = o.cancel};
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    mesh_http_rc_t rc = MESH_HTTP_ERROR;
    *resp = (mesh_http_response_t){0};
    CURL *curl = curl_easy_init();
    if (!curl || s_curl_setup(curl, url, &o, &sink, &headers, detail, method, body) < 0) {
        snprintf(err, err_len, "%s: cannot set up the request (bad URL or API key?)", url);
        goto done;
    }
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        rc = s_curl_failure(curl, code, url, &o, &sink, detail, err, err_len);
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    /* the append writes the NUL even for an empty body (abuf_steal alone does not) */
    resp->body = abuf_append(&sink.body, "", 0) == 0 ? abuf_steal(&sink.body, &resp->len) : NULL;
    if (!resp->body) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    rc = MESH_HTTP_OK;
done:
    abuf_free(&sink.body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

mesh_http_rc_t mesh_http_get(const char *url, const mesh_http_opts_t *opts,
                             mesh_http_response_t *resp, char *err, size_t err_len)
{
    return s_http(url, opts, "GET", NULL, resp, err, err_len);
}

mesh_http_rc_t mesh_http_post(const char *url, const mesh_http_opts_t *opts,
                              mesh_http_response_t *resp, char *err, size_t err_len)
{
    return s_http(url, opts, "POST", NULL, resp, err, err_len);
}

mesh_http_rc_t mesh_http_request(const char *url, const mesh_http_opts_t *opts, const char *method,
                                 const char *json_body, mesh_http_response_t *resp, char *err,
                                 size_t err_len)
{
    return s_http(url, opts, method, json_body, resp, err, err_len);
}

void mesh_http_response_free(mesh_http_response_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    *resp = (mesh_http_response_t){0};
}

/* ==== command line ========================================================= */

void mesh_args_usage(FILE *to)
{
    fputs(
        "usage: arena-mesh status [--node URL] [--json] [--watch [SECONDS]]\n"
        "       arena-mesh models [--node URL] [--json] [--watch [SECONDS]] [--refresh]\n"
        "       arena-mesh keys create|list|revoke|set-tier ... (arena-mesh keys --help)\n"
        "       arena-mesh tiers list|set ... (arena-mesh tiers --help)\n"
        "       arena-mesh usage [--range day|week|month] ... (arena-mesh usage --help)\n"
        "       arena-mesh audit [--since DATE] ... (arena-mesh audit --help)\n"
        "       arena-mesh --help | --version\n"
        "\n"
        "  status          nodes of the mesh: state, tabs, load, cooldowns\n"
        "  models          model x node availability and cooldowns\n"
        "  keys            API keys and their tiers, with the node's --admin-key\n"
        "  tiers           the tiers' limits, with the node's --admin-key\n"
        "  usage           requests, tokens and cost per key, and the limits left\n"
        "  audit           the mesh's audit log, with the node's --admin-key\n"
        "  --node URL      the arena-node to ask (env ARENA_NODE, default " STATUS_VIEW_DEFAULT_NODE
        ")\n"
        "  --api-key KEY   sent as a bearer token (env ARENA_API_KEY)\n"
        "  --json          machine-readable output\n"
        "  --watch [S]     repeat every S seconds (default 2) until Ctrl-C\n"
        "  --refresh       first have the node re-read the model list from its tabs\n"
        "\n"
        "exit codes: 0 ok, 2 node unreachable or bad answer, 64 bad usage\n",
        to);
}

/*  Accepts "2", "0.5": a positive number of seconds up to one day. */
static bool s_parse_seconds(const char *s, double *out)
{
    char *end;
    if (!s || !*s || !strchr("0123456789.", *s))
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0.1) || v > 86400.0)
        return false;
    *out = v;
    return true;
}

/*  Normalizes a node URL: adds "http://" when no scheme is given, drops
    trailing slashes, and refuses other schemes, spaces and controls. */
static int s_set_node(mesh_args_t *a, const char *what, const char *url, char *err, size_t err_len)
{
    const char *scheme = strstr(url, "://") ? "" : "http://";
    size_t len = strlen(url);
    while (len && url[len - 1] == '/')
        len--;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7F) {
            snprintf(err, err_len, "%s: the URL has a space or control character", what);
            return -1;
        }
    int n = snprintf(a->node, sizeof a->node, "%s%.*s", scheme, (int)len, url);
    if (n < 0 || (size_t)n >= sizeof a->node) {
        snprintf(err, err_len, "%s: the URL is too long", what);
        return -1;
    }
    const char *host = strstr(a->node, "://");
    if (!host || !host[3]) {
        snprintf(err, err_len, "%s: the URL has no host", what);
        return -1;
    }
    if (strncmp(a->node, "http://", 7) != 0 && strncmp(a->node, "https://", 8) != 0) {
        snprintf(err, err_len, "%s: only http:// and https:// URLs are supported", what);
        return -1;
    }
    snprintf(a->url, sizeof a->url, "%s/mesh/status", a->node);
    return 0;
}

static int s_set_key(mesh_args_t *a, const char *what, const char *key, char *err, size_t err_len)
{
    if (!s_header_safe(key) || strlen(key) >= sizeof a->api_key) {
        snprintf(err, err_len, "%s: the key is too long or has control characters", what);
        return -1;
    }
    snprintf(a->api_key, sizeof a->api_key, "%s", key);
    a->has_api_key = key[0] != '\0';
    return 0;
}

/*  "--name VALUE" or "--name=VALUE"; returns the value or NULL. */
static const char *s_option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool s_is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/*  One option at argv[*i]; returns 1 when taken, 0 when not an option of
    ours, -1 on an error (err set). */
static int s_parse_option(int argc, char **argv, int *i, mesh_args_t *a, char *err, size_t err_len)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--json") == 0) {
        a->json = true;
        return 1;
    }
    if (strcmp(arg, "--refresh") == 0) {
        a->refresh = true;
        return 1;
    }
    if (s_is_option(arg, "--watch")) {
        a->watch = true;
        if (arg[7] == '=')
            return s_parse_seconds(arg + 8, &a->watch_seconds) ? 1 : -1;
        if (*i + 1 < argc && s_parse_seconds(argv[*i + 1], &a->watch_seconds))
            ++*i;
        return 1;
    }
    if (s_is_option(arg, "--node")) {
        const char *v = s_option_value(argc, argv, i, "--node");
        if (!v || v[0] == '-') {
            snprintf(err, err_len, "--node needs a URL");
            return -1;
        }
        return s_set_node(a, "--node", v, err, err_len) == 0 ? 1 : -1;
    }
    if (s_is_option(arg, "--api-key")) {
        const char *v = s_option_value(argc, argv, i, "--api-key");
        if (!v)
            snprintf(err, err_len, "--api-key needs a key");
        return v && s_set_key(a, "--api-key", v, err, err_len) == 0 ? 1 : -1;
    }
    return 0;
}

/*  Keeps a reason already written by an option parser, else "what arg". */
static mesh_args_rc_t s_usage(char *err, size_t err_len, const char *what, const char *arg)
{
    if (err[0] == '\0')
        snprintf(err, err_len, "%s%s%s", what, arg ? " " : "", arg ? arg : "");
    return MESH_ARGS_USAGE;
}

static int s_defaults(mesh_args_t *a, const char *env_node, const char *env_api_key, char *err,
                      size_t err_len)
{
    *a = (mesh_args_t){.watch_seconds = 2.0};
    bool env = env_node && *env_node;
    if (s_set_node(a, "ARENA_NODE", env ? env_node : STATUS_VIEW_DEFAULT_NODE, err, err_len) < 0)
        return -1;
    if (env_api_key && *env_api_key && s_set_key(a, "ARENA_API_KEY", env_api_key, err, err_len) < 0)
        return -1;
    return 0;
}

mesh_args_rc_t mesh_args_parse(int argc, char **argv, const char *env_node, const char *env_api_key,
                               mesh_args_t *args, char *err, size_t err_len)
{
    bool have_cmd = false;
    err[0] = '\0';
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return MESH_ARGS_HELP;
        if (strcmp(argv[i], "--version") == 0)
            return MESH_ARGS_VERSION;
    }
    if (s_defaults(args, env_node, env_api_key, err, err_len) < 0)
        return s_usage(err, err_len, "bad ARENA_NODE or ARENA_API_KEY", NULL);
    for (int i = 1; i < argc; i++) {
        int taken = s_parse_option(argc, argv, &i, args, err, err_len);
        if (taken < 0)
            return s_usage(err, err_len, "bad value for", argv[i]);
        if (taken)
            continue;
        if (argv[i][0] == '-')
            return s_usage(err, err_len, "unknown option", argv[i]);
        if (have_cmd)
            return s_usage(err, err_len, "unexpected argument", argv[i]);
        if (strcmp(argv[i], "status") != 0 && strcmp(argv[i], "models") != 0)
            return s_usage(err, err_len, "unknown command", argv[i]);
        args->cmd = strcmp(argv[i], "status") == 0 ? MESH_CMD_STATUS : MESH_CMD_MODELS;
        have_cmd = true;
    }
    if (!have_cmd)
        return s_usage(err, err_len, "missing command (status or models)", NULL);
    return MESH_ARGS_RUN;
}

/* ==== running ============================================================== */

static int s_render(const mesh_args_t *args, const mesh_http_response_t *resp, abuf_t *out,
                    abuf_t *err)
{
    char why[256];
    status_view_t *view = status_view_parse(resp->body, resp->len, why, sizeof why);
    if (!view) {
        abuf_printf(err, "%s answered %s", args->url, why);
        return MESH_EXIT_FAIL;
    }
    int rc;
    if (args->cmd == MESH_CMD_STATUS)
        rc = args->json ? status_view_render_json_pretty(resp->body, resp->len, out)
                        : status_view_render_status(view, out);
    else
        rc = args->json ? status_view_render_models_json(view, out)
                        : status_view_render_models(view, out);
    status_view_destroy(&view);
    if (rc < 0) {
        abuf_printf(err, "cannot render the answer of %s: out of memory", args->url);
        return MESH_EXIT_FAIL;
    }
    return MESH_EXIT_OK;
}

int status_view_fetch_render(const mesh_args_t *args, const volatile sig_atomic_t *cancel,
                             abuf_t *out, abuf_t *err)
{
    char why[512];
    mesh_http_opts_t opts = {.api_key = args->has_api_key ? args->api_key : NULL,
                             .cancel = cancel,
                             .display = args->node};
    mesh_http_response_t resp;
    mesh_http_rc_t rc = mesh_http_get(args->url, &opts, &resp, why, sizeof why);
    if (rc == MESH_HTTP_CANCELLED) {
        abuf_puts(err, "interrupted");
        return MESH_EXIT_INTERRUPTED;
    }
    if (rc != MESH_HTTP_OK) {
        abuf_puts(err, why);
        return MESH_EXIT_FAIL;
    }
    int exit_code = MESH_EXIT_FAIL;
    if (resp.status != 200)
        status_view_describe_http_error(args->url, resp.status, resp.body, resp.len, err);
    else
        exit_code = s_render(args, &resp, out, err);
    mesh_http_response_free(&resp);
    return exit_code;
}

static int s_write(FILE *to, const abuf_t *b)
{
    if (b->len && fwrite(b->data, 1, b->len, to) != b->len)
        return -1;
    return fflush(to);
}

static void s_report(FILE *err, const abuf_t *why)
{
    fprintf(err, "arena-mesh: %s\n", why->len ? why->data : "failed");
    fflush(err);
}

/*  Sleeps in short slices so a stop request is seen within 100 ms. */
static void s_sleep(double seconds, const volatile sig_atomic_t *stop)
{
    long long left_ms = (long long)(seconds * 1000.0);
    while (left_ms > 0 && !*stop) {
        long long slice = left_ms < 100 ? left_ms : 100;
        struct timespec ts = {0, (long)(slice * 1000000LL)};
        nanosleep(&ts, NULL);
        left_ms -= slice;
    }
}

static int s_watch_header(const mesh_args_t *args, bool tty, abuf_t *frame)
{
    char clock[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    if (tty && abuf_puts(frame, "\033[H\033[2J") < 0)
        return -1;
    if (args->json)
        return 0;
    return abuf_printf(frame, "arena-mesh %s · %s · every %gs · %s\n\n",
                       args->cmd == MESH_CMD_STATUS ? "status" : "models", args->node,
                       args->watch_seconds, clock);
}

static int s_watch(const mesh_args_t *args, const volatile sig_atomic_t *stop, FILE *out, FILE *err,
                   bool tty)
{
    bool first = true;
    while (!*stop) {
        abuf_t frame = ABUF_INIT, why = ABUF_INIT;
        int rc = (!first && !tty) ? abuf_puts(&frame, "\n") : 0;
        rc = rc ? rc : s_watch_header(args, tty, &frame);
        rc = rc ? MESH_EXIT_FAIL : status_view_fetch_render(args, stop, &frame, &why);
        if (!*stop && s_write(out, &frame) < 0) {
            abuf_free(&frame);
            abuf_free(&why);
            return MESH_EXIT_FAIL;
        }
        if (!*stop && rc != MESH_EXIT_OK)
            s_report(err, &why);
        abuf_free(&frame);
        abuf_free(&why);
        first = false;
        s_sleep(args->watch_seconds, stop);
    }
    return MESH_EXIT_OK;
}

/*  The answering node's catalog time from a status document, or -1. */
static long long s_catalog_updated(const mesh_http_response_t *resp)
{
    status_doc_t *doc = NULL;
    long long t = -1;
    if (status_doc_parse((const uint8_t *)resp->body, resp->len, &doc, NULL, 0) != STATUS_DOC_OK)
        return -1;
    for (size_t i = 0; doc->self && i < doc->n_nodes; i++) {
        const status_doc_node_t *n = &doc->nodes[i];
        if (n->id && strcmp(doc->self, n->id) == 0 && n->catalog_updated_ms >= 0)
            t = (long long)n->catalog_updated_ms;
    }
    status_doc_destroy(&doc);
    return t;
}

static long long s_status_catalog_time(const mesh_args_t *args, const mesh_http_opts_t *opts)
{
    mesh_http_response_t resp;
    char why[512];
    if (mesh_http_get(args->url, opts, &resp, why, sizeof why) != MESH_HTTP_OK)
        return -1;
    long long t = resp.status == 200 ? s_catalog_updated(&resp) : -1;
    mesh_http_response_free(&resp);
    return t;
}

int status_view_refresh(const mesh_args_t *args, const volatile sig_atomic_t *cancel, abuf_t *err)
{
    mesh_http_opts_t opts = {.api_key = args->has_api_key ? args->api_key : NULL,
                             .cancel = cancel,
                             .display = args->node};
    long long before = s_status_catalog_time(args, &opts);
    char url[600], why[512];
    snprintf(url, sizeof url, "%s/mesh/refresh-models", args->node);
    mesh_http_response_t resp;
    mesh_http_rc_t rc = mesh_http_post(url, &opts, &resp, why, sizeof why);
    if (rc != MESH_HTTP_OK) {
        abuf_puts(err, rc == MESH_HTTP_CANCELLED ? "interrupted" : why);
        return rc == MESH_HTTP_CANCELLED ? MESH_EXIT_INTERRUPTED : MESH_EXIT_FAIL;
    }
    long long tabs = -1;
    long status = resp.status;
    if (status == 202) {
        json_t *root = json_loadb(resp.body, resp.len, 0, NULL);
        json_t *v = json_object_get(root, "tabs");
        tabs = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
        json_decref(root);
    } else {
        status_view_describe_http_error(url, resp.status, resp.body, resp.len, err);
    }
    mesh_http_response_free(&resp);
    if (status != 202)
        return MESH_EXIT_FAIL;
    if (tabs <= 0) {
        abuf_printf(err, "no browser tab is connected to %s: the model catalog stays as it is",
                    args->node);
        return MESH_EXIT_FAIL;
    }
    /* The catalog time has a one-second grain: wait for it to move. */
    for (int waited = 0; waited < 10000 && !(cancel && *cancel); waited += 200) {
        long long now = s_status_catalog_time(args, &opts);
        if (now >= 0 && now > before)
            return MESH_EXIT_OK;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (cancel && *cancel) {
        abuf_puts(err, "interrupted");
        return MESH_EXIT_INTERRUPTED;
    }
    abuf_printf(err, "asked %lld tab(s) for their page, but no new model list arrived within 10 s",
                tabs);
    return MESH_EXIT_FAIL;
}

int status_view_main(int argc, char **argv, const char *env_node, const char *env_api_key,
                     const volatile sig_atomic_t *stop, FILE *out, FILE *err, bool tty)
{
    mesh_args_t args;
    char why[256];
    switch (mesh_args_parse(argc, argv, env_node, env_api_key, &args, why, sizeof why)) {
    case MESH_ARGS_HELP:
        mesh_args_usage(out);
        return MESH_EXIT_OK;
    case MESH_ARGS_VERSION:
        fputs("arena-mesh " ARENA_VERSION "\n", out);
        return MESH_EXIT_OK;
    case MESH_ARGS_USAGE:
        fprintf(err, "arena-mesh: %s\n", why);
        mesh_args_usage(err);
        return MESH_EXIT_USAGE;
    case MESH_ARGS_RUN:
        break;
    }
    if (args.refresh) {
        abuf_t why_refresh = ABUF_INIT;
        int rrc = status_view_refresh(&args, stop, &why_refresh);
        if (rrc != MESH_EXIT_OK)
            s_report(err, &why_refresh);
        abuf_free(&why_refresh);
        if (rrc != MESH_EXIT_OK)
            return rrc;
    }
    if (args.watch)
        return s_watch(&args, stop, out, err, tty);
    abuf_t frame = ABUF_INIT, reason = ABUF_INIT;
    int rc = status_view_fetch_render(&args, stop, &frame, &reason);
    if (rc == MESH_EXIT_OK && s_write(out, &frame) < 0) {
        abuf_reset(&reason);
        abuf_printf(&reason, "cannot write the output: %s", strerror(errno));
        rc = MESH_EXIT_FAIL;
    }
    if (rc != MESH_EXIT_OK)
        s_report(err, &reason);
    abuf_free(&frame);
    abuf_free(&reason);
    return rc;
}
