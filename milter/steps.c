/*
 * steps.c - the milter's steps, for either engine (see steps.h).
 *
 * A connection's steps may run on different threads, one at a time: all
 * state is in the steps_conn and its session.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "settings.h"
#include "log.h"
#include "session.h"
#include "stats.h"
#include "steps.h"
#include "util.h"

/* the protocol bits of negotiation (mfdef.h's values: the protocol's,
 * the same for every engine) */
#define STEPS_F_ADDHDRS 0x01UL
#define STEPS_F_CHGHDRS 0x10UL
#define STEPS_F_QUARANTINE 0x20UL
#define STEPS_P_NORCPT 0x08UL
#define STEPS_P_NR_HDR 0x80UL
#define STEPS_P_NOUNKNOWN 0x100UL
#define STEPS_P_NR_HELO 0x2000UL
#define STEPS_P_NR_MAIL 0x4000UL
#define STEPS_P_NR_DATA 0x10000UL
#define STEPS_P_NR_EOH 0x40000UL
#define STEPS_P_NR_BODY 0x80000UL
#define STEPS_P_HDR_LEADSPC 0x100000UL

static struct session_env *steps_env;
static int steps_local_socket;  /* the milter socket is a unix socket */
static struct stats_metric steps_m_in_flight = STATS_GAUGE("messages_in_flight",
    "Messages begun and not finished (from MAIL FROM to the end of the "
    "message or the connection)");
static struct stats_metric steps_m_connections = STATS_GAUGE("connections",
    "Milter connections open");
static struct stats_metric steps_m_connections_total = STATS_COUNTER(
    "connections_total", "Milter connections opened");
static unsigned long steps_conn_seq; /* atomic */
static int steps_is_stopping;  /* atomic: messages begun from now on are not waited for */

void
steps_init(struct session_env *env, int local_socket)
{
	steps_env = env;
	steps_local_socket = local_socket;
	stats_register(&steps_m_in_flight);
	stats_register(&steps_m_connections);
	stats_register(&steps_m_connections_total);
}

int
steps_in_flight(void)
{
	return (int)(int64_t)stats_value(&steps_m_in_flight);
}

int
steps_connections(void)
{
	return (int)(int64_t)stats_value(&steps_m_connections);
}

void
steps_stopping(void)
{
	__atomic_store_n(&steps_is_stopping, 1, __ATOMIC_SEQ_CST);
}

static void
message_begin(struct steps_conn *c)
{
	if (!c->in_message &&
	    !__atomic_load_n(&steps_is_stopping, __ATOMIC_SEQ_CST)) {
		c->in_message = 1;
		stats_gauge_add(&steps_m_in_flight, 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &c->start);
}

static void
message_end(struct steps_conn *c)
{
	if (c->in_message) {
		c->in_message = 0;
		stats_gauge_add(&steps_m_in_flight, -1);
	}
	session_reset(c->s);
}

static void
macro(struct steps_conn *c, steps_macro_fn fn, void *arg, const char *name)
{
	const char *v = fn != NULL ? fn(arg, name) : NULL;

	if (v != NULL)
		session_macro(c->s, name, v);
}

struct steps_conn *
steps_conn_new(void)
{
	struct steps_conn *c = calloc(1, sizeof(*c));

	if (c != NULL) {
		c->id = __atomic_add_fetch(&steps_conn_seq, 1, __ATOMIC_SEQ_CST);
		stats_gauge_add(&steps_m_connections, 1);
		stats_inc(&steps_m_connections_total);
	}
	return c;
}

void
steps_conn_free(struct steps_conn **cp)
{
	struct steps_conn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->in_message)
		stats_gauge_add(&steps_m_in_flight, -1);
	session_free(&c->s);
	free(c);
	stats_gauge_add(&steps_m_connections, -1);
}

void
steps_negotiate(struct steps_conn *c, unsigned long f0, unsigned long f1,
    unsigned long *pf0, unsigned long *pf1)
{
	/* DATA keeps its reply over TCP: with it skipped, Postfix writes the
	 * DATA macros and the first header back to back, and its Nagle meets
	 * our delayed ACK (~40 ms per message). A unix socket has no Nagle:
	 * there the reply is one round trip per message saved (5% more
	 * messages/s in bench/milterload at 32 connections). */
	unsigned long want_nr = STEPS_P_NR_HELO | STEPS_P_NR_MAIL |
	    STEPS_P_NR_HDR | STEPS_P_NR_EOH | STEPS_P_NR_BODY;
	unsigned long want_data = steps_local_socket ? STEPS_P_NR_DATA : 0;
	unsigned long skip = STEPS_P_NORCPT | STEPS_P_NOUNKNOWN;

	*pf0 = f0 & (STEPS_F_ADDHDRS | STEPS_F_CHGHDRS | STEPS_F_QUARANTINE);
	*pf1 = f1 & (skip | want_nr | want_data | STEPS_P_HDR_LEADSPC);
	c->reply_noreply = (*pf1 & want_nr) == want_nr;
	c->data_noreply = (*pf1 & STEPS_P_NR_DATA) != 0;
	c->leadspc = (*pf1 & STEPS_P_HDR_LEADSPC) != 0;
}

