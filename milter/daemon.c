/*
 * daemon.c - run the milter (see daemon.h).
 *
 * Order matters: load the config, detach, block SIGHUP/SIGTERM/SIGINT
 * before any thread exists (the resolver's dispatcher, libmilter's pool),
 * open the socket as root, then drop privileges. smfi_main() runs in a
 * thread of its own; the main thread alone leaves those signals unblocked
 * and catches them with handlers that write to a pipe. Linux offers a
 * process-directed signal to the main thread first when it does not block
 * it, so libmilter's own signal thread (which would treat SIGHUP as "stop")
 * never sees them.
 *   SIGHUP: load the config again; a good one becomes the current snapshot
 *           for new connections, a bad one is logged and the old one kept.
 *   SIGTERM, SIGINT: let the messages in flight finish (up to the milter
 *           timeout), exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "callbacks.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "session.h"
#include "util.h"

static int sig_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing to do: the pipe is full of signals already */
	}
	errno = saved;
}

static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
catch_signals(const sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, set, NULL);
}

/* socket_path - the file of a unix:/local: socket spec, or NULL */
static const char *
socket_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

/* set_nodelay - TCP_NODELAY on every listening TCP socket we hold.
 * libmilter writes header edits and the verdict as separate small writes;
 * with Nagle and the MTA's delayed ACK each message stalls ~40 ms.
 * Accepted sockets inherit the option on Linux. libmilter does not expose
 * its listening descriptor, so look for it. */
static void
set_nodelay(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		int on = 1, listening = 0, type = 0;
		socklen_t len = sizeof(listening);
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
		    !listening)
			continue;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
		    type != SOCK_STREAM)
			continue;
		if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
}

