#!/usr/bin/env python3
"""dmarc-suite.py - flatten the DMARC conformance data for t/dmarc-suite.c.

Usage: dmarc-suite.py DATA > out.txt   (DATA = t/data)

Reads dmarc/opendmarc/*.tsv, dmarc/mail-dmarc/cases.tsv + mock-zone.db,
dmarc/authheaders/expectations.tsv + dns-records.tsv + messages, and
dmarc/publicsuffix/org-domain-cases.tsv. Output: one record a line, fields
separated by TAB; a field escapes backslash, TAB, CR, LF as \\\\, \\t, \\r, \\n.
<info> is 1 for rows that are informative only (DMARCbis), else 0.

  PSL <path>                      the list for the cases that follow ("-": none)
  ZONE_RESET                      empty the table resolver
  ZONE <name> <type> <value>      type TXT, A, AAAA, MX ("10 host")
  PARSE <table> <id> <info> <record> <valid|invalid> <p|-> <pct|->
  ALIGN <table> <id> <info> <a> <b> <strict|relaxed> <aligned|not-aligned>
  DALIGN <table> <id> <info> <from> <dkim> <strict|relaxed> <aligned|not-aligned>
                                  dkim: "d1:pass,d2:fail" (any passing d= aligned)
  FROM <table> <id> <info> <value> <domain|!error>
  ORG <table> <id> <info> <domain|(null)> <org|(null)>
  EVAL <table> <id> <info> <from kind: domain|header> <from> <spf domain|->
       <spf pass 0|1> <dkim> <result|-> <policy|-> <disposition|-> <header.from|->
  SKIP <table> <id> <reason>      a case that cannot be run here

Interpretation rules (the data's free text, read once here):
- A From value that starts with the header name "From:" loses it: the
  milter hands our parser the field body (RFC 5322 3.6.2), not the line.
- mail-dmarc "(none: ...)" From expectations accept any non-OK status.
- mail-dmarc spf-align "not aligned" is checked in relaxed mode (not aligned
  relaxed implies not aligned strict); "aligned (relaxed)" in relaxed mode.
- authheaders cases with dkim=on verify a DKIM signature upstream; DKIM
  verification is lib/dkim's business (t/dkim-suite), so DMARC is driven
  here with the dkim= results of the expected header. prev_results rows are
  driven with the results they inject. SPF is never evaluated there.
- authheaders dns-records: EMPTY and NXDOMAIN names get no records; EXISTS
  names get an A record.
"""
import os
import re
import sys


