/*  wire_msg_equal — see wire_msg_equal.h. */
#include "tests/support/wire_msg_equal.h"

#include <string.h>

static bool s_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool s_bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool s_model_eq(const wire_model_t *a, const wire_model_t *b)
{
    return s_str_eq(a->name, b->name) && s_str_eq(a->arena_id, b->arena_id) &&
           s_str_eq(a->modality, b->modality) && a->cooled_remaining_ms == b->cooled_remaining_ms &&
           s_str_eq(a->reason, b->reason) &&
           (a->display_name == NULL) == (b->display_name == NULL) &&
           s_str_eq(a->display_name, b->display_name);
}

static bool s_account_eq(const wire_account_t *a, const wire_account_t *b)
{
    if (!s_str_eq(a->id, b->id) || a->flag_remaining_ms != b->flag_remaining_ms ||
        a->n_starts != b->n_starts)
        return false;
    for (size_t i = 0; i < a->n_starts; i++)
        if (a->starts_ago_ms[i] != b->starts_ago_ms[i])
            return false;
    return true;
}

static bool s_key_count_eq(const wire_key_count_t *a, const wire_key_count_t *b)
{
    return s_str_eq(a->name, b->name) && a->minute == b->minute && a->hour == b->hour &&
           a->day == b->day && a->tokens == b->tokens && a->inflight == b->inflight &&
           memcmp(a->reset_ms, b->reset_ms, sizeof a->reset_ms) == 0;
}

bool mesh_state_equal(const wire_state_t *a, const wire_state_t *b)
{
    if (!s_str_eq(a->id, b->id) || !s_str_eq(a->name, b->name) ||
        !s_str_eq(a->endpoint, b->endpoint) || !s_str_eq(a->http, b->http) ||
        a->incarnation != b->incarnation || a->version != b->version ||
        a->heartbeat != b->heartbeat || a->started_at_ms != b->started_at_ms ||
        a->leaving != b->leaving || a->tabs != b->tabs || a->tabs_healthy != b->tabs_healthy ||
        a->inflight != b->inflight || a->capacity != b->capacity || a->ok != b->ok ||
        a->failed != b->failed || a->p50_ms != b->p50_ms ||
        a->node_cooled_remaining_ms != b->node_cooled_remaining_ms || a->n_models != b->n_models ||
        a->paced_remaining_ms != b->paced_remaining_ms || a->n_accounts != b->n_accounts ||
        a->n_key_counts != b->n_key_counts)
        return false;
    for (size_t i = 0; i < a->n_key_counts; i++)
        if (!s_key_count_eq(&a->key_counts[i], &b->key_counts[i]))
            return false;
    for (size_t i = 0; i < a->n_models; i++)
        if (!s_model_eq(&a->models[i], &b->models[i]))
            return false;
    for (size_t i = 0; i < a->n_accounts; i++)
        if (!s_account_eq(&a->accounts[i], &b->accounts[i]))
            return false;
    return true;
}

static bool s_lists_eq(const wire_msg_t *a, const wire_msg_t *b)
{
    if (a->n_states != b->n_states || a->n_peers != b->n_peers || a->n_versions != b->n_versions ||
        a->n_deltas != b->n_deltas)
        return false;
    for (size_t i = 0; i < a->n_states; i++)
        if (!mesh_state_equal(&a->states[i], &b->states[i]))
            return false;
    for (size_t i = 0; i < a->n_peers; i++)
        if (!s_str_eq(a->peers[i].id, b->peers[i].id) ||
            !s_str_eq(a->peers[i].endpoint, b->peers[i].endpoint))
            return false;
    for (size_t i = 0; i < a->n_versions; i++)
        if (!s_str_eq(a->versions[i].id, b->versions[i].id) ||
            a->versions[i].version != b->versions[i].version)
            return false;
    for (size_t i = 0; i < a->n_deltas; i++)
        if (a->deltas[i].kind != b->deltas[i].kind ||
            !s_bytes_eq(a->deltas[i].text, a->deltas[i].len, b->deltas[i].text, b->deltas[i].len))
            return false;
    return true;
}

bool wire_record_equal(const wire_record_t *a, const wire_record_t *b)
{
    return s_str_eq(a->table, b->table) && s_str_eq(a->key, b->key) &&
           a->version_ms == b->version_ms && s_str_eq(a->node, b->node) && a->tomb == b->tomb &&
           s_bytes_eq((const char *)a->payload, a->payload_len, (const char *)b->payload,
                      b->payload_len) &&
           s_bytes_eq((const char *)a->sealed, a->sealed_len, (const char *)b->sealed,
                      b->sealed_len) &&
           memcmp(a->pk, b->pk, sizeof a->pk) == 0 && memcmp(a->sig, b->sig, sizeof a->sig) == 0;
}

/*  tsum and records. */
static bool s_records_eq(const wire_msg_t *a, const wire_msg_t *b)
{
    if (!s_str_eq(a->table, b->table) || a->root != b->root || a->n_buckets != b->n_buckets ||
        a->want != b->want || a->n_records != b->n_records)
        return false;
    for (uint32_t i = 0; i < a->n_buckets; i++)
        if (a->buckets[i] != b->buckets[i])
            return false;
    for (size_t i = 0; i < a->n_records; i++)
        if (!wire_record_equal(&a->records[i], &b->records[i]))
            return false;
    return true;
}

bool wire_msg_equal(const wire_msg_t *a, const wire_msg_t *b)
{
    return a->type == b->type && s_str_eq(a->from, b->from) && s_lists_eq(a, b) &&
           a->seq == b->seq && s_str_eq(a->target, b->target) && a->incarnation == b->incarnation &&
           s_str_eq(a->rid, b->rid) && s_str_eq(a->model, b->model) &&
           s_bytes_eq(a->request, a->request_len, b->request, b->request_len) &&
           a->stream == b->stream && a->deadline_ms == b->deadline_ms && a->attempt == b->attempt &&
           s_str_eq(a->reason, b->reason) && a->chunk_seq == b->chunk_seq &&
           s_str_eq(a->finish_reason, b->finish_reason) && a->prompt_tokens == b->prompt_tokens &&
           a->completion_tokens == b->completion_tokens && a->has_chunks == b->has_chunks &&
           a->chunks == b->chunks && a->status == b->status && s_str_eq(a->code, b->code) &&
           s_str_eq(a->message, b->message) && a->retryable == b->retryable &&
           a->cooled_remaining_ms == b->cooled_remaining_ms && a->has_credit == b->has_credit &&
           a->credit == b->credit && a->has_ack == b->has_ack && a->ack == b->ack &&
           (a->client == NULL) == (b->client == NULL) && s_str_eq(a->client, b->client) &&
           (a->request_id == NULL) == (b->request_id == NULL) &&
           s_str_eq(a->request_id, b->request_id) && s_records_eq(a, b);
}
