#!/usr/bin/env python3
"""daemon.py - the authmilter daemon as a process: config check exit codes,
serving the milter protocol on inet and unix sockets, SIGHUP reload (good
and bad files), SIGTERM shutdown. Uses t/milterclient.py; no DNS needed
(the methods are switched off here; they are covered by their own tests and e2e)."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milterclient import MilterClient  # noqa: E402

BIN = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % what)
    else:
        failed += 1
        print("FAIL %s %s" % (what, detail))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(fn, what, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if fn():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("timed out waiting for " + what)


def conf(path, socket_spec, authserv_id, extra=""):
    with open(path, "w") as f:
        f.write('socket = "%s";\nauthserv_id = "%s";\n'
                'dns = { nameservers = [ "127.0.0.1@1" ]; timeout_ms = 200; };\n'
                'spf = { enable = false; };\ndkim = { enable = false; };\n'
                'dmarc = { enable = false; };\n%s' % (socket_spec, authserv_id, extra))


def header_of(spec):
    c = MilterClient(spec)
    try:
        r = c.message(headers=[("From", " a@example.org")], body=b"hi\r\n")
    finally:
        c.close()
    ins = [v for (i, n, v) in r["inserted"] if n == "Authentication-Results"]
    return r["verdict"], ins


def main():
    tmp = tempfile.mkdtemp(prefix="authmilter-daemon-")
    cfg = os.path.join(tmp, "a.conf")

    # -V and -n
    out = subprocess.run([BIN, "-V"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.startswith("authmilter "), "-V prints the version")
    with open(cfg, "w") as f:
        f.write('socket = "inet:8891@localhost";\n\nbogus_key = 1;\n')
    out = subprocess.run([BIN, "-n", "-c", cfg], capture_output=True, text=True)
    check(out.returncode == 78, "-n on a bad config exits 78", out.stderr)
    check(out.stderr.startswith(cfg + ":3:"), "-n names file and line", out.stderr)
    out = subprocess.run([BIN, "-n", "-c", os.path.join(tmp, "missing.conf")],
                         capture_output=True, text=True)
    check(out.returncode == 78 and "missing.conf" in out.stderr, "-n on a missing file", out.stderr)
    out = subprocess.run([BIN, "-x"], capture_output=True, text=True)
    check(out.returncode == 64, "unknown option exits 64")

    # serve on inet, reload, stop
    port = free_port()
    spec = "inet:%d@127.0.0.1" % port
    conf(cfg, spec, "mx.one.example")
    out = subprocess.run([BIN, "-n", "-c", cfg], capture_output=True, text=True)
    check(out.returncode == 0, "-n on a good config exits 0", out.stderr)
    log = open(os.path.join(tmp, "log"), "w+")
    p = subprocess.Popen([BIN, "-f", "-c", cfg, "-P", os.path.join(tmp, "pid")],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                 "the milter socket")
        verdict, ins = header_of(spec)
        check(verdict == "a", "message accepted", verdict)
        c = MilterClient(spec)
        c.open()
        check(not c.protocol & 0x10000, "TCP: the DATA step keeps its reply (Nagle)",
              hex(c.protocol))
        c.close()
        check(ins == [" mx.one.example; none"], "header written (leading space: LEADSPC was agreed)", repr(ins))
        with open(os.path.join(tmp, "pid")) as f:
            check(int(f.read()) == p.pid, "pid file written")
        # a connection opened before the reload keeps its snapshot
        early = MilterClient(spec)
        early.open()
        conf(cfg, spec, "mx.two.example")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "event=reload status=ok" in open(log.name).read(), "reload log")
        verdict, ins = header_of(spec)
        check(ins == [" mx.two.example; none"], "SIGHUP reload takes effect", repr(ins))
        r = early.message(headers=[], body=b"x\r\n")
        early.close()
        check([v for (_, _, v) in r["inserted"]] == [" mx.one.example; none"],
              "open connection keeps its config", repr(r["inserted"]))
        with open(cfg, "a") as f:
            f.write("trusted_networks = [ \"10.0.0.1/8\" ];\n")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "event=reload status=failed" in open(log.name).read(), "failed reload log")
        check(p.poll() is None, "bad config on SIGHUP does not stop the daemon")
        verdict, ins = header_of(spec)
        check(ins == [" mx.two.example; none"], "old config kept after a bad reload", repr(ins))
        logtext = open(log.name).read()
        check(cfg + ":7:" in logtext, "failed reload names file and line", logtext[-300:])
        check("qid=4ABCDEF" in logtext and "action=accept" in logtext, "one key=value line per message")
        # the public suffix list is read again on SIGHUP; an unreadable one
        # is reported and the old list kept
        conf(cfg, spec, "mx.three.example",
             'dmarc = { enable = false; psl_file = "%s/missing.dat"; };\n' % tmp)
        with open(cfg) as f:  # one dmarc group only
            text = f.read().replace('dmarc = { enable = false; };\n', '', 1)
        with open(cfg, "w") as f:
            f.write(text)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "public suffix list kept" in open(log.name).read(), "PSL reload log")
        verdict, ins = header_of(spec)
        check(p.poll() is None and ins == [" mx.three.example; none"],
              "an unreadable PSL on SIGHUP keeps the old list, the rest reloads", repr(ins))
        # SIGTERM in the middle of a message: the message finishes first
        c = MilterClient(spec)
        r = c.message(headers=[("From", " a@example.org")],
                      before_eom=lambda: p.send_signal(signal.SIGTERM))
        check(r["verdict"] == "a", "message in flight at SIGTERM still gets its verdict",
              repr(r))
        c.close()
        rc = p.wait(timeout=30)
        check(rc == 0, "SIGTERM exits 0", str(rc))
        check(re.search(r"event=exit status=ok dns_cache_hits=\d+ dns_cache_misses=\d+ "
                        r"dns_cache_entries=\d+ dkim_keys_decoded=\d+ dkim_keys_reused=\d+",
                        open(log.name).read()) is not None,
              "the exit line carries the cache counters", open(log.name).read()[-300:])
        check(not os.path.exists(os.path.join(tmp, "pid")), "pid file removed at exit")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

    # unix socket: a stale socket file is replaced, mode applied
    sock = os.path.join(tmp, "am.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock)
    stale.close()
    conf(cfg, "unix:" + sock, "mx.unix.example", 'socket_mode = "0600";\n')
    p = subprocess.Popen([BIN, "-f", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            return True
        wait_for(up, "the unix socket")
        check(oct(os.stat(sock).st_mode & 0o777) == "0o600", "socket mode applied",
              oct(os.stat(sock).st_mode))
        verdict, ins = header_of("unix:" + sock)
        check(ins == [" mx.unix.example; none"], "serves on a unix socket", repr(ins))
        c = MilterClient("unix:" + sock)
        c.open()
        check(c.protocol & 0x10000, "unix socket: no reply to DATA (SMFIP_NR_DATA)",
              hex(c.protocol))
        c.close()
        p.send_signal(signal.SIGINT)
        check(p.wait(timeout=30) == 0, "SIGINT exits 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print("daemon: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
