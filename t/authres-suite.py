#!/usr/bin/env python3
"""authres-suite.py - lib/authres against other people's A-R expectations.

usage: authres-suite.py TOOL DATA

TOOL is t/authres-tool, DATA the test data directory (t/data; authres/ in
it). Suites: python-authres parse and format cases, OpenARC parse validity,
Mail::AuthenticationResults real-world and lenient cases, go-msgauth. Our
parser is strict RFC 8601; where another library is lenient we differ on
purpose, and every such case is listed in DELIBERATE with its reason. Any
other difference fails the suite, and so does a listed difference that no
longer differs (the list must stay true).
"""
import json
import os
import re
import subprocess
import sys

# (suite, case id) -> why we differ on purpose
DELIBERATE = {
    # python-authres parses these with its extension modules; the properties
    # "version=", "cipher=", "bits=" have no "ptype." and so are not
    # RFC 8601 2.2 propspecs. A strict parser rejects the header.
    ("python-authres parse", "parse-19"):
        "x-tls=pass version=TLSv1.2 ...: property without ptype (RFC 8601 2.2 propspec)",
    ("python-authres parse", "parse-21"):
        "x-tls=pass version=TLSv1.2 ... and header.b=Qgi/FoC0 ('/' is a tspecial, "
        "not a token): not RFC 8601 2.2 syntax",
    # python-authres formats what its objects can hold; ours cannot hold an
    # explicit version 1 (we write the version only when it is not 1,
    # RFC 8601 2.2: absent means 1) nor a comment after "none".
    ("python-authres format", "format-0"):
        "we do not write the default version \"1\" (RFC 8601 2.2: absence implies 1)",
    ("python-authres format", "format-1"):
        "no place for a comment after \"none\" in struct authres (the converted "
        "header lost it too)",
    # OpenARC only knows the registered ptypes; RFC 8601 2.2 ptype = Keyword
    # and 2.7 allows extension ptypes, which we accept and keep.
    ("openarc", "Unknown ptype#0"):
        "unknown ptype imap.override: a Keyword per RFC 8601 2.2, we accept it",
    ("openarc", "Unknown ptype#1"):
        "unknown ptype dnssec.signed: a Keyword per RFC 8601 2.2, we accept it",
    # Mail::AuthenticationResults is lenient by design.
    ("mail-authres real-world", "t/04-fastmail.t"):
        "properties without ptype (x-bits=1024, version=TLSv1.2), '_' in "
        "smtp_is_org_domain, '/' in header.b=oF80QtY/: not RFC 8601 syntax",
    ("mail-authres real-world", "t/04-outlook.t"):
        "'; outlook.com;' is not a resinfo and 'action=none' has no ptype",
    ("mail-authres real-world", "t/04-yahoo.t"):
        "'from=fastmail.com' after the authserv-id is not RFC 8601 syntax",
    ("mail-authres lenient-good", "lenient_good-0"):
        "'test.example.com foo;' - a word after the authserv-id that is not a version",
    ("mail-authres lenient-good", "lenient_good-1"):
        "'test.example.com foo ' - no ';' and no result",
    ("mail-authres lenient-good", "lenient_good-2"):
        "'foo = ' - a method without a result",
    ("mail-authres as_string", "as_string-0"):
        "the extracted RFC 8601 Appendix B example has an empty line (\"\\n\\n\"), "
        "which is not folding (RFC 5322 3.2.2); the real example is a unit test",
    ("mail-authres as_string", "as_string-1"):
        "empty results ('one=', 'two', 'three') are not RFC 8601 syntax",
    ("mail-authres as_string", "as_string-4"):
        "'address=...' has no ptype; rendering of the value is checked separately",
    ("mail-authres as_string", "as_string-5"):
        "'address=/somestring/orother' has no ptype and '/' is not a token "
        "character; rendering of the value is checked separately",
    ("mail-authres as_string", "as_string-6"):
        "method, ptype and property are Keywords, never quoted-strings (RFC 8601 2.2)",
    ("go-msgauth parse", "parse-9"):
        "an empty value: RFC 8601 2.2 requires an authserv-id",
}

