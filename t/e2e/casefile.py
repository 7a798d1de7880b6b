"""casefile.py - the e2e case reader: t/e2e/cases/NAME.case into Case objects.

Reads and checks every case file (a bad case stops the run before the rig
starts: CaseError), and answers what a case says about itself: the regexes
of its [expect] with their shorthands expanded (expand_sigs), the client
address the milter sees (milter_client), whether its copies are meant to
be held (wants_hold). Uses nothing of the rig; rig.py and judge.py import
it. The constants every part shares (TIMEOUT, AUTHSERV_ID, the served
zones) are here.

CASE FILE FORMAT (t/e2e/cases/NAME.case)
  A case file is a list of sections. A section starts with a line that is
  exactly one of [description], [config], [dns], [sign], [envelope],
  [message], [expect] and runs to the next such line. Lines starting with
  "#" before the first section are comments.

  [description]  free text, one line or more.

  [config]       libconfig settings for this case's authmilter. Each
                 top-level setting (ended by ";" at depth 0) replaces the
                 base setting of the same name (rig.BASE_CONFIG: dns, spf,
                 dkim/dmarc off, ...) or is added; "socket" is the runner's.
                 {dns} is NSD's port, {blackhole} the port of a UDP (and
                 TCP) socket the runner holds open and never reads. Cases
                 whose resulting configuration is the same (white space
                 aside) share one authmilter and one smtpd service; at most
                 rig.MAX_GROUPS configurations. No [config]: the base group.

  [dns]          zone-file records with absolute owner names, one per line:
                     spf-pass.example.org. TXT "v=spf1 ip4:192.0.2.10 -all"
                 Blank lines and lines starting with ";" are ignored. Each
                 record goes to the served zone that is the longest suffix of
                 its owner (SERVED_ZONES: example.org, example.com,
                 example.net, org, com, net, gov, and the reverse zones of
                 the documentation prefixes for PTR records:
                 2.0.192.in-addr.arpa, 100.51.198.in-addr.arpa,
                 113.0.203.in-addr.arpa, 8.b.d.0.1.0.0.2.ip6.arpa, e.g.
                     50.113.0.203.in-addr.arpa. PTR mail.x.example.org.
                 which libunbound asks NSD for, as it forwards every
                 built-in local zone); an owner outside them is a case
                 error. Every
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
                 The top-level zones org, com and net are served too, empty
                 but for their SOA and NS (so RFC 9989's tree walk, which
                 ends at _dmarc.org, _dmarc.com or _dmarc.net, gets an
                 authoritative NXDOMAIN there, not a REFUSED that would be a
                 temperror), and gov: a name the Public Suffix List lists,
                 where the PSD case publishes _dmarc.gov with psd=y (RFC
                 9989's motivation). A record at _dmarc.org, _dmarc.com or
                 _dmarc.net would reach every DMARC case of that zone: do
                 not add one.

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
                 ARC (RFC 8617), in the same file order as everything
                 above (each line acts on the message as the lines before
                 it left it):
                   arc: d=DOMAIN s=SELECTOR [key=NAME] [srv-id=ID]
                        [h=a:b:c] | AAR
                        a mailing list or forwarder seals the message with
                        dkimpy's arc_sign (rsa-sha256: dkimpy has no
                        Ed25519 for ARC): "Authentication-Results: ID; AAR"
                        (ID default DOMAIN) is put at the top, arc_sign makes
                        the ARC set from it (its AAR), the set goes on top
                        and the Authentication-Results is taken away again.
                        The key is published as for DKIM (publish=no too).
                   key: d=DOMAIN s=SELECTOR key=NAME
                        only make and publish the key NAME (for the
                        milter's own seal: [config] names the file as
                        "{keydir}/NAME.pem")

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
                   log = REGEX  (repeatable) the daemon's log line for
                        each copy that reached the end of DATA matches
                        (re.search; checked with the -t comparison)
                   arc_verify = pass | fail | none  dkimpy's arc_verify of
                        the delivered copy, keys from NSD (our seal as a
                        second implementation reads it)
                 Always, when there are ar lines: the first A-R is written
                 "Authentication-Results: value" (one space after the colon,
                 as every header Postfix itself writes).
                   folded = yes | no  whether the first A-R header is folded
                   max_line = N  no physical line of any A-R header is
                        longer than N octets
                   body = REGEX  the delivered body matches (re.search)
"""

