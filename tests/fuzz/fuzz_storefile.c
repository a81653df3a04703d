/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/fuzz/fuzz_storefile.c: bytes as store.json, through the store's own
 * JSON parser (mk_store_json_parse, what mk_store_json_load runs over
 * the file). Whatever the bytes, parsing either fails with a message naming
 * the file or gives a store; a store serializes, parses again and serializes
 * to the same bytes (the writer's output is a fixed point of the reader). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/storefile.h"
#include "store/store_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PATH "/fuzz/store.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mk_storefile s, t;
    char *one = NULL, *two = NULL;
    mk_error err;

    /* An exact-size copy, so that ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    if (mk_store_json_parse(text, size, FUZZ_PATH, &s, NULL, &err) != MK_OK) {
        if (!strstr(err.message, FUZZ_PATH))
            abort();   /* every refusal names the file */
        free(text);
        return 0;
    }
    free(text);
    if (!(one = mk_store_json_serialize(&s)))
        abort();
    if (mk_store_json_parse(one, strlen(one), FUZZ_PATH, &t, NULL, &err) != MK_OK) {
        fprintf(stderr, "the serialized store does not parse: %s\n%s", err.message, one);
        abort();
    }
    if (!(two = mk_store_json_serialize(&t)))
        abort();
    if (strcmp(one, two) != 0) {
        fprintf(stderr, "round trip differs:\n--- first\n%s--- second\n%s", one, two);
        abort();
    }
    free(one);
    free(two);
    mk_storefile_free(&s);
    mk_storefile_free(&t);
    return 0;
}
