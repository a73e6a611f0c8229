"""Tenants kept as files (GitOps): playbooks/tenants.yml run as an operator runs it.

Every test writes tenant files into its own temporary directory, runs
`ansible-playbook -i $MOLECULE_INVENTORY_FILE playbooks/tenants.yml` on the controller and
compares the target's `domain`, `domain_attrs` and `subscriber` rows before and after (full
rows: ids, hashes and last_modified included, so a rewrite of an unchanged row shows).

The tenants created here all have domains and dids starting with `gx-`; they are removed before
and after the module, so the module can run again on a kept instance. The scenario's own
tenants (whatever the earlier stages left) are only read: each run passes
`kamailio_tenants: []` to override the inventory's tenant list, and a purge run names them as
tenants built from the database itself (domain and did only, nothing to change), so that only
the tenant whose file was deleted goes.

Secrets are random per run (passwords, vault password), so a search of the output for them is
meaningful. The tests run in file order; each asserts only what holds whichever of the others
ran before it (all of them start from the `loaded` fixture's run).
"""

import secrets

import pytest
from gitops_support import (
    PREFIX,
    digest_hashes,
    md5,
    new_password,
    stored_hashes,
    tenant_text,
    without,
    write_dir,
)

PLAIN, INLINE, WHOLE, HASHES, NEW = (
    "gx-plain.example",
    "gx-inline.example",
    "gx-whole.example",
    "gx-hashes.example",
    "gx-new.example",
)
HASHES_DID = "gx-hashes-did"

CHANGES_TASK = "Sync | Show what changed, per tenant"
DRIFT_TASK = "Drift | Report what the database holds that the tenants do not"


# --- The tenants of this module -----------------------------------------------------------------


@pytest.fixture(scope="module")
def world(vault):
    """Passwords (random) and the texts of every tenant file the tests use."""
    pw = {
        (PLAIN, "alice"): new_password(),
        (PLAIN, "bob"): new_password(),
        (INLINE, "alice"): new_password(),
        (INLINE, "bob"): new_password(),
        (WHOLE, "alice"): new_password(),
        (WHOLE, "dave"): new_password(),
        (HASHES, "carol"): new_password(),  # only its hashes are written anywhere
    }
    changed = {
        (PLAIN, "alice"): new_password(),  # isolation test
        (PLAIN, "erin"): new_password(),
        (INLINE, "alice"): new_password(),  # check/diff test
        (INLINE, "frank"): new_password(),
        (NEW, "gina"): new_password(),
    }
    vaulted = vault.encrypt_strings(
        {
            "inline_alice": pw[(INLINE, "alice")],
            "inline_bob": pw[(INLINE, "bob")],
            "inline_alice_new": changed[(INLINE, "alice")],
            "inline_frank": changed[(INLINE, "frank")],
        }
    )
    carol = digest_hashes("carol", HASHES, pw[(HASHES, "carol")])

    files = {
        # no name: the tenant is named after the file
        "gx-plain.yml": tenant_text(
            PLAIN,
            [
                {"username": "alice", "password": pw[(PLAIN, "alice")]},
                {"username": "bob", "password": pw[(PLAIN, "bob")]},
            ],
            attrs={"tenant_id": 9101},
        ),
        "gx-inline.yml": tenant_text(
            INLINE,
            [
                {"username": "alice", "vault": vaulted["inline_alice"]},
                {"username": "bob", "vault": vaulted["inline_bob"]},
            ],
            name="gx-inline",
            purge_subscribers=True,
        ),
        "gx-whole.yml": vault.encrypt_text(
            tenant_text(
                WHOLE,
                [
                    {"username": "alice", "password": pw[(WHOLE, "alice")]},
                    {"username": "dave", "password": pw[(WHOLE, "dave")]},
                ],
                name="gx-whole",
                attrs={"plan": "gold"},
                purge_subscribers=True,
            )
        ),
        "gx-hashes.yaml": tenant_text(
            HASHES,
            [{"username": "carol", "ha1": carol[0], "ha1b": carol[1]}],
            name="gx-hashes",
            did=HASHES_DID,
            attrs={"tenant_id": 9104, "plan": "silver"},
        ),
    }
    variants = {
        # alice's password changed, erin added, bob kept (purge_subscribers is off)
        "gx-plain.yml": tenant_text(
            PLAIN,
            [
                {"username": "alice", "password": changed[(PLAIN, "alice")]},
                {"username": "bob", "password": pw[(PLAIN, "bob")]},
                {"username": "erin", "password": changed[(PLAIN, "erin")]},
            ],
            attrs={"tenant_id": 9101},
        ),
        # alice's password changed, frank added, bob no longer listed (purge_subscribers)
        "gx-inline.yml": tenant_text(
            INLINE,
            [
                {"username": "alice", "vault": vaulted["inline_alice_new"]},
                {"username": "frank", "vault": vaulted["inline_frank"]},
            ],
            name="gx-inline",
            purge_subscribers=True,
        ),
        "gx-new.yml": tenant_text(
            NEW, [{"username": "gina", "password": changed[(NEW, "gina")]}], name="gx-new"
        ),
    }

    class World:
        pass

    w = World()
    w.pw, w.changed, w.files, w.variants, w.carol = pw, changed, files, variants, carol
    w.secrets = set(pw.values()) | set(changed.values()) | set(carol) | {vault.password}
    return w


