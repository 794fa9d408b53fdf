/* fuzz — what every harness in tests/fuzz/ shares: the libFuzzer entry
 * point's prototype and the split of one input into parts.
 *
 * A harness whose parser takes several byte strings (the frames of a wire
 * message, the datagrams of a channel) reads them from one input cut at
 * FUZZ_SEPARATOR: a separator libFuzzer learns from the dictionaries, and
 * that keeps the seeds readable in a text editor. */
#ifndef SANDCELL_FUZZ_H
#define SANDCELL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_SEPARATOR "\n--\n"
#define FUZZ_SEPARATOR_LEN 4

/* The entry point every harness defines (libFuzzer's contract: returns 0,
 * and crashes, leaks or trips a sanitizer on a bug). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_part_t;

/* Cuts |data| at each FUZZ_SEPARATOR into at most |max| parts (the last
 * one keeps the rest, separators included). Writes views into |parts|
 * (borrowed from |data|) and returns how many: at least 1. */
static inline size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part_t *parts, size_t max)
{
    size_t n = 0, start = 0, i = 0;
    /* memchr, not a memcmp at every byte: libFuzzer traces each memcmp. */
    while (n + 1 < max && i + FUZZ_SEPARATOR_LEN <= size) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        if (!nl)
            break;
        i = (size_t)(nl - data);
        if (i + FUZZ_SEPARATOR_LEN <= size && nl[1] == '-' && nl[2] == '-' && nl[3] == '\n') {
            parts[n++] = (fuzz_part_t){data + start, i - start};
            start = i + FUZZ_SEPARATOR_LEN;
            i = start;
        } else {
            i++;
        }
    }
    parts[n++] = (fuzz_part_t){data + start, size - start};
    return n;
}

#endif
