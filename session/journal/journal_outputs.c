/* journal_outputs — a cell's outputs serialised as they come (see the
 * header). The text grows by doubling, so adding N outputs costs O(total
 * size), and the record's end is appended to it in place. */
#include "journal_outputs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define OUTPUTS_START "{\"outputs\":["

int journal_outputs_append(journal_outputs_t *self, const char *text, size_t len)
{
    if (self->failed)
        return -1;
    if (len + 1 > self->cap - self->len) {
        size_t cap = self->cap ? self->cap : 4096;
        while (len + 1 > cap - self->len) {
            if (cap > SIZE_MAX / 2)
                goto fail;
            cap *= 2;
        }
        char *grown = realloc(self->text, cap);
        if (!grown)
            goto fail;
        self->text = grown;
        self->cap = cap;
    }
    memcpy(self->text + self->len, text, len);
    self->len += len;
    self->text[self->len] = '\0';
    return 0;
fail:
    self->failed = true;
    return -1;
}

int journal_outputs_add(journal_outputs_t *self, const char *msg_type, const json_t *content)
{
    if (self->failed)
        return -1;
    json_auto_t *output = json_pack("{s:s, s:O}", "msg_type", msg_type, "content", content);
    _cleanup_free_ char *text = output ? json_dumps(output, JSON_COMPACT) : NULL;
    if (!text) {
        self->failed = true;
        return -1;
    }
    const char *sep = self->n ? "," : OUTPUTS_START;
    if (journal_outputs_append(self, sep, strlen(sep)) < 0 ||
        journal_outputs_append(self, text, strlen(text)) < 0)
        return -1;
    self->n++;
    return 0;
}

void journal_outputs_clear(journal_outputs_t *self)
{
    free(self->text);
    *self = (journal_outputs_t){0};
}
