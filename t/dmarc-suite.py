#!/usr/bin/env python3
"""dmarc-suite.py - flatten the DMARC conformance data for t/dmarc-suite.c.

Usage: dmarc-suite.py DATA > out.txt   (DATA = t/data)

Reads dmarc/opendmarc/*.tsv, dmarc/mail-dmarc/cases.tsv + mock-zone.db,
dmarc/authheaders/expectations.tsv + dns-records.tsv + messages,
dmarc/publicsuffix/org-domain-cases.tsv and our own
dmarc/treewalk/cases.tsv + zone.db + psl.dat. Output: one record a line,
fields separated by TAB; a field escapes backslash, TAB, CR, LF as \\\\,
\\t, \\r, \\n. <mode> is the checker's discovery for the row: "psl"
(RFC 7489 with the current list) or "treewalk" (RFC 9989, no list).
<checks> is "-" or space-separated key=value pairs (see t/dmarc-suite.c).

  PSL <path>                      the list for the cases that follow ("-": none)
  ZONE_RESET                      empty the table resolver
  ZONE <name> <type> <value>      type TXT, A, AAAA, MX ("10 host"), CNAME
  TXT <name> TXT <n> <s1>..<sn>   one TXT RR of n character-strings
  SERVFAIL <name> <types>         every type of name but those listed
                                  (comma-separated, "" none) answers SERVFAIL
                                  (t/dnsd.py reads the same line)
  PARSE <table> <id> <mode> <record> <valid|invalid> <p|-> <pct|-> <checks>
  ALIGN <table> <id> <mode> <a> <b> <strict|relaxed> <aligned|not-aligned>
  DALIGN <table> <id> <mode> <from> <dkim> <strict|relaxed> <aligned|not-aligned>
                                  dkim: "d1:pass,d2:fail" (any passing d= aligned)
  FROM <table> <id> <mode> <value> <domain|!error>
  ORG <table> <id> <mode> <domain> <org|(error)> <checks>
                                  dmarc_org_domain() on the zone
  PSLORG <table> <id> <mode> <domain|(null)> <org|(null)>
                                  psl_org_domain() on the current list
  EVAL <table> <id> <mode> <from kind: domain|header> <from> <spf domain|->
       <spf pass 0|1> <dkim> <result|-> <policy|-> <disposition|-> <header.from|->
       <checks>
  SKIP <table> <id> <reason>      a case that cannot be run here

Tables and modes:
- opendmarc, the PSL test list, authheaders rows without dmarcbis=on and
  mail-dmarc rows run in PSL mode, under their table's name as before.
- mail-dmarc rows tagged rfc7489 ("hold under both") run in tree-walk mode
  too, and rows tagged dmarcbis only there: table "mail-dmarc treewalk".
  The From-extraction rows do not depend on the mode and run once.
- the authheaders dmarcbis=on row runs in tree-walk mode: table
  "authheaders treewalk".
- our dmarc/treewalk/cases.tsv: its treewalk rows are table "treewalk", its
  psl rows (the same cases the PSL way, on psl.dat) table "treewalk psl".

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
- zone files: A, AAAA, MX, TXT and CNAME lines, and our SERVFAIL lines.
"""
import os
import re
import sys

PSL, TW = "psl", "treewalk"


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
        line("PARSE", t, r["case"], PSL, r["record"], want, "-", "-", "-")
    t = "opendmarc alignment"
    for r in rows(os.path.join(d, "alignment.tsv")):
        line("ALIGN", t, r["case"], PSL, r["from_domain"], r["auth_domain"],
             r["mode"], r["expected"])
    t = "opendmarc from-domain"
    for r in rows(os.path.join(d, "finddomain.tsv")):
        line("FROM", t, r["case"], PSL, strip_from(r["raw_value"]),
             r["expected_domain"])
    t = "opendmarc org-domain"
    for r in rows(os.path.join(d, "org-domain-tld.tsv")):
        if "BROKEN" in r.get("note", ""):
            line("SKIP", t, r["case"], "broken upstream (embedded NUL in the C literal)")
            continue
        line("PSLORG", t, r["case"], PSL, r["domain"], r["expected_org_domain"])


