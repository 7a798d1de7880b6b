/*
 * daemon.c - run the milter (see daemon.h).
 *
 * Order matters: block SIGHUP/SIGTERM/SIGINT first, load the config,
 * detach, open the socket as root, then drop privileges. smfi_main() runs
 * in a thread of its own; the main thread waits for signals and for
 * smfi_main() to return.
 *   SIGHUP: load the config again; a good one becomes the current snapshot
 *           for new connections, a bad one is logged and the old one kept.
 *           SIGHUPs that arrive during a reload give one more reload.
 *   SIGTERM, SIGINT: log event=stop with the signal and its sender, let
 *           the messages in flight finish (up to the milter timeout),
 *           exit 0.
 *   smfi_main() returning by itself: log event=stop reason=..., exit
 *           EX_SOFTWARE (70), so that systemd's Restart=on-failure restarts us.
 * Before serving, daemon_run() returns the <sysexits.h> code of what went
 * wrong: EX_CONFIG, EX_USAGE (-p), EX_NOUSER, EX_OSERR, EX_CANTCREAT (the
 * pid file), EX_NOPERM (dropping privileges).
 *
 * How the signals get there. The three are blocked in every thread for the
 * life of the process, from the first line of daemon_run() (before any
 * thread exists: the resolver's, libmilter's; threads inherit the mask),
 * and only the main thread takes them, by reading a signalfd. A blocked
 * process-directed signal stays pending until it is read, so whichever
 * thread the kernel would have picked, it ends up on that one path; and a
 * standard signal is pending at most once, which coalesces a storm of
 * SIGHUPs into at most one more reload per reload.
 *   libmilter would break this. smfi_main() starts a thread that
 * sigwait()s for the three and stops the milter on any of them (SIGHUP
 * included), telling us nothing. sigwait() unblocks them while it waits,
 * so the kernel hands that thread any signal the main thread cannot take
 * at that instant: blocked while its handler runs, or already holding a
 * pending one (Linux then looks for another thread). So we define
 * sigwait() below: the executable's definition comes first in symbol
 * lookup, and libmilter.so (which imports sigwait from libc) calls ours,
 * which never returns these three; the thread just sleeps. daemon_run()
 * checks that libmilter's thread did come through it and logs a warning
 * if not. Measured with t/daemon.py's storm (4 senders x 250 SIGHUPs,
 * 1 ms apart, 3 clients sending messages; kernel 6.x, 2 CPUs):
 *   - a handler writing to a pipe, the signals unblocked in the main
 *     thread only (the design before this one): 23 storms of 23 stopped
 *     the milter (exit 0 and no stop line, or worse: alive, the socket
 *     closed, SIGTERM unanswered for 10 s), and a SIGHUP pending at
 *     start-up stopped it before the storm in 1 to 5 runs of 12;
 *   - the same with SA_NODEFER and an empty sa_mask, so the handler never
 *     blocks them: 0 storms of 16 stopped it, but a SIGHUP pending at
 *     start-up still did in 3 runs of 12 and 3 of 10 (libmilter's thread
 *     is waiting before the main thread unblocks them). And by the
 *     kernel's rules (wants_signal()) a signal that arrives while the main
 *     thread has one pending and is off the CPU, or is stopped by a
 *     debugger, still goes to libmilter's thread;
 *   - a signalfd without our sigwait(): libmilter's thread is then the
 *     only one not blocking them, and the first SIGHUP stops the milter;
 *   - this design: 0 of 70 storms, 0 stops at start-up.
 * By default the milter is served by our own
 * engine (engine.h) instead of smfi_main(): no libmilter thread, no
 * sigwait(); the engine's threads block the three signals as every thread
 * here does, and the main thread's loop is the same.
 * From exec to the first line of daemon_run() (the dynamic loader, then
 * getopt: about a millisecond) the default actions still apply: a SIGHUP
 * then ends the process, which systemd counts as a clean exit and does not
 * restart. A signal blocked by whoever started us stays blocked across
 * exec and is taken here like any other.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "callbacks.h"
#ifdef EVENT_ENGINE
#include "engine.h"
#endif
#include "settings.h"
#include "daemon.h"
#include "metrics.h"
#include "log.h"
#include "session.h"
#include "stats.h"
#include "util.h"

/* written once smfi_main() has returned */
static int done_pipe[2] = {-1, -1};
/* libmilter's signal thread has called our sigwait() (atomic) */
static int sigwait_seen;

/* the_signals - SIGHUP, SIGTERM, SIGINT: ours, in the main thread only */
static void
the_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

