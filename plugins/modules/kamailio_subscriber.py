#!/usr/bin/python
# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: kamailio_subscriber
short_description: Manage Kamailio SIP subscribers (accounts) in MySQL or MariaDB
version_added: 0.1.0
description:
  - Creates, updates and removes rows of Kamailio's C(subscriber) table, the SIP accounts that
    C(auth_db) authenticates, on MySQL or MariaDB through PyMySQL.
  - Accounts are keyed by username and domain (Kamailio with C(use_domain)/MULTIDOMAIN), so
    C(alice@a.example) and C(alice@b.example) are two accounts.
  - Stores the digest hashes, C(ha1) (the MD5 of C(user:domain:password)) and C(ha1b) (the MD5
    of C(user@domain:domain:password)); the plaintext C(password) column stays empty unless
    O(store_plaintext=true).
  - Idempotent. The stored hashes are compared with the wanted ones, and nothing is written
    when they match.
  - The bulk form (O(subscribers) or O(subscribers_json)) syncs the accounts of many domains in
    one call and writes with multi-row statements; with O(purge=true) it also removes accounts
    that are not listed, in the domains the call names.
  - A call reads only the rows of the domains that may change. The database computes a digest
    of each named domain's rows; a domain whose digest equals that of its listed accounts (with
    their hashes) holds exactly those accounts and is not read. A domain with unlisted accounts
    (without O(purge)) or with an O(state=absent) entry is read and compared row by row.
  - Every write of one call runs in one transaction. Any invalid entry fails the whole call
    before anything is written.
  - No password or hash ever appears in results, diffs or messages.
options:
  username:
    description:
      - User part of the account (RFC 3261 C(user)), at most 64 characters.
      - Single form; mutually exclusive with O(subscribers) and O(subscribers_json).
    type: str
  domain:
    description:
      - SIP domain (realm) of the account; a DNS name of at most 64 characters, stored in lower
        case and compared case-insensitively.
      - Required with O(username). In the bulk form, the default domain of entries that carry
        none, and a domain the call names for O(purge).
    type: str
  password:
    description:
      - Plaintext password, used to compute C(ha1) and C(ha1b).
      - Mutually exclusive with O(ha1) and O(ha1b). O(state=present) needs O(password) or both
        O(ha1) and O(ha1b).
    type: str
  ha1:
    description:
      - Precomputed MD5 of C(username:domain:password), 32 lowercase hexadecimal digits, for
        inventories that must not hold passwords. Requires O(ha1b).
    type: str
  ha1b:
    description:
      - Precomputed MD5 of C(username@domain:domain:password), 32 lowercase hexadecimal
        digits. Requires O(ha1).
    type: str
  state:
    description:
      - V(present) creates or updates the account(s), V(absent) removes them.
      - In the bulk form, the default state of entries that carry none.
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description:
      - V(always) makes the stored hashes match the given credentials (idempotent, as the
        hashes are compared, not rewritten). V(on_create) sets credentials only when an account is
        created and leaves existing accounts' credential columns alone.
    type: str
    choices: [always, on_create]
    default: always
  store_plaintext:
    description:
      - Also store the plaintext password in the C(password) column (needed only when
        C(auth_db) runs with C(calculate_ha1) on). Off, the column is kept empty and an existing
        plaintext is cleared when O(update_password=always).
      - Entries given as O(ha1)/O(ha1b) have no plaintext; combining them with O(store_plaintext)
        is an error.
    type: bool
    default: false
  require_domain:
    description:
      - Fail when a domain of an account to create or update is missing from Kamailio's
        C(domain) table. Set to V(false) for deployments without the domain module.
    type: bool
    default: true
  subscribers:
    description:
      - Bulk form, the accounts to manage, of one or many domains. Mutually exclusive with
        O(username), O(password), O(ha1), O(ha1b) and O(subscribers_json).
      - The whole list is hidden from logs and from the module's invocation output, and every
        password and hash in it from results and messages (the module does that itself, so that
        the usernames it returns are not masked; see the README).
      - For thousands of accounts O(subscribers_json) is faster; see there.
    type: list
    elements: dict
    suboptions:
      username:
        description:
          - User part of the account.
        type: str
        required: true
      domain:
        description:
          - Domain of the account; defaults to the top-level O(domain).
        type: str
      password:
        description:
          - Plaintext password. Mutually exclusive with O(subscribers[].ha1) and
            O(subscribers[].ha1b).
        type: str
      ha1:
        description:
          - Precomputed C(ha1); requires O(subscribers[].ha1b).
        type: str
      ha1b:
        description:
          - Precomputed C(ha1b); requires O(subscribers[].ha1).
        type: str
      state:
        description:
          - State of this account; defaults to the top-level O(state).
        type: str
        choices: [present, absent]
  subscribers_json:
    description:
      - Bulk form as one string, a JSON list of objects with the keys of O(subscribers). Mutually
        exclusive with O(subscribers), O(username), O(password), O(ha1) and O(ha1b).
      - Meant for account lists kept in a JSON file, passed as
        V({{ lookup('ansible.builtin.file', 'accounts.json'\) }}). Ansible then hands the module
        one string instead of templating, validating and copying every value of a list, which
        for 10,000 accounts saves seconds per run.
      - Hidden from logs and from the module's invocation output.
    type: str
  purge:
    description:
      - In the bulk form, remove the accounts that are not listed, but only in the domains the
        call names (the domains of the entries and the top-level O(domain)). Accounts of other
        domains are never touched.
    type: bool
    default: false
  purge_domains:
    description:
      - Further domains the call names for O(purge), beside the domains of the entries and the
        top-level O(domain). Accounts of these domains that the call does not list are removed,
        so one call can empty every domain of the tenants that go away.
      - Each is validated like O(domain). Needs O(purge=true).
    type: list
    elements: str
    default: []
    version_added: 0.1.0
