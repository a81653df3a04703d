/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_list.c: the list endpoints followed to their end: the
 * server's paging (supplemental.pagination's $skiptoken, or
 * @odata.nextLink, followed only on base_url's origin and path), and the
 * bounds of a whole listing (pages, records, bytes).
 */
#include "net/api.h"
#include "net/api_call.h"
#include "net/api_list.h"
#include "net/api_model.h"
#include "base/text.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static mk_status api_page_int(json_object *pagination, const char *key, bool *present,
                              long *out, mk_error *err)
{
    json_object *v = api_member(pagination, key);
    *present = false;
    if (!v)
        return MK_OK;
    if (!json_object_is_type(v, json_type_int))
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "supplemental.pagination.%s is not an integer", key);
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > (int64_t)LONG_MAX / 2)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "supplemental.pagination.%s is out of range", key);
    *out = (long)n;
    *present = true;
    return MK_OK;
}

mk_status mk_api_next_page(json_object *answer, size_t records, size_t running_count,
                           long *next_skiptoken, bool *done, mk_error *err)
{
    mk_status rc;
    json_object *supplemental = api_member(answer, "supplemental");
    json_object *pagination;
    bool has_start, has_end, has_total;
    long start = 0, end = 0, total = 0;

    *done = true;
    *next_skiptoken = 0;
    if (!supplemental)
        return MK_OK;
    if (!json_object_is_type(supplemental, json_type_object))
        return mk_error_set(err, MK_ERR_PROTOCOL, "supplemental is not an object");
    pagination = api_member(supplemental, "pagination");
    if (!pagination)
        return MK_OK;
    if (!json_object_is_type(pagination, json_type_object))
        return mk_error_set(err, MK_ERR_PROTOCOL, "supplemental.pagination is not an object");
    if ((rc = api_page_int(pagination, "start", &has_start, &start, err)) != MK_OK
        || (rc = api_page_int(pagination, "end", &has_end, &end, err)) != MK_OK
        || (rc = api_page_int(pagination, "total", &has_total, &total, err)) != MK_OK)
        return rc;
    if (records == 0)
        return MK_OK;
    if (has_total && running_count >= (size_t)total)
        return MK_OK;
    if (!has_end)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the server claims more pages but gave no pagination end");
    if (end <= start)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the server's pagination did not advance (start %ld, end %ld)",
                            start, end);
    *next_skiptoken = end;
    *done = false;
    return MK_OK;
}

/* Part `what` of u as libcurl reports it (NULL when absent or on memory),
 * to free with curl_free. */
static char *api_url_part(CURLU *u, CURLUPart what, unsigned flags)
{
    char *part = NULL;
    if (curl_url_get(u, what, &part, flags) != CURLUE_OK)
        return NULL;
    return part;
}

/* Whether link, resolved by libcurl against base (a handle holding
 * base_url), is on base's scheme, host and port (the scheme's default port
 * filled in, host without regard to case) and carries no user name or
 * password. */
static bool api_same_origin(CURLU *base, const char *link)
{
    CURLU *u = curl_url_dup(base);
    char *p[2][3] = { { NULL } };
    bool same = false;

    if (!u || curl_url_set(u, CURLUPART_URL, link, 0) != CURLUE_OK)
        goto out;
    CURLU *h[2] = { base, u };
    for (int k = 0; k < 2; k++) {
        p[k][0] = api_url_part(h[k], CURLUPART_SCHEME, 0);
        p[k][1] = api_url_part(h[k], CURLUPART_HOST, 0);
        p[k][2] = api_url_part(h[k], CURLUPART_PORT, CURLU_DEFAULT_PORT);
    }
    char *user = api_url_part(u, CURLUPART_USER, 0), *password = api_url_part(u, CURLUPART_PASSWORD, 0);
    same = !user && !password; /* credentials in a link: never ours */
    curl_free(user);
    curl_free(password);
    for (int i = 0; i < 3; i++)
        same = same && p[0][i] && p[1][i] && mk_ascii_case_equal(p[0][i], p[1][i]);
out:
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++)
            curl_free(p[k][i]);
    curl_url_cleanup(u);
    return same;
}

/* The text of an absolute link after its "scheme://authority", or NULL
 * when it has no "://". */
static const char *api_after_authority(const char *link)
{
    const char *sep = strstr(link, "://");
    return sep ? sep + 3 + strcspn(sep + 3, "/?#") : NULL;
}

/* base_url's path as libcurl reads it, without trailing '/': "" for none.
 * NULL on memory. */
static char *api_base_path(CURLU *base)
{
    char *path = api_url_part(base, CURLUPART_PATH, 0);
    char *copy = path ? strdup(path) : strdup("");
    curl_free(path);
    for (size_t n = copy ? strlen(copy) : 0; n > 0 && copy[n - 1] == '/';)
        copy[--n] = '\0';
    return copy;
}

/* The origin and the path are compared as libcurl reads them (curl_url()
 * with base_url set, the link resolved against it); the path returned is
 * the link's own text after base_url's path. */
