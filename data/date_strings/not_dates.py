"""Strings that are not dates, each answered ``NOT_A_DATE``.

Words, sentences, prices, phone numbers, plain numbers, version strings that
cannot be dates, times alone, relative dates (``yesterday``, ``next friday``:
their meaning depends on today, which the reader does not know; so does a day
and month without a year, ``march third``, ``friday the third``), years alone
(no month: the answer format has no year-only form), impossible dates
(``2020-13-45``, ``31 feb 2020``, ``29/02/2019``) and spoken sentences whose
day has no year (``let's meet on the third of march at half past six``, ``wake
me up at seven a m``).

By construction none of them contains a real calendar date: every version
string of three numbers and every impossible date is redrawn until no
arrangement of its numbers (any one read as the year, two-digit ones by the
POSIX pivot) is a real date, a month name's two numbers are tried both ways,
and prices, phone numbers and numbers have no three-field date shape.
"""

import datetime
import itertools
import re

from data.date_strings import grammar, numbers_in_words, times
from data.date_strings.targets import ORDERS, is_real_date, pivot_year, read_named

WORDS = (
    "hello world apple river seven window quick brown fox jumps over the lazy dog tomorrowland "
    "coffee meeting report invoice total amount order status shipped pending customer account "
    "password login error warning version release build update download file folder page "
    "march forward may be later sunday best sat down june bug august committee"
).split()
SENTENCES = (
    "hello world",
    "the quick brown fox jumps over the lazy dog",
    "please call me back when you can",
    "see attached for details",
    "no date given",
    "to be confirmed",
    "n/a",
    "unknown",
    "none",
    "TBD",
    "not applicable",
    "the meeting has been moved",
    "order shipped",
    "thanks for your email",
    "may the force be with you",
    "we march at dawn",
    "a date with destiny",
    "save the date",
    "date of birth",
    "dd/mm/yyyy",
    "YYYY-MM-DD",
    "mm/dd/yy",
    "time and date",
    "happy new year",
)
RELATIVE = (
    "yesterday", "today", "tomorrow", "now", "tonight", "the day after tomorrow", "the day before yesterday",
    "next {weekday}", "last {weekday}", "this {weekday}", "{weekday}", "on {weekday}", "next week",
    "last week", "next month", "last month", "next year", "last year", "this weekend", "in {n} days",
    "{n} days ago", "{n} weeks ago", "in {n} weeks", "{n} months ago", "in {n} hours", "{n} minutes ago",
    "a week from today", "end of the month", "end of day", "yesterday at {time}", "tomorrow at {time}",
    "next {weekday} at {time}", "{weekday} at {time}", "{month}", "early {month}", "mid-{month}",
    # A day and month without a year: which year depends on today too.
    "{month} {ordinal}", "the {ordinal} of {month}", "{ordinal} of {month}", "{month} the {ordinal}",
    "{month} {day}", "{day} {month}", "{weekday} the {ordinal}", "{weekday} {month} {day}",
    "{month} {ordinal_digits}", "the {ordinal_digits} of {month}", "{day} {month_abbreviation}",
)
CURRENCIES = ("$", "£", "€", "¥", "USD ", "EUR ", "GBP ", "Rs. ", "R")


def words(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))


SUBJECTS = ("the meeting", "your order", "my flight", "the report", "the parcel", "the call", "the invoice", "it", "the deadline")
VERBS = ("was moved", "has shipped", "is late", "will be sent", "got cancelled", "is confirmed", "starts soon")
ENDINGS = ("", " again", " as planned", " this time", " for now", " by email", " after lunch")


def sentence(rng):
    if rng.random() < 0.4:
        return rng.choice(SENTENCES)
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)}{rng.choice(ENDINGS)}"


def price(rng):
    amount = rng.choice((rng.randint(1, 99), rng.randint(100, 9999), rng.randint(10000, 999999)))
    cents = rng.randint(0, 99)
    if amount >= 1000 and rng.random() < 0.6:
        whole = f"{amount:,}"
    else:
        whole = str(amount)
    text = whole if rng.random() < 0.3 else f"{whole}.{cents:02d}"
    currency = rng.choice(CURRENCIES)
    if rng.random() < 0.2:
        return f"{text} {currency.strip() or 'USD'}"
    return f"{currency}{text}"


