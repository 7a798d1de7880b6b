"""common.py - what the DMARC aggregate report suites share (issue 14).

t/reports/sqlite.py (t/reports.sh), pg.py (t/reports-pg.sh) and faults.py
(t/reports-faults.sh) run inside private network, mount and pid
namespaces (only lo). They use the e2e rig (t/e2e/rig.py) for ports, NSD,
DKIM keys, Postfix and the sink, and t/milterclient.py to speak the
milter protocol directly. Here: the zones and the messages of the suites,
an authmilter daemon with a reports = { } group, its metrics, the program
authmilter-report (dry run and real run), the reports it writes (XML,
gzip, message, file name) and the throwaway PostgreSQL of t/pgtmp.sh.
"""

import calendar
import email
import email.policy
import email.utils
import gzip
import ipaddress
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import traceback
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("top_builddir", SRCDIR)
sys.dont_write_bytecode = True          # no __pycache__ left in t/
sys.path.insert(0, os.path.join(SRCDIR, "t"))
sys.path.insert(0, os.path.join(SRCDIR, "t", "e2e"))
import rig                              # noqa: E402  the e2e rig
from milterclient import MilterClient   # noqa: E402

TIMEOUT = 20.0                          # every wait is bounded by this
AUTHSERV_ID = "mx.reports.test"
REPORT_EMAIL = "dmarc-reports@rx.test"
SUBMITTER = "rx.test"                   # the domain of REPORT_EMAIL
ORG_NAME = "Test Receiver"
SCHEMA = os.path.join(SRCDIR, "t", "data", "rfc9990", "dmarc-2.0.xsd")
XMLNS = "urn:ietf:params:xml:ns:dmarc-2.0"
AUTHMILTER = os.path.join(BUILDDIR, "authmilter")
REPORTER = os.path.join(BUILDDIR, "authmilter-report")
PGTMP = os.path.join(SRCDIR, "t", "pgtmp.sh")
RCPT = "rcpt@sink.example.net"


class Fail(Exception):
    pass


def log(*a):
    rig.log(*a)


class Checks:
    """one "ok NAME" or "FAIL NAME: why" line per check, and the tally"""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        t1 = time.monotonic()
        try:
            fn(*args)
        except Fail as e:
            self.failed += 1
            log("FAIL %s: %s" % (name, e))
            return False
        except Exception as e:      # a bug of the test or a tool's: a FAIL
            self.failed += 1
            log("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
            return False
        self.passed += 1
        log("ok   %s (%.1f s)" % (name, time.monotonic() - t1))
        return True

    def fail(self, name, why):
        self.failed += 1
        log("FAIL %s: %s" % (name, why))


# ---- the sender domains ----------------------------------------------------

# name -> (SPF client that passes, DMARC record); every rua= is a mailto:
# in the policy domain itself (no external verification needed, RFC 9990
# 3.5.3)
DOMAINS = {
    "rpass.example.org": ("192.0.2.10",
                          "v=DMARC1; p=reject; rua=mailto:dmarc@rpass.example.org"),
    "rquar.example.com": ("192.0.2.11",
                          "v=DMARC1; p=quarantine; rua=mailto:dmarc@rquar.example.com"),
    "rnone.example.net": ("192.0.2.12",
                          "v=DMARC1; p=none; rua=mailto:dmarc@rnone.example.net"),
    "rtest.example.org": ("192.0.2.13",
                          "v=DMARC1; p=reject; t=y; rua=mailto:dmarc@rtest.example.org"),
    # a policy and no rua=: evaluated, stored, never reported
    "norua.example.com": ("192.0.2.14", "v=DMARC1; p=none"),
}
KEY = "rsa2048"                         # the one DKIM key (rig.Keys name)
SELECTOR = "sel"
SIGNERS = ["rpass.example.org"]         # publish a key at sel._domainkey


class Zone:
    """what rig.start_nsd wants of a case: .dns, (owner, rest) pairs"""

    def __init__(self, records):
        self.dns = records


def zone_records():
    out = []
    for d, (ip, dmarc) in sorted(DOMAINS.items()):
        out.append(("%s." % d, 'TXT "v=spf1 ip4:%s -all"' % ip))
        out.append(("_dmarc.%s." % d, 'TXT "%s"' % dmarc))
    return out


def start_dns(tmp, port, procs, keys=None, more=()):
    extra = list(more)
    if keys is not None:
        for d in SIGNERS:
            extra.append(("%s._domainkey.%s." % (SELECTOR, d),
                          keys.record(KEY)))
    rig.start_nsd(tmp, port, [Zone(zone_records())], extra, procs)


def rua_of(domain):
    m = re.search(r"rua=mailto:([^;, ]+)", DOMAINS[domain][1])
    return m.group(1) if m else None


# ---- time: the UTC day the records carry -----------------------------------

def utc_day(t=None):
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if t is None
                                                 else t))


