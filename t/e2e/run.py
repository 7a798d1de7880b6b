#!/usr/bin/env python3
"""run.py - end-to-end test runner: Postfix -> authmilter -> sink, NSD for DNS.

Started by t/e2e.sh inside private network/mount/pid namespaces (only lo).
It builds a closed mail system in a temporary directory:

  sender (smtplib, XCLIENT, AUTH, DKIM signing with dkimpy)
     -> Postfix smtpd[group] -> authmilter[group] (inet milter)
             |                        |
             v                        v
     smtp client -> sink       NSD (zones from the cases, DKIM keys)
     (or the hold queue)

then plays every case and checks the SMTP reply and the delivered (or
held) message. Cases that need another daemon configuration form a group:
one authmilter and one Postfix smtpd service per distinct configuration.
Prints one line per case ("ok NAME" or "FAIL NAME: why"), one more per case
the milter evaluated ("ok NAME (-t agrees)", see AUTHMILTER -t below) and
ends with "e2e: N passed, N failed" counting both kinds of check. Exit
status 0 when all pass, 1 otherwise, 99 when the rig itself could not be
set up. On any failure it prints the tail of Postfix's maillog,
authmilter's stderr and NSD's log.

Usage: run.py [--no-milter] [--keep] [CASE...]
  --no-milter  Postfix without smtpd_milters: checks the rig alone (only
               the SMTP outcome and delivery are checked).
  --keep       keep the temporary directory (also: E2E_KEEP=1).
  CASE         run only these cases (names without .case).
Environment: top_srcdir, top_builddir (authmilter is $top_builddir/authmilter);
  E2E_KEEP=1 keeps the temporary directory; E2E_VERBOSE=1 prints timings;
  E2E_MILTER_PREFIX="valgrind -q" (or strace ...) wraps the daemon.

CASE FILE FORMAT (t/e2e/cases/NAME.case)
  A case file is a list of sections. A section starts with a line that is
  exactly one of [description], [config], [dns], [sign], [envelope],
  [message], [expect] and runs to the next such line. Lines starting with
  "#" before the first section are comments.

  [description]  free text, one line or more.

  [config]       libconfig settings for this case's authmilter. Each
                 top-level setting (ended by ";" at depth 0) replaces the
                 base setting of the same name (BASE_CONFIG: dns, spf,
                 dkim/dmarc off, ...) or is added; "socket" is the runner's.
                 {dns} is NSD's port, {blackhole} the port of a UDP (and
                 TCP) socket the runner holds open and never reads. Cases
                 whose resulting configuration is the same (white space
                 aside) share one authmilter and one smtpd service; at most
                 MAX_GROUPS configurations. No [config]: the base group.

  [dns]          zone-file records with absolute owner names, one per line:
                     spf-pass.example.org. TXT "v=spf1 ip4:192.0.2.10 -all"
                 Blank lines and lines starting with ";" are ignored. Each
                 record goes to the served zone that is the longest suffix of
                 its owner (SERVED_ZONES: example.org, example.com,
                 example.net); an owner outside them is a case error. Every
                 zone gets SOA, NS and $TTL 300; records from all cases are
                 merged (exact duplicates once), so each case uses its own
                 sub-domain. Names under NOT_SERVED (nozone.example) are
                 not served: NSD answers REFUSED, which the milter's
                 resolver (libunbound, forwarding to NSD) turns into
                 SERVFAIL, a temporary DNS error.
                 Organizational-domain DMARC records (_dmarc.example.com,
                 _dmarc.example.net) are shared by every case whose From
                 domain lies under that zone and has no record of its own:
                 DMARC cases that need no such fallback use example.org,
                 which has none.

  [sign]         DKIM signatures made (dkimpy) on the message as sent, after
                 the runner's X-E2E-Id header is added, one per line, each
                 line space-separated key=value:
                   d=DOMAIN s=SELECTOR (required)
                   a=rsa-sha256 (default) | rsa-sha1 | ed25519-sha256
                   key=NAME  rsa2048 (default), rsa1024, rsa4096, ed25519,
                        optionally with a suffix for another key of the
                        same kind (rsa2048-b); keys are made at rig start
                        with openssl genpkey, one per name
                   c=relaxed/relaxed (default) | simple/simple | ...
                   h=from:to:subject:date (default from:to:subject:date:
                        message-id)
                   i=@DOMAIN (identity; default none, i.e. @d)
                   l=yes   add the body length tag
                   publish=no  do not publish the key (default: the
                        runner adds "S._domainkey.D. TXT" with "v=DKIM1;
                        k=rsa|ed25519; p=..." split in 255-octet strings;
                        Ed25519 keys are the raw 32 octets, RFC 8463)
                 Lines signed in order: the last line's signature is the
                 top DKIM-Signature header. Then, in order:
                   after: body += TEXT        append the line TEXT
                   after: line LINE   the first header whose name is
                        LINE's (white space before the colon ignored) becomes
                        LINE verbatim, e.g. obsolete syntax "Subject : x"
                        that dkimpy refuses to sign
                   after: header NAME = TEXT  the first NAME header's
                        value becomes TEXT (a header "NAME: TEXT" is added
                        at the top when there is none)
                 A case using the same (s, d) with another key is an error.

  [envelope]     "key = value" lines:
                   client = 192.0.2.10 | 2001:db8::10 | none
                        the client address the milter sees, given to Postfix
                        with XCLIENT ADDR= (IPv6 as ADDR=IPV6:...); "none"
                        sends no XCLIENT (the client is 127.0.0.1).
                   client_name = host name for XCLIENT NAME= (default
                        [UNAVAILABLE], i.e. no reverse name)
                   helo = the EHLO name (sent after XCLIENT)
                   mail_from = local@domain, or <> for the null sender
                   rcpt_to = address (repeatable; default
                        rcpt@sink.example.net)
                   repeat = N  send the message N times on one connection
                        (RSET before each repeat); every copy is checked
                   auth = USER:PASSWORD  AUTH PLAIN after the EHLO that
                        follows XCLIENT (the rig's one SASL account is
                        SASL_USER:SASL_PASSWORD, in a sasldb; every smtpd
                        offers AUTH PLAIN LOGIN without TLS)

  [message]      the message as sent: headers, blank line, body. The runner
                 adds "X-E2E-Id: <token>" as the last header to find the
                 delivered copy. Line ends become CRLF on the wire.

  [expect]       "key = value" lines:
                   smtp = 250 | 550 5.7.1 | 4
                        prefix of the first failing SMTP reply ("CODE TEXT"),
                        or of the reply to the end of DATA when all passed.
                        2xx means the message must be delivered to the sink
                        (or held, see quarantine).
                   smtp_text = REGEX  (repeatable) that reply matches
                        (re.search)
                   within = SECONDS  the SMTP session (all copies) ended
                        within this bound (a bound for hangs, not a timing
                        measurement; keep it below Postfix's milter
                        timeouts, or a hung milter shows up as Postfix's
                        own 451 from milter_default_action)
                   quarantine = hold | no  hold: the accepted message sits in
                        Postfix's hold queue (postqueue -j, found by the
                        queue id in the 250 reply) and was not delivered;
                        the header checks then apply to the held copy
                        (postcat). Default no. Held messages are deleted
                        (postsuper -d ALL hold) after judging.
                   ar = REGEX   (repeatable, ordered)
                        the delivered message's Authentication-Results
                        headers, top to bottom, must be exactly as many as
                        the ar lines, the i-th value matching the i-th REGEX
                        with re.fullmatch. Values are unfolded and runs of
                        white space become one space (so "id;\\r\\n\\tspf=pass"
                        is "id; spf=pass"). No ar line: no A-R header at all.
                        Shorthands: {id} is our authserv-id as a regex,
                        {c} an optional comment: " (anything but parens)",
                        {b1}, {b2}, ... the header.b value of the signature
                        of the 1st, 2nd, ... [sign] line: its first 8
                        characters, then any more, optionally quoted.
                   header = REGEX     some header, rendered "Name: value"
                        (unfolded, normalized), matches (re.search)
                   no_header = REGEX  no header matches (re.search)
                   first_header = NAME  name of the first header of the
                        delivered message (default: Authentication-Results
                        when there are ar lines)
                 Always, when there are ar lines: the first A-R is written
                 "Authentication-Results: value" (one space after the colon,
                 as every header Postfix itself writes).
                   folded = yes | no  whether the first A-R header is folded
                   max_line = N  no physical line of any A-R header is
                        longer than N octets
                   body = REGEX  the delivered body matches (re.search)

  --no-milter    checks the rig alone: every reply must be 250 and every
                 message delivered, except messages with a header
                 "X-E2E-Hold: yes", which Postfix's header_checks put on
                 hold in both modes (the self-test of the quarantine
                 check). Signatures of delivered messages are verified with
                 dkimpy through NSD, and must agree with the dkim= results
                 of the case's first ar line (as a multiset).

AUTHMILTER -t (the issue: "`authmilter -t` shows the same results")
  Every copy that reached the end of DATA is also written to
  TMP/t-input/NAME.N.eml, exactly as sent after signing (CRLF, before
  dot-stuffing), and given to
      authmilter -t FILE -c CONF --client-ip IP --helo HELO
                 --mail-from ADDR [--auth-user USER]
  with CONF the case's daemon configuration file and IP the address the
  milter saw (127.0.0.1 without XCLIENT; ::ffff:a.b.c.d unmapped, as
  Postfix does). Runs start as soon as their case is played, T_WORKERS at
  once. Compared with what the daemon did (its log line in the group's
  stderr is found by client and HELO name, in order):
    - the -t Authentication-Results header, unfolded (line breaks removed,
      RFC 5322 2.2.3), equals the daemon's delivered or held one octet for
      octet: results, properties (smtp.mailfrom, smtp.helo, header.d/i/s/
      a/b, header.from) and comments; a difference is shown result by
      result. The daemon's header is the delivered A-R with our
      authserv-id; the other A-R headers delivered must be those sent less
      the ones -t says it removes ("# removed: ... #N").
    - -t's action is what Postfix did: accept (delivered, or held by the
      rig's own header_checks), quarantine (held), reject / tempfail (the
      5xx / 4xx reply, whose text equals -t's smtp="CODE X.Y.Z TEXT" white
      space aside). Rejected and temp-failed copies have no header: the
      spf, spf_helo, dkim (result:domain), dmarc and header_from of the
      daemon's log line must agree with -t's header instead.
    - "# skipped" and the number of "# removed" lines agree with the log
      line's skipped= and ar_removed=. Copies both sides skipped (trusted
      client, AUTH) make no check of their own; a disagreement is a FAIL.
  One check per case, whatever its number of copies.

WHAT POSTFIX 3.7 DOES HERE (found with this rig)
  - A header the milter inserts at index 0 lands ABOVE Postfix's own
    Received header, so our Authentication-Results is the first header
    delivered. The milter is NOT sent that Received header (seen with
    strace on the daemon): its first header is the client's first, each
    value with its leading space (SMFIP_HDR_LEADSPC), folded lines joined
    by a bare LF and a tab; the body comes in CRLF lines, exactly as sent.
    So the -t input needs nothing added.
  - With SMFIP_HDR_LEADSPC negotiated, Postfix writes "Name:" + value as
    given: the milter must supply the space after the colon.
  - XCLIENT ADDR=IPV6:::ffff:a.b.c.d is unmapped by Postfix itself; the
    milter and the Received header see a.b.c.d.
  - smtpd refuses to start unless smtpd_relay_restrictions or
    smtpd_recipient_restrictions holds a reject-type restriction, so
    "permit" alone is impossible: relay_domains = static:ALL with
    reject_unauth_destination accepts every recipient instead.
  - maillog_file must lie under maillog_file_prefixes (default /var,
    /dev/stdout) and needs a postlog service in master.cf.
  - "postfix start" runs the post-install integrity check (~2 s); no
    separate set-permissions/check is needed (set-permissions would touch
    the system's Postfix files).
  - cleanup adds a missing From: (and Date:, Message-ID:) for clients in
    local_header_rewrite_clients, and with the default
    permit_inet_interfaces it did so for XCLIENT clients too, before the
    milter saw the headers: "no From" became "From: <envelope sender>".
    The rig sets local_header_rewrite_clients empty.
  - Debian's Postfix looks for the Cyrus SASL smtpd.conf in
    $config_directory/sasl/ (then /usr/lib/sasl/) whatever
    cyrus_sasl_config_path says (seen with strace); without it, sasldb
    falls back to /etc/sasldb2 and AUTH fails with 454 "generic failure".
    The sasldb account is made with realm = myhostname and
    smtpd_sasl_local_domain says the same.
  - smfi_quarantine(): cleanup logs "milter-hold" and the queue file is in
    the hold queue before smtpd sends 250, so postqueue -j right after the
    reply finds it. postcat -h -b -q ID prints the held header and body
    with nothing else.

THE GROUPS
  The base group (BASE_CONFIG) has DKIM and DMARC off, so the SPF cases
  keep their exact headers; DKIM/DMARC cases carry a [config] that turns
  them on (spf.helo off, so the header is spf; dkim; dmarc). Each group
  other than the base gets "127.0.0.1:PORT inet ... smtpd -o
  smtpd_milters=inet:127.0.0.1:MPORT" in master.cf and its own daemon
  (stderr in authmilter-gN.stderr, config in authmilter-gN.conf).
  The base group's daemon listens on a unix socket (TMP/authmilter.sock),
  where it also skips the DATA reply (SMFIP_NR_DATA); the others on TCP,
  where it keeps it.
"""

