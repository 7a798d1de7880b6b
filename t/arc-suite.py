#!/usr/bin/env python3
"""arc-suite.py - flatten the ValiMail ARC suite for t/arc-suite.c.

Usage: arc-suite.py DATA > out.txt   (DATA = t/data)

Reads arc/arc-draft-validation-tests.yml (171 tests in 10 scenarios) and
arc/arc-draft-sign-tests.yml (17 tests in 2 scenarios) with python3-yaml.
Output: one record a line, fields separated by TAB; a field escapes
backslash, TAB, CR, LF as \\\\, \\t, \\r, \\n (t/dnsd.py reads the ZONE
lines of the same file: every ZONE_RESET starts its next block).

  ZONE_RESET <scenario>            a new table resolver (and dnsd block)
  ZONE <name> <TYPE> <value>       one RR of the scenario (TXT; A)
  SERVFAIL <name> <types>          name answers SERVFAIL (types "": every
  TIMEOUT <name> <types>           type), or never answers (t/dnsd.py's)
  VALIDATE <scenario> <id> <want> <message>
                                   want: pass, fail or none
  SIGN <scenario> <id> <message> <domain> <selector> <srv-id> <aar>
       <sig-headers> <t> <want AS> <want AMS> <want AAR> <private key PEM>
                                   want AS/AMS/AAR as the yml has them
                                   ("" for each: no ARC set may be added)

Interpretation rules (the data's free text, read once here):
- Messages are written with LF line ends in the yml; they become CRLF
  (RFC 5322 line ends, as an MTA hands them to the milter).
- Three validation tests (cv_fail_i1_as_cv_fail, cv_fail_i2_as2_fail,
  cv_fail_i2_as1_fail) have an empty cv: they carry an ARC-Seal with
  cv=fail, which fails the chain by RFC 8617 5.2 steps 2 and 3.3; empty
  means fail here as in Mail::DKIM's driver of the suite
  (../data/README.upstream-index.md).
- YAML keeps the last of two tests of the same name: four names of the
  Arc Seal Fields scenario (as_fields_b_head_case, as_fields_b_head_unfold,
  as_fields_b_eol_wsp, as_fields_b_inl_wsp) are defined twice, the first
  time on base2 messages. The 171 tests are what YAML loads; the four
  shadowed definitions run too, as VALIDATE lines of the scenario
  "Arc Seal Fields (shadowed)" with ids NAME#1, and are counted apart.
- Ours, not upstream: the scenario "DNS (ours)" runs the suite's passing
  i=1 and i=2 messages (cv_pass_i1_1, cv_pass_i2_1) with their key record
  answered SERVFAIL or never (temperror), NXDOMAIN or NODATA (fail: no
  key), one block each, so that both resolver paths map DNS failures the
  same way (ids dns_<failure>_<test>).
- The signing tests' ARC-Authentication-Results payload is built the way
  the suite's README ("AR Consolidation") assumes: every
  Authentication-Results field of the message whose authserv-id is the
  test's srv-id, in message order, its results (the text after the
  authserv-id, split at ";") joined with "; ", runs of whitespace made one
  space. The milter writes its own header instead; this is the harness's
  stand-in for it.
"""
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.stderr.write("arc-suite.py: python3-yaml is missing "
                     "(contrib/deps.sh installs it)\n")
    sys.exit(1)

EMPTY_CV = ("cv_fail_i1_as_cv_fail", "cv_fail_i2_as2_fail",
            "cv_fail_i2_as1_fail")


def esc(s):
    s = "" if s is None else str(s)
    return (s.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\r", "\\r").replace("\n", "\\n"))


def line(*fields):
    sys.stdout.write("\t".join(esc(f) for f in fields) + "\n")


class DupLoader(yaml.SafeLoader):
    """a SafeLoader that also remembers what a repeated key shadowed"""
    shadowed = []


def construct_mapping(loader, node, deep=False):
    pairs = loader.construct_pairs(node, deep=True)
    seen = {}
    for k, v in pairs:
        if k in seen:
            DupLoader.shadowed.append((k, seen[k]))
        seen[k] = v
    return dict(pairs)


DupLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                          construct_mapping)


def load(path):
    DupLoader.shadowed = []
    with open(path, "rb") as f:
        docs = [d for d in yaml.load_all(f, Loader=DupLoader) if d]
    return docs, list(DupLoader.shadowed)


