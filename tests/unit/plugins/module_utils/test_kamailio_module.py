"""KamailioModule: secrets of big secret lists stay out of output, in linear time, through
ansible-core's public surface only."""

import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_module import (
    HIDDEN,
    MASK,
    Background,
    KamailioModule,
)

SPEC = dict(
    login_password=dict(type="str", no_log=True),
    password=dict(type="str", no_log=True),
    domain=dict(type="str"),
    username=dict(type="str"),
    subscribers=dict(type="list", elements="dict", no_log=False),
)


def make():
    return KamailioModule(
        argument_spec=SPEC,
        secret_lists=("subscribers",),
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


def test_a_module_with_secret_lists_logs_no_invocation(monkeypatch):
    logged = []
    monkeypatch.setattr(basic.AnsibleModule, "_log_to_syslog", lambda self, msg: logged.append(msg))
    with patch_module_args({"login_password": "db-pw", "subscribers": entries(3)}):
        make()
    assert logged == []


def test_a_secret_list_must_not_be_declared_no_log():
    spec = dict(SPEC, subscribers=dict(type="list", elements="dict", no_log=True))
    with pytest.raises(ValueError, match="no_log=False"):
        KamailioModule(argument_spec=spec, secret_lists=("subscribers",))


def test_results_keep_usernames_and_mask_secrets(capsys):
    with patch_module_args({"login_password": "db-pw", "subscribers": entries(3)}):
        module = make()
        for item in module.params["subscribers"]:
            module.add_secret(item["password"])
        added = {"a.example": ["user00000", "Secret-00001", "Secret-000011", "db-pw"]}
        result = output(capsys, lambda: module.exit_json(changed=True, added=added))
    # A registered secret is masked where it is a whole string; the login password by Ansible.
    assert result["added"]["a.example"][:3] == ["user00000", MASK, "Secret-000011"]
    assert "db-pw" not in json.dumps(result)
    assert result["invocation"]["module_args"]["subscribers"] == HIDDEN
    assert "Secret-" not in json.dumps(result["invocation"])


def test_failure_messages_are_scrubbed(capsys):
    with patch_module_args({"subscribers": entries(2)}):
        module = make()
        module.add_secret("Secret-00000")
        result = output(capsys, lambda: module.fail_json(msg="oops Secret-00000 here"))
    assert result["msg"] == "oops %s here" % MASK
    assert "Secret-" not in json.dumps(result)


def test_10000_entries_exit_and_argument_error_stay_fast_and_secret(capsys):
    big = entries(10000)
    with patch_module_args({"login_password": "db-pw", "subscribers": big}):
        module = make()
        for item in big:
            module.add_secret(item["password"])
        added = {"a.example": [item["username"] for item in big]}
        result = output(capsys, lambda: module.exit_json(changed=True, added=added))
    assert len(result["added"]["a.example"]) == 10000
    assert MASK not in result["added"]["a.example"]
    assert "Secret-" not in json.dumps(result)
    # An argument error raised inside AnsibleModule.__init__, with the list still in the
    # parameters, goes through the same fail_json.
    with patch_module_args({"username": "x", "subscribers": big}):
        result = output(capsys, make)
    assert "mutually exclusive" in result["msg"]
    assert result["invocation"]["module_args"]["subscribers"] == HIDDEN
    assert "Secret-" not in json.dumps(result)


def test_background_returns_the_value_or_raises_in_the_caller():
    with Background(lambda a, b: a + b, 1, 2) as pending:
        assert pending.result() == 3

    def fail():
        raise ValueError("from the thread")

    with Background(fail) as pending, pytest.raises(ValueError, match="from the thread"):
        pending.result()