def load_zone(path):
    """a zone file in mock-zone.db's style: "owner TTL TYPE value" lines"""
    line("ZONE_RESET")
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.strip()
            if not raw or raw.startswith(";"):
                continue
            m = re.match(r'^(\S+)\s+\d+\s+SERVFAIL\s*$', raw)
            if m:
                line("SERVFAIL", m.group(1).rstrip("."), "")
                continue
            m = re.match(r'^(\S+)\s+\d+\s+(TXT|MX|A|AAAA|CNAME)\s+(.*)$', raw)
            if not m:
                continue
            name, typ, val = m.group(1).rstrip("."), m.group(2), m.group(3)
            if typ == "TXT":
                strs = re.findall(r'"((?:[^"\\]|\\.)*)"', val)
                if len(strs) > 1:
                    # one RR of several character-strings
                    line("TXT", name, "TXT", len(strs), *strs)
                    continue
                val = "".join(strs)
            elif typ in ("MX", "CNAME"):
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


def mail_dmarc_row(t, mode, r):
    kind, cid, exp = r["kind"], r["id"], r["expected"]
    hf = r["header_from"]
    if kind == "from":
        want = "!error" if exp.startswith("(none") else exp
        line("FROM", t, cid, mode, strip_from(hf), want)
    elif kind == "spf-align":
        dom, _ = parse_spf(r["spf_results"])
        how = "strict" if "(strict)" in exp else "relaxed"
        want = "not-aligned" if exp.startswith("not") else "aligned"
        line("ALIGN", t, cid, mode, hf, dom, how, want)
    elif kind == "dkim-align":
        how = "strict" if "(strict)" in exp else "relaxed"
        want = "not-aligned" if exp.startswith("not") else "aligned"
        line("DALIGN", t, cid, mode, hf, parse_dkim(r["dkim_results"]),
             how, want)
    elif kind == "validate":
        dom, spass = parse_spf(r["spf_results"])
        kv = dict(re.findall(r'([a-z.]+)=(\w+)', exp))
        line("EVAL", t, cid, mode, "domain", hf, dom, spass,
             parse_dkim(r["dkim_results"]), kv.get("result", "-"),
             kv.get("published.p", "-"), kv.get("disposition", "-"), "-", "-")
    elif kind == "orgdomain":
        line("ORG", t, cid, mode, hf, exp, "-")
    elif kind == "record":
        record_rows(t, cid, mode, hf, exp)


def mail_dmarc(base):
    d = os.path.join(base, "dmarc", "mail-dmarc")
    load_zone(os.path.join(d, "mock-zone.db"))
    line("PSL", os.path.join(base, "dmarc", "publicsuffix", "public_suffix_list.dat"))
    cases = rows(os.path.join(d, "cases.tsv"))
    # RFC 7489 rows the PSL way, as before
    for r in cases:
        if r["semantics"] != "dmarcbis":
            mail_dmarc_row("mail-dmarc cases", PSL, r)
    # RFC 9989: the dmarcbis rows and the rows that hold under both
    for r in cases:
        if r["kind"] != "from":
            mail_dmarc_row("mail-dmarc treewalk", TW, r)


def record_rows(t, cid, mode, rec, exp):
    if cid == "R13":
        for w in ("none", "reject", "quarantine"):
            line("PARSE", t, "R13." + w, mode, "v=DMARC1; p=" + w, "valid", w,
                 "-", "-")
        for w in ("other", "gibberish", "non-policy", "words"):
            line("PARSE", t, "R13." + w, mode, "v=DMARC1; p=" + w, "invalid",
                 "-", "-", "-")
        return
    if cid == "R14":
        for w in ("afrf", "iodef"):
            line("PARSE", t, "R14." + w, mode, "v=DMARC1; p=none; rf=" + w,
                 "valid", "none", "-", "-")
        for w in ("ffrf", "i0def", "report"):
            line("PARSE", t, "R14." + w, mode, "v=DMARC1; p=none; rf=" + w,
                 "invalid", "-", "-", "-")
        return
    rec = rec.replace("\\\\", "\\")
    valid = "invalid" if exp.startswith("invalid") else "valid"
    m = re.search(r"\bp=(\w+)", exp)
    p = m.group(1) if m else ("none" if "p=none" in exp else "-")
    m = re.search(r"\bpct=(\d+)", exp)
    pct = m.group(1) if m else ("100" if "pct= dropped" in exp else "-")
    line("PARSE", t, cid, mode, rec, valid, p if valid == "valid" else "-", pct,
         "-")


