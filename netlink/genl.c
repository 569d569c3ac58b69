/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's generic netlink family "nbd" through libnl-genl-3: CONNECT, DISCONNECT, RECONFIGURE
 * and STATUS.
 */
#include <errno.h>
#include <linux/nbd-netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "netlink/nl-errors.h"
#include "netlink/nbd-dev.h"

struct nbd_nl {
	struct nl_sock *sock;
	int family;
};

static int nl_error(int nl_code)
{
	return -errno_from_libnl(nl_code);
}

int nbd_nl_open(struct nbd_nl **ret)
{
	struct nbd_nl *nl = calloc(1, sizeof(*nl));
	int r;

	if (!nl)
		return -ENOMEM;
	nl->sock = nl_socket_alloc();
	if (!nl->sock) {
		free(nl);
		return -ENOMEM;
	}
	r = genl_connect(nl->sock);
	if (r < 0) {
		nbd_nl_close(nl);
		return nl_error(r);
	}
	nl->family = genl_ctrl_resolve(nl->sock, NBD_GENL_FAMILY_NAME);
	if (nl->family < 0) {
		/* -ENOENT (NLE_OBJ_NOTFOUND): no such family, the module is not loaded or predates
		 * netlink (before 4.12). Anything else is a failure of the query itself. */
		r = nl_error(nl->family);
		nbd_nl_close(nl);
		return r;
	}
	*ret = nl;
	return 0;
}

struct nbd_nl *nbd_nl_close(struct nbd_nl *nl)
{
	if (!nl)
		return NULL;
	nl_socket_free(nl->sock);
	free(nl);
	return NULL;
}

/* Builds CONNECT or RECONFIGURE with every attribute the config sets. */
static int build_config_msg(int family, uint8_t cmd, const struct nbd_dev_config *cfg,
			    struct nl_msg **ret)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nlattr *sockets;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, cmd, NBD_GENL_VERSION))
		goto too_big;
	if (cfg->index >= 0 && nla_put_u32(msg, NBD_ATTR_INDEX, (uint32_t)cfg->index) < 0)
		goto too_big;
	if (cfg->size && nla_put_u64(msg, NBD_ATTR_SIZE_BYTES, cfg->size) < 0)
		goto too_big;
	if (cfg->block_size && nla_put_u64(msg, NBD_ATTR_BLOCK_SIZE_BYTES, cfg->block_size) < 0)
		goto too_big;
	if (cmd == NBD_CMD_CONNECT && nla_put_u64(msg, NBD_ATTR_SERVER_FLAGS, cfg->server_flags) < 0)
		goto too_big;
	if (cfg->timeout && nla_put_u64(msg, NBD_ATTR_TIMEOUT, cfg->timeout) < 0)
		goto too_big;
	if (cfg->dead_conn_timeout &&
	    nla_put_u64(msg, NBD_ATTR_DEAD_CONN_TIMEOUT, cfg->dead_conn_timeout) < 0)
		goto too_big;
	if (cfg->client_flags && nla_put_u64(msg, NBD_ATTR_CLIENT_FLAGS, cfg->client_flags) < 0)
		goto too_big;
	if (cfg->backend && nla_put_string(msg, NBD_ATTR_BACKEND_IDENTIFIER, cfg->backend) < 0)
		goto too_big;
	if (cfg->n_fds) {
		sockets = nla_nest_start(msg, NBD_ATTR_SOCKETS);
		if (!sockets)
			goto too_big;
		for (size_t i = 0; i < cfg->n_fds; i++) {
			struct nlattr *item = nla_nest_start(msg, NBD_SOCK_ITEM);

			if (!item || nla_put_u32(msg, NBD_SOCK_FD, (uint32_t)cfg->fds[i]) < 0)
				goto too_big;
			nla_nest_end(msg, item);
		}
		nla_nest_end(msg, sockets);
	}
	*ret = msg;
	return 0;
