#!/usr/bin/python3
"""srcguard.py - the source guard of make check, in the spirit of curl's
checksrc (t/srcguard.sh runs it with the source and the build tree).

Rules; each finding is printed as FILE:LINE: RULE: what is wrong, and any
finding makes the guard exit 1:
  layer      an #include "x.h" in lib/LAYER/ of a header from a layer that
             INC_LAYER of Makefile.am does not name (the one table: the
             compiler's include paths and this guard read the same lines);
             "config.h" is autoconf's and always allowed; our headers are
             included by basename, and each basename exists once in lib/
  libmilter  a libmilter header under lib/
  banned     a call of gets, sprintf, vsprintf, strcpy, strcat, strncpy,
             strtok, atoi, atol, atoll, system, popen or alloca under lib/
             or milter/
  print      under lib/: printf and its family, puts, perror, putchar, or
             any use of stdout or stderr (lib code never prints: it logs
             through log.h, or hands text to its caller)
  prefix     a symbol exported by a layer library (nm of lib/*/lib*.a in
             the build tree) without its file's prefix (PREFIXES below)
  clash      a symbol exported by a layer library or by the daemon's
             objects that a library we link also exports (nm -D); one of
             ours would replace the library's for every caller
  twice      a symbol defined by two of our objects
  length     a C file under lib/, milter/, t/, fuzz/ or bench/ over
             MAX_LINES lines
Then a self-test plants one fault of each kind in a copy of lib/ and
checks that every one is reported, that the planted wrong-direction
include does not compile with the layer's include paths and that the
planted libopendkim name is really exported by the planted object.

usage: srcguard.py TOP_SRCDIR TOP_BUILDDIR [-v]
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

MAX_LINES = 1500

# the libraries we link (-lNAME), for the clash rule
LINKED = ("opendkim", "config", "unbound", "milter", "ssl", "crypto", "spf2",
          "opendmarc", "z", "sqlite3", "pq")

BANNED = ("gets", "sprintf", "vsprintf", "strcpy", "strcat", "strncpy",
          "strtok", "atoi", "atol", "atoll", "system", "popen", "alloca")
PRINTING = ("printf", "vprintf", "fprintf", "vfprintf", "dprintf", "vdprintf",
            "puts", "perror", "putchar")
STREAMS = ("stdout", "stderr")

# (file under lib/, name) that the print rule lets through
PRINT_EXCEPTIONS = {
    # the logger is where lib's lines go: with -f (to_stderr) log_msg()
    # writes them to stderr itself (see log.c). Nothing else may.
    ("core/log.c", "fprintf"),
    ("core/log.c", "stderr"),
}

# The prefixes of the names a file under lib/ exports, per file; "LAYER/*"
# covers the files of a layer without an entry of their own. A name has a
# prefix when it starts with it: "x" is util.c's allocation family
# (xmalloc, xstrdup, xasprintf, ...), every other prefix ends in "_".
# A new file needs a line here.
PREFIXES = {
    "core/util.c": ("x", "arena_", "str_", "mem_", "dynbuf_"),
    "core/log.c": ("log_",),
    "core/cidr.c": ("cidr_", "ip_"),
    "core/dname.c": ("dname_",),
    "core/deadline.c": ("deadline_",),
    "stats/stats.c": ("stats_",),
    "settings/settings.c": ("settings_",),
    "settings/address.c": ("settings_",),
    "settings/reports.c": ("settings_",),
    "dns/*": ("dns_",),
    "spf/spf.c": ("spf_",),
    "dkim/*": ("dkv_",),
    "authres/authres.c": ("authres_",),
    "dmarc/dmarc.c": ("dmarc_",),
    "dmarc/treewalk.c": ("treewalk_",),
    "dmarc/psl.c": ("psl_",),
    "dmarc/mailaddr.c": ("mailaddr_",),
    "arc/*": ("arc_",),
    "iprev/iprev.c": ("iprev_",),
    "policy/policy.c": ("policy_",),
    "report/*": ("report_",),
    "policy/results.c": ("results_",),
    "session/*": ("session_",),  # session.c, env.c, render.c, method_*.c
    "session/message.c": ("message_",),
    "session/metrics.c": ("session_",),
}

# (file under lib/, name) exported on purpose without the prefix and in
# clash with a library we link
SYMBOL_EXCEPTIONS = {
    # libopendkim decodes the public key of every signature with OpenSSL's
    # d2i_PUBKEY_bio(); dkim_key.c defines that function so that the
    # dynamic linker binds libopendkim's call to ours, which decodes RSA
    # keys fast and keeps them by their DER bytes (t/test-dkim asserts
    # that it is really called). It clashes with libcrypto on purpose.
    ("dkim/dkim_key.c", "d2i_PUBKEY_bio"),
}


class Finding:
    def __init__(self, path, line, rule, text):
        self.path, self.line, self.rule, self.text = path, line, rule, text

    def __str__(self):
        return "%s:%d: %s: %s" % (self.path, self.line, self.rule, self.text)


# ---- reading C ------------------------------------------------------------

def strip_c(text, keep_strings):
    """text with comments (and, unless keep_strings, the contents of string
    and character literals) blanked; newlines stay, so lines keep their
    numbers"""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            if keep_strings:
                out.append(text[i:j])
            else:
                out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def c_files(top, sub):
    """the .c and .h files under top/sub, as paths relative to top, sorted"""
    found = []
    for d, dirs, files in os.walk(os.path.join(top, sub)):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                found.append(os.path.relpath(os.path.join(d, f), top))
    return found


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# ---- the layer table ------------------------------------------------------

def makefile_vars(path):
    """NAME -> raw value of every `NAME = value` and `NAME += value` of a
    Makefile (continuation lines joined)"""
    text = read(path).replace("\\\n", " ")
    vars = {}
    for line in text.split("\n"):
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*(\+?)=\s*(.*)$", line)
        if m is None:
            continue
        name, plus, value = m.group(1), m.group(2), m.group(3).strip()
        vars[name] = (vars.get(name, "") + " " + value).strip() if plus else value
    return vars


def expand(value, vars, depth=0):
    """$(NAME) and ${NAME} in value replaced, recursively; $$ is $"""
    if depth > 20:
        raise ValueError("recursive make variable in: " + value)

    def one(m):
        if m.group(0) == "$$":
            return "$"
        return expand(vars.get(m.group(1) or m.group(2), ""), vars, depth + 1)
    return re.sub(r"\$\$|\$\(([A-Za-z0-9_]+)\)|\$\{([A-Za-z0-9_]+)\}", one, value)


def layer_table(srcdir):
    """layer -> the set of layers its INC_ variable of Makefile.am names"""
    vars = makefile_vars(os.path.join(srcdir, "Makefile.am"))
    table = {}
    for name in vars:
        if re.match(r"INC_[A-Z]+$", name) and name != "INC_ALL":
            flags = expand(vars[name], vars)
            table[name[4:].lower()] = set(
                re.findall(r"-I\S*/lib/([a-z0-9_]+)(?:\s|/?$)", flags + " "))
    return table


def lib_layers(top):
    """the layer folders of lib/ (not an in-tree build's .deps)"""
    return sorted(d for d in os.listdir(os.path.join(top, "lib"))
                  if re.match(r"[a-z0-9_]+$", d)
                  and os.path.isdir(os.path.join(top, "lib", d)))


# ---- rules on the sources -------------------------------------------------

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]*)[>"]', re.M)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def call_re(names):
    # a call of a function of that name: not a member (s.f(), p->f())
    return re.compile(r"(?<![\w.>])(%s)\s*\(" % "|".join(names))


def check_sources(top, table):
    """findings of the include, libmilter, banned, print and length rules
    in the tree at top; and the number of files read"""
    found = []
    layers = lib_layers(top)
    headers = {}
    for layer in layers:
        for f in sorted(os.listdir(os.path.join(top, "lib", layer))):
            if f.endswith(".h"):
                headers.setdefault(f, []).append(layer)
    for h, where in sorted(headers.items()):
        if len(where) > 1:
            found.append(Finding("lib/%s/%s" % (where[1], h), 1, "layer",
                                 "%s exists in lib/%s too: basenames must be unique"
                                 % (h, where[0])))
    for layer in layers:
        if layer not in table:
            found.append(Finding("Makefile.am", 1, "layer",
                                 "lib/%s has no INC_%s" % (layer, layer.upper())))

    banned = call_re(BANNED)
    printing = call_re(PRINTING)
    streams = re.compile(r"(?<![\w.>])(%s)\b" % "|".join(STREAMS))
    nfiles = 0
    for sub in ("lib", "milter", "t", "fuzz", "bench", "reporter"):
        for path in c_files(top, sub):
            nfiles += 1
            text = read(os.path.join(top, path))
            nlines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
            if nlines > MAX_LINES:
                found.append(Finding(path, MAX_LINES + 1, "length",
                                     "%d lines, more than %d" % (nlines, MAX_LINES)))
            if sub not in ("lib", "milter"):
                continue
            code = strip_c(text, keep_strings=False)
            for m in banned.finditer(code):
                found.append(Finding(path, line_of(code, m.start()), "banned",
                                     "%s()" % m.group(1)))
            if sub != "lib":
                continue
            inlib = path[len("lib/"):]
            layer = inlib.split("/")[0]
            for m in printing.finditer(code):
                if (inlib, m.group(1)) not in PRINT_EXCEPTIONS:
                    found.append(Finding(path, line_of(code, m.start()), "print",
                                         "%s(): lib code does not print" % m.group(1)))
            for m in streams.finditer(code):
                if (inlib, m.group(1)) not in PRINT_EXCEPTIONS:
                    found.append(Finding(path, line_of(code, m.start()), "print",
                                         "%s: lib code does not print" % m.group(1)))
            nocomment = strip_c(text, keep_strings=True)
            for m in INCLUDE.finditer(nocomment):
                found.extend(check_include(path, line_of(nocomment, m.start()),
                                           layer, m.group(1), m.group(2),
                                           headers, table))
    return found, nfiles


def check_include(path, line, layer, quote, name, headers, table):
    base = os.path.basename(name)
    if name.startswith("libmilter/") or base in ("mfapi.h", "mfdef.h"):
        return [Finding(path, line, "libmilter",
                        "#include %s: no libmilter under lib/" % name)]
    if quote == "<":
        if "/" in name or base not in headers:
            return []  # a system header
    elif name == "config.h":
        return []
    elif "/" in name:
        return [Finding(path, line, "layer",
                        '#include "%s": include our headers by basename' % name)]
    elif base not in headers:
        return [Finding(path, line, "layer",
                        '#include "%s": no such header in lib/' % name)]
    owner = headers[base][0]
    if owner == layer or owner in table.get(layer, ()):
        return []
    return [Finding(path, line, "layer",
                    '#include "%s" is lib/%s\'s: INC_%s (Makefile.am) allows %s'
                    % (base, owner, layer.upper(),
                       ", ".join(sorted(table.get(layer, ())) or ["nothing"])))]


# ---- rules on the symbols ---------------------------------------------------

def nm_defined(paths):
    """[(object file or member, name)] of the global symbols defined in paths"""
    if not paths:
        return []
    r = subprocess.run(["nm", "-A", "-g", "--defined-only"] + paths,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("nm: " + r.stderr.strip())
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        where = parts[0].rsplit(":", 1)[0] if len(parts) == 3 else parts[0].rstrip(":")
        out.append((where, parts[-1]))
    return out


def layer_symbols(builddir):
    """[(source file under lib/, name)] exported by the layer libraries"""
    archives = []
    for layer in lib_layers(builddir):
        a = os.path.join(builddir, "lib", layer, "lib%s.a" % layer)
        if not os.path.exists(a):
            raise RuntimeError("%s missing: build the libraries first (make)" % a)
        archives.append(a)
    syms = []
    for where, name in nm_defined(archives):
        # lib/dns/libdns.a:libdns_a-dns_cache.o -> dns/dns_cache.c
        m = re.search(r"lib/([a-z0-9_]+)/lib[a-z0-9_]+\.a:lib[a-z0-9_]+_a-(.+)\.o$", where)
        if m is None:
            raise RuntimeError("nm: cannot place %s" % where)
        syms.append(("%s/%s.c" % (m.group(1), m.group(2)), name))
    return syms


def milter_symbols(builddir):
    """[(source file, name)] exported by the daemon's objects"""
    objs = sorted(os.path.join(builddir, "milter", f)
                  for f in os.listdir(os.path.join(builddir, "milter"))
                  if re.match(r"authmilter-.*\.o$", f))
    if not objs:
        raise RuntimeError("no milter/authmilter-*.o in %s: build first (make)"
                           % builddir)
    # milter/authmilter-daemon.o -> milter/daemon.c
    return [("milter/%s.c" % re.sub(r".*/authmilter-(.*)\.o$", r"\1", w), n)
            for w, n in nm_defined(objs)]


def find_lib(name, dirs):
    for d in dirs:
        p = os.path.join(d, "lib%s.so" % name)
        if os.path.exists(p):
            return os.path.realpath(p)
    for d in dirs:
        try:
            sos = sorted(f for f in os.listdir(d) if f.startswith("lib%s.so." % name))
        except OSError:
            continue
        if sos:
            return os.path.realpath(os.path.join(d, sos[0]))
    return None


def linked_exports(cc):
    """name -> the library that exports it, of every library in LINKED;
    and the libraries that were not found"""
    arch = subprocess.run(shlex.split(cc) + ["-print-multiarch"], capture_output=True,
                          text=True).stdout.strip()
    dirs = ["/usr/local/lib"]
    if arch:
        dirs += ["/usr/lib/" + arch, "/lib/" + arch]
    dirs += ["/usr/lib", "/lib"]
    exports, missing = {}, []
    for lib in LINKED:
        path = find_lib(lib, dirs)
        if path is None:
            missing.append(lib)
            continue
        r = subprocess.run(["nm", "-D", "--defined-only", path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            missing.append(lib)
            continue
        soname = os.path.basename(path)
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                exports.setdefault(parts[2].split("@")[0], soname)
    return exports, missing


def prefix_rule(inlib):
    if inlib in PREFIXES:
        return PREFIXES[inlib]
    return PREFIXES.get(inlib.split("/")[0] + "/*")


def def_line(top, path, name):
    """the line of path that defines name (its start, in our style), else
    the first that names it, else 1"""
    try:
        code = strip_c(read(os.path.join(top, path)), keep_strings=False)
    except OSError:
        return 1
    for pattern in (r"^%s\b" % re.escape(name), r"\b%s\b" % re.escape(name)):
        m = re.search(pattern, code, re.M)
        if m is not None:
            return line_of(code, m.start())
    return 1


def check_symbols(syms, milter, exports, top):
    """findings of the prefix, clash and twice rules; syms are the layer
    libraries' (file under lib/, name), milter the daemon's objects'
    (source file, name); top is the source tree, for line numbers"""
    found = []
    seen = {}
    for inlib, name in syms:
        path = "lib/" + inlib
        line = def_line(top, path, name)
        if name in seen and seen[name] != path:
            found.append(Finding(path, line, "twice", "%s is also defined in %s"
                                 % (name, seen[name])))
        seen.setdefault(name, path)
        if (inlib, name) in SYMBOL_EXCEPTIONS:
            continue
        rule = prefix_rule(inlib)
        if rule is None:
            found.append(Finding(path, line, "prefix", "%s: no prefix rule for this "
                                 "file (PREFIXES in t/srcguard/srcguard.py)" % name))
        elif not name.startswith(rule):
            found.append(Finding(path, line, "prefix", "%s does not start with %s"
                                 % (name, " or ".join(rule))))
        if name in exports:
            found.append(Finding(path, line, "clash", "%s is exported by %s too"
                                 % (name, exports[name])))
    for path, name in milter:
        line = def_line(top, path, name)
        if name in seen:
            found.append(Finding(path, line, "twice", "%s is also defined in %s"
                                 % (name, seen[name])))
        if name in exports:
            found.append(Finding(path, line, "clash", "%s is exported by %s too"
                                 % (name, exports[name])))
    return found


# ---- the self-test ----------------------------------------------------------

class Build:
    """compiles a file of lib/ the way the build tree's Makefile does, with
    the include paths pointing into another copy of the sources"""

    def __init__(self, builddir):
        self.builddir = builddir
        self.vars = makefile_vars(os.path.join(builddir, "Makefile"))
        self.cc = expand("$(CC)", self.vars) or "cc"

    def compile(self, top, layer, src, obj):
        vars = dict(self.vars, top_srcdir=top, srcdir=top)
        flags = expand("$(DEFS) $(DEFAULT_INCLUDES) $(lib_%s_lib%s_a_CPPFLAGS) "
                       "$(CPPFLAGS) $(CFLAGS)" % (layer, layer), vars)
        return subprocess.run(shlex.split(self.cc) + shlex.split(flags) +
                              ["-c", src, "-o", obj],
                              cwd=self.builddir, capture_output=True, text=True)


def plant(path, text, after=None):
    """put text into the file at path, after the first line containing
    `after` (else at the end); returns the line number of text's first line"""
    lines = read(path).split("\n")
    at = len(lines) - 1 if lines[-1] == "" else len(lines)
    if after is not None:
        at = next((i + 1 for i, l in enumerate(lines) if after in l), 0)
    lines[at:at] = text.split("\n")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return at + 1


def self_test(srcdir, build, table, syms, milter, exports, before):
    """plant faults in a copy of lib/, check the copy as the tree was
    checked (before: the tree's findings); returns [(what, caught, detail)]"""
    results = []
    tmp = tempfile.mkdtemp(prefix="srcguard.")
    try:
        shutil.copytree(os.path.join(srcdir, "lib"), os.path.join(tmp, "lib"),
                        ignore=shutil.ignore_patterns("*.o", "*.a", ".deps", ".dirstamp"))
        dns_c = os.path.join(tmp, "lib/dns/dns.c")
        r = build.compile(tmp, "dns", dns_c, os.path.join(tmp, "dns.o"))
        control = r.returncode == 0
        inc_line = plant(dns_c, '#include "session.h"', after='#include "config.h"')
        r = build.compile(tmp, "dns", dns_c, os.path.join(tmp, "dns.o"))
        refused = control and r.returncode != 0 and "session.h" in r.stderr

        dkb = os.path.join(tmp, "lib/dkim/dkim_body.c")
        plant(dkb, "\nint dkim_getsighdr(void);\n\nint\ndkim_getsighdr(void)\n"
              "{\n\treturn 0;\n}")
        obj = os.path.join(tmp, "dkim_body.o")
        r = build.compile(tmp, "dkim", dkb, obj)
        planted = [("dkim/dkim_body.c", n) for _, n in nm_defined([obj])] \
            if r.returncode == 0 else []
        exported = ("dkim/dkim_body.c", "dkim_getsighdr") in planted
        why_not = "does not export it" if r.returncode == 0 else \
            "does not compile: " + r.stderr[-300:]

        mil_line = plant(os.path.join(tmp, "lib/spf/spf.c"),
                         "#include <libmilter/mfapi.h>", after='#include "config.h"')
        ban_line = plant(os.path.join(tmp, "lib/dmarc/psl.c"),
                         "\nstatic void\nplanted(char *d)\n{\n"
                         "\tstrcpy(d, \"x\");\n}") + 4
        ar_c = os.path.join(tmp, "lib/authres/authres.c")
        prt_line = plant(ar_c, "\nstatic void\nplanted(void)\n{\n"
                         "\tfputs(\"x\", stdout);\n}") + 4
        plant(ar_c, "\n" * MAX_LINES)

        got, _ = check_sources(tmp, table)
        # what the real tree has is no news (planting moved its lines)
        old = [(f.path, f.rule, f.text) for f in before]
        new = []
        for f in got:
            if (f.path, f.rule, f.text) in old:
                old.remove((f.path, f.rule, f.text))
            else:
                new.append(str(f))
        syms2 = [s for s in syms if s[0] != "dkim/dkim_body.c"] + planted
        got_syms = [str(f) for f in check_symbols(syms2, milter, exports, tmp)]

        def caught(prefix, rule, lines=None):
            return [f for f in (lines if lines is not None else new)
                    if f.startswith(prefix) and (": %s: " % rule) in f]

        hit = caught("lib/dns/dns.c:%d:" % inc_line, "layer")
        results.append(("planted include caught", bool(hit) and refused,
                        "found %s; with INC_DNS the compiler %s" % (
                            hit or "nothing", "refuses it" if refused else
                            ("took it" if control else "failed on the clean file"))))
        hit = caught("lib/dkim/dkim_body.c:", "clash", got_syms)
        hit = [f for f in hit if "dkim_getsighdr" in f and "libopendkim" in f]
        results.append(("planted clash caught", bool(hit) and exported,
                        "found %s; the object %s" % (
                            hit or "nothing", "exports it" if exported else why_not)))
        results.append(("planted libmilter include caught",
                        bool(caught("lib/spf/spf.c:%d:" % mil_line, "libmilter")), ""))
        results.append(("planted strcpy caught",
                        bool(caught("lib/dmarc/psl.c:%d:" % ban_line, "banned")), ""))
        results.append(("planted print caught",
                        bool(caught("lib/authres/authres.c:%d:" % prt_line, "print")), ""))
        results.append(("planted long file caught",
                        bool(caught("lib/authres/authres.c:%d:" % (MAX_LINES + 1),
                                    "length")), ""))
        # one finding for each of the five faults planted in the sources
        results.append(("nothing else reported", len(new) == 5, "\n".join(new)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


# ---- main ---------------------------------------------------------------------

def main(argv):
    if len(argv) < 3:
        print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
        return 2
    srcdir, builddir = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    verbose = "-v" in argv[3:]
    passed = failed = 0

    table = layer_table(srcdir)
    if verbose:
        for layer in sorted(table):
            print("srcguard: INC_%s: %s" % (layer.upper(), " ".join(sorted(table[layer]))))
    found, nfiles = check_sources(srcdir, table)
    build = Build(builddir)
    exports, missing = linked_exports(build.cc)
    for lib in missing:
        found.append(Finding("Makefile.am", 1, "clash",
                             "lib%s.so not found: cannot check clashes with it" % lib))
    syms = layer_symbols(builddir)
    milter = milter_symbols(builddir)
    found += check_symbols(syms, milter, exports, srcdir)

    rules = ("layer", "libmilter", "banned", "print", "length", "prefix", "clash", "twice")
    for rule in rules:
        bad = [f for f in found if f.rule == rule]
        for f in bad:
            print(f)
        if bad:
            failed += 1
        else:
            passed += 1
    print("srcguard: %d files, %d symbols checked against %d exports of %d "
          "libraries: %s" % (nfiles, len(syms) + len(milter), len(exports),
                             len(LINKED) - len(missing),
                             "%d problems" % len(found) if found else "ok"))

    results = self_test(srcdir, build, table, syms, milter, exports, found)
    for what, ok, detail in results:
        if ok:
            passed += 1
        else:
            failed += 1
            print("srcguard self-test: FAIL: %s: %s" % (what, detail))
    print("srcguard self-test: " + ", ".join(
        w if ok else "NOT " + w for w, ok, _ in results))
    print("srcguard: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, RuntimeError, ValueError) as e:
        print("srcguard: FAIL: %s" % e)
        print("srcguard: 0 passed, 1 failed")
        sys.exit(1)
