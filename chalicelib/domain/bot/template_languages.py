"""The language codes Meta offers for message templates (WhatsApp Manager → Create template →
Languages, and `language.code` of a template send).

A template is approved per code and sent with exactly that code: a send under any other code
fails with 132001. Some languages exist only with a region (there is no bare `pt`, only `pt_PT`
and `pt_BR`; no bare `zh`), so a municipality whose templates are in such a language maps it to
a code in `template_language_codes:` (config_back_office). Kept here, in the domain like
`limits`, because the config loader checks against it; a fixed public list.
"""

from __future__ import annotations

# In the order of Meta's list (by the languages' English names).
# fmt: off
TEMPLATE_LANGUAGE_CODES: frozenset[str] = frozenset(
    {
        "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn",
        "bn_IN", "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE",
        "en", "en_GB", "en_US", "en_AE", "en_AU", "en_CA", "en_GH", "en_IE", "en_IN", "en_JM",
        "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr", "fr_BE",
        "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he",
        "hi", "hu", "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt",
        "mk", "ms", "ml", "mr", "nb", "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru",
        "sr", "si_LK", "sk", "sl", "es", "es_AR", "es_CL", "es_CO", "es_CR", "es_DO", "es_EC",
        "es_HN", "es_MX", "es_PA", "es_PE", "es_ES", "es_UY", "sw", "sv", "ta", "te", "th", "tr",
        "uk", "ur", "uz", "vi", "zu",
    }
)
# fmt: on


def is_template_language_code(code: str) -> bool:
    return code in TEMPLATE_LANGUAGE_CODES


def _base(code: str) -> str:
    return code.replace("-", "_").split("_", 1)[0].lower()


def _normalized(code: str) -> str:
    return code.replace("-", "_").lower()


def template_codes_for(language: str) -> tuple[str, ...]:
    """Meta's codes a config language could be submitted under, the likeliest first: the code
    itself written Meta's way (`pt-BR` → `pt_BR`), then the regions of its base language, the
    one named like the language first (`pt` → `pt_PT`, `pt_BR`; `zh` → `zh_CN`, `zh_HK`,
    `zh_TW`). Empty when Meta has no template in that language."""
    exact = [code for code in TEMPLATE_LANGUAGE_CODES if _normalized(code) == _normalized(language)]
    base = _base(language)
    regional = sorted(
        (code for code in TEMPLATE_LANGUAGE_CODES if _base(code) == base and code not in exact),
        key=lambda code: (code.lower() != f"{base}_{base}", code),
    )
    return (*exact, *regional)