# OpenARC: per input header, does a strict RFC 8601 parser accept it?
# (A header whose results appear in the expected AAR was accepted; one
# that contributes nothing was rejected or filtered: which, is decided here
# from the grammar and the case title.)
OPENARC_ACCEPT = {
    "Single header": [True],
    "Multiple headers": [True, True, True],
    "Multiple headers for the same method": [True, True, True],
    "Same method multiple times": [True],
    "Header with more results than we're willing to store": [True],
    "Non-matching authserv-id": [True, True, True],
    "CFWS": [True],
    "Unknown method": [True],
    "Unknown ptype": [False, False],
    "reason": [True],
    "misplaced reason": [False],
    "no-result": [True, False, False],
    "truncations": [False] * 11,
    "bad sequences": [False] * 4,
    "RFC 8904": [True],
    "quoted-string": [True],
    "version": [True, True],
    "invalid version": [False, False, False],
}


class Tool:
    def __init__(self, path):
        self.path = path

    def run(self, args, lines):
        inp = "".join(json.dumps(x) + "\n" for x in lines).encode()
        out = subprocess.run([self.path] + args, input=inp,
                             stdout=subprocess.PIPE, check=True).stdout
        res = [json.loads(l) for l in out.decode("utf-8", "replace").splitlines()]
        if len(res) != len(lines):
            raise RuntimeError("tool answered %d lines for %d" % (len(res), len(lines)))
        return res

    def parse(self, values):
        return self.run([], values)

    def ident(self, values):
        return self.run(["--id"], values)

    def render(self, specs):
        return self.run(["--render"], specs)


class Counter:
    def __init__(self):
        self.suites = []        # (name, passed, total)
        self.failures = []
        self.deliberate = []
        self.cur = None

    def suite(self, name):
        self.cur = [name, 0, 0]
        self.suites.append(self.cur)

    def check(self, case, ok, detail=""):
        """ok: our behaviour matches the expectation"""
        name = self.cur[0]
        self.cur[2] += 1
        why = DELIBERATE.get((name, case))
        if ok and why is None:
            self.cur[1] += 1
        elif not ok and why is not None:
            self.cur[1] += 1
            self.deliberate.append("%s %s: %s" % (name, case, why))
        elif ok:
            self.failures.append("%s %s: listed as a deliberate difference "
                                 "but matches now" % (name, case))
        else:
            self.failures.append("%s %s: %s" % (name, case, detail))

    def note(self, msg):
        self.deliberate.append(msg)


def strip_name(h):
    return re.sub(r"^\s*authentication-results\s*:", "", h, flags=re.I)


def norm_ws(s):
    """undo folding and collapse white space (a folding-only comparison)"""
    return re.sub(r"[ \t]+", " ", re.sub(r"\r?\n", "", s)).strip()


def unfold_text(s):
    return re.sub(r"\r?\n\t *", " ", s)


def semantic(p):
    """the comparable content of a parse"""
    if "error" in p:
        return ("error",)
    return (p["authserv_id"], p["version"], p["none"],
            tuple(result_key(r) for r in p["results"]))


def result_key(r):
    return (r["method"], r["result"], r["reason"], r["comment"],
            tuple((q["ptype"], q["property"], q["value"], q["comment"])
                  for q in r["props"]))


def prop_value(r, attr):
    for q in r["props"]:
        if (q["ptype"] + "_" + q["property"]).replace("-", "_") == attr:
            return q["value"]
    return "None"


