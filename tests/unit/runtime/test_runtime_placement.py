from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from fabric._runtime.placement import owner
from fabric.actor import ActorAddress

HOSTS = ["h0", "h1", "h2", "h3"]


def test_owner_is_deterministic_and_from_the_list() -> None:
    a = ActorAddress("call", "c-1")
    assert owner(a, HOSTS) == owner(a, list(reversed(HOSTS)))
    assert owner(a, HOSTS) in HOSTS
    assert owner(a, []) is None


def test_keys_spread_over_hosts() -> None:
    counts = Counter(owner(ActorAddress("call", str(i)), HOSTS) for i in range(4000))
    assert set(counts) == set(HOSTS)
    assert min(counts.values()) > 800  # ~1000 each


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True))
def test_only_the_lost_hosts_keys_move(keys: list[str]) -> None:
    before = {k: owner(ActorAddress("t", k), HOSTS) for k in keys}
    survivors = [h for h in HOSTS if h != "h2"]
    for k, was in before.items():
        now = owner(ActorAddress("t", k), survivors)
        if was != "h2":
            assert now == was
        else:
            assert now in survivors


def test_kind_is_part_of_the_identity() -> None:
    owners = {owner(ActorAddress(kind, "same"), HOSTS) for kind in ("a", "b", "c", "d", "e")}
    assert len(owners) > 1
