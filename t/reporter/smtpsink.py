#!/usr/bin/env python3
"""smtpsink.py - an SMTP server on loopback that keeps what it is given,
for t/report-cli.sh (authmilter-report's relay path).

Usage: smtpsink.py --port PORT --dir DIR [--ready FILE] [--reject ADDR]...

Each message accepted is written as DIR/msg-N.eml (the data with dot
stuffing undone, line ends as received) and DIR/msg-N.env ("helo H",
"from A", "to A" lines). RCPT TO an address given with --reject is
answered 550; every command is logged to DIR/sink.log. The EHLO reply
is multi-line, as real servers' are. Writes FILE once listening.
"""
import argparse
import os
import socket
import socketserver
import sys
import threading

COUNT = [0]
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def log(self, line):
        with LOCK, open(os.path.join(ARGS.dir, "sink.log"), "a") as f:
            f.write(line + "\n")

    def handle(self):
        helo, mail, rcpts = None, None, []
        self.reply("220 sink.test ESMTP smtpsink")
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            self.log("C: " + line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb == "EHLO":
                helo = arg
                self.reply("250-sink.test hello " + arg)
                self.reply("250-PIPELINING")
                self.reply("250-SIZE 52428800")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                helo = arg
                self.reply("250 sink.test")
            elif verb == "MAIL":
                mail, rcpts = arg.split(":", 1)[1].strip().strip("<>"), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = arg.split(":", 1)[1].strip().strip("<>")
                if addr in ARGS.reject:
                    self.reply("550 5.1.1 <%s>: no such user" % addr)
                else:
                    rcpts.append(addr)
                    self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if mail is None or not rcpts:
                    self.reply("503 5.5.1 no valid recipients")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if not raw:
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    if raw.startswith(b"."):
                        raw = raw[1:]
                    data.append(raw)
                with LOCK:
                    COUNT[0] += 1
                    n = COUNT[0]
                base = os.path.join(ARGS.dir, "msg-%d" % n)
                with open(base + ".eml", "wb") as f:
                    f.write(b"".join(data))
                with open(base + ".env", "w") as f:
                    f.write("helo %s\nfrom %s\n" % (helo, mail))
                    for r in rcpts:
                        f.write("to %s\n" % r)
                self.log("S: message %d, %d bytes" % (n, sum(map(len, data))))
                mail, rcpts = None, []
                self.reply("250 2.0.0 Ok: queued as %d" % n)
            elif verb == "RSET":
                mail, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--reject", action="append", default=[])
    ARGS = ap.parse_args()
    if not ARGS.addr.startswith("127."):
        sys.exit("smtpsink.py: loopback addresses only")
    srv = Server((ARGS.addr, ARGS.port), Handler)
    if ARGS.ready:
        with open(ARGS.ready, "w") as f:
            f.write("ready\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
