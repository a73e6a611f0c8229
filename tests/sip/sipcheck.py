"""Drive real SIP clients (sipp, sipsak) against a proxy and report the SIP outcome as JSON.

Runs on the SIP client host (the molecule client container, or any host with sipp and sipsak).
Each subcommand prints one JSON object on stdout and exits 0 when the clients ran; whether the
outcome is the expected one is for the caller to judge (tests assert exact response codes).

  sipcheck.py register --proxy IP --user alice --domain a.example --password PW
              [--auth-user alice] [--expires 300] [--port 0] [--client sipp|sipsak]
      -> {"final": 200, "codes": [401, 200], ...}

  sipcheck.py call --proxy IP --caller alice@a.example --password PW --callee bob@a.example
              [--callee-password PW] [--uas-port 5070] [--no-uas] [--transport udp|tcp]
              [--hold-ms 200] [--call-id ID]
      -> {"final": 200, "bye": 200, "uas": {"received": ["INVITE", "ACK", "INVITE", "ACK", "BYE"],
          "sdp_c": ["172.18.0.2"], ...}, ...}

  sipcheck.py answer --proxy IP --user bob --domain a.example --password PW
              [--transport udp|tcp] [--call-id ID] [--wait 30]
      -> {"register": {...}, "uas": {"received": [...], "sdp_c": [...]}}

  sipcheck.py keepalive --proxy IP --user bob --domain a.example --password PW [--wait 10]
      -> {"register": {...}, "received": [{"method": "OPTIONS", "source": "172.18.0.2:5060"}]}

`call` starts a sipp UAS on --uas-port first; with --callee-password it registers the callee from
that same port beforehand, so the proxy routes the call to the UAS. With --no-uas the callee
answers elsewhere (`answer` on another host). `answer` registers a phone and answers one call:
on UDP from the registered port, on TCP over the very connection it registered on (both sipp
runs share the Call-ID given with --call-id). `keepalive` registers and then listens on the
registered port for what the proxy sends unasked. Every client run is bounded by a timeout:
nothing here waits forever.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SEPARATOR = re.compile(r"^-{20,}.*$", re.MULTILINE)
STATUS = re.compile(r"^SIP/2\.0 (\d{3})", re.MULTILINE)
CSEQ = re.compile(r"^CSeq:\s*(\d+)\s+(\w+)", re.MULTILINE | re.IGNORECASE)
REQUEST = re.compile(r"^([A-Z]+) \S+ SIP/2\.0", re.MULTILINE)
SDP_CONNECTION = re.compile(r"^c=IN IP[46] (\S+)", re.MULTILINE)
RUN_TIMEOUT = 30
DEFAULT_UA = "sipstack-sipp"
# A UAS answers one call and then stops itself (stop_now); keepalive OPTIONS it answers count
# as calls too, hence the margin.
UAS_CALLS = 1000


def log(msg):
    sys.stderr.write("[sipcheck] %s\n" % msg)


def split_aor(aor):
    user, sep, domain = aor.partition("@")
    if not (user and sep and domain):
        raise SystemExit("not an AoR (user@domain): %r" % aor)
    return user, domain


def proxy_host_port(proxy):
    host, port = proxy.split(":", 1) if ":" in proxy else (proxy, "")
    return host, int(port or 5060)


def local_ip_towards(host, port):
    """The source address this host uses to reach the proxy (no packet is sent)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((host, port))
        return sock.getsockname()[0]
    finally:
        sock.close()


