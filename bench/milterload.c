/*
 * milterload.c - a load generator that plays the MTA side of the milter
 * protocol (version 6) the way Postfix 3.7 does, against one milter or a
 * chain of them (smtpd_milters = m1, m2, ...), and measures throughput
 * and per-message latency.
 *
 *   milterload -s SPEC[,SPEC...] [-c CONC] [-m MSGS_PER_CONN] [-n TOTAL]
 *              -i CORPUS.tsv [-o RESULTS.tsv] [-t TIMEOUT_S] [-q]
 *              [--nodelay] [--bufsize BYTES] [--detail] [--group]
 *
 * What is modelled on Postfix (src/milter/milter8.c, src/smtpd/smtpd.c):
 * - one milter connection per SMTP session and milter: negotiate (offering
 *   every SMFIF_ action and every SMFIP_ bit), connect and HELO once, then
 *   up to MSGS_PER_CONN transactions; a session carries only messages with
 *   the same client address, HELO name and SASL user (the milter learns
 *   them once per session, as in SMTP), so a corpus that changes client
 *   every row opens a session per message. --group plays the corpus in
 *   the order of those session keys (stable: corpus order within a key)
 *   and gives each connection MSGS_PER_CONN consecutive messages, so a
 *   session carries -m messages except where the key changes (the summary
 *   line's sessions= says how many there were).
 * - envelope events (connect, HELO, MAIL, RCPT, DATA) go to milter 1, then
 *   milter 2, ... per event; the content (headers, EOH, body in chunks of
 *   at most 65535 bytes, EOB) goes to each milter in turn, with the header
 *   edits of the earlier ones applied (a later milter sees their headers).
 *   Reject, tempfail or discard from any milter ends the message there.
 * - macros with every event, even one the milter asked to skip (its
 *   "no connect" etc. flags); none with a content event it skips; every
 *   "no reply" flag honoured; one space after the colon removed unless the
 *   milter agreed to SMFIP_HDR_LEADSPC; SMFIR_SKIP honoured.
 * - after each transaction, completed or not, SMFIC_ABORT (smtpd's
 *   mail_reset() calls milter_abort()), and SMFIC_QUIT at the end.
 * - output buffering like Postfix's VSTREAM: packets are appended to a
 *   buffer that is written only when full or before waiting for a reply.
 *   The buffer is 4096 bytes (VSTREAM_BUFSIZE) for unix sockets and twice
 *   the TCP MSS for inet ones (vstream_tweak_tcp()). TCP_NODELAY is not
 *   set, as in Postfix; --nodelay sets it. So an ABORT and the next MAIL
 *   travel in one write, and all headers, body and EOB in one or a few.
 *
 * Latency is from the first byte of the MAIL event to the final reply of
 * the last milter that saw the message (CLOCK_MONOTONIC); sess_p50/p99_ms
 * from before connect() to it, for a session's first message (the wait for
 * accept(), negotiation, CONNECT, HELO included). The summary line
 * goes to stdout; errors go to stderr (the first 20, unless -q).
 *
 * Exit: 0 the run completed (errors are counted), 1 nothing could connect,
 * 2 usage or corpus error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfdef.h>

#include "milterload-corpus.h"
#include "milterload.h"
#include "util.h"

#define MAX_PKT		(4u * 1024 * 1024)	/* longest reply we accept */
#define MAX_EDITS	10000			/* edits per message and milter */
#define MAX_ERR_SHOWN	20
#define IBUF_SIZE	65536
#define VSTREAM_BUFSIZE	4096			/* Postfix's default */

/* milter connection state, after milter8.c's MILTER8_STAT_* */
enum cstate {
	CS_CLOSED,
	CS_READY,	/* negotiated, no connect event yet */
	CS_ENVELOPE,	/* in the session, between or in transactions */
	CS_MESSAGE,	/* content being sent */
	CS_ACCEPT_MSG,	/* accepted this message: no more events for it */
	CS_ACCEPT_CON,	/* accepted the session: closed, no more events */
	CS_REJECT_CON	/* rejected the session: closed, every message gets
			 * conn_reply */
};

enum verdict { V_NONE, V_ACCEPT, V_REJECT, V_TEMPFAIL, V_DISCARD,
	V_QUARANTINE, V_ERROR, V_COUNT };
static const char *const verdict_name[V_COUNT] = {
	"-", "accept", "reject", "tempfail", "discard", "quarantine", "error"
};

struct run {
	struct opts o;
	struct ml_corpus corpus;
	size_t *order;			/* play order of the corpus */
	unsigned long long next;	/* next message number (atomic) */
	unsigned long long qbase;	/* queue id base */
	FILE *out;
	pthread_mutex_t out_lock;
	unsigned long long *hist;	/* H_BUCKETS, atomic */
	unsigned long long *shist;	/* the same, of session latencies */
	unsigned err_shown;		/* atomic */
};

struct stats {
	unsigned long long count[V_COUNT];
	unsigned long long sessions, connected, lat_n, slat_n;
	uint64_t max_ns;
};

/* bytes being built into one packet's data */
struct bbuf {
	unsigned char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	enum cstate state;
	const struct spec *spec;
	uint32_t version, actions, proto;
	char skip_event;		/* after SMFIR_SKIP: skip this event */
	unsigned char *obuf;
	size_t olen, ocap;
	unsigned char *ibuf;
	size_t ipos, ilen;
	unsigned char *pkt;		/* last reply's data (NUL after it) */
	size_t pktlen, pktcap;
	char cmd;			/* last reply's command */
	enum verdict conn_verdict;	/* CS_REJECT_CON */
	char conn_reply[512];
};

struct session {
	struct run *r;
	struct conn c[MAX_SPECS];
	size_t n;
	int open;
	int close_after;		/* a 421 or connection failure reply */
	unsigned long msgs;
	const char *client_ip, *helo, *auth;	/* what the session is */
	struct bbuf b;			/* macro packet scratch */
	struct bbuf d;			/* event packet scratch */
	unsigned port;
};

/* one header of the message being passed down the chain; value is the
 * raw text after the colon */
struct hdr {
	const char *name;
	const char *value;
};

struct result {
	enum verdict v;
	char reply[512];
	struct dynbuf quarantine, ar, edits, err;
	enum verdict mv[MAX_SPECS];
	double ms;
	int done;			/* final verdict reached */
};

