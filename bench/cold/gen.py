#!/usr/bin/python3
"""gen.py - the corpus of bench/cold/run: N messages, each from its own
sender domain dK.cold.test (K = 1..N), each DKIM-signed, in the format
bench/milterload reads.

Usage: /usr/bin/python3 bench/cold/gen.py -o OUTDIR -n N [--body-kb 2]

Writes into OUTDIR (created; it must not exist or be empty):
  key.pem     one RSA-2048 key (openssl genpkey), shared by every domain
  dkim.pub    its public key, base64 DER: the p= of every
              sel._domainkey.dK.cold.test record that dnsd.py serves
  msgs/dK.eml From: news@dK.cold.test, signed d=dK.cold.test s=sel
              (rsa-sha256, relaxed/relaxed) with dkimpy (Debian's
              python3-dkim), CRLF line ends, as the MTA hands it to a milter
  corpus.tsv  header line, then one row per message:
                id file client_ip helo mail_from rcpt auth_user
                exp_spf exp_dkim exp_dmarc exp_action
              client 192.0.2.10 (inside every SPF record), HELO
              mx.dK.cold.test, MAIL FROM bounce@dK.cold.test: every
              message should get spf=pass, dkim=pass, dmarc=pass, accept
The first message is verified again with dkimpy against the record
dnsd.py serves before anything is written. Exit 0, or 1 with a message.
"""
import argparse
import base64
import os
import subprocess
import sys

try:
    import dkim
except ImportError:
    sys.exit("gen.py: python3-dkim is missing (run with /usr/bin/python3;"
             " apt-get install python3-dkim)")

CLIENT_IP = "192.0.2.10"
RCPT = "rcpt@inbound.example.net"
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id",
          b"mime-version", b"content-type"]
WORDS = ("cold cache dns answer wait thread stack connection message "
         "sender domain record policy key lookup resolver budget").split()


def die(msg):
    sys.exit("gen.py: " + msg)


def run(args):
    r = subprocess.run(args, capture_output=True, timeout=120)
    if r.returncode != 0:
        die("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                 r.stderr.decode("utf-8", "replace")))
    return r.stdout


def body(k, size):
    lines, total, i = [], 0, 0
    while total < size:
        ln = " ".join(WORDS[(k + i + j) % len(WORDS)] for j in range(10))
        lines.append(ln)
        total += len(ln) + 2
        i += 1
    return ("\r\n".join(lines) + "\r\n").encode()


def message(k, size):
    d = "d%d.cold.test" % k
    head = ["From: Sender %d <news@%s>" % (k, d),
            "To: <%s>" % RCPT,
            "Subject: cold %d" % k,
            "Date: Mon, 03 Mar 2025 10:%02d:00 +0000" % (k % 60),
            "Message-ID: <cold-%d@%s>" % (k, d),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii"]
    return d, ("\r\n".join(head) + "\r\n\r\n").encode() + body(k, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", dest="out", required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--body-kb", type=int, default=2)
    a = ap.parse_args()
    if not 1 <= a.n <= 100000:
        die("-n: 1..100000")
    if os.path.exists(a.out) and os.listdir(a.out):
        die("%s exists and is not empty" % a.out)
    os.makedirs(os.path.join(a.out, "msgs"))
    pem = os.path.join(a.out, "key.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
         "rsa_keygen_bits:2048", "-out", pem])
    pub = base64.b64encode(run(["openssl", "pkey", "-in", pem, "-pubout",
                                "-outform", "DER"])).decode()
    with open(os.path.join(a.out, "dkim.pub"), "w") as f:
        f.write(pub + "\n")
    with open(pem, "rb") as f:
        key = f.read()
    rows = ["\t".join(["id", "file", "client_ip", "helo", "mail_from",
                       "rcpt", "auth_user", "exp_spf", "exp_dkim",
                       "exp_dmarc", "exp_action"])]
    for k in range(1, a.n + 1):
        d, msg = message(k, a.body_kb * 1024)
        sig = dkim.sign(msg, b"sel", d.encode(), key,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=SIGNED)
        msg = sig + msg
        if k == 1:
            rec = ("v=DKIM1; k=rsa; p=" + pub).encode()

            def dnsfunc(name, timeout=5):
                q = name.decode() if isinstance(name, bytes) else name
                return rec if q.rstrip(".") == "sel._domainkey." + d \
                    else None
            if not dkim.verify(msg, dnsfunc=dnsfunc):
                die("dkimpy does not verify its own signature of d1")
        fname = "msgs/d%d.eml" % k
        with open(os.path.join(a.out, fname), "wb") as f:
            f.write(msg)
        rows.append("\t".join(["d%d" % k, fname, CLIENT_IP, "mx." + d,
                               "bounce@" + d, RCPT, "", "pass", "pass",
                               "pass", "accept"]))
    with open(os.path.join(a.out, "corpus.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    print("gen.py: %d messages, one per domain d1..d%d.cold.test, in %s"
          % (a.n, a.n, a.out))


if __name__ == "__main__":
    main()
