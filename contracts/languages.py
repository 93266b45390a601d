"""Languages a person may need their letters in, or an interpreter for: ISO 639-1 codes (two letters), plus British
Sign Language (ISO 639-3 "bfi"), which many families in England need and which has no two-letter code.

A person's language is recorded by code ("ur", "pl", "zh", "bfi") and shown with its English name ("Urdu (ur)"), so
that whoever sends a letter knows what to arrange. Only the standard library: contracts import nothing else.
"""

from __future__ import annotations

_TABLE = """
aa Afar|ab Abkhazian|ae Avestan|af Afrikaans|ak Akan|am Amharic|an Aragonese|ar Arabic|as Assamese|av Avaric|
ay Aymara|az Azerbaijani|ba Bashkir|be Belarusian|bg Bulgarian|bi Bislama|bm Bambara|bn Bengali|bo Tibetan|
br Breton|bs Bosnian|ca Catalan|ce Chechen|ch Chamorro|co Corsican|cr Cree|cs Czech|cu Church Slavonic|cv Chuvash|
cy Welsh|da Danish|de German|dv Dhivehi|dz Dzongkha|ee Ewe|el Greek|en English|eo Esperanto|es Spanish|et Estonian|
eu Basque|fa Persian (Farsi)|ff Fula|fi Finnish|fj Fijian|fo Faroese|fr French|fy Western Frisian|ga Irish|
gd Scottish Gaelic|gl Galician|gn Guarani|gu Gujarati|gv Manx|ha Hausa|he Hebrew|hi Hindi|ho Hiri Motu|hr Croatian|
ht Haitian Creole|hu Hungarian|hy Armenian|hz Herero|ia Interlingua|id Indonesian|ie Interlingue|ig Igbo|
ii Sichuan Yi|ik Inupiaq|io Ido|is Icelandic|it Italian|iu Inuktitut|ja Japanese|jv Javanese|ka Georgian|kg Kongo|
ki Kikuyu|kj Kwanyama|kk Kazakh|kl Kalaallisut|km Khmer|kn Kannada|ko Korean|kr Kanuri|ks Kashmiri|ku Kurdish|
kv Komi|kw Cornish|ky Kyrgyz|la Latin|lb Luxembourgish|lg Ganda|li Limburgish|ln Lingala|lo Lao|lt Lithuanian|
lu Luba-Katanga|lv Latvian|mg Malagasy|mh Marshallese|mi Maori|mk Macedonian|ml Malayalam|mn Mongolian|mr Marathi|
ms Malay|mt Maltese|my Burmese|na Nauru|nb Norwegian Bokmal|nd North Ndebele|ne Nepali|ng Ndonga|nl Dutch|
nn Norwegian Nynorsk|no Norwegian|nr South Ndebele|nv Navajo|ny Chichewa|oc Occitan|oj Ojibwe|om Oromo|or Odia|
os Ossetian|pa Punjabi|pi Pali|pl Polish|ps Pashto|pt Portuguese|qu Quechua|rm Romansh|rn Kirundi|ro Romanian|
ru Russian|rw Kinyarwanda|sa Sanskrit|sc Sardinian|sd Sindhi|se Northern Sami|sg Sango|si Sinhala|sk Slovak|
sl Slovenian|sm Samoan|sn Shona|so Somali|sq Albanian|sr Serbian|ss Swati|st Southern Sotho|su Sundanese|sv Swedish|
sw Swahili|ta Tamil|te Telugu|tg Tajik|th Thai|ti Tigrinya|tk Turkmen|tl Tagalog|tn Tswana|to Tongan|tr Turkish|
ts Tsonga|tt Tatar|tw Twi|ty Tahitian|ug Uyghur|uk Ukrainian|ur Urdu|uz Uzbek|ve Venda|vi Vietnamese|vo Volapuk|
wa Walloon|wo Wolof|xh Xhosa|yi Yiddish|yo Yoruba|za Zhuang|zh Chinese|zu Zulu|bfi British Sign Language
"""

LANGUAGES: dict[str, str] = dict(
    entry.strip().split(" ", 1) for entry in _TABLE.replace("\n", "").split("|") if entry.strip()
)


def language_name(code: str) -> str:
    """'ur' -> 'Urdu (ur)'; an unknown code is shown as it is."""
    name = LANGUAGES.get(code)
    return f"{name} ({code})" if name else code


def check_language(code: str) -> str:
    """A language code as recorded: lower case, and one of LANGUAGES (a clear error otherwise)."""
    found = code.strip().lower()
    if found not in LANGUAGES:
        raise ValueError(
            f"{code!r} is not a language code sendcase knows: give the ISO 639-1 two-letter code (e.g. 'ur' Urdu, "
            "'pl' Polish, 'zh' Chinese, 'ar' Arabic, 'pa' Punjabi) or 'bfi' for British Sign Language"
        )
    return found