struct msgctx {
	struct session *s;
	const struct ml_msg *m;
	struct result *res;
	struct arena *arena;
	struct hdr *h;
	size_t nh, hcap;
	char qid[16];
};

/* ---- small helpers --------------------------------------------------- */

static void
bb_reset(struct bbuf *b)
{
	b->len = 0;
}

static void
bb_mem(struct bbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
bb_str(struct bbuf *b, const char *s)
{
	bb_mem(b, s, strlen(s) + 1);
}

static void
bb_byte(struct bbuf *b, unsigned char c)
{
	bb_mem(b, &c, 1);
}

static void
bb_u32(struct bbuf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

	bb_mem(b, x, 4);
}

static void
bb_u16(struct bbuf *b, unsigned v)
{
	unsigned char x[2] = { (v >> 8) & 0xff, v & 0xff };

	bb_mem(b, x, 2);
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* tsv_field - append s with tabs, CR and LF made spaces (folded values come
 * out unfolded) */
static void
tsv_field(struct dynbuf *d, const char *s)
{
	char tmp[256];
	size_t n = 0;

	for (; *s; s++) {
		char ch = *s;

		if (ch == '\r' || ch == '\n')
			continue;
		tmp[n++] = ch == '\t' ? ' ' : ch;
		if (n == sizeof(tmp)) {
			dynbuf_append(d, tmp, n);
			n = 0;
		}
	}
	dynbuf_append(d, tmp, n);
}

/* unfold - value with CR/LF dropped, tabs as spaces, outer space trimmed */
static void
append_unfolded(struct dynbuf *d, const char *v)
{
	struct dynbuf t;
	size_t a = 0, b;

	dynbuf_init(&t, ML_MAX_HDR);
	tsv_field(&t, v);
	if (t.s == NULL) {
		dynbuf_free(&t);
		return;
	}
	b = t.len;
	while (a < b && t.s[a] == ' ')
		a++;
	while (b > a && t.s[b - 1] == ' ')
		b--;
	dynbuf_append(d, t.s + a, b - a);
	dynbuf_free(&t);
}

static void
result_err(struct msgctx *x, size_t mi, const char *what, const char *why)
{
	struct result *res = x->res;

	res->v = V_ERROR;
	res->done = 1;
	if (mi < MAX_SPECS)
		res->mv[mi] = V_ERROR;
	if (res->err.len == 0)
		dynbuf_printf(&res->err, "milter %zu (%s): %s: %s", mi + 1,
		    x->s->c[mi].spec->text, what, why);
}

/* ---- buffered I/O, like a double-buffered VSTREAM --------------------- */

static int
out_flush(struct conn *c, char *why, size_t whylen)
{
	size_t off = 0;

	while (off < c->olen) {
		ssize_t w = send(c->fd, c->obuf + off, c->olen - off,
		    MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "write: %s",
			    errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	c->olen = 0;
	return 0;
}

/* out_put - append to the output buffer, writing it out when full (before
 * the byte that does not fit, as vbuf_write() does) */
static int
out_put(struct conn *c, const void *p, size_t n, char *why, size_t whylen)
{
	const unsigned char *s = p;

	while (n > 0) {
		size_t room;

		if (c->olen == c->ocap && out_flush(c, why, whylen) < 0)
			return -1;
		room = c->ocap - c->olen;
		if (room > n)
			room = n;
		memcpy(c->obuf + c->olen, s, room);
		c->olen += room;
		s += room;
		n -= room;
	}
	return 0;
}

static int
send_pkt(struct conn *c, char cmd, const void *data, size_t len, char *why,
    size_t whylen)
{
	unsigned char h[5];
	uint32_t n = (uint32_t)len + 1;

	h[0] = n >> 24;
	h[1] = n >> 16;
	h[2] = n >> 8;
	h[3] = n;
	h[4] = (unsigned char)cmd;
	if (out_put(c, h, 5, why, whylen) < 0)
		return -1;
	return len ? out_put(c, data, len, why, whylen) : 0;
}

static int
in_read(struct conn *c, void *dst, size_t n, char *why, size_t whylen)
{
	unsigned char *d = dst;

	while (n > 0) {
		size_t k;

		if (c->ipos == c->ilen) {
			ssize_t got = recv(c->fd, c->ibuf, IBUF_SIZE, 0);

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				snprintf(why, whylen, "read: %s",
				    errno == EAGAIN ? "timed out" :
				    strerror(errno));
				return -1;
			}
			if (got == 0) {
				snprintf(why, whylen,
				    "the milter closed the connection");
				return -1;
			}
			c->ipos = 0;
			c->ilen = (size_t)got;
		}
		k = c->ilen - c->ipos;
		if (k > n)
			k = n;
		memcpy(d, c->ibuf + c->ipos, k);
		c->ipos += k;
		d += k;
		n -= k;
	}
	return 0;
}

/* read_reply - flush what is pending, then read one reply packet into
 * c->cmd, c->pkt (NUL-terminated), c->pktlen; 0 or -1 with why set */
static int
read_reply(struct conn *c, char *why, size_t whylen)
{
	unsigned char h[4];
	uint32_t n;

	if (c->olen && out_flush(c, why, whylen) < 0)
		return -1;
	if (in_read(c, h, 4, why, whylen) < 0)
		return -1;
	n = get_u32(h);
	if (n < 1 || n > MAX_PKT) {
		snprintf(why, whylen, "bad reply length %lu", (unsigned long)n);
		return -1;
	}
	if (in_read(c, h, 1, why, whylen) < 0)
		return -1;
	c->cmd = (char)h[0];
	c->pktlen = n - 1;
	if (c->pktlen + 1 > c->pktcap) {
		c->pktcap = c->pktlen + 1 > 4096 ? c->pktlen + 1 : 4096;
		c->pkt = xrealloc(c->pkt, c->pktcap);
	}
	if (c->pktlen && in_read(c, c->pkt, c->pktlen, why, whylen) < 0)
		return -1;
	c->pkt[c->pktlen] = '\0';
	return 0;
}

/* ---- connections ------------------------------------------------------ */

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CS_CLOSED;
	c->olen = c->ipos = c->ilen = 0;
	c->skip_event = 0;
}

static int
set_timeouts(int fd, unsigned long secs)
{
	struct timeval tv = { .tv_sec = (time_t)secs, .tv_usec = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/* conn_open - connect and negotiate; 0, or -1 with why set */
static int
conn_open(struct conn *c, const struct spec *sp, const struct opts *o,
    struct bbuf *b, char *why, size_t whylen)
{
	struct pollfd pfd;
	int fd, soerr = 0, flags;
	socklen_t len = sizeof(soerr);
	size_t bufsize = VSTREAM_BUFSIZE;
	uint32_t mver, offered = SMFI_CURR_PROT;

	c->spec = sp;
	/* inet: a non-blocking connect bounded by poll(); unix: a blocking
	 * one bounded by SO_SNDTIMEO (EAGAIN there means a full backlog) */
	fd = socket(sp->family, SOCK_STREAM | SOCK_CLOEXEC |
	    (sp->family == AF_UNIX ? 0 : SOCK_NONBLOCK), 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	c->fd = fd;
	if (sp->family == AF_UNIX && set_timeouts(fd, o->timeout_s) < 0) {
		snprintf(why, whylen, "socket setup: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (const struct sockaddr *)&sp->sa, sp->salen) < 0) {
		if (sp->family == AF_UNIX) {
			snprintf(why, whylen, "connect: %s", errno == EAGAIN ?
			    "timed out" : strerror(errno));
			goto fail;
		}
		if (errno != EINPROGRESS && errno != EAGAIN) {
			snprintf(why, whylen, "connect: %s", strerror(errno));
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)o->timeout_s * 1000) != 1) {
			snprintf(why, whylen, "connect: timed out");
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
		    soerr != 0) {
			snprintf(why, whylen, "connect: %s",
			    strerror(soerr ? soerr : errno));
			goto fail;
		}
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    set_timeouts(fd, o->timeout_s) < 0) {
		snprintf(why, whylen, "socket setup: %s", strerror(errno));
		goto fail;
	}
	if (sp->family != AF_UNIX) {
		int mss = 0, one = 1;
		socklen_t ml = sizeof(mss);

		/* Postfix's vstream_tweak_tcp(): a buffer of twice the MSS
		 * when the MSS is over half the default buffer */
		if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml) == 0 &&
		    mss > VSTREAM_BUFSIZE / 2)
			bufsize = 2 * (size_t)mss;
		if (o->nodelay)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
	}
	if (o->bufsize)
		bufsize = o->bufsize;
	if (c->ocap != bufsize) {
		c->obuf = xrealloc(c->obuf, bufsize);
		c->ocap = bufsize;
	}
	if (c->ibuf == NULL)
		c->ibuf = xmalloc(IBUF_SIZE);
	c->olen = c->ipos = c->ilen = 0;
	c->skip_event = 0;

	bb_reset(b);
	bb_u32(b, SMFI_PROT_VERSION);
	bb_u32(b, SMFI_CURR_ACTS);
	bb_u32(b, offered);
	if (send_pkt(c, SMFIC_OPTNEG, b->p, b->len, why, whylen) < 0 ||
	    read_reply(c, why, whylen) < 0)
		goto fail;
	if (c->cmd != SMFIC_OPTNEG || c->pktlen < MILTER_OPTLEN) {
		snprintf(why, whylen, "negotiation: reply '%c' of %zu bytes",
		    c->cmd, c->pktlen);
		goto fail;
	}
	mver = get_u32(c->pkt);
	if (mver < 2 || mver > SMFI_PROT_VERSION) {
		snprintf(why, whylen, "negotiation: protocol version %lu",
		    (unsigned long)mver);
		goto fail;
	}
	/* any SMFIR_SETSYMLIST lists after the 12 bytes are ignored: every
	 * macro is sent */
	c->version = mver;
	c->actions = get_u32(c->pkt + 4) & SMFI_CURR_ACTS;
	c->proto = get_u32(c->pkt + 8) & offered;
	c->state = CS_READY;
	return 0;
fail:
	conn_close(c);
	return -1;
}

/* ---- events ----------------------------------------------------------- */

/* macros - send an SMFIC_MACRO packet for stage; kv holds name, value
 * pairs and ends with NULL; pairs with a NULL value are left out */
static int
macros(struct session *s, struct conn *c, char stage, const char *const *kv,
    char *why, size_t whylen)
{
	struct bbuf *b = &s->b;
	size_t i, n = 0;

	bb_reset(b);
	bb_byte(b, (unsigned char)stage);
	for (i = 0; kv[i] != NULL; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		bb_str(b, kv[i]);
		bb_str(b, kv[i + 1]);
		n++;
	}
	if (n == 0)
		return 0;
	return send_pkt(c, SMFIC_MACRO, b->p, b->len, why, whylen);
}

/* event - one step, as milter8_event(): its macros, then the event unless
 * the milter asked to skip it (noflag) or to skip the rest of this event
 * type, then its reply unless none is due (nrflag). Returns the reply
 * command, 0 when there is none, or -1 (why set). Progress replies are
 * read through. */
static int
event(struct session *s, struct conn *c, char ev, uint32_t noflag,
    uint32_t nrflag, const char *const *kv, const void *data, size_t len,
    char *why, size_t whylen)
{
	if (c->skip_event != 0) {
		if (c->skip_event == ev)
			return 0;
		c->skip_event = 0;
	}
	if (kv != NULL && macros(s, c, ev, kv, why, whylen) < 0)
		return -1;
	if (noflag && (c->proto & noflag))
		return 0;
	if (send_pkt(c, ev, data, len, why, whylen) < 0)
		return -1;
	if (nrflag && (c->proto & nrflag))
		return 0;
	do {
		if (read_reply(c, why, whylen) < 0)
			return -1;
	} while (c->cmd == SMFIR_PROGRESS);
	return (unsigned char)c->cmd;
}

/* decision - the verdict and SMTP reply a decision stands for (milter8.c's defaults
 * for reject and tempfail; the milter's own text for SMFIR_REPLYCODE) */
static enum verdict
decision(struct conn *c, int cmd, char *reply, size_t replylen)
{
	switch (cmd) {
	case SMFIR_REJECT:
		str_copy(reply, "550 5.7.1 Command rejected", replylen);
		return V_REJECT;
	case SMFIR_TEMPFAIL:
		str_copy(reply, "451 4.7.1 Service unavailable - try again later",
		    replylen);
		return V_TEMPFAIL;
	case SMFIR_DISCARD:
		reply[0] = '\0';
		return V_DISCARD;
	case SMFIR_SHUTDOWN:
		str_copy(reply, "421 4.7.0 Server closing connection", replylen);
		return V_TEMPFAIL;
	case SMFIR_CONN_FAIL:
		str_copy(reply, "421 4.7.0 Connection failure", replylen);
		return V_TEMPFAIL;
	case SMFIR_REPLYCODE:
		str_copy(reply, (const char *)c->pkt, replylen);
		if (reply[0] == '5')
			return V_REJECT;
		if (reply[0] == '4')
			return V_TEMPFAIL;
		return V_ACCEPT;	/* not a 4xx or 5xx: no effect */
	default:
		reply[0] = '\0';
		return V_NONE;
	}
}

static int
is_final(int cmd)
{
	return cmd == SMFIR_REJECT || cmd == SMFIR_TEMPFAIL ||
	    cmd == SMFIR_DISCARD || cmd == SMFIR_REPLYCODE ||
	    cmd == SMFIR_SHUTDOWN || cmd == SMFIR_CONN_FAIL;
}

/* finish - record a milter's final decision as the message's */
static void
finish(struct msgctx *x, size_t mi, int cmd)
{
	struct result *res = x->res;
	struct conn *c = &x->s->c[mi];
	enum verdict v = decision(c, cmd, res->reply, sizeof(res->reply));

	if (cmd == SMFIR_SHUTDOWN || cmd == SMFIR_CONN_FAIL)
		x->s->close_after = 1;
	if (v == V_ACCEPT) {		/* a 2xx/3xx reply code: as continue */
		res->reply[0] = '\0';
		return;
	}
	res->mv[mi] = v;
	res->v = v;
	res->done = 1;
}

/* envelope_reply - handle a reply to connect/HELO/MAIL/RCPT/DATA or a
 * content step other than EOB; returns 1 when the message is decided, 0 to
 * go on, -1 on a protocol error */
static int
step_reply(struct msgctx *x, size_t mi, int cmd, char ev, int in_connect)
{
	struct conn *c = &x->s->c[mi];
	char why[64];

	switch (cmd) {
	case 0:
	case SMFIR_CONTINUE:
		return 0;
	case SMFIR_ACCEPT:
		x->res->mv[mi] = V_ACCEPT;
		c->state = in_connect ? CS_ACCEPT_CON : CS_ACCEPT_MSG;
		return 0;
	case SMFIR_SKIP:
		if (c->proto & SMFIP_SKIP)
			c->skip_event = ev;
		return 0;
	case SMFIR_DISCARD:
		if (in_connect)		/* Postfix: not allowed, ignored */
			return 0;
		finish(x, mi, cmd);
		return 1;
	default:
		if (is_final(cmd)) {
			finish(x, mi, cmd);
			return x->res->done;
		}
		snprintf(why, sizeof(why), "unexpected reply '%c' (0x%02x)",
		    cmd > 32 && cmd < 127 ? cmd : '?', cmd & 0xff);
		result_err(x, mi, "reply", why);
		return -1;
	}
}

/* ---- header edits ----------------------------------------------------- */

/* edit_strings - name and value of an edit packet's data after skip
 * bytes; -1 when they are not two NUL-terminated strings */
static int
edit_strings(const struct conn *c, size_t skip, const char **name,
    const char **value)
{
	const char *p = (const char *)c->pkt + skip, *nul;
	size_t n;

	if (c->pktlen < skip + 2)
		return -1;
	n = c->pktlen - skip;
	if ((nul = memchr(p, '\0', n)) == NULL || nul == p)
		return -1;
	*name = p;
	*value = nul + 1;
	/* the value must end inside the packet (pkt has a NUL after it) */
	if ((size_t)(nul + 1 - p) > n)
		return -1;
	return 0;
}

static void
hdr_insert(struct msgctx *x, size_t at, const char *name, const char *value)
{
	if (x->nh == x->hcap) {
		x->hcap = x->hcap ? x->hcap * 2 : 16;
		x->h = xrealloc(x->h, x->hcap * sizeof(*x->h));
	}
	if (at > x->nh)
		at = x->nh;
	memmove(x->h + at + 1, x->h + at, (x->nh - at) * sizeof(*x->h));
	x->h[at].name = name;
	x->h[at].value = value;
	x->nh++;
}

/* apply_edit - apply one header edit reply to the message passed on, and
 * record it; -1 on a malformed packet */
static int
apply_edit(struct msgctx *x, size_t mi, struct conn *c)
{
	struct result *res = x->res;
	const char *name, *value, *raw;
	uint32_t idx = 0;
	size_t i, seen = 0;
	int ar;

	if (c->cmd == SMFIR_ADDHEADER) {
		if (edit_strings(c, 0, &name, &value) < 0)
			return -1;
	} else {
		if (c->pktlen < 4 || edit_strings(c, 4, &name, &value) < 0)
			return -1;
		idx = get_u32(c->pkt);
	}
	/* stored as Postfix's cleanup stores it: "name:" + " " unless the
	 * milter agreed to HDR_LEADSPC + value */
	raw = (c->proto & SMFIP_HDR_LEADSPC) ? arena_strdup(x->arena, value) :
	    arena_printf(x->arena, " %s", value);
	name = arena_strdup(x->arena, name);
	ar = strcasecmp(name, "Authentication-Results") == 0;
	if (res->edits.len)
		dynbuf_puts(&res->edits, ",");
	switch (c->cmd) {
	case SMFIR_ADDHEADER:
		hdr_insert(x, x->nh, name, raw);
		dynbuf_printf(&res->edits, "%zu:add:", mi + 1);
		break;
	case SMFIR_INSHEADER:
		hdr_insert(x, idx, name, raw);
		dynbuf_printf(&res->edits, "%zu:ins@%lu:", mi + 1,
		    (unsigned long)idx);
		break;
	default:		/* SMFIR_CHGHEADER: idx-th (from 1) of name */
		if (idx == 0)
			idx = 1;
		for (i = 0; i < x->nh; i++)
			if (strcasecmp(x->h[i].name, name) == 0 &&
			    ++seen == idx)
				break;
		if (*value == '\0') {
			ar = 0;
			if (i < x->nh) {
				memmove(x->h + i, x->h + i + 1,
				    (x->nh - i - 1) * sizeof(*x->h));
				x->nh--;
			}
			dynbuf_printf(&res->edits, "%zu:del#%lu:", mi + 1,
			    (unsigned long)idx);
		} else {
			if (i < x->nh)
				x->h[i].value = raw;
			else	/* no such occurrence: added (libmilter) */
				hdr_insert(x, x->nh, name, raw);
			dynbuf_printf(&res->edits, "%zu:chg#%lu:", mi + 1,
			    (unsigned long)idx);
		}
		break;
	}
	tsv_field(&res->edits, name);
	if (ar) {
		if (res->ar.len)
			dynbuf_puts(&res->ar, " | ");
		append_unfolded(&res->ar, value);
	}
	return 0;
}

/* ---- one message through the chain -------------------------------------- */

static int
env_active(const struct conn *c)
{
	return c->state == CS_ENVELOPE;
}

/* envelope_event - send one envelope event to each milter in turn, as
 * milter.c's milter_*_event(): stops at the first decision. Returns 1 when
 * the message is decided, 0 to go on, -1 on error */
static int
envelope_event(struct msgctx *x, char ev, uint32_t noflag, uint32_t nrflag,
    const char *const *kv, const void *data, size_t len, int in_connect)
{
	struct session *s = x->s;
	char why[256];
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct conn *c = &s->c[i];
		int cmd, rc;

		if (!env_active(c))
			continue;
		cmd = event(s, c, ev, noflag, nrflag, kv, data, len, why,
		    sizeof(why));
		if (cmd < 0) {
			result_err(x, i, "event", why);
			return -1;
		}
		if ((rc = step_reply(x, i, cmd, ev, in_connect)) != 0)
			return rc;
		if (c->state == CS_ACCEPT_CON) {
			conn_close(c);	/* Postfix closes it (libmilter would) */
			c->state = CS_ACCEPT_CON;
		}
	}
	return 0;
}

/* eom - read the replies to EOB: header edits and quarantine, then the
 * decision. Returns 1 when the message is decided, 0 to go on, -1 */
static int
eom(struct msgctx *x, size_t mi, struct conn *c)
{
	char why[256];
	unsigned edits = 0;

	for (;;) {
		if (read_reply(c, why, sizeof(why)) < 0) {
			result_err(x, mi, "end of message", why);
			return -1;
		}
		switch (c->cmd) {
		case SMFIR_PROGRESS:
			continue;
		case SMFIR_ADDHEADER:
		case SMFIR_INSHEADER:
		case SMFIR_CHGHEADER:
			if (++edits > MAX_EDITS) {
				result_err(x, mi, "end of message",
				    "too many header edits");
				return -1;
			}
			if (apply_edit(x, mi, c) < 0) {
				result_err(x, mi, "end of message",
				    "malformed header edit");
				return -1;
			}
			continue;
		case SMFIR_QUARANTINE:
			if (x->res->quarantine.len)
				dynbuf_puts(&x->res->quarantine, "; ");
			tsv_field(&x->res->quarantine, (const char *)c->pkt);
			continue;
		case SMFIR_ADDRCPT:
		case SMFIR_DELRCPT:
		case SMFIR_ADDRCPT_PAR:
		case SMFIR_CHGFROM:
		case SMFIR_REPLBODY:
			continue;	/* envelope and body edits: not modelled */
		case SMFIR_CONTINUE:
		case SMFIR_ACCEPT:
			x->res->mv[mi] = V_ACCEPT;
			return 0;
		default:
			if (is_final(c->cmd)) {
				finish(x, mi, c->cmd);
				if (!x->res->done)
					x->res->mv[mi] = V_ACCEPT;
				return x->res->done;
			}
			snprintf(why, sizeof(why),
			    "unexpected reply '%c' (0x%02x)",
			    c->cmd > 32 && c->cmd < 127 ? c->cmd : '?',
			    c->cmd & 0xff);
			result_err(x, mi, "end of message", why);
			return -1;
		}
	}
}

/* content - headers, EOH, body and EOB to milter mi, as milter8_message().
 * Returns 1 when the message is decided, 0 to go on, -1 on error */
static int
content(struct msgctx *x, size_t mi)
{
	struct session *s = x->s;
	struct conn *c = &s->c[mi];
	const struct ml_msg *m = x->m;
	const char *eo_kv[] = { "i", x->qid, NULL };
	char why[256];
	size_t i, off;
	int cmd, rc;

	c->state = CS_MESSAGE;
	if (!(c->proto & SMFIP_NOHDRS)) {
		for (i = 0; i < x->nh && c->state == CS_MESSAGE; i++) {
			const char *v = x->h[i].value;

			/* Sendmail eats one space (not tab) after the colon */
			if (!(c->proto & SMFIP_HDR_LEADSPC) && *v == ' ')
				v++;
			bb_reset(&s->d);
			bb_str(&s->d, x->h[i].name);
			bb_str(&s->d, v);
			cmd = event(s, c, SMFIC_HEADER, 0, SMFIP_NR_HDR, eo_kv,
			    s->d.p, s->d.len, why, sizeof(why));
			if (cmd < 0)
				goto ioerr;
			if ((rc = step_reply(x, mi, cmd, SMFIC_HEADER, 0)) != 0)
				return rc;
		}
	}
	if (c->state == CS_MESSAGE && !(c->proto & SMFIP_NOEOH)) {
		cmd = event(s, c, SMFIC_EOH, 0, SMFIP_NR_EOH, eo_kv, NULL, 0,
		    why, sizeof(why));
		if (cmd < 0)
			goto ioerr;
		if ((rc = step_reply(x, mi, cmd, SMFIC_EOH, 0)) != 0)
			return rc;
	}
	if (!(c->proto & SMFIP_NOBODY)) {
		for (off = 0; off < m->bodylen && c->state == CS_MESSAGE;
		    off += MILTER_CHUNK_SIZE) {
			size_t n = m->bodylen - off;

			if (n > MILTER_CHUNK_SIZE)
				n = MILTER_CHUNK_SIZE;
			cmd = event(s, c, SMFIC_BODY, 0, SMFIP_NR_BODY, eo_kv,
			    m->body + off, n, why, sizeof(why));
			if (cmd < 0)
				goto ioerr;
			if ((rc = step_reply(x, mi, cmd, SMFIC_BODY, 0)) != 0)
				return rc;
		}
	}
	if (c->state != CS_MESSAGE)	/* accepted before the end */
		return 0;
	c->skip_event = 0;
	if (macros(s, c, SMFIC_BODYEOB, eo_kv, why, sizeof(why)) < 0 ||
	    send_pkt(c, SMFIC_BODYEOB, NULL, 0, why, sizeof(why)) < 0)
		goto ioerr;
	return eom(x, mi, c);
ioerr:
	result_err(x, mi, "content", why);
	return -1;
}

/* run_message - one transaction through the chain; the verdict and the
 * rest go to x->res. Returns -1 when the session must be dropped */
static int
run_message(struct msgctx *x)
{
	struct session *s = x->s;
	const struct ml_msg *m = x->m;
	struct result *res = x->res;
	char from[1024], rcpt[1024], why[256];
	const char *auth = m->auth_user[0] ? m->auth_user : NULL;
	const char *mail_kv[] = { "i", x->qid, "{mail_addr}",
		m->mail_from[0] ? m->mail_from : NULL, "{auth_type}",
		auth ? "PLAIN" : NULL, "{auth_authen}", auth, NULL };
	const char *data_kv[] = { "i", x->qid, NULL };
	uint64_t t0 = now_ns();
	size_t i, r, accepted = 0;
	enum verdict rcpt_v = V_NONE;
	char rcpt_reply[sizeof(res->reply)];
	int rc = 0, in_mail = 0;

	for (i = 0; i < s->n; i++) {
		if (s->c[i].state == CS_REJECT_CON) {
			res->v = res->mv[i] = s->c[i].conn_verdict;
			str_copy(res->reply, s->c[i].conn_reply,
			    sizeof(res->reply));
			res->done = 1;
			goto out;
		}
		if (s->c[i].state == CS_ACCEPT_CON)
			res->mv[i] = V_ACCEPT;
	}
	snprintf(from, sizeof(from), "<%s>", m->mail_from);
	rc = envelope_event(x, SMFIC_MAIL, SMFIP_NOMAIL, SMFIP_NR_MAIL, mail_kv,
	    from, strlen(from) + 1, 0);
	if (rc != 0)
		goto out;
	in_mail = 1;		/* smtpd has a sender: mail_reset() aborts */
	/* RCPT: a rejected recipient is dropped; a message left with none is
	 * rejected with the last recipient's reply */
	for (r = 0; r < m->nrcpt; r++) {
		const char *rcpt_kv[] = { "i", x->qid, "{rcpt_addr}",
			m->rcpts[r], NULL };

		snprintf(rcpt, sizeof(rcpt), "<%s>", m->rcpts[r]);
		rc = envelope_event(x, SMFIC_RCPT, SMFIP_NORCPT, SMFIP_NR_RCPT,
		    rcpt_kv, rcpt, strlen(rcpt) + 1, 0);
		if (rc < 0)
			goto out;
		if (rc == 1 && res->v == V_DISCARD)
			goto out;
		if (rc == 1) {		/* this recipient only */
			rcpt_v = res->v;
			str_copy(rcpt_reply, res->reply, sizeof(rcpt_reply));
			res->v = V_NONE;
			res->reply[0] = '\0';
			res->done = 0;
			continue;
		}
		accepted++;
	}
	if (accepted == 0) {
		res->v = rcpt_v;
		str_copy(res->reply, rcpt_reply, sizeof(res->reply));
		res->done = 1;
		rc = 1;
		goto out;
	}
	for (i = 0; i < s->n; i++)	/* a recipient's rejection only */
		if (res->mv[i] == V_REJECT || res->mv[i] == V_TEMPFAIL)
			res->mv[i] = V_NONE;
	rc = envelope_event(x, SMFIC_DATA, SMFIP_NODATA, SMFIP_NR_DATA, data_kv,
	    NULL, 0, 0);
	if (rc != 0)
		goto out;
	/* content: each milter in turn, on the message as edited so far */
	x->nh = 0;
	for (i = 0; i < m->nhdrs; i++)
		hdr_insert(x, x->nh, m->hdrs[i].name, m->hdrs[i].value);
	for (i = 0; i < s->n && rc == 0; i++) {
		struct conn *c = &s->c[i];

		if (c->state != CS_ENVELOPE)
			continue;
		rc = content(x, i);
		if (c->state == CS_MESSAGE || c->state == CS_ACCEPT_MSG)
			c->state = CS_ENVELOPE;
	}
out:
	res->ms = (double)(now_ns() - t0) / 1e6;
	if (rc < 0)
		return -1;
	if (res->v == V_NONE)
		res->v = res->quarantine.len ? V_QUARANTINE : V_ACCEPT;
	else if (res->v == V_ACCEPT && res->quarantine.len)
		res->v = V_QUARANTINE;
	/* smtpd's mail_reset(): milter_abort() after every transaction that
	 * got past MAIL; the ABORT waits in the buffer for the next flush */
	for (i = 0; i < s->n && in_mail; i++) {
		struct conn *c = &s->c[i];

		if (c->state != CS_ENVELOPE && c->state != CS_MESSAGE &&
		    c->state != CS_ACCEPT_MSG)
			continue;
		if (send_pkt(c, SMFIC_ABORT, NULL, 0, why, sizeof(why)) < 0)
			return -1;
		c->state = CS_ENVELOPE;
		c->skip_event = 0;
	}
	return 0;
}

/* ---- sessions ----------------------------------------------------------- */

static void
session_close(struct session *s, int polite)
{
	char why[256];
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct conn *c = &s->c[i];

		if (c->fd >= 0 && polite && (c->state == CS_ENVELOPE ||
		    c->state == CS_MESSAGE || c->state == CS_ACCEPT_MSG)) {
			if (send_pkt(c, SMFIC_QUIT, NULL, 0, why,
			    sizeof(why)) == 0)
				(void)out_flush(c, why, sizeof(why));
		}
		conn_close(c);
	}
	s->open = 0;
	s->close_after = 0;
}