def phone(rng):
    form = rng.choice(("us", "us_dash", "intl", "uk", "short", "plain"))
    digits = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    area = f"{rng.randint(2, 9)}{digits(2)}"
    if form == "us":
        return f"({area}) {rng.randint(2, 9)}{digits(2)}-{digits(4)}"
    if form == "us_dash":
        return f"{area}-{rng.randint(2, 9)}{digits(2)}-{digits(4)}"
    if form == "intl":
        return f"+{rng.randint(1, 99)} {rng.randint(10, 999)} {digits(3)} {digits(4)}"
    if form == "uk":
        return f"0{rng.randint(20, 29)} {digits(4)} {digits(4)}"
    if form == "short":
        return f"{rng.randint(200, 999)}-{digits(4)}"
    return f"0{digits(9)}"


def number(rng):
    form = rng.choice(("int", "float", "thousands", "percent", "ordinal"))
    if form == "int":
        return str(rng.randint(0, 999))
    if form == "float":
        return f"{rng.randint(0, 999)}.{rng.randint(0, 99999)}"
    if form == "thousands":
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"
    if form == "percent":
        return f"{rng.randint(0, 100)}%"
    return f"{rng.randint(1, 9)}{rng.choice(('st', 'nd', 'rd', 'th'))} place"


def _is_date_shaped(fields):
    """Whether three numbers make a real date in any arrangement, any of them read as the year.

    Looser than ``targets.read_numeric`` on purpose (one- and three-digit years,
    year-day-month): a not-a-date string must not be a date to any reader.
    """
    if len(fields) != 3:
        return False
    for year_index, month_index, day_index in itertools.permutations(range(3)):
        year_field = fields[year_index]
        year = pivot_year(int(year_field)) if len(year_field) <= 2 else int(year_field)
        if 1 <= year <= 9999 and is_real_date(year, int(fields[month_index]), int(fields[day_index])):
            return True
    return False


def _any_date_shaped(fields):
    """Whether any three of the number fields, in their order, could be read as a date."""
    return any(_is_date_shaped(list(triple)) for triple in itertools.combinations(fields, 3))


VERSION_NAMES = ("Python", "version", "release", "node", "Version", "Firefox", "iOS", "kernel", "build")


def version(rng):
    """``v2.14.0``, ``1.0.0-rc.1``, ``3.11.7``: bare numbers are redrawn until no order reads them as a date;
    numbers that could be one (``2.10.3``) are kept only behind a ``v`` or a name (``v2.10.3``, ``iOS 9.3.5``),
    which says what they are."""
    while True:
        count = rng.choice((2, 3, 3, 3, 4))
        fields = [str(rng.choice((0, rng.randint(0, 9), rng.randint(10, 40), rng.randint(41, 200)))) for _ in range(count)]
        # Two numbers never make a full date; of three or four, no three may make one.
        date_shaped = _any_date_shaped(fields)
        if date_shaped and rng.random() < 0.6:
            continue
        text = ".".join(fields)
        draw = rng.random()
        if date_shaped:
            return "v" + text if draw < 0.5 else f"{rng.choice(VERSION_NAMES)} {text}"
        if draw < 0.3:
            text = "v" + text
        elif draw < 0.4:
            text = f"{text}-{rng.choice(('rc', 'beta', 'alpha', 'dev'))}.{rng.randint(0, 9)}"
        elif draw < 0.5:
            text = f"{rng.choice(VERSION_NAMES)} {text}"
        return text


PLACES = ("Room", "Suite", "Apt", "Apartment", "Unit", "Gate", "Building", "Floor", "Platform", "Flat", "Office",
          "Bay", "Locker", "Box", "Lot")
REFERENCES = ("Order", "Invoice", "Ticket", "Case", "Ref", "PO", "Receipt", "Account", "Booking", "Claim",
              "Policy", "Customer", "Job")
AIRLINES = ("BA", "UA", "LH", "AF", "DL", "QF", "AA", "EK", "KL", "NZ")


def _digits(rng, n):
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _not_basic_date(text):
    """Whether a digit string is not an eight-digit ``YYYYMMDD`` (or ``DDMMYYYY``/``MMDDYYYY``) date."""
    if len(text) != 8:
        return True
    return not any(is_real_date(int(y), int(m), int(d)) for y, m, d in
                   ((text[:4], text[4:6], text[6:]), (text[4:], text[2:4], text[:2]), (text[4:], text[:2], text[2:4])))


