#!/usr/bin/python3
"""make-corpus.py - the benchmark corpus: keys, DNS zones, messages and
their expected verdicts.

Usage: /usr/bin/python3 bench/corpus/make-corpus.py -o OUTDIR [--sizes 2,20,200]

Writes into OUTDIR (created; it must not exist or be empty):
  keys/      rsa2048.pem, rsa1024.pem (openssl genpkey), ed25519.key
             (dkimpy's form: base64 of the 32-octet seed)
  zones/     example.org.zone, example.com.zone, example.net.zone for NSD:
             SPF, DKIM key and DMARC records of every case; org.zone,
             com.zone, net.zone: the top-level zones, empty (SOA and NS),
             so that RFC 9989's tree walk, which ends at _dmarc.org,
             _dmarc.com or _dmarc.net, gets an authoritative NXDOMAIN there
             (not a REFUSED, a temperror for it); 2.0.192.in-addr.arpa and
             100.51.198.in-addr.arpa: a PTR for each client address, to a
             name whose A record is that address (iprev=pass, answers
             the caches keep, as at an MX; without them each PTR query
             was REFUSED and went to the server again). bench/run serves
             every zone file in this directory.
  msgs/      one message per case and body size, CRLF line ends, as the
             MTA hands it to a milter (headers, blank line, body)
  corpus.tsv header line, then one row per message (tab-separated):
               id file client_ip helo mail_from rcpt auth_user
               exp_spf exp_dkim exp_dmarc exp_action case size_kb
             file is relative to OUTDIR. mail_from is "<>" for the null
             sender; auth_user is empty when the client did not authenticate.
             exp_spf:    the RFC 7208 result for the MAIL FROM identity
                         (postmaster@HELO for the null sender)
             exp_dkim:   the dkim= results, space-separated, in signature
                         order ("none" when unsigned)
             exp_dmarc:  the DMARC result: pass, fail or none, the same
                         under RFC 9989 (the DNS tree walk) and RFC 7489
                         (the Public Suffix List): the corpus has no case
                         where the two differ (t/e2e has those), so both of
                         authmilter's dmarc.discovery modes and the peers
                         are judged against one expectation
             exp_action: accept, reject or quarantine, for a receiver that
                         enforces the policy (p=reject rejects, p=quarantine
                         holds; pct=0 is the next policy down: RFC 7489
                         6.6.4, and RFC 9989's reading of a legacy pct=0
                         as t=y)
             For an SMTP-authenticated client every exp_ column is "-"
             except exp_action (accept): a receiver skips its own users
             (authmilter's skip_authenticated, OpenDMARC's
             IgnoreAuthenticatedClients) and writes no verdict.
  cases.txt  one line per case: name and what it tests

Every expectation comes from the RFCs, not from any implementation. The
signatures are made with dkimpy (python3-dkim) and checked again with
dkimpy against the zone data before anything is written, so a dkim
expectation that the signer itself would not meet stops the generator.
Client addresses are from TEST-NET-1 and TEST-NET-2; every domain is under
example.org, example.com or example.net. Exit 0, or 1 with a message.
"""

import argparse
import base64
import os
import random
import subprocess
import sys
import time

try:
    import dkim
except ImportError:
    sys.exit("make-corpus: python3-dkim is missing (run with /usr/bin/python3;"
             " apt-get install python3-dkim)")

GOOD_IP = "192.0.2.10"          # inside every sender's SPF record
BAD_IP = "198.51.100.66"        # outside them
HELO = "mta.sender.example.net"  # SPF passes for both addresses
RCPT = "rcpt@inbound.example.net"
SPF_GOOD = "v=spf1 ip4:192.0.2.0/26 -all"
ZONES = ["example.org", "example.com", "example.net", "org", "com", "net",
         "2.0.192.in-addr.arpa", "100.51.198.in-addr.arpa"]
BAD_IP_NAME = "mx.outside.example.com"   # BAD_IP's PTR name
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id",
                  b"mime-version", b"content-type"]
SELECTORS = {"rsa2048": "rsa2048", "rsa1024": "rsa1024",
             "ed25519": "ed25519"}
ALG = {"rsa2048": b"rsa-sha256", "rsa1024": b"rsa-sha256",
       "ed25519": b"ed25519-sha256"}

