# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""JSON-RPC to a running Kamailio through the FIFO of its jsonrpcs module, as kamctl does it.

Parameters travel inside a JSON document, never on a command line: an AoR that starts with '-'
is an AoR here, not an option (kamcmd reads `ul.rm location -x@y` as the option -x). The FIFO is a
stream, so replies of any size (ul.dump of a busy registrar) come back whole, which the
jsonrpcs datagram socket does not promise.
"""

import errno
import json
import os
import secrets
import select
import time

DEFAULT_FIFO = "/run/kamailio/kamailio_rpc.fifo"
DEFAULT_PIDFILE = "/run/kamailio/kamailio.pid"
# jsonrpcs' fifo_reply_dir default, where kamctl puts its reply FIFOs too.
DEFAULT_REPLY_DIR = "/tmp"  # noqa: S108 - Kamailio writes replies there; names are random


class RPCError(Exception):
    """The RPC could not be made, or Kamailio answered with an error."""


class NotRunning(RPCError):
    """Nothing reads the FIFO: Kamailio is not running (or runs without this FIFO)."""


class RPCFault(RPCError):
    """Kamailio answered the RPC with an error (for example: no such AoR)."""


def running_pid(pidfile):
    """The pid of the running Kamailio its pid file names, or None."""
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if os.path.exists("/proc/%d" % pid) else None


def _open_request_fifo(fifo, pidfile):
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENXIO):
            raise RPCError("cannot open %s: %s" % (fifo, exc)) from None
        pid = running_pid(pidfile)
        if pid is None:
            raise NotRunning("Kamailio is not running (no live pid in %s)" % pidfile) from None
        # Running but deaf: a broken setup to report, not a stopped server to pass over.
        raise RPCError(
            "Kamailio runs (pid %s) but its RPC FIFO %s %s"
            % (pid, fifo, "is missing" if exc.errno == errno.ENOENT else "has no reader")
        ) from None


def _read_reply(fd, timeout):
    """Read until the buffer holds one whole JSON document. The reply FIFO is open for writing
    by this process too, so it never reports end of file: a document that parses is the end."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RPCError("no complete reply from Kamailio within %s s" % timeout)
        if not select.select([fd], [], [], left)[0]:
            continue
        chunks.append(os.read(fd, 1 << 16))
        # Parse only once the writer pauses: parsing after every chunk of a large reply would
        # cost quadratic time.
        if select.select([fd], [], [], 0.02)[0]:
            continue
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            continue


def call(
    method,
    params=(),
    fifo=DEFAULT_FIFO,
    reply_dir=DEFAULT_REPLY_DIR,
    timeout=30,
    pidfile=DEFAULT_PIDFILE,
):
    """Run one RPC method and return its result; raise RPCError (NotRunning) otherwise."""
    # mkfifo fails on an existing name, so nobody can slip a FIFO of their own in first.
    name = "sipstack_reply_%s" % secrets.token_hex(8)
    reply = os.path.join(reply_dir, name)
    request = {
        "jsonrpc": "2.0",
        "method": method,
        "params": list(params),
        "reply_name": name,
        "id": 1,
    }
    status = os.stat(fifo) if os.path.exists(fifo) else None
    os.mkfifo(reply, 0o600)
    try:
        if status is not None:
            # Kamailio (the FIFO's owner) must be able to open the reply FIFO for writing.
            os.chown(reply, status.st_uid, status.st_gid)
        reader = os.open(reply, os.O_RDWR | os.O_NONBLOCK)
        try:
            writer = _open_request_fifo(fifo, pidfile)
            try:
                os.write(writer, (json.dumps(request) + "\n").encode())
            finally:
                os.close(writer)
            answer = _read_reply(reader, timeout)
        finally:
            os.close(reader)
    finally:
        os.unlink(reply)
    if not isinstance(answer, dict):
        raise RPCError("%s: unexpected reply %r" % (method, answer))
    if "error" in answer:
        error = answer["error"] or {}
        raise RPCFault(
            "%s failed: %s %s" % (method, error.get("code", ""), error.get("message", ""))
        )
    return answer.get("result")


def registered_aors(dump):
    """The AoRs of a `ul.dump brief` result."""
    aors = []
    for item in (dump or {}).get("Domains") or []:
        domain = item.get("Domain") or {}
        for record in domain.get("AoRs") or []:
            aor = record.get("AoR") if isinstance(record, dict) else None
            if isinstance(aor, str):
                aors.append(aor)
    return aors


def loaded_domains(dump):
    """({(domain, did)}, {did: frozenset(attribute names)}) of a `domain.dump` result."""
    dump = dump or {}
    domains = set()
    for item in dump.get("domains") or []:
        domains.add((str(item.get("domain", "")).lower(), str(item.get("did", ""))))
    attrs = {}
    for item in dump.get("attributes") or []:
        attrs[str(item.get("did", ""))] = frozenset(str(name) for name in item.get("attrs") or [])
    return domains, attrs
