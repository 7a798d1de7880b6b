#!/usr/bin/env python3
"""daemon.py - the authmilter daemon as a process: the exit statuses of
authmilter(8) (<sysexits.h>: usage, config, user, pid file, -t input),
serving the milter protocol on inet and unix sockets, SIGHUP reload (good
and bad files), SIGTERM shutdown, a storm of SIGHUPs from several senders
under load (reloads only, never a stop). Uses t/milterclient.py; no DNS needed
(the methods are switched off here; they are covered by their own tests and e2e)."""
import glob
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from milterclient import MilterClient, poll_until  # noqa: E402

BIN = os.path.join(os.environ.get("top_builddir", "."), "authmilter")
passed = failed = 0
STORM_PAUSE = 0.001  # seconds between two SIGHUPs of one sender


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
    if not poll_until(fn, limit):
        raise SystemExit("timed out waiting for " + what)
    return True


def conf(path, socket_spec, authserv_id, extra=""):
    with open(path, "w") as f:
        f.write('socket = "%s";\nauthserv_id = "%s";\n'
                'dns = { nameservers = [ "127.0.0.1@1" ]; timeout_ms = 200; };\n'
                'spf = { enable = false; };\ndkim = { enable = false; }; arc = { enable = false; }; '
                'iprev = { enable = false; };\n'
                'dmarc = { enable = false; discovery = "psl"; };\n%s'
                % (socket_spec, authserv_id, extra))


def header_of(spec, nodelay=False, timeout=30):
    c = MilterClient(spec, timeout)
    if nodelay:  # no 40 ms Nagle stall per message: more load
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        r = c.message(headers=[("From", " a@example.org")], body=b"hi\r\n")
    finally:
        c.close()
    ins = [v for (i, n, v) in r["inserted"] if n == "Authentication-Results"]
    return r["verdict"], ins


def exit_statuses(tmp, cfg):
    """the exit statuses of authmilter(8) that need no running milter: each
    failure is found before the daemon serves"""
    conf(cfg, "inet:%d@127.0.0.1" % free_port(), "mx.exit.example")
    cases = [
        ("an extra argument", [BIN, "-n", "-c", cfg, "extra"], os.EX_USAGE, "usage:"),
        ("a bad -p socket", [BIN, "-f", "-c", cfg, "-p", "tcp:1@x"], os.EX_USAGE, "-p"),
        ("an unknown -u user", [BIN, "-f", "-c", cfg, "-u", "no-such-user-am"],
         os.EX_NOUSER, "no-such-user-am"),
        ("a pid file that cannot be written",
         [BIN, "-f", "-c", cfg, "-P", os.path.join(tmp, "no", "dir", "pid")],
         os.EX_CANTCREAT, "pid"),
        ("-t on a missing file", [BIN, "-t", os.path.join(tmp, "missing.eml"), "-c", cfg],
         os.EX_NOINPUT, "missing.eml"),
        ("-t on a file that cannot be read (a directory)", [BIN, "-t", tmp, "-c", cfg],
         os.EX_IOERR, "read error"),
    ]
    for what, argv, want, says in cases:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        check(out.returncode == want and says in out.stderr,
              "%s exits %d" % (what, want),
              "exit %d: %s" % (out.returncode, out.stderr[-300:]))


