"""Japanese analysis for FAQ search: normalisation, terms, reading n-grams and synonyms."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.adapters.ja_text import (
    DEFAULT_SYNONYMS_PATH,
    NEGATION,
    JapaneseAnalyzer,
    Synonyms,
    char_ngrams,
    clean_term,
    fold_kana,
    get_analyzer,
    load_synonyms,
    normalize,
    parse_synonym_lines,
    reading_key,
    to_katakana,
)


@pytest.fixture(scope="module")
def analyzer() -> JapaneseAnalyzer:
    return get_analyzer()


class TestNormalize:
    def test_full_width_latin_and_digits_become_ascii_lower_case(self) -> None:
        assert normalize("ＰａｙＰａｙ　１２３") == "paypay 123"

    def test_half_width_katakana_becomes_full_width(self) -> None:
        assert normalize("ﾜﾝｽﾄｯﾌﾟ") == "ワンストップ"

    def test_tilde_and_dash_after_kana_become_the_long_vowel_mark(self) -> None:
        assert normalize("カ-ド") == "カード"
        assert normalize("すご〜い") == "すごーい"

    def test_a_run_of_long_vowel_marks_collapses_to_one(self) -> None:
        assert normalize("はーーい") == "はーい"

    def test_tilde_between_numbers_stays_a_range(self) -> None:
        assert normalize("1〜2か月") == "1〜2か月"

    def test_kana_iteration_marks_are_spelt_out(self) -> None:
        assert normalize("こゝろ") == "こころ"
        assert normalize("いすゞ") == "いすず"

    def test_thousands_separators_are_dropped(self) -> None:
        assert normalize("2,000円と10,000円") == "2000円と10000円"

    def test_whitespace_is_collapsed_and_trimmed(self) -> None:
        assert normalize("  返礼品 \n\t 交換  ") == "返礼品 交換"


class TestKana:
    def test_hiragana_turns_into_katakana(self) -> None:
        assert to_katakana("ぺいぺい ABC 漢字") == "ペイペイ ABC 漢字"

    def test_only_all_kana_terms_are_folded(self) -> None:
        assert fold_kana("ぺいぺい") == "ペイペイ"
        assert fold_kana("此れ") == "此れ"

    def test_long_vowel_spellings_share_a_reading_key(self) -> None:
        assert reading_key("ショウメイショ") == reading_key("しょーめーしょ")

    def test_clean_term_keeps_letters_and_digits_only(self) -> None:
        assert clean_term('"返礼品"*(2)') == "返礼品2"

    def test_char_ngrams_of_short_text_is_the_text(self) -> None:
        assert char_ngrams("ab") == ["ab"]
        assert char_ngrams("a") == []
        assert char_ngrams("abcd") == ["abc", "bcd"]


class TestTerms:
    def test_kifu_spelling_variants_meet(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.terms("寄附") == analyzer.terms("寄付")

    def test_okurigana_variants_meet(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.terms("申込") == analyzer.terms("申し込み")
        assert analyzer.terms("引越し") == analyzer.terms("引っ越し")

    def test_particles_auxiliaries_and_symbols_are_dropped(
        self, analyzer: JapaneseAnalyzer
    ) -> None:
        terms = analyzer.terms("返礼品が届きませんでした。")
        assert "が" not in terms and "ます" not in terms and "。" not in terms
        assert "届く" in terms

    def test_fillers_of_spoken_queries_are_dropped(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.terms("えーと あの 不在票") == analyzer.terms("不在票")

    def test_compounds_are_indexed_with_their_parts(self, analyzer: JapaneseAnalyzer) -> None:
        terms = analyzer.terms("寄附金受領証明書")
        assert {"受領", "証明", "証明書", "寄付金"} <= set(terms)

    def test_a_word_typed_in_hiragana_meets_its_katakana_spelling(
        self, analyzer: JapaneseAnalyzer
    ) -> None:
        assert analyzer.terms("ぺいぺい") == analyzer.terms("ペイペイ")

    def test_terms_are_safe_for_fts(self, analyzer: JapaneseAnalyzer) -> None:
        terms = analyzer.terms('"返礼品" AND (交換) OR NEAR* ^送料')
        assert all(term == clean_term(term) and term for term in terms)

    def test_negation_is_a_unit_but_not_a_term(self, analyzer: JapaneseAnalyzer) -> None:
        analysis = analyzer.analyze("届かない")
        assert analysis.units == ["届く", NEGATION]
        assert NEGATION not in analysis.terms

    def test_a_permission_question_means_what_its_formal_phrasing_means(
        self, analyzer: JapaneseAnalyzer
    ) -> None:
        formal = analyzer.analyze("寄附してもかまいませんか")
        spoken_forms = ("寄付してもいいんですか", "寄付していいですか", "休んでもよろしいですか")
        for spoken in spoken_forms:
            analysis = analyzer.analyze(spoken)
            assert analysis.units[-2:] == ["構う", NEGATION], spoken
            assert "構う" in analysis.terms
        assert formal.units == ["寄付", "構う", NEGATION]
        # いい alone is no permission, nor is asking what to do.
        for other in ("いい返礼品", "どうすればいいですか", "どうしたらいいですか"):
            assert "構う" not in analyzer.analyze(other).units, other

    def test_only_so_much_is_few_not_a_negation(self, analyzer: JapaneseAnalyzer) -> None:
        analysis = analyzer.analyze("これだけしか来ないんですか")
        assert analysis.units == ["来る", "少ない"]
        assert "少ない" in analysis.terms
        # A しか is closed within its phrase: the next phrase's negation is a negation.
        assert analyzer.analyze("しか。届かない").units == ["届く", NEGATION]

    def test_empty_text_has_no_terms(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.analyze("  。、！ ").terms == []

    def test_text_longer_than_sudachi_accepts_is_analysed(self, analyzer: JapaneseAnalyzer) -> None:
        text = "ふるさと納税の返礼品が届きません。" * 4000
        assert len(text.encode()) > 49149
        assert "返礼品" in analyzer.terms(text)

    def test_threads_get_the_same_terms(self, analyzer: JapaneseAnalyzer) -> None:
        text = "ワンストップ特例の申請書はいつまでに出せばいいですか"
        expected = analyzer.terms(text)
        results: list[list[str]] = []

        def work() -> None:
            for _ in range(20):
                results.append(analyzer.terms(text))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [expected] * 80


class TestReadingGrams:
    def test_homophone_typo_shares_the_reading_grams(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.grams("受領照明書") == analyzer.grams("受領証明書")

    def test_word_in_hiragana_shares_grams_with_kanji(self, analyzer: JapaneseAnalyzer) -> None:
        assert set(analyzer.grams("しょうめいしょ")) <= set(analyzer.grams("証明書"))

    def test_grams_do_not_bridge_punctuation(self, analyzer: JapaneseAnalyzer) -> None:
        assert analyzer.grams("あ、い") == []

    def test_digits_are_read_as_digits(self, analyzer: JapaneseAnalyzer) -> None:
        assert "123" in analyzer.grams("123")


class TestSynonyms:
    def test_lines_are_split_on_commas_and_comments_are_ignored(self) -> None:
        lines = ["# header", "", "再発行, 再交付、再送 # trailing", "ひとつだけ"]
        assert parse_synonym_lines(lines) == [["再発行", "再交付", "再送"]]

    def test_a_query_word_brings_in_the_rest_of_its_group(self) -> None:
        synonyms = Synonyms()
        synonyms.add([("紛失",), ("無くす",), ("見付かる", NEGATION)])
        [match] = synonyms.matches(["券", "紛失"])
        assert match.present == (("紛失",),)
        assert match.absent == (("無くす",), ("見付かる", NEGATION))

    def test_multi_word_entries_match_as_a_sequence(self) -> None:
        synonyms = Synonyms()
        synonyms.add([("見付かる", NEGATION), ("紛失",)])
        assert synonyms.matches(["見付かる", NEGATION])
        assert not synonyms.matches(["見付かる"])
        assert not synonyms.matches([NEGATION, "見付かる"])

    def test_a_word_inside_a_longer_phrase_of_another_group_is_not_matched(self) -> None:
        synonyms = Synonyms()
        synonyms.add([("体験", "チケット"), ("利用", "券")])
        synonyms.add([("体験",), ("アクティビティー",)])
        matches = synonyms.matches(["体験", "チケット"])
        assert [m.present for m in matches] == [(("体験", "チケット"),)]

    def test_the_head_of_a_longer_phrase_keeps_its_own_group(self) -> None:
        synonyms = Synonyms()
        synonyms.add([("宿泊", "チケット"), ("宿泊", "券")])
        synonyms.add([("チケット",), ("利用", "券")])
        matches = synonyms.matches(["宿泊", "チケット"])
        assert [m.present for m in matches] == [(("宿泊", "チケット"),), (("チケット",),)]

    def test_groups_of_one_entry_are_ignored(self) -> None:
        synonyms = Synonyms()
        synonyms.add([("返礼",), ("返礼",)])
        assert synonyms.groups == []

    def test_file_entries_are_analysed_like_queries(
        self, tmp_path: Path, analyzer: JapaneseAnalyzer
    ) -> None:
        path = tmp_path / "synonyms.txt"
        path.write_text("紛失,どっか行っちゃう\n", encoding="utf-8")
        synonyms = load_synonyms(path, analyzer)
        [match] = synonyms.matches(analyzer.units("券がどっか行っちゃった"))
        assert match.absent == (tuple(analyzer.units("紛失")),)

    def test_the_shipped_file_links_one_stop_spellings(self, analyzer: JapaneseAnalyzer) -> None:
        synonyms = load_synonyms(DEFAULT_SYNONYMS_PATH, analyzer)
        matches = synonyms.matches(analyzer.units("特例申請"))
        assert any(tuple(analyzer.units("ワンストップ特例")) in m.absent for m in matches)

    def test_every_shipped_entry_keeps_at_least_one_word(self, analyzer: JapaneseAnalyzer) -> None:
        with DEFAULT_SYNONYMS_PATH.open(encoding="utf-8") as handle:
            groups = parse_synonym_lines(handle)
        empty = [entry for group in groups for entry in group if not analyzer.units(entry)]
        assert empty == []


def test_importing_the_module_does_not_load_the_dictionary() -> None:
    code = "import sys, support.adapters.ja_text; print('sudachipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_dictionary_loads_once_per_analyser(analyzer: JapaneseAnalyzer) -> None:
    assert analyzer.dictionary() is analyzer.dictionary()
    assert get_analyzer() is analyzer
