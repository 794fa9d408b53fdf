/* proto_error — phrases for the protocol layer's error codes. */
#include "proto_error.h"

static const char *const s_phrases[PROTO_ERR_COUNT] = {
    [PROTO_OK] = "ok",
    [PROTO_ERR_NO_DELIMITER] = "no <IDS|MSG> delimiter",
    [PROTO_ERR_TRUNCATED] = "truncated message",
    [PROTO_ERR_TOO_LARGE] = "message too large",
    [PROTO_ERR_UNSIGNED] = "unsigned message",
    [PROTO_ERR_BAD_SIGNATURE] = "bad signature",
    [PROTO_ERR_REPLAYED] = "replayed signature",
    [PROTO_ERR_BAD_JSON] = "invalid JSON",
    [PROTO_ERR_BAD_HEADER] = "malformed header",
    [PROTO_ERR_BAD_FIELD] = "parent, metadata or content is not an object",
    [PROTO_ERR_BAD_CONNFILE] = "malformed connection file",
    [PROTO_ERR_NOMEM] = "out of memory",
};

const char *proto_err_to_string(proto_err_t err)
{
    if ((int)err < 0 || err >= PROTO_ERR_COUNT || !s_phrases[err])
        return "unknown error";
    return s_phrases[err];
}