/* session_open - connect and negotiate with every milter, then the connect
 * and HELO events for m's client; 0, or -1 with the error in x->res */
static int
session_open(struct msgctx *x, struct stats *st)
{
	struct session *s = x->s;
	const struct ml_msg *m = x->m;
	const struct opts *o = &s->r->o;
	char why[256], under[300], name[300];
	const char *fam = strchr(m->client_ip, ':') ? "6" : "4";
	const char *conn_kv[] = { "j", "mx.bench.example", "{daemon_name}",
		"smtpd", "{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11",
		"_", under, "{client_addr}", m->client_ip, "{client_name}",
		"unknown", NULL };
	const char *none_kv[] = { NULL };
	size_t i;
	int rc;

	for (i = 0; i < s->n; i++) {
		if (conn_open(&s->c[i], &o->specs[i], o, &s->b, why,
		    sizeof(why)) < 0) {
			result_err(x, i, "connect", why);
			goto fail;
		}
	}
	st->connected++;
	st->sessions++;
	s->open = 1;
	s->msgs = 0;
	s->close_after = 0;
	s->client_ip = m->client_ip;
	s->helo = m->helo;
	s->auth = m->auth_user;
	s->port = s->port >= 65000 ? 1024 : s->port + 1;
	snprintf(under, sizeof(under), "unknown [%.200s]", m->client_ip);
	/* connect: hostname "[addr]" (Postfix's form of "unknown"), family,
	 * port, address */
	snprintf(name, sizeof(name), "[%.200s]", m->client_ip);
	bb_reset(&s->d);
	bb_str(&s->d, name);
	bb_byte(&s->d, (unsigned char)fam[0]);
	bb_u16(&s->d, s->port);
	bb_str(&s->d, m->client_ip);
	for (i = 0; i < s->n; i++)
		s->c[i].state = CS_ENVELOPE;
	rc = envelope_event(x, SMFIC_CONNECT, SMFIP_NOCONNECT, SMFIP_NR_CONN,
	    conn_kv, s->d.p, s->d.len, 1);
	if (rc == 0 && m->helo[0] != '\0')
		rc = envelope_event(x, SMFIC_HELO, SMFIP_NOHELO, SMFIP_NR_HELO,
		    none_kv, m->helo, strlen(m->helo) + 1, 1);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		/* rejected at connect or HELO: Postfix closes that milter
		 * and answers every later command with the reply */
		for (i = 0; i < s->n; i++) {
			if (x->res->mv[i] == V_REJECT ||
			    x->res->mv[i] == V_TEMPFAIL) {
				struct conn *c = &s->c[i];

				conn_close(c);
				c->state = CS_REJECT_CON;
				c->conn_verdict = x->res->mv[i];
				str_copy(c->conn_reply, x->res->reply,
				    sizeof(c->conn_reply));
			}
		}
	}
	/* the message itself starts afresh */
	x->res->done = 0;
	x->res->v = V_NONE;
	x->res->reply[0] = '\0';
	for (i = 0; i < s->n; i++)
		x->res->mv[i] = V_NONE;
	return 0;
