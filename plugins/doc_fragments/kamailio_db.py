# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection options shared by the kamailio_* modules."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_user:
    description:
      - User name to connect to the database with.
      - When omitted, the C(user) of the C([client]) section of O(config_file) is used, and
        failing that the name of the user the module runs as.
    type: str
  login_password:
    description:
      - Password of O(login_user).
      - When omitted, the C(password) of the C([client]) section of O(config_file) is used.
    type: str
  login_host:
    description:
      - Host name or address of the MySQL or MariaDB server, or several in order of preference
        (the nodes of a Galera cluster).
      - The module uses the first that accepts the connection and, when it is a Galera node,
        reports C(wsrep_ready) C(ON); it moves on to the next only when a server cannot be
        reached or is not ready, never after a refused login.
      - Ignored when O(login_unix_socket) is set.
    type: list
    elements: str
    default: [localhost]
  login_port:
    description:
      - TCP port of the server.
    type: int
    default: 3306
  login_unix_socket:
    description:
      - Path of the server's Unix socket, used instead of O(login_host) and O(login_port).
      - Debian's MariaDB listens on C(/run/mysqld/mysqld.sock).
    type: str
  login_db:
    description:
      - Name of Kamailio's database, the C(DBNAME) of C(kamctlrc).
    type: str
    default: kamailio
  connect_timeout:
    description:
      - Seconds to wait for the connection to the server.
    type: int
    default: 30
  config_file:
    description:
      - MySQL option file whose C([client]) section supplies credentials, host, port, socket
        and C(ssl-*) settings that are not given as options.
      - Read only when the file exists; a missing file is not an error.
    type: path
    default: ~/.my.cnf
  ca_cert:
    description:
      - CA certificate that signs the server's TLS certificate. Enables TLS with
        verification of the server.
    type: path
    aliases: [ssl_ca]
  client_cert:
    description:
      - Client certificate for TLS client authentication.
    type: path
    aliases: [ssl_cert]
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
    aliases: [ssl_key]
requirements:
  - PyMySQL (Python library) on the host that runs the module
notes:
  - The database must hold Kamailio's MySQL schema (C(standard-create.sql), C(auth_db-create.sql)
    and C(domain-create.sql) of the C(kamailio-mysql-modules) package, or C(kamdbctl create)).
  - Errors say what failed, for example wrong credentials, a missing database or table, or an
    unreachable server.
  - All writes of one module call run in one transaction; when a statement fails, nothing of
    the call is written.
"""

    # The purge guard and check mode of the modules that sync rows (kamailio_domain,
    # kamailio_subscriber): one plan model, one description.
    SYNC = r"""
options:
  allow_purge_all:
    description:
      - A purge that would remove every existing row it manages (every domain, or every account
        of a domain) fails unless this is V(true). This guards against an inventory that failed
        to load.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads the tables and reports what would change; writes nothing.
"""
