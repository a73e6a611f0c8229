"""Connection options, error messages and result hygiene of kamailio_db: no database."""

# ruff: noqa: S105, S106 - made-up test passwords

import pymysql
import pytest

from ansible_collections.sipstack.kamailio.plugins.module_utils import kamailio_db
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    case_insensitive,
    connection_kwargs,
    explain_error,
    kamailio_db_argument_spec,
)


def params(**overrides):
    values = {name: spec.get("default") for name, spec in kamailio_db_argument_spec().items()}
    values["config_file"] = "/nonexistent/.my.cnf"
    values.update(overrides)
    return values


def test_login_options_and_defaults():
    spec = kamailio_db_argument_spec()
    assert set(spec) == {
        "login_user",
        "login_password",
        "login_host",
        "login_port",
        "login_unix_socket",
        "login_db",
        "connect_timeout",
        "config_file",
        "ca_cert",
        "client_cert",
        "client_key",
    }
    assert spec["login_password"]["no_log"] is True
    assert spec["login_host"]["default"] == ["localhost"]
    assert spec["login_port"]["default"] == 3306
    assert spec["login_db"]["default"] == "kamailio"


def test_tcp_connection_kwargs():
    kwargs = connection_kwargs(params(login_user="u", login_password="p", login_port=33306))
    assert kwargs["host"] == "localhost"
    assert kwargs["port"] == 33306
    assert kwargs["user"] == "u" and kwargs["password"] == "p"
    assert kwargs["database"] == "kamailio"
    assert kwargs["autocommit"] is False
    assert "unix_socket" not in kwargs and "ssl" not in kwargs
    assert "read_default_file" not in kwargs  # the file does not exist


def test_socket_tls_and_option_file(tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\nuser=fromfile\n")
    kwargs = connection_kwargs(
        params(
            login_unix_socket="/run/mysqld/mysqld.sock",
            config_file=str(cnf),
            ca_cert="/etc/ca.pem",
            client_cert="/etc/c.pem",
            client_key="/etc/k.pem",
        )
    )
    assert kwargs["unix_socket"] == "/run/mysqld/mysqld.sock"
    assert "host" not in kwargs
    assert kwargs["read_default_file"] == str(cnf)
    assert "user" not in kwargs  # left to the option file
    assert kwargs["ssl"] == {"ca": "/etc/ca.pem", "cert": "/etc/c.pem", "key": "/etc/k.pem"}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            pymysql.err.OperationalError(1045, "Access denied for user 'u'@'localhost'"),
            "authentication failed",
        ),
        (pymysql.err.OperationalError(1049, "Unknown database 'x'"), "database does not exist"),
        (pymysql.err.ProgrammingError(1146, "Table 'x.subscriber' doesn't exist"), "missing"),
        (pymysql.err.OperationalError(2003, "Can't connect"), "cannot connect"),
        (pymysql.err.OperationalError(1205, "Lock wait timeout"), "nothing was written"),
        (pymysql.err.OperationalError(1142, "INSERT command denied"), "permission denied"),
    ],
)
def test_errors_say_what_failed(exc, expected):
    message = explain_error(exc, params(login_password="topsecret"), "connecting")
    assert expected in message
    assert "'kamailio' on localhost:3306" in message
    assert "topsecret" not in message


def test_collations():
    assert case_insensitive("utf8mb4_general_ci")
    assert case_insensitive("utf8mb4_uca1400_ai_ci")
    assert not case_insensitive("utf8mb4_bin")
    assert not case_insensitive("utf8mb4_0900_as_cs")
    assert not case_insensitive(None)


def test_missing_pymysql_fails_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(kamailio_db, "pymysql", None)
    failures = []

    class Module:
        params = params()

        def fail_json(self, **kwargs):
            failures.append(kwargs)
            raise SystemExit(1)

    with pytest.raises(SystemExit):
        kamailio_db.connect(Module())
    assert "PyMySQL" in failures[0]["msg"]
    assert "Failed to import the required Python library" in failures[0]["msg"]


class _RefusingConnection:
    """A connection whose every statement the server refuses with `error`."""

    def __init__(self, error):
        self.error = error

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def execute(self, query, args):
        raise self.error


def test_a_failed_query_keeps_the_error_number():
    """Callers tell errors apart by number (kamailio_reconcile: no SELECT on location), not by
    the wording of the message."""
    refused = pymysql.err.OperationalError(1142, "SELECT command denied for table 'location'")
    db = kamailio_db.KamailioDB(_RefusingConnection(refused), params())
    with pytest.raises(kamailio_db.KamailioDBError) as caught:
        db.query([("SELECT 1", ())], "reading table location")
    assert caught.value.code == kamailio_db.ER_TABLEACCESS_DENIED
    assert "permission denied while reading table location" in str(caught.value)
