#!/usr/bin/env python3
"""sqlite.py - DMARC aggregate reports end to end with the SQLite store
(issue 14): Postfix, authmilter with reports = { }, authmilter-report.

Started by t/reports.sh inside private network, mount and pid namespaces
(only lo). NSD serves seven sender domains with SPF records and one DKIM
key: the five of DOMAINS in common.py (p=reject, p=quarantine, p=none,
p=reject t=y, and one policy without rua=) and two whose rua= is in
another domain, one authorized by it and one not. A private Postfix has two smtpd services: the
MX (smtpd_milters = the daemon) and a relay without a milter, which
reports.relay names; both deliver to the rig's sink. MESSAGES below are
sent through the MX, each from its own client address (XCLIENT ADDR=,
IPv4 and IPv6), then the daemon is stopped with SIGTERM at once (its
writer must flush what is queued), and authmilter-report runs for the
UTC day.

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

mail            every message gets its SMTP answer (550 for a p=reject
                failure, 250 otherwise), the quarantined ones sit in
                Postfix's hold queue, the others reach the sink with our
                Authentication-Results (dmarc=pass or fail as sent).
counters        the metrics endpoint counts one record per message
                (reports_records_total).
stop            SIGTERM right after the last message (the writer flushes
                its queue): exit 0, and the exit line counts every record
                written (reports_written_total), none dropped.
dry-run         authmilter-report --dry-run --dir D exits 0 and prints per
                domain with rua= "DOMAIN: N rows, M messages, X bytes gz
                -> dmarc@DOMAIN", M what was sent (rejected ones too);
                nothing for the domain without rua=, nor for the one
                whose rua= host did not authorize it (RFC 9990 3.5.1); the
                one that did gets its report at agg@collector.example.net.
dry-files       one .xml.gz and one .eml per such domain, named
                rx.test!DOMAIN!BEGIN!END!ID.xml.gz with BEGIN..END today's
                UTC day.
xml-counts      each report's <record> counts per (source_ip,
                disposition) are what was sent; the rows and messages of
                the printed line agree.
xml-meta        org_name, email, date_range (= the file name's), report_id
                (= the file name's), policy_published (domain, p, testing
                y for t=y), reason policy_test_mode on the t=y rows.
schema          xmllint --schema t/data/rfc9990/dmarc-2.0.xsd accepts
                each report.
dry-eml         each .eml has the RFC 9990 Subject and the .xml.gz as an
                application/gzip attachment of that name.
relay-down      a real run with reports.relay on a closed port exits
                non-zero and sends nothing (and marks nothing sent: the
                next check's run sends every report).
send            a real run (reports.relay = the Postfix relay) exits 0;
                one message per rua= address reaches the sink, envelope
                from reports.email, Subject "Report Domain: D Submitter:
                rx.test Report-ID: ID", an application/gzip attachment
                whose XML has the dry run's counts and that ID.
send-again      a second real run for the same day sends nothing.
integrity       python3 sqlite3: PRAGMA integrity_check of the store says
                ok.

Prints "reports: N passed, N failed". Exit status 0 when all pass, 1
otherwise, 99 when the rig could not be set up. Environment: top_srcdir,
top_builddir; REPORTS_KEEP=1 keeps the temporary directory.
"""

import os
import re
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C                      # noqa: E402
from common import Fail, rig            # noqa: E402

# (client address, From/MAIL FROM domain, DKIM-signed, how many): each
# message its own SMTP session
MESSAGES = [
    ("192.0.2.10", "rpass.example.org", True, 3),       # SPF+DKIM pass
    ("198.51.100.20", "rpass.example.org", True, 2),    # DKIM pass only
    ("198.51.100.21", "rpass.example.org", False, 2),   # reject
    ("2001:db8::21", "rpass.example.org", False, 1),    # reject, IPv6
    ("192.0.2.11", "rquar.example.com", False, 2),      # pass
    ("203.0.113.5", "rquar.example.com", False, 2),     # quarantine
    ("192.0.2.12", "rnone.example.net", False, 1),      # pass
    ("203.0.113.6", "rnone.example.net", False, 3),     # none
    ("2001:db8::6", "rnone.example.net", False, 1),     # none, IPv6
    ("203.0.113.7", "rtest.example.org", False, 2),     # t=y: quarantine
    ("203.0.113.8", "norua.example.com", False, 1),     # none, no rua=
]


