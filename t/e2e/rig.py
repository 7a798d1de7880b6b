"""rig.py - the e2e rig: a closed mail system on lo, and the sender.

Everything the e2e run starts and talks to: free ports, one DKIM key pair
per key name (openssl), NSD serving the cases' zones and the keys, one
authmilter per configuration group (and its `authmilter -t` runs), a
private Postfix with one smtpd service per group, the sink (a tiny SMTP
server that keeps each delivered message) and the blackhole (a port that
never answers). play() sends a case's SMTP session (XCLIENT, AUTH, DKIM
signing with dkimpy). Class Rig starts and stops the whole; its parts are
used alone by t/recipes/run.py too. What a case means is casefile.py's;
what passes is judge.py's.

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
  The base group (BASE_CONFIG) has DKIM, DMARC, ARC and iprev off, so the
  SPF cases keep their exact headers (the iprev cases turn it on); DKIM/DMARC cases carry a [config] that turns
  them on (spf.helo off, so the header is spf; dkim; dmarc). Each group
  other than the base gets "127.0.0.1:PORT inet ... smtpd -o
  smtpd_milters=inet:127.0.0.1:MPORT" in master.cf and its own daemon
  (stderr in authmilter-gN.stderr, config in authmilter-gN.conf).
  The base group's daemon listens on a unix socket (TMP/authmilter.sock),
  where it also skips the DATA reply (SMFIP_NR_DATA); the others on TCP,
  where it keeps it.
"""

import base64
import os
import pwd
import re
import secrets
import shutil
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from casefile import (AUTHSERV_ID, HOLD_HEADER, KEY_NAME, SERVED_ZONES,
                      TIMEOUT, CaseError, key_owner, key_specs,
                      milter_client,
                      split_settings, wants_hold, zone_of)

SASL_USER = "submitter"
SASL_PASSWORD = "e2e-secret"
MAX_GROUPS = 8                  # distinct authmilter configurations
# the base configuration; a case's [config] replaces settings by name
BASE_CONFIG = """\
authserv_id = "%s";
dns = { nameservers = [ "127.0.0.1@{dns}" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.0/8", "::1/128" ];
skip_authenticated = true;
spf = { helo = true; };
dkim = { enable = false; };
dmarc = { enable = false; };
arc = { enable = false; };
iprev = { enable = false; };
""" % AUTHSERV_ID


KEY_DIR = [None]               # where Keys made them ({keydir} in [config])


class RigError(Exception):
    pass


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


def stop_processes(procs, timeout=10):
    """SIGTERM every (name, Popen) still running, then wait for each,
    killing one that takes longer than timeout seconds"""
    for _, pr in procs:
        if pr.poll() is None:
            pr.terminate()
    for _, pr in procs:
        try:
            pr.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait()


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
        for spec in key_specs(c):
            owner = key_owner(spec)
            if spec["publish"] == "yes" and owner not in seen:
                seen.add(owner)
                out.append((owner, keys.record(spec["key"])))
    return out


def unfold(b):
    return re.sub(rb"\r?\n[ \t]", b" ", b)


def sign_message(c, data, keys):
    """sign and seal data (CRLF lines) and make c's edits, as c's [sign]
    lines say in their order; returns (data, [b= value of each DKIM
    line])"""
    if dkimpy is None:
        raise CaseError("dkimpy (python3-dkim) not importable by %s"
                        % sys.executable)
    bvals = []
    for op, what in c.ops:
        if op == "sign":
            data = dkim_sign(data, what, keys, bvals)
        elif op == "arc":
            data = arc_seal(data, what, keys)
        else:
            data = edit_message(data, what)
    return data, bvals


def dkim_sign(data, spec, keys, bvals):
    """one DKIM-Signature on top; its b= appended to bvals"""
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
    return sig + data


def arc_seal(data, spec, keys):
    """a list's or forwarder's ARC set on top (dkimpy's arc_sign), its AAR
    from an Authentication-Results of the sealer's put there for it and
    taken away after"""
    _, priv, _ = keys.keys[spec["key"]]
    ar = ("Authentication-Results: %s; %s\r\n"
          % (spec["srv-id"], spec["aar"])).encode()
    fields = dkimpy.arc_sign(ar + data, spec["s"].encode(),
                             spec["d"].encode(), priv,
                             spec["srv-id"].encode(),
                             include_headers=spec["headers"],
                             linesep=b"\r\n")
    if len(fields) != 3:
        raise RigError("arc_sign %s gave %r" % (spec["d"], fields))
    return b"".join(fields) + data