mk_status mk_api_resolve_next_link(const char *base_url, const char *link, char **path,
                                   mk_error *err)
{
    char shown[160];
    mk_status rc = MK_OK;
    CURLU *base = NULL;
    char *base_path = NULL;

    *path = NULL;
    if (!base_url || !link || !*link)
        return mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is empty");
    api_clean_copy(shown, sizeof(shown), link);
    for (const unsigned char *c = (const unsigned char *)link; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '#' || *c == '\\')
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" is not a plain path; not followed", shown);
    base = curl_url();
    if (!base || curl_url_set(base, CURLUPART_URL, base_url, 0) != CURLUE_OK) {
        rc = mk_error_set(err, MK_ERR_PROTOCOL, "base_url has no scheme and host");
        goto out;
    }
    const char *rest = link;
    if (link[0] == '/' && link[1] == '/') {
        rc = mk_error_set(err, MK_ERR_PROTOCOL,
                          "@odata.nextLink \"%s\" names another host; not followed", shown);
        goto out;
    }
    if (link[0] != '/') {
        rest = api_after_authority(link);
        if (!rest || !api_same_origin(base, link)) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink \"%s\" is not on base_url's "
                              "scheme, host and port; not followed", shown);
            goto out;
        }
        if (*rest != '/') {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "@odata.nextLink \"%s\" has no path; not followed", shown);
            goto out;
        }
    }
    /* base_url's own path must lead the link's: the client sends
     * base_url + path. */
    base_path = api_base_path(base);
    if (!base_path) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t base_path_len = strlen(base_path);
    if (strncmp(rest, base_path, base_path_len) != 0 || rest[base_path_len] != '/') {
        rc = mk_error_set(err, MK_ERR_PROTOCOL,
                          "@odata.nextLink \"%s\" is outside base_url; not followed", shown);
        goto out;
    }
    *path = strdup(rest + base_path_len);
    if (!*path)
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
out:
    free(base_path);
    curl_url_cleanup(base);
    return rc;
}

/* The links a listing has followed, to refuse one seen before. */
struct api_seen_links {
    char **links;
    size_t count;
};

static void api_seen_links_free(struct api_seen_links *seen)
{
    for (size_t i = 0; i < seen->count; i++)
        free(seen->links[i]);
    free(seen->links);
    seen->links = NULL;
    seen->count = 0;
}

/* Records path; MK_ERR_PROTOCOL when it was seen before (a loop). */
static mk_status api_seen_links_add(struct api_seen_links *seen, const char *path, mk_error *err)
{
    for (size_t i = 0; i < seen->count; i++)
        if (strcmp(seen->links[i], path) == 0)
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "the server's @odata.nextLink points back to a page already read "
                                "(page %zu); not followed", i + 2);
    char **grown = realloc(seen->links, (seen->count + 1) * sizeof(*grown));
    if (!grown)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    seen->links = grown;
    if (!(seen->links[seen->count] = strdup(path)))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    seen->count++;
    return MK_OK;
}

/* "16M", "512K" or "1000 bytes", for messages about a size key. */
static void api_size_text(size_t bytes, char *buf, size_t size)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        snprintf(buf, size, "%zuM", bytes / (1024 * 1024));
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, size, "%zuK", bytes / 1024);
    else
        snprintf(buf, size, "%zu bytes", bytes);
}

/* A listing passed a bound of the configuration: the message names the key,
 * its value and where it was set, so the administrator knows what to change. */
static mk_status api_list_too_long(const struct mk_config *cfg, const char *what,
                                   const char *key, const char *value, mk_error *err)
{
    if (cfg->source && strcmp(cfg->source, "(defaults)") != 0)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the %s is longer than %s (%s) in %s; the server may be misbehaving; "
                            "if the list really is that long, raise %s", what, key, value,
                            cfg->source, key);
    return mk_error_set(err, MK_ERR_PROTOCOL,
                        "the %s is longer than %s (%s, the default); the server may be "
                        "misbehaving; if the list really is that long, raise %s in %s", what, key,
                        value, key, MK_CONFIG_DEFAULT_PATH);
}

/* The path of the next page: the link the last page gave, else base with
 * the skiptoken (none for the first page). *path is freed first. */
static mk_status api_page_path(const char *base, long skiptoken, char **next_link, char **path,
                               mk_error *err)
{
    int n = 0;

    free(*path);
    *path = NULL;
    if (*next_link) {
        *path = *next_link;
        *next_link = NULL;
        return MK_OK;
    }
    /* The published lists are unpaged: ask for the list as it is, and page
     * only where the server's answer says to. */
    if (skiptoken < 0)
        n = asprintf(path, "%s", base);
    else
        n = asprintf(path, "%s?$skiptoken=%ld", base, skiptoken);
    if (n < 0) {
        *path = NULL;
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }
    return MK_OK;
}

