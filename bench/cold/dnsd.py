#!/usr/bin/python3
"""dnsd.py - a slow authoritative DNS server for bench/cold/run: every
answer is sent DELAY ms after its query came in, each on its own timer, so
thousands of queries can wait at once (asyncio, one thread).

Usage: dnsd.py --addr 127.0.0.1 --port N --delay-ms D --dkim-pub FILE
               --ready FILE --stats FILE [--no-include] [--log FILE]

Serves UDP and TCP on one loopback address (a 127.0.0.0/8 address only).
The data is made from the query name, for any number K:

  dK.cold.test                 TXT "v=spf1 include:_spf.dK.cold.test -all"
                                   (--no-include: the record below)
  _spf.dK.cold.test            TXT "v=spf1 ip4:192.0.2.10 -all"
  mx.dK.cold.test (the HELO)   TXT "v=spf1 ip4:192.0.2.10 -all", A 192.0.2.10
  _dmarc.dK.cold.test          TXT "v=DMARC1; p=reject"
  sel._domainkey.dK.cold.test  TXT "v=DKIM1; k=rsa; p=<--dkim-pub>"
  mx.cold.test                 A 192.0.2.10
  10.2.0.192.in-addr.arpa      PTR mx.cold.test. (iprev of the client)
  cold.test, test, 2.0.192.in-addr.arpa   SOA, NS

Another type at one of those names is NODATA; any other name under test
or 2.0.192.in-addr.arpa is NXDOMAIN (both with the zone's SOA, TTL 300,
for negative caching); a name outside them is REFUSED. Answers are authoritative, TTL
3600. Over UDP an answer larger than the query's EDNS size (512 without
EDNS) goes out empty with TC set, and the client comes back over TCP.

The UDP socket gets an 8 MB receive buffer (SO_RCVBUFFORCE): with the
default 208 KB a burst of a thousand queries overflows it, and every
query lost there comes again after the client's retransmission timeout.
Writes "ready" to --ready once both sockets are bound. On SIGTERM or
SIGINT it writes --stats (JSON: queries over UDP and TCP, by type, the
distinct name/type pairs, how many came again while one was waiting
(retransmissions), the most waiting at once, the latest answer beyond
the delay (max_late_ms: this server falling behind), and the network
namespace's UDP counters over the server's life from /proc/net/snmp:
udp_rcvbuf_errors, udp_in_errors, datagrams dropped on a full receive
buffer, the server's or the daemon's) and exits 0. --log: one
line per query, "seconds-since-start proto qtype name": a timeline of
what was asked when.
"""
import argparse
import asyncio
import base64
import ipaddress
import json
import re
import signal
import socket
import struct
import sys
import time

try:
    from dnslib import (A, EDNS0, NS, PTR, QTYPE, RCODE, RR, SOA, TXT,
                        DNSHeader, DNSLabel, DNSRecord)
except ImportError:
    sys.exit("dnsd.py: python3-dnslib is missing (apt-get install "
             "python3-dnslib; run with /usr/bin/python3)")

TTL = 3600
NEG_TTL = 300
CLIENT_IP = "192.0.2.10"
PTR_NAME = ("10", "2", "0", "192", "in-addr", "arpa")
SPF_IP = "v=spf1 ip4:%s -all" % CLIENT_IP
ZONES = (("cold", "test"), ("test",), ("2", "0", "192", "in-addr", "arpa"))
DOM = re.compile(r"d[0-9]{1,9}\Z")