def py_field(p, field):
    """an authres 1.2.0 attribute path evaluated on our parse"""
    if field == "authserv_id":
        return p["authserv_id"]
    if field == "results[*].(method,result)":
        return [[r["method"], r["result"]] for r in p["results"]]
    m = re.match(r"results\[(\d+)\](?:\.(.*))?$", field)
    if not m:
        raise ValueError("unknown field " + field)
    i = int(m.group(1))
    if i >= len(p["results"]):
        return "<missing result %d>" % i
    r = p["results"][i]
    rest = m.group(2)
    if rest is None:
        return unfold_text(r["text"])
    if rest in ("method", "result"):
        return r[rest]
    if rest == "reason":
        return r["reason"] if r["reason"] is not None else "None"
    m = re.match(r"properties\[(\d+)\]\.(type|name|value)$", rest)
    if m:
        j = int(m.group(1))
        if j >= len(r["props"]):
            return "<missing property %d>" % j
        key = {"type": "ptype", "name": "property", "value": "value"}
        return r["props"][j][key[m.group(2)]]
    return prop_value(r, rest)


def python_authres(tool, cnt, base):
    d = json.load(open(os.path.join(base, "python-authres", "parse-cases.json")))
    cases = d["cases"]
    parsed = tool.parse([strip_name(c["input"]) for c in cases])
    cnt.suite("python-authres parse")
    for i, (c, p) in enumerate(zip(cases, parsed)):
        cid = "parse-%d" % i
        if "expected_error" in c:
            cnt.check(cid, "error" in p, "accepted %r (expected %s)"
                      % (c["input"], c["expected_error"]))
            continue
        if "error" in p:
            cnt.check(cid, False, "%r: %s" % (c["input"], p["error"]))
            continue
        bad = []
        for a in c["assertions"]:
            got = py_field(p, a["field"])
            if got != a["expected"]:
                bad.append("%s: got %r, want %r" % (a["field"], got, a["expected"]))
        cnt.check(cid, not bad, "%r: %s" % (c["input"], "; ".join(bad)))

    d = json.load(open(os.path.join(base, "python-authres", "format-cases.json")))
    cases = d["cases"]
    specs = []
    for c in cases:
        h = c["header"]
        spec = [h["authserv_id"], h["version"]]
        for r in h["results"]:
            if r["method"] is None:
                continue
            spec += ["r", r["method"], r["result"], r["reason"], r["result_comment"]]
            for q in r["properties"]:
                spec += ["p", q["type"], q["name"], q["value"], q["comment"]]
        specs.append(spec)
    rendered = tool.render(specs)
    want = [strip_name(c["expected"]).lstrip() for c in cases]
    ours = [r.get("value", "") for r in rendered]
    pw, po = tool.parse(want), tool.parse(ours)
    cnt.suite("python-authres format")
    exact = folded = 0
    for i, c in enumerate(cases):
        cid = "format-%d" % i
        if "error" in rendered[i]:
            cnt.check(cid, False, "render refused: %s" % rendered[i]["error"])
            continue
        if ours[i] == want[i]:
            exact += 1
            cnt.check(cid, True)
        elif norm_ws(ours[i]) == norm_ws(want[i]):
            folded += 1
            cnt.check(cid, True)
        else:
            sem = semantic(pw[i]) == semantic(po[i]) and "error" not in po[i]
            cnt.check(cid, False, "%s:\n  got  %r\n  want %r%s" % (
                cid, ours[i], want[i],
                " (same meaning)" if sem else ""))
    cnt.note("python-authres format: %d byte-exact, %d equal after unfolding"
             % (exact, folded))


def openarc(tool, cnt, base):
    d = json.load(open(os.path.join(base, "openarc", "ar-parse-cases.json")))
    cnt.suite("openarc")
    for c in d["cases"]:
        title = c["title"]
        inputs = c["input_authentication_results"]
        accept = OPENARC_ACCEPT.get(title)
        if accept is None or len(accept) != len(inputs):
            cnt.check(title, False, "no expectation table entry")
            continue
        parsed = tool.parse(inputs)
        ok_all = True
        for k, (v, p, want) in enumerate(zip(inputs, parsed, accept)):
            ok = ("error" not in p) == want
            ok_all = ok_all and ok
            cnt.check("%s#%d" % (title, k), ok, "%r: %s" % (
                v, p.get("error", "accepted") if want else "accepted, want reject"))
        # every result OpenARC copied must be in our parse, equal
        aar = re.sub(r"^\s*i=\d+;\s*", "", c["expected_arc_authentication_results"])
        e = tool.parse([aar])[0]
        if "error" in e:
            cnt.check(title + " AAR", False, "cannot parse expected AAR %r: %s"
                      % (aar, e["error"]))
            continue
        ours = set()
        for p in parsed:
            if "error" not in p and p["authserv_id"].lower() == "example.com":
                ours.update(result_key(r) for r in p["results"])
        missing = []
        for r in e["results"]:
            k = result_key(r)
            if k == ("arc", "none", None, None,
                     (("smtp", "remote-ip", "127.0.0.1", None),)):
                continue        # OpenARC's own result
            if k not in ours:
                missing.append(r["text"])
        cnt.check(title + " AAR", not missing, "results in the AAR that we did "
                  "not parse the same: %r" % missing)


