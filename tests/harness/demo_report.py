"""Register every subscriber of the example tenants from a real SIP client; print a table.

Used by `make demo` after playbooks/site.yml converged the demo target. Inline `!vault` values
and whole-file vault are opened with Ansible's VaultLib, as the tenants role opens them.
Subscribers whose tenant file holds only ha1/ha1b take their password from the demo's phone
file (what real phones would get from provisioning).

Exit status: 0 when every result is the expected one, 1 otherwise.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted

SIP_DIR_IN_CLIENT = "/opt/sipstack-sip"


class Vaulted(str):
    """The ciphertext of an inline !vault value."""


class VaultYamlLoader(yaml.SafeLoader):
    """YAML with Ansible's !vault tag."""


VaultYamlLoader.add_constructor("!vault", lambda ldr, node: Vaulted(ldr.construct_scalar(node)))


def load_yaml(vault, path):
    text = Path(path).read_text(encoding="utf-8")
    if is_encrypted(text):
        text = vault.decrypt(text).decode("utf-8")
    return yaml.load(text, Loader=VaultYamlLoader)  # noqa: S506 - SafeLoader plus !vault


def plain(vault, value):
    """Decrypt an inline vault value (or pass a plain one through)."""
    if value is None:
        return None
    return vault.decrypt(value).decode("utf-8") if isinstance(value, Vaulted) else str(value)


def accounts(vault, tenants_dir, phones):
    """(tenant, domain, username, password) of every present subscriber of present tenants."""
    for path in sorted(Path(tenants_dir).glob("*.yml")):
        tenant = load_yaml(vault, path)
        if tenant.get("state", "present") != "present":
            continue
        domain = str(tenant["domain"]).lower()
        for sub in tenant.get("subscribers") or []:
            if sub.get("state", "present") != "present":
                continue
            user = str(sub["username"])
            password = plain(vault, sub.get("password")) or phones.get(domain, {}).get(user)
            if password is None:
                sys.exit(f"demo: no password known for {user}@{domain} (add it to the phone file)")
            yield str(tenant.get("name", path.stem)), domain, user, password


def sipcheck(client, *args):
    """Run tests/sip/sipcheck.py in the client container; return its JSON and milliseconds."""
    start = time.monotonic()
    proc = subprocess.run(
        ["docker", "exec", client, "python3", f"{SIP_DIR_IN_CLIENT}/sipcheck.py", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = (time.monotonic() - start) * 1000
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return {"final": None}, elapsed
    return json.loads(proc.stdout), elapsed


def code(result):
    return result.get("final") or "no answer"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants-dir", required=True)
    parser.add_argument("--phones", required=True, help="vaulted YAML: domain -> user -> password")
    parser.add_argument("--vault-password-file", required=True)
    parser.add_argument("--client", required=True, help="client container name")
    parser.add_argument("--proxy", required=True, help="Kamailio's address as the client sees it")
    args = parser.parse_args()

    secret = Path(args.vault_password_file).read_bytes().strip()
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(secret))])
    phones = {
        domain: {user: plain(vault, pw) for user, pw in users.items()}
        for domain, users in (load_yaml(vault, args.phones) or {}).items()
    }
    rows = list(accounts(vault, args.tenants_dir, phones))
    if not rows:
        sys.exit("demo: the tenant directory holds no subscriber")

    failures = 0
    print(f"\n{'tenant':<12} {'user':<28} {'SIP result':<16} {'ms':>6}")
    print(f"{'-' * 12} {'-' * 28} {'-' * 16} {'-' * 6}")
    for tenant, domain, user, password in rows:
        result, ms = sipcheck(
            args.client, "register", "--proxy", args.proxy,
            "--user", user, "--domain", domain, "--password", password,
        )  # fmt: skip
        ok = result.get("final") == 200
        failures += not ok
        verdict = "200 registered" if ok else f"{code(result)} FAILED"
        print(f"{tenant:<12} {user + '@' + domain:<28} {verdict:<16} {ms:>6.0f}")

    # Cross-tenant checks: the same username in another tenant is another account.
    by_user = {}
    for _tenant, domain, user, password in rows:
        by_user.setdefault(user, []).append((domain, password))
    shared = next(((u, d) for u, d in by_user.items() if len(d) >= 2), None)
    print("\nCross-tenant attempts (must be refused):")
    if shared is None:
        print("  no username is shared by two tenants in the example; nothing to show")
        failures += 1
    else:
        user, ((domain_a, password_a), (domain_b, _password_b)) = shared[0], shared[1][:2]
        result, _ms = sipcheck(
            args.client, "register", "--proxy", args.proxy,
            "--user", user, "--domain", domain_b, "--password", password_a,
        )  # fmt: skip
        refused = result.get("final") not in (200, None)
        failures += not refused
        print(
            f"  REGISTER {user}@{domain_b} with {user}@{domain_a}'s password: "
            f"{code(result)} {'refused, as expected' if refused else 'NOT REFUSED'}"
        )
        # The namesake in the other tenant: the case MULTIDOMAIN exists for.
        callee = user
        result, _ms = sipcheck(
            args.client, "call", "--proxy", args.proxy,
            "--caller", f"{user}@{domain_a}", "--password", password_a,
            "--callee", f"{callee}@{domain_b}",
        )  # fmt: skip
        refused = result.get("final") == 403
        failures += not refused
        print(
            f"  INVITE from {user}@{domain_a} to {callee}@{domain_b}: "
            f"{code(result)} {'refused, as expected' if refused else 'NOT REFUSED WITH 403'}"
        )

    total = len(rows) + 2
    print(f"\ndemo: {total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
