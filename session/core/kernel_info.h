/* kernel_info — what sandcell says about itself in kernel_info_reply and in
 * an exported notebook's metadata, the same from every path.
 *
 * The content is the manager's own, built from what sandcell was built
 * with (the embedded Python's version, sandcell's version), never from a
 * record of the interpreter: a frontend that asks before the interpreter is
 * up, after it died, or from a conversation of the daemon gets the same
 * banner and language_info (docs/design-decisions.md, "kernel_info"). */
#ifndef SANDCELL_KERNEL_INFO_H
#define SANDCELL_KERNEL_INFO_H

#include <jansson.h>

/* The banner a console prints when it attaches. */
extern const char kernel_info_banner[];

/* language_info as ipykernel sends it (name, version, mimetype,
 * file_extension, pygments_lexer, codemirror_mode, nbconvert_exporter),
 * with |python_version| as "version", or the embedded Python's when NULL.
 * Does not take ownership. Returns a new reference, NULL if out of memory. */
json_t *kernel_info_language(const char *python_version);

/* The whole kernel_info_reply content: status, protocol_version,
 * implementation, implementation_version, language_info, banner,
 * help_links, debugger. Returns a new reference, NULL if out of memory. */
json_t *kernel_info_content(void);

#endif