def day_begin(day):
    return calendar.timegm(time.strptime(day, "%Y-%m-%d"))


# ---- authmilter with reports -----------------------------------------------

def daemon_conf(socket_spec, dns_port, store, metrics_port=None, relay=None,
                extra=""):
    """the configuration of one daemon: DMARC enforcing, quarantine to the
    MTA's hold, DKIM on, SPF for MAIL FROM only, no iprev or ARC; reports
    to store"""
    text = """\
socket = "%s";
socket_mode = "0666";
authserv_id = "%s";
log_level = "info";
dns = { nameservers = [ "127.0.0.1@%d" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.0/8", "::1/128" ];
spf = { helo = false; };
dkim = { enable = true; };
dmarc = { enable = true; };
arc = { enable = false; };
iprev = { enable = false; };
policy = { mode = "enforce"; quarantine = "hold"; on_temperror = "accept";
	dns_budget_ms = 5000; };
""" % (socket_spec, AUTHSERV_ID, dns_port)
    if metrics_port:
        text += 'metrics = { listen = "127.0.0.1:%d"; };\n' % metrics_port
    if store is not None:
        text += ('reports = {\n\tenable = true;\n\tstore = "%s";\n'
                 '\temail = "%s";\n\torg_name = "%s";\n'
                 % (store, REPORT_EMAIL, ORG_NAME))
        if relay:
            text += '\trelay = "%s";\n' % relay
        text += extra + "};\n"
    return text


