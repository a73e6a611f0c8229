# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a valid tenant is: the one definition the tenant loader (action plugin kamailio_tenants)
and the module of the same name share.

A tenant arrives as plain data (from a tenant file a pull request changed, or the inventory) and
leaves as a Tenant, or as a TenantError that lists every problem with the file and the field it
is in. Field rules come from kamailio_validate; this file adds the shape of a tenant, the checks
between tenants (one name, one domain, one did each) and the walk that refuses template markers,
non-string keys and YAML aliases anywhere in the data, known keys or not.
"""

from collections import namedtuple

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    OWNER_ATTR,
    ValidationError,
    calc_ha1,
    calc_ha1b,
    check_bool,
    check_did,
    check_hash,
    check_password,
    check_pem,
    check_state,
    check_tenant_name,
    check_username,
    normalize_attrs,
    normalize_domain,
)

TENANT_KEYS = (
    "name",
    "domain",
    "did",
    "attrs",
    "state",
    "adopt",
    "purge_subscribers",
    "subscribers",
    "tls",
)
TLS_KEYS = ("certificate", "private_key")
SUBSCRIBER_KEYS = ("username", "password", "ha1", "ha1b", "state")
SECRET_KEYS = ("password", "ha1", "ha1b")
# A message listing thousands of problems helps nobody; the first ones name the pattern.
MAX_PROBLEMS = 50

# One account of a tenant: password is None when ha1/ha1b are given.
Account = namedtuple("Account", "username state password ha1 ha1b")
# attrs: None (leave the domain's attributes alone) or {name: (type, text)} without OWNER_ATTR.
# tls: None or TLS(certificate, private_key), the PEM texts its domain is served with (SNI).
TLS = namedtuple("TLS", "certificate private_key")
Tenant = namedtuple(
    "Tenant",
    "name source domain did attrs state adopt purge_subscribers subscribers tls",
    defaults=(None,),
)


class TenantError(ValueError):
    """The tenant list is refused; .problems holds one message per problem."""

    def __init__(self, problems, total=None):
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total
        more = self.total - len(self.problems)
        text = "; ".join(self.problems)
        if more > 0:
            text += "; and %d more problem(s)" % more
        super().__init__(text)


def effective_did(domain, did):
    """The did Kamailio uses for a domain: its did column, or the domain itself when NULL."""
    return domain if did is None else did


def check_tree(data, where):
    """Refuse what no tenant data may hold, wherever it sits: template markers in keys or string
    values, keys that are not strings, and containers reached twice (YAML aliases, whose
    expansion can be exponential)."""
    seen = set()
    stack = [(data, where)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, str):
            _refuse_template(value, at)
        elif isinstance(value, (dict, list)):
            if id(value) in seen:
                raise ValidationError(
                    "%s: YAML aliases (*name) are not accepted in tenant data" % at
                )
            seen.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise ValidationError("%s: key %r must be a string" % (at, key))
                    _refuse_template(key, "%s: key" % at)
                    stack.append((item, "%s.%s" % (at, key)))
            else:
                stack.extend((item, "%s[%d]" % (at, index)) for index, item in enumerate(value))
    return data


def _refuse_template(text, at):
    # Kept apart from check_plain_text: keys and values of unknown fields are checked here too,
    # and a secret's field name is all a message may show.
    for marker in ("{{", "{%", "{#"):
        if marker in text:
            raise ValidationError(
                "%s holds a template marker (%s); tenant data is never templated" % (at, marker)
            )


def _number_as_text(value):
    """Extensions such as 1001 arrive as integers from YAML: take them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def parse_account(item, where, domain):
    """One entry of a tenant's subscribers as an Account."""
    if not isinstance(item, dict):
        raise ValidationError("%s must be a dictionary, got %s" % (where, type(item).__name__))
    unknown = sorted(key for key in item if key not in SUBSCRIBER_KEYS)
    if unknown:
        raise ValidationError(
            "%s: unknown key(s) %s; known: %s"
            % (where, ", ".join(unknown), ", ".join(SUBSCRIBER_KEYS))
        )
    if "username" not in item:
        raise ValidationError("%s: username is required" % where)
    username = check_username(_number_as_text(item["username"]), "%s.username" % where)
    where = "%s (%s@%s)" % (where, username, domain)
    state = check_state(item.get("state", "present"), "%s.state" % where)
    given = [key for key in SECRET_KEYS if key in item]
    if state == "absent":
        return Account(username, state, None, None, None)
    if given == ["password"]:
        password = check_password(item["password"], "%s.password" % where)
        return Account(username, state, password, None, None)
    if sorted(given) == ["ha1", "ha1b"]:
        return Account(
            username,
            state,
            None,
            check_hash(item["ha1"], "%s.ha1" % where),
            check_hash(item["ha1b"], "%s.ha1b" % where),
        )
    if not given:
        raise ValidationError("%s: needs a password, or ha1 and ha1b" % where)
    raise ValidationError(
        "%s: give a password, or ha1 and ha1b (not %s)" % (where, "+".join(given))
    )