import base64
import concurrent.futures
import email
import email.policy
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TIMEOUT = 30.0                  # every wait is bounded by this
AUTHSERV_ID = "mx.test.example"
SERVED_ZONES = ["example.org", "example.com", "example.net"]
NOT_SERVED = "nozone.example"
SECTIONS = ["description", "config", "dns", "sign", "envelope", "message",
            "expect"]
ENVELOPE_KEYS = {"client", "client_name", "helo", "mail_from", "rcpt_to",
                 "repeat", "auth"}
EXPECT_KEYS = {"smtp", "smtp_text", "within", "quarantine", "ar", "header",
               "no_header", "first_header", "folded", "max_line", "body"}
REPEATABLE = {"rcpt_to", "ar", "header", "no_header", "smtp_text"}
SHORTHANDS = {"{id}": re.escape(AUTHSERV_ID), "{c}": r"(?: \([^()]*\))?"}
SIG_SHORTHAND = re.compile(r"\{b([1-9][0-9]*)\}")
SIGN_KEYS = {"d", "s", "a", "key", "c", "h", "i", "l", "publish"}
SIGN_ALGS = {"rsa-sha256": "rsa", "rsa-sha1": "rsa",
             "ed25519-sha256": "ed25519"}
KEY_NAME = re.compile(r"(rsa(?:1024|2048|4096)|ed25519)(?:-[a-z0-9]+)?")
CANONS = {"simple", "relaxed"}
DEFAULT_SIGNED = "from:to:subject:date:message-id"
SASL_USER = "submitter"
SASL_PASSWORD = "e2e-secret"
MAX_GROUPS = 6                  # distinct authmilter configurations
HOLD_HEADER = "X-E2E-Hold: yes"
# the base configuration; a case's [config] replaces settings by name
BASE_CONFIG = """\
authserv_id = "%s";
dns = { nameservers = [ "127.0.0.1@{dns}" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.0/8", "::1/128" ];
skip_authenticated = true;
spf = { helo = true; };
dkim = { enable = false; };
dmarc = { enable = false; };
""" % AUTHSERV_ID


class CaseError(Exception):
    pass


class RigError(Exception):
    pass


# ---- case files ----------------------------------------------------------

class Case:
    def __init__(self, name):
        self.name = name
        self.description = ""
        self.dns = []           # (owner, rest of the record)
        self.config = []        # [config]: [(name, setting text)]
        self.group = None       # Group this case runs in
        self.sign = []          # [sign] lines: dicts of SIGN_KEYS
        self.after = []         # after-signing edits: ("body", text) or
                                # ("header", name, text)
        self.sigs = {}          # token -> [b= of each [sign] line]
        self.env = {}
        self.message = ""
        self.expect = {}
        self.tokens = []        # X-E2E-Id of each transaction
        self.outcomes = []      # (command, "CODE TEXT" of the deciding reply)
        self.error = None       # sender-side exception text
        self.ms = 0.0           # time of the SMTP transaction
        self.sent = {}          # token -> message bytes as sent (after
                                # signing, before dot-stuffing)
        self.tcheck = {}        # token -> future of its -t run (TCheck)
        self.on_sent = None     # called (c, token) when a copy is sent


def parse_kv(lines, allowed, where):
    out = {}
    for ln in lines:
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        if "=" not in ln:
            raise CaseError("%s: not key = value: %r" % (where, ln))
        k, v = ln.split("=", 1)
        k, v = k.strip(), v.strip()
        if k not in allowed:
            raise CaseError("%s: unknown key %r" % (where, k))
        if k in REPEATABLE:
            out.setdefault(k, []).append(v)
        elif k in out:
            raise CaseError("%s: %s given twice" % (where, k))
        else:
            out[k] = v
    return out


def zone_of(owner):
    name = owner.rstrip(".").lower()
    best = None
    for z in SERVED_ZONES:
        if name == z or name.endswith("." + z):
            if best is None or len(z) > len(best):
                best = z
    return best


