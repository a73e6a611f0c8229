"""Accounts the molecule scenarios deploy: the same data as inventory/group_vars/all/tenants.yml.

Initial state (converge, playbooks/site.yml): companya with plaintext passwords, companyb with
precomputed ha1/ha1b only. After the tenants step (playbooks/tenants.yml): companyc added,
bob@companya removed, alice@companya's password changed.
"""

COMPANYA = "companya.example"
COMPANYB = "companyb.example"
COMPANYC = "companyc.example"
UNSERVED = "companyz.example"  # a domain no tenant has
PLATFORM_ALIAS = "sip.platform.example"  # kamailio_aliases where a scenario deploys them

ALICE_A = "alice@" + COMPANYA
BOB_A = "bob@" + COMPANYA
ERIN_A = "erin@" + COMPANYA  # registration-limit test only
ALICE_B = "alice@" + COMPANYB
BOB_B = "bob@" + COMPANYB
CAROL_B = "carol@" + COMPANYB
CAROL_A = "carol@" + COMPANYA  # carol exists in companyb only
DAVE_C = "dave@" + COMPANYC
ALICE_UNSERVED = "alice@" + UNSERVED

PASSWORD = {
    ALICE_A: "alice-A-secret1",
    BOB_A: "bob-A-secret1",
    ERIN_A: "erin-A-secret1",
    ALICE_B: "alice-B-secret1",
    BOB_B: "bob-B-secret1",
    CAROL_B: "carol-B-secret1",
}
# Set by the tenants step: alice@companya's new password, and companyc's user.
PASSWORD_AFTER_CHANGE = {
    ALICE_A: "alice-A-secret2",
    DAVE_C: "dave-C-secret1",
}

# The precomputed hashes in tenants.yml (companyb stores no password anywhere).
COMPANYB_HASHES = {
    "alice": ("813fc6ffe92c47964449379601fbfe22", "fdb5ca169ee931f9cf1036acba2b5144"),
    "bob": ("ff9a74a8eb39e69291e17bf5301dea0a", "f9745afa46fae71aee20e3b61b8f4d5b"),
    "carol": ("e88e9fd7edeac5ff20f8a3d174999864", "886297aa116274fd250595b356c58b4a"),
}

ALL_DOMAINS = (COMPANYA, COMPANYB, COMPANYC, UNSERVED, PLATFORM_ALIAS)
# The database accounts of group_vars/all/platform.yml: user -> (password, a plain core of it
# that any encoding of the password in a file keeps, for searching files).
DB_PASSWORDS = {
    "kamailio": ("K4m-db-Secret-7 @:/#?%'\"$(id)`;\\", "K4m-db-Secret-7"),
    "kamailioro": (' R0-db-Secret-8 "q" \\n $HOME', "R0-db-Secret-8"),
    "kamailio_tenants": ("T3n-db-Secret-9 @:/#?%'\"$ \\", "T3n-db-Secret-9"),
    "kamailio_kamctl": ("Ctl-db-Secret-10 @:/#?%'\"$ \\ ", "Ctl-db-Secret-10"),
}

# SIP outcomes the tests expect, and the clients every registration case runs with.
USER_AGENTS = ("sipp", "sipsak")
OK = 200
BAD_CREDENTIALS = 403  # challenged (401), then the credentials fail for the realm's account
REGISTERED = [401, OK]  # challenged, then accepted
REFUSED = [401, BAD_CREDENTIALS]  # challenged, then refused
CALL_REFUSED = [407, BAD_CREDENTIALS]  # the caller authenticated, then the call is refused
FORBIDDEN = 403
# What a callee's sipp UAS receives for a call with a re-INVITE
CALL_RECEIVED = ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