def esc(s):
    s = "" if s is None else str(s)
    return (s.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\r", "\\r").replace("\n", "\\n"))


def line(*fields):
    sys.stdout.write("\t".join(esc(f) for f in fields) + "\n")


def rows(path):
    """data rows of a TSV: comment lines and the header line dropped"""
    out = []
    header = None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if raw.startswith("#") or not raw.strip():
                continue
            cols = raw.split("\t")
            if header is None:
                header = cols
                continue
            cols += [""] * (len(header) - len(cols))
            out.append(dict(zip(header, cols)))
    return out


def strip_from(v):
    return re.sub(r"^[Ff][Rr][Oo][Mm]:[ \t]*", "", v)


def opendmarc(base):
    d = os.path.join(base, "dmarc", "opendmarc")
    line("PSL", os.path.join(d, "testfiles", "effective_tld_names.dat"))
    t = "opendmarc record-parse"
    for r in rows(os.path.join(d, "dmarc-record-parse.tsv")):
        want = "valid" if r["expected_status"] == "DMARC_PARSE_OKAY" else "invalid"
        line("PARSE", t, r["case"], 0, r["record"], want, "-", "-")
    t = "opendmarc alignment"
    for r in rows(os.path.join(d, "alignment.tsv")):
        line("ALIGN", t, r["case"], 0, r["from_domain"], r["auth_domain"],
             r["mode"], r["expected"])
    t = "opendmarc from-domain"
    for r in rows(os.path.join(d, "finddomain.tsv")):
        line("FROM", t, r["case"], 0, strip_from(r["raw_value"]),
             r["expected_domain"])
    t = "opendmarc org-domain"
    for r in rows(os.path.join(d, "org-domain-tld.tsv")):
        if "BROKEN" in r.get("note", ""):
            line("SKIP", t, r["case"], "broken upstream (embedded NUL in the C literal)")
            continue
        line("ORG", t, r["case"], 0, r["domain"], r["expected_org_domain"])


def load_zone(path):
    line("ZONE_RESET")
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if not raw or raw.startswith(";"):
                continue
            m = re.match(r'^(\S+)\s+\d+\s+(TXT|MX|A|AAAA)\s+(.*)$', raw)
            if not m:
                continue
            name, typ, val = m.group(1).rstrip("."), m.group(2), m.group(3)
            if typ == "TXT":
                val = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', val))
            elif typ == "MX":
                val = val.rstrip(".")
            line("ZONE", name, typ, val)


def parse_spf(s):
    """'mfrom X pass; helo Y fail' -> (mail from domain, pass?)"""
    if s == "default":
        return "unrelated.example.com", 1
    for part in s.split(";"):
        w = part.split()
        if len(w) == 3 and w[0] == "mfrom":
            return w[1], 1 if w[2] == "pass" else 0
    return "-", 0


def parse_dkim(s):
    """'[d=a pass; d=b s=x fail]' -> 'a:pass,b:fail'"""
    if s in ("default", "-", "[]", ""):
        return ""
    out = []
    for part in s.strip("[]").split(";"):
        w = part.split()
        d = [x[2:] for x in w if x.startswith("d=")]
        if d:
            out.append("%s:%s" % (d[0], w[-1]))
    return ",".join(out)


def mail_dmarc(base):
    d = os.path.join(base, "dmarc", "mail-dmarc")
    t = "mail-dmarc cases"
    load_zone(os.path.join(d, "mock-zone.db"))
    line("PSL", os.path.join(base, "dmarc", "publicsuffix", "public_suffix_list.dat"))
    for r in rows(os.path.join(d, "cases.tsv")):
        kind, cid, exp = r["kind"], r["id"], r["expected"]
        info = 1 if r["semantics"] == "dmarcbis" else 0
        hf = r["header_from"]
        if kind == "from":
            want = "!error" if exp.startswith("(none") else exp
            line("FROM", t, cid, info, strip_from(hf), want)
        elif kind == "spf-align":
            dom, _ = parse_spf(r["spf_results"])
            mode = "strict" if "(strict)" in exp else "relaxed"
            want = "not-aligned" if exp.startswith("not") else "aligned"
            line("ALIGN", t, cid, info, hf, dom, mode, want)
        elif kind == "dkim-align":
            mode = "strict" if "(strict)" in exp else "relaxed"
            want = "not-aligned" if exp.startswith("not") else "aligned"
            line("DALIGN", t, cid, info, hf, parse_dkim(r["dkim_results"]),
                 mode, want)
        elif kind == "validate":
            dom, spass = parse_spf(r["spf_results"])
            kv = dict(re.findall(r'([a-z.]+)=(\w+)', exp))
            line("EVAL", t, cid, info, "domain", hf, dom, spass,
                 parse_dkim(r["dkim_results"]), kv.get("result", "-"),
                 kv.get("published.p", "-"), kv.get("disposition", "-"), "-")
        elif kind == "orgdomain":
            line("ORG", t, cid, info, hf, exp)
        elif kind == "record":
            record_rows(t, cid, info, hf, exp)


def record_rows(t, cid, info, rec, exp):
    if cid == "R13":
        for w in ("none", "reject", "quarantine"):
            line("PARSE", t, "R13." + w, info, "v=DMARC1; p=" + w, "valid", w, "-")
        for w in ("other", "gibberish", "non-policy", "words"):
            line("PARSE", t, "R13." + w, info, "v=DMARC1; p=" + w, "invalid", "-", "-")
        return
    if cid == "R14":
        for w in ("afrf", "iodef"):
            line("PARSE", t, "R14." + w, info, "v=DMARC1; p=none; rf=" + w,
                 "valid", "none", "-")
        for w in ("ffrf", "i0def", "report"):
            line("PARSE", t, "R14." + w, info, "v=DMARC1; p=none; rf=" + w,
                 "invalid", "-", "-")
        return
    rec = rec.replace("\\\\", "\\")
    valid = "invalid" if exp.startswith("invalid") else "valid"
    m = re.search(r"\bp=(\w+)", exp)
    p = m.group(1) if m else ("none" if "p=none" in exp else "-")
    m = re.search(r"\bpct=(\d+)", exp)
    pct = m.group(1) if m else ("100" if "pct= dropped" in exp else "-")
    line("PARSE", t, cid, info, rec, valid, p if valid == "valid" else "-", pct)


def unfold_from(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read().replace("\r\n", "\n")
    head = text.split("\n\n", 1)[0]
    m = re.search(r"^From:(.*(?:\n[ \t].*)*)", head, re.M | re.I)
    return m.group(1).replace("\n", "\r\n").strip() if m else ""


def authheaders(base):
    d = os.path.join(base, "dmarc", "authheaders")
    t = "authheaders"
    line("ZONE_RESET")
    line("PSL", os.path.join(base, "dmarc", "publicsuffix", "public_suffix_list.dat"))
    for r in rows(os.path.join(d, "dns-records.tsv")):
        if r["type"] == "TXT":
            line("ZONE", r["name"], "TXT", r["value"])
        elif r["type"] == "EXISTS":
            line("ZONE", r["name"], "A", "192.0.2.1")
    for n, r in enumerate(rows(os.path.join(d, "expectations.tsv")), 1):
        cid = "%d:%s" % (n, os.path.basename(r["file"]))
        ed = r["expected_dmarc"]
        if ed.startswith("("):
            line("SKIP", t, cid, "not a DMARC case " + ed)
            continue
        info = 1 if "dmarcbis=on" in r["options"] else 0
        src = r["prev_results"] if r["prev_results"] != "-" else r["expected_ar"]
        dk = ",".join("%s:%s" % (dd, res) for res, dd in
                      re.findall(r"dkim=(\w+)[^;]*?header\.d=([^\s;]+)", src))
        ar = r["expected_ar"]
        m = re.search(r"policy\.dmarc=(\w+)", ar)
        pol = m.group(1) if m else "-"
        m = re.search(r"header\.from=([^\s;]+)", ar)
        hfrom = m.group(1) if m else "-"
        line("EVAL", t, cid, info, "header", unfold_from(os.path.join(d, r["file"])),
             "-", 0, dk, ed, pol, "-", hfrom)


def psl_cases(base):
    d = os.path.join(base, "dmarc", "publicsuffix")
    t = "psl org-domain"
    line("PSL", os.path.join(d, "public_suffix_list.dat"))
    for n, r in enumerate(rows(os.path.join(d, "org-domain-cases.tsv")), 1):
        line("ORG", t, "%d:%s" % (n, r["input"]), 0, r["input"],
             r["expected_registrable_domain"])


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: dmarc-suite.py TESTDATA_DIR\n")
        return 2
    base = sys.argv[1]
    opendmarc(base)
    mail_dmarc(base)
    authheaders(base)
    psl_cases(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
