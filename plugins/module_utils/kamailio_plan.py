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

import contextlib
from collections import namedtuple

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ATTR_TYPE_INT,
    ATTR_TYPE_STR,
    OWNER_ATTR,
    calc_ha1,
    calc_ha1b,
)

# Rows per multi-row statement: about 100 kB of SQL for subscriber rows, far below the default
# max_allowed_packet (16 MB on MariaDB 10.11, 64 MB on MySQL 8).
CHUNK_ROWS = 1000

SUBSCRIBER_COLUMNS = ("id", "username", "domain", "password", "ha1", "ha1b")
DOMAIN_COLUMNS = ("id", "domain", "did")
ATTR_COLUMNS = ("id", "did", "name", "type", "value")

SubscriberRow = namedtuple("SubscriberRow", SUBSCRIBER_COLUMNS)
DomainRow = namedtuple("DomainRow", DOMAIN_COLUMNS)
AttrRow = namedtuple("AttrRow", ATTR_COLUMNS)

# A wanted subscriber. password is the plaintext (or None when ha1/ha1b are given).
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


def select_in(head, column, values, tail="", size=CHUNK_ROWS):
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
# Subscribers
# --------------------------------------------------------------------------------------------


def subscriber_credentials(entry, store_plaintext):
    """(password column, ha1, ha1b) wanted for a present entry."""
    if entry.password is not None:
        plain = entry.password if store_plaintext else ""
        return (
            plain,
            calc_ha1(entry.username, entry.domain, entry.password),
            calc_ha1b(entry.username, entry.domain, entry.password),
        )
    return ("", entry.ha1, entry.ha1b)


def _by_domain(pairs):
    result = {}
    for domain, username in pairs:
        result.setdefault(domain, []).append(username)
    return {domain: sorted(names) for domain, names in sorted(result.items())}


class SubscriberPlan:
    """What one kamailio_subscriber call changes.

    inserts: (username, domain, password, ha1, ha1b)
    updates: (id, username, domain, password, ha1, ha1b)
    deletes: SubscriberRow
    """

    def __init__(self):
        self.inserts = []
        self.updates = []
        self.deletes = []
        self._before = []  # (domain, username) of rows changed or removed, as stored
        self._after = []  # (domain, username) of rows created or changed
        self._password_changed = []
        self._updated = []

    @property
    def changed(self):
        return bool(self.inserts or self.updates or self.deletes)

    @property
    def created(self):
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

    def statements(self):
        """The SQL, in an order that cannot trip the unique (username, domain) key."""
        statements = delete_ids("subscriber", [row.id for row in self.deletes])
        statements += multi_row_update(
            "subscriber", "id", SUBSCRIBER_COLUMNS[1:], sorted(self.updates)
        )
        statements += multi_row_insert("subscriber", SUBSCRIBER_COLUMNS[1:], self.inserts)
        return statements


