/*
 * callbacks.c - libmilter callbacks (see callbacks.h).
 *
 * Each callback fetches the connection's session from smfi_getpriv(),
 * copies what the MTA gave it into the session and maps the answer to an
 * sfsistat. libmilter runs callbacks on a worker pool, so one connection's
 * callbacks may run on different threads: all state is in the session.
 * Steps that need no reply are negotiated as "no reply" (SMFIP_NR_*) to
 * save round trips.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "callbacks.h"
#include "settings.h"
#include "log.h"
#include "session.h"
#include "stats.h"
#include "util.h"

static struct session_env *cb_env;
static int cb_local_socket;  /* the milter socket is a unix socket */
static struct stats_metric cb_in_flight = STATS_GAUGE("messages_in_flight",
    "Messages begun and not finished (from MAIL FROM to the end of the "
    "message or the connection)");
static struct stats_metric cb_connections = STATS_GAUGE("connections",
    "Milter connections open");
static struct stats_metric cb_connections_total = STATS_COUNTER(
    "connections_total", "Milter connections opened");
static unsigned long cb_conn_seq; /* atomic */
static int cb_stopping;      /* atomic: messages begun from now on are not waited for */

struct conn {
	struct session *s;       /* NULL until the connect step */
	unsigned long id;
	int in_message;
	struct timespec start;
	int reply_noreply;       /* the MTA agreed to the NR_* steps we asked */
	int data_noreply;        /* and to SMFIP_NR_DATA (unix sockets only) */
	int leadspc;             /* SMFIP_HDR_LEADSPC: values carry their leading space */
};

void
callbacks_init(struct session_env *env, int local_socket)
{
	cb_env = env;
	cb_local_socket = local_socket;
	stats_register(&cb_in_flight);
	stats_register(&cb_connections);
	stats_register(&cb_connections_total);
}

int
callbacks_in_flight(void)
{
	return (int)(int64_t)stats_value(&cb_in_flight);
}

int
callbacks_connections(void)
{
	return (int)(int64_t)stats_value(&cb_connections);
}

/* conn_get - the connection's data, or NULL */
static struct conn *
conn_get(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

/* conn_session - the connection with a session, or NULL (no connect step
 * was seen: the callback just lets the message pass) */
static struct conn *
conn_session(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	return c != NULL && c->s != NULL ? c : NULL;
}

/* noreply - SMFIS_NOREPLY where the MTA agreed to skip the reply */
static sfsistat
noreply(const struct conn *c)
{
	return c->reply_noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

void
callbacks_stopping(void)
{
	__atomic_store_n(&cb_stopping, 1, __ATOMIC_SEQ_CST);
}

static void
message_begin(struct conn *c)
{
	if (!c->in_message && !__atomic_load_n(&cb_stopping, __ATOMIC_SEQ_CST)) {
		c->in_message = 1;
		stats_gauge_add(&cb_in_flight, 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
}

static void
message_end(struct conn *c)
{
	if (c->in_message) {
		c->in_message = 0;
		stats_gauge_add(&cb_in_flight, -1);
	}
	session_reset(c->s);
}

static void
macro(SMFICTX *ctx, struct conn *c, const char *name)
{
	const char *v = smfi_getsymval(ctx, (char *)name);

	if (v != NULL)
		session_macro(c->s, name, v);
}

/* conn_new - the connection's private data, made at negotiation (or at
 * connect when the MTA does not negotiate) */
static struct conn *
conn_new(SMFICTX *ctx)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c != NULL) {
		c->id = __atomic_add_fetch(&cb_conn_seq, 1, __ATOMIC_SEQ_CST);
		stats_gauge_add(&cb_connections, 1);
		stats_inc(&cb_connections_total);
		smfi_setpriv(ctx, c);
	}
	return c;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	/* DATA keeps its reply over TCP: with it skipped, Postfix writes the
	 * DATA macros and the first header back to back, and its Nagle meets
	 * our delayed ACK (~40 ms per message). A unix socket has no Nagle:
	 * there the reply is one round trip per message saved (5% more
	 * messages/s in bench/milterload at 32 connections). */
	unsigned long want_nr = SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_HDR |
	    SMFIP_NR_EOH | SMFIP_NR_BODY;
	unsigned long want_data = cb_local_socket ? SMFIP_NR_DATA : 0;
	unsigned long skip = SMFIP_NORCPT | SMFIP_NOUNKNOWN;
	struct conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);

	(void)f2;
	(void)f3;
	if (c == NULL)
		return SMFIS_REJECT;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE);
	*pf1 = f1 & (skip | want_nr | want_data | SMFIP_HDR_LEADSPC);
	*pf2 = *pf3 = 0;
	c->reply_noreply = (*pf1 & want_nr) == want_nr;
	c->data_noreply = (*pf1 & SMFIP_NR_DATA) != 0;
	c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	/* ask only for the macros we use */
	smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name} {client_addr}");
	smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
	smfi_setsymlist(ctx, SMFIM_EOM, "i");
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *hostname, struct sockaddr *sa)
{
	struct settings *cfg;
	struct conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);
	char ip[INET6_ADDRSTRLEN] = "";

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	cfg = settings_get_current();
	session_free(&c->s);
	c->s = session_new(cb_env, cfg);
	settings_unref(&cfg);

	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
	session_connect(c->s, hostname, ip);
	macro(ctx, c, "{client_addr}");
	macro(ctx, c, "{daemon_name}");
	return SMFIS_CONTINUE;
}