def identifier(rng):
    """Numbers that name things, not days: ``ISBN 978-3-16-148410-0``, ``Room 1204``, ``Order #20231``,
    ``BA 2490``, ``192.168.1.254``, ``Q3 2021``, part numbers. A four-digit number here looks like a year and
    groups of digits look like a numeric date, which is why they are taught."""
    form = rng.choice(("isbn", "place", "place", "reference", "reference", "flight", "ip", "quarter", "part"))
    if form == "isbn":
        if rng.random() < 0.6:
            group, publisher = _digits(rng, 1), _digits(rng, rng.randint(2, 5))
            text = f"978-{group}-{publisher}-{_digits(rng, 8 - len(publisher))}-{rng.randint(0, 9)}"
        else:
            publisher = _digits(rng, rng.randint(2, 5))
            text = f"{rng.randint(0, 9)}-{publisher}-{_digits(rng, 8 - len(publisher))}-{rng.choice('0123456789X')}"
        return rng.choice(("ISBN ", "ISBN: ", "ISBN-13 ", "")) + text if len(text) > 13 else "ISBN " + text
    if form == "place":
        number = rng.choice((str(rng.randint(1, 99)), str(rng.randint(100, 999)), str(rng.randint(1000, 2999)),
                             f"{rng.randint(1, 40)}{rng.choice('ABCDEF')}"))
        text = f"{rng.choice(PLACES)} {number}"
        if rng.random() < 0.4:
            text += f"{rng.choice((', ', ' '))}{rng.choice(PLACES)} {rng.randint(1, 30)}"
        return text
    if form == "reference":
        while True:
            number = _digits(rng, rng.randint(4, 10))
            if _not_basic_date(number):
                break
        return f"{rng.choice(REFERENCES)} {rng.choice(('#', 'No. ', 'no ', 'number ', 'ID ', '', '# '))}{number}"
    if form == "flight":
        return f"{rng.choice(AIRLINES)}{rng.choice(('', ' '))}{rng.randint(1, 9999)}"
    if form == "ip":
        while True:
            fields = [str(rng.choice((rng.randint(1, 255), 10, 192, 172, 127))), *(str(rng.randint(0, 255)) for _ in range(3))]
            if not _any_date_shaped(fields):
                return ".".join(fields)
    if form == "quarter":
        year, part = rng.randint(1990, 2040), rng.choice((f"Q{rng.randint(1, 4)}", f"H{rng.randint(1, 2)}"))
        return rng.choice((f"{part} {year}", f"{year} {part}", f"{part}/{year}", f"{year}-{part}", f"{part} FY{year}"))
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.randint(1, 3)))
    return f"{rng.choice(('SN ', 'Part ', 'Model ', ''))}{letters}-{_digits(rng, rng.randint(3, 5))}-{rng.randint(1, 99)}"


def time_alone(rng):
    text, _ = times.write_time(rng, times.random_time(rng))
    if rng.random() < 0.3:
        text = f"{text} {times.write_zone(rng)[0]}"
    if rng.random() < 0.15:
        text = rng.choice(("at ", "@ ", "around ")) + text
    return text


def relative(rng):
    template = rng.choice(RELATIVE)
    return template.format(
        weekday=rng.choice(grammar.WEEKDAYS).lower() if rng.random() < 0.5 else rng.choice(grammar.WEEKDAYS),
        n=rng.randint(2, 30),
        time=time_alone(rng),
        month=rng.choice(grammar.MONTHS),
        month_abbreviation=rng.choice(grammar.MONTH_ABBREVIATIONS),
        ordinal=numbers_in_words.ordinal(rng.randint(1, 31), rng.choice(("-", " "))),
        ordinal_digits=numbers_in_words.ordinal_suffix(rng.randint(1, 31)),
        day=rng.randint(1, 31),
    )


TIME_ONLY_SENTENCES = ("wake me up at {time}", "the bus comes at {time}", "see you at {time}",
                       "set an alarm for {time}", "{time}", "it starts at {time} sharp", "dinner is at {time}")
YEARLESS_DAYS = ("tomorrow", "today", "tonight", "next {weekday}", "this {weekday}", "{weekday}", "the {ordinal} of {month}",
                 "{month} the {ordinal}", "{month} {ordinal}", "{ordinal} of {month}", "{weekday} the {ordinal}",
                 "{month} {cardinal}")


DIGIT_SENTENCES = ("dial {digits}", "my pin is {digits}", "the reference is {digits}", "extension {digits}",
                   "{digits}", "text {digits} to confirm", "the serial number is {digits}")
