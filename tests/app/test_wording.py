from saeviz.app.common.wording import counted


def test_counted_nouns_are_plural_unless_one():
    assert counted(1, "epoch") == "1 epoch"
    assert [counted(n, "round") for n in (0, 2, 30)] == ["0 rounds", "2 rounds", "30 rounds"]
