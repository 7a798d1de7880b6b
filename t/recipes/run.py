#!/usr/bin/env python3
"""run.py - the README's Postfix and Sendmail recipes, run as written.

Started by t/recipes.sh inside private network, mount, pid and UTS
namespaces (only lo; host name mx.test.example). The recipes are the
fenced blocks of README.md that follow a line

    <!-- recipe: NAME -->

NAME ending in .sh: shell commands, run with "sh -e" as root exactly as
written; .conf: authmilter.conf lines, used as the start of the daemon's
configuration (the test adds only authserv_id, dns and trusted_networks
after them); .mc: sendmail.mc lines, put between the test's own mc lines
(paths, port, SASL) and MAILER(`smtp'). A block this test needs and the
README lacks is a failure, so README and test change together.

So that the recipes can run as written, the test first makes private
copies: /etc (a copy bind-mounted over it: useradd, postconf -e and
"cd /etc/mail" change only the copy) and /var/spool/postfix (an empty
directory mounted over it). Postfix is the system's, with the test's
main.cf and master.cf in the private /etc/postfix standing for the admin's
(no milter settings); its log goes to TMP/maillog.

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

postfix-inet-*     recipes postfix-inet.conf + postfix-inet.sh; smtpd not
                   chrooted, SASL on.
  pass             a message from 127.0.0.2 (not a trusted network) whose
                   SPF and DMARC pass is delivered with our
                   Authentication-Results at the top, and the daemon's log
                   line for it carries Postfix's queue id (no
                   milter_*_macros set: authmilter asked for them).
  reject           a DMARC p=reject failure gets 550 5.7.1 at the end of DATA.
  auth-skipped     a SASL client's message is delivered with no header of
                   ours; the log line says skipped=authenticated and has
                   the queue id.
sendmail-*         Sendmail 8.17 from the kept .debs (dpkg -x), sendmail.cf
                   built by recipe sendmail-build.sh from the test's mc with
                   recipe sendmail.mc, run with -bD on 127.0.0.1 in queue-only
                   delivery mode (messages stay in its queue, where the test
                   reads their headers); it uses the postfix-inet daemon.
  pass, reject     as above (the header is read from the queue file).
  forged-removed   an Authentication-Results claiming our authserv-id is
                   removed, another host's is kept.
  quarantine       two DMARC p=quarantine failures are accepted and sit in
                   Sendmail's quarantine (hf files); the README's lines
                   "mailq -qQ", "sendmail -qQ -Q -qI<queue id>" and
                   "sendmail -qQ -Q" (run with the test's cf) list them,
                   release one, then all (qf files again).
  auth-skipped     SASL AUTH PLAIN (Cyrus sasldb), as for Postfix.
  down-deferred    with authmilter stopped, F=T defers with the README's
                   "451 4.3.2 Please try again later".
postfix-inet-down-deferred  then Postfix (milter_default_action =
                   tempfail) answers the README's "451 4.7.1 Service
                   unavailable - try again later" and logs "connect to
                   Milter service inet:localhost:8891: Connection refused".
postfix-unix-*     recipes postfix-unix-setup.sh, postfix-unix.conf,
                   postfix-unix.sh; smtpd chrooted (master.cf chroot y).
  socket           the socket is authmilter:postfix, mode 0660, in a
                   directory authmilter:postfix 0750.
  pass, reject     as above.
  broken-noticed   the old permissions (user = "authmilter": socket
                   authmilter:authmilter 0660) with milter_default_action =
                   accept: the pass and reject checks above must both FAIL
                   (mail delivered unchecked), and Postfix must log
                   "connect to Milter service ...: Permission denied".

Exit status 0 when all pass, 1 otherwise, 99 when the rig could not be set
up. Environment: top_srcdir, top_builddir; AM_RECIPES_DEBS (default
/var/cache/authmilter-test/debs); RECIPES_KEEP=1 keeps the temporary
directory.
"""

import base64
import glob
import os
import pwd
import grp
import re
import shutil
import smtplib
import stat
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("top_builddir", SRCDIR)
sys.dont_write_bytecode = True         # no __pycache__ left in t/e2e/
sys.path.insert(0, os.path.join(SRCDIR, "t", "e2e"))
import rig                              # e2e's rig: Postfix, NSD, the sink
from judge import split_headers         # e2e's header reader

