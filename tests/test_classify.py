"""classify: fixed sections, keyword scoring (whole words, case-aware acronyms), fallback."""

from __future__ import annotations

from digest.classify import classify_stories, compile_rule, score_story
from digest.models import Item, Story

RULES = [
    compile_rule("tech", "Tech", ["AI", "chip", "Nvidia", "5G", "semiconductor"]),
    compile_rule("africa", "Africa", ["Kenya", "Kenyan", "AU", "South Africa", "Abidjan"]),
    compile_rule("europe", "Europe", ["EU", "Germany", "German", "Bundestag", "NATO"]),
]


def story(title: str, summary: str = "", feed: str = "https://world.example/feed") -> Story:
    it = Item(feed_url=feed, key="k", url="https://x.example/" + str(abs(hash(title))),
              title=title, summary=summary, published=None, source="World")
    return Story(title=title, url=it.url, source="World", published=None, summary=summary,
                 weight=1.0, items=(it,))


def section_of(title: str, summary: str = "") -> str | None:
    return score_story(story(title, summary), RULES).section


def test_keywords_pick_the_section() -> None:
    assert section_of("Nvidia wins licence to sell chips in China") == "tech"
    assert section_of("Kenyan court halts airport deal") == "africa"
    assert section_of("Bundestag passes the budget") == "europe"


def test_acronyms_are_case_sensitive_and_whole_words() -> None:
    assert section_of("Said the official", "He said it was fair") is None  # "ai" inside words
    assert section_of("The aid arrived", "a European Eu-phoria") is None  # "eu", "Eu" prose
    assert section_of("AI rules arrive") == "tech"
    assert section_of("Chipmakers rally") is None  # "chip" only as a whole word
    assert section_of("Two chips shortages") == "tech"  # plural of a plain keyword


def test_multi_word_names_and_demonyms() -> None:
    assert section_of("Rand slides as South Africa's coalition wobbles") == "africa"
    assert section_of("German exports fall") == "europe"


def test_title_counts_more_than_summary() -> None:
    # One keyword in the title (2) beats one in the summary (1).
    assert section_of("EU fines a social network", "The Kenyan regulator watches") == "europe"


def test_best_score_wins_and_ties_go_to_the_first_section() -> None:
    assert section_of("AI and Kenya", "Nvidia chips") == "tech"  # 2+1+1 vs 2
    assert section_of("AI in Kenya") == "tech"  # tie 2-2: tech is listed first


def test_fixed_feed_section_overrides_keywords_and_fallback_applies() -> None:
    fixed = story("Bundestag debates AI", feed="https://tech.example/feed")
    nothing = story("Fed holds rates", "Markets shrug")
    placed, dropped = classify_stories([fixed, nothing], RULES,
                                       {"https://tech.example/feed": "africa"})
    assert [(s.section, s.section_reason) for s in placed] == [
        ("africa", "feed section africa"),
        ("elsewhere", "no section keyword matched: fallback elsewhere"),
    ]
    assert dropped == []
    placed, dropped = classify_stories([nothing], RULES, {}, fallback=None)
    assert placed == [] and "Fed holds rates" in dropped[0]


def test_reason_names_the_words() -> None:
    verdict = score_story(story("Nvidia chip curbs", "The AI race"), RULES)
    assert verdict.section == "tech"
    assert "Nvidia" in verdict.reason and "chip" in verdict.reason and "AI" in verdict.reason
    assert verdict.score == 5