too_big:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int nbd_nl_encode_connect(int family, uint8_t cmd, const struct nbd_dev_config *cfg, void *buf,
			  size_t cap)
{
	struct nl_msg *msg;
	struct nlmsghdr *hdr;
	int r = build_config_msg(family, cmd, cfg, &msg);

	if (r < 0)
		return r;
	hdr = nlmsg_hdr(msg);
	if (hdr->nlmsg_len > cap) {
		nlmsg_free(msg);
		return -ENOBUFS;
	}
	memcpy(buf, hdr, hdr->nlmsg_len);
	r = (int)hdr->nlmsg_len;
	nlmsg_free(msg);
	return r;
}

static int connect_reply(struct nl_msg *msg, void *arg)
{
	struct nlattr *attrs[NBD_ATTR_MAX + 1];
	int *index = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, NBD_ATTR_MAX, NULL) < 0)
		return NL_SKIP;
	if (attrs[NBD_ATTR_INDEX])
		*index = (int)nla_get_u32(attrs[NBD_ATTR_INDEX]);
	return NL_OK;
}

/* Sends msg and waits for the kernel's answer, passing reply messages to cb. */
static int transact(struct nbd_nl *nl, struct nl_msg *msg, nl_recvmsg_msg_cb_t cb, void *arg)
{
	int r;

	if (cb) {
		r = nl_socket_modify_cb(nl->sock, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
		if (r < 0) {
			nlmsg_free(msg);
			return nl_error(r);
		}
	}
	r = nl_send_sync(nl->sock, msg); /* frees msg */
	return r < 0 ? nl_error(r) : 0;
}

int nbd_nl_connect(struct nbd_nl *nl, const struct nbd_dev_config *cfg, int *ret_index)
{
	struct nl_msg *msg;
	int index = -1, r;

	r = build_config_msg(nl->family, NBD_CMD_CONNECT, cfg, &msg);
	if (r < 0)
		return r;
	r = transact(nl, msg, connect_reply, &index);
	if (r < 0)
		return r;
	if (index < 0)
		index = cfg->index;
	if (index < 0)
		return -EBADMSG; /* the kernel always names the device it connected */
	*ret_index = index;
	return 0;
}

int nbd_nl_reconfigure(struct nbd_nl *nl, const struct nbd_dev_config *cfg)
{
	struct nl_msg *msg;
	int r;

	if (cfg->index < 0)
		return -EINVAL;
	r = build_config_msg(nl->family, NBD_CMD_RECONFIGURE, cfg, &msg);
	if (r < 0)
		return r;
	return transact(nl, msg, NULL, NULL);
}

int nbd_nl_disconnect(struct nbd_nl *nl, int index)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0, NBD_CMD_DISCONNECT,
			 NBD_GENL_VERSION) ||
	    nla_put_u32(msg, NBD_ATTR_INDEX, (uint32_t)index) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return transact(nl, msg, NULL, NULL);
}

struct status_collect {
	struct nbd_nl_device *devices;
	size_t n;
	int error;
};

static int status_reply(struct nl_msg *msg, void *arg)
{
	struct status_collect *sc = arg;
	struct nlattr *attrs[NBD_ATTR_MAX + 1], *item;
	int rem;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, NBD_ATTR_MAX, NULL) < 0 ||
	    !attrs[NBD_ATTR_DEVICE_LIST])
		return NL_SKIP;
	nla_for_each_nested(item, attrs[NBD_ATTR_DEVICE_LIST], rem) {
		struct nlattr *dev[NBD_DEVICE_ATTR_MAX + 1];
		struct nbd_nl_device *d;

		if (nla_type(item) != NBD_DEVICE_ITEM ||
		    nla_parse_nested(dev, NBD_DEVICE_ATTR_MAX, item, NULL) < 0 ||
		    !dev[NBD_DEVICE_INDEX])
			continue;
		d = realloc(sc->devices, (sc->n + 1) * sizeof(*d));
		if (!d) {
			sc->error = -ENOMEM;
			return NL_STOP;
		}
		sc->devices = d;
		d[sc->n++] = (struct nbd_nl_device){
			.index = (int)nla_get_u32(dev[NBD_DEVICE_INDEX]),
			.connected = dev[NBD_DEVICE_CONNECTED] && nla_get_u8(dev[NBD_DEVICE_CONNECTED]),
		};
	}
	return NL_OK;
}