AUTHSERV_ID = rig.AUTHSERV_ID           # mx.test.example, the host name too
CLIENT = "127.0.0.2"                    # the sending client: not trusted
DEBS = os.environ.get("AM_RECIPES_DEBS", "/var/cache/authmilter-test/debs")
SENDMAIL_DEBS = ["sendmail-bin", "sendmail-base", "sendmail-cf", "libwrap0"]
TIMEOUT = 20.0
RECIPES = ["postfix-inet.conf", "postfix-inet.sh", "postfix-unix-setup.sh",
           "postfix-unix.conf", "postfix-unix.sh", "sendmail.mc",
           "sendmail-build.sh"]

# what the test adds after a recipe's authmilter.conf lines
TEST_CONF = """\
authserv_id = "%s";
dns = { nameservers = [ "127.0.0.1@%%d" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.1/32", "::1/128" ];
""" % AUTHSERV_ID

# the DNS data: SPF for the client 127.0.0.2, DMARC policies
DNS = [
    ("pass.example.org.", 'TXT "v=spf1 ip4:%s -all"' % CLIENT),
    ("_dmarc.pass.example.org.", 'TXT "v=DMARC1; p=reject"'),
    ("reject.example.org.", 'TXT "v=spf1 ip4:192.0.2.1 -all"'),
    ("_dmarc.reject.example.org.", 'TXT "v=DMARC1; p=reject"'),
    ("quar.example.org.", 'TXT "v=spf1 ip4:192.0.2.1 -all"'),
    ("_dmarc.quar.example.org.", 'TXT "v=DMARC1; p=quarantine"'),
]

# the admin's Postfix before the recipe: no milter settings at all
MAIN_CF = """\
compatibility_level = 3.6
data_directory = %(tmp)s/postfix-data
maillog_file = %(tmp)s/maillog
maillog_file_prefixes = %(tmp)s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = %(id)s
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = static:ALL
local_recipient_maps =
alias_maps =
alias_database =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_banner = $myhostname ESMTP
smtp_dns_support_level = disabled
default_transport = smtp:[127.0.0.1]:%(sink)d
relay_transport = smtp:[127.0.0.1]:%(sink)d
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
notify_classes =
local_header_rewrite_clients =
smtpd_sasl_auth_enable = %(sasl)s
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = %(id)s
smtpd_sasl_security_options = noanonymous
"""

# e2e's master.cf, with the chroot column of smtpd set by the recipe
MASTER_CF = rig.MASTER_CF.replace(
    "127.0.0.1:%(smtpport)d inet n -   n       -       -       smtpd",
    "127.0.0.1:%(smtpport)d inet n - %(chroot)s - - smtpd")
assert MASTER_CF != rig.MASTER_CF, "e2e's smtpd line changed"

SASL_CONF = rig.SASL_CONF

# the test's own sendmail.mc lines around the recipe's
SENDMAIL_MC_HEAD = """\
include(`%(cfdir)s/m4/cf.m4')dnl
VERSIONID(`authmilter t/recipes')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `%(id)s')dnl
define(`QUEUE_DIR', `%(sm)s/mqueue')dnl
define(`STATUS_FILE', `%(sm)s/statistics')dnl
define(`ALIAS_FILE', `%(sm)s/aliases')dnl
define(`confPID_FILE', `%(sm)s/sendmail.pid')dnl
define(`confSERVICE_SWITCH_FILE', `%(sm)s/service.switch')dnl
define(`confHOSTS_FILE', `/etc/hosts')dnl
define(`confDELIVERY_MODE', `queue')dnl
define(`confDONT_PROBE_INTERFACES', `true')dnl
define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl
TRUST_AUTH_MECH(`PLAIN LOGIN')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`nocanonify')dnl
DAEMON_OPTIONS(`Port=%(port)d, Addr=127.0.0.1, Name=MTA')dnl
"""
SENDMAIL_MC_TAIL = "MAILER(`smtp')dnl\n"


class Fail(Exception):
    pass


# ---- README blocks -------------------------------------------------------

def readme_recipes(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"(?m)^<!-- recipe: (\S+) -->\n```[a-z]*\n(.*?)^```$",
                         text, re.S):
        if m.group(1) in out:
            raise rig.RigError("README.md: recipe %s twice" % m.group(1))
        out[m.group(1)] = m.group(2)
    return out


