"""KamailioModule: secrets of big no_log lists stay out of output, in linear time."""

import json
import time

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    HIDDEN,
    MASK,
    KamailioModule,
)

SPEC = dict(
    login_password=dict(type="str", no_log=True),
    password=dict(type="str", no_log=True),
    domain=dict(type="str"),
    username=dict(type="str"),
    subscribers=dict(type="list", elements="dict", no_log=True),
)


def make():
    return KamailioModule(
        argument_spec=SPEC,
        bulk_no_log=("subscribers",),
        mutually_exclusive=[("username", "subscribers")],
    )


def output(capsys, call):
    with pytest.raises(SystemExit):
        call()
    return json.loads(capsys.readouterr().out)


def entries(count):
    return [
        {"username": "user%05d" % i, "domain": "a.example", "password": "Secret-%05d" % i}
        for i in range(count)
    ]


def test_only_scalar_secrets_stay_for_ansibles_own_scrubbing(monkeypatch):
    logged = []
    monkeypatch.setattr(
        basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg)
    )
    with patch_module_args({"login_password": "db-pw", "subscribers": entries(3)}):
        module = make()
    assert module.no_log_values == {"db-pw"}
    assert "subscribers=NOT_LOGGING_PARAMETER" in logged[0]
    assert "Secret-" not in logged[0] and "db-pw" not in logged[0]


def test_results_keep_usernames_and_mask_secrets(capsys):
    with patch_module_args({"login_password": "db-pw", "subscribers": entries(3)}):
        module = make()
        for item in module.params["subscribers"]:
            module.add_secret(item["password"])
        created = {"a.example": ["user00000", "Secret-00001", "Secret-000011"]}
        result = output(capsys, lambda: module.exit_json(changed=True, created=created))
    assert result["created"] == {"a.example": ["user00000", MASK, "Secret-000011"]}
    assert result["invocation"]["module_args"]["subscribers"] == HIDDEN
    assert result["invocation"]["module_args"]["login_password"] == HIDDEN


def test_failure_messages_are_scrubbed(capsys):
    with patch_module_args({"subscribers": entries(2)}):
        module = make()
        module.add_secret("Secret-00000")
        result = output(capsys, lambda: module.fail_json(msg="oops Secret-00000 here"))
    assert result["msg"] == "oops %s here" % MASK
    assert "Secret-" not in json.dumps(result)


def test_big_list_exit_and_argument_error_stay_fast(capsys):
    big = entries(10000)
    start = time.monotonic()
    with patch_module_args({"login_password": "db-pw", "subscribers": big}):
        module = make()
        for item in big:
            module.add_secret(item["password"])
        created = {"a.example": [item["username"] for item in big]}
        result = output(capsys, lambda: module.exit_json(changed=True, created=created))
    assert len(result["created"]["a.example"]) == 10000
    assert MASK not in result["created"]["a.example"]
    # An argument error raised inside AnsibleModule.__init__, with the list still in the
    # parameters, must not fall into Ansible's quadratic scrub either.
    with patch_module_args({"username": "x", "subscribers": big}):
        result = output(capsys, make)
    assert "mutually exclusive" in result["msg"]
    assert result["invocation"]["module_args"]["subscribers"] == HIDDEN
    assert "Secret-" not in json.dumps(result)
    assert time.monotonic() - start < 10