def plan_subscribers(
    entries,
    rows,
    scope,
    purge=False,
    update_password="always",  # noqa: S107 - a policy name, not a password
    store_plaintext=False,
    username_ci=True,
    allow_purge_all=False,
):
    """Compare wanted subscribers with the rows of the domains in scope.

    entries: SubscriberEntry list (validated: lowercase domains, no duplicates).
    rows: SubscriberRow list: every row of every domain in scope (read once).
    scope: the lowercase domains this call names; purge removes unlisted rows only there.
    username_ci: the username column compares case-insensitively (schema default), so
    'Alice' and 'alice' are one account to the database; the entry's spelling wins.
    Raises PlanError when purge would remove every subscriber of a domain and
    allow_purge_all is false.
    """

    def user_key(name):
        return name.lower() if username_ci else name

    existing = {}
    per_domain = {}
    for row in rows:
        domain = row.domain.lower()
        existing.setdefault((domain, user_key(row.username)), []).append(row)
        per_domain[domain] = per_domain.get(domain, 0) + 1

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
            plan.deletes.extend(found)
            plan._before.extend((entry.domain, row.username) for row in found)
            continue
        if not found:
            plain, ha1, ha1b = subscriber_credentials(entry, store_plaintext)
            plan.inserts.append((entry.username, entry.domain, plain, ha1, ha1b))
            plan._after.append((entry.domain, entry.username))
            continue
        exact = [r for r in found if r.username == entry.username and r.domain == entry.domain]
        current = exact[0] if exact else found[0]
        extras = [row for row in found if row is not current]
        plan.deletes.extend(extras)
        plan._before.extend((entry.domain, row.username) for row in extras)
        renamed = current.username != entry.username or current.domain != entry.domain
        if update_password == "always" or renamed:  # noqa: S105 - policy name
            plain, ha1, ha1b = subscriber_credentials(entry, store_plaintext)
        else:
            plain, ha1, ha1b = current.password, current.ha1, current.ha1b
        credentials = (plain, ha1, ha1b) != (current.password, current.ha1, current.ha1b)
        if renamed or credentials:
            plan.updates.append((current.id, entry.username, entry.domain, plain, ha1, ha1b))
            plan._updated.append((entry.domain, entry.username))
            plan._before.append((entry.domain, current.username))
            plan._after.append((entry.domain, entry.username))
            if credentials:
                plan._password_changed.append((entry.domain, entry.username))

    if purge:
        for key in sorted(existing):
            if key[0] in scope and key not in seen:
                plan.deletes.extend(existing[key])
                plan._before.extend((key[0], row.username) for row in existing[key])

    if purge and not allow_purge_all:
        removed = {}
        for row in plan.deletes:
            domain = row.domain.lower()
            removed[domain] = removed.get(domain, 0) + 1
        emptied = sorted(d for d, count in removed.items() if count >= per_domain.get(d, 0))
        if emptied:
            raise PlanError(
                "purge would remove every subscriber of %s; refusing, as this usually means the"
                " list failed to load. Set allow_purge_all=true if that is intended."
                % ", ".join(emptied)
            )
    return plan


# --------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------