import os
import re
import secrets

TIMEOUT = 30.0                  # every wait is bounded by this
AUTHSERV_ID = "mx.test.example"
SERVED_ZONES = ["example.org", "example.com", "example.net",
                "org", "com", "net", "gov",
                # the documentation prefixes' reverse zones (iprev, PTR)
                "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa",
                "113.0.203.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"]
NOT_SERVED = "nozone.example"
SECTIONS = ["description", "config", "dns", "sign", "envelope", "message",
            "expect"]
ENVELOPE_KEYS = {"client", "client_name", "helo", "mail_from", "rcpt_to",
                 "repeat", "auth"}
EXPECT_KEYS = {"smtp", "smtp_text", "within", "quarantine", "ar", "header",
               "no_header", "first_header", "folded", "max_line", "body",
               "log", "arc_verify"}
REPEATABLE = {"rcpt_to", "ar", "header", "no_header", "smtp_text", "log"}
SHORTHANDS = {"{id}": re.escape(AUTHSERV_ID), "{c}": r"(?: \([^()]*\))?"}
SIG_SHORTHAND = re.compile(r"\{b([1-9][0-9]*)\}")
SIGN_KEYS = {"d", "s", "a", "key", "c", "h", "i", "l", "publish"}
SIGN_ALGS = {"rsa-sha256": "rsa", "rsa-sha1": "rsa",
             "ed25519-sha256": "ed25519"}
KEY_NAME = re.compile(r"(rsa(?:1024|2048|4096)|ed25519)(?:-[a-z0-9]+)?")
CANONS = {"simple", "relaxed"}
DEFAULT_SIGNED = "from:to:subject:date:message-id"
HOLD_HEADER = "X-E2E-Hold: yes"


class CaseError(Exception):
    pass


class Case:
    """one case file, as read; the runner fills in the rest as it plays
    and judges it"""

    def __init__(self, name):
        self.name = name
        self.description = ""
        self.dns = []           # (owner, rest of the record)
        self.config = []        # [config]: [(name, setting text)]
        self.group = None       # rig.Group this case runs in
        self.sign = []          # [sign] lines: dicts of SIGN_KEYS
        self.arcs = []          # "arc:" lines: dicts (d, s, key, srv-id,
                                # h, aar, publish)
        self.keyonly = []       # "key:" lines: dicts (d, s, key, publish)
        self.ops = []           # every [sign] line in file order:
                                # ("sign", spec), ("arc", spec), ("edit",
                                # edit)
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
        self.tcheck = {}        # token -> future of its -t run (rig.TCheck)
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
    if c.expect.get("arc_verify", "pass") not in ("pass", "fail", "none"):
        raise CaseError("%s: expect: arc_verify must be pass, fail or none"
                        % name)
    for k in ("ar", "header", "no_header", "smtp_text", "log"):
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
    if ln.startswith("arc:") or ln.startswith("key:"):
        parse_arc_line(c, ln)
        return
    if ln.startswith("after:"):
        rest = ln[len("after:"):].strip()
        edit = None
        m = re.fullmatch(r"body \+= (.*)", rest)
        if m:
            edit = ("body", m.group(1))
        m = m or re.fullmatch(r"header ([!-9;-~]+) = (.*)", rest)
        if m and edit is None:
            edit = ("header", m.group(1), m.group(2))
        m = m or re.fullmatch(r"line (([!-9;-~]+)[ \t]*:.*)", rest)
        if m and edit is None:
            edit = ("line", m.group(2), m.group(1))
        if edit is not None:
            c.after.append(edit)
            c.ops.append(("edit", edit))
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
    c.ops.append(("sign", spec))


