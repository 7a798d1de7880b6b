#!/usr/bin/env python3
"""arc-dkimpy.py - cross-check lib/arc with a second implementation, dkimpy.

Usage: arc-dkimpy.py ARC_SUITE KNOWN TMPDIR

ARC_SUITE is the t/arc-suite program: "--verify ZONES MSG" prints our
chain validation, "--seal ZONES KEY DOMAIN SELECTOR SRVID AAR HEADERS T
MSG" writes MSG with our new ARC set on top (see t/arc-suite.c). ZONES is
written here: the key records of every sealer, as ZONE lines. dkimpy
(python3-dkim 1.1.4) seals with dkim.arc_sign() (it needs python3-authres
to read the Authentication-Results it copies into the AAR, and takes cv=
from their arc= result) and verifies with dkim.arc_verify() on the same
records (dnsfunc). Each case is a chain built hop by hop, then verified
by both; both must give the case's verdict, and on a pass our
header.oldest-pass must be the case's (0 when every AMS validates; 2 where
a list changed the body after instance 1):

  dkimpy-*  chains sealed by dkimpy (1 and 3 instances, rsa-sha256),
            intact and broken, verified by us (and by dkimpy itself, so a
            wrong case cannot hide a wrong verdict)
  ours-*    chains we seal (rsa-sha256, 1 and 3 instances), intact and
            broken, verified by dkimpy (and by us)
  mixed-*   dkimpy and we take turns, a mailing list in the middle

No ed25519 here: dkimpy 1.1.4 has none for ARC. arc_sign() fixes
rsa-sha256, ARC.sign() reads only PEM RSA keys, and arc_verify() answers
"unknown signature algorithm: ed25519-sha256" for an ed25519 seal (its
DKIM verify has ed25519, its ARC path not). Prints "arc dkimpy
cross-check: N/M". A case that disagrees fails unless KNOWN lists it as
"dkimpy:<case>" with its reason; a listed case that agrees fails too.
When dkimpy's arc_verify() raises on a chain (dkimpy 1.1.4 finds the raw
ARC-Message-Signature by the bytes " i=N;", so a fold of CRLF TAB right
before i= makes it raise IndexError), the verdict is "error", and the
verdict on the same chain refolded with CRLF SP is shown beside it. All
cases run a second time with the folds of every set we make turned from
CRLF TAB into CRLF SP before the next hop sees it ("dkimpy-crlfsp:<case>",
"arc dkimpy cross-check, our folds made CRLF SP: N/M"): what dkimpy says
about our seals apart from that quirk.
"""
import base64
import os
import subprocess
import sys
import time

try:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError as e:
    sys.stderr.write("arc-dkimpy.py: %s (contrib/deps.sh installs python3-dkim, "
                     "python3-authres, python3-nacl, python3-cryptography)\n" % e)
    sys.exit(1)

SUITE = KNOWN = TMP = None
REFOLD = False  # our seals' CRLF TAB folds made CRLF SP (see run())
RECORDS = {}   # "sel._domainkey.domain" -> TXT value
KEYS = {}      # name -> (pem path, pem bytes)
NOW = int(time.time())
BASE = (b"Received: from author.example (author.example [192.0.2.1])\r\n"
        b"\tby mx.author.example with ESMTP; Sat, 5 Dec 2026 07:00:00 +0000\r\n"
        b"From: Alice Author <alice@author.example>\r\n"
        b"To: list@lists.example\r\n"
        b"Subject: ARC cross-check\r\n"
        b"Date: Sat, 5 Dec 2026 07:00:00 +0000\r\n"
        b"Message-ID: <arc-xcheck@author.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"Hello list,\r\n"
        b"\r\n"
        b"  a line with  inner   spaces and trailing ones   \r\n"
        b"-- \r\nAlice\r\n")
HEADERS = [b"from", b"to", b"subject", b"date", b"message-id",
           b"mime-version", b"content-type"]


def key(name):
    """an RSA key for sealer NAME (selector NAME, domain NAME.example) and
    its record; kept for the run"""
    if name not in KEYS:
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = k.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
        pub = k.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        path = os.path.join(TMP, "key-%s.pem" % name)
        with open(path, "wb") as f:
            f.write(pem)
        RECORDS["%s._domainkey.%s.example" % (name, name)] = (
            "v=DKIM1; k=rsa; p=%s" % base64.b64encode(pub).decode())
        KEYS[name] = (path, pem)
    return KEYS[name]


def zones():
    path = os.path.join(TMP, "dkimpy-zones.txt")
    with open(path, "w") as f:
        f.write("ZONE_RESET\tdkimpy\n")
        for n, v in sorted(RECORDS.items()):
            f.write("ZONE\t%s\tTXT\t%s\n" % (n, v))
    return path


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    v = RECORDS.get(name.rstrip(".").lower())
    return v.encode() if v is not None else None


def ar(srv, cv, extra=b"spf=pass smtp.mailfrom=author.example"):
    """the Authentication-Results an ADMD writes before it seals"""
    arc = b"arc=%s; " % cv.encode() if cv else b""
    return b"Authentication-Results: %s; %s%s\r\n" % (srv, arc, extra)