fail:
	session_close(s, 0);
	return -1;
}

/* ---- results ---------------------------------------------------------- */

static void
result_init(struct result *res)
{
	memset(res, 0, sizeof(*res));
	dynbuf_init(&res->quarantine, 64 * 1024);
	dynbuf_init(&res->ar, ML_MAX_HDR);
	dynbuf_init(&res->edits, 256 * 1024);
	dynbuf_init(&res->err, 1024);
}

static void
result_free(struct result *res)
{
	dynbuf_free(&res->quarantine);
	dynbuf_free(&res->ar);
	dynbuf_free(&res->edits);
	dynbuf_free(&res->err);
}

static void
record(struct run *r, struct stats *st, struct dynbuf *line,
    const struct ml_msg *m, unsigned long long seq, struct result *res)
{
	size_t i;

	st->count[res->v]++;
	if (res->v != V_ERROR) {
		uint64_t ns = (uint64_t)(res->ms * 1e6);

		__atomic_fetch_add(&r->hist[hist_bucket(ns)], 1,
		    __ATOMIC_RELAXED);
		st->lat_n++;
		if (ns > st->max_ns)
			st->max_ns = ns;
	} else if (!r->o.quiet &&
	    __atomic_fetch_add(&r->err_shown, 1, __ATOMIC_RELAXED) <
	    MAX_ERR_SHOWN) {
		fprintf(stderr, "milterload: message %llu (%s): %s\n", seq,
		    m->id, res->err.s ? res->err.s : "error");
	}
	if (r->out == NULL)
		return;
	line->len = 0;
	line->overflow = 0;
	tsv_field(line, m->id);
	dynbuf_printf(line, "\t%s\t", verdict_name[res->v]);
	tsv_field(line, res->reply);
	dynbuf_puts(line, "\t");
	if (res->quarantine.s)
		dynbuf_append(line, res->quarantine.s, res->quarantine.len);
	dynbuf_puts(line, "\t");
	if (res->ar.s)
		dynbuf_append(line, res->ar.s, res->ar.len);
	dynbuf_printf(line, "\t%.3f", res->ms);
	for (i = 0; i < r->corpus.nextra; i++) {
		dynbuf_puts(line, "\t");
		tsv_field(line, m->extra[i]);
	}
	if (!r->o.detail)
		goto done;
	dynbuf_puts(line, "\t");
	for (i = 0; i < r->o.nspecs; i++)
		dynbuf_printf(line, "%s%s", i ? "," : "",
		    verdict_name[res->mv[i]]);
	dynbuf_puts(line, "\t");
	if (res->edits.s)
		dynbuf_append(line, res->edits.s, res->edits.len);
	dynbuf_printf(line, "\t%llu\t", seq);
	if (res->err.s)
		tsv_field(line, res->err.s);
done:
	dynbuf_puts(line, "\n");
	if (line->s == NULL)
		return;
	pthread_mutex_lock(&r->out_lock);
	fwrite(line->s, 1, line->len, r->out);
	pthread_mutex_unlock(&r->out_lock);
}