def parse_arc_line(c, ln):
    """an "arc:" (a sealing hop) or "key:" (a key to publish) line"""
    where = "%s: sign" % c.name
    kind, _, rest = ln.partition(":")
    rest, bar, aar = rest.partition("|")
    if kind == "arc" and (not bar or not aar.strip()):
        raise CaseError("%s: arc: want '... | AAR': %r" % (where, ln))
    if kind == "key" and bar:
        raise CaseError("%s: key: no AAR: %r" % (where, ln))
    allowed = {"d", "s", "key", "srv-id", "h", "publish"} if kind == "arc" \
        else {"d", "s", "key"}
    spec = {}
    for tok in rest.split():
        k, eq, v = tok.partition("=")
        if not eq or not v or k not in allowed or k in spec:
            raise CaseError("%s: %s: bad or repeated key=value %r"
                            % (where, kind, tok))
        spec[k] = v
    for k in ("d", "s") + (("key",) if kind == "key" else ()):
        if k not in spec:
            raise CaseError("%s: %s: %s= missing: %r" % (where, kind, k, ln))
    spec["d"] = spec["d"].lower().rstrip(".")
    spec["s"] = spec["s"].lower()
    spec.setdefault("key", "rsa2048")
    spec.setdefault("publish", "yes")
    km = KEY_NAME.fullmatch(spec["key"])
    if not km or km.group(1) == "ed25519" and kind == "arc":
        raise CaseError("%s: %s: bad key name %r (ARC seals here are RSA)"
                        % (where, kind, spec["key"]))
    if spec["publish"] not in ("yes", "no"):
        raise CaseError("%s: publish= must be yes or no" % where)
    if spec["publish"] == "yes" and zone_of(key_owner(spec)) is None:
        raise CaseError("%s: %s is in no served zone"
                        % (where, key_owner(spec)))
    if kind == "key":
        c.keyonly.append(spec)
        return
    spec.setdefault("srv-id", spec["d"])
    spec["aar"] = aar.strip()
    spec["headers"] = [x.encode() for x in spec["h"].lower().split(":")
                       if x] if "h" in spec else None
    c.arcs.append(spec)
    c.ops.append(("arc", spec))


def key_specs(c):
    """every spec of c that names a key: DKIM signers, ARC sealers, keys"""
    return c.sign + c.arcs + c.keyonly


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
        for spec in key_specs(c):
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


def expand_sigs(rx, bvals):
    """{bN}: the N-th [sign] line's b= as header.b shows it: its first 8
    characters, then possibly more, possibly quoted (RFC 6008 2)"""
    def one(m):
        i = int(m.group(1)) - 1
        if i >= len(bvals):
            return "(?!)"
        return '"?' + re.escape(bvals[i][:8]) + '[A-Za-z0-9+/=]*"?'
    return SIG_SHORTHAND.sub(one, rx)


def milter_client(c):
    """the client address the milter sees: 127.0.0.1 without XCLIENT;
    Postfix unmaps ::ffff:a.b.c.d itself"""
    client = c.env["client"]
    if client == "none":
        return "127.0.0.1"
    m = re.fullmatch(r"(?i)::ffff:(\d{1,3}(?:\.\d{1,3}){3})", client)
    return m.group(1) if m else client


def wants_hold(c, use_milter):
    """whether c's accepted copies are meant to sit in Postfix's hold
    queue: quarantine = hold, or (--no-milter) the rig's HOLD_HEADER"""
    if use_milter:
        return c.expect.get("quarantine") == "hold"
    return HOLD_HEADER in c.message.split("\n\n", 1)[0].split("\n")