def run_sh(name, text, tmp):
    """a .sh recipe, as written, with sh -e; its output kept in TMP"""
    r = subprocess.run(["sh", "-e", "-c", text], capture_output=True,
                       text=True, timeout=60, cwd="/")
    with open(os.path.join(tmp, "recipe-%s.out" % name), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        raise Fail("recipe %s: exit %d: %s%s"
                   % (name, r.returncode, r.stdout, r.stderr))


# ---- the private /etc and spool ------------------------------------------

def mount_bind(src, dst):
    r = subprocess.run(["mount", "--bind", src, dst], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise rig.RigError("mount --bind %s %s: %s" % (src, dst, r.stderr))


def private_system(tmp):
    """a copy of /etc over /etc; an empty /var/spool/postfix"""
    etc = os.path.join(tmp, "etc")
    r = subprocess.run(["cp", "-a", "/etc", etc], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise rig.RigError("cp -a /etc: %s" % r.stderr)
    mount_bind(etc, "/etc")
    with open("/etc/hosts", "w") as f:        # Debian's, with our FQDN
        f.write("127.0.0.1\tlocalhost\n"
                "127.0.1.1\t%s mx\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n" % AUTHSERV_ID)
    with open("/etc/mailname", "w") as f:
        f.write(AUTHSERV_ID + "\n")
    spool = os.path.join(tmp, "spool")
    os.makedirs(spool)
    os.chmod(spool, 0o755)
    if not os.path.isdir("/var/spool/postfix"):
        raise rig.RigError("/var/spool/postfix missing (is Postfix installed?)")
    mount_bind(spool, "/var/spool/postfix")
    data = os.path.join(tmp, "postfix-data")
    os.makedirs(data)
    pf = pwd.getpwnam("postfix")
    os.chown(data, pf.pw_uid, pf.pw_gid)
    os.chmod(data, 0o700)
    open(os.path.join(tmp, "maillog"), "a").close()


# ---- daemons --------------------------------------------------------------

class Daemon:
    def __init__(self, tmp, name, conf_text, dnsport, procs):
        self.name = name
        self.conf = os.path.join(tmp, name + ".conf")
        self.stderr = os.path.join(tmp, name + ".stderr")
        rig.write(self.conf, conf_text + TEST_CONF % dnsport)
        exe = os.path.join(BUILDDIR, "authmilter")
        chk = subprocess.run([exe, "-n", "-c", self.conf],
                             capture_output=True, text=True, timeout=TIMEOUT)
        if chk.returncode != 0:
            raise Fail("%s -n: exit %d: %s%s" % (name, chk.returncode,
                                                  chk.stdout, chk.stderr))
        err = open(self.stderr, "wb")
        self.proc = subprocess.Popen([exe, "-f", "-c", self.conf], stdout=err,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        procs.append((name, self.proc))

    def log_line(self, qid):
        """the daemon's line for this queue id (waits a little: the line is
        written after the reply)"""
        deadline = time.monotonic() + 5
        while True:
            with open(self.stderr, encoding="utf-8", errors="replace") as f:
                for ln in f:
                    if re.search(r"\bqid=%s\b" % re.escape(qid), ln):
                        return ln.rstrip("\n")
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def postfix(*args, check=True):
    r = subprocess.run(["postfix"] + list(args), capture_output=True,
                       text=True, timeout=60)
    if check and r.returncode != 0:
        raise rig.RigError("postfix %s: exit %d: %s%s"
                           % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def postfix_stop():
    postfix("stop", check=False)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if postfix("status", check=False).returncode != 0:
            return
        time.sleep(0.1)
    raise rig.RigError("postfix did not stop")


def postfix_fresh(tmp, ports, chroot, sasl):
    """the admin's Postfix before a recipe: the test's main.cf/master.cf"""
    v = dict(tmp=tmp, id=AUTHSERV_ID, sink=ports["sink"], smtp=ports["smtp"],
             smtpport=ports["smtp"], chroot=chroot,
             sasl="yes" if sasl else "no")
    rig.write("/etc/postfix/main.cf", MAIN_CF % v)
    rig.write("/etc/postfix/master.cf", MASTER_CF % v)
    postfix("start")
    rig.wait_for("postfix smtpd", lambda: rig.smtp_greets(ports["smtp"]))


def setup_sasl(tmp):
    """one account in a sasldb: for Postfix's smtpd ($config_directory/sasl)
    and Sendmail (/etc/sasl2/Sendmail.conf), both in the private /etc"""
    sdir = os.path.join(tmp, "sasl")
    os.makedirs(sdir)
    db = os.path.join(sdir, "sasldb2")
    r = subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u",
                        AUTHSERV_ID, rig.SASL_USER],
                       input=rig.SASL_PASSWORD.encode(), capture_output=True,
                       timeout=TIMEOUT)
    if r.returncode != 0:
        raise rig.RigError("saslpasswd2: %s" % r.stderr)
    pf = pwd.getpwnam("postfix")
    os.chown(db, pf.pw_uid, pf.pw_gid)
    os.chmod(db, 0o600)
    os.makedirs("/etc/postfix/sasl", exist_ok=True)
    rig.write("/etc/postfix/sasl/smtpd.conf", SASL_CONF % db)
    # Sendmail (root) gets its own copy: it refuses a sasldb it does not own
    smdb = os.path.join(sdir, "sasldb2-sendmail")
    shutil.copy(db, smdb)
    os.chmod(smdb, 0o600)
    os.makedirs("/etc/sasl2", exist_ok=True)
    rig.write("/etc/sasl2/Sendmail.conf", SASL_CONF % smdb)


# ---- sending --------------------------------------------------------------

def message(author, extra=""):
    return ("From: <user@%s>\r\nTo: <rcpt@sink.example.net>\r\n"
            "Subject: recipes test\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            "Message-ID: <%s@%s>\r\n%s\r\nhello\r\n"
            % (author, os.urandom(6).hex(), author, extra)).encode()


def send(port, author, auth=False, extra="", tag=None):
    """one message from CLIENT; returns (reply "CODE TEXT", queue id or
    None, the X-E2E-Id token the e2e sink files it by)"""
    token = os.urandom(8).hex()
    data = message(author, extra + "X-E2E-Id: %s\r\n" % token)
    s = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT,
                     source_address=(CLIENT, 0))
    try:
        s.ehlo("client.example.org")
        if auth:
            resp = base64.b64encode(("\0%s\0%s" % (rig.SASL_USER,
                                                   rig.SASL_PASSWORD)).encode())
            code, text = s.docmd("AUTH", "PLAIN " + resp.decode())
            if code != 235:
                return rig.fmt(code, text), None, token
        code, text = s.mail("user@%s" % author)
        if code != 250:
            return rig.fmt(code, text), None, token
        code, text = s.rcpt("rcpt@sink.example.net")
        if code not in (250, 251):
            return rig.fmt(code, text), None, token
        code, text = s.data(data)
        reply = rig.fmt(code, text)
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    except smtplib.SMTPResponseException as e:
        return rig.fmt(e.smtp_code, e.smtp_error), None, token
    finally:
        s.close()
    m = re.search(r"queued as (\w+)|^250 2\.0\.0 (\w+) Message accepted",
                  reply)
    return reply, (m.group(1) or m.group(2)) if m else None, token


def ar_headers(fields):
    return [v for n, v, _ in fields if n.lower() == "authentication-results"]


class Checks:
    """ok/FAIL lines; inverted: the lines of checks that must fail"""

    def __init__(self, inverted=False):
        self.failed = 0
        self.passed = 0
        self.words = ("     noticed", "     NOT NOTICED") if inverted \
            else ("FAIL", "ok  ")

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except Fail as e:
            self.failed += 1
            rig.log("%s %s: %s" % (self.words[0], name, e))
            return False
        self.passed += 1
        rig.log("%s %s" % (self.words[1], name))
        return True


def delivered(sink, token):
    if sink.wait([token], timeout=TIMEOUT):
        raise Fail("not delivered to the sink within %.0f s" % TIMEOUT)
    return sink.messages[token][0][1]


def expect_ours_first(raw, where):
    fields, _ = split_headers(raw)
    if not fields or fields[0][0] != "Authentication-Results":
        raise Fail("%s: the first header is %r, not our Authentication-Results"
                   " (mail passed unfiltered?)"
                   % (where, fields[0][0] if fields else None))
    v = fields[0][1]
    if not re.match(r"%s;" % re.escape(AUTHSERV_ID), v) or \
            "spf=pass" not in v or "dmarc=pass" not in v:
        raise Fail("%s: header is %r" % (where, v))
    return fields


def check_pass(port, sink, daemon):
    reply, qid, token = send(port, "pass.example.org")
    if not reply.startswith("250") or not qid:
        raise Fail("reply %r" % reply)
    expect_ours_first(delivered(sink, token), "delivered")
    ln = daemon.log_line(qid)
    if ln is None:
        raise Fail("no authmilter log line with qid=%s (queue id macro "
                   "missing?)" % qid)
    if "action=accept" not in ln or "dmarc=pass" not in ln:
        raise Fail("log line: %s" % ln)


def check_reject(port, sink, daemon):
    reply, qid, token = send(port, "reject.example.org")
    if not reply.startswith("550 5.7.1"):
        raise Fail("reply %r, not 550 5.7.1 (a p=reject failure%s)"
                   % (reply, " delivered" if reply.startswith("250") else ""))


def check_auth_postfix(port, sink, daemon):
    reply, qid, token = send(port, "reject.example.org", auth=True)
    if not reply.startswith("250") or not qid:
        raise Fail("reply %r" % reply)
    fields, _ = split_headers(delivered(sink, token))
    if ar_headers(fields):
        raise Fail("an Authentication-Results header: %s" % ar_headers(fields))
    ln = daemon.log_line(qid)
    if ln is None or "skipped=authenticated" not in ln:
        raise Fail("log line for qid=%s: %s" % (qid, ln))


# ---- Sendmail -------------------------------------------------------------

class Sendmail:
    def __init__(self, tmp, port, recipes, procs):
        self.port = port
        self.sm = os.path.join(tmp, "sendmail")
        self.root = os.path.join(self.sm, "root")
        self.queue = os.path.join(self.sm, "mqueue")
        os.makedirs(self.queue, mode=0o700)
        os.makedirs(self.root)
        debs = []
        missing = []
        for p in SENDMAIL_DEBS:
            found = sorted(glob.glob(os.path.join(DEBS, p + "_*.deb")))
            if not found:
                missing.append(p)
            else:
                debs.append(found[-1])
        if missing:
            raise Fail("Sendmail's packages %s are not in %s: run "
                       "contrib/deps.sh (it keeps them there; the test never "
                       "downloads)" % (", ".join(missing), DEBS))
        for d in debs:
            r = subprocess.run(["dpkg-deb", "-x", d, self.root],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise Fail("dpkg-deb -x %s: %s" % (d, r.stderr))
        # the binary without its setgid bit (which makes it ignore
        # LD_LIBRARY_PATH), and libwrap from the kept .deb
        self.exe = os.path.join(self.sm, "sendmail")
        shutil.copy(os.path.join(self.root, "usr/libexec/sendmail/sendmail"),
                    self.exe)
        os.chmod(self.exe, 0o755)
        libs = {os.path.dirname(p) for p in glob.glob(
            os.path.join(self.root, "usr/lib/*/libwrap.so.0"))}
        self.env = dict(os.environ, LD_LIBRARY_PATH=":".join(libs))
        cfdir = os.path.join(self.root, "usr/share/sendmail/cf")
        for name, text in [("aliases", ""), ("statistics", ""),
                           ("service.switch", "hosts files\naliases files\n")]:
            rig.write(os.path.join(self.sm, name), text)
        os.makedirs("/etc/mail", exist_ok=True)
        v = dict(cfdir=cfdir, sm=self.sm, id=AUTHSERV_ID, port=port)
        rig.write("/etc/mail/sendmail.mc", SENDMAIL_MC_HEAD % v +
                  recipes["sendmail.mc"] + SENDMAIL_MC_TAIL)
        run_sh("sendmail-build.sh", recipes["sendmail-build.sh"], tmp)
        self.cf = "/etc/mail/sendmail.cf"
        if not os.path.getsize(self.cf):
            raise Fail("recipe sendmail-build.sh made an empty sendmail.cf")
        shutil.copy(self.cf, os.path.join(tmp, "sendmail.cf"))
        err = open(os.path.join(self.sm, "sendmail.stderr"), "wb")
        self.proc = subprocess.Popen([self.exe, "-bD", "-C", self.cf],
                                     stdout=err, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        procs.append(("sendmail", self.proc))
        rig.wait_for("sendmail", lambda: rig.smtp_greets(port), self.proc)

    def cmd(self, *args):
        return subprocess.run([self.exe, "-C", self.cf] + list(args),
                              capture_output=True, text=True, env=self.env,
                              timeout=TIMEOUT)

    def queue_file(self, qid, kind="qf"):
        path = os.path.join(self.queue, kind + qid)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    @staticmethod
    def qf_headers(qf):
        """[(name, value)] of a queue file's H lines"""
        out = []
        for ln in qf.decode("utf-8", "replace").split("\n"):
            if ln.startswith("H"):
                m = re.match(r"H(?:\?[^?]*\?)?([^:]+):(.*)", ln)
                out.append([m.group(1), m.group(2)])
            elif ln[:1] in (" ", "\t") and out and out[-1] is not None:
                out[-1][1] += " " + ln.strip()
            else:
                out.append(None)
        # Return-Path is a placeholder Sendmail fills in at delivery
        return [(n, " ".join(v.split())) for n, v in
                (h for h in out if h is not None) if n != "Return-Path"]


def sm_headers(sm, qid, kind="qf"):
    qf = sm.queue_file(qid, kind)
    if qf is None:
        raise Fail("no %s%s in Sendmail's queue (%s)"
                   % (kind, qid, sorted(os.listdir(sm.queue))))
    return Sendmail.qf_headers(qf)


def sm_pass(sm, daemon):
    reply, qid, _ = send(sm.port, "pass.example.org")
    if not reply.startswith("250") or not qid:
        raise Fail("reply %r" % reply)
    h = sm_headers(sm, qid)
    if not h or h[0][0] != "Authentication-Results" or \
            not h[0][1].startswith(AUTHSERV_ID + ";") or \
            "dmarc=pass" not in h[0][1]:
        raise Fail("headers in the queue file: %s" % h[:3])
    ln = daemon.log_line(qid)
    if ln is None or "action=accept" not in ln:
        raise Fail("log line for qid=%s: %s" % (qid, ln))


def sm_reject(sm, daemon):
    reply, _, _ = send(sm.port, "reject.example.org")
    if not reply.startswith("550 5.7.1"):
        raise Fail("reply %r, not 550 5.7.1" % reply)


def sm_forged(sm, daemon):
    extra = ("Authentication-Results: %s; dmarc=pass header.from=pass.example.org\r\n"
             "Authentication-Results: other.example; spf=pass\r\n" % AUTHSERV_ID)
    reply, qid, _ = send(sm.port, "reject.example.org".replace("reject", "pass"),
                         extra=extra)
    if not reply.startswith("250") or not qid:
        raise Fail("reply %r" % reply)
    ars = [v for n, v in sm_headers(sm, qid) if n == "Authentication-Results"]
    ours = [v for v in ars if v.startswith(AUTHSERV_ID + ";")]
    if len(ours) != 1 or "spf=pass" not in ours[0]:
        raise Fail("our authserv-id in %d headers (the forgery kept?): %s"
                   % (len(ours), ars))
    if not any(v.startswith("other.example;") for v in ars):
        raise Fail("another host's header was removed: %s" % ars)
    ln = daemon.log_line(qid)
    if ln is None or "ar_removed=1" not in ln:
        raise Fail("log line: %s" % ln)


def sm_quarantine(sm, daemon, commands):
    """two quarantined messages; the README's commands (with the test's
    cf: mailq is sendmail -bp) list them, release one, then all"""
    listq, release_one, release_all = commands
    qids = []
    for _ in range(2):
        reply, qid, _ = send(sm.port, "quar.example.org")
        if not reply.startswith("250") or not qid:
            raise Fail("reply %r" % reply)
        if sm.queue_file(qid, "qf") is not None:
            raise Fail("qf%s in the normal queue: not quarantined" % qid)
        h = sm_headers(sm, qid, "hf")
        if not h or "dmarc=fail" not in h[0][1]:
            raise Fail("quarantined headers: %s" % h[:2])
        qids.append(qid)
    r = sm.cmd("-bp", *listq.split()[1:])
    if not all(q in r.stdout for q in qids) or "QUARANTINE:" not in r.stdout:
        raise Fail("%s does not list %s: %s%s" % (listq, qids, r.stdout,
                                                   r.stderr))
    for cmd, want in [(release_one.replace("<queue id>", qids[0]), qids[:1]),
                      (release_all, qids)]:
        r = sm.cmd(*cmd.split()[1:])
        if any(sm.queue_file(q, "qf") is None for q in want):
            raise Fail("%s did not release %s: %s%s (queue: %s)"
                       % (cmd, want, r.stdout, r.stderr,
                          sorted(os.listdir(sm.queue))))


def sm_auth(sm, daemon):
    reply, qid, _ = send(sm.port, "reject.example.org", auth=True)
    if not reply.startswith("250") or not qid:
        raise Fail("reply %r" % reply)
    h = sm_headers(sm, qid)
    if any(n == "Authentication-Results" for n, _ in h):
        raise Fail("an Authentication-Results header: %s" % h[:2])
    ln = daemon.log_line(qid)
    if ln is None or "skipped=authenticated" not in ln:
        raise Fail("log line for qid=%s: %s" % (qid, ln))


def sm_down(sm):
    reply, qid, _ = send(sm.port, "pass.example.org")
    if reply != "451 4.3.2 Please try again later":
        raise Fail("with authmilter stopped, reply %r, not 451 4.3.2 (F=T)"
                   % reply)


def postfix_down(port, tmp):
    reply, _, _ = send(port, "pass.example.org")
    if reply != "451 4.7.1 Service unavailable - try again later":
        raise Fail("with authmilter stopped, reply %r, not the README's "
                   "451 4.7.1 (milter_default_action = tempfail)" % reply)
    want = ("connect to Milter service inet:localhost:8891: "
            "Connection refused")
    # smtpd hands its log lines to postlogd, which writes them after the
    # reply may have reached us: wait for the line, do not read once
    try:
        rig.wait_for("Postfix's log line", lambda: want in maillog(tmp),
                     timeout=10)
    except rig.RigError:
        raise Fail("Postfix did not log %r within 10 s" % want)


def raiser(e):
    """a check function that fails with e (a step before the checks)"""
    def fn():
        raise e
    return fn


def readme_quarantine_commands():
    """the README's list, release-one and release-all lines"""
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    out = []
    for cmd in ("mailq -qQ", "sendmail -qQ -Q -qI<queue id>",
                "sendmail -qQ -Q"):
        if not re.search(r"(?m)^    %s +#" % re.escape(cmd), text):
            raise Fail("README.md: no '%s' line" % cmd)
        out.append(cmd)
    return out


# ---- Postfix, unix socket -------------------------------------------------

def check_socket():
    d = os.stat("/var/spool/postfix/authmilter")
    s = os.stat("/var/spool/postfix/authmilter/authmilter.sock")
    au, pg = pwd.getpwnam("authmilter").pw_uid, grp.getgrnam("postfix").gr_gid
    got = (d.st_uid, d.st_gid, oct(stat.S_IMODE(d.st_mode)),
           s.st_uid, s.st_gid, oct(stat.S_IMODE(s.st_mode)))
    want = (au, pg, "0o750", au, pg, "0o660")
    if got != want:
        raise Fail("directory and socket (uid, gid, mode) %s, want %s"
                   % (got, want))


def maillog(tmp):
    with open(os.path.join(tmp, "maillog"), encoding="utf-8",
              errors="replace") as f:
        return f.read()


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="am-recipes-")
    os.chmod(tmp, 0o755)
    procs = []
    checks = Checks()
    keep = os.environ.get("RECIPES_KEEP") == "1"
    sink = None
    postfix_up = False
    rig_broken = False
    try:
        recipes = readme_recipes(os.path.join(SRCDIR, "README.md"))
        missing = [r for r in RECIPES if r not in recipes]
        if missing:
            raise rig.RigError("README.md lacks the recipe block(s) %s"
                               % ", ".join(missing))
        private_system(tmp)
        p = rig.free_ports(4)
        ports = dict(dns=p[0], sink=p[1], smtp=p[2], sendmail=p[3])

        class Zone:
            dns = DNS
        rig.start_nsd(tmp, ports["dns"], [Zone], [], procs)
        os.makedirs(os.path.join(tmp, "sink"))
        sink = rig.Sink(ports["sink"], os.path.join(tmp, "sink"))
        setup_sasl(tmp)

        # -- Postfix over TCP; Sendmail with the same daemon
        inet = Daemon(tmp, "authmilter-inet", recipes["postfix-inet.conf"],
                      ports["dns"], procs)
        rig.wait_for("authmilter-inet", lambda: rig.tcp_accepts(8891),
                     inet.proc)
        postfix_fresh(tmp, ports, "n", sasl=True)
        postfix_up = True
        inet_ok = True
        try:
            run_sh("postfix-inet.sh", recipes["postfix-inet.sh"], tmp)
        except Fail as e:
            inet_ok = checks.run("postfix-inet", raiser(e))
        if inet_ok:
            for name, fn in [("pass", check_pass), ("reject", check_reject),
                             ("auth-skipped", check_auth_postfix)]:
                checks.run("postfix-inet-" + name, fn, ports["smtp"], sink,
                           inet)
        try:
            sm = Sendmail(tmp, ports["sendmail"], recipes, procs)
        except Fail as e:
            sm = None
            checks.run("sendmail", raiser(e))
        if sm:
            release = None
            try:
                release = readme_quarantine_commands()
            except Fail as e:
                checks.run("sendmail-readme", raiser(e))
            checks.run("sendmail-pass", sm_pass, sm, inet)
            checks.run("sendmail-reject", sm_reject, sm, inet)
            checks.run("sendmail-forged-removed", sm_forged, sm, inet)
            if release:
                checks.run("sendmail-quarantine", sm_quarantine, sm, inet,
                           release)
            checks.run("sendmail-auth-skipped", sm_auth, sm, inet)
        # authmilter down: both MTAs defer, and Postfix says why
        inet.stop()
        if sm:
            checks.run("sendmail-down-deferred", sm_down, sm)
        if inet_ok:
            checks.run("postfix-inet-down-deferred", postfix_down,
                       ports["smtp"], tmp)
        postfix_stop()
        postfix_up = False

        # -- Postfix over a unix socket in its chroot
        postfix_fresh(tmp, ports, "y", sasl=False)
        postfix_up = True
        try:
            run_sh("postfix-unix-setup.sh", recipes["postfix-unix-setup.sh"],
                   tmp)
            unix = Daemon(tmp, "authmilter-unix", recipes["postfix-unix.conf"],
                          ports["dns"], procs)
            sock = "/var/spool/postfix/authmilter/authmilter.sock"
            rig.wait_for("authmilter-unix", lambda: rig.unix_accepts(sock),
                         unix.proc)
            run_sh("postfix-unix.sh", recipes["postfix-unix.sh"], tmp)
            checks.run("postfix-unix-socket", check_socket)
            for name, fn in [("pass", check_pass), ("reject", check_reject)]:
                checks.run("postfix-unix-" + name, fn, ports["smtp"], sink,
                           unix)
            # the old recipe: socket authmilter:authmilter, accept
            unix.stop()
            broken_conf = recipes["postfix-unix.conf"].replace(
                'user = "authmilter:postfix";', 'user = "authmilter";')
            if broken_conf == recipes["postfix-unix.conf"]:
                raise Fail("postfix-unix.conf has no user = "
                           "\"authmilter:postfix\" line to break")
            broken = Daemon(tmp, "authmilter-broken", broken_conf,
                            ports["dns"], procs)
            rig.wait_for("authmilter-broken", lambda: os.path.exists(sock),
                         broken.proc)
            run_sh("broken", "postconf -e 'milter_default_action = accept'\n"
                   "postfix reload\n", tmp)
            time.sleep(0.5)

            def noticed():
                bad = Checks(inverted=True)
                bad.run("postfix-broken-pass", check_pass,
                        ports["smtp"], sink, broken)
                bad.run("postfix-broken-reject", check_reject,
                        ports["smtp"], sink, broken)
                if bad.passed:
                    raise Fail("%d check(s) passed with a socket Postfix "
                               "cannot open" % bad.passed)
                if not re.search(r"connect to Milter service unix:authmilter/"
                                 r"authmilter\.sock: Permission denied",
                                 maillog(tmp)):
                    raise Fail("Postfix did not log 'connect to Milter "
                               "service ...: Permission denied'")
            checks.run("postfix-unix-broken-noticed", noticed)
            broken.stop()
        except Fail as e:
            checks.run("postfix-unix", raiser(e))
    except Exception as e:
        rig.log("recipes: rig failure: %s: %s" % (type(e).__name__, e))
        if not isinstance(e, rig.RigError):
            traceback.print_exc(file=sys.stdout)
        rig_broken = True
    finally:
        if checks.failed or rig_broken:
            show_logs(tmp)
        if postfix_up:
            postfix("stop", check=False)
        rig.stop_processes(procs)
        if sink:
            sink.close()
        if keep or checks.failed or rig_broken:
            rig.log("recipes: files kept in %s" % tmp)
        else:
            subprocess.run(["umount", "/etc"], capture_output=True)
            subprocess.run(["umount", "/var/spool/postfix"],
                           capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    rig.log("recipes: %d passed, %d failed, %.1f s"
            % (checks.passed, checks.failed, time.monotonic() - t0))
    if rig_broken:
        return 99
    return 1 if checks.failed else 0


def show_logs(tmp):
    for name in ["maillog", "authmilter-inet.stderr",
                 "authmilter-unix.stderr", "authmilter-broken.stderr",
                 "sendmail/sendmail.stderr", "nsd/nsd.log"]:
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            rig.log("--- %s" % path)
            rig.log(rig.tail(path, 25))


if __name__ == "__main__":
    sys.exit(main())