/*
 * sigwait - stands in for libc's (see the comment at the top). libmilter's
 * signal thread asks for SIGHUP, SIGTERM and SIGINT and would stop the
 * milter on any of them; those are left to the main thread's signalfd and
 * never returned here. Any other signal asked for is waited for as libc
 * would. Nothing else in the process calls sigwait().
 */
int
sigwait(const sigset_t *restrict set, int *restrict sig)
{
	sigset_t rest = *set;
	int n;

	sigdelset(&rest, SIGHUP);
	sigdelset(&rest, SIGTERM);
	sigdelset(&rest, SIGINT);
	if (sigismember(set, SIGHUP) == 1)
		__atomic_store_n(&sigwait_seen, 1, __ATOMIC_SEQ_CST);
	if (sigisemptyset(&rest)) {
		/* all our signals are blocked here: nothing wakes this */
		for (;;)
			pause();
	}
	while ((n = sigwaitinfo(&rest, NULL)) < 0)
		if (errno != EINTR)
			return errno;
	*sig = n;
	return 0;
}

static const char *
signal_name(int sig)
{
	switch (sig) {
	case SIGHUP:
		return "SIGHUP";
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	default:
		return "other";
	}
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
	if (write(done_pipe[1], "", 1) < 0) {
		/* cannot happen: one byte into an empty pipe */
	}
	return NULL;
}

/* socket_failed - say why the socket could not be opened, in our own log
 * (libmilter says it only to syslog) */
static void
socket_failed(const char *spec, int err)
{
	log_msg(LOG_ERR, "event=fatal reason=\"cannot open socket %s: %s\"",
	    spec, err != 0 ? strerror(err) : "see libmilter's message");
}

/* warn_authserv_id - mail readers trust our header by its authserv-id: a
 * single label (the host's name without a domain) is almost never meant */
static void
warn_authserv_id(const char *event, const struct settings *cfg)
{
	if (strchr(cfg->authserv_id, '.') == NULL)
		log_msg(LOG_WARNING, "event=%s warning=\"authserv_id %s is not "
		    "a fully qualified name: set authserv_id to this mail "
		    "system's name (RFC 8601 2.5)\"", event, cfg->authserv_id);
}

/* the daemon's own metrics: reloads, start time, build */
static struct stats_metric m_reload_ok = STATS_COUNTER_AS("reloads_ok_total",
    "reloads_total", "result=\"ok\"",
    "Reloads (SIGHUP), by result: failed ones keep the running configuration");
static struct stats_metric m_reload_failed = STATS_COUNTER_AS(
    "reloads_failed_total", "reloads_total", "result=\"failed\"",
    "Reloads (SIGHUP), by result: failed ones keep the running configuration");
static struct stats_metric m_reload_success = STATS_GAUGE(
    "last_reload_success", "Whether the last reload succeeded (1 before "
    "any reload)");
static struct stats_metric m_reload_time = STATS_GAUGE(
    "last_reload_timestamp_seconds", "When the last reload was tried, as "
    "a Unix time (0: none yet)");
static struct stats_metric m_start_time = STATS_GAUGE("start_time_seconds",
    "When the daemon started, as a Unix time");
static struct stats_metric m_build = { .name = "build_info",
    .kind = STATS_KIND_GAUGE, .labels = "version=\"" PACKAGE_VERSION "\"",
    .help = "The version running (the value is 1)" };

static void
daemon_stats_register(void)
{
	stats_register(&m_reload_ok);
	stats_register(&m_reload_failed);
	stats_register(&m_reload_success);
	stats_register(&m_reload_time);
	stats_register(&m_start_time);
	stats_register(&m_build);
	stats_set(&m_reload_success, 1);
	stats_set(&m_start_time, (uint64_t)time(NULL));
	stats_set(&m_build, 1);
}

/* reload_done - count a reload and its outcome */
static void
reload_done(int ok)
{
	stats_inc(ok ? &m_reload_ok : &m_reload_failed);
	stats_set(&m_reload_success, ok ? 1 : 0);
	stats_set(&m_reload_time, (uint64_t)time(NULL));
}

/* set_thread_stacks - the stack size of every thread created from now on
 * (libmilter's thread per connection, libunbound's, libmicrohttpd's): the
 * default is RLIMIT_STACK (8 MB), and glibc's cache of freed stacks (40 MB)
 * then keeps five; a connection's thread past them maps its stack and
 * unmaps it at exit, a TLB shootdown on every CPU per connection. With
 * 512 KB stacks eighty are kept and reused (bench/RESULTS.md, issue 16;
 * every test suite passes with 128 KB). */
