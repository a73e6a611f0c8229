# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What both kamailio_* modules run on: KamailioModule, an AnsibleModule that keeps secrets of
big no_log lists out of its output in linear time, and sync_and_exit(), one module call as one
transaction.

AnsibleModule hides no_log values by comparing every string it logs or returns with every no_log
value, substring by substring. A no_log list of 10,000 subscribers puts every username, domain and
password of the list into that set (about 30,000 strings): logging the invocation then takes
seconds, returning a result with 10,000 usernames takes minutes, and every username in the result
is masked because it is a value of the no_log list.

KamailioModule keeps Ansible's own scrubbing for the scalar secrets (login_password, password,
...), which stay few, and handles the list parameters named in bulk_no_log itself:
  - the invocation it returns shows each of them as one placeholder;
  - secrets registered with add_secret() are masked in results where a returned string equals
    one (a set lookup), and inside failure messages (one pass per secret over one message).
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_db import (
    KamailioDB,
    KamailioDBError,
)
from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_plan import PlanError

HIDDEN = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
MASK = "********"


class KamailioModule(AnsibleModule):
    def __init__(self, argument_spec, bulk_no_log=(), **kwargs):
        self._bulk_no_log = tuple(bulk_no_log)
        self._bulk_secrets = set()
        super().__init__(argument_spec=argument_spec, **kwargs)

    def add_secret(self, value):
        """Register a secret that came in through a bulk_no_log list."""
        if value:
            self._bulk_secrets.add(value)

    def _narrow_no_log_values(self):
        params = getattr(self, "params", None)
        if params is None:
            return
        scalar = set()
        for name, spec in self.argument_spec.items():
            value = params.get(name)
            if spec.get("no_log") and name not in self._bulk_no_log and value:
                scalar.add(str(value))
        self.no_log_values = scalar

    def _log_invocation(self):
        # Called at the end of AnsibleModule.__init__: sanitise the log line against the scalar
        # secrets only; the bulk lists are logged as NOT_LOGGING_PARAMETER anyway.
        self._narrow_no_log_values()
        super()._log_invocation()

    def _invocation(self):
        args = dict(getattr(self, "params", None) or {})
        for name in self._bulk_no_log:
            if args.get(name) is not None:
                args[name] = HIDDEN
        return {"module_args": args}

    def mask(self, value):
        """Copy of value with every string equal to a registered bulk secret masked."""
        if isinstance(value, str):
            return MASK if value in self._bulk_secrets else value
        if isinstance(value, dict):
            return dict((self.mask(key), self.mask(item)) for key, item in value.items())
        if isinstance(value, (list, tuple)):
            return [self.mask(item) for item in value]
        return value

    def scrub(self, text):
        """text with every registered bulk secret in it masked."""
        for secret in sorted(self._bulk_secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def exit_json(self, **kwargs):
        self._narrow_no_log_values()
        kwargs.setdefault("invocation", self._invocation())
        if self._bulk_secrets:
            kwargs = self.mask(kwargs)
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._narrow_no_log_values()
        kwargs.setdefault("invocation", self._invocation())
        if self._bulk_secrets:
            msg = self.scrub(str(msg))
            kwargs = self.mask(kwargs)
        super().fail_json(msg=msg, **kwargs)


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
