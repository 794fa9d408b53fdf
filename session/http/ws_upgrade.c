/* ws_upgrade — the hub as the HTTP server's WebSocket side: an upgraded
 * /api/kernels/{id}/channels connection (http_upgrade_t) becomes a
 * ws_accept_t, and the hub's release of its socket is
 * http_upgrade_close. */
#include "ws_upgrade.h"

#include "log.h"

static void s_release(void *arg)
{
    http_upgrade_close(arg);
}

static void s_on_upgrade(void *arg, http_upgrade_t *up)
{
    ws_accept_t a = {
        .fd = up->fd,
        .extra = up->extra,
        .extra_len = up->extra_len,
        .kernel_id = up->kernel_id,
        .session_id = up->session_id,
        .v1 = up->v1,
        .conn = &up->conn,
        .release = s_release,
        .release_arg = up,
    };
    char why[300];
    if (ws_hub_accept(arg, &a, why, sizeof why) < 0) {
        log_warn("websocket of kernel %s refused: %s", up->kernel_id, why);
        http_upgrade_close(up);
    }
}

static void s_on_drop(void *arg, http_upgrade_t *up)
{
    ws_hub_forget(arg, up);
}

void ws_upgrade_register(ws_hub_t *hub, http_server_t *srv)
{
    http_server_set_upgrade(srv, s_on_upgrade, s_on_drop, hub);
}
