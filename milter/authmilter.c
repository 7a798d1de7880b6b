/*
 * authmilter.c - command line: run the daemon, check the config (-n), or
 * evaluate one message offline (-t).
 *
 * Exit codes are <sysexits.h>'s, listed in authmilter(8) under EXIT STATUS:
 * EX_USAGE (64) here, EX_CONFIG (78) for a configuration -n or -t cannot
 * load; daemon.c and offline.c say theirs.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "arc.h"
#include "settings.h"
#include "daemon.h"
#include "log.h"
#include "offline.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/authmilter.conf"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: authmilter [-c FILE] [-f] [-n] [-p SOCKET] [-u USER[:GROUP]] "
	    "[-P PIDFILE] [-V]\n"
	    "       authmilter -t FILE|- [-c FILE] [--client-ip IP] [--client-name NAME]\n"
	    "                  [--helo NAME] [--mail-from ADDR] [--rcpt ADDR]\n"
	    "                  [--auth-user NAME]\n"
	    "  -c FILE    configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -f         stay in the foreground and log to stderr\n"
	    "  -n         check the configuration and exit\n"
	    "  -p SOCKET  socket (inet:8891@localhost, inet6:8891@[::1], unix:/path)\n"
	    "  -u USER    drop privileges to USER[:GROUP] after opening the socket\n"
	    "  -P FILE    write the process id to FILE\n"
	    "  -t FILE    evaluate one message (- for stdin) and print the\n"
	    "             Authentication-Results header and the action\n"
	    "  -V         print the version\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"client-ip", required_argument, NULL, 'I'},
		{"client-name", required_argument, NULL, 'N'},
		{"helo", required_argument, NULL, 'H'},
		{"mail-from", required_argument, NULL, 'F'},
		{"rcpt", required_argument, NULL, 'R'},
		{"auth-user", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_opts d;
	struct offline_opts t;
	const char *config_path = NULL;
	int check = 0, c;

	memset(&d, 0, sizeof(d));
	memset(&t, 0, sizeof(t));
	while ((c = getopt_long(argc, argv, "c:fnp:u:P:t:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			d.foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'p':
			d.socket = optarg;
			break;
		case 'u':
			d.user = optarg;
			break;
		case 'P':
			d.pidfile = optarg;
			break;
		case 't':
			t.file = optarg;
			break;
		case 'I':
			t.client_ip = optarg;
			break;
		case 'N':
			t.client_name = optarg;
			break;
		case 'H':
			t.helo = optarg;
			break;
		case 'F':
			t.mail_from = optarg;
			break;
		case 'R':
			t.rcpt = optarg;
			break;
		case 'A':
			t.auth_user = optarg;
			break;
		case 'V':
			printf("authmilter %s\n", PACKAGE_VERSION);
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}

	if (check || t.file != NULL) {
		char err[512];
		struct settings *cfg;
		int rc;

		if (config_path == NULL && t.file != NULL &&
		    access(DEFAULT_CONFIG, F_OK) != 0)
			cfg = settings_defaults(); /* -t works without an installed config */
		else
			cfg = settings_load(config_path ? config_path : DEFAULT_CONFIG,
			    err, sizeof(err));
		if (cfg == NULL) {
			fprintf(stderr, "%s\n", err);
			return EX_CONFIG;
		}
		if (check && cfg->arc_seal_key_file != NULL) {
			/* the sealing key is read at start: a key that would
			 * stop the daemon fails the check too */
			struct arc_sealer *sl = arc_sealer_new(
			    cfg->arc_seal_domain, cfg->arc_seal_selector,
			    cfg->arc_seal_key_file, err, sizeof(err));

			if (sl == NULL) {
				fprintf(stderr, "%s: %s\n", cfg->path ?
				    cfg->path : DEFAULT_CONFIG, err);
				settings_unref(&cfg);
				return EX_CONFIG;
			}
			arc_sealer_free(&sl);
		}
		if (check) {
			printf("%s: configuration OK\n", cfg->path ? cfg->path : DEFAULT_CONFIG);
			settings_unref(&cfg);
			return EX_OK;
		}
		rc = offline_run(cfg, &t);
		settings_unref(&cfg);
		return rc;
	}
	d.config_path = config_path ? config_path : DEFAULT_CONFIG;
	return daemon_run(&d);
}
