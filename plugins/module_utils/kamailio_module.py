# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the kamailio_* modules run on: KamailioModule and run_sync(), one module call as one
transaction (validate, read, plan, write unless in check mode, exit with the plan's result).

Secret lists. Ansible's no_log on an option treats every string inside it as a secret: declared
on a list of 10,000 subscribers it would mask every username and domain in the result, and
masking a result of n names against that list costs n times 30,000 substring searches (3.25 s
for 1,000 names). The list options that carry passwords in bulk (secret_lists) are therefore
declared no_log=False and kept out of all output through ansible-core's public surface only:
  - the module is built with no_log=True, so it logs no invocation line at all;
  - exit_json/fail_json return the invocation with each secret list as one placeholder;
  - every password and hash of those lists is registered with add_secret() while the entries are
    validated, and masked in results (a set lookup per returned string) and in failure messages.
Scalar secrets (login_password, password, ha1, ha1b) keep Ansible's own no_log handling.
"""

import gc
import threading

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    KamailioDB,
    KamailioDBError,
    connect,
    kamailio_db_argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import (
    PlanError,
    select_in,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant_plan import (
    Digest,
    subscriber_digest_query,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_validate import (
    ValidationError,
)

HIDDEN = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
MASK = "********"


class KamailioModule(AnsibleModule):
    def __init__(self, argument_spec, secret_lists=(), **kwargs):
        self.secret_lists = tuple(secret_lists)
        self._secrets = set()
        for name in self.secret_lists:
            if argument_spec[name].get("no_log") is not False:
                raise ValueError("secret list %s must be declared no_log=False" % name)
        super().__init__(
            argument_spec=argument_spec, no_log=kwargs.pop("no_log", bool(secret_lists)), **kwargs
        )

    def add_secret(self, value):
        """Register a password or hash that came in through a secret list."""
        if isinstance(value, str) and value:
            self._secrets.add(value)

    def _invocation(self):
        args = dict(getattr(self, "params", None) or {})
        for name in self.secret_lists:
            if args.get(name) is not None:
                args[name] = HIDDEN
        return {"module_args": args}

    def mask(self, value):
        """Copy of value with every string equal to a registered secret masked."""
        if isinstance(value, str):
            return MASK if value in self._secrets else value
        if isinstance(value, dict):
            return {self.mask(key): self.mask(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask(item) for item in value]
        return value

    def scrub(self, text):
        """text with every registered secret in it masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def exit_json(self, **kwargs):
        kwargs.setdefault("invocation", self._invocation())
        if self._secrets:
            kwargs = self.mask(kwargs)
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs.setdefault("invocation", self._invocation())
        if self._secrets:
            msg = self.scrub(str(msg))
            kwargs = self.mask(kwargs)
        super().fail_json(msg=msg, **kwargs)


def sync_argument_spec(**options):
    """The options of a module that syncs rows: the login, state, purge, allow_purge_all (see
    the kamailio_db and kamailio_db.sync doc fragments), and the module's own options."""
    spec = kamailio_db_argument_spec()
    spec.update(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        purge=dict(type="bool", default=False),
        allow_purge_all=dict(type="bool", default=False),
    )
    spec.update(options)
    return spec


def run_sync(module, wanted, plan_call):
    """Validate, then plan and write in one transaction; exit the module with the result.

    wanted(params, add_secret) validates the call's parameters (raising ValidationError);
    plan_call(db, params, wanted, lock) reads what it needs and returns a Plan. The plan's
    statements run unless in check mode; a failure part-way rolls everything back.
    """
    # A bulk call allocates several objects per entry and frees none of them in cycles: the
    # cyclic collector would walk the growing heap again and again, for nothing (0.15 s of a
    # no-op with 100,000 subscribers).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _validate_and_sync(module, wanted, plan_call)
    finally:
        if collecting:
            gc.enable()


def _validate_and_sync(module, wanted, plan_call):
    try:
        entries = wanted(module.params, module.add_secret)
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    check_mode = module.check_mode

    def sync(db):
        plan = plan_call(db, module.params, entries, not check_mode)
        if plan.changed and not check_mode:
            db.write(plan.statements(), "writing table %s" % " and ".join(plan.tables))
        return plan.result()

    sync_and_exit(module, connect(module), sync)


def read_digests(db, domains, domain_ci):
    """{domain: Digest} of the stored subscriber rows of each of domains that has any,
    computed by the database (see kamailio_tenant_plan.subscriber_digest_query)."""
    head, column, tail = subscriber_digest_query(domain_ci)
    rows = db.query(select_in(head, column, domains, tail), "digesting table subscriber")
    return {row[0]: Digest(int(row[1]), int(row[2]), int(row[3])) for row in rows}


class Background:
    """call(*args) in a thread, for a database read whose wait overlaps the caller's Python work
    (PyMySQL releases the GIL while it waits for the server).

    It starts at once. Use it as a context manager: result() returns the value or raises what
    call raised, and leaving the block waits for the thread, so that nothing else uses the
    connection meanwhile.
    """

    def __init__(self, call, *args):
        self._outcome = None
        self._thread = threading.Thread(target=self._run, args=(call, args), daemon=True)
        self._thread.start()

    def _run(self, call, args):
        try:
            self._outcome = (True, call(*args))
        except Exception as exc:  # raised again in the caller's thread, by result()
            self._outcome = (False, exc)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._thread.join()
        return False

    def result(self):
        self._thread.join()
        done, value = self._outcome
        if not done:
            raise value
        return value


def sync_and_exit(module, conn, sync):
    """Run sync(db) on conn as one transaction and exit the module with its result.

    A failure part-way rolls the transaction back, so the database stays as it was.
    """
    db = KamailioDB(conn, module.params)
    try:
        result = sync(db)
    except (KamailioDBError, PlanError) as exc:
        db.rollback()
        module.fail_json(msg=str(exc))
    finally:
        db.close()
    if not module._diff:
        # Only --diff shows it; for 10,000 new accounts it would double the result's size.
        del result["diff"]
    module.exit_json(**result)
