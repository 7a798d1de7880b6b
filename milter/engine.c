/*
 * engine.c - our own milter protocol engine (see engine.h).
 *
 * Threads. A few I/O threads, each with its own epoll set; the listening
 * socket is in every set (EPOLLEXCLUSIVE: one thread wakes), and the
 * connections accepted go to the threads' sets in turn, where each stays.
 * A pool of workers runs the steps that may wait on DNS, the end of the
 * headers (the DKIM keys) and the end of message (the rest), so no I/O
 * thread ever waits; every other step is cheap (the lookups of connect
 * only start there) and runs on the I/O thread as its frame is read. A
 * worker goes on with the frames behind the one it was given. The pool
 * starts with its minimum and grows while connections wait in its queue
 * with no worker free, up to its maximum: with cold or slow DNS each
 * waiting message holds a worker, as each connection holds a thread under
 * libmilter, and a fixed pool would bound the throughput at pool size /
 * DNS time. A worker above the minimum idle for ENGINE_IDLE_S exits.
 *
 * Ownership. A connection is armed in its epoll set with EPOLLONESHOT:
 * one event hands it to its I/O thread, which reads, parses and answers
 * the frames in its buffer; at an end of headers or of message it hands
 * the connection to a worker, which evaluates, answers and goes on with
 * the frames behind it. Whoever holds it re-arms it when its buffer has
 * no whole frame left. So exactly one thread touches a connection at a
 * time, and a connection needs no lock of its own.
 *
 * Limits. A frame over MPROTO_MAX_FRAME (1 MB), a malformed frame, an
 * unknown command or a step before negotiation closes the connection;
 * replies not taken by the MTA stop the reading at ENGINE_MAX_OUT. A
 * connection armed and silent for the milter timeout is closed, as
 * libmilter does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* the protocol's constants: SMFIC_ and SMFIR_ (mfdef.h), SMFIF_ and
 * SMFIM_ (mfapi.h); nothing of libmilter is called */
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "engine.h"
#include "log.h"
#include "mproto.h"
#include "steps.h"

#define ENGINE_MAX_IO 8
#define ENGINE_MAX_OUT (1024 * 1024)
#define ENGINE_READ_MIN 4096
#define ENGINE_IDLE_S 30

struct eio;

struct econn {
	int fd;
	struct eio *io;
	unsigned char *in;
	size_t in_len, in_off, in_cap;
	struct mproto_buf out;
	struct steps_conn *sc;   /* NULL until negotiation */
	uint32_t actions, protocol;  /* as agreed */
	/* the last DEFINE_MACRO payload of each stage, without its stage byte */
	unsigned char *mac[MPROTO_NSTAGES];
	size_t mac_len[MPROTO_NSTAGES];
	int stage;               /* the stage whose macros a step reads */
	char reply[512];         /* the SMTP reply of a reject or tempfail */
	int eof, dead;
	int armed;               /* waiting in epoll (io->mu) */
	time_t idle_since;       /* armed since (io->mu) */
	struct econn *prev, *next;   /* io->conns (io->mu) */
	struct econn *qnext;     /* the workers' queue */
};

struct eio {
	int ep;
	pthread_t tid;
	pthread_mutex_t mu;
	struct econn *conns;
};

static int engine_lfd = -1;
static int engine_tcp;          /* the listening socket is TCP */
static unsigned engine_next_io; /* atomic: the I/O thread of the next connection */
static struct eio engine_io[ENGINE_MAX_IO];
static unsigned engine_nio;
static int engine_done_fd = -1;
static unsigned engine_timeout_s = 7210;  /* atomic; libmilter's default */

/* the workers' queue and pool (engine_qmu) */
static pthread_mutex_t engine_qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t engine_qcv = PTHREAD_COND_INITIALIZER;
static struct econn *engine_qhead, *engine_qtail;
static unsigned engine_qlen;      /* connections in the queue */
static unsigned engine_idle;      /* workers waiting for one */
static unsigned engine_nworkers;  /* started and not exited */
static unsigned engine_min_workers, engine_max_workers;
static unsigned engine_spawn_failed;  /* failures not yet logged */
static int engine_spawn_err;          /* the last one's error */