def free_udp_port(ip):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def parse_sipp_messages(path):
    """Messages from a sipp -trace_msg file: dicts with direction, status/method, cseq."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    messages = []
    for chunk in SEPARATOR.split(text):
        chunk = chunk.strip("\r\n")
        head, body = chunk.split("\n", 1) if "\n" in chunk else (chunk, "")
        if "message received" in head:
            direction = "in"
        elif "message sent" in head:
            direction = "out"
        else:  # "Unexpected ... message received" repeats a message already logged
            continue
        cseq = CSEQ.search(body)
        status = STATUS.search(body)
        request = REQUEST.search(body)
        messages.append(
            {
                "direction": direction,
                "status": int(status.group(1)) if status and status.start() < 4 else None,
                "method": request.group(1) if request and request.start() < 4 else None,
                "cseq": int(cseq.group(1)) if cseq else None,
                "cseq_method": cseq.group(2).upper() if cseq else None,
                "sdp_c": SDP_CONNECTION.findall(body),
            }
        )
    return messages


def final_response(messages, method):
    """The last final (>= 200) response received for `method` at its highest CSeq, or None."""
    finals = [
        m
        for m in messages
        if m["direction"] == "in"
        and m["status"]
        and m["status"] >= 200
        and m["cseq_method"] == method
    ]
    if not finals:
        return None
    top = max(m["cseq"] for m in finals)
    return [m["status"] for m in finals if m["cseq"] == top][-1]


def received_codes(messages, method):
    """Response codes received for `method`, in order, retransmissions counted once."""
    seen = []
    for m in messages:
        if m["direction"] == "in" and m["status"] and m["cseq_method"] == method:
            key = (m["cseq"], m["status"])
            if key not in seen:
                seen.append(key)
    return [status for cseq, status in seen]


def tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except FileNotFoundError:
        return ""


def sipp_command(
    workdir, name, scenario, proxy, local_ip, port, extra, timeout, transport="udp", calls=1
):
    host, proxy_port = proxy_host_port(proxy)
    return [
        "sipp",
        "-sf",
        os.path.join(HERE, scenario),
        "%s:%d" % (host, proxy_port),
        "-t",
        "t1" if transport == "tcp" else "u1",
        "-i",
        local_ip,
        "-p",
        str(port),
        "-m",
        str(calls),
        "-nostdin",
        # keepalive OPTIONS from the proxy (phones behind NAT get them) are answered, not fatal
        "-aa",
        "-timeout",
        "%ds" % timeout,
        "-timeout_error",
        "-max_retrans",
        "4",
        "-trace_msg",
        "-message_file",
        os.path.join(workdir, name + "_messages.log"),
        "-trace_err",
        "-error_file",
        os.path.join(workdir, name + "_errors.log"),
        "-trace_screen",
        "-screen_file",
        os.path.join(workdir, name + "_screen.log"),
        *extra,
    ]


def run(cmd, timeout):
    log(" ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
        return proc.returncode, proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        return 124, out + "\n[sipcheck] killed after %ss" % timeout


def register_keys(args):
    """sipp options of a REGISTER for args.user@args.domain with digest credentials."""
    return [
        "-s",
        args.user,
        "-key",
        "domain",
        args.domain,
        "-key",
        "expires",
        str(args.expires),
        "-key",
        "ua",
        getattr(args, "ua", None) or DEFAULT_UA,
        "-au",
        args.auth_user or args.user,
        "-ap",
        args.password,
    ]


def sipp_register(workdir, args, local_ip, port, name="register"):
    cmd = sipp_command(
        workdir,
        name,
        "register.xml",
        args.proxy,
        local_ip,
        port,
        register_keys(args),
        args.timeout,
        getattr(args, "transport", "udp"),
    )
    rc, output = run(cmd, args.timeout + 10)
    messages = parse_sipp_messages(os.path.join(workdir, name + "_messages.log"))
    return {
        "client": "sipp",
        "aor": "%s@%s" % (args.user, args.domain),
        "final": final_response(messages, "REGISTER"),
        "codes": received_codes(messages, "REGISTER"),
        "rc": rc,
        "contact_port": port,
        "errors": tail(os.path.join(workdir, name + "_errors.log")),
        "output": output[-2000:],
    }


def sipsak_register(args):
    host, port = proxy_host_port(args.proxy)
    cmd = [
        "sipsak",
        "-U",
        "-vvv",
        "-i",
        "-s",
        "sip:%s@%s" % (args.user, args.domain),
        "-p",
        "%s:%d" % (host, port),
        "-u",
        args.auth_user or args.user,
        "-a",
        args.password,
        "-x",
        str(args.expires),
    ]
    rc, output = run(cmd, args.timeout + 10)
    # sipsak prints requests and replies (and repeats a failing one); stdout and stderr interleave
    # out of order, so the CSeq orders the replies.
    seen = []
    for chunk in re.split(r"\n(?=SIP/2\.0 )", output):
        status = STATUS.search(chunk)
        cseq = CSEQ.search(chunk)
        if status and status.start() == 0 and cseq and cseq.group(2).upper() == "REGISTER":
            key = (int(cseq.group(1)), int(status.group(1)))
            if key not in seen:
                seen.append(key)
    seen.sort(key=lambda key: key[0])
    codes = [status for cseq, status in seen]
    finals = [key for key in seen if key[1] >= 200]
    return {
        "client": "sipsak",
        "aor": "%s@%s" % (args.user, args.domain),
        "final": finals[-1][1] if finals else None,
        "codes": codes,
        "rc": rc,
        "output": output[-3000:],
    }


def cmd_register(args, workdir):
    if args.client == "sipsak":
        return sipsak_register(args)
    host, port = proxy_host_port(args.proxy)
    local_ip = local_ip_towards(host, port)
    return sipp_register(workdir, args, local_ip, args.port or free_udp_port(local_ip))


def uas_summary(messages, rc=None, errors=""):
    """What a callee saw: requests received, responses sent, media addresses its INVITEs name."""
    received = [
        m for m in messages if m["direction"] == "in" and m["method"] not in (None, "OPTIONS")
    ]
    return {
        "rc": rc,
        "received": [m["method"] for m in received],
        "sent": [m["status"] for m in messages if m["direction"] == "out" and m["status"]],
        "sdp_c": [c for m in received if m["method"] == "INVITE" for c in m["sdp_c"]],
        "errors": errors,
    }


def stop(proc, timeout):
    """Wait up to `timeout` s for a sipp run to end by itself, then end it; its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=5)