# DMARC records (owner: value). example.org has no organizational record,
# so a From domain under it without its own record has no policy.
DMARC = {
    "signed.example.org": "v=DMARC1; p=reject",
    "bounce.example.org": "v=DMARC1; p=reject",
    "pnone.example.org": "v=DMARC1; p=none",
    "pquar.example.org": "v=DMARC1; p=quarantine",
    "preject.example.org": "v=DMARC1; p=reject",
    "pct.example.org": "v=DMARC1; p=reject; pct=0",
    "strict.example.com": "v=DMARC1; p=reject; adkim=s; aspf=s",
    "relaxed.example.com": "v=DMARC1; p=reject",
    "example.com": "v=DMARC1; p=none; sp=reject",
    "example.net": "v=DMARC1; p=reject; sp=none",
    "own.example.net": "v=DMARC1; p=quarantine; sp=none",
}
# domains that sign (every selector is published under each)
SIGNERS = ["signed.example.org", "other.example.net", "strict.example.com",
           "mail.strict.example.com", "mail.relaxed.example.com",
           "bulk.example.com"]

# The cases. from/mail_from are addresses; ip is GOOD_IP or BAD_IP; sign is
# None or (domain, key, canonicalization); alter appends a line to the body
# after signing; exp is (spf, dkim, dmarc, action).
CASES = [
    dict(name="rsa2048-relaxed", what="rsa-2048 relaxed/relaxed, SPF pass, "
         "both aligned", frm="news@signed.example.org",
         mf="bounce@signed.example.org", ip=GOOD_IP,
         sign=("signed.example.org", "rsa2048", "relaxed/relaxed"),
         exp=("pass", "pass", "pass", "accept")),
    dict(name="rsa2048-simple", what="rsa-2048 simple/simple, SPF fail: "
         "DMARC passes through DKIM alone", frm="news@signed.example.org",
         mf="bounce@signed.example.org", ip=BAD_IP,
         sign=("signed.example.org", "rsa2048", "simple/simple"),
         exp=("fail", "pass", "pass", "accept")),
    dict(name="rsa1024-relaxed", what="rsa-1024 (the RFC 8301 minimum), SPF "
         "fail", frm="news@signed.example.org",
         mf="bounce@signed.example.org", ip=BAD_IP,
         sign=("signed.example.org", "rsa1024", "relaxed/relaxed"),
         exp=("fail", "pass", "pass", "accept")),
    dict(name="rsa1024-simple", what="rsa-1024 simple/simple, SPF pass",
         frm="news@signed.example.org", mf="bounce@signed.example.org",
         ip=GOOD_IP, sign=("signed.example.org", "rsa1024", "simple/simple"),
         exp=("pass", "pass", "pass", "accept")),
    dict(name="ed25519-relaxed", what="ed25519-sha256 (RFC 8463), SPF fail",
         frm="news@signed.example.org", mf="bounce@signed.example.org",
         ip=BAD_IP, sign=("signed.example.org", "ed25519", "relaxed/relaxed"),
         exp=("fail", "pass", "pass", "accept")),
    dict(name="ed25519-simple", what="ed25519-sha256 simple/simple, SPF pass",
         frm="news@signed.example.org", mf="bounce@signed.example.org",
         ip=GOOD_IP, sign=("signed.example.org", "ed25519", "simple/simple"),
         exp=("pass", "pass", "pass", "accept")),
    dict(name="unsigned-spf-pass", what="unsigned, aligned SPF pass",
         frm="news@signed.example.org", mf="bounce@signed.example.org",
         ip=GOOD_IP, sign=None, exp=("pass", "none", "pass", "accept")),
    dict(name="body-altered", what="rsa-2048, body changed after signing, "
         "SPF fail, p=reject", frm="news@signed.example.org",
         mf="bounce@signed.example.org", ip=BAD_IP,
         sign=("signed.example.org", "rsa2048", "relaxed/relaxed"),
         alter=True, exp=("fail", "fail", "fail", "reject")),
    dict(name="body-altered-spf-pass", what="simple/simple, body changed "
         "after signing, aligned SPF pass", frm="news@signed.example.org",
         mf="bounce@signed.example.org", ip=GOOD_IP,
         sign=("signed.example.org", "rsa2048", "simple/simple"),
         alter=True, exp=("pass", "fail", "pass", "accept")),
    dict(name="from-misaligned", what="valid signature and SPF pass, both "
         "for another organization than From (p=reject)",
         frm="ceo@signed.example.org", mf="bounce@other.example.net",
         ip=GOOD_IP, sign=("other.example.net", "rsa2048", "relaxed/relaxed"),
         exp=("pass", "pass", "fail", "reject")),
    dict(name="strict-pass", what="adkim=s aspf=s, d= equals the From "
         "domain", frm="news@strict.example.com",
         mf="bounce@strict.example.com", ip=BAD_IP,
         sign=("strict.example.com", "rsa2048", "relaxed/relaxed"),
         exp=("fail", "pass", "pass", "accept")),
    dict(name="strict-fail", what="adkim=s aspf=s, d= and MAIL FROM are a "
         "subdomain of the From domain: aligned only in relaxed mode",
         frm="news@strict.example.com", mf="bounce@mail.strict.example.com",
         ip=GOOD_IP,
         sign=("mail.strict.example.com", "rsa2048", "relaxed/relaxed"),
         exp=("pass", "pass", "fail", "reject")),
    dict(name="strict-sibling", what="adkim=s aspf=s, d= and MAIL FROM are "
         "a sibling of the From domain under the same organizational domain",
         frm="news@strict.example.com", mf="bounce@bulk.example.com",
         ip=GOOD_IP, sign=("bulk.example.com", "rsa2048", "relaxed/relaxed"),
         exp=("pass", "pass", "fail", "reject")),
    dict(name="relaxed-pass", what="relaxed alignment: d= is a subdomain of "
         "the From domain, SPF fail", frm="news@relaxed.example.com",
         mf="bounce@mail.relaxed.example.com", ip=BAD_IP,
         sign=("mail.relaxed.example.com", "rsa2048", "relaxed/relaxed"),
         exp=("fail", "pass", "pass", "accept")),
    dict(name="p-none", what="unsigned, SPF fail, p=none",
         frm="news@pnone.example.org", mf="bounce@pnone.example.org",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "accept")),
    dict(name="p-quarantine", what="unsigned, SPF fail, p=quarantine",
         frm="news@pquar.example.org", mf="bounce@pquar.example.org",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "quarantine")),
    dict(name="p-reject", what="unsigned, SPF fail, p=reject",
         frm="news@preject.example.org", mf="bounce@preject.example.org",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "reject")),
    dict(name="pct0", what="p=reject pct=0: outside the sample the next "
         "policy down applies, quarantine (RFC 7489 6.6.4; RFC 9989 reads "
         "a legacy pct=0 as t=y, the same)",
         frm="news@pct.example.org", mf="bounce@pct.example.org",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "quarantine")),
    dict(name="sp-reject", what="subdomain without a record: the "
         "organizational record's sp=reject applies (its p=none does not)",
         frm="news@shop.example.com", mf="bounce@shop.example.com",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "reject")),
    dict(name="sp-reject-deep", what="a 9-label subdomain without a "
         "record: the organizational record's sp=reject applies; RFC 9989's "
         "tree walk takes its longest path here, 8 _dmarc queries (the "
         "author domain, then cut to 7 labels, one less each step, to "
         "_dmarc.com), the PSL way 2",
         frm="news@a.b.c.d.e.f.shop.example.com",
         mf="bounce@a.b.c.d.e.f.shop.example.com",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "reject")),
    dict(name="sp-none", what="subdomain without a record: the "
         "organizational record's sp=none applies (its p=reject does not)",
         frm="news@shop.example.net", mf="bounce@shop.example.net",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "accept")),
    dict(name="own-record-sp", what="the From domain has its own record "
         "p=quarantine sp=none: p applies, sp is for subdomains only",
         frm="news@own.example.net", mf="bounce@own.example.net",
         ip=BAD_IP, sign=None, exp=("fail", "none", "fail", "quarantine")),
    dict(name="no-dmarc", what="no DMARC record anywhere: dmarc=none",
         frm="news@nodmarc.example.org", mf="bounce@nodmarc.example.org",
         ip=BAD_IP, sign=None, exp=("fail", "none", "none", "accept")),
    dict(name="null-sender", what="bounce with MAIL FROM <>: SPF checks "
         "postmaster@HELO (RFC 7208 2.4), which DMARC uses (RFC 7489 4.1); "
         "HELO is aligned with From", frm="MAILER-DAEMON@bounce.example.org",
         mf="<>", helo="mail.bounce.example.org", ip=GOOD_IP, sign=None,
         exp=("pass", "none", "pass", "accept")),
    dict(name="authenticated", what="SMTP AUTH client, unsigned, SPF fail "
         "under p=reject: the receiver's own user, not checked",
         frm="news@preject.example.org", mf="bounce@preject.example.org",
         ip=BAD_IP, sign=None, auth="submitter",
         exp=("-", "-", "-", "accept")),
]

