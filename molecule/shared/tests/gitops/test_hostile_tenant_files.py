"""Hostile tenant files through playbooks/tenants.yml: every one is refused before any write.

Each case is a tenant directory (or one file given through kamailio_tenants_files) that a pull
request could bring: template expressions in every field, nested and inside vault-encrypted
values; control characters; values Kamailio cannot load; another tenant's identity; purges that
would take what they should not. Each runs twice, applied and with --check --diff. Every run must
fail naming the file and the field, leave the database byte for byte as it was, run no command
(the payloads would create a marker file on the controller) and print no secret.
"""

import json
import secrets

import pytest
from gitops_support import stored_hashes, tenant_text, write_dir
from sipdata import DB_PASSWORDS

PASSWORD = "gx-hostile-" + secrets.token_hex(6)
# Every database password of the scenario: a payload such as {{ kamailio_db_tenants_password }}
# must never bring one into the output.
DB_SECRETS = {password for password, _core in DB_PASSWORDS.values()}


def payload(marker):
    """A template that would run a command on the controller if it were ever rendered."""
    return "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker


def one(key, **fields):
    """A tenant file of gx-<key>.example with one account, fields replaced or added."""
    data = {
        "domain": "gx-%s.example" % key,
        "subscribers": [{"username": "ann", "password": PASSWORD}],
    }
    data.update(fields)
    return json.dumps(data)


