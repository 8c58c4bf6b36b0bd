"""classify: built-in knowledge plus keywords, whole words, case-aware acronyms, demonyms,
multi-word names, weights, ties, thresholds, `classify: always`, explanations."""

from __future__ import annotations

from dataclasses import replace

import pytest

from digest.classify import (
    ELSEWHERE_ID,
    ELSEWHERE_TITLE,
    Lexicon,
    SectionSpec,
    Verdict,
    classify_stories,
    found_terms,
    judge,
)
from digest.lexicon import lexicon_names, load_lexicon
from digest.models import Item, Story

SMALL_SPECS = [
    SectionSpec("tech", "Tech", (("AI", 3), ("chip", 3), ("Nvidia", 4), ("5G", 3),
                                 ("semiconductor", 3), ("Apple", 1))),
    SectionSpec("africa", "Africa", (("Kenya", 3), ("Kenyan", 3), ("AU", 3),
                                     ("South Africa", 3), ("Africa", 3), ("Abidjan", 3))),
    SectionSpec("europe", "Europe", (("EU", 3), ("Germany", 3), ("German", 3),
                                     ("Bundestag", 3), ("NATO", 2))),
]


def small() -> Lexicon:
    """A small lexicon, built anew for each test (so that building it is tested too)."""
    return Lexicon(SMALL_SPECS)


def story(title: str, summary: str = "", feed: str = "https://world.example/feed") -> Story:
    it = Item(feed_url=feed, key="k", url="https://x.example/" + str(abs(hash(title))),
              title=title, summary=summary, published=None, source="World")
    return Story(title=title, url=it.url, source="World", published=None, summary=summary,
                 weight=1.0, items=(it,))


def placed(title: str, summary: str = "", lexicon: Lexicon | None = None,
           feed_section: str | None = None) -> Story | None:
    """The story as classify_stories places it, None when no section's words reach the
    threshold (and no fallback); `feed_section`: the feed's own, with `classify: always`."""
    feed = "https://world.example/feed"
    found, dropped = classify_stories(
        [story(title, summary, feed)], lexicon or small(),
        {feed: feed_section} if feed_section else {},
        fallback=None, always=True)
    assert len(found) + len(dropped) == 1
    return found[0] if found else None


def section_of(title: str, summary: str = "", lexicon: Lexicon | None = None) -> str | None:
    found = placed(title, summary, lexicon)
    return found.section if found else None


def test_words_pick_the_section() -> None:
    assert section_of("Nvidia wins licence to sell chips in China") == "tech"
    assert section_of("Kenyan court halts airport deal") == "africa"
    assert section_of("Bundestag passes the budget") == "europe"


def test_acronyms_are_case_sensitive_and_whole_words() -> None:
    assert section_of("Said the official", "He said it was fair") is None  # "ai" in words
    assert section_of("The aid arrived", "a European Eu-phoria, an eu note") is None
    assert section_of("AI rules arrive") == "tech"
    assert section_of("Eu officials meet") is None  # "EU" written otherwise is no acronym
    assert section_of("Chipmakers rally") is None  # "chip" only as a whole word
    assert section_of("Two chips shortages") == "tech"  # plural of a plain word
    assert section_of("KENYA: court halts deal") == "africa"  # a word in capitals still counts


def test_multi_word_names_possessives_hyphens_and_accents() -> None:
    assert section_of("Rand slides as South Africa's coalition wobbles") == "africa"
    assert section_of("A Kenya-based lender grows") == "africa"
    south_africa = placed("South Africa votes")
    assert south_africa is not None and south_africa.section_reason.count("Africa") == 1  # once
    accented = Lexicon([SectionSpec("europe", "Europe", (("Orbán", 3),))])
    assert section_of("Orban hosts Rubio", lexicon=accented) == "europe"


def test_title_counts_twice_and_weights_add_up() -> None:
    # EU in the title (3 x 2 = 6) beats Kenyan in the summary (3).
    assert section_of("EU fines a social network", "The Kenyan regulator watches") == "europe"
    curbs = placed("Nvidia chip curbs", "The AI race")
    assert curbs is not None and curbs.section == "tech"
    assert curbs.section_reason.startswith(f"tech {4 * 2 + 3 * 2 + 3} (")


def test_below_the_minimum_a_story_has_no_section() -> None:
    _, dropped = classify_stories([story("Apple harvest", "Orchards report a good year")],
                                  small(), {}, fallback=None)
    assert dropped == ["unmatched, dropped: 'Apple harvest' (World): tech 2 (Apple 2): "
                       "below 5"]  # Apple weighs 1 (x2 in the title) < 5


