"""judge.py - the e2e judge: did a played case come out as its [expect] says?

judge() checks one case's SMTP replies and its delivered or held copies
(Authentication-Results headers, other headers, body, hold queue) against
the case; judge_t() compares the daemon's verdict on each copy with what
`authmilter -t` says offline about the same bytes. Both return the
problems found, one line each (none: pass); run.py prints them. What the
judge reads comes from the rig (rig.py): the sink's messages, postqueue
and postcat, the daemons' log lines, the -t runs.

--NO-MILTER
  Checks the rig alone: every reply must be 250 and every message
  delivered, except messages with a header "X-E2E-Hold: yes", which
  Postfix's header_checks put on hold in both modes (the self-test of the
  quarantine check). Signatures of delivered messages are verified with
  dkimpy through NSD, and must agree with the dkim= results of the case's
  first ar line (as a multiset).

AUTHMILTER -t (the issue: "`authmilter -t` shows the same results")
  Every copy that reached the end of DATA is also written to
  TMP/t-input/NAME.N.eml, exactly as sent after signing (CRLF, before
  dot-stuffing), and given to
      authmilter -t FILE -c CONF --client-ip IP --helo HELO
                 --mail-from ADDR [--auth-user USER]
  with CONF the case's daemon configuration file and IP the address the
  milter saw (127.0.0.1 without XCLIENT; ::ffff:a.b.c.d unmapped, as
  Postfix does). Runs start as soon as their case is played,
  rig.T_WORKERS at once. Compared with what the daemon did (its log line
  in the group's stderr is found by client and HELO name, in order):
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
"""

import email
import email.policy
import os
import re

from casefile import AUTHSERV_ID, expand_sigs, milter_client, wants_hold
from rig import dkimpy, log, postcat


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
    if "arc_verify" in c.expect:
        got = dkimpy_arc_verify(raw, dnsport)
        if got[0] != c.expect["arc_verify"]:
            problems.append("dkimpy arc_verify: %s (%s), want %s"
                            % (got[0], got[1], c.expect["arc_verify"]))
    if "max_line" in c.expect:
        limit = int(c.expect["max_line"])
        for f in ars:
            for ln in f[2]:
                if len(ln.encode()) > limit:
                    problems.append("A-R line of %d octets > %d: %r"
                                    % (len(ln.encode()), limit, ln))
    return problems


def dns_txt(dnsport):
    """a TXT lookup through NSD for dkimpy's dnsfunc"""
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
    return txt


def dkimpy_results(raw, dnsport):
    """dkimpy's verdict ("pass"/"fail") on each DKIM-Signature of raw, top
    to bottom, fetching keys from NSD (the rig's own check of signing and
    key publication)"""
    txt = dns_txt(dnsport)
    n = len(re.findall(rb"(?mi)^DKIM-Signature:", raw.split(b"\r\n\r\n")[0]))
    out = []
    for i in range(n):
        try:
            ok = dkimpy.DKIM(raw).verify(idx=i, dnsfunc=txt)
        except Exception:
            ok = False
        out.append("pass" if ok else "fail")
    return out


def dkimpy_arc_verify(raw, dnsport):
    """dkimpy's arc_verify of a delivered copy: (cv, reason)"""
    if dkimpy is None:
        return ("dkimpy not importable", "")
    try:
        cv, _, why = dkimpy.arc_verify(raw, dnsfunc=dns_txt(dnsport))
    except Exception as e:
        return ("error", "%s: %s" % (type(e).__name__, e))
    return (cv.decode().lower() if isinstance(cv, bytes) else str(cv),
            why)


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


# ---- authmilter -t: the same verdict offline -----------------------------
#
# What is compared: AUTHMILTER -t at the top; rig.start_tcheck() starts
# the runs. The file is what the milter sees: Postfix does not pass its own
# Received header to the milter (strace on the daemon; see WHAT POSTFIX 3.7
# DOES HERE in rig.py). Not given to -t: the client's reverse name (the
# session keeps it, no result uses it).

LOG_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


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
        if re.match(r"ARC-(?:Seal|Message-Signature|Authentication-Results):",
                    ln):
            # our ARC set (arc.seal), printed above the header; its t= and
            # b= are -t's own, not the daemon's
            while i < len(lines) and lines[i][:1] in (" ", "\t"):
                ln += lines[i]
                i += 1
            res.setdefault("arc", []).append(ln)
            continue
        if ln.startswith("# not sealed: "):
            res["seal_note"] = ln[len("# not sealed: "):]
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
                    rec["line"] = ln.rstrip("\n")
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
        for rx in c.expect.get("log", []):
            if rec is not None and not re.search(rx, rec["line"]):
                problems.append(tag + "the daemon's log line does not match "
                                "%r: %s" % (rx, rec["line"]))
        daemon = daemon_outcome(c, i, token, sink, queue, confdir)
        problems += [tag + p for p in
                     compare_copy(c, token, t, daemon, rec, c.sent[token])]
        if os.environ.get("E2E_VERBOSE"):
            log("     %s: %s-t %.0f ms: %s" % (c.name, tag, run.ms,
                                              " ".join(run.argv[1:])))
    return checked or bool(problems), problems
