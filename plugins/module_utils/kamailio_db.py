# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection to Kamailio's MySQL/MariaDB database for the kamailio_* modules.

Holds the common login options (documented once in the kamailio_db doc fragment), the PyMySQL
connection, error messages that say what failed (authentication, missing database or table,
unreachable server) and one-transaction writes.
"""

import contextlib
import os
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import pymysql
except ImportError:
    pymysql = None
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()
else:
    PYMYSQL_IMPORT_ERROR = None

# Server and client error numbers the messages below explain.
ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_TABLEACCESS_DENIED = 1142
ER_NO_SUCH_TABLE = 1146
ER_BAD_FIELD = 1054
ER_DUP_ENTRY = 1062
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
CR_CONNECTION_ERRORS = (2002, 2003, 2005, 2006, 2013, 2026)


def kamailio_db_argument_spec():
    """The login options every kamailio_* module accepts (see the kamailio_db doc fragment)."""
    return dict(
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        login_host=dict(type="list", elements="str", default=["localhost"]),
        login_port=dict(type="int", default=3306),
        login_unix_socket=dict(type="str"),
        login_db=dict(type="str", default="kamailio"),
        connect_timeout=dict(type="int", default=30),
        config_file=dict(type="path", default="~/.my.cnf"),
        ca_cert=dict(type="path", aliases=["ssl_ca"]),
        client_cert=dict(type="path", aliases=["ssl_cert"]),
        client_key=dict(type="path", aliases=["ssl_key"]),
    )


class KamailioDBError(Exception):
    """A database operation failed; the message says what and never holds a secret. code is
    the server's or client's error number, when there was one."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


def _hosts(params):
    hosts = params.get("login_host") or ["localhost"]
    return [hosts] if isinstance(hosts, str) else list(hosts)


def _server_target(params):
    if params.get("login_unix_socket"):
        where = "socket %s" % params["login_unix_socket"]
    else:
        where = ", ".join("%s:%s" % (host, params.get("login_port")) for host in _hosts(params))
    return "database %r on %s" % (params.get("login_db"), where)


def _error_parts(exc):
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    text = args[1] if len(args) > 1 else str(exc)
    return code, text


# What each error means, by its number: {doing}, {target} and {text} (the server's words) are
# filled in. The messages never hold a value of the call.
EXPLANATIONS = {
    ER_ACCESS_DENIED: "authentication failed while {doing} to {target}: wrong login_user or"
    " login_password (or config_file credentials). Server said: {text}",
    ER_DBACCESS_DENIED: "access denied while {doing} to {target}: the user has no rights on the"
    " database. {text}",
    ER_BAD_DB: "the database does not exist while {doing} to {target} (check login_db)."
    " Server said: {text}",
    ER_NO_SUCH_TABLE: "a table is missing while {doing} in {target}: load Kamailio's MySQL schema"
    " (standard, auth_db, domain). Server said: {text}",
    ER_TABLEACCESS_DENIED: "permission denied while {doing} in {target}: {text}",
    ER_BAD_FIELD: "unexpected table layout while {doing} in {target} (is this Kamailio's"
    " schema?): {text}",
    ER_LOCK_WAIT_TIMEOUT: "concurrent change while {doing} in {target}, nothing was written;"
    " retry: {text}",
}
EXPLANATIONS[ER_LOCK_DEADLOCK] = EXPLANATIONS[ER_LOCK_WAIT_TIMEOUT]
EXPLANATIONS.update(
    (code, "cannot connect to {target} while {doing}: {text}") for code in CR_CONNECTION_ERRORS
)


def explain_error(exc, params, doing):
    """Turn a PyMySQL exception into a message that names what failed.

    doing says what the module was attempting ("connecting", "reading table subscriber", ...).
    """
    code, text = _error_parts(exc)
    if code in EXPLANATIONS:
        template = EXPLANATIONS[code]
    elif code is not None:
        template = "database error %d while {doing} in {target}: {text}" % code
    else:
        template = "database error while {doing} in {target}: {text}"
    return template.format(doing=doing, target=_server_target(params), text=text)


def connection_kwargs(params, host=None):
    """Keyword arguments for pymysql.connect() built from the module's login options, for
    `host` (default: the first of login_host)."""
    kwargs = dict(
        database=params["login_db"],
        connect_timeout=params["connect_timeout"],
        charset="utf8mb4",
        autocommit=False,
    )
    if params.get("login_user") is not None:
        kwargs["user"] = params["login_user"]
    if params.get("login_password") is not None:
        kwargs["password"] = params["login_password"]
    if params.get("login_unix_socket"):
        kwargs["unix_socket"] = params["login_unix_socket"]
    else:
        kwargs["host"] = host if host is not None else _hosts(params)[0]
        kwargs["port"] = params["login_port"]
    config_file = params.get("config_file")
    if config_file and os.path.isfile(os.path.expanduser(config_file)):
        kwargs["read_default_file"] = os.path.expanduser(config_file)
    ssl = {}
    for option, key in (("ca_cert", "ca"), ("client_cert", "cert"), ("client_key", "key")):
        if params.get(option):
            ssl[key] = params[option]
    if ssl:
        kwargs["ssl"] = ssl
    return kwargs