def test_ties_go_to_the_feeds_section_else_the_first_section() -> None:
    assert section_of("AI and Kenya") == "tech"  # tech 6, africa 6
    tied = placed("AI and Kenya", feed_section="africa")
    assert tied is not None and tied.section == "africa"


def test_what_a_title_is_about_beats_where_it_happened() -> None:
    # issue 23: after "in", "at", "after", "during" ... a title says where or when; its terms
    # there count as the summary's (x1), unless the title's subject names none
    assert section_of("AI in Kenya") == "tech"  # tech 6, africa 3
    assert section_of("Kenya hosts summit in Germany") == "africa"  # africa 6, europe 3
    assert section_of("Germany hosts summit in Kenya") == "europe"
    assert section_of("Kenyan police arrest suspect during Nvidia event") == "africa"  # 6 > 4
    aside = placed("Floods hit farms in Kenya")  # nothing before "in": the place still counts
    assert aside is not None and aside.section_reason == "africa 6 (Kenya 6)"
    assert section_of("In Kenya, AI rules") == "tech"  # a first word is no aside


def test_a_sections_weight_multiplies_its_words() -> None:
    heavy = Lexicon([SectionSpec("tech", "Tech", (("AI", 3),)),
                     SectionSpec("africa", "Africa", (("Kenya", 3),), weight=2.0)])
    kenya = placed("AI and Kenya", lexicon=heavy)
    assert kenya is not None and kenya.section == "africa"
    assert kenya.section_reason.startswith("africa 12 (")  # 3 x 2 (title) x 2


def test_exclude_removes_a_word_from_a_section() -> None:
    lexicon = Lexicon([SectionSpec("tech", "Tech", (("Apple", 3), ("AI", 3)),
                                   exclude=("apple",))])
    assert section_of("Apple pickers strike", lexicon=lexicon) is None
    assert section_of("AI pickers strike", lexicon=lexicon) == "tech"


def test_fixed_feed_section_overrides_words_and_fallback_applies() -> None:
    fixed = story("Bundestag debates AI", feed="https://tech.example/feed")
    nothing = story("Fed holds rates", "Markets shrug")
    placed, dropped = classify_stories([fixed, nothing], small(),
                                       {"https://tech.example/feed": "africa"})
    assert [(s.section, s.section_reason.split(":")[-1].strip()) for s in placed] == [
        ("africa", "feed section africa"), ("elsewhere", "fallback elsewhere")]
    assert dropped == []
    placed, dropped = classify_stories([nothing], small(), {}, fallback=None)
    assert placed == [] and "Fed holds rates" in dropped[0]


def test_classify_always_sorts_fixed_feeds_too() -> None:
    feeds = {"https://tech.example/feed": "tech"}
    europe = story("Bundestag passes the budget", feed="https://tech.example/feed")
    vague = story("Quarterly results", feed="https://tech.example/feed")
    placed, _ = classify_stories([europe, vague], small(), feeds, always=True)
    assert [s.section for s in placed] == ["europe", "tech"]  # the feed's section catches
    assert "feed section tech" in placed[1].section_reason


def test_reason_names_the_section_score_and_words() -> None:
    placed, _ = classify_stories([story("Nvidia chip curbs", "The AI race in Kenya")], small(), {})
    reason = placed[0].section_reason
    assert reason.startswith("tech 17 (")
    assert "Nvidia 8" in reason and "chip 6" in reason and "AI 3" in reason
    assert "also africa 3" in reason
    assert set(placed[0].section_terms) == {"Nvidia", "chip", "AI"}


# --- the built-in knowledge ---


@pytest.fixture(scope="module")
def builtin() -> Lexicon:
    return Lexicon([SectionSpec(name, name.title(), load_lexicon(name))
                    for name in ("tech", "africa", "europe")])


def test_the_built_in_word_lists_exist_and_are_big() -> None:
    assert {"africa", "europe", "tech"} <= set(lexicon_names())
    for name in ("africa", "europe", "tech"):
        assert len(load_lexicon(name)) > 150, name


