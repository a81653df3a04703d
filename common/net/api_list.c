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

/* The length of "scheme://authority" at the start of url, 0 when it has none. */
static size_t api_origin_length(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return 0;
    for (const char *c = url; c < sep; c++)
        if (!mk_ascii_alnum(*c) && *c != '+' && *c != '-' && *c != '.')
            return 0;
    const char *p = sep + 3;
    while (*p && *p != '/' && *p != '?' && *p != '#')
        p++;
    return (size_t)(p - url);
}

/* Compares two "scheme://host[:port]" origins: scheme and host without
 * regard to case, the port with the scheme's default filled in. */
static bool api_same_origin(const char *a, size_t alen, const char *b, size_t blen)
{
    char x[2][320];
    const char *src[2] = { a, b };
    size_t len[2] = { alen, blen };
    for (int k = 0; k < 2; k++) {
        if (len[k] >= sizeof(x[k]) - 8)
            return false;
        for (size_t i = 0; i < len[k]; i++)
            x[k][i] = (char)mk_ascii_tolower((unsigned char)src[k][i]);
        x[k][len[k]] = '\0';
        const char *host = strstr(x[k], "://") + 3;
        if (strchr(host, '@'))
            return false; /* credentials in a link: never ours */
        const char *colon = strrchr(host, ':');
        const char *bracket = strrchr(host, ']');
        if (!colon || (bracket && colon < bracket)) {
            if (strncmp(x[k], "https://", 8) == 0)
                strcat(x[k], ":443");
            else if (strncmp(x[k], "http://", 7) == 0)
                strcat(x[k], ":80");
        }
    }
    return strcmp(x[0], x[1]) == 0;
}

mk_status mk_api_resolve_next_link(const char *base_url, const char *link, char **path,
                                   mk_error *err)
{
    char shown[160];
    *path = NULL;
    if (!base_url || !link || !*link)
        return mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is empty");
    api_clean_copy(shown, sizeof(shown), link);
    for (const unsigned char *c = (const unsigned char *)link; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '#' || *c == '\\')
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" is not a plain path; not followed", shown);
    size_t base_origin = api_origin_length(base_url);
    if (base_origin == 0)
        return mk_error_set(err, MK_ERR_PROTOCOL, "base_url has no scheme and host");
    const char *rest = link;
    if (link[0] == '/' && link[1] == '/')
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "@odata.nextLink \"%s\" names another host; not followed", shown);
    if (link[0] != '/') {
        size_t link_origin = api_origin_length(link);
        if (link_origin == 0 || !api_same_origin(base_url, base_origin, link, link_origin))
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" is not on base_url's scheme, host and "
                                "port; not followed", shown);
        rest = link + link_origin;
        if (*rest != '/')
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" has no path; not followed", shown);
    }
    /* base_url's own path (without a trailing '/') must lead the link's:
     * the client sends base_url + path. */
    const char *base_path = base_url + base_origin;
    size_t base_path_len = strlen(base_path);
    while (base_path_len > 0 && base_path[base_path_len - 1] == '/')
        base_path_len--;
    if (strncmp(rest, base_path, base_path_len) != 0 || rest[base_path_len] != '/')
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "@odata.nextLink \"%s\" is outside base_url; not followed", shown);
    *path = strdup(rest + base_path_len);
    if (!*path)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
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

/* Follows a list endpoint to its end, growing *items (of item_size bytes
 * each) by parse_item. `what` names the list in messages. The whole listing
 * is bounded by max_list_records and max_list_size of the configuration, as
 * one page is by max_response_size: a server that keeps sending pages
 * cannot make the caller hold or wait for more. On failure *count items
 * are filled for the caller to free. */
mk_status api_list(mk_http *http, const char *base, const char *what, bool admin,
                          size_t item_size, api_item_fn parse_item, void **items, size_t *count,
                          mk_error *err)
{
    mk_status rc = MK_OK;
    const struct mk_config *cfg = mk_http_config(http);
    json_object *answer = NULL;
    char *path = NULL;
    long skiptoken = -1;
    char *next_link = NULL; /* the next page's path from @odata.nextLink */
    struct api_seen_links seen = { 0 };
    size_t cap = 0;
    size_t total_bytes = 0;
    char limit[32];

    for (unsigned page = 0;; page++) {
        if (page >= MK_API_MAX_PAGES) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "the server's list went on for more than %d pages", MK_API_MAX_PAGES);
            goto out;
        }
        free(path);
        path = NULL;
        int n = 0;
        if (next_link) {
            path = next_link;
            next_link = NULL;
        } else if (skiptoken < 0) {
            /* The published lists are unpaged: ask for the list as it is,
             * and page only where the server's answer says to. */
            n = asprintf(&path, "%s", base);
        } else {
            n = asprintf(&path, "%s?$skiptoken=%ld", base, skiptoken);
        }
        if (n < 0) {
            path = NULL;
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
        json_object_put(answer);
        size_t received = 0;
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
        json_object *value = NULL;
        if (!answer || !json_object_is_type(answer, json_type_object)
            || !json_object_object_get_ex(answer, "value", &value)) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer has no \"value\" list");
            goto out;
        }
        if (!json_object_is_type(value, json_type_array)) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer's \"value\" is not a list");
            goto out;
        }
        size_t records = json_object_array_length(value);
        if (records > cfg->max_list_records - *count) {
            snprintf(limit, sizeof(limit), "%zu", cfg->max_list_records);
            rc = api_list_too_long(cfg, what, "max_list_records", limit, err);
            goto out;
        }
        if (*count + records > cap) {
            size_t want = cap ? cap : 16;
            while (want < *count + records)
                want *= 2;
            void *grown = realloc(*items, want * item_size);
            if (!grown) {
                rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
                goto out;
            }
            *items = grown;
            cap = want;
        }
        for (size_t i = 0; i < records; i++) {
            rc = parse_item(json_object_array_get_idx(value, i), *count, *items, *count, err);
            if (rc != MK_OK)
                goto out;
            (*count)++;
        }
        if (records == 0)
            break; /* an empty page ends the list, whatever it links to */
        json_object *link = api_member(answer, "@odata.nextLink");
        if (link) {
            if (!json_object_is_type(link, json_type_string)) {
                rc = mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is not a string");
                goto out;
            }
            rc = mk_api_resolve_next_link(cfg->base_url, json_object_get_string(link),
                                          &next_link, err);
            if (rc == MK_OK)
                rc = api_seen_links_add(&seen, next_link, err);
            if (rc != MK_OK)
                goto out;
            continue;
        }
        long next;
        bool done;
        rc = mk_api_next_page(answer, records, *count, &next, &done, err);
        if (rc != MK_OK)
            goto out;
        if (done)
            break;
        if (next <= skiptoken) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "the server's pagination did not advance (start %ld, end %ld)",
                              skiptoken, next);
            goto out;
        }
        skiptoken = next;
    }
    rc = MK_OK;
out:
    free(next_link);
    api_seen_links_free(&seen);
    free(path);
    json_object_put(answer);
    return rc;
}