class Server:
    def __init__(self, delay_s, dkim_pub, include, log=None):
        self.log = log
        self.delay = delay_s
        self.dkim = "v=DKIM1; k=rsa; p=" + dkim_pub
        self.include = include
        self.st = {"queries": 0, "udp": 0, "tcp": 0, "tc": 0, "bad": 0,
                   "by_type": {}, "again_while_waiting": 0,
                   "max_waiting": 0}
        self.seen = set()
        self.waiting = {}   # (name, type) -> answers pending
        self.nwait = 0
        self.t0 = time.monotonic()
        self.last = 0.0
        self.max_late = 0.0
        self.snmp0 = udp_snmp()

    # ---- the data --------------------------------------------------------
    def records(self, lab):
        """{qtype: [rdata...]} at the name (labels, lower case), or None
        when the name does not exist"""
        n = len(lab)
        if lab in ZONES:
            return {"SOA": None, "NS": None}
        if lab == PTR_NAME:
            return {"PTR": PTR(DNSLabel("mx.cold.test."))}
        if lab == ("mx", "cold", "test"):
            return {"A": A(CLIENT_IP)}
        if n < 3 or lab[-2:] != ("cold", "test"):
            return None
        # the labels below dK.cold.test
        if not DOM.match(lab[-3]):
            return None
        d = ".".join(lab[-3:])
        below = lab[:-3]
        if below == ():
            rec = ("v=spf1 include:_spf.%s -all" % d) if self.include \
                else SPF_IP
            return {"TXT": rec}
        if below == ("_spf",) and self.include:
            return {"TXT": SPF_IP}
        if below == ("mx",):
            return {"TXT": SPF_IP, "A": A(CLIENT_IP)}
        if below == ("_dmarc",):
            return {"TXT": "v=DMARC1; p=reject"}
        if below == ("sel", "_domainkey"):
            return {"TXT": self.dkim}
        return None

    @staticmethod
    def zone_of(lab):
        for z in ZONES:
            if lab[len(lab) - len(z):] == z:
                return z
        return None

    @staticmethod
    def soa_rr(z):
        name = DNSLabel(".".join(z) + ".")
        return RR(name, QTYPE.SOA, ttl=NEG_TTL,
                  rdata=SOA(DNSLabel("ns.cold.test."),
                            DNSLabel("hostmaster.cold.test."),
                            (1, 3600, 600, 86400, NEG_TTL)))

    def answer(self, req):
        q = req.q
        r = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1, ra=0,
                                rd=req.header.rd), q=q)
        lab = tuple(x.decode("ascii", "replace").lower()
                    for x in q.qname.label)
        z = self.zone_of(lab)
        if z is None:
            r.header.aa = 0
            r.header.rcode = RCODE.REFUSED
            return r
        recs = self.records(lab)
        qt = QTYPE.get(q.qtype)
        if recs is None:
            r.header.rcode = RCODE.NXDOMAIN
            r.add_auth(self.soa_rr(z))
            return r
        if qt == "SOA" and "SOA" in recs:
            r.add_answer(self.soa_rr(z))
            return r
        if qt == "NS" and "NS" in recs:
            r.add_answer(RR(q.qname, QTYPE.NS, ttl=TTL,
                            rdata=NS(DNSLabel("ns.cold.test."))))
            return r
        v = recs.get(qt) if qt not in ("SOA", "NS") else None
        if v is None:
            r.add_auth(self.soa_rr(z))       # NODATA
            return r
        if qt == "TXT":
            b = v.encode()
            v = TXT([b[i:i + 255] for i in range(0, len(b), 255)])
        r.add_answer(RR(q.qname, getattr(QTYPE, qt), ttl=TTL, rdata=v))
        return r

    # ---- bookkeeping -----------------------------------------------------
    def begin(self, req, proto):
        st = self.st
        st["queries"] += 1
        st[proto] += 1
        qt = QTYPE.get(req.q.qtype)
        st["by_type"][qt] = st["by_type"].get(qt, 0) + 1
        key = (str(req.q.qname).lower(), req.q.qtype)
        if self.waiting.get(key):
            st["again_while_waiting"] += 1
        self.waiting[key] = self.waiting.get(key, 0) + 1
        self.seen.add(key)
        self.nwait += 1
        st["max_waiting"] = max(st["max_waiting"], self.nwait)
        self.last = time.monotonic()
        if self.log is not None:
            self.log.write("%.3f\t%s\t%s\t%s\n" % (
                self.last - self.t0, proto, QTYPE.get(req.q.qtype), key[0]))
        return key

    def end(self, key, t_in):
        self.waiting[key] -= 1
        self.nwait -= 1
        late = time.monotonic() - t_in - self.delay
        if late > self.max_late:
            self.max_late = late

    def stats(self):
        s = dict(self.st)
        s["distinct"] = len(self.seen)
        s["still_waiting"] = self.nwait
        s["last_query_s"] = round(self.last - self.t0, 3) if self.last else 0
        s["delay_ms"] = round(self.delay * 1000)
        s["max_late_ms"] = round(self.max_late * 1000, 1)
        snmp1 = udp_snmp()
        for k in ("RcvbufErrors", "InErrors"):
            if k in snmp1 and k in self.snmp0:
                s["udp_" + k.lower().replace("errors", "_errors")] = \
                    snmp1[k] - self.snmp0[k]
        return s