# The six GZERO stories of issue 5, in our own words.
GZERO = [
    ("tech", "US tightens the screws on Huawei with a wider export ban",
     "Washington added dozens of the company's suppliers to its entity list, cutting off "
     "access to American chipmaking tools and software."),
    ("tech", "Microsoft's new AI report says adoption is racing ahead of regulation",
     "The company's annual survey finds generative AI tools in most offices, and warns that "
     "rules on data and safety lag behind."),
    ("africa", "Protests spread in Abidjan as unions join fuel-price strike",
     "Police fired tear gas in Yopougon as Ivorian workers blocked roads over the removal of "
     "fuel subsidies by President Alassane Ouattara's government."),
    ("africa", "Africa's ageing leaders: the youngest continent has some of the oldest rulers",
     "From Cameroon's Paul Biya to Ivory Coast's Ouattara, presidents in their eighties "
     "govern populations with a median age under 20."),
    ("tech", "Nvidia gets licences to sell its China-specific chips again",
     "The chipmaker says Washington approved exports of its H20 accelerators to Chinese "
     "customers after months of uncertainty."),
    ("europe", "Friedrich Merz's first 100 days: a chancellor in a hurry",
     "Germany's new chancellor has pushed a defence spending surge and a migration "
     "crackdown through the Bundestag, but his coalition partners are restless."),
]


@pytest.mark.parametrize(("expected", "title", "summary"), GZERO)
def test_the_six_gzero_stories_land_where_readers_expect(
        builtin: Lexicon, expected: str, title: str, summary: str) -> None:
    assert section_of(title, summary, builtin) == expected


# --- how words are found (found_terms: what digest.features stores for each item) ---

WORDS_SPECS = [
    SectionSpec("africa", "Africa", (
        ("South Africa", 3), ("Africa", 1), ("African Union summit", 4), ("African Union", 2),
        ("Central African Republic", 3), ("Central Bank", 2), ("Côte d'Ivoire", 3),
        ("Democratic Republic of the Congo", 4), ("Kenya", 3), ("United States", 1))),
    SectionSpec("tech", "Tech", (
        ("GPU", 3), ("AI", 3), ("AI", 1), ("US FDA", 2), ("chip", 3), ("business", 1),
        ("bit", 1), ("Apple", 3), ("Golden Dawn", 2), ("—", 3))),
    SectionSpec("europe", "Europe", (("UK", 3), ("EU", 3))),
]


def words_lexicon() -> Lexicon:
    return Lexicon(WORDS_SPECS)


def terms(summary: str) -> list[str]:
    """The terms found in a summary (no title), as the lexicon writes them."""
    return [term for _, term, _ in found_terms("", summary, words_lexicon())]


@pytest.mark.parametrize(("text", "found"), [
    ("South Africa votes", ["South Africa"]),  # the longest term, not also "Africa"
    ("KENYA AND SOUTH AFRICA", ["Kenya", "South Africa"]),  # names in capitals too
    ("South Africa and Kenya", ["South Africa", "Kenya"]),  # on after a longer term
    ("African Union summits open", ["African Union summit"]),  # a longer term's plural
    ("the African Union meets", ["African Union"]),
    ("Central African Republic votes", ["Central African Republic"]),
    ("the Central Bank raises rates", ["Central Bank"]),
    ("Democratic Republic of the Congo votes", ["Democratic Republic of the Congo"]),
    ("United States", ["United States"]),  # a term ending in s is not a plural
    ("Côte d’Ivoire", ["Côte d'Ivoire"]), ("Cote d'Ivoire", ["Côte d'Ivoire"]),  # accents
    ("Kenya’s president", ["Kenya"]),  # a possessive, curly
    ("GPUs sold out", ["GPU"]), ("AIs", ["AI"]),  # acronyms' plurals
    ("GPUX", []), ("Gpu", []),  # ... but only theirs
    ("Ai Weiwei", []),  # an acronym matches only in capitals
    ("the US FDA approved it", ["US FDA"]), ("us fda", []), ("Us Fda", []),
    ("chips", ["chip"]), ("businesses", ["business"]), ("bits", ["bit"]),  # plain plurals
    ("chipx", []),
    ("Apple", ["Apple"]), ("apples", []), ("apple growers", []),  # a name: no common word
    ("Golden Dawn leader", ["Golden Dawn"]), ("a golden dawn", []),
    # abbreviations written with dots are their letters (issue 23: "U.K." was missed)
    ("U.K. inflation eases", ["UK"]), ("the U.K.'s budget", ["UK"]), ("E.U. rules", ["EU"]),
    ("U.K.-based lenders", ["UK"]), ("A.I. rules", ["AI"]), ("U.S. FDA", ["US FDA"]),
    ("Version 2.1.3 of Node.js", []), ("UK.", ["UK"]),
])
def test_found_terms(text: str, found: list[str]) -> None:
    assert terms(text) == found


