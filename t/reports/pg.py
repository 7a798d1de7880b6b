#!/usr/bin/env python3
"""pg.py - DMARC aggregate reports in PostgreSQL, two writers (issue 14).

Started by t/reports-pg.sh (t/reports.sh pg) inside private network,
mount and pid namespaces (only lo). A throwaway PostgreSQL 15 cluster
(t/pgtmp.sh's pg_start, on a unix socket in the temporary directory), NSD
with the sender domains of common.py, and two authmilter daemons (two
milter sockets, two metrics endpoints) whose reports.store is the same
postgresql:// URI, as on two MX hosts. Both get the same mix of
messages at the same time (t/milterclient.py, THREADS connections each),
so the same rows are added to from both at once.

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

mail         every message gets its verdict and Authentication-Results
             (dmarc=pass, fail; reject, quarantine, accept as the policy
             says), each within MAX_S.
counters     each daemon counts a record per message
             (reports_records_total) and, once its queue is empty, every
             one written (reports_written_total), none dropped, no store
             error.
stop         SIGTERM: both exit 0.
dry-run      one authmilter-report --dry-run (either daemon's
             configuration) prints for each domain the messages sent
             through both daemons.
xml-counts   its reports count per (source_ip, disposition) exactly what
             both daemons were sent.
schema       xmllint --schema t/data/rfc9990/dmarc-2.0.xsd accepts each.
send         a real run (the second daemon's configuration) hands one
             message per rua= address to reports.sendmail (a script
             keeping them) as "-t -oi -f reports.email", each with the
             RFC 9990 Subject and the counts of both daemons attached.
send-again   a second real run (the first daemon's configuration) sends
             nothing: the marks are in the shared database.

Prints "reports-pg: N passed, N failed". Exit status 0 when all pass, 1
otherwise, 99 when the rig could not be set up. REPORTS_KEEP=1 keeps the
temporary directory.
"""

import os
import shutil
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C                      # noqa: E402
from common import Fail, rig            # noqa: E402

PER_THREAD = 150         # messages per connection thread
THREADS = 3              # per daemon
MAX_S = 2.0              # the slowest message allowed
# (client, domain): the good address of each domain with rua=, and two
# failing ones (one IPv6)
PLAN = []
for _d in sorted(C.DOMAINS):
    if C.rua_of(_d):
        _n = sorted(C.DOMAINS).index(_d) + 1
        PLAN += [(C.DOMAINS[_d][0], _d), ("198.51.100.%d" % (40 + _n), _d),
                 ("2001:db8::%x" % (0x40 + _n), _d)]


# reports.sendmail for the real runs: keeps each message and its arguments
FAKE_SENDMAIL = """#!/bin/sh
m=$(mktemp "%s/msg.XXXXXX") || exit 75
printf '%%s\\n' "$@" >"$m.args"
cat >"$m"
"""


