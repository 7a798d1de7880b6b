#!/usr/bin/env python3
"""dnsd.py - a small authoritative DNS server on loopback for the suites.

Usage: dnsd.py --port BASE [--addr 127.0.0.1] [--ready FILE] [--log FILE]
               ZONES.txt [ZONES.txt ...]

Serves each block of flat zone data on its own port, UDP and TCP, on one
127.0.0.0/8 (or ::1) address: block 0 on BASE, block i on BASE+i, counted
across the files in order. Writes FILE ("ready <nblocks>") once every
socket is bound, then serves until killed. Only loopback addresses are
accepted.

The files are the flat suite files (t/spf-suite.py, t/dmarc-suite.py, or
written by t/dkim-suite --zones): one record a line, fields separated by
TAB, a field escapes backslash, TAB, CR, LF and NUL as \\\\, \\t, \\r, \\n,
\\0. Lines read here (others are ignored):

  SCENARIO ... | ZONE_RESET        start the next block
  ZONE <name> <TYPE> <value>       A, AAAA, PTR, CNAME, MX ("10 host"), TXT
                                   (one string, cut into 255-byte pieces)
  TXT <name> <TYPE> <n> <s1>..<sn> one TXT (or SPF, type 99) RR of n strings
  TIMEOUT <name> <types>           no answer at all for name, except for the
  SERVFAIL <name> <types>          comma-separated types listed (answered
                                   from the data); SERVFAIL answers rcode 2

Answers: names not listed are NXDOMAIN; a listed name without RRs of the
asked type is NODATA; both carry an SOA (TTL 5) in the authority section so
negative answers can be cached. CNAMEs are followed within the block. Over
UDP an answer larger than 512 bytes (or than the query's EDNS size, when it
advertises more) is sent empty with TC set; over TCP it is complete.
"""
import argparse
import ipaddress
import os
import selectors
import socket
import struct
import sys
import threading

try:
    from dnslib import (A, AAAA, CNAME, EDNS0, MX, PTR, QTYPE, RCODE, RR, SOA,
                        TXT, DNSHeader, DNSLabel, DNSRecord)
except ImportError:
    sys.stderr.write("dnsd.py: python3-dnslib is missing\n")
    sys.exit(1)

TTL = 300
NEG_TTL = 5
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16,
         "AAAA": 28, "SPF": 99}
UNESC = {b"t": b"\t", b"n": b"\n", b"r": b"\r", b"0": b"\0"}
LOG = None


def log(msg):
    if LOG is not None:
        LOG.write(msg + "\n")
        LOG.flush()


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i:i + 1]
        if c == b"\\" and i + 1 < len(s):
            n = s[i + 1:i + 2]
            out += UNESC.get(n, n)
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def labels(name):
    """a dotted name (bytes) as a tuple of labels; b"" and b"." are the root"""
    name = name.rstrip(b".")
    return tuple(name.split(b".")) if name else ()


def key(lab):
    return tuple(x.lower() for x in lab)


class Block:
    """one scenario's data"""

    def __init__(self, title):
        self.title = title
        self.rrs = {}       # key(labels) -> [(type, rdata)]
        self.special = {}   # key(labels) -> ("timeout"|"servfail", {types})

    def name(self, raw):
        k = key(labels(raw))
        self.rrs.setdefault(k, [])
        return k

    def add(self, raw, typ, rdata):
        self.rrs[self.name(raw)].append((typ, rdata))


def parse_rdata(typ, val):
    """presentation value (bytes) of ZONE lines to a dnslib rdata"""
    if typ == "A":
        return A(val.decode())
    if typ == "AAAA":
        return AAAA(val.decode())
    if typ in ("PTR", "CNAME"):
        return (PTR if typ == "PTR" else CNAME)(DNSLabel(labels(val)))
    if typ == "MX":
        parts = val.split(None, 1)
        host = parts[1].strip() if len(parts) > 1 else b""
        return MX(DNSLabel(labels(host)), int(parts[0]))
    if typ == "TXT":
        return TXT([val[i:i + 255] for i in range(0, len(val), 255)] or [b""])
    raise ValueError("type %s" % typ)


def load(paths):
    blocks = []
    for path in paths:
        with open(path, "rb") as f:
            for raw in f:
                f_ = [unescape(x) for x in raw.rstrip(b"\n").split(b"\t")]
                tag = f_[0].decode(errors="replace")
                if tag in ("SCENARIO", "ZONE_RESET"):
                    blocks.append(Block(f_[1].decode(errors="replace")
                                        if len(f_) > 1 else ""))
                    continue
                if not blocks or tag not in ("ZONE", "TXT", "TIMEOUT",
                                             "SERVFAIL"):
                    continue
                b = blocks[-1]
                try:
                    if tag == "ZONE" and len(f_) >= 4:
                        typ = f_[2].decode()
                        b.add(f_[1], TYPES[typ], parse_rdata(typ, f_[3]))
                    elif tag == "TXT" and len(f_) >= 4:
                        n = min(int(f_[3]), len(f_) - 4)
                        # a TXT RR of no character-string (the SPF suite's
                        # "null text") cannot be sent: RFC 1035 3.3.14 wants
                        # one or more, and libunbound drops such an answer
                        # as malformed. Its closest legal form is one empty
                        # string, which is what the table path serves too,
                        # so both paths run the same data (malformed
                        # answers are t/hostile's business).
                        strs = [s[:255] for s in f_[4:4 + n]] or [b""]
                        b.add(f_[1], TYPES[f_[2].decode()], TXT(strs))
                    elif tag in ("TIMEOUT", "SERVFAIL") and len(f_) >= 3:
                        answered = {TYPES[t] for t in
                                    f_[2].decode().split(",") if t}
                        b.special[b.name(f_[1])] = (tag.lower(), answered)
                except Exception as e:  # a value dnslib cannot hold
                    sys.stderr.write("dnsd.py: %s: block %d: skipped %r (%s)\n"
                                     % (path, len(blocks) - 1, raw, e))
    return blocks


