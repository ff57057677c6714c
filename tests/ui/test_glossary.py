"""Every Chinese string the page shows writes each glossary term one way (genimg/ui/glossary.py)."""

import app  # noqa: F401  (building the page registers every tab's strings)
from genimg.ui.glossary import TERMS, variants_in
from genimg.ui.i18n import table


def test_the_glossary_names_each_term_once():
    english = [term.english for term in TERMS]
    assert len(english) == len(set(english))
    for term in TERMS:  # a term's own word is never also one of the words to avoid, here or for another term
        assert all(term.chinese not in other.avoid for other in TERMS), term


def test_no_chinese_string_uses_an_avoided_variant():
    chinese = table("zh-CN")
    assert len(chinese) > 100  # the page's tables are registered (a check over nothing proves nothing)
    found = {key: [(variant, term.chinese) for variant, term in variants_in(text)]
             for key, text in chinese.items() if variants_in(text)}
    assert found == {}


def test_the_check_catches_a_variant():
    assert [(variant, term.chinese) for variant, term in variants_in("把图片编码到潜在空间")] == [("潜在空间", "隐空间")]
