/*
 * send.c - a report message handed to sendmail or to an SMTP relay
 * (send.h).
 *
 * The program may have threads (libunbound's), so the child of fork()
 * calls only async-signal-safe functions before execv(). Every wait is
 * bounded: poll() with the step's time left, then the child is killed or
 * the connection dropped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "send.h"
#include "smtp_wire.h"
#include "util.h"

/* send_err - a printf-style reason into err */
static void __attribute__((format(printf, 3, 4)))
send_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* now_ms - CLOCK_MONOTONIC in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* left_ms - milliseconds until deadline, 0 when it has passed */
static int
left_ms(long long deadline)
{
	long long d = deadline - now_ms();

	return d <= 0 ? 0 : d > 0x7fffffff ? 0x7fffffff : (int)d;
}

/* ---- sendmail ----------------------------------------------------------- */

/* child_fail - in the child after fork(): say why exec failed on fd 2 with
 * write() alone, and exit 127 */
static void
child_fail(const char *path, int e)
{
	char num[16];
	size_t n = sizeof(num);

	num[--n] = '\0';
	do {
		num[--n] = (char)('0' + e % 10);
		e /= 10;
	} while (e > 0 && n > 0);
	(void)!write(2, "cannot execute ", 15);
	(void)!write(2, path, strlen(path));
	(void)!write(2, ": errno ", 8);
	(void)!write(2, num + n, strlen(num + n));
	_exit(127);
}