WORDS = ("the of and to in is that for it as was with be by on not he this "
         "are or his from at which but have an they you were her she there "
         "been one all we their has would when if so what out up more "
         "will into some time only new could these two may first then do "
         "any like my now over such our man me even most made after also "
         "did many before must through back years where much your way well "
         "down should because each just those people how too little state "
         "good very make world still own see men work long get here between "
         "both life being under never day same another know while last "
         "might us great old year off come since against go came right used "
         "take three").split()


def die(msg):
    sys.exit("make-corpus: " + msg)


def run(args):
    r = subprocess.run(args, capture_output=True, timeout=120)
    if r.returncode != 0:
        die("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                 r.stderr.decode("utf-8", "replace")))
    return r.stdout


def make_keys(kdir):
    """name -> (private key as dkimpy takes it, p= value of the record)"""
    os.makedirs(kdir)
    keys = {}
    for name, bits in (("rsa2048", 2048), ("rsa1024", 1024)):
        pem = os.path.join(kdir, name + ".pem")
        run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
             "rsa_keygen_bits:%d" % bits, "-out", pem])
        der = run(["openssl", "pkey", "-in", pem, "-pubout", "-outform",
                   "DER"])
        with open(pem, "rb") as f:
            keys[name] = (f.read(), base64.b64encode(der).decode())
    # Ed25519: dkimpy signs with the base64 seed; the record carries the raw
    # 32-octet public key (RFC 8463 section 4.2), the last 32 octets of the
    # DER SubjectPublicKeyInfo openssl writes
    pem = os.path.join(kdir, "ed25519.pem")
    run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", pem])
    priv = run(["openssl", "pkey", "-in", pem, "-outform", "DER"])
    pub = run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"])
    seed = base64.b64encode(priv[-32:])
    with open(os.path.join(kdir, "ed25519.key"), "wb") as f:
        f.write(seed + b"\n")
    keys["ed25519"] = (seed, base64.b64encode(pub[-32:]).decode())
    return keys