static void
set_thread_stacks(unsigned kb)
{
	pthread_attr_t a;
	int rc;

	if ((rc = pthread_attr_init(&a)) == 0) {
		rc = pthread_attr_setstacksize(&a, (size_t)kb * 1024);
		if (rc == 0)
			rc = pthread_setattr_default_np(&a);
		pthread_attr_destroy(&a);
	}
	if (rc != 0)
		log_msg(LOG_WARNING, "event=start note=\"thread_stack_kb %u not "
		    "applied: %s\"", kb, strerror(rc));
}

/* raise_fd_limit - the soft descriptor limit up to the hard one (at most
 * AM_NOFILE): each milter connection holds a descriptor, and so does each
 * DNS query on the wire (dns_unbound.c lets 2,048 out at once). A soft
 * limit of 1,024 (the shell's and systemd's default) ran out under a
 * crowd of cold messages. Every library here polls with poll() or epoll,
 * none with select(), so descriptors past 1,024 are safe. */
#define AM_NOFILE 65536
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > AM_NOFILE ?
	    AM_NOFILE : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_msg(LOG_WARNING, "event=start note=\"descriptor limit "
			    "not raised: %s\"", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096)
		log_msg(LOG_WARNING, "event=start note=\"descriptor limit %lu: "
		    "each milter connection and each DNS query holds one; raise "
		    "it (LimitNOFILE=) to 4096 or more\"",
		    (unsigned long)rl.rlim_cur);
}

/* reload - SIGHUP: read the file again (as the user we run as, after -u);
 * a good one becomes current for new connections and every setting that
 * can change in place does (config.c marks the others, which are named) */
static void
reload(const char *path, struct session_env *env)
{
	char err[512], changed[512];
	struct settings *cfg = settings_load(path, err, sizeof(err));
	struct settings *old;
	int nchanged;

	if (cfg == NULL) {
		log_msg(LOG_ERR, "event=reload status=failed reason=\"%s\" "
		    "note=\"keeping the running configuration\"", err);
		reload_done(0);
		return;
	}
	old = settings_get_current();
	nchanged = settings_start_only_changes(old, cfg, changed,
	    sizeof(changed));
	if (old->log_facility != cfg->log_facility)
		log_reopen(cfg->log_facility);
	log_set_level(cfg->log_level);
	if (old->milter_timeout_s != cfg->milter_timeout_s) {
#ifdef EVENT_ENGINE
		engine_settimeout(cfg->milter_timeout_s);
#else
		(void)smfi_settimeout((int)cfg->milter_timeout_s);
#endif
	}
	settings_unref(&old);
	warn_authserv_id("reload", cfg);
	if (session_env_reload(env, cfg, err, sizeof(err)) != 0)
		log_msg(LOG_ERR, "event=reload note=\"%s\"", err);
	settings_set_current(cfg);
	/* named once the new settings are the current ones: a client that
	 * waits for this line gets the reloaded configuration */
	if (nchanged > 0)
		log_msg(LOG_WARNING, "event=reload note=\"changed, applied at "
		    "the next start only: %s\"", changed);
	reload_done(1);
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

/* check_libmilter_signals - wait (2 s at most) for libmilter's signal
 * thread to reach our sigwait(); log a warning if it does not */
static void
check_libmilter_signals(void)
{
	struct timespec t = {0, 1000 * 1000};
	struct pollfd done = {done_pipe[0], POLLIN, 0};

	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&sigwait_seen, __ATOMIC_SEQ_CST))
			return;
		if (poll(&done, 1, 0) > 0)
			return; /* smfi_main returned already: the main loop says so */
		nanosleep(&t, NULL);
	}
	log_msg(LOG_WARNING, "event=start note=\"libmilter's signal thread did not "
	    "call our sigwait(): a SIGHUP, SIGTERM or SIGINT it takes will stop "
	    "the milter (exit 70, EX_SOFTWARE)\"");
}

/* read_signals - take every signal pending on the signalfd: *hup is set
 * for a SIGHUP, *stop filled for the first SIGTERM or SIGINT */
static void
read_signals(int sfd, int *hup, struct signalfd_siginfo *stop)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			*hup = 1;
		else if (stop->ssi_signo == 0)
			*stop = si;
	}
}

