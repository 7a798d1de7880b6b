/*
 * milterload-corpus.h - the benchmark corpus: a TSV of messages and their
 * envelopes, each message loaded once and split into header fields and a
 * CRLF body the way Postfix hands them to a milter.
 *
 * Errors are reported as -1 with a one-line reason naming the file (and
 * the TSV line); nothing here exits or crashes on bad input.
 */
#ifndef ML_CORPUS_H
#define ML_CORPUS_H

#include <stddef.h>

/* bounds on the input (each breach is an error naming the file) */
#define ML_MAX_FILE	(64u * 1024 * 1024)	/* one message file */
#define ML_MAX_HDRS	10000			/* header fields per message */
#define ML_MAX_HDR	(1024u * 1024)		/* one header field */
#define ML_MAX_LINE	(1024u * 1024)		/* one TSV line */
#define ML_MAX_ROWS	1000000			/* TSV rows */
#define ML_MAX_RCPTS	100			/* recipients per row */

/* One header field. value is the text after the colon exactly as in the
 * file: its leading space kept, folded lines joined by "\n" (Postfix sends
 * multi-line headers "as text separated by newline", milter8.c). */
struct ml_header {
	char *name;
	char *value;
};

struct ml_msg {
	char *id;
	char *file;
	char *client_ip;
	char *helo;		/* "" : no HELO event */
	char *mail_from;	/* bare address, "" for the null sender */
	char *auth_user;	/* "" : not authenticated */
	char **rcpts;		/* bare addresses, at least one */
	size_t nrcpt;
	char **extra;		/* the row's extra columns (nextra of them) */
	struct ml_header *hdrs;
	size_t nhdrs;
	char *body;		/* CRLF line ends */
	size_t bodylen;
};

struct ml_corpus {
	struct ml_msg *msgs;
	size_t n;
	char **extra_names;	/* header names of the extra columns */
	size_t nextra;
};

/* corpus_load - read the TSV and every message it names (paths relative to
 * the TSV's directory); 0, or -1 with err set and *c left empty */
int corpus_load(const char *tsv, struct ml_corpus *c, char *err, size_t errlen);
/* corpus_free - release everything corpus_load() allocated */
void corpus_free(struct ml_corpus *c);
/* corpus_play_order - c->n indexes into c->msgs (free() them): the corpus
 * order, or with group the order of session keys (client address, HELO,
 * SASL user; corpus order within a key) */
size_t *corpus_play_order(const struct ml_corpus *c, int group);
/* msg_parse - split an RFC 5322 message (RFC 5322 2.2: fields up to the
 * first empty line, continuation lines start with WSP) into m->hdrs and a
 * CRLF-normalised m->body; 0, or -1 with err set */
int msg_parse(const char *buf, size_t len, struct ml_msg *m, char *err,
    size_t errlen);

#endif