def crlf(msg):
    return msg.replace("\r\n", "\n").replace("\n", "\r\n")


def want_cv(tid, cv):
    cv = "" if cv is None else str(cv).strip().lower()
    if cv == "" and tid.split("#")[0] in EMPTY_CV:
        return "fail"
    if cv not in ("pass", "fail", "none"):
        sys.stderr.write("arc-suite.py: %s: cv %r\n" % (tid, cv))
        sys.exit(1)
    return cv


def zones(scenario, recs):
    line("ZONE_RESET", scenario)
    for name, value in recs.items():
        # folded yml scalars: the record is one line
        line("ZONE", name, "TXT", str(value).replace("\n", " ").strip())


def header_fields(msg):
    """(name, unfolded value) of each header field of an LF message"""
    head = msg.split("\n\n", 1)[0]
    out = []
    for ln in head.split("\n"):
        if ln[:1] in (" ", "\t") and out:
            out[-1][1] += " " + ln.strip()
        elif ":" in ln:
            n, v = ln.split(":", 1)
            out.append([n.strip(), v.strip()])
    return out


def consolidate(msg, srv_id):
    results = []
    for name, value in header_fields(msg):
        if name.lower() != "authentication-results":
            continue
        parts = value.split(";")
        if parts[0].strip().lower() != srv_id.lower():
            continue
        for r in parts[1:]:
            r = re.sub(r"\s+", " ", r).strip()
            if r:
                results.append(r)
    return "; ".join(results)


def tests(path, want_tests, want_shadowed):
    """the scenarios of a yml, each after its ZONE lines, as (scenario,
    its dict, test id, test); the shadowed definitions (name, test) last,
    checked against the counts the data must have"""
    docs, shadowed = load(path)
    n = 0
    for d in docs:
        scen = d["description"].strip()
        zones(scen, d["txt-records"])
        for tid, t in d["tests"].items():
            n += 1
            yield scen, d, tid, t
        for k, t in shadowed:
            if k in d["tests"]:
                yield scen + " (shadowed)", d, k + "#1", t
    if n != want_tests or len(shadowed) != want_shadowed:
        sys.stderr.write("arc-suite.py: %s: %d tests, %d shadowed (want %d, "
                         "%d)\n" % (path, n, len(shadowed), want_tests,
                                    want_shadowed))
        sys.exit(1)


def validation(path):
    first = None  # the Chain Validation scenario
    for scen, d, tid, t in tests(path, 171, 4):
        first = first or d
        line("VALIDATE", scen, tid, want_cv(tid, t.get("cv")),
             crlf(t.get("message") or ""))
    dns_failures(first)


def dns_failures(chain):
    """our rows: the key record of passing chains fails in DNS"""
    key = "dummy._domainkey.example.org"
    for fail, want in (("servfail", "temperror"), ("timeout", "temperror"),
                       ("nxdomain", "fail"), ("nodata", "fail")):
        line("ZONE_RESET", "DNS (ours): key %s" % fail)
        if fail in ("servfail", "timeout"):
            line(fail.upper(), key, "")
        elif fail == "nodata":
            line("ZONE", key, "A", "192.0.2.1")
        for tid in ("cv_pass_i1_1", "cv_pass_i2_1"):
            t = chain["tests"][tid]
            if str(t["cv"]).lower() != "pass":
                sys.stderr.write("arc-suite.py: %s is not Pass\n" % tid)
                sys.exit(1)
            line("VALIDATE", "DNS (ours)", "dns_%s_%s" % (fail, tid), want,
                 crlf(t["message"]))


def signing(path):
    for scen, d, tid, t in tests(path, 17, 0):
        msg = t.get("message") or ""
        srv = str(t["srv-id"]).strip()
        line("SIGN", scen, tid, crlf(msg), d["domain"], d["sel"], srv,
             consolidate(msg, srv), str(t["sig-headers"]).strip(),
             str(t["t"]).strip(), t.get("AS") or "", t.get("AMS") or "",
             t.get("AAR") or "", d["privatekey"])


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: arc-suite.py DATA\n")
        return 2
    arc = os.path.join(sys.argv[1], "arc")
    validation(os.path.join(arc, "arc-draft-validation-tests.yml"))
    signing(os.path.join(arc, "arc-draft-sign-tests.yml"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
