/* proto_error — the error codes of the protocol layer.
 *
 * protocol/ functions return 0 on success and -1 on failure, with the reason
 * in a proto_err_t out-parameter; proto_err_to_string() gives the short
 * phrase that the session layer puts in its one-line log. */
#ifndef SANDCELL_PROTO_ERROR_H
#define SANDCELL_PROTO_ERROR_H

typedef enum {
    PROTO_OK = 0,
    PROTO_ERR_NO_DELIMITER,  /* no <IDS|MSG> frame */
    PROTO_ERR_TRUNCATED,     /* fewer than signature + four JSON frames */
    PROTO_ERR_TOO_LARGE,     /* message larger than WIRE_MAX_BYTES */
    PROTO_ERR_UNSIGNED,      /* empty signature frame */
    PROTO_ERR_BAD_SIGNATURE, /* signature does not match the frames */
    PROTO_ERR_REPLAYED,      /* this exact signature was seen before */
    PROTO_ERR_BAD_JSON,      /* a JSON frame does not parse */
    PROTO_ERR_BAD_HEADER,    /* header lacks msg_id, msg_type, session... */
    PROTO_ERR_BAD_FIELD,     /* parent, metadata or content not an object */
    PROTO_ERR_BAD_CONNFILE,  /* connection file unreadable or malformed */
    PROTO_ERR_NOMEM,
    PROTO_ERR_COUNT
} proto_err_t;

/* Returns a static phrase such as "bad signature"; never NULL. */
const char *proto_err_to_string(proto_err_t err);

#endif
