/* An already-connected socket as an inbound connection (adopt.h). */
#include "remote/adopt.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "remote/net.h"
#include "troupe/error.h"

typedef struct adopt_req {
    int fd;
    char name[64];
} adopt_req;

int tri_net_adopt(tr_service *svc, int fd, const char *name)
{
    tri_net *net = tri_net_of(svc);
    if (!net) {
        close(fd);
        return TR_ESTOPPED;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return TR_EIO;
    }
    tr_msg *m = tr_msg_new(TRI_NET_ADOPT, sizeof(adopt_req));
    if (!m) {
        close(fd);
        return TR_ENOMEM;
    }
    adopt_req *r = tr_msg_data(m);
    r->fd = fd;
    snprintf(r->name, sizeof r->name, "%s", name);
    tri_net_post(net, m);
    return 0;
}

void tri_net_adopted(tri_net *net, tr_msg *m)
{
    adopt_req *r = tr_msg_data(m);
    /* NULL: refused (max_connections, logged there) or out of memory; fd is closed. */
    (void)tri_net_add_conn(net, r->fd, false, false, r->name);
    tr_msg_free(m);
}

void tri_net_adopt_discard(tr_msg *m)
{
    close(((adopt_req *)tr_msg_data(m))->fd);
    tr_msg_free(m);
}
