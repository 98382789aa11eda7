"""The local HTTP chart repository: a static file server over one directory, on loopback.

Everything is public except paths under /private/, which need HTTP basic authentication with the
username and password given in PLANTON_REPO_USERNAME and PLANTON_REPO_PASSWORD (so tests can
prove wrong credentials are refused). Every request is logged to stderr, one line each, so tests
can count what a client fetched.

Usage: python3 http-repo.py PORT DIRECTORY
"""
import base64
import functools
import hmac
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Handler(SimpleHTTPRequestHandler):
    expected = "Basic " + base64.b64encode(
        f"{os.environ['PLANTON_REPO_USERNAME']}:{os.environ['PLANTON_REPO_PASSWORD']}".encode()
    ).decode()

    def _authorized(self):
        if not self.path.startswith("/private/"):
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), self.expected.encode())

    def send_head(self):
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="planton-local"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return super().send_head()


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    handler = functools.partial(Handler, directory=directory)
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


if __name__ == "__main__":
    main()
