"""The unit type: parse, format and check `LAYER:KIND:UNIT`. Run: pytest tests/test_units.py"""

import pytest

from charnn.units import Unit


def test_parse_and_format_round_trip():
    u = Unit.parse("1:c:37")
    assert (u.layer, u.kind, u.index) == (1, "c", 37)
    assert str(u) == "1:c:37"
    assert Unit.parse(str(u)) == u
    assert Unit.parse((0, "sae-c", 5)) == Unit(0, "sae-c", 5)
    assert Unit.parse(u) is u


@pytest.mark.parametrize("bad", ["", "0:c", "0:c:x", "a:c:1", "0::1", "0:C:1", "0:c:-1", "-1:c:1", "0:sae:c:1", "1:c:2:3"])
def test_malformed_units_are_refused_with_the_expected_form(bad):
    with pytest.raises(ValueError, match="LAYER:KIND:UNIT"):
        Unit.parse(bad)


def test_check_names_what_exists():
    Unit.parse("1:h:255").check(layers=2, kinds=("c", "h"), width=256)
    with pytest.raises(ValueError, match=r"layers 0\.\.1"):
        Unit.parse("2:h:0").check(2, ("c", "h"), 256)
    with pytest.raises(ValueError, match="kinds c, h"):
        Unit.parse("0:f:0").check(2, ("c", "h"), 256)
    with pytest.raises(ValueError, match=r"units 0\.\.255"):
        Unit.parse("0:c:256").check(2, ("c", "h"), 256)


def test_units_sort_by_layer_kind_index():
    units = [Unit.parse(s) for s in ("1:c:0", "0:h:3", "0:c:10", "0:c:2")]
    assert [str(u) for u in sorted(units)] == ["0:c:2", "0:c:10", "0:h:3", "1:c:0"]