# two more domains whose rua= is in another domain (RFC 9990 3.5.1: the
# destination must say it takes reports for the policy domain with a
# DMARC1 record at <policy domain>._report._dmarc.<its host>): extok's is
# published, extno's is not, so extno gets no report
COLLECTOR = "agg@collector.example.net"
C.DOMAINS.update({
    "extok.example.org": ("192.0.2.15",
                          "v=DMARC1; p=none; rua=mailto:%s" % COLLECTOR),
    "extno.example.com": ("192.0.2.16",
                          "v=DMARC1; p=none; rua=mailto:%s" % COLLECTOR),
})
AUTHORIZE = [("extok.example.org._report._dmarc.collector.example.net.",
              'TXT "v=DMARC1"')]
MESSAGES += [
    ("203.0.113.9", "extok.example.org", False, 2),     # none, reported
    ("203.0.113.10", "extno.example.com", False, 1),    # none, unauthorized
]


def reported(dom):
    """the address dom's report goes to, or None"""
    rua = C.rua_of(dom)
    if rua is None or dom == "extno.example.com":
        return None
    return rua


class Pf:
    """what rig.start_postfix wants of a group"""

    def __init__(self, index, smtp_port, milter_port=None):
        self.index = index
        self.smtp_port = smtp_port
        self.milter_port = milter_port
        self.unix_path = None


def want_counts():
    """{domain: {(ip, disposition): n}} of MESSAGES"""
    out = {}
    for ip, dom, signed, n in MESSAGES:
        disp = "pass" if signed else C.expected(ip, dom)[3]
        k = (C.norm_ip(ip), disp)
        out.setdefault(dom, {})
        out[dom][k] = out[dom].get(k, 0) + n
    return out


def message(ip, dom, signed, token, keys):
    data = ("From: Sender <user@{d}>\r\n"
            "To: <{r}>\r\n"
            "Subject: report e2e {t}\r\n"
            "Date: {date}\r\n"
            "Message-ID: <{t}@{d}>\r\n"
            "X-E2E-Id: {t}\r\n"
            "\r\n"
            "Hello from {ip}.\r\n").format(d=dom, r=C.RCPT, t=token, ip=ip,
                                          date=C.email.utils.formatdate(
                                              usegmt=True)).encode()
    if signed:
        _, priv, _ = keys.keys[C.KEY]
        sig = rig.dkimpy.sign(data, C.SELECTOR.encode(), dom.encode(), priv,
                              canonicalize=(b"relaxed", b"relaxed"),
                              include_headers=[b"from", b"to", b"subject",
                                               b"date", b"message-id"],
                              linesep=b"\r\n")
        data = sig + data
    return data