@pytest.fixture(scope="module")
def loaded(tenants_playbook, world, workdir, db, clean_slate):
    """The four tenants of world.files, loaded from one directory (what the tests start from)."""
    before = db.snapshot()
    tenants_dir = write_dir(workdir / "tenants-initial", world.files)
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    return run, before, tenants_dir


# --- 1. Directory loading -----------------------------------------------------------------------


def test_directory_loading_creates_every_tenant(loaded, world, db):
    run, before, _tenants_dir = loaded
    assert run.recap["changed"] > 0, repr(run)
    # names: from the file (gx-plain has no name key) or the name key; .yml and .yaml both read
    changes = run.debug_msg(CHANGES_TASK)
    assert sorted(changes) == ["gx-hashes", "gx-inline", "gx-plain", "gx-whole"], changes

    domains = db.domains()
    assert {PLAIN, INLINE, WHOLE, HASHES} <= set(domains)
    assert domains[HASHES]["did"] == HASHES_DID
    assert domains[PLAIN]["did"] == "NULL"
    # each domain records its tenant (the file name when the file gives no name)
    assert db.attrs(PLAIN) == {"tenant_id": ("0", "9101"), "tenant": ("2", "gx-plain")}
    assert db.attrs(HASHES_DID) == {
        "tenant_id": ("0", "9104"),
        "plan": ("2", "silver"),
        "tenant": ("2", "gx-hashes"),
    }

    plain = db.users(PLAIN)
    assert sorted(plain) == ["alice", "bob"]
    for user, row in plain.items():
        assert (row["ha1"], row["ha1b"]) == digest_hashes(user, PLAIN, world.pw[(PLAIN, user)])
    carol = db.users(HASHES)["carol"]
    assert (carol["ha1"], carol["ha1b"]) == world.carol  # stored as given

    # no plaintext anywhere; the tenants that existed before are untouched
    after = db.snapshot()
    gx_rows = [r for r in after["subscriber"] if r["domain"].startswith(PREFIX)]
    assert len(gx_rows) == 7
    assert [r for r in gx_rows if r["password"]] == []
    assert without(after, {PLAIN, INLINE, WHOLE, HASHES}) == before

    assert changes["gx-plain"] == {
        "domain": PLAIN,
        "domain_added": True,
        "users_added": ["alice", "bob"],
    }
    run.assert_no_secret(world.secrets)


# --- 2. Vault values ----------------------------------------------------------------------------


def test_vault_values_are_decrypted_into_the_hashes(loaded, world, db):
    run, _before, tenants_dir = loaded
    # the files really are vaulted: the plaintext is nowhere in them
    whole = (tenants_dir / "gx-whole.yml").read_text()
    inline = (tenants_dir / "gx-inline.yml").read_text()
    assert whole.startswith("$ANSIBLE_VAULT;")
    assert "password: !vault |" in inline
    for (domain, _user), password in world.pw.items():
        assert password not in whole and password not in inline, domain

    for domain, users in ((INLINE, ["alice", "bob"]), (WHOLE, ["alice", "dave"])):
        rows = db.users(domain)
        assert sorted(rows) == users, domain
        for user in users:
            expected = digest_hashes(user, domain, world.pw[(domain, user)])
            assert (rows[user]["ha1"], rows[user]["ha1b"]) == expected, "%s@%s" % (user, domain)
            assert rows[user]["password"] == ""
    # the whole-file vault tenant's attributes came through as well
    assert db.attrs(WHOLE) == {"plan": ("2", "gold"), "tenant": ("2", "gx-whole")}
    run.assert_no_secret(world.secrets)


# --- 3. A deleted tenant file, with and without kamailio_tenants_purge -------------------------