def cases(marker, vault):
    evil = payload(marker)
    vaulted = vault.encrypt_strings({"password": evil, "good": PASSWORD})
    account = {"username": "ann", "password": PASSWORD}
    files = {
        # template expressions in every field, known or not
        "name": ({"gx-t1.yml": one("t1", name="x" + evil)}, "gx-t1.yml.name holds a template"),
        "domain": ({"gx-t2.yml": one("t2", domain=evil)}, "gx-t2.yml.domain holds a template"),
        "did": ({"gx-t3.yml": one("t3", did="{# x #}")}, "gx-t3.yml.did holds a template"),
        "attr value": (
            {"gx-t4.yml": one("t4", attrs={"plan": evil})},
            "gx-t4.yml.attrs.plan holds a template",
        ),
        "attr name": (
            {"gx-t5.yml": one("t5", attrs={"{{ kamailio_db_tenants_password }}": 1})},
            "gx-t5.yml.attrs: key holds a template",
        ),
        "statement": (
            {"gx-t6.yml": one("t6", attrs={"plan": "{% for x in range(9**9) %}{% endfor %}"})},
            "gx-t6.yml.attrs.plan holds a template marker ({%)",
        ),
        "username": (
            {"gx-t7.yml": one("t7", subscribers=[{"username": evil, "password": PASSWORD}])},
            "gx-t7.yml.subscribers[0].username holds a template",
        ),
        "password": (
            {"gx-t8.yml": one("t8", subscribers=[{"username": "ann", "password": evil}])},
            "gx-t8.yml.subscribers[0].password holds a template",
        ),
        "hash": (
            {"gx-t9.yml": one("t9", subscribers=[{"username": "ann", "ha1": evil, "ha1b": "0"}])},
            "gx-t9.yml.subscribers[0].ha1 holds a template",
        ),
        "state": (
            {"gx-t10.yml": one("t10", subscribers=[dict(account, state=evil)])},
            "gx-t10.yml.subscribers[0].state holds a template",
        ),
        "unknown key": (
            {"gx-t11.yml": one("t11", notes=evil)},
            "gx-t11.yml.notes holds a template",
        ),
        "inline vault": (
            {
                "gx-t12.yml": tenant_text(
                    "gx-t12.example", [{"username": "ann", "vault": vaulted["password"]}]
                )
            },
            "gx-t12.yml.subscribers[0].password holds a template",
        ),
        "whole-file vault": (
            {"gx-t13.yml": vault.encrypt_text(one("t13", attrs={"x": evil}))},
            "gx-t13.yml.attrs.x holds a template",
        ),
        # control characters, whitespace, values Kamailio would not load
        "nul in did": ({"gx-c1.yml": one("c1", did="gx\u0000c1")}, "gx-c1.yml (tenant gx-c1): did"),
        "escape in attr": (
            {"gx-c2.yml": one("c2", attrs={"plan": "a\u001b[2Jb"})},
            "gx-c2.yml (tenant gx-c2): attrs.plan 'a\\x1b[2Jb' holds a control character",
        ),
        "newline after domain": (
            {"gx-c3.yml": "domain: |\n  gx-c3.example\nsubscribers: []\n"},
            "gx-c3.yml (tenant gx-c3): domain 'gx-c3.example\\n' holds a control character",
        ),
        "tab in username": (
            {"gx-c4.yml": one("c4", subscribers=[{"username": "a\tb", "password": PASSWORD}])},
            "gx-c4.yml (tenant gx-c4): subscribers[0].username",
        ),
        "attr name control": (
            {"gx-c5.yml": one("c5", attrs={"\u0001plan": 1})},
            "gx-c5.yml (tenant gx-c5): attrs: attribute name",
        ),
        "integer out of range": (
            {"gx-o1.yml": one("o1", attrs={"tenant_id": 2**31})},
            "gx-o1.yml (tenant gx-o1): attrs.tenant_id: integer 2147483648 is outside",
        ),
        "value too long": (
            {"gx-o2.yml": one("o2", attrs={"plan": "p" * 256})},
            "gx-o2.yml (tenant gx-o2): attrs.plan: value is longer than 255",
        ),
        "username too long": (
            {"gx-o3.yml": one("o3", subscribers=[{"username": "u" * 65, "password": PASSWORD}])},
            "gx-o3.yml (tenant gx-o3): subscribers[0].username",
        ),
        "username as option": (
            {"gx-o4.yml": one("o4", subscribers=[{"username": "-rf", "password": PASSWORD}])},
            "gx-o4.yml (tenant gx-o4): subscribers[0].username '-rf' starts with '-'",
        ),
        "empty password": (
            {"gx-o5.yml": one("o5", subscribers=[{"username": "ann", "password": ""}])},
            "gx-o5.yml (tenant gx-o5): subscribers[0] (ann@gx-o5.example).password must not be",
        ),
        "null password": (
            {
                "gx-o6.yml": "domain: gx-o6.example\nsubscribers:\n"
                "  - username: ann\n    password:\n"
            },
            "subscribers[0] (ann@gx-o6.example).password must not be null",
        ),
        "ambiguous number": (
            {
                "gx-o7.yml": "domain: gx-o7.example\nsubscribers:\n"
                "  - {username: 0123, password: x}\n"
            },
            "gx-o7.yml: line 3, column 16: the number '0123' reads differently",
        ),
        "alias bomb": (
            {
                "gx-o8.yml": "domain: gx-o8.example\nattrs: &a {x: 1}\n"
                "subscribers: [&b {username: a, password: p}, *b]\nnotes: [*a, *a]\n"
            },
            "YAML aliases (*name) are not accepted",
        ),
        # another tenant's identity, inside the directory or in the database
        "domain in two files": (
            {"gx-d1.yml": one("d1"), "gx-d2.yml": one("d1")},
            "gx-d2.yml (tenant gx-d2): domain gx-d1.example is also claimed by gx-d1.yml",
        ),
        "did of another file": (
            {"gx-d3.yml": one("d3"), "gx-d4.yml": one("d4", did="gx-d3.example")},
            "gx-d4.yml (tenant gx-d4): did gx-d3.example is also claimed by gx-d3.yml",
        ),
    }
    return files


# Refused by the database side: the file is given alone, as a per-tenant pipeline gives it.
ALONE = {
    "another tenant's domain": (
        one("x", name="gx-thief", domain="companya.example"),
        "gx-thief.yml (tenant gx-thief): domain companya.example belongs to tenant companya",
    ),
    "another tenant's domain, absent": (
        json.dumps({"name": "gx-thief", "domain": "companyb.example", "state": "absent"}),
        "gx-thief.yml (tenant gx-thief): domain companyb.example belongs to tenant companyb",
    ),
    "another tenant's did": (
        one("thief", name="gx-thief", did="companyb"),
        "gx-thief.yml (tenant gx-thief): did companyb is used by domain(s) companyb.example",
    ),
}


@pytest.fixture(scope="module")
def marker(workdir):
    return workdir / ("PWNED-" + secrets.token_hex(4))


@pytest.fixture(scope="module")
def corpus(marker, vault):
    return cases(marker, vault)


def assert_refused(run, expected, db, before, marker, secret_values):
    assert run.rc != 0, repr(run)
    messages = run.failure_messages()
    assert len(messages) == 1, repr(run)
    assert expected in messages[0], messages
    assert "nothing was changed" in messages[0], messages
    assert run.tasks_run("Sync | Reload") == [], repr(run)
    assert not marker.exists(), "a payload ran a command"
    run.assert_no_secret(secret_values)
    assert db.snapshot() == before