NUMBER_SENTENCES = ("the price is {number} {money}", "we sold {number} {things}", "about {number} {things} came",
                    "the population is {number}", "{number}", "it weighs {number} {measure}",
                    "that's {number} {measure}", "the total comes to {number} {money}", "add {number} to the order",
                    "the ticket cost {number} {money}", "we counted {number} {things}", "he paid {number} {money}",
                    "it comes to {number} {money}", "that will be {number} {money} please", "{number} {money}",
                    "we have {number} {things} left", "the budget is {number} {money}", "{number} {things}",
                    "she ran {number} {measure}", "the house costs {number} {money}", "a salary of {number} {money}",
                    "there were {number} {things} at the match", "send me {number} {money}", "page {number}")
# What a number sentence counts, so no one carrier word tells a number from a year.
MONEY = ("dollars", "pounds", "euros", "cents", "rupees", "yen", "francs", "bucks", "quid", "dollars a month")
THINGS = ("people", "copies", "votes", "cars", "students", "visitors", "tickets", "units", "fans", "likes",
          "subscribers", "boxes", "trees", "sheep")
MEASURES = ("grams", "miles", "kilometres", "metres", "feet", "pounds", "litres", "steps", "calories", "kilos")


def spoken_number(rng):
    """A number said in words, often as large as a year (``one thousand nine hundred and seventy seven``)."""
    size = rng.choice((2, 3, 4, 4, 4, 5, 6))
    number = rng.randint(10 ** (size - 1), 10 ** size - 1)
    return numbers_in_words.cardinal(number, rng.choice(("-", " ")), use_and=rng.random() < 0.7)


def spoken_digits(rng):
    """A digit string said digit by digit: ``eight seven nine nine oh eight oh``."""
    zero = rng.choice(("oh", "zero", None))
    return " ".join((zero or rng.choice(("oh", "zero"))) if digit == "0" else numbers_in_words.ONES[int(digit)]
                    for digit in str(rng.randint(100, 10 ** rng.randint(3, 11) - 1)).zfill(rng.randint(3, 6)))


def _spoken_sentence(rng):
    draw = rng.random()
    if draw < 0.25:
        text = rng.choice(NUMBER_SENTENCES).format(number=spoken_number(rng), money=rng.choice(MONEY),
                                                   things=rng.choice(THINGS), measure=rng.choice(MEASURES))
        return rng.choice(grammar.SENTENCE_OPENERS) + text + rng.choice(grammar.SENTENCE_CLOSERS)
    if draw < 0.4:
        text = rng.choice(DIGIT_SENTENCES).format(digits=spoken_digits(rng))
        return rng.choice(grammar.SENTENCE_OPENERS) + text + rng.choice(grammar.SENTENCE_CLOSERS)
    fields = grammar._sentence_numbers(rng)
    fields["time"], _ = times.say_time(rng, times.random_said_time(rng))
    day, hyphen = rng.randint(1, 31), rng.choice(("-", " "))
    fields["date"] = rng.choice(YEARLESS_DAYS).format(
        weekday=rng.choice(grammar.WEEKDAYS).lower(), month=rng.choice(grammar.MONTHS).lower(),
        ordinal=numbers_in_words.ordinal(day, hyphen), cardinal=numbers_in_words.cardinal(day, hyphen))
    if rng.random() < 0.3:
        template = rng.choice(TIME_ONLY_SENTENCES)
    else:
        template = rng.choice(grammar.SENTENCES_WITH_TIME + grammar.SENTENCES_WITHOUT_TIME
                              + grammar.SENTENCES_WITH_MONTH).replace(" in {date}", " on {date}")
    text = template.format(**fields)
    text = re.sub(r"\b(on|for) (today|tomorrow|tonight|next|this)\b", r"\2", text)  # "see you on tomorrow"
    return rng.choice(grammar.SENTENCE_OPENERS) + text + rng.choice(grammar.SENTENCE_CLOSERS)


def spoken_sentence(rng):
    """A spoken sentence with a time and a day without its year, a time alone, or a number said in words
    (the spoken-sentence date family's carriers, ``grammar.spoken_sentence``, with the year left out); at most
    ``grammar.SENTENCE_LENGTH`` characters, as the dated ones."""
    while True:
        text = _spoken_sentence(rng)
        if len(text) <= grammar.SENTENCE_LENGTH:
            return text


