"""Reading tenant files as data (plugin_utils/kamailio_tenant_files): no Ansible run needed."""

import os

import pytest

from ansible_collections.sipstack.kamailio.plugins.plugin_utils.kamailio_tenant_files import (
    TenantFileError,
    check_regular_file,
    default_name,
    list_directory,
    parse_text,
    plain,
)


def no_vault(_text):
    raise AssertionError("no !vault value expected")


def test_plain_yaml_becomes_plain_python_data():
    data = parse_text("domain: a.example\nattrs: {n: 5}\nadopt: true\n", "a.yml", no_vault)
    assert data == {"domain": "a.example", "attrs": {"n": 5}, "adopt": True}
    assert data["domain"].__class__ is str


def test_template_text_stays_text_and_is_not_rendered():
    data = parse_text("name: \"{{ lookup('pipe', 'id') }}\"\n", "a.yml", no_vault)
    assert data["name"] == "{{ lookup('pipe', 'id') }}"


def test_vault_values_go_through_the_decrypt_function():
    seen = []

    def decrypt(text):
        seen.append(text)
        return "plain-" + text.split()[-1]

    text = "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    assert parse_text(text, "a.yml", decrypt) == {"password": "plain-6162"}
    assert seen == ["$ANSIBLE_VAULT;1.1;AES256\n6162\n"]


def test_a_vault_value_that_cannot_be_decrypted_names_the_position():
    def decrypt(_text):
        raise ValueError("Decryption failed (no vault secrets were found that could decrypt)")

    with pytest.raises(TenantFileError, match=r"a\.yml: line 2, column 11: cannot decrypt"):
        parse_text("domain: x\npassword: !vault |\n  $ANSIBLE_VAULT\n", "a.yml", decrypt)


def test_unsafe_is_a_plain_string():
    assert parse_text("name: !unsafe '{{ x }}'\n", "a.yml", no_vault) == {"name": "{{ x }}"}


@pytest.mark.parametrize("number", ["0123", "0x1F", "0b101", "1_000", "190:20:30"])
def test_numbers_yaml_reads_differently_must_be_quoted(number):
    with pytest.raises(
        TenantFileError, match=r"reads differently in YAML 1\.1 than it looks; quote"
    ):
        parse_text("subscribers: [{username: %s}]\n" % number, "a.yml", no_vault)


@pytest.mark.parametrize("number", ["0", "1001", "-5", "+7"])
def test_plain_decimal_numbers_are_integers(number):
    assert parse_text("n: %s\n" % number, "a.yml", no_vault) == {"n": int(number)}


def test_yaml_errors_give_the_position_and_never_the_content():
    secret = "hunter2-secret"  # noqa: S105 - a test value
    text = "password: %s\n\tbad: [\n" % secret
    with pytest.raises(TenantFileError) as caught:
        parse_text(text, "a.yml", no_vault)
    assert str(caught.value).startswith("a.yml: line 2, column 1:")
    assert secret not in str(caught.value)


def test_an_empty_file_is_refused():
    with pytest.raises(TenantFileError, match=r"a\.yml: the file is empty"):
        parse_text("# nothing\n", "a.yml", no_vault)


def test_directory_listing_takes_yml_and_yaml_sorted(tmp_path):
    for name in ("b.yaml", "a.yml", ".hidden.yml", "notes.txt"):
        (tmp_path / name).write_text("domain: x\n")
    assert list_directory(str(tmp_path)) == [str(tmp_path / "a.yml"), str(tmp_path / "b.yaml")]


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(TenantFileError, match="does not exist on the controller"):
        list_directory(str(tmp_path / "nope"))


def test_symbolic_links_are_refused(tmp_path):
    target = tmp_path / "secret"
    target.write_text("x")
    link = tmp_path / "evil.yml"
    os.symlink(target, link)
    with pytest.raises(TenantFileError, match="is a symbolic link"):
        check_regular_file(str(link))
    assert check_regular_file(str(target)) == str(target)


def test_default_names():
    assert default_name("/x/companya.yml") == "companya"
    assert default_name("/x/b.c.yaml") == "b.c"


def test_plain_strips_subclasses():
    class Tagged(str):
        pass

    value = plain({Tagged("k"): [Tagged("v"), 1, True, None, (2.5,)]})
    assert value == {"k": ["v", 1, True, None, [2.5]]}
    assert next(iter(value)).__class__ is str and value["k"][0].__class__ is str