static void *worker_main(void *arg);

void
engine_settimeout(unsigned seconds)
{
	__atomic_store_n(&engine_timeout_s, seconds, __ATOMIC_SEQ_CST);
}

/* ---- the listening socket ------------------------------------------- */

int
engine_listen(const char *spec, char *err, size_t errlen)
{
	const char *path = NULL, *rest, *at;
	char port[16], host[256];
	struct addrinfo hints, *ai = NULL;
	int fd = -1, on = 1, rc, v6;
	size_t hlen;

	if (strncmp(spec, "unix:", 5) == 0)
		path = spec + 5;
	else if (strncmp(spec, "local:", 6) == 0)
		path = spec + 6;
	else if (spec[0] == '/')
		path = spec;
	if (path != NULL) {
		struct sockaddr_un sun;

		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "socket path too long: %s", path);
			return -1;
		}
		memcpy(sun.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		(void)unlink(path);  /* a stale socket, as smfi_opensocket(1) */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
			goto fail;
		goto listen;
	}
	v6 = strncmp(spec, "inet6:", 6) == 0;
	if (!v6 && strncmp(spec, "inet:", 5) != 0) {
		snprintf(err, errlen, "not a socket spec: %s", spec);
		return -1;
	}
	rest = strchr(spec, ':') + 1;
	at = strchr(rest, '@');
	if (at == NULL || (size_t)(at - rest) >= sizeof(port)) {
		snprintf(err, errlen, "not a socket spec: %s", spec);
		return -1;
	}
	memcpy(port, rest, (size_t)(at - rest));
	port[at - rest] = '\0';
	at++;
	hlen = strlen(at);
	if (hlen >= 2 && at[0] == '[' && at[hlen - 1] == ']') {
		at++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		snprintf(err, errlen, "host name too long: %s", spec);
		return -1;
	}
	memcpy(host, at, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = v6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* replies are small writes: no Nagle (accepted sockets inherit it) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		goto fail;
	engine_tcp = 1;
listen:
	if (listen(fd, SOMAXCONN) != 0)
		goto fail;
	if (ai != NULL)
		freeaddrinfo(ai);
	engine_lfd = fd;
	return 0;
fail:
	snprintf(err, errlen, "cannot open socket %s: %s", spec, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return -1;
}

/* ---- connections ---------------------------------------------------- */

/* conn_arm - give the connection back to its epoll set, reading unless
 * too many replies wait for the MTA */
static void
conn_arm(struct econn *c)
{
	struct epoll_event ev;
	size_t pending = c->out.len - c->out.off;

	ev.events = EPOLLONESHOT | (pending > 0 ? EPOLLOUT : 0) |
	    (pending > ENGINE_MAX_OUT ? 0 : EPOLLIN | EPOLLRDHUP);
	ev.data.ptr = c;
	pthread_mutex_lock(&c->io->mu);
	c->armed = 1;
	c->idle_since = time(NULL);
	if (epoll_ctl(c->io->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		log_msg(LOG_ERR, "event=engine reason=\"epoll_ctl: %s\"",
		    strerror(errno));
	pthread_mutex_unlock(&c->io->mu);
}

/* conn_unlink - off its thread's list (io->mu held) */
static void
conn_unlink(struct econn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->io->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* conn_free - close and free a connection already unlinked */
static void
conn_free(struct econn *c)
{
	steps_conn_free(&c->sc);
	close(c->fd);
	for (int i = 0; i < MPROTO_NSTAGES; i++)
		free(c->mac[i]);
	free(c->in);
	mproto_buf_free(&c->out);
	free(c);
}

static void
conn_close(struct econn *c)
{
	pthread_mutex_lock(&c->io->mu);
	conn_unlink(c);
	pthread_mutex_unlock(&c->io->mu);
	conn_free(c);
}

/* conn_flush - write what the MTA takes now; -1 on an error */
static int
conn_flush(struct econn *c)
{
	while (c->out.off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out.off,
		    c->out.len - c->out.off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->out.off += (size_t)n;
	}
	c->out.off = c->out.len = 0;
	return 0;
}

/* ---- the steps ------------------------------------------------------ */

/* the order in which a step looks through the stages for a macro: its
 * own first, then those before it in a message (eoh comes before eom) */
static const int engine_stage_order[MPROTO_NSTAGES] = {0, 1, 2, 3, 4, 6, 5};

static const char *
conn_macro(void *arg, const char *name)
{
	struct econn *c = arg;
	int pos = 0;

	while (pos < MPROTO_NSTAGES - 1 && engine_stage_order[pos] != c->stage)
		pos++;
	for (; pos >= 0; pos--) {
		int st = engine_stage_order[pos];
		const char *v;

		if (c->mac[st] != NULL &&
		    (v = mproto_macro(c->mac[st], c->mac_len[st], name)) != NULL)
			return v;
	}
	return NULL;
}

/* forget the macros of a message's stages */
static void
conn_forget_message(struct econn *c)
{
	for (int st = 2; st < MPROTO_NSTAGES; st++) {
		free(c->mac[st]);
		c->mac[st] = NULL;
		c->mac_len[st] = 0;
	}
}

static void
reply_unless(struct econn *c, uint32_t noreply_bit)
{
	if (!(c->protocol & noreply_bit))
		mproto_simple(&c->out, SMFIR_CONTINUE);
}

static void
out_insheader(void *arg, const char *name, const char *value)
{
	struct econn *c = arg;

	if (!(c->actions & SMFIF_ADDHDRS))
		return;
	mproto_begin(&c->out, SMFIR_INSHEADER);
	mproto_add_u32(&c->out, 0);
	mproto_add_str(&c->out, name);
	mproto_add_str(&c->out, value);
	mproto_end(&c->out);
}

static void
out_delheader(void *arg, const char *name, int idx)
{
	struct econn *c = arg;

	if (!(c->actions & SMFIF_CHGHDRS) || idx < 0)
		return;
	mproto_begin(&c->out, SMFIR_CHGHEADER);
	mproto_add_u32(&c->out, (uint32_t)idx);
	mproto_add_str(&c->out, name);
	mproto_add_str(&c->out, "");
	mproto_end(&c->out);
}

static void
out_quarantine(void *arg, const char *reason)
{
	struct econn *c = arg;

	if (!(c->actions & SMFIF_QUARANTINE) || reason[0] == '\0')
		return;
	mproto_begin(&c->out, SMFIR_QUARANTINE);
	mproto_add_str(&c->out, reason);
	mproto_end(&c->out);
}

static void
out_setreply(void *arg, const char *rcode, const char *xcode,
    const char *text)
{
	struct econn *c = arg;

	if (mproto_reply_text(rcode, xcode, text, c->reply, sizeof(c->reply)) != 0)
		c->reply[0] = '\0';
}

static const struct steps_out engine_out = {
	out_insheader, out_delheader, out_quarantine, out_setreply,
};

/* do_optneg - answer the MTA's offer; -1 closes */
static int
do_optneg(struct econn *c, const struct mproto_frame *f)
{
	uint32_t version, actions, protocol;
	unsigned long pf0, pf1;

	if (mproto_optneg(f, &version, &actions, &protocol) != 0 || version < 2 ||
	    !(actions & SMFIF_ADDHDRS))
		return -1;
	if (c->sc == NULL && (c->sc = steps_conn_new()) == NULL)
		return -1;
	steps_negotiate(c->sc, actions, protocol, &pf0, &pf1);
	c->actions = (uint32_t)pf0;
	c->protocol = (uint32_t)pf1;
	mproto_begin(&c->out, SMFIC_OPTNEG);
	mproto_add_u32(&c->out, version < SMFI_PROT_VERSION ? version :
	    SMFI_PROT_VERSION);
	/* ask only for the macros we use, where the MTA lets us */
	mproto_add_u32(&c->out, c->actions |
	    (actions & SMFIF_SETSYMLIST ? SMFIF_SETSYMLIST : 0));
	mproto_add_u32(&c->out, c->protocol);
	if (actions & SMFIF_SETSYMLIST) {
		mproto_add_u32(&c->out, SMFIM_CONNECT);
		mproto_add_str(&c->out, STEPS_MACROS_CONNECT);
		mproto_add_u32(&c->out, SMFIM_ENVFROM);
		mproto_add_str(&c->out, STEPS_MACROS_ENVFROM);
		mproto_add_u32(&c->out, SMFIM_EOM);
		mproto_add_str(&c->out, STEPS_MACROS_EOM);
	}
	mproto_end(&c->out);
	return 0;
}

static void
do_eom(struct econn *c, const struct mproto_frame *f)
{
	enum steps_reply r;

	c->stage = 5;
	if (c->sc->s == NULL) {
		mproto_simple(&c->out, SMFIR_CONTINUE);
		return;
	}
	if (f->len > 0)
		steps_body(c->sc, f->data, f->len);
	c->reply[0] = '\0';
	r = steps_eom(c->sc, conn_macro, c, &engine_out, c);
	conn_forget_message(c);
	/* a reply code goes with a verdict of its class, as libmilter's */
	if (r == STEPS_ACCEPT) {
		mproto_simple(&c->out, SMFIR_ACCEPT);
	} else if (c->reply[0] == (r == STEPS_REJECT ? '5' : '4')) {
		mproto_begin(&c->out, SMFIR_REPLYCODE);
		mproto_add_str(&c->out, c->reply);
		mproto_end(&c->out);
	} else {
		mproto_simple(&c->out, r == STEPS_REJECT ? SMFIR_REJECT :
		    SMFIR_TEMPFAIL);
	}
}

/* conn_frame - one command: 0 done, 1 to be run by a worker (the frame
 * is left in the buffer; EOH and BODYEOB), -1 close the connection */
static int
conn_frame(struct econn *c, const struct mproto_frame *f, int on_worker)
{
	const char *v[128];
	char ip[64];
	const char *host;
	int st;

	if (f->cmd == SMFIC_OPTNEG)
		return do_optneg(c, f);
	if (c->sc == NULL)
		return -1;  /* nothing before negotiation */
	switch (f->cmd) {
	case SMFIC_MACRO:
		if (f->len < 1)
			return -1;
		if ((st = mproto_stage((char)f->data[0])) < 0)
			return 0;
		free(c->mac[st]);
		c->mac_len[st] = f->len - 1;
		c->mac[st] = malloc(f->len);
		if (c->mac[st] == NULL)
			return -1;
		memcpy(c->mac[st], f->data + 1, f->len - 1);
		return 0;
	case SMFIC_CONNECT:
		if (mproto_connect(f, &host, ip, sizeof(ip)) != 0)
			return -1;
		c->stage = 0;
		steps_connect(c->sc, host, ip, conn_macro, c);
		reply_unless(c, SMFIP_NR_CONN);
		return 0;
	case SMFIC_HELO:
		if (mproto_strings(f->data, f->len, v, 1) != 1)
			return -1;
		c->stage = 1;
		if (c->sc->s != NULL)
			steps_helo(c->sc, v[0]);
		reply_unless(c, SMFIP_NR_HELO);
		return 0;
	case SMFIC_MAIL:
		if (mproto_strings(f->data, f->len, v, 128) < 1)
			return -1;
		c->stage = 2;
		if (c->sc->s != NULL)
			steps_mail_from(c->sc, v[0], conn_macro, c);
		reply_unless(c, SMFIP_NR_MAIL);
		return 0;
	case SMFIC_RCPT:
		reply_unless(c, SMFIP_NR_RCPT);
		return 0;
	case SMFIC_DATA:
		reply_unless(c, SMFIP_NR_DATA);
		return 0;
	case SMFIC_HEADER:
		if (mproto_strings(f->data, f->len, v, 2) != 2)
			return -1;
		if (c->sc->s != NULL)
			steps_header(c->sc, v[0], v[1]);
		reply_unless(c, SMFIP_NR_HDR);
		return 0;
	case SMFIC_EOH:
		/* the DKIM keys are fetched here (libopendkim verifies the
		 * header signatures at its end of headers): a wait on DNS,
		 * so on a worker, never on an I/O thread */
		if (c->sc->s != NULL) {
			if (!on_worker)
				return 1;
			steps_eoh(c->sc);
		}
		reply_unless(c, SMFIP_NR_EOH);
		return 0;
	case SMFIC_BODY:
		if (c->sc->s != NULL)
			steps_body(c->sc, f->data, f->len);
		reply_unless(c, SMFIP_NR_BODY);
		return 0;
	case SMFIC_BODYEOB:
		if (!on_worker)
			return 1;
		do_eom(c, f);
		return 0;
	case SMFIC_ABORT:
		if (c->sc->s != NULL)
			steps_abort(c->sc);
		conn_forget_message(c);
		return 0;
	case SMFIC_UNKNOWN:
		reply_unless(c, SMFIP_NR_UNKN);
		return 0;
	case SMFIC_QUIT_NC: {
		/* the same MTA connection, a new SMTP one: as a close and an
		 * open, the negotiation kept */
		struct steps_conn keep = *c->sc;

		steps_conn_free(&c->sc);
		if ((c->sc = steps_conn_new()) == NULL)
			return -1;
		c->sc->reply_noreply = keep.reply_noreply;
		c->sc->data_noreply = keep.data_noreply;
		c->sc->leadspc = keep.leadspc;
		conn_forget_message(c);
		for (st = 0; st < 2; st++) {
			free(c->mac[st]);
			c->mac[st] = NULL;
			c->mac_len[st] = 0;
		}
		return 0;
	}
	case SMFIC_QUIT:
	default:
		return -1;
	}
}

/* worker_spawn - one more worker, counted in engine_nworkers already;
 * on failure the count is given back (the queue is served by the workers
 * there are) and the failure logged by the next worker to look */
static void
worker_spawn(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	/* the stack size is the process default (thread_stack_kb) */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, worker_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_lock(&engine_qmu);
		engine_nworkers--;
		engine_spawn_failed++;
		engine_spawn_err = rc;
		pthread_mutex_unlock(&engine_qmu);
	}
}

/* queue_push - a connection for the workers; one more worker when the
 * queue holds more than the idle workers will take (each idle worker,
 * woken or not yet, takes one) */
static void
queue_push(struct econn *c)
{
	int spawn = 0;

	c->qnext = NULL;
	pthread_mutex_lock(&engine_qmu);
	if (engine_qtail != NULL)
		engine_qtail->qnext = c;
	else
		engine_qhead = c;
	engine_qtail = c;
	engine_qlen++;
	if (engine_qlen > engine_idle && engine_nworkers < engine_max_workers) {
		engine_nworkers++;
		spawn = 1;
	}
	pthread_cond_signal(&engine_qcv);
	pthread_mutex_unlock(&engine_qmu);
	if (spawn)
		worker_spawn();
}

/* conn_run - the frames in the buffer, then back to epoll (or to a
 * worker, or closed) */
static void
conn_run(struct econn *c, int on_worker)
{
	struct mproto_frame f;
	size_t used;
	int rc;

	while (!c->dead && c->out.len - c->out.off <= ENGINE_MAX_OUT) {
		rc = mproto_next(c->in + c->in_off, c->in_len - c->in_off, &f, &used);
		if (rc < 0) {
			c->dead = 1;
			break;
		}
		if (rc == 0)
			break;
		rc = conn_frame(c, &f, on_worker);
		if (rc == 1) {
			if (conn_flush(c) != 0) {
				c->dead = 1;
				break;
			}
			queue_push(c);
			return;
		}
		c->in_off += used;
		if (rc < 0)
			c->dead = 1;
	}
	if (!c->dead && conn_flush(c) != 0)
		c->dead = 1;
	if (c->dead || (c->eof && c->out.off == c->out.len)) {
		conn_close(c);
		return;
	}
	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	/* an idle connection holds no buffers (1,000 of them waiting on
	 * their SMTP clients cost no more than their sessions) */
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	if (c->out.len == 0)
		mproto_buf_free(&c->out);
	conn_arm(c);
}

/* conn_read - what the socket holds, as far as the buffer goes (grown to
 * the frame being read, at most MPROTO_MAX_FRAME) */
static void
conn_read(struct econn *c)
{
	struct mproto_frame f;
	size_t need = 0;

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (mproto_next(c->in, c->in_len, &f, &need) < 0) {
		c->dead = 1;
		return;
	}
	if (need < c->in_len + ENGINE_READ_MIN)
		need = c->in_len + ENGINE_READ_MIN;
	if (need > c->in_cap) {
		unsigned char *p = realloc(c->in, need);

		if (p == NULL) {
			c->dead = 1;
			return;
		}
		c->in = p;
		c->in_cap = need;
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			c->dead = 1;
			return;
		}
		if (n == 0) {
			c->eof = 1;
			return;
		}
		c->in_len += (size_t)n;
		/* ACK at once what we read: the MTA's Nagle holds its next
		 * small write (a step that needs no reply) until our ACK, and a
		 * delayed one is ~40 ms (bench/RESULTS.md, issue 16: the TCP
		 * tail). The kernel drops quick-ACK mode by itself: set again
		 * after every read. */
		if (engine_tcp) {
			int on = 1;

			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
		}
		return;
	}
}

/* ---- threads -------------------------------------------------------- */

static void
block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *
worker_main(void *arg)
{
	(void)arg;
	block_signals();
	for (;;) {
		struct econn *c;
		unsigned failed;
		int err;

		pthread_mutex_lock(&engine_qmu);
		while (engine_qhead == NULL) {
			struct timespec until;
			int rc;

			engine_idle++;
			if (engine_nworkers <= engine_min_workers) {
				pthread_cond_wait(&engine_qcv, &engine_qmu);
				engine_idle--;
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ENGINE_IDLE_S;
			rc = pthread_cond_timedwait(&engine_qcv, &engine_qmu, &until);
			engine_idle--;
			if (rc == ETIMEDOUT && engine_qhead == NULL &&
			    engine_nworkers > engine_min_workers) {
				engine_nworkers--;
				pthread_mutex_unlock(&engine_qmu);
				return NULL;
			}
		}
		c = engine_qhead;
		engine_qhead = c->qnext;
		if (engine_qhead == NULL)
			engine_qtail = NULL;
		engine_qlen--;
		failed = engine_spawn_failed;
		err = engine_spawn_err;
		engine_spawn_failed = 0;
		pthread_mutex_unlock(&engine_qmu);
		if (failed > 0)
			log_msg(LOG_WARNING, "event=engine note=\"cannot start %u more "
			    "worker(s): %s\"", failed, strerror(err));
		conn_run(c, 1);
	}
	return NULL;
}

/* do_accept - take the connections waiting; each goes to the I/O
 * threads in turn, whichever thread accepted it (one thread may wake for
 * a burst of them) */
static void
do_accept(void)
{
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev;
		struct econn *c;
		struct eio *io = &engine_io[__atomic_fetch_add(&engine_next_io, 1,
		    __ATOMIC_RELAXED) % engine_nio];
		int fd = accept4(engine_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_msg(LOG_WARNING, "event=engine note=\"accept: %s\"",
				    strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->io = io;
		pthread_mutex_lock(&io->mu);
		c->next = io->conns;
		if (io->conns != NULL)
			io->conns->prev = c;
		io->conns = c;
		c->armed = 1;
		c->idle_since = time(NULL);
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.ptr = c;
		if (epoll_ctl(io->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			conn_unlink(c);
			pthread_mutex_unlock(&io->mu);
			conn_free(c);
			continue;
		}
		pthread_mutex_unlock(&io->mu);
	}
}

/* sweep - close the connections armed and silent for the timeout (only
 * this thread takes armed connections: none is in use) */
static void
sweep(struct eio *io, time_t now)
{
	unsigned limit = __atomic_load_n(&engine_timeout_s, __ATOMIC_SEQ_CST);
	struct econn *c, *next, *old = NULL;

	pthread_mutex_lock(&io->mu);
	for (c = io->conns; c != NULL; c = next) {
		next = c->next;
		if (c->armed && now - c->idle_since > (time_t)limit) {
			conn_unlink(c);
			c->qnext = old;
			old = c;
		}
	}
	pthread_mutex_unlock(&io->mu);
	for (c = old; c != NULL; c = next) {
		next = c->qnext;
		conn_free(c);
	}
}

static void *
io_main(void *arg)
{
	struct eio *io = arg;
	struct epoll_event evs[64];
	time_t next_sweep = time(NULL) + 1;

	block_signals();
	for (;;) {
		int n = epoll_wait(io->ep, evs, 64, 1000);
		time_t now;

		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERR, "event=engine reason=\"epoll_wait: %s\"",
			    strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct econn *c = evs[i].data.ptr;

			if (c == NULL) {
				do_accept();
				continue;
			}
			pthread_mutex_lock(&io->mu);
			c->armed = 0;
			pthread_mutex_unlock(&io->mu);
			if ((evs[i].events & EPOLLOUT) && conn_flush(c) != 0)
				c->dead = 1;
			if (!c->dead && (evs[i].events & (EPOLLIN | EPOLLRDHUP |
			    EPOLLHUP | EPOLLERR)) &&
			    c->out.len - c->out.off <= ENGINE_MAX_OUT)
				conn_read(c);
			conn_run(c, 0);
		}
		now = time(NULL);
		if (now >= next_sweep) {
			sweep(io, now);
			next_sweep = now + 1;
		}
	}
	if (engine_done_fd >= 0 && write(engine_done_fd, "", 1) < 0) {
		/* nothing more to say */
	}
	return NULL;
}

int
engine_start(unsigned io_threads, unsigned workers, unsigned max_workers,
    int done_fd, char *err, size_t errlen)
{
	pthread_t tid;

	if (engine_lfd < 0) {
		snprintf(err, errlen, "no listening socket");
		return -1;
	}
	if (io_threads == 0)
		io_threads = 1;
	if (io_threads > ENGINE_MAX_IO)
		io_threads = ENGINE_MAX_IO;
	if (workers == 0)
		workers = 1;
	if (max_workers < workers)
		max_workers = workers;
	engine_done_fd = done_fd;
	pthread_mutex_lock(&engine_qmu);
	engine_min_workers = workers;
	engine_max_workers = max_workers;
	engine_nworkers = workers;
	pthread_mutex_unlock(&engine_qmu);
	for (unsigned i = 0; i < workers; i++)
		if ((errno = pthread_create(&tid, NULL, worker_main, NULL)) != 0) {
			snprintf(err, errlen, "cannot start a worker: %s",
			    strerror(errno));
			return -1;
		}
	/* every epoll set first: a thread's first accept may hand a
	 * connection to any of them */
	for (unsigned i = 0; i < io_threads; i++) {
		engine_io[i].ep = epoll_create1(EPOLL_CLOEXEC);
		pthread_mutex_init(&engine_io[i].mu, NULL);
		if (engine_io[i].ep < 0) {
			snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
			return -1;
		}
	}
	engine_nio = io_threads;
	for (unsigned i = 0; i < io_threads; i++) {
		struct eio *io = &engine_io[i];
		struct epoll_event ev;

		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.ptr = NULL;
		if (epoll_ctl(io->ep, EPOLL_CTL_ADD, engine_lfd, &ev) != 0 ||
		    pthread_create(&io->tid, NULL, io_main, io) != 0) {
			snprintf(err, errlen, "cannot start an I/O thread: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}
