"""Fixtures for the module integration tests: a real MariaDB and real ansible-playbook runs.

The database comes from tests/harness/mariadb.sh (start it, then eval its `env` output). Without
the KAMAILIO_TEST_DB_* variables every test here FAILS with a message saying so: nothing is
skipped silently. Each test gets a fresh database with Kamailio's schema, dropped afterwards.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

ROOT = Path(__file__).resolve().parents[3]
ENV_VARS = ("HOST", "PORT", "USER", "PASSWORD", "SCHEMA_DIR")
SCHEMA_FILES = ("standard-create.sql", "auth_db-create.sql", "domain-create.sql")
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


@pytest.fixture(scope="session")
def db_env():
    missing = ["KAMAILIO_TEST_DB_" + name for name in ENV_VARS]
    missing = [name for name in missing if not os.environ.get(name)]
    if missing:
        pytest.fail(
            "the integration tests need the harness MariaDB, but %s %s not set. Run:\n"
            '  bash tests/harness/mariadb.sh start && eval "$(bash tests/harness/mariadb.sh env)"'
            % (", ".join(missing), "is" if len(missing) == 1 else "are"),
            pytrace=False,
        )
    env = {name.lower(): os.environ["KAMAILIO_TEST_DB_" + name] for name in ENV_VARS}
    env["port"] = int(env["port"])
    for name in SCHEMA_FILES:
        if not Path(env["schema_dir"], name).is_file():
            pytest.fail("%s missing from %s" % (name, env["schema_dir"]), pytrace=False)
    return env


def _connect(env, database=None):
    return pymysql.connect(
        host=env["host"],
        port=env["port"],
        user=env["user"],
        password=env["password"],
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


class KamailioTestDB:
    """One throw-away database with Kamailio's subscriber, domain and domain_attrs tables."""

    def __init__(self, env, schema=True):
        self.env = env
        self.name = "kamtest_" + secrets.token_hex(6)
        admin = _connect(env)
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % self.name)
        admin.close()
        self.conn = _connect(env, self.name)
        if schema:
            for name in SCHEMA_FILES:
                text = Path(env["schema_dir"], name).read_text()
                for statement in text.split(";\n"):
                    if statement.strip():
                        self.execute(statement)

    def execute(self, query, args=None):
        with self.conn.cursor() as cursor:
            cursor.execute(query, args)
            return cursor.fetchall()

    def subscribers(self):
        """{(domain, username): (password, ha1, ha1b)}"""
        rows = self.execute("SELECT domain, username, password, ha1, ha1b FROM subscriber")
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

    def domains(self):
        """{domain: did}"""
        return dict(self.execute("SELECT domain, did FROM domain"))

    def attrs(self):
        """sorted [(did, name, type, value)]"""
        return sorted(self.execute("SELECT did, name, type, value FROM domain_attrs"))

    def snapshot(self):
        return (
            sorted(self.execute("SELECT * FROM subscriber")),
            sorted(self.execute("SELECT * FROM domain")),
            sorted(self.execute("SELECT * FROM domain_attrs")),
        )

    def add_domains(self, *names):
        for name in names:
            self.execute("INSERT INTO domain (domain) VALUES (%s)", (name,))

    def drop(self):
        self.conn.close()
        admin = _connect(self.env)
        with admin.cursor() as cursor:
            cursor.execute("DROP DATABASE IF EXISTS `%s`" % self.name)
        admin.close()


@pytest.fixture
def kamdb(db_env):
    database = KamailioTestDB(db_env)
    yield database
    database.drop()


@pytest.fixture
def empty_db(db_env):
    """A database without Kamailio's tables."""
    database = KamailioTestDB(db_env, schema=False)
    yield database
    database.drop()


class PlayResult:
    def __init__(self, proc, parsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = []
        if parsed is not None:
            for play in parsed["plays"]:
                for task in play["tasks"]:
                    self.results.append(task["hosts"]["localhost"])

    def __getitem__(self, index):
        return self.results[index]

    def __len__(self):
        return len(self.results)


def _collections_path():
    return subprocess.run(
        ["bash", str(ROOT / "tests" / "harness" / "collection.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="session")
def collections_path():
    return _collections_path()


@pytest.fixture
def play(db_env, kamdb, tmp_path, collections_path):
    """Run tasks (dicts) as one playbook against kamdb; return a PlayResult.

    Every task gets the login options through module_defaults of the action group.
    check/diff apply to the whole run; verbose=True uses the default callback with -vvv and
    returns raw output only.
    """
    counter = {"n": 0}

    def run(tasks, check=False, diff=True, verbose=False, database=None, expect_failure=False):
        counter["n"] += 1
        playbook = [
            {
                "hosts": "localhost",
                "gather_facts": False,
                # A play variable, not an extra var: a task may still pick another interpreter.
                "vars": {"ansible_python_interpreter": sys.executable},
                "module_defaults": {
                    "group/sipstack.kamailio.kamailio": {
                        "login_host": db_env["host"],
                        "login_port": db_env["port"],
                        "login_user": db_env["user"],
                        "login_password": db_env["password"],
                        "login_db": database or kamdb.name,
                    }
                },
                "tasks": tasks,
            }
        ]
        path = tmp_path / ("play%d.yml" % counter["n"])
        path.write_text(json.dumps(playbook, indent=2))
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=collections_path,
            ANSIBLE_STDOUT_CALLBACK="default" if verbose else "json",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_LOCALHOST_WARNING="False",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        )
        command = [
            ANSIBLE_PLAYBOOK,
            "-i",
            "localhost,",
            "-c",
            "local",
            str(path),
        ]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if verbose:
            command.append("-vvv")
        proc = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        parsed = None
        if not verbose:
            try:
                parsed = json.loads(proc.stdout)
            except ValueError:
                pytest.fail(
                    "ansible-playbook printed no JSON (rc %s):\n%s\n%s"
                    % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
                )
        result = PlayResult(proc, parsed)
        if not expect_failure and not verbose and proc.returncode != 0:
            failed = [r for r in result.results if r.get("failed") and not r.get("_ansible_ignore")]
            pytest.fail(
                "ansible-playbook failed (rc %s): %s\n%s"
                % (proc.returncode, json.dumps(failed, indent=2)[-3000:], proc.stderr[-2000:])
            )
        return result

    return run
