#!/usr/bin/env python3
"""run.py - end-to-end test runner: Postfix -> authmilter -> sink, NSD for DNS.

Started by t/e2e.sh inside private network/mount/pid namespaces (only lo).
It builds a closed mail system in a temporary directory:

  sender (smtplib, XCLIENT) -> Postfix smtpd -> authmilter (inet milter)
                                   |                 |
                                   v                 v
                         smtp client -> sink     NSD (zones from the cases)

then plays every case and checks the SMTP reply and the delivered message.
Prints one line per case ("ok NAME" or "FAIL NAME: why") and ends with
"e2e: N passed, N failed". Exit status 0 when all pass, 1 otherwise, 99 when
the rig itself could not be set up. On any failure it prints the tail of
Postfix's maillog, authmilter's stderr and NSD's log.

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
  exactly one of [description], [dns], [envelope], [message], [expect] and
  runs to the next such line. Lines starting with "#" before the first
  section are comments.

  [description]  free text, one line or more.

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

  [message]      the message as sent: headers, blank line, body. The runner
                 adds "X-E2E-Id: <token>" as the last header to find the
                 delivered copy. Line ends become CRLF on the wire.

  [expect]       "key = value" lines:
                   smtp = 250 | 550 5.7.1 | 4
                        prefix of the first failing SMTP reply ("CODE TEXT"),
                        or of the reply to the end of DATA when all passed.
                        2xx means the message must be delivered to the sink.
                   ar = REGEX   (repeatable, ordered)
                        the delivered message's Authentication-Results
                        headers, top to bottom, must be exactly as many as
                        the ar lines, the i-th value matching the i-th REGEX
                        with re.fullmatch. Values are unfolded and runs of
                        white space become one space (so "id;\\r\\n\\tspf=pass"
                        is "id; spf=pass"). No ar line: no A-R header at all.
                        Two shorthands: {id} is our authserv-id as a regex,
                        {c} an optional comment: " (anything but parens)".
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

WHAT POSTFIX 3.7 DOES HERE (found with this rig)
  - A header the milter inserts at index 0 lands ABOVE Postfix's own
    Received header (the milter sees that Received header as the first
    one), so our Authentication-Results is the first header delivered.
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
"""

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
SECTIONS = ["description", "dns", "envelope", "message", "expect"]
ENVELOPE_KEYS = {"client", "client_name", "helo", "mail_from", "rcpt_to",
                 "repeat"}
EXPECT_KEYS = {"smtp", "ar", "header", "no_header", "first_header",
               "folded", "max_line", "body"}
REPEATABLE = {"rcpt_to", "ar", "header", "no_header"}
SHORTHANDS = {"{id}": re.escape(AUTHSERV_ID), "{c}": r"(?: \([^()]*\))?"}


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
        self.env = {}
        self.message = ""
        self.expect = {}
        self.tokens = []        # X-E2E-Id of each transaction
        self.outcomes = []      # (command, "CODE TEXT" of the deciding reply)
        self.error = None       # sender-side exception text
        self.ms = 0.0           # time of the SMTP transaction


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
    rep = c.env.get("repeat", "1")
    if not rep.isdigit() or not 1 <= int(rep) <= 10:
        raise CaseError("%s: envelope: repeat must be 1..10" % name)
    c.tokens = [secrets.token_hex(8) for _ in range(int(rep))]
    c.expect = parse_kv(sections["expect"], EXPECT_KEYS, name + ": expect")
    if "smtp" not in c.expect:
        raise CaseError("%s: expect: smtp missing" % name)
    for k in ("ar", "header", "no_header"):
        for i, rx in enumerate(c.expect.get(k, [])):
            for short, full in SHORTHANDS.items():
                rx = rx.replace(short, full)
            c.expect[k][i] = rx
            try:
                re.compile(rx)
            except re.error as e:
                raise CaseError("%s: expect: bad regex %r: %s"
                                % (name, rx, e))
    msg = sections.get("message", [])
    while msg and not msg[-1].strip():
        msg.pop()
    c.message = "\n".join(msg) + "\n"
    return c


def load_cases(casedir, only):
    paths = sorted(p for p in os.listdir(casedir) if p.endswith(".case"))
    cases = [parse_case(os.path.join(casedir, p)) for p in paths]
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

def write_zones(tmp, cases):
    zdir = os.path.join(tmp, "zones")
    os.makedirs(zdir)
    records = {z: [] for z in SERVED_ZONES}
    seen = set()
    for c in cases:
        for owner, rest in c.dns:
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


def start_nsd(tmp, port, cases, procs):
    zdir = write_zones(tmp, cases)
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


# ---- authmilter ----------------------------------------------------------

def start_milter(tmp, port, dnsport, procs):
    exe = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
    if not os.access(exe, os.X_OK):
        raise RigError("%s: not built" % exe)
    conf = os.path.join(tmp, "authmilter.conf")
    write(conf, """\
socket = "inet:%d@127.0.0.1";
authserv_id = "%s";
dns = { nameservers = [ "127.0.0.1@%d" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.0/8", "::1/128" ];
skip_authenticated = true;
spf = { helo = true; };
""" % (port, AUTHSERV_ID, dnsport))
    chk = subprocess.run([exe, "-n", "-c", conf], capture_output=True,
                         text=True, timeout=TIMEOUT)
    if chk.returncode != 0:
        raise RigError("authmilter -n -c: exit %d: %s%s"
                       % (chk.returncode, chk.stdout, chk.stderr))
    err = open(os.path.join(tmp, "authmilter.stderr"), "wb")
    prefix = os.environ.get("E2E_MILTER_PREFIX", "").split()
    p = subprocess.Popen(prefix + [exe, "-f", "-c", conf], stdout=err,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(("authmilter", p))
    wait_for("authmilter", lambda: tcp_accepts(port), p)


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
milter_connect_timeout = 10s
milter_command_timeout = 30s
milter_content_timeout = 60s
"""


def start_postfix(tmp, ports, use_milter):
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
             smtpport=ports["smtp"],
             milter=("smtpd_milters = inet:127.0.0.1:%d" % ports["milter"])
             if use_milter else "smtpd_milters =")
    write(os.path.join(confdir, "main.cf"), MAIN_CF % v)
    write(os.path.join(confdir, "master.cf"), MASTER_CF % v)
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
    wait_for("postfix smtpd", lambda: smtp_greets(ports["smtp"]))
    return confdir


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


def play(c, port):
    """run the case's SMTP session; appends to c.outcomes"""
    env = c.env

    def done(stage, reply):
        c.outcomes.append((stage, reply))
    s = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT)
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
        for i, token in enumerate(c.tokens):
            if i > 0:
                s.rset()
            transaction(s, c, token, done)
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    finally:
        s.close()