static sfsistat
cb_helo(SMFICTX *ctx, char *helo)
{
	struct conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	session_helo(c->s, helo);
	return noreply(c);
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	message_begin(c);
	session_mail_from(c->s, argv[0]);
	macro(ctx, c, "i");
	macro(ctx, c, "{auth_authen}");
	return noreply(c);
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	session_header(c->s, name, value);
	return noreply(c);
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	session_eoh(c->s);
	return noreply(c);
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *p, size_t len)
{
	struct conn *c = conn_session(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	session_body(c->s, p, len);
	return noreply(c);
}

/* insert_field - a "Name: value" field at the top */
static void
insert_field(SMFICTX *ctx, const struct conn *c, const char *field)
{
	const char *colon = strchr(field, ':');
	char *name, *value;

	if (colon == NULL)
		return;
	name = xasprintf("%.*s", (int)(colon - field), field);
	/* the value as the verdict has it starts with the space after the
	 * colon: kept with SMFIP_HDR_LEADSPC, dropped without */
	value = xstrdup(colon + 1 + (!c->leadspc && colon[1] == ' '));
	smfi_insheader(ctx, 0, name, value);
	free(name);
	free(value);
}

/* apply - hand the verdict's edits and reply to the MTA */
static sfsistat
apply(SMFICTX *ctx, const struct conn *c, const struct session_verdict *v)
{
	/* highest index first, so the others keep their numbers whichever
	 * way the MTA counts */
	for (size_t i = v->nar_delete; i > 0; i--)
		smfi_chgheader(ctx, "Authentication-Results",
		    (int)v->ar_delete[i - 1], NULL);
	if (v->authres != NULL) {
		/* with SMFIP_HDR_LEADSPC the MTA writes the value as given */
		char *value = c->leadspc ? xasprintf(" %s", v->authres) : NULL;

		smfi_insheader(ctx, 0, "Authentication-Results",
		    value ? value : (char *)v->authres);
		free(value);
	}
	/* our ARC set above it, each at the top: ARC-Seal ends up first,
	 * then ARC-Message-Signature, ARC-Authentication-Results (RFC 8617
	 * 4.1: the newest set on top, whose AMS and AAR sign and repeat what
	 * is below them) */
	for (int i = 2; i >= 0; i--)
		if (v->arc_set[i] != NULL)
			insert_field(ctx, c, v->arc_set[i]);
	switch (v->action) {
	case SESSION_ACCEPT:
		return SMFIS_ACCEPT;
	case SESSION_QUARANTINE:
		smfi_quarantine(ctx, (char *)(v->quarantine_reason ?
		    v->quarantine_reason : "authmilter policy"));
		return SMFIS_ACCEPT;
	case SESSION_REJECT:
		smfi_setreply(ctx, (char *)v->smtp_rcode, (char *)v->smtp_xcode,
		    (char *)v->smtp_text);
		return SMFIS_REJECT;
	case SESSION_TEMPFAIL:
		smfi_setreply(ctx, (char *)v->smtp_rcode, (char *)v->smtp_xcode,
		    (char *)v->smtp_text);
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_ACCEPT;
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct conn *c = conn_session(ctx);
	const struct session_verdict *v;
	struct timespec end;
	sfsistat rc;
	double ms;

	if (c == NULL)
		return SMFIS_CONTINUE;
	macro(ctx, c, "i");
	v = session_eom(c->s);
	rc = apply(ctx, c, v);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - c->start.tv_sec) * 1e3 +
	    (double)(end.tv_nsec - c->start.tv_nsec) / 1e6;
	log_msg(LOG_INFO, "conn=%lu %s", c->id, session_log_line(c->s, ms));
	message_end(c);
	return rc;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct conn *c = conn_session(ctx);

	if (c != NULL)
		message_end(c);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct conn *c = conn_get(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	smfi_setpriv(ctx, NULL);
	if (c->in_message)
		stats_gauge_add(&cb_in_flight, -1);
	session_free(&c->s);
	free(c);
	stats_gauge_add(&cb_connections, -1);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_data(SMFICTX *ctx)
{
	struct conn *c = conn_get(ctx);

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
