# Copyright: (c) 2025, sipstack.kamailio maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of kamailio_tenants: read the tenant files as data, validate every tenant with
the module's own code, hash the passwords, and hand the module one JSON string.

The files never become Ansible variables: Ansible neither templates them nor copies them per host,
and a tenant list of 100,000 accounts costs what parsing and hashing it costs.
"""

import json
import os

from ansible.errors import AnsibleError
from ansible.parsing.vault import EncryptedString
from ansible.plugins.action import ActionBase

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_tenant import (
    TenantError,
    parse_tenants,
    to_data,
    with_hashes,
)
from ansible_collections.sipstack.kamailio.plugins.modules.kamailio_tenants import (
    argument_spec,
)
from ansible_collections.sipstack.kamailio.plugins.plugin_utils.kamailio_tenant_files import (
    TenantFileError,
    check_regular_file,
    default_name,
    list_directory,
    parse_text,
    plain,
)

MODULE = "sipstack.kamailio.kamailio_tenants"
# Read on the controller; the module gets the result of reading them.
CONTROLLER_ONLY = ("tenants", "tenants_dir", "tenants_files")


def _decrypt(ciphertext):
    # EncryptedString decrypts with the vault secrets of this ansible-playbook run.
    return str(EncryptedString(ciphertext=ciphertext))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _path(self, path, task_vars):
        if os.path.isabs(path):
            return path
        base = task_vars.get("inventory_dir") or self._loader.get_basedir()
        return os.path.join(base, path)

    def _read_file(self, path):
        check_regular_file(path)
        try:
            # Decrypts a whole-file vault; plain files come back as they are.
            text = str(self._loader.get_text_file_contents(path))
        except AnsibleError as exc:
            raise TenantFileError(
                "%s: cannot read or decrypt it: %s" % (path, exc.message)
            ) from None
        return parse_text(text, os.path.basename(path), _decrypt)

    def load(self, args, task_vars):
        """[(source, data, default name)] of every tenant, and how many files were read."""
        paths = []
        if args["tenants_dir"]:
            directory = self._path(args["tenants_dir"], task_vars)
            found = list_directory(directory)
            if args["purge"] and not found:
                raise TenantFileError(
                    "tenants directory %s holds no tenant file; with purge on that would remove"
                    " every tenant, so nothing was changed" % directory
                )
            paths.extend(found)
        paths.extend(self._path(path, task_vars) for path in args["tenants_files"])
        items = [
            ("kamailio_tenants[%d]" % index, plain(data), None)
            for index, data in enumerate(args["tenants"])
        ]
        problems = []
        for path in paths:
            try:
                items.append((os.path.basename(path), self._read_file(path), default_name(path)))
            except TenantFileError as exc:
                problems.append(str(exc))
        if problems:
            raise TenantError(problems)
        return items, len(paths)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _valid, args = self.validate_argument_spec(argument_spec=argument_spec())
        try:
            items, files = self.load(args, task_vars)
            tenants = parse_tenants(items)
        except TenantFileError as exc:
            return dict(result, failed=True, msg="Tenant files, nothing was changed: %s" % exc)
        except TenantError as exc:
            return dict(
                result,
                failed=True,
                msg="Invalid tenants, nothing was changed: %s" % exc,
                problems=exc.problems,
            )
        if args["purge"] and not tenants:
            return dict(
                result,
                failed=True,
                msg="No tenant at all: with purge on that would remove every tenant, so nothing"
                " was changed",
            )
        # The module needs no TLS key: those stay on the controller and go to the SIP servers.
        payload = [
            {"source": t.source, "tenant": to_data(with_hashes(t._replace(tls=None)))}
            for t in tenants
        ]
        module_args = {k: v for k, v in args.items() if k not in CONTROLLER_ONLY}
        module_args["tenants_json"] = json.dumps(payload, separators=(",", ":"))
        try:
            result.update(
                self._execute_module(
                    module_name=MODULE, module_args=module_args, task_vars=task_vars
                )
            )
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if "loaded" in result:
            result["loaded"]["files"] = files
        # What each SIP server serves by SNI; holds private keys, so the task is no_log.
        result["tls_certificates"] = [
            {
                "server_name": tenant.domain,
                "certificate": tenant.tls.certificate,
                "private_key": tenant.tls.private_key,
            }
            for tenant in tenants
            if tenant.state == "present" and tenant.tls is not None
        ]
        return result
