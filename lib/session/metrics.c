/*
 * metrics.c - what the session counts of each message, for the exit log
 * line and the metrics endpoint (lib/stats): the action, every result the
 * Authentication-Results header carries, DKIM keys by algorithm and
 * size, the DMARC policy against the disposition applied, and the
 * overrides. All from the end of the message, where the results list and
 * the policy decision are final; every label value is one of the words
 * below, never a piece of the message.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "dkim.h"
#include "dmarc.h"
#include "policy.h"
#include "session_impl.h"
#include "settings.h"
#include "stats.h"

static struct stats_metric messages = STATS_COUNTER_LOCAL("messages_total",
    "messages evaluated to the end");
static struct stats_metric actions[] = {
#define ACTION(a) STATS_COUNTER_AS("messages_" a "_total", "messages_total", \
	"action=\"" a "\"", "Messages evaluated, by the action taken " \
	"(skipped clients' messages are accepted)")
	[SESSION_ACCEPT] = ACTION("accept"),
	[SESSION_REJECT] = ACTION("reject"),
	[SESSION_QUARANTINE] = ACTION("quarantine"),
	[SESSION_TEMPFAIL] = ACTION("tempfail"),
#undef ACTION
};
static struct stats_metric skipped = STATS_COUNTER("messages_skipped_total",
    "Messages not evaluated (trusted network, authenticated client)");
/* the time the MTA waits for the methods: the end of the headers (DKIM's
 * key lookups) and the end of the message, in microseconds */
static const uint64_t eval_bounds[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static struct stats_metric eval_us = STATS_HISTOGRAM_SECONDS(
    "message_eval_microseconds", "message_processing_seconds",
    "Time the MTA waited for the evaluation of one message (end of headers "
    "and end of message)", eval_bounds);

/* results_total{method, result}: the header's results */
static const char *const method_names[] = {
	"spf", "dkim", "dmarc", "arc", "iprev",
};
#define NMETH (sizeof(method_names) / sizeof(method_names[0]))
static const char *const result_names[] = {
	"pass", "fail", "softfail", "neutral", "none", "policy", "temperror",
	"permerror",
};
#define NRES (sizeof(result_names) / sizeof(result_names[0]))
#define RESULTS_HELP "Results written into Authentication-Results, by " \
	"method and result"
#define R(m, r) STATS_LABELLED("results_total", "method=\"" m \
	"\",result=\"" r "\"", RESULTS_HELP)
#define RROW(m) { R(m, "pass"), R(m, "fail"), R(m, "softfail"), \
	R(m, "neutral"), R(m, "none"), R(m, "policy"), R(m, "temperror"), \
	R(m, "permerror") }
static struct stats_metric results_total[NMETH][NRES] = {
	RROW("spf"), RROW("dkim"), RROW("dmarc"), RROW("arc"), RROW("iprev"),
};
#undef RROW
#undef R

/* dkim_signatures_total{algorithm, key_bits}: signatures with a key */
static const char *const alg_names[] = {
	"rsa-sha256", "rsa-sha1", "ed25519-sha256", "other",
};
#define NALG (sizeof(alg_names) / sizeof(alg_names[0]))
static const char *const bits_names[] = {
	"lt1024", "1024", "2048", "3072", "4096", "256", "other",
};
#define NBITS (sizeof(bits_names) / sizeof(bits_names[0]))
#define DKIM_HELP "DKIM signatures whose key was fetched, by algorithm " \
	"and key size"
#define K(a, b) STATS_LABELLED("dkim_signatures_total", "algorithm=\"" a \
	"\",key_bits=\"" b "\"", DKIM_HELP)
#define KROW(a) { K(a, "lt1024"), K(a, "1024"), K(a, "2048"), K(a, "3072"), \
	K(a, "4096"), K(a, "256"), K(a, "other") }
static struct stats_metric dkim_keys[NALG][NBITS] = {
	KROW("rsa-sha256"), KROW("rsa-sha1"), KROW("ed25519-sha256"),
	KROW("other"),
};
#undef KROW
#undef K

/* dmarc_messages_total{policy, disposition}, indexed by rank: none,
 * quarantine, reject */
#define DMARC_HELP "Messages whose DMARC result (the author domain acted " \
	"on) was pass or fail, by the published policy that applied and " \
	"the disposition applied (deferred messages are not counted)"
#define D(p, d) STATS_LABELLED("dmarc_messages_total", "policy=\"" p \
	"\",disposition=\"" d "\"", DMARC_HELP)
#define DROW(p) { D(p, "none"), D(p, "quarantine"), D(p, "reject") }
static struct stats_metric dmarc_messages[3][3] = {
	DROW("none"), DROW("quarantine"), DROW("reject"),
};
#undef DROW
#undef D

enum override {
	OV_TESTING, OV_SAMPLED_OUT, OV_TRUSTED_FORWARDER, OV_MAILING_LIST,
	OV_LOCAL_POLICY, NOV
};
#define OV_HELP "DMARC failures whose policy was not applied as published, " \
	"by why: the record's testing mode (t=y), legacy pct sampling, a " \
	"trusted ARC sealer (trusted_forwarder, mailing_list), or local " \
	"policy (report-only mode, policy.never_reject, policy.quarantine)"