def test_a_term_found_in_title_and_summary_counts_once_at_title_points() -> None:
    found = found_terms("Kenya votes", "Kenya's parliament", words_lexicon())
    assert found == (("africa", "Kenya", 6),)


def test_a_term_listed_twice_keeps_its_best_weight() -> None:
    assert found_terms("", "AI", words_lexicon()) == (("tech", "AI", 3),)


def test_a_lexicon_fingerprint_says_what_its_tables_are_made_of() -> None:
    spec = SectionSpec("tech", "Tech", (("AI", 3),))
    assert Lexicon([spec]).fingerprint == Lexicon([spec]).fingerprint
    assert Lexicon([spec]).fingerprint != Lexicon([replace(spec, terms=(("AI", 2),))]).fingerprint
    assert Lexicon([spec]).fingerprint != Lexicon([replace(spec, weight=2.0)]).fingerprint


# --- how a section is chosen (judge) ---


def test_judge_gives_section_score_reason_and_words() -> None:
    order = ["tech", "africa"]
    assert judge([], order) == Verdict(None, 0.0, "no section's words found")
    found = [("tech", "Nvidia", 8.0), ("tech", "AI", 3.0), ("tech", "chip", 6.0),
             ("africa", "Kenya", 3.0)]
    assert judge(found, order) == Verdict(
        "tech", 17.0, "tech 17 (Nvidia 8, chip 6, AI 3); also africa 3", ("Nvidia", "AI", "chip"))
    assert judge([("tech", "chip", 3.0), ("tech", "AI", 3.0)], order, min_score=7) == Verdict(
        None, 6.0, "tech 6 (AI 3, chip 3): below 7", ("chip", "AI"))  # ties: by name
    three = judge([("europe", "EU", 2.0), ("tech", "AI", 6.0), ("africa", "AU", 1.0)],
                  ["tech", "africa", "europe"])
    assert three.reason == "tech 6 (AI 6); also africa 1, europe 2"
    assert judge([("tech", "AI", 6.0)], order, min_score=6).section == "tech"  # at the minimum


def test_classify_stories_uses_the_terms_found_before() -> None:
    it = Item(feed_url="https://world.example/feed", key="k", url="https://x.example/1",
              title="Nvidia chip curbs", summary="", published=None, source="World", id=7)
    nvidia = Story(title=it.title, url=it.url, source="World", published=None, summary="",
                   weight=1.0, items=(it,))
    placed, _ = classify_stories([nvidia], small(), {}, found={7: [("africa", "Kenya", 6.0)]})
    assert [(s.section, s.section_terms) for s in placed] == [("africa", ("Kenya",))]
    placed, _ = classify_stories([nvidia], small(), {}, found={8: [("africa", "Kenya", 6.0)]})
    assert [s.section for s in placed] == ["tech"]  # not worked out for this item: read


def test_classify_stories_applies_its_minimum_score() -> None:
    kenya = story("Kenya votes")  # Kenya 3 x 2 = 6
    assert [s.section for s in classify_stories([kenya], small(), {})[0]] == ["africa"]
    placed, dropped = classify_stories([kenya], small(), {}, fallback=None, min_score=7)
    assert placed == [] and dropped == [
        "unmatched, dropped: 'Kenya votes' (World): africa 6 (Kenya 6): below 7"]
    _, dropped = classify_stories([story("Markets shrug")], small(), {}, fallback=None)
    assert dropped == ["unmatched, dropped: 'Markets shrug' (World): no section's words found"]


def test_a_story_the_fallbacks_own_words_win_goes_to_the_fallback() -> None:
    lexicon = Lexicon([SectionSpec("africa", "Africa", (("Kenya", 3),)),
                       SectionSpec(ELSEWHERE_ID, ELSEWHERE_TITLE, (("football", 4),))])
    final = story("Kenya football final")  # elsewhere 8, africa 6
    placed, _ = classify_stories([final], lexicon, {})
    assert [(s.section, s.section_reason) for s in placed] == [
        ("elsewhere", "elsewhere 8 (football 8); also africa 6: fallback elsewhere")]
    placed, dropped = classify_stories([final], lexicon, {}, fallback=None)
    assert placed == [] and len(dropped) == 1


def test_a_story_without_items_is_placed_by_its_words() -> None:
    bare = Story(title="Kenya votes", url="https://x.example/k", source="World", published=None,
                 summary="", weight=1.0, items=())
    placed, _ = classify_stories([bare], small(), {})
    assert [s.section for s in placed] == ["africa"]