def soa_for(qlab):
    """an SOA owned by the asked name's last two labels (a zone apex)"""
    apex = DNSLabel(qlab[-2:] if len(qlab) >= 2 else qlab)
    return RR(apex, QTYPE.SOA, ttl=NEG_TTL,
              rdata=SOA(DNSLabel(b"ns.dnsd.test"), DNSLabel(b"root.dnsd.test"),
                        (1, 3600, 600, 86400, NEG_TTL)))


def answer(block, req):
    """the reply to req, or None for no answer at all"""
    reply = DNSRecord(DNSHeader(id=req.header.id, bitmap=req.header.bitmap,
                                qr=1, aa=1, ra=0), q=req.q)
    qname = req.q.qname
    qtype = req.q.qtype
    lab = tuple(qname.label)
    seen = set()
    owner = qname
    while True:
        k = key(lab)
        sp = block.special.get(k)
        if sp is not None and qtype not in sp[1]:
            if sp[0] == "timeout":
                return None
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if k not in block.rrs:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(soa_for(tuple(qname.label)))
            return reply
        rrs = block.rrs[k]
        hit = [rd for t, rd in rrs if t == qtype]
        if hit:
            for rd in hit:
                reply.add_answer(RR(owner, qtype, ttl=TTL, rdata=rd))
            return reply
        cn = [rd for t, rd in rrs if t == QTYPE.CNAME]
        if cn and qtype != QTYPE.CNAME and k not in seen and len(seen) < 16:
            seen.add(k)
            reply.add_answer(RR(owner, QTYPE.CNAME, ttl=TTL, rdata=cn[0]))
            owner = cn[0].label
            lab = tuple(owner.label)
            continue
        reply.add_auth(soa_for(tuple(qname.label)))
        return reply


def respond(blocks, idx, data, udp):
    try:
        req = DNSRecord.parse(data)
    except Exception as e:  # a packet we cannot read: drop it
        log("block %d: unparseable query (%s)" % (idx, e))
        return None
    if req.header.qr or not req.q or len(req.questions) != 1:
        return None
    edns = [rr for rr in req.ar if rr.rtype == QTYPE.OPT]
    try:
        reply = answer(blocks[idx], req)
    except Exception as e:
        log("block %d: %s %s: SERVFAIL (%s)" % (idx, req.q.qname,
                                                 QTYPE.get(req.q.qtype), e))
        reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1,
                                    rcode=RCODE.SERVFAIL), q=req.q)
    if reply is None:
        log("block %d: %s %s: no answer (%s)" % (idx, req.q.qname,
            QTYPE.get(req.q.qtype), "udp" if udp else "tcp"))
        return None
    if edns:
        reply.add_ar(EDNS0(udp_len=1232))
    try:
        wire = reply.pack()
    except Exception as e:
        log("block %d: %s: cannot pack (%s): SERVFAIL" % (idx, req.q.qname, e))
        reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, aa=1,
                                    rcode=RCODE.SERVFAIL), q=req.q)
        wire = reply.pack()
    limit = max(512, edns[0].rclass) if edns else 512
    if udp and len(wire) > limit:
        tc = DNSRecord(DNSHeader(id=req.header.id, bitmap=reply.header.bitmap,
                                 tc=1), q=req.q)
        if edns:
            tc.add_ar(EDNS0(udp_len=1232))
        log("block %d: %s %s: %d bytes, truncated over UDP" % (
            idx, req.q.qname, QTYPE.get(req.q.qtype), len(wire)))
        return tc.pack()
    log("block %d: %s %s: %s, %d answers (%s)" % (
        idx, req.q.qname, QTYPE.get(req.q.qtype),
        RCODE.get(reply.header.rcode), len(reply.rr), "udp" if udp else "tcp"))
    return wire


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve_tcp(blocks, idx, conn):
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
                wire = respond(blocks, idx, data, False)
                if wire is not None:
                    conn.sendall(struct.pack("!H", len(wire)) + wire)
        except OSError:
            return


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--ready")
    ap.add_argument("--log")
    ap.add_argument("zones", nargs="+")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.addr).is_loopback:
        sys.stderr.write("dnsd.py: %s is not a loopback address\n" % a.addr)
        return 2
    if a.log:
        LOG = open(a.log, "w", encoding="utf-8", errors="replace")
    blocks = load(a.zones)
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    sel = selectors.DefaultSelector()
    for i in range(len(blocks)):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((a.addr, a.port + i))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((a.addr, a.port + i))
        t.listen(16)
        sel.register(u, selectors.EVENT_READ, ("udp", i))
        sel.register(t, selectors.EVENT_READ, ("tcp", i))
    if a.ready:
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write("ready %d\n" % len(blocks))
        os.rename(tmp, a.ready)
    while True:
        for sk, _ in sel.select():
            kind, i = sk.data
            if kind == "udp":
                try:
                    data, peer = sk.fileobj.recvfrom(65535)
                except OSError:
                    continue
                wire = respond(blocks, i, data, True)
                if wire is not None:
                    sk.fileobj.sendto(wire, peer)
            else:
                try:
                    conn, _ = sk.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=serve_tcp, args=(blocks, i, conn),
                                 daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