extends_documentation_fragment:
  - sipstack.kamailio.kamailio_db
  - sipstack.kamailio.kamailio_db.sync
  - ansible.builtin.action_common_attributes
attributes:
  diff_mode:
    support: full
    details: Names the accounts created, removed and with changed credentials; never a password.
  platform:
    platforms: posix
notes:
  - The C(location) table (registrations) is not touched.
  - C(alice) and C(Alice) are one account to a case-insensitive collation (the schema default);
    the spelling of the call wins, and the hashes are recomputed with it.
seealso:
  - module: sipstack.kamailio.kamailio_domain
author:
  - sipstack.kamailio maintainers (@sipstack)
"""

EXAMPLES = r"""
- name: One account
  sipstack.kamailio.kamailio_subscriber:
    login_unix_socket: /run/mysqld/mysqld.sock
    login_user: kamailio_admin
    login_password: "{{ kamailio_db_admin_password }}"
    username: alice
    domain: a.example
    password: "{{ vault_alice_password }}"

- name: One account from precomputed hashes (no password in the repository)
  sipstack.kamailio.kamailio_subscriber:
    username: bob
    domain: a.example
    ha1: 5f2b3c0b8e4a4c2d9c3c1f0a9e8d7c6b
    ha1b: 0a1b2c3d4e5f60718293a4b5c6d7e8f9

- name: Remove an account
  sipstack.kamailio.kamailio_subscriber:
    username: carol
    domain: a.example
    state: absent

- name: Sync the accounts of every tenant in one call, removing unlisted ones
  sipstack.kamailio.kamailio_subscriber:
    subscribers:
      - {username: alice, domain: a.example, password: "{{ vault_pw.alice }}"}
      - {username: alice, domain: b.example, password: "{{ vault_pw.alice_b }}"}
      - {username: old, domain: b.example, state: absent}
    purge: true

- name: Tenants that go away lose every account, in one call
  sipstack.kamailio.kamailio_subscriber:
    subscribers: []
    purge: true
    purge_domains: [old-tenant.example, other-old-tenant.example]
    allow_purge_all: true

- name: Accounts of one domain, given as the default for the entries
  sipstack.kamailio.kamailio_subscriber:
    domain: c.example
    subscribers: "{{ tenant_c_accounts }}"
    update_password: on_create

- name: Thousands of accounts of every tenant from a JSON file (the fastest form)
  sipstack.kamailio.kamailio_subscriber:
    subscribers_json: "{{ lookup('ansible.builtin.file', 'files/accounts.json') }}"
    purge: true
"""

RETURN = r"""
added:
  description: Usernames of the accounts created, per domain.
  returned: always
  type: dict
  sample: {"a.example": ["alice", "bob"]}
updated:
  description: >-
    Usernames of the accounts whose credentials (or spelling) changed, per domain.
  returned: always
  type: dict
  sample: {"b.example": ["alice"]}
removed:
  description: Usernames of the accounts removed, per domain.
  returned: always
  type: dict
  sample: {"a.example": ["old"]}
