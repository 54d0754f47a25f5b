"""Behaviour of the intake validators in :mod:`buzon.validation`.

Cédulas here are synthetic: nine chosen digits plus a check digit computed
with python-stdnum, never numbers of real people.
"""

from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.ec import ci

from buzon.validation import Invalid, cedula, email, phone, text


def synthetic_cedula(first_nine: str) -> str:
    """Append the check digit that makes ``first_nine`` a valid cédula.

    The Ecuadorian CI check digit is the Luhn check digit of the first nine
    digits (same weights 2, 1, 2… and digit folding); installed stdnum has no
    ``ci.calc_check_digit``, so it comes from ``stdnum.luhn`` and is confirmed
    with ``stdnum.ec.ci`` where stdnum's own rules apply.
    """
    assert len(first_nine) == 9 and first_nine.isdigit()
    return first_nine + luhn.calc_check_digit(first_nine)


def wrong_check_digit(number: str) -> str:
    return number[:9] + str((int(number[9]) + 1) % 10)


def refusal(validator, value, **kwargs) -> Invalid:
    with pytest.raises(Invalid) as caught:
        validator(value, **kwargs)
    return caught.value


VALID_CEDULA = synthetic_cedula("170000000")  # Pichincha
GUAYAS_CEDULA = synthetic_cedula("091234567")
ABROAD_CEDULA = synthetic_cedula("302345678")  # registered abroad


# --- cédula -------------------------------------------------------------


@pytest.mark.parametrize(
    "first_nine", ["170000000", "091234567", "010203040", "245678901", "302345678", "112233445"]
)
def test_synthetic_cedulas_are_valid_for_stdnum(first_nine):
    assert ci.is_valid(synthetic_cedula(first_nine))


@pytest.mark.parametrize("number", [VALID_CEDULA, GUAYAS_CEDULA, ABROAD_CEDULA])
def test_valid_cedula_is_returned_as_ten_digits(number):
    assert cedula.validate(number) == number


@pytest.mark.parametrize(
    "typed",
    [
        f"{VALID_CEDULA[:9]}-{VALID_CEDULA[9]}",
        f"{VALID_CEDULA[:2]} {VALID_CEDULA[2:6]} {VALID_CEDULA[6:]}",
        f"{VALID_CEDULA[:2]}.{VALID_CEDULA[2:5]}.{VALID_CEDULA[5:]}",
        f"  {VALID_CEDULA}\n",
        VALID_CEDULA.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ],
    ids=["hyphen", "spaces", "dots", "surrounding-whitespace", "full-width-digits"],
)
def test_cedula_tolerates_separators_people_type(typed):
    assert cedula.validate(typed) == VALID_CEDULA


@pytest.mark.parametrize("typed", ["", "   ", " - . ", None])
def test_empty_cedula_is_refused(typed):
    assert refusal(cedula.validate, typed).reason == "cedula_empty"


@pytest.mark.parametrize(
    "typed",
    ["17000000O1", "abcdefghij", "CI 1700000001", "1700000001/", "1700_000001", "١٧٠٠٠٠٠٠٠١"],
)
def test_cedula_with_letters_or_symbols_is_refused(typed):
    assert refusal(cedula.validate, typed).reason == "cedula_not_digits"


@pytest.mark.parametrize(
    ("typed", "length"),
    [(VALID_CEDULA[:9], 9), (VALID_CEDULA + "0", 11), (VALID_CEDULA + "001", 13), ("1", 1)],
)
def test_cedula_with_wrong_number_of_digits_reports_the_length(typed, length):
    error = refusal(cedula.validate, typed)
    assert error.reason == "cedula_length"
    assert error.details == {"length": length}


@pytest.mark.parametrize("province", ["00", "25", "29", "31", "50", "99"])
def test_cedula_with_unknown_province_is_refused(province):
    number = synthetic_cedula(province + "0000000")
    error = refusal(cedula.validate, number)
    assert error.reason == "cedula_province"
    assert error.details == {"province_code": province}


@pytest.mark.parametrize("province", ["01", "09", "17", "24", "30"])
def test_cedula_from_every_kind_of_valid_province_is_accepted(province):
    number = synthetic_cedula(province + "1234567")
    assert cedula.validate(number) == number


@pytest.mark.parametrize("third", "6789")
def test_cedula_with_third_digit_six_or_more_is_refused(third):
    number = synthetic_cedula("17" + third + "000000")
    assert refusal(cedula.validate, number).reason == "cedula_third_digit"


@pytest.mark.parametrize("third", "012345")
def test_cedula_with_third_digit_below_six_is_accepted(third):
    number = synthetic_cedula("17" + third + "000000")
    assert cedula.validate(number) == number


@pytest.mark.parametrize("number", [VALID_CEDULA, GUAYAS_CEDULA, ABROAD_CEDULA])
def test_cedula_with_wrong_check_digit_is_refused(number):
    error = refusal(cedula.validate, wrong_check_digit(number))
    assert error.reason == "cedula_check_digit"
    assert error.details == {}


