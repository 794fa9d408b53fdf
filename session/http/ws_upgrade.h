/* ws_upgrade — connects the WebSocket hub (ws_hub.h) to the HTTP server's
 * upgrade hook (http_upgrade.h). */
#ifndef SANDCELL_WS_UPGRADE_H
#define SANDCELL_WS_UPGRADE_H

#include "http_server.h"
#include "ws_hub.h"

/* Makes |hub| the WebSocket side of |srv|: every upgraded channels
 * connection goes to ws_hub_accept (a refusal closes it), and the server's
 * own teardown makes the hub forget those it still holds. Neither takes
 * ownership of the other; destroy the hub first (its clients get 1001). */
void ws_upgrade_register(ws_hub_t *hub, http_server_t *srv);

#endif