/* show_output - what the child wrote, as one printable line for err */
static void
show_output(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' || c == '\r') {
			if (o > 0 && out[o - 1] != ' ' && i + 1 < n)
				out[o++] = ' ';
			continue;
		}
		out[o++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

int
send_sendmail(const char *path, const char *from, const char *msg,
	      size_t len, unsigned timeout_ms, char *err, size_t errlen)
{
	char *const argv[] = {(char *)path, "-t", "-oi", "-f", (char *)from,
			      NULL};
	char out[512], shown[400];
	size_t outlen = 0, done = 0, lflen = 0;
	int in[2], ef[2], st, timed_out = 0, broken = 0;
	long long deadline;
	char *lf;
	pid_t pid;

	if (path == NULL || path[0] != '/') {
		send_err(err, errlen, "reports.sendmail is not an absolute path");
		return -1;
	}
	/* local submission wants LF line ends */
	lf = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			lf[lflen++] = msg[i];
	if (pipe2(in, O_CLOEXEC) < 0) {
		send_err(err, errlen, "pipe: %s", strerror(errno));
		free(lf);
		return -1;
	}
	if (pipe2(ef, O_CLOEXEC) < 0) {
		send_err(err, errlen, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		free(lf);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		send_err(err, errlen, "fork: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		close(ef[0]);
		close(ef[1]);
		free(lf);
		return -1;
	}
	if (pid == 0) {
		/* dup2() clears close-on-exec on the copies */
		if (dup2(in[0], 0) < 0 || dup2(ef[1], 1) < 0 ||
		    dup2(ef[1], 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(path, argv);
		child_fail(path, errno);
	}
	close(in[0]);
	close(ef[1]);
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	deadline = now_ms() + (timeout_ms ? timeout_ms : SEND_TIMEOUT_MS_DEFAULT);
	/* write its input and read its output together: a child that writes
	 * much before reading cannot block us, nor we it */
	while (in[1] >= 0 || ef[0] >= 0) {
		struct pollfd pf[2];
		int n = 0, iw = -1, ie = -1;

		if (in[1] >= 0 && done == lflen) {
			close(in[1]);
			in[1] = -1;
			continue;
		}
		if (in[1] >= 0) {
			pf[n].fd = in[1];
			pf[n].events = POLLOUT;
			iw = n++;
		}
		if (ef[0] >= 0) {
			pf[n].fd = ef[0];
			pf[n].events = POLLIN;
			ie = n++;
		}
		if (left_ms(deadline) == 0) {
			timed_out = 1;
			break;
		}
		if (poll(pf, (nfds_t)n, left_ms(deadline)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (iw >= 0 && pf[iw].revents) {
			ssize_t w = write(in[1], lf + done, lflen - done);

			if (w > 0) {
				done += (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it stopped reading */
				broken = 1;
				close(in[1]);
				in[1] = -1;
			}
		}
		if (ie >= 0 && pf[ie].revents) {
			char buf[4096];
			ssize_t r = read(ef[0], buf, sizeof(buf));

			if (r > 0) {
				size_t k = (size_t)r;

				if (k > sizeof(out) - outlen)
					k = sizeof(out) - outlen;
				memcpy(out + outlen, buf, k);
				outlen += k;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(ef[0]);
				ef[0] = -1;
			}
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	if (ef[0] >= 0)
		close(ef[0]);
	free(lf);
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			send_err(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	show_output(out, outlen, shown, sizeof(shown));
	if (timed_out) {
		send_err(err, errlen, "%s did not finish within %u s, killed",
			 path, (timeout_ms ? timeout_ms : SEND_TIMEOUT_MS_DEFAULT) /
				   1000);
		return -1;
	}
	if (WIFSIGNALED(st)) {
		send_err(err, errlen, "%s killed by signal %d%s%s", path,
			 WTERMSIG(st), shown[0] ? ": " : "", shown);
		return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		send_err(err, errlen, "%s exited %d%s%s", path,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1,
			 shown[0] ? ": " : "", shown);
		return -1;
	}
	if (broken || done < lflen) {
		send_err(err, errlen,
			 "%s exited 0 without reading the whole message "
			 "(%zu of %zu bytes)",
			 path, done, lflen);
		return -1;
	}
	return 0;
}

/* ---- SMTP --------------------------------------------------------------- */

int
send_relay_split(const char *relay, char *host, size_t hostlen, char *port,
		 size_t portlen, char *err, size_t errlen)
{
	const char *h = relay, *p = NULL, *colon;
	size_t hl;
	unsigned long pn;

	if (relay == NULL || *relay == '\0') {
		send_err(err, errlen, "an empty relay");
		return -1;
	}
	if (*relay == '[') {
		const char *close = strchr(relay, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			send_err(err, errlen,
				 "relay: '[' without ']' or text after it");
			return -1;
		}
		h = relay + 1;
		hl = (size_t)(close - h);
		if (close[1] == ':')
			p = close + 2;
	} else if ((colon = strchr(relay, ':')) != NULL &&
		   strchr(colon + 1, ':') == NULL) {
		hl = (size_t)(colon - relay);
		p = colon + 1;
	} else {
		/* no ':', or an IPv6 address without brackets and port */
		hl = strlen(relay);
	}
	if (hl == 0 || hl >= hostlen) {
		send_err(err, errlen, "relay: no host, or a host too long");
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (p == NULL) {
		snprintf(port, portlen, "25");
		return 0;
	}
	if (str_parse_uint(p, 65535, &pn) < 0 || pn == 0) {
		send_err(err, errlen, "relay: the port is not 1 to 65535");
		return -1;
	}
	snprintf(port, portlen, "%lu", pn);
	return 0;
}

/* one connection to the relay */
struct smtp_conn {
	int fd;
	unsigned timeout_ms;
	char *in; /* bytes read, not yet parsed */
	size_t inlen, incap;
	char name[300]; /* "host:port" for messages */
};

/* conn_open - a TCP connection to host:port, each address tried in turn,
 * each connect() waiting timeout_ms at most; the socket stays
 * non-blocking. -1 with err. */
static int
conn_open(struct smtp_conn *c, const char *host, const char *port,
	  char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		send_err(err, errlen, "relay %s: %s", c->name,
			 gai_strerror(rc));
		return -1;
	}
	send_err(err, errlen, "relay %s: no address", c->name);
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		int e = 0;
		socklen_t el = sizeof(e);

		if (fd < 0) {
			send_err(err, errlen, "relay %s: socket: %s", c->name,
				 strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};

			if (errno != EINPROGRESS) {
				e = errno;
			} else if (poll(&pf, 1, (int)c->timeout_ms) <= 0) {
				e = ETIMEDOUT;
			} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
					      &el) < 0) {
				e = errno;
			}
		}
		if (e != 0) {
			send_err(err, errlen, "relay %s: connect: %s", c->name,
				 strerror(e));
			close(fd);
			continue;
		}
		c->fd = fd;
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return -1;
}

/* conn_write - all n bytes at s, within the timeout; -1 with err */
static int
conn_write(struct smtp_conn *c, const char *s, size_t n, char *err,
	   size_t errlen)
{
	long long deadline = now_ms() + c->timeout_ms;
	size_t done = 0;

	while (done < n) {
		struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
		ssize_t w;
		int pr;

		if ((pr = poll(&pf, 1, left_ms(deadline))) < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			send_err(err, errlen, "relay %s: %s", c->name,
				 pr == 0 ? "write timed out" : strerror(errno));
			return -1;
		}
		w = send(c->fd, s + done, n - done, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			send_err(err, errlen, "relay %s: write: %s", c->name,
				 strerror(errno));
			return -1;
		}
		done += (size_t)w;
	}
	return 0;
}

/* conn_reply - the next whole reply into *r, within the timeout; -1 with
 * err (the connection closed, a timeout, a reply that is not one) */
static int
conn_reply(struct smtp_conn *c, struct smtp_reply *r, char *err,
	   size_t errlen)
{
	long long deadline = now_ms() + c->timeout_ms;
	char why[128];

	for (;;) {
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		ssize_t n = smtp_reply_parse(c->in, c->inlen, r, why,
					     sizeof(why));
		int pr;

		if (n > 0) {
			memmove(c->in, c->in + n, c->inlen - (size_t)n);
			c->inlen -= (size_t)n;
			return 0;
		}
		if (n < 0) {
			send_err(err, errlen, "relay %s: %s", c->name, why);
			return -1;
		}
		if (c->inlen == c->incap) {
			send_err(err, errlen, "relay %s: a reply too long",
				 c->name);
			return -1;
		}
		if ((pr = poll(&pf, 1, left_ms(deadline))) < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			send_err(err, errlen, "relay %s: %s", c->name,
				 pr == 0 ? "no reply in time" : strerror(errno));
			return -1;
		}
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			send_err(err, errlen, "relay %s: %s", c->name,
				 n == 0 ? "connection closed"
					: strerror(errno));
			return -1;
		}
		c->inlen += (size_t)n;
	}
}

/* conn_cmd - write line (without its CRLF; NULL: write nothing, read the
 * greeting) and read the reply; -1 with err when the write or read fails
 * or the reply's class is not want (2 or 3). what names the step. */
static int
conn_cmd(struct smtp_conn *c, const char *line, const char *what, int want,
	 struct smtp_reply *r, char *err, size_t errlen)
{
	if (line != NULL) {
		char *l = xasprintf("%s\r\n", line);
		int rc = conn_write(c, l, strlen(l), err, errlen);

		free(l);
		if (rc < 0)
			return -1;
	}
	if (conn_reply(c, r, err, errlen) < 0)
		return -1;
	if (smtp_code_class(r->code) != want) {
		send_err(err, errlen, "relay %s: %s: %d %s", c->name, what,
			 r->code, r->text);
		return -1;
	}
	return 0;
}

int
send_smtp(const char *relay, const char *helo, const char *from,
	  const struct report_rua_list *to, const char *msg, size_t len,
	  unsigned timeout_ms, char *err, size_t errlen)
{
	char host[256], port[8], line[REPORT_ADDR_MAX + 64];
	struct smtp_conn c;
	struct smtp_reply r;
	struct dynbuf data;
	int rc = -1;

	if (send_relay_split(relay, host, sizeof(host), port, sizeof(port),
			     err, errlen) < 0)
		return -1;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.timeout_ms = timeout_ms ? timeout_ms : SEND_TIMEOUT_MS_DEFAULT;
	snprintf(c.name, sizeof(c.name), strchr(host, ':') ? "[%s]:%s" : "%s:%s",
		 host, port);
	if (conn_open(&c, host, port, err, errlen) < 0)
		return -1;
	c.incap = (size_t)SMTP_LINE_MAX * SMTP_REPLY_LINES_MAX;
	c.in = xmalloc(c.incap);
	/* at most twice: every byte a bare LF that becomes CRLF */
	dynbuf_init(&data, 2 * len + 16);
	if (conn_cmd(&c, NULL, "greeting", 2, &r, err, errlen) < 0)
		goto out;
	snprintf(line, sizeof(line), "EHLO %s", helo);
	if (conn_cmd(&c, line, "EHLO", 2, &r, err, errlen) < 0) {
		/* RFC 5321 3.2: a server that does not know EHLO */
		if (r.code == 0 || smtp_code_class(r.code) != 5)
			goto out;
		snprintf(line, sizeof(line), "HELO %s", helo);
		if (conn_cmd(&c, line, "HELO", 2, &r, err, errlen) < 0)
			goto out;
	}
	snprintf(line, sizeof(line), "MAIL FROM:<%s>", from);
	if (conn_cmd(&c, line, line, 2, &r, err, errlen) < 0)
		goto quit;
	for (size_t i = 0; i < to->n; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<%s>", to->uri[i].addr);
		if (conn_cmd(&c, line, line, 2, &r, err, errlen) < 0)
			goto quit;
	}
	if (smtp_data_encode(msg, len, &data, err, errlen) < 0)
		goto quit;
	if (conn_cmd(&c, "DATA", "DATA", 3, &r, err, errlen) < 0)
		goto quit;
	if (conn_write(&c, data.s, data.len, err, errlen) < 0)
		goto out;
	if (conn_cmd(&c, NULL, "end of DATA", 2, &r, err, errlen) < 0)
		goto quit;
	rc = 0;
quit:
	/* the transaction is over either way; QUIT's reply does not matter */
	{
		char qerr[64];
		struct smtp_reply q;

		conn_cmd(&c, "QUIT", "QUIT", 2, &q, qerr, sizeof(qerr));
	}
out:
	dynbuf_free(&data);
	free(c.in);
	close(c.fd);
	return rc;
}
