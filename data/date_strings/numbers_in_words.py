"""Numbers, days and years spelled out, as a speech recogniser or a cheque writes them.

``cardinal(79) == "seventy-nine"``, ``ordinal(25) == "twenty-fifth"``, and
``year_in_words(rng, 2001)`` is one of ``"two thousand and one"``,
``"two thousand one"``, ``"twenty oh one"``. Every function returning several
spellings takes the random generator that picks one; the compound separator
(``"seventy-nine"`` or ``"seventy nine"``) is chosen by the caller. The
date strings write these words and so does the spoken-forms grammar
(``data.spoken_forms.grammar``, with a space for the separator).
"""

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINAL_ONES = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
ORDINAL_TENS = "_ _ twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()


def cardinal(number, hyphen="-", use_and=True):
    """0-999,999 in words, British "and" after hundreds (``"one hundred and five"``).

    ``use_and=False`` leaves the "and" out, American style (``"one hundred five"``).
    """
    if not 0 <= number <= 999_999:
        raise ValueError(f"Invalid number {number}. Expected 0-999,999.")
    joint = " and " if use_and else " "
    if number < 20:
        return ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return TENS[tens] + (hyphen + ONES[ones] if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return ONES[hundreds] + " hundred" + (joint + cardinal(rest, hyphen) if rest else "")
    thousands, rest = divmod(number, 1000)
    words = cardinal(thousands, hyphen, use_and) + " thousand"
    if rest == 0:
        return words
    if rest < 100:
        return words + joint + cardinal(rest, hyphen)
    return words + " " + cardinal(rest, hyphen, use_and)


def ordinal(number, hyphen="-"):
    """1-99 as an ordinal word: ``"third"``, ``"twenty-fifth"``, ``"thirtieth"``."""
    if not 1 <= number <= 99:
        raise ValueError(f"Invalid number {number}. Expected 1-99.")
    if number < 20:
        return ORDINAL_ONES[number]
    tens, ones = divmod(number, 10)
    if ones == 0:
        return ORDINAL_TENS[tens]
    return TENS[tens] + hyphen + ORDINAL_ONES[ones]


def ordinal_suffix(number):
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``25th``."""
    if number % 100 in (11, 12, 13):
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


def year_in_pairs(year, hyphen="-"):
    """A year said as two pairs of digits: ``nineteen seventy-nine``, ``nineteen oh five``,
    ``nineteen hundred``, ``twenty twenty``."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"Invalid year {year}. Expected 1000-9999.")
    century, rest = divmod(year, 100)
    if rest == 0:
        return f"{cardinal(century, hyphen)} hundred"
    if rest < 10:
        return f"{cardinal(century, hyphen)} oh {ONES[rest]}"
    return f"{cardinal(century, hyphen)} {cardinal(rest, hyphen)}"


def year_spellings(year, hyphen="-"):
    """Every spelling of a year 1000-2999 that people say; the first is the most common.

    1979: ``nineteen seventy-nine``, ``one thousand nine hundred and seventy-nine``, ...;
    1905: ``nineteen oh five``, ``nineteen hundred and five``, ...;
    2001: ``two thousand and one``, ``two thousand one``, ``twenty oh one``;
    2020: ``twenty twenty``, ``two thousand and twenty``, ``two thousand twenty``.
    """
    if not 1000 <= year <= 2999:
        raise ValueError(f"Invalid year {year}. Expected 1000-2999.")
    century, rest = divmod(year, 100)
    spellings = []
    full = cardinal(year, hyphen)
    if year % 1000 < 10:
        spellings.append(full)
        spellings.append(full.replace(" and ", " "))
        if year % 1000 != 0:
            spellings.append(year_in_pairs(year, hyphen))
    else:
        spellings.append(year_in_pairs(year, hyphen))
        if 0 < rest < 10:
            spellings.append(f"{cardinal(century, hyphen)} hundred and {ONES[rest]}")
        if year >= 2000:
            spellings.append(full)
            spellings.append(full.replace(" and ", " "))
        elif rest != 0:
            spellings.append(full)
    # Drop duplicates, keep order.
    return list(dict.fromkeys(spellings))


def year_in_words(rng, year, hyphen="-"):
    """One spelling of ``year``; the common one half of the time."""
    spellings = year_spellings(year, hyphen)
    if len(spellings) == 1 or rng.random() < 0.5:
        return spellings[0]
    return rng.choice(spellings[1:])