def signal_storm(tmp):
    """4 processes x 250 SIGHUPs while 3 client threads send messages: every
    message gets its verdict, the daemon reloads (coalesced: fewer reloads
    than signals is fine) and never stops; SIGTERM then stops it with its
    own log line. Before, libmilter's signal thread took one of the SIGHUPs
    and stopped the milter (exit 0, no stop line)."""
    port = free_port()
    spec = "inet:%d@127.0.0.1" % port
    cfg = os.path.join(tmp, "storm.conf")
    logpath = os.path.join(tmp, "storm.log")
    conf(cfg, spec, "mx.storm.example")
    log = open(logpath, "w")
    # a SIGHUP already pending when authmilter starts (sent before it could
    # install anything: the test blocks it across exec) is a reload too
    p = subprocess.Popen([BIN, "-f", "-c", cfg], stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK,
                                                                   [signal.SIGHUP]))
    p.send_signal(signal.SIGHUP)
    stop = threading.Event()
    lock = threading.Lock()
    tally = {"ok": 0, "failed": 0, "why": []}

    def client():
        while not stop.is_set():
            try:
                verdict, ins = header_of(spec, nodelay=True, timeout=5)
                good = verdict == "a" and ins == [" mx.storm.example; none"]
                why = "" if good else repr((verdict, ins))
            except Exception as e:  # noqa: BLE001 - any failure counts
                good, why = False, repr(e)
            with lock:
                tally["ok" if good else "failed"] += 1
                if why and len(tally["why"]) < 3:
                    tally["why"].append(why)
    try:
        wait_for(lambda: p.poll() is not None or
                 socket.create_connection(("127.0.0.1", port), 1).close() or True,
                 "the milter socket")
        end = time.monotonic() + 5
        while (p.poll() is None and time.monotonic() < end and
               "event=reload status=ok" not in open(logpath).read()):
            time.sleep(0.02)
        text = open(logpath).read()
        check(p.poll() is None and "event=reload status=ok" in text and
              "event=stop" not in text,
              "a SIGHUP pending at start-up reloads, does not stop",
              "exit %s %s" % (p.poll(), text[-300:]))
        if p.poll() is not None:
            return
        clients = [threading.Thread(target=client) for _ in range(3)]
        for t in clients:
            t.start()
        time.sleep(0.2)
        # each sender waits for a byte on stdin, so the four fire together;
        # a pause after each kill spreads the signals so that more of them
        # arrive one by one (back to back, most merge into one pending)
        code = ("import os, signal, sys, time\nsys.stdin.read(1)\n"
                "for _ in range(250):\n    os.kill(%d, signal.SIGHUP)\n"
                "    time.sleep(%g)\n" % (p.pid, STORM_PAUSE))
        senders = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
                   for _ in range(4)]
        time.sleep(0.2)
        for s in senders:
            s.stdin.write(b"x")
            s.stdin.flush()
        for s in senders:
            s.stdin.close()
        rcs = [s.wait(timeout=30) for s in senders]
        time.sleep(0.5)  # the last reloads, with messages still flowing
        stop.set()
        for t in clients:
            t.join(timeout=60)
        check(rcs == [0, 0, 0, 0], "4 senders x 250 SIGHUPs sent", repr(rcs))
        check(tally["failed"] == 0 and tally["ok"] > 0,
              "SIGHUP storm under load: every message gets its verdict",
              "%d ok, %d failed %s" % (tally["ok"], tally["failed"], tally["why"]))
        alive = p.poll() is None
        check(alive, "SIGHUP storm: the daemon is still running", "exit %s" % p.poll())
        try:
            answer = header_of(spec, timeout=5)
        except Exception as e:  # noqa: BLE001 - refused, reset: a failure
            answer = repr(e)
        check(answer == ("a", [" mx.storm.example; none"]),
              "SIGHUP storm: the daemon still answers", repr(answer))
        text = open(logpath).read()
        reloads = text.count("event=reload status=ok")
        check(1 < reloads <= 1001, "SIGHUP storm: reloads logged (coalesced)",
              "%d reloads" % reloads)
        check("event=stop" not in text and "event=exit" not in text,
              "SIGHUP storm: no stop", text[-400:])
        if alive:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = "none: still running 10 s after SIGTERM"
            text = open(logpath).read()
            check(rc == 0 and "event=stop signal=SIGTERM" in text
                  and "event=exit status=ok" in text,
                  "after the storm SIGTERM logs its stop and exits 0",
                  "exit %s %s" % (rc, text[-400:]))
        print("# SIGHUP storm: %d messages, %d reloads" % (tally["ok"], reloads))
    finally:
        stop.set()
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


DEBS = "/var/cache/authmilter-test/debs"


def promtool(tmp):
    """promtool from Debian's prometheus package, kept by contrib/deps.sh and
    unpacked here (installing the package would start a server)"""
    tool = os.path.join(tmp, "prom", "usr", "bin", "promtool")
    if not os.path.exists(tool):
        debs = glob.glob(os.path.join(DEBS, "prometheus_*.deb"))
        if not debs:
            raise SystemExit("no prometheus .deb in %s: run contrib/deps.sh" % DEBS)
        subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(tmp, "prom")], check=True)
    return tool


