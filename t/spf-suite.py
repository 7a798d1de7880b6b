#!/usr/bin/env python3
"""spf-suite.py - flatten an openspf YAML suite for t/spf-suite.c.

Usage: spf-suite.py SUITE.yml > out.txt

The output is one record a line, fields separated by TAB; a field escapes
backslash, TAB, CR, LF and NUL as \\\\, \\t, \\r, \\n, \\0:

  SCENARIO <description>
  ZONE <name> <TYPE> <value>        TYPE A, AAAA, PTR, CNAME, MX ("10 host")
  TXT <name> <TYPE> <n> <s1> .. <sn> TYPE TXT or SPF, n character-strings
  TIMEOUT <name> <types>            queries for name time out, except for
                                    the comma-separated types answered by
                                    entries listed before the TIMEOUT (the
                                    pyspf driver's order rule)
  TEST <name> <host> <helo> <mailfrom> <results> <explanation>
                                    results: comma-separated, first preferred;
                                    explanation: "" when the test gives none
  END                               the scenario is complete

Driver rules (testdata/README.md, from the pyspf driver): an SPF record for
a name with no TXT entry is also served as TXT; "TXT: NONE" means no TXT
record; a bare TIMEOUT entry makes queries for the name time out; names not
listed are NXDOMAIN. Old result names map unknown -> permerror and
error -> temperror.
"""
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("spf-suite.py: python3-yaml is missing\n")
    sys.exit(77)

OLD_NAMES = {"unknown": "permerror", "error": "temperror"}


def esc(s):
    s = "" if s is None else str(s)
    return (s.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\r", "\\r").replace("\n", "\\n")
            .replace("\0", "\\0"))


def line(*fields):
    sys.stdout.write("\t".join(esc(f) for f in fields) + "\n")


def txt_strings(v):
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)]


def scenario(doc):
    line("SCENARIO", doc.get("description", ""))
    for name, rrs in (doc.get("zonedata") or {}).items():
        name = str(name)
        has_txt = any(isinstance(rr, dict) and "TXT" in rr for rr in rrs)
        answered = set()
        for rr in rrs:
            if isinstance(rr, str):
                if rr == "TIMEOUT":
                    line("TIMEOUT", name, ",".join(sorted(answered)))
                continue
            for typ, val in rr.items():
                if val != "NONE":
                    answered.add(typ)
                    if typ == "SPF" and not has_txt:
                        answered.add("TXT")
                if typ in ("TXT", "SPF"):
                    if val == "NONE":
                        continue
                    strs = txt_strings(val)
                    line("TXT", name, typ, len(strs), *strs)
                    if typ == "SPF" and not has_txt:
                        line("TXT", name, "TXT", len(strs), *strs)
                elif typ == "MX":
                    line("ZONE", name, "MX", "%s %s" % (val[0], val[1]))
                elif typ in ("A", "AAAA", "PTR", "CNAME"):
                    line("ZONE", name, typ, val)
    for tname, t in doc["tests"].items():
        res = t["result"]
        if not isinstance(res, list):
            res = [res]
        res = [OLD_NAMES.get(r, r) for r in res]
        line("TEST", tname, t.get("host", ""), t.get("helo", ""),
             t.get("mailfrom", ""), ",".join(res), t.get("explanation", ""))
    line("END")


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: spf-suite.py SUITE.yml\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if doc:
                scenario(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
