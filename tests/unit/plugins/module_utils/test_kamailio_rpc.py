"""What kamailio_reconcile reads from Kamailio's RPC replies (shapes as 5.6 and 6.0 send them)."""

from ansible_collections.sipstack.kamailio.plugins.module_utils.kamailio_rpc import (
    loaded_domains,
    registered_aors,
)
from ansible_collections.sipstack.kamailio.plugins.modules.kamailio_reconcile import why_reload

UL_DUMP = {
    "Domains": [
        {
            "Domain": {
                "Domain": "location",
                "Size": 1024,
                "AoRs": [{"AoR": "alice@a.example"}, {"AoR": "-x@b.example"}],
                "Stats": {"Records": 2, "Max-Slots": 1},
            }
        }
    ]
}
DOMAIN_DUMP = {
    "domains": [{"domain": "A.example", "did": "a.example"}, {"domain": "b.example", "did": "b"}],
    "attributes": [{"did": "b", "attrs": ["tenant", "plan"]}],
}


def test_registered_aors_of_a_dump():
    assert registered_aors(UL_DUMP) == ["alice@a.example", "-x@b.example"]
    assert registered_aors({"Domains": [{"Domain": {"Domain": "location"}}]}) == []
    assert registered_aors(None) == []


def test_loaded_domains_of_a_dump():
    pairs, names = loaded_domains(DOMAIN_DUMP)
    assert pairs == {("a.example", "a.example"), ("b.example", "b")}
    assert names == {"b": frozenset({"tenant", "plan"})}


def test_reload_when_domains_names_or_the_tables_differ():
    loaded = loaded_domains(DOMAIN_DUMP)
    database = ("d1", loaded[0], {"b": frozenset({"tenant", "plan"})})
    assert why_reload(loaded, database, "d1") is None
    assert why_reload(loaded, database, None) == "the domain tables changed since the last reload"
    assert why_reload(loaded, ("d1", {("a.example", "a.example")}, database[2]), "d1") == (
        "domains or dids differ from the database"
    )
    assert why_reload(loaded, ("d1", loaded[0], {"b": frozenset({"tenant"})}), "d1") == (
        "attribute names differ from the database"
    )
