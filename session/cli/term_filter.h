/* term_filter — makes a cell's output safe to show on a terminal.
 *
 * A cell's output reaches the user's terminal through `sandcell exec`,
 * directly or later through a pager or a log. Bytes a terminal interprets
 * would let the cell act on that terminal: set its title (OSC 0/2), write
 * the clipboard (OSC 52), clear the screen (CSI 2J), send a DCS string, or
 * use the 8-bit and C1 forms of the same. The filter keeps plain text,
 * newline, tab and carriage return (progress bars use it) and SGR colour
 * sequences (ESC [ digits ; : m, as `less -R` does); everything else is
 * shown visibly, as `cat -v` and `less` show it: C0 controls and DEL in
 * caret notation (ESC as ^[, BEL as ^G, backspace as ^H), the C1 code
 * points U+0080-U+009F as <U+009B>, bytes that are not UTF-8 as <9B>. What
 * follows an ESC is printed as text, so `ESC ] 0 ; title BEL` shows as
 * `^[]0;title^G`: nothing is dropped, nothing is interpreted.
 *
 * The filter is a pure streaming function over bytes: a sequence or a
 * UTF-8 character split between two stream messages is held in the state
 * until the next chunk decides it (an SGR is at most TERM_FILTER_HOLD_MAX
 * bytes; a longer one is shown visibly). term_filter_finish() writes what
 * is still held, neutralised. */
#ifndef SANDCELL_TERM_FILTER_H
#define SANDCELL_TERM_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TERM_FILTER_HOLD_MAX 32

typedef struct {
    unsigned char held[TERM_FILTER_HOLD_MAX]; /* an unfinished ESC [ ... or UTF-8 character */
    size_t n_held;
} term_filter_t;

/* Starts |f| with nothing held. */
void term_filter_init(term_filter_t *f);

/* The most bytes term_filter_feed() writes for |len| input bytes (and
 * term_filter_finish() for 0). */
size_t term_filter_bound(size_t len);

/* Filters |len| bytes of |in| into |out|, which has room for
 * term_filter_bound(len) bytes; returns how many were written (no NUL is
 * added). Bytes that may start a kept sequence are held in |f|. */
size_t term_filter_feed(term_filter_t *f, const void *in, size_t len, char *out);

/* Writes what |f| still holds, neutralised, into |out| (room for
 * term_filter_bound(0) bytes); returns how many; |f| is empty after. */
size_t term_filter_finish(term_filter_t *f, char *out);

/* Filters |len| bytes of |text| through |f| and writes them to |fp|; with
 * |raw| writes them unchanged. |f| NULL: a one-shot filter, finished at the
 * end of |text|. Returns 0, or -1 if writing failed. */
int term_filter_write(term_filter_t *f, FILE *fp, const char *text, size_t len, bool raw);

/* Writes what |f| holds to |fp|, neutralised. Returns 0 or -1. */
int term_filter_flush(term_filter_t *f, FILE *fp);

#endif