def result_matches(r, match):
    first, rest = match[0], match[1:]
    if r["method"] != first["key"] or r["result"] != first["value"]:
        return False
    for m in rest:
        if not any(q["ptype"] + "." + q["property"] == m["key"] and
                   q["value"] == m["value"] for q in r["props"]):
            return False
    return True


def mail_authres(tool, cnt, base):
    d = json.load(open(os.path.join(base, "mail-authenticationresults", "cases.json")))
    cnt.suite("mail-authres real-world")
    for c in d["real_world"]:
        parsed = tool.parse([strip_name(h) for h in c["headers"]])
        bad = [p["error"] for p in parsed if "error" in p]
        if not bad and c["authserv_id"] is not None:
            bad += ["authserv-id %r" % p["authserv_id"] for p in parsed
                    if p["authserv_id"] != c["authserv_id"]]
        if not bad:
            results = [r for p in parsed for r in p["results"]]
            for a in c["assertions"]:
                n = sum(1 for r in results if result_matches(r, a["match"]))
                if n != a["expected_count"]:
                    bad.append("%s: %d found, want %d" % (a["label"], n,
                                                          a["expected_count"]))
        cnt.check(c["file"], not bad, "; ".join(bad))

    cnt.suite("mail-authres lenient-good")
    parsed = tool.parse(d["lenient_good"])
    for i, (v, p) in enumerate(zip(d["lenient_good"], parsed)):
        cnt.check("lenient_good-%d" % i, "error" not in p,
                  "%r: %s" % (v, p.get("error")))
    cnt.suite("mail-authres lenient-bad")
    parsed = tool.parse(d["lenient_bad"])
    for i, (v, p) in enumerate(zip(d["lenient_bad"], parsed)):
        cnt.check("lenient_bad-%d" % i, "error" in p, "%r accepted" % v)

    cnt.suite("mail-authres as_string")
    for i, c in enumerate(d["as_string"]):
        cid = "as_string-%d" % i
        p = tool.parse([strip_name(c["input"])])[0]
        if "error" in p:
            cnt.check(cid, False, "%r: %s" % (c["input"], p["error"]))
        elif c.get("expected_as_string") is not None:
            e = tool.parse([c["expected_as_string"]])[0]
            cnt.check(cid, semantic(e)[:3] == semantic(p)[:3] and
                      [r[:3] + r[4:] for r in semantic(e)[3]] ==
                      [r[:3] + r[4:] for r in semantic(p)[3]],
                      "%r parses differently from %r" % (c["input"],
                                                         c["expected_as_string"]))
        else:
            cnt.check(cid, True)
        # a value that must be quoted on output
        if "expected_property" in c:
            for name, value in c["expected_property"].items():
                r = tool.render([["example.com", None, "r", "dkim", "pass", None,
                                  None, "p", "x", name, value, None]])[0]
                want = c["expected_property_as_string"]
                m = re.search(r'address="[^"]*"', want)
                want = m.group(0) if m else want
                got = re.search(r"x\.(address=\S+)", r.get("value", ""))
                got = got.group(1) if got else r
                cnt.check(cid + " render", got == want,
                          "rendered %r, want %r" % (got, want))