class Run:
    def __init__(self):
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="am-reports-")
        os.chmod(self.tmp, 0o755)       # Postfix's daemons walk it
        self.procs = []
        self.confdir = None
        self.sink = None
        self.daemon = None
        self.checks = C.Checks()
        self.sent = []                  # (ip, dom, want verdict, stage, code, text, token)
        self.dry = {}                   # domain -> parse_report() of the dry run
        self.day = C.utc_day()

    # -- the rig
    def setup(self):
        tmp = self.tmp
        p = rig.free_ports(6)
        self.ports = dict(dns=p[0], sink=p[1], relay=p[2], mx=p[3],
                          milter=p[4], metrics=p[5])
        if rig.dkimpy is None:
            raise rig.RigError("python3 module dkim (python3-dkim) is "
                               "missing: contrib/deps.sh installs it")
        self.keys = rig.Keys(os.path.join(tmp, "keys"), {C.KEY})
        C.start_dns(tmp, self.ports["dns"], self.procs, self.keys,
                    AUTHORIZE)
        os.makedirs(os.path.join(tmp, "sink"))
        self.sink = rig.Sink(self.ports["sink"], os.path.join(tmp, "sink"))
        self.db = os.path.join(tmp, "reports.db")
        conf = C.daemon_conf("inet:%d@127.0.0.1" % self.ports["milter"],
                             self.ports["dns"], "sqlite:" + self.db,
                             metrics_port=self.ports["metrics"],
                             relay="127.0.0.1:%d" % self.ports["relay"])
        self.daemon = C.Daemon(tmp, "authmilter", conf, self.ports["metrics"])
        try:
            self.daemon.start(self.procs, lambda: rig.tcp_accepts(
                self.ports["milter"]))
        except Fail as e:
            raise rig.RigError(str(e))
        self.confdir = rig.start_postfix(
            tmp, self.ports, False,
            [Pf(0, self.ports["relay"]),
             Pf(1, self.ports["mx"], self.ports["milter"])])

    # -- the checks
    def send_all(self):
        n = 0
        for ip, dom, signed, count in MESSAGES:
            for _ in range(count):
                n += 1
                token = "%04d%s" % (n, os.urandom(4).hex())
                data = message(ip, dom, signed, token, self.keys)
                verdict = "a" if signed else C.expected(ip, dom)[0]
                stage, code, text = C.smtp_send(
                    self.ports["mx"], ip, "mail.%s" % dom,
                    "user@%s" % dom, C.RCPT, data)
                if isinstance(text, bytes):
                    text = text.decode("utf-8", "replace")
                self.sent.append((ip, dom, signed, verdict, stage, code,
                                  text, token))

    def check_mail(self):
        bad = []
        accepted = []
        held_want = 0
        for ip, dom, signed, verdict, stage, code, text, token in self.sent:
            want = 550 if verdict == "r" else 250
            if stage != "end of DATA" or code != want:
                bad.append("%s from %s: %s %s %s, want %d at end of DATA"
                           % (dom, ip, stage, code, " ".join(text.split()),
                              want))
                continue
            if want == 250:
                held = (not signed) and C.expected(ip, dom)[1]
                if held:
                    held_want += 1
                else:
                    accepted.append((ip, dom, signed, token))
        missing = self.sink.wait([t for _, _, _, t in accepted],
                                 timeout=C.TIMEOUT)
        for t in missing:
            bad.append("message %s not delivered to the sink" % t)
        for ip, dom, signed, token in accepted:
            if token in missing:
                continue
            raw = self.sink.messages[token][0][1]
            first = raw.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            dmarc = "pass" if signed else C.expected(ip, dom)[2]
            if not first.startswith("Authentication-Results: %s;"
                                    % C.AUTHSERV_ID) or \
                    not re.search(r"dmarc=%s\b" % dmarc,
                                  rig.unfold(raw.split(b"\r\n\r\n")[0])
                                  .decode("utf-8", "replace")):
                bad.append("%s from %s: first header %r, want ours with "
                           "dmarc=%s" % (dom, ip, first[:200], dmarc))
        queue = rig.postqueue(self.confdir)
        held = sum(1 for q in queue.values() if q == "hold")
        if held != held_want:
            bad.append("%d messages in Postfix's hold queue, want %d"
                       % (held, held_want))
        if bad:
            raise Fail("; ".join(bad))

    def check_counters(self):
        s = self.daemon.wait_stats(
            lambda s: s.get("records", 0) >= len(self.sent), timeout=5)
        C.need_stats(s)
        if s["records"] != len(self.sent):
            raise Fail("reports_records_total %d, want %d (one per "
                       "message); %s" % (s["records"], len(self.sent), s))

    def check_stop(self):
        t1 = time.monotonic()
        rc = self.daemon.stop()
        if rc != 0:
            raise Fail("SIGTERM: exit %s\n%s" % (rc, rig.tail(
                self.daemon.logpath, 15)))
        ex = {k: v for k, v in self.daemon.exit_stats().items()
              if "report" in k}
        C.log("     (stopped in %.1f s; exit line: %s)"
              % (time.monotonic() - t1, ex))
        n = len(self.sent)
        if ex.get("reports_written_total") != n or \
                ex.get("reports_dropped_total") != 0:
            raise Fail("the exit line says %s, want %d written, 0 dropped"
                       % (ex, n))

    def dry_run(self):
        self.drydir = os.path.join(self.tmp, "dry")
        os.makedirs(self.drydir)
        r = C.run_reporter(self.daemon.conf, [
            "--dry-run", "--dir", self.drydir, "--from", self.day,
            "--to", C.utc_day()])
        self.dry_out = r.stdout
        C.log("     (dry run %.1f s:\n%s)" % (r.seconds, "\n".join(
            "       " + ln for ln in (r.stdout + r.stderr).splitlines()[:20])))
        C.reporter_ok(r)
        lines = C.parse_dry(r.stdout)
        want = want_counts()
        bad = []
        for dom, counts in sorted(want.items()):
            rua = reported(dom)
            got = lines.get(dom)
            if rua is None:
                if got and got[3]:
                    bad.append("%s has no rua= we may send to, the dry run "
                               "sends to %s" % (dom, got[3]))
                continue
            if got is None:
                bad.append("no line for %s" % dom)
                continue
            rows, msgs, nbytes, addrs = got
            if msgs != sum(counts.values()):
                bad.append("%s: %d messages, want %d" % (
                    dom, msgs, sum(counts.values())))
            if rows != len(counts):
                bad.append("%s: %d rows, want %d" % (dom, rows, len(counts)))
            if [a.lower() for a in addrs] != [rua]:
                bad.append("%s: to %s, want %s" % (dom, addrs, rua))
            if nbytes <= 0:
                bad.append("%s: %d bytes gz" % (dom, nbytes))
        if bad:
            raise Fail("; ".join(bad))

    def dry_files(self):
        self.files = C.dry_files(self.drydir)
        want = {d for d in want_counts() if reported(d)}
        if set(self.files) != want:
            raise Fail("reports for %s, want %s" % (sorted(self.files),
                                                    sorted(want)))
        begin = C.day_begin(self.day)
        end = C.day_begin(C.utc_day()) + 86399
        bad = []
        for dom, (fields, gz, eml) in sorted(self.files.items()):
            receiver, _, b, e, rid = fields
            if receiver != C.SUBMITTER:
                bad.append("%s: receiver %s, want %s" % (dom, receiver,
                                                         C.SUBMITTER))
            if int(b) != begin or int(e) != end:
                bad.append("%s: period %s..%s, want %d..%d (the UTC day)"
                           % (dom, b, e, begin, end))
            if eml is None:
                bad.append("%s: no .eml next to %s" % (dom,
                                                      os.path.basename(gz)))
            xml = C.read_gz(gz)
            with open(gz[:-3], "wb") as f:      # for xmllint
                f.write(xml)
            self.dry[dom] = C.parse_report(xml)
        if bad:
            raise Fail("; ".join(bad))

    def xml_counts(self):
        want = want_counts()
        lines = C.parse_dry(self.dry_out)
        bad = []
        for dom, rep in sorted(self.dry.items()):
            try:
                C.compare_counts(dom, rep["counts"], want[dom])
            except Fail as e:
                bad.append(str(e))
            if dom in lines and (lines[dom][0] != rep["rows"] or
                                 lines[dom][1] != sum(rep["counts"].values())):
                bad.append("%s: printed %d rows, %d messages; the XML has "
                           "%d, %d" % (dom, lines[dom][0], lines[dom][1],
                                       rep["rows"],
                                       sum(rep["counts"].values())))
        if bad:
            raise Fail("; ".join(bad))

    def xml_meta(self):
        bad = []
        for dom, rep in sorted(self.dry.items()):
            fields = self.files[dom][0]
            rec = C.DOMAINS[dom][1]
            wantp = re.search(r"p=(\w+)", rec).group(1)
            checks = [("org_name", rep["org_name"], C.ORG_NAME),
                      ("email", rep["email"], C.REPORT_EMAIL),
                      ("report_id", rep["report_id"], fields[4]),
                      ("date_range begin", rep["begin"], fields[2]),
                      ("date_range end", rep["end"], fields[3]),
                      ("policy_published domain", rep["domain"], dom),
                      ("policy_published p", rep["p"], wantp)]
            if "t=y" in rec:
                checks.append(("policy_published testing", rep["testing"],
                               "y"))
            elif rep["testing"] not in (None, "n"):
                bad.append("%s: testing %s, want n or absent"
                           % (dom, rep["testing"]))
            for what, got, want in checks:
                if got != want:
                    bad.append("%s: %s %r, want %r" % (dom, what, got, want))
            if "t=y" in rec:
                for k in rep["counts"]:
                    if k[1] != "pass" and "policy_test_mode" not in \
                            rep["reasons"].get(k, set()):
                        bad.append("%s: row %s %s has reasons %s, want "
                                   "policy_test_mode" % (
                                       dom, k[0], k[1],
                                       sorted(rep["reasons"].get(k, []))))
        if bad:
            raise Fail("; ".join(bad))

    def schema(self):
        if not os.path.exists(C.SCHEMA):
            raise Fail("no schema %s" % C.SCHEMA)
        bad = []
        for dom, (_, gz, _) in sorted(self.files.items()):
            try:
                C.xmllint(gz[:-3])
            except Fail as e:
                bad.append(str(e))
        if bad:
            raise Fail("; ".join(bad))

    def dry_eml(self):
        bad = []
        for dom, (fields, gz, eml) in sorted(self.files.items()):
            if eml is None:
                bad.append("%s: no .eml" % dom)
                continue
            with open(eml, "rb") as f:
                raw = f.read()
            with open(gz, "rb") as f:
                gzbytes = f.read()
            msg, subject, atts = C.report_message_parts(raw)
            bad += self.check_report_message(dom, subject, atts,
                                             os.path.basename(gz), gzbytes)
        if bad:
            raise Fail("; ".join(bad))

    @staticmethod
    def check_report_message(dom, subject, atts, fname=None, gzbytes=None):
        bad = []
        m = C.SUBJECT.match(subject)
        if not m or m.group(1).lower() != dom or m.group(2) != C.SUBMITTER:
            bad.append("%s: Subject %r, want \"Report Domain: %s Submitter: "
                       "%s Report-ID: ...\"" % (dom, subject, dom,
                                                C.SUBMITTER))
        gz = [a for a in atts if a[1] == "application/gzip"]
        if len(gz) != 1:
            bad.append("%s: attachments %s, want one application/gzip"
                       % (dom, [(a[0], a[1]) for a in atts]))
            return bad
        if fname is not None and gz[0][0] != fname:
            bad.append("%s: attachment named %r, want %r" % (dom, gz[0][0],
                                                            fname))
        if gzbytes is not None and gz[0][2] != gzbytes:
            bad.append("%s: the attachment is not the .xml.gz file" % dom)
        return bad

    def relay_down(self):
        """a real run with reports.relay on a port nobody listens on"""
        before = len(self.sink.messages.get(None, []))
        port = rig.free_ports(1)[0]
        with open(self.daemon.conf) as f:
            text = f.read()
        conf = os.path.join(self.tmp, "relay-down.conf")
        rig.write(conf, text.replace('relay = "127.0.0.1:%d"'
                                     % self.ports["relay"],
                                     'relay = "127.0.0.1:%d"' % port))
        r = C.run_reporter(conf, ["--from", self.day, "--to", C.utc_day()])
        C.log("     (relay down: exit %d in %.1f s:\n%s)" % (
            r.returncode, r.seconds, "\n".join(
                "       " + ln for ln in
                (r.stdout + r.stderr).splitlines()[:8])))
        why = []
        if r.returncode == 0:
            why.append("exit 0 with the relay down")
        if len(self.sink.messages.get(None, [])) != before:
            why.append("something reached the sink")
        if why:
            raise Fail("; ".join(why))

    def send(self, again=False):
        before = len(self.sink.messages.get(None, []))
        r = C.run_reporter(self.daemon.conf, ["--from", self.day,
                                              "--to", C.utc_day()])
        C.log("     (%s run %.1f s:\n%s)" % (
            "second" if again else "real", r.seconds, "\n".join(
                "       " + ln for ln in
                (r.stdout + r.stderr).splitlines()[:20])))
        C.reporter_ok(r)
        want = sorted(reported(d) for d in self.dry)
        if again:
            # whatever Postfix got is delivered within a second or two
            time.sleep(1.0)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                q = rig.postqueue(self.confdir)
                if all(v == "hold" for v in q.values()):
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            got = self.sink.messages.get(None, [])[before:]
            if got:
                raise Fail("the second run sent %d more report messages: "
                           "%s" % (len(got), [e for e, _, _ in got]))
            return
        deadline = time.monotonic() + C.TIMEOUT
        while time.monotonic() < deadline and \
                len(self.sink.messages.get(None, [])) - before < len(want):
            time.sleep(0.2)
        got = self.sink.messages.get(None, [])[before:]
        bad = []
        rcpts = sorted(rc.strip("<>").lower() for (mail, rcs), _, _ in got
                       for rc in rcs)
        if rcpts != want:
            bad.append("report messages to %s, want %s" % (rcpts, want))
        wantc = want_counts()
        for (mail, rcs), raw, path in got:
            if C.REPORT_EMAIL not in mail:
                bad.append("%s: envelope from %r, want %s"
                           % (path, mail, C.REPORT_EMAIL))
            msg, subject, atts = C.report_message_parts(raw)
            m = C.SUBJECT.match(subject)
            dom = m.group(1).lower() if m else "?"
            bad += self.check_report_message(dom, subject, atts)
            gz = [a for a in atts if a[1] == "application/gzip"]
            if not m or not gz:
                continue
            try:
                rep = C.parse_report(C.gzip.decompress(gz[0][2]))
            except (OSError, EOFError, C.ET.ParseError) as e:
                bad.append("%s: attachment: %s" % (dom, e))
                continue
            if rep["report_id"] != m.group(3):
                bad.append("%s: Subject Report-ID %s, the XML's %s"
                           % (dom, m.group(3), rep["report_id"]))
            if dom in wantc:
                try:
                    C.compare_counts(dom, rep["counts"], wantc[dom])
                except Fail as e:
                    bad.append(str(e))
            if dom in self.dry and rep["counts"] != self.dry[dom]["counts"]:
                bad.append("%s: counts differ from the dry run's" % dom)
        if bad:
            raise Fail("; ".join(bad))

    def integrity(self):
        rows, tables = C.sqlite_integrity(self.db)
        if rows != ["ok"]:
            raise Fail("PRAGMA integrity_check: %s" % rows[:10])
        C.log("     (tables: %s)" % tables)

    def main(self):
        broken = False
        ck = self.checks
        try:
            self.setup()
            C.log("reports: rig up in %.1f s" % (time.monotonic() - self.t0))
            self.send_all()
            ck.run("mail", self.check_mail)
            ck.run("counters", self.check_counters)
            ck.run("stop", self.check_stop)
            if ck.run("dry-run", self.dry_run) or \
                    os.path.isdir(getattr(self, "drydir", "")):
                if ck.run("dry-files", self.dry_files):
                    ck.run("xml-counts", self.xml_counts)
                    ck.run("xml-meta", self.xml_meta)
                    ck.run("schema", self.schema)
                    ck.run("dry-eml", self.dry_eml)
            ck.run("relay-down", self.relay_down)
            if ck.run("send", self.send):
                ck.run("send-again", self.send, True)
            ck.run("integrity", self.integrity)
        except Exception as e:
            C.log("reports: rig failure: %s: %s" % (type(e).__name__, e))
            if not isinstance(e, (rig.RigError, Fail)):
                traceback.print_exc(file=sys.stdout)
            broken = True
        finally:
            self.teardown(broken)
        C.log("reports: %.1f s" % (time.monotonic() - self.t0))
        C.log("reports: %d passed, %d failed" % (ck.passed, ck.failed))
        if broken:
            return 99
        return 1 if ck.failed else 0

    def teardown(self, broken):
        if self.confdir:
            rig.stop_postfix(self.confdir)
        rig.stop_processes(self.procs)
        if self.sink:
            self.sink.close()
        if self.checks.failed or broken:
            for n in ["authmilter.stderr", "maillog", "nsd/nsd.log"]:
                C.show(os.path.join(self.tmp, n))
        if os.environ.get("REPORTS_KEEP") == "1" or self.checks.failed \
                or broken:
            C.log("reports: files kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(Run().main())