/* ---- workers ---------------------------------------------------------- */

struct worker {
	pthread_t tid;
	struct run *r;
	struct stats st;
	unsigned idx;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	struct session s;
	struct dynbuf line;
	struct msgctx x;
	struct result res;
	unsigned long long blk = 0, blk_end = 0;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.n = r->o.nspecs;
	s.port = 40000 + (w->idx % 1000) * 20;
	for (i = 0; i < s.n; i++) {
		s.c[i].fd = -1;
		s.c[i].spec = &r->o.specs[i];
	}
	memset(&x, 0, sizeof(x));
	x.s = &s;
	dynbuf_init(&line, 16 * 1024 * 1024);
	for (;;) {
		unsigned long long seq;
		const struct ml_msg *m;

		if (!r->o.group) {
			seq = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
		} else {
			/* a block of per_conn messages: one connection */
			if (blk == blk_end) {
				blk = __atomic_fetch_add(&r->next,
				    r->o.per_conn, __ATOMIC_RELAXED);
				blk_end = blk + r->o.per_conn;
				if (s.open)
					session_close(&s, 1);
			}
			seq = blk++;
		}
		if (seq >= r->o.total)
			break;
		m = &r->corpus.msgs[r->order[seq % r->corpus.n]];
		if (s.open && (s.msgs >= r->o.per_conn ||
		    strcmp(s.client_ip, m->client_ip) != 0 ||
		    strcmp(s.helo, m->helo) != 0 ||
		    strcmp(s.auth, m->auth_user) != 0))
			session_close(&s, 1);
		result_init(&res);
		x.m = m;
		x.res = &res;
		x.arena = arena_new();
		snprintf(x.qid, sizeof(x.qid), "%010llX",
		    (r->qbase + seq) & 0xFFFFFFFFFFULL);
		uint64_t t_open = s.open ? 0 : now_ns();

		if (s.open || session_open(&x, &w->st) == 0) {
			s.msgs++;
			if (run_message(&x) < 0) {
				if (res.v != V_ERROR)
					result_err(&x, 0, "abort", "write failed");
				session_close(&s, 0);
			} else if (s.close_after) {
				session_close(&s, 1);
			}
		}
		record(r, &w->st, &line, m, seq, &res);
		/* the session latency of a session's first message */
		if (t_open != 0 && res.v != V_ERROR) {
			__atomic_fetch_add(&r->shist[hist_bucket(now_ns() -
			    t_open)], 1, __ATOMIC_RELAXED);
			w->st.slat_n++;
		}
		result_free(&res);
		arena_free(&x.arena);
	}
	session_close(&s, 1);
	for (i = 0; i < s.n; i++) {
		free(s.c[i].obuf);
		free(s.c[i].ibuf);
		free(s.c[i].pkt);
	}
	free(s.b.p);
	free(s.d.p);
	free(x.h);
	dynbuf_free(&line);
	return NULL;
}

