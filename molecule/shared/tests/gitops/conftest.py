"""Fixtures of the GitOps verify tests: the tenants playbook run from the controller against
molecule's inventory, the target's database, and a clean slate of gx- tenants per module."""

import json
import os
import subprocess

import pytest
from gitops_support import PLAYBOOK, PREFIX, REPO, SNAPSHOT_QUERIES, Run, Vault, _sql, _tool


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
    """The tenants the database held before this module, as a purge run must name them: the
    owning tenant's name, domain and did as stored, no attrs and no subscribers (so nothing of
    theirs changes)."""
    tenants = []
    rows = db.query(
        "SELECT d.domain, d.did, a.value AS owner FROM domain d"
        " JOIN domain_attrs a ON a.did = COALESCE(d.did, d.domain) AND a.name = 'tenant'"
        " WHERE d.domain NOT LIKE {} ORDER BY d.id",
        PREFIX + "%",
    )
    for row in rows:
        tenant = {"name": row["owner"], "domain": row["domain"]}
        if row["did"] != "NULL":
            tenant["did"] = row["did"]
        tenants.append(tenant)
    return tenants
