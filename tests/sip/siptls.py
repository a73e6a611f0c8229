"""A SIP over TLS user agent for tests: REGISTER and calls with digest authentication, and a
bounded TLS load. Python standard library only (Debian's sipp is built without TLS).

Runs on the SIP client host; each subcommand prints one JSON object on stdout and exits 0 when
the run completed (whether the outcome is the expected one is for the caller to judge).

  siptls.py register --proxy IP --user alice --domain a.example --password PW
             [--port 5061] [--sni NAME] [--ca FILE] [--expires 300]
      -> {"final": 200, "codes": [401, 200], "tls_version": "TLSv1.3", ...}

  siptls.py call --proxy IP --caller alice@a.example --password PW
             --callee bob@a.example --callee-password PW2
      -> both register over TLS; the caller's INVITE (407, then with credentials) reaches the
         callee over its registered connection; 180, 200, ACK, BYE, 200.
         {"final": 200, "bye": 200, "callee": {"received": ["INVITE", "ACK", "BYE"]}, ...}

  siptls.py load --proxy IP --user alice --domain a.example --password PW --seconds 15
             [--good-threads 2] [--bad-threads 4]
      -> registrations, each undone at once, over fresh TLS connections next to failing
         handshakes (garbage, TLS 1.0/1.1 offers, half handshakes, clients that reject the
         certificate, dropped connections), for --seconds at most:
         {"good": {"ok": 120, "failed": 0, "errors": []}, "bad": {"attempts": 900}, ...}

--ca verifies the server's chain against that CA (host names are not checked: SNI names and
the address differ in tests). Every network wait is bounded by --timeout.
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import uuid

STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3})")
REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0")
AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')
USER_AGENT = "sipstack-siptls"


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


def token():
    return uuid.uuid4().hex[:16]


def split_aor(aor):
    user, sep, domain = aor.partition("@")
    if not (user and sep and domain):
        raise SystemExit("not an AoR (user@domain): %r" % aor)
    return user, domain


class Message:
    """One SIP message: start line, headers (name, value) in order, body."""

    def __init__(self, start, headers, body=""):
        self.start = start
        self.headers = headers
        self.body = body

    def get(self, name, default=None):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def get_all(self, name):
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def status(self):
        match = STATUS_LINE.match(self.start)
        return int(match.group(1)) if match else None

    @property
    def method(self):
        match = REQUEST_LINE.match(self.start)
        return match.group(1) if match else None

    def encode(self):
        lines = [self.start]
        lines += ["%s: %s" % (key, value) for key, value in self.headers if key != "Content-Length"]
        lines.append("Content-Length: %d" % len(self.body.encode()))
        return ("\r\n".join(lines) + "\r\n\r\n" + self.body).encode()


class TlsConnection:
    """A TLS connection to the proxy that sends and receives whole SIP messages."""

    def __init__(self, args, sni):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        if args.ca:
            context.load_verify_locations(args.ca)
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection((args.proxy, args.port), timeout=args.timeout)
        self.sock = context.wrap_socket(raw, server_hostname=sni)
        self.sock.settimeout(args.timeout)
        self.local = self.sock.getsockname()
        self.buffer = b""
        self.lock = threading.Lock()

    @property
    def info(self):
        try:
            cert = self.sock.getpeercert(binary_form=True)
        except ValueError:  # the peer closed the connection
            cert = None
        return {
            "tls_version": self.sock.version(),
            "server_cert_sha256": hashlib.sha256(cert).hexdigest() if cert else None,
        }

    def send(self, message):
        with self.lock:
            self.sock.sendall(message.encode())

    def receive(self, deadline):
        """The next message, or None when the deadline passed first."""
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self.buffer[:head_end].decode(errors="replace")
                length = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.I | re.M)
                size = int(length.group(1)) if length else 0
                total = head_end + 4 + size
                if len(self.buffer) >= total:
                    body = self.buffer[head_end + 4 : total].decode(errors="replace")
                    self.buffer = self.buffer[total:]
                    lines = head.split("\r\n")
                    headers = []
                    for line in lines[1:]:
                        name, _sep, value = line.partition(":")
                        headers.append((name.strip(), value.strip()))
                    return Message(lines[0], headers, body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                return None
            if not data:
                return None
            self.buffer += data

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()


def authorization(challenge, method, uri, user, password, header):
    params = {m.group(1).lower(): m.group(2) or m.group(3) for m in AUTH_PARAM.finditer(challenge)}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    fields = [
        'username="%s"' % user,
        'realm="%s"' % realm,
        'nonce="%s"' % nonce,
        'uri="%s"' % uri,
        "algorithm=MD5",
    ]
    if "auth" in (params.get("qop") or "").split(","):
        cnonce, nc = token(), "00000001"
        response = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        fields += ["qop=auth", 'cnonce="%s"' % cnonce, "nc=%s" % nc]
    else:
        response = md5("%s:%s:%s" % (ha1, nonce, ha2))
    fields.append('response="%s"' % response)
    if params.get("opaque"):
        fields.append('opaque="%s"' % params["opaque"])
    return (header, "Digest " + ", ".join(fields))


class UserAgent:
    """One account on one TLS connection."""

    def __init__(self, args, aor, password, sni=None):
        self.args = args
        self.user, self.domain = split_aor(aor)
        self.password = password
        self.conn = TlsConnection(args, sni or self.domain)
        self.host, self.port = self.conn.local[0], self.conn.local[1]
        self.tag = token()
        self.cseq = 0

    def via(self):
        return "SIP/2.0/TLS %s:%d;branch=z9hG4bK%s;rport" % (self.host, self.port, token())

    def contact(self):
        return "<sip:%s@%s:%d;transport=tls>" % (self.user, self.host, self.port)

    def request(self, method, uri, to, call_id, extra=(), body="", cseq=None):
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        headers = [
            ("Via", self.via()),
            ("Max-Forwards", "70"),
            ("From", "<sip:%s@%s>;tag=%s" % (self.user, self.domain, self.tag)),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", "%d %s" % (cseq, method)),
            ("Contact", self.contact()),
            ("User-Agent", USER_AGENT),
        ]
        headers += list(extra)
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return Message("%s %s SIP/2.0" % (method, uri), headers, body)

    def final_response(self, call_id, cseq, codes, deadline):
        """Wait for the final response of one transaction, recording every status code."""
        while True:
            message = self.conn.receive(deadline)
            if message is None:
                return None
            if message.status is None:
                continue  # a request on this connection: not for this transaction
            if message.get("Call-ID") != call_id or not (message.get("CSeq") or "").startswith(
                "%d " % cseq
            ):
                continue
            codes.append(message.status)
            if message.status >= 200:
                return message

    def register(self, expires, call_id=None):
        call_id = call_id or token() + "@siptls"
        uri = "sip:%s" % self.domain
        to = "<sip:%s@%s>" % (self.user, self.domain)
        codes, extra = [], [("Expires", str(expires))]
        deadline = time.monotonic() + self.args.timeout
        for _attempt in range(2):
            message = self.request("REGISTER", uri, to, call_id, extra)
            self.conn.send(message)
            reply = self.final_response(call_id, self.cseq, codes, deadline)
            if reply is None or reply.status != 401:
                break
            challenge = reply.get("WWW-Authenticate", "")
            extra = [
                ("Expires", str(expires)),
                authorization(
                    challenge, "REGISTER", uri, self.user, self.password, "Authorization"
                ),
            ]
        # the registrar's 200 lists the contacts it bound for the AoR
        bound = (
            ", ".join(reply.get_all("Contact")) if reply is not None and reply.status == 200 else ""
        )
        return {
            "final": codes[-1] if codes else None,
            "codes": codes,
            "bound": bound,
            "contact": self.contact(),
            **self.conn.info,
        }


def print_json(result):
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")


def cmd_register(args):
    agent = UserAgent(args, "%s@%s" % (args.user, args.domain), args.password, args.sni)
    try:
        print_json(agent.register(args.expires))
    finally:
        agent.conn.close()


def answer(callee, result, deadline):
    """The callee's side of one call: 180 and 200 to the INVITE, take the ACK, 200 to the BYE."""
    received = result["received"]
    while time.monotonic() < deadline:
        message = callee.conn.receive(deadline)
        if message is None:
            return
        method = message.method
        if method is None:
            continue
        received.append(method)
        if method == "ACK":
            continue
        headers = [(k, v) for k, v in message.headers if k.lower() in ("via", "record-route")]
        headers += [
            ("From", message.get("From")),
            ("To", message.get("To") + ("" if method == "BYE" else ";tag=" + callee.tag)),
            ("Call-ID", message.get("Call-ID")),
            ("CSeq", message.get("CSeq")),
        ]
        if method == "INVITE":
            callee.conn.send(Message("SIP/2.0 180 Ringing", headers))
            body = sdp(callee.host)
            reply = [*headers, ("Contact", callee.contact()), ("Content-Type", "application/sdp")]
            callee.conn.send(Message("SIP/2.0 200 OK", reply, body))
        else:
            callee.conn.send(Message("SIP/2.0 200 OK", headers))
            if method == "BYE":
                return