#define O(r) STATS_LABELLED("dmarc_overrides_total", "reason=\"" r "\"", OV_HELP)
static struct stats_metric overrides[NOV] = {
	[OV_TESTING] = O("testing"),
	[OV_SAMPLED_OUT] = O("sampled_out"),
	[OV_TRUSTED_FORWARDER] = O("trusted_forwarder"),
	[OV_MAILING_LIST] = O("mailing_list"),
	[OV_LOCAL_POLICY] = O("local_policy"),
};
#undef O

static void
register_all(void)
{
	stats_register(&messages);
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		stats_register(&actions[i]);
	stats_register(&skipped);
	stats_register(&eval_us);
	for (size_t i = 0; i < NMETH; i++)
		for (size_t j = 0; j < NRES; j++)
			stats_register(&results_total[i][j]);
	for (size_t i = 0; i < NALG; i++)
		for (size_t j = 0; j < NBITS; j++)
			stats_register(&dkim_keys[i][j]);
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 3; j++)
			stats_register(&dmarc_messages[i][j]);
	for (size_t i = 0; i < NOV; i++)
		stats_register(&overrides[i]);
}

void
session_stats_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_all);
}

/* word_index - w's place in names[n], or n */
static size_t
word_index(const char *const *names, size_t n, const char *w)
{
	size_t i = 0;

	while (i < n && (w == NULL || strcmp(names[i], w) != 0))
		i++;
	return i;
}

static size_t
bits_index(const struct dkv_result *d)
{
	if (strcmp(d->algorithm, "ed25519-sha256") == 0)
		return d->key_bits == 256 ? 5 : 6;
	if (d->key_bits < 1024)
		return 0;
	switch (d->key_bits) {
	case 1024: return 1;
	case 2048: return 2;
	case 3072: return 3;
	case 4096: return 4;
	default: return 6;
	}
}

/* rank - none 0, quarantine 1, reject 2 (an unset policy is none) */
static int
rank(enum dmarc_policy p)
{
	return p == DMARC_POLICY_REJECT ? 2 : p == DMARC_POLICY_QUARANTINE;
}

/* count_dmarc - the acted-on author domain's policy against what was
 * done, and why they differ */
static void
count_dmarc(const struct settings *cfg, const struct policy_decision *d,
    enum session_action action)
{
	const struct result *r = d->acted_on;
	const struct dmarc_outcome *o;
	int applied;

	for (size_t i = 0; i < d->noverrides; i++)
		stats_inc(&overrides[strcmp(d->overrides[i].reason,
		    "mailing_list") == 0 ? OV_MAILING_LIST :
		    OV_TRUSTED_FORWARDER]);
	if (r == NULL || (o = r->dmarc) == NULL || action == SESSION_TEMPFAIL ||
	    (o->result != DMARC_RES_PASS && o->result != DMARC_RES_FAIL))
		return;
	if (action == SESSION_REJECT)
		applied = 2;
	else if (action == SESSION_QUARANTINE)
		applied = 1;
	else if (o->result == DMARC_RES_FAIL && policy_overridden(d, r) == NULL &&
	    o->disposition == DMARC_POLICY_QUARANTINE &&
	    cfg->policy_mode == POLICY_ENFORCE &&
	    cfg->policy_quarantine == QUARANTINE_HEADER)
		applied = 1; /* marked in the header for the MTA to file */
	else
		applied = 0;
	stats_inc(&dmarc_messages[rank(o->policy)][applied]);
	if (o->result != DMARC_RES_FAIL || policy_overridden(d, r) != NULL)
		return;
	if (o->testing && rank(o->policy) > rank(o->disposition))
		stats_inc(&overrides[OV_TESTING]);
	else if (o->sampled_out)
		stats_inc(&overrides[OV_SAMPLED_OUT]);
	if (applied < rank(o->disposition))
		stats_inc(&overrides[OV_LOCAL_POLICY]);
}

void
session_metrics_count(const struct session *s, const struct session_verdict *v,
    const struct policy_decision *d, uint64_t eval_time_us)
{
	const struct results *rs = v->results;

	stats_inc(&messages);
	stats_inc(&actions[v->action]);
	if (v->skipped != NULL)
		stats_inc(&skipped);
	stats_observe(&eval_us, eval_time_us);
	/* the results the header shows: none when it is not written */
	if (v->authres == NULL || rs == NULL)
		return;
	for (size_t i = 0; i < rs->n; i++) {
		const struct result *r = &rs->v[i];
		size_t m = word_index(method_names, NMETH, r->method);
		size_t k = word_index(result_names, NRES, r->result);

		if (m < NMETH && k < NRES)
			stats_inc(&results_total[m][k]);
		if (r->dkim != NULL && r->dkim->key_bits != 0)
			stats_inc(&dkim_keys[word_index(alg_names, NALG - 1,
			    r->dkim->algorithm)][bits_index(r->dkim)]);
	}
	count_dmarc(s->cfg, d, v->action);
}
