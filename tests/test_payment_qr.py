"""IBAN check, Belgian structured communication (OGM) and the EPC069-12 QR code,
read back from the rendered image."""

import re

import pytest
import zxingcpp

from app import payment
from app.payment import IbanError, Transfer


def read_back(qr) -> str:
    """Decode the QR code from its pixels, as a phone's camera would."""
    rows = [[0 if dark else 255 for dark in row] for row in qr.matrix_iter(scale=4, border=4)]
    pixels = memoryview(bytes(v for row in rows for v in row)).cast("B", shape=[len(rows), len(rows[0])])
    found = zxingcpp.read_barcodes(pixels)
    assert len(found) == 1
    return found[0].text


@pytest.mark.parametrize(
    ("iban", "expected"),
    [
        ("BE71 0961 2345 6769", "BE71096123456769"),
        ("fr76 3000 6000 0112 3456 7890 189", "FR7630006000011234567890189"),
        ("DE89370400440532013000", "DE89370400440532013000"),
    ],
)
def test_valid_ibans(iban, expected):
    assert payment.check_iban(iban) == expected


@pytest.mark.parametrize(
    ("iban", "reason"),
    [
        ("BE71 0961 2345 6768", "checksum"),  # one digit off
        ("FR7630006000011234567890188", "checksum"),
        ("BE71-0961-2345-6769", "characters"),
        ("1234567890123456", "start"),
        ("BE71 0961", "length"),
        ("", "empty"),
        ("BÉ71096123456769", "characters"),
    ],
)
def test_invalid_ibans_say_why(iban, reason):
    with pytest.raises(IbanError) as error:
        payment.check_iban(iban)
    assert str(error.value) == reason


@pytest.mark.parametrize(
    ("base", "ogm"),
    [
        (1234567890, "123456789002"),  # 1234567890 mod 97 = 2
        (9700000000, "970000000097"),  # remainder 0 → 97
        (1, "000000000101"),
    ],
)
def test_ogm_check_digits(base, ogm):
    assert payment.make_ogm(base) == ogm
    assert payment.is_valid_ogm(ogm)
    assert payment.is_valid_ogm(payment.format_ogm(ogm))


def test_ogm_format_and_refusals():
    assert payment.format_ogm("123456789002") == "+++123/4567/89002+++"
    assert not payment.is_valid_ogm("123456789003")
    assert not payment.is_valid_ogm("12345678900")
    assert not payment.is_valid_ogm("12345678900A2")
    for _ in range(50):
        ogm = payment.new_ogm()
        assert re.fullmatch(r"\d{12}", ogm) and payment.is_valid_ogm(ogm)
    with pytest.raises(ValueError):
        payment.make_ogm(10**10)


def test_qr_with_structured_reference_reads_back_in_epc_format():
    transfer = Transfer(
        name="Atelier Dupont SRL",
        iban="BE71 0961 2345 6769",
        bic="GKCCBEBB",
        amount_cents=215_00,
        reference="123456789002",
        structured=True,
    )
    lines = read_back(payment.epc_qr(transfer)).split("\n")
    assert lines[0] == "BCD"  # service tag
    assert lines[1] == "002"  # version
    assert lines[2] in {"1", "2"}  # character set: UTF-8 or ISO 8859-1
    assert lines[3] == "SCT"  # SEPA credit transfer
    assert lines[4] == "GKCCBEBB"
    assert lines[5] == "Atelier Dupont SRL"
    assert lines[6] == "BE71096123456769"
    assert lines[7] == "EUR215"
    assert lines[8] == ""  # purpose
    assert lines[9] == "123456789002"  # structured remittance information
    assert len(lines) == 10  # no unstructured text beside a structured reference
    assert re.fullmatch(r"EUR\d{1,9}(\.\d{1,2})?", lines[7])


def test_qr_with_free_text_reference_accents_and_cents():
    transfer = Transfer(
        name="Élodie Bérard\nConseil",  # a new line would shift every field
        iban="FR7630006000011234567890189",
        bic="",
        amount_cents=1_234_56,
        reference="Facture F-2026-0042",
    )
    lines = read_back(payment.epc_qr(transfer)).split("\n")
    assert lines[4] == ""  # BIC optional in version 002
    assert lines[5] == "Élodie Bérard Conseil"
    assert lines[7] == "EUR1234.56"
    assert lines[9] == ""  # structured left empty
    assert lines[10] == "Facture F-2026-0042"


@pytest.mark.parametrize("cents", [0, 1_000_000_000_00])
def test_qr_refuses_amounts_outside_the_epc_range(cents):
    with pytest.raises(ValueError):
        payment.epc_qr(Transfer("A", "BE71096123456769", "", cents, "x"))


def test_svg_and_png_outputs():
    qr = payment.epc_qr(Transfer("A", "BE71096123456769", "", 100, "x"))
    svg = payment.qr_svg(qr, title="QR")
    assert svg.startswith("<svg") and "<title>QR</title>" in svg
    assert payment.qr_png(qr).startswith(b"\x89PNG")
