"""Code tables of the synthetic generator: specialties, HCPCS codes with fees, places of service, NDCs.

Fees are typical commercial allowed amounts in dollars (a line's amount is its fee times a
lognormal jitter and the member's, group's and entity's factors).  Codes are grouped into
*draw groups*: the first line of a primary-care visit draws from the group of the member's
age band (so preventive visits carry the right 9938x/9939x code and members 65+ get annual
wellness visits G0438/G0439); later lines, specialist visits, ancillary services and facility
claims draw from their own groups.  An empty code (``""``) stands for a facility revenue line
without a HCPCS code (written as null).

:data:`PRIMARY_CARE_CODES` is the set of codes the generator treats as primary-care E&M
(office visits 99202-99215, preventive 99381-99397, wellness G0438/G0439, care management
99490/99495/99496); the tests measure the share of lines with these codes.
"""

from __future__ import annotations

__all__ = [
    "ANCILLARY_POS",
    "ANCILLARY_SPECIALTIES",
    "CODE_FEES",
    "CODE_GROUPS",
    "CODE_LIST",
    "G_ANC",
    "G_IP",
    "G_OP_ANC",
    "G_OP_HEAD",
    "G_PCP_ANC",
    "G_SPEC_EM",
    "G_SPEC_PROC",
    "NDC_TIERS",
    "N_CODE_GROUPS",
    "PC_POOLS",
    "PC_SPECIALTIES",
    "PRIMARY_CARE_CODES",
    "SPECIALIST_SPECIALTIES",
]

# CMS specialty codes with their share of clinicians of that kind.
PC_SPECIALTIES: tuple[tuple[str, float], ...] = (
    ("08", 0.36),
    ("11", 0.28),
    ("37", 0.12),
    ("50", 0.12),
    ("97", 0.06),
    ("01", 0.03),
    ("38", 0.02),
    ("89", 0.01),
)
# Which primary-care specialties serve each age pool: 0 children, 1 adults 18-64, 2 adults 65+.
PC_POOLS: tuple[frozenset[str], ...] = (
    frozenset({"37", "08", "50", "97", "01"}),
    frozenset({"08", "11", "01", "50", "97", "89"}),
    frozenset({"38", "11", "08", "50", "97"}),
)
SPECIALIST_SPECIALTIES: tuple[tuple[str, float], ...] = (
    ("06", 0.12),
    ("20", 0.12),
    ("16", 0.12),
    ("07", 0.08),
    ("10", 0.07),
    ("18", 0.07),
    ("13", 0.06),
    ("26", 0.06),
    ("29", 0.05),
    ("46", 0.05),
    ("34", 0.05),
    ("02", 0.05),
    ("90", 0.04),
    ("39", 0.03),
    ("66", 0.03),
)
# Ancillary clinicians (labs, pathology, radiology, therapy, anesthesia, emergency medicine)
# and the place of service their claims carry.
ANCILLARY_SPECIALTIES: tuple[tuple[str, float], ...] = (
    ("69", 0.30),
    ("30", 0.25),
    ("65", 0.20),
    ("22", 0.10),
    ("05", 0.10),
    ("93", 0.05),
)
ANCILLARY_POS: tuple[str, ...] = ("81", "22", "11", "81", "24", "23")

PRIMARY_CARE_CODES: frozenset[str] = frozenset(
    [f"{c}" for c in range(99202, 99206)]
    + [f"{c}" for c in range(99211, 99216)]
    + [f"{c}" for c in range(99381, 99388)]
    + [f"{c}" for c in range(99391, 99398)]
    + ["G0438", "G0439", "99490", "99495", "99496"]
)

_OFFICE: tuple[tuple[str, float, float], ...] = (  # code, fee, weight in a primary-care visit
    ("99211", 30, 1.0),
    ("99212", 75, 6.0),
    ("99213", 110, 36.0),
    ("99214", 160, 28.0),
    ("99215", 215, 6.0),
    ("99202", 95, 1.0),
    ("99203", 145, 2.0),
    ("99204", 215, 1.0),
    ("99205", 280, 0.3),
)


def _pcp_band(band: int) -> tuple[tuple[str, float, float], ...]:
    """First-line codes of a primary-care visit, age band 0..6 (<1, 1-4, 5-11, 12-17, 18-39, 40-64, 65+)."""
    child = band <= 3
    rows = list(_OFFICE)
    rows.append((str(99381 + band), 175 + 10 * band, 1.5))
    rows.append((str(99391 + band), 150 + 8 * band, 25.0 if child else 10.0))
    if band >= 4:
        rows += [("99495", 210, 0.5), ("99496", 290, 0.3)]
    if band >= 5:
        rows.append(("99490", 65, 2.5 if band == 5 else 4.0))
    if band == 6:
        rows += [("G0438", 175, 1.0), ("G0439", 135, 5.0)]
    return tuple(rows)