int
daemon_run(const struct daemon_opts *o)
{
	char err[512];
	struct settings *cfg;
	struct session_env *env;
	const char *spec, *path, *pidfile, *user;
	sigset_t set;
	pthread_t tid;
	struct pollfd pfd[2];
	struct signalfd_siginfo stop;
	int milter_rc = MI_FAILURE, sfd, exit_code, metrics_fd = -1;
	uid_t uid = 0;
	gid_t gid = 0;
	char username[64] = "", stats[4096];

	/* first of all, before any thread exists: from here on a signal
	 * waits, pending, for the main thread's signalfd */
	the_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	cfg = settings_load(o->config_path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "authmilter: %s\n", err);
		return EX_CONFIG;
	}
	spec = o->socket ? o->socket : cfg->socket;
	if (settings_socket_valid(spec, err, sizeof(err)) != 0) {
		fprintf(stderr, "authmilter: -p %s: %s\n", spec, err);
		settings_unref(&cfg);
		return EX_USAGE;
	}
	user = o->user ? o->user : cfg->user;
	if (user != NULL &&
	    lookup_user(user, &uid, &gid, username, sizeof(username), err, sizeof(err)) != 0) {
		fprintf(stderr, "authmilter: %s\n", err);
		settings_unref(&cfg);
		return EX_NOUSER;
	}
	pidfile = o->pidfile ? o->pidfile : cfg->pidfile;
	log_open("authmilter", cfg->log_facility, o->foreground);
	log_set_level(cfg->log_level);
	warn_authserv_id("start", cfg);
	if (!o->foreground && daemon(0, 0) != 0) {
		fprintf(stderr, "authmilter: cannot detach: %s\n", strerror(errno));
		settings_unref(&cfg);
		return EX_OSERR;
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"signalfd, pipe: %s\"",
		    strerror(errno));
		return EX_OSERR;
	}

	set_thread_stacks(cfg->thread_stack_kb);
	raise_fd_limit();
	env = session_env_open(cfg, err, sizeof(err));
	if (env == NULL) {
		log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
		settings_unref(&cfg);
		return EX_OSERR;
	}
	callbacks_init(env, socket_path(spec) != NULL);
	settings_set_current(settings_ref(cfg));

#ifdef EVENT_ENGINE
	/* our own engine (engine.h): the socket now, as root; its threads
	 * after dropping privileges, where libmilter's thread starts */
	path = socket_path(spec);
	{
		mode_t old = umask(0777 & ~cfg->socket_mode);

		if (engine_listen(spec, err, sizeof(err)) != 0) {
			log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
			umask(old);
			return EX_OSERR;
		}
		umask(old);
	}
	engine_settimeout(cfg->milter_timeout_s);
	if (path != NULL) {
		chmod(path, cfg->socket_mode);
		if (user != NULL && chown(path, uid, gid) != 0)
			log_msg(LOG_WARNING, "event=start note=\"chown %s: %s\"", path,
			    strerror(errno));
	}
#else
	if (smfi_register(*callbacks_filter()) == MI_FAILURE ||
	    smfi_setconn((char *)spec) == MI_FAILURE ||
	    smfi_settimeout((int)cfg->milter_timeout_s) == MI_FAILURE) {
		log_msg(LOG_ERR, "event=fatal reason=\"libmilter setup failed for %s\"", spec);
		return EX_OSERR;
	}
	path = socket_path(spec);
	if (path != NULL) {
		mode_t old = umask(0777 & ~cfg->socket_mode);

		/* smfi_opensocket(1) removes a stale socket file first */
		errno = 0;
		if (smfi_opensocket(1) == MI_FAILURE) {
			socket_failed(spec, errno);
			umask(old);
			return EX_OSERR;
		}
		umask(old);
		chmod(path, cfg->socket_mode);
		if (user != NULL && chown(path, uid, gid) != 0)
			log_msg(LOG_WARNING, "event=start note=\"chown %s: %s\"", path,
			    strerror(errno));
	} else if (errno = 0, smfi_opensocket(0) == MI_FAILURE) {
		socket_failed(spec, errno);
		return EX_OSERR;
	}
	set_nodelay();
#endif
	/* the endpoint's socket as root (any port), its thread after */
	if (cfg->metrics_listen != NULL &&
	    (metrics_fd = metrics_listen(cfg->metrics_listen, err,
	    sizeof(err))) < 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
		return EX_OSERR;
	}
	if (pidfile != NULL && write_pidfile(pidfile) != 0)
		return EX_CANTCREAT;
	if (user != NULL && drop_privileges(username, uid, gid) != 0)
		return EX_NOPERM;

	daemon_stats_register();
	/* DMARC aggregate reports: the writer's thread opens the store as
	 * the user we run as now (a store that is down is retried, never
	 * fatal); only the daemon keeps records, not -t */
	if (session_env_reports_start(env, cfg, err, sizeof(err)) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
		return EX_OSERR;
	}
	if (metrics_fd >= 0 && metrics_start(metrics_fd, err, sizeof(err)) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
		return EX_OSERR;
	}