int nbd_nl_status(struct nbd_nl *nl, int index, struct nbd_nl_device **ret, size_t *ret_n)
{
	struct status_collect sc = { 0 };
	struct nl_msg *msg = nlmsg_alloc();
	int r;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0, NBD_CMD_STATUS,
			 NBD_GENL_VERSION) ||
	    (index >= 0 && nla_put_u32(msg, NBD_ATTR_INDEX, (uint32_t)index) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	r = transact(nl, msg, status_reply, &sc);
	if (r == 0)
		r = sc.error;
	if (r < 0) {
		free(sc.devices);
		return r;
	}
	*ret = sc.devices;
	*ret_n = sc.n;
	return 0;
}

int nbd_nl_monitor_open(struct nbd_nl **ret)
{
	_cleanup_(nbd_nl_closep) struct nbd_nl *nl = NULL;
	int group, r;

	r = nbd_nl_open(&nl);
	if (r < 0)
		return r;
	group = genl_ctrl_resolve_grp(nl->sock, NBD_GENL_FAMILY_NAME, NBD_GENL_MCAST_GROUP_NAME);
	if (group < 0)
		return -ENOENT; /* a kernel without link-dead events (before 4.12) */
	/* Events arrive unasked: their sequence numbers match no request of ours. */
	nl_socket_disable_seq_check(nl->sock);
	r = nl_socket_add_membership(nl->sock, group);
	if (r < 0)
		return nl_error(r);
	r = nl_socket_set_nonblocking(nl->sock);
	if (r < 0)
		return nl_error(r);
	*ret = TAKE_PTR(nl);
	return 0;
}

int nbd_nl_fd(const struct nbd_nl *nl)
{
	return nl_socket_get_fd(nl->sock);
}

int nbd_nl_parse_link_dead(const void *msg, size_t len, int family, int *ret_index)
{
	const struct nlmsghdr *hdr = msg;
	struct nlattr *attrs[NBD_ATTR_MAX + 1];
	const struct genlmsghdr *g;

	if (len < NLMSG_HDRLEN || hdr->nlmsg_len > len || hdr->nlmsg_len < NLMSG_HDRLEN)
		return -EBADMSG;
	if (hdr->nlmsg_type != family)
		return -ENOMSG;
	if (!genlmsg_valid_hdr((struct nlmsghdr *)hdr, 0))
		return -EBADMSG;
	g = nlmsg_data(hdr);
	if (g->cmd != NBD_CMD_LINK_DEAD)
		return -ENOMSG;
	if (genlmsg_parse((struct nlmsghdr *)hdr, 0, attrs, NBD_ATTR_MAX, NULL) < 0 ||
	    !attrs[NBD_ATTR_INDEX] || nla_len(attrs[NBD_ATTR_INDEX]) < (int)sizeof(uint32_t))
		return -EBADMSG;
	*ret_index = (int)nla_get_u32(attrs[NBD_ATTR_INDEX]);
	return 0;
}

struct monitor_call {
	int family;
	void (*fn)(int index, void *userdata);
	void *userdata;
};

static int monitor_event(struct nl_msg *msg, void *arg)
{
	struct monitor_call *call = arg;
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int index;

	if (nbd_nl_parse_link_dead(hdr, hdr->nlmsg_len, call->family, &index) == 0)
		call->fn(index, call->userdata);
	return NL_OK;
}

int nbd_nl_monitor_read(struct nbd_nl *nl, void (*fn)(int index, void *userdata), void *userdata)
{
	struct monitor_call call = { .family = nl->family, .fn = fn, .userdata = userdata };
	int r;

	r = nl_socket_modify_cb(nl->sock, NL_CB_VALID, NL_CB_CUSTOM, monitor_event, &call);
	if (r < 0)
		return nl_error(r);
	for (;;) {
		r = nl_recvmsgs_default(nl->sock);
		if (r == -NLE_AGAIN)
			return 0; /* everything waiting was read */
		if (r < 0)
			return nl_error(r);
	}
}