def http_get(port, path="/metrics", method="GET", timeout=10):
    """(status, headers dict, body text) of one request"""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), \
            r.read().decode("utf-8", "replace")
    finally:
        c.close()


def parse_metrics(text):
    """{'name{labels}': value} of an exposition; families {name: type}"""
    samples, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        if not line or line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        samples[key] = float(val)
    return samples, types


# the families the endpoint always shows (issue 15; authmilter(8) METRICS);
# the DKIM key cache's exist when DKIM is on (t/e2e checks them)
FAMILIES = {
    "messages_total": "counter", "messages_skipped_total": "counter",
    "results_total": "counter", "dkim_signatures_total": "counter",
    "dmarc_messages_total": "counter", "dmarc_overrides_total": "counter",
    "dns_queries_total": "counter", "dns_lookup_duration_seconds": "histogram",
    "dns_cache_hits_total": "counter", "dns_cache_misses_total": "counter",
    "dns_cache_entries": "gauge", "message_processing_seconds": "histogram",
    "connections": "gauge", "connections_total": "counter",
    "messages_in_flight": "gauge", "reloads_total": "counter",
    "last_reload_success": "gauge", "last_reload_timestamp_seconds": "gauge",
    "start_time_seconds": "gauge", "build_info": "gauge",
}


