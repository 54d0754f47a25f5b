"""Synthetic personal data for tests: valid in form, belonging to nobody."""

from stdnum import luhn


def cedula(first_nine: str = "171234567") -> str:
    """A cédula with a correct check digit built from nine made-up digits.

    The Ecuadorian check digit is the Luhn digit of the first nine.
    """
    return first_nine + luhn.calc_check_digit(first_nine)
