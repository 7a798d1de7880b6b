#!/usr/bin/env python3
"""milterclient.py - a small milter-protocol (v6) client for tests.

Talks to a milter the way Postfix does: option negotiation (honouring the
milter's no-reply and skip requests), macros, connect, HELO, MAIL, RCPT,
headers, body, end of message. Returns the header edits, quarantine and
the final verdict so tests can assert them.

    c = MilterClient("inet:8891@127.0.0.1")
    r = c.message(ip="192.0.2.10", helo="mail.example.org",
                  mail_from="<user@example.org>", rcpts=["<a@b>"],
                  headers=[("From", " user@example.org")], body=b"hi\\r\\n")
    r["verdict"], r["inserted"], r["deleted"]
"""
import socket
import struct
import time

NR = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "L": 0x80,
      "N": 0x40000, "B": 0x80000, "T": 0x10000}
SKIP = {"C": 0x1, "H": 0x2, "M": 0x4, "R": 0x8, "B": 0x10, "L": 0x20,
        "N": 0x40, "T": 0x200}


class MilterError(Exception):
    pass


class MilterClient:
    def __init__(self, spec, timeout=30):
        kind, _, rest = spec.partition(":")
        if kind in ("unix", "local"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(rest)
        else:
            port, _, host = rest.partition("@")
            host = host.strip("[]") or "127.0.0.1"
            fam = socket.AF_INET6 if kind == "inet6" else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect((host, int(port)))
        self.actions = 0
        self.protocol = 0
        self.opened = None

    def close(self):
        try:
            self.send("Q")
        except OSError:
            pass
        self.sock.close()

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd.encode() + data)

    def recv(self):
        hdr = self._read(4)
        (n,) = struct.unpack(">I", hdr)
        if n < 1 or n > 1 << 20:
            raise MilterError("bad packet length %d" % n)
        pkt = self._read(n)
        return chr(pkt[0]), pkt[1:]

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise MilterError("milter closed the connection")
            buf += chunk
        return buf

    def negotiate(self):
        offered_prot = 0x1FFFFF | 0x100000
        self.send("O", struct.pack(">III", 6, 0x1FF, offered_prot))
        cmd, data = self.recv()
        if cmd != "O":
            raise MilterError("expected O, got %r" % cmd)
        _, self.actions, self.protocol = struct.unpack(">III", data[:12])
        return self.actions, self.protocol

    def macros(self, step, pairs):
        data = step.encode()
        for k, v in pairs.items():
            data += k.encode() + b"\0" + v.encode() + b"\0"
        self.send("D", data)

    def step(self, cmd, data=b""):
        """send a step; return its reply, or None where none is due"""
        if cmd in SKIP and self.protocol & SKIP[cmd]:
            return None
        self.send(cmd, data)
        if cmd in NR and self.protocol & NR[cmd]:
            return None
        return self.recv()

    @staticmethod
    def z(*parts):
        return b"".join(p.encode() + b"\0" for p in parts)

    def open(self, ip="192.0.2.10", hostname=None):
        """negotiate and send the connect step; returns its reply"""
        self.negotiate()
        self.macros("C", {"j": "mx.test.example", "{daemon_name}": "smtpd",
                          "{client_addr}": ip})
        fam = "6" if ":" in ip else "4"
        r = self.step("C", self.z(hostname or "[%s]" % ip) + fam.encode() +
                      struct.pack(">H", 25) + self.z(ip))
        self.opened = r or ("c", b"")
        return r

    def message(self, ip="192.0.2.10", helo="mail.example.org", hostname=None,
                mail_from="<user@example.org>", rcpts=("<rcpt@test.example>",),
                headers=(), body=b"", macros=None, queue_id="4ABCDEF",
                before_eom=None):
        macros = macros or {}
        r = self.opened if self.opened else self.open(ip, hostname)
        if r and r[0] not in "c":
            return {"verdict": r[0], "inserted": [], "deleted": [], "stage": "connect"}
        r = self.step("H", self.z(helo))
        if r and r[0] not in "c":
            return {"verdict": r[0], "inserted": [], "deleted": [], "stage": "helo"}
        mm = {"i": queue_id}
        mm.update(macros)
        self.macros("M", mm)
        r = self.step("M", self.z(mail_from))
        if r and r[0] not in "c":
            return {"verdict": r[0], "inserted": [], "deleted": [], "stage": "mail"}
        for rc in rcpts:
            self.macros("R", {})
            r = self.step("R", self.z(rc))
        # DATA: a milter that keeps this reply has seen MAIL by now
        self.step("T")
        for name, value in headers:
            if not (self.protocol & 0x100000) and value.startswith(" "):
                value = value[1:]
            r = self.step("L", self.z(name, value))
        self.step("N")
        if body:
            for i in range(0, len(body), 65535):
                self.step("B", body[i:i + 65535])
        if before_eom:
            before_eom()
        self.macros("E", {"i": queue_id})
        self.send("E")
        return self.read_eom()

    def read_eom(self):
        """the replies to end of message: header edits, quarantine, then
        the verdict"""
        out = {"verdict": None, "inserted": [], "deleted": [], "changed": [],
               "quarantine": None, "reply": None, "stage": "eom"}
        while True:
            cmd, data = self.recv()
            if cmd == "i":
                (idx,) = struct.unpack(">I", data[:4])
                name, value = cstrings(data[4:], 2)
                out["inserted"].append((idx, name, value))
            elif cmd == "h":
                name, value = cstrings(data, 2)
                out["inserted"].append((-1, name, value))
            elif cmd == "m":
                # index, name, value; an empty value deletes the field
                (idx,) = struct.unpack(">I", data[:4])
                name, value = cstrings(data[4:], 2)
                if value:
                    out["changed"].append((idx, name, value))
                else:
                    out["deleted"].append((idx, name))
            elif cmd == "q":
                (out["quarantine"],) = cstrings(data, 1)
            elif cmd == "p":
                continue
            elif cmd == "y":
                (out["reply"],) = cstrings(data, 1)
                out["verdict"] = out["reply"][:1] == "4" and "t" or "r"
                return out
            else:
                out["verdict"] = cmd
                return out