def cmd_call(args, workdir):
    host, port = proxy_host_port(args.proxy)
    local_ip = local_ip_towards(host, port)
    caller_user, caller_domain = split_aor(args.caller)
    callee_user, callee_domain = split_aor(args.callee)
    uas_port = args.uas_port or free_udp_port(local_ip)
    result = {"caller": args.caller, "callee": args.callee, "uas_port": uas_port}

    if args.callee_password is not None:
        reg_args = argparse.Namespace(
            proxy=args.proxy,
            user=callee_user,
            domain=callee_domain,
            password=args.callee_password,
            auth_user=None,
            expires=args.expires,
            timeout=args.timeout,
        )
        result["callee_register"] = sipp_register(
            workdir, reg_args, local_ip, uas_port, name="callee_register"
        )

    uas = None
    if not args.no_uas:
        uas_cmd = sipp_command(
            workdir,
            "uas",
            "uas_answer.xml",
            args.proxy,
            local_ip,
            uas_port,
            [],
            args.timeout + 5,
            calls=UAS_CALLS,
        )
        log(" ".join(uas_cmd))
        uas_out = open(os.path.join(workdir, "uas_output.log"), "wb")  # noqa: SIM115
        uas = subprocess.Popen(uas_cmd, stdout=uas_out, stderr=subprocess.STDOUT)
    uas_rc = None
    try:
        if uas is not None:
            time.sleep(0.3)  # let the UAS bind its port before the INVITE can arrive
        extra = [
            "-s",
            callee_user,
            "-key",
            "to_domain",
            callee_domain,
            "-key",
            "from_user",
            caller_user,
            "-key",
            "from_domain",
            caller_domain,
            "-au",
            args.auth_user or caller_user,
            "-ap",
            args.password,
            "-d",
            str(args.hold_ms),
        ]
        if args.call_id:
            extra += ["-cid_str", args.call_id]
        uac_cmd = sipp_command(
            workdir,
            "uac",
            "uac_call.xml",
            args.proxy,
            local_ip,
            0,
            extra,
            args.timeout + args.hold_ms // 1000,
            args.transport,
        )
        rc, output = run(uac_cmd, args.timeout + args.hold_ms // 1000 + 10)
        uac_messages = parse_sipp_messages(os.path.join(workdir, "uac_messages.log"))
        result.update(
            {
                "final": final_response(uac_messages, "INVITE"),
                # the initial INVITE (CSeq 1) and its authenticated repetition (CSeq 2)
                "codes": received_codes(
                    [m for m in uac_messages if (m["cseq"] or 0) <= 2], "INVITE"
                ),
                "bye": final_response(uac_messages, "BYE"),
                "reinvite": [
                    m["status"]
                    for m in uac_messages
                    if m["direction"] == "in"
                    and m["cseq_method"] == "INVITE"
                    and m["cseq"] == 3
                    and m["status"]
                    and m["status"] >= 200
                ][-1:],
                "rc": rc,
                "errors": tail(os.path.join(workdir, "uac_errors.log")),
                "output": output[-2000:],
            }
        )
        # A UAS that got the call ends by itself after the BYE; one that got nothing is stopped.
        if uas is not None:
            uas_rc = stop(uas, 5 if result["final"] == 200 else 1)
    finally:
        if uas is not None:
            if uas.poll() is None:
                uas.kill()
                uas.wait(timeout=5)
            uas_out.close()
    if uas is not None:
        result["uas"] = uas_summary(
            parse_sipp_messages(os.path.join(workdir, "uas_messages.log")),
            uas_rc,
            tail(os.path.join(workdir, "uas_errors.log")),
        )
    return result


def cmd_answer(args, workdir):
    """Register a phone and answer one call (on TCP over the connection it registered on)."""
    host, port = proxy_host_port(args.proxy)
    local_ip = local_ip_towards(host, port)
    local_port = args.port or free_udp_port(local_ip)
    result = {"aor": "%s@%s" % (args.user, args.domain), "port": local_port}
    if args.transport == "udp":
        result["register"] = sipp_register(workdir, args, local_ip, local_port)
        if result["register"]["final"] != 200:
            return result
        cmd = sipp_command(
            workdir,
            "uas",
            "uas_answer.xml",
            args.proxy,
            local_ip,
            local_port,
            [],
            args.wait,
            calls=UAS_CALLS,
        )
    else:
        extra = [*register_keys(args), "-cid_str", args.call_id or "sipcheck-answer"]
        cmd = sipp_command(
            workdir,
            "uas",
            "register_answer.xml",
            args.proxy,
            local_ip,
            local_port,
            extra,
            args.wait,
            "tcp",
        )
    rc, output = run(cmd, args.wait + 10)
    messages = parse_sipp_messages(os.path.join(workdir, "uas_messages.log"))
    if args.transport == "tcp":
        register = [m for m in messages if m["cseq_method"] == "REGISTER"]
        result["register"] = {
            "final": final_response(register, "REGISTER"),
            "codes": received_codes(register, "REGISTER"),
        }
        messages = [m for m in messages if m["cseq_method"] != "REGISTER"]
    result["uas"] = uas_summary(messages, rc, tail(os.path.join(workdir, "uas_errors.log")))
    result["output"] = output[-2000:]
    return result


def cmd_keepalive(args, workdir):
    """Register from a port, then listen there: what does the proxy send unasked?"""
    host, port = proxy_host_port(args.proxy)
    local_ip = local_ip_towards(host, port)
    local_port = free_udp_port(local_ip)
    result = {"register": sipp_register(workdir, args, local_ip, local_port), "received": []}
    if result["register"]["final"] != 200:
        return result
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((local_ip, local_port))
    deadline = time.time() + args.wait
    try:
        while time.time() < deadline:
            sock.settimeout(max(0.1, deadline - time.time()))
            try:
                data, source = sock.recvfrom(65535)
            except socket.timeout:
                break
            request = REQUEST.search(data.decode("utf-8", "replace"))
            result["received"].append(
                {
                    "method": request.group(1) if request and request.start() == 0 else None,
                    "source": "%s:%d" % source,
                }
            )
    finally:
        sock.close()
    return result


def account_parser(sub, name, help_text):
    """A subcommand that registers one account: proxy, user, domain, password, expiry."""
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("--proxy", required=True, help="proxy address, IP[:PORT]")
    parser.add_argument("--user", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--auth-user", help="digest username (default: --user)")
    parser.add_argument("--expires", type=int, default=300)
    return parser


def emit(result):
    """Print one run's result: one JSON object on one line."""
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", action="store_true", help="keep the sipp log directory")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per client run")
    sub = parser.add_subparsers(dest="command", required=True)

    reg = account_parser(sub, "register", "REGISTER one AoR with digest auth")
    reg.add_argument("--port", type=int, default=0, help="local port (sipp; default: free port)")
    reg.add_argument("--client", choices=("sipp", "sipsak"), default="sipp")
    reg.add_argument("--transport", choices=("udp", "tcp"), default="udp", help="sipp only")
    reg.add_argument("--ua", help="User-Agent (sipp only; default %s)" % DEFAULT_UA)

    call = sub.add_parser("call", help="one call through the proxy to a sipp UAS")
    call.add_argument("--proxy", required=True, help="proxy address, IP[:PORT]")
    call.add_argument("--caller", required=True, help="AoR user@domain")
    call.add_argument("--password", required=True, help="caller's password")
    call.add_argument("--auth-user", help="caller's digest username (default: caller user)")
    call.add_argument("--callee", required=True, help="AoR user@domain")
    call.add_argument("--callee-password", help="register the callee from the UAS port first")
    call.add_argument("--uas-port", type=int, default=0)
    call.add_argument("--no-uas", action="store_true", help="the callee answers elsewhere")
    call.add_argument("--expires", type=int, default=300)
    call.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    call.add_argument("--hold-ms", type=int, default=200, help="talk time before the re-INVITE")
    call.add_argument("--call-id", help="fixed Call-ID (to reach an `answer` on TCP)")

    ans = account_parser(sub, "answer", "register a phone and answer one call")
    ans.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    ans.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    ans.add_argument("--call-id", help="the caller's -cid_str (TCP)")
    ans.add_argument("--wait", type=int, default=30, help="seconds to wait for the call")

    kal = account_parser(sub, "keepalive", "register, then record what the proxy sends")
    kal.add_argument("--wait", type=int, default=10, help="seconds to listen")

    args = parser.parse_args(argv)
    for tool in ("sipp", "sipsak"):
        if shutil.which(tool) is None:
            raise SystemExit("%s is not installed" % tool)
    workdir = tempfile.mkdtemp(prefix="sipcheck-")
    try:
        commands = {
            "register": cmd_register,
            "call": cmd_call,
            "answer": cmd_answer,
            "keepalive": cmd_keepalive,
        }
        result = commands[args.command](args, workdir)
        if args.keep:
            result["workdir"] = workdir
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