def transaction(s, c, token, done):
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
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    s.send(data + b".\r\n")
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


def check_delivered(c, raw, use_milter):
    problems = []
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
        return problems
    ars = [f for f in fields if f[0].lower() == "authentication-results"]
    want = c.expect.get("ar", [])
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
    for rx in c.expect.get("header", []):
        if not any(re.search(rx, h) for h in rendered):
            problems.append("no header matches %r" % rx)
    for rx in c.expect.get("no_header", []):
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


def judge(c, sink, use_milter):
    """list of problems (empty: pass)"""
    if c.error:
        return ["sender: " + c.error]
    want = c.expect["smtp"]
    if not use_milter:
        want = "250"
    problems = []
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
        got = sink.messages.get(token)
        if not outcome.startswith("2"):
            if got:
                problems.append(tag + "rejected but delivered anyway")
            continue
        if not got:
            problems.append(tag + "accepted (%s) but not delivered to the "
                            "sink" % outcome)
        elif len(got) != 1:
            problems.append(tag + "delivered %d times" % len(got))
        else:
            problems += [tag + p for p in
                         check_delivered(c, got[0][1], use_milter)]
    return problems


# ---- main ----------------------------------------------------------------

def main(argv):
    use_milter = "--no-milter" not in argv
    keep = "--keep" in argv or os.environ.get("E2E_KEEP") == "1"
    only = [a for a in argv if not a.startswith("--")]
    srcdir = os.environ.get("top_srcdir",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
    try:
        cases = load_cases(os.path.join(srcdir, "t", "e2e", "cases"), only)
    except (CaseError, OSError) as e:
        log("e2e: bad case: %s" % e)
        return 99
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="am-e2e-")
    os.chmod(tmp, 0o755)        # Postfix's unprivileged daemons walk it
    procs = []
    confdir = None
    sink = None
    failed = 0
    daemon_bad = 0
    rig_broken = False
    try:
        p = free_ports(4)
        ports = dict(dns=p[0], milter=p[1], smtp=p[2], sink=p[3])
        os.makedirs(os.path.join(tmp, "sink"))
        sink = Sink(ports["sink"], os.path.join(tmp, "sink"))
        times = []
        t1 = time.monotonic()
        start_nsd(tmp, ports["dns"], cases, procs)
        times.append("nsd %.1f s" % (time.monotonic() - t1))
        if use_milter:
            t1 = time.monotonic()
            start_milter(tmp, ports["milter"], ports["dns"], procs)
            times.append("authmilter %.1f s" % (time.monotonic() - t1))
        t1 = time.monotonic()
        confdir = start_postfix(tmp, ports, use_milter)
        times.append("postfix %.1f s" % (time.monotonic() - t1))
        setup_s = time.monotonic() - t0
        for c in cases:
            t1 = time.monotonic()
            try:
                play(c, ports["smtp"])
            except Exception as e:    # one case's trouble is its own
                c.error = "%s: %s" % (type(e).__name__, e)
            c.ms = (time.monotonic() - t1) * 1e3
        tokens = [t for c in cases for t, (_, o) in zip(c.tokens, c.outcomes)
                  if o.startswith("2")]
        sink.wait(tokens)
        for c in cases:
            problems = judge(c, sink, use_milter)
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
        log("e2e: setup %.1f s (%s), total %.1f s%s"
            % (setup_s, ", ".join(times), time.monotonic() - t0,
               "" if use_milter else " (rig only, no milter)"))
    except Exception as e:      # anything here means the rig is broken
        log("e2e: rig failure: %s: %s" % (type(e).__name__, e))
        if not isinstance(e, RigError):
            traceback.print_exc(file=sys.stdout)
        rig_broken = True
    finally:
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
            if name == "authmilter" and pr.returncode not in (0, -15):
                # a crash during the run or a bad shutdown: one more failure
                log("FAIL authmilter-exit: the daemon ended with status %s"
                    % pr.returncode)
                if not rig_broken and not failed:
                    show_logs(tmp)
                daemon_bad = 1
        if sink:
            sink.close()
        if keep or failed or rig_broken or daemon_bad:
            log("e2e: files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if rig_broken:
        log("e2e: 0 passed, %d failed" % len(cases))
        return 99
    log("e2e: %d passed, %d failed" % (len(cases) - failed,
                                       failed + daemon_bad))
    return 1 if failed or daemon_bad else 0


def show_logs(tmp):
    for title, name in (("Postfix maillog", "maillog"),
                        ("authmilter stderr", "authmilter.stderr"),
                        ("NSD log", "nsd/nsd.log"),
                        ("NSD stderr", "nsd/nsd.stderr")):
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            log("--- %s (tail of %s)" % (title, path))
            log(tail(path))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main(sys.argv[1:]))
