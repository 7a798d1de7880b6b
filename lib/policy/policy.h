/*
 * policy.h - what to do with a message, from its results and the settings.
 *
 * A pure function: the results list (results.h), the facts the session
 * adds about the message as a whole (a skipped client, headers over the
 * limits) and the settings in; the action, the SMTP reply and the reason
 * out. No DNS, no session, no I/O: t/test-policy covers every branch with
 * lists built by hand.
 *
 * The rules, in order:
 *   - a skipped client (trusted network, authenticated) is accepted;
 *   - a From that names no usable author (none, several, unparseable;
 *     a dmarc result with from_error) is rejected in enforce mode when
 *     policy.on_from_error is reject, and otherwise accepted;
 *   - headers over the limits: policy.on_oversize (tempfail or reject),
 *     in report-only mode too, unless the From rule above rejected;
 *   - among the DMARC results (one per author domain, RFC 7489 6.6.1) the
 *     strictest failure is acted on: a temporary error that could change
 *     the outcome tempfails when policy.on_temperror asks (enforce mode),
 *     p=reject rejects unless the domain is under policy.never_reject,
 *     p=quarantine holds the message when policy.quarantine is hold; in
 *     report-only mode everything is accepted;
 *   - except that a final DMARC failure under p=reject or p=quarantine is
 *     overridden (RFC 8617 7.2, RFC 7489 PolicyOverride) when the ARC
 *     chain passed (the arc result of the list) and an instance sealed
 *     by one of arc.trusted_sealers (its ARC-Seal d=) recorded in its
 *     ARC-Authentication-Results, for the same author domain, a
 *     dmarc=pass header.from= ("trusted_forwarder") or an aligned
 *     dkim=pass header.d= or spf=pass smtp.mailfrom= ("mailing_list");
 *     the newest such instance speaks. The next strictest author domain
 *     is then acted on; an untrusted sealer never overrides anything.
 */
#ifndef AM_POLICY_H
#define AM_POLICY_H

#include "results.h"

struct arena;
struct settings;

enum policy_action {
	POLICY_ACCEPT = 0,
	POLICY_REJECT,
	POLICY_QUARANTINE,
	POLICY_TEMPFAIL,
};

struct policy_input {
	const struct results *results;
	const char *skipped;   /* why the client is not evaluated, or NULL */
	const char *oversize;  /* why the headers were not evaluated (over the
				* limits), or NULL; results then holds at
				* most the From error */
};

struct policy_decision {
	enum policy_action action;
	const char *smtp_rcode;   /* "550", or NULL for accept and quarantine */
	const char *smtp_xcode;   /* "5.7.1" */
	const char *smtp_text;    /* no '%', CR or LF (libmilter takes a format) */
	const char *quarantine_reason; /* for QUARANTINE */
	const char *reason;       /* why, in plain words, or NULL */
	/* the DMARC result (one author domain's) the action follows, or NULL
	 * when no author domain was evaluated */
	const struct result *acted_on;
	/* the DMARC failures a trusted ARC sealer overrode (allocated from
	 * the arena), in the order they were found */
	struct policy_override *overrides;
	size_t noverrides;
};

struct policy_override {
	const struct result *dmarc; /* the overridden dmarc= result */
	const char *sealer;         /* the trusted ARC-Seal d= */
	const char *reason;         /* RFC 7489 PolicyOverride:
				     * "trusted_forwarder" or "mailing_list" */
};

/* policy_overridden - the override of a dmarc= result, or NULL */
const struct policy_override *policy_overridden(
    const struct policy_decision *d, const struct result *r);

/* policy_decide - the decision for one message; strings are the input's,
 * static, or allocated from a (which must outlive out) */
void policy_decide(const struct policy_input *in, const struct settings *cfg,
    struct arena *a, struct policy_decision *out);

/* policy_action_name - "accept", "reject", "quarantine", "tempfail" */
const char *policy_action_name(enum policy_action a);

#endif
