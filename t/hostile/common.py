"""common.py - the pieces t/hostile.py's cases share: the hostile DNS
server as a process, the daemon as a process (with its fd count and VmRSS
from /proc), DKIM-signed messages and the Authentication-Results they get.
"""
import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mclient import Client, MilterError  # noqa: E402,F401
from milterclient import poll_until  # noqa: E402

try:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError as e:  # a missing tool fails, never skips
    sys.stdout.write("hostile: FAIL: %s (contrib/deps.sh installs "
                     "python3-dkim and python3-cryptography)\n" % e)
    sys.exit(1)

BIN = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
AUTHSERV = "mx.hostile.test"
CLIENT_IP = "192.0.2.10"
DNS_ADDR = "127.0.0.2"
DNS_PORT = 5300
TIMEOUT_MS = int(os.environ.get("HOSTILE_TIMEOUT_MS", "1000"))  # dns.timeout_ms of every daemon here
BUDGET_MS = int(os.environ.get("HOSTILE_BUDGET_MS", "4000"))  # policy.dns_budget_ms
BODY = b"Hello.\r\n\r\nA short body.\r\n"


def wait_for(fn, limit, step=0.02):
    """poll fn until true; False when limit seconds ran out"""
    return poll_until(fn, limit, step)


class Keys:
    """one RSA-2048 key for every DKIM signature here"""

    def __init__(self, tmp):
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = k.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
        der = k.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.pub_file = os.path.join(tmp, "dkim.pub")
        with open(self.pub_file, "w") as f:
            f.write(base64.b64encode(der).decode() + "\n")


class DNS:
    """t/hostile/hdns.py on DNS_ADDR:DNS_PORT (UDP and TCP)"""

    def __init__(self, tmp, keys):
        ready = os.path.join(tmp, "hdns.ready")
        self.log = os.path.join(tmp, "hdns.log")
        self.err = open(os.path.join(tmp, "hdns.err"), "w")
        self.p = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "hdns.py"), "--addr", DNS_ADDR,
             "--port", str(DNS_PORT), "--dkim-key", keys.pub_file,
             "--timeout-ms", str(TIMEOUT_MS), "--ready", ready,
             "--log", self.log], stdout=self.err, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(ready) or self.p.poll() is not None, 20) \
                or self.p.poll() is not None:
            raise SystemExit("hostile: FAIL: the DNS server did not start: " +
                             open(self.err.name).read()[-500:])

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Daemon:
    """authmilter -f -c CONF on a free 127.0.0.1 port, forwarding DNS to
    the hostile server"""

    def __init__(self, tmp, name, extra="", helo=False):
        self.helo = helo
        self.tmp = tmp
        self.name = name
        self.port = free_port()
        self.spec = "inet:%d@127.0.0.1" % self.port
        self.conf = os.path.join(tmp, name + ".conf")
        self.write_conf(extra)
        self.logname = os.path.join(tmp, name + ".log")
        self.logf = open(self.logname, "w")
        self.p = subprocess.Popen([BIN, "-f", "-c", self.conf],
                                  stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.p.pid

        def up():
            if self.p.poll() is not None:
                raise SystemExit("hostile: FAIL: %s: authmilter exited %s: %s"
                                 % (name, self.p.returncode, self.logtext()[-500:]))
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        if not wait_for(up, 20):
            self.stop()
            raise SystemExit("hostile: FAIL: %s: authmilter did not listen" % name)

    def write_conf(self, extra="", authserv=AUTHSERV):
        with open(self.conf, "w") as f:
            f.write('socket = "%s";\nauthserv_id = "%s";\n'
                    'trusted_networks = [ ];\nmilter_timeout = 10;\n'
                    'dns = { nameservers = [ "%s@%d" ]; timeout_ms = %d; };\n'
                    'spf = { helo = %s; };\n'
                    'policy = { dns_budget_ms = %d; };\n%s'
                    % (self.spec, authserv, DNS_ADDR, DNS_PORT, TIMEOUT_MS,
                       "true" if self.helo else "false", BUDGET_MS, extra))

    def alive(self):
        return self.p.poll() is None

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.pid))

    def logtext(self):
        with open(self.logname, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self.logf.close()
        return self.p.returncode


def message_headers(dom, sign=True, keys=None, from_dom=None,
                    selectors=("sel",)):
    """the header list of a message from a@FROM_DOM.test (default DOM),
    DKIM-signed by d=DOM.test once per selector when sign"""
    base = [("From", " a@%s.test" % (from_dom or dom)), ("To", " r@hostile.test"),
            ("Subject", " hostile input"),
            ("Date", " Thu, 04 Dec 2025 10:00:00 +0000"),
            ("Message-ID", " <%s.%d@%s.test>" % (dom, time.monotonic_ns(), dom))]
    hdrs = list(base)
    if sign:
        raw = b"".join(("%s:%s\r\n" % (n, v)).encode() for n, v in base) + \
            b"\r\n" + BODY
        for sel in selectors:
            sig = dkim.sign(raw, sel.encode(), ("%s.test" % dom).encode(), keys.pem,
                            include_headers=[b"from", b"to", b"subject", b"date",
                                             b"message-id"])
            name, _, value = sig.decode().partition(":")
            hdrs.insert(0, (name, value.replace("\r\n", "").rstrip()))
    return hdrs


AR_RE = re.compile(r"(?:^|;)\s*(spf|dkim|dmarc)=([a-z]+)")


def results(r):
    """{method: [result, ...]} from the Authentication-Results we wrote,
    and that header's value ("" when none)"""
    ars = [v for (_, n, v) in r.get("inserted", [])
           if n.lower() == "authentication-results"]
    out = {}
    value = ars[0] if ars else ""
    for m, res in AR_RE.findall(value):
        out.setdefault(m, []).append(res)
    return out, value


def send(d, dom, keys, sign=True, headers=None, timeout=30, **kw):
    """one message through a fresh connection; the reply dict with "res",
    "ar" and "secs" added. Raises MilterError/OSError on a broken
    connection."""
    t0 = time.monotonic()
    c = Client(d.spec, timeout=timeout)
    try:
        r = c.message(ip=CLIENT_IP, helo="mail.%s.test" % dom,
                      mail_from="<a@%s.test>" % dom, rcpts=("<r@hostile.test>",),
                      headers=headers if headers is not None else
                      message_headers(dom, sign, keys), body=BODY, **kw)
    finally:
        c.close()
    r["secs"] = time.monotonic() - t0
    r["res"], r["ar"] = results(r)
    return r


def brief(r):
    """a short description of a reply for the report"""
    if r is None:
        return "no reply"
    s = "verdict=%s" % r.get("verdict")
    if r.get("reply"):
        s += " reply=%r" % r["reply"]
    if r.get("res"):
        s += " " + " ".join("%s=%s" % (m, ",".join(v)) for m, v in sorted(r["res"].items()))
    elif r.get("verdict") in ("a", "c"):
        s += " header=%r" % r.get("ar", "")[:120]
    if "secs" in r:
        s += " (%.1fs)" % r["secs"]
    return s