def go_msgauth(tool, cnt, base):
    d = json.load(open(os.path.join(base, "go-msgauth", "cases.json")))
    cases = d["cases"]
    parsed = tool.parse([c["value"] for c in cases])
    cnt.suite("go-msgauth parse")
    for i, (c, p) in enumerate(zip(cases, parsed)):
        cid = "parse-%d" % i
        if "error" in p:
            cnt.check(cid, False, "%r: %s" % (c["value"], p["error"]))
            continue
        got = (p["authserv_id"], [
            (r["method"], r["result"], r["reason"],
             {q["ptype"] + "." + q["property"]: q["value"] for q in r["props"]})
            for r in p["results"]])
        want = (c["identifier"], [
            (r["method"], r["result"], r.get("reason"), r.get("properties", {}))
            for r in c["results"]])
        cnt.check(cid, got == want, "%r: got %r, want %r" % (c["value"], got, want))
    cnt.suite("go-msgauth format")
    fmt = [c for c in cases if c.get("format_roundtrip")]
    specs = []
    for c in fmt:
        spec = [c["identifier"], None]
        for r in c["results"]:
            spec += ["r", r["method"], r["result"], r.get("reason"), None]
            for k, v in r.get("properties", {}).items():
                ptype, prop = k.split(".", 1)
                spec += ["p", ptype, prop, v, None]
        specs.append(spec)
    exact = 0
    for i, (c, r) in enumerate(zip(fmt, tool.render(specs))):
        got = r.get("value", r.get("error"))
        if got == c["value"]:
            exact += 1
        cnt.check("format-%d" % i, norm_ws(got) == norm_ws(c["value"]),
                  "got %r, want %r" % (got, c["value"]))
    cnt.note("go-msgauth format: %d of %d byte-exact, the rest differ only in "
             "folding or white space (go-msgauth writes one line, and a "
             "trailing space after a result without properties)"
             % (exact, len(fmt)))


def id_consistency(tool, cnt, base):
    """authres_authserv_id agrees with the full parser on every value that
    parses, and finds an id in the real-world headers that do not"""
    values = []
    d = json.load(open(os.path.join(base, "python-authres", "parse-cases.json")))
    values += [strip_name(c["input"]) for c in d["cases"]]
    d = json.load(open(os.path.join(base, "openarc", "ar-parse-cases.json")))
    for c in d["cases"]:
        values += c["input_authentication_results"]
    d = json.load(open(os.path.join(base, "mail-authenticationresults", "cases.json")))
    values += [strip_name(h) for c in d["real_world"] for h in c["headers"]]
    values += [strip_name(c["input"]) for c in d["as_string"]]
    d = json.load(open(os.path.join(base, "go-msgauth", "cases.json")))
    values += [c["value"] for c in d["cases"]]
    cnt.suite("authserv-id")
    for i, (v, p, q) in enumerate(zip(values, tool.parse(values), tool.ident(values))):
        if "error" in p:
            # lenient: an id is still found when there is one to find
            want_id = v.strip() != "" and not v.lstrip().startswith(";")
            cnt.check("id-%d" % i, ("error" not in q) == want_id,
                      "%r: %r" % (v, q))
        else:
            cnt.check("id-%d" % i, q.get("authserv_id") == p["authserv_id"].lower(),
                      "%r: lenient %r, strict %r" % (v, q, p["authserv_id"]))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    tool = Tool(sys.argv[1])
    base = os.path.join(sys.argv[2], "authres")
    cnt = Counter()
    python_authres(tool, cnt, base)
    openarc(tool, cnt, base)
    mail_authres(tool, cnt, base)
    go_msgauth(tool, cnt, base)
    id_consistency(tool, cnt, base)

    for name, passed, total in cnt.suites:
        print("authres %s: %d/%d" % (name, passed, total))
    if cnt.deliberate:
        print("deliberate differences and notes:")
        for d in cnt.deliberate:
            print("  " + d)
    for f in cnt.failures:
        print("FAIL " + f)
    passed = sum(s[1] for s in cnt.suites)
    failed = sum(s[2] - s[1] for s in cnt.suites)
    print("authres-suite: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
