/* output_compare — whether a replayed cell gave the same outputs as the
 * recorded one, and if not, a short diff.
 *
 * What is compared (README, "Replaying a conversation"):
 * - stdout and stderr, each as the whole text of the cell: how print()
 *   output was cut into stream messages depends on timing, what it says
 *   does not. Lines of stderr starting with "[sandcell] " are notes of the
 *   manager (state lost, output limit), not of the cell, and are left out;
 * - the other outputs (execute_result, display_data, error) in order: the
 *   same output types, the same mime types; text by content, JSON mime
 *   types as JSON values, images (image/png, image/jpeg, ...) by their
 *   decoded bytes, ignoring a PNG's text and time chunks; metadata and
 *   execution counts are not compared;
 * - errors by ename, evalue and traceback; for the errors sandcell itself
 *   explains (TimeoutError, InterpreterDied, MemoryError) by ename only,
 *   since their text names limits and signals.
 * When both cells reached the output limit, the streams are compared on
 * the length both kept: where the limit cut them depends on how the text
 * was batched into messages.
 * Memory addresses in reprs (" at 0x7f3a...") are volatile and masked in
 * all text before comparing. */
#ifndef SANDCELL_OUTPUT_COMPARE_H
#define SANDCELL_OUTPUT_COMPARE_H

#include <jansson.h>
#include <stddef.h>

/* |text| (|len| bytes) with its volatile parts masked: every " at 0x"
 * followed by hex digits becomes " at 0x?". Caller owns the result (NUL
 * terminated, length in *out_len); NULL on allocation failure. */
char *output_compare_normalise(const char *text, size_t len, size_t *out_len);

/* Makes |text| safe to print on a terminal, in place: control characters
 * (C0 but tab, DEL, and the UTF-8 encoded C1 range) become '?', so that
 * output of untrusted code or a hand-made journal cannot send escape
 * sequences. Returns |text|. */
char *output_compare_printable(char *text);

/* Whether two base64 images hold the same picture: equal decoded bytes,
 * or, for two PNGs, equal chunks once tEXt, zTXt, iTXt and tIME are left
 * out. Invalid base64 never matches. */
int output_compare_images(const char *a_b64, const char *b_b64);

/* Compares |recorded| and |replayed| (borrowed; notebook outputs from
 * cell_outputs_to_notebook). Returns 0 when they match, 1 when they differ,
 * with *diff set to a few lines saying how (at most about |max_lines|
 * lines; caller frees), -1 on allocation failure. *diff is NULL unless 1
 * is returned. */
int output_compare(const json_t *recorded, const json_t *replayed, size_t max_lines,
                   char **diff);

#endif