class _NotReady(Exception):
    """A Galera node that accepts connections but is not synced with its cluster."""


def _open(params, host, check_ready):
    conn = pymysql.connect(**connection_kwargs(params, host))
    if not check_ready:
        return conn
    try:
        # A Galera node outside the primary component answers, but refuses queries or serves
        # stale data. MariaDB without Galera reports wsrep_ready OFF too, with wsrep_on OFF.
        with conn.cursor() as cursor:
            cursor.execute("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'")
            galera = cursor.fetchone()
            if galera is not None and str(galera[1]).upper() == "ON":
                cursor.execute("SHOW GLOBAL STATUS LIKE 'wsrep_ready'")
                ready = cursor.fetchone()
                if ready is None or str(ready[1]).upper() != "ON":
                    raise _NotReady("a Galera node that is not ready (wsrep_ready OFF)")
    except BaseException:
        conn.close()
        raise
    return conn


def connect(module):
    """Open the connection to the first of login_host that accepts it and, when it is a Galera
    node, is ready; or fail the module with a message that says what went wrong with each."""
    if pymysql is None:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    params = module.params
    hosts = [None] if params.get("login_unix_socket") else _hosts(params)
    failures = []
    for host in hosts:
        try:
            # with one server there is nothing to choose: its own errors say what is wrong
            return _open(params, host, check_ready=len(hosts) > 1)
        except _NotReady as exc:
            failures.append("%s: %s" % (host, exc))
        except pymysql.err.Error as exc:
            code, text = _error_parts(exc)
            if code not in CR_CONNECTION_ERRORS or host == hosts[-1]:
                failures.append(explain_error(exc, params, "connecting"))
                break
            failures.append("%s: %s" % (host, text))
        except (OSError, ValueError) as exc:
            failures.append("cannot connect to %s: %s" % (_server_target(params), exc))
            break
    module.fail_json(msg="; ".join(failures))
    return None


class KamailioDB:
    """Reads and one-transaction writes on an open PyMySQL connection.

    Every method raises KamailioDBError with an explained message; the caller fails the module.
    """

    def __init__(self, conn, params):
        self.conn = conn
        self.params = params

    def _error(self, exc, doing):
        return KamailioDBError(explain_error(exc, self.params, doing), _error_parts(exc)[0])

    def query(self, statements, doing):
        """Run (query, params) SELECT statements; return all rows of all of them."""
        rows = []
        try:
            with self.conn.cursor() as cursor:
                for query, args in statements:
                    cursor.execute(query, args)
                    rows.extend(cursor.fetchall())
        except pymysql.err.Error as exc:
            raise self._error(exc, doing) from None
        return rows

    def columns(self, table, required):
        """Return {column: collation or None} of table; fail when the table or a column is
        missing (a better message than the first SELECT would give)."""
        query = (
            "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
        )
        found = dict(self.query([(query, (table,))], "inspecting table %s" % table))
        if not found:
            raise KamailioDBError(
                "table %r does not exist in %s: load Kamailio's MySQL schema"
                " (standard-create.sql, then auth_db-create.sql and domain-create.sql)"
                % (table, _server_target(self.params))
            )
        missing = [name for name in required if name not in found]
        if missing:
            raise KamailioDBError(
                "table %r in %s lacks column(s) %s: is this Kamailio's schema?"
                % (table, _server_target(self.params), ", ".join(missing))
            )
        return found

    def write(self, statements, doing):
        """Run every (query, params) statement in one transaction: all or nothing."""
        try:
            with self.conn.cursor() as cursor:
                for query, args in statements:
                    cursor.execute(query, args)
            self.conn.commit()
        except pymysql.err.Error as exc:
            self.rollback()
            raise self._error(exc, doing) from None
        except Exception:
            self.rollback()
            raise

    def rollback(self):
        with contextlib.suppress(pymysql.err.Error):
            self.conn.rollback()

    def close(self):
        with contextlib.suppress(pymysql.err.Error):
            self.conn.close()


def case_insensitive(collation):
    """True when a column's collation compares text case-insensitively (the schema default)."""
    if collation is None:
        return False
    lowered = collation.lower()
    return not (lowered.endswith("_bin") or lowered.endswith("_cs") or lowered == "binary")