diff:
  description:
    - What changes, in the form C(--diff) shows.
    - C(before.subscribers) lists, per domain, the accounts removed or changed as they were
      stored; C(after.subscribers) the accounts created or changed; C(after.password_changed)
      those whose credentials change. Passwords and hashes are never shown.
  returned: in diff mode (C(--diff), or the task keyword C(diff) set to true)
  type: dict
  sample:
    before:
      subscribers: {"a.example": ["bob", "eve"]}
    after:
      subscribers: {"a.example": ["carol", "eve"]}
      password_changed: {"a.example": ["eve"]}
"""

import json
from collections import namedtuple

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    KamailioDBError,
    case_insensitive,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    Background,
    KamailioModule,
    read_digests,
    run_sync,
    sync_argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    SUBSCRIBER_COLUMNS,
    SubscriberEntry,
    SubscriberRow,
    plan_subscribers,
    select_domains,
    select_subscribers,
    subscriber_credentials,
    with_credentials,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    EMPTY,
    differing,
    digests_by_domain,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    STATES,
    Listing,
    ValidationError,
    check_hash,
    check_password,
    check_state,
    check_username,
    is_hash,
    is_password,
    is_username,
    normalize_domain,
)

ENTRY_KEYS = ("username", "domain", "password", "ha1", "ha1b", "state")
ENTRY_KEY_SET = frozenset(ENTRY_KEYS)
SECRET_KEYS = ("password", "ha1", "ha1b")


def _text_of_number(value):
    """Extensions such as 1001 arrive as integers from YAML and JSON: take them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_credentials(entry, where, store_plaintext):
    """The credentials an entry of its state needs, and no more."""
    if entry.password is not None and (entry.ha1 is not None or entry.ha1b is not None):
        raise ValidationError("%s: password and ha1/ha1b are mutually exclusive" % where)
    if (entry.ha1 is None) != (entry.ha1b is None):
        raise ValidationError("%s: ha1 and ha1b must be given together" % where)
    if entry.state != "present":
        return
    if entry.password is None and entry.ha1 is None:
        raise ValidationError("%s: state=present needs a password, or ha1 and ha1b" % where)
    if entry.password is not None:
        check_password(entry.password, "%s: password" % where, store_plaintext)
        return
    if store_plaintext:
        raise ValidationError(
            "%s: store_plaintext needs a password; this entry gives ha1/ha1b" % where
        )
    check_hash(entry.ha1, "%s: ha1" % where)
    check_hash(entry.ha1b, "%s: ha1b" % where)


def _plain_credentials(state, password, ha1, ha1b, store_plaintext):
    """Whether _check_credentials accepts these as they are, in the forms entries take: a
    password, or ha1 and ha1b, for a present entry; none for an absent one. False leaves the
    verdict, and the message, to _check_credentials."""
    if state != "present":
        return password is None and ha1 is None and ha1b is None
    if ha1 is None and ha1b is None:
        return is_password(password, store_plaintext)
    return password is None and not store_plaintext and is_hash(ha1) and is_hash(ha1b)


class EntryReader:
    """Validates wanted accounts (dicts with ENTRY_KEYS) against the call's defaults.

    Every password and hash goes to add_secret before any message can quote it. Normalised
    domains are cached: 100,000 entries usually share a few hundred domains.
    """

    def __init__(self, params, add_secret, default_domain=None):
        self.default_domain = default_domain
        self.default_state = params["state"]
        self.store_plaintext = params["store_plaintext"]
        self.add_secret = add_secret
        self.domains = {}

    def register_secrets(self, items):
        """add_secret every password and hash of the dicts among items."""
        values = [
            value
            for item in items
            if isinstance(item, dict)
            for value in map(item.get, SECRET_KEYS)
            if value is not None
        ]
        add_secret = self.add_secret
        for value in values:
            add_secret(value if value.__class__ is str else _text_of_number(value))

    def domain(self, given, where):
        key = given
        if given is None:
            given = self.default_domain
        if given is None:
            raise ValidationError("%s: no domain, and no top-level domain to default to" % where)
        domain = normalize_domain(given, "%s: domain" % where)
        if key is None or key.__class__ is str:
            self.domains[key] = domain
        return domain

    def quick(self, item):
        """The SubscriberEntry of an item that read() accepts, found without building a single
        message text; None when the item needs read() (which may still accept it).

        Only what read() accepts as it is passes here: a dict of ENTRY_KEYS, a username and
        credentials that pass the validators' own tests, a domain read() has normalised
        before, and a valid state.
        """
        if item.__class__ is not dict or not ENTRY_KEY_SET.issuperset(item):
            return None
        username = item.get("username")
        domain = item.get("domain")
        if not is_username(username) or not (domain is None or domain.__class__ is str):
            return None
        domain = self.domains.get(domain)
        state = item.get("state")
        if state is None:
            state = self.default_state
        if domain is None or state not in STATES:
            return None
        password = item.get("password")
        ha1 = item.get("ha1")
        ha1b = item.get("ha1b")
        if not _plain_credentials(state, password, ha1, ha1b, self.store_plaintext):
            return None
        return SubscriberEntry(username, domain, state, password, ha1, ha1b)

    def read(self, item, field=""):
        """One validated SubscriberEntry (its secrets registered already); ValidationError
        naming field and username."""
        username = item.get("username")
        if username.__class__ is not str:
            username = _text_of_number(username)
            if username is None:
                raise ValidationError("%s: username is required" % field)
        username = check_username(username, "%s: username" % field if field else "username")
        where = "%s (username %r)" % (field, username) if field else "username %r" % username
        domain = item.get("domain")
        # Entries share a few hundred domains: a domain seen before is valid and normalised.
        known = self.domains.get(domain) if domain is None or domain.__class__ is str else None
        domain = known or self.domain(domain, where)
        state = item.get("state")
        if state is None:
            state = self.default_state
        if state not in STATES:
            check_state(state, "%s: state" % where)
        password = item.get("password")
        if password.__class__ is int:
            password = _text_of_number(password)
        entry = SubscriberEntry(
            username, domain, state, password, item.get("ha1"), item.get("ha1b")
        )
        _check_credentials(entry, where, self.store_plaintext)
        return entry