def test_refusal_is_a_value_error_carrying_the_reason():
    error = refusal(cedula.validate, "x")
    assert isinstance(error, ValueError)
    assert str(error) == "cedula_not_digits"


# --- phone --------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "0987654321",
        "098 765 4321",
        "098-765-4321",
        "+593 98 765 4321",
        "+593987654321",
        "593987654321",
        "00593 98 765 4321",
        "+593 (0) 98 765 4321",
        "987654321",
        "  0987654321\t",
    ],
)
def test_ecuadorian_mobile_is_returned_in_e164(typed):
    assert phone.validate(typed) == "+593987654321"


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("02 394 5666", "+59323945666"),
        ("(02) 3945666", "+59323945666"),
        ("02-394-5666", "+59323945666"),
        ("+593 2 394 5666", "+59323945666"),
        ("042123456", "+59342123456"),
        ("07 2123456", "+59372123456"),
    ],
)
def test_ecuadorian_landline_with_area_code_is_returned_in_e164(typed, e164):
    assert phone.validate(typed) == e164


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_empty_phone_is_refused(typed):
    assert refusal(phone.validate, typed).reason == "phone_empty"


@pytest.mark.parametrize(
    "typed", ["no tengo", "098765432l", "0987654321 ext 5", "cero nueve ocho", "098*765#4321"]
)
def test_phone_with_letters_or_symbols_is_refused(typed):
    assert refusal(phone.validate, typed).reason == "phone_not_digits"


@pytest.mark.parametrize(
    "typed",
    [
        "098765432",  # one digit short
        "09876543210",  # one digit long
        "0987654321098765432",  # far too long
        "3945666",  # landline without area code
        "394 5666",
        "0",
        "+593",
        "+++",
        "(  )",
        "0187654321",  # no such prefix
        "1800 123 456",  # toll-free, not the citizen's line
        "+57 123",  # too short even for Colombia
        "+999 123 456 789",  # no such country code
    ],
)
def test_phone_that_is_not_a_valid_ecuadorian_number_is_refused(typed):
    assert refusal(phone.validate, typed).reason == "phone_invalid"


@pytest.mark.parametrize(
    "typed", ["+57 300 1234567", "0057 300 1234567", "+1 202 555 0143", "+44 20 7946 0958"]
)
def test_valid_foreign_phone_is_refused_as_foreign(typed):
    assert refusal(phone.validate, typed).reason == "phone_foreign"


# --- e-mail -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("maria.perez@example.com", "maria.perez@example.com"),
        ("  maria.perez@example.com\n", "maria.perez@example.com"),
        ("Maria.Perez@EXAMPLE.COM", "Maria.Perez@example.com"),
        ("juan+iess@correo.example.ec", "juan+iess@correo.example.ec"),
        ("josé@example.com", "josé@example.com"),
        ("ana@ñandú.example", "ana@ñandú.example"),
    ],
    ids=[
        "plain",
        "whitespace",
        "upper-case-domain",
        "subdomain-and-plus",
        "unicode-local",
        "unicode-domain",
    ],
)
def test_valid_email_is_returned_normalized(typed, normalized):
    assert email.validate(typed) == normalized


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_empty_email_is_refused(typed):
    assert refusal(email.validate, typed).reason == "email_empty"


@pytest.mark.parametrize(
    "typed",
    [
        "maria.perez@example",  # no top-level domain
        "maria.perez",
        "maria.perez@",
        "@example.com",
        "maria perez@example.com",
        "maria..perez@example.com",
        "maria@@example.com",
        "maria@example..com",
        "maria@localhost",
        "maria@[192.0.2.1]",
        "maría@example.com, juan@example.com",
    ],
)
def test_malformed_email_is_refused(typed):
    error = refusal(email.validate, typed)
    assert error.reason == "email_invalid"
    assert error.details == {}


def test_email_over_254_characters_is_refused():
    local = "a" * 60
    domain = ".".join(["b" * 60] * 3) + ".example.com"  # labels under 64
    address = f"{local}@{domain}"
    assert len(address) > 254
    assert refusal(email.validate, address).reason == "email_invalid"


def test_email_of_exactly_254_characters_is_accepted():
    local = "a" * 64
    labels = ["b" * 63, "c" * 63, "d" * 58]
    address = f"{local}@" + ".".join(labels) + ".ec"
    assert len(address) == 254
    assert email.validate(address) == address


def test_email_refusal_does_not_carry_library_english_message():
    error = refusal(email.validate, "maria.perez@example")
    assert str(error) == "email_invalid"
    assert error.__cause__ is None


