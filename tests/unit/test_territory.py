"""The territorial list (INEC DPA) and matching what a citizen types against it."""

import re

import pytest

from buzon import territory
from buzon.territory import (
    Canton,
    Province,
    cantons,
    find_canton,
    find_place,
    find_province,
    lookup_names,
    provinces,
)
from buzon.validation import Invalid

CANTONS_PER_PROVINCE = {
    "Azuay": 15,
    "Bolívar": 7,
    "Cañar": 7,
    "Carchi": 6,
    "Cotopaxi": 7,
    "Chimborazo": 10,
    "El Oro": 14,
    "Esmeraldas": 7,
    "Guayas": 25,
    "Imbabura": 6,
    "Loja": 16,
    "Los Ríos": 13,
    "Manabí": 22,
    "Morona Santiago": 12,
    "Napo": 5,
    "Pastaza": 4,
    "Pichincha": 8,
    "Tungurahua": 9,
    "Zamora Chinchipe": 9,
    "Galápagos": 3,
    "Sucumbíos": 7,
    "Orellana": 4,
    "Santo Domingo de los Tsáchilas": 2,
    "Santa Elena": 3,
}


def reason(call, *args, **kwargs) -> Invalid:
    with pytest.raises(Invalid) as caught:
        call(*args, **kwargs)
    return caught.value


# The list ------------------------------------------------------------------


def test_has_the_24_provinces_numbered_01_to_24():
    assert [p.code for p in provinces()] == [f"{n:02d}" for n in range(1, 25)]


def test_has_221_cantons():
    assert len(cantons()) == 221


def test_every_province_has_its_official_number_of_cantons():
    assert {p.name: len(cantons(p)) for p in provinces()} == CANTONS_PER_PROVINCE


def test_canton_codes_are_unique_and_start_with_their_province_code():
    codes = [c.code for c in cantons()]
    assert len(set(codes)) == len(codes)
    for canton in cantons():
        assert re.fullmatch(r"\d{4}", canton.code)
        assert canton.code[:2] == canton.province.code


def test_no_zona_no_delimitada_is_listed():
    assert not [c for c in cantons() if c.code.startswith("90")]


@pytest.mark.parametrize(
    "code, name, province",
    [
        ("0101", "Cuenca", "Azuay"),
        ("0901", "Guayaquil", "Guayas"),
        ("0907", "Durán", "Guayas"),
        ("1701", "Quito", "Pichincha"),
        ("2301", "Santo Domingo", "Santo Domingo de los Tsáchilas"),
        ("2302", "La Concordia", "Santo Domingo de los Tsáchilas"),
        ("2403", "Salinas", "Santa Elena"),
    ],
)
def test_well_known_cantons_have_their_inec_code(code, name, province):
    canton = {c.code: c for c in cantons()}[code]
    assert (canton.name, canton.province.name) == (name, province)


def test_places_are_frozen_values():
    guayas = Province("09", "Guayas")
    assert find_province("Guayas") == guayas
    assert find_canton("Durán") == Canton("0907", "Durán", guayas)
    with pytest.raises(AttributeError):
        guayas.name = "Otra"


def test_the_list_is_read_once():
    assert territory._dpa() is territory._dpa()


def test_lookup_names_include_official_names_and_aliases_once():
    names = lookup_names()
    assert {"Guayas", "Santo Domingo de los Tsáchilas", "Santo Domingo"} <= set(names["province"])
    assert {"Guayaquil", "Rumiñahui", "Sangolquí", "Nueva Loja", "Coca"} <= set(names["canton"])
    assert all(len(set(found)) == len(found) for found in names.values())


# Provinces -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("Guayas", "09"),
        ("GUAYAS", "09"),
        ("los rios", "12"),
        ("LOS RÍOS", "12"),
        ("canar", "03"),
        ("sto domingo", "23"),
        ("Sto. Domingo", "23"),
        ("Santo Domingo", "23"),
        ("tsachilas", "23"),
        ("galapagos", "20"),
        ("Islas Galápagos", "20"),
        ("provincia del Guayas", "09"),
        ("en la provincia de Manabí", "13"),
        ("  el   oro ", "07"),
        ("Morona", "14"),
    ],
)
def test_province_is_found_regardless_of_case_accents_and_spacing(text, code):
    assert find_province(text).code == code


@pytest.mark.parametrize(
    "text, code",
    [
        ("guayaz", "09"),
        ("pichinca", "17"),
        ("azuai", "01"),
        ("imbaura", "10"),
        ("esmeraldaz", "08"),
        ("tungurawa", "18"),
        ("chimboraso", "06"),
    ],
)
def test_province_typos_are_tolerated(text, code):
    assert find_province(text).code == code


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "?!",
        "hola",
        "no sé",
        "xyz",
        "casa",
        "ok",
        "provincia 25",
        "25",
        "Guayaquil",
        "quiero poner una queja",
        "ecuador",
        "x" * 500,
    ],
)
def test_province_unknown_is_refused(text):
    assert reason(find_province, text).reason == "province_unknown"


# Cantons -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("GUAYAQUIL", "0901"),
        ("duran", "0907"),
        ("DURÁN", "0907"),
        ("quito", "1701"),
        ("Distrito Metropolitano de Quito", "1701"),
        ("sangolqui", "1705"),
        ("machachi", "1703"),
        ("yaguachi", "0920"),
        ("jujan", "0902"),
        ("el empalme", "0908"),
        ("bucay", "0927"),
        ("Gral. Antonio Elizalde", "0927"),
        ("cnel marcelino maridueña", "0923"),
        ("playas", "0921"),
        ("general villamil", "0921"),
        ("baños", "1802"),
        ("nueva loja", "2101"),
        ("puyo", "1601"),
        ("tena", "1501"),
        ("macas", "1401"),
        ("coca", "2201"),
        ("francisco de orellana", "2201"),
        ("zamora", "1901"),
        ("la libertad", "2402"),
        ("pto quito", "1709"),
        ("s. miguel de los bancos", "1707"),
        ("24 de mayo", "1316"),
    ],
)
def test_canton_is_found_by_official_or_popular_name(text, code):
    assert find_canton(text).code == code