def _json_list(text):
    """Parse subscribers_json; messages never quote the text (it holds passwords)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        # json's messages give a position, never the text itself.
        raise ValidationError("subscribers_json is not valid JSON: %s" % exc) from None
    if not isinstance(value, list):
        raise ValidationError(
            "subscribers_json must hold a JSON list of objects, not a %s" % type(value).__name__
        )
    return value


def _check_item(item, field):
    if not isinstance(item, dict):
        raise ValidationError("%s must be a dictionary, got %s" % (field, type(item).__name__))
    if not ENTRY_KEY_SET.issuperset(item):
        unknown = sorted(str(key) for key in item if key not in ENTRY_KEY_SET)
        raise ValidationError(
            "%s: unsupported key(s) %s; supported: %s"
            % (field, ", ".join(unknown), ", ".join(ENTRY_KEYS))
        )


def _bulk_scope(params):
    """The domains a bulk call names besides its entries' (top-level domain, purge_domains)."""
    scope = set()
    if params.get("domain") is not None:
        scope.add(normalize_domain(params["domain"], "domain"))
    for index, extra in enumerate(params.get("purge_domains") or []):
        scope.add(normalize_domain(extra, "purge_domains[%d]" % index))
    return scope


def build_entries(params, add_secret):
    """Validate the call's parameters into (entries, scope); raise ValidationError.

    scope is the set of domains the call names (for the bulk read and for purge).
    add_secret is called with every password and hash before any validation message can be
    built, so that the caller can keep them out of all output.
    """
    subscribers = params.get("subscribers")
    list_name = "subscribers"
    if params.get("subscribers_json") is not None:
        list_name = "subscribers_json"
        subscribers = _json_list(params["subscribers_json"])
    if params.get("purge_domains") and not params["purge"]:
        raise ValidationError("purge_domains needs purge=true")
    if subscribers is None:
        if params["purge"]:
            raise ValidationError("purge needs the bulk form (subscribers or subscribers_json)")
        item = {key: params.get(key) for key in ENTRY_KEYS}
        reader = EntryReader(params, add_secret)
        reader.register_secrets([item])
        entry = reader.read(item)
        return [entry], {entry.domain}

    scope = _bulk_scope(params)
    default = normalize_domain(params["domain"], "domain") if params.get("domain") else None
    reader = EntryReader(params, add_secret, default)
    reader.register_secrets(subscribers)
    entries = []
    listing = Listing(
        lambda key: "%s@%s" % (key[1], key[0]), lambda index: "%s[%d]" % (list_name, index)
    )
    for index, item in enumerate(subscribers):
        entry = reader.quick(item)
        if entry is None:
            field = "%s[%d]" % (list_name, index)
            _check_item(item, field)
            entry = reader.read(item, field)
        listing.add((entry.domain, entry.username), index)
        entries.append(entry)
    scope.update(reader.domains.values())
    return entries, scope


