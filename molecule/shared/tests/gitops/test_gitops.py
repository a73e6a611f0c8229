"""Tenants kept as files (GitOps): playbooks/tenants.yml run as an operator runs it.

Every test writes tenant files into its own temporary directory, runs
`ansible-playbook -i $MOLECULE_INVENTORY_FILE playbooks/tenants.yml` on the controller and
compares the target's `domain`, `domain_attrs` and `subscriber` rows before and after (full
rows: ids, hashes and last_modified included, so a rewrite of an unchanged row shows).

The tenants created here all have domains and dids starting with `gx-`; they are removed before
and after the module, so the module can run again on a kept instance. The scenario's own
tenants (whatever the earlier stages left) are only read: each run passes
`kamailio_tenants: []` to override the inventory's tenant list, and a purge run names them as
tenants built from the database itself (domain and did only, nothing to change), so that only
the tenant whose file was deleted goes.

Secrets are random per run (passwords, vault password), so a search of the output for them is
meaningful. The tests run in file order; each asserts only what holds whichever of the others
ran before it (all of them start from the `loaded` fixture's run).
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = REPO / "playbooks" / "tenants.yml"
SNAPSHOT_QUERIES = {
    "domain": "SELECT * FROM domain ORDER BY id",
    "domain_attrs": "SELECT * FROM domain_attrs ORDER BY id",
    "subscriber": "SELECT * FROM subscriber ORDER BY id",
}
PREFIX = "gx-"  # domains and dids of every tenant these tests create

PLAIN, INLINE, WHOLE, HASHES, NEW = (
    "gx-plain.example",
    "gx-inline.example",
    "gx-whole.example",
    "gx-hashes.example",
    "gx-new.example",
)
HASHES_DID = "gx-hashes-did"

CHANGES_TASK = "Sync | Show what changed, per tenant"
DRIFT_TASK = "Drift | Report what the database holds that the tenants do not"


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
        """The `msg` of every `fatal: [host]: FAILED! => {...}` line (stderr since ansible-core
        2.19, stdout before)."""
        found = re.findall(r"^fatal: \[[^\]]+\]: FAILED! => (\{.*\})$", self.output, re.MULTILINE)
        return [json.loads(text).get("msg", "") for text in found]

    def assert_ok(self):
        assert self.rc == 0 and self.recap["failed"] == 0, repr(self)

    def assert_no_secret(self, secret_values):
        leaked = sorted(s for s in secret_values if s and s in self.output)
        assert leaked == [], "secrets in the output: %s\n%r" % (leaked, self)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("gitops")


@pytest.fixture(scope="module")
def vault(workdir):
    return Vault(workdir / "vault")


@pytest.fixture(scope="module")
def tenants_playbook(workdir, vault):
    """run(extra_vars, *options): playbooks/tenants.yml on molecule's inventory.

    `kamailio_tenants: []` is passed unless the test gives a list: the scenario inventory's own
    tenant list must not take part in these runs.
    """
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"),
        ANSIBLE_PIPELINING="True",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    count = iter(range(1, 1000))

    def run(extra, *options):
        extra = {"kamailio_tenants": [], **extra}
        extra_file = workdir / ("extra-%02d.yml" % next(count))
        extra_file.write_text(json.dumps(extra, indent=2) + "\n")
        cmd = [_tool("ansible-playbook"), "-i", inventory, str(PLAYBOOK)]
        cmd += ["-e", "@%s" % extra_file, "--vault-password-file", str(vault.password_file)]
        cmd += list(options)
        proc = subprocess.run(
            cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=900, check=False
        )
        return Run(cmd, proc)

    return run


# --- The database -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(target, db_name):
    """SQL on the target as MariaDB root (unix socket)."""

    class DB:
        @staticmethod
        def query(template, *values):
            """Rows as dicts of column name -> text (mysql --batch; NULL is "NULL")."""
            out = target.check_output("mysql --batch -e %s %s", _sql(template, values), db_name)
            lines = out.splitlines()
            if not lines:
                return []
            columns = lines[0].split("\t")
            return [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[1:]]

        @staticmethod
        def execute(template, *values):
            target.check_output("mysql -e %s %s", _sql(template, values), db_name)

        def snapshot(self):
            """Every row of domain, domain_attrs and subscriber, ordered by id."""
            return {table: self.query(query) for table, query in SNAPSHOT_QUERIES.items()}

        def users(self, domain):
            """username -> subscriber row of one domain."""
            rows = self.query("SELECT * FROM subscriber WHERE domain = {}", domain)
            return {row["username"]: row for row in rows}

        def domains(self):
            return {row["domain"]: row for row in self.query("SELECT * FROM domain")}

        def attrs(self, did):
            rows = self.query("SELECT name, type, value FROM domain_attrs WHERE did = {}", did)
            return {row["name"]: (row["type"], row["value"]) for row in rows}

    return DB()


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


def _remove_test_tenants(db, kamcmd):
    like = PREFIX + "%"
    db.execute(
        "DELETE FROM subscriber WHERE domain LIKE {}; "
        "DELETE FROM domain_attrs WHERE did LIKE {}; "
        "DELETE FROM domain WHERE domain LIKE {}",
        like,
        like,
        like,
    )
    kamcmd("domain.reload")


@pytest.fixture(scope="module", autouse=True)
def clean_slate(db, kamcmd):
    """No gx- tenant before the module (a kept instance may hold some) and none after it."""
    _remove_test_tenants(db, kamcmd)
    yield
    _remove_test_tenants(db, kamcmd)


@pytest.fixture(scope="module")
def kept_tenants(db, clean_slate):
    """The tenants the database held before this module, as a purge run must name them:
    domain and did as stored, no attrs and no subscribers (so nothing of theirs changes)."""
    tenants = []
    rows = db.query(
        "SELECT domain, did FROM domain WHERE domain NOT LIKE {} ORDER BY id", PREFIX + "%"
    )
    for row in rows:
        tenant = {"name": "kept-" + row["domain"], "domain": row["domain"]}
        if row["did"] != "NULL":
            tenant["did"] = row["did"]
        tenants.append(tenant)
    return tenants


# --- The tenants of this module -----------------------------------------------------------------


@pytest.fixture(scope="module")
def world(vault):
    """Passwords (random) and the texts of every tenant file the tests use."""
    pw = {
        (PLAIN, "alice"): new_password(),
        (PLAIN, "bob"): new_password(),
        (INLINE, "alice"): new_password(),
        (INLINE, "bob"): new_password(),
        (WHOLE, "alice"): new_password(),
        (WHOLE, "dave"): new_password(),
        (HASHES, "carol"): new_password(),  # only its hashes are written anywhere
    }
    changed = {
        (PLAIN, "alice"): new_password(),  # isolation test
        (PLAIN, "erin"): new_password(),
        (INLINE, "alice"): new_password(),  # check/diff test
        (INLINE, "frank"): new_password(),
        (NEW, "gina"): new_password(),
    }
    vaulted = vault.encrypt_strings(
        {
            "inline_alice": pw[(INLINE, "alice")],
            "inline_bob": pw[(INLINE, "bob")],
            "inline_alice_new": changed[(INLINE, "alice")],
            "inline_frank": changed[(INLINE, "frank")],
        }
    )
    carol = digest_hashes("carol", HASHES, pw[(HASHES, "carol")])

    files = {
        # no name: the tenant is named after the file
        "gx-plain.yml": tenant_text(
            PLAIN,
            [
                {"username": "alice", "password": pw[(PLAIN, "alice")]},
                {"username": "bob", "password": pw[(PLAIN, "bob")]},
            ],
            attrs={"tenant_id": 9101},
        ),
        "gx-inline.yml": tenant_text(
            INLINE,
            [
                {"username": "alice", "vault": vaulted["inline_alice"]},
                {"username": "bob", "vault": vaulted["inline_bob"]},
            ],
            name="gx-inline",
            purge_subscribers=True,
        ),
        "gx-whole.yml": vault.encrypt_text(
            tenant_text(
                WHOLE,
                [
                    {"username": "alice", "password": pw[(WHOLE, "alice")]},
                    {"username": "dave", "password": pw[(WHOLE, "dave")]},
                ],
                name="gx-whole",
                attrs={"plan": "gold"},
                purge_subscribers=True,
            )
        ),
        "gx-hashes.yaml": tenant_text(
            HASHES,
            [{"username": "carol", "ha1": carol[0], "ha1b": carol[1]}],
            name="gx-hashes",
            did=HASHES_DID,
            attrs={"tenant_id": 9104, "plan": "silver"},
        ),
    }
    variants = {
        # alice's password changed, erin added, bob kept (purge_subscribers is off)
        "gx-plain.yml": tenant_text(
            PLAIN,
            [
                {"username": "alice", "password": changed[(PLAIN, "alice")]},
                {"username": "bob", "password": pw[(PLAIN, "bob")]},
                {"username": "erin", "password": changed[(PLAIN, "erin")]},
            ],
            attrs={"tenant_id": 9101},
        ),
        # alice's password changed, frank added, bob no longer listed (purge_subscribers)
        "gx-inline.yml": tenant_text(
            INLINE,
            [
                {"username": "alice", "vault": vaulted["inline_alice_new"]},
                {"username": "frank", "vault": vaulted["inline_frank"]},
            ],
            name="gx-inline",
            purge_subscribers=True,
        ),
        "gx-new.yml": tenant_text(
            NEW, [{"username": "gina", "password": changed[(NEW, "gina")]}], name="gx-new"
        ),
    }

    class World:
        pass

    w = World()
    w.pw, w.changed, w.files, w.variants, w.carol = pw, changed, files, variants, carol
    w.secrets = set(pw.values()) | set(changed.values()) | set(carol) | {vault.password}
    return w


@pytest.fixture(scope="module")
def loaded(tenants_playbook, world, workdir, db, clean_slate):
    """The four tenants of world.files, loaded from one directory (what the tests start from)."""
    before = db.snapshot()
    tenants_dir = write_dir(workdir / "tenants-initial", world.files)
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    return run, before, tenants_dir


# --- 1. Directory loading -----------------------------------------------------------------------


def test_directory_loading_creates_every_tenant(loaded, world, db):
    run, before, _tenants_dir = loaded
    assert run.recap["changed"] > 0, repr(run)
    # names: from the file (gx-plain has no name key) or the name key; .yml and .yaml both read
    manages = run.task_output("Load | Show which tenants this run manages")
    assert "4 tenant(s): gx-hashes, gx-inline, gx-plain, gx-whole" in manages, manages

    domains = db.domains()
    assert {PLAIN, INLINE, WHOLE, HASHES} <= set(domains)
    assert domains[HASHES]["did"] == HASHES_DID
    assert domains[PLAIN]["did"] == "NULL"
    assert db.attrs(PLAIN) == {"tenant_id": ("0", "9101")}
    assert db.attrs(HASHES_DID) == {"tenant_id": ("0", "9104"), "plan": ("2", "silver")}

    plain = db.users(PLAIN)
    assert sorted(plain) == ["alice", "bob"]
    for user, row in plain.items():
        assert (row["ha1"], row["ha1b"]) == digest_hashes(user, PLAIN, world.pw[(PLAIN, user)])
    carol = db.users(HASHES)["carol"]
    assert (carol["ha1"], carol["ha1b"]) == world.carol  # stored as given

    # no plaintext anywhere; the tenants that existed before are untouched
    after = db.snapshot()
    gx_rows = [r for r in after["subscriber"] if r["domain"].startswith(PREFIX)]
    assert len(gx_rows) == 7
    assert [r for r in gx_rows if r["password"]] == []
    assert without(after, {PLAIN, INLINE, WHOLE, HASHES}) == before

    changes = run.debug_msg(CHANGES_TASK)
    assert changes["gx-plain"] == {
        "domain": PLAIN,
        "domain_added": True,
        "users_added": ["alice", "bob"],
    }
    run.assert_no_secret(world.secrets)


# --- 2. Vault values ----------------------------------------------------------------------------


def test_vault_values_are_decrypted_into_the_hashes(loaded, world, db):
    run, _before, tenants_dir = loaded
    # the files really are vaulted: the plaintext is nowhere in them
    whole = (tenants_dir / "gx-whole.yml").read_text()
    inline = (tenants_dir / "gx-inline.yml").read_text()
    assert whole.startswith("$ANSIBLE_VAULT;")
    assert "password: !vault |" in inline
    for (domain, _user), password in world.pw.items():
        assert password not in whole and password not in inline, domain

    for domain, users in ((INLINE, ["alice", "bob"]), (WHOLE, ["alice", "dave"])):
        rows = db.users(domain)
        assert sorted(rows) == users, domain
        for user in users:
            expected = digest_hashes(user, domain, world.pw[(domain, user)])
            assert (rows[user]["ha1"], rows[user]["ha1b"]) == expected, "%s@%s" % (user, domain)
            assert rows[user]["password"] == ""
    # the whole-file vault tenant's attributes came through as well
    assert db.attrs(WHOLE) == {"plan": ("2", "gold")}
    run.assert_no_secret(world.secrets)


# --- 3. A deleted tenant file, with and without kamailio_tenants_purge -------------------------


def test_deleted_tenant_file_is_left_alone_without_purge(
    loaded, tenants_playbook, world, workdir, db
):
    files = {k: v for k, v in world.files.items() if k != "gx-hashes.yaml"}
    tenants_dir = write_dir(workdir / "tenants-deleted", files)
    before = db.snapshot()
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    assert run.recap["changed"] == 0, repr(run)
    assert db.snapshot() == before  # gx-hashes' domain, attrs and carol are still there
    assert "carol" in db.users(HASHES)


def test_deleted_tenant_file_is_purged_with_purge(
    loaded, tenants_playbook, world, workdir, db, kept_tenants
):
    files = {k: v for k, v in world.files.items() if k != "gx-hashes.yaml"}
    tenants_dir = write_dir(workdir / "tenants-purge", files)
    before = db.snapshot()
    assert "carol" in db.users(HASHES)
    extra = {
        "kamailio_tenants_dir": str(tenants_dir),
        "kamailio_tenants_purge": True,
        # the tenants that are not this module's, as they are: a purge must not take them
        "kamailio_tenants": kept_tenants,
    }
    run = tenants_playbook(extra, "--diff")
    run.assert_ok()
    assert run.recap["changed"] > 0, repr(run)

    assert HASHES not in db.domains()
    assert db.users(HASHES) == {}
    assert db.attrs(HASHES_DID) == {}
    # everything else byte for byte as before: the other tenants, the pre-existing ones
    assert db.snapshot() == without(before, {HASHES})
    changes = run.debug_msg(CHANGES_TASK)
    assert changes == {
        "(no tenant) " + HASHES: {
            "domain": HASHES,
            "domain_removed": True,
            "users_removed": ["carol"],
        }
    }


# --- 4. A broken tenant file stops the run before any write -------------------------------------

BROKEN_PASSWORD = "gx-broken: pw-" + secrets.token_hex(6)  # ": " makes it invalid unquoted
BROKEN = {
    # a password with ": " in it, unquoted: not YAML; the error must not quote the line
    "invalid_yaml": (
        "---\nname: gx-broken\ndomain: gx-broken.example\nsubscribers:\n"
        "  - username: x\n    password: %s\n" % BROKEN_PASSWORD,
        "could not be read",
    ),
    "bad_domain": (
        tenant_text(
            "not a domain!", [{"username": "x", "password": BROKEN_PASSWORD}], name="gx-broken"
        ),
        "domain must be",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_tenant_file_fails_before_any_write(
    loaded, tenants_playbook, world, workdir, db, kind
):
    text, complaint = BROKEN[kind]
    files = dict(world.files)
    # valid changes beside the broken file: a new tenant and a changed password that a run
    # which did not stop first would write
    files["gx-new.yml"] = world.variants["gx-new.yml"]
    files["gx-plain.yml"] = world.variants["gx-plain.yml"]
    files["gx-broken.yml"] = text
    tenants_dir = write_dir(workdir / ("tenants-broken-" + kind), files)
    before = db.snapshot()

    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    assert run.rc != 0, repr(run)
    messages = run.failure_messages()
    assert len(messages) == 1, repr(run)
    # the message names the file and what is wrong with it
    assert "gx-broken.yml" in messages[0], messages
    assert complaint in messages[0], messages
    assert "nothing was changed" in messages[0], messages
    assert run.tasks_run("Sync |") == [], repr(run)
    run.assert_no_secret(world.secrets | {BROKEN_PASSWORD, BROKEN_PASSWORD.split(": ")[1]})
    assert db.snapshot() == before
    assert NEW not in db.domains()


# --- 5. Per-tenant isolation --------------------------------------------------------------------


def test_run_with_one_tenant_file_changes_only_that_tenant(
    loaded, tenants_playbook, world, workdir, db
):
    only = write_dir(workdir / "tenants-one", {"gx-plain.yml": world.variants["gx-plain.yml"]})
    before = db.snapshot()
    old = db.users(PLAIN)
    run = tenants_playbook({"kamailio_tenants_files": [str(only / "gx-plain.yml")]}, "--diff")
    run.assert_ok()

    users = db.users(PLAIN)
    assert sorted(users) == ["alice", "bob", "erin"]
    for user in ("alice", "erin"):
        expected = digest_hashes(user, PLAIN, world.changed[(PLAIN, user)])
        assert (users[user]["ha1"], users[user]["ha1b"]) == expected, user
    assert users["bob"] == old["bob"]
    # every other tenant, and gx-plain's own domain and attribute rows, byte for byte
    after = db.snapshot()
    assert without(after, {PLAIN}) == without(before, {PLAIN})
    assert [r for r in after["domain"] if r["domain"] == PLAIN] == [
        r for r in before["domain"] if r["domain"] == PLAIN
    ]
    assert run.debug_msg(CHANGES_TASK) == {
        "gx-plain": {"domain": PLAIN, "users_added": ["erin"], "password_changed": ["alice"]}
    }
    run.assert_no_secret(world.secrets)


# --- 6. --check --diff: names, no secrets, no write ---------------------------------------------


def test_check_diff_names_the_changes_and_no_secret(
    loaded, tenants_playbook, world, workdir, db, kept_tenants
):
    files = {
        "gx-plain.yml": world.variants["gx-plain.yml"],  # as the previous test left it
        "gx-inline.yml": world.variants["gx-inline.yml"],  # alice changed, frank new, bob gone
        "gx-new.yml": world.variants["gx-new.yml"],  # a new tenant
        # gx-whole.yml deleted: with kamailio_tenants_purge its domain and users would go
    }
    tenants_dir = write_dir(workdir / "tenants-check", files)
    before = db.snapshot()
    assert WHOLE in db.domains() and "bob" in db.users(INLINE)
    extra = {
        "kamailio_tenants_dir": str(tenants_dir),
        "kamailio_tenants_purge": True,
        "kamailio_tenants": kept_tenants,
    }
    run = tenants_playbook(extra, "--check", "--diff")
    run.assert_ok()
    assert run.recap["changed"] > 0, repr(run)

    changes = run.debug_msg(CHANGES_TASK)
    assert changes["gx-inline"] == {
        "domain": INLINE,
        "users_added": ["frank"],
        "users_removed": ["bob"],
        "password_changed": ["alice"],
    }
    assert changes["gx-new"] == {"domain": NEW, "domain_added": True, "users_added": ["gina"]}
    assert changes["(no tenant) " + WHOLE] == {
        "domain": WHOLE,
        "domain_removed": True,
        "users_removed": ["alice", "dave"],
    }
    # the module diffs name them too
    for name in (INLINE, NEW, WHOLE, "frank", "gina"):
        assert name in run.output, name
    # no password (old or new, vaulted or not), no stored or given hash, no vault password
    run.assert_no_secret(world.secrets | stored_hashes(before))
    assert db.snapshot() == before


# --- 7. The drift report ------------------------------------------------------------------------


def test_drift_report_names_what_was_changed_by_hand_and_writes_nothing(
    loaded, tenants_playbook, world, workdir, db
):
    mallory = digest_hashes("mallory", INLINE, new_password())
    db.execute(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) "
        "VALUES ('mallory', {}, '', {}, {})",
        INLINE,
        *mallory,
    )
    db.execute(  # bob's password changed behind the tenant file's back
        "UPDATE subscriber SET ha1 = {}, ha1b = {} WHERE username = 'bob' AND domain = {}",
        md5("gx-by-hand-1"),
        md5("gx-by-hand-2"),
        INLINE,
    )
    tenants_dir = write_dir(
        workdir / "tenants-drift", {"gx-inline.yml": world.files["gx-inline.yml"]}
    )
    before = db.snapshot()

    # both ways to ask for the report: the variable and the tag
    for extra, options in (
        ({"kamailio_tenants_drift_report": True}, ["--diff"]),
        ({}, ["--tags", "drift"]),
    ):
        run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir), **extra}, *options)
        run.assert_ok()
        assert run.recap["changed"] == 0, repr(run)
        report = run.debug_msg(DRIFT_TASK)
        assert report["in_sync"] is False
        assert report["tenants"] == {
            "gx-inline": {"users_not_in_tenant_list": ["mallory"], "passwords_differ": ["bob"]}
        }
        assert {PLAIN, WHOLE} <= set(report["domains_not_in_tenant_list"])
        assert INLINE not in report["domains_not_in_tenant_list"]
        assert run.tasks_run("Sync |") == [], repr(run)
        assert run.tasks_run("Drift | Report") == [
            "Drift | Report what the database holds that the tenants do not"
        ]
        run.assert_no_secret(world.secrets | stored_hashes(before))
        assert db.snapshot() == before

    # the same file applied (purge_subscribers: true) puts the tenant back as the file says
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    users = db.users(INLINE)
    assert sorted(users) == ["alice", "bob"]
    bob = digest_hashes("bob", INLINE, world.pw[(INLINE, "bob")])
    assert (users["bob"]["ha1"], users["bob"]["ha1b"]) == bob
    old_alice = [
        r for r in before["subscriber"] if r["domain"] == INLINE and r["username"] == "alice"
    ]
    assert [users["alice"]] == old_alice
    assert without(db.snapshot(), {INLINE}) == without(before, {INLINE})
