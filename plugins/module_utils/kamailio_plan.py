# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure planning for kamailio_domain and kamailio_subscriber.

Functions here compare what a module call wants with the rows read from the database and return
plan objects: what to insert, update and delete, what to report, and the SQL as parameterised
(query, params) pairs. Table and column names in the SQL are constants of this file; every value
travels as a parameter. Nothing here needs a database, so all of it is unit-tested without one.

The S608 suppressions below mark the places where SQL text is assembled: only table and column
names of this file and %s placeholders go into it, never a value.
"""

from collections import namedtuple

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ATTR_TYPE_STR,
    OWNER_ATTR,
    attr_value,
    credential_hashes,
)

# Rows per multi-row statement: about 100 kB of SQL for subscriber rows, far below the default
# max_allowed_packet (16 MB on MariaDB 10.11, 64 MB on MySQL 8).
CHUNK_ROWS = 1000
# Values per IN list: MariaDB turns a list of 1,000 values or more (in_predicate_conversion_
# threshold) into a join with a derived table, which took three times as long here for the
# digest of 100,000 subscribers over 1,000 domains as two lists of 500.
IN_LIST_MAX = 500

SUBSCRIBER_COLUMNS = ("id", "username", "domain", "password", "ha1", "ha1b")
DOMAIN_COLUMNS = ("id", "domain", "did")
ATTR_COLUMNS = ("id", "did", "name", "type", "value")

SubscriberRow = namedtuple("SubscriberRow", SUBSCRIBER_COLUMNS)
DomainRow = namedtuple("DomainRow", DOMAIN_COLUMNS)
AttrRow = namedtuple("AttrRow", ATTR_COLUMNS)

# A wanted subscriber. password is the plaintext (or None when ha1/ha1b are given); with a
# password, ha1 and ha1b are None or, after with_credentials(), the hashes of that password.
SubscriberEntry = namedtuple("SubscriberEntry", "username domain state password ha1 ha1b")
# A wanted domain. attrs is None (leave attributes alone) or {name: (type, text)}, never
# holding OWNER_ATTR; owner is None (leave the owner attribute alone) or the owning tenant.
DomainEntry = namedtuple("DomainEntry", "domain did attrs state owner", defaults=(None,))


class PlanError(ValueError):
    """The call asks for something the plan refuses (the purge guard, conflicting attrs)."""


# --------------------------------------------------------------------------------------------
# SQL builders
# --------------------------------------------------------------------------------------------


def chunks(items, size=CHUNK_ROWS):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count):
    return ", ".join(["%s"] * count)


def select_in(head, column, values, tail="", size=IN_LIST_MAX):
    """[(head WHERE column IN (%s, ...) tail, values)] in chunks; [] for no values."""
    statements = []
    for part in chunks(sorted(values), size):
        query = "%s WHERE %s IN (%s)%s" % (head, column, _marks(len(part)), tail)
        statements.append((query, tuple(part)))
    return statements


def multi_row_insert(table, columns, rows, row_sql=None, size=CHUNK_ROWS):
    """INSERT INTO table (columns) VALUES (...), (...): one statement per chunk of rows.

    row_sql is the SQL of one row, '(%s, %s, ...)' by default; it may hold SQL functions
    (NOW()) besides one %s per value.
    """
    if row_sql is None:
        row_sql = "(%s)" % _marks(len(columns))
    statements = []
    for part in chunks(rows, size):
        query = "INSERT INTO %s (%s) VALUES %s" % (  # noqa: S608
            table,
            ", ".join(columns),
            ", ".join([row_sql] * len(part)),
        )
        params = tuple(value for row in part for value in row)
        statements.append((query, params))
    return statements


def multi_row_update(table, key, columns, rows, size=CHUNK_ROWS):
    """UPDATE table SET col = CASE key WHEN %s THEN %s ... END, ... WHERE key IN (...).

    rows are (key value, column values...). Portable to MariaDB and MySQL, one statement per
    chunk instead of one round trip per row.
    """
    statements = []
    for part in chunks(rows, size):
        sets = []
        params = []
        for index, column in enumerate(columns, start=1):
            sets.append(
                "%s = CASE %s %s END" % (column, key, " ".join(["WHEN %s THEN %s"] * len(part)))
            )
            for row in part:
                params.extend((row[0], row[index]))
        query = "UPDATE %s SET %s WHERE %s IN (%s)" % (  # noqa: S608
            table,
            ", ".join(sets),
            key,
            _marks(len(part)),
        )
        params.extend(row[0] for row in part)
        statements.append((query, tuple(params)))
    return statements


def delete_ids(table, ids, size=CHUNK_ROWS):
    statements = []
    for part in chunks(sorted(ids), size):
        statements.append(
            ("DELETE FROM %s WHERE id IN (%s)" % (table, _marks(len(part))), tuple(part))  # noqa: S608
        )
    return statements


def select_subscribers(domains, domain_ci=True, for_update=False):
    """Read every subscriber row of the given (lowercase) domains, once, in chunks.

    With a case-sensitive collation on subscriber.domain the comparison goes through LOWER()
    so that rows stored with uppercase letters are found too.
    """
    column = "domain" if domain_ci else "LOWER(domain)"
    head = "SELECT %s FROM subscriber" % ", ".join(SUBSCRIBER_COLUMNS)  # noqa: S608
    return select_in(head, column, domains, " FOR UPDATE" if for_update else "")


def select_accounts(pairs, size=CHUNK_ROWS):
    """Which of the (username, domain) pairs the subscriber table holds, lowercased."""
    statements = []
    for part in chunks(sorted(pairs), size):
        query = (
            "SELECT LOWER(username), LOWER(domain) FROM subscriber"  # noqa: S608
            " WHERE (username, domain) IN (%s)" % ", ".join(["(%s, %s)"] * len(part))
        )
        statements.append((query, tuple(value for pair in part for value in pair)))
    return statements


def select_domains(names, domain_ci=True):
    """Which of the given (lowercase) domains exist in the domain table."""
    column = "domain" if domain_ci else "LOWER(domain)"
    return select_in("SELECT domain FROM domain", column, names)


def select_all_domains(for_update=False):
    tail = " FOR UPDATE" if for_update else ""
    return [
        ("SELECT %s FROM domain%s" % (", ".join(DOMAIN_COLUMNS), tail), ()),  # noqa: S608
    ]


def select_all_attrs(for_update=False):
    tail = " FOR UPDATE" if for_update else ""
    return [
        ("SELECT %s FROM domain_attrs%s" % (", ".join(ATTR_COLUMNS), tail), ()),  # noqa: S608
    ]


# --------------------------------------------------------------------------------------------
# What both plans share
# --------------------------------------------------------------------------------------------


class Plan:
    """One module call's changes: the rows to write, the SQL, and what to report.

    Every plan reports in one vocabulary: added, updated and removed (a subclass says per what:
    a list of domains, or usernames per domain), and a diff naming only what changes. writes
    names the lists of rows to write; tables the tables the statements touch.
    """

    writes = ()
    tables = ()

    def __init__(self):
        for name in self.writes:
            setattr(self, name, [])

    @property
    def changed(self):
        return any(getattr(self, name) for name in self.writes)

    def statements(self):
        raise NotImplementedError

    def result(self):
        return dict(
            changed=self.changed,
            added=self.added,
            updated=self.updated,
            removed=self.removed,
            diff=self.diff,
        )


def pick_current(rows, exact):
    """(the row to keep, the rows to remove) of rows that are one entry to the database: the
    first spelled exactly as the entry (exact(row)), else the first."""
    matching = [row for row in rows if exact(row)]
    current = matching[0] if matching else rows[0]
    return current, [row for row in rows if row is not current]


def refuse_purge_all(what):
    raise PlanError(
        "purge would remove every %s; refusing, as this usually means the list failed to load."
        " Set allow_purge_all=true if that is intended." % what
    )


def group(pairs):
    """{key: [values]} of (key, value) pairs, in the order seen."""
    grouped = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


# --------------------------------------------------------------------------------------------
# Subscribers
# --------------------------------------------------------------------------------------------


def subscriber_credentials(entry, store_plaintext):
    """(password column, ha1, ha1b) wanted for a present entry."""
    if entry.password is None:
        return ("", entry.ha1, entry.ha1b)
    plain = entry.password if store_plaintext else ""
    if entry.ha1 is None:
        return (plain, *credential_hashes(entry.username, entry.domain, entry.password))
    return (plain, entry.ha1, entry.ha1b)


def with_credentials(entry, credentials):
    """entry with the hashes of its subscriber_credentials(), so that a plan does not hash its
    password a second time."""
    return entry._replace(ha1=credentials[1], ha1b=credentials[2])


def _by_domain(pairs):
    return {domain: sorted(names) for domain, names in sorted(group(pairs).items())}


class SubscriberPlan(Plan):
    """What one kamailio_subscriber call changes.

    inserts: (username, domain, password, ha1, ha1b)
    updates: (id, username, domain, password, ha1, ha1b)
    deletes: SubscriberRow
    """

    writes = ("inserts", "updates", "deletes")
    tables = ("subscriber",)

    def __init__(self):
        super().__init__()
        self._before = []  # (domain, username) of rows changed or removed, as stored
        self._after = []  # (domain, username) of rows created or changed
        self._password_changed = []
        self._updated = []

    @property
    def added(self):
        return _by_domain((row[1], row[0]) for row in self.inserts)

    @property
    def updated(self):
        return _by_domain(self._updated)

    @property
    def removed(self):
        return _by_domain((row.domain.lower(), row.username) for row in self.deletes)

    @property
    def diff(self):
        """{'before': ..., 'after': ...} naming only what changes; no password or hash."""
        before = {}
        after = {}
        if self._before:
            before["subscribers"] = _by_domain(self._before)
        if self._after:
            after["subscribers"] = _by_domain(self._after)
        if self._password_changed:
            after["password_changed"] = _by_domain(self._password_changed)
        return {"before": before, "after": after}

    def delete(self, domain, rows):
        self.deletes.extend(rows)
        self._before.extend((domain, row.username) for row in rows)

    def insert(self, entry, credentials):
        self.inserts.append((entry.username, entry.domain, *credentials))
        self._after.append((entry.domain, entry.username))

    def update(self, entry, current, credentials):
        self.updates.append((current.id, entry.username, entry.domain, *credentials))
        self._updated.append((entry.domain, entry.username))
        self._before.append((entry.domain, current.username))
        self._after.append((entry.domain, entry.username))
        if credentials != (current.password, current.ha1, current.ha1b):
            self._password_changed.append((entry.domain, entry.username))

    def statements(self):
        """The SQL, in an order that cannot trip the unique (username, domain) key."""
        statements = delete_ids("subscriber", [row.id for row in self.deletes])
        statements += multi_row_update(
            "subscriber", "id", SUBSCRIBER_COLUMNS[1:], sorted(self.updates)
        )
        statements += multi_row_insert("subscriber", SUBSCRIBER_COLUMNS[1:], self.inserts)
        return statements


# How a subscriber call compares: the policy of its options.
SubscriberPolicy = namedtuple(
    "SubscriberPolicy", "purge update_password store_plaintext username_ci allow_purge_all"
)
DEFAULT_POLICY = SubscriberPolicy(False, "always", False, True, False)


def _sync_subscriber(plan, entry, found, policy):
    """Plan one present entry against the rows that are its account to the database."""
    if not found:
        plan.insert(entry, subscriber_credentials(entry, policy.store_plaintext))
        return
    current, extras = pick_current(
        found, lambda row: (row.username, row.domain) == (entry.username, entry.domain)
    )
    plan.delete(entry.domain, extras)
    renamed = (current.username, current.domain) != (entry.username, entry.domain)
    if policy.update_password == "always" or renamed:  # noqa: S105 - policy name
        credentials = subscriber_credentials(entry, policy.store_plaintext)
    else:
        credentials = (current.password, current.ha1, current.ha1b)
    if renamed or credentials != (current.password, current.ha1, current.ha1b):
        plan.update(entry, current, credentials)


def _check_purge_guard(plan, per_domain):
    removed = group((row.domain.lower(), row) for row in plan.deletes)
    emptied = sorted(d for d, rows in removed.items() if len(rows) >= per_domain.get(d, 0))
    if emptied:
        refuse_purge_all("subscriber of %s" % ", ".join(emptied))


def plan_subscribers(entries, rows, scope, **options):
    """Compare wanted subscribers with the rows of the domains in scope.

    entries: SubscriberEntry list (validated: lowercase domains, no duplicates).
    rows: SubscriberRow list: every row of every domain in scope whose rows may change.
    scope: the lowercase domains this call names; a purge removes unlisted rows only there.
    policy.username_ci: the username column compares case-insensitively (schema default), so
    'Alice' and 'alice' are one account to the database; the entry's spelling wins.
    Raises PlanError when a purge would remove every subscriber of a domain and
    policy.allow_purge_all is false. options: the fields of SubscriberPolicy.
    """
    policy = DEFAULT_POLICY._replace(**options)

    def user_key(name):
        return name.lower() if policy.username_ci else name

    existing = group(((row.domain.lower(), user_key(row.username)), row) for row in rows)
    plan = SubscriberPlan()
    seen = {}
    for entry in entries:
        key = (entry.domain, user_key(entry.username))
        if key in seen:
            raise PlanError(
                "%r and %r in domain %s are one account to the database (its username column"
                " compares case-insensitively); list it once" % (seen[key], entry.username, key[0])
            )
        seen[key] = entry.username
        found = existing.get(key, [])
        if entry.state == "absent":
            plan.delete(entry.domain, found)
        else:
            _sync_subscriber(plan, entry, found, policy)
    if policy.purge:
        for key in sorted(existing):
            if key[0] in scope and key not in seen:
                plan.delete(key[0], existing[key])
        if not policy.allow_purge_all:
            per_domain = group((row.domain.lower(), row) for row in rows)
            _check_purge_guard(plan, {d: len(r) for d, r in per_domain.items()})
    return plan


# --------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------


def _display_attrs(rows):
    """domain_attrs rows -> {name: value}, ints as ints, repeated names as lists."""
    shown = {}
    for row in sorted(rows, key=lambda r: (r.name, r.id)):
        value = attr_value(row.type, row.value)
        if row.name in shown:
            previous = shown[row.name]
            shown[row.name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            shown[row.name] = value
    return shown


def effective_did(domain, did):
    """The did Kamailio uses for a domain: its did column, or the domain itself when NULL."""
    return domain if did is None else did


def _row_did(row):
    return effective_did(row.domain, row.did)


class DomainPlan(Plan):
    """What one kamailio_domain call changes.

    inserts: (domain, did); updates: (id, domain, did); deletes: DomainRow;
    attr_inserts: (did, name, type, value); attr_deletes: AttrRow.
    final: the did of every domain after the plan (None once removed); freed: the dids of rows
    removed or changed, whose attributes go when no domain uses them any more.
    """

    writes = ("inserts", "updates", "deletes", "attr_inserts", "attr_deletes")
    tables = ("domain", "domain_attrs")

    def __init__(self, existing):
        super().__init__()
        self.existing = existing
        self.final = {name: _row_did(rows[0]) for name, rows in existing.items()}
        self.freed = set()
        self.added = []
        self.removed = []
        self.updated = []
        self.diff = {"before": {}, "after": {}}

    def drop_rows(self, rows):
        self.deletes.extend(rows)
        self.freed.update(_row_did(row) for row in rows)

    def remove(self, name):
        self.drop_rows(self.existing[name])
        self.final[name] = None
        self.removed.append(name)

    def add(self, entry):
        self.inserts.append((entry.domain, entry.did))
        self.final[entry.domain] = effective_did(entry.domain, entry.did)
        self.added.append(entry.domain)

    def keep(self, entry):
        current, extras = pick_current(
            self.existing[entry.domain], lambda row: row.domain == entry.domain
        )
        self.drop_rows(extras)
        if (current.domain, current.did) != (entry.domain, entry.did):
            self.updates.append((current.id, entry.domain, entry.did))
            self.freed.add(_row_did(current))
            self.updated.append(entry.domain)
        elif extras:
            self.updated.append(entry.domain)
        self.final[entry.domain] = effective_did(entry.domain, entry.did)

    def statements(self):
        statements = delete_ids("domain_attrs", [row.id for row in self.attr_deletes])
        statements += delete_ids("domain", [row.id for row in self.deletes])
        for row_id, domain, did in sorted(self.updates):
            statements.append(
                (
                    "UPDATE domain SET domain = %s, did = %s, last_modified = NOW() WHERE id = %s",
                    (domain, did, row_id),
                )
            )
        statements += multi_row_insert(
            "domain", ("domain", "did", "last_modified"), self.inserts, "(%s, %s, NOW())"
        )
        statements += multi_row_insert(
            "domain_attrs",
            ("did", "name", "type", "value", "last_modified"),
            self.attr_inserts,
            "(%s, %s, %s, %s, NOW())",
        )
        return statements


def attr_owners(entries):
    """{did: the first present entry that sets attrs for it}; PlanError when two entries of one
    did ask for different attrs."""
    owners = {}
    for entry in entries:
        if entry.state != "present" or entry.attrs is None:
            continue
        did = effective_did(entry.domain, entry.did)
        first = owners.setdefault(did, entry)
        if first.attrs != entry.attrs:
            raise PlanError(
                "domains %r and %r share did %r but ask for different attrs"
                % (first.domain, entry.domain, did)
            )
    return owners


def _sync_domain_rows(plan, entries, purge, allow_purge_all):
    for entry in entries:
        known = entry.domain in plan.existing
        if entry.state == "absent":
            if known:
                plan.remove(entry.domain)
        elif known:
            plan.keep(entry)
        else:
            plan.add(entry)
    if not purge:
        return
    wanted = set(entry.domain for entry in entries)
    for name in sorted(plan.existing):
        if name not in wanted and plan.final.get(name) is not None:
            plan.remove(name)
    emptied = all(plan.final[name] is None for name in plan.existing)
    if plan.existing and emptied and not allow_purge_all:
        refuse_purge_all("domain (%d)" % len(plan.existing))


def _sync_attr_rows(plan, did, domain, want, rows, changed):
    """Plan domain_attrs rows of did so that exactly the (name, type, text) items of want remain."""
    have = set()
    for row in rows:
        item = (row.name, row.type, row.value)
        if item in want and item not in have:
            have.add(item)
        else:
            plan.attr_deletes.append(row)
            changed.add(domain)
    for name, kind, text in sorted(want - have):
        plan.attr_inserts.append((did, name, kind, text))
        changed.add(domain)


def _sync_attrs(plan, entries, attrs_of):
    """Attributes: exactly the wanted ones for each did an entry sets attrs for. The owner
    attribute is apart: only an entry that names an owner sets it (to exactly one row). Returns
    the domains whose attributes change."""
    changed = set()
    for did, entry in sorted(attr_owners(entries).items()):
        want = set((name, kind, text) for name, (kind, text) in entry.attrs.items())
        rows = [row for row in attrs_of.get(did, []) if row.name != OWNER_ATTR]
        _sync_attr_rows(plan, did, entry.domain, want, rows, changed)
    for entry in entries:
        if entry.state != "present" or entry.owner is None:
            continue
        did = effective_did(entry.domain, entry.did)
        want = {(OWNER_ATTR, ATTR_TYPE_STR, entry.owner)}
        rows = [row for row in attrs_of.get(did, []) if row.name == OWNER_ATTR]
        _sync_attr_rows(plan, did, entry.domain, want, rows, changed)
    in_use = set(did for did in plan.final.values() if did is not None)
    for did in sorted(plan.freed - in_use):
        plan.attr_deletes.extend(attrs_of.get(did, []))
    return changed


def plan_domains(entries, domain_rows, attr_rows, purge=False, allow_purge_all=False):
    """Compare wanted domains with every row of the domain and domain_attrs tables.

    entries: DomainEntry list (validated: lowercase, no duplicates).
    An entry's attrs, when not None, become exactly the domain_attrs rows of its did. Attributes
    of a did that no domain uses any more after this call (domain removed, did changed) are
    removed with it. Raises PlanError for conflicting attrs of one did, and when purge would
    remove every existing domain while allow_purge_all is false.
    """
    plan = DomainPlan(group((row.domain.lower(), row) for row in domain_rows))
    attrs_of = group((row.did, row) for row in attr_rows)
    _sync_domain_rows(plan, entries, purge, allow_purge_all)
    attrs_changed = _sync_attrs(plan, entries, attrs_of)
    plan.updated.extend(attrs_changed - set(plan.added) - set(plan.updated))
    plan.added.sort()
    plan.removed.sort()
    plan.updated.sort()
    plan.diff = _domain_diff(plan, attrs_of, {entry.domain: entry for entry in entries})
    return plan


def _domain_diff(plan, attrs_of, wanted):
    before = {}
    after = {}
    for name in plan.removed + plan.updated:
        row = plan.existing[name][0]
        before[name] = {"did": row.did, "attrs": _display_attrs(attrs_of.get(_row_did(row), []))}
    deleted = set(row.id for row in plan.attr_deletes)
    for name in plan.added + plan.updated:
        did = plan.final[name]
        rows = [row for row in attrs_of.get(did, []) if row.id not in deleted]
        rows += [AttrRow(0, *insert) for insert in plan.attr_inserts if insert[0] == did]
        after[name] = {"did": wanted[name].did, "attrs": _display_attrs(rows)}
    return {
        "before": {"domains": before} if before else {},
        "after": {"domains": after} if after else {},
    }