#ifdef EVENT_ENGINE
	(void)tid;
	(void)milter_thread;
	(void)check_libmilter_signals;
	(void)set_nodelay;
	(void)socket_failed;
	/* I/O threads: one per CPU up to 4; workers for the ends of
	 * message, which may wait on DNS: 32, growing to 4,096 while
	 * messages wait for one (cold DNS: each waiting message holds a
	 * worker, as each connection holds a thread under libmilter) */
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		if (engine_start(ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned)ncpu, 32,
		    4096, done_pipe[1], err, sizeof(err)) != 0) {
			log_msg(LOG_ERR, "event=fatal reason=\"%s\"", err);
			return EX_OSERR;
		}
	}
#else
	if (pthread_create(&tid, NULL, milter_thread, &milter_rc) != 0) {
		log_msg(LOG_ERR, "event=fatal reason=\"cannot start the milter thread\"");
		return EX_OSERR;
	}
	check_libmilter_signals();
#endif
	log_msg(LOG_INFO, "event=start version=%s socket=%s authserv_id=%s%s%s%s",
	    PACKAGE_VERSION, spec, cfg->authserv_id,
	    cfg->metrics_listen ? " metrics=" : "",
	    cfg->metrics_listen ? cfg->metrics_listen : "",
	    /* the kind only: a PostgreSQL URI may hold a password */
	    !cfg->reports_enable ? "" :
	    strncmp(cfg->reports_store, "sqlite:", 7) == 0 ?
	    " reports=sqlite" : " reports=postgresql");

	/* one reload per turn however many SIGHUPs came in meanwhile; a stop
	 * wins over a reload pending with it */
	memset(&stop, 0, sizeof(stop));
	pfd[0].fd = sfd;
	pfd[1].fd = done_pipe[0];
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		int hup = 0;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "event=stop reason=\"poll: %s\"", strerror(errno));
			break;
		}
		read_signals(sfd, &hup, &stop);
		if (stop.ssi_signo != 0) {
			log_msg(LOG_INFO, "event=stop signal=%s sender_pid=%u in_flight=%d "
			    "connections=%d", signal_name((int)stop.ssi_signo),
			    stop.ssi_pid, callbacks_in_flight(), callbacks_connections());
			break;
		}
		if (pfd[1].revents != 0) {
#ifdef EVENT_ENGINE
			log_msg(LOG_ERR, "event=stop reason=\"the milter engine "
			    "stopped by itself\" in_flight=%d connections=%d",
			    callbacks_in_flight(), callbacks_connections());
			break;
#endif
			pthread_join(tid, NULL);
			log_msg(LOG_ERR, "event=stop reason=\"libmilter stopped by "
			    "itself (smfi_main returned %s)\" in_flight=%d connections=%d",
			    milter_rc == MI_SUCCESS ? "MI_SUCCESS" : "MI_FAILURE",
			    callbacks_in_flight(), callbacks_connections());
			break;
		}
		if (hup)
			reload(o->config_path, env);
	}
	/* let the messages in flight at the signal finish, then leave.
	 * smfi_stop() is not used: it waits for a lock libmilter's listener
	 * holds through its poll (up to 5 s), and once it has run libmilter
	 * drops the sessions still open, message or not. Exiting closes the
	 * listening socket; the MTA applies milter_default_action to
	 * anything that arrives after. */
	callbacks_stopping();
	drain(cfg->milter_timeout_s);
	/* the report records still queued go to the store (a few seconds
	 * at most); not while a message may still hand one over */
	if (callbacks_in_flight() == 0)
		session_env_reports_stop(env);
	else if (env->reports != NULL)
		log_msg(LOG_WARNING, "event=stop note=\"report records still "
		    "queued are lost: %d messages in flight\"",
		    callbacks_in_flight());
	/* only a signal of ours is a clean stop; anything else is a fault
	 * that systemd restarts us for */
	exit_code = stop.ssi_signo != 0 ? EX_OK : EX_SOFTWARE;
	if (pidfile != NULL)
		unlink(pidfile);
	if (path != NULL)
		unlink(path);
	session_env_stats(env, stats, sizeof(stats));
	log_msg(exit_code == EX_OK ? LOG_INFO : LOG_ERR, "event=exit status=%s %s",
	    exit_code == EX_OK ? "ok" : "error", stats);
	/* worker threads may still hold sessions: leave without running
	 * destructors under them */
	fflush(NULL);
	_exit(exit_code);
}