# --- free text: clean ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  hola  ", "hola"),
        ("uno\n\ndos\r\ntres\tcuatro", "uno dos tres cuatro"),
        ("sin\x00nulos\x07", "sinnulos"),
        ("espacio\u200bcero", "espaciocero"),
        ("\ufeffBOM al inicio", "BOM al inicio"),
        ("no\u00a0rompible", "no rompible"),
        ("Jose\u0301", "José"),  # decomposed accent becomes one character
        ("familia 👨\u200d👩\u200d👧", "familia 👨\u200d👩\u200d👧"),
        ("", ""),
        (None, ""),
        (" \n\t ", ""),
    ],
)
def test_clean_strips_controls_and_collapses_whitespace(raw, cleaned):
    assert text.clean(raw) == cleaned


# --- free text: description ---------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Me negaron la cita médica dos veces.",
        "No me pagan el fondo de reserva desde enero de 2023.",
        "El médico del dispensario\nno atendió a mi madre.",
        "Ñandú, pingüino, acción: queja válida del afiliado",
    ],
)
def test_reasonable_description_is_accepted_and_cleaned(typed):
    assert text.validate_description(typed) == text.clean(typed)


@pytest.mark.parametrize("typed", ["", "    ", "\n\t", None, "\x00\x01"])
def test_empty_description_is_refused(typed):
    assert refusal(text.validate_description, typed).reason == "description_empty"


@pytest.mark.parametrize(
    "typed",
    [
        "mal servicio",  # two words
        "pésimo atención ya",  # three words
        "me trataron muy mal",  # four words but under 20 characters
        "......................",
        "1234 5678 9999 0000",
        "1234 5678 9999 0000 1111 2222",  # long enough but no letters
        "aaaaaaaaaaaaaaaaaaaaaaaaa",
        "a a a a a a a a a a a a a a",
        "jaja jaja jaja jaja jaja jaja",
        "!!!! ???? #### $$$$ %%%%",
    ],
)
def test_description_too_short_or_without_content_is_refused(typed):
    error = refusal(text.validate_description, typed)
    assert error.reason == "description_too_short"
    assert error.details == {"min_words": 4, "min_chars": 20}


def test_description_short_limits_can_be_changed():
    error = refusal(text.validate_description, "me negaron la cita", min_words=6)
    assert error.details["min_words"] == 6
    assert text.validate_description("Atención pésima", min_words=2, min_chars=10)


def test_description_over_the_limit_is_refused():
    typed = "Me negaron la atención. " * 200
    error = refusal(text.validate_description, typed)
    assert error.reason == "description_too_long"
    assert error.details == {"max_chars": 4000}


def test_description_exactly_at_the_limit_is_accepted():
    typed = ("Me negaron la atención médica " * 200)[:3999] + "x"
    assert len(text.clean(typed)) == 4000
    assert text.validate_description(typed) == text.clean(typed)


def test_description_limit_counts_cleaned_text():
    typed = "Me negaron la cita médica" + " " * 5000
    assert text.validate_description(typed) == "Me negaron la cita médica"


# --- free text: address -------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Av. 10 de Agosto N24-15 y Cordero",
        "Calle Bolívar 123",
        "Cdla. Los Ceibos Mz 5 Villa 3",
        "Vía a la Costa km 12",
        "calle sucre s/n",
        "Barrio San José, calle principal sin número",
        "Av. Amazonas E4-56",
        "Urb. El Bosque Solar 12",
        "Calle Olmedo S/N",
        "Calle Olmedo S / N",
        "Calle Olmedo sn",
        "Calle Olmedo s.n.",
        "Calle Olmedo S/Nº",
        "Calle Olmedo sin numero",
    ],
)
def test_address_with_street_and_house_number_is_accepted(typed):
    assert text.validate_address(typed) == typed


def test_address_is_returned_cleaned():
    assert text.validate_address("  Calle  Bolívar\n123 ") == "Calle Bolívar 123"


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_empty_address_is_refused(typed):
    assert refusal(text.validate_address, typed).reason == "address_empty"


@pytest.mark.parametrize("typed", ["casa", "N34-120", "a 1", "Sucre"])
def test_address_of_one_word_or_few_characters_is_refused(typed):
    error = refusal(text.validate_address, typed)
    assert error.reason == "address_too_short"
    assert error.details == {"min_words": 2, "min_chars": 5}


@pytest.mark.parametrize("typed", ["123 456", "N34-120 45", "12 / 34"])
def test_address_without_street_name_is_refused(typed):
    assert refusal(text.validate_address, typed).reason == "address_no_street"


@pytest.mark.parametrize(
    "typed", ["calle principal", "Barrio San José", "calle sin nombre", "Los Nogales calle A"]
)
def test_address_without_house_number_is_refused(typed):
    assert refusal(text.validate_address, typed).reason == "address_no_number"


def test_address_over_the_limit_is_refused():
    typed = ("Calle Bolívar 123 y Sucre " * 12)[:300]
    error = refusal(text.validate_address, typed)
    assert error.reason == "address_too_long"
    assert error.details == {"max_chars": 200}


def test_address_limit_can_be_changed():
    error = refusal(text.validate_address, "Calle Bolívar 123", max_chars=10)
    assert error.details == {"max_chars": 10}