def poll_until(fn, limit, step=0.05):
    """call fn until it is true (an OSError counts as false); False when
    limit seconds ran out: the tests' one bounded wait"""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except OSError:
            pass
        time.sleep(step)
    return False


def cstrings(data, n):
    """exactly n NUL-terminated strings (an empty one is just its NUL):
    what libmilter sends for header edits, quarantine and replies"""
    parts = data.split(b"\0")
    if len(parts) != n + 1 or parts[n] != b"":
        raise MilterError("expected %d NUL-terminated strings, got %r" %
                          (n, data))
    return [p.decode() for p in parts[:n]]


def self_test():
    """parse the end-of-message replies of a scripted milter: a deleted
    field (empty value), a changed one, inserted and added ones,
    quarantine, then the verdict. Runs at import, so every test that
    uses this client checks its parser first."""
    a, b = socket.socketpair()
    try:
        c = MilterClient.__new__(MilterClient)
        c.sock = a
        c.sock.settimeout(5)

        def pkt(cmd, data):
            return struct.pack(">I", len(data) + 1) + cmd.encode() + data

        b.sendall(pkt("m", struct.pack(">I", 1) + b"Authentication-Results\0\0") +
                  pkt("m", struct.pack(">I", 2) + b"X-Spam\0 no\0") +
                  pkt("i", struct.pack(">I", 0) + b"Authentication-Results\0 mx; none\0") +
                  pkt("h", b"X-Added\0\0") +
                  pkt("q", b"held\0") + pkt("p", b"") + pkt("a", b""))
        r = c.read_eom()
        want = {"verdict": "a", "deleted": [(1, "Authentication-Results")],
                "changed": [(2, "X-Spam", " no")],
                "inserted": [(0, "Authentication-Results", " mx; none"),
                             (-1, "X-Added", "")],
                "quarantine": "held", "reply": None, "stage": "eom"}
        if r != want:
            raise MilterError("milterclient self-test: got %r, want %r" %
                              (r, want))
        for bad in (b"X\0", b"X\0v", b"X\0v\0\0"):
            try:
                cstrings(bad, 2)
            except MilterError:
                continue
            raise MilterError("milterclient self-test: %r accepted" % bad)
    finally:
        a.close()
        b.close()


self_test()

if __name__ == "__main__":
    print("milterclient: self-test passed")