def txt(value):
    """a TXT rdata: the value split in quoted strings of <= 255 octets"""
    parts = [value[i:i + 250] for i in range(0, len(value), 250)]
    return "TXT " + " ".join('"%s"' % p for p in parts)


def zone_records(keys):
    """[(owner, rdata)] of every record the corpus needs"""
    recs = []
    senders = set()
    for c in CASES:
        if c["mf"] != "<>":
            senders.add(c["mf"].split("@")[1])
        if c.get("helo"):
            senders.add(c["helo"])
    for d in sorted(senders):
        recs.append((d, txt(SPF_GOOD)))
    recs.append((HELO, txt("v=spf1 ip4:192.0.2.0/26 ip4:198.51.100.0/24 "
                           "-all")))
    recs.append((HELO, "A 192.0.2.10"))
    # iprev: each client address's PTR name and its A record
    for ip, name in ((GOOD_IP, HELO), (BAD_IP, BAD_IP_NAME)):
        recs.append((".".join(reversed(ip.split("."))) + ".in-addr.arpa",
                     "PTR %s." % name))
    recs.append((BAD_IP_NAME, "A " + BAD_IP))
    # every policy asks for aggregate reports at its own domain (the
    # feature cost of bench/run writes them with reports on)
    for d, v in sorted(DMARC.items()):
        recs.append(("_dmarc." + d, txt(v + "; rua=mailto:dmarc-rua@" + d)))
    for d in SIGNERS:
        for kname, sel in SELECTORS.items():
            kt = "ed25519" if kname == "ed25519" else "rsa"
            recs.append(("%s._domainkey.%s" % (sel, d),
                         txt("v=DKIM1; k=%s; p=%s" % (kt, keys[kname][1]))))
    return recs


def zone_of(owner):
    """the served zone that is the longest suffix of owner"""
    best = None
    for z in ZONES:
        if (owner == z or owner.endswith("." + z)) and \
                (best is None or len(z) > len(best)):
            best = z
    if best is None:
        die("owner %s is outside the served zones" % owner)
    return best


def write_zones(zdir, recs):
    os.makedirs(zdir)
    by_zone = {z: [] for z in ZONES}
    for owner, rdata in recs:
        by_zone[zone_of(owner)].append("%s. %s" % (owner, rdata))
    serial = int(time.time())
    for z in ZONES:
        head = ["$ORIGIN %s." % z, "$TTL 3600",
                "@ SOA ns.example.org. hostmaster.%s. %d 3600 600 86400 300"
                % (z, serial), "@ NS ns.example.org."]
        if z == "example.org":
            head.append("ns A 127.0.0.1")
        with open(os.path.join(zdir, z + ".zone"), "w") as f:
            f.write("\n".join(head + by_zone[z]) + "\n")


