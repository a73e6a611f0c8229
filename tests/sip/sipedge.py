"""Internet-edge checks against a proxy: probes, floods, relay attempts, malformed messages.

Runs on a client host of the tests (next to sipcheck.py) and prints one JSON object, like
sipcheck.py. Every run is bounded in count and time and targets only the proxy given.

  sipedge.py probe --proxy IP [--transport udp|tcp] [--ua AGENT] [--timeout 1.5]
      -> {"answered": true, "status": 200}   one OPTIONS keepalive; was it answered?

  sipedge.py flood --proxy IP --rate 200 --count 400
      -> {"sent": 400, "answered": 37, ...}    sipp OPTIONS flood (options_flood.xml)

  sipedge.py relay --proxy IP [--transport udp|tcp] [--listen-wait 3]
      -> {"final": 403, "listener": []}        sipp relay_attempt.xml; a UDP listener on this
                                               host is the "outside" next hop of the route set

  sipedge.py corpus --proxy IP --dir malformed [--transport udp|tcp]
      -> {"sent": ["01-...sip", ...], "replies": {...}}   raw files, one message each

  sipedge.py tcp-connections --proxy IP --count 8
      -> {"answered": [true, ..., false]}      COUNT connections held open at once, an
                                               OPTIONS on each

  sipedge.py sipvicious --proxy IP [--ua AGENT] -- svcrack ARGS...
      -> {"rc": 0, "output": "..."}            a sipvicious tool with another User-Agent

Corpus files may use {proxy}, {proxy_port}, {local_ip}, {local_port}, {branch} and {callid};
line ends are sent as CRLF unless the file name contains "-raw-" (sent byte for byte).
"""

import argparse
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time

import sipcheck

HERE = os.path.dirname(os.path.abspath(__file__))
STATUS = re.compile(rb"^SIP/2\.0 (\d{3})")


def options_message(proxy_ip, proxy_port, local_ip, local_port, transport, ua):
    branch = "z9hG4bK-probe-%08x" % random.getrandbits(32)
    return (
        "OPTIONS sip:%s:%d SIP/2.0\r\n"
        "Via: SIP/2.0/%s %s:%d;branch=%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@%s>;tag=%08x\r\n"
        "To: <sip:%s:%d>\r\n"
        "Call-ID: probe-%08x@%s\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "User-Agent: %s\r\n"
        "Content-Length: 0\r\n\r\n"
        % (
            proxy_ip,
            proxy_port,
            transport.upper(),
            local_ip,
            local_port,
            branch,
            local_ip,
            random.getrandbits(32),
            proxy_ip,
            proxy_port,
            random.getrandbits(32),
            local_ip,
            ua,
        )
    ).encode()


def connect(proxy_ip, proxy_port, transport, timeout):
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.settimeout(timeout)
    sock.connect((proxy_ip, proxy_port))
    return sock


def first_status(sock, timeout):
    """The status code of the first reply on `sock` within `timeout` s, or None."""
    deadline = time.time() + timeout
    data = b""
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65535)
        except (socket.timeout, ConnectionError, OSError):
            return None
        if not chunk:
            return None
        data += chunk
        match = STATUS.match(data)
        if match:
            return int(match.group(1))
    return None


def cmd_probe(args):
    ip, port = sipcheck.proxy_host_port(args.proxy)
    try:
        sock = connect(ip, port, args.transport, args.timeout)
    except OSError as exc:
        return {"answered": False, "status": None, "error": str(exc)}
    try:
        local_ip, local_port = sock.getsockname()
        sock.send(options_message(ip, port, local_ip, local_port, args.transport, args.ua))
        status = first_status(sock, args.timeout)
    except OSError as exc:
        return {"answered": False, "status": None, "error": str(exc)}
    finally:
        sock.close()
    return {"answered": status is not None, "status": status}