void
steps_connect(struct steps_conn *c, const char *hostname, const char *ip,
    steps_macro_fn fn, void *arg)
{
	struct settings *cfg = settings_get_current();

	session_free(&c->s);
	c->s = session_new(steps_env, cfg);
	settings_unref(&cfg);
	session_connect(c->s, hostname, ip);
	macro(c, fn, arg, "{client_addr}");
	macro(c, fn, arg, "{daemon_name}");
}

void
steps_helo(struct steps_conn *c, const char *helo)
{
	session_helo(c->s, helo);
}

void
steps_mail_from(struct steps_conn *c, const char *arg, steps_macro_fn fn,
    void *marg)
{
	message_begin(c);
	session_mail_from(c->s, arg);
	macro(c, fn, marg, "i");
	macro(c, fn, marg, "{auth_authen}");
}

void
steps_header(struct steps_conn *c, const char *name, const char *value)
{
	session_header(c->s, name, value);
}

void
steps_eoh(struct steps_conn *c)
{
	session_eoh(c->s);
}

void
steps_body(struct steps_conn *c, const unsigned char *p, size_t len)
{
	session_body(c->s, p, len);
}

/* insert_field - a "Name: value" field at the top */
static void
insert_field(const struct steps_conn *c, const struct steps_out *out,
    void *oarg, const char *field)
{
	const char *colon = strchr(field, ':');
	char *name;

	if (colon == NULL)
		return;
	name = xasprintf("%.*s", (int)(colon - field), field);
	/* the value as the verdict has it starts with the space after the
	 * colon: kept with SMFIP_HDR_LEADSPC, dropped without */
	out->insheader(oarg, name, colon + 1 + (!c->leadspc && colon[1] == ' '));
	free(name);
}

/* apply - hand the verdict's edits and reply to the engine */
static enum steps_reply
apply(const struct steps_conn *c, const struct session_verdict *v,
    const struct steps_out *out, void *oarg)
{
	/* highest index first, so the others keep their numbers whichever
	 * way the MTA counts */
	for (size_t i = v->nar_delete; i > 0; i--)
		out->delheader(oarg, "Authentication-Results",
		    (int)v->ar_delete[i - 1]);
	if (v->authres != NULL) {
		/* with SMFIP_HDR_LEADSPC the MTA writes the value as given */
		char *value = c->leadspc ? xasprintf(" %s", v->authres) : NULL;

		out->insheader(oarg, "Authentication-Results",
		    value ? value : v->authres);
		free(value);
	}
	/* our ARC set above it, each at the top: ARC-Seal ends up first,
	 * then ARC-Message-Signature, ARC-Authentication-Results (RFC 8617
	 * 4.1: the newest set on top, whose AMS and AAR sign and repeat what
	 * is below them) */
	for (int i = 2; i >= 0; i--)
		if (v->arc_set[i] != NULL)
			insert_field(c, out, oarg, v->arc_set[i]);
	switch (v->action) {
	case SESSION_ACCEPT:
		return STEPS_ACCEPT;
	case SESSION_QUARANTINE:
		out->quarantine(oarg, v->quarantine_reason ?
		    v->quarantine_reason : "authmilter policy");
		return STEPS_ACCEPT;
	case SESSION_REJECT:
		out->setreply(oarg, v->smtp_rcode, v->smtp_xcode, v->smtp_text);
		return STEPS_REJECT;
	case SESSION_TEMPFAIL:
		out->setreply(oarg, v->smtp_rcode, v->smtp_xcode, v->smtp_text);
		return STEPS_TEMPFAIL;
	}
	return STEPS_ACCEPT;
}

enum steps_reply
steps_eom(struct steps_conn *c, steps_macro_fn fn, void *marg,
    const struct steps_out *out, void *oarg)
{
	const struct session_verdict *v;
	struct timespec end;
	enum steps_reply rc;
	double ms;

	macro(c, fn, marg, "i");
	v = session_eom(c->s);
	rc = apply(c, v, out, oarg);
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - c->start.tv_sec) * 1e3 +
	    (double)(end.tv_nsec - c->start.tv_nsec) / 1e6;
	log_msg(LOG_INFO, "conn=%lu %s", c->id, session_log_line(c->s, ms));
	message_end(c);
	return rc;
}

void
steps_abort(struct steps_conn *c)
{
	message_end(c);
}
