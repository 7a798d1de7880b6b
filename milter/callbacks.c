/*
 * callbacks.c - libmilter callbacks (see callbacks.h).
 *
 * Each callback fetches the connection from smfi_getpriv() and hands the
 * step to steps.c, which feeds the session; this file maps the answer to
 * an sfsistat and the verdict's edits to smfi_* calls. libmilter runs
 * callbacks on a worker pool, so one connection's callbacks may run on
 * different threads: all state is in the connection. Steps that need no
 * reply are negotiated as "no reply" (SMFIP_NR_*) to save round trips.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "callbacks.h"
#include "steps.h"

void
callbacks_init(struct session_env *env, int local_socket)
{
	steps_init(env, local_socket);
}

int
callbacks_in_flight(void)
{
	return steps_in_flight();
}

int
callbacks_connections(void)
{
	return steps_connections();
}

void
callbacks_stopping(void)
{
	steps_stopping();
}

/* conn_get - the connection's data, or NULL */
static struct steps_conn *
conn_get(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

/* conn_session - the connection with a session, or NULL (no connect step
 * was seen: the callback just lets the message pass) */
static struct steps_conn *
conn_session(SMFICTX *ctx)
{
	struct steps_conn *c = smfi_getpriv(ctx);

	return c != NULL && c->s != NULL ? c : NULL;
}

/* noreply - SMFIS_NOREPLY where the MTA agreed to skip the reply */
static sfsistat
noreply(const struct steps_conn *c)
{
	return c->reply_noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* getsym - a macro of the current step (steps_macro_fn) */
static const char *
getsym(void *arg, const char *name)
{
	return smfi_getsymval(arg, (char *)name);
}

/* conn_new - the connection's private data, made at negotiation (or at
 * connect when the MTA does not negotiate) */
static struct steps_conn *
conn_new(SMFICTX *ctx)
{
	struct steps_conn *c = steps_conn_new();

	if (c != NULL)
		smfi_setpriv(ctx, c);
	return c;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct steps_conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);

	(void)f2;
	(void)f3;
	if (c == NULL)
		return SMFIS_REJECT;
	steps_negotiate(c, f0, f1, pf0, pf1);
	*pf2 = *pf3 = 0;
	/* ask only for the macros we use */
	smfi_setsymlist(ctx, SMFIM_CONNECT, STEPS_MACROS_CONNECT);
	smfi_setsymlist(ctx, SMFIM_ENVFROM, STEPS_MACROS_ENVFROM);
	smfi_setsymlist(ctx, SMFIM_EOM, STEPS_MACROS_EOM);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *hostname, struct sockaddr *sa)
{
	struct steps_conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);
	char ip[INET6_ADDRSTRLEN] = "";

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
	steps_connect(c, hostname, ip, getsym, ctx);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_helo(SMFICTX *ctx, char *helo)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	steps_helo(c, helo);
	return noreply(c);
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	steps_mail_from(c, argv[0], getsym, ctx);
	return noreply(c);
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	steps_header(c, name, value);
	return noreply(c);
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	steps_eoh(c);
	return noreply(c);
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *p, size_t len)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	steps_body(c, p, len);
	return noreply(c);
}

static void
out_insheader(void *ctx, const char *name, const char *value)
{
	smfi_insheader(ctx, 0, (char *)name, (char *)value);
}

static void
out_delheader(void *ctx, const char *name, int idx)
{
	smfi_chgheader(ctx, (char *)name, idx, NULL);
}

static void
out_quarantine(void *ctx, const char *reason)
{
	smfi_quarantine(ctx, (char *)reason);
}

static void
out_setreply(void *ctx, const char *rcode, const char *xcode,
    const char *text)
{
	smfi_setreply(ctx, (char *)rcode, (char *)xcode, (char *)text);
}

static const struct steps_out cb_out = {
	out_insheader, out_delheader, out_quarantine, out_setreply,
};

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct steps_conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	switch (steps_eom(c, getsym, ctx, &cb_out, ctx)) {
	case STEPS_REJECT:
		return SMFIS_REJECT;
	case STEPS_TEMPFAIL:
		return SMFIS_TEMPFAIL;
	default:
		return SMFIS_ACCEPT;
	}
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct steps_conn *c = conn_session(ctx);

	if (c != NULL)
		steps_abort(c);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct steps_conn *c = conn_get(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	smfi_setpriv(ctx, NULL);
	steps_conn_free(&c);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_data(SMFICTX *ctx)
{
	struct steps_conn *c = conn_get(ctx);

	/* libmilter requires NOREPLY from a step agreed as such */
	return c != NULL && c->data_noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static struct smfiDesc filter = {
	.xxfi_name = "authmilter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
	.xxfi_connect = cb_connect,
	.xxfi_helo = cb_helo,
	.xxfi_envfrom = cb_envfrom,
	.xxfi_header = cb_header,
	.xxfi_eoh = cb_eoh,
	.xxfi_body = cb_body,
	.xxfi_eom = cb_eom,
	.xxfi_abort = cb_abort,
	.xxfi_close = cb_close,
	.xxfi_data = cb_data,
	.xxfi_negotiate = cb_negotiate,
};

struct smfiDesc *
callbacks_filter(void)
{
	return &filter;
}

/* steps.c speaks in the protocol's own bits (the same numbers as
 * mfdef.h's, which it does not include) */
_Static_assert(SMFIF_ADDHDRS == 0x01 && SMFIF_CHGHDRS == 0x10 &&
    SMFIF_QUARANTINE == 0x20 && SMFIP_NORCPT == 0x08 &&
    SMFIP_NR_HDR == 0x80 && SMFIP_NOUNKNOWN == 0x100 &&
    SMFIP_NR_HELO == 0x2000 && SMFIP_NR_MAIL == 0x4000 &&
    SMFIP_NR_DATA == 0x10000 && SMFIP_NR_EOH == 0x40000 &&
    SMFIP_NR_BODY == 0x80000 && SMFIP_HDR_LEADSPC == 0x100000,
    "steps.c's protocol bits");