_GROUPS: list[tuple[tuple[str, float, float], ...]] = [_pcp_band(b) for b in range(7)]
G_PCP_ANC = 7
_GROUPS.append(
    (  # later lines of a primary-care visit: labs, vaccines, screening
        ("36415", 8, 10),
        ("85025", 11, 6),
        ("80053", 15, 6),
        ("80061", 19, 5),
        ("83036", 14, 4),
        ("84443", 23, 3),
        ("81002", 5, 3),
        ("87880", 17, 2),
        ("90471", 26, 5),
        ("90686", 24, 4),
        ("90715", 40, 1),
        ("93000", 19, 3),
        ("96127", 6, 3),
        ("99401", 40, 1),
        ("87086", 12, 2),
        ("82947", 6, 2),
        ("86580", 12, 1),
        ("69210", 55, 1),
        ("94760", 4, 2),
    )
)
G_SPEC_EM = 8
_GROUPS.append(
    (
        ("99203", 150, 10),
        ("99204", 225, 12),
        ("99205", 290, 3),
        ("99212", 80, 5),
        ("99213", 120, 30),
        ("99214", 170, 35),
        ("99215", 230, 10),
    )
)
G_SPEC_PROC = 9
_GROUPS.append(
    (
        ("93306", 230, 4),
        ("93000", 19, 4),
        ("71046", 32, 3),
        ("73721", 260, 2),
        ("20610", 75, 4),
        ("45378", 420, 2),
        ("11102", 115, 3),
        ("94010", 36, 2),
        ("95810", 680, 0.5),
        ("76700", 125, 1),
        ("17000", 72, 3),
        ("93880", 195, 1),
        ("92014", 135, 3),
        ("52000", 245, 1),
        ("64483", 390, 1),
        ("29881", 740, 0.7),
        ("27447", 1550, 0.3),
        ("93015", 95, 1),
        ("95910", 210, 0.5),
        ("76830", 120, 1),
        ("58300", 110, 0.5),
        ("92134", 45, 2),
        ("90837", 150, 3),
        ("90834", 105, 3),
        ("96372", 28, 3),
        ("J1100", 3, 1),
        ("J3301", 8, 2),
    )
)
G_ANC = 10  # ten, eleven, ... one group per ancillary specialty, in ANCILLARY_SPECIALTIES order
_GROUPS += [
    (
        ("80053", 15, 5),
        ("85025", 11, 5),
        ("80061", 19, 4),
        ("84443", 23, 3),
        ("83036", 14, 3),
        ("87086", 12, 2),
        ("87491", 48, 1),
        ("82306", 40, 2),
        ("80048", 12, 2),
        ("87591", 48, 1),
    ),
    (
        ("71046", 32, 5),
        ("74177", 95, 2),
        ("70553", 135, 1),
        ("77067", 145, 2),
        ("72148", 80, 1),
        ("73030", 12, 2),
        ("76856", 40, 1),
        ("77080", 40, 1),
    ),
    (("97110", 33, 5), ("97140", 31, 4), ("97530", 36, 3), ("97161", 100, 1), ("97112", 35, 2)),
    (("88305", 72, 6), ("88112", 70, 1), ("88175", 45, 2), ("88342", 95, 1)),
    (("00810", 310, 3), ("00790", 450, 1), ("01400", 350, 1), ("00142", 280, 2)),
    (("99283", 75, 3), ("99284", 125, 4), ("99285", 180, 2), ("99282", 45, 1)),
]
G_OP_HEAD = G_ANC + len(ANCILLARY_SPECIALTIES)
_GROUPS.append(
    (  # first line of a facility outpatient claim: ED visit, imaging or surgery
        ("99283", 520, 18),
        ("99284", 930, 18),
        ("99285", 1650, 8),
        ("99282", 280, 6),
        ("74177", 1450, 6),
        ("70450", 900, 4),
        ("73721", 1300, 4),
        ("77067", 310, 6),
        ("93306", 1100, 4),
        ("45380", 2100, 6),
        ("29881", 4800, 3),
        ("66984", 3200, 3),
        ("43239", 2400, 3),
        ("47562", 7800, 1),
    )
)
G_OP_ANC = G_OP_HEAD + 1
_GROUPS.append(
    (
        ("36415", 12, 8),
        ("80053", 45, 5),
        ("85025", 32, 5),
        ("71046", 190, 3),
        ("96374", 230, 3),
        ("J1885", 15, 2),
        ("J2405", 10, 2),
        ("93005", 95, 3),
        ("81001", 20, 2),
        ("84484", 60, 2),
        ("82550", 35, 1),
        ("96361", 80, 2),
        ("J7030", 25, 3),
        ("85610", 20, 1),
        ("87635", 150, 1),
        ("", 300, 10),
    )
)
G_IP = G_OP_ANC + 1
_GROUPS.append(
    (  # inpatient lines; their amounts come from the stay's total, not the fee
        ("", 0, 60),
        ("36415", 0, 5),
        ("80053", 0, 5),
        ("85025", 0, 5),
        ("71046", 0, 3),
        ("93005", 0, 3),
        ("J1885", 0, 2),
        ("J2405", 0, 2),
        ("J7050", 0, 3),
    )
)
N_CODE_GROUPS = len(_GROUPS)

# One flat table: CODE_LIST[i], CODE_FEES[i], and CODE_GROUPS[i] = (group, weight).
CODE_LIST: tuple[str, ...] = tuple(code for group in _GROUPS for code, _, _ in group)
CODE_FEES: tuple[float, ...] = tuple(float(fee) for group in _GROUPS for _, fee, _ in group)
CODE_GROUPS: tuple[tuple[int, float], ...] = tuple(
    (g, float(weight)) for g, group in enumerate(_GROUPS) for _, _, weight in group
)


def _ndc(labeler: int, product: int, package: int) -> str:
    return f"{labeler:05d}{product:04d}{package:02d}"


# Pharmacy tiers: (name, median allowed dollars, lognormal sigma, member copay in dollars or,
# when negative, the member's coinsurance in percent, NDCs of the tier).
NDC_TIERS: tuple[tuple[str, float, float, int, tuple[str, ...]], ...] = (
    ("generic", 14.0, 0.7, 10, tuple(_ndc(68180 + i, (i * 131) % 10000, 1 + i % 9) for i in range(40))),
    ("brand", 380.0, 0.5, 40, tuple(_ndc(173 + i, (i * 577) % 10000, 1 + i % 5) for i in range(25))),
    ("specialty", 5200.0, 0.4, -20, tuple(_ndc(59676 + i, (i * 911) % 10000, 1) for i in range(10))),
)