def test_deleted_tenant_file_is_left_alone_without_purge(
    loaded, tenants_playbook, world, workdir, db
):
    files = {k: v for k, v in world.files.items() if k != "gx-hashes.yaml"}
    tenants_dir = write_dir(workdir / "tenants-deleted", files)
    before = db.snapshot()
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    assert run.recap["changed"] == 0, repr(run)
    assert db.snapshot() == before  # gx-hashes' domain, attrs and carol are still there
    assert "carol" in db.users(HASHES)


def test_deleted_tenant_file_is_purged_with_purge(
    loaded, tenants_playbook, world, workdir, db, kept_tenants
):
    files = {k: v for k, v in world.files.items() if k != "gx-hashes.yaml"}
    tenants_dir = write_dir(workdir / "tenants-purge", files)
    before = db.snapshot()
    assert "carol" in db.users(HASHES)
    extra = {
        "kamailio_tenants_dir": str(tenants_dir),
        "kamailio_tenants_purge": True,
        # the tenants that are not this module's, as they are: a purge must not take them
        "kamailio_tenants": kept_tenants,
    }
    run = tenants_playbook(extra, "--diff")
    run.assert_ok()
    assert run.recap["changed"] > 0, repr(run)

    assert HASHES not in db.domains()
    assert db.users(HASHES) == {}
    assert db.attrs(HASHES_DID) == {}
    # everything else byte for byte as before: the other tenants, the pre-existing ones
    assert db.snapshot() == without(before, {HASHES})
    changes = run.debug_msg(CHANGES_TASK)
    assert changes == {
        "gx-hashes": {
            "domain": HASHES,
            "domain_removed": True,
            "users_removed": ["carol"],
        }
    }


# --- 4. A broken tenant file stops the run before any write -------------------------------------

