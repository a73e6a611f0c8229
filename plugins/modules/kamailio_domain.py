#!/usr/bin/python
# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: kamailio_domain
short_description: Manage Kamailio SIP domains and their attributes in MySQL or MariaDB
version_added: 0.1.0
description:
  - Creates, updates and removes rows of Kamailio's C(domain) table (the tenants' SIP domains
    that the domain module treats as local) and, optionally, their C(domain_attrs) rows, on
    MySQL or MariaDB through PyMySQL.
  - Domains are stored in lower case and compared case-insensitively.
  - The bulk form (O(domains)) syncs every tenant's domain in one call; with O(purge=true) it
    also removes the domains that are not listed.
  - Every write of one call runs in one transaction. Any invalid entry fails the whole call
    before anything is written.
  - Kamailio caches these tables; run the C(domain.reload) RPC (for example
    C(kamcmd domain.reload)) to make a change live without a restart.
options:
  domain:
    description:
      - The SIP domain, a DNS name of at most 64 characters (labels of letters, digits and
        hyphens).
      - Single form; mutually exclusive with O(domains).
    type: str
  did:
    description:
      - Domain identifier, which groups domains that share attributes. Omitted, the column is
        C(NULL), which Kamailio reads as the domain itself.
    type: str
  attrs:
    description:
      - Attributes of the domain's did, as name to value. When given, the C(domain_attrs) rows
        of the did become exactly these; integers are stored with type 0, strings with type 2.
        V({}) removes all of them. Omitted, existing attributes are left alone.
      - Values must be integers (within the signed 32-bit range Kamailio loads) or strings
        (not booleans or floats); names are at most 32 characters and values at most 255.
      - The name C(tenant) is reserved. M(sipstack.kamailio.kamailio_tenants) records the owning
        tenant in it; this module leaves it alone (it goes only with a did no domain uses).
    type: dict
  state:
    description:
      - V(present) creates or updates the domain(s), V(absent) removes them, together with the
        attributes of their did when no other domain uses that did.
      - With O(domains), the default state of entries that carry none.
    type: str
    choices: [present, absent]
    default: present
  domains:
    description:
      - Bulk form, the domains to manage. Mutually exclusive with O(domain), O(did) and O(attrs).
    type: list
    elements: dict
    suboptions:
      domain:
        description:
          - The SIP domain.
        type: str
        required: true
      did:
        description:
          - Domain identifier; omitted means C(NULL) (the domain itself).
        type: str
      attrs:
        description:
          - Attributes of the did, exactly as for the top-level O(attrs).
        type: dict
      state:
        description:
          - State of this domain; defaults to the top-level O(state).
        type: str
        choices: [present, absent]
  purge:
    description:
      - With O(domains), remove every domain that is not listed (and the attributes of the dids
        no remaining domain uses).
    type: bool
    default: false
attributes:
  diff_mode:
    support: full
    details: Shows the did and attributes of every domain added, removed or updated.
  platform:
    platforms: posix
extends_documentation_fragment:
  - sipstack.kamailio.kamailio_db
  - sipstack.kamailio.kamailio_db.sync
  - ansible.builtin.action_common_attributes
notes:
  - Removing a domain does not remove its subscribers; use
    M(sipstack.kamailio.kamailio_subscriber) for those.
seealso:
  - module: sipstack.kamailio.kamailio_subscriber
author:
  - sipstack.kamailio maintainers (@sipstack)
"""

EXAMPLES = r"""
- name: One tenant domain
  sipstack.kamailio.kamailio_domain:
    login_unix_socket: /run/mysqld/mysqld.sock
    login_user: kamailio_admin
    login_password: "{{ kamailio_db_admin_password }}"
    domain: a.example

- name: A domain with attributes (did defaults to the domain itself)
  sipstack.kamailio.kamailio_domain:
    domain: b.example
    attrs:
      max_calls: 20
      tenant: Tenant B

- name: Every tenant's domains in one call; remove the others
  sipstack.kamailio.kamailio_domain:
    domains:
      - domain: a.example
      - domain: b.example
        attrs: {max_calls: 20}
      - domain: sip.b.example
        did: b.example
    purge: true