def sdp(host):
    session = secrets.randbelow(1 << 30) + 1
    return (
        "v=0\r\no=- %d %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (session, session, host, host)
    )


def cmd_call(args):
    result = {"callee": {"received": []}}
    caller = UserAgent(args, args.caller, args.password)
    callee = UserAgent(args, args.callee, args.callee_password)
    try:
        result["callee_register"] = callee.register(args.expires)
        result["caller_register"] = caller.register(args.expires)
        deadline = time.monotonic() + args.timeout
        thread = threading.Thread(target=answer, args=(callee, result["callee"], deadline))
        thread.start()
        try:
            result.update(invite(args, caller, callee, deadline))
        finally:
            thread.join(max(0.0, deadline - time.monotonic()) + 1)
    finally:
        caller.conn.close()
        callee.conn.close()
    print_json(result)


def invite(args, caller, callee, deadline):
    uri = "sip:%s@%s" % (callee.user, callee.domain)
    to, call_id = "<%s>" % uri, token() + "@siptls"
    codes, extra, out = [], [], {}
    body = sdp(caller.host)
    reply = None
    for _attempt in range(2):
        message = caller.request("INVITE", uri, to, call_id, extra, body)
        caller.conn.send(message)
        reply = caller.final_response(call_id, caller.cseq, codes, deadline)
        if reply is None or reply.status != 407:
            break
        # ACK of the negative reply: same branch, To with the reply's tag
        ack = Message(
            "ACK %s SIP/2.0" % uri,
            [
                message.headers[0],
                ("Max-Forwards", "70"),
                message.headers[2],
                ("To", reply.get("To")),
                ("Call-ID", call_id),
                ("CSeq", "%d ACK" % caller.cseq),
            ],
        )
        caller.conn.send(ack)
        challenge = reply.get("Proxy-Authenticate", "")
        extra = [
            authorization(
                challenge, "INVITE", uri, caller.user, caller.password, "Proxy-Authorization"
            )
        ]
    out["codes"] = codes
    out["final"] = codes[-1] if codes else None
    if reply is None or reply.status != 200:
        return out
    # In the dialog: to the callee's contact, along the route the proxy recorded.
    target = re.search(r"<([^>]+)>", reply.get("Contact", "")).group(1)
    routes = [r for header in reversed(reply.get_all("Record-Route")) for r in header.split(",")]
    extra = [("Route", ", ".join(r.strip() for r in routes))] if routes else []
    to = reply.get("To")
    ack = caller.request("ACK", target, to, call_id, extra, cseq=caller.cseq)
    caller.conn.send(ack)
    bye = caller.request("BYE", target, to, call_id, extra)
    caller.conn.send(bye)
    bye_codes = []
    bye_reply = caller.final_response(call_id, caller.cseq, bye_codes, deadline)
    out["bye"] = bye_reply.status if bye_reply else None
    return out


