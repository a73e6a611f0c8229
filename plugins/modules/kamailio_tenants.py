#!/usr/bin/python
# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: kamailio_tenants
short_description: Sync whole tenants (SIP domain, attributes, subscribers) from tenant files
version_added: 0.2.0
description:
  - Reads the tenants from tenant files (O(tenants_dir), O(tenants_files)) and O(tenants),
    validates all of them, and makes Kamailio's C(domain), C(domain_attrs) and C(subscriber)
    tables hold exactly what they describe, in one transaction.
  - Tenant files are untrusted data. They are read on the controller as plain YAML (inline
    C(!vault) values and whole-file vault are decrypted with the play's vault secrets) and never
    templated; any C({{), C({%) or C({#) in a key or a value, also inside encrypted values, is
    refused. Every problem of every file is reported, naming the file and the field, before
    anything is written.
  - Passwords are turned into C(ha1)/C(ha1b) on the controller; only the hashes travel to the
    host that runs the module.
  - Each domain records its tenant in the C(domain_attrs) attribute C(tenant). A tenant may
    change or remove only the domain it owns; a domain that exists without an owner is taken
    over only with C(adopt=true) in that tenant's file. A did belongs to one tenant.
  - A run that changes nothing reads no subscriber row; the database computes a digest of each
    tenant's rows and only the tenants whose digest differs are read and compared.
  - The action plugin does the reading and validation on the controller; the module part runs on
    the target host and talks to the database.
options:
  tenants:
    description:
      - Tenants given as data (for example from the inventory), in the tenant file format
        (see the README). Validated like the files.
    type: list
    elements: dict
    default: []
  tenants_dir:
    description:
      - Directory on the controller with one tenant file (C(*.yml), C(*.yaml)) per tenant. A
        tenant's name defaults to its file name without the extension. A relative path is
        relative to the inventory directory. Symbolic links are refused.
    type: path
  tenants_files:
    description:
      - Further tenant files on the controller (same rules as O(tenants_dir)).
    type: list
    elements: path
    default: []
  tenants_json:
    description:
      - The validated tenant list with hashes instead of passwords, as one JSON string. The
        action plugin builds it from O(tenants), O(tenants_dir) and O(tenants_files); it is not
        meant to be set by hand.
    type: str
  purge:
    description:
      - Remove the tenants that own a domain in the database but are not in the tenant list
        (their subscribers and their domain), for example a tenant whose file was deleted.
      - Refused when the tenant list is empty, when O(tenants_dir) holds no tenant file, and when
        more than O(purge_max) tenants would go.
    type: bool
    default: false
  purge_max:
    description:
      - The most tenants one run may remove through O(purge). Tenants with C(state=absent) in
        their file do not count.
    type: int
    default: 1
  update_password:
    description:
      - V(always) makes the stored hashes match the tenant files; V(on_create) sets them only for
        new subscribers.
    type: str
    choices: [always, on_create]
    default: always
  report:
    description:
      - Write nothing; return in RV(drift) what the database holds that the tenant list does not
        (and the reverse).
    type: bool
    default: false
extends_documentation_fragment:
  - sipstack.kamailio.kamailio_db
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads the tables and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: Names the domains and users added, removed or with changed credentials; no secret.
  platform:
    platforms: posix
notes:
  - Kamailio caches the domain tables; M(sipstack.kamailio.kamailio_reconcile) reloads them on
    every Kamailio host (the tenants role runs it after this module).
seealso:
  - module: sipstack.kamailio.kamailio_domain
  - module: sipstack.kamailio.kamailio_subscriber
  - module: sipstack.kamailio.kamailio_reconcile
author:
  - sipstack.kamailio maintainers (@sipstack)
"""

EXAMPLES = r"""
- name: Sync every tenant of the platform repository
  sipstack.kamailio.kamailio_tenants:
    tenants_dir: tenants
    purge: true
    login_user: kamailio
    login_password: "{{ kamailio_db_password }}"
  run_once: true

- name: What does the database hold that the tenant files do not?
  sipstack.kamailio.kamailio_tenants:
    tenants_dir: tenants
    report: true
    login_user: kamailio
    login_password: "{{ kamailio_db_password }}"
  run_once: true
"""

RETURN = r"""
tenants:
  description:
    - What changed (or would change, in check mode) per tenant name. Keys present only when they
      apply; no password or hash.
  returned: unless O(report)
  type: dict
  sample:
    companya: {domain: companya.example, users_added: [carol], password_changed: [alice]}
    companyd: {domain: companyd.example, domain_added: true, users_added: [dave]}
loaded:
  description: How many tenants and subscriber entries the run validated.
  returned: always
  type: dict
  sample: {tenants: 3, subscribers: 1007, files: 3}
drift:
  description:
    - With O(report), what the database holds that the tenant list does not.
      C(domains_not_in_tenant_list) lists domains no tenant names, C(tenants) per tenant
      C(users_not_in_tenant_list), C(users_missing_in_database), C(passwords_differ),
      C(domain_missing_in_database), C(domain_did_or_attrs_differ),
      C(absent_tenant_still_in_database); C(problems) what a real run would refuse.
  returned: when O(report)
  type: dict
  sample:
    in_sync: false
    domains_not_in_tenant_list: []
    tenants: {companya: {users_not_in_tenant_list: [mallory]}}
    problems: []
diff:
  description: Domains and users before and after, in the form C(--diff) shows.
  returned: in diff mode
  type: dict
"""

import json

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    case_insensitive,
    connect,
    kamailio_db_argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    KamailioModule,
    read_digests,
    sync_and_exit,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    ATTR_COLUMNS,
    DOMAIN_COLUMNS,
    SUBSCRIBER_COLUMNS,
    AttrRow,
    DomainRow,
    PlanError,
    SubscriberRow,
    select_all_attrs,
    select_all_domains,
    select_subscribers,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant import (
    TenantError,
    parse_tenants,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    changes_by_tenant,
    check_ownership,
    differing_domains,
    plan_tenants,
)


def read_tenants(text):
    """The payload of the action plugin: [{"source": ..., "tenant": {...}}], validated again."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise TenantError(["tenants_json is not valid JSON: %s" % exc]) from None
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("source"), str) for item in items
    ):
        raise TenantError(['tenants_json must be a list of {"source": ..., "tenant": {...}}'])
    return parse_tenants((item["source"], item.get("tenant"), None) for item in items)


def read_and_plan(db, params, tenants, lock):
    """Read what the plan needs (the domain tables, digests, the rows that differ) and plan."""
    db.columns("domain", DOMAIN_COLUMNS)
    db.columns("domain_attrs", ATTR_COLUMNS)
    columns = db.columns("subscriber", SUBSCRIBER_COLUMNS)
    domain_ci = case_insensitive(columns["domain"])
    domain_rows = [DomainRow(*r) for r in db.query(select_all_domains(lock), "reading domain")]
    attr_rows = [AttrRow(*r) for r in db.query(select_all_attrs(lock), "reading domain_attrs")]
    stale = check_ownership(
        tenants, domain_rows, attr_rows, purge=params["purge"], purge_max=params["purge_max"]
    )
    present = set(tenant.domain for tenant in tenants if tenant.state == "present")
    differing = differing_domains(tenants, read_digests(db, present, domain_ci))
    gone = set(t.domain for t in tenants if t.state == "absent") | set(s.domain for s in stale)
    rows = db.query(
        select_subscribers(set(differing) | gone, domain_ci, for_update=lock),
        "reading table subscriber",
    )
    return plan_tenants(
        tenants,
        domain_rows,
        attr_rows,
        [SubscriberRow(*row) for row in rows],
        differing,
        stale,
        params["update_password"],
    )


def _merged_diff(plan):
    diff = {"before": {}, "after": {}}
    for part in (plan.domains.diff, plan.subscribers.diff):
        for side in ("before", "after"):
            diff[side].update(part[side])
    return diff


def sync(db, params, tenants, check_mode):
    plan = read_and_plan(db, params, tenants, lock=not check_mode)
    changed = plan.domains.changed or plan.subscribers.changed
    if changed and not check_mode:
        db.write(
            plan.domains.statements() + plan.subscribers.statements(),
            "writing tables domain, domain_attrs and subscriber",
        )
    return dict(changed=changed, tenants=changes_by_tenant(plan), diff=_merged_diff(plan))


DRIFT_KEYS = (
    ("domain_missing_in_database", "domain_added"),
    ("domain_did_or_attrs_differ", "domain_updated"),
    ("absent_tenant_still_in_database", "domain_removed"),
    ("users_not_in_tenant_list", "users_removed"),
    ("users_missing_in_database", "users_added"),
    ("passwords_differ", "password_changed"),
)


def drift(db, params, tenants):
    """What a run that purged everything would change, as a report; nothing is written."""
    problems = []
    params = dict(params, purge=False)
    every_user = [t._replace(purge_subscribers=True) for t in tenants]
    try:
        plan = read_and_plan(db, params, every_user, lock=False)
    except PlanError as exc:
        problems.append(str(exc))
        plan = read_and_plan(db, params, [], lock=False)
    listed = set(tenant.domain for tenant in tenants)
    domains = db.query(select_all_domains(), "reading domain")
    report = {}
    for name, changes in changes_by_tenant(plan).items():
        entry = {key: changes[source] for key, source in DRIFT_KEYS if source in changes}
        if entry:
            report[name] = entry
    unknown = sorted(set(row[1].lower() for row in domains) - listed)
    return dict(
        changed=False,
        drift=dict(
            in_sync=not (report or unknown or problems),
            domains_not_in_tenant_list=unknown,
            tenants=report,
            problems=problems,
        ),
        diff={"before": {}, "after": {}},
    )


def argument_spec():
    spec = kamailio_db_argument_spec()
    spec.update(
        tenants=dict(type="list", elements="dict", default=[], no_log=True),
        tenants_dir=dict(type="path"),
        tenants_files=dict(type="list", elements="path", default=[]),
        tenants_json=dict(type="str", no_log=True),
        purge=dict(type="bool", default=False),
        purge_max=dict(type="int", default=1),
        update_password=dict(
            type="str", default="always", choices=["always", "on_create"], no_log=False
        ),
        report=dict(type="bool", default=False),
    )
    return spec


def main():
    module = KamailioModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if params["tenants_json"] is None:
        module.fail_json(
            msg="kamailio_tenants runs through its action plugin, which reads tenants,"
            " tenants_dir and tenants_files on the controller; tenants_json was not given"
        )
    try:
        tenants = read_tenants(params["tenants_json"])
    except TenantError as exc:
        module.fail_json(msg="Invalid tenants, nothing was changed: %s" % exc)
    if params["purge"] and not tenants:
        module.fail_json(msg="purge with an empty tenant list is refused: it would remove all")
    loaded = dict(tenants=len(tenants), subscribers=sum(len(t.subscribers) for t in tenants))

    def work(db):
        if params["report"]:
            return dict(drift(db, params, tenants), loaded=loaded)
        return dict(sync(db, params, tenants, module.check_mode), loaded=loaded)

    sync_and_exit(module, connect(module), work)


if __name__ == "__main__":
    main()
