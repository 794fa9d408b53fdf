/* serve_client — one Jupyter client of bench/serve: shell and iopub of a
 * sandcell conversation or of an ipykernel.
 *
 * A conversation's client owns its sockets, signer and key (from the
 * start_reply's connection dict); an ipykernel's borrows those of its
 * bench_kernel_t, which made them and closes them. Sockets reconnect every
 * 10 ms, not libzmq's 100 ms: a kernel being launched is not listening yet,
 * and the start figure would be quantised. Sending and receiving go
 * through bench_wire, as in every benchmark: every message received is
 * verified and decoded, as a real frontend does. */
#include "serve.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "bench_wire.h"

/* A kernel being launched is not listening yet: the client's sockets retry
 * every 10 ms, not libzmq's default 100 ms, or the start figure would be
 * quantised. */
#define RECONNECT_MS 10

void serve_client_init(client_t *c, const char *kind)
{
    *c = (client_t){.kind = kind, .hub_index = SIZE_MAX};
}

/* A client of the conversation whose connection dict is |connection|. */
int serve_client_connect_conv(client_t *c, void *ctx, const json_t *connection)
{
    proto_err_t err;
    char why[200];
    if (connfile_from_json(connection, &c->conn, &err, why, sizeof why) < 0)
        return serve_client_fail(c, "start_reply's connection: %s", why);
    c->signer = signer_new(c->conn.key, strlen(c->conn.key));
    c->shell = bench_socket(ctx, ZMQ_DEALER, &c->conn, CONN_SHELL, RECONNECT_MS);
    c->iopub = bench_socket(ctx, ZMQ_SUB, &c->conn, CONN_IOPUB, RECONNECT_MS);
    header_new_id(c->session);
    if (!c->signer || !c->shell || !c->iopub)
        return serve_client_fail(c, "client sockets: %s", zmq_strerror(zmq_errno()));
    return 0;
}

/* A client of the launched ipykernel |k|: its shell, control and iopub
 * sockets are made here and owned by |k| (bench_kernel_stop closes them). */
int serve_client_connect_kernel(client_t *c, void *ctx, bench_kernel_t *k)
{
    c->k = k;
    k->reconnect_ms = RECONNECT_MS;
    if (bench_kernel_connect(k, ctx) < 0)
        return serve_client_fail(c, "client sockets: %s", zmq_strerror(zmq_errno()));
    c->shell = k->shell;
    c->iopub = k->iopub;
    c->signer = k->signer;
    memcpy(c->session, k->session, sizeof c->session);
    return 0;
}

/* Closes what the client owns (an ipykernel's sockets are its kernel's). */
void serve_client_close(client_t *c)
{
    if (!c->k) {
        if (c->shell)
            zmq_close(c->shell);
        if (c->iopub)
            zmq_close(c->iopub);
        signer_destroy(&c->signer);
        connfile_clear(&c->conn);
    }
    c->shell = c->iopub = NULL;
    c->signer = NULL;
}

int serve_client_send(client_t *c, const char *msg_type, const json_t *content, char *msg_id)
{
    return bench_wire_send(c->signer, c->session, c->shell, msg_type, content, msg_id,
                           c->failure, sizeof c->failure);
}

int serve_client_recv(client_t *c, void *sock, wire_msg_t *out, double *t_us)
{
    return bench_wire_recv(c->signer, sock, out, t_us, c->failure, sizeof c->failure);
}

int serve_ipk_launch(void *ctx, bench_kernel_t *k, client_t *c)
{
    bench_kernel_init(k, BENCH_IPYKERNEL);
    serve_client_init(c, "ipykernel");
    int ports[CONN_NCHANNELS];
    int rc = bench_pick_ports(ports, CONN_NCHANNELS);
    if (rc < 0)
        return serve_client_fail(c, "picking ports: %s", strerror(-rc));
    if (bench_kernel_start(k, ports, "") < 0)
        return serve_client_fail(c, "%s", k->failure);
    return serve_client_connect_kernel(c, ctx, k);
}

void serve_ipk_stop(hub_t *h, bench_kernel_t *k, client_t *c)
{
    if (h)
        serve_hub_remove(h, c);
    if (c->failure[0] && !k->failure[0])
        bench_kernel_fail(k, "%s", c->failure);
    serve_client_close(c);
    bench_kernel_stop(k); /* closes the sockets the client borrowed */
}
