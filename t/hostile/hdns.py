#!/usr/bin/env python3
"""hdns.py - a hostile DNS server on loopback for t/hostile.py.

Usage: hdns.py --addr 127.0.0.x --port N --dkim-key FILE --timeout-ms MS
               --ready FILE [--log FILE]

Serves UDP and TCP on one 127.0.0.0/8 address (nothing else is accepted).
Every name ends in "<zone>.test"; the letters at the start of <zone> pick
the behaviour, so each case can use fresh names (slow1.test, slow2.test)
that no cache has seen. Per zone three names matter:

  <zone>.test, mail.<zone>.test TXT: the SPF record    (kind "spf")
  _dmarc.<zone>.test            TXT: the DMARC record  (kind "dmarc")
  <sel>._domainkey.<zone>.test  TXT: the DKIM key      (kind "dkim")

Anything else is NXDOMAIN, another type at those names NODATA. The usable
records are "v=spf1 ip4:192.0.2.10 -all", "v=DMARC1; p=reject" (ok zones)
or "v=DMARC1; p=none" (hostile zones), and "v=DKIM1; k=rsa; p=<the key in
--dkim-key>". Behaviours (by zone prefix):

  ok        the usable records
  big       one TXT RR of about 60 KB: the usable record padded (SPF: 3500
            ip4 terms before the matching one; DKIM: an n= note; DMARC: an
            unknown tag); needs TCP
  many      500 TXT RRs at the name: 499 junk strings and the usable record
            (the DKIM junk records come first); needs TCP
  loop      a CNAME loop: N -> zz.N -> N
  chain     a CNAME chain of 20: N -> c1.N -> ... -> c20.N (the record)
  tcrefused UDP: an empty answer with TC set; TCP: closed without a reply
  garbage   random bytes (behind the right query ID), UDP and TCP
  badlen    a header that announces 3 answers and an RR whose RDLENGTH runs
            past the end of the packet
  wrongid   the answer ("v=spf1 +all", p=none, the key) with another ID
  wrongq    the right ID, but the question and answer are for another name
            ("v=spf1 +all"): accepting it would be cache poisoning
  slow      the usable records, sent timeout-ms + 1000 ms late
  lag       the usable records, sent 250 ms late: slow, but inside
            libunbound's first retransmission timeout (376 ms for a
            server it has no RTT of) and dns.timeout_ms, so every lookup
            succeeds and a message waits for it
  late      the usable records, sent 12 s late (after libunbound's own
            retries of an abandoned lookup)
  mute      no answer at all
  servfail  rcode SERVFAIL
  refused   rcode REFUSED

Over UDP an answer larger than 512 bytes (or the query's EDNS size) goes
out empty with TC set. Writes "ready" to the --ready file once bound.
"""
import argparse
import base64
import heapq
import ipaddress
import os
import random
import re
import selectors
import socket
import struct
import sys
import threading
import time

try:
    from dnslib import (CNAME, EDNS0, QTYPE, RCODE, RR, SOA, TXT, DNSHeader,
                        DNSLabel, DNSRecord)
except ImportError:
    sys.stderr.write("hdns.py: python3-dnslib is missing\n")
    sys.exit(1)

# the TCP framing helper of the suites' server (t/dnsd.py)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dnsd import recv_exact  # noqa: E402

TTL = 300
LOG = None
LOG_LOCK = threading.Lock()
DKIM_P = ""
SLOW_S = 2.0
LATE_S = 12.0
LAG_S = 0.25
CHAIN = 20


def log(msg):
    if LOG is not None:
        with LOG_LOCK:
            LOG.write(msg + "\n")
            LOG.flush()


def split255(s):
    b = s.encode() if isinstance(s, str) else s
    return [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]


def usable(kind, beh, name):
    if kind == "spf":
        return "v=spf1 ip4:192.0.2.10 -all"
    if kind == "dmarc":
        return "v=DMARC1; p=reject" if beh == "ok" else "v=DMARC1; p=none"
    return "v=DKIM1; k=rsa; p=" + DKIM_P


def classify(lab):
    """(behaviour, kind, zone labels) of a query name, or None"""
    if len(lab) < 2 or lab[-1] != b"test":
        return None
    zone = lab[-2].decode(errors="replace")
    m = re.match(r"[a-z]+", zone)
    if not m:
        return None
    beh = m.group(0)
    rest = lab[:-2]
    # the chain and loop prefixes are not part of the name's kind
    while rest and (re.fullmatch(rb"c\d+", rest[0]) or rest[0] == b"zz"):
        rest = rest[1:]
    if not rest or rest == (b"mail",):
        kind = "spf"  # the MAIL FROM domain, or the HELO name
    elif rest == (b"_dmarc",):
        kind = "dmarc"
    elif len(rest) == 2 and rest[1] == b"_domainkey":
        kind = "dkim"
    else:
        kind = None
    return beh, kind, lab[-2:]