def udp_snmp():
    """the Udp: counters of this network namespace, {} if unreadable"""
    try:
        with open("/proc/net/snmp") as f:
            rows = [ln.split() for ln in f if ln.startswith("Udp:")]
        return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}
    except (OSError, IndexError, ValueError):
        return {}


def edns_size(req):
    for rr in req.ar:
        if rr.rtype == QTYPE.OPT:
            return max(512, rr.rclass)
    return 512


class Udp(asyncio.DatagramProtocol):
    def __init__(self, srv):
        self.srv = srv
        self.tr = None

    def connection_made(self, transport):
        self.tr = transport

    def datagram_received(self, data, addr):
        srv = self.srv
        try:
            req = DNSRecord.parse(data)
        except Exception:
            srv.st["bad"] += 1
            return
        if req.header.qr or not req.questions:
            srv.st["bad"] += 1
            return
        key = srv.begin(req, "udp")
        loop = asyncio.get_running_loop()
        loop.call_later(srv.delay, self.send, req, addr, key,
                        time.monotonic())

    def send(self, req, addr, key, t_in):
        srv = self.srv
        srv.end(key, t_in)
        r = srv.answer(req)
        size = edns_size(req)
        if any(rr.rtype == QTYPE.OPT for rr in req.ar):
            r.add_ar(EDNS0(udp_len=1232))
        wire = r.pack()
        if len(wire) > size:
            r.rr, r.auth = [], []
            r.header.tc = 1
            srv.st["tc"] += 1
            wire = r.pack()
        self.tr.sendto(wire, addr)


async def tcp_client(srv, reader, writer):
    """length-prefixed queries; each answered after the delay, in any
    order, on the same connection"""
    lock = asyncio.Lock()

    async def one(req, key, t_in):
        await asyncio.sleep(srv.delay)
        srv.end(key, t_in)
        wire = srv.answer(req).pack()
        async with lock:
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()

    tasks = set()
    try:
        while True:
            hdr = await asyncio.wait_for(reader.readexactly(2), 60)
            (n,) = struct.unpack("!H", hdr)
            data = await asyncio.wait_for(reader.readexactly(n), 60)
            try:
                req = DNSRecord.parse(data)
            except Exception:
                srv.st["bad"] += 1
                break
            if req.header.qr or not req.questions:
                srv.st["bad"] += 1
                break
            key = srv.begin(req, "tcp")
            t = asyncio.ensure_future(one(req, key, time.monotonic()))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError,
            ConnectionError):
        pass
    if tasks:
        await asyncio.wait(tasks, timeout=srv.delay + 5)
    writer.close()


async def main_async(a):
    log = open(a.log, "w", buffering=1 << 16) if a.log else None
    srv = Server(a.delay_ms / 1000.0, open(a.dkim_pub).read().strip(),
                 not a.no_include, log)
    loop = asyncio.get_running_loop()
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt, force in (
            (socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", 33)),
            (socket.SO_SNDBUF, getattr(socket, "SO_SNDBUFFORCE", 32))):
        try:
            us.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
        except OSError:
            us.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
    us.bind((a.addr, a.port))
    await loop.create_datagram_endpoint(lambda: Udp(srv), sock=us)
    tcp = await asyncio.start_server(
        lambda r, w: tcp_client(srv, r, w), a.addr, a.port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(a.ready, "w") as f:
        f.write("ready\n")
    await stop.wait()
    tcp.close()
    if log is not None:
        log.close()
    with open(a.stats, "w") as f:
        json.dump(srv.stats(), f, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=int, required=True)
    ap.add_argument("--dkim-pub", required=True,
                    help="file with the base64 public key (the p= value)")
    ap.add_argument("--ready", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--no-include", action="store_true",
                    help="one SPF lookup per domain instead of two")
    ap.add_argument("--log", help="one line per query to this file")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.addr) in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("dnsd.py: --addr must be in 127.0.0.0/8")
    if not 0 <= a.delay_ms <= 60000:
        sys.exit("dnsd.py: --delay-ms: 0..60000")
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