@pytest.mark.parametrize(
    "text, code",
    [
        ("guayakil", "0901"),
        ("guyaquil", "0901"),
        ("cuenka", "0101"),
        ("portovjejo", "1301"),
        ("riobanba", "0601"),
        ("lataconga", "0501"),
        ("samborondom", "0916"),
    ],
)
def test_canton_typos_are_tolerated(text, code):
    assert find_canton(text).code == code


@pytest.mark.parametrize(
    "text",
    [
        "hola",
        "no sé",
        "xyz",
        "casa",
        "si",
        "costa",
        "salir",
        "Guayas",
    ],
)
def test_canton_unknown_is_refused(text):
    assert reason(find_canton, text).reason == "canton_unknown"


def test_canton_in_the_given_province_is_accepted():
    assert find_canton("Daule", province=find_province("Guayas")).code == "0906"
    assert find_canton("dauleh", province="Guayas").code == "0906"


def test_canton_in_another_province_is_refused_with_both_provinces():
    error = reason(find_canton, "Quito", province=find_province("Guayas"))
    assert error.reason == "canton_not_in_province"
    assert error.details == {
        "canton_name": "Quito",
        "canton_province": "Pichincha",
        "province_name": "Guayas",
    }


def test_canton_name_shared_by_provinces_is_refused_with_the_options():
    error = reason(find_canton, "Olmedo")
    assert error.reason == "canton_ambiguous"
    assert error.details == {"options": ["Loja", "Manabí"]}
    assert reason(find_canton, "bolivar").details == {"options": ["Carchi", "Manabí"]}


def test_canton_name_shared_by_provinces_is_resolved_by_the_province():
    assert find_canton("Olmedo", province="Manabí").code == "1318"
    assert find_canton("Bolívar", province="Carchi").code == "0402"


def test_cantons_of_a_province_can_be_listed_by_name():
    assert [c.name for c in cantons("Galápagos")] == ["San Cristóbal", "Isabela", "Santa Cruz"]


# Answers to "¿En qué provincia?" --------------------------------------------


def place(text):
    province, canton = find_place(text)
    return province.name, canton.name if canton else None


@pytest.mark.parametrize(
    "text",
    [
        "Bolívar",
        "Santa Elena",
        "Loja",
        "Cañar",
        "Pastaza",
        "Napo",
        "Orellana",
        "Santo Domingo",
        "Esmeraldas",
        "Pichincha",
        "Sucumbíos",
    ],
)
def test_province_name_wins_over_a_canton_of_the_same_name(text):
    province, canton = find_place(text)
    assert canton is None
    assert province == find_province(text)


def test_province_alone_gives_no_canton():
    assert place("provincia del Guayas") == ("Guayas", None)
    assert place("los rios") == ("Los Ríos", None)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("duran", ("Guayas", "Durán")),
        ("GUAYAQUIL", ("Guayas", "Guayaquil")),
        ("guayakil", ("Guayas", "Guayaquil")),
        ("sangolqui", ("Pichincha", "Rumiñahui")),
        ("la concordia", ("Santo Domingo de los Tsáchilas", "La Concordia")),
        ("Simón Bolívar", ("Guayas", "Simón Bolívar")),
    ],
)
def test_unambiguous_canton_alone_fills_its_province(text, expected):
    assert place(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Guayaquil, Guayas", ("Guayas", "Guayaquil")),
        ("guayaquil guayas", ("Guayas", "Guayaquil")),
        ("Quito - Pichincha", ("Pichincha", "Quito")),
        ("guayakil, guayas", ("Guayas", "Guayaquil")),
        ("vivo en el cantón Durán de la provincia del Guayas", ("Guayas", "Durán")),
        ("Olmedo, Manabí", ("Manabí", "Olmedo")),
        ("Bolívar (Manabí)", ("Manabí", "Bolívar")),
        ("Loja, Loja", ("Loja", "Loja")),
        ("La Concordia, Santo Domingo", ("Santo Domingo de los Tsáchilas", "La Concordia")),
    ],
)
def test_canton_and_province_together_give_both(text, expected):
    assert place(text) == expected


def test_canton_with_another_province_is_refused_with_details():
    error = reason(find_place, "Guayaquil, Pichincha")
    assert error.reason == "canton_not_in_province"
    assert error.details == {
        "canton_name": "Guayaquil",
        "canton_province": "Guayas",
        "province_name": "Pichincha",
    }


def test_ambiguous_canton_alone_is_refused_with_options():
    error = reason(find_place, "Olmedo")
    assert (error.reason, error.details) == ("canton_ambiguous", {"options": ["Loja", "Manabí"]})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "...",
        "hola",
        "no sé",
        "xyz",
        "casa",
        "si",
        "gracias",
        "quiero poner una queja",
        "provincia 25",
        "25",
        "Quito y Guayaquil",
        "Guayas o Manabí",
        "a" * 121,
        "Guayaquil " * 20,
    ],
)
def test_garbage_is_refused_as_unknown_province(text):
    assert reason(find_place, text).reason == "province_unknown"
