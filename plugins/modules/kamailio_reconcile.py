#!/usr/bin/python
# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: kamailio_reconcile
short_description: Make a running Kamailio match its database (domain cache, registrations)
version_added: 0.2.0
description:
  - Compares what the Kamailio of this host has loaded with what its database holds, and
    repairs the difference, whatever run made it.
  - The domain cache is reloaded (C(domain.reload)) when the domains, dids or attribute names
    that C(domain.dump) shows differ from the database, or when the database's domain tables
    changed since the last reload this module made (a marker file in Kamailio's runtime
    directory, which is emptied when Kamailio restarts, holds their digest).
  - Registrations of accounts that the C(subscriber) table no longer holds are removed
    (C(ul.rm)), so a removed user or tenant cannot be reached any more. They are found in
    Kamailio's memory (C(ul.dump)) and in table C(location), where usrloc's database-only mode
    (several SIP servers) keeps them; the login then needs C(SELECT) on C(location), which the
    mariadb role grants the tenant sync's account.
  - Talks to Kamailio through the FIFO of its C(jsonrpcs) module; no value is ever put on a
    command line.
options:
  rpc_fifo:
    description: The FIFO of Kamailio's C(jsonrpcs) module.
    type: path
    default: /run/kamailio/kamailio_rpc.fifo
  pid_file:
    description:
      - Kamailio's pid file. With no live process behind it Kamailio counts as not running;
        a running Kamailio whose FIFO does not answer is an error.
    type: path
    default: /run/kamailio/kamailio.pid
  rpc_reply_dir:
    description:
      - The directory Kamailio writes RPC replies to (the C(fifo_reply_dir) of C(jsonrpcs);
        kamctl uses its default, C(/tmp)).
    type: path
    default: /tmp
  domains:
    description: Reconcile the domain cache.
    type: bool
    default: true
  registrations:
    description: Remove registrations of accounts that no longer exist.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each RPC reply.
    type: int
    default: 30
extends_documentation_fragment:
  - sipstack.kamailio.kamailio_db
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads Kamailio and the database, reports what it would reload or remove.
  diff_mode:
    support: full
    details: Shows the reload and the registrations removed.
  platform:
    platforms: posix
notes:
  - Needs to run as root or as the kamailio user (the FIFO belongs to Kamailio).
  - When Kamailio is not running there is nothing to reconcile (it loads the domains when it
    starts); the module then reports C(running=false) with a warning.
seealso:
  - module: sipstack.kamailio.kamailio_tenants
author:
  - sipstack.kamailio maintainers (@sipstack)
"""

EXAMPLES = r"""
- name: Reload the domain cache where it differs and drop registrations of removed users
  sipstack.kamailio.kamailio_reconcile:
    login_user: kamailio
    login_password: "{{ kamailio_db_password }}"
"""

RETURN = r"""
running:
  description: Whether a Kamailio answered on O(rpc_fifo).
  returned: always
  type: bool
reloaded:
  description: Whether the domain cache was (or, in check mode, would be) reloaded, and why.
  returned: always
  type: str
  sample: domains or dids differ from the database
unregistered:
  description: AoRs whose registrations were (or would be) removed.
  returned: always
  type: list
  elements: str
  sample: [bob@companya.example]