def unfold_from(path):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read().replace("\r\n", "\n")
    head = text.split("\n\n", 1)[0]
    m = re.search(r"^From:(.*(?:\n[ \t].*)*)", head, re.M | re.I)
    return m.group(1).replace("\n", "\r\n").strip() if m else ""


def authheaders(base):
    d = os.path.join(base, "dmarc", "authheaders")
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
            line("SKIP", "authheaders", cid, "not a DMARC case " + ed)
            continue
        bis = "dmarcbis=on" in r["options"]
        t, mode = ("authheaders treewalk", TW) if bis else ("authheaders", PSL)
        src = r["prev_results"] if r["prev_results"] != "-" else r["expected_ar"]
        dk = ",".join("%s:%s" % (dd, res) for res, dd in
                      re.findall(r"dkim=(\w+)[^;]*?header\.d=([^\s;]+)", src))
        ar = r["expected_ar"]
        m = re.search(r"policy\.dmarc=(\w+)", ar)
        pol = m.group(1) if m else "-"
        m = re.search(r"header\.from=([^\s;]+)", ar)
        hfrom = m.group(1) if m else "-"
        line("EVAL", t, cid, mode, "header",
             unfold_from(os.path.join(d, r["file"])),
             "-", 0, dk, ed, pol, "-", hfrom, "-")


def psl_cases(base):
    d = os.path.join(base, "dmarc", "publicsuffix")
    t = "psl org-domain"
    line("PSL", os.path.join(d, "public_suffix_list.dat"))
    for n, r in enumerate(rows(os.path.join(d, "org-domain-cases.tsv")), 1):
        line("PSLORG", t, "%d:%s" % (n, r["input"]), PSL, r["input"],
             r["expected_registrable_domain"])


def treewalk(base):
    """our own table: t/data/dmarc/treewalk (written for authmilter)"""
    d = os.path.join(base, "dmarc", "treewalk")
    load_zone(os.path.join(d, "zone.db"))
    line("PSL", os.path.join(d, "psl.dat"))
    cases = rows(os.path.join(d, "cases.tsv"))
    # one mode after the other: the unbound path makes a checker per mode
    for mode in (TW, PSL):
        t = "treewalk" if mode == TW else "treewalk psl"
        for r in cases:
            if r["mode"] != mode:
                continue
            if r["mode"] not in (TW, PSL):
                sys.stderr.write("dmarc-suite.py: %s: bad mode %r\n"
                                 % (r["id"], r["mode"]))
                sys.exit(1)
            kind, cid, exp = r["kind"], r["id"], r["expected"]
            checks = r["checks"] or "-"
            if kind == "validate":
                dom, spass = parse_spf(r["spf_results"])
                kv = dict(re.findall(r'([a-z.]+)=(\w+)', exp))
                line("EVAL", t, cid, mode, "domain", r["subject"], dom, spass,
                     parse_dkim(r["dkim_results"]), kv.get("result", "-"),
                     kv.get("policy", "-"), kv.get("disposition", "-"), "-",
                     checks)
            elif kind == "orgdomain":
                line("ORG", t, cid, mode, r["subject"], exp, checks)
            elif kind == "record":
                valid = "invalid" if exp.startswith("invalid") else "valid"
                m = re.search(r"\bp=(\w+)", exp)
                line("PARSE", t, cid, mode, r["subject"], valid,
                     m.group(1) if m else "-", "-", checks)
            else:
                sys.stderr.write("dmarc-suite.py: %s: bad kind %r\n"
                                 % (cid, kind))
                sys.exit(1)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: dmarc-suite.py TESTDATA_DIR\n")
        return 2
    base = sys.argv[1]
    opendmarc(base)
    mail_dmarc(base)
    authheaders(base)
    psl_cases(base)
    treewalk(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