- name: Remove a domain
  sipstack.kamailio.kamailio_domain:
    domain: old.example
    state: absent
"""

RETURN = r"""
added:
  description: Domains created.
  returned: always
  type: list
  elements: str
  sample: ["a.example"]
removed:
  description: Domains removed.
  returned: always
  type: list
  elements: str
  sample: ["old.example"]
updated:
  description: Domains whose did, attributes or spelling changed.
  returned: always
  type: list
  elements: str
  sample: ["b.example"]
diff:
  description:
    - What changes, in the form C(--diff) shows. C(before.domains) and C(after.domains) map
      each changed domain to its C(did) and C(attrs).
  returned: in diff mode (C(--diff), or the task keyword C(diff) set to true)
  type: dict
  sample:
    before:
      domains: {"b.example": {"did": null, "attrs": {"max_calls": 10}}}
    after:
      domains:
        "a.example": {"did": null, "attrs": {}}
        "b.example": {"did": null, "attrs": {"max_calls": 20}}
"""

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    KamailioModule,
    run_sync,
    sync_argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    ATTR_COLUMNS,
    DOMAIN_COLUMNS,
    AttrRow,
    DomainEntry,
    DomainRow,
    plan_domains,
    select_all_attrs,
    select_all_domains,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    OWNER_ATTR,
    Listing,
    ValidationError,
    check_did,
    check_state,
    normalize_attrs,
    normalize_domain,
)


def _items(params):
    """(field, item) of every wanted domain: the bulk list, or the single form as one item."""
    if params.get("domains") is not None:
        return [("domains[%d]" % index, item) for index, item in enumerate(params["domains"])]
    if params["purge"]:
        raise ValidationError("purge needs the bulk form (domains)")
    keys = ("domain", "did", "attrs", "state")
    return [(None, {key: params.get(key) for key in keys})]


def _entry(field, item, default_state):
    prefix = field + "." if field else ""
    name = normalize_domain(item["domain"], prefix + "domain")
    where = "%s (domain %r)" % (field, name) if field else "domain %r" % name
    return DomainEntry(
        domain=name,
        did=check_did(item.get("did"), "%s: did" % where),
        attrs=normalize_attrs(item.get("attrs"), "%s: attrs" % where, (OWNER_ATTR,)),
        state=check_state(item.get("state") or default_state, "%s: state" % where),
    )


def build_entries(params, add_secret=None):
    """Validate the call's parameters into DomainEntry objects; raise ValidationError.

    add_secret is unused: a domain call carries no secret besides the login."""
    entries = []
    listing = Listing("domain {}".format)
    for field, item in _items(params):
        entry = _entry(field, item, params["state"])
        listing.add(entry.domain, field)
        entries.append(entry)
    return entries


def read_and_plan(db, params, entries, lock):
    """Read both domain tables (locked unless in check mode) and return the DomainPlan."""
    db.columns("domain", DOMAIN_COLUMNS)
    db.columns("domain_attrs", ATTR_COLUMNS)
    domains = db.query(select_all_domains(lock), "reading table domain")
    attrs = db.query(select_all_attrs(lock), "reading table domain_attrs")
    return plan_domains(
        entries,
        [DomainRow(*row) for row in domains],
        [AttrRow(*row) for row in attrs],
        purge=params["purge"],
        allow_purge_all=params["allow_purge_all"],
    )


def argument_spec():
    return sync_argument_spec(
        domain=dict(type="str"),
        did=dict(type="str"),
        attrs=dict(type="dict"),
        domains=dict(
            type="list",
            elements="dict",
            options=dict(
                domain=dict(type="str", required=True),
                did=dict(type="str"),
                attrs=dict(type="dict"),
                state=dict(type="str", choices=["present", "absent"]),
            ),
        ),
    )


def main():
    module = KamailioModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("domain", "domains"), ("did", "domains"), ("attrs", "domains")],
        required_one_of=[("domain", "domains")],
    )
    run_sync(module, build_entries, read_and_plan)


if __name__ == "__main__":
    main()