"""

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    ER_DBACCESS_DENIED,
    ER_TABLEACCESS_DENIED,
    KamailioDBError,
    connect,
    kamailio_db_argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    sync_and_exit,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    select_accounts,
    select_all_attrs,
    select_all_domains,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_rpc import (
    NotRunning,
    RPCError,
    RPCFault,
    call,
    loaded_domains,
    registered_aors,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant import (
    effective_did,
)

MARKER = "sipstack-domains.sha256"


def database_domains(db):
    """(digest of the domain tables, {(domain, did)}, {did: frozenset(names)}) as loaded."""
    domains = db.query(select_all_domains(), "reading table domain")
    attrs = db.query(select_all_attrs(), "reading table domain_attrs")
    # Content only, in a fixed order: row ids and their order say nothing about the cache.
    text = json.dumps(
        [sorted(json.dumps(list(row[1:])) for row in rows) for rows in (domains, attrs)]
    )
    pairs = set((row[1].lower(), effective_did(row[1], row[2])) for row in domains)
    used = set(did for _domain, did in pairs)
    names = {}
    for row in attrs:
        if row[1] in used:
            names.setdefault(row[1], set()).add(row[2])
    return (
        hashlib.sha256(text.encode("utf-8")).hexdigest(),
        pairs,
        {did: frozenset(found) for did, found in names.items()},
    )


def why_reload(loaded, database, marker):
    """Why the cache must be reloaded, or None."""
    digest, pairs, names = database
    have_pairs, have_names = loaded
    if have_pairs != pairs:
        return "domains or dids differ from the database"
    if {did: found for did, found in have_names.items() if found} != names:
        return "attribute names differ from the database"
    if marker != digest:
        return "the domain tables changed since the last reload"
    return None


def missing_accounts(db, aors):
    """The AoRs (user@domain) whose account the subscriber table does not hold."""
    wanted = {}
    for aor in aors:
        user, sep, domain = aor.rpartition("@")
        if sep and user:
            wanted[(user.lower(), domain.lower())] = aor
    rows = db.query(select_accounts(wanted), "reading table subscriber")
    found = set(tuple(row) for row in rows)
    return sorted(aor for key, aor in wanted.items() if key not in found)


# Registrations whose account is gone, from the shared table (usrloc's database-only mode keeps
# nothing in memory, so ul.dump lists none of them).
STALE_IN_TABLE = (
    "SELECT DISTINCT CONCAT(l.username, '@', l.domain) FROM location l"
    " LEFT JOIN subscriber s ON s.username = l.username AND s.domain = l.domain"
    " WHERE s.id IS NULL AND l.domain <> ''"
)


def stale_in_table(module, db):
    """AoRs of table location whose account is gone; none (with a warning) when the login may
    not read location."""
    try:
        return [row[0] for row in db.query([(STALE_IN_TABLE, ())], "reading table location")]
    except KamailioDBError as exc:
        if exc.code not in (ER_TABLEACCESS_DENIED, ER_DBACCESS_DENIED):
            raise
        module.warn("registrations in table location not checked: %s" % exc)
        return []


def has_live_contacts(rpc, aor):
    """Whether usrloc still reaches `aor`. `ul.dump` also lists an AoR whose contacts were
    removed but not yet flushed to the database (usrloc's write-back mode keeps them, marked
    deleted, until its next timer run); `ul.lookup` skips those."""
    try:
        return bool(rpc("ul.lookup", "location", aor))
    except RPCFault:
        return False


def read_marker(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def write_marker(path, digest):
    temporary = path + ".new"
    with open(temporary, "w") as handle:
        handle.write(digest + "\n")
    os.replace(temporary, path)


def reconcile(module, db):
    params = module.params
    fifo = params["rpc_fifo"]
    marker_path = os.path.join(os.path.dirname(fifo), MARKER)
    result = dict(changed=False, running=True, reloaded="", unregistered=[])

    def rpc(method, *args):
        return call(
            method,
            args,
            fifo=fifo,
            reply_dir=params["rpc_reply_dir"],
            timeout=params["timeout"],
            pidfile=params["pid_file"],
        )

    try:
        if params["domains"]:
            database = database_domains(db)
            reason = why_reload(
                loaded_domains(rpc("domain.dump")), database, read_marker(marker_path)
            )
            if reason:
                result.update(changed=True, reloaded=reason)
                if not module.check_mode:
                    rpc("domain.reload")
                    still = why_reload(loaded_domains(rpc("domain.dump")), database, database[0])
                    if still:
                        raise RPCError("after domain.reload the cache still differs: %s" % still)
                    write_marker(marker_path, database[0])
        if params["registrations"]:
            candidates = set(missing_accounts(db, registered_aors(rpc("ul.dump", "brief"))))
            candidates.update(stale_in_table(module, db))
            stale = sorted(aor for aor in candidates if has_live_contacts(rpc, aor))
            if stale:
                result.update(changed=True, unregistered=stale)
                if not module.check_mode:
                    for aor in stale:
                        rpc("ul.rm", "location", aor)
    except NotRunning as exc:
        module.warn("%s; nothing to reconcile (Kamailio loads the domains when it starts)" % exc)
        return dict(
            changed=False,
            running=False,
            reloaded="",
            unregistered=[],
            diff={"before": {}, "after": {}},
        )
    except RPCError as exc:
        raise KamailioDBError("Kamailio RPC: %s" % exc) from None
    result["diff"] = {
        "before": {"domain_cache": "loaded"} if result["reloaded"] else {},
        "after": {"domain_cache": "reloaded: %s" % result["reloaded"]}
        if result["reloaded"]
        else {},
    }
    if result["unregistered"]:
        result["diff"]["before"]["registrations"] = result["unregistered"]
        result["diff"]["after"]["registrations"] = []
    return result


def argument_spec():
    spec = kamailio_db_argument_spec()
    spec.update(
        rpc_fifo=dict(type="path", default="/run/kamailio/kamailio_rpc.fifo"),
        pid_file=dict(type="path", default="/run/kamailio/kamailio.pid"),
        rpc_reply_dir=dict(type="path", default="/tmp"),  # noqa: S108 - jsonrpcs' default
        domains=dict(type="bool", default=True),
        registrations=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    sync_and_exit(module, connect(module), lambda db: reconcile(module, db))


if __name__ == "__main__":
    main()
