"""Money is integer cents: reading what people type, and line-item arithmetic. No database."""

import pytest

from app.invoicing import LineInput, line_net_cents, line_vat_cents, lines_totals
from app.money import AmountError, cents_to_input, format_money, parse_amount


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("1234,56", 123456),
        ("1 234.56", 123456),
        ("1234", 123400),
        ("1 234,56", 123456),
        ("1\u00a0234,56", 123456),  # no-break space, as a French keyboard or a paste gives
        ("1\u202f234,56", 123456),  # narrow no-break space, as Babel formats French
        ("1.234,56", 123456),
        ("1,234.56", 123456),
        ("1'234.56", 123456),  # Swiss grouping
        ("1.234.567,89", 123456789),
        ("1,234,567.89", 123456789),
        ("0,5", 50),
        ("12.3", 1230),
        ("0.01", 1),
        ("0", 0),
        ("  42  ", 4200),
        ("+5", 500),
        ("€ 12,50", 1250),
        ("12,50 €", 1250),
        ("$99", 9900),
        ("100 EUR", 10000),
    ],
)
def test_amounts_people_type_are_read_as_cents(typed, cents):
    assert parse_amount(typed) == cents


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5", "The amount cannot be negative."),
        ("-0,01", "The amount cannot be negative."),
        ("\u22125", "The amount cannot be negative."),  # a typographic minus sign
        ("12.345", "Use at most two decimals."),
        ("1,234", "Use at most two decimals."),  # one comma: a decimal separator
        ("0,001", "Use at most two decimals."),
        ("abc", "This is not a valid amount."),
        ("12abc", "This is not a valid amount."),
        ("1..2", "This is not a valid amount."),
        ("1,2,3", "This is not a valid amount."),
        ("1.23,4.5", "This is not a valid amount."),
        ("1e5", "This is not a valid amount."),
        ("NaN", "This is not a valid amount."),
        ("Infinity", "This is not a valid amount."),
        ("0x10", "This is not a valid amount."),
        ("12,", "This is not a valid amount."),
        ("", "Enter an amount."),
        ("   ", "Enter an amount."),
        ("€", "Enter an amount."),
        (None, "Enter an amount."),
        ("100000000000000", "This amount is too large."),
    ],
)
def test_bad_amounts_are_refused_with_a_reason(typed, message):
    with pytest.raises(AmountError) as error:
        parse_amount(typed)
    assert str(error.value) == message


def test_amount_error_is_a_value_error_so_forms_can_catch_it():
    assert issubclass(AmountError, ValueError)


@pytest.mark.parametrize(
    ("cents", "locale", "shown"),
    [
        # Babel groups French thousands with a narrow no-break space (U+202F) and puts
        # a no-break space (U+00A0) before the symbol: assert exactly what it produces.
        (123456, "fr", "1\u202f234,56\u00a0€"),
        (123456, "en", "€1,234.56"),
        (0, "fr", "0,00\u00a0€"),
        (0, "en", "€0.00"),
        (5, "en", "€0.05"),
        (123456789, "fr", "1\u202f234\u202f567,89\u00a0€"),
        (123456789, "en", "€1,234,567.89"),
    ],
)
def test_money_is_formatted_per_locale(cents, locale, shown):
    assert format_money(cents, "EUR", locale) == shown


def test_other_currencies_keep_their_symbol():
    assert format_money(123456, "CAD", "en") == "CA$1,234.56"
    assert format_money(123456, "CAD", "fr") == "1\u202f234,56\u00a0$CA"
    assert format_money(123456, "GBP", "en") == "£1,234.56"
    assert format_money(123456, "CHF", "fr") == "1\u202f234,56\u00a0CHF"


def test_formatted_french_amount_reads_back_to_the_same_cents():
    assert parse_amount(format_money(123456, "EUR", "fr")) == 123456
    assert parse_amount(format_money(123456, "EUR", "en")) == 123456


@pytest.mark.parametrize(("cents", "text"), [(123456, "1234.56"), (5, "0.05"), (100, "1.00"), (None, "")])
def test_cents_go_back_into_a_form_field_as_plain_text(cents, text):
    assert cents_to_input(cents) == text


def test_line_net_rounds_half_up_without_floats():
    assert line_net_cents(1500, 333) == 500  # 4.995 → 5.00
    assert line_net_cents(1000, 40000) == 40000
    assert line_net_cents(125, 1) == 0  # 0.125 cent rounds down
    assert line_net_cents(500, 1) == 1  # 0.5 cent rounds up


def test_line_vat_is_computed_on_the_net_in_basis_points():
    assert line_vat_cents(60000, 2000) == 12000  # 20 %
    assert line_vat_cents(1001, 550) == 55  # 5.5 % of 10.01 = 0.55055
    assert line_vat_cents(10000, 0) == 0


def test_lines_totals_sum_net_vat_and_total():
    lines = [
        LineInput("Logo", 1000, 60000, 2000),
        LineInput("Days", 1500, 40000, 2000),
        LineInput("Book", 2000, 1999, 550),
    ]
    net, vat, total = lines_totals(lines)
    assert net == 60000 + 60000 + 3998
    assert vat == 12000 + 12000 + 220
    assert total == net + vat
    assert lines_totals([]) == (0, 0, 0)