class Run:
    def __init__(self):
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="am-reports-pg-")
        os.chmod(self.tmp, 0o755)       # PostgreSQL's user walks it
        self.procs = []
        self.pgdir = None
        self.daemons = []
        self.loads = []
        self.checks = C.Checks()
        self.day = C.utc_day()

    def setup(self):
        p = rig.free_ports(5)
        self.ports = dict(dns=p[0], m1=p[1], m2=p[2], x1=p[3], x2=p[4])
        C.start_dns(self.tmp, self.ports["dns"], self.procs)
        self.pgdir = os.path.join(self.tmp, "pg")
        t1 = time.monotonic()
        self.uri = C.pg_start(self.pgdir)
        C.log("reports-pg: PostgreSQL up in %.1f s at %s"
              % (time.monotonic() - t1, self.uri))
        # the reporter's real runs hand their messages to this
        self.outbox = os.path.join(self.tmp, "outbox")
        os.makedirs(self.outbox)
        self.sendmail = os.path.join(self.tmp, "fake-sendmail")
        rig.write(self.sendmail, FAKE_SENDMAIL % self.outbox, 0o755)
        for i in (1, 2):
            mp, xp = self.ports["m%d" % i], self.ports["x%d" % i]
            conf = C.daemon_conf("inet:%d@127.0.0.1" % mp, self.ports["dns"],
                                 self.uri, metrics_port=xp,
                                 extra='\tsendmail = "%s";\n' % self.sendmail)
            d = C.Daemon(self.tmp, "authmilter-%d" % i, conf, xp)
            d.start(self.procs, lambda mp=mp: rig.tcp_accepts(mp))
            d.spec = "inet:%d@127.0.0.1" % mp
            self.daemons.append(d)

    def want(self):
        """{domain: {(ip, disposition): n}} of what both loads sent"""
        out = {}
        for load in self.loads:
            for _, _, ip, dom, _ in load.done():
                k = (C.norm_ip(ip), C.expected(ip, dom)[3])
                out.setdefault(dom, {})
                out[dom][k] = out[dom].get(k, 0) + 1
        return out

    def mail(self):
        t1 = time.monotonic()
        # the two daemons start at opposite ends of the plan
        self.loads = [C.Load(d.spec, PLAN if i == 0 else PLAN[::-1],
                             THREADS, PER_THREAD)
                      for i, d in enumerate(self.daemons)]
        for load in self.loads:
            load.start()
        for load in self.loads:
            load.join()
        res = [r for load in self.loads for r in load.done()]
        C.log("     (%s in %.1f s)" % (C.latency(res),
                                       time.monotonic() - t1))
        if len(res) != 2 * THREADS * PER_THREAD:
            raise Fail("%d messages answered, want %d"
                       % (len(res), 2 * THREADS * PER_THREAD))
        C.judge_load(res, MAX_S)

    def counters(self):
        bad = []
        for d, load in zip(self.daemons, self.loads):
            n = len(load.done())
            s = d.wait_stats(lambda s: s.get("records", 0) >= n and
                             s.get("queue_length", 1) == 0 and
                             s.get("written", 0) + s.get("dropped", 0)
                             >= s.get("records", 0))
            C.need_stats(s)
            if s["records"] != n or s["written"] != n or s["dropped"] or \
                    s["store_errors"]:
                bad.append("%s: %s after %d messages, want records = "
                           "written = %d, dropped 0, store_errors 0"
                           % (d.name, s, n, n))
        if bad:
            raise Fail("; ".join(bad))

    def stop(self):
        bad = []
        for d in self.daemons:
            rc = d.stop()
            if rc != 0:
                bad.append("%s: exit %s" % (d.name, rc))
        if bad:
            raise Fail("; ".join(bad))

    def dry_run(self):
        self.drydir = os.path.join(self.tmp, "dry")
        r, lines = C.dry_total(self.daemons[0].conf, self.day, self.drydir)
        C.log("     (dry run %.1f s:\n%s)" % (r.seconds, "\n".join(
            "       " + ln for ln in (r.stdout + r.stderr).splitlines()[:12])))
        want = self.want()
        bad = []
        for dom, counts in sorted(want.items()):
            got = lines.get(dom)
            if got is None:
                bad.append("no line for %s" % dom)
            elif got[1] != sum(counts.values()) or got[0] != len(counts):
                bad.append("%s: %d rows, %d messages, want %d, %d"
                           % (dom, got[0], got[1], len(counts),
                              sum(counts.values())))
        for dom in sorted(set(lines) - set(want)):
            bad.append("a line for %s, which was not sent" % dom)
        if bad:
            raise Fail("; ".join(bad))

    def xml_counts(self):
        files = C.dry_files(self.drydir)
        want = self.want()
        if set(files) != set(want):
            raise Fail("reports for %s, want %s" % (sorted(files),
                                                    sorted(want)))
        bad = []
        for dom, (_, gz, _) in sorted(files.items()):
            xml = C.read_gz(gz)
            with open(gz[:-3], "wb") as f:
                f.write(xml)
            try:
                C.compare_counts(dom, C.parse_report(xml)["counts"],
                                 want[dom])
            except Fail as e:
                bad.append(str(e))
        self.files = files
        if bad:
            raise Fail("; ".join(bad))

    def schema(self):
        bad = []
        for dom, (_, gz, _) in sorted(self.files.items()):
            try:
                C.xmllint(gz[:-3])
            except Fail as e:
                bad.append(str(e))
        if bad:
            raise Fail("; ".join(bad))

    def outbox_messages(self):
        out = []
        for n in sorted(os.listdir(self.outbox)):
            if n.endswith(".args"):
                continue
            with open(os.path.join(self.outbox, n), "rb") as f:
                raw = f.read()
            with open(os.path.join(self.outbox, n + ".args")) as f:
                args = f.read().split("\n")[:-1]
            out.append((n, args, raw))
        return out

    def send(self):
        r = C.run_reporter(self.daemons[1].conf,
                           ["--from", self.day, "--to", C.utc_day()])
        C.reporter_ok(r)
        msgs = self.outbox_messages()
        want = self.want()
        bad = []
        got_to = []
        for n, args, raw in msgs:
            if args[:1] != ["-t"] or "-oi" not in args or \
                    args[args.index("-f") + 1 if "-f" in args else 0] \
                    != C.REPORT_EMAIL:
                bad.append("%s: sendmail %s, want -t -oi -f %s"
                           % (n, args, C.REPORT_EMAIL))
            msg, subject, atts = C.report_message_parts(raw)
            got_to.append(msg.get("To", "").strip().strip("<>").lower())
            m = C.SUBJECT.match(subject)
            gz = [a for a in atts if a[1] == "application/gzip"]
            if not m or len(gz) != 1:
                bad.append("%s: Subject %r, attachments %s"
                           % (n, subject, [a[:2] for a in atts]))
                continue
            dom = m.group(1).lower()
            try:
                C.compare_counts(dom, C.parse_report(
                    C.gzip.decompress(gz[0][2]))["counts"], want.get(dom, {}))
            except Fail as e:
                bad.append(str(e))
        if sorted(got_to) != sorted(C.rua_of(d) for d in want):
            bad.append("messages to %s, want %s" % (
                sorted(got_to), sorted(C.rua_of(d) for d in want)))
        if bad:
            raise Fail("; ".join(bad))

    def send_again(self):
        before = len(self.outbox_messages())
        r = C.run_reporter(self.daemons[0].conf,
                           ["--from", self.day, "--to", C.utc_day()])
        C.reporter_ok(r)
        n = len(self.outbox_messages()) - before
        if n:
            raise Fail("the second run (the other daemon's configuration) "
                       "sent %d more" % n)

    def main(self):
        broken = False
        ck = self.checks
        try:
            try:
                self.setup()
            except Fail as e:
                raise rig.RigError(str(e))
            C.log("reports-pg: rig up in %.1f s" % (time.monotonic()
                                                    - self.t0))
            ck.run("mail", self.mail)
            ck.run("counters", self.counters)
            ck.run("stop", self.stop)
            if ck.run("dry-run", self.dry_run) or \
                    os.path.isdir(getattr(self, "drydir", "")):
                if ck.run("xml-counts", self.xml_counts):
                    ck.run("schema", self.schema)
            if ck.run("send", self.send):
                ck.run("send-again", self.send_again)
        except Exception as e:
            C.log("reports-pg: rig failure: %s: %s" % (type(e).__name__, e))
            if not isinstance(e, (rig.RigError, Fail)):
                traceback.print_exc(file=sys.stdout)
            broken = True
        finally:
            self.teardown(broken)
        C.log("reports-pg: %.1f s" % (time.monotonic() - self.t0))
        C.log("reports-pg: %d passed, %d failed" % (ck.passed, ck.failed))
        if broken:
            return 99
        return 1 if ck.failed else 0

    def teardown(self, broken):
        for load in self.loads:
            load.stop()
        rig.stop_processes(self.procs)
        if self.pgdir and os.path.isdir(self.pgdir):
            try:
                C.pg_stop(self.pgdir)
            except Fail as e:
                C.log("reports-pg: %s" % e)
        if self.checks.failed or broken:
            for d in self.daemons:
                C.show(d.logpath)
        if os.environ.get("REPORTS_KEEP") == "1" or self.checks.failed \
                or broken:
            C.log("reports-pg: files kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(Run().main())