def metrics_endpoint(tmp):
    """metrics.listen: a port in use stops the start with a clear line; the
    endpoint answers GET/HEAD /metrics only, counts what was sent, shows
    reloads, passes promtool, and outlives clients that hold connections or
    send garbage, without the milter noticing"""
    cfg = os.path.join(tmp, "metrics.conf")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    conf(cfg, "inet:%d@127.0.0.1" % free_port(), "mx.metrics.example",
         'metrics = { listen = "127.0.0.1:%d"; };\n' % bport)
    out = subprocess.run([BIN, "-f", "-c", cfg], capture_output=True, text=True, timeout=30)
    busy.close()
    check(out.returncode == os.EX_OSERR and
          'event=fatal reason="metrics.listen 127.0.0.1:%d: cannot listen: Address '
          'already in use"' % bport in out.stderr,
          "metrics.listen on a port in use: exit 71 and why", out.stderr[-300:])

    mport = free_port()
    spec = "inet:%d@127.0.0.1" % free_port()
    conf(cfg, spec, "mx.metrics.example", 'metrics = { listen = "127.0.0.1:%d"; };\n' % mport)
    logpath = os.path.join(tmp, "metrics.log")
    log = open(logpath, "w")
    p = subprocess.Popen([BIN, "-f", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    held = []
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", mport), 1).close() or True,
                 "the metrics socket")
        wait_for(lambda: "event=start" in open(logpath).read(), "the start line")
        check(re.search(r"event=start .* metrics=127\.0\.0\.1:%d" % mport,
                        open(logpath).read()) is not None,
              "the start line names the endpoint", open(logpath).read()[-300:])
        status, hdrs, body = http_get(mport)
        check(status == 200 and hdrs.get("content-type") ==
              "text/plain; version=0.0.4; charset=utf-8",
              "GET /metrics: 200, the exposition format's content type", repr((status, hdrs)))
        samples, types = parse_metrics(body)
        missing = [f for f, t in FAMILIES.items() if types.get("authmilter_" + f) != t]
        check(not missing, "every family with its type", repr(missing))
        check(samples.get("authmilter_build_info{version=\"%s\"}" % version()) == 1,
              "build_info carries the version", repr([k for k in samples if "build" in k]))
        check(abs(samples.get("authmilter_start_time_seconds", 0) - time.time()) < 120,
              "start_time_seconds is now", repr(samples.get("authmilter_start_time_seconds")))
        leaked = [k for k in samples if re.search(r'"[^"]*[.@][^"]*"', k) and
                  "build_info" not in k and "le=" not in k]
        check(not leaked, "no label value looks like a domain or an address", repr(leaked))

        for _ in range(3):
            header_of(spec)
        samples, _ = parse_metrics(http_get(mport)[2])
        want = {
            'authmilter_messages_total{action="accept"}': 3,
            'authmilter_messages_total{action="reject"}': 0,
            "authmilter_connections_total": 3,
            "authmilter_message_processing_seconds_count": 3,
            'authmilter_message_processing_seconds_bucket{le="+Inf"}': 3,
            "authmilter_messages_in_flight": 0,
            'authmilter_results_total{method="spf",result="pass"}': 0,
        }
        got = dict((k, samples.get(k)) for k in want)
        check(got == want, "three messages counted, by action, connection and time",
              repr(got))
        check(wait_for(lambda: parse_metrics(http_get(mport)[2])[0].get(
            "authmilter_connections") == 0, "connections back to 0"),
              "the connections gauge goes back to 0")

        status, hdrs, body = http_get(mport, method="HEAD")
        check(status == 200 and body == "", "HEAD /metrics: 200, no body", repr(status))
        status, _, body = http_get(mport, "/")
        check(status == 404 and "/metrics" in body, "GET /: 404 naming /metrics", repr(status))
        status, hdrs, _ = http_get(mport, method="POST")
        check(status == 405 and hdrs.get("allow") == "GET, HEAD",
              "POST /metrics: 405 with Allow", repr((status, hdrs.get("allow"))))

        text = http_get(mport)[2]
        mfile = os.path.join(tmp, "scrape.txt")
        with open(mfile, "w") as f:
            f.write(text)
        out = subprocess.run([promtool(tmp), "check", "metrics"], stdin=open(mfile),
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "promtool check metrics: no problem",
              (out.stdout + out.stderr)[-500:])

        # hostile clients: 40 connections held open (the limit is 16),
        # garbage, an oversized request line; the milter keeps serving and
        # the endpoint answers once they are gone
        for _ in range(40):
            try:
                held.append(socket.create_connection(("127.0.0.1", mport), 2))
            except OSError:
                break
        verdict, ins = header_of(spec)
        check(verdict == "a" and ins == [" mx.metrics.example; none"],
              "40 idle metrics connections: the milter still answers", repr(ins))
        for h in held:
            h.close()
        held = []
        for junk in (b"\x00\xff" * 2000 + b"\r\n\r\n",
                     b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                     b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n"):
            g = socket.create_connection(("127.0.0.1", mport), 5)
            try:
                g.sendall(junk)
                g.settimeout(5)
                reply = g.recv(200)
            except OSError:
                reply = b""
            g.close()
            check(reply == b"" or re.match(rb"HTTP/1\.[01] (400|413|414|431)", reply),
                  "garbage on the metrics port: an HTTP error or a close",
                  repr(reply[:60]))
        status, _, _ = http_get(mport)
        check(status == 200 and p.poll() is None,
              "after the hostile clients the endpoint answers, the daemon runs")
        # 40 more oversized requests: the HTTP server's complaints are
        # rate-limited (10 a minute), not a line each
        for _ in range(40):
            g = socket.create_connection(("127.0.0.1", mport), 5)
            try:
                g.sendall(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")
                g.settimeout(5)
                g.recv(200)
            except OSError:
                pass
            g.close()
        check(http_get(mport)[0] == 200 and
              open(logpath).read().count("event=metrics") <= 10,
              "43 bad requests: at most 10 lines of the HTTP server's in a minute",
              str(open(logpath).read().count("event=metrics")))
        stray = [ln for ln in open(logpath).read().splitlines()
                 if not ln.startswith("authmilter: ")]
        check(not stray, "nothing of libmicrohttpd's on stderr but through our log "
              "(its logger is the first option)", repr(stray[:3]))

        # reloads: counted; a failed one sets last_reload_success to 0; a
        # changed metrics.listen waits for a restart (the old one serves)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "event=reload status=ok" in open(logpath).read(), "reload")
        samples, _ = parse_metrics(http_get(mport)[2])
        check(samples.get('authmilter_reloads_total{result="ok"}') == 1 and
              samples.get("authmilter_last_reload_success") == 1 and
              samples.get("authmilter_last_reload_timestamp_seconds", 0) > 0,
              "a reload counted, last one a success", repr(samples.get(
                  'authmilter_reloads_total{result="ok"}')))
        with open(cfg, "a") as f:
            f.write("bogus_key = 1;\n")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "event=reload status=failed" in open(logpath).read(), "failed reload")
        samples, _ = parse_metrics(http_get(mport)[2])
        check(samples.get('authmilter_reloads_total{result="failed"}') == 1 and
              samples.get("authmilter_last_reload_success") == 0,
              "a failed reload counted, last_reload_success 0",
              repr(samples.get("authmilter_last_reload_success")))
        conf(cfg, spec, "mx.metrics.example",
             'metrics = { listen = "127.0.0.1:%d"; };\n' % free_port())
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: open(logpath).read().count("event=reload status=ok") == 2,
                 "start-only reload")
        check('applied at the next start only: metrics.listen"' in open(logpath).read(),
              "a changed metrics.listen is named as start-only", open(logpath).read()[-300:])
        samples, _ = parse_metrics(http_get(mport)[2])
        check(samples.get("authmilter_last_reload_success") == 1,
              "the old endpoint still serves, the reload a success")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=30) == 0, "SIGTERM with the endpoint on exits 0")
    finally:
        for h in held:
            h.close()
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