/* lookup_user - "user" or "user:group" to ids; 0 or -1 with err */
static int
lookup_user(const char *spec, uid_t *uid, gid_t *gid, char *name,
    size_t namelen, char *err, size_t errlen)
{
	char buf[256];
	char *colon;
	struct passwd *pw;

	str_copy(buf, spec, sizeof(buf));
	colon = strchr(buf, ':');
	if (colon != NULL)
		*colon++ = '\0';
	pw = getpwnam(buf);
	if (pw == NULL) {
		snprintf(err, errlen, "unknown user \"%s\"", buf);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	str_copy(name, pw->pw_name, namelen);
	if (colon != NULL && *colon != '\0') {
		struct group *gr = getgrnam(colon);

		if (gr == NULL) {
			snprintf(err, errlen, "unknown group \"%s\"", colon);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/* drop_privileges - become uid/gid for good (OpenSMTPD lka.c style:
 * fatal on any error) */
static int
drop_privileges(const char *name, uid_t uid, gid_t gid)
{
	if (initgroups(name, gid) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"cannot drop privileges to %s: %s\"",
		    name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 && uid != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"privileges could be regained\"");
		return -1;
	}
	return 0;
}

static int
write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		log_msg(LOG_ERR, "event=fatal reason=\"cannot write pid file %s: %s\"",
		    path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f) == 0 ? 0 : -1;
}

static void *
milter_thread(void *arg)
{
	int *rc = arg;

	*rc = smfi_main();
	on_signal(0); /* tell the main thread smfi_main returned */
	return NULL;
}

static int
same_list(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/* same_dns - whether two snapshots ask for the same resolver (it is built
 * once, at start) */
static int
same_dns(const struct am_config *a, const struct am_config *b)
{
	return a->dns_timeout_ms == b->dns_timeout_ms &&
	    a->dns_cache_entries == b->dns_cache_entries &&
	    same_list(a->dns_nameservers, a->dns_nnameservers, b->dns_nameservers,
	    b->dns_nnameservers) &&
	    same_list(a->dns_transparent_zones, a->dns_ntransparent,
	    b->dns_transparent_zones, b->dns_ntransparent) &&
	    (a->dns_trust_anchor == NULL) == (b->dns_trust_anchor == NULL) &&
	    (a->dns_trust_anchor == NULL ||
	    strcmp(a->dns_trust_anchor, b->dns_trust_anchor) == 0);
}

static void
reload(const char *path, struct session_env *env)
{
	char err[512];
	struct am_config *cfg = config_load(path, err, sizeof(err));
	struct am_config *old;

	if (cfg == NULL) {
		log_msg(LOG_ERR, "event=reload status=failed reason=\"%s\" "
		    "note=\"keeping the running configuration\"", err);
		return;
	}
	old = config_get_current();
	if (strcmp(old->socket, cfg->socket) != 0 || old->socket_mode != cfg->socket_mode)
		log_msg(LOG_WARNING, "event=reload note=\"socket changes need a restart\"");
	if (!same_dns(old, cfg))
		log_msg(LOG_WARNING, "event=reload note=\"dns changes need a restart\"");
	if (old->dkim_enable != cfg->dkim_enable ||
	    old->dkim_max_signatures != cfg->dkim_max_signatures ||
	    old->dkim_min_key_bits != cfg->dkim_min_key_bits)
		log_msg(LOG_WARNING, "event=reload note=\"dkim changes need a restart\"");
	config_unref(&old);
	if (session_env_reload(env, cfg, err, sizeof(err)) != 0)
		log_msg(LOG_ERR, "event=reload note=\"public suffix list kept: %s\"", err);
	config_set_current(cfg);
	log_msg(LOG_INFO, "event=reload status=ok file=%s", path);
}

/* drain - wait for messages in flight to finish, at most limit_s seconds */
static void
drain(unsigned limit_s)
{
	struct timespec t = {0, 50 * 1000 * 1000};

	for (unsigned long i = 0; i < (unsigned long)limit_s * 20; i++) {
		if (callbacks_in_flight() == 0)
			return;
		nanosleep(&t, NULL);
	}
	log_msg(LOG_WARNING, "event=stop note=\"%d messages still in flight\"",
	    callbacks_in_flight());
}

int
daemon_run(const struct daemon_opts *o)
{
	char err[512];
	struct am_config *cfg;
	struct session_env *env;
	const char *spec, *path, *pidfile, *user;
	sigset_t set;
	pthread_t tid;
	int milter_rc = MI_FAILURE, stopping = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	char username[64] = "", stats[256];

	cfg = config_load(o->config_path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "authmilter: %s\n", err);
		return 78;
	}
	spec = o->socket ? o->socket : cfg->socket;
	if (config_socket_valid(spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "authmilter: -p %s: %s\n", spec, err);
		config_unref(&cfg);
		return 64;
	}
	user = o->user ? o->user : cfg->user;
	if (user != NULL &&
	    lookup_user(user, &uid, &gid, username, sizeof(username), err, sizeof(err)) != 0) {
		fprintf(stderr, "authmilter: %s\n", err);
		config_unref(&cfg);
		return 67;
	}
	pidfile = o->pidfile ? o->pidfile : cfg->pidfile;
	log_open("authmilter", cfg->log_facility, o->foreground);
	log_set_level(cfg->log_level);
	if (!o->foreground && daemon(0, 0) != 0) {
		fprintf(stderr, "authmilter: cannot detach: %s\n", strerror(errno));
		config_unref(&cfg);
		return 71;
	}
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"pipe: %s\"", strerror(errno));
		return 71;
	}
	block_signals(&set); /* before any thread exists */

	env = session_env_open(cfg, err, sizeof(err));
	if (env == NULL) {
		log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
		config_unref(&cfg);
		return 71;
	}
	callbacks_init(env, socket_path(spec) != NULL);
	config_set_current(config_ref(cfg));

	if (smfi_register(*callbacks_filter()) == MI_FAILURE ||
	    smfi_setconn((char *)spec) == MI_FAILURE ||
	    smfi_settimeout((int)cfg->milter_timeout_s) == MI_FAILURE) {
		log_msg(LOG_ERR, "event=fatal reason=\"libmilter setup failed for %s\"", spec);
		return 71;
	}
	path = socket_path(spec);
	if (path != NULL) {
		mode_t old = umask(0777 & ~cfg->socket_mode);

		/* smfi_opensocket(1) removes a stale socket file first */
		if (smfi_opensocket(1) == MI_FAILURE) {
			umask(old);
			log_msg(LOG_ERR, "event=fatal reason=\"cannot open socket %s\"", spec);
			return 71;
		}
		umask(old);
		chmod(path, cfg->socket_mode);
		if (user != NULL && chown(path, uid, gid) != 0)
			log_msg(LOG_WARNING, "event=start note=\"chown %s: %s\"", path,
			    strerror(errno));
	} else if (smfi_opensocket(0) == MI_FAILURE) {
		log_msg(LOG_ERR, "event=fatal reason=\"cannot open socket %s\"", spec);
		return 71;
	}
	set_nodelay();
	if (pidfile != NULL && write_pidfile(pidfile) != 0)
		return 73;
	if (user != NULL && drop_privileges(username, uid, gid) != 0)
		return 77;

	if (pthread_create(&tid, NULL, milter_thread, &milter_rc) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"cannot start the milter thread\"");
		return 71;
	}
	catch_signals(&set);
	log_msg(LOG_INFO, "event=start version=%s socket=%s authserv_id=%s",
	    PACKAGE_VERSION, spec, cfg->authserv_id);

	for (;;) {
		unsigned char sig;
		fd_set rfds;
		ssize_t n;

		FD_ZERO(&rfds);
		FD_SET(sig_pipe[0], &rfds);
		if (select(sig_pipe[0] + 1, &rfds, NULL, NULL, NULL) < 0 &&
		    errno != EINTR)
			break;
		while ((n = read(sig_pipe[0], &sig, 1)) == 1) {
			if (sig == SIGHUP) {
				reload(o->config_path, env);
			} else if (sig == SIGTERM || sig == SIGINT) {
				log_msg(LOG_INFO, "event=stop signal=%d in_flight=%d "
				    "connections=%d", sig, callbacks_in_flight(),
				    callbacks_connections());
				stopping = 1;
			} else if (sig == 0) {
				stopping = 2; /* smfi_main returned by itself */
			}
		}
		if (stopping)
			break;
	}
	/* let the messages in flight at the signal finish, then leave.
	 * smfi_stop() is not used: it waits for a lock libmilter's listener
	 * holds through its poll (up to 5 s), and once it has run libmilter
	 * drops the sessions still open, message or not. Exiting closes the
	 * listening socket; the MTA applies milter_default_action to
	 * anything that arrives after. */
	callbacks_stopping();
	drain(cfg->milter_timeout_s);
	if (stopping == 2)
		pthread_join(tid, NULL);
	else
		milter_rc = MI_SUCCESS;
	if (pidfile != NULL)
		unlink(pidfile);
	if (path != NULL)
		unlink(path);
	session_env_stats(env, stats, sizeof(stats));
	log_msg(LOG_INFO, "event=exit status=%s %s",
	    milter_rc == MI_SUCCESS ? "ok" : "error", stats);
	/* worker threads may still hold sessions: leave without running
	 * destructors under them */
	fflush(NULL);
	_exit(milter_rc == MI_SUCCESS ? 0 : 1);
}