def _display_attrs(rows):
    """domain_attrs rows -> {name: value}, ints as ints, repeated names as lists."""
    shown = {}
    for row in sorted(rows, key=lambda r: (r.name, r.id)):
        value = row.value
        if row.type == ATTR_TYPE_INT:
            with contextlib.suppress(ValueError):
                value = int(value)
        if row.name in shown:
            previous = shown[row.name]
            shown[row.name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            shown[row.name] = value
    return shown


class DomainPlan:
    """What one kamailio_domain call changes.

    inserts: (domain, did); updates: (id, domain, did); deletes: DomainRow;
    attr_inserts: (did, name, type, value); attr_deletes: AttrRow.
    """

    def __init__(self):
        self.inserts = []
        self.updates = []
        self.deletes = []
        self.attr_inserts = []
        self.attr_deletes = []
        self.added = []
        self.removed = []
        self.updated = []
        self.diff = {"before": {}, "after": {}}

    @property
    def changed(self):
        return bool(
            self.inserts or self.updates or self.deletes or self.attr_inserts or self.attr_deletes
        )

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


def effective_did(domain, did):
    """The did Kamailio uses for a domain: its did column, or the domain itself when NULL."""
    return domain if did is None else did


def plan_domains(entries, domain_rows, attr_rows, purge=False, allow_purge_all=False):
    """Compare wanted domains with every row of the domain and domain_attrs tables.

    entries: DomainEntry list (validated: lowercase, no duplicates).
    An entry's attrs, when not None, become exactly the domain_attrs rows of its did. Attributes
    of a did that no domain uses any more after this call (domain removed, did changed) are
    removed with it. Raises PlanError for conflicting attrs of one did, and when purge would
    remove every existing domain while allow_purge_all is false.
    """
    plan = DomainPlan()
    existing = {}
    for row in domain_rows:
        existing.setdefault(row.domain.lower(), []).append(row)
    attrs_of = {}
    for row in attr_rows:
        attrs_of.setdefault(row.did, []).append(row)

    # The did every domain has after the plan (None for removed) and the dids set free.
    final = {name: effective_did(rows[0].domain, rows[0].did) for name, rows in existing.items()}
    touched_dids = set()
    wanted = {entry.domain: entry for entry in entries}

    attr_owner = {}
    for entry in entries:
        if entry.state != "present" or entry.attrs is None:
            continue
        did = effective_did(entry.domain, entry.did)
        if did in attr_owner and entry.attrs != wanted[attr_owner[did]].attrs:
            raise PlanError(
                "domains %r and %r share did %r but ask for different attrs"
                % (attr_owner[did], entry.domain, did)
            )
        attr_owner.setdefault(did, entry.domain)

    def remove(name):
        for row in existing[name]:
            plan.deletes.append(row)
            touched_dids.add(effective_did(row.domain, row.did))
        final[name] = None
        plan.removed.append(name)

    for entry in entries:
        rows = existing.get(entry.domain, [])
        if entry.state == "absent":
            if rows:
                remove(entry.domain)
            continue
        if not rows:
            plan.inserts.append((entry.domain, entry.did))
            final[entry.domain] = effective_did(entry.domain, entry.did)
            plan.added.append(entry.domain)
            continue
        exact = [row for row in rows if row.domain == entry.domain]
        current = exact[0] if exact else rows[0]
        extras = [row for row in rows if row is not current]
        for row in extras:
            plan.deletes.append(row)
            touched_dids.add(effective_did(row.domain, row.did))
        if current.domain != entry.domain or current.did != entry.did:
            plan.updates.append((current.id, entry.domain, entry.did))
            touched_dids.add(effective_did(current.domain, current.did))
        if extras or current.domain != entry.domain or current.did != entry.did:
            plan.updated.append(entry.domain)
        final[entry.domain] = effective_did(entry.domain, entry.did)

    if purge:
        for name in sorted(existing):
            if name not in wanted and final.get(name) is not None:
                remove(name)
        if existing and not allow_purge_all and all(final[name] is None for name in existing):
            raise PlanError(
                "purge would remove every domain (%d); refusing, as this usually means the list"
                " failed to load. Set allow_purge_all=true if that is intended." % len(existing)
            )

    # Attributes: exactly the wanted ones for each did an entry sets attrs for. The owner
    # attribute is apart: only an entry that names an owner sets it (to exactly one row).
    attrs_changed = set()
    for did, owner in sorted(attr_owner.items()):
        want = set((name, kind, text) for name, (kind, text) in wanted[owner].attrs.items())
        rows = [row for row in attrs_of.get(did, []) if row.name != OWNER_ATTR]
        _sync_attr_rows(plan, did, owner, want, rows, attrs_changed)
    for entry in entries:
        if entry.state != "present" or entry.owner is None:
            continue
        did = effective_did(entry.domain, entry.did)
        want = {(OWNER_ATTR, ATTR_TYPE_STR, entry.owner)}
        rows = [row for row in attrs_of.get(did, []) if row.name == OWNER_ATTR]
        _sync_attr_rows(plan, did, entry.domain, want, rows, attrs_changed)
    in_use = set(did for did in final.values() if did is not None)
    for did in sorted(touched_dids - in_use):
        plan.attr_deletes.extend(attrs_of.get(did, []))

    for name in sorted(attrs_changed):
        if name not in plan.added and name not in plan.updated:
            plan.updated.append(name)

    plan.added.sort()
    plan.removed.sort()
    plan.updated.sort()
    plan.diff = _domain_diff(plan, existing, attrs_of, wanted, final)
    return plan


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


def _domain_diff(plan, existing, attrs_of, wanted, final):
    before = {}
    after = {}
    for name in plan.removed + plan.updated:
        row = existing[name][0]
        did = effective_did(row.domain, row.did)
        before[name] = {"did": row.did, "attrs": _display_attrs(attrs_of.get(did, []))}
    deleted = set(row.id for row in plan.attr_deletes)
    for name in plan.added + plan.updated:
        did = final[name]
        rows = [row for row in attrs_of.get(did, []) if row.id not in deleted]
        rows += [AttrRow(0, *insert) for insert in plan.attr_inserts if insert[0] == did]
        after[name] = {"did": wanted[name].did, "attrs": _display_attrs(rows)}
    return {
        "before": {"domains": before} if before else {},
        "after": {"domains": after} if after else {},
    }
