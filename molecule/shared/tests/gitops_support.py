"""Helpers of the GitOps verify tests (molecule/shared/tests/gitops): tenant files, vault,
playbook runs and database snapshots. Plain functions and classes; the fixtures built on them are
in gitops/conftest.py.
"""

import hashlib
import json
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "playbooks" / "tenants.yml"
SNAPSHOT_QUERIES = {
    "domain": "SELECT * FROM domain ORDER BY id",
    "domain_attrs": "SELECT * FROM domain_attrs ORDER BY id",
    "subscriber": "SELECT * FROM subscriber ORDER BY id",
}
PREFIX = "gx-"  # domains and dids of every tenant these tests create


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5 by definition


def digest_hashes(user, domain, password):
    """(ha1, ha1b) as Kamailio's auth_db expects them (realm = domain)."""
    return (
        md5("%s:%s:%s" % (user, domain, password)),
        md5("%s@%s:%s:%s" % (user, domain, domain, password)),
    )


def new_password():
    return "gx-pw-" + secrets.token_hex(8)


def _tool(name):
    """An Ansible command of this venv (molecule runs pytest with the venv's Python)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


# --- Tenant files -------------------------------------------------------------------------------


def _scalar(value):
    return json.dumps(value)  # a JSON string or number is a YAML scalar too


def tenant_text(domain, subscribers, name=None, did=None, attrs=None, purge_subscribers=None):
    """One tenant file. Each subscriber: username plus password | vault (an inline `!vault |`
    block) | ha1 and ha1b."""
    lines = ["---"]
    if name is not None:
        lines.append("name: " + _scalar(name))
    lines.append("domain: " + _scalar(domain))
    if did is not None:
        lines.append("did: " + _scalar(did))
    if attrs is not None:
        lines.append("attrs: " + json.dumps(attrs))
    if purge_subscribers is not None:
        lines.append("purge_subscribers: " + ("true" if purge_subscribers else "false"))
    lines.append("subscribers:")
    for entry in subscribers:
        lines.append("  - username: " + _scalar(entry["username"]))
        if "vault" in entry:
            lines.append("    password: " + entry["vault"])
        for key in ("password", "ha1", "ha1b", "state"):
            if key in entry:
                lines.append("    %s: %s" % (key, _scalar(entry[key])))
    return "\n".join(lines) + "\n"


def write_dir(path, files):
    """A tenant directory holding exactly `files` (file name -> text)."""
    path.mkdir(parents=True)
    for filename, text in files.items():
        (path / filename).write_text(text)
    return path


class Vault:
    """ansible-vault of the venv with a random vault password in a private file."""

    def __init__(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.password = "gx-vault-" + secrets.token_hex(12)
        self.password_file = directory / "vault-password"
        self.password_file.write_text(self.password + "\n")
        self.password_file.chmod(0o600)

    def _run(self, *args):
        proc = subprocess.run(
            [
                _tool("ansible-vault"),
                args[0],
                "--vault-password-file",
                self.password_file,
                *args[1:],
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, "ansible-vault %s: %s" % (args[0], proc.stderr)
        return proc.stdout

    def encrypt_strings(self, values):
        """name -> plaintext, to name -> `!vault |` block (one ansible-vault call for all)."""
        names = sorted(values)
        args = ["encrypt_string"]
        for name in names:
            args += ["--name", name]
        out = self._run(*args, "--", *(values[name] for name in names))
        blocks, current = {}, None
        for line in out.splitlines():
            start = re.fullmatch(r"(\S+): (!vault \|)", line)
            if start:
                current = start.group(1)
                blocks[current] = [start.group(2)]
            elif current and line.startswith(" "):
                blocks[current].append(line)
        assert sorted(blocks) == names, out
        return {name: "\n".join(block) for name, block in blocks.items()}

    def encrypt_text(self, text):
        """The whole-file vault of `text`, as `ansible-vault encrypt` writes it."""
        path = self.directory / ("plain-%s.yml" % secrets.token_hex(4))
        path.write_text(text)
        self._run("encrypt", str(path))
        encrypted = path.read_text()
        path.unlink()
        return encrypted


# --- Playbook runs ------------------------------------------------------------------------------


class Run:
    """One ansible-playbook run: exit code, combined output, recap totals."""

    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.output = proc.stdout + proc.stderr
        totals = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}
        for host_recap in re.finditer(r"^\S+\s+: (.*)$", self.output, re.MULTILINE):
            for key, value in re.findall(r"(\w+)=(\d+)", host_recap.group(1)):
                if key in totals:
                    totals[key] += int(value)
        self.recap = totals

    def __repr__(self):
        return "ansible-playbook (rc %s): %s\n%s" % (self.rc, " ".join(self.cmd), self.output)

    def task_output(self, task):
        """The output of one task of the tenants role, up to the next task or recap."""
        header = "TASK [sipstack.kamailio.tenants : %s]" % task
        start = self.output.find(header)
        assert start >= 0, "task %r did not run: %r" % (task, self)
        end = min(
            i
            for i in (
                self.output.find("\nTASK [", start + 1),
                self.output.find("\nPLAY RECAP", start + 1),
                len(self.output),
            )
            if i >= 0
        )
        return self.output[start:end]

    def debug_msg(self, task):
        """The `msg` a debug task of the tenants role printed (default callback, JSON format)."""
        text = self.task_output(task)
        start = text.find("=> {\n")
        assert start >= 0, "task %r printed no message: %r" % (task, self)
        body = text[start + 3 :]
        return json.loads(body[: body.index("\n}") + 2])["msg"]

    def tasks_run(self, prefix):
        """The tasks of the tenants role named `prefix`... that ran on some host (not skipped)."""
        header = re.compile(
            r"^TASK \[sipstack\.kamailio\.tenants : (%s[^\]]*)\]" % re.escape(prefix)
        )
        ran, current = [], None
        for line in self.stdout.splitlines():
            if line.startswith(("TASK [", "PLAY RECAP")):
                match = header.match(line)
                current = match.group(1) if match else None
            elif current and line.startswith(("ok:", "changed:", "failed:", "fatal:")):
                ran.append(current)
                current = None
        return ran

    def failure_messages(self):
        """The `msg` of every uncensored `fatal: [host]: FAILED! => {...}` line (stderr since
        ansible-core 2.19, stdout before)."""
        found = re.findall(r"^fatal: \[[^\]]+\]: FAILED! => (\{.*\})$", self.output, re.MULTILINE)
        results = [json.loads(text) for text in found]
        # A no_log task's failure shows no msg; the rescue after it says why.
        return [result.get("msg", "") for result in results if "censored" not in result]

    def assert_ok(self):
        assert self.rc == 0 and self.recap["failed"] == 0, repr(self)

    def assert_no_secret(self, secret_values):
        leaked = sorted(s for s in secret_values if s and s in self.output)
        assert leaked == [], "secrets in the output: %s\n%r" % (leaked, self)


def _sql(template, values):
    """`template` with each {} replaced by one quoted value of this module's own (names, hex
    digests, LIKE patterns): nothing that needs escaping is accepted."""
    for value in values:
        assert re.fullmatch(r"[A-Za-z0-9.@_%-]*", value), "not a plain SQL value: %r" % value
    return template.format(*("'%s'" % value for value in values))


def without(snapshot, domains):
    """The snapshot without the rows of `domains` (their domain, attribute and user rows)."""
    dids = {
        (row["did"] if row["did"] != "NULL" else row["domain"])
        for row in snapshot["domain"]
        if row["domain"] in domains
    }
    return {
        "domain": [r for r in snapshot["domain"] if r["domain"] not in domains],
        "domain_attrs": [r for r in snapshot["domain_attrs"] if r["did"] not in dids],
        "subscriber": [r for r in snapshot["subscriber"] if r["domain"] not in domains],
    }


def stored_hashes(snapshot):
    """Every ha1/ha1b value the database holds."""
    return {row[key] for row in snapshot["subscriber"] for key in ("ha1", "ha1b") if row[key]}