/* Where a listing stands: its items and their bounds. */
struct api_listing {
    const struct mk_config *cfg;
    const char *what;
    size_t item_size;
    api_item_fn parse_item;
    void **items;
    size_t *count;
    size_t cap;
};

/* Appends the records of one page's answer ("value") to the listing;
 * *records gets their number. */
static mk_status api_take_records(struct api_listing *l, json_object *answer, size_t *records,
                                  mk_error *err)
{
    json_object *value = NULL;
    char limit[32];

    if (!answer || !json_object_is_type(answer, json_type_object)
        || !json_object_object_get_ex(answer, "value", &value))
        return mk_error_set(err, MK_ERR_PROTOCOL, "the answer has no \"value\" list");
    if (!json_object_is_type(value, json_type_array))
        return mk_error_set(err, MK_ERR_PROTOCOL, "the answer's \"value\" is not a list");
    *records = json_object_array_length(value);
    if (*records > l->cfg->max_list_records - *l->count) {
        snprintf(limit, sizeof(limit), "%zu", l->cfg->max_list_records);
        return api_list_too_long(l->cfg, l->what, "max_list_records", limit, err);
    }
    if (*l->count + *records > l->cap) {
        size_t want = l->cap ? l->cap : 16;
        while (want < *l->count + *records)
            want *= 2;
        void *grown = realloc(*l->items, want * l->item_size);
        if (!grown)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        *l->items = grown;
        l->cap = want;
    }
    for (size_t i = 0; i < *records; i++) {
        mk_status rc = l->parse_item(json_object_array_get_idx(value, i), *l->count, *l->items,
                                     *l->count, err);
        if (rc != MK_OK)
            return rc;
        (*l->count)++;
    }
    return MK_OK;
}

/* The next page after a page of `records` records: *next_link from
 * @odata.nextLink (recorded in seen, a loop refused), else *skiptoken
 * moved on from supplemental.pagination; *done when the list ended. */
static mk_status api_next(const struct mk_config *cfg, json_object *answer, size_t records,
                          size_t count, struct api_seen_links *seen, char **next_link,
                          long *skiptoken, bool *done, mk_error *err)
{
    mk_status rc;
    json_object *link = api_member(answer, "@odata.nextLink");
    long next;

    *done = false;
    if (records == 0) {
        *done = true; /* an empty page ends the list, whatever it links to */
        return MK_OK;
    }
    if (link) {
        if (!json_object_is_type(link, json_type_string))
            return mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is not a string");
        rc = mk_api_resolve_next_link(cfg->base_url, json_object_get_string(link), next_link, err);
        return rc == MK_OK ? api_seen_links_add(seen, *next_link, err) : rc;
    }
    rc = mk_api_next_page(answer, records, count, &next, done, err);
    if (rc != MK_OK || *done)
        return rc;
    if (next <= *skiptoken)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the server's pagination did not advance (start %ld, end %ld)",
                            *skiptoken, next);
    *skiptoken = next;
    return MK_OK;
}

/* Follows a list endpoint to its end (api_list.h). A server that keeps
 * sending pages cannot make the caller hold or wait for more than the
 * configuration's bounds. */
mk_status api_list(mk_http *http, const char *base, const char *what, bool admin,
                   size_t item_size, api_item_fn parse_item, void **items, size_t *count,
                   mk_error *err)
{
    mk_status rc = MK_OK;
    const struct mk_config *cfg = mk_http_config(http);
    struct api_listing l = { .cfg = cfg, .what = what, .item_size = item_size,
                             .parse_item = parse_item, .items = items, .count = count };
    json_object *answer = NULL;
    char *path = NULL;
    long skiptoken = -1;
    char *next_link = NULL; /* the next page's path from @odata.nextLink */
    struct api_seen_links seen = { 0 };
    size_t total_bytes = 0;
    char limit[32];

    for (unsigned page = 0;; page++) {
        if (page >= MK_API_MAX_PAGES) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "the server's list went on for more than %d pages", MK_API_MAX_PAGES);
            goto out;
        }
        rc = api_page_path(base, skiptoken, &next_link, &path, err);
        if (rc != MK_OK)
            goto out;
        json_object_put(answer);
        size_t received = 0, records = 0;
        rc = api_call(http, "GET", path, NULL, admin, &answer, &received, err);
        if (rc != MK_OK && page == 0)
            rc = mk_api_explain_not_found(cfg, err);
        if (rc != MK_OK)
            goto out;
        total_bytes += received;
        if (total_bytes > cfg->max_list_bytes) {
            api_size_text(cfg->max_list_bytes, limit, sizeof(limit));
            rc = api_list_too_long(cfg, what, "max_list_size", limit, err);
            goto out;
        }
        rc = api_take_records(&l, answer, &records, err);
        bool done = false;
        if (rc == MK_OK)
            rc = api_next(cfg, answer, records, *count, &seen, &next_link, &skiptoken, &done, err);
        if (rc != MK_OK || done)
            goto out;
    }
out:
    free(next_link);
    api_seen_links_free(&seen);
    free(path);
    json_object_put(answer);
    return rc;
}