NAMES = (
    "name",
    "domain",
    "did",
    "attr value",
    "attr name",
    "statement",
    "username",
    "password",
    "hash",
    "state",
    "unknown key",
    "inline vault",
    "whole-file vault",
    "nul in did",
    "escape in attr",
    "newline after domain",
    "tab in username",
    "attr name control",
    "integer out of range",
    "value too long",
    "username too long",
    "username as option",
    "empty password",
    "null password",
    "ambiguous number",
    "alias bomb",
    "domain in two files",
    "did of another file",
)


def test_the_corpus_is_the_one_listed(corpus):
    assert sorted(corpus) == sorted(NAMES)


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("mode", ["apply", "check"])
def test_hostile_directory_is_refused_before_any_write(
    case, mode, corpus, tenants_playbook, workdir, db, marker, vault
):
    files, expected = corpus[case]
    directory = write_dir(workdir / ("hostile-%s-%s" % (mode, NAMES.index(case))), files)
    before = db.snapshot()
    options = ["--check", "--diff"] if mode == "check" else ["--diff"]
    run = tenants_playbook({"kamailio_tenants_dir": str(directory)}, *options)
    secret_values = {PASSWORD, vault.password} | DB_SECRETS | stored_hashes(before)
    assert_refused(run, expected, db, before, marker, secret_values)


@pytest.mark.parametrize("case", sorted(ALONE))
@pytest.mark.parametrize("mode", ["apply", "check"])
def test_another_tenants_identity_is_refused(
    case, mode, tenants_playbook, workdir, db, marker, vault
):
    text, expected = ALONE[case]
    directory = write_dir(workdir / ("alone-%s-%s" % (mode, sorted(ALONE).index(case))), {})
    path = directory / "gx-thief.yml"
    path.write_text(text)
    before = db.snapshot()
    options = ["--check", "--diff"] if mode == "check" else ["--diff"]
    run = tenants_playbook({"kamailio_tenants_files": [str(path)]}, *options)
    assert_refused(run, expected, db, before, marker, {PASSWORD, vault.password} | DB_SECRETS)


@pytest.mark.parametrize("mode", ["apply", "check"])
def test_partial_directory_with_purge_removes_nothing(
    mode, tenants_playbook, workdir, db, marker, vault
):
    """A checkout that lost the other tenants' files: with purge on, the run would take every
    tenant the scenario has; more than kamailio_tenants_purge_max (1), so nothing goes."""
    directory = write_dir(workdir / ("partial-" + mode), {"gx-p.yml": one("p")})
    before = db.snapshot()
    owners = [row for row in before["domain_attrs"] if row["name"] == "tenant"]
    assert len(owners) >= 2, before  # companya and companyb at least
    options = ["--check", "--diff"] if mode == "check" else ["--diff"]
    run = tenants_playbook(
        {"kamailio_tenants_dir": str(directory), "kamailio_tenants_purge": True}, *options
    )
    expected = "the purge would remove %d tenants (companya (companya.example)" % len(owners)
    assert_refused(run, expected, db, before, marker, {PASSWORD, vault.password} | DB_SECRETS)
    assert db.snapshot()["subscriber"] == before["subscriber"]


@pytest.mark.parametrize("mode", ["apply", "check"])
def test_empty_directory_with_purge_removes_nothing(
    mode, tenants_playbook, workdir, db, marker, vault
):
    directory = write_dir(workdir / ("empty-" + mode), {})
    before = db.snapshot()
    options = ["--check", "--diff"] if mode == "check" else ["--diff"]
    run = tenants_playbook(
        {"kamailio_tenants_dir": str(directory), "kamailio_tenants_purge": True}, *options
    )
    assert_refused(
        run, "holds no tenant file", db, before, marker, {PASSWORD, vault.password} | DB_SECRETS
    )


def test_a_symbolic_link_to_a_controller_file_is_refused(
    tenants_playbook, workdir, db, marker, vault
):
    secret_file = workdir / "controller-secret.yml"
    secret_file.write_text("domain: gx-link.example\nnotes: %s\n" % PASSWORD)
    directory = write_dir(workdir / "symlink", {})
    (directory / "gx-link.yml").symlink_to(secret_file)
    before = db.snapshot()
    run = tenants_playbook({"kamailio_tenants_dir": str(directory)})
    assert_refused(
        run, "gx-link.yml is a symbolic link", db, before, marker, {PASSWORD, vault.password}
    )