def soa(zone):
    return RR(DNSLabel(zone), QTYPE.SOA, ttl=5,
              rdata=SOA(DNSLabel(b"ns.hdns.test"), DNSLabel(b"root.hdns.test"),
                        (1, 3600, 600, 86400, 5)))


def reply_for(req):
    return DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1, ra=0,
                               rd=req.header.rd), q=req.q)


def txt_rrs(name, kind, beh, qname_lab):
    """the TXT RRs a behaviour serves at a name of that kind"""
    rec = usable(kind, beh, qname_lab)
    if beh == "big":
        if kind == "spf":
            pad = "".join("ip4:198.51.%d.%d " % (i // 250, i % 250)
                          for i in range(3500))
            rec = "v=spf1 " + pad + "ip4:192.0.2.10 -all"
        elif kind == "dmarc":
            rec = "v=DMARC1; p=none; x=" + "y" * 60000
        else:
            rec = rec + "; n=" + "n" * 60000
        return [RR(name, QTYPE.TXT, ttl=TTL, rdata=TXT(split255(rec)))]
    if beh == "many":
        junk = [RR(name, QTYPE.TXT, ttl=TTL,
                   rdata=TXT(split255("junk record %03d of 500 at this name" % i)))
                for i in range(499)]
        good = RR(name, QTYPE.TXT, ttl=TTL, rdata=TXT(split255(rec)))
        return junk + [good] if kind == "dkim" else [good] + junk
    if beh in ("wrongid", "wrongq") and kind == "spf":
        rec = "v=spf1 +all"
    return [RR(name, QTYPE.TXT, ttl=TTL, rdata=TXT(split255(rec)))]


def answer(req):
    """the actions for a parsed query: a list of (what, bytes|DNSRecord,
    delay), what being "send" or "tcclose"; [] for no answer at all. The
    slow behaviours delay (or drop) whatever their zone answers."""
    acts = answer_now(req)
    c = classify(tuple(x.lower() for x in req.q.qname.label))
    beh = c[0] if c else None
    if beh == "mute":
        return []
    delay = {"slow": SLOW_S, "late": LATE_S, "lag": LAG_S}.get(beh)
    if delay:
        return [(w, obj, delay) for (w, obj, _) in acts]
    return acts


def answer_now(req):
    q = req.q
    lab = tuple(x.lower() for x in q.qname.label)
    c = classify(lab)
    r = reply_for(req)
    if c is None:
        r.header.rcode = RCODE.NXDOMAIN
        return [("send", r, 0)]
    beh, kind, zone = c
    if beh == "servfail":
        r.header.rcode = RCODE.SERVFAIL
        return [("send", r, 0)]
    if beh == "refused":
        r.header.rcode = RCODE.REFUSED
        return [("send", r, 0)]
    if beh == "garbage":
        junk = bytes(random.getrandbits(8) for _ in range(random.randint(12, 300)))
        return [("send", struct.pack("!H", req.header.id) + junk, 0)]
    if beh == "badlen":
        qwire = req.q.pack()
        hdr = struct.pack("!HHHHHH", req.header.id, 0x8400, 1, 3, 0, 0)
        rr = (b"\xc0\x0c" + struct.pack("!HHIH", QTYPE.TXT, 1, TTL, 500) +
              b"\x20only a few bytes of it")
        return [("send", hdr + qwire + rr, 0)]
    if beh == "loop" and kind is not None:
        target = lab[1:] if lab[0] == b"zz" else (b"zz",) + lab
        r.add_answer(RR(q.qname, QTYPE.CNAME, ttl=TTL,
                        rdata=CNAME(DNSLabel(target))))
        return [("send", r, 0)]
    if beh == "chain" and kind is not None:
        m = re.fullmatch(rb"c(\d+)", lab[0])
        n = int(m.group(1)) if m else 0
        if n < CHAIN:
            base = lab[1:] if m else lab
            target = (b"c%d" % (n + 1),) + base
            r.add_answer(RR(q.qname, QTYPE.CNAME, ttl=TTL,
                            rdata=CNAME(DNSLabel(target))))
            return [("send", r, 0)]
    if kind is None:
        r.header.rcode = RCODE.NXDOMAIN
        r.add_auth(soa(zone))
        return [("send", r, 0)]
    if q.qtype != QTYPE.TXT:
        r.add_auth(soa(zone))
        return [("send", r, 0)]
    if beh == "wrongq":
        other = DNSLabel((b"other",) + zone)
        r = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1, rd=req.header.rd))
        r.add_question(type(q)(other, QTYPE.TXT))
        for rr in txt_rrs(other, kind, beh, lab):
            r.add_answer(rr)
        return [("send", r, 0)]
    for rr in txt_rrs(q.qname, kind, beh, lab):
        r.add_answer(rr)
    if beh == "wrongid":
        r.header.id = req.header.id ^ 0x5A5A
    if beh == "tcrefused":
        return [("tcclose", r, 0)]
    return [("send", r, 0)]