/* ---- main ------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct run r;
	struct worker *w;
	struct stats tot;
	char err[1024];
	uint64_t t0, t1;
	double secs, p50, p99, sp50, sp99;
	unsigned long i, j;
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	memset(&r, 0, sizeof(r));
	if (parse_opts(argc, argv, &r.o) < 0)
		return 2;
	if (corpus_load(r.o.corpus, &r.corpus, err, sizeof(err)) < 0) {
		fprintf(stderr, "milterload: %s\n", err);
		return 2;
	}
	if (r.o.total == 0)
		r.o.total = r.corpus.n;
	r.order = corpus_play_order(&r.corpus, r.o.group);
	if (r.o.out != NULL) {
		if ((r.out = fopen(r.o.out, "w")) == NULL) {
			fprintf(stderr, "milterload: %s: %s\n", r.o.out,
			    strerror(errno));
			free(r.order);
			corpus_free(&r.corpus);
			return 2;
		}
		fputs("id\tverdict\treply\tquarantine\tauth_results\tlatency_ms",
		    r.out);
		for (i = 0; i < r.corpus.nextra; i++)
			fprintf(r.out, "\t%s", r.corpus.extra_names[i]);
		fputs(r.o.detail ? "\tmilters\tedits\tseq\terror\n" : "\n",
		    r.out);
	}
	pthread_mutex_init(&r.out_lock, NULL);
	r.hist = xcalloc(H_BUCKETS, sizeof(*r.hist));
	r.shist = xcalloc(H_BUCKETS, sizeof(*r.shist));
	r.qbase = ((unsigned long long)time(NULL) & 0xFFFFF) << 20;
	if (r.o.conc > r.o.total)
		r.o.conc = (unsigned long)r.o.total;
	w = xcalloc(r.o.conc, sizeof(*w));
	t0 = now_ns();
	for (i = 0; i < r.o.conc; i++) {
		w[i].r = &r;
		w[i].idx = (unsigned)i;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "milterload: pthread_create failed\n");
			/* the threads running take all the messages */
			r.o.conc = i;
			break;
		}
	}
	memset(&tot, 0, sizeof(tot));
	for (i = 0; i < r.o.conc; i++) {
		pthread_join(w[i].tid, NULL);
		for (j = 0; j < V_COUNT; j++)
			tot.count[j] += w[i].st.count[j];
		tot.sessions += w[i].st.sessions;
		tot.connected += w[i].st.connected;
		tot.lat_n += w[i].st.lat_n;
		tot.slat_n += w[i].st.slat_n;
		if (w[i].st.max_ns > tot.max_ns)
			tot.max_ns = w[i].st.max_ns;
	}
	t1 = now_ns();
	secs = (double)(t1 - t0) / 1e9;
	percentiles(r.hist, tot.lat_n, &p50, &p99);
	percentiles(r.shist, tot.slat_n, &sp50, &sp99);
	{
		unsigned long long msgs = 0;

		for (j = 0; j < V_COUNT; j++)
			msgs += tot.count[j];
		printf("milterload: msgs=%llu conc=%lu secs=%.3f "
		    "msgs_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
		    "accept=%llu reject=%llu tempfail=%llu discard=%llu "
		    "quarantine=%llu errors=%llu sessions=%llu "
		    "sess_p50_ms=%.3f sess_p99_ms=%.3f\n", msgs,
		    r.o.conc, secs, secs > 0 ? (double)msgs / secs : 0.0,
		    p50 / 1e6, p99 / 1e6, (double)tot.max_ns / 1e6,
		    tot.count[V_ACCEPT], tot.count[V_REJECT],
		    tot.count[V_TEMPFAIL], tot.count[V_DISCARD],
		    tot.count[V_QUARANTINE], tot.count[V_ERROR],
		    tot.sessions, sp50 / 1e6, sp99 / 1e6);
	}
	fflush(stdout);
	if (r.out != NULL && fclose(r.out) != 0) {
		fprintf(stderr, "milterload: %s: write error\n", r.o.out);
		rc = 2;
	}
	if (tot.connected == 0) {
		fprintf(stderr, "milterload: no connection could be made\n");
		rc = 1;
	}
	pthread_mutex_destroy(&r.out_lock);
	free(r.hist);
	free(r.shist);
	free(r.order);
	free(w);
	for (i = 0; i < r.o.nspecs; i++)
		free(r.o.specs[i].text);
	corpus_free(&r.corpus);
	return rc;
}