# --- Load -----------------------------------------------------------------------------------


def _bad_garbage(args):
    with socket.create_connection((args.proxy, args.port), timeout=args.timeout) as sock:
        sock.sendall(os.urandom(secrets.randbelow(600) + 1))
        with contextlib.suppress(OSError):
            sock.recv(100)


def _bad_old_protocol(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    with (
        socket.create_connection((args.proxy, args.port), timeout=args.timeout) as sock,
        context.wrap_socket(sock, server_hostname="scanner.invalid"),
    ):
        pass


def _bad_half_handshake(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    outgoing, incoming = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="half.invalid")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    with socket.create_connection((args.proxy, args.port), timeout=args.timeout) as sock:
        sock.sendall(hello[: len(hello) // 2])


def _bad_reject_certificate(args):
    context = ssl.create_default_context()  # the test CA is unknown: the client aborts
    with (
        socket.create_connection((args.proxy, args.port), timeout=args.timeout) as sock,
        context.wrap_socket(sock, server_hostname="reject.invalid"),
    ):
        pass


BAD_KINDS = (_bad_garbage, _bad_old_protocol, _bad_half_handshake, _bad_reject_certificate)


def cmd_load(args):
    stop = time.monotonic() + args.seconds
    lock = threading.Lock()
    good = {"ok": 0, "failed": 0, "errors": []}
    bad = {"attempts": 0}

    def good_worker():
        while time.monotonic() < stop:
            agent = None
            try:
                agent = UserAgent(args, "%s@%s" % (args.user, args.domain), args.password)
                call_id = token() + "@siptls"
                final = agent.register(args.expires, call_id)["final"]
                if final == 200:  # and unregister: the account's contact list stays short
                    final = agent.register(0, call_id)["final"]
                error = None if final == 200 else "final %s" % final
            except (OSError, ssl.SSLError, ValueError) as exc:
                error = "%s: %s" % (type(exc).__name__, exc)
            finally:
                if agent:
                    agent.conn.close()
            with lock:
                if error is None:
                    good["ok"] += 1
                else:
                    good["failed"] += 1
                    good["errors"] = (good["errors"] + [error])[-5:]

    def bad_worker():
        while time.monotonic() < stop:
            with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                secrets.choice(BAD_KINDS)(args)
            with lock:
                bad["attempts"] += 1

    threads = [threading.Thread(target=good_worker) for _thread in range(args.good_threads)]
    threads += [threading.Thread(target=bad_worker) for _thread in range(args.bad_threads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 3 * args.timeout)
    print_json({"good": good, "bad": bad, "seconds": round(time.monotonic() - started, 1)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("register", "call", "load"):
        p = sub.add_parser(name)
        p.add_argument("--proxy", required=True)
        p.add_argument("--port", type=int, default=5061)
        p.add_argument("--ca", help="CA file the server's certificate must chain to")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds per network wait")
        p.add_argument("--expires", type=int, default=300)
        if name in ("register", "load"):
            p.add_argument("--user", required=True)
            p.add_argument("--domain", required=True)
            p.add_argument("--password", required=True)
        if name == "register":
            p.add_argument("--sni", help="server name to send (default: the domain)")
        if name == "call":
            p.add_argument("--caller", required=True)
            p.add_argument("--password", required=True)
            p.add_argument("--callee", required=True)
            p.add_argument("--callee-password", required=True)
        if name == "load":
            p.add_argument("--seconds", type=float, default=15.0)
            p.add_argument("--good-threads", type=int, default=2)
            p.add_argument("--bad-threads", type=int, default=4)
    args = parser.parse_args(argv)
    {"register": cmd_register, "call": cmd_call, "load": cmd_load}[args.command](args)


if __name__ == "__main__":
    main()