def dkimpy_verdict(msg, refold=True):
    """pass, fail, none, "terminated" (dkimpy's None for a chain whose
    ARC-Seal says cv=fail) or "error" (it raised)"""
    try:
        cv, _, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    except Exception as e:
        why = "arc_verify raised %s: %s" % (type(e).__name__, e)
        if refold and b"\r\n\t" in msg:
            again, r2 = dkimpy_verdict(msg.replace(b"\r\n\t", b"\r\n "),
                                       False)
            why += "; refolded with CRLF SP: %s (%s)" % (again, r2)
        return "error", why
    if cv is None:
        return "terminated", reason
    cv = cv.decode() if isinstance(cv, bytes) else str(cv)
    return cv.lower(), reason


def our_verdict(msg):
    """our cv, reason and header.oldest-pass (0: every AMS passes)"""
    path = os.path.join(TMP, "xcheck-msg.eml")
    with open(path, "wb") as f:
        f.write(msg)
    p = subprocess.run([SUITE, "--verify", zones(), path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        return "error", p.stderr.decode(errors="replace").strip()
    out = p.stdout.decode(errors="replace").rstrip("\n").split("\t")
    if len(out) != 4:
        return "error", "arc-suite --verify said %r" % p.stdout
    return out[0], out[1], int(out[3])


def dkimpy_seal(msg, name, cv, headers=None):
    """one hop by dkimpy: its AR (cv: the arc= it computed) and its set"""
    key(name)
    srv = b"%s.example" % name.encode()
    msg = ar(srv, cv) + msg
    sigs = dkim.arc_sign(msg, name.encode(), srv, KEYS[name][1], srv,
                         include_headers=headers, timestamp=NOW)
    if not sigs:
        raise RuntimeError("dkimpy added no ARC set (%s)" % name)
    return b"".join(sigs) + msg


def our_seal(msg, name, headers=None):
    """one hop by us: the chain is verified by arc-suite itself (cv=)"""
    key(name)
    srv = "%s.example" % name
    path = os.path.join(TMP, "xcheck-in.eml")
    with open(path, "wb") as f:
        f.write(msg)
    p = subprocess.run([SUITE, "--seal", zones(), KEYS[name][0], srv, name,
                        srv, "spf=pass smtp.mailfrom=author.example",
                        ":".join(h.decode() for h in headers) if headers
                        else "-", str(NOW), path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode == 3:  # RFC 8617 5.1: no set after a cv=fail seal
        return msg
    if REFOLD:
        head, sep, rest = p.stdout.partition(msg)
        return head.replace(b"\r\n\t", b"\r\n ") + sep + rest
    if p.returncode != 0:
        raise RuntimeError("arc-suite --seal (%s): %s" % (
            name, p.stderr.decode(errors="replace").strip()))
    return p.stdout


def hop(msg, who, name, headers=None, modify=None):
    """one hop; modify (dkimpy hops): what the intermediary changes after
    its verification and before it seals (a mailing list's footer)"""
    if who == "dkimpy":
        cv, why = dkimpy_verdict(msg)
        if cv == "terminated":
            return msg  # no set after a cv=fail seal (RFC 8617 5.1)
        if cv not in ("pass", "fail", "none"):
            raise RuntimeError("dkimpy cannot verify the chain it is to "
                               "seal (%s): %s" % (name, why))
        if modify is not None:
            msg = modify(msg)
        return dkimpy_seal(msg, name, cv if cv != "none" else None, headers)
    return our_seal(msg, name, headers)


def alter_body(msg):
    return msg.replace(b"Hello list,", b"Hello list, [footer added]", 1)


def alter_field(msg, field, instance, old, new):
    """replace old by new (once) in the header field named field whose
    value starts with i=instance"""
    head, body = msg.split(b"\r\n\r\n", 1)
    fields = []
    for ln in head.split(b"\r\n"):
        if ln[:1] in (b" ", b"\t") and fields:
            fields[-1].append(ln)
        else:
            fields.append([ln])
    for f in fields:
        text = b"\r\n".join(f)
        name, _, value = text.partition(b":")
        flat = b"".join(value.split())
        if name.strip().lower() == field and \
                flat.startswith(b"i=%d;" % instance):
            f[:] = text.replace(old, new, 1).split(b"\r\n")
            break
    return b"\r\n".join(b"\r\n".join(f) for f in fields) + \
        b"\r\n\r\n" + body


def build(steps):
    msg = BASE
    for s in steps:
        if callable(s):
            msg = s(msg)
        else:
            msg = hop(msg, *s)
    return msg


CASES = [
    # name, the hops (who, sealer name[, headers, modify]) and
    # changes in transit, the verdict both must give[, our oldest-pass on
    # a pass: 0 (every AMS validates) unless given]
    ("dkimpy-1", [("dkimpy", "list1", HEADERS)], "pass"),
    ("dkimpy-1-default-headers", [("dkimpy", "list1")], "pass"),
    ("dkimpy-3", [("dkimpy", "list1"), ("dkimpy", "fwd2"),
                  ("dkimpy", "mx3")], "pass"),
    ("dkimpy-1-body-altered", [("dkimpy", "list1"), alter_body], "fail"),
    ("dkimpy-3-list-modifies", [("dkimpy", "list1"),
                                ("dkimpy", "list2", None, alter_body),
                                ("dkimpy", "mx3")], "pass", 2),
    ("dkimpy-3-body-altered", [("dkimpy", "list1"), ("dkimpy", "fwd2"),
                               ("dkimpy", "mx3"), alter_body], "fail"),
    ("dkimpy-3-middle-aar-altered",
     [("dkimpy", "list1"), ("dkimpy", "fwd2"), ("dkimpy", "mx3"),
      lambda m: alter_field(m, b"arc-authentication-results", 2,
                            b"spf=pass", b"spf=fail")], "fail"),
    ("dkimpy-3-cv-fail", [("dkimpy", "list1"), alter_body, ("dkimpy", "fwd2"),
                          ("dkimpy", "mx3")], "fail"),
    ("ours-1", [("ours", "our1", HEADERS)], "pass"),
    ("ours-1-default-headers", [("ours", "our1")], "pass"),
    ("ours-3", [("ours", "our1"), ("ours", "our2"), ("ours", "our3")],
     "pass"),
    ("ours-1-body-altered", [("ours", "our1"), alter_body], "fail"),
    ("ours-3-middle-aar-altered",
     [("ours", "our1"), ("ours", "our2"), ("ours", "our3"),
      lambda m: alter_field(m, b"arc-authentication-results", 2,
                            b"spf=pass", b"spf=fail")], "fail"),
    ("ours-3-cv-fail", [("ours", "our1"), alter_body, ("ours", "our2"),
                        ("ours", "our3")], "fail"),
    ("mixed-dkimpy-ours-dkimpy", [("dkimpy", "list1"), ("ours", "our2"),
                                  ("dkimpy", "mx3")], "pass"),
    ("mixed-ours-dkimpy-ours", [("ours", "our1"), ("dkimpy", "fwd2"),
                                ("ours", "our3")], "pass"),
    ("mixed-list-modifies-ours", [("dkimpy", "list1"),
                                  ("dkimpy", "list2", None, alter_body),
                                  ("ours", "our3")], "pass", 2),
]


def load_known(path):
    known = {}
    with open(path) as f:
        for ln in f:
            ln = ln.rstrip("\r\n")
            if ln.startswith("dkimpy:") or ln.startswith("dkimpy-crlfsp:"):
                known[ln.split("\t", 1)[0]] = False
    return known


def run(prefix, known, verbose):
    """every case once; our seals refolded with CRLF SP when REFOLD is set.
    Returns (agreeing, failures)."""
    agree = failed = 0
    for case in CASES:
        name, steps, want = case[:3]
        cid = prefix + ":" + name
        old_ok = True
        try:
            msg = build(steps)
            us, usr, *oldest = our_verdict(msg)
            them, themr = dkimpy_verdict(msg)
            if us == "pass" and want == "pass":
                want_old = case[3] if len(case) > 3 else 0
                old_ok = oldest[0] == want_old
                usr = "oldest-pass=%d%s" % (oldest[0], "" if old_ok else
                                            ", want %d" % want_old)
            what = "want %s, us %s (%s), dkimpy %s (%s)" % (want, us, usr,
                                                            them, themr)
        except Exception as e:  # a hop that could not be made
            us = them = "error"
            what = "want %s, the chain cannot be built: %s" % (want, e)
        match = us == want and them == want and old_ok
        if verbose:
            print("case %s: %s" % (cid, what))
        agree += match
        if cid in known:
            known[cid] = True
            if match:
                print("arc-dkimpy: FAIL %s is listed in the known differences "
                      "but agrees now" % cid)
                failed += 1
            else:
                print("known difference %s: %s" % (cid, what))
        elif not match:
            print("arc-dkimpy: FAIL %s: %s" % (cid, what))
            failed += 1
    return agree, failed


def main():
    global SUITE, KNOWN, TMP, REFOLD
    if len(sys.argv) != 4:
        sys.stderr.write("usage: arc-dkimpy.py ARC_SUITE KNOWN TMPDIR\n")
        return 2
    SUITE, KNOWN, TMP = sys.argv[1:]
    known = load_known(KNOWN)
    verbose = os.environ.get("ARC_SUITE_VERBOSE")
    REFOLD = False
    agree, failed = run("dkimpy", known, verbose)
    REFOLD = True
    ragree, rfailed = run("dkimpy-crlfsp", known, verbose)
    failed += rfailed
    for cid, seen in known.items():
        if not seen:
            print("arc-dkimpy: FAIL known difference %s: no such case" % cid)
            failed += 1
    print("arc dkimpy cross-check: %d/%d" % (agree, len(CASES)))
    print("arc dkimpy cross-check, our folds made CRLF SP: %d/%d" % (
        ragree, len(CASES)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
