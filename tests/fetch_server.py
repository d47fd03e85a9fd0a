#!/usr/bin/env python3
"""A tiny HTTP server on 127.0.0.1 for tests/cli_data.sh: serves the files of
one directory in one of several broken or good ways, writes its port to a
file, logs the Range header of each request, and exits by itself after
--life seconds (or after one request in 'vanish' mode).

  good     the file, with HTTP range support (206)
  norange  the file, always whole (200), ranges ignored
  corrupt  the file with one byte changed
  truncate announces the whole length, sends half, closes the connection
  vanish   sends half, then the whole server process dies
"""
import argparse
import http.server
import os
import socketserver
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("mode", choices=["good", "norange", "corrupt", "truncate", "vanish"])
ap.add_argument("portfile")
ap.add_argument("--log", default=os.devnull)
ap.add_argument("--life", type=float, default=60)
a = ap.parse_args()


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = os.path.basename(self.path)
        path = os.path.join(a.dir, name)
        rng = self.headers.get("Range")
        with open(a.log, "a") as lg:
            lg.write("%s %s range=%s\n" % (a.mode, name, rng))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        if a.mode == "corrupt":
            data = bytearray(data)
            data[len(data) // 2] ^= 0x55
            data = bytes(data)
        start = 0
        if rng and a.mode == "good" and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if a.mode in ("truncate", "vanish"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if a.mode == "vanish":
                os._exit(0)
            self.close_connection = True
            return
        self.wfile.write(body)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gives up mid-file is part of the test


srv = S(("127.0.0.1", 0), H)
tmp = a.portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, a.portfile)
threading.Timer(a.life, lambda: os._exit(0)).start()
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