BROKEN_PASSWORD = "gx-broken: pw-" + secrets.token_hex(6)  # ": " makes it invalid unquoted
BROKEN = {
    # a password with ": " in it, unquoted: not YAML; the error must not quote the line
    "invalid_yaml": (
        "---\nname: gx-broken\ndomain: gx-broken.example\nsubscribers:\n"
        "  - username: x\n    password: %s\n" % BROKEN_PASSWORD,
        "gx-broken.yml: line 6, column",
    ),
    "bad_domain": (
        tenant_text(
            "not a domain!", [{"username": "x", "password": BROKEN_PASSWORD}], name="gx-broken"
        ),
        "is not a DNS name",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_tenant_file_fails_before_any_write(
    loaded, tenants_playbook, world, workdir, db, kind
):
    text, complaint = BROKEN[kind]
    files = dict(world.files)
    # valid changes beside the broken file: a new tenant and a changed password that a run
    # which did not stop first would write
    files["gx-new.yml"] = world.variants["gx-new.yml"]
    files["gx-plain.yml"] = world.variants["gx-plain.yml"]
    files["gx-broken.yml"] = text
    tenants_dir = write_dir(workdir / ("tenants-broken-" + kind), files)
    before = db.snapshot()

    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    assert run.rc != 0, repr(run)
    messages = run.failure_messages()
    assert len(messages) == 1, repr(run)
    # the message names the file and what is wrong with it
    assert "gx-broken.yml" in messages[0], messages
    assert complaint in messages[0], messages
    assert "nothing was changed" in messages[0], messages
    assert run.tasks_run("Sync | Reload") == [], repr(run)
    run.assert_no_secret(world.secrets | {BROKEN_PASSWORD, BROKEN_PASSWORD.split(": ")[1]})
    assert db.snapshot() == before
    assert NEW not in db.domains()


# --- 5. Per-tenant isolation --------------------------------------------------------------------


def test_run_with_one_tenant_file_changes_only_that_tenant(
    loaded, tenants_playbook, world, workdir, db
):
    only = write_dir(workdir / "tenants-one", {"gx-plain.yml": world.variants["gx-plain.yml"]})
    before = db.snapshot()
    old = db.users(PLAIN)
    run = tenants_playbook({"kamailio_tenants_files": [str(only / "gx-plain.yml")]}, "--diff")
    run.assert_ok()

    users = db.users(PLAIN)
    assert sorted(users) == ["alice", "bob", "erin"]
    for user in ("alice", "erin"):
        expected = digest_hashes(user, PLAIN, world.changed[(PLAIN, user)])
        assert (users[user]["ha1"], users[user]["ha1b"]) == expected, user
    assert users["bob"] == old["bob"]
    # every other tenant, and gx-plain's own domain and attribute rows, byte for byte
    after = db.snapshot()
    assert without(after, {PLAIN}) == without(before, {PLAIN})
    assert [r for r in after["domain"] if r["domain"] == PLAIN] == [
        r for r in before["domain"] if r["domain"] == PLAIN
    ]
    assert run.debug_msg(CHANGES_TASK) == {
        "gx-plain": {"domain": PLAIN, "users_added": ["erin"], "password_changed": ["alice"]}
    }
    run.assert_no_secret(world.secrets)


# --- 6. --check --diff: names, no secrets, no write ---------------------------------------------


def test_check_diff_names_the_changes_and_no_secret(
    loaded, tenants_playbook, world, workdir, db, kept_tenants
):
    files = {
        "gx-plain.yml": world.variants["gx-plain.yml"],  # as the previous test left it
        "gx-inline.yml": world.variants["gx-inline.yml"],  # alice changed, frank new, bob gone
        "gx-new.yml": world.variants["gx-new.yml"],  # a new tenant
        # gx-whole.yml deleted: with kamailio_tenants_purge its domain and users would go
    }
    tenants_dir = write_dir(workdir / "tenants-check", files)
    before = db.snapshot()
    assert WHOLE in db.domains() and "bob" in db.users(INLINE)
    extra = {
        "kamailio_tenants_dir": str(tenants_dir),
        "kamailio_tenants_purge": True,
        "kamailio_tenants": kept_tenants,
    }
    run = tenants_playbook(extra, "--check", "--diff")
    run.assert_ok()
    assert run.recap["changed"] > 0, repr(run)

    changes = run.debug_msg(CHANGES_TASK)
    assert changes["gx-inline"] == {
        "domain": INLINE,
        "users_added": ["frank"],
        "users_removed": ["bob"],
        "password_changed": ["alice"],
    }
    assert changes["gx-new"] == {"domain": NEW, "domain_added": True, "users_added": ["gina"]}
    assert changes["gx-whole"] == {
        "domain": WHOLE,
        "domain_removed": True,
        "users_removed": ["alice", "dave"],
    }
    # the module diffs name them too
    for name in (INLINE, NEW, WHOLE, "frank", "gina"):
        assert name in run.output, name
    # no password (old or new, vaulted or not), no stored or given hash, no vault password
    run.assert_no_secret(world.secrets | stored_hashes(before))
    assert db.snapshot() == before


# --- 7. The drift report ------------------------------------------------------------------------


def test_drift_report_names_what_was_changed_by_hand_and_writes_nothing(
    loaded, tenants_playbook, world, workdir, db
):
    mallory = digest_hashes("mallory", INLINE, new_password())
    db.execute(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) "
        "VALUES ('mallory', {}, '', {}, {})",
        INLINE,
        *mallory,
    )
    db.execute(  # bob's password changed behind the tenant file's back
        "UPDATE subscriber SET ha1 = {}, ha1b = {} WHERE username = 'bob' AND domain = {}",
        md5("gx-by-hand-1"),
        md5("gx-by-hand-2"),
        INLINE,
    )
    tenants_dir = write_dir(
        workdir / "tenants-drift", {"gx-inline.yml": world.files["gx-inline.yml"]}
    )
    before = db.snapshot()

    # both ways to ask for the report: the variable and the tag
    for extra, options in (
        ({"kamailio_tenants_drift_report": True}, ["--diff"]),
        ({}, ["--tags", "drift"]),
    ):
        run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir), **extra}, *options)
        run.assert_ok()
        assert run.recap["changed"] == 0, repr(run)
        report = run.debug_msg(DRIFT_TASK)
        assert report["in_sync"] is False
        assert report["tenants"] == {
            "gx-inline": {"users_not_in_tenant_list": ["mallory"], "passwords_differ": ["bob"]}
        }
        assert {PLAIN, WHOLE} <= set(report["domains_not_in_tenant_list"])
        assert INLINE not in report["domains_not_in_tenant_list"]
        assert run.tasks_run("Sync |") == [], repr(run)
        assert run.tasks_run("Drift | Report") == [
            "Drift | Report what the database holds that the tenants do not"
        ]
        run.assert_no_secret(world.secrets | stored_hashes(before))
        assert db.snapshot() == before

    # the same file applied (purge_subscribers: true) puts the tenant back as the file says
    run = tenants_playbook({"kamailio_tenants_dir": str(tenants_dir)}, "--diff")
    run.assert_ok()
    users = db.users(INLINE)
    assert sorted(users) == ["alice", "bob"]
    bob = digest_hashes("bob", INLINE, world.pw[(INLINE, "bob")])
    assert (users["bob"]["ha1"], users["bob"]["ha1b"]) == bob
    old_alice = [
        r for r in before["subscriber"] if r["domain"] == INLINE and r["username"] == "alice"
    ]
    assert [users["alice"]] == old_alice
    assert without(db.snapshot(), {INLINE}) == without(before, {INLINE})
