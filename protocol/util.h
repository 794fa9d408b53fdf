/* util — cleanup attributes and small helpers shared by every layer.
 *
 * Locals that own memory, a file descriptor or a jansson value are declared
 * with a cleanup attribute, and ownership leaves the scope only through
 * steal_pointer() / steal_fd(), so every early return is leak-free. */
#ifndef SANDCELL_UTIL_H
#define SANDCELL_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void s_cleanup_free(void *p)
{
    free(*(void **)p);
}

static inline void s_cleanup_close(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

#define _cleanup_free_ __attribute__((cleanup(s_cleanup_free)))
#define _cleanup_close_ __attribute__((cleanup(s_cleanup_close)))

/* Returns *pp and sets *pp to NULL: hands ownership to the caller. */
static inline void *steal_pointer_impl(void *pp)
{
    void **p = pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) steal_pointer_impl(pp)

static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Appends |node| to the singly linked list |head| .. |tail| whose links are
 * the field |next|; the node's own link is cleared. */
#define LIST_APPEND(head, tail, node, next)                                                   \
    do {                                                                                      \
        (node)->next = NULL;                                                                  \
        if (tail)                                                                             \
            (tail)->next = (node);                                                            \
        else                                                                                  \
            (head) = (node);                                                                  \
        (tail) = (node);                                                                      \
    } while (0)

/* Writes all of |data| to |fd|, on through short writes and EINTR.
 * Returns 0 or -errno. */
static inline int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* |v| as people write it, for messages: the fewest digits that read back
 * as |v| (16.5, 0.1, 1048576, 10000000), never an exponent below 1e15 nor
 * JSON's 17 digits (16.504999999999999). Returns |out|. */
static inline const char *format_number(double v, char *out, size_t len)
{
    if (v > -1e15 && v < 1e15 && v == (double)(long long)v) { /* NaN fails the first test */
        snprintf(out, len, "%lld", (long long)v);
        return out;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, len, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return out;
}

#endif