def cmd_flood(args, workdir):
    ip, port = sipcheck.proxy_host_port(args.proxy)
    local_ip = sipcheck.local_ip_towards(ip, port)
    seconds = max(5, 2 * args.count // max(1, args.rate) + 5)
    cmd = [
        "sipp",
        "-sf",
        os.path.join(HERE, "options_flood.xml"),
        "%s:%d" % (ip, port),
        "-i",
        local_ip,
        "-r",
        str(args.rate),
        "-m",
        str(args.count),
        "-nostdin",
        "-timeout",
        "%ds" % seconds,
        "-trace_stat",
        "-stf",
        os.path.join(workdir, "stat.csv"),
        "-trace_msg",
        "-message_file",
        os.path.join(workdir, "messages.log"),
    ]
    rc, output = sipcheck.run(cmd, seconds + 10)
    messages = sipcheck.parse_sipp_messages(os.path.join(workdir, "messages.log"))
    return {
        "rc": rc,
        "sent": sum(1 for m in messages if m["direction"] == "out"),
        "answered": sum(1 for m in messages if m["direction"] == "in" and m["status"] == 200),
        "output": output[-1500:],
    }


def cmd_relay(args, workdir):
    ip, port = sipcheck.proxy_host_port(args.proxy)
    local_ip = sipcheck.local_ip_towards(ip, port)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((local_ip, 0))
    outside = "%s:%d" % listener.getsockname()
    try:
        extra = ["-key", "outside", outside, "-key", "ruri_user", args.ruri_user]
        cmd = sipcheck.sipp_command(
            workdir,
            "relay",
            "relay_attempt.xml",
            args.proxy,
            local_ip,
            0,
            extra,
            args.timeout,
            args.transport,
        )
        rc, output = sipcheck.run(cmd, args.timeout + 10)
        received = []
        deadline = time.time() + args.listen_wait
        while time.time() < deadline:
            listener.settimeout(max(0.05, deadline - time.time()))
            try:
                data, source = listener.recvfrom(65535)
            except socket.timeout:
                break
            received.append({"source": "%s:%d" % source, "first_line": data.split(b"\r\n")[0]})
    finally:
        listener.close()
    messages = sipcheck.parse_sipp_messages(os.path.join(workdir, "relay_messages.log"))
    return {
        "outside": outside,
        "final": sipcheck.final_response(messages, "INVITE"),
        "codes": sipcheck.received_codes(messages, "INVITE"),
        "listener": [
            dict(r, first_line=r["first_line"].decode("utf-8", "replace")) for r in received
        ],
        "rc": rc,
        "output": output[-1500:],
    }


def render(path, ip, port, local_ip, local_port):
    with open(path, "rb") as handle:
        data = handle.read()
    values = {
        b"{proxy}": ip.encode(),
        b"{proxy_port}": str(port).encode(),
        b"{local_ip}": local_ip.encode(),
        b"{local_port}": str(local_port).encode(),
        b"{branch}": ("z9hG4bK%08x" % random.getrandbits(32)).encode(),
        b"{callid}": ("%08x@corpus" % random.getrandbits(32)).encode(),
    }
    for key, value in values.items():
        data = data.replace(key, value)
    if b"-raw-" not in os.path.basename(path).encode():
        data = re.sub(rb"\r?\n", b"\r\n", data)
    return data


def cmd_corpus(args):
    ip, port = sipcheck.proxy_host_port(args.proxy)
    names = sorted(n for n in os.listdir(args.dir) if n.endswith(".sip"))
    replies = {}
    for name in names:
        try:
            sock = connect(ip, port, args.transport, 2)
            local_ip, local_port = sock.getsockname()
            sock.send(render(os.path.join(args.dir, name), ip, port, local_ip, local_port))
            replies[name] = first_status(sock, args.wait)
            sock.close()
        except OSError as exc:
            replies[name] = "error: %s" % exc
    return {"sent": names, "replies": replies}


def cmd_tcp_connections(args):
    ip, port = sipcheck.proxy_host_port(args.proxy)
    socks, answered = [], []
    try:
        for _connection in range(args.count):
            try:
                sock = connect(ip, port, "tcp", 3)
            except OSError:
                answered.append(False)
                continue
            socks.append(sock)
            local_ip, local_port = sock.getsockname()
            try:
                sock.send(options_message(ip, port, local_ip, local_port, "tcp", "sipstack-probe"))
                answered.append(first_status(sock, args.timeout) is not None)
            except OSError:
                answered.append(False)
    finally:
        for sock in socks:
            sock.close()
    return {"answered": answered}


# sipvicious names itself in every request it sends ("friendly-scanner"); a real attacker
# changes that. This runs the installed tool with another default User-Agent.
SIPVICIOUS_BOOT = """
import sys
sys.path.insert(0, "/usr/share/sipvicious")
from sipvicious.libs import svhelper
code = svhelper.makeRequest.__code__
names = code.co_varnames[: code.co_argcount]
defaults = list(svhelper.makeRequest.__defaults__)
defaults[names.index("useragent") - (len(names) - len(defaults))] = sys.argv[1]
svhelper.makeRequest.__defaults__ = tuple(defaults)
tool = sys.argv[2]
sys.argv = [tool] + sys.argv[3:]
module = __import__("sipvicious." + tool, fromlist=["main"])
module.main()
"""


def cmd_sipvicious(args):
    tool_args = [a for a in args.tool_args if a != "--"] + [args.proxy]
    if not tool_args or tool_args[0] not in ("svwar", "svcrack", "svmap"):
        raise SystemExit("sipvicious: name svwar, svcrack or svmap after --")
    cmd = [sys.executable, "-c", SIPVICIOUS_BOOT, args.ua, *tool_args] if args.ua else tool_args
    rc, output = sipcheck.run(cmd, args.timeout)
    return {"rc": rc, "output": output[-6000:]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", help="one OPTIONS keepalive")
    probe.add_argument("--proxy", required=True)
    probe.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    probe.add_argument("--ua", default="sipstack-probe")
    probe.add_argument("--timeout", type=float, default=1.5)

    flood = sub.add_parser("flood", help="sipp OPTIONS flood")
    flood.add_argument("--proxy", required=True)
    flood.add_argument("--rate", type=int, default=200)
    flood.add_argument("--count", type=int, default=400)

    relay = sub.add_parser("relay", help="in-dialog relay attempt to a local listener")
    relay.add_argument("--proxy", required=True)
    relay.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    relay.add_argument("--ruri-user", default="victim")
    relay.add_argument("--timeout", type=int, default=8)
    relay.add_argument("--listen-wait", type=float, default=3)

    corpus = sub.add_parser("corpus", help="send raw message files")
    corpus.add_argument("--proxy", required=True)
    corpus.add_argument("--dir", required=True)
    corpus.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    corpus.add_argument("--wait", type=float, default=0.5, help="seconds to wait for a reply")

    tcp = sub.add_parser("tcp-connections", help="hold COUNT TCP connections at once")
    tcp.add_argument("--proxy", required=True)
    tcp.add_argument("--count", type=int, required=True)
    tcp.add_argument("--timeout", type=float, default=2)

    vicious = sub.add_parser("sipvicious", help="run a sipvicious tool against the proxy")
    vicious.add_argument("--proxy", required=True, help="appended as the tool's target")
    vicious.add_argument("--ua", help="User-Agent instead of sipvicious' own")
    vicious.add_argument("--timeout", type=int, default=60)
    vicious.add_argument("tool_args", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    commands = {
        "probe": lambda a, w: cmd_probe(a),
        "flood": cmd_flood,
        "relay": cmd_relay,
        "corpus": lambda a, w: cmd_corpus(a),
        "tcp-connections": lambda a, w: cmd_tcp_connections(a),
        "sipvicious": lambda a, w: cmd_sipvicious(a),
    }
    workdir = tempfile.mkdtemp(prefix="sipedge-")
    try:
        result = commands[args.command](args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sipcheck.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
