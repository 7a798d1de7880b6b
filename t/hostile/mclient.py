"""mclient.py - t/milterclient.py's MilterClient, with an end-of-message
reader of our own for t/hostile.py.

MilterClient's message() reads the end-of-message replies itself; this
wrapper keeps its transport (negotiate, macros, step, send, recv) and
replaces message(): header replies other than "continue" end the message
there (as the MTA would), and header lines are sent as given (bytes or
str); the replies at the end of message are MilterClient.read_eom()'s.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from milterclient import MilterClient, MilterError  # noqa: E402,F401

VERDICTS = {"a": "accept", "c": "continue", "r": "reject", "t": "tempfail",
            "d": "discard", "y": "reply"}


class Client(MilterClient):
    def __init__(self, spec, timeout=30):
        super().__init__(spec, timeout)
        # each step is a small write followed by a read: without this,
        # Nagle's algorithm and delayed ACKs cost ~40 ms a connection
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _early(self, r, stage):
        return {"verdict": r[0], "inserted": [], "deleted": [], "changed": [],
                "quarantine": None, "reply": r[1].rstrip(b"\0").decode(
                    errors="replace") if r[0] == "y" else None,
                "stage": stage}

    def message(self, ip="192.0.2.10", helo="mail.example.org", hostname=None,
                mail_from="<user@example.org>", rcpts=("<rcpt@test.example>",),
                headers=(), body=b"", macros=None, queue_id="4ABCDEF",
                before_eom=None):
        r = self.opened if self.opened else self.open(ip, hostname)
        if r and r[0] != "c":
            return self._early(r, "connect")
        r = self.step("H", self.z(helo))
        if r and r[0] != "c":
            return self._early(r, "helo")
        mm = {"i": queue_id}
        mm.update(macros or {})
        self.macros("M", mm)
        r = self.step("M", self.z(mail_from))
        if r and r[0] != "c":
            return self._early(r, "mail")
        for rc in rcpts:
            self.macros("R", {})
            r = self.step("R", self.z(rc))
            if r and r[0] != "c":
                return self._early(r, "rcpt")
        r = self.step("T")
        if r and r[0] != "c":
            return self._early(r, "data")
        lead = bool(self.protocol & 0x100000)
        for name, value in headers:
            if isinstance(name, str):
                name = name.encode()
            if isinstance(value, str):
                value = value.encode()
            if not lead and value.startswith(b" "):
                value = value[1:]
            r = self.step("L", name + b"\0" + value + b"\0")
            if r and r[0] != "c":
                return self._early(r, "header")
        r = self.step("N")
        if r and r[0] != "c":
            return self._early(r, "eoh")
        for i in range(0, len(body), 65535):
            r = self.step("B", body[i:i + 65535])
            if r and r[0] not in "cs":
                return self._early(r, "body")
        if before_eom:
            before_eom()
        self.macros("E", {"i": queue_id})
        self.send("E")
        return self.read_eom()