class Daemon:
    """one authmilter -f with its configuration file and log in tmp"""

    def __init__(self, tmp, name, conf_text, metrics_port=None):
        self.tmp = tmp
        self.name = name
        self.conf = os.path.join(tmp, name + ".conf")
        self.logpath = os.path.join(tmp, name + ".stderr")
        self.metrics_port = metrics_port
        self.proc = None
        self.rc = None
        rig.write(self.conf, conf_text)

    def check_conf(self):
        r = subprocess.run([AUTHMILTER, "-n", "-c", self.conf],
                           capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            raise Fail("authmilter -n -c %s: exit %d: %s%s"
                       % (self.conf, r.returncode, r.stdout, r.stderr))

    def start(self, procs, ready):
        """start it; ready() says when it accepts connections"""
        if not os.access(AUTHMILTER, os.X_OK):
            raise Fail("%s is not built" % AUTHMILTER)
        self.check_conf()
        err = open(self.logpath, "ab")
        self.proc = subprocess.Popen([AUTHMILTER, "-f", "-c", self.conf],
                                     stdout=err, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        err.close()
        procs.append((self.name, self.proc))
        try:
            rig.wait_for(self.name, ready, self.proc, timeout=TIMEOUT)
            if self.metrics_port:
                rig.wait_for(self.name + " metrics",
                             lambda: "# TYPE" in self.scrape(), self.proc,
                             timeout=TIMEOUT)
        except rig.RigError as e:
            raise Fail("%s did not start: %s\n%s"
                       % (self.name, e, rig.tail(self.logpath, 15)))
        return self

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                    % self.metrics_port,
                                    timeout=5) as r:
            return r.read().decode("utf-8")

    def stats(self):
        """the reports_* counters of the metrics endpoint"""
        return report_stats(self.scrape())

    def wait_stats(self, pred, timeout=TIMEOUT):
        """poll the endpoint until pred(stats) holds; the last stats (pred
        may not hold when the time ran out)"""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if any(k not in s for k in REPORT_COUNTERS):
                return s                # need_stats() says what is missing
            if pred(s) or time.monotonic() > deadline:
                return s
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """signal it and wait; its exit status (-N for a signal)"""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            where = self.threads()
            self.proc.kill()
            self.rc = self.proc.wait()
            raise Fail("%s did not exit within %d s of signal %d (killed; "
                       "its threads then: %s)"
                       % (self.name, timeout, sig, where))
        return self.rc

    def threads(self):
        """each thread's name and the kernel function it waits in"""
        out = []
        tdir = "/proc/%d/task" % self.proc.pid
        try:
            for tid in sorted(os.listdir(tdir), key=int):
                vals = []
                for f in ("comm", "wchan"):
                    try:
                        with open(os.path.join(tdir, tid, f)) as fh:
                            vals.append(fh.read().strip())
                    except OSError:
                        vals.append("?")
                out.append("%s %s/%s" % (tid, vals[0], vals[1]))
        except OSError as e:
            return str(e)
        return ", ".join(out)

    def log_text(self):
        try:
            with open(self.logpath, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def exit_stats(self):
        """name=N pairs of the exit line ("event=exit status=ok ...")"""
        m = None
        for m in re.finditer(r"(?m)event=exit status=\S+.*$",
                             self.log_text()):
            pass
        if m is None:
            return {}
        return {k: int(v) for k, v in re.findall(r" ([a-z_]+)=(\d+)",
                                                 m.group(0))}


REPORT_COUNTERS = ["records", "written", "dropped", "store_errors",
                   "queue_length"]


def report_stats(text):
    """{records, written, dropped, store_errors, queue_length} from a
    scrape (authmilter_reports_*); a family that is missing is absent"""
    out = {}
    for k in REPORT_COUNTERS:
        name = "reports_%s%s" % (k, "" if k == "queue_length" else "_total")
        m = re.search(r"(?m)^(?:authmilter_)?%s(?:\{[^}]*\})? (\S+)$"
                      % name, text)
        if m:
            out[k] = int(float(m.group(1)))
    return out


def need_stats(s):
    missing = [k for k in REPORT_COUNTERS if k not in s]
    if missing:
        raise Fail("the metrics endpoint lacks reports_%s"
                   % ", reports_".join(missing))


# ---- messages straight over the milter protocol ----------------------------

def milter_send(spec, ip, domain, tag="", sign_keys=None, timeout=10.0):
    """one message from ip with MAIL FROM and From in domain; returns
    (result of MilterClient.message, seconds). The verdict is normalized:
    "a" accept (c too), "r" reject, "t" tempfail."""
    mid = "<%s.%s@%s>" % (tag or "m", os.urandom(6).hex(), domain)
    headers = [("From", " Sender <user@%s>" % domain),
               ("To", " <%s>" % RCPT),
               ("Subject", " report test %s" % tag),
               ("Date", " " + email.utils.formatdate(usegmt=True)),
               ("Message-ID", " " + mid)]
    t1 = time.monotonic()
    c = MilterClient(spec, timeout=timeout)
    try:
        r = c.message(ip=ip, helo="mail.%s" % domain,
                      mail_from="<user@%s>" % domain, rcpts=["<%s>" % RCPT],
                      headers=headers, body=b"Hello.\r\n")
    finally:
        c.close()
    dt = time.monotonic() - t1
    if r["verdict"] == "c":
        r["verdict"] = "a"
    return r, dt


def ar_of(r):
    for _, name, value in r["inserted"]:
        if name.lower() == "authentication-results":
            return value
    return None


# what a message from ip in domain gets: (verdict, quarantined, dmarc
# result in the header, disposition in the report)
def expected(ip, domain):
    good_ip, rec = DOMAINS[domain]
    p = re.search(r"p=(\w+)", rec).group(1)
    if ip == good_ip:
        return ("a", False, "pass", "pass")
    if "t=y" in rec:            # one level lower (RFC 9989 4.7)
        p = {"reject": "quarantine", "quarantine": "none"}.get(p, p)
    if p == "reject":
        return ("r", False, "fail", "reject")
    if p == "quarantine":
        return ("a", True, "fail", "quarantine")
    return ("a", False, "fail", "none")


def check_verdict(r, ip, domain):
    """the milter's answer is what DMARC says; "" or why not"""
    verdict, held, dmarc, _ = expected(ip, domain)
    ar = ar_of(r)
    why = []
    if r["verdict"] != verdict:
        why.append("verdict %r, want %r (reply %r)"
                   % (r["verdict"], verdict, r.get("reply")))
    if verdict == "a":
        if ar is None:
            why.append("no Authentication-Results inserted")
        elif not re.search(r"\bdmarc=%s\b" % dmarc, ar):
            why.append("Authentication-Results %r lacks dmarc=%s"
                       % (ar, dmarc))
        if bool(r["quarantine"]) != held:
            why.append("quarantine %r, want %s" % (r["quarantine"], held))
    return "; ".join(why)


# ---- authmilter-report -----------------------------------------------------

def run_reporter(conf, args, timeout=TIMEOUT):
    if not os.access(REPORTER, os.X_OK):
        raise Fail("%s is not built" % REPORTER)
    argv = [REPORTER, "-c", conf] + args
    t1 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    r.seconds = time.monotonic() - t1
    r.argv = argv
    return r


def reporter_ok(r):
    if r.returncode != 0:
        raise Fail("%s: exit %d: %s%s" % (" ".join(r.argv), r.returncode,
                                         r.stdout[-600:], r.stderr[-600:]))


DRY_LINE = re.compile(r"(?m)^(\S+): (\d+) rows?, (\d+) messages?, (\d+) "
                      r"bytes? gz -> (.*)$")


def parse_dry(out):
    """{domain: (rows, messages, bytes, [addresses])} of the lines
    "DOMAIN: N rows, M messages, X bytes gz -> addr,..." """
    res = {}
    for m in DRY_LINE.finditer(out):
        addrs = [a.strip() for a in m.group(5).split(",") if a.strip()]
        res[m.group(1).lower()] = (int(m.group(2)), int(m.group(3)),
                                   int(m.group(4)), addrs)
    return res


FILE_NAME = re.compile(r"^([^!]+)!([^!]+)!(\d+)!(\d+)!([0-9A-Za-z]+)"
                       r"\.xml\.gz$")


def dry_files(directory):
    """{policy domain: (file name fields, .xml.gz path, .eml path)} of a
    dry run's directory; a name that does not parse raises Fail"""
    out = {}
    for n in sorted(os.listdir(directory)):
        if not n.endswith(".xml.gz"):
            continue
        m = FILE_NAME.match(n)
        if not m:
            raise Fail("dry run file %r is not receiver!domain!begin!end!"
                       "id.xml.gz" % n)
        dom = m.group(2).lower()
        if dom in out:
            raise Fail("two reports for %s: %s and %s"
                       % (dom, os.path.basename(out[dom][1]), n))
        eml = None
        for cand in (n[:-len(".xml.gz")] + ".eml", n + ".eml"):
            if os.path.exists(os.path.join(directory, cand)):
                eml = os.path.join(directory, cand)
        out[dom] = (m.groups(), os.path.join(directory, n), eml)
    return out


def local(tag):
    return tag.rsplit("}", 1)[-1]


def find(el, path):
    """the first descendant along the local names of path ("a/b/c")"""
    for part in path.split("/"):
        if el is None:
            return None
        el = next((c for c in el if local(c.tag) == part), None)
    return el


def text(el, path):
    e = find(el, path)
    return e.text.strip() if e is not None and e.text else None


def norm_ip(s):
    try:
        return ipaddress.ip_address(s).compressed
    except ValueError:
        return s


def parse_report(xml_bytes):
    """the facts of one RFC 9990 document: meta, policy, and counts
    {(source_ip, disposition): messages}, reasons {(ip, disposition):
    set of override types}"""
    root = ET.fromstring(xml_bytes)
    if local(root.tag) != "feedback":
        raise Fail("root element %s, not feedback" % root.tag)
    if not root.tag.startswith("{%s}" % XMLNS):
        raise Fail("root element %s not in namespace %s" % (root.tag, XMLNS))
    rep = {
        "org_name": text(root, "report_metadata/org_name"),
        "email": text(root, "report_metadata/email"),
        "report_id": text(root, "report_metadata/report_id"),
        "begin": text(root, "report_metadata/date_range/begin"),
        "end": text(root, "report_metadata/date_range/end"),
        "domain": (text(root, "policy_published/domain") or "").lower(),
        "p": text(root, "policy_published/p"),
        "testing": text(root, "policy_published/testing"),
        "counts": {},
        "reasons": {},
        "rows": 0,
    }
    for rec in root:
        if local(rec.tag) != "record":
            continue
        rep["rows"] += 1
        ip = norm_ip(text(rec, "row/source_ip") or "?")
        disp = text(rec, "row/policy_evaluated/disposition")
        n = int(text(rec, "row/count") or "0")
        key = (ip, disp)
        rep["counts"][key] = rep["counts"].get(key, 0) + n
        pe = find(rec, "row/policy_evaluated")
        for c in (pe if pe is not None else []):
            if local(c.tag) == "reason":
                rep["reasons"].setdefault(key, set()).add(text(c, "type"))
    return rep


def read_gz(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as e:
        raise Fail("%s does not inflate: %s" % (os.path.basename(path), e))


def xmllint(path_xml):
    r = subprocess.run(["xmllint", "--noout", "--schema", SCHEMA, path_xml],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise Fail("%s does not validate against %s: %s"
                   % (os.path.basename(path_xml),
                      os.path.relpath(SCHEMA, SRCDIR), r.stderr.strip()[-600:]))


def compare_counts(domain, got, want):
    """got and want {(ip, disposition): n}; raises Fail naming each
    difference"""
    diffs = []
    for k in sorted(set(got) | set(want), key=str):
        if got.get(k, 0) != want.get(k, 0):
            diffs.append("%s %s: %d, want %d" % (k[0], k[1], got.get(k, 0),
                                                 want.get(k, 0)))
    if diffs:
        raise Fail("%s: %s" % (domain, "; ".join(diffs)))


def report_message_parts(raw):
    """(message, Subject unfolded, [(filename, content type, bytes)] of the
    attachments) of a report message"""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = re.sub(r"\r?\n[ \t]+", " ", msg.get("Subject", ""))
    atts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        fn = part.get_filename()
        ctype = part.get_content_type()
        if fn or ctype != "text/plain":
            atts.append((fn, ctype, part.get_payload(decode=True)))
    return msg, subject, atts


SUBJECT = re.compile(r"^Report Domain: (\S+) Submitter: (\S+) "
                     r"Report-ID: <?([^>\s]+)>?\s*$")


# ---- sending through Postfix ------------------------------------------------

def xtext(s):
    return rig.xtext(s)


def smtp_send(port, ip, helo, mail_from, rcpt, data):
    """one SMTP session on Postfix's smtpd at port: XCLIENT ADDR=ip, then
    MAIL, RCPT, DATA; (stage, code, text) of the last reply"""
    s = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT)
    try:
        s.ehlo("sender.test")
        addr = ("IPV6:" + ip) if ":" in ip else ip
        code, txt = s.docmd("XCLIENT", "ADDR=%s NAME=[UNAVAILABLE] HELO=%s"
                            % (xtext(addr), xtext(helo)))
        if code != 220:
            return ("XCLIENT", code, txt)
        s.ehlo(helo)
        code, txt = s.mail(mail_from)
        if code != 250:
            return ("MAIL", code, txt)
        code, txt = s.rcpt(rcpt)
        if code not in (250, 251):
            return ("RCPT", code, txt)
        code, txt = s.docmd("DATA")
        if code != 354:
            return ("DATA", code, txt)
        data = re.sub(rb"(?m)^\.", b"..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        s.send(data + b".\r\n")
        code, txt = s.getreply()
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        return ("end of DATA", code, txt)
    finally:
        s.close()


# ---- PostgreSQL: t/pgtmp.sh ------------------------------------------------

def pg_call(what, directory, timeout=60):
    """run pg_start or pg_stop DIR of t/pgtmp.sh; its stdout (pg_start:
    the libpq URI)"""
    if not os.path.exists(PGTMP):
        raise Fail("%s is missing (helper STORE's; needs PostgreSQL 15, "
                   "contrib/deps.sh installs it)" % PGTMP)
    r = subprocess.run(["sh", "-c", '. "$1" && %s "$2"' % what, "pgtmp",
                        PGTMP, directory], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise Fail("%s %s: exit %d: %s%s" % (what, directory, r.returncode,
                                             r.stdout[-600:],
                                             r.stderr[-600:]))
    return r.stdout.strip()


def pg_start(directory):
    """a new cluster in directory (made here), its URI"""
    os.makedirs(directory, exist_ok=True)
    out = pg_call("pg_start", directory)
    uris = [ln for ln in out.splitlines()
            if ln.startswith(("postgresql:", "postgres:"))]
    if not uris:
        raise Fail("pg_start printed no postgresql:// URI: %r" % out[-300:])
    return uris[-1]


def pg_stop(directory):
    pg_call("pg_stop", directory)


def pg_start_again(directory):
    """start the cluster pg_start made in directory (DIR/data) again after
    pg_stop, with pg_start's options (socket in DIR only, log DIR/log)"""
    pgbin = os.environ.get("PGTMP_BIN", "/usr/lib/postgresql/15/bin")
    argv = [os.path.join(pgbin, "pg_ctl"), "-D",
            os.path.join(directory, "data"), "-l",
            os.path.join(directory, "log"), "-w", "-t", "60", "-o",
            "-c listen_addresses='' -c unix_socket_directories='%s'"
            % directory, "start"]
    if os.getuid() == 0:
        argv = ["runuser", "-u", "nobody", "--"] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=90,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise Fail("pg_ctl start %s: exit %d: %s%s" % (
            directory, r.returncode, r.stdout[-400:], r.stderr[-400:]))


def sqlite_integrity(path):
    """PRAGMA integrity_check of an SQLite file (opened read-write, so a
    WAL is recovered as the next writer would); the answer rows, and the
    tables with their row counts"""
    import sqlite3
    if not os.path.exists(path):
        raise Fail("%s does not exist" % path)
    con = sqlite3.connect(path, timeout=10)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        tables = {}
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE "
                                   "type = 'table'"):
            tables[name] = con.execute('SELECT count(*) FROM "%s"'
                                       % name.replace('"', '""')
                                       ).fetchone()[0]
    finally:
        con.close()
    return rows, tables


def show(path, n=25, width=300):
    """the last n lines of a log, each cut at width characters"""
    if os.path.exists(path):
        log("--- %s" % path)
        log("\n".join(ln if len(ln) <= width else ln[:width] + " ..."
                      for ln in rig.tail(path, n).split("\n")))


# ---- load: messages from threads, each timed ---------------------------------

class Load:
    """threads sending messages from plan (a list of (ip, domain), taken in
    turn) to the milter at spec until stopped, or until each has sent
    per_thread; every message's (start time, seconds, "" or why it was
    wrong) kept"""

    def __init__(self, spec, plan, threads=3, per_thread=None):
        import threading
        self.spec = spec
        self.plan = plan
        self.per_thread = per_thread
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.results = []           # (t start, seconds, ip, dom, why)
        self.next = 0
        self.threads = [threading.Thread(target=self.work, daemon=True)
                        for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def take(self):
        with self.lock:
            i = self.next
            self.next += 1
        return self.plan[i % len(self.plan)]

    def work(self):
        n = 0
        while not self.stopping.is_set():
            if self.per_thread is not None and n >= self.per_thread:
                return
            n += 1
            ip, dom = self.take()
            t1 = time.monotonic()
            try:
                r, dt = milter_send(self.spec, ip, dom, timeout=10.0)
                why = check_verdict(r, ip, dom)
            except (OSError, Exception) as e:   # noqa: B014
                dt = time.monotonic() - t1
                why = "%s: %s" % (type(e).__name__, e)
            with self.lock:
                self.results.append((t1, dt, ip, dom, why))
            if why.startswith(("ConnectionRefusedError", "MilterError",
                               "ConnectionResetError", "BrokenPipeError")) \
                    and self.stopping.is_set():
                return

    def stop(self):
        self.stopping.set()
        self.join()

    def join(self, timeout=60):
        for t in self.threads:
            t.join(timeout)

    def done(self, before=None):
        """results of messages that started before the monotonic time
        before (all when None)"""
        with self.lock:
            return [r for r in self.results
                    if before is None or r[0] < before]


def judge_load(results, max_s, what="message"):
    """raise Fail naming wrong verdicts and messages slower than max_s"""
    bad = [r for r in results if r[4]]
    slow = [r for r in results if r[1] > max_s]
    why = []
    if not results:
        why.append("no %s was answered" % what)
    if bad:
        why.append("%d of %d wrong, first: %s from %s: %s"
                   % (len(bad), len(results), bad[0][3], bad[0][2],
                      bad[0][4]))
    if slow:
        why.append("%d of %d took over %.1f s (slowest %.2f s)"
                   % (len(slow), len(results), max_s,
                      max(r[1] for r in results)))
    if why:
        raise Fail("; ".join(why))


def latency(results):
    ts = sorted(r[1] for r in results)
    if not ts:
        return "none"
    return "%d messages, median %.1f ms, max %.1f ms" % (
        len(ts), ts[len(ts) // 2] * 1e3, ts[-1] * 1e3)


def dry_total(conf, day, directory):
    """an authmilter-report --dry-run for the UTC days day..today into
    directory: (run, {domain: (rows, messages, bytes, addrs)})"""
    os.makedirs(directory, exist_ok=True)
    r = run_reporter(conf, ["--dry-run", "--dir", directory, "--from", day,
                            "--to", utc_day()])
    reporter_ok(r)
    return r, parse_dry(r.stdout)