def year_alone(rng):
    year = rng.randint(1000, 2999)
    return rng.choice((str(year), f"in {year}", f"AD {year}", f"{year} AD", f"the year {year}", f"FY{year}"))


def _impossible_triple(rng):
    """(year, month, day) that is no calendar date, with a month in 1-12 half of the time."""
    year = rng.randint(1000, 2999)
    if rng.random() < 0.25:
        # The near misses: 29 February of a common year, 30 or 31 February, 31 of a 30-day month.
        month = rng.choice((2, 2, 2, 4, 6, 9, 11))
        day = 31 if month != 2 else rng.choice((29, 29, 30, 31))
        return year, month, day
    if rng.random() < 0.5:
        month = rng.randint(1, 12)
        last = (datetime.date(year + (month == 12), month % 12 + 1, 1) - datetime.timedelta(days=1)).day
        day = rng.randint(last + 1, 31) if last < 31 else rng.choice((32, 33, 35, 40, 45, 0))
        if day == 0 or day > 31:
            day = rng.choice((32, 35, 40, 45, 50, 0))
    else:
        month = rng.choice((0, 13, 14, 15, 19, 20, 25, 31, 40, 99))
        day = rng.randint(0, 31)
    return year, month, day


def impossible(rng):
    """``2020-13-45``, ``31 feb 2020``, ``29/02/2019``, ``2003-00-10``: no order reads a real date."""
    return impossible_with_reading(rng)[0]


def impossible_with_reading(rng):
    """An impossible date and what it says before the calendar is checked.

    Returns ``(text, reading)``: ``reading`` is ``YYYY-MM-DD`` of the written
    fields when they fit the answer's layout (a month 1-12 and a day 1-31:
    ``29/02/2019`` -> ``2019-02-29``, ``31 april 2020`` -> ``2020-04-31``;
    the day is above 28, so only one arrangement of the numbers fits), else
    ``""`` (``2020-13-45``). A model can be taught to write the reading and
    leave the calendar to the decoder's mask, which turns it into "not a date".
    """
    while True:
        year, month, day = _impossible_triple(rng)
        form = rng.choice(("iso", "iso", "slash_dmy", "slash_mdy", "dot", "named", "named", "named_us", "named_us",
                           "basic", "words"))
        if form in ("named", "named_us", "words") and not (1 <= month <= 12 and 1 <= day <= 31):
            form = "iso"
        if form == "iso":
            text = f"{year}-{month:02d}-{day:02d}"
        elif form == "basic":
            text = f"{year}{month:02d}{day:02d}"
        elif form == "slash_dmy":
            text = f"{day:02d}/{month:02d}/{year}"
        elif form == "slash_mdy":
            text = f"{month:02d}/{day:02d}/{year}"
        elif form == "dot":
            text = f"{day}.{month}.{year}"
        elif form == "named":
            text = f"{day} {grammar.month_word(rng, month)} {year}"
        elif form == "named_us":
            text = f"{grammar.month_word(rng, month)} {day}, {year}"
        else:
            hyphen = rng.choice(("-", " "))
            text = (f"the {numbers_in_words.ordinal(day, hyphen)} of {grammar.MONTHS[month - 1].lower()} "
                    f"{numbers_in_words.year_in_words(rng, year, hyphen)}")
        if form in ("named", "named_us", "words"):
            if any(read_named([str(day), str(year)], month, order) for order in ORDERS) or is_real_date(year, month, day):
                continue
        elif _is_date_shaped([str(year), f"{month:02d}", f"{day:02d}"]):
            continue
        fits = 1 <= month <= 12 and 1 <= day <= 31
        return text, (f"{year:04d}-{month:02d}-{day:02d}" if fits else "")


FAMILIES = {
    "not_date_words": words,
    "not_date_sentence": sentence,
    "not_date_price": price,
    "not_date_phone": phone,
    "not_date_number": number,
    "not_date_version": version,
    "not_date_identifier": identifier,
    "not_date_time_alone": time_alone,
    "not_date_relative": relative,
    "not_date_year_alone": year_alone,
    "not_date_impossible": impossible,
    "not_date_spoken_sentence": spoken_sentence,
}


def draw(rng, family):
    """``(text, reading)`` of not-a-date ``family``: ``reading`` as in ``impossible_with_reading`` for
    impossible dates, ``""`` for every other family (nothing in them is a date as written)."""
    if family == "not_date_impossible":
        return impossible_with_reading(rng)
    return FAMILIES[family](rng), ""