def version():
    out = subprocess.run([BIN, "-V"], capture_output=True, text=True)
    return out.stdout.split()[1] if out.stdout.split()[1:] else "?"


def thread_stacks(tmp):
    """thread_stack_kb reaches every thread, libmilter's and the resolver's
    (pthread_setattr_default_np before any is made): their stacks are
    mappings of that size, none of the 8 MB default"""
    cfg = os.path.join(tmp, "stack.conf")
    port = free_port()
    conf(cfg, "inet:%d@127.0.0.1" % port, "mx.stack.example", "thread_stack_kb = 384;\n")
    p = subprocess.Popen([BIN, "-f", "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True,
                 "the milter socket")
        c = MilterClient("inet:%d@127.0.0.1" % port)
        c.open()             # a connection: libmilter's thread for it
        sizes = []
        with open("/proc/%d/maps" % p.pid) as f:
            for ln in f:
                fields = ln.split()
                if len(fields) < 6:  # anonymous
                    a, b = fields[0].split("-")
                    sizes.append((int(b, 16) - int(a, 16)) // 1024)
        threads = len(os.listdir("/proc/%d/task" % p.pid))
        c.close()
        # (adjacent stacks may show as one mapping: count the 8 MB ones)
        check(sizes.count(384) >= 3 and 8192 not in sizes and 8196 not in sizes,
              "thread_stack_kb = 384: the threads' stacks are 384 KB, none 8 MB",
              "%d threads, mappings %r" % (threads, sorted(set(sizes))))
    finally:
        p.terminate()
        p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="authmilter-daemon-")
    cfg = os.path.join(tmp, "a.conf")

    # -V and -n
    out = subprocess.run([BIN, "-V"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.startswith("authmilter "), "-V prints the version")
    with open(cfg, "w") as f:
        f.write('socket = "inet:8891@localhost";\n\nbogus_key = 1;\n')
    out = subprocess.run([BIN, "-n", "-c", cfg], capture_output=True, text=True)
    check(out.returncode == os.EX_CONFIG, "-n on a bad config exits 78 (EX_CONFIG)",
          out.stderr)
    check(out.stderr.startswith(cfg + ":3:"), "-n names file and line", out.stderr)
    out = subprocess.run([BIN, "-n", "-c", os.path.join(tmp, "missing.conf")],
                         capture_output=True, text=True)
    check(out.returncode == os.EX_CONFIG and "missing.conf" in out.stderr,
          "-n on a missing file", out.stderr)
    out = subprocess.run([BIN, "-x"], capture_output=True, text=True)
    check(out.returncode == os.EX_USAGE, "unknown option exits 64 (EX_USAGE)")
    exit_statuses(tmp, cfg)

    # a socket that cannot be opened: our line says why, and in the
    # foreground libmilter's own message reaches stderr too
    conf(cfg, "unix:%s/no/such/dir/x.sock" % tmp, "vm")
    out = subprocess.run([BIN, "-f", "-c", cfg], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == os.EX_OSERR, "a socket that cannot be opened exits 71 (EX_OSERR)",
          str(out.returncode))
    check(re.search(r'event=fatal reason="cannot open socket unix:\S+: No such '
                    r'file or directory"', out.stderr) is not None,
          "our log line says why the socket failed", out.stderr)
    # (our event engine, the default, has no libmilter
    # to print it; our own line above is checked in both builds)
    with open(os.path.join(os.environ.get("top_builddir", "."), "config.h")) as f:
        engine = "#define EVENT_ENGINE 1" in f.read()
    check(engine or "Unable to bind" in out.stderr, "-f: libmilter's own error on stderr",
          out.stderr)
    check("authserv_id vm is not a fully qualified name" in out.stderr,
          "a single-label authserv_id is warned about at start", out.stderr)

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
             'dmarc = { enable = false; discovery = "psl"; '
             'psl_file = "%s/missing.dat"; };\n' % tmp)
        with open(cfg) as f:  # one dmarc group only
            text = f.read().replace('dmarc = { enable = false; discovery = "psl"; };\n',
                                      '', 1)
        with open(cfg, "w") as f:
            f.write(text)
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "public suffix list kept" in open(log.name).read(), "PSL reload log")
        verdict, ins = header_of(spec)
        check(p.poll() is None and ins == [" mx.three.example; none"],
              "an unreadable PSL on SIGHUP keeps the old list, the rest reloads", repr(ins))
        # a reload applies log_level at once and names the settings that
        # wait for a restart (socket, socket_mode); the socket stays
        before = open(log.name).read().count("qid=")
        conf(cfg, "inet:%d@127.0.0.1" % free_port(), "mx.four.example",
             'log_level = "warning";\nsocket_mode = "0600";\n')
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: "applied at the next start only" in open(log.name).read(),
                 "start-only reload log")
        logtext = open(log.name).read()
        check('note="changed, applied at the next start only: socket, '
              'socket_mode"' in logtext,
              "reload names each start-only setting that changed", logtext[-400:])
        verdict, ins = header_of(spec)
        check(ins == [" mx.four.example; none"], "reload: the old socket still serves, "
              "the new authserv_id applies", repr(ins))
        time.sleep(0.2)
        check(open(log.name).read().count("qid=") == before,
              "reload applies log_level at once (warning: no line per message)")
        conf(cfg, spec, "mx.three.example")
        p.send_signal(signal.SIGHUP)
        wait_for(lambda: open(log.name).read().count("event=reload status=ok") >= 3,
                 "reload back")
        # SIGTERM in the middle of a message: the message finishes first
        c = MilterClient(spec)
        r = c.message(headers=[("From", " a@example.org")],
                      before_eom=lambda: p.send_signal(signal.SIGTERM))
        check(r["verdict"] == "a", "message in flight at SIGTERM still gets its verdict",
              repr(r))
        c.close()
        rc = p.wait(timeout=30)
        check(rc == 0, "SIGTERM exits 0", str(rc))
        exitline = re.search(r"event=exit status=ok( .*)?$", open(log.name).read(), re.M)
        check(exitline is not None, "an exit line, status=ok", open(log.name).read()[-300:])
        pairs = dict(re.findall(r" ([a-z_]+)=(\d+)", exitline.group(0) if exitline else ""))
        for name in ("messages_total", "messages_accept_total", "dns_queries_total",
                     "dns_cache_hits_total", "dns_cache_misses_total", "dns_cache_entries",
                     "spf_checks_none_total", "dmarc_evaluations_none_total"):
            check(name in pairs, "the exit line carries the registry's " + name,
                  exitline.group(0)[-300:] if exitline else "no exit line")
        check("dkim_keys_decoded_total" not in pairs,
              "DKIM is off here: no DKIM counters on the exit line", exitline.group(0)[-300:]
              if exitline else "no exit line")
        check(int(pairs.get("messages_total", 0)) >= 1 and
              pairs.get("messages_total") == pairs.get("messages_accept_total"),
              "the exit line counts the messages, every one accepted",
              repr((pairs.get("messages_total"), pairs.get("messages_accept_total"))))
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

    signal_storm(tmp)
    metrics_endpoint(tmp)
    thread_stacks(tmp)
    print("daemon: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