def parse_tls(value, where):
    """A tenant's tls: {certificate, private_key} as PEM text (never paths), or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("%s must be a dictionary, got %s" % (where, type(value).__name__))
    unknown = sorted(key for key in value if key not in TLS_KEYS)
    missing = [key for key in TLS_KEYS if key not in value]
    if unknown or missing:
        raise ValidationError(
            "%s needs exactly %s (unknown: %s; missing: %s)"
            % (
                where,
                ", ".join(TLS_KEYS),
                ", ".join(unknown) or "none",
                ", ".join(missing) or "none",
            )
        )
    return TLS(
        check_pem(value["certificate"], "%s.certificate" % where),
        check_pem(value["private_key"], "%s.private_key" % where, secret=True),
    )


def parse_tenant(data, source, default_name=None):
    """One tenant's data as a Tenant; raise TenantError naming every problem of it."""
    problems = []

    def check(function, *args):
        try:
            return function(*args)
        except ValidationError as exc:
            problems.append(str(exc))
            return None

    if not isinstance(data, dict):
        raise TenantError(
            ["%s: a tenant must be a dictionary, got %s" % (source, type(data).__name__)]
        )
    try:
        check_tree(data, source)
    except ValidationError as exc:
        raise TenantError([str(exc)]) from None
    unknown = sorted(key for key in data if key not in TENANT_KEYS)
    if unknown:
        problems.append(
            "%s: unknown key(s) %s; known: %s"
            % (source, ", ".join(unknown), ", ".join(TENANT_KEYS))
        )
    name = check(check_tenant_name, data.get("name", default_name), "%s: name" % source)
    where = "%s (tenant %s)" % (source, name) if name else source
    if "domain" not in data:
        problems.append("%s: domain is required" % where)
        domain = None
    else:
        domain = check(normalize_domain, data["domain"], "%s: domain" % where)
    did = check(check_did, data.get("did"), "%s: did" % where)
    attrs = check(normalize_attrs, data.get("attrs"), "%s: attrs" % where, (OWNER_ATTR,))
    state = check(check_state, data.get("state", "present"), "%s: state" % where)
    adopt = check(check_bool, data.get("adopt", False), "%s: adopt" % where)
    purge = check(check_bool, data.get("purge_subscribers", False), "%s: purge_subscribers" % where)
    tls = check(parse_tls, data.get("tls"), "%s: tls" % where)
    subscribers = data.get("subscribers")
    accounts = []
    if subscribers is None:
        subscribers = []
    if not isinstance(subscribers, list):
        problems.append(
            "%s: subscribers must be a list, got %s" % (where, type(subscribers).__name__)
        )
        subscribers = []
    seen = {}
    for index, item in enumerate(subscribers):
        at = "%s: subscribers[%d]" % (where, index)
        account = check(parse_account, item, at, domain)
        if account is None:
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        key = account.username.lower()
        if key in seen:
            problems.append(
                "%s: user %s is listed twice (also subscribers[%d]; usernames compare"
                " case-insensitively)" % (at, account.username, seen[key])
            )
        seen.setdefault(key, index)
        accounts.append(account)
    if problems:
        raise TenantError(problems[:MAX_PROBLEMS], len(problems))
    return Tenant(name, source, domain, did, attrs, state, adopt, purge, tuple(accounts), tls)


def parse_tenants(items):
    """[(source, data, default_name)] -> [Tenant]; raise TenantError with every problem.

    Beside each tenant's own checks: one tenant per name, per domain and per did (a tenant's
    did is its domain when it gives none), so that no file can take another tenant's identity.
    """
    tenants = []
    problems = []
    total = 0
    for source, data, default_name in items:
        try:
            tenants.append(parse_tenant(data, source, default_name))
        except TenantError as exc:
            problems.extend(exc.problems)
            total += exc.total
    claimed = {}
    reported = set()
    for tenant in tenants:
        # Kamailio keys a tenant by its did; a did equal to another tenant's domain (its did when
        # it gives none) would make the two one tenant, so a tenant claims both.
        dids = sorted({effective_did(tenant.domain, tenant.did), tenant.domain})
        claims = [("name", tenant.name), ("domain", tenant.domain)] + [("did", d) for d in dids]
        for kind, value in claims:
            other = claimed.setdefault((kind, value), tenant)
            if other is tenant or (other.source, tenant.source) in reported:
                continue
            reported.add((other.source, tenant.source))
            problems.append(
                "%s (tenant %s): %s %s is also claimed by %s (tenant %s)"
                % (tenant.source, tenant.name, kind, value, other.source, other.name)
            )
            total += 1
    if problems:
        raise TenantError(problems[:MAX_PROBLEMS], max(total, len(problems)))
    return tenants


def with_hashes(tenant):
    """The tenant with every password replaced by its ha1/ha1b (realm = the tenant's domain)."""
    accounts = []
    for account in tenant.subscribers:
        if account.password is None:
            accounts.append(account)
            continue
        accounts.append(
            Account(
                account.username,
                account.state,
                None,
                calc_ha1(account.username, tenant.domain, account.password),
                calc_ha1b(account.username, tenant.domain, account.password),
            )
        )
    return tenant._replace(subscribers=tuple(accounts))


def to_data(tenant):
    """A Tenant back as tenant-file data (what parse_tenant reads), for the module's payload."""
    data = {
        "name": tenant.name,
        "domain": tenant.domain,
        "state": tenant.state,
        "adopt": tenant.adopt,
        "purge_subscribers": tenant.purge_subscribers,
        "subscribers": [_account_data(account) for account in tenant.subscribers],
    }
    if tenant.did is not None:
        data["did"] = tenant.did
    if tenant.tls is not None:
        data["tls"] = dict(tenant.tls._asdict())
    if tenant.attrs is not None:
        data["attrs"] = {
            name: int(text) if kind == 0 else text for name, (kind, text) in tenant.attrs.items()
        }
    return data


def _account_data(account):
    data = {"username": account.username}
    if account.state == "absent":
        data["state"] = "absent"
    elif account.password is not None:
        data["password"] = account.password
    else:
        data["ha1"] = account.ha1
        data["ha1b"] = account.ha1b
    return data
