/* notebook — a journal as an nbformat 4 notebook (shared by `sandcell
 * export` and the MCP server). */
#ifndef SANDCELL_NOTEBOOK_H
#define SANDCELL_NOTEBOOK_H

#include <jansson.h>

/* The notebook of |journal| (borrowed; as journal_read returns it): one code
 * cell per execution that is not silent, in order. New reference; NULL on
 * allocation failure. */
json_t *notebook_from_journal(const json_t *journal);

#endif