def body_text(rng, size):
    """about size octets of plain text in lines below 78 octets, CRLF; some
    lines carry trailing or doubled white space (canonicalization work)"""
    lines = []
    total = 0
    n = 0
    while total < size:
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 12))]
        ln = " ".join(words)
        n += 1
        if n % 17 == 0:
            ln += "  \t"
        elif n % 23 == 0:
            ln = ln.replace(" ", "  ", 2)
        elif n % 40 == 0:
            ln = ""
        lines.append(ln)
        total += len(ln) + 2
    return ("\r\n".join(lines) + "\r\n").encode()


def message(c, rng, size, idx):
    frm_dom = c["frm"].split("@")[1]
    head = [
        "From: Sender <%s>" % c["frm"],
        "To: <%s>" % RCPT,
        "Subject: bench %s %d KB" % (c["name"], size // 1024),
        "Date: Mon, 03 Mar 2025 10:%02d:00 +0000" % (idx % 60),
        "Message-ID: <bench-%s-%d@%s>" % (c["name"], size // 1024, frm_dom),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body_text(rng, size)


def sign(c, msg, keys):
    d, kname, canon = c["sign"]
    hc, bc = canon.split("/")
    sig = dkim.sign(msg, SELECTORS[kname].encode(), d.encode(),
                    keys[kname][0], canonicalize=(hc.encode(), bc.encode()),
                    signature_algorithm=ALG[kname],
                    include_headers=SIGNED_HEADERS)
    return sig + msg


def check_dkim(name, msg, recs, want):
    """dkimpy's verdict on the finished message agrees with want"""
    table = {}
    for owner, rdata in recs:
        if rdata.startswith("TXT "):
            parts = rdata[4:].split('" "')
            table.setdefault(owner + ".", "".join(parts).strip('"'))

    def dnsfunc(qname, timeout=5):
        q = qname.decode() if isinstance(qname, bytes) else qname
        v = table.get(q if q.endswith(".") else q + ".")
        return v.encode() if v is not None else None
    if want == "none":
        return
    ok = dkim.verify(msg, dnsfunc=dnsfunc, minkey=1024)
    if ok != (want == "pass"):
        die("%s: dkimpy says %s, the case expects dkim=%s"
            % (name, "pass" if ok else "fail", want))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", dest="out", required=True)
    ap.add_argument("--sizes", default="2,20,200",
                    help="body sizes in KB, comma-separated")
    ap.add_argument("--seed", type=int, default=4)
    a = ap.parse_args()
    sizes = [int(s) * 1024 for s in a.sizes.split(",") if s]
    if os.path.exists(a.out) and os.listdir(a.out):
        die("%s exists and is not empty" % a.out)
    os.makedirs(a.out, exist_ok=True)
    keys = make_keys(os.path.join(a.out, "keys"))
    recs = zone_records(keys)
    write_zones(os.path.join(a.out, "zones"), recs)
    os.makedirs(os.path.join(a.out, "msgs"))
    rng = random.Random(a.seed)
    cols = ["id", "file", "client_ip", "helo", "mail_from", "rcpt",
            "auth_user", "exp_spf", "exp_dkim", "exp_dmarc", "exp_action",
            "case", "size_kb"]
    rows = ["\t".join(cols)]
    idx = 0
    for size in sizes:
        for c in CASES:
            idx += 1
            mid = "%s-%dk" % (c["name"], size // 1024)
            msg = message(c, rng, size, idx)
            if c["sign"]:
                msg = sign(c, msg, keys)
            if c.get("alter"):
                msg += b"Added after signing.\r\n"
            check_dkim(mid, msg, recs, c["exp"][1])
            fname = "msgs/%s.eml" % mid
            with open(os.path.join(a.out, fname), "wb") as f:
                f.write(msg)
            rows.append("\t".join([mid, fname, c["ip"], c.get("helo", HELO),
                                   c["mf"], RCPT, c.get("auth", "")]
                                  + list(c["exp"])
                                  + [c["name"], str(size // 1024)]))
    with open(os.path.join(a.out, "corpus.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(a.out, "cases.txt"), "w") as f:
        for c in CASES:
            f.write("%-22s %s\n" % (c["name"], c["what"]))
    print("make-corpus: %d messages (%d cases x %d sizes) in %s"
          % (len(rows) - 1, len(CASES), len(sizes), a.out))


if __name__ == "__main__":
    main()
