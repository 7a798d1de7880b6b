#!/usr/bin/python3
"""probe.py - play the benchmark corpus once through a milter or a chain of
milters, slowly, with t/milterclient.py: a check of the rig (DNS, peers,
expectations) that needs no bench/milterload.

Usage: probe.py -s SPEC[,SPEC...] -i CORPUS.tsv [-o RESULTS.tsv] [ID...]

SPEC is inet:PORT@HOST or unix:/path. A comma list is a chain as Postfix
runs smtpd_milters: each milter sees the header edits of the ones before
it; the first reject, tempfail or discard ends the message. Writes one row
per message (id, verdict, smtp reply, quarantine, the Authentication-Results
values inserted, unfolded and joined by " | ", latency_ms, then the corpus
row's columns from exp_spf on) to RESULTS.tsv or stdout. Exit 0, or 1 when
a milter could not be reached.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "t"))
from milterclient import MilterClient, MilterError  # noqa: E402

VERDICT = {"a": "accept", "c": "accept", "r": "reject", "t": "tempfail",
           "d": "discard", "y": "reply"}


def split_message(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = []
    for ln in head.split(b"\r\n"):
        if ln[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += b"\r\n" + ln
        else:
            name, _, value = ln.partition(b":")
            headers.append([name, value])
    return [(n.decode(), v.decode()) for n, v in headers], body


def apply_edits(headers, r):
    """the header list a later milter sees"""
    out = list(headers)
    for idx, name, value in r["inserted"]:
        if idx < 0:
            out.append((name, value))
        else:
            out.insert(min(idx, len(out)), (name, value))
    for idx, name in r.get("deleted", []):
        seen = 0
        for i, (n, _) in enumerate(out):
            if n.lower() == name.lower():
                seen += 1
                if seen == idx:
                    del out[i]
                    break
    return out


def unfold(v):
    return " ".join(v.split())


def play(specs, row, base):
    raw = open(os.path.join(base, row["file"]), "rb").read()
    headers, body = split_message(raw)
    t0 = time.monotonic()
    ars = []
    quarantine = ""
    verdict, reply = "accept", ""
    # Postfix sends the auth macros only for an authenticated session (an
    # empty {auth_authen} makes OpenDMARC skip the message as authenticated)
    macros = {}
    if row["auth_user"]:
        macros = {"{auth_type}": "PLAIN", "{auth_authen}": row["auth_user"]}
    mf = row["mail_from"]
    mf = "<>" if mf == "<>" else "<%s>" % mf
    for spec in specs:
        c = MilterClient(spec)
        try:
            r = c.message(ip=row["client_ip"], helo=row["helo"],
                          mail_from=mf, rcpts=["<%s>" % row["rcpt"]],
                          headers=headers, body=body, macros=macros)
        finally:
            c.close()
        for _, name, value in r["inserted"]:
            if name.lower() == "authentication-results":
                ars.append(unfold(value))
        if r.get("quarantine"):
            quarantine = r["quarantine"]
        v = VERDICT.get(r["verdict"], r["verdict"])
        if v == "reply":
            reply = r.get("reply") or ""
            v = "tempfail" if reply.startswith("4") else "reject"
        if v != "accept":
            verdict = v
            break
        headers = apply_edits(headers, r)
    ms = (time.monotonic() - t0) * 1e3
    return [row["id"], verdict, reply, quarantine, " | ".join(ars),
            "%.2f" % ms]


def main(argv):
    specs, corpus, out, only = None, None, None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-s", "-i", "-o") and i + 1 < len(argv):
            v = argv[i + 1]
            if a == "-s":
                specs = v.split(",")
            elif a == "-i":
                corpus = v
            else:
                out = v
            i += 2
            continue
        only.append(a)
        i += 1
    if not specs or not corpus:
        sys.exit(__doc__)
    lines = open(corpus).read().splitlines()
    cols = lines[0].split("\t")
    extra = cols[cols.index("exp_spf"):]
    rows = []
    for ln in lines[1:]:
        row = dict(zip(cols, ln.split("\t")))
        if only and row["id"] not in only:
            continue
        try:
            res = play(specs, row, os.path.dirname(os.path.abspath(corpus)))
        except (OSError, MilterError) as e:
            print("probe: %s: %s" % (row["id"], e), file=sys.stderr)
            return 1
        rows.append("\t".join(res + [row[k] for k in extra]))
    text = "\n".join(rows) + "\n"
    if out:
        open(out, "w").write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