# What a call reads before it compares: the columns of subscriber, which domains of the call
# the domain table holds (None when require_domain is off) and the stored digests.
Stored = namedtuple("Stored", "columns existing digests")


def _read_stored(db, scope, require_domain):
    """The Stored of the domains in scope: the reads that need no hash."""
    columns = db.columns("subscriber", SUBSCRIBER_COLUMNS)
    domain_ci = case_insensitive(columns["domain"])
    existing = None
    if require_domain:
        rows = db.query(select_domains(scope, domain_ci), "reading table domain")
        existing = set(row[0].lower() for row in rows)
    return Stored(columns, existing, read_digests(db, scope, domain_ci))


def _check_domains_exist(params, entries, existing):
    present = set(entry.domain for entry in entries if entry.state == "present")
    if not (params["require_domain"] and present):
        return
    missing = sorted(present - existing)
    if missing:
        raise KamailioDBError(
            "domain(s) %s missing from the domain table of database %r: create them with"
            " sipstack.kamailio.kamailio_domain first, or set require_domain=false"
            % (", ".join(missing), params["login_db"])
        )


def wanted_digests(pairs, scope):
    """{domain: Digest} of the rows the entries want, for every domain of scope. pairs: each
    entry with its subscriber_credentials(), or None when absent."""
    digests = digests_by_domain(
        (entry.domain, entry.username, *credentials)
        for entry, credentials in pairs
        if credentials is not None
    )
    return {domain: digests.get(domain, EMPTY) for domain in scope}


def read_and_plan(db, params, wanted, lock):
    """Read what differs and return the SubscriberPlan.

    The database digests the stored rows of each domain of scope while this process hashes the
    passwords and digests the wanted rows (PyMySQL waits for the server without the GIL); only
    the domains whose digests differ are read row by row. A domain with an absent entry is
    always read: its account may be stored in another spelling.
    """
    entries, scope = wanted
    store_plaintext = params["store_plaintext"]
    with Background(_read_stored, db, scope, params["require_domain"]) as reads:
        pairs = [
            (entry, subscriber_credentials(entry, store_plaintext))
            if entry.state == "present"
            else (entry, None)
            for entry in entries
        ]
        wanted_by_domain = wanted_digests(pairs, scope)
        stored = reads.result()
    _check_domains_exist(params, entries, stored.existing)
    changing = set(differing(wanted_by_domain, stored.digests))
    changing.update(entry.domain for entry in entries if entry.state != "present")
    domain_ci = case_insensitive(stored.columns["domain"])
    rows = db.query(
        select_subscribers(changing, domain_ci, for_update=lock), "reading table subscriber"
    )
    return plan_subscribers(
        [
            entry if credentials is None else with_credentials(entry, credentials)
            for entry, credentials in pairs
            if entry.domain in changing
        ],
        [SubscriberRow(*row) for row in rows],
        changing,
        purge=params["purge"],
        update_password=params["update_password"],
        store_plaintext=store_plaintext,
        username_ci=case_insensitive(stored.columns["username"]),
        allow_purge_all=params["allow_purge_all"],
    )


def argument_spec():
    return sync_argument_spec(
        username=dict(type="str"),
        domain=dict(type="str"),
        password=dict(type="str", no_log=True),
        ha1=dict(type="str", no_log=True),
        ha1b=dict(type="str", no_log=True),
        update_password=dict(
            type="str", default="always", choices=["always", "on_create"], no_log=False
        ),
        store_plaintext=dict(type="bool", default=False),
        require_domain=dict(type="bool", default=True),
        # Secret lists (see kamailio_module): kept out of all output by KamailioModule, and
        # validated by build_entries(), whose messages name the entry.
        subscribers=dict(type="list", elements="dict", no_log=False),
        subscribers_json=dict(type="str", no_log=False),
        purge_domains=dict(type="list", elements="str", default=[]),
    )


def main():
    module = KamailioModule(
        argument_spec=argument_spec(),
        secret_lists=("subscribers", "subscribers_json"),
        supports_check_mode=True,
        mutually_exclusive=[
            ("username", "subscribers", "subscribers_json"),
            ("password", "subscribers", "subscribers_json"),
            ("ha1", "subscribers", "subscribers_json"),
            ("ha1b", "subscribers", "subscribers_json"),
            ("password", "ha1"),
            ("password", "ha1b"),
        ],
        required_one_of=[("username", "subscribers", "subscribers_json")],
        required_together=[("ha1", "ha1b")],
        required_by={"username": "domain"},
    )
    run_sync(module, build_entries, read_and_plan)


if __name__ == "__main__":
    main()
