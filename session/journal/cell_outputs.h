/* cell_outputs — a cell's recorded output messages as a notebook shows them.
 *
 * Used by export (the outputs of each code cell) and by replay (the view
 * that is compared), so both see the same thing: what a frontend would
 * have on screen once the cell finished. */
#ifndef SANDCELL_CELL_OUTPUTS_H
#define SANDCELL_CELL_OUTPUTS_H

#include <jansson.h>

/* Turns |outputs| (borrowed; the journal's [{"msg_type","content"}...],
 * already checked by journal_read) into nbformat 4 output objects:
 * - stream -> {"output_type":"stream","name","text"}, consecutive streams of
 *   the same name merged into one;
 * - execute_result -> {"output_type":"execute_result","execution_count",
 *   "data","metadata"} (the count from the content, else |execution_count|,
 *   which may be JSON null: pass NULL for null);
 * - display_data -> {"output_type":"display_data","data","metadata"};
 * - error -> {"output_type":"error","ename","evalue","traceback"};
 * - clear_output empties the list, at once or, with "wait", just before the
 *   next output (a clear that nothing follows leaves the outputs);
 * - update_display_data replaces data and metadata of the earlier outputs
 *   of the cell with the same transient display_id;
 * - any other type is left out.
 * Returns a new reference (an array), or NULL on allocation failure. */
json_t *cell_outputs_to_notebook(const json_t *outputs, const json_t *execution_count);

#endif