def edit_message(data, edit):
    """one after-signing edit: body += TEXT, header NAME = TEXT, line"""
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
    return head + b"\r\n\r\n" + body


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
        self.metrics_port = None        # its metrics endpoint (t/e2e/scrape.py)
        self.unix_path = None           # the base group talks over a unix socket
        self.smtp_port = None
        self.cases = []

    def config_text(self, ports):
        text = "\n".join(t for _, t in self.settings) + "\n"
        text = text.replace("{dns}", str(ports["dns"]))
        text = text.replace("{blackhole}", str(ports["blackhole"]))
        text = text.replace("{keydir}", KEY_DIR[0] or "/nonexistent")
        if self.metrics_port and not any(n == "metrics" for n, _ in self.settings):
            text += 'metrics = { listen = "127.0.0.1:%d"; };\n' % self.metrics_port
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
    if c.ops:
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


# ---- authmilter -t: the same verdict offline (judge.py compares) ---------

T_WORKERS = 6                   # -t runs at once (one blackholed copy
                                # waits for its DNS timeout)


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


# ---- the whole rig -------------------------------------------------------

def show_logs(tmp):
    """the tails of Postfix's maillog, every daemon's stderr and NSD's
    logs in tmp"""
    daemons = sorted(n for n in os.listdir(tmp)
                     if n.startswith("authmilter") and n.endswith(".stderr"))
    for title, name in [("Postfix maillog", "maillog")] + \
            [("%s stderr" % n[:-7], n) for n in daemons] + \
            [("NSD log", "nsd/nsd.log"), ("NSD stderr", "nsd/nsd.stderr")]:
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            log("--- %s (tail of %s)" % (title, path))
            log(tail(path))




class Rig:
    """the closed mail system of one run in a new temporary directory
    (tmp): start() sets it up for the cases and their groups, stop() takes
    it down. times: how long each part took to start; setup_s: the whole
    setup, from the directory on."""

    def __init__(self, use_milter):
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="am-e2e-")
        os.chmod(self.tmp, 0o755)   # Postfix's unprivileged daemons walk it
        self.use_milter = use_milter
        self.procs = []             # (name, Popen): NSD, the daemons
        self.confdir = None         # Postfix's, once it started
        self.sink = None
        self.blackhole = None
        self.keys = None
        self.ports = None           # dns, sink, blackhole
        self.times = []
        self.setup_s = 0.0

    def start(self, cases, groups):
        """ports, blackhole, sink, keys, NSD, the groups' daemons (with the
        milter) and Postfix; raises RigError (or anything) when a part
        does not come up"""
        tmp = self.tmp
        p = free_ports(3 + 3 * len(groups))
        self.ports = ports = dict(dns=p[0], sink=p[1], blackhole=p[2])
        for i, g in enumerate(groups):
            g.milter_port, g.smtp_port, g.metrics_port = p[3 + 3 * i: 6 + 3 * i]
        # the base group's cases go over a unix socket (no Nagle: there the
        # milter also skips the DATA reply), the other groups over TCP;
        # Postfix's smtpd (user postfix) must reach the socket
        groups[0].unix_path = os.path.join(tmp, "authmilter.sock")
        os.chmod(tmp, 0o711)
        self.blackhole = Blackhole(ports["blackhole"])
        os.makedirs(os.path.join(tmp, "sink"))
        self.sink = Sink(ports["sink"], os.path.join(tmp, "sink"))
        t1 = time.monotonic()
        self.keys = keys = Keys(os.path.join(tmp, "keys"),
                                {spec["key"] for c in cases
                                 for spec in key_specs(c)})
        KEY_DIR[0] = os.path.join(tmp, "keys")
        if keys.keys:
            self.times.append("%d keys %.1f s" % (len(keys.keys),
                                                  time.monotonic() - t1))
        t1 = time.monotonic()
        start_nsd(tmp, ports["dns"], cases, key_records(cases, keys),
                  self.procs)
        self.times.append("nsd %.1f s" % (time.monotonic() - t1))
        if self.use_milter:
            t1 = time.monotonic()
            for g in groups:
                if g.cases or g.index == 0:
                    start_milter(tmp, g, ports, self.procs)
            self.times.append("%d authmilter %.1f s"
                              % (len(groups), time.monotonic() - t1))
        t1 = time.monotonic()
        self.confdir = start_postfix(tmp, ports, self.use_milter, groups)
        self.times.append("postfix %.1f s" % (time.monotonic() - t1))
        self.setup_s = time.monotonic() - self.t0

    def stop(self, keep, shown):
        """stop Postfix, the processes, the sink and the blackhole; keep
        the temporary directory when keep or anything failed (shown: a
        failure already showed the logs). Returns the number of daemons
        that ended badly (a crash during the run or a bad shutdown), each
        reported by a FAIL line."""
        daemon_bad = 0
        if self.confdir:
            stop_postfix(self.confdir)
        for name, pr in self.procs:
            if pr.poll() is None:
                pr.terminate()
        for name, pr in self.procs:
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
                log("FAIL %s-exit: the daemon ended with status %s"
                    % (name, pr.returncode))
                if not shown and not daemon_bad:
                    show_logs(self.tmp)
                daemon_bad += 1
        if self.sink:
            self.sink.close()
        if self.blackhole:
            self.blackhole.close()
        if keep or shown or daemon_bad:
            log("e2e: files kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return daemon_bad