def parse_case(path):
    name = os.path.basename(path)[:-len(".case")]
    c = Case(name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    sections = {}
    cur = None
    for ln in text.split("\n"):
        m = re.fullmatch(r"\[(\w+)\]\s*", ln)
        if m and m.group(1) in SECTIONS:
            cur = m.group(1)
            if cur in sections:
                raise CaseError("%s: section [%s] twice" % (name, cur))
            sections[cur] = []
            continue
        if cur is None:
            if ln.strip() and not ln.startswith("#"):
                raise CaseError("%s: text before the first section" % name)
            continue
        sections[cur].append(ln)
    for s in ("description", "envelope", "expect"):
        if s not in sections:
            raise CaseError("%s: no [%s] section" % (name, s))
    c.description = " ".join(x.strip() for x in sections["description"]
                             if x.strip())
    if "config" in sections:
        c.config = split_settings("\n".join(sections["config"]),
                                  name + ": config")
        if any(n == "socket" for n, _ in c.config):
            raise CaseError("%s: config: socket is the runner's" % name)
    for ln in sections.get("sign", []):
        parse_sign_line(c, ln.strip())
    for ln in sections.get("dns", []):
        if not ln.strip() or ln.lstrip().startswith(";"):
            continue
        parts = ln.split(None, 1)
        if len(parts) != 2 or not parts[0].endswith("."):
            raise CaseError("%s: dns: need an absolute owner: %r"
                            % (name, ln))
        if zone_of(parts[0]) is None:
            raise CaseError("%s: dns: %s is in no served zone"
                            % (name, parts[0]))
        c.dns.append((parts[0].lower(), parts[1].strip()))
    c.env = parse_kv(sections["envelope"], ENVELOPE_KEYS, name + ": envelope")
    for k in ("client", "helo", "mail_from"):
        if k not in c.env:
            raise CaseError("%s: envelope: %s missing" % (name, k))
    c.env.setdefault("rcpt_to", ["rcpt@sink.example.net"])
    auth = c.env.get("auth")
    if auth is not None and not re.fullmatch(r"[^:\s]+:\S+", auth):
        raise CaseError("%s: envelope: auth must be USER:PASSWORD" % name)
    rep = c.env.get("repeat", "1")
    if not rep.isdigit() or not 1 <= int(rep) <= 10:
        raise CaseError("%s: envelope: repeat must be 1..10" % name)
    c.tokens = [secrets.token_hex(8) for _ in range(int(rep))]
    c.expect = parse_kv(sections["expect"], EXPECT_KEYS, name + ": expect")
    if "smtp" not in c.expect:
        raise CaseError("%s: expect: smtp missing" % name)
    if c.expect.get("quarantine", "no") not in ("hold", "no"):
        raise CaseError("%s: expect: quarantine must be hold or no" % name)
    if c.expect.get("quarantine") == "hold" and \
            not c.expect["smtp"].startswith("2"):
        raise CaseError("%s: expect: quarantine = hold needs smtp = 2xx"
                        % name)
    w = c.expect.get("within")
    if w is not None and not (w.isdigit() and 1 <= int(w) <= TIMEOUT):
        raise CaseError("%s: expect: within must be 1..%d seconds"
                        % (name, TIMEOUT))
    for k in ("ar", "header", "no_header", "smtp_text"):
        for i, rx in enumerate(c.expect.get(k, [])):
            for short, full in SHORTHANDS.items():
                rx = rx.replace(short, full)
            c.expect[k][i] = rx
            for m in SIG_SHORTHAND.finditer(rx):
                if int(m.group(1)) > len(c.sign):
                    raise CaseError("%s: expect: %s but %d [sign] lines"
                                    % (name, m.group(0), len(c.sign)))
            try:
                re.compile(expand_sigs(rx, ["AAAAAAAA"] * len(c.sign)))
            except re.error as e:
                raise CaseError("%s: expect: bad regex %r: %s"
                                % (name, rx, e))
    msg = sections.get("message", [])
    while msg and not msg[-1].strip():
        msg.pop()
    c.message = "\n".join(msg) + "\n"
    return c


def parse_sign_line(c, ln):
    """one [sign] line into c.sign or c.after"""
    where = "%s: sign" % c.name
    if not ln or ln.startswith("#"):
        return
    if ln.startswith("after:"):
        rest = ln[len("after:"):].strip()
        m = re.fullmatch(r"body \+= (.*)", rest)
        if m:
            c.after.append(("body", m.group(1)))
            return
        m = re.fullmatch(r"header ([!-9;-~]+) = (.*)", rest)
        if m:
            c.after.append(("header", m.group(1), m.group(2)))
            return
        m = re.fullmatch(r"line (([!-9;-~]+)[ \t]*:.*)", rest)
        if m:
            c.after.append(("line", m.group(2), m.group(1)))
            return
        raise CaseError("%s: after: want 'body += TEXT', 'line LINE' or "
                        "'header NAME = TEXT': %r" % (where, ln))
    spec = {}
    for tok in ln.split():
        k, eq, v = tok.partition("=")
        if not eq or not v:
            raise CaseError("%s: not key=value: %r" % (where, tok))
        if k not in SIGN_KEYS:
            raise CaseError("%s: unknown key %r" % (where, k))
        if k in spec:
            raise CaseError("%s: %s given twice" % (where, k))
        spec[k] = v
    for k in ("d", "s"):
        if k not in spec:
            raise CaseError("%s: %s= missing: %r" % (where, k, ln))
    spec["d"] = spec["d"].lower().rstrip(".")
    spec["s"] = spec["s"].lower()
    spec.setdefault("a", "rsa-sha256")
    spec.setdefault("key", "rsa2048")
    spec.setdefault("c", "relaxed/relaxed")
    spec.setdefault("h", DEFAULT_SIGNED)
    spec.setdefault("l", "no")
    spec.setdefault("publish", "yes")
    if spec["a"] not in SIGN_ALGS:
        raise CaseError("%s: a= must be one of %s"
                        % (where, ", ".join(sorted(SIGN_ALGS))))
    km = KEY_NAME.fullmatch(spec["key"])
    if not km:
        raise CaseError("%s: bad key name %r" % (where, spec["key"]))
    kind = "ed25519" if km.group(1) == "ed25519" else "rsa"
    if kind != SIGN_ALGS[spec["a"]]:
        raise CaseError("%s: key %s cannot make %s signatures"
                        % (where, spec["key"], spec["a"]))
    canon = spec["c"].split("/")
    if len(canon) == 1:
        canon.append("simple")          # RFC 6376 3.5, c=
    if len(canon) != 2 or not set(canon) <= CANONS:
        raise CaseError("%s: bad c=%s" % (where, spec["c"]))
    spec["canon"] = (canon[0].encode(), canon[1].encode())
    spec["headers"] = [x.encode() for x in spec["h"].lower().split(":") if x]
    if "from" not in [x.decode() for x in spec["headers"]]:
        raise CaseError("%s: h= must name from (RFC 6376 5.4)" % where)
    for k in ("l", "publish"):
        if spec[k] not in ("yes", "no"):
            raise CaseError("%s: %s= must be yes or no" % (where, k))
    if spec["publish"] == "yes" and zone_of(key_owner(spec)) is None:
        raise CaseError("%s: %s is in no served zone"
                        % (where, key_owner(spec)))
    c.sign.append(spec)


def key_owner(spec):
    return "%s._domainkey.%s." % (spec["s"], spec["d"])


def split_settings(text, where):
    """libconfig text into [(name, setting text)], each setting ended by a
    ";" at depth 0 (strings and comments skipped); a bounded, simple reader:
    the daemon's own parser checks the result."""
    out = []
    i, n, depth, start = 0, len(text), 0, 0
    if n > 64 * 1024:
        raise CaseError("%s: more than 64 KiB" % where)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                raise CaseError("%s: unterminated string" % where)
        elif ch == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise CaseError("%s: unterminated comment" % where)
            i = j + 1
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
            if depth < 0:
                raise CaseError("%s: unbalanced %r" % (where, ch))
        elif ch == ";" and depth == 0:
            piece = text[start:i + 1]
            m = re.match(r"(?:\s|#[^\n]*|//[^\n]*|/\*.*?\*/)*"
                         r"([A-Za-z*][-A-Za-z0-9_*]*)\s*[=:]", piece, re.S)
            if not m:
                raise CaseError("%s: no setting name in %r"
                                % (where, piece.strip()))
            out.append((m.group(1), piece[m.start(1):].strip()))
            start = i + 1
        i += 1
    rest = re.sub(r"#[^\n]*|//[^\n]*|/\*.*?\*/", "", text[start:], flags=re.S)
    if depth != 0 or rest.strip():
        raise CaseError("%s: setting not ended by ';': %r"
                        % (where, text[start:].strip()))
    return out


def load_cases(casedir, only):
    paths = sorted(p for p in os.listdir(casedir) if p.endswith(".case"))
    cases = [parse_case(os.path.join(casedir, p)) for p in paths]
    published = {}
    for c in cases:
        owners = {o for o, _ in c.dns}
        for spec in c.sign:
            if spec["publish"] != "yes":
                continue
            owner = key_owner(spec)
            if owner in owners:
                raise CaseError("%s: %s is published by [sign] and [dns]"
                                % (c.name, owner))
            prev = published.setdefault(owner, (spec["key"], c.name))
            if prev[0] != spec["key"]:
                raise CaseError("%s: %s has key %s, but %s publishes %s"
                                % (c.name, owner, spec["key"], prev[1],
                                   prev[0]))
    if only:
        names = {c.name for c in cases}
        for n in only:
            if n not in names:
                raise CaseError("no case named %s" % n)
        cases = [c for c in cases if c.name in only]
    return cases


# ---- small helpers -------------------------------------------------------

def log(*a):
    print(*a, flush=True)


def free_ports(n):
    """n distinct free TCP+UDP ports on 127.0.0.1 (held open until all are
    chosen, so they differ)."""
    socks, ports = [], []
    while len(ports) < n:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        p = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
        except OSError:
            t.close()
            u.close()
            continue
        socks += [t, u]
        ports.append(p)
    for s in socks:
        s.close()
    return ports


def wait_for(what, fn, proc=None, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RigError("%s: process exited with %s" % (what, proc.returncode))
        try:
            if fn():
                return
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RigError("%s: not ready after %.0f s (%s)" % (what, timeout, last))


def tcp_accepts(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def unix_accepts(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(path)
        return True


def smtp_greets(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        data = s.recv(512)
        s.sendall(b"QUIT\r\n")
        return data.startswith(b"220")


def dns_answers(port, qname):
    """one UDP query for qname SOA; true on an authoritative NOERROR"""
    qid = secrets.randbits(16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in qname.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 6, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.25)
        s.sendto(q, ("127.0.0.1", port))
        r = s.recv(4096)
    if len(r) < 12:
        return False
    rid, flags = struct.unpack(">HH", r[:4])
    return rid == qid and (flags & 0x8000) and (flags & 0x0400) \
        and (flags & 0x000f) == 0


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return "  (cannot read %s: %s)" % (path, e)
    return "\n".join("  | " + x for x in lines[-n:]) or "  (empty)"


def write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


# ---- DKIM: keys, key records, signing ------------------------------------

try:
    import dkim as dkimpy       # Debian python3-dkim (dkimpy)
except ImportError:             # cases with [sign] fail, the rest run
    dkimpy = None


class Keys:
    """one key pair per key name used by the cases, made with openssl
    genpkey in DIR: name -> (kind, private key for dkimpy, p= value)"""

    def __init__(self, directory, names):
        self.keys = {}
        if not names:
            return
        os.makedirs(directory)
        for name in sorted(names):
            self.keys[name] = self.make(directory, name)

    @staticmethod
    def openssl(args):
        r = subprocess.run(["openssl"] + args, capture_output=True,
                           timeout=TIMEOUT)
        if r.returncode != 0:
            raise RigError("openssl %s: %s" % (" ".join(args),
                                               r.stderr.decode("utf-8",
                                                               "replace")))
        return r.stdout

    def make(self, directory, name):
        kind = KEY_NAME.fullmatch(name).group(1)
        pem = os.path.join(directory, name + ".pem")
        if kind == "ed25519":
            self.openssl(["genpkey", "-algorithm", "ED25519", "-out", pem])
        else:
            self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:%s" % kind[3:], "-out", pem])
        spki = self.openssl(["pkey", "-in", pem, "-pubout", "-outform",
                             "DER"])
        if kind == "ed25519":
            # RFC 8463 4.2: p= is the raw 32-octet public key; dkimpy takes
            # the raw 32-octet private seed (both end their DER forms)
            der = self.openssl(["pkey", "-in", pem, "-outform", "DER"])
            return ("ed25519", base64.b64encode(der[-32:]),
                    base64.b64encode(spki[-32:]).decode())
        with open(pem, "rb") as f:
            return ("rsa", f.read(), base64.b64encode(spki).decode())

    def record(self, name):
        """the TXT record data: "v=DKIM1; k=...; p=..." in 255-octet
        strings (RFC 6376 3.6.2.2)"""
        kind, _, p = self.keys[name]
        text = "v=DKIM1; k=%s; p=%s" % (kind, p)
        return "TXT " + " ".join('"%s"' % text[i:i + 255]
                                 for i in range(0, len(text), 255))


def key_records(cases, keys):
    out = []
    seen = set()
    for c in cases:
        for spec in c.sign:
            owner = key_owner(spec)
            if spec["publish"] == "yes" and owner not in seen:
                seen.add(owner)
                out.append((owner, keys.record(spec["key"])))
    return out


def unfold(b):
    return re.sub(rb"\r?\n[ \t]", b" ", b)


def sign_message(c, data, keys):
    """sign data (CRLF lines) as c's [sign] lines say, then make c's
    after-signing edits; returns (data, [b= value of each line])"""
    if dkimpy is None:
        raise CaseError("dkimpy (python3-dkim) not importable by %s"
                        % sys.executable)
    bvals = []
    for spec in c.sign:
        _, priv, _ = keys.keys[spec["key"]]
        sig = dkimpy.sign(data, spec["s"].encode(), spec["d"].encode(),
                          priv,
                          identity=spec["i"].encode() if "i" in spec
                          else None,
                          canonicalize=spec["canon"],
                          signature_algorithm=spec["a"].encode(),
                          include_headers=spec["headers"],
                          length=spec["l"] == "yes", linesep=b"\r\n")
        m = re.search(rb"(?:^|;)\s*b=([A-Za-z0-9+/=\s]+)",
                      unfold(sig.split(b":", 1)[1]))
        bvals.append(re.sub(rb"\s", b"", m.group(1)).decode())
        data = sig + data
    for edit in c.after:
        head, sep, body = data.partition(b"\r\n\r\n")
        if edit[0] == "body":
            body += edit[1].encode() + b"\r\n"
        else:
            name, text = edit[1], edit[2]
            lines = head.split(b"\r\n")
            new = (text if edit[0] == "line" else
                   "%s: %s" % (name, text)).encode()
            for i, ln in enumerate(lines):
                if ln.split(b":", 1)[0].strip().lower() == \
                        name.lower().encode():
                    j = i + 1
                    while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                        j += 1
                    lines[i:j] = [new]
                    break
            else:
                lines.insert(0, new)
            head = b"\r\n".join(lines)
        data = head + b"\r\n\r\n" + body
    return data, bvals


def expand_sigs(rx, bvals):
    """{bN}: the N-th [sign] line's b= as header.b shows it: its first 8
    characters, then possibly more, possibly quoted (RFC 6008 2)"""
    def one(m):
        i = int(m.group(1)) - 1
        if i >= len(bvals):
            return "(?!)"
        return '"?' + re.escape(bvals[i][:8]) + '[A-Za-z0-9+/=]*"?'
    return SIG_SHORTHAND.sub(one, rx)


def dkimpy_results(raw, dnsport):
    """dkimpy's verdict ("pass"/"fail") on each DKIM-Signature of raw, top
    to bottom, fetching keys from NSD (the rig's own check of signing and
    key publication)"""
    import dns.resolver
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = dnsport
    res.lifetime = 5

    def txt(name, timeout=5):
        try:
            ans = res.resolve(name.decode() if isinstance(name, bytes)
                              else name, "TXT")
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None
    n = len(re.findall(rb"(?mi)^DKIM-Signature:", raw.split(b"\r\n\r\n")[0]))
    out = []
    for i in range(n):
        try:
            ok = dkimpy.DKIM(raw).verify(idx=i, dnsfunc=txt)
        except Exception:
            ok = False
        out.append("pass" if ok else "fail")
    return out


# ---- the sink: a tiny SMTP server that keeps each message ----------------

class Sink:
    """Accepts everything Postfix's smtp client sends; each message is kept
    in memory by its X-E2E-Id and written to DIR/N.eml."""

    def __init__(self, port, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.messages = {}      # token -> list of (envelope, raw bytes)
        self.count = 0
        self.errors = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.stopping = False
        t = threading.Thread(target=self.serve, daemon=True)
        t.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        conn.settimeout(TIMEOUT)
        f = conn.makefile("rb")

        def reply(s):
            conn.sendall(s.encode() + b"\r\n")
        try:
            reply("220 sink.test ESMTP")
            mail, rcpts = None, []
            while True:
                line = f.readline(4096)
                if not line:
                    return
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    reply("250-sink.test")
                    reply("250-8BITMIME")
                    reply("250 SMTPUTF8")
                elif verb == "HELO":
                    reply("250 sink.test")
                elif verb == "MAIL":
                    mail, rcpts = cmd[10:], []
                    reply("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpts.append(cmd[8:])
                    reply("250 2.1.5 ok")
                elif verb == "DATA":
                    reply("354 go ahead")
                    raw = bytearray()
                    while True:
                        dl = f.readline(1 << 20)
                        if not dl:
                            return
                        if dl in (b".\r\n", b".\n"):
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        raw += dl
                    self.store((mail, rcpts), bytes(raw))
                    reply("250 2.0.0 kept")
                    mail, rcpts = None, []
                elif verb == "RSET":
                    mail, rcpts = None, []
                    reply("250 2.0.0 ok")
                elif verb == "NOOP":
                    reply("250 2.0.0 ok")
                elif verb == "QUIT":
                    reply("221 2.0.0 bye")
                    return
                else:
                    reply("502 5.5.2 not here")
        except OSError as e:
            with self.lock:
                self.errors.append(str(e))
        finally:
            conn.close()

    def store(self, envelope, raw):
        m = re.search(rb"(?mi)^X-E2E-Id:\s*([0-9a-f]+)", raw)
        token = m.group(1).decode() if m else None
        with self.cond:
            self.count += 1
            path = os.path.join(self.dir, "%03d.eml" % self.count)
            with open(path + ".tmp", "wb") as fh:
                fh.write(raw)
            os.rename(path + ".tmp", path)
            self.messages.setdefault(token, []).append((envelope, raw, path))
            self.cond.notify_all()

    def wait(self, tokens, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                missing = [t for t in tokens if t not in self.messages]
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self.cond.wait(left)

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass


# ---- NSD -----------------------------------------------------------------

def write_zones(tmp, cases, extra):
    """extra: more (owner, rest) records (the DKIM keys)"""
    zdir = os.path.join(tmp, "zones")
    os.makedirs(zdir)
    records = {z: [] for z in SERVED_ZONES}
    seen = set()
    for owner, rest in [r for c in cases for r in c.dns] + extra:
        key = (owner, " ".join(rest.split()))
        if key in seen:
            continue
        seen.add(key)
        records[zone_of(owner)].append("%s %s" % (owner, rest))
    for z in SERVED_ZONES:
        head = ["$ORIGIN %s." % z, "$TTL 300",
                "@ SOA ns.example.org. hostmaster.%s. 1 3600 600 86400 300" % z,
                "@ NS ns.example.org."]
        if z == "example.org":
            head.append("ns A 127.0.0.1")
        write(os.path.join(zdir, z + ".zone"),
              "\n".join(head + records[z]) + "\n")
    return zdir


def start_nsd(tmp, port, cases, extra, procs):
    zdir = write_zones(tmp, cases, extra)
    ndir = os.path.join(tmp, "nsd")
    os.makedirs(ndir)
    conf = os.path.join(ndir, "nsd.conf")
    lines = [
        "server:",
        '  username: ""',
        '  chroot: ""',
        '  zonesdir: "%s"' % zdir,
        "  ip-address: 127.0.0.1",
        "  port: %d" % port,
        "  do-ip6: no",
        "  server-count: 1",
        "  verbosity: 1",
        "  hide-version: yes",
        "  rrl-ratelimit: 0",
        '  database: ""',
        '  pidfile: "%s/nsd.pid"' % ndir,
        '  zonelistfile: "%s/zone.list"' % ndir,
        '  xfrdfile: "%s/xfrd.state"' % ndir,
        '  xfrdir: "%s"' % ndir,
        '  cookie-secret-file: "%s/cookiesecrets.txt"' % ndir,
        '  logfile: "%s/nsd.log"' % ndir,
        "remote-control:",
        "  control-enable: no",
    ]
    for z in SERVED_ZONES:
        lines += ["zone:", "  name: %s" % z, '  zonefile: "%s.zone"' % z]
    write(conf, "\n".join(lines) + "\n")
    chk = subprocess.run(["nsd-checkconf", conf], capture_output=True,
                         text=True, timeout=TIMEOUT)
    if chk.returncode != 0:
        raise RigError("nsd-checkconf: %s%s" % (chk.stdout, chk.stderr))
    for z in SERVED_ZONES:
        chk = subprocess.run(["nsd-checkzone", z,
                              os.path.join(zdir, z + ".zone")],
                             capture_output=True, text=True, timeout=TIMEOUT)
        if chk.returncode != 0:
            raise RigError("nsd-checkzone %s: %s%s"
                           % (z, chk.stdout, chk.stderr))
    err = open(os.path.join(ndir, "nsd.stderr"), "wb")
    p = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=err,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(("nsd", p))
    wait_for("nsd", lambda: dns_answers(port, "example.org"), p)


# ---- authmilter: one per configuration group ----------------------------

class Group:
    """cases sharing one authmilter configuration: their daemon, its
    milter port and the Postfix smtpd service that uses it"""

    def __init__(self, index, settings):
        self.index = index
        self.settings = settings        # [(name, text)] without socket
        self.name = "authmilter" if index == 0 else "authmilter-g%d" % index
        self.milter_port = None
        self.unix_path = None           # the base group talks over a unix socket
        self.smtp_port = None
        self.cases = []

    def config_text(self, ports):
        text = "\n".join(t for _, t in self.settings) + "\n"
        text = text.replace("{dns}", str(ports["dns"]))
        text = text.replace("{blackhole}", str(ports["blackhole"]))
        if self.unix_path:
            return ('socket = "unix:%s";\nsocket_mode = "0666";\n'
                    % self.unix_path + text)
        return 'socket = "inet:%d@127.0.0.1";\n' % self.milter_port + text


def make_groups(cases, use_milter):
    """group the cases by their configuration (base first); without the
    milter every case goes to the base group"""
    base = split_settings(BASE_CONFIG, "BASE_CONFIG")
    groups = [Group(0, base)]
    by_key = {}

    def key_of(settings):
        return tuple(" ".join(t.split()) for _, t in settings)
    by_key[key_of(base)] = groups[0]
    for c in cases:
        settings = list(base)
        if use_milter:
            for name, text in c.config:
                for i, (n, _) in enumerate(settings):
                    if n == name:
                        settings[i] = (name, text)
                        break
                else:
                    settings.append((name, text))
        k = key_of(settings)
        if k not in by_key:
            if len(groups) == MAX_GROUPS:
                raise CaseError("%s: more than %d distinct configurations"
                                % (c.name, MAX_GROUPS))
            by_key[k] = Group(len(groups), settings)
            groups.append(by_key[k])
        c.group = by_key[k]
        c.group.cases.append(c)
    return groups


def start_milter(tmp, group, ports, procs):
    exe = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
    if not os.access(exe, os.X_OK):
        raise RigError("%s: not built" % exe)
    conf = os.path.join(tmp, group.name + ".conf")
    write(conf, group.config_text(ports))
    chk = subprocess.run([exe, "-n", "-c", conf], capture_output=True,
                         text=True, timeout=TIMEOUT)
    if chk.returncode != 0:
        raise RigError("%s -n -c %s: exit %d: %s%s"
                       % (exe, conf, chk.returncode, chk.stdout, chk.stderr))
    err = open(os.path.join(tmp, group.name + ".stderr"), "wb")
    prefix = os.environ.get("E2E_MILTER_PREFIX", "").split()
    p = subprocess.Popen(prefix + [exe, "-f", "-c", conf], stdout=err,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append((group.name, p))
    if group.unix_path:
        wait_for(group.name, lambda: unix_accepts(group.unix_path), p)
    else:
        wait_for(group.name, lambda: tcp_accepts(group.milter_port), p)


class Blackhole:
    """a UDP socket and a TCP listener on one 127.0.0.1 port, held open
    and never read: queries sent there get no answer, no ICMP and no RST"""

    def __init__(self, port):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen(1)

    def close(self):
        self.udp.close()
        self.tcp.close()


# ---- Postfix -------------------------------------------------------------

MASTER_CF = """\
# service  type  private unpriv chroot wakeup maxproc command
127.0.0.1:%(smtpport)d inet n -   n       -       -       smtpd
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
config_directory = %(confdir)s
queue_directory = %(queuedir)s
data_directory = %(datadir)s
maillog_file = %(tmp)s/maillog
maillog_file_prefixes = %(tmp)s
inet_interfaces = 127.0.0.1
inet_protocols = all
myhostname = %(authserv)s
mydomain = test.example
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = static:ALL
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_banner = $myhostname ESMTP
smtp_dns_support_level = disabled
default_transport = smtp:[127.0.0.1]:%(sinkport)d
relay_transport = smtp:[127.0.0.1]:%(sinkport)d
smtp_connection_cache_on_demand = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
notify_classes =
# no client gets missing From/Date/Message-ID headers added (cleanup added
# "From: <sender>" for XCLIENT clients with the default
# permit_inet_interfaces, which hid the no-From case)
local_header_rewrite_clients =
%(milter)s
milter_default_action = tempfail
milter_protocol = 6
milter_connect_macros = j {daemon_name} {daemon_addr} {client_addr} {client_name} {client_ptr} v _
milter_helo_macros = {tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
milter_rcpt_macros = i {rcpt_addr} {rcpt_host} {rcpt_mailer}
milter_data_macros = i
milter_end_of_header_macros = i
milter_end_of_data_macros = i {auth_type} {auth_authen}
# below the sender's TIMEOUT (30 s), above any case's "within" bound
milter_connect_timeout = 10s
milter_command_timeout = 25s
milter_content_timeout = 25s
# the --no-milter self-test of the quarantine check
header_checks = regexp:%(confdir)s/header_checks
# AUTH on every smtpd: Cyrus SASL, sasldb in the temporary directory
smtpd_sasl_auth_enable = %(sasl)s
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = %(confdir)s/sasl
smtpd_sasl_local_domain = %(authserv)s
smtpd_sasl_security_options = noanonymous
smtpd_tls_auth_only = no
"""

SASL_CONF = """\
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: %s
mech_list: PLAIN LOGIN
"""


def setup_sasl(tmp, confdir):
    """the rig's one SASL account in a sasldb Postfix's smtpd (user
    postfix) reads; returns "yes", or "no" when saslpasswd2 is missing"""
    if not shutil.which("saslpasswd2"):
        log("e2e: saslpasswd2 not found: no AUTH (auth cases fail)")
        return "no"
    sdir = os.path.join(tmp, "sasl")
    os.makedirs(sdir)
    db = os.path.join(sdir, "sasldb2")
    r = subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u",
                        AUTHSERV_ID, SASL_USER], input=SASL_PASSWORD.encode(),
                       capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0 or not os.path.exists(db):
        raise RigError("saslpasswd2: exit %d: %s"
                       % (r.returncode, r.stderr.decode("utf-8", "replace")))
    pf = pwd.getpwnam("postfix")
    os.chown(db, pf.pw_uid, pf.pw_gid)
    os.chmod(db, 0o600)
    # Debian's Postfix reads $config_directory/sasl/smtpd.conf whatever
    # cyrus_sasl_config_path says (seen with strace), so both agree
    os.makedirs(os.path.join(confdir, "sasl"))
    write(os.path.join(confdir, "sasl", "smtpd.conf"), SASL_CONF % db)
    return "yes"


def start_postfix(tmp, ports, use_milter, groups):
    """groups[0] uses main.cf's smtpd_milters; every other group gets its
    own smtpd service with -o smtpd_milters"""
    confdir = os.path.join(tmp, "postfix")
    queuedir = os.path.join(tmp, "spool")
    datadir = os.path.join(tmp, "data")
    for d in (confdir, queuedir, datadir):
        os.makedirs(d)
    pf = pwd.getpwnam("postfix")
    os.chown(datadir, pf.pw_uid, pf.pw_gid)
    os.chmod(datadir, 0o700)
    v = dict(confdir=confdir, queuedir=queuedir, datadir=datadir, tmp=tmp,
             authserv=AUTHSERV_ID, sinkport=ports["sink"],
             smtpport=groups[0].smtp_port,
             milter=("smtpd_milters = unix:%s" % groups[0].unix_path)
             if use_milter else "smtpd_milters =")
    v["sasl"] = setup_sasl(tmp, confdir)
    write(os.path.join(confdir, "main.cf"), MAIN_CF % v)
    master = MASTER_CF % v
    for g in groups[1:]:
        master += ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "  -o smtpd_milters=inet:127.0.0.1:%d\n"
                   "  -o syslog_name=postfix/g%d\n"
                   % (g.smtp_port, g.milter_port, g.index))
    write(os.path.join(confdir, "master.cf"), master)
    write(os.path.join(confdir, "header_checks"),
          "/^%s$/ HOLD e2e self-test\n" % re.escape(HOLD_HEADER))
    # an empty log file the postlogd (running as root) will append to
    open(os.path.join(tmp, "maillog"), "a").close()
    for args in (["start"],):
        t1 = time.monotonic()
        r = subprocess.run(["postfix", "-c", confdir] + args,
                           capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            raise RigError("postfix %s: exit %d: %s%s"
                           % (args[0], r.returncode, r.stdout, r.stderr))
        if os.environ.get("E2E_VERBOSE"):
            log("postfix %s: %.2f s %s%s" % (args[0], time.monotonic() - t1, r.stdout, r.stderr))
    for g in groups:
        wait_for("postfix smtpd %d" % g.smtp_port,
                 lambda: smtp_greets(g.smtp_port))
    return confdir


def postqueue(confdir):
    """queue id -> queue name of every queued message (postqueue -j)"""
    import json
    r = subprocess.run(["postqueue", "-c", confdir, "-j"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise RigError("postqueue -j: exit %d: %s"
                       % (r.returncode, r.stderr))
    out = {}
    for ln in r.stdout.splitlines():
        if ln.strip():
            rec = json.loads(ln)
            out[rec["queue_id"]] = rec["queue_name"]
    return out


def postcat(confdir, qid):
    """a queued message's header and body as raw bytes (CRLF lines)"""
    r = subprocess.run(["postcat", "-c", confdir, "-h", "-b", "-q", qid],
                       capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise RigError("postcat -q %s: exit %d: %s"
                       % (qid, r.returncode, r.stderr.decode("utf-8",
                                                             "replace")))
    return re.sub(rb"\r?\n", b"\r\n", r.stdout)


def delete_held(confdir):
    subprocess.run(["postsuper", "-c", confdir, "-d", "ALL", "hold"],
                   capture_output=True, timeout=TIMEOUT)


def stop_postfix(confdir):
    try:
        subprocess.run(["postfix", "-c", confdir, "stop"],
                       capture_output=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        pass


# ---- playing a case ------------------------------------------------------

def xtext(s):
    return "".join(ch if 33 <= ord(ch) <= 126 and ch not in "+="
                   else "+%02X" % ord(ch) for ch in s)


def message_bytes(c, token):
    text = c.message
    head, sep, body = text.partition("\n\n")
    if not sep:
        head, body = text.rstrip("\n"), ""
    head = head + "\nX-E2E-Id: " + token
    return (head + "\n\n" + body).encode("utf-8")


def fmt(code, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "%d %s" % (code, " ".join(text.split()))


def play(c, keys):
    """run the case's SMTP session on its group's smtpd; appends to
    c.outcomes"""
    env = c.env

    def done(stage, reply):
        c.outcomes.append((stage, reply))
    s = smtplib.SMTP("127.0.0.1", c.group.smtp_port, timeout=TIMEOUT)
    try:
        code, text = s.ehlo("sender.test")
        if code != 250:
            return done("EHLO", fmt(code, text))
        client = env["client"]
        if client != "none":
            addr = ("IPV6:" + client) if ":" in client else client
            attrs = "ADDR=%s NAME=%s HELO=%s" % (
                xtext(addr), xtext(env.get("client_name", "[UNAVAILABLE]")),
                xtext(env["helo"]))
            code, text = s.docmd("XCLIENT", attrs)
            if code != 220:
                return done("XCLIENT", fmt(code, text))
        code, text = s.ehlo(env["helo"])
        if code != 250:
            return done("EHLO", fmt(code, text))
        if "auth" in env:
            user, pw = env["auth"].split(":", 1)
            resp = base64.b64encode(("\0%s\0%s" % (user, pw)).encode())
            code, text = s.docmd("AUTH", "PLAIN " + resp.decode())
            if code != 235:
                return done("AUTH", fmt(code, text))
        for i, token in enumerate(c.tokens):
            if i > 0:
                s.rset()
            transaction(s, c, token, done, keys)
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    finally:
        s.close()


def transaction(s, c, token, done, keys):
    """one MAIL..DATA transaction on an open session"""
    env = c.env
    sender = env["mail_from"]
    if sender == "<>":
        sender = ""
    code, text = s.mail(sender)
    if code != 250:
        return done("MAIL", fmt(code, text))
    good = 0
    first_bad = None
    for r in env["rcpt_to"]:
        code, text = s.rcpt(r)
        if code in (250, 251):
            good += 1
        elif first_bad is None:
            first_bad = fmt(code, text)
    if good == 0:
        return done("RCPT", first_bad)
    code, text = s.docmd("DATA")
    if code != 354:
        return done("DATA", fmt(code, text))
    data = re.sub(rb"\r?\n", b"\r\n", message_bytes(c, token))
    if c.sign or c.after:
        data, c.sigs[token] = sign_message(c, data, keys)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    c.sent[token] = data
    data = re.sub(rb"(?m)^\.", b"..", data)
    s.send(data + b".\r\n")
    if c.on_sent:
        c.on_sent(c, token)
    code, text = s.getreply()
    return done("end of DATA", fmt(code, text))


# ---- checking the delivered message --------------------------------------

def split_headers(raw):
    """[(name, value unfolded+normalized, [physical lines])] in order, and
    the body"""
    text = raw.decode("utf-8", "replace")
    m = re.search(r"\r?\n\r?\n", text)
    head, body = (text[:m.start()], text[m.end():]) if m else (text, "")
    fields = []
    for ln in re.split(r"\r?\n", head):
        if ln[:1] in (" ", "\t") and fields:
            fields[-1][1].append(ln)
        else:
            fields.append([ln, [ln]])
    out = []
    for first, phys in fields:
        name, _, v = first.partition(":")
        value = " ".join([v] + phys[1:])
        out.append((name.strip(), " ".join(value.split()), phys))
    return out, body


def check_delivered(c, raw, use_milter, token, dnsport):
    problems = []
    bvals = c.sigs.get(token, [])
    rx_of = {k: [expand_sigs(rx, bvals) for rx in c.expect.get(k, [])]
             for k in ("ar", "header", "no_header")}
    fields, body = split_headers(raw)
    # the email module must read it too (compat32 keeps raw order)
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    if [k.lower() for k in parsed.keys()] != [f[0].lower() for f in fields]:
        problems.append("email module sees other headers: %s"
                        % parsed.keys())
    if "body" in c.expect and not re.search(c.expect["body"],
                                            body.replace("\r\n", "\n")):
        problems.append("body does not match %r" % c.expect["body"])
    if not use_milter:
        if c.sign:
            problems += check_dkimpy(c, raw, dnsport)
        return problems
    ars = [f for f in fields if f[0].lower() == "authentication-results"]
    want = rx_of["ar"]
    got = [f[1] for f in ars]
    if len(got) != len(want):
        problems.append("%d Authentication-Results headers, want %d: %s"
                        % (len(got), len(want), got))
    else:
        for i, (rx, g) in enumerate(zip(want, got)):
            if not re.fullmatch(rx, g):
                problems.append("A-R #%d: %r does not match %r"
                                % (i + 1, g, rx))
    if want and ars and not ars[0][2][0].startswith(ars[0][0] + ": "):
        problems.append("first A-R does not start %r: %r"
                        % (ars[0][0] + ": ", ars[0][2][0]))
    first = c.expect.get("first_header",
                         "Authentication-Results" if want else None)
    if first and (not fields or fields[0][0].lower() != first.lower()):
        problems.append("first header is %r, want %s"
                        % (fields[0][0] if fields else None, first))
    rendered = ["%s: %s" % (f[0], f[1]) for f in fields]
    for rx in rx_of["header"]:
        if not any(re.search(rx, h) for h in rendered):
            problems.append("no header matches %r" % rx)
    for rx in rx_of["no_header"]:
        bad = [h for h in rendered if re.search(rx, h)]
        if bad:
            problems.append("header %r matches no_header %r" % (bad[0], rx))
    if "folded" in c.expect and ars:
        folded = len(ars[0][2]) > 1
        if folded != (c.expect["folded"] == "yes"):
            problems.append("first A-R folded=%s, want %s: %r"
                            % (folded, c.expect["folded"], ars[0][2]))
    if "max_line" in c.expect:
        limit = int(c.expect["max_line"])
        for f in ars:
            for ln in f[2]:
                if len(ln.encode()) > limit:
                    problems.append("A-R line of %d octets > %d: %r"
                                    % (len(ln.encode()), limit, ln))
    return problems


def check_dkimpy(c, raw, dnsport):
    """--no-milter: dkimpy's verdicts on the delivered signatures agree
    with the dkim= results of the case's first ar line"""
    if dkimpy is None:
        return ["dkimpy (python3-dkim) not importable"]
    got = dkimpy_results(raw, dnsport)
    ars = c.expect.get("ar", [])
    want = re.findall(r"dkim=(\w+)", ars[0]) if ars else []
    want = ["pass" if w == "pass" else "fail" for w in want]
    if want and sorted(want) != sorted(got):
        return ["dkimpy says %s, the case expects %s" % (got, want)]
    if os.environ.get("E2E_VERBOSE"):
        log("     %s: dkimpy: %s" % (c.name, got))
    return []


# ---- authmilter -t: the same verdict offline -----------------------------
#
# For every copy that reached the milter's end of message, the runner also
# runs `authmilter -t FILE -c CONF --client-ip IP --helo HELO --mail-from
# ADDR [--auth-user USER]` on the exact bytes it sent (after signing, before
# dot-stuffing), with the configuration file of that case's daemon, and
# compares: the unfolded Authentication-Results header line must equal the
# one the daemon wrote (delivered or held copy) octet for octet, comments
# included; the action must be what Postfix did (accept: delivered,
# quarantine: held, reject/tempfail: the SMTP reply, whose text must equal
# -t's smtp="..."); "# removed" must name the A-R headers claiming our
# authserv-id that the delivered copy lost (and agree with the daemon's
# ar_removed=); "# skipped" must agree with the daemon's skipped=. For
# rejected and temp-failed copies, which have no header to compare, the
# spf=, dkim= and dmarc= results of -t's header must agree with the
# daemon's log line. Copies that both sides skipped (trusted, AUTH) are no
# check of their own. Each case with a compared copy counts as one check.
#
# The file is what the milter sees: Postfix does not pass its own Received
# header to the milter (strace on the daemon; see WHAT POSTFIX 3.7 DOES
# HERE). Not given to -t: the client's reverse name (the session keeps it,
# no result uses it).

T_WORKERS = 6                   # -t runs at once (one blackholed copy
                                # waits for its DNS timeout)
LOG_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


class TCheck:
    """one `authmilter -t` run on one sent copy"""

    def __init__(self, argv):
        self.argv = argv
        self.rc = None
        self.out = ""
        self.err = ""
        self.ms = 0.0
        self.error = None       # the run itself failed (timeout, exec)

    def run(self):
        t1 = time.monotonic()
        try:
            r = subprocess.run(self.argv, capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=TIMEOUT)
            self.rc = r.returncode
            self.out = r.stdout.decode("utf-8", "replace")
            self.err = r.stderr.decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError) as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        self.ms = (time.monotonic() - t1) * 1e3
        return self


def milter_client(c):
    """the client address the milter sees: 127.0.0.1 without XCLIENT;
    Postfix unmaps ::ffff:a.b.c.d itself"""
    client = c.env["client"]
    if client == "none":
        return "127.0.0.1"
    m = re.fullmatch(r"(?i)::ffff:(\d{1,3}(?:\.\d{1,3}){3})", client)
    return m.group(1) if m else client


def start_tcheck(c, token, tmp, pool):
    """write the copy token of c as sent and start its -t run in pool (a
    ThreadPoolExecutor): c.tcheck[token] is its future. Called as soon as
    the copy is sent, before Postfix's reply, so a slow run (DNS timeouts)
    overlaps the daemon's own wait and the cases after it; judge_t()
    ignores copies that did not reach the end of DATA."""
    exe = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
    tdir = os.path.join(tmp, "t-input")
    os.makedirs(tdir, exist_ok=True)
    env = c.env
    path = os.path.join(tdir, "%s.%d.eml" % (c.name,
                                            c.tokens.index(token) + 1))
    with open(path, "wb") as f:
        f.write(c.sent[token])
    sender = env["mail_from"]
    argv = [exe, "-t", path,
            "-c", os.path.join(tmp, c.group.name + ".conf"),
            "--client-ip", milter_client(c),
            "--helo", env["helo"],
            "--mail-from", "" if sender == "<>" else sender]
    if "auth" in env:
        argv += ["--auth-user", env["auth"].split(":", 1)[0]]
    c.tcheck[token] = pool.submit(TCheck(argv).run)


def parse_t_output(out):
    """-t's stdout: {removed: [index], skipped, ar (unfolded header line),
    action, smtp}, and a list of lines it did not expect"""
    res = dict(removed=[], skipped=None, ar=None, action=None, smtp=None)
    odd = []
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        ln = lines[i]
        i += 1
        m = re.fullmatch(r"# removed: Authentication-Results #(\d+) .*", ln)
        if m:
            res["removed"].append(int(m.group(1)))
            continue
        if ln.startswith("# skipped: "):
            res["skipped"] = ln[len("# skipped: "):]
            continue
        if ln.startswith("Authentication-Results:") and res["ar"] is None:
            # RFC 5322 2.2.3: unfolding removes the line breaks only
            while i < len(lines) and lines[i][:1] in (" ", "\t"):
                ln += lines[i]
                i += 1
            res["ar"] = ln
            continue
        m = re.fullmatch(r'action=(\w+)(?: smtp="(.*)")?', ln)
        if m and res["action"] is None:
            res["action"] = m.group(1)
            res["smtp"] = m.group(2)
            continue
        odd.append(ln)
    return res, odd


def ar_id(value):
    """an A-R value's authserv-id, lower case (comments before it
    skipped)"""
    v = re.sub(r"^\s*(?:\([^()]*\)\s*)*", "", value)
    m = re.match(r"([^\s;()]+)", v)
    return m.group(1).lower() if m else ""


def ar_results(value):
    """an A-R value's results: [(method, result, comment, {ptype.prop:
    value})] (a small reader for the comparison: quoted values and
    comments without nested parentheses)"""
    out = []
    for part in re.findall(r'(?:"[^"]*"|\([^()]*\)|[^;"(])+', value)[1:]:
        toks = re.findall(r'"[^"]*"|\([^()]*\)|[^\s=()"]+=(?:"[^"]*"|[^\s()]*)'
                          r'|\S+', part)
        if not toks:
            continue
        m = re.fullmatch(r"([\w-]+)=(\S+)", toks[0])
        if not m:
            out.append((toks[0], "", "", {}))
            continue
        comment, props = "", {}
        for t in toks[1:]:
            if t.startswith("("):
                comment += t
            elif "=" in t:
                k, v = t.split("=", 1)
                props[k.lower()] = v
        out.append((m.group(1).lower(), m.group(2).lower(), comment, props))
    return out


def ar_diff(want, got):
    """what differs between two A-R values, result by result"""
    a, b = ar_results(want), ar_results(got)
    if ar_id(want) != ar_id(got):
        return ["authserv-id: daemon %r, -t %r" % (ar_id(want), ar_id(got))]
    if len(a) != len(b):
        return ["results: daemon %s, -t %s"
                % (["%s=%s" % r[:2] for r in a], ["%s=%s" % r[:2] for r in b])]
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        what = "result %d (%s)" % (i + 1, x[0])
        if x[:2] != y[:2]:
            out.append("%s: daemon %s=%s, -t %s=%s"
                       % ((what,) + x[:2] + y[:2]))
        for k in sorted(set(x[3]) | set(y[3])):
            if x[3].get(k) != y[3].get(k):
                out.append("%s: %s: daemon %r, -t %r"
                           % (what, k, x[3].get(k), y[3].get(k)))
        if x[2] != y[2]:
            out.append("%s: comment: daemon %r, -t %r" % (what, x[2], y[2]))
    return out or ["white space or quoting differs"]


def read_log_lines(tmp, groups):
    """group name -> the daemon's per-message log lines, parsed, in order"""
    out = {}
    for g in groups:
        lines = []
        path = os.path.join(tmp, g.name + ".stderr")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for ln in f:
                    if not re.match(r"authmilter: conn=\d+ ", ln):
                        continue
                    rec = {}
                    for k, v in LOG_FIELD.findall(ln):
                        if v.startswith('"'):
                            v = re.sub(r"\\(.)", r"\1", v[1:-1])
                        rec.setdefault(k, v)
                    rec["used"] = False
                    lines.append(rec)
        except OSError:
            pass
        out[g.name] = lines
    return out


def take_log_line(c, logs):
    """the daemon's next unused log line for one of c's copies (its client
    and HELO name), or None"""
    for rec in logs.get(c.group.name, []):
        if not rec["used"] and rec.get("client") == milter_client(c) and \
                rec.get("helo") == c.env["helo"]:
            rec["used"] = True
            return rec
    return None


def log_results(rec):
    """the results a daemon log line shows: {"spf": mail from result,
    "spf_helo": HELO result, "dkim": sorted [(result, d)], "dmarc": result,
    "header_from": domain}, each only when the line has it"""
    out = {}
    for k in ("spf", "spf_helo"):
        if rec.get(k, "-") != "-":
            out[k] = rec[k]
    if "dkim" in rec:
        out["dkim"] = sorted(("none", "") if d == "none" else
                             tuple(d.split(":", 1))
                             for d in rec["dkim"].split(","))
    for k in ("dmarc", "header_from"):
        if k in rec:
            out[k] = rec[k]
    if "dmarc_authors" in rec:
        # several author domains in one From: each one's result
        out["dmarc"] = sorted(tuple(d.split(":", 1))
                              for d in rec["dmarc_authors"].split(","))
    return out


def ar_as_log(value):
    """an A-R value's results in log_results() form"""
    out = {}
    for method, result, _, props in ar_results(value):
        if method == "spf" and "smtp.mailfrom" in props:
            out["spf"] = result
        elif method == "spf" and "smtp.helo" in props:
            out["spf_helo"] = result
        elif method == "dkim":
            out.setdefault("dkim", []).append(
                (result, props.get("header.d", "").strip('"')))
        elif method == "dmarc":
            out.setdefault("dmarcs", []).append(
                (result, props.get("header.from", "").strip('"')))
    dm = out.pop("dmarcs", [])
    if len(dm) == 1:
        out["dmarc"] = dm[0][0]
        if dm[0][1]:
            out["header_from"] = dm[0][1]
    elif dm:
        out["dmarc"] = sorted(dm)
        out["header_from"] = ",".join(d for _, d in dm)
    if "dkim" in out:
        out["dkim"].sort()
    return out


def compare_copy(c, token, t, daemon, rec, sent):
    """problems of one copy: t the parsed -t output, daemon (how Postfix
    ended: kind, reply, raw message or None), rec the daemon's log line"""
    problems = []
    kind, reply, raw = daemon
    if rec is None:
        problems.append("no log line of the daemon for client %s helo %s"
                        % (milter_client(c), c.env["helo"]))
    elif rec.get("skipped") != t["skipped"]:
        problems.append("skipped: daemon %r, -t %r"
                        % (rec.get("skipped"), t["skipped"]))
    if rec is not None and rec.get("ar_removed") != str(len(t["removed"])):
        problems.append("removed A-R headers: daemon %s, -t %s"
                        % (rec.get("ar_removed"), t["removed"]))
    want_action = {"delivered": "accept", "held": "quarantine"}.get(kind)
    if kind == "held" and wants_hold(c, False):
        want_action = "accept"          # Postfix's header_checks held it
    if kind == "reply":
        want_action = {"5": "reject", "4": "tempfail"}.get(reply[:1], "?")
    if t["action"] != want_action:
        problems.append("action: Postfix %s (%s), -t action=%s"
                        % (kind, reply, t["action"]))
    elif kind == "reply":
        tsmtp = " ".join((t["smtp"] or "").split())
        if tsmtp != reply:
            problems.append("SMTP reply %r, -t smtp=%r" % (reply, t["smtp"]))
    if kind == "reply":
        if t["skipped"] is None and rec is not None:
            # no header to compare: what the log line shows must agree
            want = log_results(rec)
            got = ar_as_log(t["ar"] or "")
            for k in sorted(set(want) | set(got)):
                if k in want and want[k] != got.get(k):
                    problems.append("%s: daemon log %s, -t %s"
                                    % (k, want[k], got.get(k)))
        return problems
    if raw is None:
        problems.append("no %s copy to compare with" % kind)
        return problems
    fields, _ = split_headers(raw)
    ours, others = [], []
    for name, _, phys in fields:
        if name.lower() == "authentication-results":
            line = "".join(phys)        # unfolded: the line breaks removed
            value = line.split(":", 1)[1]
            (ours if ar_id(value) == AUTHSERV_ID else others).append(line)
    if len(ours) > 1:
        problems.append("%d A-R headers with our authserv-id: %s"
                        % (len(ours), ours))
    got = t["ar"]
    if not ours and got is not None:
        problems.append("the daemon wrote no A-R, -t: %r" % got)
    elif ours and got is None:
        problems.append("-t printed no A-R, the daemon wrote %r" % ours[0])
    elif ours and ours[0] != got:
        problems.append("A-R differs:\n       daemon %r\n       -t     %r"
                        % (ours[0], got))
        problems += ["  " + d for d in ar_diff(ours[0].split(":", 1)[1],
                                                got.split(":", 1)[1])]
    # the A-R headers as sent, less those -t says it removes, are the
    # delivered ones other than the daemon's own
    sfields, _ = split_headers(sent)
    sent_ars = ["".join(phys) for name, _, phys in sfields
                if name.lower() == "authentication-results"]
    kept = [a for i, a in enumerate(sent_ars, 1) if i not in t["removed"]]
    if kept != others:
        problems.append("other A-R headers: sent less -t's removals %s, "
                        "delivered %s" % (kept, others))
    return problems


def daemon_outcome(c, i, token, sink, queue, confdir):
    """how Postfix ended copy i: ("delivered"|"held", reply, raw) or
    ("reply", reply, None) for a 4xx/5xx"""
    _, outcome = c.outcomes[i]
    if not outcome.startswith("2"):
        return ("reply", outcome, None)
    m = re.search(r"queued as ([0-9A-Za-z]+)", outcome)
    qid = m.group(1) if m else None
    if qid and queue.get(qid) == "hold":
        return ("held", outcome, postcat(confdir, qid))
    got = sink.messages.get(token)
    return ("delivered", outcome, got[0][1] if got and len(got) == 1
            else None)


def judge_t(c, sink, queue, confdir, logs):
    """(checked, problems) of c's -t runs: checked is false when no copy
    was evaluated by either side (trusted, authenticated, never reached
    the end of DATA) and nothing disagrees"""
    problems = []
    checked = False
    for i, token in enumerate(c.tokens):
        fut = c.tcheck.get(token)
        if fut is None or i >= len(c.outcomes) or \
                c.outcomes[i][0] != "end of DATA":
            continue            # the milter never saw the whole message
        tag = "" if len(c.tokens) == 1 else "copy %d: " % (i + 1)
        rec = take_log_line(c, logs)
        run = fut.result()
        if run.error or run.rc != 0:
            checked = True
            problems.append(tag + "-t: %s exit %s: %s%s"
                            % (run.error or "", run.rc, run.out, run.err))
            continue
        t, odd = parse_t_output(run.out)
        if odd or run.err.strip():
            problems.append(tag + "-t printed unexpected output: %r %r"
                            % (odd, run.err))
        if t["action"] is None:
            problems.append(tag + "-t printed no action line: %r" % run.out)
            checked = True
            continue
        both_skipped = t["skipped"] is not None and rec is not None and \
            rec.get("skipped") is not None
        if not both_skipped:
            checked = True
        daemon = daemon_outcome(c, i, token, sink, queue, confdir)
        problems += [tag + p for p in
                     compare_copy(c, token, t, daemon, rec, c.sent[token])]
        if os.environ.get("E2E_VERBOSE"):
            log("     %s: %s-t %.0f ms: %s" % (c.name, tag, run.ms,
                                              " ".join(run.argv[1:])))
    return checked or bool(problems), problems


def wants_hold(c, use_milter):
    if use_milter:
        return c.expect.get("quarantine") == "hold"
    return HOLD_HEADER in c.message.split("\n\n", 1)[0].split("\n")


def judge(c, sink, use_milter, queue, confdir, dnsport):
    """list of problems (empty: pass); queue: postqueue() after playing"""
    if c.error:
        return ["sender: " + c.error]
    want = c.expect["smtp"]
    if not use_milter:
        want = "250"
    problems = []
    within = c.expect.get("within")
    if within and use_milter and c.ms > int(within) * 1000:
        problems.append("the SMTP session took %.1f s, bound %s s"
                        % (c.ms / 1000, within))
    hold = wants_hold(c, use_milter)
    for i, token in enumerate(c.tokens):
        tag = "" if len(c.tokens) == 1 else "copy %d: " % (i + 1)
        if i >= len(c.outcomes):
            problems.append(tag + "not sent")
            continue
        stage, outcome = c.outcomes[i]
        if not outcome.startswith(want):
            problems.append(tag + "SMTP %s: got %r, want %r"
                            % (stage, outcome, want))
            continue
        for rx in c.expect.get("smtp_text", []) if use_milter else []:
            if not re.search(rx, outcome):
                problems.append(tag + "SMTP %s: %r does not match %r"
                                % (stage, outcome, rx))
        got = sink.messages.get(token)
        if not outcome.startswith("2"):
            if got:
                problems.append(tag + "rejected but delivered anyway")
            continue
        m = re.search(r"queued as ([0-9A-Za-z]+)", outcome)
        qid = m.group(1) if m else None
        where = queue.get(qid)
        if hold:
            if got:
                problems.append(tag + "delivered, want held (queue id %s)"
                                % qid)
            elif where != "hold":
                problems.append(tag + "not in the hold queue (queue id "
                                "%s: %s)" % (qid, where or "not queued"))
            else:
                problems += [tag + p for p in
                             check_delivered(c, postcat(confdir, qid),
                                             use_milter, token, dnsport)]
            continue
        if where == "hold":
            problems.append(tag + "held in Postfix's hold queue (queue id "
                            "%s), want delivered" % qid)
        elif not got:
            problems.append(tag + "accepted (%s) but not delivered to the "
                            "sink" % outcome)
        elif len(got) != 1:
            problems.append(tag + "delivered %d times" % len(got))
        else:
            problems += [tag + p for p in
                         check_delivered(c, got[0][1], use_milter, token,
                                         dnsport)]
    return problems


def wait_delivery(cases, sink, use_milter, confdir):
    """wait until every accepted message not meant to be held is at the
    sink or (wrongly) in the hold queue; returns postqueue() then"""
    tokens = [t for c in cases if not wants_hold(c, use_milter)
              for t, (_, o) in zip(c.tokens, c.outcomes) if o.startswith("2")]
    qid_of = {}
    for c in cases:
        for t, (_, o) in zip(c.tokens, c.outcomes):
            m = re.search(r"queued as ([0-9A-Za-z]+)", o)
            if m:
                qid_of[t] = m.group(1)
    deadline = time.monotonic() + TIMEOUT
    while True:
        missing = sink.wait(tokens, timeout=1.0)
        queue = postqueue(confdir)
        missing = [t for t in missing if queue.get(qid_of.get(t)) != "hold"]
        if not missing or time.monotonic() > deadline:
            return queue


# ---- main ----------------------------------------------------------------

def main(argv):
    use_milter = "--no-milter" not in argv
    keep = "--keep" in argv or os.environ.get("E2E_KEEP") == "1"
    only = [a for a in argv if not a.startswith("--")]
    srcdir = os.environ.get("top_srcdir",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
    try:
        cases = load_cases(os.path.join(srcdir, "t", "e2e", "cases"), only)
        groups = make_groups(cases, use_milter)
    except (CaseError, OSError) as e:
        log("e2e: bad case: %s" % e)
        return 99
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="am-e2e-")
    os.chmod(tmp, 0o755)        # Postfix's unprivileged daemons walk it
    procs = []
    confdir = None
    sink = None
    blackhole = None
    failed = 0
    checks = len(cases)         # cases, then the -t comparisons
    daemon_bad = 0
    pool = None
    rig_broken = False
    try:
        p = free_ports(3 + 2 * len(groups))
        ports = dict(dns=p[0], sink=p[1], blackhole=p[2])
        for i, g in enumerate(groups):
            g.milter_port, g.smtp_port = p[3 + 2 * i], p[4 + 2 * i]
        # the base group's cases go over a unix socket (no Nagle: there the
        # milter also skips the DATA reply), the other groups over TCP;
        # Postfix's smtpd (user postfix) must reach the socket
        groups[0].unix_path = os.path.join(tmp, "authmilter.sock")
        os.chmod(tmp, 0o711)
        blackhole = Blackhole(ports["blackhole"])
        os.makedirs(os.path.join(tmp, "sink"))
        sink = Sink(ports["sink"], os.path.join(tmp, "sink"))
        times = []
        t1 = time.monotonic()
        keys = Keys(os.path.join(tmp, "keys"),
                    {spec["key"] for c in cases for spec in c.sign})
        if keys.keys:
            times.append("%d keys %.1f s" % (len(keys.keys),
                                             time.monotonic() - t1))
        t1 = time.monotonic()
        start_nsd(tmp, ports["dns"], cases, key_records(cases, keys), procs)
        times.append("nsd %.1f s" % (time.monotonic() - t1))
        if use_milter:
            t1 = time.monotonic()
            for g in groups:
                if g.cases or g.index == 0:
                    start_milter(tmp, g, ports, procs)
            times.append("%d authmilter %.1f s"
                         % (len(groups), time.monotonic() - t1))
        t1 = time.monotonic()
        confdir = start_postfix(tmp, ports, use_milter, groups)
        times.append("postfix %.1f s" % (time.monotonic() - t1))
        setup_s = time.monotonic() - t0
        if use_milter:
            pool = concurrent.futures.ThreadPoolExecutor(T_WORKERS)
            for c in cases:
                c.on_sent = lambda c, token: start_tcheck(c, token, tmp,
                                                          pool)
        for c in cases:
            t1 = time.monotonic()
            try:
                play(c, keys)
            except Exception as e:    # one case's trouble is its own
                c.error = "%s: %s" % (type(e).__name__, e)
            c.ms = (time.monotonic() - t1) * 1e3
        queue = wait_delivery(cases, sink, use_milter, confdir)
        logs = read_log_lines(tmp, groups) if use_milter else {}
        for c in cases:
            try:
                problems = judge(c, sink, use_milter, queue, confdir,
                                 ports["dns"])
            except RigError as e:
                problems = ["rig: %s" % e]
            if problems:
                failed += 1
                log("FAIL %s" % c.name)
                log("     (%s)" % c.description)
                for pr in problems:
                    log("     " + pr)
            else:
                log("ok   %s" % c.name + (" (%.0f ms)" % c.ms
                                          if os.environ.get("E2E_VERBOSE")
                                          else ""))
            if not c.tcheck:
                continue
            try:
                checked, problems = judge_t(c, sink, queue, confdir, logs)
            except RigError as e:
                checked, problems = True, ["rig: %s" % e]
            if not checked:
                continue
            checks += 1
            if problems:
                failed += 1
                log("FAIL %s (-t disagrees)" % c.name)
                for pr in problems:
                    log("     " + pr)
            else:
                log("ok   %s (-t agrees)" % c.name)
        delete_held(confdir)
        left = postqueue(confdir)
        if left:
            log("e2e: messages left in Postfix's queues: %s" % left)
        log("e2e: setup %.1f s (%s), total %.1f s%s"
            % (setup_s, ", ".join(times), time.monotonic() - t0,
               "" if use_milter else " (rig only, no milter)"))
    except Exception as e:      # anything here means the rig is broken
        log("e2e: rig failure: %s: %s" % (type(e).__name__, e))
        if not isinstance(e, RigError):
            traceback.print_exc(file=sys.stdout)
        rig_broken = True
    finally:
        if pool:                # -t runs left by a broken rig end first
            pool.shutdown(wait=True, cancel_futures=True)
        if failed or rig_broken:
            show_logs(tmp)
        if confdir:
            stop_postfix(confdir)
        for name, pr in procs:
            if pr.poll() is None:
                pr.terminate()
        for name, pr in procs:
            t1 = time.monotonic()
            try:
                pr.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait(timeout=10)
            if os.environ.get("E2E_VERBOSE"):
                log("e2e: %s stopped in %.1f s, status %s"
                    % (name, time.monotonic() - t1, pr.returncode))
            if name.startswith("authmilter") and \
                    pr.returncode not in (0, -15):
                # a crash during the run or a bad shutdown: one more failure
                log("FAIL %s-exit: the daemon ended with status %s"
                    % (name, pr.returncode))
                if not rig_broken and not failed and not daemon_bad:
                    show_logs(tmp)
                daemon_bad += 1
        if sink:
            sink.close()
        if blackhole:
            blackhole.close()
        if keep or failed or rig_broken or daemon_bad:
            log("e2e: files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if rig_broken:
        log("e2e: 0 passed, %d failed" % len(cases))
        return 99
    log("e2e: %d passed, %d failed" % (checks - failed,
                                       failed + daemon_bad))
    return 1 if failed or daemon_bad else 0


def show_logs(tmp):
    daemons = sorted(n for n in os.listdir(tmp)
                     if n.startswith("authmilter") and n.endswith(".stderr"))
    for title, name in [("Postfix maillog", "maillog")] + \
            [("%s stderr" % n[:-7], n) for n in daemons] + \
            [("NSD log", "nsd/nsd.log"), ("NSD stderr", "nsd/nsd.stderr")]:
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            log("--- %s (tail of %s)" % (title, path))
            log(tail(path))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main(sys.argv[1:]))