def wire_of(req, obj, udp):
    """bytes to send for a DNSRecord or raw bytes; TC over UDP when big"""
    if isinstance(obj, bytes):
        return obj
    edns = [rr for rr in req.ar if rr.rtype == QTYPE.OPT]
    if edns:
        obj.add_ar(EDNS0(udp_len=1232))
    wire = obj.pack()
    limit = max(512, edns[0].rclass) if edns else 512
    if udp and len(wire) > limit:
        tc = DNSRecord(DNSHeader(id=obj.header.id, qr=1, aa=1, tc=1,
                                 rd=req.header.rd), q=req.q)
        if edns:
            tc.add_ar(EDNS0(udp_len=1232))
        return tc.pack()
    return wire


def handle(data, udp):
    """list of (bytes or None for close, delay)"""
    try:
        req = DNSRecord.parse(data)
    except Exception as e:
        log("unparseable query (%s)" % e)
        return []
    if req.header.qr or len(req.questions) != 1:
        return []
    try:
        acts = answer(req)
    except Exception as e:  # a bug of ours must not look like a behaviour
        log("%s: internal error %r" % (req.q.qname, e))
        r = reply_for(req)
        r.header.rcode = RCODE.SERVFAIL
        acts = [("send", r, 0)]
    out = []
    for act in acts:
        kind, obj, delay = act
        if kind == "tcclose":
            if udp:
                tc = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1, tc=1,
                                         rd=req.header.rd), q=req.q)
                out.append((tc.pack(), 0))
            else:
                out.append((None, 0))
        else:
            out.append((wire_of(req, obj, udp), delay))
    log("%s %s %s: %s" % ("udp" if udp else "tcp", req.q.qname,
                          QTYPE.get(req.q.qtype),
                          ", ".join("close" if w is None else
                                    "%d bytes%s" % (len(w), " late" if d else "")
                                    for w, d in out) or "no answer"))
    return out


def serve_tcp(conn):
    lock = threading.Lock()

    def send(w):
        with lock:
            try:
                conn.sendall(struct.pack("!H", len(w) & 0xFFFF) + w)
            except OSError:
                pass

    with conn:
        conn.settimeout(30)
        try:
            while True:
                head = recv_exact(conn, 2)
                if head is None:
                    return
                data = recv_exact(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                for w, delay in handle(data, False):
                    if w is None:
                        return
                    if delay:
                        t = threading.Timer(delay, send, (w,))
                        t.daemon = True
                        t.start()
                    else:
                        send(w)
        except OSError:
            return


def main():
    global LOG, DKIM_P, SLOW_S
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dkim-key", required=True)
    ap.add_argument("--timeout-ms", type=int, required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.addr).is_loopback:
        sys.stderr.write("hdns.py: %s is not a loopback address\n" % a.addr)
        return 2
    if a.log:
        LOG = open(a.log, "w", encoding="utf-8", errors="replace")
    with open(a.dkim_key) as f:
        DKIM_P = f.read().strip()
    base64.b64decode(DKIM_P)
    SLOW_S = (a.timeout_ms + 1000) / 1000.0
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    # a burst of queries (t/hostile.py's crowd) must wait in the socket,
    # not be dropped: 4 MB (FORCE: past rmem_max, we are root)
    try:
        u.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE
    except OSError:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    u.bind((a.addr, a.port))
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((a.addr, a.port))
    t.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(u, selectors.EVENT_READ, "udp")
    sel.register(t, selectors.EVENT_READ, "tcp")
    tmp = a.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("ready\n")
    os.rename(tmp, a.ready)

    def sendto(w, peer):
        try:
            u.sendto(w, peer)
        except OSError:
            pass

    # the late UDP answers: one thread and a heap of (when, seq, bytes,
    # peer), not a thread per answer (hundreds at once fell behind)
    late = []
    late_cv = threading.Condition()
    seq = [0]

    def sender():
        while True:
            with late_cv:
                while not late or late[0][0] > time.monotonic():
                    late_cv.wait(None if not late else
                                 late[0][0] - time.monotonic())
                _, _, w, peer = heapq.heappop(late)
            sendto(w, peer)
    threading.Thread(target=sender, daemon=True).start()

    while True:
        for sk, _ in sel.select():
            if sk.data == "udp":
                try:
                    data, peer = u.recvfrom(65535)
                except OSError:
                    continue
                for w, delay in handle(data, True):
                    if w is None:
                        continue
                    if delay:
                        with late_cv:
                            seq[0] += 1
                            heapq.heappush(late, (time.monotonic() + delay,
                                                  seq[0], w, peer))
                            late_cv.notify()
                    else:
                        sendto(w, peer)
            else:
                try:
                    conn, _ = t.accept()
                except OSError:
                    continue
                threading.Thread(target=serve_tcp, args=(conn,),
                                 daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
